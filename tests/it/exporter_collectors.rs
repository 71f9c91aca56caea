//! The collectors added for issue 12 beyond what the fixture tree and the
//! comparison with node_exporter show: on a host without their files they
//! export nothing and report what node_exporter reports (success 0 for the
//! "no data" ones, logged at debug level; 1 for those that find nothing),
//! and what the main tree leaves out (SELinux on).

use std::path::Path;

use outpost::exporter::build_registry;
use outpost::exporter::metrics::Family;

use crate::exporter_golden::{config_for, copy_tree, fixtures};

/// The collectors issue 12 added here, the family prefixes they own, and
/// `node_scrape_collector_success` on a host without their files: 0 where
/// node_exporter returns ErrNoData (1.5's own answer over an empty tree,
/// and 1.12's source for watchdog, kernel_hung and dmmultipath, which 1.5
/// lacks), 1 where it lists an empty directory or glob and finds nothing.
/// `exporter_golden::matches_node_exporter_on_a_tree_without_the_optional_files`
/// checks the 1.5 ones against the real program.
const ADDED: &[(&str, &str, f64)] = &[
    ("schedstat", "node_schedstat_", 0.0),
    ("watchdog", "node_watchdog_", 0.0),
    ("kernel_hung", "node_kernel_hung_", 0.0),
    ("selinux", "node_selinux_", 1.0),
    ("rapl", "node_rapl_", 0.0),
    ("xfs", "node_xfs_", 1.0),
    ("btrfs", "node_btrfs_", 1.0),
    ("zfs", "node_zfs_", 0.0),
    ("nfs", "node_nfs_", 0.0),
    ("nfsd", "node_nfsd_", 0.0),
    ("ipvs", "node_ipvs_", 0.0),
    ("bcache", "node_bcache_", 1.0),
    ("tapestats", "node_tape_", 0.0),
    ("dmmultipath", "node_dmmultipath_", 0.0),
];

fn gather(root: &Path) -> Vec<Family> {
    build_registry(&config_for(root)).gather().into_sorted()
}

fn success(families: &[Family], collector: &str) -> f64 {
    families
        .iter()
        .find(|f| f.name == "node_scrape_collector_success")
        .and_then(|f| {
            f.samples()
                .find(|s| s.label("collector") == Some(collector))
        })
        .unwrap_or_else(|| panic!("no success sample for {collector}"))
        .value
}

#[test]
fn absent_files_export_nothing_and_no_error() {
    let empty = tempfile::tempdir().unwrap();
    let families = gather(empty.path());
    for (collector, prefix, want_success) in ADDED {
        assert_eq!(success(&families, collector), *want_success, "{collector}");
        let names: Vec<&str> = families
            .iter()
            .map(|f| f.name.as_ref())
            .filter(|n| n.starts_with(prefix))
            .collect();
        // SELinux off is itself a fact node_exporter reports.
        let want: &[&str] = if *collector == "selinux" {
            &["node_selinux_enabled"]
        } else {
            &[]
        };
        assert_eq!(names, want, "{collector}");
    }
    // And the fixture tree does have data for each.
    let full = gather(&fixtures());
    for (collector, prefix, _) in ADDED {
        assert!(
            full.iter().any(|f| f.name.starts_with(prefix)),
            "{collector}: nothing on the fixture tree"
        );
    }
}

#[test]
fn selinux_on_reports_modes_and_the_access_vector_cache() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixtures(), dir.path());
    let fs = dir.path().join("sys/fs/selinux");
    std::fs::create_dir_all(fs.join("avc")).unwrap();
    std::fs::write(fs.join("enforce"), "0").unwrap();
    std::fs::write(
        fs.join("avc/cache_stats"),
        "lookups hits misses allocations reclaims frees\n\
         2913403 2906941 6462 6462 3584 6095\n\
         2807712 2802002 5710 5710 3072 5601\n",
    )
    .unwrap();
    std::fs::write(
        fs.join("avc/hash_stats"),
        "entries: 509\nbuckets used: 287/512\nlongest chain: 5\n",
    )
    .unwrap();
    std::fs::write(fs.join("avc/cache_threshold"), "512\n").unwrap();
    let etc = dir.path().join("rootfs/etc/selinux");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(
        etc.join("config"),
        "SELINUX=enforcing\nSELINUXTYPE=targeted\n",
    )
    .unwrap();

    let families = gather(dir.path());
    assert_eq!(success(&families, "selinux"), 1.0);
    let value = |name: &str| {
        families
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .sample(0)
            .value
    };
    for (name, want) in [
        ("node_selinux_enabled", 1.0),
        ("node_selinux_config_mode", 1.0),
        ("node_selinux_current_mode", 0.0),
        ("node_selinux_avc_lookups_total", 5721115.0),
        ("node_selinux_avc_hits_total", 5708943.0),
        ("node_selinux_avc_misses_total", 12172.0),
        ("node_selinux_avc_allocations_total", 12172.0),
        ("node_selinux_avc_reclaims_total", 6656.0),
        ("node_selinux_avc_frees_total", 11696.0),
        ("node_selinux_avc_hash_entries", 509.0),
        ("node_selinux_avc_hash_buckets_used", 287.0),
        ("node_selinux_avc_hash_buckets_available", 512.0),
        ("node_selinux_avc_hash_longest_chain", 5.0),
        ("node_selinux_avc_threshold", 512.0),
    ] {
        assert_eq!(value(name), want, "{name}");
    }

    // A malformed statistics file fails only this collector.
    std::fs::write(fs.join("avc/hash_stats"), "malformed line\n").unwrap();
    let families = gather(dir.path());
    assert_eq!(success(&families, "selinux"), 0.0);
    assert_eq!(success(&families, "rapl"), 1.0);
}
