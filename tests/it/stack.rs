//! `scripts/up` and `scripts/down` for real: the local stack (outpost
//! exporter, real Prometheus, real Alertmanager, and the bridge when this
//! build has one) on free loopback ports in a temporary state directory,
//! with the debug binary (`OUTPOST_BIN`) instead of a release build.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::support::{http_get, low_free_port, outpost_bin, require, wait_for, Proc};

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name)
}

fn has_subcommand(name: &str) -> bool {
    Command::new(outpost_bin())
        .args([name, "--help"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// One stack's settings: a state dir, an inventory and four ports.
struct Stack {
    dir: tempfile::TempDir,
    ports: BTreeMap<&'static str, u16>,
}

impl Stack {
    fn new() -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let mut ports = BTreeMap::new();
        for name in ["EXPORTER", "PROMETHEUS", "ALERTMANAGER", "BRIDGE"] {
            // Below the ephemeral range: scripts/up binds these seconds after
            // they are chosen, and a parallel test's outgoing connection can take
            // an ephemeral port meanwhile (it did in CI: "already in use").
            let port = loop {
                let p = low_free_port();
                if !ports.values().any(|&q| q == p) {
                    break p;
                }
            };
            ports.insert(name, port);
        }
        let stack = Stack { dir, ports };
        std::fs::write(
            stack.agents(),
            format!("localhost 127.0.0.1:{}\n", stack.port("EXPORTER")),
        )
        .unwrap();
        stack
    }

    fn port(&self, name: &str) -> u16 {
        self.ports[name]
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn agents(&self) -> PathBuf {
        self.dir.path().join("agents.txt")
    }

    /// Runs `scripts/NAME` with this stack's settings and no Telegram.
    fn run(&self, name: &str) -> Output {
        self.run_with(name, &[])
    }

    /// Runs `scripts/NAME` with these settings, then `extra` on top.
    fn run_with(&self, name: &str, extra: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(script(name));
        for (k, port) in &self.ports {
            cmd.env(format!("OUTPOST_{k}_PORT"), port.to_string());
        }
        for k in [
            "OUTPOST_TELEGRAM_TOKEN",
            "OUTPOST_TELEGRAM_TOKEN_FILE",
            "OUTPOST_CHAT_ID",
            "OUTPOST_ALLOWED_USERS",
        ] {
            cmd.env_remove(k);
        }
        cmd.env("OUTPOST_STATE_DIR", self.state())
            .env("OUTPOST_AGENTS", self.agents())
            .env("OUTPOST_BIN", outpost_bin())
            .env(
                "OUTPOST_PROMETHEUS_BIN",
                require("prometheus", "prometheus"),
            )
            .env(
                "OUTPOST_ALERTMANAGER_BIN",
                require("prometheus-alertmanager", "prometheus-alertmanager"),
            )
            .env(
                "OUTPOST_GENERATE_ARGS",
                "--scrape-interval 1s --evaluation-interval 1s",
            );
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    fn pid(&self, name: &str) -> Option<u32> {
        let text = std::fs::read_to_string(self.state().join("run").join(format!("{name}.pid")));
        text.ok().map(|t| t.trim().parse().unwrap())
    }
}

/// Runs `scripts/down` for the stack when dropped, so a failing test leaves
/// nothing running.
struct Down<'a>(&'a Stack);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = self.0.run("down");
    }
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Whether `pid` is a live process (a zombie awaiting its reaper is not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        })
        .unwrap_or(false)
}

/// `up` starts every piece healthy, Prometheus scrapes the exporter, a second
/// `up` keeps the same processes, `down` stops exactly them.
#[test]
fn up_is_healthy_idempotent_and_down_stops_it() {
    let stack = Stack::new();
    let _down = Down(&stack);
    let bridge = has_subcommand("bridge");

    let first = stack.run("up");
    assert!(
        first.status.success(),
        "scripts/up failed: {}",
        text(&first)
    );
    let out = String::from_utf8_lossy(&first.stdout).to_string();
    for name in ["EXPORTER", "PROMETHEUS", "ALERTMANAGER"] {
        let url = format!("http://127.0.0.1:{}", stack.port(name));
        assert!(out.contains(&url), "up does not print {url}: {out}");
    }
    assert!(
        out.contains("scripts/down"),
        "up does not say how to stop: {out}"
    );

    let mut components = vec!["exporter", "prometheus", "alertmanager"];
    if bridge {
        components.push("bridge");
        assert!(
            out.contains("alerts are") && out.contains("outpost ask"),
            "without a token, up must say where alerts go: {out}"
        );
    } else {
        assert!(out.contains("NOT STARTED"), "{out}");
        assert_eq!(stack.pid("bridge"), None);
    }
    let pids: Vec<u32> = components
        .iter()
        .map(|c| {
            stack
                .pid(c)
                .unwrap_or_else(|| panic!("no pid file for {c}"))
        })
        .collect();
    for (c, pid) in components.iter().zip(&pids) {
        assert!(alive(*pid), "{c} (pid {pid}) is not running");
    }

    let health = [
        ("EXPORTER", "/metrics"),
        ("PROMETHEUS", "/-/ready"),
        ("ALERTMANAGER", "/-/ready"),
        ("BRIDGE", "/-/ready"),
    ];
    for (name, path) in &health[..components.len()] {
        let url = format!("http://127.0.0.1:{}{path}", stack.port(name));
        let (status, _) = http_get(&url).unwrap();
        assert_eq!(status, 200, "{url}");
    }

    // The generated config is wired to these ports: Prometheus scrapes the
    // exporter and knows the Alertmanager.
    let prom = format!("http://127.0.0.1:{}", stack.port("PROMETHEUS"));
    let scraped = wait_for(Duration::from_secs(20), || {
        let (_, body) = http_get(&format!(
            "{prom}/api/v1/query?query=up%7Bjob%3D%22outpost-agents%22%7D"
        ))
        .ok()?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let r = &v["data"]["result"][0];
        (r["value"][1] == "1" && r["metric"]["agent"] == "localhost").then_some(())
    });
    assert!(scraped.is_some(), "Prometheus never scraped the exporter");
    let (_, ams) = http_get(&format!("{prom}/api/v1/alertmanagers")).unwrap();
    assert!(
        ams.contains(&format!("127.0.0.1:{}", stack.port("ALERTMANAGER"))),
        "{ams}"
    );

    let token = stack.state().join("alertmanager").join("webhook-token");
    let mode = std::fs::metadata(&token).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "webhook token file mode {mode:o}");
    assert!(std::fs::read_to_string(&token).unwrap().trim().len() >= 32);

    // Again: nothing restarts, everything is still healthy.
    let second = stack.run("up");
    assert!(
        second.status.success(),
        "second up failed: {}",
        text(&second)
    );
    let again: Vec<u32> = components.iter().map(|c| stack.pid(c).unwrap()).collect();
    assert_eq!(pids, again, "a second up restarted something");
    assert!(String::from_utf8_lossy(&second.stdout).contains("already running"));

    // A changed piece restarts (another binary for the exporter), the rest
    // stays and Prometheus reloads the regenerated config (SIGHUP).
    let copy = stack.dir.path().join("outpost-copy");
    std::fs::copy(outpost_bin(), &copy).unwrap();
    let third = stack.run_with(
        "up",
        &[
            ("OUTPOST_BIN", copy.to_str().unwrap()),
            (
                "OUTPOST_GENERATE_ARGS",
                "--scrape-interval 2s --evaluation-interval 1s",
            ),
        ],
    );
    assert!(third.status.success(), "third up failed: {}", text(&third));
    let exporter = stack.pid("exporter").unwrap();
    assert_ne!(
        exporter, pids[0],
        "the exporter kept running the old binary"
    );
    assert!(!alive(pids[0]), "the old exporter still runs");
    assert_eq!(stack.pid("prometheus"), Some(pids[1]));
    assert_eq!(stack.pid("alertmanager"), Some(pids[2]));
    let reloaded = wait_for(Duration::from_secs(10), || {
        let (_, body) = http_get(&format!("{prom}/api/v1/status/config")).ok()?;
        body.contains("scrape_interval: 2s").then_some(())
    });
    assert!(
        reloaded.is_some(),
        "Prometheus did not reload the new config"
    );
    let mut pids = pids;
    pids[0] = exporter;

    let down = stack.run("down");
    assert!(
        down.status.success(),
        "scripts/down failed: {}",
        text(&down)
    );
    for (c, pid) in components.iter().zip(&pids) {
        let gone = wait_for(Duration::from_secs(5), || (!alive(*pid)).then_some(()));
        assert!(gone.is_some(), "{c} (pid {pid}) still runs after down");
        assert_eq!(stack.pid(c), None, "pid file of {c} left behind");
    }
    assert!(http_get(&format!("{prom}/-/ready")).is_err());

    // Stopping a stopped stack is fine too.
    let again = stack.run("down");
    assert!(
        again.status.success(),
        "second down failed: {}",
        text(&again)
    );
}

/// A pid file whose process is no longer the one `up` started (a recycled
/// pid) is forgotten, and that process is left alone.
#[test]
fn down_never_signals_a_process_it_did_not_start() {
    let stack = Stack::new();
    let mut stranger = Proc(Command::new("sleep").arg("30").spawn().unwrap());
    let run = stack.state().join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("exporter.pid"), stranger.0.id().to_string()).unwrap();
    std::fs::write(run.join("exporter.args"), "/usr/bin/outpost\nexporter\n").unwrap();

    let down = stack.run("down");
    assert!(down.status.success(), "{}", text(&down));
    assert!(
        stranger.0.try_wait().unwrap().is_none(),
        "down killed a process it did not start"
    );
    assert!(String::from_utf8_lossy(&down.stderr).contains("not touching it"));
    assert!(!run.join("exporter.pid").exists());
}

/// A port held by someone else stops `up` with a message naming the port and
/// the variable to change, before anything is started.
#[test]
fn up_refuses_a_port_someone_else_uses() {
    let stack = Stack::new();
    let _down = Down(&stack);
    let _theirs = TcpListener::bind(("127.0.0.1", stack.port("EXPORTER"))).unwrap();
    let out = stack.run("up");
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&stack.port("EXPORTER").to_string()) && err.contains("OUTPOST_EXPORTER_PORT"),
        "{err}"
    );
    for c in ["exporter", "prometheus", "alertmanager", "bridge"] {
        assert_eq!(stack.pid(c), None, "{c} was started");
    }
}
