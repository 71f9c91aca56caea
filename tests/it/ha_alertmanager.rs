//! An Alertmanager cluster in front of the bridge (issue 14): two real
//! Alertmanagers (Debian `prometheus-alertmanager`) gossiping on loopback
//! (`--cluster.listen-address` / `--cluster.peer`), both running the
//! config `outpost generate` wrote, both sending webhooks to one bridge
//! (SQLite). Each notification must reach the fake Telegram chat exactly
//! once: the cluster's notification log keeps the second member quiet when
//! gossip is in time, and the bridge's dedup key catches the copy when it
//! is not.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::bridge::{Bridge, TOKEN};
use crate::fake_telegram::{FakeTelegram, Received};
use crate::support::{self, free_port, http_get, wait_for, wait_for_port, Proc};

/// `--chat-id` of `Bridge::start`.
const ALERT_CHAT: i64 = 1001;

/// Two clustered Alertmanagers, the bridge and the fake Telegram.
struct Cluster {
    dir: PathBuf,
    out: PathBuf,
    am: [u16; 2],
    fake: FakeTelegram,
    bridge: Bridge,
    _ams: Vec<Proc>,
}

impl Cluster {
    /// `agents` is written to agents.txt; `peer_timeout` is each member's
    /// `--cluster.peer-timeout` (how long the second waits for the first's
    /// notification to be gossiped before sending itself).
    fn start(dir: &Path, agents: &str, peer_timeout: &str) -> Cluster {
        let am = [free_port(), free_port()];
        let gossip = [free_port(), free_port()];
        let bport = free_port();
        let agents_file = dir.join("agents.txt");
        std::fs::write(&agents_file, agents).unwrap();
        let token = dir.join("webhook-token");
        std::fs::write(&token, "ha-webhook-secret\n").unwrap();
        let out = dir.join("out");
        let am_urls = format!("http://127.0.0.1:{},http://127.0.0.1:{}", am[0], am[1]);
        let bridge_url = format!("http://127.0.0.1:{bport}");
        let mut args = support::FAST_GENERATE.to_vec();
        args.extend([
            "--group-wait",
            "1s",
            "--group-interval",
            "1s",
            "--repeat-interval",
            "1h",
            "--alertmanager-url",
            &am_urls,
            "--bridge-url",
            &bridge_url,
            "--webhook-token-file",
            token.to_str().unwrap(),
        ]);
        support::generate(&agents_file, &out, &args);

        let fake = FakeTelegram::start(TOKEN);
        let bridge = Bridge::start(
            &fake.url(),
            &dir.join("state.db"),
            bport,
            &["--webhook-token-file", token.to_str().unwrap()],
        );
        let config = out.join("alertmanager/alertmanager.yml");
        let ams = (0..2)
            .map(|i| {
                let listen = format!("--cluster.listen-address=127.0.0.1:{}", gossip[i]);
                let peer = format!("--cluster.peer=127.0.0.1:{}", gossip[1 - i]);
                let timeout = format!("--cluster.peer-timeout={peer_timeout}");
                support::alertmanager_args(
                    &config,
                    &dir.join(format!("am{i}")),
                    am[i],
                    &[&listen, &peer, &timeout],
                )
            })
            .collect();
        for port in am {
            assert!(wait_for_port(port, Duration::from_secs(20)), "port {port}");
        }
        let cluster = Cluster {
            dir: dir.to_path_buf(),
            out,
            am,
            fake,
            bridge,
            _ams: ams,
        };
        // Both members see each other before anything is sent.
        for port in am {
            let formed = wait_for(Duration::from_secs(30), || {
                let (_, body) = http_get(&format!("http://127.0.0.1:{port}/api/v2/status")).ok()?;
                let v: Value = serde_json::from_str(&body).ok()?;
                let peers = v["cluster"]["peers"].as_array()?.len();
                (peers == 2 && v["cluster"]["status"] == "ready").then_some(())
            });
            assert!(
                formed.is_some(),
                "Alertmanager on {port} never saw its peer; log:\n{}",
                cluster.am_log(port)
            );
        }
        cluster
    }

    fn am_log(&self, port: u16) -> String {
        let i = self.am.iter().position(|p| *p == port).unwrap_or(0);
        std::fs::read_to_string(self.dir.join(format!("am{i}.log"))).unwrap_or_default()
    }

    /// Alert messages (not replies to commands) in the alert chat about
    /// `alertname` on `agent`, firing or resolved.
    fn messages(&self, alertname: &str, agent: &str, firing: bool) -> Vec<Received> {
        about(&self.fake.received(), alertname, agent, firing)
    }

    fn duplicates(&self) -> f64 {
        self.bridge
            .metric("outpost_bridge_webhooks_received_total{result=\"duplicate\"}")
    }
}

fn about(received: &[Received], alertname: &str, agent: &str, firing: bool) -> Vec<Received> {
    received
        .iter()
        .filter(|m| {
            m.chat_id == ALERT_CHAT
                && m.method == "sendMessage"
                && m.visible.contains(alertname)
                && m.visible.contains(agent)
                && m.visible.to_lowercase().contains("resolved") != firing
        })
        .cloned()
        .collect()
}

/// The alert names each Alertmanager holds, as its API lists them.
fn held(port: u16) -> Vec<String> {
    let (_, body) = http_get(&format!("http://127.0.0.1:{port}/api/v2/alerts")).unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["labels"]["alertname"].as_str().map(String::from))
        .collect()
}

#[test]
fn alertmanager_cluster_sends_each_notification_to_the_chat_once() {
    let tmp = tempfile::tempdir().unwrap();
    let web1 = free_port();
    let prom = free_port();
    let c = Cluster::start(tmp.path(), &format!("web1 127.0.0.1:{web1}\n"), "2s");
    // Prometheus lists both members under alerting.
    let config = std::fs::read_to_string(c.out.join("prometheus/prometheus.yml")).unwrap();
    assert!(
        config.contains(&format!(
            "    - targets:\n      - 127.0.0.1:{}\n      - 127.0.0.1:{}\n",
            c.am[0], c.am[1]
        )),
        "{config}"
    );
    let mut exporter = Some(support::start_exporter_on(web1));
    let _prom = support::prometheus_with(
        &c.out.join("prometheus/prometheus.yml"),
        &c.dir.join("tsdb"),
        prom,
        &["--rules.alert.resend-delay=1s"],
    );
    assert!(wait_for_port(prom, Duration::from_secs(20)));
    let both = wait_for(Duration::from_secs(30), || {
        let (_, body) = http_get(&format!("http://127.0.0.1:{prom}/api/v1/alertmanagers")).ok()?;
        let v: Value = serde_json::from_str(&body).ok()?;
        (v["data"]["activeAlertmanagers"].as_array()?.len() == 2).then_some(())
    });
    assert!(both.is_some(), "Prometheus does not use both Alertmanagers");
    let scraped = wait_for(Duration::from_secs(20), || {
        let (_, body) = http_get(&format!(
            "http://127.0.0.1:{prom}/api/v1/query?query=up%7Bagent%3D%22web1%22%7D%3D%3D1"
        ))
        .ok()?;
        body.contains("web1").then_some(())
    });
    assert!(scraped.is_some(), "web1 never scraped");

    // web1 stops: AgentDown fires, reaching both members.
    drop(exporter.take());
    assert!(
        c.fake.wait_until(Duration::from_secs(60), |r| !about(
            r,
            "AgentDown",
            "web1",
            true
        )
        .is_empty()),
        "AgentDown never reached the chat; bridge log:\n{}",
        c.bridge.logs()
    );
    for port in c.am {
        assert!(held(port).contains(&"AgentDown".to_string()), "{port}");
    }
    // Long enough for the second member's turn (peer timeout 2 s) and a
    // few group intervals: still one message.
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(c.messages("AgentDown", "web1", true).len(), 1);

    // web1 is back: the resolution, once too.
    exporter = Some(support::start_exporter_on(web1));
    assert!(
        c.fake.wait_until(Duration::from_secs(60), |r| !about(
            r,
            "AgentDown",
            "web1",
            false
        )
        .is_empty()),
        "AgentDown's resolution never reached the chat; bridge log:\n{}",
        c.bridge.logs()
    );
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(c.messages("AgentDown", "web1", false).len(), 1);
    assert_eq!(c.messages("AgentDown", "web1", true).len(), 1);
    drop(exporter);
}

#[test]
fn alertmanager_cluster_members_that_both_send_still_reach_the_chat_once() {
    // A zero peer timeout: neither member waits for the other's
    // notification log, so both send (as when gossip lags or the members
    // are cut off from each other) and the bridge must drop the copy.
    let tmp = tempfile::tempdir().unwrap();
    let c = Cluster::start(tmp.path(), "web1 127.0.0.1:9\n", "0s");
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut sent = Vec::new();
    // Both members sending the same notification is a race they usually
    // both win; post alerts until the bridge has seen at least one copy.
    for i in 0..6 {
        let agent = format!("host{i}");
        // As Prometheus does: the same alert, with the same start, to both.
        let starts_at = jiff::Timestamp::now().to_string();
        let alert = json!([{
            "labels": {"alertname": "DiskOnFire", "agent": agent, "severity": "critical"},
            "annotations": {"summary": format!("disk on fire on {agent}")},
            "startsAt": starts_at,
        }]);
        let posts: Vec<_> = c
            .am
            .iter()
            .map(|port| {
                let client = client.clone();
                let alert = alert.clone();
                let url = format!("http://127.0.0.1:{port}/api/v2/alerts");
                std::thread::spawn(move || client.post(url).json(&alert).send().unwrap().status())
            })
            .collect();
        for p in posts {
            assert!(p.join().unwrap().is_success());
        }
        assert!(
            c.fake.wait_until(Duration::from_secs(30), |r| !about(
                r,
                "DiskOnFire",
                &agent,
                true
            )
            .is_empty()),
            "DiskOnFire {agent} never reached the chat; bridge log:\n{}",
            c.bridge.logs()
        );
        sent.push(agent);
        std::thread::sleep(Duration::from_secs(3));
        if c.duplicates() >= 1.0 {
            break;
        }
    }
    assert!(
        c.duplicates() >= 1.0,
        "both members never sent the same notification; bridge metrics:\n{}",
        c.bridge.metrics()
    );
    for agent in &sent {
        assert_eq!(
            c.messages("DiskOnFire", agent, true).len(),
            1,
            "{agent}: {:?}",
            c.fake.received()
        );
    }
}
