//! On-call state: the firing alerts the bridge announced (with where and
//! how far they escalated), who acknowledged each, and the inline keyboard
//! of every alert message (so an acknowledgement can edit it). Kept by the
//! store thread like the rest, so it survives a restart.

use rusqlite::{params, Connection, OptionalExtension};

use super::{Store, StoreError};
pub use crate::chat::desk::{Ack, AckTarget};

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
";

/// A firing alert as the bridge announced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firing {
    pub fingerprint: String,
    pub alertname: String,
    pub agent: String,
    /// `severity="critical"`: only these escalate.
    pub critical: bool,
    pub chat_id: i64,
    pub thread_id: Option<i64>,
    /// When the bridge first announced it (escalation counts from here).
    pub starts_ms: i64,
}

/// A critical alert due to escalate one level further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub firing: Firing,
    /// The level it reaches now (1: repeated with the on-call users, 2: to
    /// the escalation chat).
    pub level: u32,
}

/// Who handled a resolved alert and since when it fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    pub fingerprint: String,
    pub who: Option<String>,
    pub acked_ms: Option<i64>,
    pub starts_ms: i64,
}

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

impl Store {
    /// Records alerts announced as firing (again: the first chat and start
    /// stay, a resolved one fires anew).
    pub async fn track_firing(&self, alerts: Vec<Firing>) -> Result<(), StoreError> {
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

    /// Marks alerts resolved; who handled each (if anyone) and since when
    /// it fired, for the resolution message.
    pub async fn resolve_alerts(
        &self,
        fingerprints: Vec<String>,
        now_ms: i64,
    ) -> Result<Vec<Handled>, StoreError> {
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

    /// Acknowledges the unresolved alerts `target` names for `user_id`
    /// (`who`). An alert someone took already keeps its first taker.
    pub async fn ack(
        &self,
        target: AckTarget,
        user_id: i64,
        who: String,
        now_ms: i64,
    ) -> Result<Vec<Ack>, StoreError> {
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

    /// Unacknowledged, unresolved critical alerts due to escalate: to
    /// level 1 `delay_ms` after they started firing, to level 2 (only
    /// when there is an escalation chat) after twice that. Marks them at
    /// their new level in the same transaction, so each is reported once.
    pub async fn due_escalations(
        &self,
        now_ms: i64,
        delay_ms: i64,
        max_level: u32,
    ) -> Result<Vec<Due>, StoreError> {
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

    /// Remembers the inline keyboard of an alert message.
    pub async fn remember_keyboard(
        &self,
        chat: i64,
        message_id: i64,
        markup: String,
    ) -> Result<(), StoreError> {
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

    /// The messages that announced `fingerprint` firing, with their
    /// keyboards: (chat, message id, markup JSON).
    pub async fn keyboards_of(
        &self,
        fingerprint: String,
    ) -> Result<Vec<(i64, i64, String)>, StoreError> {
        self.call(move |c| keyboards(c, &fingerprint)).await
    }
}

fn keyboards(c: &Connection, fingerprint: &str) -> Result<Vec<(i64, i64, String)>, StoreError> {
    Ok(c.prepare_cached(
        "SELECT f.chat_id, f.message_id, k.markup FROM firing_message f
         JOIN alert_keyboard k ON k.chat_id = f.chat_id AND k.message_id = f.message_id
         WHERE f.fingerprint=?1",
    )?
    .query_map([fingerprint], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
    .collect::<Result<_, _>>()?)
}

/// Forgets alerts resolved before `before_ms` with their
/// acknowledgements, and keyboards of messages no longer remembered.
pub(super) fn prune(c: &Connection, before_ms: i64) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM oncall_alert WHERE resolved_ms < ?1",
        [before_ms],
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn firing(fp: &str, critical: bool, starts_ms: i64) -> Firing {
        Firing {
            fingerprint: fp.into(),
            alertname: format!("Alert{fp}"),
            agent: "web1".into(),
            critical,
            chat_id: 7,
            thread_id: None,
            starts_ms,
        }
    }

    #[test]
    fn acked_alerts_do_not_escalate_and_the_state_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let rt = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        };
        rt().block_on(async {
            let s = Store::open(&path, Duration::from_secs(1)).unwrap();
            s.track_firing(vec![
                firing("a1", true, 0),
                firing("b2", true, 0),
                firing("c3", false, 0),
            ])
            .await
            .unwrap();
            let acks = s
                .ack(
                    AckTarget::Fingerprint("a1".into()),
                    42,
                    "@alice".into(),
                    500,
                )
                .await
                .unwrap();
            assert_eq!(acks.len(), 1);
            assert!(acks[0].new);
            // A second taker keeps the first one's name.
            let again = s
                .ack(
                    AckTarget::Alertname("Alerta1".into()),
                    43,
                    "@bob".into(),
                    600,
                )
                .await
                .unwrap();
            assert_eq!((again[0].who.as_str(), again[0].new), ("@alice", false));
            assert!(s.due_escalations(999, 1000, 2).await.unwrap().is_empty());
        });
        rt().block_on(async {
            let s = Store::open(&path, Duration::from_secs(1)).unwrap();
            let due = s.due_escalations(1000, 1000, 2).await.unwrap();
            assert_eq!(
                due.iter()
                    .map(|d| (d.firing.fingerprint.as_str(), d.level))
                    .collect::<Vec<_>>(),
                vec![("b2", 1)],
                "only the unacknowledged critical one, once"
            );
            assert!(s.due_escalations(1500, 1000, 2).await.unwrap().is_empty());
            let due = s.due_escalations(2000, 1000, 2).await.unwrap();
            assert_eq!(due[0].level, 2);
            assert!(s.due_escalations(9000, 1000, 2).await.unwrap().is_empty());
            let handled = s
                .resolve_alerts(vec!["a1".into(), "b2".into()], 3000)
                .await
                .unwrap();
            assert_eq!(handled[0].who.as_deref(), Some("@alice"));
            assert_eq!(handled[0].acked_ms, Some(500));
            assert_eq!(handled[1].who, None);
            // Resolved alerts cannot be acknowledged.
            assert!(s
                .ack(
                    AckTarget::Fingerprint("b2".into()),
                    42,
                    "@alice".into(),
                    3100
                )
                .await
                .unwrap()
                .is_empty());
            // Firing again starts afresh: no ack, level 0.
            s.track_firing(vec![firing("a1", true, 5000)])
                .await
                .unwrap();
            let due = s.due_escalations(6000, 1000, 2).await.unwrap();
            assert_eq!(due.len(), 1);
            assert_eq!(due[0].firing.starts_ms, 5000);
            // Pruning forgets b2 (resolved a month ago), keeps the firing ones.
            let month = 30 * 86_400_000;
            s.prune(month + 3001, 1).await.unwrap();
            let left: Vec<String> = s
                .call(|c| {
                    Ok(
                        c.prepare("SELECT fingerprint FROM oncall_alert ORDER BY 1")?
                            .query_map([], |r| r.get(0))?
                            .collect::<Result<_, _>>()?,
                    )
                })
                .await
                .unwrap();
            assert_eq!(left, vec!["a1".to_string(), "c3".to_string()]);
        });
    }
}
