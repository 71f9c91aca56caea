//! The chat engine's audit log and refusal memory in the file, run as
//! store jobs (the queries are the chat module's own,
//! [`crate::chat::audit::sql`], which `outpost ask` runs on its own
//! connection).

use async_trait::async_trait;

use super::super::{AuditStore, StateError};
use super::Store;
use crate::chat::audit::{sql, Entry, Retention};

#[async_trait]
impl AuditStore for Store {
    async fn record_audit(&self, e: Entry, retention: Retention) -> Result<(), StateError> {
        self.call(move |c| Ok(sql::record(c, &e, retention)?)).await
    }

    async fn latest_audit(&self, limit: usize) -> Result<Vec<Entry>, StateError> {
        self.call(move |c| Ok(sql::latest(c, limit)?)).await
    }

    async fn should_refuse_loudly(&self, user_id: i64, now_ms: i64) -> Result<bool, StateError> {
        self.call(move |c| Ok(sql::should_refuse_loudly(c, user_id, now_ms)?))
            .await
    }

    async fn prune_audit(&self, now_ms: i64, retention: Retention) -> Result<(), StateError> {
        self.call(move |c| Ok(sql::prune(c, now_ms, retention)?))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::state::StateAudit;
    use crate::chat::audit::AuditLog;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn the_audit_log_lives_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let audit = StateAudit {
            state: Arc::new(Store::open(&path, Duration::from_secs(1)).unwrap()),
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
