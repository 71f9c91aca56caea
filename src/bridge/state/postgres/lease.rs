//! The leader lease in PostgreSQL: one row (`leader_lease`) with the
//! holder, an expiry on the database's clock and an epoch that grows by
//! one with every change of holder. The epoch is the fencing token the
//! outbox claim and the offset write check (under a share lock on this
//! row), so a replaced leader's writes fail rather than interleave.
//!
//! Decisions: a row, not `pg_advisory_lock`: an advisory lock belongs to
//! a session, so it is lost or kept by surprise behind a transaction
//! pooler and leaks with a connection held by a cancelled task; a row
//! with an expiry works through any pooler and dies with its holder.

use async_trait::async_trait;

use super::super::{Epoch, LeaseStore, StateError};
use super::PgState;

#[async_trait]
impl LeaseStore for PgState {
    fn shared(&self) -> bool {
        true
    }

    async fn acquire_lease(&self, holder: &str, ttl_ms: i64) -> Result<Option<Epoch>, StateError> {
        let c = self.conn().await?;
        let won = c
            .query_opt(
                "INSERT INTO leader_lease(id, holder, epoch, expires_at)
                 VALUES (1, $1, 1, clock_timestamp() + $2 * interval '1 millisecond')
                 ON CONFLICT (id) DO UPDATE
                     SET holder = excluded.holder, epoch = leader_lease.epoch + 1,
                         expires_at = excluded.expires_at
                     WHERE leader_lease.expires_at < clock_timestamp()
                 RETURNING epoch",
                &[&holder, &(ttl_ms as f64)],
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(won.map(|r| r.get(0)))
    }

    async fn renew_lease(
        &self,
        holder: &str,
        epoch: Epoch,
        ttl_ms: i64,
    ) -> Result<bool, StateError> {
        let c = self.conn().await?;
        let n = c
            .execute(
                "UPDATE leader_lease SET expires_at = clock_timestamp() + $3 * interval '1 millisecond'
                 WHERE id = 1 AND holder = $1 AND epoch = $2",
                &[&holder, &epoch, &(ttl_ms as f64)],
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }

    async fn release_lease(&self, holder: &str, epoch: Epoch) -> Result<(), StateError> {
        let c = self.conn().await?;
        c.execute(
            "UPDATE leader_lease SET expires_at = '-infinity'
             WHERE id = 1 AND holder = $1 AND epoch = $2",
            &[&holder, &epoch],
        )
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }
}
