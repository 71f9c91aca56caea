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
//! Usage: bench/bridge/run.sh (builds, then runs this example).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};

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

/// Closed loop: `workers` clients posting back to back for `dur`.
async fn saturate(url: &str, prefix: &str, workers: usize, dur: Duration) -> Run {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(workers)
        .build()
        .unwrap();
    let start = Instant::now();
    let mut handles = Vec::new();
    for w in 0..workers {
        let (client, url, prefix) = (client.clone(), url.to_owned(), prefix.to_owned());
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
/// scheduled send time.
async fn steady(url: &str, prefix: &str, rate: u32, dur: Duration) -> Run {
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
            url.to_owned(),
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
    let token = "1:bench";

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

    let dir = tempfile::Builder::new()
        .prefix("bridge-bench")
        .tempdir_in(".")
        .unwrap();
    let start_bridge = |sync: &str| {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&outpost)
            .args(["bridge", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--telegram-api-url", &format!("http://{tg}")])
            .args([
                "--chat-id",
                "1",
                "--log.level",
                "warn",
                "--state-sync",
                sync,
            ])
            .arg("--state")
            .arg(dir.path().join(format!("state-{sync}.db")))
            .env("OUTPOST_TELEGRAM_TOKEN", token)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        (child, format!("http://127.0.0.1:{port}"))
    };
    let (mut child, bridge) = start_bridge("full");
    let pid = child.id();
    println!("disk for --state: {}", dir.path().display());

    // 1. End to end when not rate-limited: each webhook to its own chat,
    //    20/s (under the 30/s global limit).
    let client = reqwest::Client::new();
    let mut sent_at = Vec::new();
    for i in 0..200 {
        let name = format!("E2e{i}");
        let t = Instant::now();
        let r = client
            .post(format!("{bridge}/alert/{}", 10_000 + i))
            .header("content-type", "application/json")
            .body(alert(&name))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        sent_at.push((name, t));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut e2e: Vec<Duration> = {
        let a = arrivals.lock().unwrap();
        sent_at
            .iter()
            .filter_map(|(n, t)| a.get(n).map(|at| *at - *t))
            .collect()
    };
    e2e.sort();
    println!(
        "end-to-end webhook -> sendMessage: {} of 200 delivered; p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        e2e.len(),
        pct(&e2e, 0.5),
        pct(&e2e, 0.99),
        pct(&e2e, 1.0)
    );

    // 2. Steady 200/s.
    let bridge_steady = steady(&format!("{bridge}/alert"), "Steady", 200, dur).await;
    println!(
        "{}",
        bridge_steady.report("bridge (full sync) 200/s steady")
    );
    let null_steady = steady(&format!("http://{null}/alert"), "Steady", 200, dur).await;
    println!("{}", null_steady.report("anchor   200/s steady"));

    // 3. Saturation with 32 concurrent clients (all to one chat: the
    //    sender is busy coalescing the backlog meanwhile, as in a storm).
    let bridge_sat = saturate(&format!("{bridge}/alert"), "Sat", 32, dur).await;
    println!(
        "{}",
        bridge_sat.report("bridge (full sync) saturated (32 clients)")
    );
    let (rss, hwm) = rss_kib(pid);
    let null_sat = saturate(&format!("http://{null}/alert"), "Sat", 32, dur).await;
    println!("{}", null_sat.report("anchor   saturated (32 clients)"));
    println!(
        "ratio bridge/anchor: saturated throughput {:.2}, steady p99 {:.2}",
        (bridge_sat.acked as f64 / bridge_sat.secs) / (null_sat.acked as f64 / null_sat.secs),
        pct(&bridge_steady.lat, 0.99) / pct(&null_steady.lat, 0.99)
    );
    let metrics = client
        .get(format!("{bridge}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for l in metrics.lines().filter(|l| {
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
    let _ = child.kill();
    let _ = child.wait();

    // The same with --state-sync normal (no fsync per commit), for scale.
    let (mut normal, nb) = start_bridge("normal");
    let n_steady = steady(&format!("{nb}/alert"), "Steady", 200, dur).await;
    println!(
        "{}",
        n_steady.report("bridge --state-sync normal, 200/s steady")
    );
    let n_sat = saturate(&format!("{nb}/alert"), "Sat", 32, dur).await;
    println!(
        "{}",
        n_sat.report("bridge --state-sync normal, saturated (32 clients)")
    );
    let _ = normal.kill();
    let _ = normal.wait();
}
