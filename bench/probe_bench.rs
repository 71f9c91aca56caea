//! TCP probe benchmark: outpost exporter against blackbox_exporter on a
//! farm of loopback listeners. See BENCHMARKS.md, section "TCP probes".
//!
//! For each farm size N it measures
//! - (a) `outpost exporter` `/probe`, driven by one HTTP client at a fixed
//!   concurrency;
//! - (b) `outpost exporter --probe.targets-file` with the N targets and a
//!   15 s interval: the duration of a full background round, from the
//!   exporter's own `probe round finished` log line;
//! - (c) blackbox_exporter `/probe?module=tcp_connect`, driven by the same
//!   client as (a);
//!
//! and for each the wall time, the exporter's CPU time per probe (summed
//! over its threads from `/proc/PID/task/*/schedstat`, nanosecond
//! resolution) and its RSS afterwards. Only loopback addresses are used.
//!
//! ```text
//! cargo build --release --bin outpost --example probe_bench
//! target/release/examples/probe_bench --outpost target/release/outpost \
//!     --blackbox /usr/bin/prometheus-blackbox-exporter --sizes 1000,10000
//! ```

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

struct Args {
    outpost: PathBuf,
    blackbox: PathBuf,
    sizes: Vec<usize>,
    concurrency: usize,
    min_probes: usize,
}

fn args() -> Result<Args> {
    let mut a = Args {
        outpost: "target/release/outpost".into(),
        blackbox: "/usr/bin/prometheus-blackbox-exporter".into(),
        sizes: vec![1000, 10_000],
        concurrency: 64,
        min_probes: 20_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().context("flag without value")?;
        match flag.as_str() {
            "--outpost" => a.outpost = v.into(),
            "--blackbox" => a.blackbox = v.into(),
            "--sizes" => a.sizes = v.split(',').map(str::parse).collect::<Result<_, _>>()?,
            "--concurrency" => a.concurrency = v.parse()?,
            "--min-probes" => a.min_probes = v.parse()?,
            _ => bail!("unknown flag {flag}"),
        }
    }
    Ok(a)
}

/// A child process killed when dropped.
struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// CPU seconds of every live thread of `pid`.
fn cpu_seconds(pid: u32) -> f64 {
    let mut ns = 0u64;
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in dir.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
                ns += s
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    ns as f64 / 1e9
}

/// CPU seconds of `pid` from `/proc/PID/stat` (utime + stime, including
/// exited threads; 10 ms resolution, USER_HZ = 100): a cross-check.
fn cpu_seconds_stat(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let after = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = after.split_whitespace().collect();
            Some((f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?) as f64 / 100.0)
        })
        .unwrap_or(f64::NAN)
}

/// Resident set size of `pid` in MiB.
fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("nothing listening on {port}")
}

/// N listeners that accept and close every connection.
async fn farm(n: usize) -> Result<Vec<SocketAddr>> {
    let mut addrs = Vec::with_capacity(n);
    for _ in 0..n {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        addrs.push(l.local_addr()?);
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                drop(s);
            }
        });
    }
    Ok(addrs)
}

#[derive(Debug)]
struct Run {
    probes: usize,
    wall: f64,
    cpu: f64,
    cpu_stat: f64,
    rss: f64,
    failed: usize,
}

impl Run {
    fn cpu_us_per_probe(&self) -> f64 {
        self.cpu / self.probes as f64 * 1e6
    }
}

/// Drives `GET {base}?target=...` for every target, `passes` times, with
/// `concurrency` requests in flight; measures the exporter `pid`.
async fn drive(
    base: &str,
    pid: u32,
    targets: &[SocketAddr],
    passes: usize,
    concurrency: usize,
) -> Result<Run> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(10))
        .build()?;
    let urls: Arc<Vec<String>> = Arc::new(
        (0..passes)
            .flat_map(|_| targets.iter().map(|t| format!("{base}{t}")))
            .collect(),
    );
    // Warm up connections and the exporter.
    for u in urls.iter().take(concurrency) {
        client.get(u).send().await?.text().await?;
    }
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let cpu0 = cpu_seconds(pid);
    let stat0 = cpu_seconds_stat(pid);
    let t0 = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, urls, next, failed) = (
            client.clone(),
            Arc::clone(&urls),
            Arc::clone(&next),
            Arc::clone(&failed),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(u) = urls.get(i) else { break };
                let ok = match client.get(u).send().await {
                    Ok(r) => r
                        .text()
                        .await
                        .is_ok_and(|b| b.lines().any(|l| l == "probe_success 1")),
                    Err(_) => false,
                };
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for w in workers {
        w.await?;
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu0;
    let cpu_stat = cpu_seconds_stat(pid) - stat0;
    Ok(Run {
        probes: urls.len(),
        wall,
        cpu,
        cpu_stat,
        rss: rss_mib(pid),
        failed: failed.load(Ordering::Relaxed),
    })
}

fn outpost_cmd(bin: &Path, port: u16) -> Command {
    let mut c = Command::new(bin);
    // The `probe round finished` line is a debug event.
    c.args([
        "--log.level",
        "outpost=debug",
        "--log.format",
        "json",
        "exporter",
        "--collector.disable-defaults",
        "--web.listen-address",
    ])
    .arg(format!("127.0.0.1:{port}"));
    c
}

/// (b): the exporter-side list. Returns (round 1, round 2) and the CPU of round 2.
fn exporter_side(bin: &Path, targets: &[SocketAddr], dir: &Path) -> Result<(Run, f64)> {
    let file = dir.join(format!("targets-{}.txt", targets.len()));
    let text: String = targets
        .iter()
        .enumerate()
        .map(|(i, t)| format!("t{i} {t}\n"))
        .collect();
    std::fs::write(&file, text)?;
    let port = free_port();
    let mut child = outpost_cmd(bin, port)
        .arg("--probe.targets-file")
        .arg(&file)
        .args(["--probe.interval", "15s"])
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().context("stderr")?;
    let child = Proc(child);
    let pid = child.0.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("probe round finished") {
                let _ = tx.send((line, cpu_seconds(pid), cpu_seconds_stat(pid)));
            }
        }
    });
    let field = |line: &str, name: &str| -> f64 {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        v["fields"][name].as_f64().unwrap_or(f64::NAN)
    };
    let (l1, cpu1, stat1) = rx.recv_timeout(Duration::from_secs(120))?;
    let (l2, cpu2, stat2) = rx.recv_timeout(Duration::from_secs(120))?;
    let round1 = field(&l1, "seconds");
    let round2 = field(&l2, "seconds");
    let run = Run {
        probes: targets.len(),
        wall: round2,
        cpu: cpu2 - cpu1,
        cpu_stat: stat2 - stat1,
        rss: rss_mib(pid),
        failed: field(&l2, "failed") as usize,
    };
    drop(child);
    Ok((run, round1))
}

fn row(name: &str, r: &Run) -> String {
    format!(
        "| {name} | {} | {:.2} | {:.0} | {:.1} | {:.0} | {:.1} | {} |",
        r.probes,
        r.wall,
        r.probes as f64 / r.wall,
        r.cpu_us_per_probe(),
        r.cpu_stat / r.probes as f64 * 1e6,
        r.rss,
        r.failed
    )
}

fn main() -> Result<()> {
    let a = args()?;
    if let Ok((soft, hard)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
    {
        if soft < hard {
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard)?;
        }
        println!("RLIMIT_NOFILE raised to {hard}");
    }
    let dir = tempfile::tempdir()?;
    let bb_config = dir.path().join("blackbox.yml");
    std::fs::write(
        &bb_config,
        "modules:\n  tcp_connect:\n    prober: tcp\n    timeout: 5s\n    tcp:\n      preferred_ip_protocol: ip4\n",
    )?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    for &n in &a.sizes {
        let targets = rt.block_on(farm(n))?;
        let passes = a.min_probes.div_ceil(n);
        println!(
            "\n## N = {n} listeners; /probe driven {passes}x over all of them, concurrency {}",
            a.concurrency
        );

        let port = free_port();
        let op = Proc(
            outpost_cmd(&a.outpost, port)
                .stderr(Stdio::null())
                .spawn()?,
        );
        wait_port(port)?;
        let outpost_probe = rt.block_on(drive(
            &format!("http://127.0.0.1:{port}/probe?target="),
            op.0.id(),
            &targets,
            passes,
            a.concurrency,
        ))?;
        drop(op);

        let port = free_port();
        let bb = Proc(
            Command::new(&a.blackbox)
                .arg(format!("--config.file={}", bb_config.display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--log.level=warn")
                .stderr(Stdio::null())
                .spawn()?,
        );
        wait_port(port)?;
        let blackbox = rt.block_on(drive(
            &format!("http://127.0.0.1:{port}/probe?module=tcp_connect&target="),
            bb.0.id(),
            &targets,
            passes,
            a.concurrency,
        ))?;
        drop(bb);

        let (side, round1) = exporter_side(&a.outpost, &targets, dir.path())?;

        println!("| way | probes | wall s | probes/s | exporter CPU µs/probe (schedstat) | (stat ticks) | RSS MiB after | failed |");
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        println!("{}", row("outpost `/probe`", &outpost_probe));
        println!("{}", row("blackbox_exporter `/probe`", &blackbox));
        println!("{}", row("outpost exporter-side list (round 2)", &side));
        println!(
            "exporter-side round 1: {round1:.3} s; round 2: {:.3} s (interval 15 s)",
            side.wall
        );
        println!(
            "ratios outpost/blackbox (/probe): CPU per probe {:.2}x, wall {:.2}x, RSS {:.2}x; exporter-side CPU per probe vs blackbox {:.2}x",
            outpost_probe.cpu_us_per_probe() / blackbox.cpu_us_per_probe(),
            outpost_probe.wall / blackbox.wall,
            outpost_probe.rss / blackbox.rss,
            side.cpu_us_per_probe() / blackbox.cpu_us_per_probe(),
        );
    }
    Ok(())
}
