//! `cargo xtask`: the repository's routine tasks, in Rust so they run the same everywhere.
//!
//! One binary, standard library plus `serde_json` (to read `cargo metadata`). Each task
//! prints the commands it runs, so a failure can be reproduced by hand.

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
  ci      what CI runs: rustfmt check, clippy (warnings denied), tidy, then `test`.
  tidy    repository rules (e.g. clients-domain stays free of I/O crates).
  help    this text.
";

fn main() -> ExitCode {
    let task = env::args().nth(1).unwrap_or_else(|| "help".to_owned());
    let result = match task.as_str() {
        "test" => test(),
        "ci" => ci(),
        "tidy" => tidy::run(&root()),
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

fn test() -> Result<(), String> {
    let in_ci = env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let pg = postgres_reachable();
    if !pg && in_ci {
        return Err("PostgreSQL is not reachable; CI must run the PostgreSQL suites".to_owned());
    }
    // Every crate's tests; the persistence contract suite covers both backends itself.
    run_tests(&["--workspace", "--all-targets"], &[])?;
    // The end-to-end API suite again, on PostgreSQL.
    if pg {
        run_tests(&["-p", "app", "--test", "api"], &[("CLIENTS_TEST_API_BACKEND", "postgres")])?;
    } else {
        eprintln!("xtask test: PostgreSQL unreachable; skipping the API suite on PostgreSQL (CI never skips it)");
    }
    // nextest does not run doctests; the domain's rustdoc examples are tests too.
    cargo(&["test", "--workspace", "--doc"])
}

fn ci() -> Result<(), String> {
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
    tidy::run(&root())?;
    test()
}
