//! The chat engine against the real stack: Prometheus (1 s scrapes) scraping
//! a real `outpost exporter` labelled `agent="web1"`, and a real
//! Alertmanager. Commands go through `outpost::chat::Engine` (what the
//! Telegram front end calls) and, for two of them, through `outpost ask`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use outpost::chat::audit::Audit;
use outpost::chat::{Caller, Config, Engine, Reply};

use crate::support::{free_port, http_get, outpost_bin, require, wait_for, wait_for_port, Proc};

pub(crate) struct Stack {
    _dir: tempfile::TempDir,
    pub(crate) dir: std::path::PathBuf,
    pub(crate) prometheus: String,
    pub(crate) alertmanager: String,
    pub(crate) agents: std::path::PathBuf,
    query_log: std::path::PathBuf,
    _procs: Vec<Proc>,
}

pub(crate) fn start_stack() -> Stack {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let bb_bin = require(
        "prometheus-blackbox-exporter",
        "prometheus-blackbox-exporter",
    );
    let (eport, pport, aport, bport) = (free_port(), free_port(), free_port(), free_port());
    // A TCP check that fails: nothing listens there.
    let closed = free_port();

    // The GPU stand-in: NVML cannot run here, so the exporter's textfile
    // collector serves what its gpu collector exports for one GPU (the
    // nvidia_smi_* names and labels of src/exporter/gpu).
    let textfiles = dir.join("textfile");
    std::fs::create_dir_all(&textfiles).unwrap();
    std::fs::write(
        textfiles.join("gpu.prom"),
        concat!(
            "# TYPE nvidia_smi_utilization_gpu_ratio gauge\n",
            "nvidia_smi_utilization_gpu_ratio{index=\"0\",name=\"NVIDIA H100 80GB HBM3\",uuid=\"GPU-5f3c\"} 0.37\n",
        ),
    )
    .unwrap();
    let exporter = Proc(
        Command::new(outpost_bin())
            .args([
                "exporter",
                "--web.listen-address",
                &format!("127.0.0.1:{eport}"),
                "--collector.textfile.directory",
            ])
            .arg(&textfiles)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let query_log = dir.join("queries.log");
    // The generated rules record each agent's thresholds in force: web1
    // overrides the CPU threshold, and generate's own default for memory is
    // changed by a flag; the chat must show both, read from Prometheus.
    let agents = dir.join("agents.txt");
    std::fs::write(
        &agents,
        format!("# test fleet\nweb1 127.0.0.1:{eport} cpu_threshold=65\n"),
    )
    .unwrap();
    let generated = Command::new(outpost_bin())
        .arg("generate")
        .arg("--agents")
        .arg(&agents)
        .arg("--out")
        .arg(dir.join("gen"))
        .args(["--memory-threshold", "70"])
        .output()
        .unwrap();
    assert!(generated.status.success(), "{generated:?}");
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            r#"global:
  scrape_interval: 1s
  evaluation_interval: 1s
  query_log_file: {log}
rule_files: [{rules}]
scrape_configs:
  - job_name: outpost
    static_configs:
      - targets: ['127.0.0.1:{eport}']
        labels:
          agent: web1
  # labelled like the generated per-agent TCP probe jobs
  - job_name: outpost-tcp-web1
    metrics_path: /probe
    params:
      module: [tcp_connect]
    static_configs:
      - targets: ['127.0.0.1:{closed}']
        labels:
          check: pg
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:{bport}
      - target_label: agent
        replacement: web1
"#,
            log = query_log.display(),
            rules = dir.join("gen/prometheus/rules/outpost.yml").display()
        ),
    )
    .unwrap();
    let prometheus = crate::support::start_prometheus(&dir, pport);
    let alertmanager = crate::support::start_alertmanager(&dir, aport);
    std::fs::write(
        dir.join("blackbox.yml"),
        "modules:\n  tcp_connect:\n    prober: tcp\n    timeout: 1s\n",
    )
    .unwrap();
    let blackbox = Proc(
        Command::new(bb_bin)
            .arg(format!(
                "--config.file={}",
                dir.join("blackbox.yml").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{bport}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    for port in [eport, pport, aport, bport] {
        assert!(
            wait_for_port(port, Duration::from_secs(20)),
            "port {port} never opened"
        );
    }
    Stack {
        _dir: tmp,
        dir,
        prometheus: format!("http://127.0.0.1:{pport}"),
        alertmanager: format!("http://127.0.0.1:{aport}"),
        agents,
        query_log,
        _procs: vec![exporter, prometheus, alertmanager, blackbox],
    }
}

pub(crate) fn engine(
    prometheus: &str,
    alertmanager: &str,
    agents: &Path,
    state: &Path,
    timeout: Duration,
) -> Engine {
    let agents = outpost::chat::agents::read(agents).unwrap();
    Engine::new(
        Config {
            prometheus_url: prometheus.into(),
            alertmanager_url: alertmanager.into(),
            agents,
            roles: {
                let mut r = outpost::chat::Roles::default();
                r.grant([42], outpost::chat::Role::Admin);
                r
            },
            timezone: jiff::tz::TimeZone::UTC,
            config_change: None,
            timeout,
            actions_key: None,
            actions_timeout: Duration::from_secs(1),
        },
        Audit::open(state, Default::default()).unwrap(),
    )
}

pub(crate) fn alice() -> Caller {
    Caller {
        user_id: 42,
        chat_id: -1001,
        username: Some("alice".into()),
    }
}

/// Decodes a PNG: (width, height, coloured pixels inside the plot region).
pub(crate) fn inspect_png(bytes: &[u8]) -> (u32, u32, usize) {
    let mut reader = png::Decoder::new(bytes).read_info().expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG data");
    let (w, h, bpp) = (info.width, info.height, info.color_type.samples());
    let mut coloured = 0;
    for y in h / 6..h * 5 / 6 {
        for x in w / 8..w * 15 / 16 {
            let i = ((y * w + x) as usize) * bpp;
            let (r, g, b) = (buf[i] as i32, buf[i + 1] as i32, buf[i + 2] as i32);
            if r.max(g).max(b) - r.min(g).min(b) > 60 {
                coloured += 1;
            }
        }
    }
    (w, h, coloured)
}

/// The silence id in a "Silenced …" reply.
fn silence_id(reply: &Reply) -> String {
    let start = reply.text.find("<code>").expect("an id") + "<code>".len();
    let end = start + reply.text[start..].find("</code>").unwrap();
    reply.text[start..end].to_string()
}

fn am_silence(am: &str, id: &str) -> serde_json::Value {
    let (status, body) = http_get(&format!("{am}/api/v2/silence/{id}")).unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn commands_against_real_prometheus_and_alertmanager() {
    let stack = start_stack();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let state = stack.dir.join("state/outpost.db");
    let e = engine(
        &stack.prometheus,
        &stack.alertmanager,
        &stack.agents,
        &state,
        Duration::from_secs(3),
    );
    let ask = |text: &str| rt.block_on(e.handle(&alice(), text)).expect("a reply");

    // Wait until rate() has two samples of the real exporter.
    let cpu = wait_for(Duration::from_secs(30), || {
        let r = ask("/mon_cpu web1");
        r.text.contains("<b>web1</b>: ").then_some(r)
    })
    .expect("CPU value for web1 within 30 s");
    let pct = crate::support::percent_after(&cpu.text, "<b>web1</b>: ");
    assert!((0.0..=100.0).contains(&pct), "{}", cpu.text);

    let agents = ask("/agents");
    assert!(agents.text.contains("🟢 up <b>web1</b>"), "{}", agents.text);

    // Thresholds in force come from Prometheus: web1's own CPU threshold,
    // and the memory default `generate --memory-threshold` set.
    let cpu = wait_for(Duration::from_secs(10), || {
        let r = ask("/mon_cpu web1");
        r.text
            .starts_with("<b>CPU usage</b> (alert at 65%)")
            .then_some(r)
    })
    .unwrap_or_else(|| panic!("web1's CPU threshold: {}", ask("/mon_cpu web1").text));
    assert!(cpu.text.contains("<b>web1</b>: "), "{}", cpu.text);
    let mem = ask("/mon_mem@OutpostBot web1");
    assert!(
        mem.text.starts_with("<b>Memory usage</b> (alert at 70%)")
            && mem.text.contains("<b>web1</b>: "),
        "{}",
        mem.text
    );
    let disk = ask("/mon_disk 127.0.0.1");
    assert!(
        disk.text.starts_with("Unknown agent"),
        "an address must match fully: {}",
        disk.text
    );
    let address = outpost::chat::agents::read(&stack.agents)
        .unwrap()
        .iter()
        .next()
        .unwrap()
        .address
        .clone();
    let disk = ask(&format!("/mon_disk {address}"));
    assert!(disk.text.contains("<b>web1</b> <code>/"), "{}", disk.text);

    let one = wait_for(Duration::from_secs(10), || {
        let r = ask("/status web1");
        r.text.contains("TCP checks failing").then_some(r)
    })
    .unwrap_or_else(|| panic!("the failing check shows: {}", ask("/status web1").text));
    assert!(
        one.text
            .contains("TCP checks failing: <code>pg (127.0.0.1:"),
        "{}",
        one.text
    );
    assert!(one.text.contains("🟢 up"), "{}", one.text);
    for field in [
        "CPU: ",
        "Memory: ",
        "Worst disk: ",
        "Load (1m): ",
        "Uptime: ",
    ] {
        let line = one
            .text
            .lines()
            .find(|l| l.starts_with(field))
            .unwrap_or_else(|| panic!("{field}: {}", one.text));
        assert!(!line.ends_with('–'), "{field} has no value: {}", one.text);
    }
    let all = ask("/status");
    assert!(all.text.contains("1 TCP failing"), "{}", all.text);
    assert!(
        all.text.starts_with("<b>Status</b>: 1 agents, 1 up"),
        "{}",
        all.text
    );

    // Pictures.
    // Range queries see the first samples a moment after instant queries do.
    let pic = wait_for(Duration::from_secs(10), || {
        let r = ask("/mon_cpu_picture web1");
        r.chart.is_some().then_some(r)
    })
    .unwrap_or_else(|| panic!("a chart, not {}", ask("/mon_cpu_picture web1").text));
    let chart = pic.chart.unwrap();
    let (w, h, coloured) = inspect_png(&chart.png);
    assert_eq!((w, h), (1000, 600));
    assert!(
        coloured > 300,
        "plot looks empty: {coloured} coloured pixels"
    );
    assert!(
        chart.caption.contains("CPU usage") && chart.caption.contains("web1"),
        "{}",
        chart.caption
    );
    let hhmm = jiff::Timestamp::now().strftime("%H%M").to_string();
    let pic = ask(&format!("/mon_mem_picture web1 10 {hhmm}"));
    assert!(pic.chart.is_some(), "{}", pic.text);
    let bad = ask("/mon_cpu_picture web1 0");
    assert!(
        bad.chart.is_none() && bad.text.contains("Usage: <code>/mon_cpu_picture"),
        "{}",
        bad.text
    );
    let bad = ask("/mon_cpu_picture web1 5 2561");
    assert!(bad.text.contains("Usage:"), "{}", bad.text);

    // Injection attempts are refused and never reach Prometheus.
    for attack in [
        r#"/mon_cpu web1"}"#,
        r#"/mon_cpu_picture web1"}or(vector(1)) 5"#,
        "/status web1\\",
        r#"/silence agent=web1"} 1h"#,
    ] {
        let r = ask(attack);
        assert!(r.text.starts_with("Unknown agent"), "{attack}: {}", r.text);
        assert!(
            r.text.contains("Known agents: <code>web1</code>"),
            "{}",
            r.text
        );
    }
    let log = wait_for(Duration::from_secs(5), || {
        std::fs::read_to_string(&stack.query_log)
            .ok()
            .filter(|l| l.contains(r#"agent=\"web1\""#))
    })
    .expect("Prometheus query log records our queries");
    assert!(
        !log.contains("or(vector(1))")
            && !log.contains(r#"web1\\\"}"#)
            && !log.contains(r#"web1\""}"#),
        "an injected query reached Prometheus"
    );

    // Silence an agent, list it, expire it.
    let created = ask("/silence web1 1h deploy in progress");
    assert!(
        created
            .text
            .starts_with("🔕 Silenced {agent=&quot;web1&quot;}"),
        "{}",
        created.text
    );
    let id = silence_id(&created);
    let s = am_silence(&stack.alertmanager, &id);
    assert_eq!(s["createdBy"], "@alice (telegram 42)");
    assert_eq!(s["comment"], "deploy in progress");
    assert_eq!(s["status"]["state"], "active");
    assert_eq!(s["matchers"][0]["name"], "agent");
    assert_eq!(s["matchers"][0]["value"], "web1");
    let listed = ask("/silences");
    assert!(listed.text.contains(&id), "{}", listed.text);
    let gone = ask(&format!("/unsilence {id}"));
    assert!(gone.text.contains("expired"), "{}", gone.text);
    assert_eq!(
        am_silence(&stack.alertmanager, &id)["status"]["state"],
        "expired"
    );
    assert!(!ask("/silences").text.contains(&id));

    // Matchers, then the undo button.
    let created = ask("/silence alertname=AgentHighCPU agent=~web.* 30m");
    let id = silence_id(&created);
    let s = am_silence(&stack.alertmanager, &id);
    assert_eq!(s["matchers"].as_array().unwrap().len(), 2);
    let undo = &created.buttons[0].data;
    let r = rt.block_on(e.press(&alice(), undo)).unwrap();
    assert!(r.text.contains("expired"), "{}", r.text);
    assert_eq!(
        am_silence(&stack.alertmanager, &id)["status"]["state"],
        "expired"
    );

    // A firing alert: /alerts, chart button, silence button.
    let client = reqwest::blocking::Client::new();
    let gen = format!(
        "{}/graph?g0.expr=up%7Bjob%3D%22outpost%22%7D+%3E+0.5&g0.tab=1",
        stack.prometheus
    );
    let resp = client
        .post(format!("{}/api/v2/alerts", stack.alertmanager))
        .json(&serde_json::json!([{
            "labels": {"alertname": "TestDown", "agent": "web1", "severity": "critical"},
            "annotations": {"summary": "web1 <b>is</b> down & out"},
            "generatorURL": gen
        }]))
        .send()
        .unwrap();
    assert!(resp.status().is_success());
    let alerts = wait_for(Duration::from_secs(10), || {
        let r = ask("/alerts");
        r.text.contains("TestDown").then_some(r)
    })
    .expect("the alert is listed");
    assert!(
        alerts
            .text
            .contains("web1 &lt;b&gt;is&lt;/b&gt; down &amp; out"),
        "{}",
        alerts.text
    );
    let (_, body) = http_get(&format!("{}/api/v2/alerts", stack.alertmanager)).unwrap();
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    let fp = list[0]["fingerprint"].as_str().unwrap().to_string();
    let buttons = outpost::chat::buttons::alert_buttons(&fp);
    let chart = rt.block_on(e.press(&alice(), &buttons[2].data)).unwrap();
    let pic = chart.chart.expect("alert chart");
    assert!(pic.caption.contains("TestDown"), "{}", pic.caption);
    let (w, h, coloured) = inspect_png(&pic.png);
    assert_eq!((w, h), (1000, 600));
    assert!(coloured > 300, "{coloured}");
    let silenced = rt.block_on(e.press(&alice(), &buttons[0].data)).unwrap();
    let id = silence_id(&silenced);
    let s = am_silence(&stack.alertmanager, &id);
    assert_eq!(s["createdBy"], "@alice (telegram 42)");
    assert!(s["matchers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == "alertname" && m["value"] == "TestDown"));
    assert!(wait_for(Duration::from_secs(10), || (!ask("/alerts")
        .text
        .contains("TestDown"))
    .then_some(()))
    .is_some());

    // A stranger: one refusal with their id, then nothing.
    let stranger = Caller {
        user_id: 777,
        chat_id: 777,
        username: Some("mallory".into()),
    };
    let first = rt
        .block_on(e.handle(&stranger, "/silence web1 1h"))
        .expect("one refusal");
    assert!(first.text.contains("<code>777</code>"));
    assert!(rt
        .block_on(e.handle(&stranger, "/silence web1 1h"))
        .is_none());
    assert!(rt.block_on(e.press(&stranger, &buttons[1].data)).is_none());

    let audit = ask("/audit");
    assert!(
        audit
            .text
            .contains("@mallory in 777: <code>/silence web1 1h</code> → refused"),
        "{}",
        audit.text
    );
    // What the stranger sent after the refusal is counted, not stored
    // (issue 11: strangers cannot grow the audit log).
    assert!(
        !audit.text.contains("@mallory in 777: <code>button:s24:"),
        "{}",
        audit.text
    );
    assert_eq!(audit.text.matches("@mallory").count(), 1, "{}", audit.text);
    assert_eq!(e.refused(), 3);
    assert!(
        audit.text.contains("@alice in -1001: <code>button:s1:"),
        "{}",
        audit.text
    );
    drop(e);

    // The same engine through `outpost ask`.
    let common = |cmd: &mut Command| {
        cmd.arg("ask")
            .args(["--prometheus-url", &stack.prometheus])
            .args(["--alertmanager-url", &stack.alertmanager])
            .arg("--agents")
            .arg(&stack.agents)
            .arg("--state")
            .arg(&state);
    };
    let mut cmd = Command::new(outpost_bin());
    common(&mut cmd);
    let out = cmd.arg("/mon_cpu web1").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("CPU usage (alert at 65%)\nweb1: "),
        "{stdout}"
    );
    assert!(!stdout.contains("<b>"));
    let png_path = stack.dir.join("out.png");
    let mut cmd = Command::new(outpost_bin());
    common(&mut cmd);
    let out = cmd
        .arg("--chart-out")
        .arg(&png_path)
        .args(["/mon_disk_picture", "web1", "2"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("Chart written to {}", png_path.display())),
        "{stdout}"
    );
    let (w, h, coloured) = inspect_png(&std::fs::read(&png_path).unwrap());
    assert_eq!((w, h), (1000, 600));
    assert!(coloured > 300);
    // `ask` was audited in the same state database.
    let log = Audit::open(&state, Default::default())
        .unwrap()
        .latest(1)
        .unwrap();
    assert_eq!(log[0].action, "/mon_disk_picture web1 2");

    // `--timezone` from the system tz database: `hhmm` and the caption's
    // times are Berlin's wall clock (10 minutes centred on this minute
    // start 5 minutes before it).
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").expect("tzdata installed");
    let minute = berlin
        .to_datetime(jiff::Timestamp::now())
        .with()
        .second(0)
        .subsec_nanosecond(0)
        .build()
        .unwrap();
    let hhmm = minute.strftime("%H%M").to_string();
    let at = |mins: i64| {
        (minute + jiff::SignedDuration::from_mins(mins))
            .strftime("%H:%M")
            .to_string()
    };
    // The window ends at now: this minute, or the next one if it turned.
    let captions = [0, 1].map(|end| format!("10 min ({}–{} Europe/Berlin)", at(-5), at(end)));
    let mut cmd = Command::new(outpost_bin());
    common(&mut cmd);
    let out = cmd
        .args(["--timezone", "Europe/Berlin", "--chart-out"])
        .arg(&png_path)
        .args(["/mon_cpu_picture", "web1", "10", &hhmm])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        captions.iter().any(|c| stdout.contains(c)),
        "{captions:?}: {stdout}"
    );
    let mut cmd = Command::new(outpost_bin());
    common(&mut cmd);
    let out = cmd
        .args(["--timezone", "Mars/Olympus", "/mon_cpu web1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            r#"--timezone "Mars/Olympus" is not an IANA zone name such as UTC or Europe/Berlin"#
        ),
        "{stderr}"
    );
}

#[test]
fn prometheus_down_or_slow_is_named_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents.txt");
    std::fs::write(&agents, "web1 127.0.0.1:9100\n").unwrap();
    // A port nobody listens on, and a listener that accepts and never answers.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hung_url = format!("http://{}", hung.local_addr().unwrap());
    let rt = tokio::runtime::Runtime::new().unwrap();

    let e = engine(
        &closed,
        &closed,
        &agents,
        &dir.path().join("a.db"),
        Duration::from_secs(1),
    );
    let t = Instant::now();
    let r = rt
        .block_on(e.handle(&alice(), "/mon_cpu_picture web1"))
        .unwrap();
    assert!(t.elapsed() < Duration::from_secs(3));
    assert!(
        r.text
            .starts_with(&format!("⚠️ Prometheus at {closed} is unreachable")),
        "{}",
        r.text
    );
    let r = rt.block_on(e.handle(&alice(), "/silences")).unwrap();
    assert!(
        r.text
            .starts_with(&format!("⚠️ Alertmanager at {closed} is unreachable")),
        "{}",
        r.text
    );

    let e = engine(
        &hung_url,
        &hung_url,
        &agents,
        &dir.path().join("b.db"),
        Duration::from_secs(1),
    );
    let t = Instant::now();
    let r = rt.block_on(e.handle(&alice(), "/status")).unwrap();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(
        r.text,
        format!("⚠️ Prometheus at {hung_url} is slow: no answer within 1s")
    );
    let r = rt.block_on(e.handle(&alice(), "/alerts")).unwrap();
    assert_eq!(
        r.text,
        format!("⚠️ Alertmanager at {hung_url} is slow: no answer within 1s")
    );
    drop(hung);
}
