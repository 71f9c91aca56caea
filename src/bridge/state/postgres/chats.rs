//! What PostgreSQL remembers about chats (migrations, firing message ids)
//! and where the chat bot's `getUpdates` continues (written only with the
//! leader's epoch).

use async_trait::async_trait;

use super::super::{ChatStore, Epoch, StateError, UpdateStore};
use super::PgState;

#[async_trait]
impl ChatStore for PgState {
    /// Earlier migrations into `from` are pointed at `to` as well, so a
    /// lookup is always one step.
    async fn migrate_chat(&self, from: i64, to: i64) -> Result<(), StateError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        for sql in [
            "INSERT INTO chat_migration(from_chat, to_chat) VALUES ($1, $2)
             ON CONFLICT (from_chat) DO UPDATE SET to_chat = excluded.to_chat",
            "UPDATE chat_migration SET to_chat = $2 WHERE to_chat = $1",
            "UPDATE outbox SET chat_id = $2 WHERE chat_id = $1 AND state = 'queued'",
            // What the new chat has already wins over the old chat's.
            "DELETE FROM firing_message f WHERE chat_id = $1 AND EXISTS (
                 SELECT 1 FROM firing_message t WHERE t.chat_id = $2 AND t.fingerprint = f.fingerprint)",
            "UPDATE firing_message SET chat_id = $2 WHERE chat_id = $1",
            "DELETE FROM watchdog WHERE chat_id = $1 AND EXISTS (SELECT 1 FROM watchdog WHERE chat_id = $2)",
            "UPDATE watchdog SET chat_id = $2 WHERE chat_id = $1",
            "DELETE FROM subscription s WHERE chat_id = $1 AND EXISTS (
                 SELECT 1 FROM subscription t WHERE t.chat_id = $2 AND t.topic = s.topic)",
            "UPDATE subscription SET chat_id = $2 WHERE chat_id = $1",
        ] {
            tx.execute(sql, &[&from, &to])
                .await
                .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        // Subscriptions moved with the chat.
        self.subscriptions.forget();
        Ok(())
    }

    async fn remember_firing(
        &self,
        chat: i64,
        fingerprints: Vec<String>,
        message_id: i64,
        now_ms: i64,
    ) -> Result<(), StateError> {
        let c = self.conn().await?;
        c.execute(
            "INSERT INTO firing_message(chat_id, fingerprint, message_id, sent_ms)
             SELECT $1, fp, $3, $4 FROM unnest($2::text[]) AS fp
             ON CONFLICT (chat_id, fingerprint) DO UPDATE
                 SET message_id = excluded.message_id, sent_ms = excluded.sent_ms",
            &[&chat, &fingerprints, &message_id, &now_ms],
        )
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn firing_message(
        &self,
        chat: i64,
        fingerprints: Vec<String>,
    ) -> Result<Option<i64>, StateError> {
        let c = self.conn().await?;
        let found = c
            .query_opt(
                "SELECT f.message_id FROM unnest($2::text[]) WITH ORDINALITY AS w(fp, n)
                 JOIN firing_message f ON f.chat_id = $1 AND f.fingerprint = w.fp
                 ORDER BY w.n LIMIT 1",
                &[&chat, &fingerprints],
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(found.map(|r| r.get(0)))
    }
}

#[async_trait]
impl UpdateStore for PgState {
    async fn bot_offset(&self) -> Result<i64, StateError> {
        let c = self.conn().await?;
        let found = c
            .query_opt("SELECT next FROM bot_offset WHERE id = 1", &[])
            .await
            .map_err(|e| self.err(e))?;
        Ok(found.map_or(0, |r| r.get(0)))
    }

    /// Written only while `epoch` holds the lease (read under a share
    /// lock, so a takeover waits for this write or fences it).
    async fn save_bot_offset(&self, next: i64, epoch: Epoch) -> Result<(), StateError> {
        let c = self.conn().await?;
        let written = c
            .execute(
                "WITH held AS (SELECT 1 FROM leader_lease WHERE id = 1 AND epoch = $2 FOR SHARE)
                 INSERT INTO bot_offset(id, next, epoch) SELECT 1, $1, $2 FROM held
                 ON CONFLICT (id) DO UPDATE SET next = excluded.next, epoch = excluded.epoch",
                &[&next, &epoch],
            )
            .await
            .map_err(|e| self.err(e))?;
        if written == 0 {
            return Err(StateError::Fenced { epoch });
        }
        Ok(())
    }
}
