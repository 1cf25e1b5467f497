//! `app`: the clients service binary. `app` (or `app serve`) migrates and serves;
//! `app migrate` only migrates; `app config check` prints the effective configuration;
//! `app openapi` prints the API description.

use std::path::PathBuf;
use std::process::ExitCode;

use app::{Config, Overrides};
use clap::{Parser, Subcommand};

/// With `--features mimalloc`, mimalloc instead of glibc's malloc (also for SQLite):
/// the list and JSON paths allocate many small, short-lived values across threads,
/// where glibc spends a quarter of the server's CPU. It is off by default because
/// untuned it keeps ~25 MiB more at idle; docs/performance.md has both measurements.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "app", version, about = "Delegated agency access service")]
struct Cli {
    /// A TOML file with settings (below CLIENTS_* variables and flags in precedence).
    #[arg(long, global = true, env = "CLIENTS_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    overrides: Overrides,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply migrations, then serve the API and deliver email (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Seed an empty database with demo agencies, clients in every state and websites
    /// in every status, and print tokens to try the API with.
    Demo,
    /// Benchmark fixtures for `cargo xtask bench` (seed, create and drop databases).
    #[command(hide = true)]
    Bench {
        #[command(subcommand)]
        action: app::bench::BenchAction,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigAction {
    /// Print the effective configuration (secrets masked); fail when it is invalid.
    Check,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref(), &cli.overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    app::init_logging(config.log_format);
    match run(cli.command.unwrap_or(Command::Serve), config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stdout, reason = "these commands print their result")]
async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let running = app::start(config.clone()).await?;
            let url = config.public_url();
            tracing::info!(addr = %running.addr, "listening");
            println!("clients is listening on http://{}", running.addr);
            println!("  API docs:     {url}/docs   (spec at {url}/openapi.json)");
            println!(
                "  database:     {}",
                if config.database_url.starts_with("sqlite") { config.database_url.as_str() } else { "PostgreSQL" }
            );
            if config.mailer == app::MailerKind::File {
                println!("  mail folder:  {} (one .eml per email)", config.mail_dir.display());
            }
            running.run_until_signal().await
        }
        Command::Migrate => {
            let store = app::connect(&config).await?;
            store.migrate().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("migrations applied");
            Ok(())
        }
        Command::Config { action: ConfigAction::Check } => {
            println!("{}", config.describe());
            println!("configuration is valid");
            Ok(())
        }
        Command::Openapi => {
            println!("{}", app::openapi_json().await?);
            Ok(())
        }
        Command::Demo => {
            println!("{}", app::demo::seed(&config).await?);
            Ok(())
        }
        Command::Bench { action } => app::bench::run(action, &config).await,
    }
}
