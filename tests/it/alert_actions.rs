//! Actions the bridge takes on its own or from a terminal, end to end: the
//! real `outpost bridge` with alerts posted to its webhook and the fake
//! Telegram recording what arrives, the real `outpost exporter
//! --actions.config` over pinned TLS. An AgentHighCPU alert carries the
//! agent's top processes; an AgentHighDisk alert carries its largest
//! containers and volumes and, with `--self-healing`, prunes docker once
//! per cooldown; an agent that never answers holds the alert no longer
//! than the enrichment deadline; `outpost ask` runs a change only with
//! `--yes` or a "y" on its terminal. Docker is the Engine API stand-in
//! ([`crate::docker_standin`]): no Docker engine can run on this machine.

use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::bot::in_chat;
use crate::bridge::{client, one_alert, post, Bridge, TOKEN};
use crate::chat_actions::{alive, start_bridge, start_web1_bridge, ActionsAgent};
use crate::chat_actions_hosts::{engine, host_builtin};
use crate::fake_telegram::{FakeTelegram, Received};
use crate::support::{free_port, outpost_bin, wait_for};

/// Where `Bridge::start` sends alerts (`--chat-id`).
const ALERT_CHAT: i64 = 1001;

/// Posts a notification to the bridge's default chat.
fn post_alert(bridge: &Bridge, body: &str) {
    let (status, text) = post(&client(), &bridge.url("/alert"), body, &[]).unwrap();
    assert_eq!(status, 200, "{text}");
}

/// Waits for the `n`th message (from 1) in the alert chat.
fn nth_alert_message(fake: &FakeTelegram, n: usize, bridge: &Bridge) -> Received {
    assert!(
        fake.wait_until(Duration::from_secs(20), |r| in_chat(r, ALERT_CHAT) >= n),
        "message {n} did not arrive; log:\n{}",
        bridge.logs()
    );
    fake.messages_in(ALERT_CHAT)[n - 1].clone()
}

/// An AgentHighDisk notification for web1's `mountpoint`.
fn high_disk(mountpoint: &str) -> String {
    json!({
        "version": "4", "status": "firing", "receiver": "telegram",
        "groupKey": format!("{{}}:{{alertname=\"AgentHighDisk\",mountpoint=\"{mountpoint}\"}}"),
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "AgentHighDisk", "agent": "web1", "severity": "warning", "mountpoint": mountpoint},
            "annotations": {"summary": format!("{mountpoint} is nearly full")},
            "startsAt": "2026-11-22T05:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
            "fingerprint": format!("fp-disk-{mountpoint}"),
        }],
    })
    .to_string()
}

#[test]
fn a_high_cpu_alert_carries_the_agents_top_processes() {
    let agent = ActionsAgent::start();
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeTelegram::start(TOKEN);
    let bridge = start_web1_bridge(&fake, &agent, dir.path(), &[]);

    post_alert(&bridge, &one_alert("AgentHighCPU", "firing"));
    let m = nth_alert_message(&fake, 1, &bridge);
    // The alert's own text first, then the agent's block.
    let (alert, block) = m
        .visible
        .split_once("\n\ntop on web1:\n")
        .unwrap_or_else(|| panic!("no top block in\n{}\n{}", m.visible, bridge.logs()));
    assert!(alert.contains("AgentHighCPU summary"), "{alert}");
    assert!(
        block.starts_with("By CPU (over 0.") && block.contains("\nBy memory:\n"),
        "{block}"
    );
    // Each listed process is a line `CPU%  RSS  comm (pid)`, at most five.
    let memory = block.split_once("By memory:\n").unwrap().1;
    let rows: Vec<&str> = memory.lines().filter(|l| l.ends_with(')')).collect();
    assert!((1..=5).contains(&rows.len()), "{memory}");
    assert_eq!(agent.requests(), 1.0, "one top request for one alert");

    // An alert with no enrichment goes as it is, asking the agent nothing.
    post_alert(&bridge, &one_alert("AgentDown", "firing"));
    let m = nth_alert_message(&fake, 2, &bridge);
    assert!(!m.visible.contains(" on web1:\n"), "{}", m.visible);
    assert_eq!(agent.requests(), 1.0);
}

#[test]
fn a_high_disk_alert_carries_docker_disk_use_and_heals_once_per_cooldown() {
    let dir = tempfile::tempdir().unwrap();
    let docker = engine(dir.path());
    let builtin = host_builtin(&docker.socket);
    let agent = ActionsAgent::start_extra(dir, &builtin, &[]);
    let chat = tempfile::tempdir().unwrap();
    let rules = chat.path().join("heal.yml");
    std::fs::write(
        &rules,
        "rules:\n  - alert: AgentHighDisk\n    action: docker.prune\n    cooldown: 30m\n",
    )
    .unwrap();
    let fake = FakeTelegram::start(TOKEN);
    let bridge = start_web1_bridge(
        &fake,
        &agent,
        chat.path(),
        &["--self-healing", rules.to_str().unwrap()],
    );
    let count = |request: &str| docker.requests().iter().filter(|r| *r == request).count();
    const PRUNE: &str = "POST /containers/prune";
    const DF: &str = "GET /system/df?verbose=true";

    post_alert(&bridge, &high_disk("/"));
    nth_alert_message(&fake, 2, &bridge);
    let messages = fake.messages_in(ALERT_CHAT);
    let alert = messages
        .iter()
        .find(|m| m.visible.contains("/ is nearly full"))
        .unwrap_or_else(|| panic!("{messages:?}"));
    let notice = messages
        .iter()
        .find(|m| m.visible.starts_with("🩹"))
        .unwrap_or_else(|| panic!("{messages:?}"));
    // The largest container and volume, sized as the engine reported them
    // (db: 900 MB written, pgdata: 4 GB).
    assert!(
        alert.visible.contains(
            "\n\ndocker.df on web1:\nLargest containers (863.1 MiB in all, writable layers):\n \
             858.3 MiB  db\n   4.8 MiB  web-1\n"
        ) && alert
            .visible
            .contains("Largest volumes (3.7 GiB in all):\n   3.7 GiB  pgdata\n  11.7 KiB  cache"),
        "{}",
        alert.visible
    );
    assert!(
        notice
            .visible
            .starts_with("🩹 Self-healing for AgentHighDisk on web1: ran docker.prune\n✅ docker.prune on web1 (")
            && notice
                .visible
                .ends_with("Removed 1 stopped containers, 2 images, 1 networks; 69.3 KiB reclaimed."),
        "{}",
        notice.visible
    );
    assert_eq!((count(DF), count(PRUNE)), (1, 1), "{:?}", docker.requests());

    // Another disk alert on the same agent within the cooldown: enriched
    // again, not healed again.
    post_alert(&bridge, &high_disk("/data"));
    let second = nth_alert_message(&fake, 3, &bridge);
    assert!(
        second.visible.contains("/data is nearly full"),
        "{}",
        second.visible
    );
    assert!(
        wait_for(Duration::from_secs(10), || bridge
            .logs()
            .contains("self-healing held back")
            .then_some(()))
        .is_some(),
        "{}",
        bridge.logs()
    );
    assert!(
        bridge.logs().contains("Cooldown"),
        "held back by the cooldown: {}",
        bridge.logs()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!((count(DF), count(PRUNE)), (2, 1), "{:?}", docker.requests());
    assert_eq!(in_chat(&fake.received(), ALERT_CHAT), 3, "no second notice");
}

#[test]
fn an_agent_that_never_answers_holds_the_alert_only_until_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _) = crate::actions::keygen(&dir.path().join("keys"));
    // Accepts connections and never says a word (no TLS handshake).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&accepted);
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            seen.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    let agents = dir.path().join("agents.txt");
    std::fs::write(
        &agents,
        format!(
            "web1 127.0.0.1:{} actions=127.0.0.1:{port} actions_sha256={}\n",
            free_port(),
            "ab".repeat(32)
        ),
    )
    .unwrap();
    let fake = FakeTelegram::start(TOKEN);
    // The actions time limit is far beyond the enrichment deadline.
    let bridge = start_bridge(
        &fake,
        &agents,
        &dir.path().join("keys/actions.key"),
        &dir.path().join("state.db"),
        &["--actions-timeout", "120s"],
    );
    let t0 = Instant::now();
    post_alert(&bridge, &one_alert("AgentHighCPU", "firing"));
    let m = nth_alert_message(&fake, 1, &bridge);
    let waited = m.at.duration_since(t0);
    assert!(m.visible.contains("AgentHighCPU summary"), "{}", m.visible);
    assert!(!m.visible.contains("top on web1"), "{}", m.visible);
    assert!(
        accepted.load(Ordering::SeqCst) >= 1,
        "the bridge asked the agent"
    );
    // It waited for the enrichment, and no longer than the deadline (with
    // room for a loaded machine, far below the 120 s actions limit).
    let deadline = outpost::bridge::enrich::DEADLINE;
    assert!(
        waited >= deadline && waited < deadline + Duration::from_secs(15),
        "{waited:?}"
    );
    assert!(
        bridge
            .logs()
            .contains("enrichment late; sending the alert without it"),
        "{}",
        bridge.logs()
    );
}

#[test]
fn ask_runs_a_change_only_with_yes_or_a_yes_on_its_terminal() {
    let agent = ActionsAgent::start();
    let mut victim = crate::actions::python_listener(agent.victim_port);
    let dir = tempfile::tempdir().unwrap();
    let agents = agent.web1_agents_txt(dir.path());
    let command = format!("/kill_port web1 {}", agent.victim_port);
    let args: Vec<String> = [
        "ask",
        "--agents",
        agents.to_str().unwrap(),
        "--actions-key",
        agent.key.to_str().unwrap(),
        "--state",
        dir.path().join("state.db").to_str().unwrap(),
        "--prometheus-url",
        "http://127.0.0.1:9",
        "--alertmanager-url",
        "http://127.0.0.1:9",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let will_run = format!(
        "This will run kill-port with port={} on this host:\n• web1 (127.0.0.1:{})",
        agent.victim_port, agent.actions_port
    );

    // stdin is not a terminal: shown, not run.
    let out = Command::new(outpost_bin())
        .args(&args)
        .arg(&command)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(&will_run), "{stderr}");
    assert!(
        stderr.contains("not confirmed: nothing was run"),
        "{stderr}"
    );
    assert!(alive(&mut victim));
    assert_eq!(agent.requests(), 0.0);

    // On a terminal (a pseudo-terminal from script(1)) answered "n".
    let script = crate::support::require("script", "bsdutils");
    let line = std::iter::once(outpost_bin().display().to_string())
        .chain(args.iter().cloned())
        .chain(command.split(' ').map(str::to_owned))
        .collect::<Vec<_>>()
        .join(" ");
    let mut tty = Command::new(script)
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tty.stdin.take().unwrap().write_all(b"n\n").unwrap();
    let out = tty.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{shown}");
    assert!(
        shown.contains("Confirm? [y/N]") && shown.contains("not confirmed: nothing was run"),
        "{shown}"
    );
    assert!(alive(&mut victim));
    assert_eq!(agent.requests(), 0.0);

    // --yes: confirmed in the same run.
    let out = Command::new(outpost_bin())
        .args(&args)
        .arg("--yes")
        .arg(&command)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("✅ kill-port on web1 (") && stdout.contains("\"signal\": \"TERM\""),
        "{stdout}"
    );
    assert!(
        wait_for(Duration::from_secs(10), || (!alive(&mut victim))
            .then_some(()))
        .is_some(),
        "the listener was stopped"
    );
    assert_eq!(agent.requests(), 1.0);
}
