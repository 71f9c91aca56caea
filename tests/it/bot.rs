//! The Telegram chat front end inside `outpost bridge`: the real binary,
//! long-polling the fake Telegram Bot API, answering from a real Prometheus
//! (1 s scrapes of a real `outpost exporter` labelled `agent="web1"`) and a
//! real Alertmanager. Covers replies, charts as `sendPhoto`, strangers,
//! injection, button presses (silence in Alertmanager, callback answered),
//! the buttons under firing alert messages (one row per alert in a grouped
//! message) and `--attach-charts` (the chart is the alert message).

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
pub(crate) fn message(fake: &FakeTelegram, user: i64, text: &str) {
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
pub(crate) fn ask(fake: &FakeTelegram, user: i64, text: &str) -> Received {
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
pub(crate) fn in_chat(received: &[Received], chat: i64) -> usize {
    received.iter().filter(|m| m.chat_id == chat).count()
}

/// Decodes a PNG: width and height (panics when it is not a PNG).
fn png_size(bytes: &[u8]) -> (u32, u32) {
    let reader = png::Decoder::new(bytes).read_info().expect("a PNG");
    let info = reader.info();
    (info.width, info.height)
}

pub(crate) fn buttons(m: &Received) -> Vec<String> {
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
    let pct = crate::support::percent_after(&cpu.visible, "web1: ");
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

    // Nothing but 200s from the fake: no malformed request anywhere.
    let bad: Vec<_> = fake.log().into_iter().filter(|(_, s)| *s != 200).collect();
    assert!(bad.is_empty(), "{bad:?}");
    // The token never reaches the logs.
    assert!(!bridge.logs().contains(TOKEN));
}

/// Presses a button (`data`) under `message_id` in `chat`, as `user`.
pub(crate) fn press(
    fake: &FakeTelegram,
    user: i64,
    chat: i64,
    message_id: i64,
    id: &str,
    data: &str,
) {
    fake.push_update(json!({
        "callback_query": {
            "id": id,
            "from": {"id": user, "is_bot": false, "first_name": "U", "username": format!("user{user}")},
            "message": {"message_id": message_id, "date": 1_795_000_000, "chat": {"id": chat, "type": "supergroup"}},
            "chat_instance": "x",
            "data": data,
        }
    }));
}

/// A webhook body with these alerts (each `(labels, annotations,
/// generatorURL, fingerprint)`), all with `status`.
fn webhook(status: &str, alerts: &[(Value, Value, &str, &str)]) -> Value {
    json!({
        "version": "4", "status": status, "receiver": "telegram",
        "groupKey": "{}:{alertname=\"test\"}",
        "alerts": alerts.iter().map(|(labels, annotations, gen, fp)| json!({
            "status": status,
            "labels": labels,
            "annotations": annotations,
            "startsAt": "2026-11-22T05:00:00Z",
            "endsAt": if status == "resolved" { "2026-11-22T05:09:00Z" } else { "0001-01-01T00:00:00Z" },
            "generatorURL": gen,
            "fingerprint": fp,
        })).collect::<Vec<_>>(),
    })
}

fn post_webhook(bridge: &Bridge, body: &Value) {
    let resp = reqwest::blocking::Client::new()
        .post(bridge.url("/alert"))
        .json(body)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

/// The rows of an inline keyboard: (label, callback data) of each button.
fn rows(m: &Received) -> Vec<Vec<(String, String)>> {
    m.reply_markup
        .as_ref()
        .and_then(|k| k["inline_keyboard"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|row| {
            row.as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|b| {
                    (
                        b["text"].as_str().unwrap_or("").to_owned(),
                        b["callback_data"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .collect()
}

/// Waits until Prometheus answers `expr` with at least one series.
fn wait_for_data(prometheus: &str, expr: &str) {
    let url =
        reqwest::Url::parse_with_params(&format!("{prometheus}/api/v1/query"), [("query", expr)])
            .unwrap();
    let ok = wait_for(Duration::from_secs(30), || {
        let (_, body) = http_get(url.as_str()).ok()?;
        let v: Value = serde_json::from_str(&body).ok()?;
        (!v["data"]["result"].as_array()?.is_empty()).then_some(())
    });
    assert!(ok.is_some(), "no data in Prometheus for {expr}");
}

/// `--attach-charts`: a firing CPU alert arrives as one photo (chart,
/// caption = the alert text, buttons); a long memory alert as a photo whose
/// caption is cut at 1024 visible characters and a text reply to it with
/// the rest; a resolution replies to the photo.
#[test]
fn attached_charts_are_the_alert_message() {
    let stack = start_stack();
    let fake = FakeTelegram::start(TOKEN);
    let state = stack.dir.join("state.db");
    let bridge = start_bridge(&fake, &stack, &state, &["--attach-charts"]);
    let cpu_expr = "100 - avg by(agent)(rate(node_cpu_seconds_total{mode=\"idle\"}[1m]))*100";
    wait_for_data(&stack.prometheus, cpu_expr);
    let gen = |expr: &str| {
        reqwest::Url::parse_with_params(
            &format!("{}/graph", stack.prometheus),
            [("g0.expr", expr), ("g0.tab", "1")],
        )
        .unwrap()
        .to_string()
    };
    let cpu_gen = gen(&format!("{cpu_expr} > 80"));
    let cpu = (
        json!({"alertname": "AgentHighCPU", "agent": "web1", "severity": "warning"}),
        json!({"summary": "CPU high on web1"}),
        cpu_gen.as_str(),
        "0123456789abcdef",
    );
    post_webhook(&bridge, &webhook("firing", std::slice::from_ref(&cpu)));
    assert!(
        fake.wait_until(Duration::from_secs(15), |r| r
            .iter()
            .any(|m| m.chat_id == ALERT_CHAT && m.method == "sendPhoto")),
        "no photo for the alert; {}",
        bridge.logs()
    );
    // A moment for anything that should not come (a separate text message).
    std::thread::sleep(Duration::from_millis(1500));
    let sent = fake.messages_in(ALERT_CHAT);
    assert_eq!(sent.len(), 1, "one message for the alert: {sent:#?}");
    let photo = &sent[0];
    assert_eq!(photo.method, "sendPhoto");
    assert_eq!(png_size(photo.photo.as_ref().unwrap()), (1000, 600));
    assert_eq!(photo.parse_mode.as_deref(), Some("HTML"));
    assert!(photo.visible.contains("AgentHighCPU"), "{}", photo.visible);
    assert!(
        photo.visible.contains("CPU high on web1"),
        "{}",
        photo.visible
    );
    assert!(photo.visible.encode_utf16().count() <= 1024);
    let data = buttons(photo);
    for want in [
        "s1:0123456789abcdef",
        "s24:0123456789abcdef",
        "c:0123456789abcdef",
    ] {
        assert!(data.contains(&want.to_string()), "{data:?}");
    }

    // A memory alert with a long description: caption cut between lines,
    // the rest replying to the photo; nothing lost.
    let mem_expr = "(1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes) * 100";
    let mem_gen = gen(&format!("{mem_expr} > 90"));
    let description: String = (1..=40)
        .map(|i| format!("Step {i}: look at <top> & the OOM log\n"))
        .collect();
    let mem = (
        json!({"alertname": "AgentHighMemory", "agent": "web1", "severity": "critical"}),
        json!({"summary": "Memory high on web1", "description": description, "runbook": "https://wiki.example/memory?a=1&b=2"}),
        mem_gen.as_str(),
        "fedcba9876543210",
    );
    post_webhook(&bridge, &webhook("firing", std::slice::from_ref(&mem)));
    assert!(
        fake.wait_until(Duration::from_secs(20), |r| r
            .iter()
            .filter(|m| m.chat_id == ALERT_CHAT)
            .count()
            >= 3),
        "no photo and rest for the memory alert; {}",
        bridge.logs()
    );
    let sent = fake.messages_in(ALERT_CHAT);
    let (mem_photo, rest) = (&sent[1], &sent[2]);
    assert_eq!(mem_photo.method, "sendPhoto");
    assert!(
        mem_photo.visible.contains("AgentHighMemory"),
        "{}",
        mem_photo.visible
    );
    let caption_len = mem_photo.visible.encode_utf16().count();
    assert!(caption_len <= 1024, "{caption_len}");
    assert!(
        buttons(mem_photo).contains(&"s1:fedcba9876543210".to_string()),
        "the buttons are under the photo"
    );
    assert_eq!(rest.method, "sendMessage");
    assert_eq!(
        rest.reply_to,
        Some(mem_photo.message_id),
        "the rest replies to the photo"
    );
    assert!(rest.reply_markup.is_none());
    assert!(
        rest.visible
            .contains("Step 40: look at <top> & the OOM log"),
        "{}",
        rest.visible
    );
    assert!(
        rest.visible
            .contains("runbook: https://wiki.example/memory?a=1&b=2"),
        "{}",
        rest.visible
    );
    // Caption and rest together are the whole alert text.
    let whole = format!("{}\n{}", mem_photo.visible, rest.visible);
    for i in 1..=40 {
        assert_eq!(whole.matches(&format!("Step {i}: ")).count(), 1, "step {i}");
    }
    assert!(whole.contains("Memory high on web1"));

    // "I'm on it" on the full caption: the caption is edited, cut to
    // Telegram's caption limit to keep the "taken by" line whole.
    press(
        &fake,
        42,
        ALERT_CHAT,
        mem_photo.message_id,
        "cb-take",
        "a:fedcba9876543210",
    );
    assert!(
        fake.wait_until(Duration::from_secs(15), |r| r
            .iter()
            .any(|m| m.method == "editMessageCaption")),
        "the caption was not edited; {}",
        bridge.logs()
    );
    let edited = fake
        .messages_in(ALERT_CHAT)
        .into_iter()
        .find(|m| m.method == "editMessageCaption")
        .unwrap();
    assert_eq!(edited.message_id, mem_photo.message_id);
    assert_eq!(edited.parse_mode.as_deref(), Some("HTML"));
    assert!(
        edited.visible.contains("\n🙋 Taken by @user42 at "),
        "{}",
        edited.visible
    );
    // The caption's start is kept as it was.
    let kept: String = mem_photo.visible.chars().take(200).collect();
    assert!(edited.visible.starts_with(&kept), "{}", edited.visible);
    assert!(edited.visible.encode_utf16().count() <= 1024);
    assert!(buttons(&edited).contains(&"s1:fedcba9876543210".to_string()));

    // The resolution replies to the photo (the firing message).
    post_webhook(&bridge, &webhook("resolved", std::slice::from_ref(&cpu)));
    assert!(
        fake.wait_until(Duration::from_secs(15), |r| r
            .iter()
            .any(|m| m.chat_id == ALERT_CHAT && m.visible.contains("RESOLVED"))),
        "no resolution; {}",
        bridge.logs()
    );
    let resolved = fake
        .messages_in(ALERT_CHAT)
        .into_iter()
        .find(|m| m.visible.contains("RESOLVED"))
        .unwrap();
    assert_eq!(resolved.method, "sendMessage");
    assert_eq!(resolved.reply_to, Some(photo.message_id));

    let bad: Vec<_> = fake.log().into_iter().filter(|(_, s)| *s != 200).collect();
    assert!(bad.is_empty(), "{bad:?}");
    assert!(!bridge.logs().contains(TOKEN));
}

/// `--attach-charts` with a Prometheus that refuses connections or never
/// answers: the alert goes promptly as text with its buttons, and the
/// missing chart is counted.
#[test]
fn an_alert_whose_chart_fails_goes_as_text() {
    let dir = tempfile::tempdir().unwrap();
    // Refuses connections: bound, then closed.
    let closed = free_port();
    // Accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    for (name, prometheus, reason) in [
        (
            "refused",
            format!("http://127.0.0.1:{closed}"),
            "prometheus",
        ),
        ("silent", silent_url, "timeout"),
    ] {
        let fake = FakeTelegram::start(TOKEN);
        let state = dir.path().join(format!("{name}.db"));
        let bridge = Bridge::start(
            &fake.url(),
            &state,
            free_port(),
            &[
                "--attach-charts",
                "--allowed-users",
                "42",
                "--prometheus-url",
                &prometheus,
                "--alertmanager-url",
                &format!("http://127.0.0.1:{closed}"),
                "--query-timeout",
                "1s",
            ],
        );
        let gen = format!("{prometheus}/graph?g0.expr=node_load1+%3E+4");
        let alert = (
            json!({"alertname": "AgentHighCPU", "agent": "web1"}),
            json!({"summary": "CPU high on web1"}),
            gen.as_str(),
            "00000000000000aa",
        );
        let t0 = std::time::Instant::now();
        post_webhook(&bridge, &webhook("firing", &[alert]));
        assert!(
            fake.wait_until(Duration::from_secs(10), |r| in_chat(r, ALERT_CHAT) > 0),
            "{name}: no alert; {}",
            bridge.logs()
        );
        let elapsed = t0.elapsed();
        // Refused: at once; silent: the 1 s query timeout, then at once.
        assert!(elapsed < Duration::from_secs(4), "{name}: took {elapsed:?}");
        std::thread::sleep(Duration::from_millis(500));
        let sent = fake.messages_in(ALERT_CHAT);
        assert_eq!(sent.len(), 1, "{name}: {sent:#?}");
        assert_eq!(sent[0].method, "sendMessage", "{name}");
        assert!(sent[0].visible.contains("AgentHighCPU"));
        assert!(buttons(&sent[0]).contains(&"s1:00000000000000aa".to_string()));
        let (_, metrics) = http_get(&bridge.url("/metrics")).unwrap();
        let counted: f64 = metrics
            .lines()
            .filter(|l| l.starts_with("outpost_bridge_chart_failures_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert_eq!(counted, 1.0, "{name}: {metrics}");
        assert!(
            bridge.logs().contains("no chart for the alert"),
            "{name}: the miss is logged"
        );
        // The reason names the failure (a silent Prometheus may also end
        // as the HTTP client's own timeout, which is a Prometheus error).
        if reason == "prometheus" {
            assert!(
                metrics.contains("outpost_bridge_chart_failures_total{reason=\"prometheus\"} 1"),
                "{metrics}"
            );
        }
    }
    drop(silent);
}

/// A grouped message (two firing alerts in one notification) numbers its
/// alerts and carries one row of buttons per alert; pressing row 2's
/// "silence 1h" silences alert 2 alone in the real Alertmanager, and the
/// undo button under the answer lifts that silence.
#[test]
fn grouped_message_buttons_act_on_their_own_alert() {
    let stack = start_stack();
    let fake = FakeTelegram::start(TOKEN);
    let state = stack.dir.join("state.db");
    let bridge = start_bridge(&fake, &stack, &state, &[]);
    let client = reqwest::blocking::Client::new();
    let labels =
        |agent: &str| json!({"alertname": "GroupedDown", "agent": agent, "severity": "critical"});
    let resp = client
        .post(format!("{}/api/v2/alerts", stack.alertmanager))
        .json(&json!([
            {"labels": labels("web1"), "annotations": {"summary": "web1 is down"}},
            {"labels": labels("web2"), "annotations": {"summary": "web2 is down"}},
        ]))
        .send()
        .unwrap();
    assert!(resp.status().is_success());
    // agent → (fingerprint, state) as Alertmanager sees them.
    let am_alerts = || -> Vec<(String, String, String)> {
        let Ok((_, body)) = http_get(&format!("{}/api/v2/alerts", stack.alertmanager)) else {
            return Vec::new();
        };
        let list: Value = serde_json::from_str(&body).unwrap_or(json!([]));
        list.as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter(|a| a["labels"]["alertname"] == "GroupedDown")
            .map(|a| {
                (
                    a["labels"]["agent"].as_str().unwrap_or("").to_owned(),
                    a["fingerprint"].as_str().unwrap_or("").to_owned(),
                    a["status"]["state"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    let known = wait_for(Duration::from_secs(10), || {
        let a = am_alerts();
        (a.len() == 2).then_some(a)
    })
    .expect("both alerts in Alertmanager");
    let fp = |agent: &str| known.iter().find(|a| a.0 == agent).unwrap().1.clone();
    let (fp1, fp2) = (fp("web1"), fp("web2"));
    let gen = format!("{}/graph?g0.expr=up+%3D%3D+0", stack.prometheus);
    post_webhook(
        &bridge,
        &webhook(
            "firing",
            &[
                (
                    labels("web1"),
                    json!({"summary": "web1 is down"}),
                    gen.as_str(),
                    fp1.as_str(),
                ),
                (
                    labels("web2"),
                    json!({"summary": "web2 is down"}),
                    gen.as_str(),
                    fp2.as_str(),
                ),
            ],
        ),
    );
    assert!(
        fake.wait_until(Duration::from_secs(15), |r| in_chat(r, ALERT_CHAT) > 0),
        "no alert message; {}",
        bridge.logs()
    );
    std::thread::sleep(Duration::from_millis(500));
    let sent = fake.messages_in(ALERT_CHAT);
    assert_eq!(sent.len(), 1, "one grouped message: {sent:#?}");
    let msg = &sent[0];
    assert!(msg.visible.contains("FIRING (2)"), "{}", msg.visible);
    // Numbered in the text, in the order of the rows.
    let one = msg
        .visible
        .find("1. 🔴 GroupedDown")
        .expect("alert 1 numbered");
    let two = msg
        .visible
        .find("2. 🔴 GroupedDown")
        .expect("alert 2 numbered");
    assert!(one < two);
    assert!(
        msg.visible[one..two].contains("web1 is down"),
        "{}",
        msg.visible
    );
    assert!(
        msg.visible[two..].contains("web2 is down"),
        "{}",
        msg.visible
    );
    let keyboard = rows(msg);
    assert_eq!(keyboard.len(), 2, "{keyboard:?}");
    for (i, (row, fp)) in keyboard.iter().zip([&fp1, &fp2]).enumerate() {
        let n = i + 1;
        let labels: Vec<&str> = row.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            labels,
            vec![
                format!("{n}. 🔕 1h"),
                format!("{n}. 🔕 24h"),
                format!("{n}. 📈 chart"),
                format!("{n}. 🙋 I'm on it")
            ]
        );
        let data: Vec<&str> = row.iter().map(|(_, d)| d.as_str()).collect();
        assert_eq!(
            data,
            vec![
                format!("s1:{fp}"),
                format!("s24:{fp}"),
                format!("c:{fp}"),
                format!("a:{fp}")
            ]
        );
        assert!(data.iter().all(|d| d.len() <= 64));
    }

    // Row 2, "silence 1h".
    press(
        &fake,
        ALICE,
        ALERT_CHAT,
        msg.message_id,
        "cb-row2",
        &keyboard[1][0].1,
    );
    assert!(
        fake.wait_until(Duration::from_secs(10), |r| in_chat(r, ALERT_CHAT) > 1),
        "no answer to the press; {}",
        bridge.logs()
    );
    let answer = fake.messages_in(ALERT_CHAT)[1].clone();
    assert!(answer.visible.contains("Silenced"), "{}", answer.visible);
    assert_eq!(answer.reply_to, Some(msg.message_id));
    let states = wait_for(Duration::from_secs(10), || {
        let a = am_alerts();
        a.iter()
            .any(|(agent, _, s)| agent == "web2" && s == "suppressed")
            .then_some(a)
    })
    .unwrap_or_else(|| panic!("alert 2 not silenced: {:?}", am_alerts()));
    let state = |agent: &str| states.iter().find(|a| a.0 == agent).unwrap().2.clone();
    assert_eq!(state("web1"), "active", "alert 1 untouched");
    assert_eq!(state("web2"), "suppressed");
    let (_, body) = http_get(&format!("{}/api/v2/silences", stack.alertmanager)).unwrap();
    let silences: Value = serde_json::from_str(&body).unwrap();
    let active: Vec<&Value> = silences
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"]["state"] == "active")
        .collect();
    assert_eq!(active.len(), 1, "{body}");
    assert!(
        active[0]["matchers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "agent" && m["value"] == "web2" && m["isEqual"] != false),
        "{body}"
    );

    // Undo restores alert 2.
    let undo = rows(&answer)
        .into_iter()
        .flatten()
        .find(|(_, d)| d.starts_with("u:"))
        .expect("an undo button");
    press(
        &fake,
        ALICE,
        ALERT_CHAT,
        answer.message_id,
        "cb-undo",
        &undo.1,
    );
    let restored = wait_for(Duration::from_secs(10), || {
        let a = am_alerts();
        (a.len() == 2 && a.iter().all(|(_, _, s)| s == "active")).then_some(())
    });
    assert!(
        restored.is_some(),
        "undo did not lift the silence: {:?}; {}",
        am_alerts(),
        bridge.logs()
    );

    let bad: Vec<_> = fake.log().into_iter().filter(|(_, s)| *s != 200).collect();
    assert!(bad.is_empty(), "{bad:?}");
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

/// Issue 11, item 6: strangers cannot grow the audit log. Each stranger
/// still gets one refusal naming their id; every refused message is
/// counted in `outpost_bridge_chat_refused_total`; the log holds at most
/// `--audit-max-rows` entries.
#[test]
fn strangers_are_counted_and_the_audit_log_stays_bounded() {
    let fake = FakeTelegram::start(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.db");
    let bridge = Bridge::start(
        &fake.url(),
        &state,
        free_port(),
        &["--allowed-users", "42", "--audit-max-rows", "20"],
    );
    let strangers: Vec<i64> = (0..60).map(|i| 5000 + i).collect();
    for user in &strangers {
        message(&fake, *user, "/status");
    }
    for _ in 0..140 {
        message(&fake, STRANGER, "/mon_cpu web1");
    }
    let counted = wait_for(Duration::from_secs(30), || {
        (bridge.metric("outpost_bridge_chat_refused_total") == 200.0).then_some(())
    });
    assert!(counted.is_some(), "{}\n{}", bridge.metrics(), bridge.logs());
    // One refusal per stranger, naming them.
    assert!(
        fake.wait_until(Duration::from_secs(20), |r| r.len() >= 61),
        "{} replies",
        fake.received().len()
    );
    std::thread::sleep(Duration::from_millis(500));
    let replies = fake.received();
    assert_eq!(replies.len(), 61);
    for user in strangers.iter().chain([&STRANGER]) {
        let to: Vec<_> = replies.iter().filter(|m| m.chat_id == *user).collect();
        assert_eq!(to.len(), 1, "user {user}");
        assert!(
            to[0].raw.contains(&format!("<code>{user}</code>")),
            "{}",
            to[0].raw
        );
    }
    let rows: i64 = rusqlite::Connection::open(&state)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM chat_audit", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 20, "bounded by --audit-max-rows");
}
