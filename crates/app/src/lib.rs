//! The clients service as a library: configuration, wiring and the running server,
//! so the binary and the end-to-end tests start it the same way.

pub mod bench;
pub mod config;
pub mod demo;
mod mailer;
pub mod metrics;
pub mod wiring;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use clients_domain::service::Service;
use clients_domain::{DeliveryPolicy, deliver_due};
use clients_http::{AppState, HttpConfig, LimitsConfig, Readiness};
use clients_persistence::{OutboxKey, Store, StoreOptions};
use poem::listener::{Acceptor as _, Listener as _, TcpListener};
use rand::RngCore as _;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{Config, LogFormat, MailerKind, Overrides};
pub use mailer::AnyMailer;
use wiring::{AppPorts, Argon2Hasher, app_ports};

/// The key that seals grant tokens in the outbox: configured, or (SQLite only) kept in
/// a `secret.key` file next to the database so restarts can still send queued mail.
fn outbox_key(config: &Config) -> anyhow::Result<OutboxKey> {
    if let Some(bytes) = config.outbox_key_bytes()? {
        return Ok(OutboxKey::from_bytes(bytes));
    }
    let Some(db) = sqlite_path(&config.database_url) else {
        return Ok(OutboxKey::random());
    };
    let path = db.parent().unwrap_or(Path::new(".")).join("secret.key");
    if let Ok(bytes) = std::fs::read(&path) {
        let key: [u8; 32] = bytes.try_into().map_err(|_| anyhow::anyhow!("{} must hold 32 bytes", path.display()))?;
        return Ok(OutboxKey::from_bytes(key));
    }
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    write_private(&path, &key).with_context(|| format!("writing {}", path.display()))?;
    Ok(OutboxKey::from_bytes(key))
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// The file behind a `sqlite:` URL (`None` for in-memory databases and PostgreSQL).
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
}

/// Connects to the database (creating the SQLite folder) with the configured options.
///
/// # Errors
/// When the database cannot be reached.
pub async fn connect(config: &Config) -> anyhow::Result<Store> {
    if let Some(parent) = sqlite_path(&config.database_url).as_deref().and_then(Path::parent)
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut options = StoreOptions::new(outbox_key(config)?);
    options.plans = config.plan_catalogue()?;
    options.max_connections = config.db_max_connections;
    options.statement_timeout = Some(config.statement_timeout());
    Store::connect(&config.database_url, options)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the database {}: {e}", redact(&config.database_url)))
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

struct StoreReadiness(Store);

/// `Idempotency-Key` records in the database.
struct StoreIdempotency(Store);

#[async_trait]
impl clients_http::idempotency::IdempotencyStore for StoreIdempotency {
    async fn reserve(
        &self,
        account: clients_domain::AccountId,
        key: &str,
        fingerprint: &str,
    ) -> Result<clients_http::idempotency::Reservation, clients_domain::ports::StoreError> {
        use clients_http::idempotency::Reservation;
        use clients_persistence::IdempotencyStart;
        Ok(match self.0.reserve_idempotency_key(account, key, fingerprint, chrono::Utc::now()).await? {
            IdempotencyStart::Reserved => Reservation::Reserved,
            IdempotencyStart::Replay(r) => Reservation::Replay { status: r.status, body: r.body },
            IdempotencyStart::InProgress => Reservation::InProgress,
            IdempotencyStart::Mismatch => Reservation::Mismatch,
        })
    }

    async fn complete(
        &self,
        account: clients_domain::AccountId,
        key: &str,
        status: u16,
        body: &[u8],
    ) -> Result<(), clients_domain::ports::StoreError> {
        let record = clients_persistence::IdempotencyRecord { status, body: body.to_vec() };
        self.0.complete_idempotency_key(account, key, &record).await
    }

    async fn release(
        &self,
        account: clients_domain::AccountId,
        key: &str,
    ) -> Result<(), clients_domain::ports::StoreError> {
        self.0.release_idempotency_key(account, key).await
    }
}

#[async_trait]
impl Readiness for StoreReadiness {
    async fn ready(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}

/// The HTTP state for `config` on `store`.
///
/// # Errors
/// On invalid configuration.
pub fn http_state(config: &Config, store: &Store) -> anyhow::Result<Arc<AppState<AppPorts>>> {
    let service = Arc::new(Service::new(app_ports(store.clone(), Argon2Hasher::new()?), config.policy()?));
    let http = HttpConfig {
        public_url: config.public_url(),
        service_token: config.service_token.clone(),
        limits: LimitsConfig {
            sign_in_email_burst: config.sign_in_email_burst,
            per_ip_per_minute: config.per_ip_per_minute,
            ..LimitsConfig::default()
        },
        list_cache_bytes: u64::from(config.list_cache_mib) * 1024 * 1024,
    };
    Ok(Arc::new(
        AppState::new(service, &http, Arc::new(StoreReadiness(store.clone())))
            .with_idempotency(Arc::new(StoreIdempotency(store.clone()))),
    ))
}

/// The OpenAPI document, as served at `/openapi.json`.
///
/// # Errors
/// When the in-memory database cannot be opened.
pub async fn openapi_json() -> anyhow::Result<String> {
    let config = Config { database_url: "sqlite::memory:".to_owned(), ..Config::default() };
    let store = connect(&config).await?;
    Ok(clients_http::spec_json(http_state(&config, &store)?, "http://127.0.0.1:8080"))
}

/// A running service.
#[derive(Debug)]
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The database.
    pub store: Store,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    worker: JoinHandle<()>,
    upkeep: JoinHandle<()>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish, stops the worker.
    ///
    /// # Errors
    /// When the server failed.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        self.server.await.context("server task")??;
        self.worker.await.context("worker task")?;
        self.upkeep.await.context("metrics upkeep task")?;
        // Emails written claimed for this process's worker and not yet sent: due at
        // once for the next process instead of after their lease.
        match self.store.release_handed_off().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(emails = n, "outbox claims given back at shutdown"),
            Err(e) => tracing::warn!(error = %e, "giving outbox claims back failed; they lapse with their lease"),
        }
        self.store.close().await.ok();
        Ok(())
    }

    /// Waits until SIGINT or SIGTERM, then stops gracefully.
    ///
    /// # Errors
    /// When the server failed.
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        self.stop().await
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

/// Migrates the database, binds the listener and starts the API and the outbox worker.
///
/// # Errors
/// When the database, the mailer or the address cannot be set up.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let store = connect(&config).await?;
    store.migrate().await.map_err(|e| anyhow::anyhow!("migrating the database: {e}"))?;
    let mailer = AnyMailer::from_config(&config).await?;
    let state = http_state(&config, &store)?;
    let web = clients_web::WebConfig { public_url: config.public_url(), throttle: Some(state.clone()) };
    let service = state.service().clone();
    let recorder = metrics::handle();
    let (shutdown, mut server_stop) = watch::channel(false);
    let upkeep = tokio::spawn(metrics::upkeep(recorder.clone(), metrics::UPKEEP_EVERY, shutdown.subscribe()));
    let metrics_route = poem::EndpointExt::data(poem::EndpointExt::data(metrics::endpoint, store.clone()), recorder);
    let app = clients_http::app_with(state.clone(), &config.public_url(), move |route| {
        clients_web::mount(route.at("/metrics", metrics_route), service, web)
    });

    let acceptor = TcpListener::bind(config.listen.to_string())
        .into_acceptor()
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr =
        acceptor.local_addr().first().and_then(|a| a.as_socket_addr().copied()).context("listener has no address")?;

    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let server = tokio::spawn(async move {
        poem::Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(
                app,
                async move {
                    let _ = server_stop.changed().await;
                },
                Some(grace),
            )
            .await
    });

    let policy = DeliveryPolicy { max_attempts: config.mail_max_attempts, ..DeliveryPolicy::default() };
    // This process delivers: its new emails skip the outbox's claim (see the store).
    store.deliver_new_emails_here(policy.lease);
    let worker = tokio::spawn(run_worker(
        store.clone(),
        mailer,
        policy,
        Duration::from_millis(config.mail_poll_ms),
        shutdown.subscribe(),
        state,
    ));
    Ok(Running { addr, store, shutdown, server, worker, upkeep })
}

/// Delivers due outbox emails until shutdown; also keeps the rate limiters small.
async fn run_worker(
    store: Store,
    mailer: AnyMailer,
    policy: DeliveryPolicy,
    poll: Duration,
    mut stop: watch::Receiver<bool>,
    state: Arc<AppState<AppPorts>>,
) {
    let mut last_shrink = tokio::time::Instant::now();
    loop {
        let now = chrono::Utc::now();
        let busy = match deliver_due(&store, &mailer, now, &policy, || 0.5 + rand::random::<f64>() * 0.5).await {
            Ok(r) => {
                metrics::record_delivery(&r);
                if r.sent + r.retried + r.failed > 0 {
                    tracing::info!(sent = r.sent, retried = r.retried, failed = r.failed, "outbox round");
                }
                r.sent + r.retried + r.failed >= policy.batch
            }
            Err(e) => {
                tracing::warn!(error = %e, "outbox round failed; retrying");
                false
            }
        };
        if last_shrink.elapsed() > Duration::from_secs(60) {
            state.limits().shrink();
            // Keys are honoured for 24 hours, like the major payment APIs do.
            if let Err(e) = store.purge_idempotency_keys(chrono::Utc::now() - chrono::TimeDelta::hours(24)).await {
                tracing::warn!(error = %e, "purging idempotency keys failed");
            }
            last_shrink = tokio::time::Instant::now();
        }
        if *stop.borrow() {
            break;
        }
        if !busy {
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                _ = stop.changed() => break,
            }
        }
    }
}

/// Sets up logging: `RUST_LOG` filters (default `info`), JSON lines when asked.
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn,poem=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_are_found_in_urls() {
        assert_eq!(sqlite_path("sqlite:data/clients.db"), Some(PathBuf::from("data/clients.db")));
        assert_eq!(sqlite_path("sqlite://data/c.db?mode=rwc"), Some(PathBuf::from("data/c.db")));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x/y"), None);
    }

    #[test]
    fn database_passwords_are_redacted_in_messages() {
        assert_eq!(redact("postgres://u:secret@db:5432/x"), "postgres://…@db:5432/x");
    }
}
