//! A small unkeyed hash for maps whose keys this process builds itself
//! (paths it opens, metric names, kernel keys).
//!
//! The standard library's SipHash resists hash flooding by untrusted keys;
//! these keys come from the kernel and our own code, and hashing them is on
//! every scrape's path, where SipHash cost more than the lookups it served.
//! This is the multiply-rotate word hash rustc uses internally ("FxHash"),
//! taking eight bytes per step.

use std::hash::{BuildHasherDefault, Hasher};

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

#[derive(Default)]
pub struct FastHasher(u64);

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("eight bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            // The length in the top bits keeps "ab" and "ab\0" apart.
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

pub type BuildFast = BuildHasherDefault<FastHasher>;
pub type FastMap<K, V> = std::collections::HashMap<K, V, BuildFast>;
pub type FastSet<K> = std::collections::HashSet<K, BuildFast>;

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    #[test]
    fn equal_keys_hash_equal_and_different_keys_differ() {
        let b = super::BuildFast::default();
        let h = |s: &str| b.hash_one(s);
        assert_eq!(h("node_netstat_Tcp_InSegs"), h("node_netstat_Tcp_InSegs"));
        assert_ne!(h("node_netstat_Tcp_InSegs"), h("node_netstat_Tcp_OutSegs"));
        // Keys differing only past a word boundary, or only in length.
        assert_ne!(h("abcdefgh1"), h("abcdefgh2"));
        assert_ne!(h("abc"), h("abc\0"));
    }
}
