//! `xfs`: per-filesystem XFS statistics from
//! `/sys/fs/xfs/<device>/stats/stats` (`node_xfs_*_total{device}`); the
//! global `/sys/fs/xfs/stats` is not a device and is skipped, as in
//! node_exporter.
//!
//! The file is `name value…` lines; the lines node_exporter exports are
//! `extent_alloc`, `abt`, `blk_map`, `bmbt`, `dir`, `ig`, `rw` and
//! `vnodes` (field meanings from the kernel's `xfs_stats.h`). Decisions:
//! other known-shaped lines are ignored (the kernel adds lines over time),
//! but a line that is not a name followed by unsigned numbers, or an
//! exported line with too few fields, fails the collector. No XFS mounted
//! exports nothing.

use crate::exporter::collector::{entries, read_if_present, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

/// Exported metrics: kernel line, field index, metric suffix, help.
const FIELDS: &[(&str, usize, &str, &str)] = &[
    ("extent_alloc", 0, "extent_allocation_extents_allocated_total", "Number of extents allocated for a filesystem."),
    ("extent_alloc", 1, "extent_allocation_blocks_allocated_total", "Number of blocks allocated for a filesystem."),
    ("extent_alloc", 2, "extent_allocation_extents_freed_total", "Number of extents freed for a filesystem."),
    ("extent_alloc", 3, "extent_allocation_blocks_freed_total", "Number of blocks freed for a filesystem."),
    ("abt", 0, "allocation_btree_lookups_total", "Number of allocation B-tree lookups for a filesystem."),
    ("abt", 1, "allocation_btree_compares_total", "Number of allocation B-tree compares for a filesystem."),
    ("abt", 2, "allocation_btree_records_inserted_total", "Number of allocation B-tree records inserted for a filesystem."),
    ("abt", 3, "allocation_btree_records_deleted_total", "Number of allocation B-tree records deleted for a filesystem."),
    ("blk_map", 0, "block_mapping_reads_total", "Number of block map for read operations for a filesystem."),
    ("blk_map", 1, "block_mapping_writes_total", "Number of block map for write operations for a filesystem."),
    ("blk_map", 2, "block_mapping_unmaps_total", "Number of block unmaps (deletes) for a filesystem."),
    ("blk_map", 3, "block_mapping_extent_list_insertions_total", "Number of extent list insertions for a filesystem."),
    ("blk_map", 4, "block_mapping_extent_list_deletions_total", "Number of extent list deletions for a filesystem."),
    ("blk_map", 5, "block_mapping_extent_list_lookups_total", "Number of extent list lookups for a filesystem."),
    ("blk_map", 6, "block_mapping_extent_list_compares_total", "Number of extent list compares for a filesystem."),
    ("bmbt", 0, "block_map_btree_lookups_total", "Number of block map B-tree lookups for a filesystem."),
    ("bmbt", 1, "block_map_btree_compares_total", "Number of block map B-tree compares for a filesystem."),
    ("bmbt", 2, "block_map_btree_records_inserted_total", "Number of block map B-tree records inserted for a filesystem."),
    ("bmbt", 3, "block_map_btree_records_deleted_total", "Number of block map B-tree records deleted for a filesystem."),
    ("dir", 0, "directory_operation_lookup_total", "Number of file name directory lookups which miss the operating systems directory name lookup cache."),
    ("dir", 1, "directory_operation_create_total", "Number of times a new directory entry was created for a filesystem."),
    ("dir", 2, "directory_operation_remove_total", "Number of times an existing directory entry was created for a filesystem."),
    ("dir", 3, "directory_operation_getdents_total", "Number of times the directory getdents operation was performed for a filesystem."),
    ("ig", 0, "inode_operation_attempts_total", "Number of times the OS looked for an XFS inode in the inode cache."),
    ("ig", 1, "inode_operation_found_total", "Number of times the OS looked for and found an XFS inode in the inode cache."),
    ("ig", 2, "inode_operation_recycled_total", "Number of times the OS found an XFS inode in the cache, but could not use it as it was being recycled."),
    ("ig", 3, "inode_operation_missed_total", "Number of times the OS looked for an XFS inode in the cache, but did not find it."),
    ("ig", 4, "inode_operation_duplicates_total", "Number of times the OS tried to add a missing XFS inode to the inode cache, but found it had already been added by another process."),
    ("ig", 5, "inode_operation_reclaims_total", "Number of times the OS reclaimed an XFS inode from the inode cache to free memory for another purpose."),
    ("ig", 6, "inode_operation_attribute_changes_total", "Number of times the OS explicitly changed the attributes of an XFS inode."),
    ("rw", 0, "write_calls_total", "Number of write(2) system calls made to files in a filesystem."),
    ("rw", 1, "read_calls_total", "Number of read(2) system calls made to files in a filesystem."),
    ("vnodes", 0, "vnode_active_total", "Number of vnodes not on free lists for a filesystem."),
    ("vnodes", 1, "vnode_allocate_total", "Number of times vn_alloc called for a filesystem."),
    ("vnodes", 2, "vnode_get_total", "Number of times vn_get called for a filesystem."),
    ("vnodes", 3, "vnode_hold_total", "Number of times vn_hold called for a filesystem."),
    ("vnodes", 4, "vnode_release_total", "Number of times vn_rele called for a filesystem."),
    ("vnodes", 5, "vnode_reclaim_total", "Number of times vn_reclaim called for a filesystem."),
    ("vnodes", 6, "vnode_remove_total", "Number of times vn_remove called for a filesystem."),
];

/// One device's values, in [`FIELDS`] order.
pub fn parse(what: &str, text: &str) -> Result<Vec<f64>, CollectError> {
    let mut lines: Vec<(&str, Vec<u64>)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut words = line.split_whitespace();
        let Some(name) = words.next() else { continue };
        let values = words
            .map(str::parse)
            .collect::<Result<Vec<u64>, _>>()
            .map_err(|_| {
                CollectError::parse(what, format!("line {}: expected a name and numbers", n + 1))
            })?;
        lines.push((name, values));
    }
    FIELDS
        .iter()
        .map(|(line, i, _, _)| {
            let values = lines
                .iter()
                .find(|(name, _)| name == line)
                .map(|(_, v)| v)
                .ok_or_else(|| CollectError::parse(what, format!("no {line:?} line")))?;
            values
                .get(*i)
                .map(|&v| v as f64)
                .ok_or_else(|| CollectError::parse(what, format!("too few fields in {line:?}")))
        })
        .collect()
}

pub struct Xfs {
    paths: Paths,
}

impl Xfs {
    pub fn new(paths: Paths) -> Self {
        Xfs { paths }
    }
}

impl Collector for Xfs {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let dir = self.paths.sys("fs/xfs");
        let mut devices = Vec::new();
        for device in entries(&dir)?.into_iter().filter(|d| d != "stats") {
            let path = dir.join(&device).join("stats/stats");
            if let Some(text) = read_if_present(&path)? {
                devices.push((device, parse(&path.display().to_string(), &text)?));
            }
        }
        if devices.is_empty() {
            return Ok(());
        }
        for (i, (_, _, suffix, help)) in FIELDS.iter().enumerate() {
            let family = out.counter(format!("node_xfs_{suffix}"), *help);
            for (device, values) in &devices {
                family.add(&[("device", device)], values[i]);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_exported_lines_by_position() {
        let text = "extent_alloc 1 2 3 4\nabt 0 0 0 0\nblk_map 5 6 7 8 9 10 11\nbmbt 0 0 0 0\n\
                    dir 12 13 14 15\ntrans 1 2 3\nig 16 17 18 19 20 21 22\nrw 23 24\n\
                    vnodes 25 26 27 28 29 30 31 0\nxpc 1 2 3\n";
        let v = parse("t", text).unwrap();
        let at = |suffix: &str| v[FIELDS.iter().position(|f| f.2 == suffix).unwrap()];
        assert_eq!(at("extent_allocation_blocks_freed_total"), 4.0);
        assert_eq!(at("write_calls_total"), 23.0);
        assert_eq!(at("read_calls_total"), 24.0);
        assert_eq!(at("inode_operation_attribute_changes_total"), 22.0);
        assert_eq!(at("vnode_remove_total"), 31.0);
        assert!(parse("t", &format!("{text}malformed line\n")).is_err());
        assert!(parse("t", &text.replace("rw 23 24", "rw 23")).is_err());
    }
}
