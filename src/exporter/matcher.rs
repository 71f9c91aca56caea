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

impl DeviceFilter {
    pub fn ignored(&self, device: &str) -> bool {
        self.include.as_ref().is_some_and(|re| !re.is_match(device))
            || self.exclude.as_ref().is_some_and(|re| re.is_match(device))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn remembered_answers_equal_fresh_ones() {
        let m = super::Matcher::new("^(a|b)x$").unwrap();
        for _ in 0..2 {
            assert!(m.is_match("ax"));
            assert!(!m.is_match("cx"));
        }
    }
}
