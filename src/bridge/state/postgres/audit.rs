//! The chat engine's audit log and refusal memory in PostgreSQL (the same
//! rules as [`crate::chat::audit::sql`]: a row cap held at every insert,
//! one loud refusal per [`REFUSAL_INTERVAL`]).

use async_trait::async_trait;

use super::super::{AuditStore, StateError};
use super::PgState;
use crate::chat::audit::{Entry, Retention, REFUSAL_INTERVAL};

fn refusal_ms() -> i64 {
    i64::try_from(REFUSAL_INTERVAL.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait]
impl AuditStore for PgState {
    async fn record_audit(&self, e: Entry, retention: Retention) -> Result<(), StateError> {
        let keep = i64::try_from(retention.max_rows.max(1)).unwrap_or(i64::MAX);
        let c = self.conn().await?;
        c.execute(
            "WITH new AS (
                 INSERT INTO chat_audit (at_ms, user_id, username, chat_id, action, result)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id)
             DELETE FROM chat_audit WHERE id <= (SELECT id FROM new) - $7",
            &[
                &e.at_ms,
                &e.user_id,
                &e.username,
                &e.chat_id,
                &e.action,
                &e.result,
                &keep,
            ],
        )
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn latest_audit(&self, limit: usize) -> Result<Vec<Entry>, StateError> {
        let c = self.conn().await?;
        let found = c
            .query(
                "SELECT at_ms, user_id, username, chat_id, action, result FROM chat_audit
                 ORDER BY id DESC LIMIT $1",
                &[&(limit as i64)],
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(found
            .iter()
            .map(|r| Entry {
                at_ms: r.get(0),
                user_id: r.get(1),
                username: r.get(2),
                chat_id: r.get(3),
                action: r.get(4),
                result: r.get(5),
            })
            .collect())
    }

    /// One statement: the upsert only happens (and returns a row) when the
    /// last refusal is older than the interval, so two bridges refusing
    /// the same stranger at once answer loudly once.
    async fn should_refuse_loudly(&self, user_id: i64, now_ms: i64) -> Result<bool, StateError> {
        let c = self.conn().await?;
        let loud = c
            .query_opt(
                "INSERT INTO chat_refusals (user_id, last_at_ms) VALUES ($1, $2)
                 ON CONFLICT (user_id) DO UPDATE SET last_at_ms = excluded.last_at_ms
                     WHERE chat_refusals.last_at_ms <= $2 - $3
                 RETURNING 1",
                &[&user_id, &now_ms, &refusal_ms()],
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(loud.is_some())
    }

    async fn prune_audit(&self, now_ms: i64, retention: Retention) -> Result<(), StateError> {
        let age = i64::try_from(retention.max_age.as_millis()).unwrap_or(i64::MAX);
        let c = self.conn().await?;
        c.execute(
            "DELETE FROM chat_audit WHERE at_ms < $1",
            &[&now_ms.saturating_sub(age)],
        )
        .await
        .map_err(|e| self.err(e))?;
        c.execute(
            "DELETE FROM chat_refusals WHERE last_at_ms <= $1",
            &[&now_ms.saturating_sub(refusal_ms())],
        )
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }
}
