//! What the engine answers: the [`Reply`] type and the pure functions that
//! build its text in Telegram's HTML parse mode. Every value that comes from
//! a user, Prometheus or Alertmanager goes through [`escape`]; [`to_plain`]
//! turns a reply back into terminal text for `outpost ask`. Texts about
//! time (`/history`, `/uptime`, `/stats`) are in `history.rs`, the on-call
//! desk's (acknowledgements, escalation, `/oncall`) in `oncall.rs`, who
//! gets what (subscriptions, mutes, quiet hours) in `audience.rs`.

pub mod audience;
mod history;
mod oncall;

pub use history::{history, mem_caption, stats, uptime, BridgeFigures, UptimeRow, Watch};
pub use oncall::{acked, escalation, handled, on_call, taken_label, taken_line};

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::agents::Agents;
use super::alertmanager::{Alert, Silence};
use super::audit::Entry;
use super::buttons::Button;
use super::commands::{Metric, UsageError, SPECS};
use super::promql::Sample;
use super::roles::Role;
use crate::alerts::{Threshold, THRESHOLD_LABEL};

/// The thresholds in force, per agent, as Prometheus reports them
/// ([`crate::alerts::THRESHOLD_SERIES`]); empty when Prometheus does not
/// run the generated rules, and then nothing is marked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Thresholds(pub BTreeMap<String, BTreeMap<Threshold, f64>>);

impl Thresholds {
    /// From the samples of the threshold series.
    pub fn from_samples(samples: &[Sample]) -> Thresholds {
        let mut map: BTreeMap<String, BTreeMap<Threshold, f64>> = BTreeMap::new();
        for s in samples {
            let (Some(agent), Some(t)) = (
                s.labels.get("agent"),
                s.labels
                    .get(THRESHOLD_LABEL)
                    .and_then(|k| Threshold::from_key(k)),
            ) else {
                continue;
            };
            map.entry(agent.clone()).or_default().insert(t, s.value);
        }
        Thresholds(map)
    }

    pub fn get(&self, agent: &str, t: Threshold) -> Option<f64> {
        self.0.get(agent).and_then(|m| m.get(&t)).copied()
    }

    /// The value when every agent in `agents` has the same one.
    pub fn common<'a>(
        &self,
        agents: impl IntoIterator<Item = &'a str>,
        t: Threshold,
    ) -> Option<f64> {
        let mut values = agents.into_iter().map(|a| self.get(a, t));
        let first = values.next()??;
        values.all(|v| v == Some(first)).then_some(first)
    }
}

/// A chart to send as a photo.
#[derive(Debug, Clone)]
pub struct Picture {
    pub png: Vec<u8>,
    /// HTML, at most [`CAPTION_LIMIT`] characters.
    pub caption: String,
}

/// The engine's answer to one message or button press.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    /// HTML parse mode text (user data escaped). When a chart is present,
    /// send the chart with its caption, then this text if it is not empty.
    pub text: String,
    pub chart: Option<Picture>,
    /// One row of inline buttons under the message (or under the photo).
    pub buttons: Vec<Button>,
}

impl Reply {
    pub fn text(text: impl Into<String>) -> Self {
        Reply {
            text: text.into(),
            ..Reply::default()
        }
    }
}

/// Telegram's limits and its HTML, owned by [`crate::html`].
pub use crate::html::{escape, to_plain, CAPTION_LIMIT, TEXT_LIMIT};

/// Keeps whole lines of `text` within `limit` visible characters, ending
/// with "+N more lines" when some are dropped. The cut is
/// [`crate::html::split_at_line`]'s: between lines, never inside a tag.
/// A line too long to fit any message whole is cut instead (by
/// [`crate::html::cut`], marked "…"), so one long line never hides a reply.
pub fn fit(text: &str, limit: usize) -> String {
    if crate::html::visible_len(text) <= limit {
        return text.to_string();
    }
    // Room for the "+N more lines" line.
    let budget = limit.saturating_sub(24);
    let (head, rest) = crate::html::split_at_line(text, budget);
    let mut out = head.to_string();
    let mut untold = rest.lines().count();
    // The next line is too long to ever fit whole: show what fits of it.
    if crate::html::split_at_line(rest, budget).0.is_empty() {
        let sep = usize::from(!head.is_empty());
        // One for the "…".
        let room = budget.saturating_sub(crate::html::visible_len(head) + sep + 1);
        let part = crate::html::cut(rest, room);
        if !part.is_empty() {
            if sep == 1 {
                out.push('\n');
            }
            untold -= part.lines().count();
            out.push_str(&part);
            out.push('…');
        }
    }
    match (out.is_empty(), untold) {
        (_, 0) => out,
        (true, n) => format!("+{n} more lines"),
        (false, n) => format!("{out}\n+{n} more lines"),
    }
}

/// Cuts text to `max` characters, marking the cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

pub fn start() -> String {
    "<b>Outpost</b> answers from Prometheus and acts through Alertmanager.\n\
     Try /status, /mon_cpu_picture or /alerts; /help lists every command."
        .to_string()
}

/// The `/help` text, generated from the command list: the commands `role`
/// may run, and how many more a higher role gets.
pub fn help(role: Role) -> String {
    let mut s = String::from("<b>Commands</b>\n");
    for spec in SPECS.iter().filter(|s| s.role <= role) {
        s.push_str(&format!(
            "{} — {}\n",
            escape(&spec.usage()),
            escape(spec.about)
        ));
    }
    s.push_str(
        "\nAn agent is named by its name or HOST:PORT; without one, all agents. \
         Pictures: minutes 1–1440 (default 5); a time (hhmm after the minutes, or hh:mm anywhere) \
         centres the window on that time today, e.g. /mon_cpu_picture web1 30 14:05.",
    );
    let more = SPECS.iter().filter(|s| s.role > role).count();
    if more > 0 {
        s.push_str(&format!(
            "\nYour role is {role}; {more} more command(s) need a higher role."
        ));
    }
    s
}

/// `/whoami`: ids, and the role (`None`: not allowed).
pub fn whoami(user_id: i64, username: Option<&str>, chat_id: i64, role: Option<Role>) -> String {
    format!(
        "User id: <code>{user_id}</code>{}\nChat id: <code>{chat_id}</code>\nAllowed: {}",
        username
            .map(|u| format!(" (@{})", escape(u)))
            .unwrap_or_default(),
        match role {
            Some(r) => format!("yes, as {r} ({})", r.about()),
            None => "no".to_string(),
        }
    )
}

/// A known user asked for something above their role.
pub fn role_too_low(needed: Role, role: Role) -> String {
    format!(
        "⛔ That needs the {needed} role; you are {role}. An admin can change roles \
         (--viewers, --allowed-users for operators, --admins)."
    )
}

/// The single refusal a stranger gets; carries the id an admin needs.
pub fn refusal(user_id: i64) -> String {
    format!(
        "Sorry, you are not allowed to use this bot. Your user id is <code>{user_id}</code>; \
         an admin can add it to --allowed-users."
    )
}

pub fn usage(err: &UsageError) -> String {
    match err {
        UsageError::NotACommand => "Commands start with /. /help lists them.".into(),
        UsageError::Unknown(name) => {
            format!("Unknown command /{}. /help lists them.", escape(name))
        }
        UsageError::BadArgs { usage, reason } => format!(
            "{}.\nUsage: <code>{}</code>",
            escape(&capitalise(reason)),
            escape(usage)
        ),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

pub fn unknown_agent(word: &str, agents: &Agents) -> String {
    let known = agents.names();
    if known.is_empty() {
        return format!(
            "Unknown agent <code>{}</code>: no agents are configured (--agents).",
            escape(word)
        );
    }
    format!(
        "Unknown agent <code>{}</code>. Known agents: {}",
        escape(word),
        known
            .iter()
            .map(|n| format!("<code>{}</code>", escape(n)))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// A failure of Prometheus, Alertmanager, the chart or the store.
pub fn failure(message: &str) -> String {
    format!("⚠️ {}", escape(message))
}

/// Up state of one agent: `Some(true)` up, `Some(false)` down, `None` no data.
pub fn up_word(up: Option<bool>) -> &'static str {
    match up {
        Some(true) => "🟢 up",
        Some(false) => "🔴 down",
        None => "⚪ no data",
    }
}

/// `/agents`: name, address and up state of each agent.
pub fn agents(rows: &[(String, String, Option<bool>)]) -> String {
    if rows.is_empty() {
        return "No agents configured (--agents).".into();
    }
    let mut s = format!("<b>Agents</b> ({})\n", rows.len());
    for (name, address, up) in rows {
        s.push_str(&format!(
            "{} <b>{}</b> <code>{}</code>\n",
            up_word(*up),
            escape(name),
            escape(address)
        ));
    }
    s
}

/// What `/status` knows about one agent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentStatus {
    pub name: String,
    pub address: String,
    pub up: Option<bool>,
    pub cpu: Option<f64>,
    pub mem: Option<f64>,
    pub worst_disk: Option<f64>,
    pub load1: Option<f64>,
    pub uptime_seconds: Option<f64>,
    /// Failing TCP checks, by target.
    pub failing: Vec<String>,
    /// The agent's thresholds in force (from Prometheus), for the marks.
    pub alert_at: BTreeMap<Threshold, f64>,
}

fn pct(v: Option<f64>, threshold: Option<f64>) -> String {
    match v {
        Some(v) if threshold.is_some_and(|t| v >= t) => format!("<b>{v:.1}%</b> ⚠️"),
        Some(v) => format!("{v:.1}%"),
        None => "–".into(),
    }
}

/// `3d 4h`, `5h 12m`, `42m`.
pub fn duration_words(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    let (d, h, m) = (s / 86400, (s % 86400) / 3600, (s % 3600) / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else {
        format!("{m}m")
    }
}

/// A threshold as written in agents.txt (`80`, `0.5`).
fn number(v: f64) -> String {
    crate::generate::settings::number(v)
}

/// `/status AGENT`: one screen.
pub fn status_one(a: &AgentStatus) -> String {
    let mut s = format!(
        "<b>{}</b> <code>{}</code> {}\n",
        escape(&a.name),
        escape(&a.address),
        up_word(a.up)
    );
    let at = |m: Metric| a.alert_at.get(&m.threshold()).copied();
    s.push_str(&format!("CPU: {}\n", pct(a.cpu, at(Metric::Cpu))));
    s.push_str(&format!("Memory: {}\n", pct(a.mem, at(Metric::Mem))));
    s.push_str(&format!(
        "Worst disk: {}\n",
        pct(a.worst_disk, at(Metric::Disk))
    ));
    s.push_str(&format!(
        "Load (1m): {}\n",
        a.load1.map_or("–".into(), |l| format!("{l:.2}"))
    ));
    s.push_str(&format!(
        "Uptime: {}\n",
        a.uptime_seconds.map_or("–".into(), duration_words)
    ));
    // The thresholds in force, so a change from the chat (`/threshold`)
    // shows here once Prometheus has it.
    let limits: Vec<String> = Metric::ALL
        .into_iter()
        .filter_map(|m| Some(format!("{} {}%", m.as_str(), number(at(m)?))))
        .collect();
    if !limits.is_empty() {
        s.push_str(&format!("Alerts at: {}\n", limits.join(", ")));
    }
    if a.failing.is_empty() {
        s.push_str("TCP checks: all passing or none");
    } else {
        s.push_str(&format!(
            "TCP checks failing: {}",
            a.failing
                .iter()
                .map(|t| format!("<code>{}</code>", escape(t)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    s
}

/// `/status`: one line per agent.
pub fn status_all(rows: &[AgentStatus]) -> String {
    if rows.is_empty() {
        return "No agents configured (--agents).".into();
    }
    let down = rows.iter().filter(|r| r.up != Some(true)).count();
    let mut s = format!(
        "<b>Status</b>: {} agents, {} up, {} down or without data\n",
        rows.len(),
        rows.len() - down,
        down
    );
    for a in rows {
        s.push_str(&format!(
            "{} <b>{}</b> cpu {} · mem {} · disk {} · load {}",
            up_word(a.up),
            escape(&a.name),
            pct(a.cpu, a.alert_at.get(&Metric::Cpu.threshold()).copied()),
            pct(a.mem, a.alert_at.get(&Metric::Mem.threshold()).copied()),
            pct(
                a.worst_disk,
                a.alert_at.get(&Metric::Disk.threshold()).copied()
            ),
            a.load1.map_or("–".into(), |l| format!("{l:.2}")),
        ));
        if !a.failing.is_empty() {
            s.push_str(&format!(" · {} TCP failing", a.failing.len()));
        }
        s.push('\n');
    }
    s
}

/// `/mon_*`: rows of (agent, detail such as a mount point, value %), marked
/// against each agent's threshold in force; the header names the threshold
/// when all rows share it, otherwise each row names its own.
pub fn mon(
    metric: Metric,
    rows: &[(String, Option<String>, f64)],
    alert_at: &Thresholds,
) -> String {
    if rows.is_empty() {
        return format!(
            "No {} data in Prometheus for that selection (is the agent scraped?).",
            metric.title().to_lowercase()
        );
    }
    let t = metric.threshold();
    let common = alert_at.common(rows.iter().map(|r| r.0.as_str()), t);
    let mut s = match common {
        Some(c) => format!("<b>{}</b> (alert at {c}%)\n", metric.title()),
        None => format!("<b>{}</b>\n", metric.title()),
    };
    for (agent, detail, v) in rows {
        let own = alert_at.get(agent, t);
        let mark = match own {
            Some(o) if *v >= o => " ⚠️".to_string(),
            Some(o) if common.is_none() => format!(" (alert at {o}%)"),
            _ => String::new(),
        };
        match detail {
            Some(d) => s.push_str(&format!(
                "<b>{}</b> <code>{}</code>: {v:.1}%{mark}\n",
                escape(agent),
                escape(d)
            )),
            None => s.push_str(&format!("<b>{}</b>: {v:.1}%{mark}\n", escape(agent))),
        }
    }
    s
}

/// One GPU in a `/gpu` answer; `None`: no such series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GpuRow {
    pub agent: String,
    pub index: String,
    pub name: String,
    pub load: Option<f64>,
    pub memory: Option<f64>,
    pub celsius: Option<f64>,
    pub watts: Option<f64>,
    pub last_xid: Option<f64>,
}

/// `/gpu`: one line per GPU, marked where a generated alert would fire.
pub fn gpu(rows: &[GpuRow]) -> String {
    if rows.is_empty() {
        return "No GPU data in Prometheus for that selection (is the exporter run with --collector.gpu on a host with an NVIDIA GPU?).".into();
    }
    let s = crate::generate::settings::Settings::default();
    let mut out = String::from("<b>GPUs</b>\n");
    for r in rows {
        let mut parts = Vec::new();
        if let Some(v) = r.load {
            parts.push(format!("{v:.0}% busy"));
        }
        if let Some(v) = r.memory {
            let mark = if v >= s.gpu_memory_percent {
                " ⚠️"
            } else {
                ""
            };
            parts.push(format!("memory {v:.1}%{mark}"));
        }
        if let Some(v) = r.celsius {
            let mark = if v >= s.gpu_temperature {
                " ⚠️"
            } else {
                ""
            };
            parts.push(format!("{v:.0}°C{mark}"));
        }
        if let Some(v) = r.watts {
            parts.push(format!("{v:.0} W"));
        }
        match r.last_xid {
            Some(x) if x > 0.0 => parts.push(format!("last XID {x:.0} ⚠️")),
            _ => {}
        }
        out.push_str(&format!(
            "<b>{}</b> GPU {} <code>{}</code>: {}\n",
            escape(&r.agent),
            escape(&r.index),
            escape(&r.name),
            if parts.is_empty() {
                "no readings".into()
            } else {
                parts.join(", ")
            }
        ));
    }
    out
}

/// A time as `HH:MM` today, or `MM-DD HH:MM` otherwise, in `tz`.
pub fn when(t: Timestamp, now: Timestamp, tz: &TimeZone) -> String {
    let (lt, ln) = (tz.to_datetime(t), tz.to_datetime(now));
    if lt.date() == ln.date() {
        lt.strftime("%H:%M").to_string()
    } else {
        lt.strftime("%m-%d %H:%M").to_string()
    }
}

/// An RFC 3339 time as Alertmanager writes it (`2026-11-22T11:30:00.123Z`,
/// any offset).
fn parse_time(s: &str) -> Option<Timestamp> {
    s.parse().ok()
}

/// `/alerts`.
pub fn alerts(list: &[Alert], now: Timestamp, tz: &TimeZone) -> String {
    if list.is_empty() {
        return "✅ No firing alerts.".into();
    }
    let mut s = format!("<b>Firing alerts</b> ({})\n", list.len());
    for a in list.iter().take(30) {
        let label = |k: &str| a.labels.get(k).map(String::as_str).unwrap_or("");
        let summary = a
            .annotations
            .get("summary")
            .or_else(|| a.annotations.get("description"))
            .map(|v| format!(" — {}", escape(&truncate(v, 200))))
            .unwrap_or_default();
        let since = parse_time(&a.starts_at)
            .map(|t| format!(" since {}", when(t, now, tz)))
            .unwrap_or_default();
        s.push_str(&format!(
            "🔥 <b>{}</b> {}{}{}{}\n",
            escape(label("alertname")),
            escape(label("agent")),
            if label("severity").is_empty() {
                String::new()
            } else {
                format!(" [{}]", escape(label("severity")))
            },
            since,
            summary
        ));
    }
    if list.len() > 30 {
        s.push_str(&format!("+{} more\n", list.len() - 30));
    }
    s
}

/// `/silences`: active and pending ones, soonest ending first.
pub fn silences(list: &[Silence], now: Timestamp, tz: &TimeZone) -> String {
    let mut live: Vec<&Silence> = list
        .iter()
        .filter(|s| s.status.state != "expired")
        .collect();
    if live.is_empty() {
        return "No active silences.".into();
    }
    live.sort_by(|a, b| a.ends_at.cmp(&b.ends_at));
    let mut s = format!("<b>Silences</b> ({})\n", live.len());
    for x in live.iter().take(30) {
        let matchers = x
            .matchers
            .iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let until = parse_time(&x.ends_at)
            .map(|t| when(t, now, tz))
            .unwrap_or_else(|| x.ends_at.clone());
        s.push_str(&format!(
            "🔕 <code>{}</code> {{{}}} until {}{} by {}{}\n",
            escape(&x.id),
            escape(&matchers),
            escape(&until),
            if x.status.state == "pending" {
                " (pending)"
            } else {
                ""
            },
            escape(&x.created_by),
            if x.comment.is_empty() {
                String::new()
            } else {
                format!(": {}", escape(&truncate(&x.comment, 120)))
            }
        ));
    }
    s
}

pub fn silence_created(id: &str, matchers: &str, until: &str) -> String {
    format!(
        "🔕 Silenced {{{}}} until {}.\nId: <code>{}</code> (/unsilence {})",
        escape(matchers),
        escape(until),
        escape(id),
        escape(id)
    )
}

pub fn unsilenced(id: &str) -> String {
    format!("🔔 Silence <code>{}</code> expired.", escape(id))
}

/// `/audit`: newest first.
pub fn audit(entries: &[Entry], now: Timestamp, tz: &TimeZone) -> String {
    if entries.is_empty() {
        return "The audit log is empty.".into();
    }
    let mut s = format!("<b>Audit</b> (latest {})\n", entries.len());
    for e in entries {
        let at = Timestamp::from_millisecond(e.at_ms)
            .ok()
            .map(|t| when(t, now, tz))
            .unwrap_or_default();
        let who = match (e.username.as_deref(), e.user_id) {
            (Some(u), 0) => format!("{u} (ask)"),
            (Some(u), _) => format!("@{u}"),
            (None, id) => id.to_string(),
        };
        s.push_str(&format!(
            "{} {} in {}: <code>{}</code> → {}\n",
            escape(&at),
            escape(&who),
            e.chat_id,
            escape(&truncate(&e.action, 80)),
            escape(&truncate(&e.result, 80))
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::agents;
    use crate::chat::alertmanager::{Matcher, SilenceStatus};

    fn tz() -> TimeZone {
        crate::chat::zone::parse("Europe/Berlin").unwrap()
    }

    fn t(s: &str) -> Timestamp {
        parse_time(s).unwrap()
    }

    #[test]
    fn escape_and_plain_round_trip() {
        let hostile = r#"<b>&"x"</b>"#;
        assert_eq!(escape(hostile), "&lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;");
        assert_eq!(to_plain(&format!("<b>{}</b>", escape(hostile))), hostile);
        assert_eq!(truncate("abcdef", 4), "abc…");
        let long: String = (0..1000).map(|i| format!("<b>line {i}</b>\n")).collect();
        let fitted = fit(&long, TEXT_LIMIT);
        assert!(crate::html::visible_len(&fitted) <= TEXT_LIMIT);
        assert!(crate::html::visible_len(&fitted) > TEXT_LIMIT - 40);
        assert!(
            fitted.ends_with(" more lines"),
            "{}",
            &fitted[fitted.len() - 40..]
        );
        assert_eq!(
            fitted.matches("<b>").count(),
            fitted.matches("</b>").count()
        );
        let n: usize = fitted
            .rsplit('+')
            .next()
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(fitted.lines().count() - 1 + n, 1000);
        assert_eq!(fit("short", 10), "short");
    }

    #[test]
    fn fit_cuts_a_line_too_long_for_any_message() {
        // One long line alone: the reply is its start, not "+1 more lines".
        let word = "<b>w</b> &amp; ";
        let line: String = word.repeat(2000);
        let fitted = fit(&line, TEXT_LIMIT);
        assert!(crate::html::visible_len(&fitted) <= TEXT_LIMIT);
        assert!(
            crate::html::visible_len(&fitted) > TEXT_LIMIT - 30,
            "{fitted}"
        );
        assert!(fitted.starts_with("<b>w</b> &amp; <b>w</b>"), "{fitted}");
        assert!(fitted.ends_with('…') && !fitted.contains("more lines"));
        assert_eq!(
            fitted.matches("<b>").count(),
            fitted.matches("</b>").count()
        );
        // Between lines that fit: whole lines, the long one cut, the count
        // of lines not shown.
        let text = format!("<i>Header</i>\n{line}\nnext\nlast");
        let fitted = fit(&text, TEXT_LIMIT);
        assert!(crate::html::visible_len(&fitted) <= TEXT_LIMIT);
        assert!(
            fitted.starts_with("<i>Header</i>\n<b>w</b> &amp; "),
            "{fitted}"
        );
        assert!(fitted.ends_with("…\n+2 more lines"), "{fitted}");
        // A line that would fit a message alone is still kept whole or not
        // at all.
        let text = format!("{}\n{}", "a".repeat(3000), "b".repeat(3000));
        assert_eq!(
            fit(&text, TEXT_LIMIT),
            format!("{}\n+1 more lines", "a".repeat(3000))
        );
    }

    #[test]
    fn gpu_lines_mark_what_would_alert_and_escape_names() {
        let row = GpuRow {
            agent: "gpu1".into(),
            index: "0".into(),
            name: "A100 <sxm>".into(),
            load: Some(87.4),
            memory: Some(95.0),
            celsius: Some(61.0),
            watts: None,
            last_xid: Some(0.0),
        };
        assert_eq!(
            gpu(&[row]),
            "<b>GPUs</b>\n<b>gpu1</b> GPU 0 <code>A100 &lt;sxm&gt;</code>: 87% busy, memory 95.0% ⚠️, 61°C\n"
        );
        assert!(gpu(&[]).starts_with("No GPU data"));
    }

    #[test]
    fn help_lists_every_command_with_usage() {
        let h = help(Role::Admin);
        for s in SPECS {
            assert!(h.contains(&format!("/{}", s.name)), "{}", s.name);
        }
        assert!(h.contains("/silence &lt;agent|matchers&gt; &lt;duration&gt; [comment]"));
    }

    #[test]
    fn unknown_agent_lists_known_ones_escaped() {
        let a = agents::parse("agents.txt", "web1 h:1\ndb1 h:2\n").unwrap();
        assert_eq!(
            unknown_agent(r#"web1"}"#, &a),
            "Unknown agent <code>web1&quot;}</code>. Known agents: <code>web1</code>, <code>db1</code>"
        );
        assert!(unknown_agent("x", &agents::Agents::default()).contains("no agents"));
    }

    #[test]
    fn usage_and_refusal() {
        let e = crate::chat::commands::parse("/mon_cpu_picture web1 0").unwrap_err();
        assert_eq!(
            usage(&e),
            "Minutes must be a number from 1 to 1440.\nUsage: <code>/mon_cpu_picture [agent] [minutes] [hhmm]</code>"
        );
        assert!(refusal(12345).contains("<code>12345</code>"));
        assert_eq!(
            whoami(5, Some("a<b"), -7, None),
            "User id: <code>5</code> (@a&lt;b)\nChat id: <code>-7</code>\nAllowed: no"
        );
    }

    #[test]
    fn status_texts() {
        let a = AgentStatus {
            name: "web1".into(),
            address: "10.0.0.1:9100".into(),
            up: Some(true),
            cpu: Some(91.24),
            mem: Some(40.0),
            worst_disk: None,
            load1: Some(0.5),
            uptime_seconds: Some(90061.0),
            failing: vec!["db:5432".into()],
            alert_at: BTreeMap::from([(Threshold::Cpu, 90.0), (Threshold::Memory, 85.0)]),
        };
        let one = status_one(&a);
        assert!(one.contains("CPU: <b>91.2%</b> ⚠️"), "{one}");
        assert!(one.contains("Memory: 40.0%\n"));
        assert!(one.contains("Worst disk: –"));
        assert!(one.contains("Uptime: 1d 1h"));
        assert!(one.contains("TCP checks failing: <code>db:5432</code>"));
        let down = AgentStatus {
            name: "db1".into(),
            ..Default::default()
        };
        let all = status_all(&[a, down]);
        assert!(all.starts_with("<b>Status</b>: 2 agents, 1 up, 1 down or without data\n"));
        assert!(all.contains("⚪ no data <b>db1</b>"));
        assert!(all.contains("1 TCP failing"));
        assert_eq!(duration_words(59.0), "0m");
        assert_eq!(duration_words(3720.0), "1h 2m");
    }

    #[test]
    fn mon_and_agents_texts() {
        let at = |pairs: &[(&str, f64)]| {
            Thresholds(
                pairs
                    .iter()
                    .map(|(a, v)| (a.to_string(), BTreeMap::from([(Threshold::Disk, *v)])))
                    .collect(),
            )
        };
        let m = mon(
            Metric::Disk,
            &[
                ("web1".into(), Some("/".into()), 95.0),
                ("web1".into(), Some("/data".into()), 12.34),
            ],
            &at(&[("web1", 90.0), ("db1", 80.0)]),
        );
        assert_eq!(
            m,
            "<b>Disk usage</b> (alert at 90%)\n<b>web1</b> <code>/</code>: 95.0% ⚠️\n<b>web1</b> <code>/data</code>: 12.3%\n"
        );
        // Agents with different thresholds: each row names its own.
        let m = mon(
            Metric::Disk,
            &[
                ("db1".into(), Some("/".into()), 85.0),
                ("web1".into(), Some("/".into()), 85.0),
            ],
            &at(&[("web1", 90.0), ("db1", 80.0)]),
        );
        assert_eq!(
            m,
            "<b>Disk usage</b>\n<b>db1</b> <code>/</code>: 85.0% ⚠️\n<b>web1</b> <code>/</code>: 85.0% (alert at 90%)\n"
        );
        // Without the generated rules nothing is marked.
        let m = mon(
            Metric::Cpu,
            &[("web1".into(), None, 99.0)],
            &Thresholds::default(),
        );
        assert_eq!(m, "<b>CPU usage</b>\n<b>web1</b>: 99.0%\n");
        assert!(mon(Metric::Cpu, &[], &Thresholds::default()).starts_with("No cpu usage data"));
        let a = agents(&[
            ("web1".into(), "h:1".into(), Some(true)),
            ("db1".into(), "h:2".into(), None),
        ]);
        assert_eq!(a, "<b>Agents</b> (2)\n🟢 up <b>web1</b> <code>h:1</code>\n⚪ no data <b>db1</b> <code>h:2</code>\n");
    }

    #[test]
    fn alert_and_silence_lists() {
        let now = t("2026-11-22T12:00:00Z");
        let alert: Alert = serde_json::from_str(
            r#"{"labels":{"alertname":"AgentHighCPU","agent":"web<1>","severity":"warning"},
                "annotations":{"summary":"CPU > 80% & rising"},"startsAt":"2026-11-22T11:30:00Z",
                "generatorURL":"http://p/graph?g0.expr=x","fingerprint":"abc"}"#,
        )
        .unwrap();
        assert_eq!(
            alerts(&[alert], now, &tz()),
            "<b>Firing alerts</b> (1)\n🔥 <b>AgentHighCPU</b> web&lt;1&gt; [warning] since 12:30 — CPU &gt; 80% &amp; rising\n"
        );
        assert_eq!(alerts(&[], now, &tz()), "✅ No firing alerts.");
        let sil = |id: &str, state: &str| Silence {
            id: id.into(),
            status: SilenceStatus {
                state: state.into(),
            },
            matchers: vec![Matcher {
                name: "agent".into(),
                value: "web1".into(),
                is_regex: false,
                is_equal: true,
            }],
            starts_at: "2026-11-22T11:00:00Z".into(),
            ends_at: "2026-11-23T13:00:00Z".into(),
            created_by: "@alice (telegram 42)".into(),
            comment: "deploy".into(),
        };
        let s = silences(&[sil("a", "active"), sil("b", "expired")], now, &tz());
        assert_eq!(
            s,
            "<b>Silences</b> (1)\n🔕 <code>a</code> {agent=&quot;web1&quot;} until 11-23 14:00 by @alice (telegram 42): deploy\n"
        );
        assert_eq!(
            silences(&[sil("b", "expired")], now, &tz()),
            "No active silences."
        );
    }

    #[test]
    fn times_in_the_zone() {
        let now = t("2026-11-22T12:00:00Z");
        // Berlin is UTC+1 in November: the day ends at 23:00 UTC
        assert_eq!(when(t("2026-11-22T22:59:00Z"), now, &tz()), "23:59");
        assert_eq!(when(t("2026-11-22T23:00:00Z"), now, &tz()), "11-23 00:00");
        assert_eq!(when(t("2026-11-21T22:59:59Z"), now, &tz()), "11-21 23:59");
        assert_eq!(
            when(t("2026-11-22T23:00:00Z"), now, &TimeZone::UTC),
            "23:00"
        );
        // summer time, any offset and fractions as Alertmanager writes them
        let july = t("2026-07-01T12:00:00Z");
        assert_eq!(
            when(t("2026-07-01T11:30:00.123456789+01:00"), july, &tz()),
            "12:30"
        );
        assert!(parse_time("0001-01-01T00:00:00Z").is_some());
        assert_eq!(parse_time("2026-11-22 11:30:00"), None, "no offset");
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn audit_text() {
        let now = t("2026-11-22T12:00:00Z");
        let e = Entry {
            at_ms: now.as_millisecond() - 60_000,
            user_id: 42,
            username: Some("alice".into()),
            chat_id: -100,
            action: "/silence web1 1h".into(),
            result: "ok".into(),
        };
        assert_eq!(
            audit(&[e], now, &tz()),
            "<b>Audit</b> (latest 1)\n12:59 @alice in -100: <code>/silence web1 1h</code> → ok\n"
        );
    }
}
