//! Group commit of webhook intake in PostgreSQL: the webhooks waiting at
//! the same moment are stored by one statement (one transaction, one WAL
//! flush), each answered after that statement committed, as the SQLite
//! backend's store thread does.
//!
//! A webhook's intake is queued to the [`Committer`]; a loop takes the
//! first waiting one and everything queued behind it (up to
//! [`MAX_BATCH`]) and runs the batch on a connection of the pool, with at
//! most [`IN_FLIGHT`] batches at once. Under light load a batch is one
//! webhook, sent at once (no added latency); under load the batches grow
//! while the earlier ones commit.
//!
//! Decisions:
//! - One statement per batch (`unnest` of arrays), with the same dedup
//!   rule as the single intake (`outbox.rs`): a key is new, or past its
//!   window, only when the dedup upsert returns it. Each input row takes
//!   its outbox id from the sequence up front, so the answer can say which
//!   row each webhook became without relying on the order of `RETURNING`.
//! - Keys are inserted in sorted order, so two bridges committing batches
//!   with the same keys (two Alertmanagers sending the same notification)
//!   lock them in the same order and cannot deadlock. A key twice in one
//!   batch (an upsert may not touch a row twice) goes to a second round.
//! - A batch the server refuses (a value it rejects, a deadlock) is
//!   retried webhook by webhook with the single statement, so one bad row
//!   costs only its own webhook (503), as before. Without a connection
//!   every webhook of the batch gets the error at once.
//! - Webhooks carrying watchdog heartbeats keep the single transaction
//!   (`outbox.rs`): they also update the watchdog row.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};

use super::super::{Intake, StateError};
use super::PgState;

/// The most webhooks stored by one statement.
pub const MAX_BATCH: usize = 256;

/// Batches committing at once (each on its own pooled connection).
pub const IN_FLIGHT: usize = 4;

/// Stores a batch: `$1..$5` the inputs' chats, threads, payloads, keys and
/// times (sorted by key), `$6` the dedup window. One row per input:
/// its index, its chat after a remembered migration, and its outbox id
/// when it was queued (`NULL`: a duplicate).
const BATCH_INTAKE: &str = "
WITH input AS MATERIALIZED (
    SELECT i.ord, i.thread, i.payload, i.key, i.now_ms,
           COALESCE((SELECT to_chat FROM chat_migration WHERE from_chat = i.chat), i.chat) AS target,
           nextval(pg_get_serial_sequence('outbox', 'id')) AS id
    FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::bigint[])
         WITH ORDINALITY AS i(chat, thread, payload, key, now_ms, ord)
), fresh AS (
    INSERT INTO dedup(key, first_seen_ms)
    SELECT key, now_ms FROM input ORDER BY key
    ON CONFLICT (key) DO UPDATE SET first_seen_ms = excluded.first_seen_ms
        WHERE dedup.first_seen_ms <= excluded.first_seen_ms - $6
    RETURNING key
), queued AS (
    INSERT INTO outbox(id, chat_id, thread_id, kind, payload, received_ms)
    SELECT input.id, input.target, input.thread, 'alerts', input.payload, input.now_ms
    FROM input JOIN fresh ON fresh.key = input.key
    ORDER BY input.id
    RETURNING id
)
SELECT input.ord, input.target, queued.id FROM input LEFT JOIN queued ON queued.id = input.id";

/// One webhook waiting to be stored.
pub(super) struct Pending {
    pub chat: i64,
    pub thread: Option<i64>,
    pub payload: String,
    pub key: String,
    pub window_ms: i64,
    pub now_ms: i64,
    pub reply: oneshot::Sender<Result<Intake, StateError>>,
}

/// The queue of the group commit; the loop ends when it is dropped.
#[derive(Clone)]
pub(super) struct Committer(mpsc::UnboundedSender<Pending>);

impl Committer {
    /// Starts the loop on the current runtime, storing through `state`.
    pub fn start(state: PgState) -> Committer {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(state, rx));
        Committer(tx)
    }

    /// Stores one webhook with the others waiting; answers after commit.
    pub async fn intake(&self, pending: Pending) -> Result<Intake, StateError> {
        let (reply, answer) = oneshot::channel();
        self.0
            .send(Pending { reply, ..pending })
            .map_err(|_| StateError::Closed)?;
        answer.await.map_err(|_| StateError::Closed)?
    }
}

async fn run(state: PgState, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let state = state.clone();
        tokio::spawn(async move {
            for round in rounds(batch) {
                commit(&state, round).await;
            }
            drop(slot);
        });
    }
}

/// `batch` split so that no key appears twice in a round (the first
/// occurrence of each key in the first round, and so on), order kept.
fn rounds(batch: Vec<Pending>) -> Vec<Vec<Pending>> {
    let mut out: Vec<Vec<Pending>> = Vec::new();
    let mut keys: Vec<HashSet<String>> = Vec::new();
    for p in batch {
        let i = keys
            .iter()
            .position(|k| !k.contains(&p.key))
            .unwrap_or(keys.len());
        if i == keys.len() {
            keys.push(HashSet::new());
            out.push(Vec::new());
        }
        keys[i].insert(p.key.clone());
        out[i].push(p);
    }
    out
}

/// Stores one round (distinct keys) and answers each webhook; when the
/// server refused the batch, stores them one by one.
async fn commit(state: &PgState, mut round: Vec<Pending>) {
    round.sort_by(|a, b| a.key.cmp(&b.key));
    match store(state, &round).await {
        Ok(outcomes) => {
            for (p, outcome) in round.into_iter().zip(outcomes) {
                let _ = p.reply.send(Ok(outcome));
            }
        }
        Err(Failure {
            error,
            refused: true,
        }) if round.len() > 1 => {
            tracing::debug!(%error, webhooks = round.len(), "batched intake refused; storing one by one");
            for p in round {
                let outcome = state
                    .intake_one(p.chat, p.thread, &p.payload, &p.key, p.window_ms, p.now_ms)
                    .await;
                let _ = p.reply.send(outcome);
            }
        }
        // No connection, or a lone webhook: every one gets the error (503).
        Err(Failure { error, .. }) => {
            for p in round {
                let _ = p.reply.send(Err(error.clone()));
            }
        }
    }
}

/// Why a batch was not stored.
struct Failure {
    error: StateError,
    /// The server refused the statement (a deadlock, a value it rejects):
    /// worth trying the webhooks one by one. Otherwise (no connection, a
    /// connection lost) one by one would fail the same, only slower.
    refused: bool,
}

/// Runs [`BATCH_INTAKE`] for `round` (distinct keys, one window); the
/// outcome of each, in order.
async fn store(state: &PgState, round: &[Pending]) -> Result<Vec<Intake>, Failure> {
    let chats: Vec<i64> = round.iter().map(|p| p.chat).collect();
    let threads: Vec<Option<i64>> = round.iter().map(|p| p.thread).collect();
    let payloads: Vec<&str> = round.iter().map(|p| p.payload.as_str()).collect();
    let keys: Vec<&str> = round.iter().map(|p| p.key.as_str()).collect();
    let times: Vec<i64> = round.iter().map(|p| p.now_ms).collect();
    let window = round.first().map_or(0, |p| p.window_ms);
    let failed = |e: tokio_postgres::Error| Failure {
        refused: e.as_db_error().is_some(),
        error: state.err(e),
    };
    let c = state.conn().await.map_err(|error| Failure {
        error,
        refused: false,
    })?;
    let st = c.prepare_cached(BATCH_INTAKE).await.map_err(failed)?;
    let rows = c
        .query(&st, &[&chats, &threads, &payloads, &keys, &times, &window])
        .await
        .map_err(failed)?;
    let mut out = vec![Intake::Duplicate; round.len()];
    for r in rows {
        let ord: i64 = r.get(0);
        let chat: i64 = r.get(1);
        let id: Option<i64> = r.get(2);
        if let (Some(slot), Some(id)) = (out.get_mut(ord as usize - 1), id) {
            *slot = Intake::Queued {
                id,
                chat,
                copies: Vec::new(),
            };
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(key: &str) -> Pending {
        Pending {
            chat: 1,
            thread: None,
            payload: String::new(),
            key: key.to_owned(),
            window_ms: 1,
            now_ms: 1,
            reply: oneshot::channel().0,
        }
    }

    #[test]
    fn a_key_twice_in_a_batch_goes_to_a_later_round() {
        let batch = ["a", "b", "a", "c", "a", "b"].map(pending).into();
        let keys: Vec<Vec<String>> = rounds(batch)
            .into_iter()
            .map(|r| r.into_iter().map(|p| p.key).collect())
            .collect();
        assert_eq!(keys, [vec!["a", "b", "c"], vec!["a", "b"], vec!["a"]]);
    }
}
