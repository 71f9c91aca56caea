//! An Alertmanager cluster in front of the bridge (issue 14): two real
//! Alertmanagers (Debian `prometheus-alertmanager`) gossiping on loopback
//! (`--cluster.listen-address` / `--cluster.peer`), both running the
//! config `outpost generate` wrote, both sending webhooks to one bridge
//! (SQLite), or each to both bridges of a pair sharing one real PostgreSQL
//! (Debian `postgresql`; the receiver lists both bridges as two
//! `webhook_configs`, as docs/deployment.md says). Each notification must
//! reach the fake Telegram chat exactly once: the cluster's notification
//! log keeps the second member quiet when gossip is in time, and the dedup
//! key (in the shared database for the pair) catches every copy. The pair's
//! state is then read by `outpost ask --state postgres://…`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::bridge::{Bridge, TOKEN};
use crate::fake_telegram::{FakeTelegram, Received};
use crate::support::{
    self, free_port, http_get, outpost_bin, wait_for, wait_for_port, Postgres, Proc, PG_PASSWORD,
};

/// `--chat-id` of `Bridge::start`.
const ALERT_CHAT: i64 = 1001;

/// Two clustered Alertmanagers, the bridge (or bridges) and the fake
/// Telegram.
struct Cluster {
    dir: PathBuf,
    out: PathBuf,
    am: [u16; 2],
    fake: FakeTelegram,
    bridges: Vec<Bridge>,
    _ams: Vec<Proc>,
}

/// Where the Alertmanagers send: one bridge on SQLite, or a pair on one
/// PostgreSQL (the URL), each member sending to both.
#[derive(Clone, Copy)]
enum Bridges<'a> {
    One,
    PairOn(&'a str),
}

impl Cluster {
    /// `agents` is written to agents.txt; `peer_timeout` is each member's
    /// `--cluster.peer-timeout` (how long the second waits for the first's
    /// notification to be gossiped before sending itself).
    fn start(dir: &Path, agents: &str, peer_timeout: &str) -> Cluster {
        Self::start_with(dir, agents, peer_timeout, Bridges::One)
    }

    fn start_with(dir: &Path, agents: &str, peer_timeout: &str, to: Bridges) -> Cluster {
        let am = [free_port(), free_port()];
        let gossip = [free_port(), free_port()];
        let ports: Vec<u16> = match to {
            Bridges::One => vec![free_port()],
            Bridges::PairOn(_) => vec![free_port(), free_port()],
        };
        let bport = ports[0];
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
        let config = out.join("alertmanager/alertmanager.yml");
        if let [_, second] = ports[..] {
            send_to_both(&config, &bridge_url, &format!("http://127.0.0.1:{second}"));
        }

        let fake = FakeTelegram::start(TOKEN);
        let flags = ["--webhook-token-file", token.to_str().unwrap()];
        let bridges = match to {
            Bridges::One => vec![Bridge::start(
                &fake.url(),
                &dir.join("state.db"),
                bport,
                &flags,
            )],
            Bridges::PairOn(url) => ports
                .iter()
                .map(|port| {
                    let log = dir.join(format!("bridge-{port}.log"));
                    Bridge::launch(&fake.url(), url, log, *port, &flags, TOKEN)
                })
                .collect(),
        };
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
            bridges,
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

    /// Notifications the bridges dropped as copies, all together.
    fn duplicates(&self) -> f64 {
        self.bridges
            .iter()
            .map(|b| b.metric("outpost_bridge_webhooks_received_total{result=\"duplicate\"}"))
            .sum()
    }

    fn logs(&self) -> String {
        self.bridges.iter().map(Bridge::logs).collect()
    }

    fn metrics(&self) -> String {
        self.bridges.iter().map(Bridge::metrics).collect()
    }
}

/// Makes every receiver of the generated Alertmanager config send to the
/// bridge at `second` as well as at `first`: a second `webhook_configs`
/// entry, the same but for its URL.
fn send_to_both(config: &Path, first: &str, second: &str) {
    let text = std::fs::read_to_string(config).unwrap();
    let mut yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let mut added = 0;
    for receiver in yaml["receivers"].as_sequence_mut().unwrap() {
        let Some(hooks) = receiver
            .get_mut("webhook_configs")
            .and_then(|h| h.as_sequence_mut())
        else {
            continue;
        };
        let copies: Vec<serde_yaml_ng::Value> = hooks
            .iter()
            .map(|h| {
                let mut copy = h.clone();
                let url = copy["url"].as_str().unwrap().replace(first, second);
                copy["url"] = url.into();
                copy
            })
            .collect();
        added += copies.len();
        hooks.extend(copies);
    }
    assert!(added > 0, "no webhook receiver in {text}");
    std::fs::write(config, serde_yaml_ng::to_string(&yaml).unwrap()).unwrap();
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

/// Posts alert `DiskOnFire` on `agent` to both members at once, as
/// Prometheus does (the same alert, the same start), and waits until it
/// reaches the chat.
fn fire_on_both(c: &Cluster, agent: &str) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let starts_at = jiff::Timestamp::now().to_string();
    let alert = json!([{
        "labels": {"alertname": "DiskOnFire", "agent": agent, "severity": "critical"},
        "annotations": {"summary": format!("disk on fire on {agent}")},
        "startsAt": starts_at,
    }]);
    let posts: Vec<_> =
        c.am.iter()
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
            agent,
            true
        )
        .is_empty()),
        "DiskOnFire {agent} never reached the chat; bridge log:\n{}",
        c.logs()
    );
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
        c.logs()
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
        c.logs()
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
    let mut sent = Vec::new();
    // Both members sending the same notification is a race they usually
    // both win; post alerts until the bridge has seen at least one copy.
    for i in 0..6 {
        let agent = format!("host{i}");
        fire_on_both(&c, &agent);
        sent.push(agent);
        std::thread::sleep(Duration::from_secs(3));
        if c.duplicates() >= 1.0 {
            break;
        }
    }
    assert!(
        c.duplicates() >= 1.0,
        "both members never sent the same notification; bridge metrics:\n{}",
        c.metrics()
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

#[test]
fn alertmanager_cluster_sending_to_both_bridges_of_a_pair_reaches_the_chat_once() {
    // Both members send (no peer timeout), each to both bridges of a pair
    // on one PostgreSQL: up to four copies of every notification, taken by
    // either bridge, and the chat gets each once (only the leader sends).
    let pg = Postgres::start();
    let tmp = tempfile::tempdir().unwrap();
    let url = pg.url();
    let c = Cluster::start_with(
        tmp.path(),
        "web1 127.0.0.1:9\n",
        "0s",
        Bridges::PairOn(&url),
    );
    let agents = ["host0", "host1", "host2"];
    for agent in agents {
        fire_on_both(&c, agent);
    }
    // Long enough for every copy to arrive and any second send to show.
    std::thread::sleep(Duration::from_secs(6));
    for agent in agents {
        assert_eq!(
            c.messages("DiskOnFire", agent, true).len(),
            1,
            "{agent}: {:?}",
            c.fake.received()
        );
    }
    // Every member sends each notification to both bridges: at least one
    // copy of each was dropped, by whichever bridge came second.
    assert!(
        c.duplicates() >= agents.len() as f64,
        "bridge metrics:\n{}",
        c.metrics()
    );

    // `outpost ask` reads the pair's state from PostgreSQL.
    let ask = |state: &str| {
        std::process::Command::new(outpost_bin())
            .args(["ask", "--state", state, "/stats"])
            .output()
            .unwrap()
    };
    let out = ask(&url);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("(from the state database"), "{stdout}");
    assert!(stdout.contains("queued: 0"), "{stdout}");
    assert!(
        stdout.contains(&format!("sent: {}", agents.len())),
        "one row per notification: {stdout}"
    );
    // A refused connection names the database, never the password.
    let wrong = url.replace(PG_PASSWORD, "wrong-Pa55word-DoNotLeak");
    let out = ask(&wrong);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(stderr.contains("password"), "says why: {stderr}");
    assert!(
        stderr.contains(&format!("127.0.0.1:{}", pg.port)),
        "{stderr}"
    );
    for secret in [PG_PASSWORD, "wrong-Pa55word-DoNotLeak"] {
        assert!(!stderr.contains(secret), "{stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains(secret));
    }
}
