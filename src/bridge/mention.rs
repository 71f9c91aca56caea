//! Whom the bridge's alert messages mention: the people on call now
//! (`--oncall`), less those whose mutes or quiet hours (from the state)
//! leave them out, as [`crate::chat::audience::mentions`] decides. The
//! sender adds the line to firing messages (and sends without a sound
//! when quiet hours left nobody); the escalation mentions the same
//! people, mutes only.

use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::payload::Alert;
use super::state::{State, UserSettings};
use crate::chat::audience::{self, Quiet, Subject};
use crate::chat::oncall::{self, OnCall, Person};

/// The rotation and the zone quiet hours are read in.
#[derive(Debug, Clone)]
pub struct Mentioner {
    pub oncall: OnCall,
    pub timezone: TimeZone,
}

/// What a firing message gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// The mentions line (HTML), when anyone is mentioned.
    pub line: Option<String>,
    /// Send with `disable_notification`.
    pub silent: bool,
}

impl Mentioner {
    /// The mentions of a message showing these firing `alerts`.
    pub async fn firing(&self, state: &dyn State, alerts: &[&Alert]) -> Decision {
        let now = Timestamp::now();
        let on_call = self.oncall.on_call(now);
        if on_call.is_empty() || alerts.is_empty() {
            return Decision::default();
        }
        let settings = settings(state, now).await;
        let subjects: Vec<Subject<'_>> = alerts.iter().map(|a| subject(a)).collect();
        let m = audience::mentions(
            &on_call,
            &subjects,
            &settings,
            now,
            &self.timezone,
            Quiet::Applies,
        );
        Decision {
            line: (!m.people.is_empty()).then(|| line(&m.people)),
            silent: m.silent,
        }
    }
}

/// The people an escalation of an alert of `agent` named `alertname`
/// mentions: those on call who did not mute it.
pub async fn escalation<'a>(
    oncall: &'a OnCall,
    state: &dyn State,
    agent: &str,
    alertname: &str,
    now: Timestamp,
) -> Vec<&'a Person> {
    let on_call = oncall.on_call(now);
    if on_call.is_empty() {
        return on_call;
    }
    let settings = settings(state, now).await;
    audience::mentions(
        &on_call,
        &[Subject { agent, alertname }],
        &settings,
        now,
        &TimeZone::UTC,
        Quiet::Ignored,
    )
    .people
}

/// Everyone's settings; none when the state cannot say (then everyone on
/// call is mentioned: a missed mute is better than a missed page).
async fn settings(state: &dyn State, now: Timestamp) -> Vec<UserSettings> {
    state
        .user_settings(now.as_millisecond())
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "reading mutes and quiet hours; mentioning everyone on call");
            Vec::new()
        })
}

fn subject(a: &Alert) -> Subject<'_> {
    Subject {
        agent: a.labels.get("agent").map_or("", String::as_str),
        alertname: a.name(),
    }
}

/// `🔔 alice, bob` with each a mention.
pub fn line(people: &[&Person]) -> String {
    let names: Vec<String> = people.iter().map(|p| oncall::mention(p)).collect();
    format!("🔔 {}", names.join(", "))
}

/// `html` with `line` under it, the text cut so the line always fits.
pub fn append(html: &str, line: &str, limit: usize) -> String {
    let room = limit.saturating_sub(crate::html::visible_len(line) + 1);
    format!("{}\n{line}", crate::html::cut(html, room))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_fits_under_a_long_text() {
        let alice = Person {
            name: "a<b".into(),
            id: 7,
        };
        let l = line(&[&alice]);
        assert_eq!(l, "🔔 <a href=\"tg://user?id=7\">a&lt;b</a>");
        let long = "x".repeat(5000);
        let out = append(&long, &l, crate::html::TEXT_LIMIT);
        assert!(crate::html::visible_len(&out) <= crate::html::TEXT_LIMIT);
        assert!(out.ends_with(&l));
        assert_eq!(append("hi", &l, 4096), format!("hi\n{l}"));
    }
}
