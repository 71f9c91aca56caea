//! The durable state in SQLite (`--state`): the outbox, the dedup keys,
//! remembered chat migrations, the message ids of firing alerts, the
//! watchdog state and the counters behind `/metrics`.
//!
//! One thread owns the connection. Callers send it jobs over a channel and
//! await the answer; the thread runs every job waiting in the channel in
//! one transaction (each in its own savepoint) and answers only after the
//! `COMMIT` returned. That is group commit: under load many webhooks share
//! one fsync, and an acknowledgement always means "on disk".
//!
//! Durability: WAL with `synchronous=FULL`, so a commit survives not only
//! a killed process but a power cut. `NORMAL` would survive `kill -9` too
//! (the WAL is in the OS page cache) but could lose the last commits on
//! power loss, and Alertmanager would not resend what we acknowledged;
//! group commit makes FULL affordable.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{mpsc, oneshot};

use super::outbox::{Content, Row};
use super::payload::Notification;

/// A storage error. Cloneable (as text) so one failed commit can answer
/// every job in its transaction.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("opening state database {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("state database: {0}")]
    Sqlite(String),
    #[error("state database is closed")]
    Closed,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e.to_string())
    }
}

type Completion = Box<dyn FnOnce(Option<&StoreError>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> (bool, Completion) + Send>;

/// Handle to the store thread. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    jobs: mpsc::Sender<Job>,
}

/// How an incoming notification was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// Stored in the outbox (row id, and the chat after remembered
    /// migrations).
    Queued { id: i64, chat: i64 },
    /// Seen within the dedup window: not stored again.
    Duplicate,
    /// Nothing to deliver (only heartbeats, or no alerts).
    Nothing,
}

/// Figures for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub queued: i64,
    pub failed: i64,
    pub oldest_queued_ms: Option<i64>,
}

/// Per-chat watchdog state.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchdogState {
    pub chat: i64,
    pub thread: Option<i64>,
    pub last_seen_ms: i64,
    pub silent: bool,
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
    pub fn open(path: &Path, busy: Duration) -> Result<Store, StoreError> {
        Self::open_with(path, busy, Durability::Full)
    }

    /// [`Store::open`] with a chosen durability.
    pub fn open_with(
        path: &Path,
        busy: Duration,
        durability: Durability,
    ) -> Result<Store, StoreError> {
        let open_err = |reason: String| StoreError::Open {
            path: path.to_owned(),
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
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
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
        self.jobs.send(job).await.map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Stores a notification for `chat` unless its `dedup_key` was seen in
    /// the last `window_ms`; records `heartbeats` for the watchdog. When a
    /// heartbeat arrives for a chat whose pipeline was reported silent,
    /// `recovery` (HTML) is queued for that chat first.
    #[allow(clippy::too_many_arguments)]
    pub async fn intake(
        &self,
        chat: i64,
        thread: Option<i64>,
        notification: Notification,
        dedup_key: String,
        window_ms: i64,
        heartbeats: usize,
        recovery: String,
        now_ms: i64,
    ) -> Result<Intake, StoreError> {
        // Serialised here, not in the store thread.
        let payload = if notification.alerts.is_empty() {
            None
        } else {
            Some(
                serde_json::to_string(&notification)
                    .map_err(|e| StoreError::Sqlite(e.to_string()))?,
            )
        };
        self.call(move |c| {
            let chat = resolve_chat(c, chat)?;
            if heartbeats > 0 {
                let was_silent: Option<bool> = c
                    .query_row(
                        "SELECT silent FROM watchdog WHERE chat_id=?1",
                        [chat],
                        |r| r.get(0),
                    )
                    .optional()?;
                c.execute(
                    "INSERT INTO watchdog(chat_id, thread_id, last_seen_ms, silent) VALUES (?1, ?2, ?3, 0)
                     ON CONFLICT(chat_id) DO UPDATE SET thread_id=excluded.thread_id, last_seen_ms=excluded.last_seen_ms, silent=0",
                    params![chat, thread, now_ms],
                )?;
                if was_silent == Some(true) {
                    insert_row(c, chat, thread, &Content::Text(recovery), now_ms)?;
                }
            }
            let Some(payload) = payload else {
                return Ok(Intake::Nothing);
            };
            let seen: Option<i64> = c
                .query_row(
                    "SELECT first_seen_ms FROM dedup WHERE key=?1",
                    [&dedup_key],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(t) = seen {
                if now_ms - t < window_ms {
                    return Ok(Intake::Duplicate);
                }
            }
            c.execute(
                "INSERT INTO dedup(key, first_seen_ms) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET first_seen_ms=excluded.first_seen_ms",
                params![dedup_key, now_ms],
            )?;
            let id = insert_raw(c, chat, thread, "alerts", &payload, now_ms)?;
            Ok(Intake::Queued { id, chat })
        })
        .await
    }

    /// Queues a pre-rendered message.
    pub async fn enqueue_text(
        &self,
        chat: i64,
        thread: Option<i64>,
        html: String,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        self.call(move |c| {
            let chat = resolve_chat(c, chat)?;
            insert_row(c, chat, thread, &Content::Text(html), now_ms)
        })
        .await
    }

    /// Chats with queued rows.
    pub async fn queued_chats(&self) -> Result<Vec<i64>, StoreError> {
        self.call(|c| {
            let mut st =
                c.prepare_cached("SELECT DISTINCT chat_id FROM outbox WHERE state='queued'")?;
            let rows = st.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<i64>, _>>()?)
        })
        .await
    }

    /// The first `limit` queued rows of `chat`, oldest first. The JSON is
    /// parsed here, outside the store thread, so a big read does not hold
    /// up the commits webhooks wait for.
    pub async fn queued(&self, chat: i64, limit: usize) -> Result<Vec<Row>, StoreError> {
        type Raw = (i64, i64, Option<i64>, String, String, i64);
        let raw: Vec<Raw> = self
            .call(move |c| {
                let mut st = c.prepare_cached(
                    "SELECT id, chat_id, thread_id, kind, payload, received_ms FROM outbox
                     WHERE state='queued' AND chat_id=?1 ORDER BY id LIMIT ?2",
                )?;
                let rows = st.query_map(params![chat, limit as i64], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })?;
                Ok(rows.collect::<Result<Vec<Raw>, _>>()?)
            })
            .await?;
        Ok(raw
            .into_iter()
            .map(|(id, chat, thread, kind, payload, received_ms)| {
                let content = if kind == "text" {
                    Content::Text(payload)
                } else {
                    // A row that no longer parses is delivered as an empty
                    // notification rather than blocking the queue.
                    Content::Alerts(serde_json::from_str(&payload).unwrap_or_default())
                };
                Row {
                    id,
                    chat,
                    thread,
                    received_ms,
                    content,
                }
            })
            .collect())
    }

    /// Marks rows delivered.
    pub async fn mark_sent(&self, ids: Vec<i64>, now_ms: i64) -> Result<(), StoreError> {
        self.call(move |c| {
            let mut st = c.prepare_cached(
                "UPDATE outbox SET state='sent', done_ms=?2 WHERE id=?1 AND state='queued'",
            )?;
            for id in ids {
                st.execute(params![id, now_ms])?;
            }
            Ok(())
        })
        .await
    }

    /// Marks rows as permanently failed, keeping the reason.
    pub async fn mark_failed(
        &self,
        ids: Vec<i64>,
        reason: String,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.call(move |c| {
            let mut st = c.prepare_cached(
                "UPDATE outbox SET state='failed', done_ms=?2, error=?3 WHERE id=?1",
            )?;
            for id in ids {
                st.execute(params![id, now_ms, reason])?;
            }
            Ok(())
        })
        .await
    }

    /// Remembers that `from` became `to` (a group upgraded to a
    /// supergroup) and moves everything queued for `from`.
    pub async fn migrate_chat(&self, from: i64, to: i64) -> Result<(), StoreError> {
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
            Ok(())
        })
        .await
    }

    /// Remembers the message that announced these firing alerts.
    pub async fn remember_firing(
        &self,
        chat: i64,
        fingerprints: Vec<String>,
        message_id: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
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
    pub async fn firing_message(
        &self,
        chat: i64,
        fingerprints: Vec<String>,
    ) -> Result<Option<i64>, StoreError> {
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

    /// Marks silent every chat whose last heartbeat (or `since_ms`, the
    /// bridge's start, whichever is later) is older than `timeout_ms`, and
    /// queues `notice` (HTML) for each. Returns the chats newly silent.
    pub async fn expire_watchdogs(
        &self,
        now_ms: i64,
        timeout_ms: i64,
        since_ms: i64,
        notice: String,
    ) -> Result<Vec<i64>, StoreError> {
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
    pub async fn watchdogs(&self) -> Result<Vec<WatchdogState>, StoreError> {
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

    /// Queue depth, failures and the oldest queued row's arrival.
    pub async fn stats(&self) -> Result<Stats, StoreError> {
        self.call(|c| {
            let (queued, oldest): (i64, Option<i64>) = c.query_row(
                "SELECT COUNT(*), MIN(received_ms) FROM outbox WHERE state='queued'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let failed: i64 = c.query_row(
                "SELECT COUNT(*) FROM outbox WHERE state='failed'",
                [],
                |r| r.get(0),
            )?;
            Ok(Stats {
                queued,
                failed,
                oldest_queued_ms: oldest,
            })
        })
        .await
    }

    /// Forgets what is no longer needed: delivered rows after a day, dedup
    /// keys past their window, firing message ids after 30 days.
    pub async fn prune(&self, now_ms: i64, window_ms: i64) -> Result<(), StoreError> {
        self.call(move |c| {
            c.execute(
                "DELETE FROM outbox WHERE state='sent' AND done_ms < ?1",
                [now_ms - 86_400_000],
            )?;
            c.execute(
                "DELETE FROM dedup WHERE first_seen_ms < ?1",
                [now_ms - window_ms],
            )?;
            c.execute(
                "DELETE FROM firing_message WHERE sent_ms < ?1",
                [now_ms - 30 * 86_400_000],
            )?;
            Ok(())
        })
        .await
    }
}

fn resolve_chat(c: &Connection, chat: i64) -> Result<i64, StoreError> {
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

fn insert_row(
    c: &Connection,
    chat: i64,
    thread: Option<i64>,
    content: &Content,
    now_ms: i64,
) -> Result<i64, StoreError> {
    let payload = match content {
        Content::Alerts(n) => {
            serde_json::to_string(n).map_err(|e| StoreError::Sqlite(e.to_string()))?
        }
        Content::Text(t) => t.clone(),
    };
    insert_raw(c, chat, thread, content.kind(), &payload, now_ms)
}

fn insert_raw(
    c: &Connection,
    chat: i64,
    thread: Option<i64>,
    kind: &str,
    payload: &str,
    now_ms: i64,
) -> Result<i64, StoreError> {
    c.prepare_cached(
        "INSERT INTO outbox(chat_id, thread_id, kind, payload, received_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![chat, thread, kind, payload, now_ms])?;
    Ok(c.last_insert_rowid())
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
            let err = StoreError::from(e);
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
        let commit = conn.execute_batch("COMMIT").map_err(StoreError::from);
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
    use super::*;
    use crate::bridge::payload::Alert;

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
            assert!(matches!(r, Err(StoreError::Sqlite(_))), "{r:?}");
            other.execute_batch("ROLLBACK").unwrap();
            assert!(s
                .intake(1, None, note("A"), "k".into(), 1, 0, String::new(), 1)
                .await
                .is_ok());
        });
    }

    #[test]
    fn a_directory_is_not_a_database() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Store::open(dir.path(), Duration::from_millis(10)),
            Err(StoreError::Open { .. })
        ));
    }
}
