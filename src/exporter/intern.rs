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
    let table = guard.get_or_insert_with(Table::default);
    table.scratch.clear();
    for p in parts {
        table.scratch.push_str(p);
    }
    if let Some(&kept) = table.texts.get(table.scratch.as_str()) {
        return Cow::Borrowed(kept);
    }
    if table.texts.len() >= LIMIT || table.bytes + table.scratch.len() > LIMIT_BYTES {
        return Cow::Owned(table.scratch.clone());
    }
    let kept: &'static str = Box::leak(table.scratch.clone().into_boxed_str());
    table.bytes += kept.len();
    table.texts.insert(kept);
    Cow::Borrowed(kept)
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
}
