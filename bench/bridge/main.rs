//! Bridge benchmark: webhook intake (sustained acknowledged posts/s, ack
//! latency at full load and at a steady 200/s), end-to-end webhook →
//! `sendMessage` latency when not rate-limited, and the bridge's RSS.
//!
//! It starts a real `outpost bridge` (the binary given as the first
//! argument, a release build) with its state on this disk, a minimal
//! Telegram stand-in that timestamps each `sendMessage`, and, as the
//! anchor, a null webhook receiver in the same process that parses the
//! JSON and answers 200 without storing anything: the HTTP + JSON ceiling
//! of this machine, so the cost of durability shows as a ratio.
//!
//! Then the same on PostgreSQL (issue 14): a server of the benchmark's
//! own (Debian's `postgresql`, `initdb`/`pg_ctl` on loopback with its
//! durable defaults, started by the tests' helper `tests/it/pg_server.rs`)
//! and two bridges sharing it, webhooks spread over both: end to end
//! (split by which bridge took the webhook: a row the follower stored
//! waits for the leader's scan), ack latency at a steady 200/s,
//! saturation, the CPU each process spent per acknowledged webhook, and
//! the takeover after a SIGKILL of the leader (to the follower's
//! `outpost_bridge_leader 1`, and to the first alert it delivers).
//!
//! Usage: bench/bridge/run.sh (builds, then runs this example).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};

mod pair;

#[path = "../../tests/it/pg_server.rs"]
mod pg_server;

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// Serves `handler` on a loopback port (HTTP/1, keep-alive).
async fn serve<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Bytes, String) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = String> + Send,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let h = handler.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let h = h.clone();
                    async move {
                        let path = req.uri().path().to_owned();
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let out = h(body, path).await;
                        Ok::<_, std::convert::Infallible>(
                            Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(out)))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

fn alert(name: &str) -> String {
    serde_json::json!({
        "version": "4", "status": "firing", "receiver": "telegram",
        "groupKey": format!("{{}}:{{alertname=\"{name}\"}}"),
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": name, "agent": "web1", "severity": "critical", "instance": "10.0.0.1:9100", "job": "node"},
            "annotations": {"summary": format!("{name} on web1"), "description": "CPU usage is above 90% for 5m (VALUE = 97.3)"},
            "startsAt": "2026-11-22T05:09:04.56916Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up&g0.tab=1",
            "fingerprint": name,
        }],
        "groupLabels": {"alertname": name}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093", "truncatedAlerts": 0
    })
    .to_string()
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

struct Run {
    acked: usize,
    failed: usize,
    secs: f64,
    lat: Vec<Duration>,
}

impl Run {
    fn report(&self, what: &str) -> String {
        format!(
            "{what}: {} acked ({} failed) in {:.1}s = {:.0}/s; ack latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.acked,
            self.failed,
            self.secs,
            self.acked as f64 / self.secs,
            pct(&self.lat, 0.5),
            pct(&self.lat, 0.99),
            pct(&self.lat, 1.0)
        )
    }
}

/// Closed loop: `workers` clients posting back to back for `dur`, client
/// `w` to `urls[w % urls.len()]`.
async fn saturate(urls: &[String], prefix: &str, workers: usize, dur: Duration) -> Run {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(workers)
        .build()
        .unwrap();
    let start = Instant::now();
    let mut handles = Vec::new();
    for w in 0..workers {
        let (client, url, prefix) = (
            client.clone(),
            urls[w % urls.len()].clone(),
            prefix.to_owned(),
        );
        handles.push(tokio::spawn(async move {
            let (mut lat, mut failed, mut i) = (Vec::new(), 0usize, 0usize);
            while start.elapsed() < dur {
                let body = alert(&format!("{prefix}{w}x{i}"));
                i += 1;
                let t = Instant::now();
                let ok = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ok {
                    lat.push(t.elapsed());
                } else {
                    failed += 1;
                }
            }
            (lat, failed)
        }));
    }
    let mut run = Run {
        acked: 0,
        failed: 0,
        secs: 0.0,
        lat: Vec::new(),
    };
    for h in handles {
        let (lat, failed) = h.await.unwrap();
        run.acked += lat.len();
        run.failed += failed;
        run.lat.extend(lat);
    }
    run.secs = start.elapsed().as_secs_f64();
    run.lat.sort();
    run
}

/// Open loop: one post every 1/rate s for `dur`, latency from the
/// scheduled send time; posts go to `urls` in turn.
async fn steady(urls: &[String], prefix: &str, rate: u32, dur: Duration) -> Run {
    let client = reqwest::Client::new();
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut handles = Vec::new();
    let mut i = 0;
    while start.elapsed() < dur {
        tick.tick().await;
        let scheduled = Instant::now();
        let (client, url, body) = (
            client.clone(),
            urls[i % urls.len()].clone(),
            alert(&format!("{prefix}{i}")),
        );
        i += 1;
        handles.push(tokio::spawn(async move {
            let ok = client
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            ok.then(|| scheduled.elapsed())
        }));
    }
    let mut run = Run {
        acked: 0,
        failed: 0,
        secs: 0.0,
        lat: Vec::new(),
    };
    for h in handles {
        match h.await.unwrap() {
            Some(l) => {
                run.acked += 1;
                run.lat.push(l);
            }
            None => run.failed += 1,
        }
    }
    run.secs = start.elapsed().as_secs_f64();
    run.lat.sort();
    run
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| {
                l.strip_prefix(name)?
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU seconds (user + system) `pid` has used; 0 when it is gone.
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and
    // stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / hz
}

/// The load average line of /proc/loadavg.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// A loopback port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `outpost bridge`, killed when dropped.
struct Bridge {
    child: std::process::Child,
    url: String,
}

impl Bridge {
    /// Starts `outpost bridge` with `--state state` and `extra` flags,
    /// sending to the Telegram stand-in at `tg`; waits for its port.
    fn start(outpost: &str, tg: SocketAddr, state: &str, extra: &[&str]) -> Bridge {
        let port = free_port();
        let child = Command::new(outpost)
            .args(["bridge", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--telegram-api-url", &format!("http://{tg}")])
            .args(["--chat-id", "1", "--log.level", "warn"])
            .args(["--state", state])
            .args(extra)
            .env("OUTPOST_TELEGRAM_TOKEN", TOKEN)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        for _ in 0..600 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Bridge {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    async fn metrics(&self, client: &reqwest::Client) -> String {
        match client.get(format!("{}/metrics", self.url)).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Whether its `/metrics` says it leads.
    async fn leads(&self, client: &reqwest::Client) -> bool {
        self.metrics(client)
            .await
            .lines()
            .any(|l| l == "outpost_bridge_leader 1")
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const TOKEN: &str = "1:bench";

/// End to end when not rate-limited: 200 webhooks, 20/s (under the 30/s
/// global limit), each to its own chat (from `chat_base`), to `urls` in
/// turn; alert names `{prefix}{i}` (the prefix starts with `E2e`, which
/// the Telegram stand-in timestamps). The latencies of the webhooks each
/// URL took, sorted.
async fn end_to_end(
    urls: &[String],
    prefix: &str,
    chat_base: usize,
    arrivals: &Arrivals,
) -> Vec<Vec<Duration>> {
    let client = reqwest::Client::new();
    let mut sent_at = Vec::new();
    for i in 0..200 {
        let name = format!("{prefix}{i}");
        let t = Instant::now();
        let r = client
            .post(format!("{}/alert/{}", urls[i % urls.len()], chat_base + i))
            .header("content-type", "application/json")
            .body(alert(&name))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        sent_at.push((i % urls.len(), name, t));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let a = arrivals.lock().unwrap();
    let mut by_url = vec![Vec::new(); urls.len()];
    for (u, n, t) in &sent_at {
        if let Some(at) = a.get(n) {
            by_url[*u].push(*at - *t);
        }
    }
    for l in &mut by_url {
        l.sort();
    }
    by_url
}

fn e2e_line(what: &str, lat: &[Duration], of: usize) -> String {
    format!(
        "{what}: {} of {of} delivered; p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        pct(lat, 0.5),
        pct(lat, 0.99),
        pct(lat, 1.0)
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let outpost = std::env::args()
        .nth(1)
        .expect("usage: bridge_bench PATH/TO/outpost [SECONDS]");
    let secs: u64 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let dur = Duration::from_secs(secs);
    println!("load average at start: {}", loadavg());

    // Telegram stand-in: timestamps each sendMessage by the alert names in it.
    let arrivals: Arrivals = Arc::default();
    let arr = Arc::clone(&arrivals);
    let tg = serve(move |body: Bytes, _path: String| {
        let arr = Arc::clone(&arr);
        async move {
            let now = Instant::now();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let text = v["text"].as_str().unwrap_or("");
            let mut a = arr.lock().unwrap();
            for w in text.split(|c: char| !(c.is_ascii_alphanumeric())) {
                if w.starts_with("E2e") {
                    a.entry(w.to_owned()).or_insert(now);
                }
            }
            r#"{"ok":true,"result":{"message_id":1,"date":0,"chat":{"id":1,"type":"private"}}}"#
                .to_owned()
        }
    })
    .await;

    // Anchor: parse the webhook, answer 200, store nothing.
    let null = serve(|body: Bytes, _path: String| async move {
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        format!(
            "{{\"status\":\"queued\",\"alerts\":{}}}",
            v["alerts"].as_array().map_or(0, Vec::len)
        )
    })
    .await;
    let anchor = vec![format!("http://{null}/alert")];

    let dir = tempfile::Builder::new()
        .prefix("bridge-bench")
        .tempdir_in(".")
        .unwrap();
    let sqlite = |sync: &str| {
        let state = dir.path().join(format!("state-{sync}.db"));
        Bridge::start(
            &outpost,
            tg,
            state.to_str().unwrap(),
            &["--state-sync", sync],
        )
    };
    let full = sqlite("full");
    let pid = full.child.id();
    let bridge = vec![format!("{}/alert", full.url)];
    println!("disk for --state: {}", dir.path().display());

    // 1. End to end when not rate-limited.
    let e2e = end_to_end(std::slice::from_ref(&full.url), "E2e", 10_000, &arrivals).await;
    println!(
        "{}",
        e2e_line("end-to-end webhook -> sendMessage", &e2e[0], 200)
    );

    // 2. Steady 200/s.
    let bridge_steady = steady(&bridge, "Steady", 200, dur).await;
    println!(
        "{}",
        bridge_steady.report("bridge (full sync) 200/s steady")
    );
    let null_steady = steady(&anchor, "Steady", 200, dur).await;
    println!("{}", null_steady.report("anchor   200/s steady"));

    // 3. Saturation with 32 concurrent clients (all to one chat: the
    //    sender is busy coalescing the backlog meanwhile, as in a storm).
    let cpu_before = cpu_secs(&full.pid());
    let bridge_sat = saturate(&bridge, "Sat", 32, dur).await;
    let cpu = cpu_secs(&full.pid()) - cpu_before;
    println!(
        "{}",
        bridge_sat.report("bridge (full sync) saturated (32 clients)")
    );
    println!(
        "  CPU per acknowledged webhook: bridge {:.0} µs",
        cpu / bridge_sat.acked as f64 * 1e6
    );
    let (rss, hwm) = rss_kib(pid);
    let null_sat = saturate(&anchor, "Sat", 32, dur).await;
    println!("{}", null_sat.report("anchor   saturated (32 clients)"));
    println!(
        "ratio bridge/anchor: saturated throughput {:.2}, steady p99 {:.2}",
        (bridge_sat.acked as f64 / bridge_sat.secs) / (null_sat.acked as f64 / null_sat.secs),
        pct(&bridge_steady.lat, 0.99) / pct(&null_steady.lat, 0.99)
    );
    let client = reqwest::Client::new();
    for l in full.metrics(&client).await.lines().filter(|l| {
        l.starts_with("outpost_bridge_queue_depth")
            || l.starts_with("outpost_bridge_messages_sent_total")
    }) {
        println!("{l}");
    }
    println!(
        "bridge RSS after the runs: {:.1} MiB (peak {:.1} MiB)",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    drop(full);

    // The same with --state-sync normal (no fsync per commit), for scale.
    let normal = sqlite("normal");
    let nb = vec![format!("{}/alert", normal.url)];
    let n_steady = steady(&nb, "Steady", 200, dur).await;
    println!(
        "{}",
        n_steady.report("bridge --state-sync normal, 200/s steady")
    );
    let n_sat = saturate(&nb, "Sat", 32, dur).await;
    println!(
        "{}",
        n_sat.report("bridge --state-sync normal, saturated (32 clients)")
    );
    drop(normal);

    pair::run(&outpost, tg, &arrivals, dur).await;
    println!("load average at the end: {}", loadavg());
}
