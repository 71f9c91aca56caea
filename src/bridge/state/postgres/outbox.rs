//! The outbox's queries in PostgreSQL: intake (the dedup key unique in
//! the database, watchdog heartbeats, copies for subscribed chats), the
//! fenced claim, delivery marks, figures and pruning.
//!
//! A notification first looks at the subscriptions (read at most once a
//! second, `audience.rs`). Without heartbeats or
//! subscriptions it then goes through the group commit in `intake.rs`
//! (one statement, [`INTAKE`], shared by the webhooks waiting together);
//! otherwise one transaction, key by key (see [`crate::bridge::fanout`]).

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::super::{Epoch, Intake, OutboxStore, StateError, Stats};
use super::intake::Pending;
use super::PgState;
use crate::bridge::fanout;
use crate::bridge::outbox::{Content, Row};
use crate::bridge::payload::Notification;

/// Stores a notification unless its key was seen within the window, in
/// one statement: the dedup upsert only returns a row when the key is new
/// or past its window (a concurrent intake of the same key waits on the
/// key's row and then sees it fresh), and only then is the row queued,
/// for the chat after a remembered migration.
const INTAKE: &str = "
WITH target AS (
    SELECT COALESCE((SELECT to_chat FROM chat_migration WHERE from_chat = $1), $1) AS chat
), fresh AS (
    INSERT INTO dedup(key, first_seen_ms) VALUES ($4, $6)
    ON CONFLICT (key) DO UPDATE SET first_seen_ms = excluded.first_seen_ms
        WHERE dedup.first_seen_ms <= $6 - $5
    RETURNING 1
)
INSERT INTO outbox(chat_id, thread_id, kind, payload, received_ms)
SELECT target.chat, $2, 'alerts', $3, $6 FROM target, fresh
RETURNING id, chat_id";

/// Records a dedup key as seen unless it was within its window; returns
/// a row only when it was new (or past its window).
const FRESH: &str = "
INSERT INTO dedup(key, first_seen_ms) VALUES ($1, $2)
ON CONFLICT (key) DO UPDATE SET first_seen_ms = excluded.first_seen_ms
    WHERE dedup.first_seen_ms <= $2 - $3
RETURNING 1";

/// Whether `key` is new at `now_ms` (or past `window_ms`); records it.
async fn fresh(
    c: &impl GenericClient,
    key: &str,
    (window_ms, now_ms): (i64, i64),
) -> Result<bool, tokio_postgres::Error> {
    let st = c.prepare_cached(FRESH).await?;
    Ok(c.query_opt(&st, &[&key, &now_ms, &window_ms])
        .await?
        .is_some())
}

const INSERT_ROW: &str = "
INSERT INTO outbox(chat_id, thread_id, kind, payload, received_ms)
VALUES (COALESCE((SELECT to_chat FROM chat_migration WHERE from_chat = $1), $1), $2, $3, $4, $5)
RETURNING id";

const COLUMNS: &str = "id, chat_id, thread_id, kind, payload, received_ms";

/// Queues `content` for `chat` (after a remembered migration).
pub(super) async fn insert_row(
    c: &impl GenericClient,
    chat: i64,
    thread: Option<i64>,
    content: &Content,
    now_ms: i64,
) -> Result<i64, tokio_postgres::Error> {
    let payload = match content {
        Content::Alerts(n) => serde_json::to_string(n).unwrap_or_default(),
        Content::Text(t) => t.clone(),
    };
    let row = c
        .query_one(
            INSERT_ROW,
            &[&chat, &thread, &content.kind(), &payload, &now_ms],
        )
        .await?;
    Ok(row.get(0))
}

impl PgState {
    /// Stores one notification with [`INTAKE`], in its own transaction
    /// (the group commit's fallback, and the path without it).
    pub(super) async fn intake_one(
        &self,
        chat: i64,
        thread: Option<i64>,
        payload: &str,
        dedup_key: &str,
        window_ms: i64,
        now_ms: i64,
    ) -> Result<Intake, StateError> {
        let c = self.conn().await?;
        let st = c.prepare_cached(INTAKE).await.map_err(|e| self.err(e))?;
        let row = c
            .query_opt(
                &st,
                &[&chat, &thread, &payload, &dedup_key, &window_ms, &now_ms],
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(match row {
            Some(r) => Intake::Queued {
                id: r.get(0),
                chat: r.get(1),
                copies: Vec::new(),
            },
            None => Intake::Duplicate,
        })
    }
}

fn rows(found: Vec<tokio_postgres::Row>) -> Vec<Row> {
    let mut rows: Vec<Row> = found
        .into_iter()
        .map(|r| {
            let kind: String = r.get(3);
            Row::stored(r.get(0), r.get(1), r.get(2), &kind, r.get(4), r.get(5))
        })
        .collect();
    rows.sort_by_key(|r| r.id);
    rows
}

#[async_trait]
impl OutboxStore for PgState {
    async fn intake(
        &self,
        chat: i64,
        thread: Option<i64>,
        notification: Notification,
        dedup_key: String,
        window_ms: i64,
        heartbeats: usize,
        recovery: String,
        now_ms: i64,
    ) -> Result<Intake, StateError> {
        let payload = if notification.alerts.is_empty() {
            None
        } else {
            Some(serde_json::to_string(&notification).map_err(|e| StateError::Db(e.to_string()))?)
        };
        // Read before the transaction: a subscription made meanwhile
        // counts from the next notification.
        let subscriptions = match payload {
            Some(_) => self.intake_subscriptions().await?,
            None => Default::default(),
        };
        if heartbeats == 0 && subscriptions.is_empty() {
            let Some(payload) = payload else {
                return Ok(Intake::Nothing);
            };
            return match &self.committer {
                Some(committer) => {
                    committer
                        .intake(Pending {
                            chat,
                            thread,
                            payload,
                            key: dedup_key,
                            window_ms,
                            now_ms,
                            reply: tokio::sync::oneshot::channel().0,
                        })
                        .await
                }
                None => {
                    self.intake_one(chat, thread, &payload, &dedup_key, window_ms, now_ms)
                        .await
                }
            };
        }
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        let target: i64 = tx
            .query_one(
                "SELECT COALESCE((SELECT to_chat FROM chat_migration WHERE from_chat = $1), $1)",
                &[&chat],
            )
            .await
            .map_err(|e| self.err(e))?
            .get(0);
        if heartbeats > 0 {
            // The old `silent`, read under the row's lock.
            let was_silent = tx
                .query_opt(
                    "SELECT silent FROM watchdog WHERE chat_id = $1 FOR UPDATE",
                    &[&target],
                )
                .await
                .map_err(|e| self.err(e))?
                .is_some_and(|r| r.get::<_, bool>(0));
            tx.execute(
                "INSERT INTO watchdog(chat_id, thread_id, last_seen_ms, silent) VALUES ($1, $2, $3, false)
                 ON CONFLICT (chat_id) DO UPDATE SET thread_id = excluded.thread_id,
                     last_seen_ms = excluded.last_seen_ms, silent = false",
                &[&target, &thread, &now_ms],
            )
            .await
            .map_err(|e| self.err(e))?;
            if was_silent {
                insert_row(&tx, target, thread, &Content::Text(recovery), now_ms)
                    .await
                    .map_err(|e| self.err(e))?;
            }
        }
        let outcome = match payload {
            None => Intake::Nothing,
            Some(_) => {
                let window = (window_ms, now_ms);
                let new = fresh(&tx, &dedup_key, window)
                    .await
                    .map_err(|e| self.err(e))?
                    && (!fanout::subscribed(target, &subscriptions)
                        || fresh(&tx, &notification.delivery_key(target), window)
                            .await
                            .map_err(|e| self.err(e))?);
                if new {
                    let copies = fanout::copies(&notification, target, &subscriptions);
                    let id =
                        insert_row(&tx, target, thread, &Content::Alerts(notification), now_ms)
                            .await
                            .map_err(|e| self.err(e))?;
                    let mut chats = Vec::new();
                    for copy in copies {
                        if fresh(&tx, &copy.key, window)
                            .await
                            .map_err(|e| self.err(e))?
                        {
                            insert_row(
                                &tx,
                                copy.chat,
                                None,
                                &Content::Alerts(copy.notification),
                                now_ms,
                            )
                            .await
                            .map_err(|e| self.err(e))?;
                            chats.push(copy.chat);
                        }
                    }
                    Intake::Queued {
                        id,
                        chat: target,
                        copies: chats,
                    }
                } else {
                    Intake::Duplicate
                }
            }
        };
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(outcome)
    }

    async fn enqueue_text(
        &self,
        chat: i64,
        thread: Option<i64>,
        html: String,
        now_ms: i64,
    ) -> Result<i64, StateError> {
        let c = self.conn().await?;
        insert_row(&c, chat, thread, &Content::Text(html), now_ms)
            .await
            .map_err(|e| self.err(e))
    }

    async fn queued_chats(&self) -> Result<Vec<i64>, StateError> {
        let c = self.conn().await?;
        let st = c
            .prepare_cached("SELECT DISTINCT chat_id FROM outbox WHERE state = 'queued'")
            .await
            .map_err(|e| self.err(e))?;
        let found = c.query(&st, &[]).await.map_err(|e| self.err(e))?;
        Ok(found.iter().map(|r| r.get(0)).collect())
    }

    async fn queued(&self, chat: i64, limit: usize) -> Result<Vec<Row>, StateError> {
        let c = self.conn().await?;
        let st = c
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM outbox WHERE state = 'queued' AND chat_id = $1 ORDER BY id LIMIT $2"
            ))
            .await
            .map_err(|e| self.err(e))?;
        let found = c
            .query(&st, &[&chat, &(limit as i64)])
            .await
            .map_err(|e| self.err(e))?;
        Ok(rows(found))
    }

    /// The lease row is read under a share lock for the transaction: a
    /// takeover (which updates it) waits for the claim to commit, and a
    /// claim after a takeover sees the new epoch and fails.
    async fn claim(&self, chat: i64, limit: usize, epoch: Epoch) -> Result<Vec<Row>, StateError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        let held = tx
            .query_opt(
                "SELECT 1 FROM leader_lease WHERE id = 1 AND epoch = $1 FOR SHARE",
                &[&epoch],
            )
            .await
            .map_err(|e| self.err(e))?;
        if held.is_none() {
            return Err(StateError::Fenced { epoch });
        }
        let st = tx
            .prepare_cached(&format!(
                "UPDATE outbox SET claimed_epoch = $3 WHERE id IN (
                     SELECT id FROM outbox WHERE state = 'queued' AND chat_id = $1 ORDER BY id LIMIT $2)
                 RETURNING {COLUMNS}"
            ))
            .await
            .map_err(|e| self.err(e))?;
        let found = tx
            .query(&st, &[&chat, &(limit as i64), &epoch])
            .await
            .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(rows(found))
    }

    async fn mark_sent(&self, ids: Vec<i64>, now_ms: i64) -> Result<(), StateError> {
        let c = self.conn().await?;
        c.execute(
            "UPDATE outbox SET state = 'sent', done_ms = $2 WHERE id = ANY($1) AND state = 'queued'",
            &[&ids, &now_ms],
        )
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn mark_failed(
        &self,
        ids: Vec<i64>,
        reason: String,
        now_ms: i64,
    ) -> Result<(), StateError> {
        let c = self.conn().await?;
        c.execute(
            "UPDATE outbox SET state = 'failed', done_ms = $2, error = $3 WHERE id = ANY($1)",
            &[&ids, &now_ms, &reason],
        )
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn stats(&self) -> Result<Stats, StateError> {
        let c = self.conn().await?;
        let r = c
            .query_one(
                "SELECT COUNT(*) FILTER (WHERE state = 'queued'),
                        COUNT(*) FILTER (WHERE state = 'failed'),
                        MIN(received_ms) FILTER (WHERE state = 'queued')
                 FROM outbox WHERE state IN ('queued', 'failed')",
                &[],
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(Stats {
            queued: r.get(0),
            failed: r.get(1),
            oldest_queued_ms: r.get(2),
        })
    }

    async fn sent_rows(&self) -> Result<i64, StateError> {
        let c = self.conn().await?;
        let r = c
            .query_one("SELECT COUNT(*) FROM outbox WHERE state = 'sent'", &[])
            .await
            .map_err(|e| self.err(e))?;
        Ok(r.get(0))
    }

    async fn prune(&self, now_ms: i64, window_ms: i64) -> Result<(), StateError> {
        let c = self.conn().await?;
        for (sql, before) in [
            (
                "DELETE FROM outbox WHERE state = 'sent' AND done_ms < $1",
                now_ms - 86_400_000,
            ),
            (
                "DELETE FROM outbox WHERE state = 'failed' AND done_ms < $1",
                now_ms - 7 * 86_400_000,
            ),
            (
                "DELETE FROM dedup WHERE first_seen_ms < $1",
                now_ms - window_ms,
            ),
            (
                "DELETE FROM firing_message WHERE sent_ms < $1",
                now_ms - 30 * 86_400_000,
            ),
        ] {
            c.execute(sql, &[&before]).await.map_err(|e| self.err(e))?;
        }
        Ok(())
    }
}
