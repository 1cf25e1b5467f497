//! `cargo xtask schemathesis`: fuzz the running service's `/openapi.json` with
//! Schemathesis (pinned, installed from PyPI into `target/schemathesis-venv`).
//!
//! The task builds and starts the `app` binary on a free loopback port with a fresh
//! SQLite database, seeds an agency and an approved client through the API (std only:
//! a small HTTP/1.1 client over `TcpStream`), then runs `st run` in positive and
//! negative mode with every check, once per kind of caller: the agency, the client,
//! an internal service (service token) and anonymous sign-out. Any failure fails the
//! task. Reports (JUnit and NDJSON) land in `target/schemathesis/`.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{cargo, root};

/// The pinned version (reports and baselines are comparable only within one version).
pub const SCHEMATHESIS: &str = "schemathesis==4.32.5";
/// Test cases per operation and phase (each run is also bounded in time, below).
const MAX_EXAMPLES: &str = "40";
// One worker: hypothesis reflects on lambdas with `ast.parse`, which CPython 3.11 does
// not survive from several threads at once ("AST constructor recursion depth mismatch").
const SERVICE_TOKEN: &str = "schemathesis-service-token-0123456789abcdef";
const PASSWORD: &str = "schemathesis-password-1";

/// Installs Schemathesis into `target/schemathesis-venv` once; returns the `st` path.
fn st() -> Result<PathBuf, String> {
    let venv = root().join("target/schemathesis-venv");
    let st = venv.join("bin/st");
    let stamp = venv.join(".installed");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == SCHEMATHESIS) && st.exists() {
        return Ok(st);
    }
    eprintln!("$ python3 -m venv target/schemathesis-venv && pip install '{SCHEMATHESIS}'");
    let ok = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().is_ok_and(|s| s.success())
        && Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", SCHEMATHESIS])
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        return Err("could not install schemathesis (needs python3 with venv and PyPI)".to_owned());
    }
    std::fs::write(&stamp, SCHEMATHESIS).map_err(|e| e.to_string())?;
    Ok(st)
}

/// The app, killed when dropped.
struct App {
    child: Child,
    addr: SocketAddr,
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

fn start_app(work: &Path) -> Result<App, String> {
    let port = free_port()?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let log = std::fs::File::create(work.join("app.log")).map_err(|e| e.to_string())?;
    let child = Command::new(root().join("target/debug/app"))
        .arg("serve")
        .env("CLIENTS_DATABASE_URL", format!("sqlite:{}", work.join("clients.db").display()))
        .env("CLIENTS_LISTEN", addr.to_string())
        .env("CLIENTS_PUBLIC_URL", format!("http://{addr}"))
        .env("CLIENTS_MAIL_DIR", work.join("mail"))
        .env("CLIENTS_SERVICE_TOKEN", SERVICE_TOKEN)
        .env("CLIENTS_MAIL_POLL_MS", "50")
        // The fuzzer sends thousands of requests from one address; the limits have
        // their own tests (crates/app/tests/security/rate_limits.rs).
        .env("CLIENTS_PER_IP_PER_MINUTE", "1000000")
        .env("CLIENTS_SIGN_IN_EMAIL_BURST", "1000000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start the app: {e}"))?;
    let app = App { child, addr };
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if http(addr, "GET", "/healthz", None, None).is_ok_and(|(status, _)| status == 200) {
            return Ok(app);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("the app did not answer on {addr} within 60 s; see {}", work.join("app.log").display()))
}

/// One HTTP/1.1 request (`Connection: close`); returns the status and the body.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() {
        head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes())).map_err(|e| e.to_string())?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).map_err(|e| e.to_string())?;
    let (head, body) = raw.split_once("\r\n\r\n").ok_or("malformed response")?;
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or("malformed status line")?;
    Ok((status, body.to_owned()))
}

/// A JSON call that must answer `expect`; returns the parsed body.
fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
    expect: u16,
) -> Result<serde_json::Value, String> {
    let text = body.map(|b| b.to_string());
    let (status, answer) = http(addr, method, path, token, text.as_deref())?;
    if status != expect {
        return Err(format!("seeding: {method} {path} answered {status}, not {expect}: {answer}"));
    }
    Ok(serde_json::from_str(&answer).unwrap_or(serde_json::Value::Null))
}

fn field(v: &serde_json::Value, pointer: &str) -> Result<String, String> {
    v.pointer(pointer)
        .and_then(|x| x.as_str())
        .map(str::to_owned)
        .ok_or_else(|| format!("seeding: no {pointer} in {v}"))
}

/// The grant token in the newest `.eml` to `to` (quoted-printable bodies included).
fn grant_token(mail: &Path, to: &str) -> Result<String, String> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        let mut files: Vec<_> = std::fs::read_dir(mail).into_iter().flatten().flatten().map(|e| e.path()).collect();
        files.sort();
        for path in files.iter().rev() {
            let text = std::fs::read_to_string(path).unwrap_or_default().replace("=\r\n", "").replace("=\n", "");
            if !text.contains(&format!("To: {to}")) && !text.contains(&format!("<{to}>")) {
                continue;
            }
            let marker = ["grant-access?token=3D", "grant-access?token="]
                .into_iter()
                .find_map(|m| text.find(m).map(|i| i + m.len()));
            if let Some(token) = marker.and_then(|i| text.get(i..i + 43)) {
                return Ok(token.to_owned());
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("seeding: no grant email to {to} in {}", mail.display()))
}

/// Callers and the data they can reach.
struct Seed {
    agency: String,
    client: String,
    throwaway: String,
}

/// An agency, a client that approved it as Admin (through the grant link), a website,
/// a pending request and a "Log in as" session, all through the API.
fn seed(addr: SocketAddr, mail: &Path) -> Result<Seed, String> {
    use serde_json::json;
    let sign_up = |email: &str, grant: Option<&str>| {
        let body = json!({"email": email, "password": PASSWORD, "name": "Schemathesis", "grant_token": grant});
        call(addr, "POST", "/v1/auth/sign-up", None, Some(body), 201).and_then(|v| field(&v, "/token"))
    };
    let agency = sign_up("agency@example.com", None)?;
    call(
        addr,
        "POST",
        "/v1/shared-accounts",
        Some(&agency),
        Some(json!({"email": "client@example.com", "role": "admin"})),
        201,
    )?;
    let grant = grant_token(mail, "client@example.com")?;
    let client = sign_up("client@example.com", Some(&grant))?;
    let member =
        call(addr, "POST", &format!("/v1/access-requests/by-token/{grant}/approve"), Some(&client), None, 200)?;
    let client_id = call(addr, "GET", "/v1/me", Some(&client), None, 200).and_then(|v| field(&v, "/id"))?;
    call(
        addr,
        "POST",
        &format!("/v1/accounts/{client_id}/websites"),
        Some(&client),
        Some(json!({"domain": "shop.example.com"})),
        201,
    )?;
    call(
        addr,
        "POST",
        "/v1/shared-accounts",
        Some(&agency),
        Some(json!({"email": "pending@example.com", "role": "biller"})),
        201,
    )?;
    let row = field(&member, "/request_id")?;
    call(addr, "POST", &format!("/v1/shared-accounts/{row}/log-in-as"), Some(&agency), None, 201)?;
    let throwaway = sign_up("throwaway@example.com", None)?;
    Ok(Seed { agency, client, throwaway })
}

/// One `st run`: `name` names the report folder; `extra` selects operations.
/// `max_time` bounds the run in seconds.
fn run_st(
    st: &Path,
    addr: SocketAddr,
    reports: &Path,
    (name, max_time): (&str, &str),
    token: &str,
    extra: &[&str],
) -> Result<(), String> {
    let dir = reports.join(name);
    let config = root().join("xtask/schemathesis.toml");
    let mut args: Vec<String> =
        vec!["--config-file".into(), config.display().to_string(), "--no-color".into(), "run".into()];
    args.push(format!("http://{addr}/openapi.json"));
    args.extend(["-H".into(), format!("Authorization: Bearer {token}")]);
    for a in [
        "--checks",
        "all",
        "--mode",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "-n",
        MAX_EXAMPLES,
        "--seed",
        "42",
        "--max-time",
        max_time,
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--report",
        "junit,ndjson",
    ] {
        args.push(a.to_owned());
    }
    args.extend(["--report-dir".into(), dir.display().to_string()]);
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let shown: Vec<String> = args
        .iter()
        .map(|a| if a.starts_with("Authorization") { "Authorization: Bearer …".into() } else { a.clone() })
        .collect();
    eprintln!("$ st {}", shown.join(" "));
    let started = Instant::now();
    // Run inside the report folder: Schemathesis and Hypothesis keep their caches in
    // the working directory.
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let status = Command::new(st).args(&args).current_dir(&dir).status().map_err(|e| format!("cannot run st: {e}"))?;
    eprintln!("  ({:.1}s)", started.elapsed().as_secs_f64());
    match status.code() {
        Some(0) => Ok(()),
        Some(1) => Err(format!("schemathesis found failures as the {name}; report in {}", dir.display())),
        _ => Err(format!("schemathesis could not run as the {name} ({status}); report in {}", dir.display())),
    }
}

/// The task.
pub fn run() -> Result<(), String> {
    let st = st()?;
    cargo(&["build", "-q", "-p", "app"])?;
    let reports = root().join("target/schemathesis");
    let work = reports.join("service");
    let _ = std::fs::remove_dir_all(&reports);
    std::fs::create_dir_all(work.join("mail")).map_err(|e| e.to_string())?;
    let app = start_app(&work)?;
    let seeded = seed(app.addr, &work.join("mail"))?;
    let internal = ["--include-path-regex", "^/v1/internal/"];
    let external = ["--exclude-path-regex", "^/v1/internal/", "--exclude-operation-id", "signOut"];
    let results = [
        run_st(&st, app.addr, &reports, ("agency", "120"), &seeded.agency, &external),
        run_st(&st, app.addr, &reports, ("client", "120"), &seeded.client, &external),
        run_st(&st, app.addr, &reports, ("service", "60"), SERVICE_TOKEN, &internal),
        run_st(&st, app.addr, &reports, ("sign-out", "20"), &seeded.throwaway, &["--include-operation-id", "signOut"]),
    ];
    drop(app);
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    if failures.is_empty() {
        eprintln!("schemathesis: 0 failures; reports in {}", reports.display());
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}
