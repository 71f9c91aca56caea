//! `outpost bridge` end to end: the real binary as a child process,
//! Alertmanager webhooks posted to it, and the fake Telegram Bot API
//! recording what arrives.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::fake_telegram::{FakeTelegram, Faults, Received};
use crate::support::{free_port, outpost_bin, wait_for, wait_for_port, Proc};

pub(crate) const TOKEN: &str = "123456:TEST-token-DoNotLeak";

/// A private copy of the built binary, taken once: helpers building in a
/// shared target directory can replace `target/debug/outpost` while these
/// tests run.
pub(crate) fn bridge_bin() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        remove_copies_of_finished_runs();
        let dir = std::env::temp_dir().join(format!("outpost-bridge-it-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let copy = dir.join("outpost");
        std::fs::copy(outpost_bin(), &copy).unwrap();
        copy
    })
    .clone()
}

/// Removes the binary copies of test runs that have ended (a copy is a few
/// hundred MB; runs that crash or are killed cannot clean up after
/// themselves).
fn remove_copies_of_finished_runs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("outpost-bridge-it-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A running `outpost bridge` child, its stderr in a file.
pub(crate) struct Bridge {
    pub(crate) proc: Proc,
    port: u16,
    log: PathBuf,
}

impl Bridge {
    /// Starts the bridge against `api_url`, state in `state`, with `extra`
    /// flags. The token comes from the environment, as in production.
    pub(crate) fn start(api_url: &str, state: &Path, port: u16, extra: &[&str]) -> Bridge {
        Self::start_with_token(api_url, state, port, extra, TOKEN)
    }

    /// [`Bridge::start`] with another bot token.
    pub(crate) fn start_with_token(
        api_url: &str,
        state: &Path,
        port: u16,
        extra: &[&str],
        token: &str,
    ) -> Bridge {
        let log = state.with_extension(format!("{port}.{}.log", rand_suffix()));
        Self::launch(api_url, state.to_str().unwrap(), log, port, extra, token)
    }

    /// Starts the bridge with `--state` given as is (a file or a
    /// PostgreSQL URL), its log in `log`.
    pub(crate) fn launch(
        api_url: &str,
        state: &str,
        log: PathBuf,
        port: u16,
        extra: &[&str],
        token: &str,
    ) -> Bridge {
        let stderr = std::fs::File::create(&log).unwrap();
        let child = Command::new(bridge_bin())
            .arg("bridge")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--telegram-api-url", api_url])
            .args(["--state", state])
            .args(["--chat-id", "1001"])
            .args(["--retry-max-backoff", "1s"])
            .args(extra)
            .env("OUTPOST_TELEGRAM_TOKEN", token)
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let proc = Proc(child);
        assert!(
            wait_for_port(port, Duration::from_secs(30)),
            "bridge did not listen; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        Bridge { proc, port, log }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub(crate) fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn metrics(&self) -> String {
        crate::support::http_get(&self.url("/metrics")).unwrap().1
    }

    /// Whether the process is still running.
    pub(crate) fn alive(&mut self) -> bool {
        self.proc.0.try_wait().unwrap().is_none()
    }

    /// `/-/ready`: status and body.
    pub(crate) fn ready(&self) -> (u16, String) {
        crate::support::http_get(&self.url("/-/ready")).unwrap()
    }

    /// The value of one sample line in /metrics.
    pub(crate) fn metric(&self, series: &str) -> f64 {
        self.metrics()
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(1);
    h.finish() % 100_000
}

pub(crate) fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Posts a webhook; the status and body.
pub(crate) fn post(
    c: &reqwest::blocking::Client,
    url: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> Result<(u16, String), String> {
    let mut req = c.post(url).body(body.to_owned());
    let mut has_ctype = false;
    for (k, v) in headers {
        has_ctype |= k.eq_ignore_ascii_case("content-type");
        req = req.header(*k, *v);
    }
    if !has_ctype {
        req = req.header("content-type", "application/json");
    }
    let resp = req.send().map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    Ok((status, resp.text().unwrap_or_default()))
}

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../shared/fixtures/alertmanager-webhook-{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A one-alert notification named `name`.
pub(crate) fn one_alert(name: &str, status: &str) -> String {
    json!({
        "version": "4",
        "status": status,
        "receiver": "telegram",
        "groupKey": format!("{{}}:{{alertname=\"{name}\"}}"),
        "alerts": [{
            "status": status,
            "labels": {"alertname": name, "agent": "web1", "severity": "warning"},
            "annotations": {"summary": format!("{name} summary")},
            "startsAt": "2026-11-22T05:00:00Z",
            "endsAt": if status == "resolved" { "2026-11-22T05:05:00Z" } else { "0001-01-01T00:00:00Z" },
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
            "fingerprint": format!("fp-{name}"),
        }],
    })
    .to_string()
}

/// What Alertmanager does after a bridge died: posts each of `names` not
/// yet `acked` again, to `b` (alert `i` to `chats[i % len]`), and counts it
/// acknowledged.
pub(crate) fn post_unacknowledged(
    b: &Bridge,
    names: &[String],
    chats: &[i64],
    acked: &mut Vec<String>,
) {
    let c = client();
    for (i, n) in names.iter().enumerate() {
        if !acked.contains(n) {
            let url = b.url(&format!("/alert/{}", chats[i % chats.len()]));
            let (st, body) = post(&c, &url, &one_alert(n, "firing"), &[]).unwrap();
            assert_eq!(st, 200, "{body}");
            acked.push(n.clone());
        }
    }
    assert_eq!(acked.len(), names.len());
}

/// How many accepted messages mention each of `names` (whole-word match
/// on the alert name followed by a space, so `A1` does not match `A10`).
pub(crate) fn mentions(received: &[Received], names: &[String]) -> HashMap<String, usize> {
    let mut counts: HashMap<String, usize> = names.iter().map(|n| (n.clone(), 0)).collect();
    for r in received {
        let tokens: std::collections::HashSet<&str> =
            r.visible.split(|c: char| c.is_whitespace()).collect();
        for token in tokens {
            if let Some(c) = counts.get_mut(token) {
                *c += 1;
            }
        }
    }
    counts
}

#[test]
fn fixtures_arrive_readable_and_resolution_replies_to_the_firing_message() {
    let fake = FakeTelegram::start(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let b = Bridge::start(&fake.url(), &dir.path().join("s.db"), free_port(), &[]);
    let c = client();

    let (s, body) = post(&c, &b.url("/alert"), &fixture("firing"), &[]).unwrap();
    assert_eq!(s, 200, "{body}");
    // Alertmanager retrying (or its HA peer) sends the same again: once only.
    let (s, body) = post(&c, &b.url("/alert"), &fixture("firing"), &[]).unwrap();
    assert_eq!((s, body.as_str()), (200, "{\"status\":\"duplicate\"}"));
    assert!(fake.wait_until(Duration::from_secs(10), |r| !r.is_empty()));
    let firing = fake.messages_in(1001)[0].clone();
    assert_eq!(firing.parse_mode.as_deref(), Some("HTML"));
    for want in [
        "🔥 FIRING (1)",
        "🔴 HostHighCpuLoad · critical",
        "agent: 127.0.0.1:19100",
        "High CPU load on 127.0.0.1:19100",
        "CPU usage is above 90% for 1m (VALUE = 97.3)",
        "since 2026-11-22 05:09:04 UTC",
        "instance=127.0.0.1:19100, job=node",
    ] {
        assert!(
            firing.visible.contains(want),
            "{want:?} not in {}",
            firing.visible
        );
    }
    assert!(firing
        .raw
        .contains("<a href=\"http://127.0.0.1:19090/graph?g0.expr=100+-+avg+by%28instance%29"));

    let (s, _) = post(&c, &b.url("/alert"), &fixture("firing-grouped"), &[]).unwrap();
    assert_eq!(s, 200);
    assert!(fake.wait_until(Duration::from_secs(10), |r| r.len() >= 2));
    let grouped = fake.messages_in(1001)[1].clone();
    assert!(
        grouped.visible.contains("FIRING (2)"),
        "{}",
        grouped.visible
    );
    assert!(grouped
        .visible
        .contains("Disk almost full on 127.0.0.1:19100"));
    assert!(grouped
        .visible
        .contains("Disk almost full on 127.0.0.1:19101"));

    let (s, _) = post(&c, &b.url("/alert"), &fixture("resolved"), &[]).unwrap();
    assert_eq!(s, 200);
    assert!(fake.wait_until(Duration::from_secs(10), |r| r.len() >= 3));
    let resolved = fake.messages_in(1001)[2].clone();
    assert!(
        resolved.visible.starts_with("✅ RESOLVED (1)"),
        "{}",
        resolved.visible
    );
    assert!(resolved
        .visible
        .contains("resolved 2026-11-22 05:10:04 UTC after 1m 0s"));
    assert_eq!(resolved.reply_to, Some(firing.message_id));
    assert_eq!(fake.rate_limited(), 0);
    assert_eq!(b.metric("outpost_bridge_messages_sent_total"), 3.0);
    assert_eq!(
        b.metric("outpost_bridge_webhooks_received_total{result=\"duplicate\"}"),
        1.0
    );
}

#[test]
fn hostile_labels_arrive_intact() {
    let fake = FakeTelegram::start(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let b = Bridge::start(&fake.url(), &dir.path().join("s.db"), free_port(), &[]);
    let nasty = r#"<b>x</b> & "q" 'a' _u_ *s* [l](m) </i> &amp; <script>"#;
    let body = json!({
        "version": "4", "status": "firing", "receiver": "r", "groupKey": "g",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": format!("Nasty{nasty}"), "agent": nasty, "severity": nasty, nasty: nasty},
            "annotations": {"summary": nasty, "description": format!("d{nasty}"), nasty: nasty},
            "startsAt": "2026-11-22T05:00:00Z",
            "generatorURL": format!("http://p/graph?g0.expr=a{{b=\"<&>\"}}"),
            "fingerprint": "nasty"
        }]
    })
    .to_string();
    let (s, _) = post(&client(), &b.url("/alert"), &body, &[]).unwrap();
    assert_eq!(s, 200);
    assert!(fake.wait_until(Duration::from_secs(10), |r| !r.is_empty()));
    let m = &fake.received()[0];
    assert_eq!(
        m.parse_mode.as_deref(),
        Some("HTML"),
        "sent as HTML, not the fallback"
    );
    assert!(
        m.visible.contains(&format!("Nasty{nasty}")),
        "{}",
        m.visible
    );
    assert!(m.visible.contains(&format!("agent: {nasty}")));
    assert!(m.visible.contains(&format!("{nasty}={nasty}")));
    assert!(m.visible.contains(&format!("d{nasty}")));
    assert!(m.visible.matches(nasty).count() >= 6, "{}", m.visible);
    // Telegram accepted it on the first try: no 400 in the log.
    assert!(
        fake.log().iter().all(|(_, s)| *s == 200),
        "{:?}",
        fake.log()
    );
}

#[test]
fn a_burst_of_500_alerts_to_one_chat_all_arrive_without_429() {
    let fake = FakeTelegram::start(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let b = Bridge::start(&fake.url(), &dir.path().join("s.db"), free_port(), &[]);
    let names: Vec<String> = (0..500).map(|i| format!("Burst{i}")).collect();
    let url = b.url("/alert/777");
    let started = Instant::now();
    std::thread::scope(|s| {
        for chunk in names.chunks(125) {
            let url = url.clone();
            s.spawn(move || {
                let c = client();
                for n in chunk {
                    let (st, body) = post(&c, &url, &one_alert(n, "firing"), &[]).unwrap();
                    assert_eq!(st, 200, "{body}");
                }
            });
        }
    });
    let acked_in = started.elapsed();
    let all_there = fake.wait_until(Duration::from_secs(40), |r| {
        mentions(r, &names).values().all(|&c| c > 0)
    });
    let counts = mentions(&fake.received(), &names);
    let missing: Vec<_> = counts
        .iter()
        .filter(|(_, &c)| c == 0)
        .map(|(n, _)| n)
        .collect();
    assert!(all_there, "missing {} alerts: {missing:?}", missing.len());
    let dups = counts.values().filter(|&&c| c > 1).count();
    let msgs = fake.messages_in(777);
    eprintln!(
        "burst: 500 webhooks acked in {acked_in:?}; delivered in {} messages within {:?}; {} 429s; {dups} alerts shown twice",
        msgs.len(),
        started.elapsed(),
        fake.rate_limited()
    );
    assert_eq!(fake.rate_limited(), 0, "the bridge provoked 429s");
    assert_eq!(dups, 0);
    assert!(
        msgs.len() < 100,
        "backlog was not coalesced: {} messages",
        msgs.len()
    );
    for m in &msgs {
        assert!(m.visible.encode_utf16().count() <= 4096);
    }
    // Rows are marked sent just after Telegram's answer: allow a moment.
    let drained = wait_for(Duration::from_secs(5), || {
        (b.metric("outpost_bridge_queue_depth") == 0.0).then_some(())
    });
    assert!(
        drained.is_some(),
        "queue depth stayed {}",
        b.metric("outpost_bridge_queue_depth")
    );
}

#[test]
fn kill_9_mid_burst_with_a_flaky_telegram_loses_no_acknowledged_alert() {
    let fake = FakeTelegram::start(TOKEN);
    fake.set_faults(Faults {
        server_error_every: Some(4),
        drop_every: Some(7),
        lost_reply_every: Some(11),
        down: false,
    });
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.db");
    let port = free_port();
    let mut first = Bridge::start(
        &fake.url(),
        &state,
        port,
        &["--retry-initial-backoff", "100ms"],
    );
    let chats = [501i64, 502, 503];
    let names: Vec<String> = (0..400).map(|i| format!("Crash{i}")).collect();
    let acked = std::sync::Mutex::new(Vec::<String>::new());
    let killed = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for (t, chunk) in names.chunks(100).enumerate() {
            let acked = &acked;
            let killed = &killed;
            s.spawn(move || {
                let c = client();
                for (i, n) in chunk.iter().enumerate() {
                    let chat = chats[(t + i) % chats.len()];
                    let url = format!("http://127.0.0.1:{port}/alert/{chat}");
                    if let Ok((200, _)) = post(&c, &url, &one_alert(n, "firing"), &[]) {
                        acked.lock().unwrap().push(n.clone());
                    }
                    if killed.load(std::sync::atomic::Ordering::SeqCst) {
                        return;
                    }
                }
            });
        }
        // Kill -9 once about half the burst is acknowledged.
        wait_for(Duration::from_secs(20), || {
            (acked.lock().unwrap().len() >= 200).then_some(())
        });
        first.proc.0.kill().unwrap(); // SIGKILL
        killed.store(true, std::sync::atomic::Ordering::SeqCst);
        first.proc.0.wait().unwrap();
    });
    let acked_before = acked.lock().unwrap().clone();
    let delivered_before = fake.received().len();
    // Restart on the same state; post what was not acknowledged.
    let second = Bridge::start(
        &fake.url(),
        &state,
        port,
        &["--retry-initial-backoff", "100ms"],
    );
    let mut acked = acked.into_inner().unwrap();
    post_unacknowledged(&second, &names, &chats, &mut acked);
    let all = fake.wait_until(Duration::from_secs(50), |r| {
        mentions(r, &acked).values().all(|&c| c > 0)
    });
    let counts = mentions(&fake.received(), &acked);
    let missing: Vec<_> = counts
        .iter()
        .filter(|(_, &c)| c == 0)
        .map(|(n, _)| n.clone())
        .collect();
    let dups: usize = counts.values().map(|&c| c.saturating_sub(1)).sum();
    let log = fake.log();
    // Telegram has no idempotency key: a message whose answer was lost is
    // sent again, and each alert in it shows twice.
    let lost: Vec<Received> = fake
        .received()
        .into_iter()
        .filter(|r| r.reply_lost)
        .collect();
    let explained: usize = mentions(&lost, &acked).values().sum();
    eprintln!(
        "kill -9 test: {} messages lost their reply, carrying {explained} alerts",
        lost.len()
    );
    eprintln!(
        "kill -9 test: {} acknowledged before the kill, {} messages delivered before it; after restart all {} acknowledged: delivered={}, missing={}, duplicate deliveries={} (alerts shown more than once), fake answered {} requests ({} x 502, {} dropped)",
        acked_before.len(),
        delivered_before,
        acked.len(),
        acked.len() - missing.len(),
        missing.len(),
        dups,
        log.len(),
        log.iter().filter(|(_, s)| *s == 502).count(),
        log.iter().filter(|(_, s)| *s == 0).count(),
    );
    assert!(all, "acknowledged alerts never delivered: {missing:?}");
    assert!(second.metric("outpost_bridge_send_retries_total") > 0.0);
}

#[test]
fn bad_webhooks_get_the_right_4xx() {
    let fake = FakeTelegram::start(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let b = Bridge::start(
        &fake.url(),
        &dir.path().join("s.db"),
        free_port(),
        &[
            "--webhook-token",
            "hook-secret",
            "--webhook-max-body",
            "2000",
        ],
    );
    let c = client();
    let good = one_alert("Good", "firing");
    let auth = ("authorization", "Bearer hook-secret");
    // (path, body, headers, status, reason)
    type Case<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("/alert", good.clone(), vec![], 401, "bearer token"),
        (
            "/alert",
            good.clone(),
            vec![("authorization", "Bearer nope")],
            401,
            "bearer token",
        ),
        (
            "/alert",
            good.clone(),
            vec![auth, ("content-type", "text/plain")],
            415,
            "application/json",
        ),
        (
            "/alert",
            "{\"alerts\": [".into(),
            vec![auth],
            400,
            "invalid Alertmanager webhook JSON",
        ),
        (
            "/alert",
            "[1,2,3]".into(),
            vec![auth],
            400,
            "invalid Alertmanager webhook JSON",
        ),
        (
            "/alert",
            format!("{{\"pad\":\"{}\"}}", "x".repeat(3000)),
            vec![auth],
            413,
            "larger than 2000",
        ),
        (
            "/alert/chat",
            good.clone(),
            vec![auth],
            400,
            "chat id must be an integer",
        ),
        ("/alert/5/x", good.clone(), vec![auth], 400, "thread id"),
    ];
    for (path, body, headers, status, reason) in cases {
        let (s, text) = post(&c, &b.url(path), &body, &headers).unwrap();
        assert_eq!(s, status, "{path} {headers:?}: {text}");
        assert!(text.contains(reason), "{path}: {text}");
    }
    let (s, _) = post(&c, &b.url("/alert/5/9"), &good, &[auth]).unwrap();
    assert_eq!(s, 200);
    assert!(fake.wait_until(Duration::from_secs(10), |r| !r.is_empty()));
    assert_eq!(fake.received()[0].thread_id, Some(9));
    assert_eq!(
        b.metric("outpost_bridge_webhooks_received_total{result=\"unauthorized\"}"),
        2.0
    );
    assert_eq!(
        b.metric("outpost_bridge_webhooks_received_total{result=\"malformed\"}"),
        2.0
    );
}

#[test]
fn storage_failure_is_a_5xx_and_an_unusable_state_path_stops_startup() {
    let fake = FakeTelegram::start(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let b = Bridge::start(&fake.url(), &db, free_port(), &[]);
    let c = client();
    let (s, _) = post(&c, &b.url("/alert"), &one_alert("Before", "firing"), &[]).unwrap();
    assert_eq!(s, 200);
    // Another process holds the database's write lock: nothing can be
    // stored, so Alertmanager must be told to retry.
    let other = rusqlite::Connection::open(&db).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let (s, text) = post(&c, &b.url("/alert"), &one_alert("Locked", "firing"), &[]).unwrap();
    assert_eq!(s, 503, "{text}");
    other.execute_batch("ROLLBACK").unwrap();
    let (s, _) = post(&c, &b.url("/alert"), &one_alert("After", "firing"), &[]).unwrap();
    assert_eq!(s, 200);
    assert_eq!(
        b.metric("outpost_bridge_webhooks_received_total{result=\"storage_error\"}"),
        1.0
    );

    // --state naming a directory: the bridge refuses to start, saying why.
    let out = Command::new(bridge_bin())
        .args(["bridge", "--listen", "127.0.0.1:0", "--state"])
        .arg(dir.path())
        .env("OUTPOST_TELEGRAM_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("opening state database"), "{err}");
    assert!(!err.contains(TOKEN));
}

#[test]
fn without_a_token_alerts_are_stored_and_delivered_once_one_is_set() {
    let fake = FakeTelegram::start(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let port = free_port();
    let log = dir.path().join("no-token.log");
    let child = Command::new(bridge_bin())
        .arg("bridge")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--telegram-api-url", &fake.url()])
        .args(["--state", db.to_str().unwrap()])
        .args(["--chat-id", "1001"])
        .env_remove("OUTPOST_TELEGRAM_TOKEN")
        .env_remove("OUTPOST_TELEGRAM_TOKEN_FILE")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut proc = Proc(child);
    assert!(wait_for_port(port, Duration::from_secs(30)));
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    let (s, _) = crate::support::http_get(&url("/-/ready")).unwrap();
    assert_eq!(s, 200);
    let (s, _) = post(&client(), &url("/alert"), &one_alert("Kept", "firing"), &[]).unwrap();
    assert_eq!(s, 200);
    std::thread::sleep(Duration::from_millis(500));
    assert!(fake.received().is_empty());
    assert!(fake.log().is_empty(), "{:?}", fake.log());
    let logs = std::fs::read_to_string(&log).unwrap();
    assert_eq!(logs.matches("no Telegram token").count(), 1, "{logs}");
    let _ = proc.0.kill();
    let _ = proc.0.wait();
    // Started again with a token: the stored alert goes out.
    let b = Bridge::start(&fake.url(), &db, free_port(), &[]);
    assert!(
        fake.wait_until(Duration::from_secs(10), |r| r
            .iter()
            .any(|m| m.visible.contains("Kept"))),
        "{}",
        b.logs()
    );
}

#[test]
fn the_token_never_appears_in_logs_errors_or_metrics() {
    // Telegram unreachable: every send is a network error.
    let closed = free_port();
    let dir = tempfile::tempdir().unwrap();
    let b = Bridge::start(
        &format!("http://127.0.0.1:{closed}"),
        &dir.path().join("s.db"),
        free_port(),
        &["--log.level", "debug"],
    );
    let (s, _) = post(
        &client(),
        &b.url("/alert"),
        &one_alert("Unsent", "firing"),
        &[],
    )
    .unwrap();
    assert_eq!(s, 200);
    let failed = wait_for(Duration::from_secs(15), || {
        (b.metric("outpost_bridge_send_failures_total{reason=\"network\"}") >= 2.0).then_some(())
    });
    assert!(failed.is_some(), "{}", b.metrics());
    let metrics = b.metrics();
    let logs = b.logs();
    assert!(logs.contains("send failed, will retry"), "{logs}");
    assert!(logs.contains("error"), "{logs}");
    for secret in [TOKEN, "TEST-token-DoNotLeak"] {
        assert!(!logs.contains(secret), "token in logs:\n{logs}");
        assert!(!metrics.contains(secret), "token in metrics");
    }
    assert_eq!(b.metric("outpost_bridge_queue_depth"), 1.0);
    // And with a reachable (fake) Telegram, at debug level.
    let fake = FakeTelegram::start(TOKEN);
    let dir2 = tempfile::tempdir().unwrap();
    let b2 = Bridge::start(
        &fake.url(),
        &dir2.path().join("s.db"),
        free_port(),
        &["--log.level", "debug"],
    );
    post(
        &client(),
        &b2.url("/alert"),
        &one_alert("Sent", "firing"),
        &[],
    )
    .unwrap();
    assert!(fake.wait_until(Duration::from_secs(10), |r| !r.is_empty()));
    assert!(!b2.logs().contains("DoNotLeak"), "{}", b2.logs());
}

#[test]
fn migration_entity_fallback_and_permanent_failures() {
    let fake = FakeTelegram::start(TOKEN);
    fake.migrate(-500, -100500);
    fake.reject_html_in(-600);
    fake.forbid(700);
    let dir = tempfile::tempdir().unwrap();
    let b = Bridge::start(&fake.url(), &dir.path().join("s.db"), free_port(), &[]);
    let c = client();
    for (chat, name) in [(-500, "Mig1"), (-600, "Plain1"), (700, "Blocked1")] {
        let (s, _) = post(
            &c,
            &b.url(&format!("/alert/{chat}")),
            &one_alert(name, "firing"),
            &[],
        )
        .unwrap();
        assert_eq!(s, 200);
    }
    assert!(fake.wait_until(Duration::from_secs(10), |r| r.len() >= 2));
    let migrated = fake.messages_in(-100500);
    assert_eq!(migrated.len(), 1);
    assert!(migrated[0].visible.contains("Mig1"));
    let plain = fake.messages_in(-600);
    assert_eq!(plain[0].parse_mode, None, "re-sent as plain text");
    assert!(
        plain[0].raw.contains("🟠 Plain1 · warning"),
        "{}",
        plain[0].raw
    );
    assert!(!plain[0].raw.contains("<b>"));
    wait_for(Duration::from_secs(5), || {
        (b.metric("outpost_bridge_queue_failed") >= 1.0).then_some(())
    });
    assert_eq!(b.metric("outpost_bridge_queue_failed"), 1.0);
    assert_eq!(
        b.metric("outpost_bridge_send_failures_total{reason=\"forbidden\"}"),
        1.0
    );
    assert_eq!(b.metric("outpost_bridge_chat_migrations_total"), 1.0);
    // The migration is remembered: the old id is not tried again.
    let before = fake.log().len();
    post(&c, &b.url("/alert/-500"), &one_alert("Mig2", "firing"), &[]).unwrap();
    assert!(fake.wait_until(Duration::from_secs(10), |r| r
        .iter()
        .any(|m| m.visible.contains("Mig2"))));
    assert_eq!(fake.log().len(), before + 1, "{:?}", fake.log());
    assert_eq!(fake.messages_in(-100500).len(), 2);
}

#[test]
fn watchdog_silence_and_recovery_reach_the_chat() {
    let fake = FakeTelegram::start(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let b = Bridge::start(
        &fake.url(),
        &dir.path().join("s.db"),
        free_port(),
        &["--watchdog-timeout", "1500ms"],
    );
    let c = client();
    let beat = json!({"version":"4","status":"firing","receiver":"r","groupKey":"wd","alerts":[{"status":"firing","labels":{"alertname":"Watchdog","severity":"none"},"startsAt":"2026-11-22T05:00:00Z","fingerprint":"wd"}]}).to_string();
    let (s, body) = post(&c, &b.url("/alert"), &beat, &[]).unwrap();
    assert_eq!((s, body.as_str()), (200, "{\"status\":\"heartbeat\"}"));
    assert!(fake.wait_until(Duration::from_secs(8), |r| !r.is_empty()));
    let silent = &fake.received()[0];
    assert!(
        silent.visible.starts_with("🚨 Alerting pipeline is silent"),
        "{}",
        silent.visible
    );
    assert!(
        !silent.visible.contains("Watchdog ·"),
        "heartbeat was forwarded"
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(fake.received().len(), 1, "silence is reported once");
    post(&c, &b.url("/alert"), &beat, &[]).unwrap();
    assert!(fake.wait_until(Duration::from_secs(8), |r| r.len() >= 2));
    assert!(fake.received()[1]
        .visible
        .starts_with("✅ Alerting pipeline is back"));
    assert_eq!(b.metric("outpost_bridge_watchdog_heartbeats_total"), 2.0);
}

#[test]
fn sigterm_finishes_gracefully_and_keeps_the_queue() {
    let fake = FakeTelegram::start(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.db");
    let port = free_port();
    let mut b = Bridge::start(&fake.url(), &state, port, &[]);
    let c = client();
    // Three separate notifications to one chat: the first goes at once,
    // the others wait a second for the per-chat pace.
    post(&c, &b.url("/alert/42"), &one_alert("Term1", "firing"), &[]).unwrap();
    assert!(fake.wait_until(Duration::from_secs(5), |r| !r.is_empty()));
    for n in ["Term2", "Term3"] {
        post(&c, &b.url("/alert/42"), &one_alert(n, "firing"), &[]).unwrap();
    }
    let pid = b.proc.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = wait_for(Duration::from_secs(10), || b.proc.0.try_wait().unwrap());
    assert_eq!(status.map(|s| s.code()), Some(Some(0)), "{}", b.logs());
    assert!(
        b.logs().contains("queued notifications kept"),
        "{}",
        b.logs()
    );
    let names: Vec<String> = ["Term1", "Term2", "Term3"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    // After a restart whatever was left is delivered.
    let _b2 = Bridge::start(&fake.url(), &state, port, &[]);
    assert!(fake.wait_until(Duration::from_secs(10), |r| {
        mentions(r, &names).values().all(|&c| c > 0)
    }));
    let counts = mentions(&fake.received(), &names);
    assert!(counts.values().all(|&c| c == 1), "{counts:?}");
}

#[test]
fn real_alertmanager_notifications_arrive_and_resolve_as_replies() {
    let fake = FakeTelegram::start(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let b = Bridge::start(
        &fake.url(),
        &dir.path().join("s.db"),
        free_port(),
        &["--webhook-token", "am-hook-token"],
    );
    let am_port = free_port();
    let config = format!(
        "route:\n  receiver: bridge\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
         receivers:\n- name: bridge\n  webhook_configs:\n  - url: http://127.0.0.1:{}/alert/3003\n    send_resolved: true\n    http_config:\n      authorization:\n        credentials: am-hook-token\n",
        b.port
    );
    let cfg = dir.path().join("am.yml");
    std::fs::write(&cfg, config).unwrap();
    let _am = crate::support::alertmanager_with(&cfg, &dir.path().join("am"), am_port);
    assert!(
        wait_for_port(am_port, Duration::from_secs(20)),
        "alertmanager did not start"
    );
    let c = client();
    let alerts_url = format!("http://127.0.0.1:{am_port}/api/v2/alerts");
    let alert = |ends: Option<&str>| {
        let mut a = json!({
            "labels": {"alertname": "RealAmDown", "agent": "web<1>", "severity": "critical"},
            "annotations": {"summary": "web<1> is down & out"},
            "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=up%3D%3D0",
        });
        if let Some(e) = ends {
            a["endsAt"] = json!(e);
        }
        json!([a]).to_string()
    };
    let (s, text) = post(&c, &alerts_url, &alert(None), &[]).unwrap();
    assert_eq!(s, 200, "{text}");
    assert!(
        fake.wait_until(Duration::from_secs(20), |r| !r.is_empty()),
        "nothing from Alertmanager; bridge log:\n{}",
        b.logs()
    );
    let firing = fake.messages_in(3003)[0].clone();
    assert!(
        firing.visible.contains("🔴 RealAmDown · critical"),
        "{}",
        firing.visible
    );
    assert!(firing.visible.contains("agent: web<1>"));
    assert!(firing.visible.contains("web<1> is down & out"));
    // Resolve it: endsAt in the past.
    let past = "2020-01-01T00:00:00Z";
    let (s, _) = post(&c, &alerts_url, &alert(Some(past)), &[]).unwrap();
    assert_eq!(s, 200);
    assert!(
        fake.wait_until(Duration::from_secs(20), |r| r
            .iter()
            .any(|m| m.visible.contains("RESOLVED"))),
        "no resolution; bridge log:\n{}",
        b.logs()
    );
    let resolved = fake
        .messages_in(3003)
        .into_iter()
        .find(|m| m.visible.contains("RESOLVED"))
        .unwrap();
    assert_eq!(resolved.reply_to, Some(firing.message_id));
    assert_eq!(
        b.metric("outpost_bridge_webhooks_received_total{result=\"unauthorized\"}"),
        0.0
    );
}

#[test]
fn repeats_after_the_dedup_window_and_long_notifications_are_delivered_whole() {
    let fake = FakeTelegram::start(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let b = Bridge::start(
        &fake.url(),
        &dir.path().join("s.db"),
        free_port(),
        &["--dedup-window", "1s"],
    );
    let c = client();
    // Alertmanager's repeat after repeat_interval (here: after the 1 s
    // window) is a new notification, not a duplicate.
    let body = one_alert("Repeated", "firing");
    assert!(post(&c, &b.url("/alert/61"), &body, &[])
        .unwrap()
        .1
        .contains("queued"));
    assert!(post(&c, &b.url("/alert/61"), &body, &[])
        .unwrap()
        .1
        .contains("duplicate"));
    std::thread::sleep(Duration::from_millis(1200));
    assert!(post(&c, &b.url("/alert/61"), &body, &[])
        .unwrap()
        .1
        .contains("queued"));
    assert!(fake.wait_until(Duration::from_secs(10), |r| r.len() >= 2));

    // One notification with 8 alerts, each with a 1,500-character
    // description full of markup characters: split between alerts into
    // messages Telegram accepts.
    let alerts: Vec<_> = (0..8)
        .map(|i| {
            json!({
                "status": "firing",
                "labels": {"alertname": format!("Long{i}"), "agent": "web1"},
                "annotations": {"description": format!("<{i}>&").repeat(300)},
                "startsAt": "2026-11-22T05:00:00Z",
                "fingerprint": format!("long{i}"),
            })
        })
        .collect();
    let big =
        json!({"version":"4","status":"firing","receiver":"r","groupKey":"long","alerts":alerts})
            .to_string();
    assert_eq!(post(&c, &b.url("/alert/62"), &big, &[]).unwrap().0, 200);
    let names: Vec<String> = (0..8).map(|i| format!("Long{i}")).collect();
    assert!(fake.wait_until(Duration::from_secs(20), |r| {
        mentions(r, &names).values().all(|&c| c > 0)
    }));
    let msgs = fake.messages_in(62);
    assert!(msgs.len() >= 3, "{} messages", msgs.len());
    for m in &msgs {
        assert_eq!(m.parse_mode.as_deref(), Some("HTML"));
        assert!(m.visible.encode_utf16().count() <= 4096);
    }
    // Every description arrived in full (none was cut).
    for i in 0..8 {
        let d = format!("<{i}>&").repeat(300);
        assert!(
            msgs.iter().any(|m| m.visible.contains(&d)),
            "description {i} cut"
        );
    }
    assert!(
        fake.log().iter().all(|(_, s)| *s == 200),
        "{:?}",
        fake.log()
    );
}

/// Waits until the metric `series` reaches at least `min`.
fn wait_metric(b: &Bridge, series: &str, min: f64, timeout: Duration) {
    let reached = wait_for(timeout, || (b.metric(series) >= min).then_some(()));
    assert!(
        reached.is_some(),
        "{series} did not reach {min}:\n{}\nlog:\n{}",
        b.metrics(),
        b.logs()
    );
}

/// Posts `one_alert(name)` to `path`, expecting 200.
fn post_alert(b: &Bridge, path: &str, name: &str) {
    let (s, body) = post(&client(), &b.url(path), &one_alert(name, "firing"), &[]).unwrap();
    assert_eq!(s, 200, "{name}: {body}");
}

/// Issue 11, item 1: a 401 (wrong token) or 404 (mistyped API URL) is the
/// bridge's configuration, not the alert: nothing is given up on, the log
/// and `/-/ready` say what to fix, and a restart with the right
/// configuration delivers everything accepted meanwhile.
#[test]
fn a_wrong_token_or_api_url_keeps_alerts_queued_until_fixed() {
    let fake = FakeTelegram::start(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let wrong = "123456:WRONG-token-NotLeaked";
    let b = Bridge::start_with_token(&fake.url(), &db, free_port(), &[], wrong);
    for name in ["Wrong1", "Wrong2", "Wrong3"] {
        post_alert(&b, "/alert", name);
    }
    let unauthorized = "outpost_bridge_send_failures_total{reason=\"unauthorized\"}";
    wait_metric(&b, unauthorized, 2.0, Duration::from_secs(15));
    assert!(fake.received().is_empty());
    let (status, text) = b.ready();
    assert_eq!(status, 503, "{text}");
    assert!(
        text.contains("unauthorized") && text.contains("token"),
        "{text}"
    );
    assert_eq!(
        b.metric("outpost_bridge_queue_failed"),
        0.0,
        "nothing given up"
    );
    assert_eq!(b.metric("outpost_bridge_queue_depth"), 3.0);
    assert_eq!(
        b.metric("outpost_bridge_send_failures_total{reason=\"bad_request\"}"),
        0.0
    );
    let logs = b.logs();
    assert!(
        logs.lines().any(|l| l.contains(" ERROR ")
            && l.contains("refuses the bridge's configuration")
            && l.contains("check the bot token")),
        "{logs}"
    );
    assert!(!logs.contains("WRONG-token"), "{logs}");
    drop(b);

    // The right token, a mistyped URL: 404, the same care.
    let typo = format!("{}/tg-typo", fake.url());
    let b = Bridge::start(&typo, &db, free_port(), &[]);
    post_alert(&b, "/alert", "Wrong4");
    let not_found = "outpost_bridge_send_failures_total{reason=\"not_found\"}";
    wait_metric(&b, not_found, 1.0, Duration::from_secs(15));
    let (status, text) = b.ready();
    assert_eq!(status, 503, "{text}");
    assert!(
        text.contains("not_found") && text.contains("--telegram-api-url"),
        "{text}"
    );
    assert_eq!(b.metric("outpost_bridge_queue_failed"), 0.0);
    assert!(fake.received().is_empty());
    drop(b);

    // Fixed: everything accepted meanwhile arrives, once.
    let b = Bridge::start(&fake.url(), &db, free_port(), &[]);
    let names: Vec<String> = (1..=4).map(|i| format!("Wrong{i}")).collect();
    let all = fake.wait_until(Duration::from_secs(20), |r| {
        mentions(r, &names).values().all(|n| *n >= 1)
    });
    assert!(all, "{:?}\n{}", fake.received(), b.logs());
    assert!(mentions(&fake.received(), &names).values().all(|n| *n == 1));
    // Recorded as sent once Telegram's answers are in.
    let drained = wait_for(Duration::from_secs(10), || {
        (b.metric("outpost_bridge_queue_depth") == 0.0).then_some(())
    });
    assert!(drained.is_some(), "{}", b.metrics());
    assert_eq!(b.metric("outpost_bridge_queue_failed"), 0.0);
    assert_eq!(b.ready().0, 200);
}

/// Issue 11, item 2: when recording a delivery fails (disk full), the
/// alert is not sent again; `/-/ready` fails until the store can write.
///
/// The full disk is an injected storage error at exactly that write: a
/// trigger makes every `UPDATE outbox SET state='sent'` fail with SQLite's
/// "database or disk is full". (A real full tmpfs mounts here, but SQLite
/// reuses its WAL's space after a checkpoint, so whether that one write
/// fails would be up to timing.)
#[test]
fn a_delivery_whose_bookkeeping_fails_is_not_sent_again() {
    let fake = FakeTelegram::start(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let b = Bridge::start(&fake.url(), &db, free_port(), &[]);
    // Listening comes before the schema: wait until the store answers.
    assert!(wait_for(Duration::from_secs(10), || (b.ready().0 == 200)
        .then_some(()))
    .is_some());
    let other = rusqlite::Connection::open(&db).unwrap();
    other
        .execute_batch(
            "CREATE TRIGGER disk_full BEFORE UPDATE OF state ON outbox
             WHEN NEW.state = 'sent'
             BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
        )
        .unwrap();
    let names: Vec<String> = (1..=3).map(|i| format!("Full{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        post_alert(&b, &format!("/alert/{}", 2001 + i), name);
    }
    assert!(fake.wait_until(Duration::from_secs(10), |r| {
        mentions(r, &names).values().all(|n| *n >= 1)
    }));
    // The failed write follows Telegram's answer.
    let not_ready = wait_for(Duration::from_secs(10), || {
        let (status, text) = b.ready();
        (status == 503).then_some(text)
    });
    let text = not_ready.expect("/-/ready fails while the store cannot write");
    assert!(text.contains("disk is full"), "{text}");
    // Two full outbox scans (every 5 s) later: still once each.
    std::thread::sleep(Duration::from_secs(11));
    let counts = mentions(&fake.received(), &names);
    assert!(counts.values().all(|n| *n == 1), "{counts:?}\n{}", b.logs());
    assert_eq!(
        b.metric("outpost_bridge_queue_depth"),
        3.0,
        "not recorded yet"
    );
    assert_eq!(b.ready().0, 503);

    // Space again: the rows are recorded, nothing is resent.
    other.execute_batch("DROP TRIGGER disk_full").unwrap();
    let recorded = wait_for(Duration::from_secs(15), || {
        (b.metric("outpost_bridge_queue_depth") == 0.0 && b.ready().0 == 200).then_some(())
    });
    assert!(recorded.is_some(), "{}\n{}", b.metrics(), b.logs());
    let counts = mentions(&fake.received(), &names);
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
}

/// Issue 11, item 3: an API server that echoes the request path (token
/// included) in its error descriptions; and a `--telegram-api-url` with
/// userinfo. Neither secret reaches the log, the state database (file and
/// WAL) or /metrics.
#[test]
fn an_api_that_echoes_the_token_cannot_leak_it() {
    let fake = FakeTelegram::start(TOKEN);
    fake.echo_path(true);
    fake.forbid(700);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let api = format!("http://proxyuser:pw-DoNotLeak@{}", fake.addr);
    let b = Bridge::start(&api, &db, free_port(), &["--log.level", "debug"]);
    post_alert(&b, "/alert/700", "Echoed");
    wait_metric(
        &b,
        "outpost_bridge_queue_failed",
        1.0,
        Duration::from_secs(15),
    );
    // The echo arrived (and was stored, redacted).
    let error: String = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT error FROM outbox WHERE state='failed'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(
        error.contains("Forbidden") && error.contains("/bot**REDACTED**/sendMessage"),
        "{error}"
    );
    let logs = b.logs();
    assert!(logs.contains("**REDACTED**"), "{logs}");
    let metrics = b.metrics();
    let wal = std::fs::read(db.with_extension("db-wal")).unwrap_or_default();
    let file = std::fs::read(&db).unwrap();
    for secret in [TOKEN, "TEST-token-DoNotLeak", "pw-DoNotLeak"] {
        assert!(!logs.contains(secret), "{secret} in the log:\n{logs}");
        assert!(!metrics.contains(secret), "{secret} in /metrics");
        for (name, bytes) in [("database", &file), ("WAL", &wal)] {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "{secret} in the {name} file");
        }
    }
}

/// Issue 11, item 4: a 429 with `retry_after` = u64::MAX neither aborts
/// the bridge nor holds the alert for ever: the wait is cut to
/// `--retry-after-max`, webhooks keep being taken.
#[test]
fn a_huge_retry_after_neither_stops_the_bridge_nor_loses_the_alert() {
    let fake = FakeTelegram::start(TOKEN);
    fake.rate_limit_next(1, u64::MAX);
    let dir = tempfile::tempdir().unwrap();
    let mut b = Bridge::start(
        &fake.url(),
        &dir.path().join("s.db"),
        free_port(),
        &["--retry-after-max", "2s"],
    );
    let posted = Instant::now();
    post_alert(&b, "/alert", "Huge1");
    wait_metric(
        &b,
        "outpost_bridge_rate_limited_total",
        1.0,
        Duration::from_secs(10),
    );
    assert!(b.alive(), "{}", b.logs());
    post_alert(&b, "/alert/2002", "Huge2");
    let names = vec!["Huge1".to_string(), "Huge2".to_string()];
    assert!(
        fake.wait_until(Duration::from_secs(15), |r| mentions(r, &names)
            .values()
            .all(|n| *n == 1)),
        "{}",
        b.logs()
    );
    let first = fake.messages_in(1001)[0].clone();
    assert!(first.visible.contains("Huge1"));
    assert!(
        first.at.duration_since(posted) >= Duration::from_millis(1900),
        "sent after the clamped wait, not before"
    );
    assert!(b.alive());
    let logs = b.logs();
    assert!(!logs.contains("panicked"), "{logs}");
}

#[test]
fn a_slowloris_past_the_connection_cap_stops_neither_webhooks_nor_delivery() {
    // 256 descriptors: the bridge fits its connection cap under them
    // (256 - 128 kept for the store and Telegram - 16 closing = 112). Without a cap,
    // 300 half-open connections take every descriptor: webhooks and
    // /-/ready hang and sends to Telegram fail with EMFILE.
    outpost::server::raise_nofile_limit().unwrap();
    let fake = FakeTelegram::start(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let port = free_port();
    let log = dir.path().join("slowloris.log");
    let mut proc = Proc(
        Command::new(crate::support::prlimit())
            .args(["--nofile=256:256", "--"])
            .arg(bridge_bin())
            .arg("bridge")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--telegram-api-url", &fake.url()])
            .args(["--state", db.to_str().unwrap()])
            .args(["--chat-id", "1001"])
            .env("OUTPOST_READ_HEADER_TIMEOUT", "2s")
            .env("OUTPOST_TELEGRAM_TOKEN", TOKEN)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    assert!(wait_for_port(port, Duration::from_secs(30)));
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    let logs = || std::fs::read_to_string(&log).unwrap_or_default();

    let started = Instant::now();
    let mut slow = crate::support::half_open(port, 300);
    assert!(slow.len() >= 250, "only {} connections opened", slow.len());
    let (s, _) = crate::support::http_get(&url("/-/ready")).unwrap();
    assert_eq!(s, 200);
    let (s, b) = post(
        &client(),
        &url("/alert"),
        &one_alert("Slowloris", "firing"),
        &[],
    )
    .unwrap();
    assert_eq!(s, 200, "{b}");
    assert!(
        fake.wait_until(Duration::from_secs(15), |r| r
            .iter()
            .any(|m| m.visible.contains("Slowloris"))),
        "not delivered beside 300 half-open connections; log:\n{}",
        logs()
    );
    // The newest half-open connections were not evicted: the 2 s header
    // timeout closes them.
    let last = slow.last_mut().unwrap();
    assert!(
        crate::support::closed_within(last, Duration::from_secs(15)).is_some(),
        "a half-open connection outlived the header timeout"
    );
    let text = crate::support::http_get(&url("/metrics")).unwrap().1;
    let metrics = crate::exposition::parse(&text);
    let shed = |reason: &str| {
        metrics["outpost_bridge_http_connections_shed_total"]
            .samples
            .iter()
            .find(|(l, _)| l["reason"] == reason)
            .map_or(0.0, |s| s.1)
    };
    assert!(shed("evicted") >= 100.0, "{text}");
    assert!(shed("header_timeout") >= 1.0, "{text}");
    let open = metrics["outpost_bridge_http_connections_open"].samples[0].1;
    assert!(open <= 112.0, "{open} connections open past the cap");
    // Said in the log, at most once per 10 s.
    let said = logs().matches("shedding HTTP connections").count();
    let windows = started.elapsed().as_secs() / 10 + 1;
    assert!(
        said >= 1 && said as u64 <= windows,
        "{said} log lines in {windows} windows:\n{}",
        logs()
    );
    assert!(!logs().contains("Too many open files"), "{}", logs());

    // Half-open connections do not hold up a shutdown (prlimit execs the
    // bridge: the child is the bridge).
    let _slow = crate::support::half_open(port, 50);
    let pid = proc.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = wait_for(Duration::from_secs(5), || proc.0.try_wait().unwrap());
    assert_eq!(status.map(|s| s.code()), Some(Some(0)), "{}", logs());
}

#[test]
fn a_webhook_body_that_trickles_in_is_cut_off() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _proc = Proc(
        Command::new(bridge_bin())
            .arg("bridge")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--state", dir.path().join("s.db").to_str().unwrap()])
            .args(["--chat-id", "1001", "--read-header-timeout", "1s"])
            .env_remove("OUTPOST_TELEGRAM_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(wait_for_port(port, Duration::from_secs(30)));
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(
        b"POST /alert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"version\":",
    )
    .unwrap();
    // The headers came in time; the body never completes.
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let started = Instant::now();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "after {:?}: {answer:?}",
        started.elapsed()
    );
    assert!(
        answer.contains("could not read the request body"),
        "{answer}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}
