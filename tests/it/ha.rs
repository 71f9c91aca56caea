//! High availability: two `outpost bridge` processes on one real
//! PostgreSQL (Debian's `postgresql`, started by the test), webhooks
//! spread over both, the leader killed with SIGKILL mid-burst while the
//! fake Telegram fails intermittently and, at the kill, holds the answers
//! to what it accepted (so the leader dies with a batch delivered but not
//! marked sent: the in-flight batch a failover repeats).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use outpost::bridge::outbox::MAX_ALERTS_PER_BATCH;

use crate::bridge::{client, mentions, one_alert, post, post_unacknowledged, Bridge, TOKEN};
use crate::fake_telegram::{FakeTelegram, Faults, Received};
use crate::support::{free_port, wait_for, Postgres, PG_PASSWORD};

const TTL: &str = "2s";

fn start(fake: &FakeTelegram, pg: &Postgres, dir: &std::path::Path, name: &str) -> Bridge {
    let port = free_port();
    Bridge::launch(
        &fake.url(),
        &pg.url(),
        dir.join(format!("{name}.log")),
        port,
        &["--lease-ttl", TTL, "--retry-initial-backoff", "100ms"],
        TOKEN,
    )
}

pub(crate) fn leads(b: &Bridge) -> bool {
    crate::support::http_get(&b.url("/metrics"))
        .map(|(_, m)| m.lines().any(|l| l == "outpost_bridge_leader 1"))
        .unwrap_or(false)
}

/// The alert names in the outbox rows still queued (claimed or not).
fn queued_names(pg: &Postgres) -> Vec<String> {
    outbox_names(pg, "state = 'queued'")
}

/// The alert names in the outbox's alert rows that match `filter`, one per
/// row and alert.
fn outbox_names(pg: &Postgres, filter: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (c, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let rows = c
            .query(
                &format!("SELECT payload FROM outbox WHERE {filter} AND kind = 'alerts'"),
                &[],
            )
            .await
            .unwrap();
        rows.iter()
            .flat_map(|r| {
                let v: serde_json::Value = serde_json::from_str(r.get::<_, &str>(0)).unwrap();
                v["alerts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a["labels"]["alertname"].as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect()
    })
}

/// Waits until the fake has recorded no new message, and held no new
/// request, for `quiet`.
fn settle(fake: &FakeTelegram, quiet: Duration) {
    let seen = || (fake.received().len(), fake.held());
    let mut last = seen();
    let mut since = Instant::now();
    while since.elapsed() < quiet {
        std::thread::sleep(Duration::from_millis(20));
        let now = seen();
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
}

#[test]
fn two_bridges_survive_a_sigkilled_leader_mid_burst_without_losing_an_acknowledged_alert() {
    let pg = Postgres::start();
    let fake = FakeTelegram::start(TOKEN);
    fake.set_faults(Faults {
        server_error_every: Some(5),
        drop_every: Some(9),
        lost_reply_every: Some(13),
        down: false,
    });
    let dir = tempfile::tempdir().unwrap();
    let mut a = start(&fake, &pg, dir.path(), "a");
    assert!(
        wait_for(Duration::from_secs(20), || leads(&a).then_some(())).is_some(),
        "the first bridge never led; log:\n{}",
        a.logs()
    );
    let b = start(&fake, &pg, dir.path(), "b");
    std::thread::sleep(Duration::from_millis(500));
    assert!(!leads(&b), "two leaders");
    let epoch_a = a.metric("outpost_bridge_leader_epoch");

    let chats = [601i64, 602, 603];
    let names: Vec<String> = (0..300).map(|i| format!("Fail{i}")).collect();
    let acked = Mutex::new(Vec::<String>::new());
    let bridges = [a.url(""), b.url("")];
    let mut kill_at = Instant::now();
    let mut in_flight: Vec<String> = Vec::new();
    let mut delivered_before = 0;
    let mut held_at_kill = 0;
    let mut acked_at_kill = 0;
    std::thread::scope(|s| {
        for (t, chunk) in names.chunks(75).enumerate() {
            let (acked, bridges) = (&acked, &bridges);
            s.spawn(move || {
                let c = client();
                for (i, n) in chunk.iter().enumerate() {
                    // Spread over both bridges, as two Alertmanagers would.
                    let base = &bridges[(t + i) % 2];
                    let chat = chats[(t + i) % chats.len()];
                    let url = format!("{base}/alert/{chat}");
                    if let Ok((200, _)) = post(&c, &url, &one_alert(n, "firing"), &[]) {
                        acked.lock().unwrap().push(n.clone());
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
        }
        // Mid-burst, Telegram turns slow: what it accepts is delivered but
        // not answered, so the leader holds a claimed batch it cannot mark
        // sent yet. The leader is killed then.
        let started = wait_for(Duration::from_secs(60), || {
            (acked.lock().unwrap().len() >= 60 && !fake.received().is_empty()).then_some(())
        });
        fake.hold_replies(true);
        let holding = wait_for(Duration::from_secs(60), || (fake.held() > 0).then_some(()));
        assert!(
            started.is_some() && holding.is_some(),
            "the leader never had a message out (acknowledged {}, delivered {}); log:\n{}",
            acked.lock().unwrap().len(),
            fake.received().len(),
            a.logs()
        );
        held_at_kill = fake.held();
        acked_at_kill = acked.lock().unwrap().len();
        a.proc.0.kill().unwrap(); // SIGKILL
        kill_at = Instant::now();
        a.proc.0.wait().unwrap();
        // A request the leader wrote just before it died can still be on
        // its way into the fake (recorded once its body is read): let what
        // arrives settle first. The standby cannot lead within this time:
        // the lease runs for a TTL after the dead leader's last renewal.
        settle(&fake, Duration::from_millis(300));
        // What the dead leader had delivered but not marked sent: the rows
        // the next leader will send again (the documented bound).
        let seen = fake.received();
        delivered_before = seen.len();
        let queued = queued_names(&pg);
        let shown = mentions(&seen, &queued);
        in_flight = shown
            .into_iter()
            .filter(|(_, c)| *c > 0)
            .map(|(n, _)| n)
            .collect();
        fake.hold_replies(false);
    });
    let takeover = wait_for(Duration::from_secs(20), || {
        leads(&b).then(|| kill_at.elapsed())
    })
    .unwrap_or_else(|| panic!("the second bridge never took over; log:\n{}", b.logs()));
    // Alertmanager retries what the dead bridge did not acknowledge: to
    // the survivor.
    let mut acked = acked.into_inner().unwrap();
    let acked_before_retry = acked.len();
    post_unacknowledged(&b, &names, &chats, &mut acked);
    let all = fake.wait_until(Duration::from_secs(90), |r| {
        mentions(r, &acked).values().all(|&c| c > 0)
    });
    let received = fake.received();
    let counts = mentions(&received, &acked);
    let missing: Vec<_> = counts.iter().filter(|(_, &c)| c == 0).collect();
    assert!(all, "acknowledged alerts never delivered: {missing:?}");
    let dups: usize = counts.values().map(|&c| c.saturating_sub(1)).sum();
    // Telegram has no idempotency key: a message whose answer was lost is
    // sent again (with or without a failover).
    let lost: Vec<Received> = fake
        .received()
        .into_iter()
        .filter(|r| r.reply_lost)
        .collect();
    let explained: usize = mentions(&lost, &acked).values().sum();
    // A webhook the leader stored but died before answering is, like any
    // unanswered one, sent again by Alertmanager (here: to the survivor),
    // stored a second time and shown twice: at-least-once delivery, not
    // the failover's in-flight batch. Each extra row of an alert is one.
    let mut rows: std::collections::HashMap<String, usize> = Default::default();
    for n in outbox_names(&pg, "TRUE") {
        *rows.entry(n).or_default() += 1;
    }
    let stored_twice: usize = rows.values().map(|&c| c.saturating_sub(1)).sum();
    let failover_dups = dups.saturating_sub(explained + stored_twice);
    eprintln!(
        "failover test: lease ttl {TTL}; leader (epoch {epoch_a}) killed after {acked_at_kill} of 300 acknowledged ({acked_before_retry} by the end of the burst) and {delivered_before} messages delivered; \
         takeover after {takeover:?}; in flight at the kill: {held_at_kill} messages delivered and not answered, {} alerts (delivered, not marked sent); \
         duplicate alert showings: {dups} ({explained} from lost Telegram replies, {stored_twice} from webhooks stored before the kill and sent again unanswered, {failover_dups} from the failover); \
         messages delivered: {}",
        in_flight.len(),
        received.len()
    );
    // The kill really caught a batch in flight, the failover repeated no
    // more than it, and that is within the documented bound: one batch
    // per chat.
    assert!(
        !in_flight.is_empty(),
        "{held_at_kill} messages were held at the kill, yet no queued row had been delivered"
    );
    assert!(
        failover_dups <= in_flight.len(),
        "the failover duplicated {failover_dups} alerts, more than the {} in flight",
        in_flight.len()
    );
    assert!(
        in_flight.len() <= chats.len() * MAX_ALERTS_PER_BATCH,
        "{} alerts in flight: more than one batch ({MAX_ALERTS_PER_BATCH} alerts) for each of {} chats",
        in_flight.len(),
        chats.len()
    );
    assert!(b.metric("outpost_bridge_leader_epoch") > epoch_a);
    // Only the leader sends: nothing after the kill came from the dead one,
    // and the survivor's password never reached its log.
    assert!(!b.logs().contains(PG_PASSWORD));
}

/// The failover's cost in docs/deployment.md is the sender's batch size,
/// read from the one constant that sets it.
#[test]
fn the_documented_failover_bound_is_the_batch_size() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/deployment.md"),
    )
    .unwrap();
    let section = doc
        .split("#### What a failover costs")
        .nth(1)
        .and_then(|s| s.split("\n#### ").next())
        .expect("docs/deployment.md has no \"What a failover costs\" section");
    let claim = format!("at most {MAX_ALERTS_PER_BATCH} alerts per chat");
    assert!(
        section.split_whitespace().collect::<Vec<_>>().join(" ").contains(&claim),
        "docs/deployment.md's \"What a failover costs\" must say \"{claim}\" (bridge::outbox::MAX_ALERTS_PER_BATCH):\n{section}"
    );
}
