//! FNV-1a, a small unkeyed hash for maps whose keys this process builds
//! itself (paths it opens, metric names, kernel keys).
//!
//! The standard library's SipHash resists hash flooding by untrusted keys;
//! these keys come from the kernel and our own code, and hashing them is on
//! every scrape's path, where SipHash cost more than the lookups it served.

use std::hash::{BuildHasherDefault, Hasher};

#[derive(Default)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}

pub type BuildFnv = BuildHasherDefault<Fnv>;
pub type FnvMap<K, V> = std::collections::HashMap<K, V, BuildFnv>;
pub type FnvSet<K> = std::collections::HashSet<K, BuildFnv>;

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    #[test]
    fn equal_keys_hash_equal_and_different_keys_differ() {
        let b = super::BuildFnv::default();
        assert_eq!(
            b.hash_one("node_netstat_Tcp_InSegs"),
            b.hash_one("node_netstat_Tcp_InSegs")
        );
        assert_ne!(
            b.hash_one("node_netstat_Tcp_InSegs"),
            b.hash_one("node_netstat_Tcp_OutSegs")
        );
    }
}
