//! Who gets what in the state ([`AudienceStore`] and the outbox's intake),
//! the same checks on a SQLite file and on a real PostgreSQL (Debian's
//! `postgresql`): subscriptions by chat, copies for subscribed chats
//! stored with the notification (each chat once, the routed chat never
//! twice), subscriptions moved by a chat migration, mutes that expire,
//! quiet hours, and pruning.

use outpost::bridge::payload::{Alert, Notification};
use outpost::bridge::state::{Intake, Location, MuteTarget, QuietHours, Topic};
use outpost::chat::audience::Mute;

use crate::state::{open, rt};
use crate::support::Postgres;

fn note(agent: &str, name: &str, receiver: &str) -> Notification {
    let mut a = Alert {
        status: "firing".into(),
        fingerprint: format!("{agent}-{name}"),
        ..Default::default()
    };
    a.labels.insert("alertname".into(), name.into());
    a.labels.insert("agent".into(), agent.into());
    Notification {
        status: "firing".into(),
        receiver: receiver.into(),
        alerts: vec![a],
        ..Default::default()
    }
}

/// The agents of the alerts queued for `chat`.
async fn agents_queued(s: &dyn outpost::bridge::state::State, chat: i64) -> Vec<String> {
    s.queued(chat, 100)
        .await
        .unwrap()
        .iter()
        .flat_map(|r| match &r.content {
            outpost::bridge::outbox::Content::Alerts(n) => n
                .alerts
                .iter()
                .map(|a| a.labels["agent"].clone())
                .collect::<Vec<_>>(),
            outpost::bridge::outbox::Content::Text(t) => vec![t.clone()],
        })
        .collect()
}

fn audience_behaves(location: &Location) {
    rt().block_on(async {
        let s = open(location).await;
        let web1 = || Topic::Agent("web1".into());
        let take = |n: Notification, chat: i64, now: i64| {
            let s = s.clone();
            async move {
                let key = n.dedup_key(chat, None);
                s.intake(chat, None, n, key, 60_000, 0, String::new(), now)
                    .await
                    .unwrap()
            }
        };
        // No subscriptions: only the routed chat.
        let r = take(note("web1", "A", "team"), 1, 1).await;
        assert!(
            matches!(&r, Intake::Queued { chat: 1, copies, .. } if copies.is_empty()),
            "{r:?}"
        );

        // Chat 2 subscribes to web1, chat 3 to all (twice: once is kept).
        assert_eq!(s.subscribe(2, vec![web1()], 5).await.unwrap(), vec![web1()]);
        s.subscribe(3, vec![Topic::All], 5).await.unwrap();
        assert_eq!(
            s.subscribe(3, vec![Topic::All], 6).await.unwrap(),
            vec![Topic::All]
        );
        assert_eq!(
            s.subscriptions(None).await.unwrap(),
            vec![(2, web1()), (3, Topic::All)]
        );
        let r = take(note("web1", "B", "team"), 1, 10).await;
        assert!(
            matches!(&r, Intake::Queued { chat: 1, copies, .. } if copies == &vec![2, 3]),
            "{r:?}"
        );
        let r = take(note("db1", "C", "team"), 1, 11).await;
        assert!(
            matches!(&r, Intake::Queued { copies, .. } if copies == &vec![3]),
            "{r:?}"
        );
        assert_eq!(agents_queued(s.as_ref(), 2).await, ["web1"]);
        assert_eq!(agents_queued(s.as_ref(), 3).await, ["web1", "db1"]);
        // A second route naming chat 3 with the same alerts: not again.
        let r = take(note("db1", "C", "oncall"), 3, 12).await;
        assert_eq!(r, Intake::Duplicate);
        // Routed to a subscribed chat first: its copy from chat 1's route is dropped.
        let r = take(note("web1", "D", "oncall"), 3, 13).await;
        assert!(
            matches!(&r, Intake::Queued { chat: 3, copies, .. } if copies == &vec![2]),
            "{r:?}"
        );
        let r = take(note("web1", "D", "team"), 1, 14).await;
        assert!(
            matches!(&r, Intake::Queued { chat: 1, copies, .. } if copies.is_empty()),
            "{r:?}"
        );
        assert_eq!(agents_queued(s.as_ref(), 3).await, ["web1", "db1", "web1"]);

        // A migration moves subscriptions; the old id finds them too.
        s.migrate_chat(2, -1002).await.unwrap();
        assert_eq!(
            s.subscriptions(Some(2)).await.unwrap(),
            vec![(-1002, web1())]
        );
        let r = take(note("web1", "E", "team"), 1, 20).await;
        assert!(
            matches!(&r, Intake::Queued { copies, .. } if copies == &vec![-1002, 3]),
            "{r:?}"
        );

        // Unsubscribe one agent, then everything.
        s.subscribe(-1002, vec![Topic::Agent("db1".into())], 21)
            .await
            .unwrap();
        assert_eq!(
            s.unsubscribe(-1002, vec![web1()]).await.unwrap(),
            vec![Topic::Agent("db1".into())]
        );
        assert!(s.unsubscribe(3, vec![Topic::All]).await.unwrap().is_empty());
        let r = take(note("web1", "F", "team"), 1, 22).await;
        assert!(
            matches!(&r, Intake::Queued { copies, .. } if copies.is_empty()),
            "{r:?}"
        );

        // Mutes and quiet hours, per user; expired mutes are not shown.
        let agent = MuteTarget::Agent("web1".into());
        let alert = MuteTarget::Alert("AgentDown".into());
        s.mute(42, agent.clone(), 1_000).await.unwrap();
        s.mute(42, agent.clone(), 2_000).await.unwrap();
        s.mute(42, alert.clone(), 500).await.unwrap();
        let night = QuietHours::parse("22:00-07:00").unwrap();
        s.set_quiet(43, Some(night)).await.unwrap();
        let all = s.user_settings(600).await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(
            (all[0].user_id, all[0].mutes.clone(), all[0].quiet),
            (
                42,
                vec![Mute {
                    target: agent.clone(),
                    until_ms: 2_000
                }],
                None
            )
        );
        assert_eq!((all[1].user_id, all[1].quiet), (43, Some(night)));
        assert!(s.unmute(42, agent.clone()).await.unwrap());
        assert!(!s.unmute(42, agent.clone()).await.unwrap());
        s.set_quiet(43, None).await.unwrap();
        assert!(s.user_settings(600).await.unwrap().is_empty());
        // Pruning forgets expired mutes (a reopen sees what was kept).
        s.mute(44, alert.clone(), 10_000).await.unwrap();
        s.prune_audience(600).await.unwrap();
        assert_eq!(s.user_settings(0).await.unwrap().len(), 1);
        drop(s);
        let again = open(location).await;
        assert_eq!(again.user_settings(0).await.unwrap()[0].user_id, 44);
        assert_eq!(
            again.subscriptions(None).await.unwrap(),
            vec![(-1002, Topic::Agent("db1".into()))]
        );
    });
}

#[test]
fn sqlite_audience_state_copies_to_subscribers_once_and_keeps_settings() {
    let dir = tempfile::tempdir().unwrap();
    audience_behaves(&Location::Sqlite(dir.path().join("s.db")));
}

#[test]
fn postgres_audience_state_copies_to_subscribers_once_and_keeps_settings() {
    let pg = Postgres::start();
    audience_behaves(&Location::parse(&pg.url()));
}
