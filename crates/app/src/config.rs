//! Configuration: defaults, then an optional TOML file (`--config`), then `CLIENTS_*`
//! environment variables, then command-line flags; validated before anything starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::TimeDelta;
use clients_domain::{Plan, PlanCatalogue, Policy, ResendPolicy, TeamSlots};
use figment::Figment;
use figment::providers::{Env, Format as _, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Which mail adapter sends email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum MailerKind {
    /// One `.eml` file per message in `mail_dir` (the default).
    File,
    /// Amazon SES v2.
    Ses,
    /// Log recipient and subject only.
    Log,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (production).
    Json,
}

/// Every setting. Field `x` is `CLIENTS_X` in the environment and `x` in the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `sqlite:<path>` (default `sqlite:data/clients.db`) or `postgres://…`.
    pub database_url: String,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Base URL people reach the service at; grant links are built from it only.
    /// Default: `http://<listen>`.
    pub public_url: Option<String>,
    /// `file`, `ses` or `log`.
    pub mailer: MailerKind,
    /// Folder of the file mailer.
    pub mail_dir: PathBuf,
    /// Sender of every email.
    pub mail_from: String,
    /// Product name in emails.
    pub product_name: String,
    /// SES endpoint override (tests, local fakes).
    pub ses_endpoint: Option<String>,
    /// SES configuration set for sending events.
    pub ses_configuration_set: Option<String>,
    /// Token of internal services for `/v1/internal/*` (closed when unset).
    pub service_token: Option<String>,
    /// 32 bytes, base64: seals grant tokens in the outbox. Required on PostgreSQL
    /// (every instance needs the same key); with SQLite a key file is kept next to the
    /// database when unset.
    pub secret_key: Option<String>,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// Team slots per plan, e.g. `free=1,basic=1,plus=3,pro=10,scale=unlimited`.
    pub plans: String,
    /// Grant link lifetime, in hours.
    pub grant_ttl_hours: u32,
    /// Resend cooldown, in seconds.
    pub resend_cooldown_secs: u32,
    /// Resends per request per 24 hours.
    pub resend_daily_cap: u32,
    /// New requests one address may receive in 24 hours.
    pub recipient_daily_cap: u32,
    /// "Log in as" session lifetime, in minutes.
    pub impersonation_ttl_minutes: u32,
    /// Email the client when "Log in as" starts.
    pub notify_impersonation: bool,
    /// Sign-in session lifetime, in hours.
    pub session_ttl_hours: u32,
    /// Sign-in attempts per email before throttling (one more every 90 s).
    pub sign_in_email_burst: u32,
    /// Requests per minute from one address to sign-in, sign-up and grant links.
    pub per_ip_per_minute: u32,
    /// Database pool size (default: 8 SQLite, plus the one connection SQLite's writes
    /// run on; 16 PostgreSQL).
    pub db_max_connections: Option<u32>,
    /// PostgreSQL statement timeout, in seconds.
    pub db_statement_timeout_secs: u64,
    /// Delivery attempts before an email fails for good.
    pub mail_max_attempts: u32,
    /// How often the outbox worker looks for due emails, in milliseconds.
    pub mail_poll_ms: u64,
    /// Seconds in-flight requests get to finish on shutdown.
    pub shutdown_grace_secs: u64,
    /// MiB of rendered "Shared accounts" pages kept while current; 0 turns it off.
    pub list_cache_mib: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite:data/clients.db".to_owned(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            mailer: MailerKind::File,
            mail_dir: PathBuf::from("data/mail"),
            mail_from: "Clients <no-reply@clients.localhost>".to_owned(),
            product_name: "NitroPack".to_owned(),
            ses_endpoint: None,
            ses_configuration_set: None,
            service_token: None,
            secret_key: None,
            log_format: LogFormat::Text,
            plans: "free=1,basic=1,plus=3,pro=10,scale=unlimited".to_owned(),
            grant_ttl_hours: 7 * 24,
            resend_cooldown_secs: 60,
            resend_daily_cap: 5,
            recipient_daily_cap: 20,
            impersonation_ttl_minutes: 60,
            notify_impersonation: true,
            session_ttl_hours: 14 * 24,
            sign_in_email_burst: 10,
            per_ip_per_minute: 120,
            db_max_connections: None,
            db_statement_timeout_secs: 30,
            mail_max_attempts: 8,
            mail_poll_ms: 500,
            shutdown_grace_secs: 30,
            list_cache_mib: 16,
        }
    }
}

/// Flags that override the environment (all optional).
#[derive(Debug, Clone, Default, Serialize, clap::Args)]
pub struct Overrides {
    /// Database URL (`CLIENTS_DATABASE_URL`).
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Listen address (`CLIENTS_LISTEN`).
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// Public URL (`CLIENTS_PUBLIC_URL`).
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Mailer (`CLIENTS_MAILER`).
    #[arg(long, global = true, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailer: Option<MailerKind>,
    /// Mail folder (`CLIENTS_MAIL_DIR`).
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail_dir: Option<PathBuf>,
    /// Log format (`CLIENTS_LOG_FORMAT`).
    #[arg(long, global = true, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

impl Config {
    /// Loads defaults < file < `CLIENTS_*` environment < flags.
    ///
    /// # Errors
    /// A message naming the bad setting.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                bail!("config file {} does not exist", path.display());
            }
            figment = figment.merge(Toml::file(path));
        }
        let config: Config = figment
            // CLIENTS_TEST_* and CLIENTS_BENCH_* belong to the test and bench harnesses.
            .merge(Env::prefixed("CLIENTS_").filter(|k| {
                // Keys keep the case they were written in.
                let key = k.as_str().to_ascii_lowercase();
                !key.starts_with("test_") && !key.starts_with("bench_")
            }))
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot.
    ///
    /// # Errors
    /// A message naming the bad setting.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(self.database_url.starts_with("sqlite:") || self.database_url.starts_with("postgres")) {
            bail!("CLIENTS_DATABASE_URL must start with sqlite: or postgres://");
        }
        let url = self.public_url();
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.contains(['?', '#', ' ']) {
            bail!("CLIENTS_PUBLIC_URL must be an http(s) URL without query or fragment, got {url:?}");
        }
        self.plan_catalogue()?;
        self.outbox_key_bytes().context("CLIENTS_SECRET_KEY")?;
        if self.database_url.starts_with("postgres") && self.secret_key.is_none() {
            bail!("CLIENTS_SECRET_KEY is required with PostgreSQL (every instance must share it)");
        }
        if self.mailer == MailerKind::Ses && !self.mail_from.contains('@') {
            bail!("CLIENTS_MAIL_FROM must be a verified SES sender address");
        }
        for (name, value) in [
            ("CLIENTS_GRANT_TTL_HOURS", self.grant_ttl_hours),
            ("CLIENTS_IMPERSONATION_TTL_MINUTES", self.impersonation_ttl_minutes),
            ("CLIENTS_SESSION_TTL_HOURS", self.session_ttl_hours),
            ("CLIENTS_RESEND_DAILY_CAP", self.resend_daily_cap),
            ("CLIENTS_RECIPIENT_DAILY_CAP", self.recipient_daily_cap),
            ("CLIENTS_MAIL_MAX_ATTEMPTS", self.mail_max_attempts),
            ("CLIENTS_PER_IP_PER_MINUTE", self.per_ip_per_minute),
            ("CLIENTS_SIGN_IN_EMAIL_BURST", self.sign_in_email_burst),
        ] {
            if value == 0 {
                bail!("{name} must be at least 1");
            }
        }
        if self.per_ip_per_minute < 60 {
            bail!("CLIENTS_PER_IP_PER_MINUTE must allow at least 60 (offices share one address)");
        }
        if self.service_token.as_ref().is_some_and(|t| t.len() < 32) {
            bail!("CLIENTS_SERVICE_TOKEN must have at least 32 characters");
        }
        Ok(())
    }

    /// The public URL, without a trailing slash.
    pub fn public_url(&self) -> String {
        self.public_url.clone().unwrap_or_else(|| format!("http://{}", self.listen)).trim_end_matches('/').to_owned()
    }

    /// Parses `plans`.
    ///
    /// # Errors
    /// On an unknown plan or a bad slot count.
    pub fn plan_catalogue(&self) -> anyhow::Result<PlanCatalogue> {
        let mut catalogue = PlanCatalogue::default();
        for entry in self.plans.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (plan, slots) =
                entry.split_once('=').with_context(|| format!("CLIENTS_PLANS: {entry:?} is not plan=slots"))?;
            let plan: Plan = plan.trim().parse().with_context(|| format!("CLIENTS_PLANS: {entry:?}"))?;
            let slots = TeamSlots::parse(slots).with_context(|| format!("CLIENTS_PLANS: {entry:?}"))?;
            catalogue = catalogue.with(plan, slots);
        }
        Ok(catalogue)
    }

    /// The domain policy.
    ///
    /// # Errors
    /// On a bad plan catalogue.
    pub fn policy(&self) -> anyhow::Result<Policy> {
        Ok(Policy {
            grant_ttl: TimeDelta::hours(i64::from(self.grant_ttl_hours)),
            resend: ResendPolicy {
                cooldown: TimeDelta::seconds(i64::from(self.resend_cooldown_secs)),
                daily_cap: self.resend_daily_cap,
            },
            impersonation_ttl: TimeDelta::minutes(i64::from(self.impersonation_ttl_minutes)),
            session_ttl: TimeDelta::hours(i64::from(self.session_ttl_hours)),
            recipient_daily_cap: self.recipient_daily_cap,
            plans: self.plan_catalogue()?,
            notify_impersonation: self.notify_impersonation,
        })
    }

    /// The configured outbox key, if any.
    ///
    /// # Errors
    /// When it is not 32 bytes of base64.
    pub fn outbox_key_bytes(&self) -> anyhow::Result<Option<[u8; 32]>> {
        let Some(text) = &self.secret_key else { return Ok(None) };
        let bytes = STANDARD.decode(text.trim()).context("must be base64")?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| anyhow::anyhow!("must decode to exactly 32 bytes"))?;
        Ok(Some(key))
    }

    /// Statement timeout for PostgreSQL.
    pub fn statement_timeout(&self) -> Duration {
        Duration::from_secs(self.db_statement_timeout_secs)
    }

    /// The effective configuration as TOML-ish lines, secrets masked.
    pub fn describe(&self) -> String {
        let mut masked = self.clone();
        let mask = |v: &mut Option<String>| {
            if v.is_some() {
                *v = Some("********".to_owned());
            }
        };
        mask(&mut masked.service_token);
        mask(&mut masked.secret_key);
        if let Some(at) = masked.database_url.find('@') {
            // postgres://user:password@host → postgres://user:********@host
            if let Some(colon) =
                masked.database_url[..at].rfind(':').filter(|c| masked.database_url[..*c].contains("//"))
            {
                masked.database_url.replace_range(colon + 1..at, "********");
            }
        }
        format!("{masked:#?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_embedded_setup_and_valid() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.public_url(), "http://127.0.0.1:8080");
        assert_eq!(c.plan_catalogue().unwrap(), PlanCatalogue::default());
        assert_eq!(c.policy().unwrap(), Policy::default());
    }

    #[test]
    fn bad_values_are_refused_with_the_setting_named() {
        type Breaker = fn(&mut Config);
        let cases: [(Breaker, &str); 6] = [
            (|c| c.database_url = "mysql://x".into(), "CLIENTS_DATABASE_URL"),
            (|c| c.public_url = Some("ftp://x".into()), "CLIENTS_PUBLIC_URL"),
            (|c| c.plans = "gold=3".into(), "CLIENTS_PLANS"),
            (|c| c.secret_key = Some("short".into()), "CLIENTS_SECRET_KEY"),
            (|c| c.database_url = "postgres://db/clients".into(), "CLIENTS_SECRET_KEY"),
            (|c| c.per_ip_per_minute = 10, "CLIENTS_PER_IP_PER_MINUTE"),
        ];
        for (break_it, name) in cases {
            let mut c = Config::default();
            break_it(&mut c);
            let err = format!("{:#}", c.validate().unwrap_err());
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn plan_catalogue_is_configurable() {
        let c = Config { plans: "free=0, pro=25,scale=unlimited".into(), ..Config::default() };
        let cat = c.plan_catalogue().unwrap();
        assert_eq!(cat.slots(Plan::Free), TeamSlots::Limited(0));
        assert_eq!(cat.slots(Plan::Pro), TeamSlots::Limited(25));
        assert_eq!(cat.slots(Plan::Plus), TeamSlots::Limited(3));
    }

    #[test]
    #[allow(clippy::result_large_err, reason = "figment::Jail's closure returns figment's own error")]
    fn precedence_is_defaults_then_file_then_environment_then_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "clients.toml",
                r#"
                listen = "127.0.0.1:9000"
                mail_from = "file@example.com"
                plans = "free=2"
                mailer = "log"
                "#,
            )?;
            jail.set_env("CLIENTS_LISTEN", "127.0.0.1:9100");
            jail.set_env("CLIENTS_MAILER", "file");
            // Variables of the test harnesses are not settings.
            jail.set_env("CLIENTS_TEST_POSTGRES_URL", "postgres://elsewhere/db");
            let flags = Overrides { mailer: Some(MailerKind::Log), ..Overrides::default() };
            let c = Config::load(Some(Path::new("clients.toml")), &flags).map_err(|e| e.to_string())?;
            assert_eq!(c.mail_from, "file@example.com", "file over defaults");
            assert_eq!(c.listen.to_string(), "127.0.0.1:9100", "environment over file");
            assert_eq!(c.mailer, MailerKind::Log, "flags over environment");
            assert_eq!(c.plan_catalogue().map_err(|e| e.to_string())?.slots(Plan::Free), TeamSlots::Limited(2));
            assert_eq!(c.resend_daily_cap, 5, "defaults where nobody says otherwise");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err, reason = "figment::Jail's closure returns figment's own error")]
    fn unknown_settings_and_bad_values_stop_loading_with_a_message() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("CLIENTS_LISTNE", "127.0.0.1:1");
            let err = Config::load(None, &Overrides::default()).unwrap_err().to_string().to_lowercase();
            assert!(err.contains("listne"), "{err}");
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.set_env("CLIENTS_RESEND_DAILY_CAP", "lots");
            let err = Config::load(None, &Overrides::default()).unwrap_err().to_string().to_lowercase();
            assert!(err.contains("resend_daily_cap"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn describe_masks_secrets() {
        let c = Config {
            service_token: Some("s".repeat(40)),
            secret_key: Some(STANDARD.encode([1u8; 32])),
            database_url: "postgres://clients:hunter2@db:5432/clients".into(),
            ..Config::default()
        };
        let text = c.describe();
        assert!(!text.contains("hunter2") && !text.contains(&"s".repeat(40)), "{text}");
        assert!(text.contains("postgres://clients:********@db:5432/clients"), "{text}");
    }
}
