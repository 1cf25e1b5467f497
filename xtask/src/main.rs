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
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("$ cargo {}", args.join(" "));
    let started = Instant::now();
    let status =
        Command::new(&cargo).args(args).current_dir(root()).status().map_err(|e| format!("cannot run cargo: {e}"))?;
    eprintln!("  ({:.1}s)", started.elapsed().as_secs_f64());
    if status.success() { Ok(()) } else { Err(format!("`cargo {}` failed ({status})", args.join(" "))) }
}

fn has_nextest() -> bool {
    Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn test() -> Result<(), String> {
    if has_nextest() {
        cargo(&["nextest", "run", "--workspace", "--all-targets", "--no-fail-fast"])?;
    } else {
        cargo(&["test", "--workspace", "--all-targets", "--no-fail-fast"])?;
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
