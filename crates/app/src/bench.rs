//! The hidden `app bench …` commands that `cargo xtask bench` drives: seed a benchmark
//! database in bulk, and create or drop a PostgreSQL database for one run.
//!
//! Seeding goes through [`Store::seed_synthetic`](clients_persistence::Store::seed_synthetic),
//! so rows are written with the adapter's own entities and encodings; it refuses a
//! database that already has the benchmark agency.

use anyhow::Context as _;
use clients_domain::Password;
use clients_domain::ports::PasswordHasher as _;
use clients_persistence::SyntheticSpec;

use crate::Config;
use crate::wiring::Argon2Hasher;

/// `app bench <action>`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum BenchAction {
    /// Migrate `CLIENTS_DATABASE_URL`, then add one agency with `--clients` rows and
    /// `--websites` websites; print what was made as one JSON object.
    Seed {
        /// Rows in the agency's list.
        #[arg(long, default_value_t = 10_000)]
        clients: u32,
        /// Websites of the approved clients.
        #[arg(long, default_value_t = 100_000)]
        websites: u32,
        /// The agency's email.
        #[arg(long, default_value = "bench-agency@example.com")]
        agency_email: String,
        /// The password of every seeded account.
        #[arg(long, default_value = "bench-password-1")]
        password: String,
    },
    /// Create the PostgreSQL database `name` on the server of `admin_url`.
    CreateDatabase {
        /// A URL of a database on the server (e.g. `postgres://postgres@127.0.0.1/postgres`).
        admin_url: String,
        /// The new database's name (letters, digits and `_`).
        name: String,
    },
    /// Drop the PostgreSQL database `name` (closing its connections).
    DropDatabase {
        /// As for `create-database`.
        admin_url: String,
        /// The database to drop.
        name: String,
    },
}

/// Runs one action.
///
/// # Errors
/// When the database cannot be reached or refuses the change.
#[allow(clippy::print_stdout, reason = "the seed summary is this command's output")]
pub async fn run(action: BenchAction, config: &Config) -> anyhow::Result<()> {
    match action {
        BenchAction::Seed { clients, websites, agency_email, password } => {
            let store = crate::connect(config).await?;
            store.migrate().await.map_err(|e| anyhow::anyhow!("migrating: {e}"))?;
            let password = Password::parse(&password).map_err(|e| anyhow::anyhow!("password: {e}"))?;
            let hash = Argon2Hasher::new()?.hash(&password).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let spec = SyntheticSpec {
                agency_email: agency_email.trim().to_lowercase(),
                password_hash: hash.as_str().to_owned(),
                clients,
                websites,
                now: chrono::Utc::now(),
            };
            let s = store.seed_synthetic(&spec).await.map_err(|e| anyhow::anyhow!("seeding: {e}"))?;
            store.close().await.ok();
            let sample: Vec<String> = s.website_sample.iter().map(|id| format!("\"{id}\"")).collect();
            println!(
                "{{\"agency_id\":\"{}\",\"agency_email\":\"{}\",\"listed\":{},\"unlisted\":{},\"accounts\":{},\
                 \"websites\":{},\"busiest_request\":\"{}\",\"busiest_websites\":{},\
                 \"by_status\":{{\"no_data\":{},\"major_issue\":{},\"not_connected\":{},\"all_good\":{}}},\
                 \"search\":\"{}\",\"website_search\":\"{}\",\"website_sample\":[{}]}}",
                s.agency_id,
                spec.agency_email,
                s.listed,
                s.unlisted,
                s.accounts,
                s.websites,
                s.busiest_request,
                s.busiest_websites,
                s.by_status[0],
                s.by_status[1],
                s.by_status[2],
                s.by_status[3],
                s.search,
                s.website_search,
                sample.join(",")
            );
            Ok(())
        }
        BenchAction::CreateDatabase { admin_url, name } => {
            clients_persistence::create_postgres_database(&admin_url, &name)
                .await
                .with_context(|| format!("creating database {name}"))
        }
        BenchAction::DropDatabase { admin_url, name } => clients_persistence::drop_postgres_database(&admin_url, &name)
            .await
            .with_context(|| format!("dropping database {name}")),
    }
}
