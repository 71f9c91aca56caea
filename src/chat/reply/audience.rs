//! Texts of who gets what: `/subscribe`, `/unsubscribe`, `/subscriptions`,
//! `/mute`, `/unmute` and `/quiet`.

use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::{escape, when};
use crate::chat::audience::{MuteTarget, QuietHours, Topic, UserSettings};

fn topic_list(topics: &[Topic]) -> String {
    topics
        .iter()
        .map(|t| format!("<code>{}</code>", escape(&t.to_string())))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A chat's subscriptions after a change (or when asked).
pub fn subscriptions(topics: &[Topic]) -> String {
    if topics.is_empty() {
        return "This chat has no subscriptions: it gets the alerts Alertmanager routes here."
            .into();
    }
    if topics.contains(&Topic::All) {
        return "📬 This chat gets <b>every</b> alert (subscribed to <code>all</code>), \
                besides what Alertmanager routes here, each once."
            .into();
    }
    format!(
        "📬 This chat gets the alerts of {}, besides what Alertmanager routes here.",
        topic_list(topics)
    )
}

/// Every chat's subscriptions (`outpost ask /subscriptions`).
pub fn all_subscriptions(rows: &[(i64, Topic)]) -> String {
    if rows.is_empty() {
        return "No chat has subscriptions.".into();
    }
    let mut s = String::from("<b>Subscriptions</b>");
    let mut chats: Vec<i64> = rows.iter().map(|(c, _)| *c).collect();
    chats.dedup();
    for chat in chats {
        let topics: Vec<Topic> = rows
            .iter()
            .filter(|(c, _)| *c == chat)
            .map(|(_, t)| t.clone())
            .collect();
        s.push_str(&format!("\n<code>{chat}</code>: {}", topic_list(&topics)));
    }
    s
}

/// A word that is neither a known agent nor an alert of the catalog.
pub fn unknown_mute_target(word: &str) -> String {
    format!(
        "<code>{}</code> is neither a known agent nor an alert name (e.g. \
         <code>AgentDown</code>, <code>AgentHighCPU</code>); nothing was muted.",
        escape(word)
    )
}

/// `/mute` done.
pub fn muted(target: &MuteTarget, until_ms: i64, now: Timestamp, tz: &TimeZone) -> String {
    let until = Timestamp::from_millisecond(until_ms).unwrap_or(now);
    format!(
        "🔕 You will not be mentioned for {} <b>{}</b> until {} ({}). /unmute {} ends it.",
        target.kind(),
        escape(target.name()),
        when(until, now, tz),
        escape(&crate::chat::zone::name(tz)),
        escape(target.name())
    )
}

/// `/unmute` done (`had`: there was a mute).
pub fn unmuted(target: &MuteTarget, had: bool) -> String {
    if had {
        format!(
            "🔔 You are mentioned again for {} <b>{}</b>.",
            target.kind(),
            escape(target.name())
        )
    } else {
        format!(
            "You had not muted {} <b>{}</b>; nothing changed.",
            target.kind(),
            escape(target.name())
        )
    }
}

/// `/quiet HH:MM-HH:MM` or `/quiet off` done.
pub fn quiet_set(quiet: Option<QuietHours>, tz: &TimeZone) -> String {
    match quiet {
        Some(q) => format!(
            "🌙 Quiet hours {q} ({}): you are not mentioned then; a message that would \
             mention nobody else arrives without a sound. Escalations still mention you.",
            escape(&crate::chat::zone::name(tz))
        ),
        None => "☀️ Quiet hours off.".into(),
    }
}

/// `/quiet` alone: the caller's settings.
pub fn settings(s: &UserSettings, now: Timestamp, tz: &TimeZone) -> String {
    let mut out = match s.quiet {
        Some(q) => format!(
            "🌙 Quiet hours: {q} ({})",
            escape(&crate::chat::zone::name(tz))
        ),
        None => "Quiet hours: none".to_string(),
    };
    if s.mutes.is_empty() {
        out.push_str("\nMutes: none");
    }
    for m in &s.mutes {
        let until = Timestamp::from_millisecond(m.until_ms).unwrap_or(now);
        out.push_str(&format!(
            "\n🔕 {} <b>{}</b> until {}",
            m.target.kind(),
            escape(m.target.name()),
            when(until, now, tz)
        ));
    }
    out
}

/// A command about a chat or a user, run from a terminal.
pub fn needs_a_chat(command: &str) -> String {
    format!(
        "/{command} is about a Telegram chat or user: send it in the chat. \
         Here, /subscriptions lists every chat's."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::audience::Mute;

    #[test]
    fn texts_escape_and_say_what_changed() {
        let web = Topic::Agent("web<1>".into());
        assert!(subscriptions(std::slice::from_ref(&web)).contains("<code>web&lt;1&gt;</code>"));
        assert!(subscriptions(&[Topic::All, web.clone()]).contains("<b>every</b>"));
        assert!(subscriptions(&[]).contains("no subscriptions"));
        let all = all_subscriptions(&[(-5, Topic::All), (-5, web.clone()), (7, web)]);
        assert!(all.contains("<code>-5</code>: <code>all</code>, <code>web&lt;1&gt;</code>"));
        assert!(all.contains("<code>7</code>: <code>web&lt;1&gt;</code>"));
        let now: Timestamp = "2026-12-06T10:00:00Z".parse().unwrap();
        let target = MuteTarget::Alert("AgentDown".into());
        let m = muted(
            &target,
            now.as_millisecond() + 7_200_000,
            now,
            &TimeZone::UTC,
        );
        assert!(
            m.contains("alert <b>AgentDown</b> until 12:00 (UTC)"),
            "{m}"
        );
        assert!(unmuted(&target, false).contains("nothing changed"));
        let s = settings(
            &UserSettings {
                user_id: 1,
                mutes: vec![Mute {
                    target,
                    until_ms: now.as_millisecond() + 60_000,
                }],
                quiet: Some(QuietHours::parse("22:00-07:00").unwrap()),
            },
            now,
            &TimeZone::UTC,
        );
        assert!(s.contains("Quiet hours: 22:00-07:00 (UTC)"), "{s}");
        assert!(s.contains("alert <b>AgentDown</b> until 10:01"), "{s}");
    }
}
