//! A secret string (the bot token, the webhook token) that cannot print
//! itself: `Debug` and `Display` show `**REDACTED**`, and [`redact`]
//! scrubs it out of any text that might have picked it up (an error from
//! the HTTP client names the URL, and the bot token is part of that URL).

use std::fmt;

/// What a secret prints as.
pub const REDACTED: &str = "**REDACTED**";

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares with `candidate` in time independent of where they differ.
    pub fn matches(&self, candidate: &str) -> bool {
        use subtle::ConstantTimeEq;
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        // Lengths are compared openly: a token's length is not the secret.
        a.len() == b.len() && bool::from(a.ct_eq(b))
    }

    /// `text` with every occurrence of the secret replaced by `**REDACTED**`.
    pub fn redact(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_owned()
        } else {
            text.replace(&self.0, REDACTED)
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_itself() {
        let s = Secret::new("123:ABC");
        assert_eq!(
            format!("{s} {s:?} {:?}", Some(&s)),
            "**REDACTED** **REDACTED** Some(**REDACTED**)"
        );
        assert_eq!(
            s.redact("url /bot123:ABC/sendMessage"),
            "url /bot**REDACTED**/sendMessage"
        );
        assert!(s.matches("123:ABC"));
        assert!(!s.matches("123:ABD"));
        assert!(!s.matches("123:AB"));
    }
}
