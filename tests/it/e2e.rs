//! The whole stack end to end (issue 7): `outpost generate` writes the
//! config (durations shortened by its flags) for real Prometheus and
//! Alertmanager, two `outpost exporter`s are the agents, the `outpost
//! bridge` binary delivers to the in-process fake Telegram and answers chat
//! commands from it. An agent going down reaches the chat, its recovery
//! replies to the firing message, a chart comes back as a PNG, a silence
//! set from the chat keeps the next failure quiet, and the Watchdog's
//! absence is reported.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::bridge::{Bridge, TOKEN};
use crate::fake_telegram::{FakeTelegram, Received};
use crate::support;
use crate::support::{free_port, http_get, outpost_bin, wait_for, wait_for_port};

const ALICE: i64 = 42;
/// `--chat-id` of `Bridge::start`.
const ALERT_CHAT: i64 = 1001;

fn generate(agents: &Path, out: &Path, am_url: &str, bridge_url: &str, token: &Path) {
    let status = Command::new(outpost_bin())
        .arg("generate")
        .arg("--agents")
        .arg(agents)
        .arg("--out")
        .arg(out)
        .args(support::FAST_GENERATE)
        .args([
            "--group-wait",
            "1s",
            "--group-interval",
            "1s",
            "--repeat-interval",
            "1h",
            "--heartbeat-interval",
            "1s",
            "--alertmanager-url",
            am_url,
            "--bridge-url",
            bridge_url,
        ])
        .arg("--webhook-token-file")
        .arg(token)
        .status()
        .unwrap();
    assert!(status.success(), "outpost generate failed");
}

/// Firing or resolved AgentDown messages about `agent` in the alert chat.
fn agent_down(received: &[Received], agent: &str, firing: bool) -> Vec<Received> {
    received
        .iter()
        .filter(|m| {
            m.chat_id == ALERT_CHAT
                && m.method == "sendMessage"
                && m.visible.contains("AgentDown")
                && m.visible.contains(agent)
                && m.visible.to_lowercase().contains("resolved") != firing
        })
        .cloned()
        .collect()
}

fn message(fake: &FakeTelegram, text: &str) -> usize {
    let before = fake.messages_in(ALICE).len();
    fake.push_update(json!({
        "message": {
            "message_id": 20_000 + before as i64,
            "date": 1_795_000_000,
            "chat": {"id": ALICE, "type": "private"},
            "from": {"id": ALICE, "is_bot": false, "first_name": "A", "username": "alice"},
            "text": text,
        }
    }));
    before
}

#[test]
fn alerts_commands_silences_and_watchdog_through_the_whole_stack() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (web1, web2, prom, am, bport) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let agents = dir.join("agents.txt");
    std::fs::write(
        &agents,
        format!("web1 127.0.0.1:{web1}\nweb2 127.0.0.1:{web2}\n"),
    )
    .unwrap();
    let token = dir.join("webhook-token");
    std::fs::write(&token, "e2e-webhook-secret\n").unwrap();
    let out = dir.join("out");
    let am_url = format!("http://127.0.0.1:{am}");
    let prom_url = format!("http://127.0.0.1:{prom}");
    generate(
        &agents,
        &out,
        &am_url,
        &format!("http://127.0.0.1:{bport}"),
        &token,
    );

    let fake = FakeTelegram::start(TOKEN);
    let bridge = Bridge::start(
        &fake.url(),
        &dir.join("state.db"),
        bport,
        &[
            "--allowed-users",
            "42",
            "--prometheus-url",
            &prom_url,
            "--alertmanager-url",
            &am_url,
            "--agents",
            agents.to_str().unwrap(),
            "--webhook-token-file",
            token.to_str().unwrap(),
            "--watchdog-timeout",
            "6s",
            "--dedup-window",
            "1s",
        ],
    );
    let mut exporter1 = Some(support::start_exporter_on(web1));
    let _exporter2 = support::start_exporter_on(web2);
    let mut am_proc = Some(support::alertmanager_with(
        &out.join("alertmanager/alertmanager.yml"),
        &dir.join("am"),
        am,
    ));
    let _prom = support::prometheus_with(
        &out.join("prometheus/prometheus.yml"),
        &dir.join("tsdb"),
        prom,
        &["--rules.alert.resend-delay=1s"],
    );
    for port in [am, prom] {
        assert!(wait_for_port(port, Duration::from_secs(20)), "port {port}");
    }
    // Both agents scraped before anything is stopped.
    let both_up = wait_for(Duration::from_secs(20), || {
        let (_, body) = http_get(&format!(
            "{prom_url}/api/v1/query?query=count(up%7Bjob%3D%22outpost-agents%22%7D%3D%3D1)"
        ))
        .ok()?;
        body.contains("\"2\"").then_some(())
    });
    assert!(both_up.is_some(), "agents not scraped");

    // 1. web1 stops: AgentDown reaches the chat.
    drop(exporter1.take());
    assert!(
        fake.wait_until(Duration::from_secs(40), |r| !agent_down(r, "web1", true)
            .is_empty()),
        "AgentDown for web1 never arrived; {}",
        bridge.logs()
    );
    let firing = agent_down(&fake.received(), "web1", true)[0].clone();

    // 2. web1 is back: the resolution replies to the firing message.
    exporter1 = Some(support::start_exporter_on(web1));
    assert!(
        fake.wait_until(Duration::from_secs(40), |r| !agent_down(r, "web1", false)
            .is_empty()),
        "no resolution for web1; {}",
        bridge.logs()
    );
    let resolved = agent_down(&fake.received(), "web1", false)[0].clone();
    assert_eq!(resolved.reply_to, Some(firing.message_id));

    // 3. A chart of the other agent from the chat.
    let before = message(&fake, "/mon_cpu_picture web2");
    assert!(fake.wait_until(Duration::from_secs(15), |r| r
        .iter()
        .filter(|m| m.chat_id == ALICE)
        .count()
        > before));
    let photo = fake.messages_in(ALICE)[before].clone();
    assert_eq!(photo.method, "sendPhoto", "{}", photo.visible);
    let png = photo.photo.expect("a photo file");
    let reader = png::Decoder::new(&png[..]).read_info().expect("a PNG");
    assert_eq!((reader.info().width, reader.info().height), (1000, 600));
    assert!(photo.visible.contains("web2"), "{}", photo.visible);

    // 4. /silence web1 1h, then web1 fails again: nothing new in the chat.
    let before = message(&fake, "/silence web1 1h e2e");
    assert!(fake.wait_until(Duration::from_secs(15), |r| r
        .iter()
        .filter(|m| m.chat_id == ALICE)
        .count()
        > before));
    let reply = fake.messages_in(ALICE)[before].clone();
    assert!(reply.visible.contains("Silenced"), "{}", reply.visible);
    let firings_before = agent_down(&fake.received(), "web1", true).len();
    drop(exporter1.take());
    let suppressed = wait_for(Duration::from_secs(40), || {
        let (_, body) = http_get(&format!(
            "{am_url}/api/v2/alerts?filter=alertname%3D%22AgentDown%22&filter=agent%3D%22web1%22"
        ))
        .ok()?;
        let list: Value = serde_json::from_str(&body).ok()?;
        list.as_array()?
            .iter()
            .any(|a| a["status"]["state"] == "suppressed")
            .then_some(())
    });
    assert!(
        suppressed.is_some(),
        "the new failure never reached Alertmanager"
    );
    // Past group_wait and a few evaluations: still quiet.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        agent_down(&fake.received(), "web1", true).len(),
        firings_before,
        "a silenced failure reached the chat"
    );

    // 5. Alertmanager stops: no more Watchdog heartbeats; the bridge says so.
    drop(am_proc.take());
    assert!(
        fake.wait_until(Duration::from_secs(30), |r| r.iter().any(|m| m.chat_id
            == ALERT_CHAT
            && m.visible.contains("Alerting pipeline is silent"))),
        "the Watchdog's absence was not reported; {}",
        bridge.logs()
    );
    let bad: Vec<_> = fake.log().into_iter().filter(|(_, s)| *s != 200).collect();
    assert!(bad.is_empty(), "{bad:?}");
}

/// `/proc/mdstat` of a RAID1 array running on one of its two disks (the
/// other removed, none failed), in the kernel's format.
const MDSTAT_DEGRADED: &str = "Personalities : [raid1]
md0 : active raid1 sdb1[1]
      1047552 blocks super 1.2 [2/1] [_U]

unused devices: <none>
";

/// The filesystem series of `/data` as a textfile: 100 GB, `avail` free.
fn filesystem_prom(avail: f64) -> String {
    let l = r#"{device="/dev/sdb1",fstype="ext4",mountpoint="/data"}"#;
    format!(
        "# TYPE node_filesystem_avail_bytes gauge\nnode_filesystem_avail_bytes{l} {avail}\n# TYPE node_filesystem_size_bytes gauge\nnode_filesystem_size_bytes{l} 100000000000\n# TYPE node_filesystem_readonly gauge\nnode_filesystem_readonly{l} 0\n"
    )
}

/// Node-mixin's RAID and filesystem alerts through the whole stack: the
/// exporter reads a degraded array from a fixture `/proc/mdstat`
/// (`--path.procfs`); the filling filesystem comes from the textfile
/// collector (filesystem collector off), because statfs(2) of a real mount
/// cannot be made to shrink in a test: the test rewrites the file every
/// half second with less space. The two rules' `for` (15m, 1h) is cut to
/// 2s in the generated rule file; their expressions are untouched.
#[test]
fn raid_degraded_and_filesystem_filling_up_reach_the_chat() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (eport, prom, am, bport) = (free_port(), free_port(), free_port(), free_port());
    for sub in ["proc", "sys", "textfile"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(dir.join("proc/mdstat"), MDSTAT_DEGRADED).unwrap();
    let textfile = dir.join("textfile/filesystem.prom");
    std::fs::write(&textfile, filesystem_prom(35e9)).unwrap();
    let agents = dir.join("agents.txt");
    std::fs::write(
        &agents,
        format!("store 127.0.0.1:{eport} disk_fill_within=1h\n"),
    )
    .unwrap();
    let token = dir.join("webhook-token");
    std::fs::write(&token, "e2e-webhook-secret\n").unwrap();
    let out = dir.join("out");
    let am_url = format!("http://127.0.0.1:{am}");
    generate(
        &agents,
        &out,
        &am_url,
        &format!("http://127.0.0.1:{bport}"),
        &token,
    );
    let rules_path = out.join("prometheus/rules/outpost.yml");
    let mut rules: serde_yaml_ng::Value =
        serde_yaml_ng::from_slice(&std::fs::read(&rules_path).unwrap()).unwrap();
    let mut cut = 0;
    for group in rules["groups"].as_sequence_mut().unwrap() {
        for rule in group["rules"].as_sequence_mut().unwrap() {
            let name = rule["alert"].as_str().unwrap_or_default();
            if name == "NodeRAIDDegraded" || name == "NodeFilesystemSpaceFillingUp" {
                rule["for"] = "2s".into();
                cut += 1;
            }
        }
    }
    assert_eq!(cut, 3, "one RAID rule, two filesystem rules");
    std::fs::write(&rules_path, serde_yaml_ng::to_string(&rules).unwrap()).unwrap();

    let fake = FakeTelegram::start(TOKEN);
    let bridge = Bridge::start(
        &fake.url(),
        &dir.join("state.db"),
        bport,
        &[
            "--webhook-token-file",
            token.to_str().unwrap(),
            "--dedup-window",
            "1s",
        ],
    );
    let _exporter = support::spawn(
        Command::new(outpost_bin())
            .arg("exporter")
            .arg(format!("--web.listen-address=127.0.0.1:{eport}"))
            .arg(format!("--path.procfs={}", dir.join("proc").display()))
            .arg(format!("--path.sysfs={}", dir.join("sys").display()))
            .arg(format!(
                "--collector.textfile.directory={}",
                dir.join("textfile").display()
            ))
            .arg("--no-collector.filesystem"),
    );
    let _am = support::alertmanager_with(
        &out.join("alertmanager/alertmanager.yml"),
        &dir.join("am"),
        am,
    );
    let _prom = support::prometheus_with(
        &out.join("prometheus/prometheus.yml"),
        &dir.join("tsdb"),
        prom,
        &["--rules.alert.resend-delay=1s"],
    );
    for port in [eport, am, prom] {
        assert!(wait_for_port(port, Duration::from_secs(20)), "port {port}");
    }
    // /data loses 1 GB a second: full within a minute at that pace, well
    // inside the agent's disk_fill_within=1h, and under 40 % free.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let filler = {
        let stop = stop.clone();
        let textfile = textfile.clone();
        std::thread::spawn(move || {
            let mut avail = 35e9;
            // Stops at 26 % free: under 20 % the critical rule would take
            // over (and hold the warning back).
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && avail > 26e9 {
                avail -= 0.5e9;
                let tmp = textfile.with_extension("tmp");
                std::fs::write(&tmp, filesystem_prom(avail)).unwrap();
                std::fs::rename(&tmp, &textfile).unwrap();
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    let alert_message = |r: &[Received], name: &str| {
        r.iter()
            .find(|m| m.chat_id == ALERT_CHAT && m.visible.contains(name))
            .cloned()
    };
    let arrived = fake.wait_until(Duration::from_secs(60), |r| {
        alert_message(r, "NodeRAIDDegraded").is_some()
            && alert_message(r, "NodeFilesystemSpaceFillingUp").is_some()
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    filler.join().unwrap();
    let received = fake.received();
    assert!(
        arrived,
        "alerts missing; got {:#?}\n{}",
        received.iter().map(|m| &m.visible).collect::<Vec<_>>(),
        bridge.logs()
    );
    // Readable: the annotations' words, not templates or PromQL.
    let raid = alert_message(&received, "NodeRAIDDegraded").unwrap();
    assert!(
        raid.visible.contains("RAID array md0 on store is degraded")
            && raid.visible.contains("fewer active disks than it needs"),
        "{}",
        raid.visible
    );
    let fs = alert_message(&received, "NodeFilesystemSpaceFillingUp").unwrap();
    assert!(
        fs.visible
            .contains("Filesystem /data on store is filling up")
            && fs.visible.contains("% of its space available"),
        "{}",
        fs.visible
    );
    for m in [&raid, &fs] {
        assert!(
            !m.visible.contains("{{") && !m.visible.contains("$labels"),
            "{}",
            m.visible
        );
    }
}
