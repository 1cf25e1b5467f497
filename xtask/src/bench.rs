//! `cargo xtask bench`: the service's hot paths under load, against the framework's own
//! floor measured in the same run (`/healthz`: no database; `/readyz`: one round trip).
//!
//! For each backend (SQLite always; PostgreSQL when `CLIENTS_BENCH_POSTGRES_URL` names a
//! server, in a database created for the run and dropped after it) it seeds one agency
//! with 10,000 listed clients and 100,000 websites through the hidden `app bench seed`,
//! starts the release `app`, and runs `loadgen` (crates/loadgen) at 64 connections for a
//! fixed time per endpoint. It prints a table per backend and writes everything to
//! `target/bench/latest.json`. `--quick` is CI's smoke (short runs; fails only when an
//! endpoint answers wrongly, never on speed); `--series` measures the list at 100, 1,000
//! and 10,000 clients.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::bench_support::{free_port, http, load_average, machine, proc_kib};

const SERVICE_TOKEN: &str = "bench-service-token-0123456789abcdef";
/// 32 bytes, base64 (the outbox key PostgreSQL needs).
const SECRET_KEY: &str = "YmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmI=";
const AGENCY: &str = "bench-agency@example.com";
const PASSWORD: &str = "bench-password-1";

const HELP: &str = "\
cargo xtask bench [options]

Builds the release `app` and `loadgen`, seeds 1 agency x 10,000 clients and 100,000
websites, starts the service and loads each endpoint at 64 connections. SQLite always;
PostgreSQL too when CLIENTS_BENCH_POSTGRES_URL is set (a database is created and dropped).
Writes target/bench/latest.json.

Options:
  --quick               CI smoke: 1.5 s per endpoint; fails only on wrong answers
  --series              also the list at 100, 1,000 and 10,000 clients
  --only a,b            run only these endpoints (keys as in the table)
  --sqlite-only         skip PostgreSQL even when CLIENTS_BENCH_POSTGRES_URL is set
  --postgres URL        as CLIENTS_BENCH_POSTGRES_URL (a URL of any database on the server)
  --seconds N           recorded seconds per endpoint (default 10)
  --connections N       concurrent connections (default 64)
  --loadgen-threads N   load generator threads (default 1)
";

#[derive(Debug, Clone)]
struct Options {
    quick: bool,
    series: bool,
    only: Option<Vec<String>>,
    sqlite_only: bool,
    postgres: Option<String>,
    duration_ms: u64,
    warmup_ms: u64,
    connections: usize,
    loadgen_threads: usize,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut o = Options {
            quick: false,
            series: false,
            only: None,
            sqlite_only: false,
            postgres: std::env::var("CLIENTS_BENCH_POSTGRES_URL").ok().filter(|u| !u.is_empty()),
            duration_ms: 10_000,
            warmup_ms: 2_000,
            connections: 64,
            loadgen_threads: 1,
        };
        let mut it = args.iter();
        let number = |v: Option<&String>, what: &str| -> Result<u64, String> {
            v.and_then(|v| v.parse().ok()).ok_or_else(|| format!("{what} needs a number\n\n{HELP}"))
        };
        while let Some(a) = it.next() {
            match a.as_str() {
                "--quick" => o.quick = true,
                "--series" => o.series = true,
                "--sqlite-only" => o.sqlite_only = true,
                "--postgres" => o.postgres = Some(it.next().ok_or("--postgres needs a URL")?.clone()),
                "--only" => {
                    let v = it.next().ok_or("--only needs a list")?;
                    o.only = Some(v.split(',').map(str::to_owned).collect());
                }
                "--seconds" => o.duration_ms = number(it.next(), "--seconds")?.clamp(1, 120) * 1000,
                "--connections" => o.connections = number(it.next(), "--connections")?.clamp(1, 1024) as usize,
                "--loadgen-threads" => o.loadgen_threads = number(it.next(), "--loadgen-threads")?.clamp(1, 8) as usize,
                "-h" | "--help" => return Err(HELP.to_owned()),
                other => return Err(format!("unknown option {other}\n\n{HELP}")),
            }
        }
        if o.quick {
            o.duration_ms = 1_500;
            o.warmup_ms = 500;
        }
        Ok(o)
    }
}

/// One endpoint's load.
#[derive(Debug, Clone)]
struct Scenario {
    key: &'static str,
    label: String,
    method: &'static str,
    path: String,
    auth: Option<String>,
    bodies: Vec<String>,
    picks: Option<PathBuf>,
    expect: u16,
}

impl Scenario {
    fn get(key: &'static str, label: &str, path: String, auth: Option<&str>) -> Self {
        Scenario {
            key,
            label: label.to_owned(),
            method: "GET",
            path,
            auth: auth.map(str::to_owned),
            bodies: vec![],
            picks: None,
            expect: 200,
        }
    }
}

/// Where a backend's database lives, and how to get rid of it.
struct Database {
    url: String,
    postgres: Option<(String, String)>,
    app: PathBuf,
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.postgres {
            let status =
                Command::new(&self.app).args(["bench", "drop-database", admin, name]).stdout(Stdio::null()).status();
            if !status.is_ok_and(|s| s.success()) {
                eprintln!("xtask bench: could not drop database {name}; drop it by hand");
            }
        }
    }
}

/// A running `app serve`.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn rss_mib(&self, field: &str) -> f64 {
        proc_kib(self.pid(), field).map_or(0.0, |k| k as f64 / 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM first: the service drains and closes its pool.
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Bench {
    root: PathBuf,
    out: PathBuf,
    app: PathBuf,
    loadgen: PathBuf,
    options: Options,
    run_id: u64,
}

/// CI's smoke, `bench --quick`: on PostgreSQL too when the test suites' server answers.
pub(crate) fn smoke(root: &Path) -> Result<(), String> {
    let mut args = vec!["--quick".to_owned()];
    if std::env::var("CLIENTS_BENCH_POSTGRES_URL").is_err() && crate::postgres_reachable() {
        args.push("--postgres".to_owned());
        args.push(std::env::var("CLIENTS_TEST_POSTGRES_URL").unwrap_or_else(|_| crate::DEFAULT_POSTGRES.to_owned()));
    }
    run(root, &args)
}

/// `cargo xtask bench`.
pub(crate) fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let options = Options::parse(args)?;
    let started = Instant::now();
    crate::cargo(&["build", "--release", "-p", "app", "-p", "loadgen"])?;
    let out = root.join("target/bench");
    // Copies, at once: another checkout sharing this target directory may overwrite
    // target/release/app while the benchmark runs.
    let bin = out.join("bin");
    std::fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
    for name in ["app", "loadgen"] {
        let from = root.join("target/release").join(name);
        std::fs::copy(&from, bin.join(name)).map_err(|e| format!("{}: {e}", from.display()))?;
    }
    let run_id = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let bench = Bench {
        root: root.to_owned(),
        app: bin.join("app"),
        loadgen: bin.join("loadgen"),
        out: out.clone(),
        options: options.clone(),
        run_id,
    };
    let machine = machine();
    let measured = Instant::now();
    let postgres = options.postgres.clone().filter(|_| !options.sqlite_only);
    let mut backends = vec![bench.backend("sqlite", None, 10_000, 100_000, false)?];
    if let Some(admin) = &postgres {
        backends.push(bench.backend("postgres", Some(admin), 10_000, 100_000, false)?);
    } else {
        eprintln!("xtask bench: CLIENTS_BENCH_POSTGRES_URL is not set; PostgreSQL skipped");
    }
    let mut series = vec![];
    if options.series {
        for size in [100u32, 1_000, 10_000] {
            series.push(bench.backend("sqlite", None, size, size * 10, true)?);
            if let Some(admin) = &postgres {
                series.push(bench.backend("postgres", Some(admin), size, size * 10, true)?);
            }
        }
        print_series(&series);
    }
    let report = json!({
        "command": format!("cargo xtask bench {}", args.join(" ")).trim_end(),
        "machine": machine,
        "load_average_at_end": load_average(),
        "quick": options.quick,
        "connections": options.connections,
        "seconds_per_endpoint": options.duration_ms as f64 / 1000.0,
        "warmup_seconds": options.warmup_ms as f64 / 1000.0,
        "loadgen_threads": options.loadgen_threads,
        "backends": backends,
        "series": series,
    });
    let path = out.join("latest.json");
    let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    std::fs::write(&path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!(
        "xtask bench: wrote {} ({:.0} s measuring, {:.0} s in all)",
        path.display(),
        measured.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let wrong: Vec<String> = backends
        .iter()
        .chain(&series)
        .flat_map(|b| {
            let name = b["backend"].as_str().unwrap_or("?").to_owned();
            b["rows"].as_array().cloned().unwrap_or_default().into_iter().filter_map(move |r| {
                let bad = r["unexpected"].as_u64().unwrap_or(0) + r["errors"].as_u64().unwrap_or(0);
                (bad > 0).then(|| format!("{name} {}: {bad} wrong answers ({})", r["key"], r["first_problem"]))
            })
        })
        .collect();
    if wrong.is_empty() { Ok(()) } else { Err(wrong.join("\n")) }
}

impl Bench {
    fn app_cmd(&self, url: &str) -> Command {
        let mut c = Command::new(&self.app);
        c.current_dir(&self.root)
            .env("CLIENTS_DATABASE_URL", url)
            .env("CLIENTS_SECRET_KEY", SECRET_KEY)
            .env("CLIENTS_LOG_FORMAT", "text")
            .env_remove("CLIENTS_CONFIG");
        c
    }

    fn database(&self, backend: &str, admin: Option<&str>, tag: &str) -> Result<Database, String> {
        match admin {
            None => {
                let dir = self.out.join(format!("sqlite-{tag}"));
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
                Ok(Database {
                    url: format!("sqlite:{}", dir.join("clients.db").display()),
                    postgres: None,
                    app: self.app.clone(),
                })
            }
            Some(admin) => {
                let name = format!("clients_bench_{}_{tag}", std::process::id());
                let ok = Command::new(&self.app)
                    .args(["bench", "create-database", admin, &name])
                    .status()
                    .is_ok_and(|s| s.success());
                if !ok {
                    return Err(format!("{backend}: could not create database {name} at CLIENTS_BENCH_POSTGRES_URL"));
                }
                Ok(Database {
                    url: with_database(admin, &name),
                    postgres: Some((admin.to_owned(), name)),
                    app: self.app.clone(),
                })
            }
        }
    }

    fn seed(&self, db: &Database, clients: u32, websites: u32) -> Result<Value, String> {
        let started = Instant::now();
        let out = self
            .app_cmd(&db.url)
            .env("RUST_LOG", "warn")
            .args(["bench", "seed", "--clients", &clients.to_string(), "--websites", &websites.to_string()])
            .args(["--agency-email", AGENCY, "--password", PASSWORD])
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("app bench seed: {e}"))?;
        if !out.status.success() {
            return Err(format!("app bench seed failed ({})", out.status));
        }
        let mut seed: Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("seed summary: {e}"))?;
        seed["seconds"] = json!((started.elapsed().as_secs_f64() * 10.0).round() / 10.0);
        Ok(seed)
    }

    fn serve(&self, db: &Database, log: &Path) -> Result<Server, String> {
        let port = free_port()?;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().map_err(|e| format!("{e}"))?;
        let log_file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err_file = log_file.try_clone().map_err(|e| e.to_string())?;
        let child = self
            .app_cmd(&db.url)
            .arg("serve")
            .env("CLIENTS_LISTEN", addr.to_string())
            .env("CLIENTS_SERVICE_TOKEN", SERVICE_TOKEN)
            .env("CLIENTS_MAILER", "log")
            // Load comes from one address and one agency: lift the guessing limits so
            // sign-in measures argon2id, not the limiter's 429s.
            .env("CLIENTS_PER_IP_PER_MINUTE", "100000000")
            .env("CLIENTS_SIGN_IN_EMAIL_BURST", "100000000")
            .env("CLIENTS_MAIL_DIR", self.out.join("mail"))
            .stdout(Stdio::from(log_file))
            .stderr(Stdio::from(err_file))
            .spawn()
            .map_err(|e| format!("starting app: {e}"))?;
        let server = Server { child, addr };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if matches!(http(addr, "GET", "/readyz", &[], None), Ok((200, _))) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(format!("app did not become ready in 60 s; see {}", log.display()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One backend at one size: seed, serve, load every endpoint; the report's entry.
    fn backend(
        &self,
        backend: &str,
        admin: Option<&str>,
        clients: u32,
        websites: u32,
        series: bool,
    ) -> Result<Value, String> {
        let tag = format!("{clients}");
        eprintln!("\n== {backend}: {clients} clients, {websites} websites ==");
        let load_before = load_average();
        let db = self.database(backend, admin, &tag)?;
        let seed = self.seed(&db, clients, websites)?;
        eprintln!("seeded in {} s: {}", seed["seconds"], summary(&seed));
        let log = self.out.join(format!("{backend}-{tag}-server.log"));
        let server = self.serve(&db, &log)?;
        std::thread::sleep(Duration::from_secs(1));
        let idle_rss = server.rss_mib("VmRSS");
        let token = sign_in(server.addr)?;
        let listed = seed["listed"].as_u64().unwrap_or(0);
        let cursor = cursor_at(server.addr, &token, listed / 2)?;
        let picks = self.out.join(format!("{backend}-{tag}-websites.txt"));
        let sample: Vec<&str> =
            seed["website_sample"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        std::fs::write(&picks, sample.join("\n")).map_err(|e| e.to_string())?;
        let scenarios = self.scenarios(&seed, &token, &cursor, &picks, series);
        let mut rows = vec![];
        let mut readyz = None;
        for s in scenarios {
            if self.options.only.as_ref().is_some_and(|only| !only.iter().any(|k| k == s.key)) && s.key != "readyz" {
                continue;
            }
            let mut r = self.load(&server, &s)?;
            if s.key == "new_request" {
                // The next endpoint runs once the requests' emails are out, not beside
                // their delivery; how long that took is part of this endpoint's cost.
                r["outbox_drain_s"] = json!(round(outbox_drain(server.addr)?, 1));
                eprintln!("  (outbox delivered {} s after the load)", r["outbox_drain_s"]);
            }
            if s.key == "readyz" {
                readyz = r["rps"].as_f64();
            }
            r["vs_readyz"] = json!(readyz.map_or(0.0, |base| round(r["rps"].as_f64().unwrap_or(0.0) / base, 2)));
            r["peak_rss_mib"] = json!(round(server.rss_mib("VmHWM"), 1));
            eprintln!(
                "  {:<44} {:>9.0} req/s  p50 {:>6.2} ms  p99 {:>7.2} ms  x{:.2}{}",
                s.label,
                r["rps"].as_f64().unwrap_or(0.0),
                r["p50_ms"].as_f64().unwrap_or(0.0),
                r["p99_ms"].as_f64().unwrap_or(0.0),
                r["vs_readyz"].as_f64().unwrap_or(0.0),
                if r["unexpected"].as_u64().unwrap_or(0) + r["errors"].as_u64().unwrap_or(0) > 0 {
                    "  WRONG ANSWERS"
                } else {
                    ""
                }
            );
            rows.push(r);
        }
        let peak_rss = server.rss_mib("VmHWM");
        drop(server);
        drop(db);
        let mut entry = json!({
            "backend": backend,
            "clients": clients,
            "websites": websites,
            "seed": strip_sample(seed),
            "idle_rss_mib": round(idle_rss, 1),
            "peak_rss_mib": round(peak_rss, 1),
            "load_average_before": load_before,
            "load_average_after": load_average(),
            "rows": rows,
        });
        if !series {
            entry["targets"] = targets(&entry);
            print_table(&entry, &self.options);
        }
        Ok(entry)
    }

    fn scenarios(&self, seed: &Value, token: &str, cursor: &str, picks: &Path, series: bool) -> Vec<Scenario> {
        let auth = Some(token);
        let search = seed["search"].as_str().unwrap_or("a");
        let busiest = seed["busiest_request"].as_str().unwrap_or("");
        let site_q = seed["website_search"].as_str().unwrap_or("a");
        let mut all = vec![
            Scenario::get("healthz", "GET /healthz", "/healthz".into(), None),
            Scenario::get("readyz", "GET /readyz", "/readyz".into(), None),
            Scenario::get("list_first", "list: first page", "/v1/shared-accounts".into(), auth),
            Scenario::get(
                "list_later",
                "list: later page (cursor)",
                format!("/v1/shared-accounts?cursor={cursor}"),
                auth,
            ),
            Scenario::get(
                "list_search",
                &format!("list: search q={search}"),
                format!("/v1/shared-accounts?q={search}"),
                auth,
            ),
            Scenario::get(
                "list_status",
                "list: status=major_issue",
                "/v1/shared-accounts?status=major_issue".into(),
                auth,
            ),
            Scenario::get(
                "websites_search",
                &format!("websites of a client: q={site_q}"),
                format!("/v1/shared-accounts/{busiest}/websites?q={site_q}"),
                auth,
            ),
        ];
        if series {
            all.retain(|s| s.key != "healthz");
            return all;
        }
        all.push(Scenario {
            key: "new_request",
            label: "POST new request (+ outbox)".into(),
            method: "POST",
            path: "/v1/shared-accounts".into(),
            auth: auth.map(str::to_owned),
            bodies: vec![format!(
                "{{\"email\":\"new-{{n}}@run{}.bench.example\",\"role\":\"developer\"}}",
                self.run_id
            )],
            picks: None,
            expect: 201,
        });
        all.push(Scenario {
            key: "status_update",
            label: "PUT website status (internal)".into(),
            method: "PUT",
            path: "/v1/internal/websites/{pick}/status".into(),
            auth: Some(SERVICE_TOKEN.to_owned()),
            bodies: [("true", "major_issue"), ("false", "ok"), ("true", "ok"), ("true", "warning")]
                .iter()
                .map(|(c, h)| format!("{{\"connected\":{c},\"health\":\"{h}\"}}"))
                .collect(),
            picks: Some(picks.to_owned()),
            expect: 200,
        });
        all.push(Scenario {
            key: "sign_in",
            label: "POST sign-in (argon2id)".into(),
            method: "POST",
            path: "/v1/auth/sign-in".into(),
            auth: None,
            bodies: vec![format!("{{\"email\":\"{AGENCY}\",\"password\":\"{PASSWORD}\"}}")],
            picks: None,
            expect: 200,
        });
        all
    }

    fn load(&self, server: &Server, s: &Scenario) -> Result<Value, String> {
        let (duration, warmup) = if s.key == "sign_in" && !self.options.quick {
            // Argon2id answers tens per second: a longer run for a stable p99.
            (self.options.duration_ms.max(10_000), self.options.warmup_ms)
        } else {
            (self.options.duration_ms, self.options.warmup_ms)
        };
        let mut cmd = Command::new(&self.loadgen);
        cmd.args(["--addr", &server.addr.to_string()])
            .args(["--connections", &self.options.connections.to_string()])
            .args(["--duration-ms", &duration.to_string(), "--warmup-ms", &warmup.to_string()])
            .args(["--threads", &self.options.loadgen_threads.to_string()])
            .args(["--method", s.method, "--path", &s.path, "--expect", &s.expect.to_string()]);
        if let Some(token) = &s.auth {
            cmd.args(["--header", &format!("authorization: Bearer {token}")]);
        }
        for b in &s.bodies {
            cmd.args(["--body", b]);
        }
        if let Some(p) = &s.picks {
            cmd.arg("--picks").arg(p);
        }
        let out = cmd.stderr(Stdio::inherit()).output().map_err(|e| format!("loadgen: {e}"))?;
        if !out.status.success() {
            return Err(format!("loadgen failed for {} ({})", s.key, out.status));
        }
        let mut r: Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("loadgen output: {e}"))?;
        r["key"] = json!(s.key);
        r["label"] = json!(s.label);
        for k in ["rps", "p50_ms", "p90_ms", "p99_ms", "max_ms"] {
            r[k] = json!(round(r[k].as_f64().unwrap_or(0.0), 2));
        }
        Ok(r)
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

fn summary(seed: &Value) -> String {
    format!(
        "{} listed + {} unlisted rows, {} client accounts, {} websites (busiest client {}), statuses {}",
        seed["listed"],
        seed["unlisted"],
        seed["accounts"],
        seed["websites"],
        seed["busiest_websites"],
        seed["by_status"]
    )
}

fn strip_sample(mut seed: Value) -> Value {
    if let Some(o) = seed.as_object_mut() {
        o.remove("website_sample");
    }
    seed
}

/// `admin_url` with its database replaced by `name`.
fn with_database(admin_url: &str, name: &str) -> String {
    let (base, query) = admin_url.split_once('?').map_or((admin_url, None), |(b, q)| (b, Some(q)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..].find('/').map_or(base.len(), |i| authority + i);
    let mut url = format!("{}/{name}", &base[..path]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

/// Waits until the service's outbox holds no pending email (its `/metrics` gauge);
/// the seconds waited.
fn outbox_drain(addr: SocketAddr) -> Result<f64, String> {
    let start = Instant::now();
    loop {
        let (status, text) = http(addr, "GET", "/metrics", &[], None)?;
        let pending = text
            .lines()
            .find_map(|l| l.strip_prefix("clients_outbox_pending_messages "))
            .and_then(|v| v.trim().parse::<f64>().ok());
        match pending {
            Some(n) if n < 0.5 => return Ok(start.elapsed().as_secs_f64()),
            Some(_) if start.elapsed() < Duration::from_secs(300) => std::thread::sleep(Duration::from_millis(100)),
            Some(n) => return Err(format!("{n} emails still pending 300 s after the load")),
            None => return Err(format!("/metrics answered {status} without clients_outbox_pending_messages")),
        }
    }
}

fn sign_in(addr: SocketAddr) -> Result<String, String> {
    let body = format!("{{\"email\":\"{AGENCY}\",\"password\":\"{PASSWORD}\"}}");
    let (status, text) = http(addr, "POST", "/v1/auth/sign-in", &[], Some(&body))?;
    if status != 200 {
        return Err(format!("sign-in answered {status}: {text}"));
    }
    let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    v["token"].as_str().map(str::to_owned).ok_or_else(|| "sign-in: no token".to_owned())
}

/// The cursor after the first `offset` rows of the list (walked 100 rows a page).
fn cursor_at(addr: SocketAddr, token: &str, offset: u64) -> Result<String, String> {
    let auth = format!("Bearer {token}");
    let mut cursor: Option<String> = None;
    let mut seen = 0;
    while seen < offset.max(1) {
        let limit = (offset - seen).clamp(1, 100);
        let path = match &cursor {
            Some(c) => format!("/v1/shared-accounts?limit={limit}&cursor={c}"),
            None => format!("/v1/shared-accounts?limit={limit}"),
        };
        let (status, text) = http(addr, "GET", &path, &[("Authorization", &auth)], None)?;
        if status != 200 {
            return Err(format!("{path} answered {status}: {text}"));
        }
        let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        seen += v["items"].as_array().map_or(0, |a| a.len() as u64);
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    cursor.ok_or_else(|| "the list has a single page".to_owned())
}

fn row<'a>(entry: &'a Value, key: &str) -> Option<&'a Value> {
    entry["rows"].as_array()?.iter().find(|r| r["key"] == key)
}

/// The targets, checked against one backend's rows.
fn targets(entry: &Value) -> Value {
    let rps = |k: &str| row(entry, k).and_then(|r| r["rps"].as_f64());
    let ratio = |k: &str| row(entry, k).and_then(|r| r["vs_readyz"].as_f64());
    let mut out = vec![];
    let mut check = |name: &str, measured: Option<f64>, target: &str, ok: Option<bool>| {
        out.push(json!({ "target": name, "measured": measured.map(|m| round(m, 2)), "goal": target, "holds": ok }));
    };
    check("list first page vs /readyz", ratio("list_first"), ">= 0.50", ratio("list_first").map(|r| r >= 0.5));
    let p99 = row(entry, "list_first").and_then(|r| r["p99_ms"].as_f64());
    check("list first page p99 (ms)", p99, "<= 25", p99.map(|p| p <= 25.0));
    for k in ["list_later", "list_search", "list_status"] {
        let rel = rps(k).zip(rps("list_first")).map(|(a, b)| a / b);
        check(&format!("{k} vs first page"), rel, ">= 0.80", rel.map(|r| r >= 0.8));
    }
    for k in ["status_update", "new_request"] {
        check(&format!("{k} vs /readyz"), ratio(k), ">= 0.30", ratio(k).map(|r| r >= 0.3));
    }
    let peak = entry["peak_rss_mib"].as_f64();
    check("peak RSS under load (MiB)", peak, "<= 150", peak.map(|m| m <= 150.0));
    let idle = entry["idle_rss_mib"].as_f64();
    check("idle RSS after start (MiB)", idle, "<= 40", idle.map(|m| m <= 40.0));
    Value::Array(out)
}

fn print_table(entry: &Value, options: &Options) {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "\n{} — {} clients, {} websites; {} connections, {} s per endpoint",
        entry["backend"].as_str().unwrap_or("?"),
        entry["clients"],
        entry["websites"],
        options.connections,
        options.duration_ms as f64 / 1000.0
    );
    let _ = writeln!(t, "| endpoint | req/s | p50 ms | p99 ms | vs /readyz | peak RSS MiB |");
    let _ = writeln!(t, "|---|---:|---:|---:|---:|---:|");
    for r in entry["rows"].as_array().into_iter().flatten() {
        let _ = writeln!(
            t,
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} |",
            r["label"].as_str().unwrap_or("?"),
            r["rps"].as_f64().unwrap_or(0.0),
            r["p50_ms"].as_f64().unwrap_or(0.0),
            r["p99_ms"].as_f64().unwrap_or(0.0),
            r["vs_readyz"].as_f64().unwrap_or(0.0),
            r["peak_rss_mib"].as_f64().unwrap_or(0.0),
        );
    }
    let _ = writeln!(t, "\nidle RSS after start {} MiB; peak RSS {} MiB", entry["idle_rss_mib"], entry["peak_rss_mib"]);
    for r in entry["rows"].as_array().into_iter().flatten() {
        if let Some(drain) = r["outbox_drain_s"].as_f64() {
            let _ = writeln!(t, "outbox empty {drain} s after the new-request load (the next load waited for it)");
        }
    }
    for c in entry["targets"].as_array().into_iter().flatten() {
        let mark = match c["holds"].as_bool() {
            Some(true) => "holds",
            Some(false) => "MISSED",
            None => "not measured",
        };
        let _ = writeln!(
            t,
            "  {:<34} {:>8} (goal {}): {mark}",
            c["target"].as_str().unwrap_or("?"),
            c["measured"],
            c["goal"].as_str().unwrap_or("")
        );
    }
    eprint!("{t}");
}

fn print_series(series: &[Value]) {
    let mut t = String::from("\nseries: the list as the agency grows (req/s, p99 ms)\n");
    let _ = writeln!(
        t,
        "| backend | clients | websites | /readyz | first page | later page | search | status filter | websites q |"
    );
    let _ = writeln!(t, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for e in series {
        let cell = |k: &str| {
            row(e, k).map_or("-".to_owned(), |r| {
                format!("{:.0} / {:.1}", r["rps"].as_f64().unwrap_or(0.0), r["p99_ms"].as_f64().unwrap_or(0.0))
            })
        };
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            e["backend"].as_str().unwrap_or("?"),
            e["clients"],
            e["websites"],
            cell("readyz"),
            cell("list_first"),
            cell("list_later"),
            cell("list_search"),
            cell("list_status"),
            cell("websites_search")
        );
    }
    eprint!("{t}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_get_the_bench_database() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "b"),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(with_database("postgres://u:p@h/db?sslmode=disable", "b"), "postgres://u:p@h/b?sslmode=disable");
    }

    #[test]
    fn quick_runs_are_short_and_options_parse() {
        let o = Options::parse(&["--quick".to_owned(), "--only".to_owned(), "readyz,list_first".to_owned()]).unwrap();
        assert!(o.quick && o.duration_ms <= 2_000);
        assert_eq!(o.only.unwrap(), ["readyz", "list_first"]);
        assert!(Options::parse(&["--nope".to_owned()]).is_err());
    }

    #[test]
    fn targets_flag_what_misses() {
        let entry = json!({
            "idle_rss_mib": 20.0, "peak_rss_mib": 200.0,
            "rows": [
                {"key": "readyz", "rps": 1000.0, "vs_readyz": 1.0},
                {"key": "list_first", "rps": 600.0, "vs_readyz": 0.6, "p99_ms": 10.0},
                {"key": "list_later", "rps": 590.0, "vs_readyz": 0.59},
                {"key": "list_search", "rps": 100.0, "vs_readyz": 0.1},
            ]
        });
        let t = targets(&entry);
        let holds = |name: &str| t.as_array().unwrap().iter().find(|c| c["target"] == name).unwrap()["holds"].clone();
        assert_eq!(holds("list first page vs /readyz"), json!(true));
        assert_eq!(holds("list_later vs first page"), json!(true));
        assert_eq!(holds("list_search vs first page"), json!(false));
        assert_eq!(holds("list_status vs first page"), Value::Null);
        assert_eq!(holds("peak RSS under load (MiB)"), json!(false));
    }
}
