//! The Telegram chat front end inside `outpost bridge`: the real binary,
//! long-polling the fake Telegram Bot API, answering from a real Prometheus
//! (1 s scrapes of a real `outpost exporter` labelled `agent="web1"`) and a
//! real Alertmanager. Covers replies, charts as `sendPhoto`, strangers,
//! injection, button presses (silence in Alertmanager, callback answered),
//! the buttons under firing alert messages and `--attach-charts`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::bridge::{Bridge, TOKEN};
use crate::fake_telegram::{FakeTelegram, Received};
use crate::support::{free_port, http_get, outpost_bin, wait_for, wait_for_port, Proc};

const ALICE: i64 = 42;
const STRANGER: i64 = 777;
/// Where the bridge sends alerts (`--chat-id` in `Bridge::start`).
const ALERT_CHAT: i64 = 1001;

struct Stack {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    prometheus: String,
    alertmanager: String,
    agents: PathBuf,
    _procs: Vec<Proc>,
}

fn start_stack() -> Stack {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let (eport, pport, aport) = (free_port(), free_port(), free_port());
    let exporter = Proc(
        Command::new(outpost_bin())
            .args([
                "exporter",
                "--web.listen-address",
                &format!("127.0.0.1:{eport}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: outpost\n    static_configs:\n      - targets: ['127.0.0.1:{eport}']\n        labels:\n          agent: web1\n"
        ),
    )
    .unwrap();
    let prometheus = crate::support::start_prometheus(&dir, pport);
    let alertmanager = crate::support::start_alertmanager(&dir, aport);
    let agents = dir.join("agents.txt");
    std::fs::write(&agents, format!("web1 127.0.0.1:{eport}\n")).unwrap();
    for port in [eport, pport, aport] {
        assert!(wait_for_port(port, Duration::from_secs(20)), "port {port}");
    }
    Stack {
        _dir: tmp,
        dir,
        prometheus: format!("http://127.0.0.1:{pport}"),
        alertmanager: format!("http://127.0.0.1:{aport}"),
        agents,
        _procs: vec![exporter, prometheus, alertmanager],
    }
}

fn start_bridge(fake: &FakeTelegram, stack: &Stack, state: &Path, extra: &[&str]) -> Bridge {
    let mut args = vec![
        "--allowed-users",
        "42",
        "--prometheus-url",
        &stack.prometheus,
        "--alertmanager-url",
        &stack.alertmanager,
        "--agents",
        stack.agents.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    Bridge::start(&fake.url(), state, free_port(), &args)
}

/// A text message from `user` in their private chat (chat id = user id).
fn message(fake: &FakeTelegram, user: i64, text: &str) {
    fake.push_update(json!({
        "message": {
            "message_id": 10_000 + fake.received().len() as i64,
            "date": 1_795_000_000,
            "chat": {"id": user, "type": "private"},
            "from": {"id": user, "is_bot": false, "first_name": "U", "username": format!("user{user}")},
            "text": text,
        }
    }));
}

/// Sends `text` as `user` and waits for the next message in their chat.
fn ask(fake: &FakeTelegram, user: i64, text: &str) -> Received {
    let before = fake.messages_in(user).len();
    message(fake, user, text);
    assert!(
        fake.wait_until(Duration::from_secs(15), |r| in_chat(r, user) > before),
        "no answer to {text:?}"
    );
    fake.messages_in(user)[before].clone()
}

/// How many messages went to `chat` (for `wait_until`, which holds the
/// fake's lock: calling back into the fake there would deadlock).
fn in_chat(received: &[Received], chat: i64) -> usize {
    received.iter().filter(|m| m.chat_id == chat).count()
}

/// Decodes a PNG: width and height (panics when it is not a PNG).
fn png_size(bytes: &[u8]) -> (u32, u32) {
    let reader = png::Decoder::new(bytes).read_info().expect("a PNG");
    let info = reader.info();
    (info.width, info.height)
}

fn buttons(m: &Received) -> Vec<String> {
    m.reply_markup
        .as_ref()
        .and_then(|k| k["inline_keyboard"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["callback_data"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn chat_commands_through_telegram() {
    let stack = start_stack();
    let fake = FakeTelegram::start(TOKEN);
    let state = stack.dir.join("state.db");
    let bridge = start_bridge(&fake, &stack, &state, &["--attach-charts"]);

    // The command menu is published at start.
    let menu = wait_for(Duration::from_secs(10), || {
        fake.calls("setMyCommands").into_iter().next()
    })
    .unwrap_or_else(|| panic!("no setMyCommands; {}", bridge.logs()));
    let commands = menu["commands"].as_array().unwrap();
    assert!(commands.iter().any(|c| c["command"] == "mon_cpu_picture"));

    // An allowed user's /mon_cpu gets a percentage (once rate() has data).
    let cpu = wait_for(Duration::from_secs(30), || {
        let m = ask(&fake, ALICE, "/mon_cpu web1");
        m.visible.contains("web1: ").then_some(m)
    })
    .unwrap_or_else(|| panic!("no CPU value; {}", bridge.logs()));
    let pct: f64 = cpu
        .visible
        .split("web1: ")
        .nth(1)
        .unwrap()
        .split('%')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((0.0..=100.0).contains(&pct), "{}", cpu.visible);
    assert_eq!(cpu.parse_mode.as_deref(), Some("HTML"));
    assert!(cpu.reply_to.is_some(), "answers the command message");

    // A chart arrives as a photo: a real PNG, caption naming the agent.
    let photo = wait_for(Duration::from_secs(15), || {
        let m = ask(&fake, ALICE, "/mon_cpu_picture web1");
        (m.method == "sendPhoto").then_some(m)
    })
    .expect("a sendPhoto");
    let png = photo.photo.as_ref().expect("the photo file");
    assert_eq!(png_size(png), (1000, 600));
    assert!(png.len() > 5_000, "{} bytes", png.len());
    assert!(photo.visible.contains("web1"), "{}", photo.visible);
    assert!(photo.visible.chars().count() <= 1024);

    // Injection is refused with the known agents.
    let m = ask(&fake, ALICE, r#"/mon_cpu web1"}"#);
    assert!(m.visible.starts_with("Unknown agent"), "{}", m.visible);
    assert!(m.visible.contains("web1"), "{}", m.visible);

    // A stranger: one refusal with their id, then nothing.
    let refusal = ask(&fake, STRANGER, "/mon_cpu web1");
    assert!(refusal.visible.contains("777"), "{}", refusal.visible);
    message(&fake, STRANGER, "/help");
    message(&fake, STRANGER, "/silence web1 1h");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(fake.messages_in(STRANGER).len(), 1);

    // A firing alert in Alertmanager; its silence button, pressed in chat.
    let client = reqwest::blocking::Client::new();
    let resp = client
        .post(format!("{}/api/v2/alerts", stack.alertmanager))
        .json(&json!([{
            "labels": {"alertname": "TestDown", "agent": "web1", "severity": "critical"},
            "annotations": {"summary": "web1 is down"},
            "generatorURL": format!("{}/graph?g0.expr=up", stack.prometheus),
        }]))
        .send()
        .unwrap();
    assert!(resp.status().is_success());
    let fp = wait_for(Duration::from_secs(10), || {
        let (_, body) = http_get(&format!("{}/api/v2/alerts", stack.alertmanager)).ok()?;
        let list: Value = serde_json::from_str(&body).ok()?;
        list[0]["fingerprint"].as_str().map(str::to_owned)
    })
    .expect("the alert in Alertmanager");
    let press = |user: i64, id: &str, data: &str| {
        fake.push_update(json!({
            "callback_query": {
                "id": id,
                "from": {"id": user, "is_bot": false, "first_name": "U", "username": format!("user{user}")},
                "message": {"message_id": cpu.message_id, "date": 1_795_000_000, "chat": {"id": user, "type": "private"}},
                "chat_instance": "x",
                "data": data,
            }
        }));
    };
    let before = fake.messages_in(ALICE).len();
    press(ALICE, "cb-alice", &format!("s1:{fp}"));
    let answered = wait_for(Duration::from_secs(10), || {
        fake.calls("answerCallbackQuery")
            .into_iter()
            .find(|c| c["callback_query_id"] == "cb-alice")
    });
    assert!(
        answered.is_some(),
        "the press is answered; {}",
        bridge.logs()
    );
    assert!(fake.wait_until(Duration::from_secs(10), |r| in_chat(r, ALICE) > before));
    let silenced = fake.messages_in(ALICE)[before].clone();
    assert!(
        silenced.visible.contains("Silenced"),
        "{}",
        silenced.visible
    );
    let (_, body) = http_get(&format!("{}/api/v2/silences", stack.alertmanager)).unwrap();
    let silences: Value = serde_json::from_str(&body).unwrap();
    let ours = silences
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["status"]["state"] == "active"
                && s["matchers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["name"] == "alertname" && m["value"] == "TestDown")
        })
        .unwrap_or_else(|| panic!("no silence for TestDown: {body}"));
    assert!(ours["createdBy"].as_str().unwrap().contains("42"), "{ours}");
    let ends = ours["endsAt"].as_str().unwrap();
    let starts = ours["startsAt"].as_str().unwrap();
    assert_ne!(ends, starts);

    // A stranger's press is answered too (no spinner), and does nothing.
    press(STRANGER, "cb-stranger", &format!("s24:{fp}"));
    assert!(wait_for(Duration::from_secs(10), || fake
        .calls("answerCallbackQuery")
        .into_iter()
        .find(|c| c["callback_query_id"] == "cb-stranger"))
    .is_some());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(fake.messages_in(STRANGER).len(), 1);

    // Alerts from the webhook: one firing alert carries its buttons; a CPU
    // alert gets its chart as a photo replying to it (--attach-charts).
    let gen = format!(
        "{}/graph?g0.expr=100+-+avg+by(agent)(rate(node_cpu_seconds_total%7Bmode%3D%22idle%22%7D%5B1m%5D))*100+%3E+80&g0.tab=1",
        stack.prometheus
    );
    let webhook = json!({
        "version": "4", "status": "firing", "receiver": "telegram",
        "groupKey": "{}:{alertname=\"AgentHighCPU\"}",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "AgentHighCPU", "agent": "web1", "severity": "warning"},
            "annotations": {"summary": "CPU high on web1"},
            "startsAt": "2026-11-22T05:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": gen,
            "fingerprint": "0123456789abcdef",
        }],
    });
    let resp = client
        .post(bridge.url("/alert"))
        .json(&webhook)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        fake.wait_until(Duration::from_secs(15), |r| r
            .iter()
            .any(|m| m.chat_id == ALERT_CHAT && m.method == "sendPhoto")),
        "no chart under the alert; {}",
        bridge.logs()
    );
    let alert_chat = fake.messages_in(ALERT_CHAT);
    let alert = alert_chat
        .iter()
        .find(|m| m.method == "sendMessage" && m.visible.contains("AgentHighCPU"))
        .expect("the alert message");
    let data = buttons(alert);
    assert!(
        data.contains(&"s1:0123456789abcdef".to_string()),
        "{data:?}"
    );
    assert!(
        data.contains(&"s24:0123456789abcdef".to_string()),
        "{data:?}"
    );
    let chart = alert_chat.iter().find(|m| m.method == "sendPhoto").unwrap();
    assert_eq!(chart.reply_to, Some(alert.message_id));
    assert_eq!(png_size(chart.photo.as_ref().unwrap()), (1000, 600));
    assert!(chart.visible.contains("AgentHighCPU"), "{}", chart.visible);

    // Nothing but 200s from the fake: no malformed request anywhere.
    let bad: Vec<_> = fake.log().into_iter().filter(|(_, s)| *s != 200).collect();
    assert!(bad.is_empty(), "{bad:?}");
    // The token never reaches the logs.
    assert!(!bridge.logs().contains(TOKEN));
}

/// Benchmark (issue 6): `/mon_cpu_picture web1` round trip through the
/// Telegram front end, from the update entering the fake's `getUpdates` to
/// the fake accepting the `sendPhoto`. Each request comes from its own
/// chat, so per-chat pacing does not queue them. Run by `bench/bot.sh`:
/// `cargo test --test it bot::picture_round_trip -- --ignored --nocapture`.
#[test]
#[ignore = "benchmark; run by bench/bot.sh"]
fn picture_round_trip() {
    let n: usize = std::env::var("OUTPOST_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let stack = start_stack();
    let fake = FakeTelegram::start_with(TOKEN, Duration::from_millis(1));
    let users: Vec<String> = (0..=n as i64).map(|i| (5000 + i).to_string()).collect();
    let allowed = users.join(",");
    let state = stack.dir.join("state.db");
    let prom = stack.prometheus.clone();
    let am = stack.alertmanager.clone();
    let _bridge = Bridge::start(
        &fake.url(),
        &state,
        free_port(),
        &[
            "--allowed-users",
            &allowed,
            "--prometheus-url",
            &prom,
            "--alertmanager-url",
            &am,
            "--agents",
            stack.agents.to_str().unwrap(),
            "--global-per-second",
            "1000",
        ],
    );
    // Warm up until range queries have data (a photo, not a text answer).
    wait_for(Duration::from_secs(30), || {
        let m = ask(&fake, 5000, "/mon_cpu_picture web1");
        (m.method == "sendPhoto").then_some(())
    })
    .expect("a chart");
    let mut times = Vec::with_capacity(n);
    for i in 1..=n as i64 {
        let user = 5000 + i;
        let t0 = std::time::Instant::now();
        message(&fake, user, "/mon_cpu_picture web1");
        assert!(fake.wait_until(Duration::from_secs(10), |r| in_chat(r, user) > 0));
        let m = fake.messages_in(user)[0].clone();
        assert_eq!(m.method, "sendPhoto");
        times.push(m.at.duration_since(t0));
    }
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1];
    println!(
        "bot round trip /mon_cpu_picture web1: n={n} p50={:.2?} p90={:.2?} p99={:.2?} max={:.2?}",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        times[times.len() - 1]
    );
}
