//! Shared test support: the real upstream programs and loopback ports.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The path of an upstream program the tests need. Fails the test, naming
/// the Debian package, when it is missing: never a silent skip.
pub fn require(binary: &str, package: &str) -> PathBuf {
    let candidates = [
        format!("/usr/bin/{binary}"),
        format!("/usr/local/bin/{binary}"),
        format!("/usr/sbin/{binary}"),
    ];
    for c in &candidates {
        let p = PathBuf::from(c);
        if p.exists() {
            return p;
        }
    }
    if let Ok(out) = Command::new("which").arg(binary).output() {
        if out.status.success() {
            return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        }
    }
    panic!("{binary} not found: install the Debian package `{package}` (apt-get install -y {package}); the README's test command does this");
}

/// A free loopback port (bound and released; fine for tests on one host).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A free port below the kernel's ephemeral range (1100–3999), so a
/// listener on it sorts before the hundreds of loopback listeners that
/// parallel tests open (`/ports` lists by port and a long list is cut at
/// Telegram's message limit). Starts at a pseudo-random offset so parallel
/// callers rarely try the same port first.
pub fn low_free_port() -> u16 {
    let start = std::process::id() as u16
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() as u16);
    (0..2900)
        .map(|i| 1100 + (start.wrapping_add(i) % 2900))
        .find(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port between 1100 and 3999")
}

/// The built `outpost` binary.
pub fn outpost_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_outpost"))
}

/// A child process killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `f` until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until something accepts TCP connections on `port`.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    wait_for(timeout, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .is_some()
}

/// A plain HTTP GET with a timeout; the body as text.
pub fn http_get(url: &str) -> Result<(u16, String), String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client.get(url).send().map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    Ok((status, resp.text().map_err(|e| e.to_string())?))
}

/// Starts the real Prometheus with `dir/prometheus.yml` on 127.0.0.1:`port`,
/// its TSDB in `dir/tsdb`.
pub fn start_prometheus(dir: &std::path::Path, port: u16) -> Proc {
    prometheus_with(&dir.join("prometheus.yml"), &dir.join("tsdb"), port, &[])
}

/// Starts the real Prometheus (Debian `prometheus`) with `config`, its TSDB
/// in `data`, on 127.0.0.1:`port`, plus `extra` flags. Its log goes to
/// `data` with the extension `.log` (`tsdb.log`), for a failing test to
/// show.
pub fn prometheus_with(
    config: &std::path::Path,
    data: &std::path::Path,
    port: u16,
    extra: &[&str],
) -> Proc {
    let bin = require("prometheus", "prometheus");
    let log = std::fs::File::create(data.with_extension("log")).expect("prometheus log file");
    Proc(
        Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus"),
    )
}

/// Starts the real Alertmanager with `dir/alertmanager.yml` (a black-hole
/// route unless the file exists) on 127.0.0.1:`port`, its data in `dir/am`.
pub fn start_alertmanager(dir: &std::path::Path, port: u16) -> Proc {
    let config = dir.join("alertmanager.yml");
    if !config.exists() {
        std::fs::write(
            &config,
            "route:\n  receiver: blackhole\n  group_wait: 1s\nreceivers:\n  - name: blackhole\n",
        )
        .expect("write alertmanager.yml");
    }
    alertmanager_with(&config, &dir.join("am"), port)
}

/// Starts the real Alertmanager (Debian `prometheus-alertmanager`) with
/// `config`, its data in `data`, on 127.0.0.1:`port`, gossip off. Its log
/// goes to `data` with the extension `.log`.
pub fn alertmanager_with(config: &std::path::Path, data: &std::path::Path, port: u16) -> Proc {
    alertmanager_args(config, data, port, &["--cluster.listen-address="])
}

/// [`alertmanager_with`] with `cluster` flags instead of gossip off
/// (`--cluster.listen-address=…`, `--cluster.peer=…`).
pub fn alertmanager_args(
    config: &std::path::Path,
    data: &std::path::Path,
    port: u16,
    cluster: &[&str],
) -> Proc {
    let bin = require("prometheus-alertmanager", "prometheus-alertmanager");
    let log = std::fs::File::create(data.with_extension("log")).expect("alertmanager log file");
    Proc(
        Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(cluster)
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start alertmanager"),
    )
}

/// Runs `outpost generate --agents AGENTS --out OUT` with `args`; panics
/// with its output when it fails.
pub fn generate(agents: &std::path::Path, out: &std::path::Path, args: &[&str]) {
    let output = Command::new(outpost_bin())
        .arg("generate")
        .arg("--agents")
        .arg(agents)
        .arg("--out")
        .arg(out)
        .args(args)
        .output()
        .expect("run outpost generate");
    assert!(
        output.status.success(),
        "outpost generate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A host whose metrics never change, in the kernel's formats: fixed CPU
/// counters (so CPU usage is exactly 100 − 0 idle rate = 100%), memory 25%
/// used, load 0.50, and one ext4 root filesystem whose `statfs` is
/// devtmpfs's `/dev` (nothing is ever written there: 0% used). Booted
/// 3 days and 30 minutes before `now`, so uptime reads "3d 0h" for half an
/// hour. Two backends that hold the same samples must give the same chat
/// answers for it, whenever each of them evaluates.
pub fn frozen_host(root: &std::path::Path) -> std::path::PathBuf {
    let proc = root.join("proc");
    std::fs::create_dir_all(proc.join("1")).unwrap();
    std::fs::create_dir_all(root.join("sys")).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let btime = now - 3 * 86400 - 1800;
    let files = [
        (
            "stat",
            format!(
                "cpu  2000 0 1000 16000 200 0 20 0 0 0\n\
                 cpu0 1000 0 500 8000 100 0 10 0 0 0\n\
                 cpu1 1000 0 500 8000 100 0 10 0 0 0\n\
                 intr 1000\nctxt 5000\nbtime {btime}\nprocesses 300\n\
                 procs_running 1\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n"
            ),
        ),
        (
            "meminfo",
            "MemTotal:        8000000 kB\nMemFree:         5000000 kB\n\
             MemAvailable:    6000000 kB\nBuffers:          100000 kB\n\
             Cached:          800000 kB\nSwapTotal:             0 kB\n\
             SwapFree:              0 kB\n"
                .to_string(),
        ),
        ("loadavg", "0.50 0.40 0.30 1/100 1234\n".to_string()),
        // Under --path.rootfs=/dev (see start_frozen_exporter) this is "/".
        (
            "1/mounts",
            "/dev/vdz /dev ext4 rw,relatime 0 0\n".to_string(),
        ),
    ];
    for (name, body) in files {
        std::fs::write(proc.join(name), body).unwrap();
    }
    root.to_path_buf()
}

/// Starts `outpost exporter` on the [`frozen_host`] tree at `root` with
/// only the collectors the chat's answers read, on 127.0.0.1:`port`.
pub fn start_frozen_exporter(root: &std::path::Path, port: u16) -> Proc {
    let p = spawn(
        Command::new(outpost_bin())
            .arg("exporter")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--path.procfs={}", root.join("proc").display()))
            .arg(format!("--path.sysfs={}", root.join("sys").display()))
            .arg("--path.rootfs=/dev")
            .args([
                "--collector.disable-defaults",
                "--collector.cpu",
                "--collector.meminfo",
                "--collector.loadavg",
                "--collector.stat",
                "--collector.filesystem",
            ]),
    );
    assert!(
        wait_for_port(port, Duration::from_secs(10)),
        "exporter did not start on {port}"
    );
    p
}

/// Spawns `cmd` with its output discarded, killed when dropped.
pub fn spawn(cmd: &mut Command) -> Proc {
    Proc(
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}")),
    )
}

/// Starts `outpost exporter` on 127.0.0.1:`port` and waits until it listens.
pub fn start_exporter_on(port: u16) -> Proc {
    let p = spawn(
        Command::new(outpost_bin())
            .arg("exporter")
            .arg("--web.listen-address")
            .arg(format!("127.0.0.1:{port}")),
    );
    assert!(
        wait_for_port(port, Duration::from_secs(10)),
        "exporter did not start on {port}"
    );
    p
}

/// Generator flags that make a live stack notice things within seconds:
/// 1 s scrapes and rule evaluation, 5 s rate windows, agents down after 2 s.
pub const FAST_GENERATE: [&str; 8] = [
    "--scrape-interval",
    "1s",
    "--evaluation-interval",
    "1s",
    "--rate-window",
    "5s",
    "--agent-down-for",
    "2s",
];

/// The number before the first `%` after `prefix` in `text` (a chat reply's
/// "web1: 12.3%").
pub fn percent_after(text: &str, prefix: &str) -> f64 {
    let after = text
        .split(prefix)
        .nth(1)
        .unwrap_or_else(|| panic!("no {prefix:?} in {text:?}"));
    let number = after.split('%').next().unwrap_or_default();
    number
        .parse()
        .unwrap_or_else(|_| panic!("no percentage after {prefix:?} in {text:?}"))
}

/// Opens `n` loopback connections to `port` that each send half of a
/// request and then nothing (a slowloris client), bounded: 2 s per connect.
/// Connections the server refuses or closes meanwhile are kept as they are.
pub fn half_open(port: u16, n: usize) -> Vec<std::net::TcpStream> {
    use std::io::Write;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    (0..n)
        .filter_map(|_| {
            let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
            let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ");
            Some(s)
        })
        .collect()
}

/// How long until the server closes `stream` (EOF or reset), reading
/// whatever it sends; `None` if still open after `limit`.
pub fn closed_within(stream: &mut std::net::TcpStream, limit: Duration) -> Option<Duration> {
    use std::io::Read;
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        let left = limit.checked_sub(start.elapsed())?;
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        match stream.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(start.elapsed())
            }
            Err(_) if start.elapsed() >= limit => return None,
            Err(_) => continue,
        }
    }
}

/// `prlimit` (util-linux), to start a program with a small open-file limit.
pub fn prlimit() -> PathBuf {
    require("prlimit", "util-linux")
}

/// The tests' PostgreSQL (`pg_server.rs`, shared with the bridge
/// benchmark).
pub use crate::pg_server::{Postgres, PG_PASSWORD};

impl Postgres {
    /// A throwaway server for a test: on a free loopback port, its data in
    /// the system temp dir, without fsync.
    pub fn start() -> Postgres {
        Postgres::launch(free_port(), &crate::pg_server::Settings::TEST)
    }
}
