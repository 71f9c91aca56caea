//! [`AudienceStore`] in SQLite: the chats' subscriptions (read by the
//! outbox's intake in its own transaction, see `outbox.rs`) and each
//! user's mutes and quiet hours.

use async_trait::async_trait;
use rusqlite::{params, Connection};

use super::super::{AudienceStore, MuteTarget, QuietHours, StateError, Topic, UserSettings};
use super::chats::resolve_chat;
use super::Store;
use crate::chat::audience::{gather, Mute};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS subscription (
    chat_id INTEGER NOT NULL,
    topic TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (chat_id, topic)
);
CREATE TABLE IF NOT EXISTS user_mute (
    user_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    until_ms INTEGER NOT NULL,
    PRIMARY KEY (user_id, kind, name)
);
CREATE TABLE IF NOT EXISTS user_quiet (
    user_id INTEGER PRIMARY KEY,
    start_min INTEGER NOT NULL,
    end_min INTEGER NOT NULL
);
";

/// Every subscription, `(chat, topic)`.
pub(super) fn all_subscriptions(c: &Connection) -> Result<Vec<(i64, Topic)>, StateError> {
    subscriptions_of(c, None)
}

fn subscriptions_of(c: &Connection, chat: Option<i64>) -> Result<Vec<(i64, Topic)>, StateError> {
    let mut st = c.prepare_cached(
        "SELECT chat_id, topic FROM subscription WHERE ?1 IS NULL OR chat_id = ?1
         ORDER BY chat_id, topic",
    )?;
    let rows = st.query_map([chat], |r| Ok((r.get(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (chat, topic) = row?;
        out.push((chat, Topic::from_stored(&topic)));
    }
    Ok(out)
}

fn topics_of(c: &Connection, chat: i64) -> Result<Vec<Topic>, StateError> {
    Ok(subscriptions_of(c, Some(chat))?
        .into_iter()
        .map(|(_, t)| t)
        .collect())
}

#[async_trait]
impl AudienceStore for Store {
    async fn subscribe(
        &self,
        chat: i64,
        topics: Vec<Topic>,
        now_ms: i64,
    ) -> Result<Vec<Topic>, StateError> {
        self.call(move |c| {
            let chat = resolve_chat(c, chat)?;
            let mut st = c.prepare_cached(
                "INSERT INTO subscription(chat_id, topic, created_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT(chat_id, topic) DO NOTHING",
            )?;
            for t in &topics {
                st.execute(params![chat, t.stored(), now_ms])?;
            }
            topics_of(c, chat)
        })
        .await
    }

    async fn unsubscribe(&self, chat: i64, topics: Vec<Topic>) -> Result<Vec<Topic>, StateError> {
        self.call(move |c| {
            let chat = resolve_chat(c, chat)?;
            if topics.contains(&Topic::All) {
                c.execute("DELETE FROM subscription WHERE chat_id=?1", [chat])?;
            }
            let mut st =
                c.prepare_cached("DELETE FROM subscription WHERE chat_id=?1 AND topic=?2")?;
            for t in &topics {
                st.execute(params![chat, t.stored()])?;
            }
            topics_of(c, chat)
        })
        .await
    }

    async fn subscriptions(&self, chat: Option<i64>) -> Result<Vec<(i64, Topic)>, StateError> {
        self.call(move |c| {
            let chat = chat.map(|ch| resolve_chat(c, ch)).transpose()?;
            subscriptions_of(c, chat)
        })
        .await
    }

    async fn mute(
        &self,
        user_id: i64,
        target: MuteTarget,
        until_ms: i64,
    ) -> Result<(), StateError> {
        self.call(move |c| {
            c.prepare_cached(
                "INSERT INTO user_mute(user_id, kind, name, until_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(user_id, kind, name) DO UPDATE SET until_ms=excluded.until_ms",
            )?
            .execute(params![user_id, target.kind(), target.name(), until_ms])?;
            Ok(())
        })
        .await
    }

    async fn unmute(&self, user_id: i64, target: MuteTarget) -> Result<bool, StateError> {
        self.call(move |c| {
            let n = c
                .prepare_cached("DELETE FROM user_mute WHERE user_id=?1 AND kind=?2 AND name=?3")?
                .execute(params![user_id, target.kind(), target.name()])?;
            Ok(n > 0)
        })
        .await
    }

    async fn set_quiet(&self, user_id: i64, quiet: Option<QuietHours>) -> Result<(), StateError> {
        self.call(move |c| {
            match quiet {
                Some(q) => c
                    .prepare_cached(
                        "INSERT INTO user_quiet(user_id, start_min, end_min) VALUES (?1, ?2, ?3)
                         ON CONFLICT(user_id) DO UPDATE SET start_min=excluded.start_min,
                             end_min=excluded.end_min",
                    )?
                    .execute(params![user_id, q.start, q.end])?,
                None => c
                    .prepare_cached("DELETE FROM user_quiet WHERE user_id=?1")?
                    .execute([user_id])?,
            };
            Ok(())
        })
        .await
    }

    async fn user_settings(&self, now_ms: i64) -> Result<Vec<UserSettings>, StateError> {
        self.call(move |c| {
            let mut mutes = Vec::new();
            let mut st = c.prepare_cached(
                "SELECT user_id, kind, name, until_ms FROM user_mute WHERE until_ms > ?1
                 ORDER BY user_id, kind, name",
            )?;
            let rows = st.query_map([now_ms], |r| {
                Ok((r.get(0)?, r.get::<_, String>(1)?, r.get(2)?, r.get(3)?))
            })?;
            for row in rows {
                let (user_id, kind, name, until_ms) = row?;
                if let Some(target) = MuteTarget::from_stored(&kind, name) {
                    mutes.push((user_id, Mute { target, until_ms }));
                }
            }
            let mut st = c.prepare_cached("SELECT user_id, start_min, end_min FROM user_quiet")?;
            let quiet = st
                .query_map([], |r| {
                    Ok((
                        r.get(0)?,
                        QuietHours {
                            start: r.get(1)?,
                            end: r.get(2)?,
                        },
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(gather(mutes, quiet))
        })
        .await
    }

    async fn prune_audience(&self, now_ms: i64) -> Result<(), StateError> {
        self.call(move |c| {
            c.execute("DELETE FROM user_mute WHERE until_ms <= ?1", [now_ms])?;
            Ok(())
        })
        .await
    }
}
