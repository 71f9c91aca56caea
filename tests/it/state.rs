//! The bridge's state through its one interface, on both backends: the
//! same behaviour checks run on a SQLite file and on a real PostgreSQL
//! (Debian's `postgresql`, started by [`Postgres`]); then what only a
//! shared database has: one dedup key for two bridges, versioned schema
//! migrations, the lease and its fencing, a password never in an error.

use std::sync::Arc;
use std::time::Duration;

use outpost::bridge::outbox::Content;
use outpost::bridge::payload::{Alert, Notification};
use outpost::bridge::state::{self, Intake, Location, State, StateError, Stats};
use outpost::chat::audit::{Entry, Retention};

use crate::support::{Postgres, PG_PASSWORD};

pub(crate) fn note(name: &str) -> Notification {
    let mut n = Notification {
        status: "firing".into(),
        ..Default::default()
    };
    let mut a = Alert {
        status: "firing".into(),
        fingerprint: name.into(),
        ..Default::default()
    };
    a.labels.insert("alertname".into(), name.into());
    n.alerts.push(a);
    n
}

pub(crate) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub(crate) async fn open(location: &Location) -> Arc<dyn State> {
    state::open(location, &state::Options::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Everything the bridge relies on, on one fresh state.
async fn behaves(s: Arc<dyn State>) {
    // Intake and the dedup window.
    let key = note("A").dedup_key(1, None);
    let r = s
        .intake(
            1,
            None,
            note("A"),
            key.clone(),
            60_000,
            0,
            String::new(),
            1000,
        )
        .await
        .unwrap();
    assert!(matches!(r, Intake::Queued { chat: 1, .. }), "{r:?}");
    let again = s
        .intake(
            1,
            None,
            note("A"),
            key.clone(),
            60_000,
            0,
            String::new(),
            30_000,
        )
        .await
        .unwrap();
    assert_eq!(again, Intake::Duplicate);
    let later = s
        .intake(1, None, note("A"), key, 60_000, 0, String::new(), 200_000)
        .await
        .unwrap();
    assert!(matches!(later, Intake::Queued { .. }));
    let nothing = s
        .intake(
            1,
            None,
            Notification::default(),
            "e".into(),
            1,
            0,
            String::new(),
            1,
        )
        .await
        .unwrap();
    assert_eq!(nothing, Intake::Nothing);

    // The queue, the claim, the marks, the figures.
    assert_eq!(s.queued_chats().await.unwrap(), vec![1]);
    let (_, epoch_ok) = lead(&s).await;
    let rows = s.claim(1, 100, epoch_ok).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].id < rows[1].id);
    assert_eq!(rows[0].received_ms, 1000);
    assert_eq!(rows[0].content, Content::Alerts(note("A")));
    assert_eq!(
        s.stats().await.unwrap(),
        Stats {
            queued: 2,
            failed: 0,
            oldest_queued_ms: Some(1000)
        }
    );
    s.mark_sent(vec![rows[0].id], 5).await.unwrap();
    s.mark_failed(vec![rows[1].id], "blocked".into(), 5)
        .await
        .unwrap();
    let st = s.stats().await.unwrap();
    assert_eq!((st.queued, st.failed), (0, 1));
    assert_eq!(
        s.sent_rows().await.unwrap(),
        1,
        "the delivered row, kept a day"
    );
    assert!(s.queued_chats().await.unwrap().is_empty());

    // Text rows keep their order among alerts.
    s.enqueue_text(2, Some(9), "<b>hi</b>".into(), 7)
        .await
        .unwrap();
    s.intake(2, Some(9), note("B"), "kb".into(), 1, 0, String::new(), 8)
        .await
        .unwrap();
    let rows = s.queued(2, 10).await.unwrap();
    assert_eq!(rows[0].content, Content::Text("<b>hi</b>".into()));
    assert_eq!(rows[0].thread, Some(9));
    assert_eq!(rows[1].content, Content::Alerts(note("B")));
    assert_eq!(s.queued(2, 1).await.unwrap().len(), 1, "the limit holds");

    // Chat migrations move the queue, the firing ids and future intake.
    s.remember_firing(2, vec!["B".into()], 77, 9).await.unwrap();
    s.migrate_chat(2, -1002).await.unwrap();
    s.intake(2, None, note("C"), "kc".into(), 1, 0, String::new(), 10)
        .await
        .unwrap();
    assert!(s.queued(2, 10).await.unwrap().is_empty());
    assert_eq!(s.queued(-1002, 10).await.unwrap().len(), 3);
    assert_eq!(
        s.firing_message(-1002, vec!["x".into(), "B".into()])
            .await
            .unwrap(),
        Some(77)
    );
    assert_eq!(
        s.firing_message(-1002, vec!["x".into()]).await.unwrap(),
        None
    );
    // A second upgrade: the chain is followed.
    s.migrate_chat(-1002, -1003).await.unwrap();
    let r = s
        .intake(2, None, note("D"), "kd".into(), 1, 0, String::new(), 11)
        .await
        .unwrap();
    assert!(matches!(r, Intake::Queued { chat: -1003, .. }), "{r:?}");

    // The watchdog: silent once, then a recovery notice.
    let r = s
        .intake(
            3,
            Some(4),
            Notification::default(),
            "h".into(),
            1,
            1,
            "back".into(),
            1_000,
        )
        .await
        .unwrap();
    assert_eq!(r, Intake::Nothing);
    assert!(s
        .expire_watchdogs(50_000, 60_000, 0, "silent".into())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        s.expire_watchdogs(70_000, 60_000, 0, "silent".into())
            .await
            .unwrap(),
        vec![3]
    );
    assert!(s
        .expire_watchdogs(80_000, 60_000, 0, "silent".into())
        .await
        .unwrap()
        .is_empty());
    s.intake(
        3,
        Some(4),
        Notification::default(),
        "h".into(),
        1,
        1,
        "back".into(),
        90_000,
    )
    .await
    .unwrap();
    let texts: Vec<_> = s
        .queued(3, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.content, r.thread))
        .collect();
    assert_eq!(
        texts,
        vec![
            (Content::Text("silent".into()), Some(4)),
            (Content::Text("back".into()), Some(4))
        ]
    );
    let w = s.watchdogs().await.unwrap();
    assert_eq!(
        (w[0].chat, w[0].silent, w[0].last_seen_ms),
        (3, false, 90_000)
    );

    // The audit log and the refusal memory.
    let retention = Retention {
        max_age: Duration::from_secs(60),
        max_rows: 2,
    };
    for at_ms in [1, 2, 3] {
        let e = Entry {
            at_ms,
            user_id: 7,
            username: Some("ann".into()),
            chat_id: 7,
            action: "/status".into(),
            result: "ok".into(),
        };
        s.record_audit(e, retention).await.unwrap();
    }
    let at: Vec<i64> = s
        .latest_audit(10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.at_ms)
        .collect();
    assert_eq!(at, vec![3, 2], "the row cap holds at every insert");
    assert!(s.should_refuse_loudly(9, 0).await.unwrap());
    assert!(!s.should_refuse_loudly(9, 1).await.unwrap());
    assert!(s.should_refuse_loudly(9, 3_600_000).await.unwrap());
    s.prune_audit(61_000, retention).await.unwrap();
    assert!(s.latest_audit(10).await.unwrap().is_empty());

    // The update offset.
    assert_eq!(s.bot_offset().await.unwrap(), 0);
    s.save_bot_offset(41, epoch_ok).await.unwrap();
    s.save_bot_offset(42, epoch_ok).await.unwrap();
    assert_eq!(s.bot_offset().await.unwrap(), 42);

    // Pruning: sent rows after a day, failed after a week, old keys.
    let two_days = 2 * 86_400_000;
    s.prune(two_days, 1000).await.unwrap();
    let st = s.stats().await.unwrap();
    assert_eq!(st.failed, 1, "the failed row stays a week");
    s.prune(8 * 86_400_000, 1000).await.unwrap();
    assert_eq!(s.stats().await.unwrap().failed, 0);
    // The dedup key of "A" is gone: the same notification is new again.
    let r = s
        .intake(
            1,
            None,
            note("A"),
            note("A").dedup_key(1, None),
            60_000,
            0,
            String::new(),
            8 * 86_400_000,
        )
        .await
        .unwrap();
    assert!(matches!(r, Intake::Queued { .. }));
}

/// Takes the lease (immediately: a fresh state has none).
async fn lead(s: &Arc<dyn State>) -> (String, i64) {
    let holder = format!("test-{}", std::process::id());
    let epoch = s
        .acquire_lease(&holder, 60_000)
        .await
        .unwrap()
        .expect("a fresh state's lease is free");
    (holder, epoch)
}

#[test]
fn sqlite_state_behaves() {
    let dir = tempfile::tempdir().unwrap();
    let location = Location::Sqlite(dir.path().join("s.db"));
    rt().block_on(async {
        let s = open(&location).await;
        assert!(!s.shared());
        behaves(s).await;
    });
}

#[test]
fn postgres_state_behaves() {
    let pg = Postgres::start();
    let location = Location::parse(&pg.url());
    rt().block_on(async {
        let s = open(&location).await;
        assert!(s.shared());
        behaves(s).await;
    });
}

#[test]
fn two_bridges_given_the_same_notification_store_it_once() {
    let pg = Postgres::start();
    let location = Location::parse(&pg.url());
    rt().block_on(async {
        let a = open(&location).await;
        let b = open(&location).await;
        // 50 keys, each sent to both at once (two Alertmanagers of a
        // cluster): each stored exactly once.
        let mut tasks = Vec::new();
        for i in 0..50 {
            for s in [&a, &b] {
                let s = Arc::clone(s);
                tasks.push(tokio::spawn(async move {
                    s.intake(
                        5,
                        None,
                        note(&format!("N{i}")),
                        format!("key{i}"),
                        60_000,
                        0,
                        String::new(),
                        1_000,
                    )
                    .await
                    .unwrap()
                }));
            }
        }
        let mut queued = 0;
        let mut dups = 0;
        for t in tasks {
            match t.await.unwrap() {
                Intake::Queued { .. } => queued += 1,
                Intake::Duplicate => dups += 1,
                Intake::Nothing => panic!("nothing?"),
            }
        }
        assert_eq!((queued, dups), (50, 50));
        assert_eq!(a.queued(5, 1000).await.unwrap().len(), 50);
    });
}

#[test]
fn the_schema_is_versioned_and_migrated_once_by_bridges_starting_together() {
    let pg = Postgres::start();
    let location = Location::parse(&pg.url());
    rt().block_on(async {
        let opens: Vec<_> = (0..4)
            .map(|_| {
                let l = location.clone();
                tokio::spawn(async move { open(&l).await })
            })
            .collect();
        for o in opens {
            o.await.unwrap();
        }
        // And again on a migrated database: nothing to do, no error.
        let s = open(&location).await;
        s.enqueue_text(1, None, "x".into(), 1).await.unwrap();
        let (client, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let versions: Vec<i32> = client
            .query("SELECT version FROM outpost_schema ORDER BY version", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(versions, vec![1, 2, 3, 4]);
        // A database from a newer outpost is refused, not misread.
        client
            .execute("INSERT INTO outpost_schema(version) VALUES (999)", &[])
            .await
            .unwrap();
        let err = state::open(&location, &state::Options::default())
            .await
            .err()
            .expect("a newer schema is refused")
            .to_string();
        assert!(err.contains("newer"), "{err}");
    });
}

#[test]
fn the_lease_has_one_holder_and_its_epoch_fences_a_replaced_leader() {
    let pg = Postgres::start();
    let location = Location::parse(&pg.url());
    rt().block_on(async {
        let a = open(&location).await;
        let b = open(&location).await;
        let e1 = a.acquire_lease("a", 500).await.unwrap().unwrap();
        assert_eq!(b.acquire_lease("b", 500).await.unwrap(), None, "held");
        assert!(a.renew_lease("a", e1, 500).await.unwrap());
        a.enqueue_text(1, None, "x".into(), 1).await.unwrap();
        assert_eq!(a.claim(1, 10, e1).await.unwrap().len(), 1);
        a.save_bot_offset(10, e1).await.unwrap();
        // a stops renewing (paused, partitioned): b takes over after the
        // expiry, in a new epoch.
        tokio::time::sleep(Duration::from_millis(700)).await;
        let e2 = b.acquire_lease("b", 5_000).await.unwrap().unwrap();
        assert!(e2 > e1);
        assert!(!a.renew_lease("a", e1, 500).await.unwrap(), "a lost it");
        // What a still writes with its old epoch is refused.
        assert!(matches!(
            a.claim(1, 10, e1).await,
            Err(StateError::Fenced { epoch }) if epoch == e1
        ));
        assert!(matches!(
            a.save_bot_offset(99, e1).await,
            Err(StateError::Fenced { .. })
        ));
        assert_eq!(b.bot_offset().await.unwrap(), 10);
        // The row a claimed but never marked sent is b's to deliver.
        let rows = b.claim(1, 10, e2).await.unwrap();
        assert_eq!(rows.len(), 1);
        b.save_bot_offset(11, e2).await.unwrap();
        // A clean shutdown gives the lease up at once.
        b.release_lease("b", e2).await.unwrap();
        let e3 = a.acquire_lease("a", 500).await.unwrap().unwrap();
        assert_eq!(e3, e2 + 1);
    });
}

#[test]
fn the_password_never_appears_in_errors() {
    let pg = Postgres::start();
    let wrong = pg.url().replace(PG_PASSWORD, "wrong-Pa55word-DoNotLeak");
    rt().block_on(async {
        let err = state::open(&Location::parse(&wrong), &state::Options::default())
            .await
            .err()
            .expect("a wrong password is refused")
            .to_string();
        assert!(!err.contains("wrong-Pa55word-DoNotLeak"), "{err}");
        assert!(err.contains("password"), "says why: {err}");
        assert!(err.contains(&format!("127.0.0.1:{}", pg.port)), "{err}");
        // The location prints redacted too (it is what the log shows).
        let shown = Location::parse(&pg.url()).to_string();
        assert!(!shown.contains(PG_PASSWORD), "{shown}");
    });
}
