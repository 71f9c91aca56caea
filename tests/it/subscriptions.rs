//! Who gets what, inside the real `outpost bridge` with the fake Telegram:
//! a chat that `/subscribe`s to an agent gets its alerts wherever the real
//! Alertmanager routes them, and stops after `/unsubscribe`; a chat
//! subscribed to `all` that a route also names gets each alert once; a
//! viewer and a stranger are refused (and audited); unknown agents change
//! nothing; a chat upgraded to a supergroup keeps its subscriptions; a
//! copy acknowledged to Alertmanager survives `kill -9`.
//! Then whom a message mentions: the people on call, less whoever muted
//! the agent (in escalations too) or is in quiet hours, the message
//! going without a sound when that leaves nobody.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::bridge::{Bridge, TOKEN};
use crate::fake_telegram::{FakeTelegram, Faults, Received};
use crate::support::{alertmanager_with, free_port, outpost_bin, wait_for, wait_for_port};

const ADMIN: i64 = 42;
const OPERATOR: i64 = 43;
const VIEWER: i64 = 44;
const STRANGER: i64 = 99;
/// `--chat-id` of [`Bridge::launch`]: where `/alert` goes.
const CHAT_A: i64 = 1001;
const CHAT_B: i64 = -2002;
/// B after its upgrade to a supergroup.
const CHAT_B2: i64 = -1_002_002;
const CHAT_C: i64 = -3003;

fn say(fake: &FakeTelegram, chat: i64, user: i64, text: &str) {
    fake.push_update(json!({
        "message": {
            "message_id": 60_000 + fake.received().len() as i64,
            "date": 1_795_000_000,
            "chat": {"id": chat, "type": if chat < 0 { "supergroup" } else { "private" }},
            "from": {"id": user, "is_bot": false, "first_name": "U", "username": format!("user{user}")},
            "text": text,
        }
    }));
}

/// The messages in `chat` whose text contains `needle`.
fn with(fake: &FakeTelegram, chat: i64, needle: &str) -> Vec<Received> {
    fake.messages_in(chat)
        .into_iter()
        .filter(|m| m.raw.contains(needle))
        .collect()
}

/// Waits for a message in `chat` containing `needle`.
fn wait_text(fake: &FakeTelegram, chat: i64, needle: &str) -> Received {
    wait_for(Duration::from_secs(30), || {
        with(fake, chat, needle).into_iter().next()
    })
    .unwrap_or_else(|| {
        let texts: Vec<String> = fake.messages_in(chat).into_iter().map(|m| m.raw).collect();
        panic!("no message with {needle:?} in chat {chat}: {texts:#?}")
    })
}

/// Sends `text` as `user` in `chat` and waits for the reply containing `needle`.
fn ask(fake: &FakeTelegram, chat: i64, user: i64, text: &str, needle: &str) -> Received {
    say(fake, chat, user, text);
    wait_text(fake, chat, needle)
}

fn agents_file(dir: &Path) -> String {
    let path = dir.join("agents.txt");
    std::fs::write(&path, "web1 10.0.0.1:9100\ndb1 10.0.0.2:9100\n").unwrap();
    path.to_str().unwrap().to_owned()
}

/// Posts one alert to the real Alertmanager.
fn fire(am: u16, name: &str, agent: &str, route: &str) {
    let body = json!([{
        "labels": {"alertname": name, "agent": agent, "severity": "warning", "route": route},
        "annotations": {"summary": format!("{name} on {agent}")},
    }]);
    let resp = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{am}/api/v2/alerts"))
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

/// Long enough for a copy stored with the routed chat's row to be sent.
const SETTLE: Duration = Duration::from_secs(4);

#[test]
fn subscribed_chats_get_an_agents_alerts_once_until_they_unsubscribe() {
    let fake = FakeTelegram::start(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let agents = agents_file(dir.path());
    let admins = ADMIN.to_string();
    let viewers = VIEWER.to_string();
    let state = dir.path().join("state.db");
    let bridge = Bridge::start(
        &fake.url(),
        &state,
        free_port(),
        &[
            "--admins",
            &admins,
            "--viewers",
            &viewers,
            "--agents",
            &agents,
            "--prometheus-url",
            "http://127.0.0.1:9",
            "--alertmanager-url",
            "http://127.0.0.1:9",
        ],
    );
    let am = free_port();
    let hook = |chat: i64| bridge.url(&format!("/alert/{chat}"));
    let config = format!(
        "route:\n  receiver: a\n  group_by: [alertname, agent]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n  \
         routes:\n  - matchers: ['route=\"ac\"']\n    receiver: a\n    continue: true\n  - matchers: ['route=\"ac\"']\n    receiver: c\n\
         receivers:\n- name: a\n  webhook_configs:\n  - url: {}\n    send_resolved: false\n\
         - name: c\n  webhook_configs:\n  - url: {}\n    send_resolved: false\n",
        hook(CHAT_A),
        hook(CHAT_C)
    );
    let cfg = dir.path().join("am.yml");
    std::fs::write(&cfg, config).unwrap();
    let _am = alertmanager_with(&cfg, &dir.path().join("am"), am);
    assert!(
        wait_for_port(am, Duration::from_secs(20)),
        "alertmanager did not start"
    );

    // Refused and bad input change nothing.
    ask(
        &fake,
        CHAT_B,
        VIEWER,
        "/subscribe web1",
        "needs the admin role",
    );
    ask(
        &fake,
        CHAT_B,
        STRANGER,
        "/subscribe web1",
        &format!("<code>{STRANGER}</code>"),
    );
    ask(
        &fake,
        CHAT_B,
        ADMIN,
        "/subscribe nosuch",
        "Unknown agent <code>nosuch</code>",
    );
    ask(
        &fake,
        CHAT_B,
        ADMIN,
        "/subscribe all web1",
        "Name agents or all, not both",
    );
    ask(
        &fake,
        CHAT_B,
        VIEWER,
        "/subscriptions",
        "This chat has no subscriptions",
    );

    // B subscribes to web1: web1's alerts routed to A reach B too, db1's not.
    ask(
        &fake,
        CHAT_B,
        ADMIN,
        "/subscribe web1",
        "gets the alerts of <code>web1</code>",
    );
    fire(am, "AlphaOnWeb", "web1", "a");
    fire(am, "BetaOnDb", "db1", "a");
    wait_text(&fake, CHAT_A, "AlphaOnWeb");
    wait_text(&fake, CHAT_A, "BetaOnDb");
    let copy = wait_text(&fake, CHAT_B, "AlphaOnWeb");
    assert!(copy.visible.contains("agent: web1"), "{}", copy.visible);
    std::thread::sleep(SETTLE);
    assert!(
        with(&fake, CHAT_B, "BetaOnDb").is_empty(),
        "db1 is not subscribed"
    );

    // B becomes a supergroup: its subscription moves with it.
    fake.migrate(CHAT_B, CHAT_B2);
    fire(am, "ZetaOnWeb", "web1", "a");
    wait_text(&fake, CHAT_B2, "ZetaOnWeb");
    ask(
        &fake,
        CHAT_B2,
        VIEWER,
        "/subscriptions",
        "gets the alerts of <code>web1</code>",
    );

    // Unsubscribed: no more.
    ask(
        &fake,
        CHAT_B2,
        ADMIN,
        "/unsubscribe web1",
        "This chat has no subscriptions",
    );
    fire(am, "GammaOnWeb", "web1", "a");
    wait_text(&fake, CHAT_A, "GammaOnWeb");
    std::thread::sleep(SETTLE);
    assert!(
        with(&fake, CHAT_B2, "GammaOnWeb").is_empty(),
        "unsubscribed"
    );

    // A and C subscribe to all; a route names both: each gets it once.
    ask(&fake, CHAT_C, ADMIN, "/subscribe", "<b>every</b> alert");
    ask(&fake, CHAT_A, ADMIN, "/subscribe all", "<b>every</b> alert");
    fire(am, "DeltaOnWeb", "web1", "ac");
    wait_text(&fake, CHAT_A, "DeltaOnWeb");
    wait_text(&fake, CHAT_C, "DeltaOnWeb");
    fire(am, "EpsilonOnDb", "db1", "a");
    wait_text(&fake, CHAT_C, "EpsilonOnDb");
    std::thread::sleep(SETTLE);
    for (chat, name) in [
        (CHAT_A, "DeltaOnWeb"),
        (CHAT_C, "DeltaOnWeb"),
        (CHAT_A, "EpsilonOnDb"),
        (CHAT_C, "EpsilonOnDb"),
    ] {
        assert_eq!(with(&fake, chat, name).len(), 1, "{name} in {chat}: once");
    }
    assert!(with(&fake, CHAT_B2, "DeltaOnWeb").is_empty());
    // Stored once per chat too (two rows queued together would be
    // coalesced into one message, which would hide a second one).
    let db = rusqlite::Connection::open(&state).unwrap();
    for chat in [CHAT_A, CHAT_C] {
        let rows: i64 = db
            .query_row(
                "SELECT COUNT(*) FROM outbox WHERE chat_id = ?1 AND payload LIKE '%DeltaOnWeb%'",
                [chat],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(rows, 1, "DeltaOnWeb stored for {chat} once");
    }

    // `outpost ask` lists every chat's subscriptions; a mute, which is a
    // Telegram user's, is refused there with a reason (exit code 2).
    let ask_cli = |command: &str| {
        std::process::Command::new(outpost_bin())
            .args(["ask", "--state"])
            .arg(&state)
            .args(["--agents", &agents, command])
            .output()
            .unwrap()
    };
    let listed = ask_cli("/subscriptions");
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{listed:?}");
    assert!(
        stdout.contains("1001: all") && stdout.contains("-3003: all"),
        "{stdout}"
    );
    assert!(!stdout.contains("2002"), "{stdout}");
    let muted = ask_cli("/mute web1 1h");
    assert_eq!(muted.status.code(), Some(2), "{muted:?}");
    assert!(String::from_utf8_lossy(&muted.stdout).contains("send it in the chat"));

    // The refusals are in the audit log.
    let audit = ask(&fake, CHAT_A, ADMIN, "/audit", "<b>Audit</b>");
    assert!(
        audit
            .visible
            .contains("@user44 in -2002: /subscribe web1 → refused: needs admin"),
        "{}",
        audit.visible
    );
    assert!(
        audit
            .visible
            .contains("@user99 in -2002: /subscribe web1 → refused"),
        "{}",
        audit.visible
    );
}

/// `HH:MM-HH:MM` from an hour ago to an hour from now (UTC, the bridge's
/// default zone): a window that covers the test.
fn window_around_now() -> String {
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    let m = i32::from(now.hour()) * 60 + i32::from(now.minute());
    let hhmm = |m: i32| {
        let m = m.rem_euclid(1440);
        format!("{:02}:{:02}", m / 60, m % 60)
    };
    format!("{}-{}", hhmm(m - 60), hhmm(m + 60))
}

fn post(bridge: &Bridge, name: &str, agent: &str, severity: &str) {
    let body = json!({
        "version": "4", "status": "firing", "receiver": "telegram",
        "groupKey": format!("{{}}:{{alertname=\"{name}\"}}"),
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": name, "severity": severity, "agent": agent},
            "annotations": {"summary": format!("{name} on {agent}")},
            "startsAt": "2026-11-22T05:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": format!("fp-{name}"),
        }],
    });
    let resp = reqwest::blocking::Client::new()
        .post(bridge.url("/alert"))
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

fn mentions(m: &Received) -> Vec<i64> {
    [ADMIN, OPERATOR]
        .into_iter()
        .filter(|id| m.raw.contains(&format!("tg://user?id={id}")))
        .collect()
}

#[test]
fn mutes_and_quiet_hours_decide_whom_a_message_mentions() {
    let fake = FakeTelegram::start(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let agents = agents_file(dir.path());
    let oncall = dir.path().join("oncall.yml");
    std::fs::write(
        &oncall,
        format!(
            "people:\n  - {{name: alice, id: {ADMIN}}}\n  - {{name: bob, id: {OPERATOR}}}\n\
             rotation:\n  starts: 2020-01-06\n  weeks: [[alice, bob]]\n\
             escalation:\n  after: 3s\n"
        ),
    )
    .unwrap();
    let users = format!("{ADMIN},{OPERATOR}");
    let bridge = Bridge::start(
        &fake.url(),
        &dir.path().join("state.db"),
        free_port(),
        &[
            "--allowed-users",
            &users,
            "--agents",
            &agents,
            "--oncall",
            oncall.to_str().unwrap(),
            "--prometheus-url",
            "http://127.0.0.1:9",
            "--alertmanager-url",
            "http://127.0.0.1:9",
        ],
    );
    let alice = ADMIN;
    let bob = OPERATOR;
    let next = |name: &str, agent: &str| {
        post(&bridge, name, agent, "warning");
        wait_text(&fake, CHAT_A, &format!("{name} on {agent}"))
    };

    // Everyone on call is mentioned, with a sound.
    let m = next("MentionOne", "web1");
    assert_eq!(
        (mentions(&m), m.silent),
        (vec![alice, bob], false),
        "{}",
        m.raw
    );

    // Alice mutes web1: not mentioned for web1, still for db1.
    ask(
        &fake,
        CHAT_A,
        alice,
        "/mute web1 1h",
        "You will not be mentioned for agent <b>web1</b>",
    );
    assert_eq!(mentions(&next("MentionTwo", "web1")), vec![bob]);
    assert_eq!(mentions(&next("MentionThree", "db1")), vec![alice, bob]);
    ask(
        &fake,
        CHAT_A,
        alice,
        "/unmute web1",
        "You are mentioned again for agent <b>web1</b>",
    );
    assert_eq!(mentions(&next("MentionFour", "web1")), vec![alice, bob]);

    // Bad input changes nothing.
    ask(
        &fake,
        CHAT_A,
        alice,
        "/mute nosuch 1h",
        "neither a known agent nor an alert name",
    );
    ask(
        &fake,
        CHAT_A,
        alice,
        "/mute web1 soon",
        "is not a duration from 1m to 90d",
    );
    ask(
        &fake,
        CHAT_A,
        bob,
        "/quiet 25:00-07:00",
        "Quiet hours are HH:MM-HH:MM",
    );
    let mine = ask(&fake, CHAT_A, bob, "/quiet", "Quiet hours: none");
    assert!(mine.raw.contains("Mutes: none"), "{}", mine.raw);
    assert_eq!(mentions(&next("MentionFive", "web1")), vec![alice, bob]);

    // Bob's quiet hours cover now, Alice muted web1: nobody, no sound.
    let window = window_around_now();
    ask(
        &fake,
        CHAT_A,
        bob,
        &format!("/quiet {window}"),
        &format!("Quiet hours {window} (UTC)"),
    );
    ask(
        &fake,
        CHAT_A,
        alice,
        "/mute web1 2h",
        "You will not be mentioned for agent <b>web1</b>",
    );
    let hushed = next("MentionSix", "web1");
    assert_eq!(
        (mentions(&hushed), hushed.silent),
        (vec![], true),
        "{}",
        hushed.raw
    );
    // For db1 Alice is mentioned (Bob is quiet), with a sound.
    let db = next("MentionSeven", "db1");
    assert_eq!(
        (mentions(&db), db.silent),
        (vec![alice], false),
        "{}",
        db.raw
    );

    // Quiet hours off: Bob again.
    ask(&fake, CHAT_A, bob, "/quiet off", "Quiet hours off");
    assert_eq!(mentions(&next("MentionEight", "web1")), vec![bob]);

    // An escalation of a web1 alert leaves Alice out (muted), not Bob.
    post(&bridge, "MentionCritical", "web1", "critical");
    let esc = wait_text(
        &fake,
        CHAT_A,
        "Still unacknowledged: <b>MentionCritical</b>",
    );
    assert_eq!(mentions(&esc), vec![bob], "{}", esc.raw);
}

/// The copy for a subscribed chat is stored in the transaction that
/// answers the webhook: killed with SIGKILL right after the 200, before
/// Telegram (down meanwhile) could take anything, the bridge delivers it
/// after a restart.
#[test]
fn a_copy_taken_with_the_webhook_survives_kill_9() {
    let fake = FakeTelegram::start(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let agents = agents_file(dir.path());
    let state = dir.path().join("state.db");
    let admins = ADMIN.to_string();
    let flags = [
        "--admins",
        admins.as_str(),
        "--agents",
        agents.as_str(),
        "--prometheus-url",
        "http://127.0.0.1:9",
        "--alertmanager-url",
        "http://127.0.0.1:9",
    ];
    let bridge = Bridge::start(&fake.url(), &state, free_port(), &flags);
    ask(
        &fake,
        CHAT_B,
        ADMIN,
        "/subscribe web1",
        "gets the alerts of <code>web1</code>",
    );
    fake.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    post(&bridge, "KeptOverKill", "web1", "warning");
    drop(bridge); // SIGKILL
    assert!(fake
        .messages_in(CHAT_B)
        .iter()
        .all(|m| !m.raw.contains("KeptOverKill")));
    fake.set_faults(Faults::default());
    let _again = Bridge::start(&fake.url(), &state, free_port(), &flags);
    wait_text(&fake, CHAT_B, "KeptOverKill on web1");
    wait_text(&fake, CHAT_A, "KeptOverKill on web1");
}
