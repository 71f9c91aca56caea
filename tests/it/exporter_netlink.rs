//! The netlink variants of netdev and arp (node_exporter 1.12's defaults)
//! on the live host: netlink answers for the running kernel, never for a
//! fixture tree, so these tests compare with what the same kernel shows
//! in /proc at the same moment, and with the real node_exporter 1.5's
//! netlink mode.
//!
//! Counters move while a test reads them, so a netlink value is checked
//! to lie between a read taken just before it and one just after (live
//! data only; fixture-tree tests compare exactly).

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use clap::Parser;
use outpost::cli::{Cli, Command as Sub};
use outpost::exporter::{build_registry, encode, Config};

use crate::exporter_golden::parse_exposition;
use crate::support;

/// The config of `outpost exporter --collector.disable-defaults FLAGS…`
/// on the live host (/proc, /sys).
fn live_config(flags: &[&str]) -> Config {
    let cli = Cli::try_parse_from(
        ["outpost", "exporter", "--collector.disable-defaults"]
            .into_iter()
            .chain(flags.iter().copied()),
    )
    .expect("flags parse");
    #[allow(unreachable_patterns)]
    let args = match cli.command {
        Sub::Exporter(args) => args,
        _ => panic!("not the exporter subcommand"),
    };
    Config::try_from(args).expect("valid flags")
}

/// One scrape as `series → value`, for families `keep` accepts.
fn scrape(config: &Config, keep: impl Fn(&str) -> bool) -> BTreeMap<String, f64> {
    let text = encode::encode(
        &build_registry(config).gather().into_sorted(),
        encode::Format::Text,
    );
    parse_exposition(&text, keep).samples
}

/// /proc/net/dev as node_exporter's legacy series names → value (its own
/// small reader, not the collector's).
fn proc_net_dev() -> BTreeMap<String, f64> {
    const RX: [&str; 8] = [
        "bytes",
        "packets",
        "errs",
        "drop",
        "fifo",
        "frame",
        "compressed",
        "multicast",
    ];
    const TX: [&str; 8] = [
        "bytes",
        "packets",
        "errs",
        "drop",
        "fifo",
        "colls",
        "carrier",
        "compressed",
    ];
    let text = std::fs::read_to_string("/proc/net/dev").expect("/proc/net/dev");
    let mut out = BTreeMap::new();
    for line in text.lines().skip(2) {
        let (dev, rest) = line.split_once(':').unwrap();
        let values: Vec<f64> = rest
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect();
        let names = RX
            .iter()
            .map(|n| format!("receive_{n}"))
            .chain(TX.iter().map(|n| format!("transmit_{n}")));
        for (name, v) in names.zip(values) {
            out.insert(
                format!("node_network_{name}_total{{device=\"{}\"}}", dev.trim()),
                v,
            );
        }
    }
    out
}

/// /proc/net/arp as entries per device.
fn proc_net_arp() -> BTreeMap<String, f64> {
    let text = std::fs::read_to_string("/proc/net/arp").expect("/proc/net/arp");
    let mut out = BTreeMap::new();
    for line in text.lines().skip(1) {
        let device = line.split_whitespace().last().unwrap();
        *out.entry(format!("node_arp_entries{{device=\"{device}\"}}"))
            .or_insert(0.0) += 1.0;
    }
    out
}

fn is_netdev_counter(name: &str) -> bool {
    name.starts_with("node_network_") && name.ends_with("_total")
}

/// Every series of `got` lies between `before` and `after`, and the
/// series sets agree.
fn assert_between(
    before: &BTreeMap<String, f64>,
    got: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
) {
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>(),
        "series differ"
    );
    for (series, v) in got {
        let (lo, hi) = (before[series], after[series]);
        assert!(
            lo <= *v && *v <= hi,
            "{series}: {v} not between {lo} and {hi}"
        );
    }
}

#[test]
fn netlink_netdev_counters_match_proc_net_dev_on_the_live_host() {
    // Every interface, lo included.
    let config = live_config(&["--collector.netdev", "--collector.netdev.device-exclude="]);
    let before = proc_net_dev();
    let got = scrape(&config, is_netdev_counter);
    let after = proc_net_dev();
    assert!(!before.is_empty(), "no interfaces in /proc/net/dev");
    // netlink has receive_nohandler beyond /proc/net/dev's 16 columns.
    let (nohandler, folded): (BTreeMap<_, _>, BTreeMap<_, _>) = got
        .into_iter()
        .partition(|(k, _)| k.starts_with("node_network_receive_nohandler_total"));
    assert_eq!(nohandler.len() * 16, before.len(), "{nohandler:#?}");
    assert_between(&before, &folded, &after);
    // The /proc variant reads the same file under --path.procfs.
    let procfs = live_config(&[
        "--collector.netdev",
        "--collector.netdev.device-exclude=",
        "--no-collector.netdev.netlink",
    ]);
    let before = proc_net_dev();
    let got = scrape(&procfs, is_netdev_counter);
    let after = proc_net_dev();
    assert_between(&before, &got, &after);
}

#[test]
fn netlink_arp_entries_match_proc_net_arp_on_the_live_host() {
    let config = live_config(&["--collector.arp"]);
    let procfs = live_config(&["--collector.arp", "--no-collector.arp.netlink"]);
    let keep = |n: &str| n == "node_arp_entries";
    // The table may change under the test: one of the two reads around
    // each scrape must agree.
    for c in [&config, &procfs] {
        let before = proc_net_arp();
        let got = scrape(c, keep);
        let after = proc_net_arp();
        assert!(
            got == before || got == after,
            "{got:?} vs /proc/net/arp {before:?}"
        );
    }
}

#[test]
fn netlink_netdev_and_address_info_match_node_exporter_on_the_live_host() {
    // The real node_exporter 1.5 in its own default netlink mode (which
    // 1.12 keeps), with address-info; Outpost with the same flags.
    let bin = support::require("prometheus-node-exporter", "prometheus-node-exporter");
    let port = support::free_port();
    let _ne = support::Proc(
        Command::new(bin)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args([
                "--collector.disable-defaults",
                "--collector.netdev",
                "--collector.netdev.address-info",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node_exporter starts"),
    );
    assert!(
        support::wait_for_port(port, Duration::from_secs(10)),
        "node_exporter did not listen"
    );
    let config = live_config(&["--collector.netdev", "--collector.netdev.address-info"]);
    let before = scrape(&config, is_netdev_counter);
    let (status, text) = support::http_get(&format!("http://127.0.0.1:{port}/metrics")).unwrap();
    assert_eq!(status, 200);
    let after = scrape(&config, is_netdev_counter);
    let theirs = parse_exposition(&text, is_netdev_counter).samples;
    assert!(
        theirs.keys().any(|k| k.contains("receive_nohandler")),
        "node_exporter was not in netlink mode"
    );
    assert_between(&before, &theirs, &after);

    let info = |n: &str| n == "node_network_address_info";
    let theirs = parse_exposition(&text, info).samples;
    assert!(!theirs.is_empty(), "the host has no address");
    assert_eq!(scrape(&config, info), theirs);
}
