//! The chat engine's audit log and refusal memory, kept by the store
//! thread like the rest of the state (the queries are the chat module's
//! own, [`crate::chat::audit::sql`]; this only runs them as store jobs).

use crate::chat::audit::{sql, AuditError, AuditFuture, AuditLog, Entry, Retention};

use super::{Store, StoreError};

/// [`AuditLog`] in the bridge's state database, through the store thread.
pub struct StoreAudit {
    pub store: Store,
    pub retention: Retention,
}

fn audit_error(e: StoreError) -> AuditError {
    AuditError::Store(e.to_string())
}

impl AuditLog for StoreAudit {
    fn record(&self, e: Entry) -> AuditFuture<'_, ()> {
        let retention = self.retention;
        Box::pin(async move {
            self.store
                .call(move |c| Ok(sql::record(c, &e, retention)?))
                .await
                .map_err(audit_error)
        })
    }

    fn latest(&self, limit: usize) -> AuditFuture<'_, Vec<Entry>> {
        Box::pin(async move {
            self.store
                .call(move |c| Ok(sql::latest(c, limit)?))
                .await
                .map_err(audit_error)
        })
    }

    fn should_refuse_loudly(&self, user_id: i64, now_ms: i64) -> AuditFuture<'_, bool> {
        Box::pin(async move {
            self.store
                .call(move |c| Ok(sql::should_refuse_loudly(c, user_id, now_ms)?))
                .await
                .map_err(audit_error)
        })
    }

    fn prune(&self, now_ms: i64) -> AuditFuture<'_, ()> {
        let retention = self.retention;
        Box::pin(async move {
            self.store
                .call(move |c| Ok(sql::prune(c, now_ms, retention)?))
                .await
                .map_err(audit_error)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn the_audit_log_lives_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let audit = StoreAudit {
            store: Store::open(&path, Duration::from_secs(1)).unwrap(),
            retention: Retention {
                max_age: Duration::from_secs(60),
                max_rows: 2,
            },
        };
        for at_ms in [1, 2, 3] {
            let e = Entry {
                at_ms,
                user_id: 7,
                username: None,
                chat_id: 7,
                action: "/status".into(),
                result: "ok".into(),
            };
            audit.record(e).await.unwrap();
        }
        let at: Vec<i64> = audit
            .latest(10)
            .await
            .unwrap()
            .iter()
            .map(|e| e.at_ms)
            .collect();
        assert_eq!(at, vec![3, 2]);
        assert!(audit.should_refuse_loudly(9, 0).await.unwrap());
        assert!(!audit.should_refuse_loudly(9, 1).await.unwrap());
        audit.prune(61_000).await.unwrap();
        assert!(audit.latest(10).await.unwrap().is_empty());
        // The same tables `outpost ask` reads on its own connection.
        let own = crate::chat::audit::Audit::open(&path, Retention::default()).unwrap();
        assert!(own.latest(1).unwrap().is_empty());
    }
}
