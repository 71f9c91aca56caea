//! The on-call state ([`OnCallStore`]) through the bridge's one state
//! interface, the same checks on a SQLite file and on a real PostgreSQL
//! (Debian's `postgresql`): acknowledgements (the first taker stays),
//! escalation levels that survive reopening the state, resolution, firing
//! anew, alert keyboards and pruning.

use outpost::bridge::state::{AckTarget, Firing, Keyboard, Location, Shown, ONCALL_KEEP_MS};

use crate::state::{open, rt};
use crate::support::Postgres;

fn firing(fp: &str, critical: bool, starts_ms: i64) -> Firing {
    Firing {
        fingerprint: fp.into(),
        alertname: format!("Alert{fp}"),
        agent: "web1".into(),
        critical,
        chat_id: 7,
        thread_id: Some(3),
        starts_ms,
    }
}

fn levels(due: &[outpost::bridge::state::Due]) -> Vec<(&str, u32)> {
    due.iter()
        .map(|d| (d.firing.fingerprint.as_str(), d.level))
        .collect()
}

/// Runs the checks on the state at `location`, opening it twice.
fn oncall_behaves(location: &Location) {
    rt().block_on(async {
        let s = open(location).await;
        s.track_firing(vec![
            firing("a1", true, 0),
            firing("b2", true, 0),
            firing("c3", false, 0),
        ])
        .await
        .unwrap();
        let acks = s
            .ack(
                AckTarget::Fingerprint("a1".into()),
                42,
                "@alice".into(),
                500,
            )
            .await
            .unwrap();
        assert_eq!(acks.len(), 1);
        assert_eq!(
            (acks[0].alertname.as_str(), acks[0].user_id, acks[0].new),
            ("Alerta1", 42, true)
        );
        // A second taker keeps the first one's name.
        let again = s
            .ack(
                AckTarget::Alertname("Alerta1".into()),
                43,
                "@bob".into(),
                600,
            )
            .await
            .unwrap();
        assert_eq!(
            (again[0].who.as_str(), again[0].at_ms, again[0].new),
            ("@alice", 500, false)
        );
        assert!(s.due_escalations(999, 1000, 2).await.unwrap().is_empty());
        let due = s.due_escalations(1000, 1000, 2).await.unwrap();
        assert_eq!(
            levels(&due),
            vec![("b2", 1)],
            "only the unacknowledged critical one, once"
        );
        assert_eq!(due[0].firing, firing("b2", true, 0));
        // Keyboards of the messages that announced an alert.
        s.remember_firing(7, vec!["b2".into()], 70, 100)
            .await
            .unwrap();
        s.remember_firing(8, vec!["b2".into()], 80, 100)
            .await
            .unwrap();
        s.remember_keyboard(7, 70, "{\"v\":1}".into())
            .await
            .unwrap();
        s.remember_keyboard(7, 70, "{\"v\":2}".into())
            .await
            .unwrap();
        s.remember_keyboard(8, 80, "{\"v\":3}".into())
            .await
            .unwrap();
        // The text of one of them (replaced by an edit).
        for html in ["<b>first</b>", "<b>edited</b>"] {
            s.remember_shown(
                7,
                70,
                Shown {
                    html: html.into(),
                    caption: true,
                },
            )
            .await
            .unwrap();
        }
        assert_eq!(
            s.keyboards_of("b2".into()).await.unwrap(),
            vec![
                Keyboard {
                    chat: 7,
                    message_id: 70,
                    markup: "{\"v\":2}".into(),
                    shown: Some(Shown {
                        html: "<b>edited</b>".into(),
                        caption: true
                    })
                },
                Keyboard {
                    chat: 8,
                    message_id: 80,
                    markup: "{\"v\":3}".into(),
                    shown: None
                }
            ]
        );
        assert!(s.keyboards_of("a1".into()).await.unwrap().is_empty());
    });
    // Reopened (a restart, or the other bridge of a pair): the level and
    // the acknowledgement are where they were.
    rt().block_on(async {
        let s = open(location).await;
        assert!(s.due_escalations(1500, 1000, 2).await.unwrap().is_empty());
        let due = s.due_escalations(2000, 1000, 2).await.unwrap();
        assert_eq!(levels(&due), vec![("b2", 2)]);
        assert!(s.due_escalations(9000, 1000, 2).await.unwrap().is_empty());
        let handled = s
            .resolve_alerts(vec!["a1".into(), "b2".into(), "zz".into()], 3000)
            .await
            .unwrap();
        assert_eq!(handled.len(), 2, "an unknown alert is not reported");
        assert_eq!(handled[0].who.as_deref(), Some("@alice"));
        assert_eq!(handled[0].acked_ms, Some(500));
        assert_eq!(handled[1].who, None);
        assert_eq!(handled[1].starts_ms, 0);
        // Resolved alerts cannot be acknowledged.
        assert!(s
            .ack(
                AckTarget::Fingerprint("b2".into()),
                42,
                "@alice".into(),
                3100
            )
            .await
            .unwrap()
            .is_empty());
        // Firing again starts afresh: no ack, level 0, the new start.
        s.track_firing(vec![firing("a1", true, 5000)])
            .await
            .unwrap();
        let due = s.due_escalations(6000, 1000, 1).await.unwrap();
        assert_eq!(levels(&due), vec![("a1", 1)]);
        assert_eq!(due[0].firing.starts_ms, 5000);
        // Level 1 is the most without an escalation chat.
        assert!(s.due_escalations(99_000, 1000, 1).await.unwrap().is_empty());

        // Pruning: a month after b2 resolved it is forgotten (resolving it
        // again reports nothing); a1 (firing again) and c3 (never
        // resolved) stay, and so does a1's acknowledgement-free state.
        s.prune_oncall(ONCALL_KEEP_MS + 2999).await.unwrap();
        let kept = s.resolve_alerts(vec!["b2".into()], 3001).await.unwrap();
        assert_eq!(kept.len(), 1, "not a month yet");
        s.prune_oncall(ONCALL_KEEP_MS + 3001).await.unwrap();
        assert!(s
            .resolve_alerts(vec!["b2".into()], 3002)
            .await
            .unwrap()
            .is_empty());
        let still = s
            .ack(
                AckTarget::Alertname("Alertc3".into()),
                44,
                "@carol".into(),
                7000,
            )
            .await
            .unwrap();
        assert_eq!((still.len(), still[0].new), (1, true));
        // Keyboards go with their firing message ids (pruned after 30
        // days by the outbox's pruning).
        s.prune_oncall(ONCALL_KEEP_MS + 3001).await.unwrap();
        assert_eq!(s.keyboards_of("b2".into()).await.unwrap().len(), 2);
        s.prune(ONCALL_KEEP_MS + 101, 1).await.unwrap();
        s.prune_oncall(ONCALL_KEEP_MS + 101).await.unwrap();
        assert!(s.keyboards_of("b2".into()).await.unwrap().is_empty());
        s.remember_firing(7, vec!["b2".into()], 70, ONCALL_KEEP_MS + 200)
            .await
            .unwrap();
        assert!(
            s.keyboards_of("b2".into()).await.unwrap().is_empty(),
            "the keyboard row itself was deleted"
        );
        s.remember_keyboard(7, 70, "{}".into()).await.unwrap();
        let kept = s.keyboards_of("b2".into()).await.unwrap();
        assert_eq!(kept[0].shown, None, "the text row was deleted with it");
    });
}

#[test]
fn sqlite_oncall_state_acks_escalates_across_reopen_and_prunes() {
    let dir = tempfile::tempdir().unwrap();
    oncall_behaves(&Location::Sqlite(dir.path().join("s.db")));
}

#[test]
fn postgres_oncall_state_acks_escalates_across_reopen_and_prunes() {
    let pg = Postgres::start();
    oncall_behaves(&Location::parse(&pg.url()));
}
