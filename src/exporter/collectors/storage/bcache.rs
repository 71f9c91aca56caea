//! `bcache`: bcache cache sets from `/sys/fs/bcache/<uuid>/` as
//! node_exporter 1.5 exports them: per set the btree and journal figures,
//! per backing device (`bdevN`) the `stats_total` counters, dirty data and
//! the writeback controller (`writeback_rate_debug`), per cache device
//! (`cacheN`) errors and bytes written, and with
//! `--collector.bcache.priorityStats` its `priority_stats` percentages
//! (`node_bcache_priority_stats_unused_percent`, `…_metadata_percent`;
//! off by default, as the kernel walks every bucket to answer).
//!
//! Values are "humanized" by the kernel's `bch_hprint` (`1.5G`, `-473.6M`,
//! `1.1M/sec`): the fraction after the point counts 1024ths in steps of
//! 1/10.24, the suffixes are binary, and the result is truncated to a whole
//! number, all as node_exporter (procfs) reads them. Decisions: as there,
//! every file is required once the set exists; `btree_read_average_duration_us`
//! is scaled by 1e-9 as node_exporter 1.5 scales it (so the "seconds" are
//! a thousandth of the true figure, kept for identical values). No
//! `/sys/fs/bcache` exports nothing.

use std::path::Path;

use crate::exporter::collector::{entries, read, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

/// A humanized number as procfs' `dehumanize` reads it.
pub fn dehumanize(s: &str) -> Option<f64> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let last = s.chars().last()?;
    let (mantissa, mul) = if last.is_ascii_digit() {
        (s.parse::<f64>().ok()?, 1.0)
    } else {
        let power = "kMGTPEZY".find(last)? as i32 + 1;
        let body = &s[..s.len() - last.len_utf8()];
        let m = match body.split_once('.') {
            Some((int, frac)) => int.parse::<f64>().ok()? + frac.parse::<f64>().ok()? / 10.24,
            None => body.parse::<f64>().ok()?,
        };
        (m, 1024f64.powi(power))
    };
    let v = (mantissa * mul).trunc();
    Some(if neg { -v } else { v })
}

fn value(path: &Path) -> Result<f64, CollectError> {
    let text = read(path)?;
    dehumanize(&text).ok_or_else(|| {
        CollectError::parse(
            path.display().to_string(),
            format!("not a bcache number: {text:?}"),
        )
    })
}

/// `writeback_rate_debug`: rate, target, proportional, integral, change.
pub fn parse_writeback(what: &str, text: &str) -> Result<[f64; 5], CollectError> {
    let mut out = [0.0; 5];
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (key, v) = line
            .split_once(':')
            .ok_or_else(|| CollectError::parse(what, format!("expected key: value in {line:?}")))?;
        let slot = match key.trim() {
            "rate" => 0,
            "target" => 1,
            "proportional" => 2,
            "integral" => 3,
            "change" => 4,
            _ => continue,
        };
        let v = v.trim().trim_end_matches("/sec");
        out[slot] = dehumanize(v)
            .ok_or_else(|| CollectError::parse(what, format!("not a bcache number: {v:?}")))?;
    }
    Ok(out)
}

/// The `stats_total` counters: file, metric, help.
const TOTALS: [(&str, &str, &str); 7] = [
    (
        "bypassed",
        "node_bcache_bypassed_bytes_total",
        "Amount of IO (both reads and writes) that has bypassed the cache.",
    ),
    (
        "cache_bypass_hits",
        "node_bcache_cache_bypass_hits_total",
        "Hits for IO intended to skip the cache.",
    ),
    (
        "cache_bypass_misses",
        "node_bcache_cache_bypass_misses_total",
        "Misses for IO intended to skip the cache.",
    ),
    (
        "cache_hits",
        "node_bcache_cache_hits_total",
        "Hits counted per individual IO as bcache sees them.",
    ),
    (
        "cache_miss_collisions",
        "node_bcache_cache_miss_collisions_total",
        "Instances where data insertion from cache miss raced with write (data already present).",
    ),
    (
        "cache_misses",
        "node_bcache_cache_misses_total",
        "Misses counted per individual IO as bcache sees them.",
    ),
    (
        "cache_readaheads",
        "node_bcache_cache_readaheads_total",
        "Count of times readahead occurred.",
    ),
];

/// Per-set gauges: file (under the set), metric, help.
const SET_GAUGES: [(&str, &str, &str); 8] = [
    ("average_key_size", "node_bcache_average_key_size_sectors", "Average data per key in the btree (sectors)."),
    ("btree_cache_size", "node_bcache_btree_cache_size_bytes", "Amount of memory currently used by the btree cache."),
    ("cache_available_percent", "node_bcache_cache_available_percent", "Percentage of cache device without dirty data, usable for writeback (may contain clean cached data)."),
    ("congested", "node_bcache_congested", "Congestion."),
    ("root_usage_percent", "node_bcache_root_usage_percent", "Percentage of the root btree node in use (tree depth increases if too high)."),
    ("tree_depth", "node_bcache_tree_depth", "Depth of the btree."),
    ("internal/active_journal_entries", "node_bcache_active_journal_entries", "Number of journal entries that are newer than the index."),
    ("internal/btree_nodes", "node_bcache_btree_nodes", "Total nodes in the btree."),
];

/// Per-backing-device writeback gauges, in [`parse_writeback`]'s order.
const WRITEBACK: [(&str, &str); 5] = [
    (
        "node_bcache_writeback_rate",
        "Current writeback rate for this backing device in bytes.",
    ),
    (
        "node_bcache_dirty_target_bytes",
        "Current dirty data target threshold for this backing device in bytes.",
    ),
    (
        "node_bcache_writeback_rate_proportional_term",
        "Current result of proportional controller, part of writeback rate",
    ),
    (
        "node_bcache_writeback_rate_integral_term",
        "Current result of integral controller, part of writeback rate",
    ),
    (
        "node_bcache_writeback_change",
        "Last writeback rate change step for this backing device.",
    ),
];

struct Set {
    uuid: String,
    gauges: Vec<f64>,
    read_duration: f64,
    read_races: f64,
    /// Name, totals, dirty data, writeback.
    bdevs: Vec<(String, Vec<f64>, f64, [f64; 5])>,
    /// Name, io errors, metadata written, written, and the unused and
    /// metadata percentages of `priority_stats` when asked for.
    caches: Vec<(String, [f64; 3], Option<[f64; 2]>)>,
}

/// The `Unused:` and `Metadata:` percentages of a cache device's
/// `priority_stats` (`Unused:\t\t37%`), as procfs reads them: the last
/// field without `%`; a line that is not there reads 0.
pub fn parse_priority_stats(path: &Path, text: &str) -> Result<[f64; 2], CollectError> {
    let mut out = [0.0; 2];
    for line in text.lines() {
        let at = if line.starts_with("Unused:") {
            0
        } else if line.starts_with("Metadata:") {
            1
        } else {
            continue;
        };
        let field = line.split_whitespace().last().unwrap_or("");
        out[at] = field
            .strip_suffix('%')
            .unwrap_or(field)
            .parse()
            .map_err(|_| {
                CollectError::parse(
                    path.display().to_string(),
                    format!("bad percentage in {line:?}"),
                )
            })?;
    }
    Ok(out)
}

fn read_set(dir: &Path, uuid: &str, priority: bool) -> Result<Set, CollectError> {
    let gauges = SET_GAUGES
        .iter()
        .map(|(f, _, _)| value(&dir.join(f)))
        .collect::<Result<_, _>>()?;
    let names = entries(dir)?;
    let numbered = |prefix: &'static str| -> Vec<String> {
        names
            .iter()
            .filter(|n| {
                n.strip_prefix(prefix)
                    .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
            })
            .cloned()
            .collect()
    };
    let mut bdevs = Vec::new();
    for name in numbered("bdev") {
        let b = dir.join(&name);
        let totals = TOTALS
            .iter()
            .map(|(f, _, _)| value(&b.join("stats_total").join(f)))
            .collect::<Result<_, _>>()?;
        let wb_path = b.join("writeback_rate_debug");
        let wb = parse_writeback(&wb_path.display().to_string(), &read(&wb_path)?)?;
        bdevs.push((name, totals, value(&b.join("dirty_data"))?, wb));
    }
    let mut caches = Vec::new();
    for name in numbered("cache") {
        let c = dir.join(&name);
        let priority = match priority {
            true => {
                let path = c.join("priority_stats");
                Some(parse_priority_stats(&path, &read(&path)?)?)
            }
            false => None,
        };
        caches.push((
            name,
            [
                value(&c.join("io_errors"))?,
                value(&c.join("metadata_written"))?,
                value(&c.join("written"))?,
            ],
            priority,
        ));
    }
    Ok(Set {
        uuid: uuid.to_owned(),
        gauges,
        read_duration: value(&dir.join("internal/btree_read_average_duration_us"))?,
        read_races: value(&dir.join("internal/cache_read_races"))?,
        bdevs,
        caches,
    })
}

pub struct Bcache {
    paths: Paths,
    priority_stats: bool,
}

impl Bcache {
    pub fn new(paths: Paths, priority_stats: bool) -> Self {
        Bcache {
            paths,
            priority_stats,
        }
    }
}

impl Collector for Bcache {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let root = self.paths.sys("fs/bcache");
        let mut sets = Vec::new();
        for uuid in entries(&root)?.into_iter().filter(|n| n.contains('-')) {
            sets.push(read_set(&root.join(&uuid), &uuid, self.priority_stats)?);
        }
        for set in &sets {
            let uuid = [("uuid", set.uuid.as_str())];
            for ((_, name, help), v) in SET_GAUGES.iter().zip(&set.gauges) {
                out.gauge(*name, *help).add(&uuid, *v);
            }
            out.gauge(
                "node_bcache_btree_read_average_duration_seconds",
                "Average btree read duration.",
            )
            .add(&uuid, set.read_duration * 1e-9);
            out.counter(
                "node_bcache_cache_read_races_total",
                "Counts instances where while data was being read from the cache, the bucket was reused and invalidated - i.e. where the pointer was stale after the read completed.",
            )
            .add(&uuid, set.read_races);
            for (name, totals, dirty, wb) in &set.bdevs {
                let labels = [
                    ("backing_device", name.as_str()),
                    ("uuid", set.uuid.as_str()),
                ];
                for ((_, metric, help), v) in TOTALS.iter().zip(totals) {
                    out.counter(*metric, *help).add(&labels, *v);
                }
                out.gauge(
                    "node_bcache_dirty_data_bytes",
                    "Amount of dirty data for this backing device in the cache.",
                )
                .add(&labels, *dirty);
                for ((metric, help), v) in WRITEBACK.iter().zip(wb) {
                    out.gauge(*metric, *help).add(&labels, *v);
                }
            }
            for (name, [errors, metadata, written], priority) in &set.caches {
                let labels = [("cache_device", name.as_str()), ("uuid", set.uuid.as_str())];
                out.gauge(
                    "node_bcache_io_errors",
                    "Number of errors that have occurred, decayed by io_error_halflife.",
                )
                .add(&labels, *errors);
                out.counter(
                    "node_bcache_metadata_written_bytes_total",
                    "Sum of all non data writes (btree writes and all other metadata).",
                )
                .add(&labels, *metadata);
                out.counter(
                    "node_bcache_written_bytes_total",
                    "Sum of all data that has been written to the cache.",
                )
                .add(&labels, *written);
                if let Some([unused, meta]) = priority {
                    out.gauge(
                        "node_bcache_priority_stats_unused_percent",
                        "The percentage of the cache that doesn't contain any data.",
                    )
                    .add(&labels, *unused);
                    out.gauge(
                        "node_bcache_priority_stats_metadata_percent",
                        "Bcache's metadata overhead.",
                    )
                    .add(&labels, *meta);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_priority_stats_as_the_kernel_writes_them() {
        // drivers/md/bcache/sysfs.c: tab-aligned labels, whole percentages.
        let text = "Unused:\t\t61%\nClean:\t\t30%\nDirty:\t\t6%\nMetadata:\t3%\nAverage:\t1207\nSectors per Q:\t1953024\nQuantiles:\t[1 2 3]\n";
        let p = Path::new("priority_stats");
        assert_eq!(parse_priority_stats(p, text).unwrap(), [61.0, 3.0]);
        assert_eq!(
            parse_priority_stats(p, "Clean:\t\t30%\n").unwrap(),
            [0.0, 0.0]
        );
        let err = parse_priority_stats(p, "Unused:\t\tmany%\n").unwrap_err();
        assert!(err.to_string().contains("priority_stats"), "{err}");
    }

    #[test]
    fn reads_humanized_numbers_as_bch_hprint_writes_them() {
        assert_eq!(dehumanize("92"), Some(92.0));
        assert_eq!(dehumanize("1.2k"), Some(1224.0));
        assert_eq!(dehumanize("1.5G"), Some(1_598_029_824.0));
        assert_eq!(dehumanize("-473.6M"), Some(-496_590_848.0));
        assert_eq!(dehumanize("210M"), Some(220_200_960.0));
        assert_eq!(dehumanize("lots"), None);
        assert_eq!(dehumanize(""), None);
        let wb = parse_writeback(
            "t",
            "rate:\t\t1.1M/sec\ndirty:\t\t1.5G\ntarget:\t\t20.1G\nproportional:\t-473.6M\nintegral:\t0\nchange:\t\t-1.5k/sec\nnext io:\t-1292ms\n",
        )
        .unwrap();
        assert_eq!(
            wb,
            [1_150_976.0, 21_579_694_080.0, -496_590_848.0, 0.0, -1524.0]
        );
        assert!(parse_writeback("t", "rate:\t\tfast\n").is_err());
        assert!(parse_writeback("t", "malformed line\n").is_err());
    }
}
