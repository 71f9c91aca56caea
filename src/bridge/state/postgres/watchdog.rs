//! The watchdog's state in PostgreSQL.

use async_trait::async_trait;

use super::super::{StateError, WatchdogState, WatchdogStore};
use super::outbox::insert_row;
use super::PgState;
use crate::bridge::outbox::Content;

#[async_trait]
impl WatchdogStore for PgState {
    async fn expire_watchdogs(
        &self,
        now_ms: i64,
        timeout_ms: i64,
        since_ms: i64,
        notice: String,
    ) -> Result<Vec<i64>, StateError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        // Marked in the statement that finds them: a second bridge running
        // the same check at once finds none of them.
        let stale = tx
            .query(
                "UPDATE watchdog SET silent = true
                 WHERE NOT silent AND GREATEST(last_seen_ms, $2) < $1
                 RETURNING chat_id, thread_id",
                &[&(now_ms - timeout_ms), &since_ms],
            )
            .await
            .map_err(|e| self.err(e))?;
        let mut chats = Vec::with_capacity(stale.len());
        for r in stale {
            let (chat, thread): (i64, Option<i64>) = (r.get(0), r.get(1));
            insert_row(&tx, chat, thread, &Content::Text(notice.clone()), now_ms)
                .await
                .map_err(|e| self.err(e))?;
            chats.push(chat);
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        chats.sort_unstable();
        Ok(chats)
    }

    async fn watchdogs(&self) -> Result<Vec<WatchdogState>, StateError> {
        let c = self.conn().await?;
        let found = c
            .query(
                "SELECT chat_id, thread_id, last_seen_ms, silent FROM watchdog ORDER BY chat_id",
                &[],
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(found
            .iter()
            .map(|r| WatchdogState {
                chat: r.get(0),
                thread: r.get(1),
                last_seen_ms: r.get(2),
                silent: r.get(3),
            })
            .collect())
    }
}
