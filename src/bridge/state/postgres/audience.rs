//! [`AudienceStore`] in PostgreSQL: the same tables as the SQLite backend
//! (schema version 4). The outbox's intake reads the subscriptions with
//! [`PgState::intake_subscriptions`] (at most a second old) before it opens
//! its transaction.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::super::{AudienceStore, MuteTarget, QuietHours, StateError, Topic, UserSettings};
use super::PgState;
use crate::chat::audience::{gather, Mute};

/// The chat after a remembered migration.
const TARGET: &str = "COALESCE((SELECT to_chat FROM chat_migration WHERE from_chat = $1), $1)";

/// `(chat, topic)` of `chat` (after migrations), or of every chat.
pub(super) async fn subscriptions_of(
    c: &impl GenericClient,
    chat: Option<i64>,
) -> Result<Vec<(i64, Topic)>, tokio_postgres::Error> {
    let rows = match chat {
        Some(chat) => {
            c.query(
                &format!(
                    "SELECT chat_id, topic FROM subscription WHERE chat_id = {TARGET}
                     ORDER BY chat_id, topic"
                ),
                &[&chat],
            )
            .await?
        }
        None => {
            c.query(
                "SELECT chat_id, topic FROM subscription ORDER BY chat_id, topic",
                &[],
            )
            .await?
        }
    };
    Ok(rows
        .iter()
        .map(|r| (r.get(0), Topic::from_stored(r.get(1))))
        .collect())
}

/// How long intake reuses the subscriptions it read: one query a second
/// instead of one per webhook (intake is the pair's hot path, see
/// BENCHMARKS.md). A bridge forgets its copy when it changes
/// subscriptions itself, so only a change made through the other bridge of
/// a pair can take this long to count.
pub(super) const SUBSCRIPTIONS_FRESH: Duration = Duration::from_secs(1);

/// Every subscription, `(chat, topic)`, as intake last read it.
#[derive(Default)]
pub(super) struct SubscriptionCache(Mutex<Option<(Instant, Subscriptions)>>);

/// `(chat, topic)` pairs, shared.
type Subscriptions = Arc<Vec<(i64, Topic)>>;

impl SubscriptionCache {
    fn fresh(&self, now: Instant) -> Option<Subscriptions> {
        let held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        held.as_ref()
            .filter(|(at, _)| now.saturating_duration_since(*at) < SUBSCRIPTIONS_FRESH)
            .map(|(_, v)| Arc::clone(v))
    }

    pub(super) fn forget(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl PgState {
    /// Every subscription, `(chat, topic)`, at most [`SUBSCRIPTIONS_FRESH`]
    /// old.
    pub(super) async fn intake_subscriptions(&self) -> Result<Arc<Vec<(i64, Topic)>>, StateError> {
        let asked = Instant::now();
        if let Some(v) = self.subscriptions.fresh(asked) {
            return Ok(v);
        }
        let c = self.conn().await?;
        let v = Arc::new(subscriptions_of(&c, None).await.map_err(|e| self.err(e))?);
        *self
            .subscriptions
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some((asked, Arc::clone(&v)));
        Ok(v)
    }
}

fn topics(found: Vec<(i64, Topic)>) -> Vec<Topic> {
    found.into_iter().map(|(_, t)| t).collect()
}

#[async_trait]
impl AudienceStore for PgState {
    async fn subscribe(
        &self,
        chat: i64,
        topics_wanted: Vec<Topic>,
        now_ms: i64,
    ) -> Result<Vec<Topic>, StateError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        for t in &topics_wanted {
            tx.execute(
                &format!(
                    "INSERT INTO subscription(chat_id, topic, created_ms) VALUES ({TARGET}, $2, $3)
                     ON CONFLICT (chat_id, topic) DO NOTHING"
                ),
                &[&chat, &t.stored(), &now_ms],
            )
            .await
            .map_err(|e| self.err(e))?;
        }
        let now = subscriptions_of(&tx, Some(chat))
            .await
            .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        // Forgotten after the commit: a read in between would keep the old.
        self.subscriptions.forget();
        Ok(topics(now))
    }

    async fn unsubscribe(&self, chat: i64, gone: Vec<Topic>) -> Result<Vec<Topic>, StateError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        let stored: Vec<&str> = gone.iter().map(Topic::stored).collect();
        tx.execute(
            &format!(
                "DELETE FROM subscription WHERE chat_id = {TARGET}
                 AND ($3 OR topic = ANY($2::text[]))"
            ),
            &[&chat, &stored, &gone.contains(&Topic::All)],
        )
        .await
        .map_err(|e| self.err(e))?;
        let now = subscriptions_of(&tx, Some(chat))
            .await
            .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        // Forgotten after the commit: a read in between would keep the old.
        self.subscriptions.forget();
        Ok(topics(now))
    }

    async fn subscriptions(&self, chat: Option<i64>) -> Result<Vec<(i64, Topic)>, StateError> {
        let c = self.conn().await?;
        subscriptions_of(&c, chat).await.map_err(|e| self.err(e))
    }

    async fn mute(
        &self,
        user_id: i64,
        target: MuteTarget,
        until_ms: i64,
    ) -> Result<(), StateError> {
        let c = self.conn().await?;
        c.execute(
            "INSERT INTO user_mute(user_id, kind, name, until_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id, kind, name) DO UPDATE SET until_ms = excluded.until_ms",
            &[&user_id, &target.kind(), &target.name(), &until_ms],
        )
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn unmute(&self, user_id: i64, target: MuteTarget) -> Result<bool, StateError> {
        let c = self.conn().await?;
        let n = c
            .execute(
                "DELETE FROM user_mute WHERE user_id = $1 AND kind = $2 AND name = $3",
                &[&user_id, &target.kind(), &target.name()],
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    async fn set_quiet(&self, user_id: i64, quiet: Option<QuietHours>) -> Result<(), StateError> {
        let c = self.conn().await?;
        match quiet {
            Some(q) => {
                let (start, end) = (i32::from(q.start), i32::from(q.end));
                c.execute(
                    "INSERT INTO user_quiet(user_id, start_min, end_min) VALUES ($1, $2, $3)
                     ON CONFLICT (user_id) DO UPDATE SET start_min = excluded.start_min,
                         end_min = excluded.end_min",
                    &[&user_id, &start, &end],
                )
                .await
            }
            None => {
                c.execute("DELETE FROM user_quiet WHERE user_id = $1", &[&user_id])
                    .await
            }
        }
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn user_settings(&self, now_ms: i64) -> Result<Vec<UserSettings>, StateError> {
        let c = self.conn().await?;
        let mutes = c
            .query(
                "SELECT user_id, kind, name, until_ms FROM user_mute WHERE until_ms > $1
                 ORDER BY user_id, kind, name",
                &[&now_ms],
            )
            .await
            .map_err(|e| self.err(e))?
            .iter()
            .filter_map(|r| {
                let target = MuteTarget::from_stored(r.get(1), r.get(2))?;
                Some((
                    r.get(0),
                    Mute {
                        target,
                        until_ms: r.get(3),
                    },
                ))
            })
            .collect();
        let quiet = c
            .query("SELECT user_id, start_min, end_min FROM user_quiet", &[])
            .await
            .map_err(|e| self.err(e))?
            .iter()
            .filter_map(|r| {
                let minute = |i| u16::try_from(r.get::<_, i32>(i)).ok();
                Some((
                    r.get(0),
                    QuietHours {
                        start: minute(1)?,
                        end: minute(2)?,
                    },
                ))
            })
            .collect();
        Ok(gather(mutes, quiet))
    }

    async fn prune_audience(&self, now_ms: i64) -> Result<(), StateError> {
        let c = self.conn().await?;
        c.execute("DELETE FROM user_mute WHERE until_ms <= $1", &[&now_ms])
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}
