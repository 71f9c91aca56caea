//! The ethtool collector on this host's own network devices, against
//! ethtool(8) (Debian package `ethtool`), which asks the kernel the same
//! questions: every statistic `ethtool -S DEV` lists comes out under
//! node_exporter's name with the same value, and `node_ethtool_info`
//! carries what `ethtool -i DEV` prints. Live counters move between the
//! two reads, so a statistic's value must lie between what `ethtool -S`
//! printed just before and just after the scrape; names and driver
//! information are compared exactly.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use outpost::exporter::ethtool::select_stats;
use outpost::exporter::matcher::Matcher;

use crate::exposition;
use crate::support::{free_port, http_get, outpost_bin, require, spawn, wait_for_port};

fn devices() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir("/sys/class/net")
        .expect("/sys/class/net")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// `ethtool -S DEV`: the statistics, or none when the driver has none.
fn ethtool_stats(ethtool: &std::path::Path, device: &str) -> Option<BTreeMap<String, u64>> {
    let out = Command::new(ethtool).args(["-S", device]).output().unwrap();
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut stats = BTreeMap::new();
    for line in text
        .lines()
        .skip_while(|l| !l.starts_with("NIC statistics:"))
        .skip(1)
    {
        // A name may itself hold ": " (`rxq0: rx_bytes: 12`); the value follows the last.
        let (name, value) = line.rsplit_once(": ").unwrap_or_else(|| panic!("{line:?}"));
        stats.insert(name.trim_start().to_owned(), value.trim().parse().unwrap());
    }
    Some(stats)
}

/// `ethtool -i DEV` as `node_ethtool_info`'s labels, or none.
fn ethtool_info(ethtool: &std::path::Path, device: &str) -> Option<BTreeMap<String, String>> {
    let out = Command::new(ethtool).args(["-i", device]).output().unwrap();
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}:")))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    Some(BTreeMap::from([
        ("bus_info".to_owned(), field("bus-info")),
        ("device".to_owned(), device.to_owned()),
        ("driver".to_owned(), field("driver")),
        (
            "expansion_rom_version".to_owned(),
            field("expansion-rom-version"),
        ),
        ("firmware_version".to_owned(), field("firmware-version")),
        ("version".to_owned(), field("version")),
    ]))
}

#[test]
fn ethtool_collector_matches_ethtool_on_this_hosts_devices() {
    let ethtool = require("ethtool", "ethtool");
    let devices = devices();
    let before: Vec<_> = devices.iter().map(|d| ethtool_stats(&ethtool, d)).collect();

    let port = free_port();
    let _exporter = spawn(Command::new(outpost_bin()).args([
        "exporter",
        "--web.listen-address",
        &format!("127.0.0.1:{port}"),
        "--collector.disable-defaults",
        "--collector.ethtool",
    ]));
    assert!(wait_for_port(port, Duration::from_secs(10)));
    let (status, body) = http_get(&format!("http://127.0.0.1:{port}/metrics")).unwrap();
    assert_eq!(status, 200);
    let after: Vec<_> = devices.iter().map(|d| ethtool_stats(&ethtool, d)).collect();
    let families = exposition::parse(&body);
    assert!(
        body.contains("node_scrape_collector_success{collector=\"ethtool\"} 1"),
        "{body}"
    );

    let all = Matcher::new(".*").unwrap();
    let mut compared = 0;
    for (i, device) in devices.iter().enumerate() {
        let info: Vec<BTreeMap<String, String>> = families
            .get("node_ethtool_info")
            .map(|f| {
                f.samples
                    .iter()
                    .filter(|(l, _)| l.get("device") == Some(device))
                    .map(|(l, _)| l.clone())
                    .collect()
            })
            .unwrap_or_default();
        let want: Vec<_> = ethtool_info(&ethtool, device).into_iter().collect();
        assert_eq!(info, want, "{device}: node_ethtool_info against ethtool -i");
        let exported: BTreeMap<&str, f64> = families
            .iter()
            .filter(|(name, _)| name.starts_with("node_ethtool_") && *name != "node_ethtool_info")
            .flat_map(|(name, f)| {
                f.samples
                    .iter()
                    .filter(|(l, _)| l.get("device") == Some(device))
                    .map(move |(_, v)| (name.as_str(), *v))
            })
            .collect();
        let (Some(b), Some(a)) = (&before[i], &after[i]) else {
            assert!(
                exported.is_empty(),
                "{device}: ethtool -S has none: {exported:?}"
            );
            continue;
        };
        let low = select_stats(b, &all);
        let high = select_stats(a, &all);
        let names: Vec<&str> = low.iter().map(|(n, ..)| n.as_str()).collect();
        assert_eq!(
            exported.keys().copied().collect::<Vec<_>>(),
            names,
            "{device}: the statistics exported differ from ethtool -S's"
        );
        for ((name, stat, v0), (_, _, v1)) in low.iter().zip(&high) {
            let (lo, hi) = ((*v0).min(*v1) as f64, (*v0).max(*v1) as f64);
            let got = exported[name.as_str()];
            assert!(
                (lo..=hi).contains(&got),
                "{device} {stat}: exported {got}, ethtool -S gave {v0} then {v1}"
            );
            compared += 1;
        }
    }
    assert!(
        compared > 0,
        "no device on this host has driver statistics (ethtool -S); nothing was compared"
    );
}
