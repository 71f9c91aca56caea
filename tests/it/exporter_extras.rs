//! Outpost's own collectors in the real `outpost exporter` process: `gpu` on
//! a host without NVIDIA's library (this one), `logins` posting to the real
//! Alertmanager, and `cpu_benchmark` refusing a too-short interval.

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use outpost::exporter::logins::utmp::{self, Entry};
use serde_json::Value;

use crate::support::{
    free_port, http_get, outpost_bin, start_alertmanager, wait_for, wait_for_port, Proc,
};

/// Starts the exporter with `args`, its log in `log`.
pub(crate) fn exporter(args: &[String], log: &std::path::Path) -> (Proc, u16) {
    let port = free_port();
    let child = Command::new(outpost_bin())
        .args([
            "exporter",
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
        ])
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("start outpost exporter");
    let proc = Proc(child);
    assert!(
        wait_for_port(port, Duration::from_secs(10)),
        "exporter did not listen on {port}: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    (proc, port)
}

pub(crate) fn scrape(port: u16) -> String {
    let (status, body) = http_get(&format!("http://127.0.0.1:{port}/metrics")).unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// The value of the sample line starting with `series` (name and labels).
pub(crate) fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn gpu_without_nvml_starts_exports_nothing_and_says_so_once() {
    assert!(
        !std::path::Path::new("/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1").exists(),
        "this test needs a host without libnvidia-ml"
    );
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("exporter.log");
    let args = ["--collector.disable-defaults", "--collector.gpu"].map(String::from);
    let (_exporter, port) = exporter(&args, &log);
    let body = scrape(port);
    let body2 = scrape(port);
    for b in [&body, &body2] {
        assert!(
            !b.contains("nvidia_smi_") && !b.contains("outpost_gpu_"),
            "{b}"
        );
        assert_eq!(
            sample(b, "node_scrape_collector_success{collector=\"gpu\"}"),
            Some(1.0),
            "{b}"
        );
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("NVIDIA")).collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(
        lines[0].contains("INFO") && lines[0].contains("libnvidia-ml.so.1"),
        "{text}"
    );
}

#[test]
fn cpu_benchmark_below_ten_seconds_fails_only_that_collector() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("exporter.log");
    let args = [
        "--collector.disable-defaults",
        "--collector.cpu_benchmark",
        "--collector.cpu_benchmark.interval=2s",
        "--collector.loadavg",
    ]
    .map(String::from);
    let (_exporter, port) = exporter(&args, &log);
    let body = scrape(port);
    assert_eq!(
        sample(
            &body,
            "node_scrape_collector_success{collector=\"cpu_benchmark\"}"
        ),
        Some(0.0),
        "{body}"
    );
    assert_eq!(
        sample(
            &body,
            "node_scrape_collector_success{collector=\"loadavg\"}"
        ),
        Some(1.0)
    );
    assert!(body.contains("node_load1 "));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("--collector.cpu_benchmark.interval 2s is below the minimum of 10s"),
        "{text}"
    );
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn login(n: i32, user: &str, from: &str) -> Entry {
    Entry {
        kind: utmp::USER_PROCESS,
        pid: 5000 + n,
        line: format!("pts/{n}"),
        user: user.into(),
        host: from.into(),
        seconds: now(),
        micros: n,
        addr: from.parse().ok(),
    }
}

fn write_utmp(root: &std::path::Path, entries: &[Entry]) {
    let bytes: Vec<u8> = entries.iter().flat_map(utmp::encode).collect();
    // Replaced whole, as a test must: the exporter never sees half a file.
    let tmp = root.join("run/utmp.tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(tmp, root.join("run/utmp")).unwrap();
}

/// Active alerts in Alertmanager named `name`.
fn alerts(am: u16, name: &str) -> Vec<Value> {
    let url = format!("http://127.0.0.1:{am}/api/v2/alerts?filter=alertname%3D%22{name}%22");
    let Ok((200, body)) = http_get(&url) else {
        return Vec::new();
    };
    serde_json::from_str::<Vec<Value>>(&body).unwrap_or_default()
}

#[test]
fn a_remote_login_reaches_the_real_alertmanager_and_a_storm_is_one_alert() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let procfs = dir.path().join("proc");
    std::fs::create_dir_all(root.join("run")).unwrap();
    std::fs::create_dir_all(procfs.join("5001")).unwrap();
    std::fs::write(procfs.join("5001/comm"), "sshd\n").unwrap();
    let console = Entry {
        host: String::new(),
        addr: None,
        ..login(0, "root", "")
    };
    write_utmp(&root, std::slice::from_ref(&console));

    let am = free_port();
    let _alertmanager = start_alertmanager(dir.path(), am);
    assert!(
        wait_for_port(am, Duration::from_secs(20)),
        "alertmanager did not start"
    );
    let log = dir.path().join("exporter.log");
    let args = [
        "--collector.disable-defaults".into(),
        "--collector.logins".into(),
        format!("--path.rootfs={}", root.display()),
        format!("--path.procfs={}", procfs.display()),
        format!("--collector.logins.alertmanager-url=http://127.0.0.1:{am}"),
        "--collector.logins.agent=web1".into(),
        "--collector.logins.alert-window=3s".into(),
    ];
    let (_exporter, port) = exporter(&args, &log);
    let body = scrape(port);
    assert_eq!(
        sample(
            &body,
            "outpost_login_sessions{class=\"user\",remote=\"false\",type=\"tty\"}"
        ),
        Some(1.0),
        "{body}"
    );

    // One SSH login: one alert with who, from where, through what.
    let alice = login(1, "alice", "198.51.100.7");
    write_utmp(&root, &[console.clone(), alice.clone()]);
    let seen = wait_for(Duration::from_secs(20), || {
        alerts(am, "RemoteLogin").into_iter().next()
    })
    .unwrap_or_else(|| {
        panic!(
            "no RemoteLogin alert: {}",
            std::fs::read_to_string(&log).unwrap()
        )
    });
    let labels = &seen["labels"];
    assert_eq!(labels["user"], "alice");
    assert_eq!(labels["source"], "198.51.100.7");
    assert_eq!(labels["service"], "sshd");
    assert_eq!(labels["agent"], "web1");
    let summary = seen["annotations"]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("alice logged in to web1 from 198.51.100.7 (sshd) at "),
        "{summary}"
    );

    // A storm of 12 logins: a few single alerts, the rest one grouped alert.
    let mut all = vec![console, alice];
    all.extend((2..14).map(|n| login(n, &format!("bot{n}"), "203.0.113.50")));
    write_utmp(&root, &all);
    let storm = wait_for(Duration::from_secs(30), || {
        alerts(am, "RemoteLoginStorm").into_iter().next()
    })
    .expect("no RemoteLoginStorm alert");
    let singles = alerts(am, "RemoteLogin");
    let summary = storm["annotations"]["summary"].as_str().unwrap();
    let grouped: usize = summary.split(' ').next().unwrap().parse().unwrap();
    assert!(singles.len() <= 1 + 3, "{singles:?}");
    assert_eq!(
        singles.len() - 1 + grouped,
        12,
        "{summary}; singles {singles:?}"
    );
    assert!(storm["labels"].get("user").is_none());
    assert_eq!(storm["labels"]["agent"], "web1");

    let body = scrape(port);
    assert_eq!(
        sample(
            &body,
            "outpost_logins_total{class=\"user\",remote=\"true\"}"
        ),
        Some(13.0),
        "{body}"
    );
    assert_eq!(
        sample(
            &body,
            "outpost_login_sessions{class=\"user\",remote=\"true\",type=\"tty\"}"
        ),
        Some(13.0)
    );
    assert_eq!(
        sample(&body, "outpost_login_alerts_total{result=\"sent\"}"),
        Some(singles.len() as f64 + 1.0)
    );
    assert!(!body.contains("alice") && !body.contains("198.51.100.7"));
}

/// `/gpu` through `outpost ask` against the real Prometheus. No GPU here: the
/// exporter's textfile collector stands in for the gpu collector, serving
/// the series it writes (same names and labels; see `exporter::gpu`).
#[test]
fn gpu_chat_answer_from_real_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let textfile = dir.path().join("textfile");
    std::fs::create_dir_all(&textfile).unwrap();
    let gpu = r#"uuid="GPU-1b2c",name="NVIDIA A100-SXM4-40GB",index="0""#;
    std::fs::write(
        textfile.join("gpu.prom"),
        format!(
            "nvidia_smi_utilization_gpu_ratio{{{gpu}}} 0.87\n\
             nvidia_smi_memory_used_bytes{{{gpu}}} 40802189312\n\
             nvidia_smi_memory_total_bytes{{{gpu}}} 42949672960\n\
             nvidia_smi_temperature_gpu{{{gpu}}} 61\n\
             nvidia_smi_power_draw_watts{{{gpu}}} 287.1\n\
             outpost_gpu_xid_last_code{{{gpu}}} 79\n"
        ),
    )
    .unwrap();
    let log = dir.path().join("exporter.log");
    let args = [
        "--collector.disable-defaults".into(),
        "--collector.textfile".into(),
        format!("--collector.textfile.directory={}", textfile.display()),
    ];
    let (_exporter, eport) = exporter(&args, &log);
    let pport = free_port();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: outpost-agents\n    static_configs:\n      - targets: ['127.0.0.1:{eport}']\n        labels:\n          agent: gpu1\n"
        ),
    )
    .unwrap();
    let _prometheus = crate::support::start_prometheus(dir.path(), pport);
    assert!(wait_for_port(pport, Duration::from_secs(20)));
    let agents = dir.path().join("agents.txt");
    std::fs::write(
        &agents,
        format!("gpu1 127.0.0.1:{eport}\nweb1 127.0.0.1:1\n"),
    )
    .unwrap();
    let ask = |text: &str| {
        let out = Command::new(outpost_bin())
            .arg("ask")
            .args(["--prometheus-url", &format!("http://127.0.0.1:{pport}")])
            .arg("--agents")
            .arg(&agents)
            .arg("--state")
            .arg(dir.path().join("state.db"))
            .arg(text)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let reply = wait_for(Duration::from_secs(30), || {
        let r = ask("/gpu gpu1");
        r.contains("busy").then_some(r)
    })
    .expect("no GPU data reached Prometheus");
    assert_eq!(
        reply.trim_end(),
        "GPUs\ngpu1 GPU 0 NVIDIA A100-SXM4-40GB: 87% busy, memory 95.0% ⚠️, 61°C, 287 W, last XID 79 ⚠️"
    );
    // Another agent's GPUs are not shown, and one without any says so.
    assert!(
        ask("/gpu web1").starts_with("No GPU data"),
        "{}",
        ask("/gpu web1")
    );
}

#[test]
fn logins_from_a_logind_standin_and_an_unreachable_bus() {
    use crate::dbus_standin::logind::{self as logind_standin, Session};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let (_bus, address) = crate::dbus_standin::system_bus(&root);
    let now_us = now() as u64 * 1_000_000;
    let local = Session {
        id: "1",
        seat: "seat0",
        user: "root",
        kind: "tty",
        class: "user",
        remote: false,
        remote_host: "",
        service: "login",
        timestamp_us: now_us,
    };
    let (conn, list) = logind_standin::serve(&address, vec![local]);

    let am = free_port();
    let _alertmanager = start_alertmanager(dir.path(), am);
    assert!(wait_for_port(am, Duration::from_secs(20)));
    let log = dir.path().join("exporter.log");
    let args = [
        "--collector.disable-defaults".into(),
        "--collector.logins".into(),
        "--collector.logins.source=logind".into(),
        format!("--path.rootfs={}", root.display()),
        format!("--collector.logins.alertmanager-url=http://127.0.0.1:{am}"),
        "--collector.logins.agent=web2".into(),
    ];
    let (_exporter, port) = exporter(&args, &log);
    let body = scrape(port);
    assert_eq!(
        sample(&body, "node_scrape_collector_success{collector=\"logins\"}"),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        sample(
            &body,
            "outpost_login_sessions{class=\"user\",remote=\"false\",type=\"tty\"}"
        ),
        Some(1.0),
        "{body}"
    );

    logind_standin::add(
        &conn,
        &list,
        Session {
            id: "7",
            seat: "",
            user: "dave",
            kind: "tty",
            class: "user",
            remote: true,
            remote_host: "192.0.2.44",
            service: "sshd",
            timestamp_us: now_us + 5,
        },
    );
    let seen = wait_for(Duration::from_secs(20), || {
        alerts(am, "RemoteLogin").into_iter().next()
    })
    .unwrap_or_else(|| {
        panic!(
            "no RemoteLogin alert: {}",
            std::fs::read_to_string(&log).unwrap()
        )
    });
    assert_eq!(seen["labels"]["user"], "dave");
    assert_eq!(seen["labels"]["source"], "192.0.2.44");
    assert_eq!(seen["labels"]["service"], "sshd");
    assert_eq!(seen["labels"]["agent"], "web2");
    let body = scrape(port);
    assert_eq!(
        sample(
            &body,
            "outpost_logins_total{class=\"user\",remote=\"true\"}"
        ),
        Some(1.0),
        "{body}"
    );

    // No bus at all: logind asked for, so the collector fails, saying why.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let log2 = dir.path().join("exporter2.log");
    let args = [
        "--collector.disable-defaults".into(),
        "--collector.logins".into(),
        "--collector.logins.source=logind".into(),
        "--collector.loadavg".into(),
        format!("--path.rootfs={}", empty.display()),
    ];
    let (_exporter2, port2) = exporter(&args, &log2);
    let body = scrape(port2);
    assert_eq!(
        sample(&body, "node_scrape_collector_success{collector=\"logins\"}"),
        Some(0.0),
        "{body}"
    );
    assert_eq!(
        sample(
            &body,
            "node_scrape_collector_success{collector=\"loadavg\"}"
        ),
        Some(1.0)
    );
    let text = std::fs::read_to_string(&log2).unwrap();
    assert!(
        text.contains("D-Bus system bus not reachable at unix:path="),
        "{text}"
    );
}
