//! The chat's durable records in the shared SQLite state database: the
//! audit log of every command and button press (`chat_audit`) and when each
//! stranger was last refused (`chat_refusals`), so a stranger gets one
//! refusal per [`REFUSAL_INTERVAL`] and silence otherwise. Table names start
//! with `chat_` so they never collide with the bridge's tables.
//!
//! The engine sees an [`AuditLog`]: in the bridge the store thread keeps it
//! (one owner of the state database), in `outpost ask` and tests [`Audit`]
//! on its own connection; both run the queries in [`sql`].
//!
//! Decisions: the log is bounded ([`Retention`]: `--audit-max-rows`,
//! `--audit-max-age`). The row cap holds at every insert (the oldest rows
//! go, by id, which the primary key makes cheap), so a flood cannot grow
//! the file between prunes; the age limit and the refusal memory older
//! than [`REFUSAL_INTERVAL`] are pruned by [`Audit::prune`] with the rest
//! of the state. A stranger's silently ignored messages are not written
//! at all (the engine counts them): only the one refusal per interval is.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

/// A stranger is told "not allowed" at most this often.
pub const REFUSAL_INTERVAL: Duration = Duration::from_secs(3600);

/// How much audit log is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Entries older than this are pruned.
    pub max_age: Duration,
    /// Most entries kept (at least 1).
    pub max_rows: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_age: Duration::from_secs(90 * 86_400),
            max_rows: 100_000,
        }
    }
}

/// One audit row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Unix milliseconds.
    pub at_ms: i64,
    pub user_id: i64,
    pub username: Option<String>,
    pub chat_id: i64,
    /// The command text or `button:DATA`.
    pub action: String,
    /// `ok`, `usage`, `refused`, `error: …`.
    pub result: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("state database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("state database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// From the bridge's store thread.
    #[error("{0}")]
    Store(String),
}

/// Where the engine keeps its audit log and refusal memory: this
/// module's own connection ([`Audit`], for `outpost ask` and tests) or the
/// bridge's store thread, which owns the state database there. Both run
/// the same queries ([`sql`]).
pub trait AuditLog: Send + Sync + 'static {
    /// Appends `e`, dropping the oldest entries past the row cap.
    fn record(&self, e: Entry) -> AuditFuture<'_, ()>;
    /// The latest `limit` entries, newest first.
    fn latest(&self, limit: usize) -> AuditFuture<'_, Vec<Entry>>;
    /// Whether a stranger should be told they are refused now; remembers
    /// the answer. True the first time and once per [`REFUSAL_INTERVAL`].
    fn should_refuse_loudly(&self, user_id: i64, now_ms: i64) -> AuditFuture<'_, bool>;
    /// Deletes entries past the age limit and stale refusal memory.
    fn prune(&self, now_ms: i64) -> AuditFuture<'_, ()>;
}

/// What an [`AuditLog`] method returns.
pub type AuditFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, AuditError>> + Send + 'a>>;

/// The tables, for whoever owns the state database.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS chat_audit (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms     INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,
    username  TEXT,
    chat_id   INTEGER NOT NULL,
    action    TEXT NOT NULL,
    result    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chat_audit_at ON chat_audit(at_ms);
CREATE TABLE IF NOT EXISTS chat_refusals (
    user_id      INTEGER PRIMARY KEY,
    last_at_ms   INTEGER NOT NULL
);
";

/// The queries, on a connection someone else owns (inside their
/// transaction).
pub mod sql {
    use super::*;

    /// Appends `e`, dropping the oldest entries past `retention.max_rows`.
    pub fn record(c: &Connection, e: &Entry, retention: Retention) -> rusqlite::Result<()> {
        c.prepare_cached(
            "INSERT INTO chat_audit (at_ms, user_id, username, chat_id, action, result) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![e.at_ms, e.user_id, e.username, e.chat_id, e.action, e.result])?;
        // Ids only grow (AUTOINCREMENT): everything at or below
        // `last - max_rows` is past the cap.
        let keep = i64::try_from(retention.max_rows.max(1)).unwrap_or(i64::MAX);
        c.prepare_cached("DELETE FROM chat_audit WHERE id <= ?1")?
            .execute([c.last_insert_rowid().saturating_sub(keep)])?;
        Ok(())
    }

    /// Deletes entries older than `retention.max_age` and refusal memory
    /// older than [`REFUSAL_INTERVAL`] (it no longer decides anything).
    pub fn prune(c: &Connection, now_ms: i64, retention: Retention) -> rusqlite::Result<()> {
        let age = i64::try_from(retention.max_age.as_millis()).unwrap_or(i64::MAX);
        c.execute(
            "DELETE FROM chat_audit WHERE at_ms < ?1",
            [now_ms.saturating_sub(age)],
        )?;
        c.execute(
            "DELETE FROM chat_refusals WHERE last_at_ms <= ?1",
            [now_ms.saturating_sub(REFUSAL_INTERVAL.as_millis() as i64)],
        )?;
        Ok(())
    }

    /// The latest `limit` entries, newest first.
    pub fn latest(c: &Connection, limit: usize) -> rusqlite::Result<Vec<Entry>> {
        let mut stmt = c.prepare_cached(
            "SELECT at_ms, user_id, username, chat_id, action, result FROM chat_audit ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok(Entry {
                at_ms: r.get(0)?,
                user_id: r.get(1)?,
                username: r.get(2)?,
                chat_id: r.get(3)?,
                action: r.get(4)?,
                result: r.get(5)?,
            })
        })?;
        rows.collect()
    }

    /// See [`AuditLog::should_refuse_loudly`] (run it in a transaction).
    pub fn should_refuse_loudly(
        c: &Connection,
        user_id: i64,
        now_ms: i64,
    ) -> rusqlite::Result<bool> {
        let last: Option<i64> = c
            .query_row(
                "SELECT last_at_ms FROM chat_refusals WHERE user_id = ?1",
                [user_id],
                |r| r.get(0),
            )
            .optional()?;
        let loud =
            last.is_none_or(|t| now_ms.saturating_sub(t) >= REFUSAL_INTERVAL.as_millis() as i64);
        if loud {
            c.execute(
                "INSERT INTO chat_refusals (user_id, last_at_ms) VALUES (?1, ?2)
                 ON CONFLICT(user_id) DO UPDATE SET last_at_ms = excluded.last_at_ms",
                params![user_id, now_ms],
            )?;
        }
        Ok(loud)
    }
}

/// The audit log on its own connection (`outpost ask`, tests).
pub struct Audit {
    db: Mutex<Connection>,
    retention: Retention,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Audit")
    }
}

impl Audit {
    /// Opens (creating parent directories, tables and WAL mode as needed),
    /// keeping at most what `retention` allows.
    pub fn open(path: &Path, retention: Retention) -> Result<Self, AuditError> {
        let open_err = |source| AuditError::Open {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let db = Connection::open(path).map_err(open_err)?;
        db.busy_timeout(Duration::from_secs(5)).map_err(open_err)?;
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        db.execute_batch(SCHEMA).map_err(open_err)?;
        Ok(Audit {
            db: Mutex::new(db),
            retention,
        })
    }

    /// An in-memory store (tests, or `ask` without `--state`).
    pub fn in_memory() -> Result<Self, AuditError> {
        Self::in_memory_with(Retention::default())
    }

    /// [`Audit::in_memory`] with a chosen retention.
    pub fn in_memory_with(retention: Retention) -> Result<Self, AuditError> {
        let db = Connection::open_in_memory()?;
        db.execute_batch(SCHEMA)?;
        Ok(Audit {
            db: Mutex::new(db),
            retention,
        })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends `e`, dropping the oldest entries past `max_rows`.
    pub fn record(&self, e: &Entry) -> Result<(), AuditError> {
        Ok(sql::record(&self.db(), e, self.retention)?)
    }

    /// See [`sql::prune`].
    pub fn prune(&self, now_ms: i64) -> Result<(), AuditError> {
        Ok(sql::prune(&self.db(), now_ms, self.retention)?)
    }

    /// How many entries the log holds.
    pub fn count(&self) -> Result<u64, AuditError> {
        let n: i64 = self
            .db()
            .query_row("SELECT COUNT(*) FROM chat_audit", [], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    /// The latest `limit` entries, newest first.
    pub fn latest(&self, limit: usize) -> Result<Vec<Entry>, AuditError> {
        Ok(sql::latest(&self.db(), limit)?)
    }

    /// See [`AuditLog::should_refuse_loudly`].
    pub fn should_refuse_loudly(&self, user_id: i64, now_ms: i64) -> Result<bool, AuditError> {
        let mut db = self.db();
        let tx = db.transaction()?;
        let loud = sql::should_refuse_loudly(&tx, user_id, now_ms)?;
        tx.commit()?;
        Ok(loud)
    }
}

impl AuditLog for Audit {
    fn record(&self, e: Entry) -> AuditFuture<'_, ()> {
        Box::pin(async move { Audit::record(self, &e) })
    }
    fn latest(&self, limit: usize) -> AuditFuture<'_, Vec<Entry>> {
        Box::pin(async move { Audit::latest(self, limit) })
    }
    fn should_refuse_loudly(&self, user_id: i64, now_ms: i64) -> AuditFuture<'_, bool> {
        Box::pin(async move { Audit::should_refuse_loudly(self, user_id, now_ms) })
    }
    fn prune(&self, now_ms: i64) -> AuditFuture<'_, ()> {
        Box::pin(async move { Audit::prune(self, now_ms) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_lists_newest_first() {
        let a = Audit::in_memory().unwrap();
        for i in 0..3 {
            a.record(&Entry {
                at_ms: i,
                user_id: 7,
                username: Some("alice".into()),
                chat_id: -100,
                action: format!("/mon_cpu web{i}"),
                result: "ok".into(),
            })
            .unwrap();
        }
        let l = a.latest(2).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].action, "/mon_cpu web2");
        assert_eq!(l[1].at_ms, 1);
    }

    #[test]
    fn one_refusal_per_interval_per_user() {
        let a = Audit::in_memory().unwrap();
        let hour = REFUSAL_INTERVAL.as_millis() as i64;
        assert!(a.should_refuse_loudly(9, 1000).unwrap());
        assert!(!a.should_refuse_loudly(9, 2000).unwrap());
        assert!(a.should_refuse_loudly(10, 2000).unwrap());
        assert!(!a.should_refuse_loudly(9, 1000 + hour - 1).unwrap());
        assert!(a.should_refuse_loudly(9, 1000 + hour).unwrap());
    }

    fn entry(at_ms: i64) -> Entry {
        Entry {
            at_ms,
            user_id: 7,
            username: None,
            chat_id: 7,
            action: "/status".into(),
            result: "ok".into(),
        }
    }

    #[test]
    fn the_log_is_bounded_by_rows_and_age() {
        let day = 86_400_000;
        let a = Audit::in_memory_with(Retention {
            max_age: Duration::from_secs(86_400),
            max_rows: 5,
        })
        .unwrap();
        for i in 0..12 {
            a.record(&entry(i)).unwrap();
        }
        assert_eq!(a.count().unwrap(), 5);
        let kept: Vec<i64> = a.latest(10).unwrap().iter().map(|e| e.at_ms).collect();
        assert_eq!(kept, vec![11, 10, 9, 8, 7], "the newest stay");
        a.record(&entry(2 * day)).unwrap();
        assert!(a.should_refuse_loudly(9, 2 * day).unwrap());
        assert!(a.should_refuse_loudly(10, 0).unwrap());
        a.prune(2 * day + 1).unwrap();
        assert_eq!(a.latest(10).unwrap(), vec![entry(2 * day)]);
        // User 10's refusal memory is older than the interval: gone, so the
        // next message is refused loudly again (as it would be anyway).
        let refusals: i64 = a
            .db()
            .query_row("SELECT COUNT(*) FROM chat_refusals", [], |r| r.get(0))
            .unwrap();
        assert_eq!(refusals, 1);
        assert!(!a.should_refuse_loudly(9, 2 * day + 2).unwrap());
    }

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/outpost.db");
        {
            let a = Audit::open(&path, Retention::default()).unwrap();
            assert!(a.should_refuse_loudly(1, 0).unwrap());
        }
        let a = Audit::open(&path, Retention::default()).unwrap();
        assert!(!a.should_refuse_loudly(1, 10).unwrap());
    }
}
