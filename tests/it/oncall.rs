//! The on-call desk inside the real `outpost bridge` with the fake
//! Telegram: the "I'm on it" button (a viewer is refused, an operator takes
//! the alert: the message's text is edited to say who took it and when,
//! its button relabelled, a second taker is told who has it, and the alert
//! never escalates; a message too old to edit is acknowledged all the same), the escalation of an unacknowledged critical alert after a
//! short configured delay even across a restart of the bridge (again with
//! the on-call user mentioned, then in the escalation chat), `/ack`,
//! `/oncall`, and the resolution saying who handled it; a pair of bridges
//! on one PostgreSQL escalates once, from the leader.
//!
//! Alerts come as Alertmanager webhooks posted to the bridge (the payload
//! the real Alertmanager sends; its routing is covered in `alerting.rs`).

use std::time::Duration;

use serde_json::{json, Value};

use crate::bridge::{Bridge, TOKEN};
use crate::fake_telegram::{FakeTelegram, Received};
use crate::ha::leads;
use crate::support::{free_port, wait_for, Postgres};

const OPERATOR: i64 = 42;
const VIEWER: i64 = 44;
const ALERT_CHAT: i64 = 1001;
const ESCALATION_CHAT: i64 = 2002;
/// The bridge's zone: half an hour off any whole-hour zone.
const ZONE: &str = "Asia/Kolkata";

fn alert(status: &str, name: &str, fp: &str) -> Value {
    json!({
        "status": status,
        "labels": {"alertname": name, "severity": "critical", "agent": "web1"},
        "annotations": {"summary": format!("{name} on web1")},
        "startsAt": "2026-11-22T05:00:00Z",
        "endsAt": if status == "resolved" { "2026-11-22T05:09:00Z" } else { "0001-01-01T00:00:00Z" },
        "generatorURL": "",
        "fingerprint": fp,
    })
}

fn post(bridge: &Bridge, status: &str, alerts: Vec<Value>) {
    let body = json!({
        "version": "4", "status": status, "receiver": "telegram",
        "groupKey": format!("{{}}:{{alertname=\"{}\"}}", alerts[0]["labels"]["alertname"]),
        "alerts": alerts,
    });
    let resp = reqwest::blocking::Client::new()
        .post(bridge.url("/alert"))
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

fn press(fake: &FakeTelegram, user: i64, message_id: i64, id: &str, data: &str) {
    fake.push_update(json!({
        "callback_query": {
            "id": id,
            "from": {"id": user, "is_bot": false, "first_name": "U", "username": format!("user{user}")},
            "message": {"message_id": message_id, "date": 1_795_000_000, "chat": {"id": ALERT_CHAT, "type": "supergroup"}},
            "chat_instance": "x",
            "data": data,
        }
    }));
}

fn say(fake: &FakeTelegram, user: i64, text: &str) {
    fake.push_update(json!({
        "message": {
            "message_id": 50_000 + fake.received().len() as i64,
            "date": 1_795_000_000,
            "chat": {"id": ALERT_CHAT, "type": "supergroup"},
            "from": {"id": user, "is_bot": false, "first_name": "U", "username": format!("user{user}")},
            "text": text,
        }
    }));
}

fn callback_data(m: &Received) -> Vec<String> {
    m.reply_markup
        .as_ref()
        .and_then(|k| k["inline_keyboard"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["callback_data"].as_str().map(str::to_owned))
        .collect()
}

/// The accepted edits of message `id` in the alert chat.
fn edits_of(fake: &FakeTelegram, id: i64) -> Vec<Received> {
    fake.messages_in(ALERT_CHAT)
        .into_iter()
        .filter(|m| m.message_id == id && m.method.starts_with("editMessage"))
        .collect()
}

/// Waits for a message in `chat` whose text contains `needle`.
fn wait_text(fake: &FakeTelegram, chat: i64, needle: &str, secs: u64) -> Received {
    wait_for(Duration::from_secs(secs), || {
        fake.messages_in(chat)
            .into_iter()
            .find(|m| m.raw.contains(needle))
    })
    .unwrap_or_else(|| {
        let texts: Vec<String> = fake.messages_in(chat).into_iter().map(|m| m.raw).collect();
        panic!("no message with {needle:?} in chat {chat} within {secs} s: {texts:#?}")
    })
}

#[test]
fn ack_stops_escalation_and_an_unacknowledged_critical_escalates_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let oncall = dir.path().join("oncall.yml");
    std::fs::write(
        &oncall,
        format!(
            "people:\n  - {{name: alice, id: {OPERATOR}}}\n  - {{name: bob, id: 43}}\n\
             rotation:\n  starts: 2020-01-06\n  weeks: [[bob]]\n\
             escalation:\n  after: 6s\n  chat: {ESCALATION_CHAT}\n"
        ),
    )
    .unwrap();
    let state = dir.path().join("state.db");
    let fake = FakeTelegram::start(TOKEN);
    let flags = [
        "--allowed-users",
        "42,45",
        "--viewers",
        "44",
        "--oncall",
        oncall.to_str().unwrap(),
        "--timezone",
        ZONE,
        // Nothing here needs them: port 9 answers nothing.
        "--prometheus-url",
        "http://127.0.0.1:9",
        "--alertmanager-url",
        "http://127.0.0.1:9",
    ];
    let bridge = Bridge::start(&fake.url(), &state, free_port(), &flags);

    post(&bridge, "firing", vec![alert("firing", "DiskFull", "aa01")]);
    let taken = wait_text(&fake, ALERT_CHAT, "DiskFull", 15);
    assert!(
        callback_data(&taken).contains(&"a:aa01".to_string()),
        "{:?}",
        taken.reply_markup
    );
    post(&bridge, "firing", vec![alert("firing", "NodeDown", "bb02")]);
    let ignored = wait_text(&fake, ALERT_CHAT, "NodeDown", 15);
    assert!(callback_data(&ignored).contains(&"a:bb02".to_string()));

    // A viewer may not take it: refused, nothing edited.
    press(&fake, VIEWER, taken.message_id, "cb-viewer", "a:aa01");
    wait_text(&fake, ALERT_CHAT, "needs the operator role", 15);
    assert!(edits_of(&fake, taken.message_id).is_empty());

    // The operator takes it: the message itself says who took it and when
    // (in the bridge's zone), HTML and buttons kept, the button relabelled.
    let before = jiff::Timestamp::now();
    press(&fake, OPERATOR, taken.message_id, "cb-op", "a:aa01");
    wait_text(
        &fake,
        ALERT_CHAT,
        "🙋 @user42 is on it: <b>DiskFull</b>",
        15,
    );
    let after = jiff::Timestamp::now();
    let edits = edits_of(&fake, taken.message_id);
    assert_eq!(edits.len(), 1, "{edits:?}");
    let edited = &edits[0];
    assert_eq!(edited.method, "editMessageText");
    assert_eq!(edited.parse_mode.as_deref(), Some("HTML"));
    assert!(
        edited.raw.starts_with(&taken.raw),
        "the alert's text is kept: {}",
        edited.raw
    );
    let kolkata = jiff::tz::TimeZone::get(ZONE).unwrap();
    let lines: Vec<String> = [before, after]
        .iter()
        .map(|t| {
            let hhmm = t.to_zoned(kolkata.clone()).strftime("%H:%M").to_string();
            format!("\n🙋 Taken by @user42 at {hhmm}")
        })
        .collect();
    assert!(
        lines.iter().any(|l| edited.raw.ends_with(l.as_str())),
        "{:?} does not end with one of {lines:?}",
        edited.raw
    );
    let labels = edited.reply_markup.as_ref().unwrap().to_string();
    assert!(labels.contains("🙋 @user42 is on it ("), "{labels}");
    assert!(labels.contains("a:aa01"), "still pressable: {labels}");
    assert!(labels.contains("🔕"), "the other buttons stay: {labels}");
    // A second person pressing sees who has it; nothing is edited again.
    press(&fake, 45, taken.message_id, "cb-other", "a:aa01");
    wait_text(&fake, ALERT_CHAT, "already taken by @user42", 15);
    assert_eq!(edits_of(&fake, taken.message_id).len(), 1);

    // Restart before the delay is up: the state is in the store.
    drop(bridge);
    let bridge = Bridge::start(&fake.url(), &state, free_port(), &flags);

    // NodeDown escalates: again in its chat mentioning bob (on call)…
    let again = wait_text(
        &fake,
        ALERT_CHAT,
        "Still unacknowledged: <b>NodeDown</b>",
        20,
    );
    assert!(
        again.raw.contains("<a href=\"tg://user?id=43\">bob</a>"),
        "{}",
        again.raw
    );
    // …then in the escalation chat.
    let escalated = wait_text(&fake, ESCALATION_CHAT, "Escalated: <b>NodeDown</b>", 20);
    assert!(escalated.raw.contains("tg://user?id=43"));
    // DiskFull, taken, never escalated, in either chat.
    for chat in [ALERT_CHAT, ESCALATION_CHAT] {
        assert!(
            !fake
                .messages_in(chat)
                .iter()
                .any(|m| m.raw.contains("<b>DiskFull</b> on")),
            "a taken alert escalated"
        );
    }

    // /ack without buttons, on a message too old to edit: the edit is
    // refused and counted, the acknowledgement holds.
    fake.make_uneditable(ALERT_CHAT, ignored.message_id);
    let refused = "outpost_bridge_send_failures_total{reason=\"bad_request\"}";
    let refused_before = bridge.metric(refused);
    say(&fake, OPERATOR, "/ack NodeDown");
    wait_text(
        &fake,
        ALERT_CHAT,
        "🙋 @user42 is on it: <b>NodeDown</b>",
        15,
    );
    assert!(edits_of(&fake, ignored.message_id).is_empty());
    assert_eq!(bridge.metric(refused), refused_before + 1.0);
    say(&fake, 45, "/ack NodeDown");
    wait_text(
        &fake,
        ALERT_CHAT,
        "<b>NodeDown</b> is already taken by @user42",
        15,
    );
    // /oncall, and the resolution naming the handler.
    say(&fake, VIEWER, "/oncall");
    let who = wait_text(&fake, ALERT_CHAT, "On call this week", 15);
    assert!(who.raw.contains("<b>bob</b>"), "{}", who.raw);
    say(&fake, OPERATOR, "/ack No-Such");
    wait_text(&fake, ALERT_CHAT, "An alert name is letters", 15);
    post(
        &bridge,
        "resolved",
        vec![alert("resolved", "DiskFull", "aa01")],
    );
    let resolved = wait_text(&fake, ALERT_CHAT, "DiskFull handled by @user42", 15);
    assert!(resolved.raw.contains("fired "), "{}", resolved.raw);
}

/// A pair of bridges on one real PostgreSQL (Debian's `postgresql`):
/// escalation runs only on the leader's term, so the pair escalates each
/// alert once. To see it, only the follower has an escalation delay (the
/// leader's `--oncall` has none): while it follows, nothing escalates
/// although its alert is overdue; once the leader is gone it leads and
/// escalates, once.
#[test]
fn a_pair_of_bridges_escalates_only_from_the_leaders_term() {
    let pg = Postgres::start();
    let fake = FakeTelegram::start(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let people = "people:\n  - {name: bob, id: 43}\n\
                  rotation:\n  starts: 2020-01-06\n  weeks: [[bob]]\n";
    let quiet = dir.path().join("quiet.yml");
    std::fs::write(&quiet, people).unwrap();
    let escalating = dir.path().join("escalating.yml");
    std::fs::write(&escalating, format!("{people}escalation:\n  after: 1s\n")).unwrap();
    let launch = |name: &str, oncall: &std::path::Path| {
        Bridge::launch(
            &fake.url(),
            &pg.url(),
            dir.path().join(format!("{name}.log")),
            free_port(),
            &["--lease-ttl", "2s", "--oncall", oncall.to_str().unwrap()],
            TOKEN,
        )
    };
    let a = launch("a", &quiet);
    assert!(
        wait_for(Duration::from_secs(20), || leads(&a).then_some(())).is_some(),
        "the first bridge never led; log:\n{}",
        a.logs()
    );
    let b = launch("b", &escalating);
    std::thread::sleep(Duration::from_millis(500));
    assert!(!leads(&b), "two leaders");

    post(&b, "firing", vec![alert("firing", "NodeDown", "cc03")]);
    wait_text(&fake, ALERT_CHAT, "NodeDown", 15);
    // Overdue for the follower's delay several times over.
    std::thread::sleep(Duration::from_secs(4));
    let repeats = || {
        fake.messages_in(ALERT_CHAT)
            .iter()
            .filter(|m| m.raw.contains("Still unacknowledged: <b>NodeDown</b>"))
            .count()
    };
    assert_eq!(
        repeats(),
        0,
        "the follower escalated; its log:\n{}",
        b.logs()
    );

    drop(a);
    assert!(
        wait_for(Duration::from_secs(20), || leads(&b).then_some(())).is_some(),
        "the follower never took over; log:\n{}",
        b.logs()
    );
    wait_text(
        &fake,
        ALERT_CHAT,
        "Still unacknowledged: <b>NodeDown</b>",
        20,
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(repeats(), 1, "escalated once");
}
