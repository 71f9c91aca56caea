//! VictoriaMetrics (Debian `victoria-metrics`) as the chat's query backend
//! (issue 14): `outpost generate --remote-write-url` points the real
//! Prometheus at a real VictoriaMetrics on loopback, and the chat engine
//! answers `/mon_cpu`, `/status` and `/mon_cpu_picture` from
//! VictoriaMetrics' Prometheus-compatible API exactly as it does from
//! Prometheus. The agents are `outpost exporter`s on a frozen fixture host
//! ([`support::frozen_host`]), so both backends hold the same samples and
//! any difference in an answer is a difference in how the backend (or our
//! client of it) answers, not in when it was asked.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use outpost::chat::audit::Audit;
use outpost::chat::promql::{Prometheus, Series};
use outpost::chat::queries::{self, Scope};
use outpost::chat::{Caller, Config, Engine, Reply};

use crate::support::{self, free_port, http_get, require, wait_for, wait_for_port, Proc};

/// `Engine` against `url` (Prometheus or VictoriaMetrics), audit in `state`.
pub(crate) fn engine(url: &str, agents: &Path, state: &Path) -> Engine {
    Engine::new(
        Config {
            prometheus_url: url.into(),
            // No command asked here talks to Alertmanager.
            alertmanager_url: "http://127.0.0.1:9".into(),
            agents: outpost::chat::agents::read(agents).unwrap(),
            roles: {
                let mut r = outpost::chat::Roles::default();
                r.grant([42], outpost::chat::Role::Operator);
                r
            },
            timezone: jiff::tz::TimeZone::UTC,
            timeout: Duration::from_secs(5),
            actions_key: None,
            actions_timeout: Duration::from_secs(1),
            config_change: None,
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

pub(crate) fn ask(rt: &tokio::runtime::Runtime, e: &Engine, text: &str) -> Reply {
    rt.block_on(e.handle(&alice(), text)).expect("a reply")
}

/// Starts the real VictoriaMetrics on 127.0.0.1:`port`, data in `data`.
fn start_victoria(data: &Path, port: u16) -> Proc {
    let bin = require("victoria-metrics", "victoria-metrics");
    let log = std::fs::File::create(data.with_extension("log")).unwrap();
    Proc(
        Command::new(bin)
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg(format!("-storageDataPath={}", data.display()))
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start victoria-metrics"),
    )
}

#[test]
fn chat_answers_the_same_from_victoriametrics_as_from_prometheus() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (web1, web2, prom, vm, closed) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let host = support::frozen_host(&dir.join("host"));
    let _agents_procs = [
        support::start_frozen_exporter(&host, web1),
        support::start_frozen_exporter(&host, web2),
    ];
    let agents = dir.join("agents.txt");
    std::fs::write(
        &agents,
        format!(
            "web1 127.0.0.1:{web1} cpu_threshold=65\nweb2 127.0.0.1:{web2}\n\
             check pg 127.0.0.1:{closed} from web1 failures=1\n"
        ),
    )
    .unwrap();
    let out = dir.join("out");
    let write_url = format!("http://127.0.0.1:{vm}/api/v1/write");
    let mut args = support::FAST_GENERATE.to_vec();
    args.extend(["--remote-write-url", &write_url]);
    support::generate(&agents, &out, &args);
    let config = std::fs::read_to_string(out.join("prometheus/prometheus.yml")).unwrap();
    assert!(
        config.contains(&format!("remote_write:\n- url: {write_url}\n")),
        "{config}"
    );

    let _vm = start_victoria(&dir.join("vm"), vm);
    let _prom = support::prometheus_with(
        &out.join("prometheus/prometheus.yml"),
        &dir.join("tsdb"),
        prom,
        &[],
    );
    for port in [vm, prom] {
        assert!(wait_for_port(port, Duration::from_secs(20)), "port {port}");
    }
    let prom_url = format!("http://127.0.0.1:{prom}");
    let vm_url = format!("http://127.0.0.1:{vm}");

    // Data gets in: VictoriaMetrics holds the agents' series that only
    // Prometheus's remote_write can have brought (it scrapes nothing).
    let got = wait_for(Duration::from_secs(60), || {
        let (_, body) = http_get(&format!(
            "{vm_url}/api/v1/series?match[]=node_load1%7Bjob%3D%22outpost-agents%22%7D"
        ))
        .ok()?;
        (body.contains("\"web1\"") && body.contains("\"web2\"")).then_some(body)
    });
    assert!(
        got.is_some(),
        "no node_load1 of web1 and web2 in VictoriaMetrics; its log:\n{}",
        std::fs::read_to_string(dir.join("vm.log")).unwrap_or_default()
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let from_prom = engine(&prom_url, &agents, &dir.join("prom-state.db"));
    let from_vm = engine(&vm_url, &agents, &dir.join("vm-state.db"));
    // Both backends answer once they hold a minute of samples (rate()'s
    // window) and the recorded thresholds; VictoriaMetrics answers "now"
    // as of its -search.latencyOffset (30 s) ago.
    let complete = |e: &Engine| {
        let r = ask(&rt, e, "/status");
        let s = ["web1", "web2"].map(|a| ask(&rt, e, &format!("/status {a}")).text);
        let c = ask(&rt, e, "/mon_cpu web1");
        (r.text.contains("2 up")
            && s[0].contains("TCP checks failing")
            && s.iter().all(|t| !t.contains('–'))
            && c.text.starts_with("<b>CPU usage</b> (alert at 65%)"))
        .then_some(())
    };
    for (name, e) in [("Prometheus", &from_prom), ("VictoriaMetrics", &from_vm)] {
        assert!(
            wait_for(Duration::from_secs(120), || complete(e)).is_some(),
            "{name} never answered completely: {}\n{}\n{}",
            ask(&rt, e, "/status").text,
            ask(&rt, e, "/status web1").text,
            ask(&rt, e, "/mon_cpu web1").text
        );
    }

    for command in [
        "/mon_cpu",
        "/mon_cpu web1",
        "/status",
        "/status web1",
        "/status web2",
        "/mon_mem",
        "/mon_disk web2",
        "/agents",
    ] {
        let (p, v) = (ask(&rt, &from_prom, command), ask(&rt, &from_vm, command));
        assert_eq!(p.text, v.text, "{command}: Prometheus vs VictoriaMetrics");
    }
    // The frozen host's values, so "the same" is not "the same nothing".
    let cpu = ask(&rt, &from_vm, "/mon_cpu web1").text;
    assert!(cpu.contains("<b>web1</b>: 100.0%"), "{cpu}");

    // Pictures: the same caption and a drawn line from both (range
    // queries see the first samples a moment after instant queries do)…
    let pictures = || {
        wait_for(Duration::from_secs(30), || {
            let p = ask(&rt, &from_prom, "/mon_cpu_picture web1");
            let v = ask(&rt, &from_vm, "/mon_cpu_picture web1");
            Some((p.chart?, v.chart?))
        })
        .unwrap_or_else(|| {
            panic!(
                "no chart from both: {}",
                ask(&rt, &from_vm, "/mon_cpu_picture web1").text
            )
        })
    };
    let (mut p, mut v) = pictures();
    if p.caption != v.caption {
        // The two asks straddled a minute boundary; it cannot happen twice.
        (p, v) = pictures();
    }
    assert_eq!(p.caption, v.caption);
    assert!(!p.png.is_empty() && !v.png.is_empty());
    // …and the series behind them, over a window both hold, point for point.
    // A window of 5 points, 5 s apart, ending before VictoriaMetrics'
    // latency offset, that Prometheus has whole for both agents.
    let range = |url: &str, end: f64| -> Vec<Series> {
        let client = Prometheus::new(url, Duration::from_secs(5));
        let mut s = rt
            .block_on(client.query_range(
                &queries::cpu(Scope::All),
                end - 20.0,
                end,
                Duration::from_secs(5),
            ))
            .unwrap();
        s.sort_by(|a, b| a.labels.cmp(&b.labels));
        s
    };
    let end = wait_for(Duration::from_secs(60), || {
        let now = jiff::Timestamp::now().as_second() as f64;
        let end = ((now - 35.0) / 5.0).floor() * 5.0;
        let p = range(&prom_url, end);
        (p.len() == 2 && p.iter().all(|s| s.points.len() == 5)).then_some(end)
    })
    .expect("Prometheus holds 20 s of rate() for both agents");
    let (p, v) = (range(&prom_url, end), range(&vm_url, end));
    assert_eq!(p, v, "query_range: Prometheus vs VictoriaMetrics");
    assert!(p[0].points.iter().all(|(_, v)| *v == 100.0), "{p:?}");
}
