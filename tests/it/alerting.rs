//! The generated Alertmanager configuration, judged by the real programs:
//! `amtool check-config`, `amtool config routes test --tree` for the routing
//! tree, and a live Alertmanager that receives alerts through its API and
//! reports which ones the catalog's inhibitions hold back.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support;

fn generate(out: &Path) {
    let agents = out.join("agents.txt");
    std::fs::write(&agents, "web1 127.0.0.1:9100\nweb2 127.0.0.1:9101\n").unwrap();
    let o = Command::new(support::outpost_bin())
        .arg("generate")
        .arg("--agents")
        .arg(&agents)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The route path `amtool` matches for an alert with these labels.
fn route(amtool: &Path, config: &Path, labels: &[&str]) -> String {
    let o = Command::new(amtool)
        .args(["config", "routes", "test", "--tree"])
        .arg(format!("--config.file={}", config.display()))
        .args(labels)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn amtool_accepts_the_config_and_routes_watchdog_and_info_apart() {
    let amtool = support::require("amtool", "prometheus-alertmanager");
    let tmp = tempfile::tempdir().unwrap();
    generate(tmp.path());
    let config = tmp.path().join("alertmanager/alertmanager.yml");
    let o = Command::new(&amtool)
        .arg("check-config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).contains("SUCCESS"),
        "{o:?}"
    );
    let watchdog = route(&amtool, &config, &["alertname=Watchdog", "severity=none"]);
    assert!(
        watchdog.contains("{alertname=\"Watchdog\"}  receiver: outpost-heartbeat"),
        "{watchdog}"
    );
    let info = route(
        &amtool,
        &config,
        &[
            "alertname=NodeRebootRequired",
            "severity=info",
            "agent=web1",
        ],
    );
    assert!(
        info.contains("{severity=\"info\"}  receiver: outpost-bridge"),
        "{info}"
    );
    for labels in [
        [
            "alertname=NodeRAIDDegraded",
            "severity=critical",
            "agent=web1",
        ],
        ["alertname=AgentHighCPU", "severity=warning", "agent=web1"],
    ] {
        let page = route(&amtool, &config, &labels);
        assert!(
            page.contains("default-route  receiver: outpost-bridge") && !page.contains("{"),
            "{labels:?}: {page}"
        );
    }
}

fn alert(labels: &[(&str, &str)]) -> Value {
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    json!({ "labels": labels })
}

#[test]
fn live_alertmanager_inhibits_as_the_catalog_says() {
    let tmp = tempfile::tempdir().unwrap();
    generate(tmp.path());
    let port = support::free_port();
    let _am = support::alertmanager_with(
        &tmp.path().join("alertmanager/alertmanager.yml"),
        &tmp.path().join("am"),
        port,
    );
    assert!(support::wait_for_port(port, Duration::from_secs(20)));
    let url = format!("http://127.0.0.1:{port}/api/v2/alerts");
    let client = reqwest::blocking::Client::new();
    let w = ("severity", "warning");
    let c = ("severity", "critical");
    // (labels, held back?)
    let cases: Vec<(Vec<(&str, &str)>, bool)> = vec![
        // web1 is down: its other alerts wait, the Watchdog never does.
        (
            vec![("alertname", "AgentDown"), ("agent", "web1"), c],
            false,
        ),
        (
            vec![("alertname", "AgentHighCPU"), ("agent", "web1"), w],
            true,
        ),
        (
            vec![
                ("alertname", "TcpTargetDown"),
                ("agent", "web1"),
                ("check", "pg"),
                c,
            ],
            true,
        ),
        (vec![("alertname", "Watchdog"), ("severity", "none")], false),
        // web2 is up: its CPU alert goes out.
        (
            vec![("alertname", "AgentHighCPU"), ("agent", "web2"), w],
            false,
        ),
        // A failed RAID disk explains its own array's degradation only.
        (
            vec![
                ("alertname", "NodeRAIDDiskFailure"),
                ("agent", "web2"),
                ("device", "md0"),
                ("state", "failed"),
                w,
            ],
            false,
        ),
        (
            vec![
                ("alertname", "NodeRAIDDegraded"),
                ("agent", "web2"),
                ("device", "md0"),
                c,
            ],
            true,
        ),
        (
            vec![
                ("alertname", "NodeRAIDDegraded"),
                ("agent", "web2"),
                ("device", "md1"),
                c,
            ],
            false,
        ),
        // Critical holds back the warning of the same name and mount only.
        (
            vec![
                ("alertname", "NodeFilesystemAlmostOutOfSpace"),
                ("agent", "web2"),
                ("mountpoint", "/"),
                c,
            ],
            false,
        ),
        (
            vec![
                ("alertname", "NodeFilesystemAlmostOutOfSpace"),
                ("agent", "web2"),
                ("mountpoint", "/"),
                w,
            ],
            true,
        ),
        (
            vec![
                ("alertname", "NodeFilesystemAlmostOutOfSpace"),
                ("agent", "web2"),
                ("mountpoint", "/data"),
                w,
            ],
            false,
        ),
        // The critical memory alert holds back both memory warnings.
        (
            vec![("alertname", "HighMemoryUsage"), ("agent", "web2"), c],
            false,
        ),
        (
            vec![("alertname", "AgentHighMemory"), ("agent", "web2"), w],
            true,
        ),
        (
            vec![
                ("alertname", "NodeMemoryHighUtilization"),
                ("agent", "web2"),
                w,
            ],
            true,
        ),
    ];
    let body: Vec<Value> = cases.iter().map(|(l, _)| alert(l)).collect();
    let resp = client.post(&url).json(&body).send().unwrap();
    assert!(resp.status().is_success(), "{:?}", resp.text());
    let key = |labels: &Value| {
        let mut pairs: Vec<String> = labels
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect();
        pairs.sort();
        pairs.join(",")
    };
    let want: Vec<(String, bool)> = cases
        .iter()
        .map(|(l, held)| (key(&alert(l)["labels"]), *held))
        .collect();
    // Inhibition is evaluated as alerts arrive; wait until all are listed
    // with the expected state.
    let mut last = Vec::new();
    let ok = support::wait_for(Duration::from_secs(20), || {
        let alerts: Vec<Value> = client.get(&url).send().ok()?.json::<Vec<Value>>().ok()?;
        last = alerts
            .iter()
            .map(|a| {
                let held = a["status"]["inhibitedBy"]
                    .as_array()
                    .is_some_and(|v| !v.is_empty());
                (key(&a["labels"]), held)
            })
            .collect::<Vec<_>>();
        last.sort();
        let mut w = want.clone();
        w.sort();
        (last == w).then_some(())
    });
    assert!(ok.is_some(), "expected {want:#?}\ngot {last:#?}");
}
