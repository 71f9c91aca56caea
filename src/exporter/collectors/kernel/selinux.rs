//! `selinux`: whether SELinux is on, its configured and current modes, and
//! the access vector cache statistics from selinuxfs
//! (`/sys/fs/selinux/avc/{cache_stats,hash_stats,cache_threshold}`).
//!
//! Decisions: node_exporter asks go-selinux, which looks at the live
//! system's mounts; here SELinux counts as enabled when selinuxfs is there
//! under `--path.sysfs` (its `enforce` file exists), so everything goes
//! through the path flags. Without it only `node_selinux_enabled 0` is
//! exported, as node_exporter does. The configured mode comes from
//! `/etc/selinux/config` under `--path.rootfs` (`SELINUX=enforcing` 1,
//! `permissive` 0, anything else or no file -1), the current one from
//! `enforce` (1 or 0).

use crate::exporter::collector::{read, read_if_present, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

/// The six per-CPU counters of `cache_stats`, summed over CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CacheStats {
    pub lookups: u64,
    pub hits: u64,
    pub misses: u64,
    pub allocations: u64,
    pub reclaims: u64,
    pub frees: u64,
}

/// `hash_stats`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HashStats {
    pub entries: u64,
    pub buckets_used: u64,
    pub buckets_available: u64,
    pub longest_chain: u64,
}

fn number(what: &str, s: &str) -> Result<u64, CollectError> {
    s.trim()
        .parse()
        .map_err(|_| CollectError::parse(what, format!("expected an unsigned integer, got {s:?}")))
}

/// `cache_stats`: a header line, then one line of six numbers per CPU.
pub fn parse_cache_stats(text: &str) -> Result<CacheStats, CollectError> {
    const WHAT: &str = "selinux avc/cache_stats";
    let mut sum = CacheStats::default();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let v: Vec<u64> = line
            .split_whitespace()
            .map(|w| number(WHAT, w))
            .collect::<Result<_, _>>()?;
        let [lookups, hits, misses, allocations, reclaims, frees] = v[..] else {
            return Err(CollectError::parse(
                WHAT,
                format!("expected six numbers in {line:?}"),
            ));
        };
        sum.lookups += lookups;
        sum.hits += hits;
        sum.misses += misses;
        sum.allocations += allocations;
        sum.reclaims += reclaims;
        sum.frees += frees;
    }
    Ok(sum)
}

/// `hash_stats`: `entries: N`, `buckets used: U/A`, `longest chain: N`.
pub fn parse_hash_stats(text: &str) -> Result<HashStats, CollectError> {
    const WHAT: &str = "selinux avc/hash_stats";
    let mut lines = text.lines();
    let mut field = |prefix: &str| {
        lines
            .next()
            .and_then(|l| l.strip_prefix(prefix))
            .ok_or_else(|| {
                CollectError::parse(WHAT, format!("expected a line starting {prefix:?}"))
            })
    };
    let entries = number(WHAT, field("entries: ")?)?;
    let (used, available) = field("buckets used: ")?
        .split_once('/')
        .ok_or_else(|| CollectError::parse(WHAT, "expected used/available buckets"))?;
    let longest_chain = number(WHAT, field("longest chain: ")?)?;
    Ok(HashStats {
        entries,
        buckets_used: number(WHAT, used)?,
        buckets_available: number(WHAT, available)?,
        longest_chain,
    })
}

/// The `SELINUX=` mode of `/etc/selinux/config` as go-selinux numbers it.
pub fn config_mode(config: Option<&str>) -> f64 {
    let value = config.and_then(|c| {
        c.lines()
            .filter_map(|l| l.trim().strip_prefix("SELINUX="))
            .next_back()
            .map(|v| v.trim().trim_matches('"'))
    });
    match value {
        Some("enforcing") => 1.0,
        Some("permissive") => 0.0,
        _ => -1.0,
    }
}

pub struct Selinux {
    paths: Paths,
}

impl Selinux {
    pub fn new(paths: Paths) -> Self {
        Selinux { paths }
    }
}

impl Collector for Selinux {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let fs = self.paths.sys("fs/selinux");
        let Some(enforce) = read_if_present(&fs.join("enforce"))? else {
            out.gauge(
                "node_selinux_enabled",
                "SELinux is enabled, 1 is true, 0 is false",
            )
            .add(&[], 0.0);
            return Ok(());
        };
        let current = match enforce.trim() {
            "1" => 1.0,
            "0" => 0.0,
            _ => -1.0,
        };
        let config = read_if_present(&self.paths.root("/etc/selinux/config"))?;
        let cache = parse_cache_stats(&read(&fs.join("avc/cache_stats"))?)?;
        let hash = parse_hash_stats(&read(&fs.join("avc/hash_stats"))?)?;
        let threshold = number(
            "selinux avc/cache_threshold",
            &read(&fs.join("avc/cache_threshold"))?,
        )?;

        out.gauge(
            "node_selinux_enabled",
            "SELinux is enabled, 1 is true, 0 is false",
        )
        .add(&[], 1.0);
        out.gauge(
            "node_selinux_config_mode",
            "Configured SELinux enforcement mode",
        )
        .add(&[], config_mode(config.as_deref()));
        out.gauge(
            "node_selinux_current_mode",
            "Current SELinux enforcement mode",
        )
        .add(&[], current);
        for (name, help, v) in [
            (
                "node_selinux_avc_lookups_total",
                "SELinux AVC lookups",
                cache.lookups,
            ),
            (
                "node_selinux_avc_hits_total",
                "SELinux AVC hits",
                cache.hits,
            ),
            (
                "node_selinux_avc_misses_total",
                "SELinux AVC misses",
                cache.misses,
            ),
            (
                "node_selinux_avc_allocations_total",
                "SELinux AVC allocations",
                cache.allocations,
            ),
            (
                "node_selinux_avc_reclaims_total",
                "SELinux AVC reclaims",
                cache.reclaims,
            ),
            (
                "node_selinux_avc_frees_total",
                "SELinux AVC frees",
                cache.frees,
            ),
        ] {
            out.counter(name, help).add(&[], v as f64);
        }
        for (name, help, v) in [
            (
                "node_selinux_avc_hash_entries",
                "SELinux AVC hash entries",
                hash.entries,
            ),
            (
                "node_selinux_avc_hash_buckets_available",
                "SELinux AVC hash buckets available",
                hash.buckets_available,
            ),
            (
                "node_selinux_avc_hash_buckets_used",
                "SELinux AVC hash buckets used",
                hash.buckets_used,
            ),
            (
                "node_selinux_avc_hash_longest_chain",
                "SELinux AVC hash longest chain",
                hash.longest_chain,
            ),
            (
                "node_selinux_avc_threshold",
                "SELinux AVC threshold",
                threshold,
            ),
        ] {
            out.gauge(name, help).add(&[], v as f64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_avc_statistics_and_modes() {
        let cache = "lookups hits misses allocations reclaims frees\n\
                     100 90 10 10 0 2\n200 190 10 12 1 3\n";
        assert_eq!(
            parse_cache_stats(cache).unwrap(),
            CacheStats {
                lookups: 300,
                hits: 280,
                misses: 20,
                allocations: 22,
                reclaims: 1,
                frees: 5
            }
        );
        assert!(parse_cache_stats("header\n1 2 3\n").is_err());
        let hash = "entries: 510\nbuckets used: 290/512\nlongest chain: 6\n";
        assert_eq!(
            parse_hash_stats(hash).unwrap(),
            HashStats {
                entries: 510,
                buckets_used: 290,
                buckets_available: 512,
                longest_chain: 6
            }
        );
        assert!(parse_hash_stats("entries: 5\nmalformed line\n").is_err());
        assert_eq!(
            config_mode(Some("# c\nSELINUX=enforcing\nSELINUXTYPE=targeted\n")),
            1.0
        );
        assert_eq!(config_mode(Some("SELINUX=permissive\n")), 0.0);
        assert_eq!(config_mode(Some("SELINUX=disabled\n")), -1.0);
        assert_eq!(config_mode(None), -1.0);
    }
}
