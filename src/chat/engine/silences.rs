//! Alerts and silences through Alertmanager: `/alerts`, `/silences`,
//! `/silence` (an agent or matchers), `/unsilence`, and the silence buttons
//! under alert messages.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::{Caller, Engine, Failure, Outcome};
use crate::chat::alertmanager::{parse_matcher, Matcher, NewSilence};
use crate::chat::buttons;
use crate::chat::commands::{self, UsageError};
use crate::chat::reply::{self, Reply};

impl Engine {
    pub(super) async fn alerts(&self) -> Result<Outcome, Failure> {
        let list = self.alertmanager.firing().await?;
        Ok(Outcome::ok(Reply::text(reply::alerts(
            &list,
            Timestamp::now(),
            &self.config.timezone,
        ))))
    }

    pub(super) async fn silences(&self) -> Result<Outcome, Failure> {
        let list = self.alertmanager.silences().await?;
        Ok(Outcome::ok(Reply::text(reply::silences(
            &list,
            Timestamp::now(),
            &self.config.timezone,
        ))))
    }

    /// Turns `/silence` targets into matchers: one bare word is an agent
    /// (name or address) → `agent="NAME"`; otherwise each word is a matcher,
    /// and `agent=` equality matchers must name a known agent.
    pub(super) fn matchers(&self, target: &[String]) -> Result<Vec<Matcher>, Box<Outcome>> {
        let unknown = |w: &str| {
            Box::new(Outcome::unknown_agent(reply::unknown_agent(
                w,
                &self.known(),
            )))
        };
        let usage = |reason: String| {
            Box::new(Outcome::usage(reply::usage(&UsageError::BadArgs {
                usage: commands::spec("silence").expect("listed").usage(),
                reason,
            })))
        };
        if let [word] = target {
            if !word.contains(['=', '~']) {
                let agent = self
                    .known()
                    .resolve(word)
                    .cloned()
                    .ok_or_else(|| unknown(word))?;
                return Ok(vec![Matcher {
                    name: "agent".into(),
                    value: agent.name.clone(),
                    is_regex: false,
                    is_equal: true,
                }]);
            }
        }
        let mut out = Vec::new();
        for word in target {
            let mut m = parse_matcher(word).map_err(usage)?;
            if m.name == "agent" && !m.is_regex {
                let agent = self
                    .known()
                    .resolve(&m.value)
                    .cloned()
                    .ok_or_else(|| unknown(&m.value))?;
                m.value = agent.name.clone();
            }
            out.push(m);
        }
        Ok(out)
    }

    pub(super) async fn create_silence(
        &self,
        caller: &Caller,
        matchers: Vec<Matcher>,
        duration: Duration,
        comment: &str,
    ) -> Result<Outcome, Failure> {
        let now = Timestamp::now();
        let ends = now
            .checked_add(duration)
            .unwrap_or_else(|_| now + SignedDuration::from_hours(1));
        let shown = matchers
            .iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let comment = if comment.trim().is_empty() {
            "silenced from chat".to_string()
        } else {
            comment.to_string()
        };
        let id = self
            .alertmanager
            .create_silence(&NewSilence {
                matchers,
                starts_at: format!("{now:.3}"),
                ends_at: format!("{ends:.3}"),
                created_by: caller.created_by(),
                comment,
            })
            .await?;
        let until = reply::when(ends, now, &self.config.timezone);
        Ok(Outcome::ok_noting(
            Reply {
                text: reply::silence_created(&id, &shown, &until),
                buttons: vec![buttons::undo_button(&id)],
                chart: None,
            },
            format!("silence {id}"),
        ))
    }

    pub(super) async fn silence(
        &self,
        caller: &Caller,
        target: &[String],
        duration: Duration,
        comment: &str,
    ) -> Result<Outcome, Failure> {
        let matchers = match self.matchers(target) {
            Ok(m) => m,
            Err(outcome) => return Ok(*outcome),
        };
        self.create_silence(caller, matchers, duration, comment)
            .await
    }

    pub(super) async fn unsilence(&self, id: &str) -> Result<Outcome, Failure> {
        self.alertmanager.expire_silence(id).await?;
        Ok(Outcome::ok(Reply::text(reply::unsilenced(id))))
    }

    /// The alert with this fingerprint, whatever its silence state.
    pub(super) async fn find_alert(
        &self,
        fingerprint: &str,
    ) -> Result<Option<crate::chat::alertmanager::Alert>, Failure> {
        let all = self.alertmanager.all_alerts().await?;
        Ok(all.into_iter().find(|a| a.fingerprint == fingerprint))
    }

    pub(super) async fn silence_alert(
        &self,
        caller: &Caller,
        fingerprint: &str,
        hours: u32,
    ) -> Result<Outcome, Failure> {
        let Some(alert) = self.find_alert(fingerprint).await? else {
            return Ok(Outcome::usage(
                "That alert is no longer firing; nothing to silence.".into(),
            ));
        };
        // All of the alert's labels: exactly this alert, nothing broader.
        let matchers = alert
            .labels
            .iter()
            .map(|(k, v)| Matcher {
                name: k.clone(),
                value: v.clone(),
                is_regex: false,
                is_equal: true,
            })
            .collect();
        let comment = format!(
            "{} silenced for {hours}h from the alert message",
            alert
                .labels
                .get("alertname")
                .map_or("alert", String::as_str)
        );
        self.create_silence(
            caller,
            matchers,
            Duration::from_secs(u64::from(hours) * 3600),
            &comment,
        )
        .await
    }
}
