//! Metric names and help texts built from kernel keys, made once.
//!
//! netstat, vmstat, meminfo, netdev and others name a family after each key
//! of a kernel table (`node_netstat_Tcp_InSegs`) and write its help text
//! around the same key. Formatting a thousand such strings per scrape was a
//! tenth of the scrape's CPU; a running kernel's keys do not change, so each
//! text is built once and kept for the life of the process. The number kept
//! is bounded: past [`LIMIT`] (a kernel has a few hundred keys), texts are
//! built per call as before.

use std::borrow::Cow;
use std::sync::Mutex;

use super::fasthash::FastSet;

/// The most texts kept, and the most bytes they may take.
const LIMIT: usize = 4096;
const LIMIT_BYTES: usize = 512 * 1024;

#[derive(Default)]
struct Table {
    texts: FastSet<&'static str>,
    bytes: usize,
    scratch: String,
}

static TABLE: Mutex<Option<Table>> = Mutex::new(None);

/// The concatenation of `parts`, as a `&'static str` when it is (or can
/// become) one of the kept texts.
pub fn concat(parts: &[&str]) -> Cow<'static, str> {
    let mut guard = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    guard
        .get_or_insert_with(Table::default)
        .concat(parts, LIMIT, LIMIT_BYTES)
}

impl Table {
    fn concat(&mut self, parts: &[&str], limit: usize, limit_bytes: usize) -> Cow<'static, str> {
        self.scratch.clear();
        for p in parts {
            self.scratch.push_str(p);
        }
        if let Some(&kept) = self.texts.get(self.scratch.as_str()) {
            return Cow::Borrowed(kept);
        }
        if self.texts.len() >= limit || self.bytes + self.scratch.len() > limit_bytes {
            return Cow::Owned(self.scratch.clone());
        }
        let kept: &'static str = Box::leak(self.scratch.clone().into_boxed_str());
        self.bytes += kept.len();
        self.texts.insert(kept);
        Cow::Borrowed(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_text_is_kept_once() {
        let a = concat(&["node_test_", "intern_", "a"]);
        let b = concat(&["node_test_intern", "_a"]);
        assert_eq!(a, "node_test_intern_a");
        match (a, b) {
            (Cow::Borrowed(x), Cow::Borrowed(y)) => assert!(std::ptr::eq(x, y)),
            other => panic!("not kept: {other:?}"),
        }
        assert_eq!(concat(&[]), "");
    }

    #[test]
    fn past_the_bound_texts_are_built_per_call() {
        let kept = |t: &Cow<'static, str>| matches!(t, Cow::Borrowed(_));
        let mut table = Table::default();
        for i in 0..3 {
            assert!(kept(&table.concat(&["t", &i.to_string()], 3, 100)));
        }
        let fourth = table.concat(&["t", "3"], 3, 100);
        assert!(!kept(&fourth));
        assert_eq!(fourth, "t3");
        // Texts kept before the table filled are still shared.
        assert!(kept(&table.concat(&["t0"], 3, 100)));
        // The byte bound holds too.
        let mut small = Table::default();
        assert!(kept(&small.concat(&["abcd"], 10, 6)));
        assert!(!kept(&small.concat(&["efgh"], 10, 6)));
    }
}
