//! Inline keyboards: the Bot API's `reply_markup` JSON for rows of
//! [`Button`]s, and which buttons go under an alert message.
//!
//! A message showing one firing alert gets one row (silence 1h, silence
//! 24h, chart, "I'm on it") acting on it; an acknowledgement relabels its
//! button ([`mark_taken`]). A message of numbered alerts (a grouped
//! notification, see [`super::message`]) gets one such row per firing
//! alert it shows, each label starting with the alert's number in the
//! text, for the first [`MAX_ROWS`] of them: more rows would be unusable on
//! a phone, and the message text says which alerts have none. Each button
//! names its own alert's fingerprint in its callback data, so pressing
//! "2. 🔕 1h" silences exactly alert 2.

use serde_json::{json, Value};

use super::message::Rendered;
use crate::chat::buttons::{alert_buttons, decode, Button};

/// Rows of alert buttons under one message at most.
pub const MAX_ROWS: usize = 10;

/// Telegram's limit on `callback_data`, in bytes.
const MAX_DATA: usize = 64;

/// The `reply_markup` of an inline keyboard with these rows (empty rows
/// left out); `None` when there is no button at all.
pub fn inline(rows: &[Vec<Button>]) -> Option<Value> {
    let rows: Vec<Value> = rows
        .iter()
        .filter(|r| !r.is_empty())
        .map(|r| {
            r.iter()
                .map(|b| json!({"text": b.text, "callback_data": b.data}))
                .collect()
        })
        .collect();
    (!rows.is_empty()).then(|| json!({ "inline_keyboard": rows }))
}

/// The button rows under an alert message: one per firing alert it shows
/// (numbered labels when the message numbers its alerts), at most
/// [`MAX_ROWS`]. An alert whose fingerprint cannot be callback data (not
/// hex, too long: never from Alertmanager) gets no row.
pub fn alert_rows(msg: &Rendered) -> Vec<Vec<Button>> {
    msg.numbered_firing()
        .take(MAX_ROWS)
        .filter_map(|(number, fp)| {
            let row: Vec<Button> = alert_buttons(fp)
                .into_iter()
                .map(|b| Button {
                    text: match number {
                        Some(n) => format!("{n}. {}", b.text),
                        None => b.text,
                    },
                    data: b.data,
                })
                .collect();
            row.iter()
                .all(|b| b.data.len() <= MAX_DATA && decode(&b.data).is_some())
                .then_some(row)
        })
        .collect()
}

/// The `reply_markup` under an alert message, if it gets buttons.
pub fn for_alerts(msg: &Rendered) -> Option<Value> {
    inline(&alert_rows(msg))
}

/// The keyboard `markup` with the acknowledge button of `fingerprint`
/// relabelled `label` (it stays pressable: a second press says who has
/// it); `None` when the keyboard has no such button.
pub fn mark_taken(markup: &Value, fingerprint: &str, label: &str) -> Option<Value> {
    let data = crate::chat::buttons::encode(&crate::chat::buttons::Action::Ack {
        fingerprint: fingerprint.to_string(),
    });
    let mut out = markup.clone();
    let mut found = false;
    for row in out["inline_keyboard"].as_array_mut()? {
        for b in row.as_array_mut().into_iter().flatten() {
            if b["callback_data"] == data.as_str() {
                // A grouped message numbers its rows: keep the number.
                let number = b["text"]
                    .as_str()
                    .and_then(|t| t.split_once(". "))
                    .filter(|(n, _)| n.chars().all(|c| c.is_ascii_digit()))
                    .map(|(n, _)| format!("{n}. "))
                    .unwrap_or_default();
                b["text"] = Value::String(format!("{number}{label}"));
                found = true;
            }
        }
    }
    found.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::message::{self, Layout};
    use crate::bridge::payload::Alert;
    use crate::chat::buttons::Action;

    fn alert(i: usize, status: &str) -> Alert {
        let mut a = Alert {
            status: status.into(),
            fingerprint: format!("{i:016x}"),
            starts_at: "2026-11-22T05:00:00Z".into(),
            ..Default::default()
        };
        a.labels.insert("alertname".into(), format!("Alert{i}"));
        a
    }

    fn data(row: &[Button]) -> Vec<&str> {
        row.iter().map(|b| b.data.as_str()).collect()
    }

    #[test]
    fn a_lone_firing_alert_gets_one_unnumbered_row() {
        let alerts = vec![alert(1, "firing"), alert(2, "resolved")];
        let msgs = message::render(&alerts, 0, 0, Layout::default());
        assert_eq!(msgs.len(), 1);
        let rows = alert_rows(&msgs[0]);
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0].iter().map(|b| b.text.as_str()).collect::<Vec<_>>(),
            vec!["🔕 1h", "🔕 24h", "📈 chart", "🙋 I'm on it"]
        );
        let markup = for_alerts(&msgs[0]).unwrap();
        let taken = mark_taken(
            &markup,
            &format!("{:016x}", 1),
            "🙋 @alice is on it (12:00)",
        )
        .unwrap();
        assert_eq!(
            taken["inline_keyboard"][0][3]["text"],
            "🙋 @alice is on it (12:00)"
        );
        assert_eq!(
            taken["inline_keyboard"][0][0],
            markup["inline_keyboard"][0][0]
        );
        assert!(mark_taken(&markup, "ffff", "x").is_none());
        assert!(!message::to_plain(&msgs[0].html).contains("1. "));
        let resolved = message::render(&alerts[1..], 0, 0, Layout::default());
        assert!(for_alerts(&resolved[0]).is_none());
        assert!(inline(&[]).is_none());
    }

    #[test]
    fn grouped_alerts_get_one_numbered_row_each() {
        let alerts: Vec<Alert> = (1..=3).map(|i| alert(i, "firing")).collect();
        let msgs = message::render(&alerts, 0, 0, Layout::default());
        assert_eq!(msgs.len(), 1);
        let plain = message::to_plain(&msgs[0].html);
        for i in 1..=3 {
            assert!(plain.contains(&format!("{i}. ⚪ Alert{i}")), "{plain}");
        }
        let rows = alert_rows(&msgs[0]);
        assert_eq!(rows.len(), 3);
        for (i, row) in rows.iter().enumerate() {
            let n = i + 1;
            assert!(row.iter().all(|b| b.text.starts_with(&format!("{n}. "))));
            assert_eq!(
                data(row),
                vec![
                    format!("s1:{n:016x}"),
                    format!("s24:{n:016x}"),
                    format!("c:{n:016x}"),
                    format!("a:{n:016x}")
                ]
            );
            // Each button acts on its own alert.
            assert_eq!(
                decode(&row[0].data),
                Some(Action::Silence {
                    fingerprint: format!("{n:016x}"),
                    hours: 1
                })
            );
        }
        let markup = for_alerts(&msgs[0]).unwrap();
        assert_eq!(markup["inline_keyboard"].as_array().unwrap().len(), 3);
        assert_eq!(markup["inline_keyboard"][1][0]["text"], "2. 🔕 1h");
    }

    #[test]
    fn rows_stop_at_ten_and_the_message_says_so() {
        let alerts: Vec<Alert> = (1..=12).map(|i| alert(i, "firing")).collect();
        let msgs = message::render(&alerts, 0, 0, Layout::default());
        assert_eq!(msgs.len(), 1);
        let rows = alert_rows(&msgs[0]);
        assert_eq!(rows.len(), MAX_ROWS);
        assert!(rows[9][0].text.starts_with("10. "));
        let all: Vec<&str> = rows.iter().flat_map(|r| data(r)).collect();
        assert!(!all.iter().any(|d| d.ends_with(&format!("{:016x}", 11))));
        assert!(all.iter().all(|d| !d.is_empty() && d.len() <= 64));
        let plain = message::to_plain(&msgs[0].html);
        assert!(
            plain.contains("Buttons for 1–10 only; use /silence for the others."),
            "{plain}"
        );
        // Ten or fewer: no such note.
        let ten = message::render(&alerts[..10], 0, 0, Layout::default());
        assert!(!message::to_plain(&ten[0].html).contains("Buttons for"));
    }

    #[test]
    fn numbers_continue_across_split_messages() {
        let alerts: Vec<Alert> = (1..=40)
            .map(|i| {
                let mut a = alert(i, "firing");
                a.annotations.insert("summary".into(), "x".repeat(150));
                a
            })
            .collect();
        let layout = Layout {
            max_visible: 1500,
            max_messages: 100,
        };
        let msgs = message::render(&alerts, 0, 0, layout);
        assert!(msgs.len() > 2);
        let mut next = 1;
        for m in &msgs {
            assert_eq!(m.first_number, Some(next));
            let rows = alert_rows(m);
            assert_eq!(rows.len(), m.firing.len().min(MAX_ROWS));
            assert!(rows[0][0].text.starts_with(&format!("{next}. ")));
            assert!(message::to_plain(&m.html).contains(&format!("{next}. ")));
            assert!(message::visible_len(&m.html) <= 1500);
            next += m.firing.len();
        }
        assert_eq!(next, 41);
    }

    #[test]
    fn odd_fingerprints_get_no_buttons() {
        let mut a = alert(1, "firing");
        a.fingerprint = "not-hex".into();
        let msgs = message::render(&[a], 0, 0, Layout::default());
        assert!(for_alerts(&msgs[0]).is_none());
    }
}
