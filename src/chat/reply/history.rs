//! Reply texts about time: `/history`'s up/down changes, `/uptime`, and
//! `/stats` (the bridge's own figures).

use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::{duration_words, escape, up_word, when};
use crate::chat::history::{State, Stretch};

/// One watched target in a `/history` answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Watch {
    /// An agent name, or `check (target) from agent`.
    pub name: String,
    pub stretches: Vec<Stretch>,
}

fn stamp(t: f64) -> Timestamp {
    Timestamp::from_second(t as i64).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn state_word(s: State) -> &'static str {
    match s {
        State::Up => "🟢 up",
        State::Down => "🔴 down",
        State::NoData => "⚪ no data",
    }
}

/// `/history`: the targets that changed (or stayed down), each state with
/// its start and how long it lasted; the steady ones counted.
pub fn history(
    watches: &[Watch],
    steady: usize,
    hours: u32,
    now: Timestamp,
    tz: &TimeZone,
) -> String {
    let mut s = format!(
        "<b>History</b>, last {hours} h ({})\n",
        crate::chat::zone::name(tz)
    );
    if watches.is_empty() && steady == 0 {
        s.push_str("No agent or TCP check has data in that window.");
        return s;
    }
    for w in watches {
        s.push_str(&format!("<b>{}</b>:", escape(&w.name)));
        for (i, st) in w.stretches.iter().enumerate() {
            let sep = if i == 0 { " " } else { " → " };
            let how_long = if st.ongoing {
                format!("{} so far", duration_words(st.seconds()))
            } else {
                format!("for {}", duration_words(st.seconds()))
            };
            s.push_str(&format!(
                "{sep}{} {} {how_long}",
                state_word(st.state),
                when(stamp(st.start), now, tz)
            ));
        }
        s.push('\n');
    }
    if steady > 0 {
        s.push_str(&format!("{steady} more up throughout.\n"));
    }
    s
}

/// One agent in `/uptime`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UptimeRow {
    pub name: String,
    pub up: Option<bool>,
    pub since_boot_seconds: Option<f64>,
    /// % of scrapes up over the last 24 h and 7 d.
    pub day: Option<f64>,
    pub week: Option<f64>,
}

/// `/uptime`.
pub fn uptime(rows: &[UptimeRow]) -> String {
    if rows.is_empty() {
        return "No agents configured (--agents).".into();
    }
    let pct = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.2}%"));
    let mut s = String::from("<b>Uptime</b> (booted · available 24 h · 7 d)\n");
    for r in rows {
        s.push_str(&format!(
            "{} <b>{}</b> {} · {} · {}\n",
            up_word(r.up),
            escape(&r.name),
            r.since_boot_seconds
                .map_or("–".to_string(), |v| format!("{} ago", duration_words(v))),
            pct(r.day),
            pct(r.week)
        ));
    }
    s
}

/// The bridge's own figures for `/stats`; `None`: not known to this front
/// end (`outpost ask` reads the state database, not the running bridge).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgeFigures {
    pub queued: u64,
    pub sent: Option<u64>,
    pub failed: u64,
    pub retried: Option<u64>,
    pub rate_limited: Option<u64>,
    pub oldest_pending_ms: Option<i64>,
    pub up_since_ms: Option<i64>,
    /// Where the figures come from, e.g. "the running bridge".
    pub source: String,
}

/// `/stats`.
pub fn stats(f: &BridgeFigures, now: Timestamp, tz: &TimeZone) -> String {
    let n = |v: Option<u64>| {
        v.map_or("– (only the running bridge knows)".into(), |v| {
            v.to_string()
        })
    };
    let at = |ms: i64| {
        let t = Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH);
        let ago = (now.as_millisecond() - ms) as f64 / 1000.0;
        format!("{} ({} ago)", when(t, now, tz), duration_words(ago))
    };
    format!(
        "<b>Bridge</b> (from {})\nqueued: {}\nsent: {}\nfailed: {}\nretried: {}\n429s: {}\noldest pending: {}\nup since: {}",
        escape(&f.source),
        f.queued,
        n(f.sent),
        f.failed,
        n(f.retried),
        n(f.rate_limited),
        f.oldest_pending_ms.map_or("none".into(), at),
        f.up_since_ms
            .map_or("– (only the running bridge knows)".into(), at),
    )
}

/// `/mem_picture`'s caption: each part in GiB and % of the total.
pub fn mem_caption(agent: &str, total: f64, parts: &[(&str, f64)]) -> String {
    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
    let each: Vec<String> = parts
        .iter()
        .map(|(name, v)| {
            format!(
                "{name} {:.2} GiB ({:.0}%)",
                v / GIB,
                100.0 * v / total.max(1.0)
            )
        })
        .collect();
    format!(
        "<b>Memory</b> — {}, {:.2} GiB: {}",
        escape(agent),
        total / GIB,
        each.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::zone;

    #[test]
    fn history_lists_changes_with_durations() {
        let tz = zone::parse("UTC").unwrap();
        let now: Timestamp = "2026-11-22T12:00:00Z".parse().unwrap();
        let t = |h: f64| now.as_second() as f64 - h * 3600.0;
        let w = Watch {
            name: "db <prod>".into(),
            stretches: vec![
                Stretch {
                    state: State::Up,
                    start: t(3.0),
                    end: t(2.0),
                    ongoing: false,
                },
                Stretch {
                    state: State::Down,
                    start: t(2.0),
                    end: t(1.5),
                    ongoing: false,
                },
                Stretch {
                    state: State::Up,
                    start: t(1.5),
                    end: t(0.0),
                    ongoing: true,
                },
            ],
        };
        let text = history(&[w], 2, 3, now, &tz);
        assert!(text.contains("<b>db &lt;prod&gt;</b>:"), "{text}");
        assert!(
            text.contains("🔴 down 10:00 for 30m → 🟢 up 10:30 1h 30m so far"),
            "{text}"
        );
        assert!(text.contains("2 more up throughout."));
        assert!(history(&[], 0, 3, now, &tz).contains("No agent or TCP check"));
    }

    #[test]
    fn stats_say_what_this_front_end_cannot_know() {
        let tz = zone::parse("UTC").unwrap();
        let now: Timestamp = "2026-11-22T12:00:00Z".parse().unwrap();
        let f = BridgeFigures {
            queued: 3,
            failed: 1,
            oldest_pending_ms: Some(now.as_millisecond() - 120_000),
            source: "the state database".into(),
            ..Default::default()
        };
        let text = stats(&f, now, &tz);
        assert!(text.contains("queued: 3\n"), "{text}");
        assert!(text.contains("oldest pending: 11:58 (2m ago)"), "{text}");
        assert!(text.contains("429s: – (only the running bridge knows)"));
    }
}
