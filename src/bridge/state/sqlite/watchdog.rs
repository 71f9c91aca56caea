//! The watchdog's state in the store: each chat's last heartbeat and
//! whether its silence was reported (see [`crate::bridge::watchdog`]).

use async_trait::async_trait;
use rusqlite::params;

use super::super::{StateError, WatchdogState, WatchdogStore};
use super::outbox::insert_row;
use super::Store;
use crate::bridge::outbox::Content;

#[async_trait]
impl WatchdogStore for Store {
    /// Marks silent every chat whose last heartbeat (or `since_ms`, the
    /// bridge's start, whichever is later) is older than `timeout_ms`, and
    /// queues `notice` (HTML) for each. Returns the chats newly silent.
    async fn expire_watchdogs(
        &self,
        now_ms: i64,
        timeout_ms: i64,
        since_ms: i64,
        notice: String,
    ) -> Result<Vec<i64>, StateError> {
        self.call(move |c| {
            let mut st = c.prepare_cached(
                "SELECT chat_id, thread_id FROM watchdog
                 WHERE silent=0 AND MAX(last_seen_ms, ?2) < ?1",
            )?;
            let stale = st
                .query_map(params![now_ms - timeout_ms, since_ms], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            for (chat, thread) in &stale {
                c.execute("UPDATE watchdog SET silent=1 WHERE chat_id=?1", [chat])?;
                insert_row(c, *chat, *thread, &Content::Text(notice.clone()), now_ms)?;
            }
            Ok(stale.into_iter().map(|(c, _)| c).collect())
        })
        .await
    }

    /// The watchdog state of every chat that has seen a heartbeat.
    async fn watchdogs(&self) -> Result<Vec<WatchdogState>, StateError> {
        self.call(|c| {
            let mut st = c.prepare_cached(
                "SELECT chat_id, thread_id, last_seen_ms, silent FROM watchdog ORDER BY chat_id",
            )?;
            let rows = st.query_map([], |r| {
                Ok(WatchdogState {
                    chat: r.get(0)?,
                    thread: r.get(1)?,
                    last_seen_ms: r.get(2)?,
                    silent: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }
}
