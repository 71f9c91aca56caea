//! The group commit of webhook intake on PostgreSQL
//! (`bridge/state/postgres/intake.rs`), on a real server (Debian's
//! `postgresql`): webhooks waiting together share one transaction, and
//! each still gets its own answer (queued with its row and chat, or a
//! duplicate), as one at a time would give.

use std::collections::{HashMap, HashSet};

use outpost::bridge::state::{Intake, Location};

use crate::state::{note, open};
use crate::support::Postgres;

#[test]
fn webhooks_waiting_together_share_a_transaction_and_each_gets_its_answer() {
    let pg = Postgres::start();
    let location = Location::parse(&pg.url());
    // One thread: the 200 intakes below are all queued before the
    // committer's loop runs again, so they wait together.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = open(&location).await;
        s.migrate_chat(7, 8).await.unwrap();
        // 150 keys, the first 50 of them twice (a retry, or the other
        // Alertmanager of a cluster): half to chat 7 (migrated to 8).
        let jobs: Vec<(i64, usize)> = (0..200)
            .map(|i| (if i % 2 == 0 { 7 } else { 9 }, i % 150))
            .collect();
        let tasks: Vec<_> = jobs
            .iter()
            .map(|&(chat, k)| {
                let s = std::sync::Arc::clone(&s);
                tokio::spawn(async move {
                    s.intake(
                        chat,
                        None,
                        note(&format!("N{k}")),
                        format!("key{k}"),
                        60_000,
                        0,
                        String::new(),
                        1_000,
                    )
                    .await
                    .unwrap()
                })
            })
            .collect();
        let mut ids: HashMap<i64, usize> = HashMap::new();
        let mut stored = HashSet::new();
        for (t, &(chat, k)) in tasks.into_iter().zip(&jobs) {
            // Of the two webhooks with one key, whichever commits first is
            // stored and the other is a duplicate: they race.
            match t.await.unwrap() {
                Intake::Queued { id, chat: to, .. } => {
                    assert!(stored.insert(k), "key{k} stored twice");
                    assert_eq!(to, if chat == 7 { 8 } else { 9 }, "key{k}");
                    assert!(ids.insert(id, k).is_none(), "row {id} given twice");
                }
                Intake::Duplicate => assert!(k < 50, "key{k} sent once, called a duplicate"),
                other => panic!("key{k} to chat {chat}: {other:?}"),
            }
        }
        assert_eq!(ids.len(), 150);
        // Every answer names its own row: the row holds that key's alert.
        let (c, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let rows = c
            .query("SELECT id, xmin::text, payload FROM outbox", &[])
            .await
            .unwrap();
        assert_eq!(rows.len(), 150);
        let mut transactions = HashSet::new();
        for r in &rows {
            let id: i64 = r.get(0);
            let payload: &str = r.get(2);
            let k = ids
                .get(&id)
                .unwrap_or_else(|| panic!("row {id} answered to no webhook"));
            assert!(
                payload.contains(&format!("\"N{k}\"")),
                "row {id}, answered to key{k}, holds {payload}"
            );
            transactions.insert(r.get::<_, String>(1));
        }
        // One at a time would be 150 transactions (and WAL flushes).
        assert!(
            transactions.len() <= 10,
            "150 rows stored in {} transactions",
            transactions.len()
        );
    });
}
