//! Message text: Alertmanager alerts rendered as Telegram HTML (pure, no
//! I/O). Owns escaping, the firing and resolved layouts, coalescing of
//! several queued notifications into their newest state, and splitting
//! into messages of at most 4096 visible characters, always between alert
//! blocks and never inside a tag.
//!
//! When a batch shows more than one firing alert, the firing alerts are
//! numbered ("1.", "2." … across all messages of the batch) so that the
//! rows of buttons under a message ([`super::keyboard`]) can say which
//! alert they act on; a message with more firing alerts than rows of
//! buttons says so at its end. Resolved alerts and a lone firing alert are
//! not numbered.

use std::collections::HashMap;

use super::payload::{Alert, Notification};

/// Telegram's limit on a message's visible text, in UTF-16 code units.
pub const MAX_VISIBLE: usize = crate::html::TEXT_LIMIT;

/// One message ready for `sendMessage` (parse mode HTML).
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub html: String,
    /// Fingerprints of the firing alerts shown in this message (their
    /// message id is remembered so the resolution can reply to it).
    pub firing: Vec<String>,
    /// Fingerprints of the resolved alerts shown in this message.
    pub resolved: Vec<String>,
    /// The number shown before the first of `firing` (the others follow
    /// on); `None` when the firing alerts are not numbered.
    pub first_number: Option<usize>,
}

impl Rendered {
    /// A message with no alerts in it (free text).
    pub fn text(html: String) -> Self {
        Rendered {
            html,
            firing: Vec::new(),
            resolved: Vec::new(),
            first_number: None,
        }
    }

    /// The number shown before each firing alert of this message, in order.
    pub fn numbered_firing(&self) -> impl Iterator<Item = (Option<usize>, &str)> {
        let first = self.first_number;
        self.firing
            .iter()
            .enumerate()
            .map(move |(i, fp)| (first.map(|n| n + i), fp.as_str()))
    }
}

/// Limits for [`render`].
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// Maximum visible length of one message.
    pub max_visible: usize,
    /// Maximum number of messages for one batch; the rest is summarised
    /// as "+N more".
    pub max_messages: usize,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            max_visible: MAX_VISIBLE,
            max_messages: 20,
        }
    }
}

pub use crate::html::{escape, to_plain, visible_len};

/// The newest state of every alert in several queued notifications for
/// one chat, in order of first appearance, and the number of alerts that
/// Alertmanager itself left out (`truncatedAlerts`).
pub fn coalesce(notifications: &[Notification]) -> (Vec<Alert>, u64) {
    let mut alerts: Vec<Alert> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut truncated = 0;
    for n in notifications {
        truncated += n.truncated_alerts;
        for a in &n.alerts {
            match index.get(&a.fingerprint) {
                Some(&i) => alerts[i] = a.clone(),
                None => {
                    index.insert(a.fingerprint.clone(), alerts.len());
                    alerts.push(a.clone());
                }
            }
        }
    }
    (alerts, truncated)
}

/// Renders alerts (already coalesced) into messages: firing alerts first,
/// then resolved ones, each under its header, split between alert blocks.
/// `now_ms` is the Unix time in milliseconds, for "for 5m" durations.
pub fn render(alerts: &[Alert], truncated: u64, now_ms: i64, layout: Layout) -> Vec<Rendered> {
    let compact = alerts.len() > COMPACT_OVER;
    let firing: Vec<&Alert> = alerts.iter().filter(|a| a.is_firing()).collect();
    let resolved: Vec<&Alert> = alerts.iter().filter(|a| !a.is_firing()).collect();
    let numbered = firing.len() > 1;
    let mut out: Vec<Rendered> = Vec::new();
    let mut current = Rendered::text(String::new());
    let mut current_len = 0usize;
    let mut left_out = truncated;
    // Room kept free in every message for a "+N more" line and the note on
    // alerts without buttons.
    let reserve = 40usize + 70;
    let budget = layout.max_visible.saturating_sub(reserve).max(200);
    let mut full = false;
    for (is_firing, list) in [(true, &firing), (false, &resolved)] {
        if full {
            left_out += list.len() as u64;
            continue;
        }
        let mut section_open = false;
        let header = section_header(is_firing, list.len());
        let header_len = visible_len(&header).max(visible_len(&section_header_cont(is_firing)));
        for (i, a) in list.iter().enumerate() {
            let number = (is_firing && numbered).then_some(i + 1);
            let block = render_block(a, number, now_ms, budget - header_len - 2, compact);
            let block_len = visible_len(&block);
            let add_len = block_len + 2 + if section_open { 0 } else { header_len + 2 };
            if !current.html.is_empty() && current_len + add_len > budget {
                if out.len() + 1 >= layout.max_messages {
                    full = true;
                    left_out += (list.len() - i) as u64;
                    break;
                }
                let done = std::mem::replace(&mut current, Rendered::text(String::new()));
                out.push(with_button_note(done));
                current_len = 0;
            }
            if !current.html.is_empty() {
                current.html.push_str("\n\n");
                current_len += 2;
            }
            if !section_open || current_len == 0 {
                let h = if section_open {
                    section_header_cont(is_firing)
                } else {
                    header.clone()
                };
                current_len += visible_len(&h) + 2;
                current.html.push_str(&h);
                current.html.push_str("\n\n");
                section_open = true;
            }
            current.html.push_str(&block);
            current_len += block_len;
            if is_firing {
                if current.firing.is_empty() {
                    current.first_number = number;
                }
                current.firing.push(a.fingerprint.clone());
            } else {
                current.resolved.push(a.fingerprint.clone());
            }
        }
    }
    let mut current = with_button_note(current);
    if left_out > 0 {
        if !current.html.is_empty() {
            current.html.push_str("\n\n");
        }
        current
            .html
            .push_str(&format!("<i>+{left_out} more alert(s) not shown</i>"));
    }
    if !current.html.is_empty() {
        out.push(current);
    }
    out
}

/// Ends a message that shows more numbered firing alerts than there are
/// rows of buttons with a line saying which ones have buttons.
fn with_button_note(mut msg: Rendered) -> Rendered {
    let rows = super::keyboard::MAX_ROWS;
    if let (Some(first), true) = (msg.first_number, msg.firing.len() > rows) {
        msg.html.push_str(&format!(
            "\n\n<i>Buttons for {first}–{} only; use /silence for the others.</i>",
            first + rows - 1
        ));
    }
    msg
}

fn section_header(firing: bool, n: usize) -> String {
    if firing {
        format!("🔥 <b>FIRING</b> ({n})")
    } else {
        format!("✅ <b>RESOLVED</b> ({n})")
    }
}

fn section_header_cont(firing: bool) -> String {
    if firing {
        "🔥 <b>FIRING</b> (continued)".to_owned()
    } else {
        "✅ <b>RESOLVED</b> (continued)".to_owned()
    }
}

fn severity_mark(sev: &str) -> &'static str {
    match sev {
        "critical" | "page" | "error" => "🔴",
        "warning" | "warn" => "🟠",
        "info" | "none" => "🔵",
        _ => "⚪",
    }
}

/// Batches with more alerts than this use the two-line layout, so a
/// backlog arrives in a few messages.
pub const COMPACT_OVER: usize = 10;

/// Labels shown in their own line rather than in the "labels" list.
const SHOWN: &[&str] = &["alertname", "severity", "agent"];

/// One alert as a self-contained HTML fragment (balanced tags) whose
/// visible length fits `budget`; long values are cut until it does.
/// `number` is shown before it ("2. ") when the batch numbers its alerts.
fn render_block(
    a: &Alert,
    number: Option<usize>,
    now_ms: i64,
    budget: usize,
    compact: bool,
) -> String {
    let prefix = number.map(|n| format!("{n}. ")).unwrap_or_default();
    let budget = budget.saturating_sub(prefix.chars().count());
    for cap in [usize::MAX, 1000, 300, 100, 40, 10] {
        let b = if compact {
            render_compact(a, now_ms, cap.min(160))
        } else {
            render_block_capped(a, now_ms, cap)
        };
        if visible_len(&b) <= budget {
            return prefix + &b;
        }
    }
    let name = cut(a.name(), 100);
    format!(
        "{prefix}<b>{}</b> (details too long to show)",
        escape(&name)
    )
}

fn cut(s: &str, cap: usize) -> String {
    if s.chars().count() <= cap {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(cap).collect();
        t.push('…');
        t
    }
}

/// Two lines: what and where; since when and the link.
fn render_compact(a: &Alert, now_ms: i64, cap: usize) -> String {
    let e = |s: &str| escape(&cut(s, cap));
    let sev = a.labels.get("severity").map_or("", String::as_str);
    let mark = if a.is_firing() {
        severity_mark(sev)
    } else {
        "✅"
    };
    let mut first = format!("{mark} <b>{}</b>", e(a.name()));
    if !sev.is_empty() {
        first.push_str(&format!(" · {}", e(sev)));
    }
    if let Some(agent) = a.labels.get("agent").or_else(|| a.labels.get("instance")) {
        first.push_str(&format!(" · {}", e(agent)));
    }
    if let Some(s) = a
        .annotations
        .get("summary")
        .or_else(|| a.annotations.get("description"))
    {
        first.push_str(&format!(" — {}", e(s)));
    }
    let mut second = Vec::new();
    let start = parse_rfc3339_ms(&a.starts_at);
    let end = parse_rfc3339_ms(&a.ends_at).filter(|&t| t > 0);
    match (a.is_firing(), start, end) {
        (true, Some(s), _) => second.push(format!(
            "since {} (for {})",
            format_utc(s),
            format_duration_ms(now_ms - s)
        )),
        (false, Some(s), Some(t)) => second.push(format!(
            "resolved {} after {}",
            format_utc(t),
            format_duration_ms(t - s)
        )),
        (false, None, Some(t)) => second.push(format!("resolved {}", format_utc(t))),
        _ => {}
    }
    let url = a.generator_url.trim();
    if url.starts_with("http://") || url.starts_with("https://") {
        second.push(format!("<a href=\"{}\">source</a>", escape(url)));
    }
    if second.is_empty() {
        first
    } else {
        format!("{first}\n{}", second.join(" · "))
    }
}

fn render_block_capped(a: &Alert, now_ms: i64, cap: usize) -> String {
    let e = |s: &str| escape(&cut(s, cap));
    let sev = a.labels.get("severity").map_or("", String::as_str);
    let mut lines: Vec<String> = Vec::new();
    let mark = if a.is_firing() {
        severity_mark(sev)
    } else {
        "✅"
    };
    let mut title = format!("{mark} <b>{}</b>", e(a.name()));
    if !sev.is_empty() {
        title.push_str(&format!(" · {}", e(sev)));
    }
    lines.push(title);
    if let Some(agent) = a.labels.get("agent").or_else(|| a.labels.get("instance")) {
        lines.push(format!("agent: <b>{}</b>", e(agent)));
    }
    let summary = a.annotations.get("summary");
    let description = a
        .annotations
        .get("description")
        .or(a.annotations.get("message"));
    if let Some(s) = summary {
        lines.push(e(s));
    }
    if let Some(d) = description {
        if Some(d) != summary {
            lines.push(format!("<i>{}</i>", e(d)));
        }
    }
    if let Some(v) = a.annotations.get("value") {
        lines.push(format!("value: <b>{}</b>", e(v)));
    }
    let start = parse_rfc3339_ms(&a.starts_at);
    let end = parse_rfc3339_ms(&a.ends_at).filter(|&t| t > 0);
    if a.is_firing() {
        if let Some(s) = start {
            lines.push(format!(
                "since {} (for {})",
                format_utc(s),
                format_duration_ms(now_ms - s)
            ));
        }
    } else {
        match (start, end) {
            (Some(s), Some(t)) => lines.push(format!(
                "resolved {} after {}",
                format_utc(t),
                format_duration_ms(t - s)
            )),
            (_, Some(t)) => lines.push(format!("resolved {}", format_utc(t))),
            _ => {}
        }
    }
    let others: Vec<String> = a
        .labels
        .iter()
        .filter(|(k, _)| !SHOWN.contains(&k.as_str()))
        .map(|(k, v)| format!("{}={}", e(k), e(v)))
        .collect();
    if !others.is_empty() {
        lines.push(format!("<code>{}</code>", others.join(", ")));
    }
    for (k, v) in &a.annotations {
        if !["summary", "description", "message", "value"].contains(&k.as_str()) {
            lines.push(format!("{}: {}", e(k), e(v)));
        }
    }
    let url = a.generator_url.trim();
    if url.starts_with("http://") || url.starts_with("https://") {
        lines.push(format!("<a href=\"{}\">source</a>", escape(url)));
    }
    lines.join("\n")
}

/// The Unix time in milliseconds of an RFC 3339 timestamp such as
/// `2026-11-22T05:09:04.56916Z` or `…+02:00`. Alertmanager's zero time
/// (`0001-01-01T00:00:00Z`) gives a negative number.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = &s[start..i];
        let padded: String = frac.chars().chain("000".chars()).take(3).collect();
        ms = padded.parse().ok()?;
    }
    let offset_min = match b.get(i)? {
        b'Z' | b'z' => 0,
        sign @ (b'+' | b'-') => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let o = oh * 60 + om;
            if *sign == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    Some(((days * 86400 + h * 3600 + mi * 60 + sec) - offset_min * 60) * 1000 + ms)
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `2026-11-22 05:09:04 UTC`.
pub fn format_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86400));
    let t = secs.rem_euclid(86400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        t / 3600,
        t % 3600 / 60,
        t % 60
    )
}

/// `45s`, `3m 20s`, `2h 5m`, `3d 4h`.
pub fn format_duration_ms(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        3600..=86399 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Notification {
        let path = format!(
            "{}/../shared/fixtures/alertmanager-webhook-{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        Notification::parse(&std::fs::read(path).unwrap()).unwrap()
    }

    fn alert(name: &str, status: &str, fp: &str) -> Alert {
        let mut a = Alert {
            status: status.into(),
            fingerprint: fp.into(),
            starts_at: "2026-11-22T05:00:00Z".into(),
            ends_at: if status == "resolved" {
                "2026-11-22T05:02:30Z".into()
            } else {
                "0001-01-01T00:00:00Z".into()
            },
            ..Default::default()
        };
        a.labels.insert("alertname".into(), name.into());
        a
    }

    /// A fixed "now" for tests.
    const NOW: i64 = 1_795_410_000_000;

    #[test]
    fn escaping_covers_the_four_characters() {
        assert_eq!(
            escape(r#"<a href="x">&'_*[]"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;'_*[]"
        );
        assert_eq!(to_plain(&escape(r#"<>&"'_*[]"#)), r#"<>&"'_*[]"#);
        assert_eq!(to_plain("<b>a</b> &amp;lt;"), "a &lt;");
        assert_eq!(visible_len("<b>é😀</b>"), 3);
    }

    #[test]
    fn time_parsing_and_formatting() {
        let t = parse_rfc3339_ms("2026-11-22T05:09:04.56916Z").unwrap();
        assert_eq!(format_utc(t), "2026-11-22 05:09:04 UTC");
        assert_eq!(t % 1000, 569);
        assert_eq!(
            parse_rfc3339_ms("2026-11-22T07:09:04+02:00").unwrap(),
            parse_rfc3339_ms("2026-11-22T05:09:04Z").unwrap()
        );
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert!(parse_rfc3339_ms("0001-01-01T00:00:00Z").unwrap() < 0);
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
        assert_eq!(format_duration_ms(60_200), "1m 0s");
        assert_eq!(format_duration_ms(3 * 86_400_000 + 7_200_000), "3d 2h");
    }

    #[test]
    fn firing_fixture_reads_at_a_glance() {
        let n = fixture("firing");
        let now = parse_rfc3339_ms("2026-11-22T05:12:04Z").unwrap();
        let msgs = render(&n.alerts, 0, now, Layout::default());
        assert_eq!(msgs.len(), 1);
        let html = &msgs[0].html;
        let expected = "🔥 <b>FIRING</b> (1)\n\n\
            🔴 <b>HostHighCpuLoad</b> · critical\n\
            agent: <b>127.0.0.1:19100</b>\n\
            High CPU load on 127.0.0.1:19100\n\
            <i>CPU usage is above 90% for 1m (VALUE = 97.3)</i>\n\
            since 2026-11-22 05:09:04 UTC (for 2m 59s)\n\
            <code>instance=127.0.0.1:19100, job=node</code>\n\
            <a href=\"http://127.0.0.1:19090/graph?g0.expr=100+-+avg+by%28instance%29+%28rate%28node_cpu_seconds_total%7Bmode%3D%22idle%22%7D%5B1m%5D%29%29+%2A+100+%3E+90&amp;g0.tab=1\">source</a>";
        assert_eq!(html, expected);
        assert_eq!(msgs[0].firing, vec!["4aa54d75fe575ee8".to_string()]);
    }

    #[test]
    fn resolved_fixture_says_how_long_it_lasted() {
        let n = fixture("resolved");
        let msgs = render(&n.alerts, 0, NOW, Layout::default());
        let plain = to_plain(&msgs[0].html);
        assert!(
            plain.starts_with("✅ RESOLVED (1)\n\n✅ HostHighCpuLoad · critical\n"),
            "{plain}"
        );
        assert!(
            plain.contains("resolved 2026-11-22 05:10:04 UTC after 1m 0s"),
            "{plain}"
        );
        assert_eq!(msgs[0].resolved, vec!["4aa54d75fe575ee8".to_string()]);
        assert!(msgs[0].firing.is_empty());
    }

    #[test]
    fn grouped_fixture_has_both_alerts() {
        let n = fixture("firing-grouped");
        let msgs = render(&n.alerts, 0, NOW, Layout::default());
        assert_eq!(msgs.len(), 1);
        let plain = to_plain(&msgs[0].html);
        assert!(plain.contains("FIRING (2)"));
        assert!(plain.contains("Disk almost full on 127.0.0.1:19100"));
        assert!(plain.contains("Disk almost full on 127.0.0.1:19101"));
        assert!(plain.contains(r#"Filesystem "/" has 3.1% space left"#));
    }

    #[test]
    fn hostile_labels_are_escaped_everywhere() {
        let nasty = r#"<b>&amp;"'_*[]</i><script>"#;
        let mut a = alert(nasty, "firing", "f1");
        a.labels.insert(nasty.into(), nasty.into());
        a.labels.insert("severity".into(), nasty.into());
        a.annotations.insert("summary".into(), nasty.into());
        a.annotations.insert(nasty.into(), nasty.into());
        a.generator_url = format!("http://x/?q=\"{nasty}");
        let msgs = render(&[a], 0, NOW, Layout::default());
        let html = &msgs[0].html;
        // Only our own tags remain.
        for tag in html.match_indices('<').map(|(i, _)| &html[i..]) {
            assert!(
                [
                    "<b>",
                    "</b>",
                    "<i>",
                    "</i>",
                    "<code>",
                    "</code>",
                    "<a href=\"",
                    "</a>"
                ]
                .iter()
                .any(|t| tag.starts_with(t)),
                "unexpected tag at {tag}"
            );
        }
        let plain = to_plain(html);
        assert!(plain.matches(nasty).count() >= 4, "{plain}");
    }

    #[test]
    fn long_batches_split_between_alerts_within_the_limit() {
        let alerts: Vec<Alert> = (0..300)
            .map(|i| {
                let mut a = alert(&format!("Alert{i}"), "firing", &format!("fp{i}"));
                a.annotations.insert(
                    "summary".into(),
                    format!("summary <{i}> & more text to fill"),
                );
                a
            })
            .collect();
        let msgs = render(
            &alerts,
            0,
            NOW,
            Layout {
                max_visible: 4096,
                max_messages: 100,
            },
        );
        assert!(msgs.len() > 3);
        let mut seen = 0;
        for m in &msgs {
            assert!(visible_len(&m.html) <= 4096);
            // Tags balanced in every message.
            assert_eq!(
                m.html.matches("<b>").count(),
                m.html.matches("</b>").count()
            );
            assert_eq!(
                m.html.matches("<code>").count(),
                m.html.matches("</code>").count()
            );
            seen += m.firing.len();
        }
        assert_eq!(seen, 300);
        assert!(to_plain(&msgs[1].html).starts_with("🔥 FIRING (continued)"));
    }

    #[test]
    fn plus_n_more_when_the_message_cap_is_reached() {
        let alerts: Vec<Alert> = (0..300)
            .map(|i| alert(&format!("Alert{i}"), "firing", &format!("fp{i}")))
            .collect();
        let msgs = render(
            &alerts,
            5,
            NOW,
            Layout {
                max_visible: 4096,
                max_messages: 2,
            },
        );
        assert_eq!(msgs.len(), 2);
        let shown: usize = msgs.iter().map(|m| m.firing.len()).sum();
        let last = to_plain(&msgs[1].html);
        let expect = format!("+{} more alert(s) not shown", 300 - shown + 5);
        assert!(last.ends_with(&expect), "{last}");
        assert!(visible_len(&msgs[1].html) <= 4096);
    }

    #[test]
    fn one_huge_alert_is_cut_not_split() {
        let mut a = alert("Huge", "firing", "h");
        a.annotations
            .insert("description".into(), "<x>".repeat(5000));
        let msgs = render(&[a], 0, NOW, Layout::default());
        assert_eq!(msgs.len(), 1);
        assert!(visible_len(&msgs[0].html) <= 4096);
        assert!(to_plain(&msgs[0].html).contains("<x><x>"));
        assert!(msgs[0].html.contains('…'));
    }

    #[test]
    fn big_batches_use_the_compact_layout() {
        let alerts: Vec<Alert> = (0..500)
            .map(|i| {
                let mut a = alert(&format!("Alert{i}"), "firing", &format!("fp{i}"));
                a.labels.insert("agent".into(), format!("web{i}"));
                a.labels.insert("severity".into(), "warning".into());
                a.annotations
                    .insert("summary".into(), format!("disk {i} <full>"));
                a.generator_url = "http://prom/graph?g0.expr=up".into();
                a
            })
            .collect();
        let msgs = render(&alerts, 0, NOW, Layout::default());
        assert!(msgs.len() <= 15, "{} messages", msgs.len());
        let plain = to_plain(&msgs[0].html);
        assert!(
            plain.contains("🟠 Alert0 · warning · web0 — disk 0 <full>\nsince "),
            "{plain}"
        );
        assert_eq!(msgs.iter().map(|m| m.firing.len()).sum::<usize>(), 500);
    }

    #[test]
    fn coalescing_keeps_the_newest_state() {
        let n1 = Notification {
            alerts: vec![alert("A", "firing", "a"), alert("B", "firing", "b")],
            ..Default::default()
        };
        let n2 = Notification {
            alerts: vec![alert("A", "resolved", "a"), alert("C", "firing", "c")],
            truncated_alerts: 2,
            ..Default::default()
        };
        let (alerts, truncated) = coalesce(&[n1, n2]);
        assert_eq!(truncated, 2);
        let states: Vec<(&str, &str)> = alerts
            .iter()
            .map(|a| (a.name(), a.status.as_str()))
            .collect();
        assert_eq!(
            states,
            vec![("A", "resolved"), ("B", "firing"), ("C", "firing")]
        );
        let msgs = render(&alerts, truncated, NOW, Layout::default());
        assert_eq!(msgs.len(), 1);
        let plain = to_plain(&msgs[0].html);
        assert!(plain.find("FIRING (2)").unwrap() < plain.find("RESOLVED (1)").unwrap());
        assert!(plain.ends_with("+2 more alert(s) not shown"));
    }
}
