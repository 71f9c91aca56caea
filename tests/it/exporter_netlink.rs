//! The netlink variants of netdev and arp (node_exporter 1.12's defaults)
//! and netclass (`--collector.netclass.netlink`) on the live host: netlink
//! answers for the running kernel, never for a fixture tree, so these
//! tests compare with what the same kernel shows in /proc and /sys at the
//! same moment, and with the real node_exporter 1.5's netlink mode.
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

/// One scrape in the text format.
fn scrape_text(config: &Config) -> String {
    encode::encode(
        &build_registry(config).gather().into_sorted(),
        encode::Format::Text,
    )
}

/// One scrape as `series → value`, for families `keep` accepts.
fn scrape(config: &Config, keep: impl Fn(&str) -> bool) -> BTreeMap<String, f64> {
    parse_exposition(&scrape_text(config), keep).samples
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

/// `node_exporter 1.5 --collector.netclass --collector.netclass.netlink
/// FLAGS…`, started on a free port.
fn node_exporter_netclass_netlink(flags: &[&str]) -> (support::Proc, u16) {
    let bin = support::require("prometheus-node-exporter", "prometheus-node-exporter");
    let port = support::free_port();
    let ne = support::Proc(
        Command::new(bin)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args([
                "--collector.disable-defaults",
                "--collector.netclass",
                "--collector.netclass.netlink",
            ])
            .args(flags)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node_exporter starts"),
    );
    assert!(
        support::wait_for_port(port, Duration::from_secs(10)),
        "node_exporter did not listen"
    );
    (ne, port)
}

fn is_netclass(name: &str) -> bool {
    name.starts_with("node_network_")
}

/// Counters that can move between two reads (the carrier changes).
fn is_netclass_counter(series: &str) -> bool {
    series.starts_with("node_network_carrier") && series.contains("_changes_total{")
}

/// A series' family name and labels (`name{a="x",b="y"}`).
fn split_series(series: &str) -> (&str, BTreeMap<String, String>) {
    let Some((name, rest)) = series.split_once('{') else {
        return (series, BTreeMap::new());
    };
    let mut labels = BTreeMap::new();
    let mut chars = rest.trim_end_matches('}').chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "{series}");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => value.push(chars.next().unwrap()),
                '"' => break,
                c => value.push(c),
            }
        }
        labels.insert(key, value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    (name, labels)
}

/// `/sys/class/net/<device>/<attr>`, trimmed (`None` when unreadable, as
/// `speed` or `carrier` of a device that is not running).
fn sysfs_attr(device: &str, attr: &str) -> Option<String> {
    std::fs::read_to_string(format!("/sys/class/net/{device}/{attr}"))
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Whether the device is administratively up (`IFF_UP` in sysfs
/// `flags`): the kernel answers `EINVAL` for `carrier`, `dormant`,
/// `speed` and `duplex` of one that is not.
fn admin_up(device: &str) -> bool {
    let flags = sysfs_attr(device, "flags").expect("flags");
    i64::from_str_radix(flags.trim_start_matches("0x"), 16).unwrap() & 1 == 1
}

/// Checks `got` against reads taken just `before` and `after` it: counters
/// lie between, everything else equals both reads.
fn assert_series_between(series: &str, before: f64, got: f64, after: f64) {
    if is_netclass_counter(series) {
        assert!(
            before <= got && got <= after,
            "{series}: {got} not between {before} and {after}"
        );
    } else {
        assert!(
            before == got && got == after,
            "{series}: {got}, read {before} before and {after} after"
        );
    }
}

#[test]
fn netlink_netclass_matches_node_exporters_netlink_mode_on_the_live_host() {
    let (_ne, port) = node_exporter_netclass_netlink(&[]);
    let config = live_config(&["--collector.netclass", "--collector.netclass.netlink"]);
    let before = scrape(&config, is_netclass);
    let (status, text) = support::http_get(&format!("http://127.0.0.1:{port}/metrics")).unwrap();
    assert_eq!(status, 200);
    let after = scrape(&config, is_netclass);
    let theirs = parse_exposition(&text, is_netclass).samples;
    assert!(
        !theirs.is_empty(),
        "node_exporter exported no netclass series"
    );
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "the host's interfaces changed during the test"
    );
    // node_exporter 1.5's netlink mode has no `adminstate` on info (nor
    // has 1.12's): a sysfs-mode answer would.
    assert!(
        theirs.keys().all(|k| !k.contains("adminstate=")),
        "node_exporter was not in netlink mode"
    );
    for (series, got) in &theirs {
        let (Some(b), Some(a)) = (before.get(series), after.get(series)) else {
            panic!("{series} from node_exporter is not in Outpost's netlink mode");
        };
        assert_series_between(series, *b, *got, *a);
    }
    // What Outpost has beyond 1.5: the three attributes node_exporter 1.6
    // (#2669, "Read missing from netlink netclass attributes from sysfs")
    // reads from sysfs in this mode, for every device where sysfs answers
    // them; and altnames_info (newer than 1.5), one per alternative name.
    let extra: Vec<&String> = before.keys().filter(|k| !theirs.contains_key(*k)).collect();
    for series in &extra {
        let (name, labels) = split_series(series);
        let device = &labels["device"];
        let attr = match name {
            "node_network_address_assign_type" => "addr_assign_type",
            "node_network_device_id" => "dev_id",
            "node_network_name_assign_type" => "name_assign_type",
            "node_network_altnames_info" => continue,
            _ => panic!("{series} is in Outpost's netlink mode, not node_exporter's"),
        };
        assert!(sysfs_attr(device, attr).is_some(), "{series}");
    }
    let devices = sysfs_devices();
    let readable = devices
        .iter()
        .flat_map(|d| ["addr_assign_type", "dev_id", "name_assign_type"].map(|a| (d, a)))
        .filter(|(d, a)| sysfs_attr(d, a).is_some())
        .count();
    let altnames = extra
        .iter()
        .filter(|s| s.starts_with("node_network_altnames_info"))
        .count();
    assert_eq!(extra.len(), readable + altnames, "{extra:#?}");
}

#[test]
fn netlink_netclass_agrees_with_the_sysfs_mode_on_the_live_host() {
    let netlink = live_config(&["--collector.netclass", "--collector.netclass.netlink"]);
    let sysfs = live_config(&["--collector.netclass"]);
    let before = scrape(&sysfs, is_netclass);
    let got = scrape(&netlink, is_netclass);
    let after = scrape(&sysfs, is_netclass);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "the host's interfaces changed during the test"
    );
    assert!(!got.is_empty(), "no interfaces");

    // Where node_exporter's netlink code (netclass_rtnl.go) gives other
    // labels or values than its sysfs code, by the Go code's reasons:
    // - info: no `adminstate` label; `duplex` is the ethtool library's
    //   name (Full/Half/Unknown) where sysfs says full/half/unknown, and
    //   is set for a device that is down (sysfs answers EINVAL there);
    // - flags: the message's ifi_flags (dev_get_flags: IFF_RUNNING,
    //   IFF_LOWER_UP, IFF_DORMANT, and promiscuity from gflags), not the
    //   device's raw flags that sysfs prints;
    // - dormant: IFLA_LINKMODE, the value of iface_link_mode;
    // - speed_bytes: an unknown speed (-1 in sysfs, -125000 there) is read
    //   unsigned, 536870911875000.
    // Series only the netlink mode has: carrier, dormant and speed_bytes
    // of a device that is down (sysfs answers EINVAL, netlink always
    // carries IFLA_CARRIER and IFLA_LINKMODE, and the ethtool dump lists
    // every device with link settings), and altnames_info. None is only in
    // the sysfs mode.
    const VOLATILE_FLAGS: i64 = 0x40 | 0x100 | 0x200 | 0x1_0000 | 0x2_0000;
    let info_by_device =
        |samples: &BTreeMap<String, f64>| -> BTreeMap<String, BTreeMap<String, String>> {
            samples
                .keys()
                .filter(|k| k.starts_with("node_network_info{"))
                .map(|k| {
                    let labels = split_series(k).1;
                    (labels["device"].clone(), labels)
                })
                .collect()
        };
    let (nl_info, fs_info) = (info_by_device(&got), info_by_device(&before));
    assert_eq!(
        nl_info.keys().collect::<Vec<_>>(),
        fs_info.keys().collect::<Vec<_>>()
    );
    for (device, fs) in &fs_info {
        let mut want = fs.clone();
        want.remove("adminstate");
        let nl = &nl_info[device];
        let duplex = &nl["duplex"];
        if want["duplex"].is_empty() && !admin_up(device) {
            want.insert("duplex".into(), duplex.clone());
        } else {
            let mut d = want["duplex"].clone();
            if let Some(first) = d.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            want.insert("duplex".into(), d);
        }
        assert_eq!(nl, &want, "info of {device}");
    }

    let value = |samples: &BTreeMap<String, f64>, name: &str, device: &str| {
        samples
            .get(&format!("{name}{{device=\"{device}\"}}"))
            .copied()
    };
    for (series, v) in &got {
        let (name, labels) = split_series(series);
        if name == "node_network_info" || name == "node_network_altnames_info" {
            continue;
        }
        let device = &labels["device"];
        let (Some(b), Some(a)) = (before.get(series), after.get(series)) else {
            assert!(
                matches!(
                    name,
                    "node_network_carrier" | "node_network_dormant" | "node_network_speed_bytes"
                ) && !admin_up(device),
                "{series} is only in the netlink mode"
            );
            continue;
        };
        match name {
            "node_network_flags" => {
                let (v, b, a) = (*v as i64, *b as i64, *a as i64);
                assert_eq!(b, a, "{series} changed during the test");
                assert_eq!(v & !VOLATILE_FLAGS, b & !VOLATILE_FLAGS, "{series}");
            }
            "node_network_dormant" => {
                assert_eq!(
                    Some(*v),
                    value(&got, "node_network_iface_link_mode", device),
                    "{series}"
                );
            }
            "node_network_speed_bytes" if *b == -125000.0 => {
                assert_eq!(*a, -125000.0, "{series}");
                assert_eq!(*v, f64::from(u32::MAX) * 125000.0, "{series}");
            }
            _ => assert_series_between(series, *b, *v, *a),
        }
    }
    for series in before.keys() {
        assert!(
            got.contains_key(series) || series.starts_with("node_network_info{"),
            "{series} is only in the sysfs mode"
        );
    }
}

/// One run of netclass's sysfs mode on the live /sys as `series → value`;
/// `sysfs_only`: every attribute from sysfs, else (the default) what the
/// link dump carries from the dump.
fn netclass_sysfs_mode(sysfs_only: bool) -> BTreeMap<String, f64> {
    use outpost::exporter::collector::{Collector, Paths};
    use outpost::exporter::metrics::Metrics;
    use outpost::exporter::netclass::{Netclass, Options};
    let collector = Netclass::new(Paths::default(), Options::default());
    assert!(collector.reads_the_link_dump(), "/sys is the live one");
    let collector = match sysfs_only {
        true => collector.sysfs_only(),
        false => collector,
    };
    let mut m = Metrics::new();
    collector.update(&mut m).expect("netclass reads /sys");
    let text = encode::encode(&m.into_sorted(), encode::Format::Text);
    parse_exposition(&text, is_netclass).samples
}

#[test]
fn netclass_sysfs_mode_takes_from_the_link_dump_exactly_what_sysfs_says_on_the_live_host() {
    // The default sysfs mode on the live /sys takes most attributes from
    // the link dump (netclass.rs's module doc lists which and why); its
    // series must be the pure sysfs read's, series for series, devices
    // that are down included. Counters lie between a read just before and
    // one just after.
    let before = netclass_sysfs_mode(true);
    let got = netclass_sysfs_mode(false);
    let after = netclass_sysfs_mode(true);
    assert!(
        got.keys().any(|k| k.starts_with("node_network_mtu_bytes{")),
        "no interfaces: {got:#?}"
    );
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "the host's interfaces changed during the test"
    );
    assert_between_or_equal(&before, &got, &after);
    // The same through the exporter's flags and registry (the mode
    // `--collector.netclass` gets by default).
    let registry = scrape(&live_config(&["--collector.netclass"]), is_netclass);
    let after = netclass_sysfs_mode(true);
    assert_between_or_equal(&got, &registry, &after);
}

/// `got`'s series are `before`'s and `after`'s, each equal to both, or,
/// for a counter, between them.
fn assert_between_or_equal(
    before: &BTreeMap<String, f64>,
    got: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "series differ"
    );
    for (series, v) in got {
        assert_series_between(series, before[series], *v, after[series]);
    }
}

#[test]
fn netlink_netclass_honours_ignored_devices_and_ignore_invalid_speed() {
    // Meant for any host: CI's interfaces are not this one's. Devices
    // whose link settings say SPEED_UNKNOWN (sysfs speed -1, e.g.
    // virtio_net) are checked where the host has them; the unit test
    // `ignored_devices_and_unknown_speeds_are_left_out` covers that
    // filtering on constructed dumps everywhere.
    let unknown: Vec<String> = sysfs_devices()
        .into_iter()
        .filter(|d| sysfs_attr(d, "speed").as_deref() == Some("-1"))
        .collect();
    let speed = |d: &str| format!("node_network_speed_bytes{{device=\"{d}\"}}");
    let speeds = |m: &BTreeMap<String, f64>| -> BTreeMap<String, f64> {
        m.iter()
            .filter(|(k, _)| k.starts_with("node_network_speed_bytes{"))
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    };
    let plain = scrape(
        &live_config(&["--collector.netclass", "--collector.netclass.netlink"]),
        is_netclass,
    );
    let dropped = scrape(
        &live_config(&[
            "--collector.netclass",
            "--collector.netclass.netlink",
            "--collector.netclass.ignore-invalid-speed",
        ]),
        is_netclass,
    );
    // Without the flag an unknown speed is node_exporter's u32 reading;
    // with it, left out, the device's other series kept.
    let unknown_bytes = f64::from(u32::MAX) * 125000.0;
    for d in &unknown {
        assert_eq!(plain.get(&speed(d)), Some(&unknown_bytes));
        assert!(dropped.contains_key(&format!("node_network_up{{device=\"{d}\"}}")));
    }
    // Every speed the flag must keep (known ones, on any host) is
    // unchanged by it, and only unknown ones go. A device that is down
    // has no sysfs speed (EINVAL) but may be in the ethtool dump with an
    // unknown one: the netlink value decides there.
    for (series, v) in speeds(&plain) {
        let device = &split_series(&series).1["device"];
        if admin_up(device) {
            let sysfs_unknown = sysfs_attr(device, "speed").as_deref() == Some("-1");
            assert_eq!(v == unknown_bytes, sysfs_unknown, "{series} = {v}");
        }
        let want = (v != unknown_bytes).then_some(v);
        assert_eq!(dropped.get(&series).copied(), want, "{series}");
    }
    assert!(
        speeds(&dropped).keys().all(|k| plain.contains_key(k)),
        "{dropped:#?}"
    );
    let not_speed = |m: &BTreeMap<String, f64>| -> Vec<String> {
        m.keys()
            .filter(|k| !k.starts_with("node_network_speed_bytes{"))
            .cloned()
            .collect()
    };
    assert_eq!(
        not_speed(&plain),
        not_speed(&dropped),
        "the flag changed more than speeds"
    );

    // Ignoring a device drops all of its series, speed included, and
    // nothing else: one with a speed where the host has one, else lo
    // (every network namespace has it).
    let device = speeds(&plain)
        .keys()
        .next()
        .map(|k| split_series(k).1["device"].clone())
        .unwrap_or_else(|| "lo".to_owned());
    let ignoring = scrape(
        &live_config(&[
            "--collector.netclass",
            "--collector.netclass.netlink",
            &format!(
                "--collector.netclass.ignored-devices=^{}$",
                regex_lite::escape(&device)
            ),
        ]),
        is_netclass,
    );
    let of_device = |k: &String| split_series(k).1.get("device") == Some(&device);
    assert!(
        plain.keys().any(of_device),
        "{device} is not in the link dump"
    );
    assert!(!ignoring.keys().any(of_device), "{ignoring:#?}");
    let others = |m: &BTreeMap<String, f64>| -> Vec<String> {
        m.keys().filter(|k| !of_device(k)).cloned().collect()
    };
    assert_eq!(others(&plain), others(&ignoring));
}

/// The files of `/sys/class/net/<device>/statistics/` that node_exporter's
/// `--collector.netclass_rtnl.with-stats` exports (the fields of the
/// kernel's `rtnl_link_stats64` up to `rx_nohandler`), with the series
/// suffix it gives each.
const STATISTICS: [(&str, &str); 24] = [
    ("rx_packets", "receive_packets_total"),
    ("tx_packets", "transmit_packets_total"),
    ("rx_bytes", "receive_bytes_total"),
    ("tx_bytes", "transmit_bytes_total"),
    ("rx_errors", "receive_errors_total"),
    ("tx_errors", "transmit_errors_total"),
    ("rx_dropped", "receive_dropped_total"),
    ("tx_dropped", "transmit_dropped_total"),
    ("multicast", "multicast_total"),
    ("collisions", "collisions_total"),
    ("rx_length_errors", "receive_length_errors_total"),
    ("rx_over_errors", "receive_over_errors_total"),
    ("rx_crc_errors", "receive_crc_errors_total"),
    ("rx_frame_errors", "receive_frame_errors_total"),
    ("rx_fifo_errors", "receive_fifo_errors_total"),
    ("rx_missed_errors", "receive_missed_errors_total"),
    ("tx_aborted_errors", "transmit_aborted_errors_total"),
    ("tx_carrier_errors", "transmit_carrier_errors_total"),
    ("tx_fifo_errors", "transmit_fifo_errors_total"),
    ("tx_heartbeat_errors", "transmit_heartbeat_errors_total"),
    ("tx_window_errors", "transmit_window_errors_total"),
    ("rx_compressed", "receive_compressed_total"),
    ("tx_compressed", "transmit_compressed_total"),
    ("rx_nohandler", "receive_nohandler_total"),
];

fn is_stats(name: &str) -> bool {
    STATISTICS
        .iter()
        .any(|(_, suffix)| name.strip_prefix("node_network_") == Some(suffix))
}

/// The interfaces of this network namespace (`/sys/class/net`).
fn sysfs_devices() -> Vec<String> {
    std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| std::path::Path::new("/sys/class/net").join(n).is_dir())
        .collect()
}

/// Every interface's [`STATISTICS`] from sysfs (the kernel's
/// `dev_get_stats`, as `IFLA_STATS64` is), as the with-stats series.
fn sysfs_statistics() -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for device in sysfs_devices() {
        for (file, suffix) in STATISTICS {
            let v = sysfs_attr(&device, &format!("statistics/{file}"))
                .unwrap_or_else(|| panic!("{device}: no statistics/{file}"));
            out.insert(
                format!("node_network_{suffix}{{device=\"{device}\"}}"),
                v.parse().unwrap(),
            );
        }
    }
    out
}

#[test]
fn netclass_with_stats_matches_sysfs_statistics_and_node_exporter_on_the_live_host() {
    const WITH_STATS: &str = "--collector.netclass_rtnl.with-stats";
    let (_ne, port) = node_exporter_netclass_netlink(&[WITH_STATS]);
    let config = live_config(&[
        "--collector.netclass",
        "--collector.netclass.netlink",
        WITH_STATS,
    ]);
    // Counters only move forward: sysfs ≤ Outpost ≤ node_exporter ≤
    // Outpost ≤ sysfs, each read after the one before it.
    let sys_before = sysfs_statistics();
    let ours_before = scrape_text(&config);
    let (status, theirs) = support::http_get(&format!("http://127.0.0.1:{port}/metrics")).unwrap();
    assert_eq!(status, 200);
    let ours_after = scrape(&config, is_stats);
    let sys_after = sysfs_statistics();
    assert!(
        sys_before.keys().any(|k| k.contains("device=\"lo\"")),
        "no lo in /sys/class/net"
    );
    let ours = parse_exposition(&ours_before, is_stats);
    let theirs = parse_exposition(&theirs, is_stats);
    assert!(
        !theirs.samples.is_empty(),
        "node_exporter 1.5 exported no statistics with {WITH_STATS}"
    );
    let chain = [
        &sys_before,
        &ours.samples,
        &theirs.samples,
        &ours_after,
        &sys_after,
    ];
    for w in chain.windows(3) {
        assert_between(w[0], w[1], w[2]);
    }
    // Same help and type (gauge, as node_exporter pushes them) per family.
    assert_eq!(ours.meta, theirs.meta);
    assert_eq!(ours.meta.len(), 2 * STATISTICS.len(), "{:#?}", ours.meta);
    assert!(ours
        .meta
        .iter()
        .filter(|(k, _)| k.starts_with("TYPE "))
        .all(|(_, v)| v == "gauge"));

    // --collector.netclass.ignored-devices leaves a device's statistics
    // out too (lo: every namespace has it).
    let ignoring = scrape(
        &live_config(&[
            "--collector.netclass",
            "--collector.netclass.netlink",
            WITH_STATS,
            "--collector.netclass.ignored-devices=^lo$",
        ]),
        is_stats,
    );
    let not_lo: Vec<&String> = sys_before
        .keys()
        .filter(|k| !k.contains("{device=\"lo\"}"))
        .collect();
    assert_eq!(ignoring.keys().collect::<Vec<_>>(), not_lo);

    // Without the flag, or in the sysfs mode, none of these series.
    for flags in [
        &["--collector.netclass", "--collector.netclass.netlink"][..],
        &["--collector.netclass", WITH_STATS][..],
    ] {
        let got = scrape(&live_config(flags), is_stats);
        assert!(got.is_empty(), "{flags:?}: {got:#?}");
    }
}

#[test]
fn netclass_with_stats_replaces_netdevs_same_named_counters() {
    // node_exporter's help: "replacing netdev collector". With both on,
    // each name is served once: netclass's gauge where the names meet,
    // netdev's counter for its own /proc/net/dev names.
    let text = scrape_text(&live_config(&[
        "--collector.netclass",
        "--collector.netclass.netlink",
        "--collector.netclass_rtnl.with-stats",
        "--collector.netdev",
        "--collector.netdev.device-exclude=",
    ]));
    let types: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .filter(|(name, _)| name.starts_with("node_network_") && name.ends_with("_total"))
        .collect();
    let mut names: Vec<&str> = types.iter().map(|(n, _)| *n).collect();
    names.dedup();
    assert_eq!(
        names.len(),
        types.len(),
        "a family served twice: {types:#?}"
    );
    for (name, kind) in &types {
        let want = if is_stats(name) { "gauge" } else { "counter" };
        assert_eq!(*kind, want, "{name}");
    }
    // netdev's folded names stay (receive_errs, transmit_colls, …).
    let errs = parse_exposition(&text, |n| n == "node_network_receive_errs_total");
    assert_eq!(
        errs.samples.len(),
        sysfs_devices().len(),
        "{:#?}",
        errs.samples
    );
    let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let mut series: Vec<&str> = samples
        .iter()
        .filter_map(|l| l.rsplit_once(' ').map(|(s, _)| s))
        .collect();
    series.sort();
    let len = series.len();
    series.dedup();
    assert_eq!(series.len(), len, "a series served twice");
}
