//! Inline buttons: what a button does ([`Action`]) and its `callback_data`
//! encoding (Telegram allows 1–64 bytes). The data only names an alert by
//! its Alertmanager fingerprint or a silence by id: the labels to silence and
//! the expression to chart are looked up in Alertmanager when the button is
//! pressed, because a client can send any callback data it likes.
//!
//! Format: `s1:<fp>` / `s24:<fp>` silence the alert for 1 h / 24 h,
//! `u:<silence-id>` undoes (expires) a silence, `c:<fp>` charts the alert's
//! expression over the last hour, `a:<fp>` acknowledges it ("I'm on
//! it"), `k:<token>` / `x:<token>` confirm or cancel what a command
//! asked to confirm. `<fp>` is 1–32 hex digits.

use super::commands::is_silence_id;
use super::confirm::is_token;

/// A button shown under a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    /// Label shown to the user.
    pub text: String,
    /// `callback_data`, see [`encode`].
    pub data: String,
}

/// What pressing a button does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Silence the alert with this fingerprint for `hours`.
    Silence { fingerprint: String, hours: u32 },
    /// Expire a silence created by a button or `/silence`.
    Undo { silence_id: String },
    /// Chart the alert's own expression over the last hour.
    Chart { fingerprint: String },
    /// Run what a command asked to confirm ([`super::confirm`]).
    Confirm { token: String },
    /// Drop what a command asked to confirm.
    Cancel { token: String },
    /// "I'm on it": acknowledge the alert (stops its escalation).
    Ack { fingerprint: String },
}

impl Action {
    /// The least role that may press it: the same as the command it
    /// stands for (silencing is an operator's; a chart is anyone's).
    pub fn role(&self) -> super::roles::Role {
        use super::roles::Role;
        match self {
            Action::Silence { .. } | Action::Undo { .. } | Action::Ack { .. } => Role::Operator,
            Action::Chart { .. } => Role::Viewer,
            // Checked against the asker and the pending action's own role.
            Action::Confirm { .. } | Action::Cancel { .. } => Role::Viewer,
        }
    }
}

/// Silence lengths offered as buttons.
pub const SILENCE_HOURS: [u32; 2] = [1, 24];

pub fn encode(action: &Action) -> String {
    match action {
        Action::Silence { fingerprint, hours } => format!("s{hours}:{fingerprint}"),
        Action::Undo { silence_id } => format!("u:{silence_id}"),
        Action::Chart { fingerprint } => format!("c:{fingerprint}"),
        Action::Confirm { token } => format!("k:{token}"),
        Action::Cancel { token } => format!("x:{token}"),
        Action::Ack { fingerprint } => format!("a:{fingerprint}"),
    }
}

pub fn decode(data: &str) -> Option<Action> {
    let (kind, arg) = data.split_once(':')?;
    let fp_ok = !arg.is_empty() && arg.len() <= 32 && arg.chars().all(|c| c.is_ascii_hexdigit());
    match kind {
        "c" if fp_ok => Some(Action::Chart {
            fingerprint: arg.to_string(),
        }),
        "k" if is_token(arg) => Some(Action::Confirm {
            token: arg.to_string(),
        }),
        "x" if is_token(arg) => Some(Action::Cancel {
            token: arg.to_string(),
        }),
        "a" if fp_ok => Some(Action::Ack {
            fingerprint: arg.to_string(),
        }),
        "u" if is_silence_id(arg) => Some(Action::Undo {
            silence_id: arg.to_ascii_lowercase(),
        }),
        _ => {
            let hours: u32 = kind.strip_prefix('s')?.parse().ok()?;
            (fp_ok && SILENCE_HOURS.contains(&hours)).then(|| Action::Silence {
                fingerprint: arg.to_string(),
                hours,
            })
        }
    }
}

fn button(text: &str, action: Action) -> Button {
    Button {
        text: text.to_string(),
        data: encode(&action),
    }
}

/// The Confirm / Cancel row under a reply that asks for confirmation.
pub fn confirm_buttons(token: &str) -> Vec<Button> {
    vec![
        button(
            "✅ Confirm",
            Action::Confirm {
                token: token.to_string(),
            },
        ),
        button(
            "✖ Cancel",
            Action::Cancel {
                token: token.to_string(),
            },
        ),
    ]
}

/// The row of buttons for one firing alert under an alert message (the
/// bridge's `keyboard` puts one row per alert, numbering the labels in a
/// grouped message).
pub fn alert_buttons(fingerprint: &str) -> Vec<Button> {
    let fp = || fingerprint.to_string();
    vec![
        button(
            "🔕 1h",
            Action::Silence {
                fingerprint: fp(),
                hours: 1,
            },
        ),
        button(
            "🔕 24h",
            Action::Silence {
                fingerprint: fp(),
                hours: 24,
            },
        ),
        button("📈 chart", Action::Chart { fingerprint: fp() }),
        button(ON_IT, Action::Ack { fingerprint: fp() }),
    ]
}

/// The label of the acknowledge button.
pub const ON_IT: &str = "🙋 I'm on it";

/// The button under a "silenced" reply.
pub fn undo_button(silence_id: &str) -> Button {
    button(
        "↩️ undo",
        Action::Undo {
            silence_id: silence_id.to_string(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_size() {
        let id = "0f9a8b7c-1d2e-4f30-8a9b-0c1d2e3f4a5b";
        for a in [
            Action::Silence {
                fingerprint: "a1b2c3d4e5f60718".into(),
                hours: 1,
            },
            Action::Silence {
                fingerprint: "a1b2c3d4e5f60718".into(),
                hours: 24,
            },
            Action::Undo {
                silence_id: id.into(),
            },
            Action::Chart {
                fingerprint: "ffffffffffffffffffffffffffffffff".into(),
            },
            Action::Confirm {
                token: "0123456789abcdef".into(),
            },
            Action::Cancel {
                token: "0123456789abcdef".into(),
            },
            Action::Ack {
                fingerprint: "a1b2c3d4e5f60718".into(),
            },
        ] {
            let d = encode(&a);
            assert!(!d.is_empty() && d.len() <= 64, "{d}");
            assert_eq!(decode(&d), Some(a));
        }
        for b in alert_buttons("a1b2c3d4e5f60718") {
            assert!(decode(&b.data).is_some());
        }
    }

    #[test]
    fn forged_data_is_refused() {
        for d in [
            "",
            "s2:abcd",
            "s1:",
            "s1:xyz",
            "c:abc/../..",
            "u:not-a-uuid",
            "x:abcd",
            "k:0123456789ABCDEF",
            "k:0123456789abcdef0",
            "s:abcd",
            "c:000000000000000000000000000000000",
            "a:not-hex",
        ] {
            assert_eq!(decode(d), None, "{d}");
        }
    }
}
