//! A regular expression that remembers its answers.
//!
//! Collectors filter the same few hundred names (netstat fields, mount
//! points, devices) on every scrape. Running a backtracking-free regex VM on
//! each was the single largest CPU cost of a scrape; the names barely
//! change, so the answer per name is computed once and remembered.

use std::sync::{Arc, Mutex};

use regex_lite::Regex;

use super::fasthash::FastMap;

/// The most names remembered; past it, answers are computed but not kept.
const MEMO_LIMIT: usize = 8192;

#[derive(Clone)]
pub struct Matcher {
    /// The pattern as given (`re` may be its rewrite without captures).
    pattern: Arc<str>,
    re: Regex,
    memo: Arc<Mutex<FastMap<String, bool>>>,
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Matcher({:?})", self.pattern)
    }
}

impl Matcher {
    pub fn new(pattern: &str) -> Result<Self, regex_lite::Error> {
        let re = Regex::new(pattern)?;
        let re = match without_captures(pattern) {
            Some((rewritten, groups)) if groups + 1 == re.captures_len() => {
                match Regex::new(&rewritten) {
                    Ok(plain) if plain.captures_len() == 1 => plain,
                    _ => re,
                }
            }
            _ => re,
        };
        Ok(Matcher {
            pattern: pattern.into(),
            re,
            memo: Arc::default(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    pub fn is_match(&self, s: &str) -> bool {
        let mut memo = self.memo.lock().expect("matcher memo lock");
        if let Some(&hit) = memo.get(s) {
            return hit;
        }
        let hit = self.re.is_match(s);
        if memo.len() < MEMO_LIMIT {
            memo.insert(s.to_owned(), hit);
        }
        hit
    }
}

/// `pattern` with every capturing group made non-capturing (`(a|b)` and
/// `(?P<n>a)` as `(?:a|b)`, `(?:a)`), and how many it rewrote; `None` when
/// it has none. Escapes and character classes are copied as they are.
///
/// Decisions: a filter only asks whether a name matches, but regex_lite's
/// search cache keeps two slots per group for every state of the pattern.
/// node_exporter's default netstat field pattern has 13 groups: its cache
/// was ~94 KB, kept for the process's life, where the same pattern
/// without captures needs a tenth of that. Matching is the same (groups
/// only record where they matched; regex_lite has no backreferences).
/// [`Matcher::new`] uses the rewrite only when it rewrote exactly the
/// groups the regex parser counted and the result compiles.
fn without_captures(pattern: &str) -> Option<(String, usize)> {
    let b = pattern.as_bytes();
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut groups = 0;
    let mut i = 0;
    // Start of the literal text not yet copied to `out`.
    let mut copied = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'[' => {
                // A class: `]` right after `[` or `[^` is a literal; nested
                // classes (`[[:alpha:]]`, `[a&&[^b]]`) open with `[`.
                let mut depth = 0;
                loop {
                    if i >= b.len() {
                        return None;
                    }
                    match b[i] {
                        b'\\' => i += 2,
                        b'[' => {
                            depth += 1;
                            i += 1;
                            if b.get(i) == Some(&b'^') {
                                i += 1;
                            }
                            if b.get(i) == Some(&b']') {
                                i += 1;
                            }
                        }
                        b']' => {
                            depth -= 1;
                            i += 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => i += 1,
                    }
                }
            }
            b'(' => {
                let rest = &pattern[i + 1..];
                let skip = if rest.starts_with("?P<")
                    || (rest.starts_with("?<") && !rest[2..].starts_with(['=', '!']))
                {
                    // A named group: drop `?P<name>` / `?<name>`.
                    1 + rest.find('>')? + 1
                } else if rest.starts_with('?') {
                    // `(?:`, `(?i)`, `(?i:`: not a capture.
                    i += 1;
                    continue;
                } else {
                    1
                };
                out.push_str(&pattern[copied..i]);
                out.push_str("(?:");
                groups += 1;
                i += skip;
                copied = i;
            }
            _ => i += 1,
        }
    }
    if groups == 0 {
        return None;
    }
    out.push_str(pattern.get(copied..)?);
    Some((out, groups))
}

/// node_exporter's device filter: a device is ignored when it fails the
/// include pattern or matches the exclude pattern (flags such as
/// `--collector.netdev.device-include` / `-exclude`).
#[derive(Clone, Debug, Default)]
pub struct DeviceFilter {
    pub include: Option<Matcher>,
    pub exclude: Option<Matcher>,
}

/// Why a pair of include/exclude flags cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FilterError {
    #[error("invalid regular expression {pattern:?}: {reason}")]
    Regex {
        pattern: String,
        reason: String,
        /// Whether the include pattern (else the exclude one) is at fault.
        include: bool,
    },
    #[error("the include and exclude patterns are mutually exclusive")]
    Both,
}

impl DeviceFilter {
    /// From a pair of include/exclude flags as node_exporter 1.12 reads the
    /// filesystem collector's: an `exclude` given explicitly (`Some`, even
    /// empty) replaces `default_exclude`; an `include` without an explicit
    /// exclude drops the default; both non-empty is an error. An empty
    /// pattern is no filter.
    pub fn from_flags(
        include: &str,
        exclude: Option<&str>,
        default_exclude: &str,
    ) -> Result<Self, FilterError> {
        let exclude = match exclude {
            Some(e) => e,
            None if !include.is_empty() => "",
            None => default_exclude,
        };
        Self::strict(include, exclude)
    }

    /// From include/exclude patterns where both non-empty is an error
    /// (node_exporter's diskstats, whose default exclude must be emptied
    /// explicitly to use an include); empty means no filter.
    pub fn strict(include: &str, exclude: &str) -> Result<Self, FilterError> {
        if !include.is_empty() && !exclude.is_empty() {
            return Err(FilterError::Both);
        }
        let at = |include| {
            move |e| match e {
                FilterError::Regex {
                    pattern, reason, ..
                } => FilterError::Regex {
                    pattern,
                    reason,
                    include,
                },
                other => other,
            }
        };
        Ok(DeviceFilter {
            include: optional(include).map_err(at(true))?,
            exclude: optional(exclude).map_err(at(false))?,
        })
    }

    pub fn ignored(&self, device: &str) -> bool {
        self.include.as_ref().is_some_and(|re| !re.is_match(device))
            || self.exclude.as_ref().is_some_and(|re| re.is_match(device))
    }
}

/// A pattern, or none when empty.
pub fn optional(pattern: &str) -> Result<Option<Matcher>, FilterError> {
    if pattern.is_empty() {
        return Ok(None);
    }
    Matcher::new(pattern)
        .map(Some)
        .map_err(|e| FilterError::Regex {
            pattern: pattern.to_owned(),
            reason: e.to_string(),
            include: false,
        })
}

#[cfg(test)]
mod tests {
    use super::{DeviceFilter, FilterError};

    #[test]
    fn include_and_exclude_flags_combine_like_node_exporter() {
        // Neither flag: the default exclude.
        let f = DeviceFilter::from_flags("", None, "^/proc").unwrap();
        assert!(f.ignored("/proc") && !f.ignored("/home"));
        // An include alone drops the default exclude.
        let f = DeviceFilter::from_flags("^/(proc|home)$", None, "^/proc").unwrap();
        assert!(!f.ignored("/proc") && !f.ignored("/home") && f.ignored("/srv"));
        // An explicit exclude replaces the default.
        let f = DeviceFilter::from_flags("", Some("^/srv"), "^/proc").unwrap();
        assert!(!f.ignored("/proc") && f.ignored("/srv"));
        assert_eq!(
            DeviceFilter::from_flags("^/home", Some("^/srv"), "^/proc").unwrap_err(),
            FilterError::Both
        );
        // An explicitly empty exclude with an include is fine.
        assert!(DeviceFilter::from_flags("^/home", Some(""), "^/proc").is_ok());
        assert_eq!(
            DeviceFilter::strict("^sd", "^sdb").unwrap_err(),
            FilterError::Both
        );
        assert!(matches!(
            DeviceFilter::strict("(", "").unwrap_err(),
            FilterError::Regex { include: true, .. }
        ));
        assert!(matches!(
            DeviceFilter::from_flags("", Some("("), "").unwrap_err(),
            FilterError::Regex { include: false, .. }
        ));
    }

    #[test]
    fn patterns_lose_their_captures_but_match_the_same() {
        use super::without_captures;
        assert_eq!(
            without_captures("^(a|b)x(?P<n>c)(?<m>d)$").unwrap(),
            ("^(?:a|b)x(?:c)(?:d)$".to_owned(), 3)
        );
        // Escaped parentheses, parentheses in classes and non-capturing
        // groups stay as they are.
        assert_eq!(
            without_captures(r"\(x\)[(][]()][^]()][[:alpha:](](?i:y)(?:z)"),
            None
        );
        assert_eq!(
            without_captures(r"[\]](q)").unwrap(),
            (r"[\]](?:q)".to_owned(), 1)
        );
        // node_exporter's default netstat fields, and patterns of every
        // shape above: the same answers with and without captures.
        let patterns = [
            "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts|TCPOFOQueue|TCPRcvQDrop)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$",
            "^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\\d+n\\d+p)\\d+$",
            r"^([(]x|[]]y|\(z)$",
            "^(?i)(A|b)+$",
        ];
        let names = [
            "Tcp_InSegs",
            "TcpExt_ListenDrops",
            "Ip6_InOctets",
            "Udp_InErrors",
            "Udp_Foo",
            "ram0",
            "sda1",
            "sda",
            "nvme0n1p2",
            "xvda3",
            "(x",
            "]y",
            "(z",
            "x",
            "aB",
            "ab",
            "c",
            "",
        ];
        for p in patterns {
            let with = regex_lite::Regex::new(p).unwrap();
            let m = super::Matcher::new(p).unwrap();
            assert_eq!(m.as_str(), p);
            assert_eq!(m.re.captures_len(), 1, "{p}");
            for n in names {
                assert_eq!(m.is_match(n), with.is_match(n), "{p} on {n}");
            }
        }
    }

    #[test]
    fn remembered_answers_equal_fresh_ones() {
        let m = super::Matcher::new("^(a|b)x$").unwrap();
        for _ in 0..2 {
            assert!(m.is_match("ax"));
            assert!(!m.is_match("cx"));
        }
    }
}
