//! `loadgen`: the HTTP/1.1 load generator behind `cargo xtask bench`.
//!
//! Closed loop, like `wrk`: `--connections` keep-alive connections, each sending its
//! next request as soon as the previous answer is read, for `--warmup-ms` (not
//! recorded) and then `--duration-ms` (recorded). Every latency is kept, so the
//! percentiles are exact. Only loopback addresses are accepted, and every run stops by
//! itself at its deadline.
//!
//! Requests vary by a sequence number `n` (unique per request across connections):
//! `{n}` in the path or body becomes `n`, `{pick}` the `n`-th line (cyclically) of
//! `--picks`; with several `--body` values, request `n` sends body
//! `(n / picks) % bodies`, so each sweep over the picks changes every pick's body.
//! The result is one JSON object on stdout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

#[derive(Debug, Clone, Parser)]
#[command(name = "loadgen", about = "Closed-loop HTTP/1.1 load for one endpoint; prints JSON")]
struct Args {
    /// Server address (loopback only).
    #[arg(long)]
    addr: SocketAddr,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Recorded run time.
    #[arg(long, default_value_t = 10_000)]
    duration_ms: u64,
    /// Unrecorded time before it.
    #[arg(long, default_value_t = 1_000)]
    warmup_ms: u64,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// HTTP method.
    #[arg(long, default_value = "GET")]
    method: String,
    /// Path and query; `{n}` and `{pick}` are substituted.
    #[arg(long)]
    path: String,
    /// `name: value` headers.
    #[arg(long = "header")]
    headers: Vec<String>,
    /// Bodies (JSON); `{n}` and `{pick}` are substituted.
    #[arg(long = "body")]
    bodies: Vec<String>,
    /// A file with one value per line for `{pick}`.
    #[arg(long)]
    picks: Option<std::path::PathBuf>,
    /// The status every answer should have.
    #[arg(long, default_value_t = 200)]
    expect: u16,
    /// First sequence number (make it unique per run when `{n}` must not repeat).
    #[arg(long, default_value_t = 0)]
    seq_start: u64,
}

/// One request's shape, shared by every connection.
#[derive(Debug)]
struct Plan {
    method: hyper::Method,
    path: String,
    headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    bodies: Vec<String>,
    picks: Vec<String>,
    host: String,
    expect: u16,
}

impl Plan {
    fn request(&self, n: u64) -> Result<hyper::Request<Full<Bytes>>, String> {
        let picks = self.picks.len().max(1) as u64;
        let pick = self.picks.get((n % picks) as usize).map_or("", String::as_str);
        let fill = |t: &str| t.replace("{n}", &n.to_string()).replace("{pick}", pick);
        let body = if self.bodies.is_empty() {
            Bytes::new()
        } else {
            Bytes::from(fill(&self.bodies[((n / picks) % self.bodies.len() as u64) as usize]))
        };
        let mut req = hyper::Request::builder().method(self.method.clone()).uri(fill(&self.path));
        req = req.header(hyper::header::HOST, &self.host);
        if !body.is_empty() {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        req.body(Full::new(body)).map_err(|e| e.to_string())
    }
}

/// What one connection saw.
#[derive(Debug, Default)]
struct Tally {
    latencies_us: Vec<u32>,
    unexpected: u64,
    errors: u64,
    statuses: std::collections::BTreeMap<u16, u64>,
    first_problem: Option<String>,
}

impl Tally {
    fn problem(&mut self, what: String) {
        if self.first_problem.is_none() {
            self.first_problem = Some(what);
        }
    }
}

async fn connect(addr: SocketAddr) -> Result<http1::SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn connection(
    addr: SocketAddr,
    plan: Arc<Plan>,
    seq: Arc<AtomicU64>,
    record_from: Instant,
    end: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut sender = None;
    while Instant::now() < end {
        let s = match sender.as_mut() {
            Some(s) => s,
            None => match connect(addr).await {
                Ok(s) => sender.insert(s),
                Err(e) => {
                    tally.errors += 1;
                    tally.problem(e);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let n = seq.fetch_add(1, Ordering::Relaxed);
        let req = match plan.request(n) {
            Ok(r) => r,
            Err(e) => {
                tally.errors += 1;
                tally.problem(e);
                break;
            }
        };
        let started = Instant::now();
        let outcome = match tokio::time::timeout_at(end.into(), s.send_request(req)).await {
            Err(_) => break,
            Ok(Err(e)) => Err(format!("request: {e}")),
            Ok(Ok(resp)) => {
                let status = resp.status().as_u16();
                match resp.into_body().collect().await {
                    Ok(body) => Ok((status, body.to_bytes())),
                    Err(e) => Err(format!("body: {e}")),
                }
            }
        };
        let took = started.elapsed();
        match outcome {
            Ok((status, body)) => {
                if started >= record_from {
                    tally.latencies_us.push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
                    *tally.statuses.entry(status).or_default() += 1;
                    if status != plan.expect {
                        tally.unexpected += 1;
                        let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
                        tally.problem(format!("status {status}: {text}"));
                    }
                }
            }
            Err(e) => {
                tally.errors += 1;
                tally.problem(e);
                sender = None;
            }
        }
    }
    tally
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
}

fn plan(args: &Args) -> Result<Plan, String> {
    if !args.addr.ip().is_loopback() {
        return Err(format!("{}: only loopback addresses are load tested", args.addr));
    }
    let headers = args
        .headers
        .iter()
        .map(|h| {
            let (k, v) = h.split_once(':').ok_or_else(|| format!("header {h:?} is not `name: value`"))?;
            let k = hyper::header::HeaderName::from_bytes(k.trim().as_bytes()).map_err(|e| e.to_string())?;
            let v = hyper::header::HeaderValue::from_str(v.trim()).map_err(|e| e.to_string())?;
            Ok((k, v))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let picks = match &args.picks {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect(),
        None => vec![],
    };
    Ok(Plan {
        method: args.method.parse().map_err(|_| format!("bad method {}", args.method))?,
        path: args.path.clone(),
        headers,
        bodies: args.bodies.clone(),
        picks,
        host: args.addr.to_string(),
        expect: args.expect,
    })
}

#[allow(clippy::print_stdout, reason = "the JSON result is the output")]
fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let plan = match plan(&args) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            eprintln!("loadgen: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads.max(1)).enable_all().build() {
            Ok(r) => r,
            Err(e) => {
                eprintln!("loadgen: runtime: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
    let tallies = runtime.block_on(async {
        let seq = Arc::new(AtomicU64::new(args.seq_start));
        let start = Instant::now();
        let record_from = start + Duration::from_millis(args.warmup_ms);
        let end = record_from + Duration::from_millis(args.duration_ms);
        let tasks: Vec<_> = (0..args.connections.max(1))
            .map(|_| tokio::spawn(connection(args.addr, plan.clone(), seq.clone(), record_from, end)))
            .collect();
        let mut tallies = vec![];
        for t in tasks {
            if let Ok(tally) = t.await {
                tallies.push(tally);
            }
        }
        tallies
    });
    let mut all: Vec<u32> = tallies.iter().flat_map(|t| t.latencies_us.iter().copied()).collect();
    all.sort_unstable();
    let mut statuses = serde_json::Map::new();
    for t in &tallies {
        for (s, n) in &t.statuses {
            let entry = statuses.entry(s.to_string()).or_insert(serde_json::Value::from(0u64));
            *entry = serde_json::Value::from(entry.as_u64().unwrap_or(0) + n);
        }
    }
    let seconds = args.duration_ms as f64 / 1000.0;
    let out = serde_json::json!({
        "requests": all.len(),
        "rps": all.len() as f64 / seconds,
        "p50_ms": percentile(&all, 50.0),
        "p90_ms": percentile(&all, 90.0),
        "p99_ms": percentile(&all, 99.0),
        "max_ms": percentile(&all, 100.0),
        "unexpected": tallies.iter().map(|t| t.unexpected).sum::<u64>(),
        "errors": tallies.iter().map(|t| t.errors).sum::<u64>(),
        "statuses": statuses,
        "first_problem": tallies.iter().find_map(|t| t.first_problem.clone()),
        "seconds": seconds,
        "connections": args.connections,
    });
    println!("{out}");
    std::process::ExitCode::SUCCESS
}
