//! Per-key answers for a kernel table whose keys come in the same order on
//! every read.
//!
//! `/proc/net/netstat`, `/proc/vmstat` and `/proc/meminfo` list the same
//! few hundred keys in the same order on every scrape. Their collectors
//! decide per key whether to export it (a regex filter) and under which
//! name and help text. [`TableMemo`] keeps the previous scrape's keys in
//! order with their answers, so a scrape compares each key with the one
//! remembered at its position (one short `memcmp`) instead of looking it
//! up in the filter's and the name table's maps (a lock and a hash each).
//!
//! Decisions: the first key that differs from the remembered one (a module
//! loaded, a kernel update) drops the answers from there on and computes
//! them afresh, so a changed table costs what it did before, once. Keys
//! are kept in one string, so remembering a table allocates a few blocks,
//! not one per key.

/// The answers of the last pass over a table, in its key order.
#[derive(Debug)]
pub struct TableMemo<T> {
    /// The keys, one after the other; key `i` ends at `ends[i]`.
    keys: String,
    ends: Vec<u32>,
    answers: Vec<T>,
}

impl<T> Default for TableMemo<T> {
    fn default() -> Self {
        TableMemo {
            keys: String::new(),
            ends: Vec::new(),
            answers: Vec::new(),
        }
    }
}

impl<T> TableMemo<T> {
    /// Starts a pass over the table's keys, in order.
    pub fn pass(&mut self) -> Pass<'_, T> {
        Pass { memo: self, at: 0 }
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn key(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.keys[start..self.ends[i] as usize]
    }

    fn truncate(&mut self, n: usize) {
        if n < self.ends.len() {
            let end = if n == 0 { 0 } else { self.ends[n - 1] as usize };
            self.keys.truncate(end);
            self.ends.truncate(n);
            self.answers.truncate(n);
        }
    }
}

/// One pass over a table: [`Pass::answer`] for each key in order. Keys
/// remembered past the last one asked for are forgotten when it ends.
pub struct Pass<'m, T> {
    memo: &'m mut TableMemo<T>,
    at: usize,
}

impl<T> Pass<'_, T> {
    /// The answer for `key`, the next key of the table: the remembered one
    /// when the last pass had the same key here, else `compute(key)`.
    pub fn answer(&mut self, key: &str, compute: impl FnOnce(&str) -> T) -> &T {
        let at = self.at;
        self.at += 1;
        let memo = &mut *self.memo;
        if at >= memo.len() || memo.key(at) != key {
            memo.truncate(at);
            memo.keys.push_str(key);
            memo.ends.push(memo.keys.len() as u32);
            memo.answers.push(compute(key));
        }
        &memo.answers[at]
    }
}

impl<T> Drop for Pass<'_, T> {
    fn drop(&mut self) {
        self.memo.truncate(self.at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One pass over `keys`, counting the answers computed.
    fn pass(memo: &mut TableMemo<String>, keys: &[&str], computed: &mut usize) -> Vec<String> {
        let mut pass = memo.pass();
        keys.iter()
            .map(|k| {
                pass.answer(k, |k| {
                    *computed += 1;
                    k.to_uppercase()
                })
                .clone()
            })
            .collect()
    }

    #[test]
    fn the_same_keys_are_answered_from_memory() {
        let mut memo = TableMemo::default();
        let mut computed = 0;
        assert_eq!(
            pass(&mut memo, &["a", "bb", "c"], &mut computed),
            ["A", "BB", "C"]
        );
        assert_eq!(computed, 3);
        assert_eq!(
            pass(&mut memo, &["a", "bb", "c"], &mut computed),
            ["A", "BB", "C"]
        );
        assert_eq!(computed, 3);
    }

    #[test]
    fn a_changed_key_is_answered_afresh_from_there_on() {
        let mut memo = TableMemo::default();
        let mut computed = 0;
        pass(&mut memo, &["a", "b", "c", "d"], &mut computed);
        // A key inserted: it and the ones after it are computed again.
        let got = pass(&mut memo, &["a", "x", "b", "c", "d"], &mut computed);
        assert_eq!(got, ["A", "X", "B", "C", "D"]);
        assert_eq!(computed, 4 + 4);
        // A key that is a prefix of the remembered one is not the same.
        let got = pass(&mut memo, &["a", "xy", "b", "c", "d"], &mut computed);
        assert_eq!(got, ["A", "XY", "B", "C", "D"]);
        assert_eq!(computed, 8 + 4);
        // A shorter table: the keys past its end are forgotten.
        assert_eq!(pass(&mut memo, &["a"], &mut computed), ["A"]);
        assert_eq!(memo.len(), 1);
        assert_eq!(pass(&mut memo, &["a", "b"], &mut computed), ["A", "B"]);
        assert_eq!(computed, 12 + 1);
        // An empty pass forgets everything.
        pass(&mut memo, &[], &mut computed);
        assert!(memo.is_empty());
    }
}
