//! [`OnCallStore`] in SQLite: the firing alerts the bridge announced (with
//! where and how far they escalated), who acknowledged each, and the inline
//! keyboard and text of every alert message (so an acknowledgement can
//! edit it). The text has a table of its own beside `alert_keyboard`, so a
//! file from before it needs no `ALTER TABLE`.
//! Kept by the store thread like the rest, so it survives a restart.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::super::{
    Ack, AckTarget, Due, Firing, Handled, Keyboard, OnCallStore, Shown, StateError, ONCALL_KEEP_MS,
};
use super::Store;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS oncall_alert (
    fingerprint TEXT PRIMARY KEY,
    alertname TEXT NOT NULL,
    agent TEXT NOT NULL DEFAULT '',
    critical INTEGER NOT NULL,
    chat_id INTEGER NOT NULL,
    thread_id INTEGER,
    starts_ms INTEGER NOT NULL,
    level INTEGER NOT NULL DEFAULT 0,
    resolved_ms INTEGER
);
CREATE TABLE IF NOT EXISTS oncall_ack (
    fingerprint TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL,
    who TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_keyboard (
    chat_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    markup TEXT NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);
CREATE TABLE IF NOT EXISTS alert_text (
    chat_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    html TEXT NOT NULL,
    caption INTEGER NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);
";

fn firing_row(r: &rusqlite::Row) -> rusqlite::Result<Firing> {
    Ok(Firing {
        fingerprint: r.get(0)?,
        alertname: r.get(1)?,
        agent: r.get(2)?,
        critical: r.get(3)?,
        chat_id: r.get(4)?,
        thread_id: r.get(5)?,
        starts_ms: r.get(6)?,
    })
}

const FIRING_COLUMNS: &str =
    "a.fingerprint, a.alertname, a.agent, a.critical, a.chat_id, a.thread_id, a.starts_ms";

#[async_trait]
impl OnCallStore for Store {
    async fn track_firing(&self, alerts: Vec<Firing>) -> Result<(), StateError> {
        self.call(move |c| {
            let mut st = c.prepare_cached(
                "INSERT INTO oncall_alert(fingerprint, alertname, agent, critical, chat_id, thread_id, starts_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(fingerprint) DO UPDATE SET
                   level = CASE WHEN resolved_ms IS NULL THEN level ELSE 0 END,
                   starts_ms = CASE WHEN resolved_ms IS NULL THEN starts_ms ELSE excluded.starts_ms END,
                   resolved_ms = NULL",
            )?;
            let mut forget = c.prepare_cached(
                "DELETE FROM oncall_ack WHERE fingerprint=?1 AND EXISTS
                   (SELECT 1 FROM oncall_alert WHERE fingerprint=?1 AND resolved_ms IS NOT NULL)",
            )?;
            for a in alerts {
                forget.execute([&a.fingerprint])?;
                st.execute(params![
                    a.fingerprint,
                    a.alertname,
                    a.agent,
                    a.critical,
                    a.chat_id,
                    a.thread_id,
                    a.starts_ms
                ])?;
            }
            Ok(())
        })
        .await
    }

    async fn resolve_alerts(
        &self,
        fingerprints: Vec<String>,
        now_ms: i64,
    ) -> Result<Vec<Handled>, StateError> {
        self.call(move |c| {
            let mut out = Vec::new();
            for fp in fingerprints {
                let row: Option<(i64, Option<String>, Option<i64>)> = c
                    .prepare_cached(
                        "SELECT a.starts_ms, k.who, k.at_ms FROM oncall_alert a
                         LEFT JOIN oncall_ack k ON k.fingerprint = a.fingerprint
                         WHERE a.fingerprint=?1",
                    )?
                    .query_row([&fp], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()?;
                c.prepare_cached(
                    "UPDATE oncall_alert SET resolved_ms=?2 WHERE fingerprint=?1 AND resolved_ms IS NULL",
                )?
                .execute(params![fp, now_ms])?;
                if let Some((starts_ms, who, acked_ms)) = row {
                    out.push(Handled {
                        fingerprint: fp,
                        who,
                        acked_ms,
                        starts_ms,
                    });
                }
            }
            Ok(out)
        })
        .await
    }

    async fn ack(
        &self,
        target: AckTarget,
        user_id: i64,
        who: String,
        now_ms: i64,
    ) -> Result<Vec<Ack>, StateError> {
        self.call(move |c| {
            let (sql, arg) = match &target {
                AckTarget::Fingerprint(fp) => ("a.fingerprint=?1", fp.clone()),
                AckTarget::Alertname(name) => ("a.alertname=?1", name.clone()),
            };
            let firing: Vec<(String, String)> = c
                .prepare(&format!(
                    "SELECT a.fingerprint, a.alertname FROM oncall_alert a
                     WHERE {sql} AND a.resolved_ms IS NULL ORDER BY a.starts_ms"
                ))?
                .query_map([arg], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let mut out = Vec::new();
            for (fp, alertname) in firing {
                let inserted = c
                    .prepare_cached(
                        "INSERT INTO oncall_ack(fingerprint, user_id, who, at_ms) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT(fingerprint) DO NOTHING",
                    )?
                    .execute(params![fp, user_id, who, now_ms])?;
                let (user_id, who, at_ms) = c
                    .prepare_cached("SELECT user_id, who, at_ms FROM oncall_ack WHERE fingerprint=?1")?
                    .query_row([&fp], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                out.push(Ack {
                    fingerprint: fp,
                    alertname,
                    user_id,
                    who,
                    at_ms,
                    new: inserted == 1,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn due_escalations(
        &self,
        now_ms: i64,
        delay_ms: i64,
        max_level: u32,
    ) -> Result<Vec<Due>, StateError> {
        self.call(move |c| {
            let rows: Vec<(Firing, u32)> = c
                .prepare_cached(&format!(
                    "SELECT {FIRING_COLUMNS}, a.level FROM oncall_alert a
                     WHERE a.critical AND a.resolved_ms IS NULL AND a.level < ?3
                       AND NOT EXISTS (SELECT 1 FROM oncall_ack k WHERE k.fingerprint = a.fingerprint)
                       AND a.starts_ms + (a.level + 1) * ?2 <= ?1
                     ORDER BY a.starts_ms"
                ))?
                .query_map(params![now_ms, delay_ms, max_level], |r| {
                    Ok((firing_row(r)?, r.get(7)?))
                })?
                .collect::<Result<_, _>>()?;
            let mut out = Vec::new();
            for (firing, level) in rows {
                c.prepare_cached("UPDATE oncall_alert SET level=?2 WHERE fingerprint=?1")?
                    .execute(params![firing.fingerprint, level + 1])?;
                out.push(Due {
                    firing,
                    level: level + 1,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn remember_keyboard(
        &self,
        chat: i64,
        message_id: i64,
        markup: String,
    ) -> Result<(), StateError> {
        self.call(move |c| {
            c.prepare_cached(
                "INSERT INTO alert_keyboard(chat_id, message_id, markup) VALUES (?1, ?2, ?3)
                 ON CONFLICT(chat_id, message_id) DO UPDATE SET markup=excluded.markup",
            )?
            .execute(params![chat, message_id, markup])?;
            Ok(())
        })
        .await
    }

    async fn remember_shown(
        &self,
        chat: i64,
        message_id: i64,
        shown: Shown,
    ) -> Result<(), StateError> {
        self.call(move |c| {
            c.prepare_cached(
                "INSERT INTO alert_text(chat_id, message_id, html, caption) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(chat_id, message_id) DO UPDATE SET html=excluded.html, caption=excluded.caption",
            )?
            .execute(params![chat, message_id, shown.html, shown.caption])?;
            Ok(())
        })
        .await
    }

    async fn keyboards_of(&self, fingerprint: String) -> Result<Vec<Keyboard>, StateError> {
        self.call(move |c| {
            Ok(c.prepare_cached(
                "SELECT f.chat_id, f.message_id, k.markup, t.html, t.caption FROM firing_message f
                 JOIN alert_keyboard k ON k.chat_id = f.chat_id AND k.message_id = f.message_id
                 LEFT JOIN alert_text t ON t.chat_id = f.chat_id AND t.message_id = f.message_id
                 WHERE f.fingerprint=?1 ORDER BY f.chat_id",
            )?
            .query_map([&fingerprint], |r| {
                let html: Option<String> = r.get(3)?;
                let caption: Option<bool> = r.get(4)?;
                Ok(Keyboard {
                    chat: r.get(0)?,
                    message_id: r.get(1)?,
                    markup: r.get(2)?,
                    shown: html.map(|html| Shown {
                        html,
                        caption: caption.unwrap_or(false),
                    }),
                })
            })?
            .collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn prune_oncall(&self, now_ms: i64) -> Result<(), StateError> {
        self.call(move |c| {
            c.execute(
                "DELETE FROM oncall_alert WHERE resolved_ms < ?1",
                [now_ms - ONCALL_KEEP_MS],
            )?;
            c.execute(
                "DELETE FROM oncall_ack WHERE fingerprint NOT IN (SELECT fingerprint FROM oncall_alert)",
                [],
            )?;
            c.execute(
                "DELETE FROM alert_keyboard WHERE NOT EXISTS (SELECT 1 FROM firing_message f
                   WHERE f.chat_id = alert_keyboard.chat_id AND f.message_id = alert_keyboard.message_id)",
                [],
            )?;
            c.execute(
                "DELETE FROM alert_text WHERE NOT EXISTS (SELECT 1 FROM firing_message f
                   WHERE f.chat_id = alert_text.chat_id AND f.message_id = alert_text.message_id)",
                [],
            )?;
            Ok(())
        })
        .await
    }
}
