//! Tidy checks: repository rules that no compiler enforces, run by `cargo xtask tidy`
//! and as ordinary tests.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Crates that do I/O (runtimes, databases, HTTP, AWS). `clients-domain` must never
/// depend on one, directly or through another crate.
const IO_CRATES: &[&str] = &["tokio", "sea-orm", "sqlx", "poem", "aws-", "hyper", "reqwest", "mio", "socket2"];

/// Runs every tidy check.
pub fn run(root: &Path) -> Result<(), String> {
    let io = domain_io_dependencies(root)?;
    if !io.is_empty() {
        return Err(format!("clients-domain depends on I/O crates: {io:?}; move that code to an adapter"));
    }
    let undocumented = modules_without_doc_line(root);
    if !undocumented.is_empty() {
        return Err(format!("these modules do not open with a `//!` line: {undocumented:?}"));
    }
    if let Some(problem) = vendored_sqlx_problem(root) {
        return Err(problem);
    }
    eprintln!("tidy: ok");
    Ok(())
}

/// `vendor/sqlx-core`, while it exists, must be what `Cargo.toml` patches `sqlx-core`
/// with and must carry the one change it exists for, `TCP_NODELAY` on new sockets
/// (docs/architecture.md, Decisions): a copy vendored again without it would bring back
/// 40-ms stalls of large statements over TLS, and a copy nothing patches is dead. `None`
/// when all is well or nothing is vendored.
pub fn vendored_sqlx_problem(root: &Path) -> Option<String> {
    let vendored = root.join("vendor/sqlx-core");
    if !vendored.join("Cargo.toml").exists() {
        return None;
    }
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap_or_default();
    if !manifest.contains("\"vendor/sqlx-core\"") {
        return Some("vendor/sqlx-core is no longer patched in by Cargo.toml: remove the folder".to_owned());
    }
    let socket = std::fs::read_to_string(vendored.join("src/net/socket/mod.rs")).unwrap_or_default();
    (!socket.contains("stream.set_nodelay(true)?;")).then(|| {
        "Cargo.toml patches sqlx-core with vendor/sqlx-core, which no longer sets TCP_NODELAY \
         (vendor/sqlx-core/src/net/socket/mod.rs); see docs/architecture.md"
            .to_owned()
    })
}

/// The I/O crates in the normal (non-dev, non-build) dependency closure of `clients-domain`.
pub fn domain_io_dependencies(root: &Path) -> Result<BTreeSet<String>, String> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(["metadata", "--format-version", "1", "--all-features"])
        .current_dir(root)
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let meta: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    Ok(io_crates(normal_closure(&meta, "clients-domain")))
}

/// The names among `names` that are I/O crates.
fn io_crates(names: BTreeSet<String>) -> BTreeSet<String> {
    names
        .into_iter()
        .filter(|name| IO_CRATES.iter().any(|bad| name == bad.trim_end_matches('-') || name.starts_with(bad)))
        .collect()
}

/// Names of the packages reachable from `root_name` through normal dependency edges.
fn normal_closure(meta: &Value, root_name: &str) -> BTreeSet<String> {
    let packages = meta["packages"].as_array().cloned().unwrap_or_default();
    let name_of: HashMap<&str, &str> =
        packages.iter().filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?))).collect();
    let nodes = meta["resolve"]["nodes"].as_array().cloned().unwrap_or_default();
    let edges: HashMap<&str, Vec<&str>> = nodes
        .iter()
        .filter_map(|n| {
            let deps = n["deps"]
                .as_array()?
                .iter()
                .filter(|d| d["dep_kinds"].as_array().is_some_and(|kinds| kinds.iter().any(|k| k["kind"].is_null())))
                .filter_map(|d| d["pkg"].as_str())
                .collect();
            Some((n["id"].as_str()?, deps))
        })
        .collect();
    let Some(start) = name_of.iter().find(|(_, name)| **name == root_name).map(|(id, _)| *id) else {
        return BTreeSet::new();
    };
    let mut seen = BTreeSet::new();
    let mut stack = vec![start];
    let mut names = BTreeSet::new();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        if id != start {
            names.insert(name_of.get(id).copied().unwrap_or(id).to_owned());
        }
        stack.extend(edges.get(id).into_iter().flatten().copied());
    }
    names
}

/// Library and binary modules under `crates/*/src`, `migrations/src` and `xtask/src`
/// that do not start with a `//!` doc line.
pub fn modules_without_doc_line(root: &Path) -> Vec<String> {
    let mut missing = vec![];
    let mut dirs: Vec<_> =
        std::fs::read_dir(root.join("crates")).into_iter().flatten().flatten().map(|e| e.path().join("src")).collect();
    dirs.push(root.join("migrations/src"));
    dirs.push(root.join("xtask/src"));
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if !text.trim_start().starts_with("//!") {
                    missing.push(path.strip_prefix(root).unwrap_or(&path).display().to_string());
                }
            }
        }
    }
    missing.sort();
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
    }

    #[test]
    fn clients_domain_depends_on_no_io_crate() {
        let io = domain_io_dependencies(&root()).unwrap();
        assert!(io.is_empty(), "clients-domain depends on I/O crates: {io:?}");
    }

    #[test]
    fn the_closure_walk_sees_real_dependencies() {
        // Guards the check above against passing vacuously (e.g. if metadata changed shape).
        let out =
            Command::new("cargo").args(["metadata", "--format-version", "1"]).current_dir(root()).output().unwrap();
        let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
        let deps = normal_closure(&meta, "clients-domain");
        assert!(deps.contains("email_address") && deps.contains("chrono"), "{deps:?}");
        assert!(!deps.contains("proptest"), "dev-dependencies are not part of the closure");
    }

    #[test]
    fn the_io_filter_catches_an_adapter_that_does_io() {
        let out =
            Command::new("cargo").args(["metadata", "--format-version", "1"]).current_dir(root()).output().unwrap();
        let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
        let io = io_crates(normal_closure(&meta, "clients-persistence"));
        assert!(io.contains("sea-orm") && io.contains("tokio"), "{io:?}");
    }

    #[test]
    fn the_vendored_sqlx_core_keeps_its_patch() {
        assert_eq!(vendored_sqlx_problem(&root()), None);
        let dir = std::env::temp_dir().join(format!("tidy-vendor-{}", std::process::id()));
        let socket = dir.join("vendor/sqlx-core/src/net/socket");
        std::fs::create_dir_all(&socket).unwrap();
        std::fs::write(dir.join("vendor/sqlx-core/Cargo.toml"), "[package]\n").unwrap();
        std::fs::write(dir.join("Cargo.toml"), "[patch.crates-io]\nsqlx-core = { path = \"vendor/sqlx-core\" }\n")
            .unwrap();
        std::fs::write(socket.join("mod.rs"), "let stream = connect().await?;\n").unwrap();
        assert!(vendored_sqlx_problem(&dir).is_some(), "a copy without the patch is caught");
        std::fs::write(socket.join("mod.rs"), "let stream = connect().await?;\nstream.set_nodelay(true)?;\n").unwrap();
        assert_eq!(vendored_sqlx_problem(&dir), None);
        std::fs::write(dir.join("Cargo.toml"), "[workspace]\n").unwrap();
        assert!(vendored_sqlx_problem(&dir).is_some(), "a copy nothing patches in is caught");
        std::fs::remove_dir_all(dir.join("vendor")).unwrap();
        assert_eq!(vendored_sqlx_problem(&dir), None, "nothing vendored, nothing to check");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn every_module_opens_with_a_doc_line() {
        assert_eq!(modules_without_doc_line(&root()), Vec::<String>::new());
    }
}
