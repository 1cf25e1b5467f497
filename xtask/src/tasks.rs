//! Tasks that drive the `app` binary: the OpenAPI document and its drift check,
//! migrations, and the demo database.

use std::process::Command;

use crate::{cargo, root};

/// Runs `app <args>` through cargo and returns its standard output.
fn app_output(args: &[&str]) -> Result<String, String> {
    let cargo_bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("$ cargo run -q -p app -- {}", args.join(" "));
    let out = Command::new(cargo_bin)
        .args(["run", "-q", "-p", "app", "--"])
        .args(args)
        .current_dir(root())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!("`app {}` failed:\n{}", args.join(" "), String::from_utf8_lossy(&out.stderr)));
    }
    String::from_utf8(out.stdout).map_err(|e| e.to_string())
}

/// The committed spec.
fn spec_path() -> std::path::PathBuf {
    root().join("docs/openapi.json")
}

/// `cargo xtask openapi [--check]`: writes `docs/openapi.json` from the code, or (with
/// `--check`, as CI runs it) fails when the committed file differs from the code's.
pub fn openapi(check: bool) -> Result<(), String> {
    let generated = app_output(&["openapi"])?;
    let path = spec_path();
    if check {
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed.trim() != generated.trim() {
            return Err(
                "docs/openapi.json is out of date with the code: run `cargo xtask openapi` and commit it".into()
            );
        }
        eprintln!("openapi: docs/openapi.json matches the code");
        return Ok(());
    }
    std::fs::write(&path, generated).map_err(|e| format!("writing {}: {e}", path.display()))?;
    eprintln!("openapi: wrote {}", path.display());
    Ok(())
}

/// `cargo xtask migrate`: applies pending migrations to the configured database
/// (`CLIENTS_DATABASE_URL`, default the SQLite file).
pub fn migrate() -> Result<(), String> {
    cargo(&["run", "-q", "-p", "app", "--", "migrate"])
}

/// `cargo xtask demo`: a fresh demo database in `data/demo.db`, seeded with agencies,
/// clients in every state and websites in every status; prints tokens to try the API.
pub fn demo() -> Result<(), String> {
    let data = root().join("data");
    for name in ["demo.db", "demo.db-wal", "demo.db-shm"] {
        let f = data.join(name);
        if f.exists() {
            std::fs::remove_file(&f).map_err(|e| format!("removing {}: {e}", f.display()))?;
        }
    }
    std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
    let out = app_output(&["--database-url", "sqlite:data/demo.db", "demo"])?;
    eprintln!("{out}");
    Ok(())
}
