//! A secret string (the bot token, the webhook token) that cannot print
//! itself: `Debug` and `Display` show `**REDACTED**`, and [`Secret::redact`]
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

    /// `text` with every occurrence of the secret replaced by `**REDACTED**`,
    /// also where it appears percent-encoded (a server echoing a request
    /// path may encode the bot token's `:` as `%3A`).
    pub fn redact(&self, text: &str) -> String {
        if self.0.is_empty() {
            return text.to_owned();
        }
        let mut out = text.replace(&self.0, REDACTED);
        for colon in ["%3A", "%3a"] {
            let encoded = self.0.replace(':', colon);
            if encoded != self.0 {
                out = out.replace(&encoded, REDACTED);
            }
        }
        out
    }
}

/// `url` with any userinfo (`user:password@`) replaced by `**REDACTED**`,
/// for logging a configured URL.
pub fn redact_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{REDACTED}@{}", &rest[at + 1..]),
        None => url.to_owned(),
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
        assert_eq!(s.redact("/bot123%3aABC/x"), "/bot**REDACTED**/x");
        assert_eq!(
            redact_userinfo("https://u:p%40ss@proxy:8443/tg?x=@"),
            "https://**REDACTED**@proxy:8443/tg?x=@"
        );
        assert_eq!(
            redact_userinfo("https://api.telegram.org"),
            "https://api.telegram.org"
        );
        assert!(s.matches("123:ABC"));
        assert!(!s.matches("123:ABD"));
        assert!(!s.matches("123:AB"));
    }
}
