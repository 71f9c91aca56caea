//! What the file remembers about chats: migrations (a group upgraded to
//! a supergroup) and the message that announced each firing alert (the
//! resolution replies to it); and where the chat bot's `getUpdates`
//! continues.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use super::super::{ChatStore, Epoch, StateError, UpdateStore};
use super::Store;

#[async_trait]
impl ChatStore for Store {
    /// Remembers that `from` became `to` (a group upgraded to a
    /// supergroup) and moves everything queued for `from`, its firing
    /// message ids, watchdog and subscriptions.
    async fn migrate_chat(&self, from: i64, to: i64) -> Result<(), StateError> {
        self.call(move |c| {
            c.execute(
                "INSERT INTO chat_migration(from_chat, to_chat) VALUES (?1, ?2)
                 ON CONFLICT(from_chat) DO UPDATE SET to_chat=excluded.to_chat",
                params![from, to],
            )?;
            c.execute(
                "UPDATE outbox SET chat_id=?2 WHERE chat_id=?1 AND state='queued'",
                params![from, to],
            )?;
            c.execute(
                "UPDATE OR REPLACE firing_message SET chat_id=?2 WHERE chat_id=?1",
                params![from, to],
            )?;
            c.execute(
                "UPDATE OR REPLACE watchdog SET chat_id=?2 WHERE chat_id=?1",
                params![from, to],
            )?;
            c.execute(
                "UPDATE OR REPLACE subscription SET chat_id=?2 WHERE chat_id=?1",
                params![from, to],
            )?;
            Ok(())
        })
        .await
    }

    /// Remembers the message that announced these firing alerts.
    async fn remember_firing(
        &self,
        chat: i64,
        fingerprints: Vec<String>,
        message_id: i64,
        now_ms: i64,
    ) -> Result<(), StateError> {
        self.call(move |c| {
            let mut st = c.prepare_cached(
                "INSERT INTO firing_message(chat_id, fingerprint, message_id, sent_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(chat_id, fingerprint) DO UPDATE SET message_id=excluded.message_id, sent_ms=excluded.sent_ms",
            )?;
            for fp in fingerprints {
                st.execute(params![chat, fp, message_id, now_ms])?;
            }
            Ok(())
        })
        .await
    }

    /// The message id that announced the first of `fingerprints` to fire.
    async fn firing_message(
        &self,
        chat: i64,
        fingerprints: Vec<String>,
    ) -> Result<Option<i64>, StateError> {
        self.call(move |c| {
            let mut st = c.prepare_cached(
                "SELECT message_id FROM firing_message WHERE chat_id=?1 AND fingerprint=?2",
            )?;
            for fp in fingerprints {
                if let Some(id) = st.query_row(params![chat, fp], |r| r.get(0)).optional()? {
                    return Ok(Some(id));
                }
            }
            Ok(None)
        })
        .await
    }
}

#[async_trait]
impl UpdateStore for Store {
    /// The next `getUpdates` offset (0 before the first update).
    async fn bot_offset(&self) -> Result<i64, StateError> {
        self.call(|c| {
            Ok(
                c.query_row("SELECT next FROM bot_offset WHERE id = 1", [], |r| r.get(0))
                    .optional()?
                    .unwrap_or(0),
            )
        })
        .await
    }

    /// Remembers the next `getUpdates` offset.
    async fn save_bot_offset(&self, next: i64, _epoch: Epoch) -> Result<(), StateError> {
        self.call(move |c| {
            c.execute(
                "INSERT INTO bot_offset (id, next) VALUES (1, ?1)
                 ON CONFLICT(id) DO UPDATE SET next = excluded.next",
                [next],
            )?;
            Ok(())
        })
        .await
    }
}

pub(super) fn resolve_chat(c: &Connection, chat: i64) -> Result<i64, StateError> {
    let mut current = chat;
    // Follow a short chain of migrations (a group can only upgrade once,
    // but be safe against a loop).
    for _ in 0..4 {
        let next: Option<i64> = c
            .prepare_cached("SELECT to_chat FROM chat_migration WHERE from_chat=?1")?
            .query_row([current], |r| r.get(0))
            .optional()?;
        match next {
            Some(n) if n != current => current = n,
            _ => break,
        }
    }
    Ok(current)
}
