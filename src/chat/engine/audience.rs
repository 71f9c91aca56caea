//! Who gets what, through the bridge's [`Desk`](crate::chat::desk::Desk):
//! `/subscribe`, `/unsubscribe` and `/subscriptions` for the chat they are
//! sent in; `/mute`, `/unmute` and `/quiet` for the user who sends them.
//! Agents are checked against the agents list and alert names against the
//! alert catalog before anything is stored.

use std::time::Duration;

use jiff::Timestamp;

use super::{Caller, Engine, Failure, Outcome, LOCAL_OPERATOR};
use crate::chat::agents::Agents;
use crate::chat::audience::{MuteTarget, QuietArg, Topic, ALL};
use crate::chat::desk::Desk;
use crate::chat::reply::{self, audience as text, Reply};

/// No bridge state (`outpost ask` without `--state`).
const NO_DESK: &str =
    "No bridge state here: subscriptions and mutes need the bridge or outpost ask --state.";

impl Engine {
    /// The desk, or the reply saying there is none.
    fn audience_desk(&self) -> Result<&dyn Desk, Box<Outcome>> {
        self.desk
            .as_deref()
            .ok_or_else(|| Box::new(Outcome::usage(NO_DESK.into())))
    }

    /// The desk for a command about the caller's chat or the caller:
    /// refused from a terminal (`outpost ask` has neither).
    fn chat_desk(&self, caller: &Caller, command: &str) -> Result<&dyn Desk, Box<Outcome>> {
        if caller.user_id == LOCAL_OPERATOR {
            return Err(Box::new(Outcome::usage(text::needs_a_chat(command))));
        }
        self.audience_desk()
    }

    /// Topics from the words of `/subscribe`: `all`, or known agents (by
    /// name or address) by their names.
    fn topics(words: &[String], known: &Agents) -> Result<Vec<Topic>, Box<Outcome>> {
        let mut out = Vec::new();
        for w in words {
            if w.eq_ignore_ascii_case(ALL) {
                out.push(Topic::All);
                continue;
            }
            match known.resolve(w) {
                Some(a) => out.push(Topic::Agent(a.name.clone())),
                None => {
                    return Err(Box::new(Outcome::unknown_agent(reply::unknown_agent(
                        w, known,
                    ))))
                }
            }
        }
        Ok(out)
    }

    pub(super) async fn subscribe(
        &self,
        caller: &Caller,
        words: &[String],
        on: bool,
    ) -> Result<Outcome, Failure> {
        let name = if on { "subscribe" } else { "unsubscribe" };
        let desk = match self.chat_desk(caller, name) {
            Ok(d) => d,
            Err(o) => return Ok(*o),
        };
        let topics = match Self::topics(words, &self.known()) {
            Ok(t) => t,
            Err(o) => return Ok(*o),
        };
        let note = format!(
            "{name} {}",
            topics
                .iter()
                .map(Topic::to_string)
                .collect::<Vec<_>>()
                .join(",")
        );
        let now = if on {
            desk.subscribe(caller.chat_id, topics).await?
        } else {
            desk.unsubscribe(caller.chat_id, topics).await?
        };
        Ok(Outcome::ok_noting(
            Reply::text(text::subscriptions(&now)),
            note,
        ))
    }

    /// This chat's subscriptions; every chat's from a terminal.
    pub(super) async fn subscriptions(&self, caller: &Caller) -> Result<Outcome, Failure> {
        let desk = match self.audience_desk() {
            Ok(d) => d,
            Err(o) => return Ok(*o),
        };
        let body = if caller.user_id == LOCAL_OPERATOR {
            text::all_subscriptions(&desk.subscriptions(None).await?)
        } else {
            let rows = desk.subscriptions(Some(caller.chat_id)).await?;
            let topics: Vec<Topic> = rows.into_iter().map(|(_, t)| t).collect();
            text::subscriptions(&topics)
        };
        Ok(Outcome::ok(Reply::text(body)))
    }

    /// An agent (by name or address) or an alert name of the catalog.
    fn mute_target(&self, word: &str) -> Option<MuteTarget> {
        if let Some(a) = self.known().resolve(word) {
            return Some(MuteTarget::Agent(a.name.clone()));
        }
        crate::alerts::find(word).map(|e| MuteTarget::Alert(e.name.to_string()))
    }

    pub(super) async fn mute(
        &self,
        caller: &Caller,
        word: &str,
        duration: Duration,
    ) -> Result<Outcome, Failure> {
        let desk = match self.chat_desk(caller, "mute") {
            Ok(d) => d,
            Err(o) => return Ok(*o),
        };
        let Some(target) = self.mute_target(word) else {
            return Ok(Outcome::unknown_agent(text::unknown_mute_target(word)));
        };
        let now = Timestamp::now();
        let until_ms = now
            .as_millisecond()
            .saturating_add(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX));
        desk.mute(caller.user_id, target.clone(), until_ms).await?;
        Ok(Outcome::ok_noting(
            Reply::text(text::muted(&target, until_ms, now, &self.config.timezone)),
            format!("muted {target} for {}s", duration.as_secs()),
        ))
    }

    pub(super) async fn unmute(&self, caller: &Caller, word: &str) -> Result<Outcome, Failure> {
        let desk = match self.chat_desk(caller, "unmute") {
            Ok(d) => d,
            Err(o) => return Ok(*o),
        };
        let Some(target) = self.mute_target(word) else {
            return Ok(Outcome::unknown_agent(text::unknown_mute_target(word)));
        };
        let had = desk.unmute(caller.user_id, target.clone()).await?;
        Ok(Outcome::ok_noting(
            Reply::text(text::unmuted(&target, had)),
            format!("unmuted {target}"),
        ))
    }

    pub(super) async fn quiet(&self, caller: &Caller, arg: QuietArg) -> Result<Outcome, Failure> {
        let desk = match self.chat_desk(caller, "quiet") {
            Ok(d) => d,
            Err(o) => return Ok(*o),
        };
        let tz = &self.config.timezone;
        let quiet = match arg {
            QuietArg::Show => {
                let s = desk.settings(caller.user_id).await?;
                return Ok(Outcome::ok(Reply::text(text::settings(
                    &s,
                    Timestamp::now(),
                    tz,
                ))));
            }
            QuietArg::Off => None,
            QuietArg::Set(q) => Some(q),
        };
        desk.set_quiet(caller.user_id, quiet).await?;
        let note = quiet.map_or_else(|| "quiet off".to_string(), |q| format!("quiet {q}"));
        Ok(Outcome::ok_noting(
            Reply::text(text::quiet_set(quiet, tz)),
            note,
        ))
    }
}
