//! The state in a SQLite file (`--state FILE`, the default): the
//! [`State`](super::State) backend that needs nothing but a disk.
//!
//! This file is the store thread and its connection; the queries are split
//! by concern like the traits: `outbox.rs` (intake, queue, delivery marks,
//! figures, pruning), `chats.rs` (migrations, firing message ids, the chat
//! bot's update offset), `oncall.rs` (announced alerts, acknowledgements,
//! escalation levels, alert keyboards), `audience.rs` (subscriptions,
//! mutes, quiet hours), `watchdog.rs`, `audit.rs` (the
//! chat engine's audit log: its queries, this thread's connection) and
//! `lease.rs`.
//!
//! One thread owns the connection. Callers send it jobs over a channel and
//! await the answer; the thread runs every job waiting in the channel in
//! one transaction (each in its own savepoint) and answers only after the
//! `COMMIT` returned. That is group commit: under load many webhooks share
//! one fsync, and an acknowledgement always means "on disk".
//!
//! Decisions: this thread is the one owner of the state database; nothing
//! else opens a connection to it in the bridge. The file belongs to one
//! bridge, so that bridge always holds the lease.
//!
//! Durability: WAL with `synchronous=FULL`, so a commit survives not only
//! a killed process but a power cut. `NORMAL` would survive `kill -9` too
//! (the WAL is in the OS page cache) but could lose the last commits on
//! power loss, and Alertmanager would not resend what we acknowledged;
//! group commit makes FULL affordable.

mod audience;
mod audit;
mod chats;
mod lease;
mod oncall;
mod outbox;
mod watchdog;

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::StateError;

impl From<rusqlite::Error> for StateError {
    fn from(e: rusqlite::Error) -> Self {
        StateError::Db(e.to_string())
    }
}

type Completion = Box<dyn FnOnce(Option<&StateError>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> (bool, Completion) + Send>;

/// Handle to the store thread. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    jobs: mpsc::Sender<Job>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id INTEGER NOT NULL,
    thread_id INTEGER,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued',
    done_ms INTEGER,
    error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_queue ON outbox(state, chat_id, id);
CREATE TABLE IF NOT EXISTS dedup (
    key TEXT PRIMARY KEY,
    first_seen_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chat_migration (
    from_chat INTEGER PRIMARY KEY,
    to_chat INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS firing_message (
    chat_id INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    sent_ms INTEGER NOT NULL,
    PRIMARY KEY (chat_id, fingerprint)
);
CREATE TABLE IF NOT EXISTS bot_offset (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    next INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS watchdog (
    chat_id INTEGER PRIMARY KEY,
    thread_id INTEGER,
    last_seen_ms INTEGER NOT NULL,
    silent INTEGER NOT NULL DEFAULT 0
);
";

/// Most jobs in one transaction.
const MAX_GROUP: usize = 512;

/// How hard a commit pushes to the disk (`--state-sync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: every commit is fsynced; survives power loss.
    #[default]
    Full,
    /// `synchronous=NORMAL`: survives a killed process (the WAL is in the
    /// page cache), not a power cut; commits skip the fsync.
    Normal,
}

impl Store {
    /// Opens (creating when missing) the database with [`Durability::Full`]
    /// and starts its thread. `busy` is how long a write waits for a lock
    /// held elsewhere before failing (which the webhook turns into a 5xx).
    pub fn open(path: &Path, busy: Duration) -> Result<Store, StateError> {
        Self::open_with(path, busy, Durability::Full)
    }

    /// [`Store::open`] with a chosen durability.
    pub fn open_with(
        path: &Path,
        busy: Duration,
        durability: Durability,
    ) -> Result<Store, StateError> {
        let open_err = |reason: String| StateError::Open {
            what: path.display().to_string(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        }
        let conn = Connection::open(path).map_err(|e| open_err(e.to_string()))?;
        conn.busy_timeout(busy)
            .map_err(|e| open_err(e.to_string()))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(|e| open_err(e.to_string()))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(open_err(format!(
                "cannot switch to WAL (journal_mode={mode})"
            )));
        }
        // Checkpoints run in their own thread (see `checkpointer`), not in
        // whichever commit happens to cross the WAL size threshold.
        let sync = match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.execute_batch(&format!(
            "PRAGMA synchronous={sync}; PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint=0;"
        ))
        .and_then(|_| conn.execute_batch(SCHEMA))
        .and_then(|_| conn.execute_batch(crate::chat::audit::SCHEMA))
        .and_then(|_| conn.execute_batch(oncall::SCHEMA))
        .and_then(|_| conn.execute_batch(audience::SCHEMA))
        .map_err(|e| open_err(e.to_string()))?;
        let checkpoint_conn = Connection::open(path).map_err(|e| open_err(e.to_string()))?;
        let (tx, rx) = mpsc::channel::<Job>(4096);
        let (alive_tx, alive_rx) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("outpost-checkpoint".into())
            .spawn(move || checkpointer(checkpoint_conn, alive_rx))
            .map_err(|e| open_err(e.to_string()))?;
        std::thread::Builder::new()
            .name("outpost-store".into())
            .spawn(move || writer(conn, rx, alive_tx))
            .map_err(|e| open_err(e.to_string()))?;
        Ok(Store { jobs: tx })
    }

    /// Runs `f` in the store thread inside a transaction; answers after
    /// the commit.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StateError> + Send + 'static,
    ) -> Result<R, StateError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let r = f(conn);
            let ok = r.is_ok();
            let done: Completion = Box::new(move |commit_err| {
                let r = match commit_err {
                    Some(e) => Err(e.clone()),
                    None => r,
                };
                let _ = tx.send(r);
            });
            (ok, done)
        });
        self.jobs.send(job).await.map_err(|_| StateError::Closed)?;
        rx.await.map_err(|_| StateError::Closed)?
    }
}

/// Copies the WAL back into the database every second (PASSIVE: never
/// waits for the writer, never blocks it), so commits stay one fsync of
/// the WAL and the latency of a webhook does not include a checkpoint.
/// Ends when the writer ends (its `alive` sender is dropped).
fn checkpointer(conn: Connection, alive: std::sync::mpsc::Receiver<()>) {
    use std::sync::mpsc::RecvTimeoutError;
    while let Err(RecvTimeoutError::Timeout) = alive.recv_timeout(Duration::from_secs(1)) {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!(error = %e, "WAL checkpoint");
        }
    }
    let _ = conn.close();
}

/// The store thread: group commit of everything waiting.
fn writer(conn: Connection, mut rx: mpsc::Receiver<Job>, alive: std::sync::mpsc::Sender<()>) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let err = StateError::from(e);
            tracing::error!(error = %err, "state database: cannot begin transaction");
            for job in jobs {
                // Each job still runs its closure to produce a completion;
                // nothing it did is kept (no transaction): answer the error.
                let (_, done) = job(&conn);
                done(Some(&err));
            }
            continue;
        }
        let mut completions = Vec::with_capacity(jobs.len());
        for job in jobs {
            let sp_ok = conn.execute_batch("SAVEPOINT job").is_ok();
            let (ok, done) = job(&conn);
            if sp_ok {
                let end = if ok {
                    "RELEASE job"
                } else {
                    "ROLLBACK TO job; RELEASE job"
                };
                let _ = conn.execute_batch(end);
            }
            completions.push(done);
        }
        let commit = conn.execute_batch("COMMIT").map_err(StateError::from);
        if commit.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        if let Err(e) = &commit {
            tracing::error!(error = %e, "state database: commit failed");
        }
        for done in completions {
            done(commit.as_ref().err());
        }
    }
    // All handles dropped: stop the checkpointer, then close (the last
    // connection to close checkpoints the WAL).
    drop(alive);
    std::thread::sleep(Duration::from_millis(50));
    let _ = conn.close();
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;
    use crate::bridge::outbox::Content;
    use crate::bridge::payload::{Alert, Notification};

    fn note(name: &str) -> Notification {
        let mut n = Notification {
            status: "firing".into(),
            ..Default::default()
        };
        let mut a = Alert {
            status: "firing".into(),
            fingerprint: name.into(),
            ..Default::default()
        };
        a.labels.insert("alertname".into(), name.into());
        n.alerts.push(a);
        n
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn queue_survives_reopen_and_dedups_within_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.db");
        rt().block_on(async {
            let s = Store::open(&path, Duration::from_secs(1)).unwrap();
            let n = note("A");
            let key = n.dedup_key(1, None);
            let r = s
                .intake(
                    1,
                    None,
                    n.clone(),
                    key.clone(),
                    60_000,
                    0,
                    String::new(),
                    1000,
                )
                .await
                .unwrap();
            assert!(matches!(r, Intake::Queued { .. }));
            let again = s
                .intake(
                    1,
                    None,
                    n.clone(),
                    key.clone(),
                    60_000,
                    0,
                    String::new(),
                    30_000,
                )
                .await
                .unwrap();
            assert_eq!(again, Intake::Duplicate);
            // A repeat after the window (repeat_interval) is delivered again.
            let later = s
                .intake(1, None, n, key, 60_000, 0, String::new(), 200_000)
                .await
                .unwrap();
            assert!(matches!(later, Intake::Queued { .. }));
        });
        rt().block_on(async {
            let s = Store::open(&path, Duration::from_secs(1)).unwrap();
            let rows = s.queued(1, 100).await.unwrap();
            assert_eq!(rows.len(), 2);
            assert_eq!(s.stats().await.unwrap().queued, 2);
            assert_eq!(s.stats().await.unwrap().oldest_queued_ms, Some(1000));
            s.mark_sent(vec![rows[0].id], 5).await.unwrap();
            s.mark_failed(vec![rows[1].id], "blocked".into(), 5)
                .await
                .unwrap();
            let st = s.stats().await.unwrap();
            assert_eq!((st.queued, st.failed), (0, 1));
        });
    }

    #[test]
    fn migrations_move_the_queue_and_future_intake() {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let s = Store::open(&dir.path().join("s.db"), Duration::from_secs(1)).unwrap();
            let n = note("A");
            s.intake(-5, None, n.clone(), "k1".into(), 1, 0, String::new(), 1)
                .await
                .unwrap();
            s.remember_firing(-5, vec!["A".into()], 77, 1)
                .await
                .unwrap();
            s.migrate_chat(-5, -1005).await.unwrap();
            s.intake(-5, None, note("B"), "k2".into(), 1, 0, String::new(), 2)
                .await
                .unwrap();
            assert!(s.queued(-5, 10).await.unwrap().is_empty());
            assert_eq!(s.queued(-1005, 10).await.unwrap().len(), 2);
            assert_eq!(s.queued_chats().await.unwrap(), vec![-1005]);
            assert_eq!(
                s.firing_message(-1005, vec!["x".into(), "A".into()])
                    .await
                    .unwrap(),
                Some(77)
            );
        });
    }

    #[test]
    fn watchdog_goes_silent_and_recovers() {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let s = Store::open(&dir.path().join("s.db"), Duration::from_secs(1)).unwrap();
            let empty = Notification::default();
            let r = s
                .intake(
                    3,
                    Some(4),
                    empty.clone(),
                    "h".into(),
                    1,
                    1,
                    "back".into(),
                    1_000,
                )
                .await
                .unwrap();
            assert_eq!(r, Intake::Nothing);
            assert!(s
                .expire_watchdogs(50_000, 60_000, 0, "silent".into())
                .await
                .unwrap()
                .is_empty());
            assert_eq!(
                s.expire_watchdogs(70_000, 60_000, 0, "silent".into())
                    .await
                    .unwrap(),
                vec![3]
            );
            // Reported once only.
            assert!(s
                .expire_watchdogs(80_000, 60_000, 0, "silent".into())
                .await
                .unwrap()
                .is_empty());
            s.intake(3, Some(4), empty, "h".into(), 1, 1, "back".into(), 90_000)
                .await
                .unwrap();
            let rows = s.queued(3, 10).await.unwrap();
            let texts: Vec<_> = rows.iter().map(|r| (&r.content, r.thread)).collect();
            assert_eq!(
                texts,
                vec![
                    (&Content::Text("silent".into()), Some(4)),
                    (&Content::Text("back".into()), Some(4))
                ]
            );
            let w = s.watchdogs().await.unwrap();
            assert!(!w[0].silent);
            assert_eq!(w[0].last_seen_ms, 90_000);
        });
    }

    #[test]
    fn a_locked_database_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        rt().block_on(async {
            let s = Store::open(&path, Duration::from_millis(100)).unwrap();
            let other = Connection::open(&path).unwrap();
            other.execute_batch("BEGIN EXCLUSIVE").unwrap();
            let r = s
                .intake(1, None, note("A"), "k".into(), 1, 0, String::new(), 1)
                .await;
            assert!(matches!(r, Err(StateError::Db(_))), "{r:?}");
            other.execute_batch("ROLLBACK").unwrap();
            assert!(s
                .intake(1, None, note("A"), "k".into(), 1, 0, String::new(), 1)
                .await
                .is_ok());
        });
    }

    #[test]
    fn pruning_forgets_only_what_is_done_and_old() {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let s = Store::open(&dir.path().join("s.db"), Duration::from_secs(1)).unwrap();
            for (i, name) in ["A", "B", "C"].iter().enumerate() {
                s.intake(
                    1,
                    None,
                    note(name),
                    name.to_string(),
                    1000,
                    0,
                    String::new(),
                    i as i64,
                )
                .await
                .unwrap();
            }
            let rows = s.queued(1, 10).await.unwrap();
            s.mark_sent(vec![rows[0].id], 0).await.unwrap();
            s.mark_failed(vec![rows[1].id], "x".into(), 0)
                .await
                .unwrap();
            let two_days = 2 * 86_400_000;
            s.prune(two_days, 1000).await.unwrap();
            let left: i64 = s
                .call(|c| Ok(c.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?))
                .await
                .unwrap();
            assert_eq!(left, 2, "the sent row goes, the failed and queued stay");
            let keys: i64 = s
                .call(|c| Ok(c.query_row("SELECT COUNT(*) FROM dedup", [], |r| r.get(0))?))
                .await
                .unwrap();
            assert_eq!(keys, 0);
            s.prune(8 * 86_400_000, 1000).await.unwrap();
            assert_eq!(
                s.stats().await.unwrap(),
                Stats {
                    queued: 1,
                    failed: 0,
                    oldest_queued_ms: Some(2)
                }
            );
        });
    }

    #[test]
    fn the_bot_offset_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        rt().block_on(async {
            let s = Store::open(&path, Duration::from_secs(1)).unwrap();
            assert_eq!(s.bot_offset().await.unwrap(), 0);
            s.save_bot_offset(41, 1).await.unwrap();
            s.save_bot_offset(42, 1).await.unwrap();
        });
        rt().block_on(async {
            let s = Store::open(&path, Duration::from_secs(1)).unwrap();
            assert_eq!(s.bot_offset().await.unwrap(), 42);
        });
    }

    #[test]
    fn a_directory_is_not_a_database() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Store::open(dir.path(), Duration::from_millis(10)),
            Err(StateError::Open { .. })
        ));
    }
}
