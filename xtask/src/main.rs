//! `cargo xtask`: the repository's routine tasks, in Rust so they run the same everywhere.
//!
//! One binary, standard library plus `serde_json` (to read `cargo metadata`). Each task
//! prints the commands it runs, so a failure can be reproduced by hand.

mod bench;
mod bench_support;
mod schemathesis;
mod tasks;
mod tidy;

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

const HELP: &str = "\
cargo xtask <task>

Tasks:
  test    the test suite: every crate's tests (nextest when installed) and doctests.
          This is the README's test command; CI runs it through `ci`.
  ci      what CI runs: rustfmt check, clippy (warnings denied), tidy, `test`, then
          `bench --quick` (a smoke: fails on wrong answers, never on speed).
  bench   load the release service's hot paths and report req/s, p50/p99 and RSS
          (`cargo xtask bench --help`; docs/performance.md).
  tidy    repository rules (e.g. clients-domain stays free of I/O crates).
  schemathesis  fuzz the running service's /openapi.json (pinned Schemathesis, every
          check, positive and negative, as agency, client and service); CI runs it.
  openapi write docs/openapi.json from the code (--check: fail if it differs; CI runs that).
  migrate apply pending migrations to the configured database (CLIENTS_DATABASE_URL).
  demo    a fresh data/demo.db with agencies, clients in every state, websites in every
          status; prints tokens to try the API with.
  help    this text.
";

fn main() -> ExitCode {
    let task = env::args().nth(1).unwrap_or_else(|| "help".to_owned());
    let result = match task.as_str() {
        "test" => test(),
        "ci" => ci(),
        "tidy" => tidy::run(&root()),
        "schemathesis" => schemathesis::run(),
        "bench" => bench::run(&root(), &env::args().skip(2).collect::<Vec<_>>()),
        "openapi" => tasks::openapi(env::args().any(|a| a == "--check")),
        "migrate" => tasks::migrate(),
        "demo" => tasks::demo(),
        "help" | "--help" | "-h" => {
            eprint!("{HELP}");
            Ok(())
        }
        other => Err(format!("unknown task `{other}`\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {task}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (xtask lives one level below it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Runs `cargo <args>` in the workspace root, echoing the command and its duration.
fn cargo(args: &[&str]) -> Result<(), String> {
    cargo_env(args, &[])
}

/// As [`cargo`], with extra environment variables.
fn cargo_env(args: &[&str], vars: &[(&str, &str)]) -> Result<(), String> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let shown: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v} ")).collect();
    eprintln!("$ {}cargo {}", shown.concat(), args.join(" "));
    let started = Instant::now();
    let status = Command::new(&cargo)
        .args(args)
        .envs(vars.iter().copied())
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    eprintln!("  ({:.1}s)", started.elapsed().as_secs_f64());
    if status.success() { Ok(()) } else { Err(format!("`cargo {}` failed ({status})", args.join(" "))) }
}

fn has_nextest() -> bool {
    Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs test targets with nextest when installed, else `cargo test`.
fn run_tests(args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    let mut full: Vec<&str> = if has_nextest() { vec!["nextest", "run"] } else { vec!["test"] };
    full.extend_from_slice(args);
    full.push("--no-fail-fast");
    cargo_env(&full, env)
}

/// Whether PostgreSQL answers at `CLIENTS_TEST_POSTGRES_URL`'s host and port.
fn postgres_reachable() -> bool {
    let url = env::var("CLIENTS_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned());
    let host_port = url.split('@').next_back().unwrap_or("").split('/').next().unwrap_or("");
    let addr = if host_port.contains(':') { host_port.to_owned() } else { format!("{host_port}:5432") };
    std::net::ToSocketAddrs::to_socket_addrs(&addr)
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, std::time::Duration::from_secs(2)).is_ok())
}

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// moto, the SES-compatible fake the SES suites run against (pinned: the recipe in
/// `docs/operations.md` was measured with it).
const MOTO: &str = "moto[server]==5.2.5";

/// Installs moto into `target/moto-venv` once; returns the `moto_server` path.
fn moto_server() -> Result<PathBuf, String> {
    let venv = root().join("target/moto-venv");
    let server = venv.join("bin/moto_server");
    let stamp = venv.join(".installed");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == MOTO) && server.exists() {
        return Ok(server);
    }
    eprintln!("$ python3 -m venv target/moto-venv && pip install '{MOTO}'");
    let ok = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().is_ok_and(|s| s.success())
        && Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", MOTO])
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        return Err("could not install moto (needs python3 with venv and PyPI)".to_owned());
    }
    std::fs::write(&stamp, MOTO).map_err(|e| e.to_string())?;
    Ok(server)
}

fn test() -> Result<(), String> {
    let in_ci = env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let pg = postgres_reachable();
    if !pg && in_ci {
        return Err("PostgreSQL is not reachable; CI must run the PostgreSQL suites".to_owned());
    }
    let moto = match moto_server() {
        Ok(path) => path.display().to_string(),
        Err(e) if in_ci => return Err(e),
        Err(e) => {
            eprintln!("xtask test: {e}; the SES suites will skip (CI never skips them)");
            String::new()
        }
    };
    // The fake accepts any credentials; the app's SES client reads them from the environment.
    let moto_env: &[(&str, &str)] = if moto.is_empty() {
        &[]
    } else {
        &[
            ("CLIENTS_TEST_MOTO_SERVER", &moto),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
    };
    // nextest does not run doctests; the domain's rustdoc examples are tests too. They
    // run first so the run ends with the test runners' summaries.
    cargo(&["test", "--workspace", "--doc"])?;
    // Every crate's tests; the persistence contract suite covers both backends itself.
    run_tests(&["--workspace", "--all-targets"], moto_env)?;
    // The end-to-end API suite again, on PostgreSQL.
    if pg {
        let mut pg_env = vec![("CLIENTS_TEST_API_BACKEND", "postgres")];
        pg_env.extend_from_slice(moto_env);
        run_tests(&["-p", "app", "--test", "api", "--test", "security"], &pg_env)?;
    } else {
        eprintln!("xtask test: PostgreSQL unreachable; skipping the API suite on PostgreSQL (CI never skips it)");
    }
    Ok(())
}

fn ci() -> Result<(), String> {
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
    tidy::run(&root())?;
    tasks::openapi(true)?;
    test()?;
    schemathesis::run()?;
    bench::smoke(&root())
}
