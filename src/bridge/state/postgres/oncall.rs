//! [`OnCallStore`] in PostgreSQL: the same tables as the SQLite backend
//! (schema version 2). Escalation advances levels in one `UPDATE …
//! RETURNING`, so even two callers would report each level once; only
//! the leader calls it (see `bridge::escalate`).

use async_trait::async_trait;

use super::super::{
    Ack, AckTarget, Due, Firing, Handled, Keyboard, OnCallStore, Shown, StateError, ONCALL_KEEP_MS,
};
use super::PgState;

fn firing(r: &tokio_postgres::Row) -> Firing {
    Firing {
        fingerprint: r.get(0),
        alertname: r.get(1),
        agent: r.get(2),
        critical: r.get(3),
        chat_id: r.get(4),
        thread_id: r.get(5),
        starts_ms: r.get(6),
    }
}

#[async_trait]
impl OnCallStore for PgState {
    async fn track_firing(&self, alerts: Vec<Firing>) -> Result<(), StateError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        for a in alerts {
            tx.execute(
                "DELETE FROM oncall_ack WHERE fingerprint = $1 AND EXISTS
                   (SELECT 1 FROM oncall_alert WHERE fingerprint = $1 AND resolved_ms IS NOT NULL)",
                &[&a.fingerprint],
            )
            .await
            .map_err(|e| self.err(e))?;
            tx.execute(
                "INSERT INTO oncall_alert(fingerprint, alertname, agent, critical, chat_id, thread_id, starts_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (fingerprint) DO UPDATE SET
                   level = CASE WHEN oncall_alert.resolved_ms IS NULL THEN oncall_alert.level ELSE 0 END,
                   starts_ms = CASE WHEN oncall_alert.resolved_ms IS NULL
                                    THEN oncall_alert.starts_ms ELSE excluded.starts_ms END,
                   resolved_ms = NULL",
                &[
                    &a.fingerprint,
                    &a.alertname,
                    &a.agent,
                    &a.critical,
                    &a.chat_id,
                    &a.thread_id,
                    &a.starts_ms,
                ],
            )
            .await
            .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))
    }

    async fn resolve_alerts(
        &self,
        fingerprints: Vec<String>,
        now_ms: i64,
    ) -> Result<Vec<Handled>, StateError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for fp in fingerprints {
            let row = tx
                .query_opt(
                    "SELECT a.starts_ms, k.who, k.at_ms FROM oncall_alert a
                     LEFT JOIN oncall_ack k ON k.fingerprint = a.fingerprint
                     WHERE a.fingerprint = $1",
                    &[&fp],
                )
                .await
                .map_err(|e| self.err(e))?;
            tx.execute(
                "UPDATE oncall_alert SET resolved_ms = $2 WHERE fingerprint = $1 AND resolved_ms IS NULL",
                &[&fp, &now_ms],
            )
            .await
            .map_err(|e| self.err(e))?;
            if let Some(r) = row {
                out.push(Handled {
                    fingerprint: fp,
                    starts_ms: r.get(0),
                    who: r.get(1),
                    acked_ms: r.get(2),
                });
            }
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(out)
    }

    async fn ack(
        &self,
        target: AckTarget,
        user_id: i64,
        who: String,
        now_ms: i64,
    ) -> Result<Vec<Ack>, StateError> {
        let (column, arg) = match &target {
            AckTarget::Fingerprint(fp) => ("fingerprint", fp),
            AckTarget::Alertname(name) => ("alertname", name),
        };
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        let firing = tx
            .query(
                &format!(
                    "SELECT fingerprint, alertname FROM oncall_alert
                     WHERE {column} = $1 AND resolved_ms IS NULL ORDER BY starts_ms, fingerprint"
                ),
                &[arg],
            )
            .await
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for f in firing {
            let fp: String = f.get(0);
            let inserted = tx
                .execute(
                    "INSERT INTO oncall_ack(fingerprint, user_id, who, at_ms) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (fingerprint) DO NOTHING",
                    &[&fp, &user_id, &who, &now_ms],
                )
                .await
                .map_err(|e| self.err(e))?;
            let k = tx
                .query_one(
                    "SELECT user_id, who, at_ms FROM oncall_ack WHERE fingerprint = $1",
                    &[&fp],
                )
                .await
                .map_err(|e| self.err(e))?;
            out.push(Ack {
                fingerprint: fp,
                alertname: f.get(1),
                user_id: k.get(0),
                who: k.get(1),
                at_ms: k.get(2),
                new: inserted == 1,
            });
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(out)
    }

    async fn due_escalations(
        &self,
        now_ms: i64,
        delay_ms: i64,
        max_level: u32,
    ) -> Result<Vec<Due>, StateError> {
        let c = self.conn().await?;
        let max_level = i32::try_from(max_level).unwrap_or(i32::MAX);
        let rows = c
            .query(
                "UPDATE oncall_alert a SET level = a.level + 1
                 WHERE a.critical AND a.resolved_ms IS NULL AND a.level < $3
                   AND NOT EXISTS (SELECT 1 FROM oncall_ack k WHERE k.fingerprint = a.fingerprint)
                   AND a.starts_ms + (a.level + 1)::BIGINT * $2::BIGINT <= $1
                 RETURNING a.fingerprint, a.alertname, a.agent, a.critical, a.chat_id,
                           a.thread_id, a.starts_ms, a.level",
                &[&now_ms, &delay_ms, &max_level],
            )
            .await
            .map_err(|e| self.err(e))?;
        let mut due: Vec<Due> = rows
            .iter()
            .map(|r| Due {
                firing: firing(r),
                level: u32::try_from(r.get::<_, i32>(7)).unwrap_or(0),
            })
            .collect();
        due.sort_by(|a, b| {
            (a.firing.starts_ms, &a.firing.fingerprint)
                .cmp(&(b.firing.starts_ms, &b.firing.fingerprint))
        });
        Ok(due)
    }

    async fn remember_keyboard(
        &self,
        chat: i64,
        message_id: i64,
        markup: String,
    ) -> Result<(), StateError> {
        let c = self.conn().await?;
        c.execute(
            "INSERT INTO alert_keyboard(chat_id, message_id, markup) VALUES ($1, $2, $3)
             ON CONFLICT (chat_id, message_id) DO UPDATE SET markup = excluded.markup",
            &[&chat, &message_id, &markup],
        )
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn remember_shown(
        &self,
        chat: i64,
        message_id: i64,
        shown: Shown,
    ) -> Result<(), StateError> {
        let c = self.conn().await?;
        c.execute(
            "INSERT INTO alert_text(chat_id, message_id, html, caption) VALUES ($1, $2, $3, $4)
             ON CONFLICT (chat_id, message_id) DO UPDATE SET html = excluded.html, caption = excluded.caption",
            &[&chat, &message_id, &shown.html, &shown.caption],
        )
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn keyboards_of(&self, fingerprint: String) -> Result<Vec<Keyboard>, StateError> {
        let c = self.conn().await?;
        let rows = c
            .query(
                "SELECT f.chat_id, f.message_id, k.markup, t.html, t.caption FROM firing_message f
                 JOIN alert_keyboard k ON k.chat_id = f.chat_id AND k.message_id = f.message_id
                 LEFT JOIN alert_text t ON t.chat_id = f.chat_id AND t.message_id = f.message_id
                 WHERE f.fingerprint = $1 ORDER BY f.chat_id",
                &[&fingerprint],
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .map(|r| Keyboard {
                chat: r.get(0),
                message_id: r.get(1),
                markup: r.get(2),
                shown: r.get::<_, Option<String>>(3).map(|html| Shown {
                    html,
                    caption: r.get::<_, Option<bool>>(4).unwrap_or(false),
                }),
            })
            .collect())
    }

    async fn prune_oncall(&self, now_ms: i64) -> Result<(), StateError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        tx.execute(
            "DELETE FROM oncall_alert WHERE resolved_ms < $1",
            &[&(now_ms - ONCALL_KEEP_MS)],
        )
        .await
        .map_err(|e| self.err(e))?;
        for sql in [
            "DELETE FROM oncall_ack k WHERE NOT EXISTS
               (SELECT 1 FROM oncall_alert a WHERE a.fingerprint = k.fingerprint)",
            "DELETE FROM alert_keyboard k WHERE NOT EXISTS (SELECT 1 FROM firing_message f
               WHERE f.chat_id = k.chat_id AND f.message_id = k.message_id)",
            "DELETE FROM alert_text t WHERE NOT EXISTS (SELECT 1 FROM firing_message f
               WHERE f.chat_id = t.chat_id AND f.message_id = t.message_id)",
        ] {
            tx.execute(sql, &[]).await.map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))
    }
}
