//! Reply and message texts of the on-call desk: acknowledgements, `/oncall`,
//! the escalation message and the resolution's "handled by" line.

use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::{duration_words, escape, when};
use crate::chat::desk::Ack;
use crate::chat::oncall::{mention, OnCall, Person};

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The answer to `/ack` or the button: who has which alert now.
pub fn acked(what: &str, acks: &[Ack], now: Timestamp, tz: &TimeZone) -> String {
    if acks.is_empty() {
        return format!(
            "No firing alert {} is known to the bridge (resolved already, or never announced here).",
            escape(what)
        );
    }
    let mut s = String::new();
    for a in acks {
        let time = when(at(a.at_ms), now, tz);
        if a.new {
            s.push_str(&format!(
                "🙋 {} is on it: <b>{}</b> ({time})\n",
                escape(&a.who),
                escape(&a.alertname)
            ));
        } else {
            s.push_str(&format!(
                "<b>{}</b> is already taken by {} since {time}.\n",
                escape(&a.alertname),
                escape(&a.who)
            ));
        }
    }
    s
}

/// `at_ms` as `HH:MM` in `tz`.
fn hh_mm(at_ms: i64, tz: &TimeZone) -> String {
    tz.to_datetime(at(at_ms)).strftime("%H:%M").to_string()
}

/// The label of the acknowledge button once taken.
pub fn taken_label(who: &str, at_ms: i64, tz: &TimeZone) -> String {
    format!("🙋 {who} is on it ({})", hh_mm(at_ms, tz))
}

/// The line an acknowledgement adds to the alert message itself (HTML).
pub fn taken_line(who: &str, at_ms: i64, tz: &TimeZone) -> String {
    format!("🙋 Taken by {} at {}", escape(who), hh_mm(at_ms, tz))
}

/// `/oncall`.
pub fn on_call(o: &OnCall, now: Timestamp) -> String {
    let people = o.on_call(now);
    let mut s = if o.weeks.is_empty() {
        "No on-call rotation is configured (--oncall).".to_string()
    } else if people.is_empty() {
        "Nobody is on call now (the rotation has not started).".to_string()
    } else {
        let names: Vec<String> = people.iter().map(|p| escape(&p.name)).collect();
        format!("📟 On call this week: <b>{}</b>", names.join(", "))
    };
    match (o.escalate_after, o.escalation_chat) {
        (Some(after), chat) => {
            s.push_str(&format!(
                "\nCritical alerts nobody takes within {} are sent again mentioning them",
                if after.as_secs() < 60 {
                    format!("{}s", after.as_secs())
                } else {
                    duration_words(after.as_secs_f64())
                }
            ));
            match chat {
                Some(c) => s.push_str(&format!(
                    ", then to chat <code>{c}</code> after as long again."
                )),
                None => s.push('.'),
            }
        }
        (None, _) => s.push_str("\nNo escalation is configured."),
    }
    s
}

/// The escalation of an alert nobody took: `level` 1 in its own chat,
/// mentioning the on-call people; 2 in the escalation chat.
pub fn escalation(
    alertname: &str,
    agent: &str,
    starts_ms: i64,
    level: u32,
    people: &[&Person],
    now: Timestamp,
) -> String {
    let fired = duration_words((now.as_millisecond() - starts_ms) as f64 / 1000.0);
    let on = if agent.is_empty() {
        String::new()
    } else {
        format!(" on <b>{}</b>", escape(agent))
    };
    let who = if people.is_empty() {
        "nobody is on call".to_string()
    } else {
        people
            .iter()
            .map(|p| mention(p))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let head = if level >= 2 {
        "🚨🚨 Escalated"
    } else {
        "🚨 Still unacknowledged"
    };
    format!(
        "{head}: <b>{}</b>{on} has been firing for {fired} and nobody has taken it. {who}: press \"I'm on it\" or /ack {}",
        escape(alertname),
        escape(alertname)
    )
}

/// The line a resolution message gets: who handled it, how long it fired.
pub fn handled(alertname: &str, who: Option<&str>, starts_ms: i64, now: Timestamp) -> String {
    let fired = duration_words((now.as_millisecond() - starts_ms) as f64 / 1000.0);
    match who {
        Some(w) => format!(
            "🙋 {} handled by {} (fired {fired})",
            escape(alertname),
            escape(w)
        ),
        None => format!("{} fired {fired}, nobody took it", escape(alertname)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_texts_and_labels() {
        let tz = TimeZone::UTC;
        let now: Timestamp = "2026-11-22T12:00:00Z".parse().unwrap();
        let a = Ack {
            fingerprint: "ab".into(),
            alertname: "AgentDown".into(),
            user_id: 42,
            who: "@alice".into(),
            at_ms: now.as_millisecond() - 60_000,
            new: true,
        };
        assert_eq!(
            acked("AgentDown", std::slice::from_ref(&a), now, &tz),
            "🙋 @alice is on it: <b>AgentDown</b> (11:59)\n"
        );
        let old = Ack { new: false, ..a };
        assert!(acked("x", &[old], now, &tz).contains("already taken by @alice since 11:59"));
        assert!(acked("<b>", &[], now, &tz).contains("&lt;b&gt;"));
        assert_eq!(
            taken_label("@alice", now.as_millisecond(), &tz),
            "🙋 @alice is on it (12:00)"
        );
        let berlin = crate::chat::zone::parse("Europe/Berlin").unwrap();
        assert_eq!(
            taken_line("<b>x</b> (outpost ask)", now.as_millisecond(), &berlin),
            "🙋 Taken by &lt;b&gt;x&lt;/b&gt; (outpost ask) at 13:00"
        );
        let e = escalation(
            "AgentDown",
            "web1",
            now.as_millisecond() - 16 * 60_000,
            1,
            &[&Person {
                name: "bob".into(),
                id: 222,
            }],
            now,
        );
        assert!(e.contains("firing for 16m"), "{e}");
        assert!(e.contains("<a href=\"tg://user?id=222\">bob</a>"), "{e}");
        assert_eq!(
            handled(
                "AgentDown",
                Some("@alice"),
                now.as_millisecond() - 3_600_000,
                now
            ),
            "🙋 AgentDown handled by @alice (fired 1h 0m)"
        );
    }
}
