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
    re: Regex,
    memo: Arc<Mutex<FastMap<String, bool>>>,
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Matcher({:?})", self.re.as_str())
    }
}

impl Matcher {
    pub fn new(pattern: &str) -> Result<Self, regex_lite::Error> {
        Ok(Matcher {
            re: Regex::new(pattern)?,
            memo: Arc::default(),
        })
    }

    pub fn as_str(&self) -> &str {
        self.re.as_str()
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
    fn remembered_answers_equal_fresh_ones() {
        let m = super::Matcher::new("^(a|b)x$").unwrap();
        for _ in 0..2 {
            assert!(m.is_match("ax"));
            assert!(!m.is_match("cx"));
        }
    }
}
