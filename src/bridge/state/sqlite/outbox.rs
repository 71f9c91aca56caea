//! The outbox's queries: intake (dedup, watchdog heartbeats), the queue,
//! delivery marks, the figures behind `/metrics` and pruning.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use super::super::{Epoch, Intake, OutboxStore, StateError, Stats};
use super::audience;
use super::chats::resolve_chat;
use super::Store;
use crate::bridge::fanout;
use crate::bridge::outbox::{Content, Row};
use crate::bridge::payload::Notification;

#[async_trait]
impl OutboxStore for Store {
    /// Stores a notification for `chat` unless its `dedup_key` was seen in
    /// the last `window_ms`; records `heartbeats` for the watchdog. When a
    /// heartbeat arrives for a chat whose pipeline was reported silent,
    /// `recovery` (HTML) is queued for that chat first.
    #[allow(clippy::too_many_arguments)]
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
        // Serialised here, not in the store thread.
        let payload = if notification.alerts.is_empty() {
            None
        } else {
            Some(serde_json::to_string(&notification).map_err(|e| StateError::Db(e.to_string()))?)
        };
        self.call(move |c| {
            let chat = resolve_chat(c, chat)?;
            if heartbeats > 0 {
                let was_silent: Option<bool> = c
                    .query_row(
                        "SELECT silent FROM watchdog WHERE chat_id=?1",
                        [chat],
                        |r| r.get(0),
                    )
                    .optional()?;
                c.execute(
                    "INSERT INTO watchdog(chat_id, thread_id, last_seen_ms, silent) VALUES (?1, ?2, ?3, 0)
                     ON CONFLICT(chat_id) DO UPDATE SET thread_id=excluded.thread_id, last_seen_ms=excluded.last_seen_ms, silent=0",
                    params![chat, thread, now_ms],
                )?;
                if was_silent == Some(true) {
                    insert_row(c, chat, thread, &Content::Text(recovery), now_ms)?;
                }
            }
            let Some(payload) = payload else {
                return Ok(Intake::Nothing);
            };
            if !fresh(c, &dedup_key, window_ms, now_ms)? {
                return Ok(Intake::Duplicate);
            }
            let subscriptions = audience::all_subscriptions(c)?;
            if fanout::subscribed(chat, &subscriptions)
                && !fresh(c, &notification.delivery_key(chat), window_ms, now_ms)?
            {
                return Ok(Intake::Duplicate);
            }
            let id = insert_raw(c, chat, thread, "alerts", &payload, now_ms)?;
            let mut copies = Vec::new();
            for copy in fanout::copies(&notification, chat, &subscriptions) {
                if fresh(c, &copy.key, window_ms, now_ms)? {
                    insert_row(c, copy.chat, None, &Content::Alerts(copy.notification), now_ms)?;
                    copies.push(copy.chat);
                }
            }
            Ok(Intake::Queued { id, chat, copies })
        })
        .await
    }

    /// Queues a pre-rendered message.
    async fn enqueue_text(
        &self,
        chat: i64,
        thread: Option<i64>,
        html: String,
        now_ms: i64,
    ) -> Result<i64, StateError> {
        self.call(move |c| {
            let chat = resolve_chat(c, chat)?;
            insert_row(c, chat, thread, &Content::Text(html), now_ms)
        })
        .await
    }

    /// Chats with queued rows.
    async fn queued_chats(&self) -> Result<Vec<i64>, StateError> {
        self.call(|c| {
            let mut st =
                c.prepare_cached("SELECT DISTINCT chat_id FROM outbox WHERE state='queued'")?;
            let rows = st.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<i64>, _>>()?)
        })
        .await
    }

    /// The JSON is parsed here, outside the store thread, so a big read
    /// does not hold up the commits webhooks wait for.
    async fn queued(&self, chat: i64, limit: usize) -> Result<Vec<Row>, StateError> {
        type Raw = (i64, i64, Option<i64>, String, String, i64);
        let raw: Vec<Raw> = self
            .call(move |c| {
                let mut st = c.prepare_cached(
                    "SELECT id, chat_id, thread_id, kind, payload, received_ms FROM outbox
                     WHERE state='queued' AND chat_id=?1 ORDER BY id LIMIT ?2",
                )?;
                let rows = st.query_map(params![chat, limit as i64], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })?;
                Ok(rows.collect::<Result<Vec<Raw>, _>>()?)
            })
            .await?;
        Ok(raw
            .into_iter()
            .map(|(id, chat, thread, kind, payload, received_ms)| {
                Row::stored(id, chat, thread, &kind, payload, received_ms)
            })
            .collect())
    }

    /// The file has one bridge, always the leader: a claim is a read.
    async fn claim(&self, chat: i64, limit: usize, _epoch: Epoch) -> Result<Vec<Row>, StateError> {
        self.queued(chat, limit).await
    }

    /// Marks rows delivered.
    async fn mark_sent(&self, ids: Vec<i64>, now_ms: i64) -> Result<(), StateError> {
        self.call(move |c| {
            let mut st = c.prepare_cached(
                "UPDATE outbox SET state='sent', done_ms=?2 WHERE id=?1 AND state='queued'",
            )?;
            for id in ids {
                st.execute(params![id, now_ms])?;
            }
            Ok(())
        })
        .await
    }

    /// Marks rows as permanently failed, keeping the reason.
    async fn mark_failed(
        &self,
        ids: Vec<i64>,
        reason: String,
        now_ms: i64,
    ) -> Result<(), StateError> {
        self.call(move |c| {
            let mut st = c.prepare_cached(
                "UPDATE outbox SET state='failed', done_ms=?2, error=?3 WHERE id=?1",
            )?;
            for id in ids {
                st.execute(params![id, now_ms, reason])?;
            }
            Ok(())
        })
        .await
    }

    /// Queue depth, failures and the oldest queued row's arrival.
    async fn stats(&self) -> Result<Stats, StateError> {
        self.call(|c| {
            let (queued, oldest): (i64, Option<i64>) = c.query_row(
                "SELECT COUNT(*), MIN(received_ms) FROM outbox WHERE state='queued'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let failed: i64 = c.query_row(
                "SELECT COUNT(*) FROM outbox WHERE state='failed'",
                [],
                |r| r.get(0),
            )?;
            Ok(Stats {
                queued,
                failed,
                oldest_queued_ms: oldest,
            })
        })
        .await
    }

    async fn sent_rows(&self) -> Result<i64, StateError> {
        self.call(|c| {
            Ok(
                c.query_row("SELECT COUNT(*) FROM outbox WHERE state='sent'", [], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
    }

    /// Forgets what is no longer needed: delivered rows after a day,
    /// failed rows (kept for inspection) after a week, dedup keys past
    /// their window, firing message ids after 30 days.
    async fn prune(&self, now_ms: i64, window_ms: i64) -> Result<(), StateError> {
        self.call(move |c| {
            c.execute(
                "DELETE FROM outbox WHERE state='sent' AND done_ms < ?1",
                [now_ms - 86_400_000],
            )?;
            c.execute(
                "DELETE FROM outbox WHERE state='failed' AND done_ms < ?1",
                [now_ms - 7 * 86_400_000],
            )?;
            c.execute(
                "DELETE FROM dedup WHERE first_seen_ms < ?1",
                [now_ms - window_ms],
            )?;
            c.execute(
                "DELETE FROM firing_message WHERE sent_ms < ?1",
                [now_ms - 30 * 86_400_000],
            )?;
            Ok(())
        })
        .await
    }
}

/// Records `key` as seen at `now_ms` unless it was seen within
/// `window_ms`; whether it was new (or past its window).
fn fresh(c: &Connection, key: &str, window_ms: i64, now_ms: i64) -> Result<bool, StateError> {
    let seen: Option<i64> = c
        .prepare_cached("SELECT first_seen_ms FROM dedup WHERE key=?1")?
        .query_row([key], |r| r.get(0))
        .optional()?;
    if seen.is_some_and(|t| now_ms - t < window_ms) {
        return Ok(false);
    }
    c.prepare_cached(
        "INSERT INTO dedup(key, first_seen_ms) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET first_seen_ms=excluded.first_seen_ms",
    )?
    .execute(params![key, now_ms])?;
    Ok(true)
}

pub(super) fn insert_row(
    c: &Connection,
    chat: i64,
    thread: Option<i64>,
    content: &Content,
    now_ms: i64,
) -> Result<i64, StateError> {
    let payload = match content {
        Content::Alerts(n) => {
            serde_json::to_string(n).map_err(|e| StateError::Db(e.to_string()))?
        }
        Content::Text(t) => t.clone(),
    };
    insert_raw(c, chat, thread, content.kind(), &payload, now_ms)
}

fn insert_raw(
    c: &Connection,
    chat: i64,
    thread: Option<i64>,
    kind: &str,
    payload: &str,
    now_ms: i64,
) -> Result<i64, StateError> {
    c.prepare_cached(
        "INSERT INTO outbox(chat_id, thread_id, kind, payload, received_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![chat, thread, kind, payload, now_ms])?;
    Ok(c.last_insert_rowid())
}
