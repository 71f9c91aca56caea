//! The on-call configuration (`--oncall FILE`, YAML): the people, a weekly
//! rotation, the escalation delay and chat. Pure: [`parse`] text into an
//! [`OnCall`], [`OnCall::on_call`] at a time, [`mention`] a person in HTML.
//!
//! ```yaml
//! people:
//!   - {name: alice, id: 111}
//!   - {name: bob, id: 222}
//! rotation:
//!   starts: 2026-11-30      # the Monday week 1 begins
//!   weeks: [[alice], [bob, alice]]
//! escalation:
//!   after: 15m              # critical, unacknowledged: repeat with mentions
//!   chat: -1001234          # then here, after as long again (optional)
//! ```
//!
//! Decisions: the weeks repeat in order from `starts` (a week begins on
//! that weekday at 00:00 UTC); the file names people once, so a rotation
//! cannot mention an id nobody configured; unknown keys are errors (a typo
//! must not silently turn escalation off).

use std::path::Path;
use std::time::Duration;

use jiff::civil::Date;
use jiff::Timestamp;
use serde::Deserialize;

use super::commands::parse_silence_duration;

/// A person who can be on call.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    pub name: String,
    /// Telegram user id.
    pub id: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRotation {
    starts: String,
    weeks: Vec<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEscalation {
    after: String,
    #[serde(default)]
    chat: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    people: Vec<Person>,
    rotation: Option<RawRotation>,
    escalation: Option<RawEscalation>,
}

/// The validated on-call configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OnCall {
    pub people: Vec<Person>,
    /// The first week's Monday (or any day: weeks start on its weekday).
    pub starts: Option<Date>,
    /// Each week's people, by index into `people`.
    pub weeks: Vec<Vec<usize>>,
    /// How long a critical alert may go unacknowledged; `None`: no escalation.
    pub escalate_after: Option<Duration>,
    pub escalation_chat: Option<i64>,
}

/// A bad on-call file: which file, which line, what.
#[derive(Debug, thiserror::Error)]
pub enum OnCallError {
    #[error("reading on-call file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}: {reason}")]
    Invalid {
        file: String,
        line: usize,
        reason: String,
    },
}

pub fn read(path: &Path) -> Result<OnCall, OnCallError> {
    let text = std::fs::read_to_string(path).map_err(|source| OnCallError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&path.display().to_string(), &text)
}

/// The 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map_or(1, |i| i + 1)
}

pub fn parse(file: &str, text: &str) -> Result<OnCall, OnCallError> {
    let invalid = |line: usize, reason: String| OnCallError::Invalid {
        file: file.to_string(),
        line,
        reason,
    };
    let raw: Raw = serde_yaml_ng::from_str(text).map_err(|e| {
        let line = e.location().map_or(1, |l| l.line());
        invalid(line, e.to_string())
    })?;
    let mut out = OnCall {
        people: raw.people,
        ..OnCall::default()
    };
    for (i, p) in out.people.iter().enumerate() {
        if p.id <= 0 {
            return Err(invalid(
                line_of(text, &p.id.to_string()),
                format!("{}: a Telegram user id is a positive number", p.name),
            ));
        }
        if out.people[..i].iter().any(|q| q.name == p.name) {
            return Err(invalid(
                line_of(text, &p.name),
                format!("{} is named twice", p.name),
            ));
        }
    }
    if let Some(r) = raw.rotation {
        let starts: Date = r.starts.parse().map_err(|e| {
            invalid(
                line_of(text, "starts:"),
                format!("starts: {:?} is not a date (YYYY-MM-DD): {e}", r.starts),
            )
        })?;
        if r.weeks.is_empty() {
            return Err(invalid(
                line_of(text, "weeks:"),
                "weeks: at least one week".into(),
            ));
        }
        for week in &r.weeks {
            let mut ids = Vec::new();
            for name in week {
                let Some(i) = out.people.iter().position(|p| &p.name == name) else {
                    return Err(invalid(
                        line_of(text, "weeks:").max(line_of(text, name)),
                        format!("{name:?} is in the rotation but not in people"),
                    ));
                };
                ids.push(i);
            }
            out.weeks.push(ids);
        }
        out.starts = Some(starts);
    }
    if let Some(e) = raw.escalation {
        let after = parse_silence_duration(&e.after).ok_or_else(|| {
            invalid(
                line_of(text, "after:"),
                format!("after: {:?} is not a duration like 15m or 1h", e.after),
            )
        })?;
        out.escalate_after = Some(after);
        out.escalation_chat = e.chat;
    }
    Ok(out)
}

impl OnCall {
    /// Who is on call at `now` (empty without a rotation, or before it starts).
    pub fn on_call(&self, now: Timestamp) -> Vec<&Person> {
        let (Some(starts), false) = (self.starts, self.weeks.is_empty()) else {
            return Vec::new();
        };
        let Ok(start) = starts.to_zoned(jiff::tz::TimeZone::UTC) else {
            return Vec::new();
        };
        let since = now.as_second() - start.timestamp().as_second();
        if since < 0 {
            return Vec::new();
        }
        let week = (since / (7 * 86400)) as usize % self.weeks.len();
        self.weeks[week].iter().map(|&i| &self.people[i]).collect()
    }

    /// The person with this Telegram id.
    pub fn person(&self, id: i64) -> Option<&Person> {
        self.people.iter().find(|p| p.id == id)
    }
}

/// A Telegram HTML mention of a person (notifies them).
pub fn mention(p: &Person) -> String {
    format!(
        "<a href=\"tg://user?id={}\">{}</a>",
        p.id,
        super::reply::escape(&p.name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "people:\n  - {name: alice, id: 111}\n  - {name: bob, id: 222}\nrotation:\n  starts: 2026-11-30\n  weeks: [[alice], [bob, alice]]\nescalation:\n  after: 15m\n  chat: -1001234\n";

    #[test]
    fn weekly_rotation_and_escalation() {
        let o = parse("oncall.yml", GOOD).unwrap();
        assert_eq!(o.escalate_after, Some(Duration::from_secs(900)));
        assert_eq!(o.escalation_chat, Some(-1001234));
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let names = |t| {
            o.on_call(at(t))
                .iter()
                .map(|p| p.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names("2026-11-30T00:00:00Z"), vec!["alice"]);
        assert_eq!(names("2026-12-06T23:59:59Z"), vec!["alice"]);
        assert_eq!(names("2026-12-07T00:00:00Z"), vec!["bob", "alice"]);
        assert_eq!(names("2026-12-14T08:00:00Z"), vec!["alice"]);
        assert!(names("2026-11-29T00:00:00Z").is_empty());
        assert_eq!(
            mention(&o.people[0]),
            "<a href=\"tg://user?id=111\">alice</a>"
        );
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = |text: &str| parse("oncall.yml", text).unwrap_err().to_string();
        let unknown = e(&GOOD.replace("[bob, alice]", "[bob, carol]"));
        assert_eq!(
            unknown,
            "oncall.yml:6: \"carol\" is in the rotation but not in people"
        );
        let bad_after = e(&GOOD.replace("15m", "soon"));
        assert!(
            bad_after.starts_with("oncall.yml:8: after: \"soon\""),
            "{bad_after}"
        );
        let typo = e(&GOOD.replace("  chat:", "  chta:"));
        assert!(typo.starts_with("oncall.yml:9:"), "{typo}");
        assert!(typo.contains("chta"), "{typo}");
        let date = e(&GOOD.replace("2026-11-30", "monday"));
        assert!(date.starts_with("oncall.yml:5: starts:"), "{date}");
        let id = e(&GOOD.replace("id: 222", "id: -5"));
        assert!(id.starts_with("oncall.yml:3:"), "{id}");
    }
}
