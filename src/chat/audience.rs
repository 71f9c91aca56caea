//! Who gets what, pure: what a chat subscribes to ([`Topic`]), what a
//! user muted ([`MuteTarget`]) and their quiet hours ([`QuietHours`]), the
//! arguments of `/subscribe`, `/mute` and `/quiet`, and [`mentions`]: whom
//! a message about some alerts mentions.
//!
//! Decisions:
//! - A firing message mentions the people on call now (the `--oncall`
//!   rotation), minus each one who muted every alert of the message (by
//!   its agent or its name) and each one in their quiet hours. When that
//!   leaves nobody and someone was left out for quiet hours, the message
//!   goes with `disable_notification` (no sound for anyone). Without a
//!   rotation nobody is mentioned, as before, and the message notifies as
//!   usual.
//! - An escalation mentions the people on call minus those who muted the
//!   alert; quiet hours do not apply: an unacknowledged critical alert is
//!   what must still wake someone.
//! - Quiet hours are minutes of the day in the bridge's zone
//!   (`--timezone`), start included, end excluded; a window past midnight
//!   (`22:00-07:00`) wraps. An empty window (start = end) is refused.
//! - `all` is a word, not an agent: an agent named `all` cannot be
//!   subscribed on its own (`all` covers it).

use std::fmt;
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::commands::{parse_silence_duration, parse_time, MAX_SILENCE};
use super::oncall::Person;

/// The word for "every agent" in `/subscribe` and `/unsubscribe`.
pub const ALL: &str = "all";

/// What a chat subscribes to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Topic {
    /// Every alert.
    All,
    /// Alerts whose `agent` label is this agent's name.
    Agent(String),
}

/// How [`Topic::All`] is stored (never an agent name: agents.txt names
/// have no `*`).
const ALL_STORED: &str = "*";

impl Topic {
    /// The value in the store's `topic` column.
    pub fn stored(&self) -> &str {
        match self {
            Topic::All => ALL_STORED,
            Topic::Agent(a) => a,
        }
    }

    /// The topic of a stored value.
    pub fn from_stored(s: &str) -> Topic {
        if s == ALL_STORED {
            Topic::All
        } else {
            Topic::Agent(s.to_string())
        }
    }

    /// Whether an alert of `agent` (its label; empty when it has none)
    /// falls under this topic.
    pub fn covers(&self, agent: &str) -> bool {
        match self {
            Topic::All => true,
            Topic::Agent(a) => a == agent,
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topic::All => f.write_str(ALL),
            Topic::Agent(a) => f.write_str(a),
        }
    }
}

/// What a user muted: an agent (every alert of it) or an alert name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MuteTarget {
    Agent(String),
    Alert(String),
}

impl MuteTarget {
    /// The store's `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            MuteTarget::Agent(_) => "agent",
            MuteTarget::Alert(_) => "alert",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            MuteTarget::Agent(n) | MuteTarget::Alert(n) => n,
        }
    }

    /// The target of stored `kind` and `name`; `None` for a kind this
    /// version does not know.
    pub fn from_stored(kind: &str, name: String) -> Option<MuteTarget> {
        match kind {
            "agent" => Some(MuteTarget::Agent(name)),
            "alert" => Some(MuteTarget::Alert(name)),
            _ => None,
        }
    }

    /// Whether it mutes an alert of `agent` named `alertname`.
    pub fn covers(&self, alert: &Subject<'_>) -> bool {
        match self {
            MuteTarget::Agent(a) => a == alert.agent,
            MuteTarget::Alert(n) => n == alert.alertname,
        }
    }
}

impl fmt::Display for MuteTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.name())
    }
}

/// A mute until a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mute {
    pub target: MuteTarget,
    pub until_ms: i64,
}

/// Daily quiet hours: minutes of the day, `start` included, `end` excluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: u16,
    pub end: u16,
}

impl QuietHours {
    /// `HH:MM-HH:MM` (or `HHMM-HHMM`), 24-hour clock.
    pub fn parse(word: &str) -> Result<QuietHours, String> {
        let bad = || format!("quiet hours are HH:MM-HH:MM (24h), e.g. 22:00-07:00, not {word:?}");
        let (a, b) = word.split_once('-').ok_or_else(bad)?;
        let minute = |w: &str| {
            parse_time(w)
                .map(|t| (t.hour * 60 + t.minute) as u16)
                .map_err(|_| bad())
        };
        let (start, end) = (minute(a)?, minute(b)?);
        if start == end {
            return Err(format!(
                "{word:?} is an empty window: start and end must differ"
            ));
        }
        Ok(QuietHours { start, end })
    }

    /// Whether `minute` of the day (0–1439) is inside.
    pub fn contains_minute(self, minute: u16) -> bool {
        if self.start < self.end {
            (self.start..self.end).contains(&minute)
        } else {
            minute >= self.start || minute < self.end
        }
    }

    /// Whether `now` is inside, read in `tz`.
    pub fn contains(self, now: Timestamp, tz: &TimeZone) -> bool {
        let local = now.to_zoned(tz.clone());
        self.contains_minute((local.hour() as u16) * 60 + local.minute() as u16)
    }
}

impl fmt::Display for QuietHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

/// One user's notification settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserSettings {
    pub user_id: i64,
    /// Mutes not yet expired.
    pub mutes: Vec<Mute>,
    pub quiet: Option<QuietHours>,
}

/// Every user's settings from the store's rows: active mutes and quiet
/// hours, each `(user, …)`; by user id.
pub fn gather(mutes: Vec<(i64, Mute)>, quiet: Vec<(i64, QuietHours)>) -> Vec<UserSettings> {
    let mut users: std::collections::BTreeMap<i64, UserSettings> = Default::default();
    let new = |user_id| UserSettings {
        user_id,
        ..UserSettings::default()
    };
    for (user_id, m) in mutes {
        users
            .entry(user_id)
            .or_insert_with(|| new(user_id))
            .mutes
            .push(m);
    }
    for (user_id, q) in quiet {
        users.entry(user_id).or_insert_with(|| new(user_id)).quiet = Some(q);
    }
    users.into_values().collect()
}

/// An alert as [`mentions`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject<'a> {
    /// The `agent` label (empty when it has none).
    pub agent: &'a str,
    pub alertname: &'a str,
}

/// Whom a message mentions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mentions<'a> {
    pub people: Vec<&'a Person>,
    /// Send without a notification sound (nobody left, for quiet hours).
    pub silent: bool,
}

/// Whether quiet hours count ([`mentions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quiet {
    /// A firing message.
    Applies,
    /// An escalation.
    Ignored,
}

/// Whom a message about `alerts` mentions of `on_call`, given everyone's
/// `settings` at `now` (quiet hours read in `tz`). See the module's
/// decisions.
pub fn mentions<'a>(
    on_call: &[&'a Person],
    alerts: &[Subject<'_>],
    settings: &[UserSettings],
    now: Timestamp,
    tz: &TimeZone,
    quiet: Quiet,
) -> Mentions<'a> {
    let now_ms = now.as_millisecond();
    let mut people = Vec::new();
    let mut hushed = false;
    for &p in on_call {
        let Some(s) = settings.iter().find(|s| s.user_id == p.id) else {
            people.push(p);
            continue;
        };
        let muted = |a: &Subject<'_>| {
            s.mutes
                .iter()
                .any(|m| m.until_ms > now_ms && m.target.covers(a))
        };
        if !alerts.is_empty() && alerts.iter().all(muted) {
            continue;
        }
        if quiet == Quiet::Applies && s.quiet.is_some_and(|q| q.contains(now, tz)) {
            hushed = true;
            continue;
        }
        people.push(p);
    }
    Mentions {
        silent: people.is_empty() && hushed,
        people,
    }
}

/// `/subscribe` and `/unsubscribe`'s words: agents (names or addresses,
/// also comma-separated) or `all`; none is `all`. Agents are checked
/// against the agents list later.
pub fn parse_topics(args: &[&str]) -> Result<Vec<String>, String> {
    let words: Vec<String> = args
        .iter()
        .flat_map(|w| w.split(','))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    if words.is_empty() {
        return Ok(vec![ALL.to_string()]);
    }
    let all = words.iter().filter(|w| w.eq_ignore_ascii_case(ALL)).count();
    if all > 0 && words.len() > 1 {
        return Err("name agents or all, not both".into());
    }
    if words.len() > MAX_TOPICS {
        return Err(format!("at most {MAX_TOPICS} agents at once"));
    }
    Ok(words)
}

/// Most agents one `/subscribe` names.
pub const MAX_TOPICS: usize = 50;

/// Shortest mute.
pub const MIN_MUTE: Duration = Duration::from_secs(60);

/// `/mute AGENT|ALERT DURATION`: the target as typed (an agent or an
/// alert name, told apart later) and the duration (1m to 90d).
pub fn parse_mute(args: &[&str]) -> Result<(String, Duration), String> {
    let [target, duration] = args else {
        return Err("name an agent or an alert and a duration, e.g. /mute web1 2h".into());
    };
    let d = parse_silence_duration(duration)
        .filter(|d| (MIN_MUTE..=MAX_SILENCE).contains(d))
        .ok_or_else(|| {
            format!("{duration:?} is not a duration from 1m to 90d, like 30m, 2h or 1d")
        })?;
    Ok(((*target).to_string(), d))
}

/// What `/quiet` asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuietArg {
    /// No argument: show the caller's settings.
    Show,
    Off,
    Set(QuietHours),
}

/// `/quiet [HH:MM-HH:MM|off]`.
pub fn parse_quiet(args: &[&str]) -> Result<QuietArg, String> {
    match args {
        [] => Ok(QuietArg::Show),
        [w] if w.eq_ignore_ascii_case("off") => Ok(QuietArg::Off),
        [w] => QuietHours::parse(w).map(QuietArg::Set),
        _ => Err("one window like 22:00-07:00, or off".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(name: &str, id: i64) -> Person {
        Person {
            name: name.into(),
            id,
        }
    }

    const WEB1_CPU: Subject<'static> = Subject {
        agent: "web1",
        alertname: "AgentHighCPU",
    };
    const DB1_DOWN: Subject<'static> = Subject {
        agent: "db1",
        alertname: "AgentDown",
    };

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn names(m: &Mentions<'_>) -> Vec<String> {
        m.people.iter().map(|p| p.name.clone()).collect()
    }

    #[test]
    fn muted_and_quiet_people_are_not_mentioned() {
        let (alice, bob) = (person("alice", 1), person("bob", 2));
        let on_call = [&alice, &bob];
        let now = at("2026-12-06T23:30:00Z");
        let mute = |target: MuteTarget, until_ms: i64| Mute { target, until_ms };
        let alice_mutes_web1 = UserSettings {
            user_id: 1,
            mutes: vec![mute(
                MuteTarget::Agent("web1".into()),
                now.as_millisecond() + 1,
            )],
            quiet: None,
        };
        let settings = [alice_mutes_web1.clone()];
        let m = |alerts: &[Subject<'_>], settings: &[UserSettings], quiet| {
            mentions(&on_call, alerts, settings, now, &TimeZone::UTC, quiet)
        };
        assert_eq!(
            names(&m(&[WEB1_CPU], &[], Quiet::Applies)),
            ["alice", "bob"]
        );
        assert_eq!(names(&m(&[WEB1_CPU], &settings, Quiet::Applies)), ["bob"]);
        // One alert of the message is not muted: she is mentioned.
        assert_eq!(
            names(&m(&[WEB1_CPU, DB1_DOWN], &settings, Quiet::Applies)),
            ["alice", "bob"]
        );
        // A mute by alert name; an expired mute counts for nothing.
        let by_name = UserSettings {
            user_id: 2,
            mutes: vec![
                mute(MuteTarget::Alert("AgentDown".into()), i64::MAX),
                mute(
                    MuteTarget::Alert("AgentHighCPU".into()),
                    now.as_millisecond(),
                ),
            ],
            quiet: None,
        };
        assert_eq!(
            names(&m(
                &[DB1_DOWN],
                std::slice::from_ref(&by_name),
                Quiet::Applies
            )),
            ["alice"]
        );
        assert_eq!(
            names(&m(&[WEB1_CPU], &[by_name], Quiet::Applies)),
            ["alice", "bob"]
        );
        // Quiet hours: 23:00–07:00 covers 23:30 UTC.
        let night = QuietHours::parse("23:00-07:00").unwrap();
        let bob_sleeps = UserSettings {
            user_id: 2,
            mutes: Vec::new(),
            quiet: Some(night),
        };
        let both = [alice_mutes_web1, bob_sleeps.clone()];
        let hushed = m(&[WEB1_CPU], &both, Quiet::Applies);
        assert!(hushed.people.is_empty());
        assert!(hushed.silent, "nobody left for quiet hours: silent");
        let escalation = m(&[WEB1_CPU], &both, Quiet::Ignored);
        assert_eq!(
            (names(&escalation), escalation.silent),
            (vec!["bob".to_string()], false)
        );
        // Nobody left only for mutes: not silent.
        let muted_only = m(
            &[WEB1_CPU],
            &[
                UserSettings {
                    user_id: 2,
                    mutes: vec![mute(MuteTarget::Agent("web1".into()), i64::MAX)],
                    quiet: None,
                },
                both[0].clone(),
            ],
            Quiet::Applies,
        );
        assert_eq!((muted_only.people.len(), muted_only.silent), (0, false));
        // In Berlin (UTC+1) it is 00:30: still quiet; in New York 18:30: not.
        let berlin = crate::chat::zone::parse("Europe/Berlin").unwrap();
        assert!(night.contains(now, &berlin));
        let new_york = crate::chat::zone::parse("America/New_York").unwrap();
        assert!(!night.contains(now, &new_york));
        // No rotation: nobody, and not silent.
        let none = mentions(
            &[],
            &[WEB1_CPU],
            &[bob_sleeps],
            now,
            &TimeZone::UTC,
            Quiet::Applies,
        );
        assert_eq!((none.people.len(), none.silent), (0, false));
    }

    #[test]
    fn quiet_hours_parse_wrap_and_refuse_bad_input() {
        let q = QuietHours::parse("22:00-07:30").unwrap();
        assert_eq!((q.start, q.end), (22 * 60, 7 * 60 + 30));
        assert_eq!(q.to_string(), "22:00-07:30");
        assert!(q.contains_minute(22 * 60) && q.contains_minute(0) && q.contains_minute(449));
        assert!(!q.contains_minute(450) && !q.contains_minute(12 * 60));
        let day = QuietHours::parse("0900-1700").unwrap();
        assert!(day.contains_minute(9 * 60) && !day.contains_minute(17 * 60));
        assert!(!day.contains_minute(8 * 60 + 59));
        for bad in [
            "22:00",
            "25:00-07:00",
            "22:00-07:60",
            "ab-cd",
            "10:00-10:00",
            "22:00-",
        ] {
            assert!(QuietHours::parse(bad).is_err(), "{bad}");
        }
        assert!(QuietHours::parse("10:00-10:00")
            .unwrap_err()
            .contains("empty window"));
        assert_eq!(parse_quiet(&[]), Ok(QuietArg::Show));
        assert_eq!(parse_quiet(&["OFF"]), Ok(QuietArg::Off));
        assert_eq!(
            parse_quiet(&["1:00-02:30"]),
            Ok(QuietArg::Set(QuietHours {
                start: 60,
                end: 150
            }))
        );
        assert!(parse_quiet(&["22:00-07:00", "x"]).is_err());
    }

    #[test]
    fn topics_and_mutes_parse() {
        assert_eq!(parse_topics(&[]).unwrap(), ["all"]);
        assert_eq!(
            parse_topics(&["web1,db1", "web2"]).unwrap(),
            ["web1", "db1", "web2"]
        );
        assert_eq!(parse_topics(&["ALL"]).unwrap(), ["ALL"]);
        assert!(parse_topics(&["all", "web1"]).is_err());
        assert_eq!(
            parse_mute(&["web1", "2h"]).unwrap(),
            ("web1".to_string(), Duration::from_secs(7200))
        );
        for bad in [
            &["web1", "30s"][..],
            &["web1", "91d"],
            &["web1", "soon"],
            &["web1"],
        ] {
            assert!(parse_mute(bad).is_err(), "{bad:?}");
        }
        assert!(parse_mute(&["web1", "soon"])
            .unwrap_err()
            .contains("\"soon\" is not a duration"));
        assert_eq!(Topic::from_stored(Topic::All.stored()), Topic::All);
        assert_eq!(Topic::from_stored("web1"), Topic::Agent("web1".into()));
        assert!(Topic::All.covers("") && !Topic::Agent("web1".into()).covers("db1"));
        assert_eq!(
            MuteTarget::from_stored("alert", "AgentDown".into()),
            Some(MuteTarget::Alert("AgentDown".into()))
        );
        assert_eq!(MuteTarget::from_stored("chat", "x".into()), None);
    }
}
