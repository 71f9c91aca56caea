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

mod table;
pub use table::{Pass, TableMemo};

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

/// A kernel key made fit for a metric name, as node_exporter's
/// `SanitizeMetricName`: each run of characters other than ASCII letters,
/// digits and `_`, with the underscores around it, becomes one `_`.
pub fn sanitize(key: &str) -> Cow<'_, str> {
    if key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Cow::Borrowed(key);
    }
    let mut out = String::with_capacity(key.len());
    let mut chars = key.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_alphanumeric() || c == '_' {
            // Underscores directly before an invalid run join it.
            if c == '_' {
                let mut run = 1;
                while chars.peek() == Some(&'_') {
                    chars.next();
                    run += 1;
                }
                if chars
                    .peek()
                    .is_some_and(|n| !n.is_ascii_alphanumeric() && *n != '_')
                {
                    continue;
                }
                out.extend(std::iter::repeat_n('_', run));
                continue;
            }
            out.push(c);
            continue;
        }
        while chars
            .peek()
            .is_some_and(|n| !n.is_ascii_alphanumeric() && *n != '_')
        {
            chars.next();
        }
        while chars.peek() == Some(&'_') {
            chars.next();
        }
        out.push('_');
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod sanitize_tests {
    #[test]
    fn invalid_runs_and_their_underscores_become_one() {
        use super::sanitize;
        assert_eq!(sanitize("rx_bytes"), "rx_bytes");
        assert_eq!(sanitize("rx-queue.0_bytes"), "rx_queue_0_bytes");
        assert_eq!(sanitize("a__-__b"), "a_b");
        assert_eq!(sanitize("tx__pkts"), "tx__pkts");
        assert_eq!(sanitize("port.rx-64"), "port_rx_64");
        assert_eq!(sanitize("(x)"), "_x_");
        assert_eq!(sanitize("a-_-b"), "a__b");
    }
}
