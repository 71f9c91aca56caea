//! `netdev`: per-interface receive and transmit counters
//! (`node_network_receive_*_total`, `node_network_transmit_*_total`), as
//! node_exporter 1.12 reads them:
//!
//! - `--collector.netdev.netlink` (the default): the kernel's 64-bit link
//!   statistics over rtnetlink (`RTM_GETLINK`, `IFLA_STATS64`, falling back
//!   to the 32-bit `IFLA_STATS`), 24 counters per interface;
//! - `--no-collector.netdev.netlink`: the 16 columns of `/proc/net/dev`
//!   under `--path.procfs`.
//!
//! Unless `--collector.netdev.enable-detailed-metrics`, both are folded
//! into `/proc/net/dev`'s names the way the kernel prints that file
//! ([`legacy`]): `receive_drop` = dropped + missed, `receive_frame` =
//! frame + length + over + crc, `transmit_carrier` = carrier + aborted +
//! heartbeat + window, and so on. The netlink set keeps one counter more,
//! `receive_nohandler`.
//!
//! Also: `--collector.netdev.label-ifalias` adds an `ifalias` label (from
//! `/sys/class/net/<iface>/ifalias`) to every series of an interface under
//! `/sys/class/net`; `--collector.netdev.address-info` exports
//! `node_network_address_info{device,address,netmask,scope}` for every
//! interface address (over rtnetlink in both modes, as node_exporter asks
//! Go's `net.Interfaces`).
//!
//! Interfaces matching `--collector.netdev.device-exclude` (default `^lo$`,
//! as Debian's node_exporter ships it) are left out.
//!
//! Decisions:
//! - The kernel is asked through [`rtnl::Source`], so the mapping from
//!   link messages to series is tested on constructed messages.
//! - With `--collector.netclass_rtnl.with-stats` in netclass's netlink
//!   mode, netclass serves the raw [`NETLINK_FIELDS`] names as gauges
//!   ("replacing netdev collector", node_exporter's help says); when both
//!   collectors run, node_exporter serves whichever family reaches its
//!   registry first and logs the other's samples as inconsistent on every
//!   scrape. Outpost leaves those names out of netdev instead
//!   ([`Options::yield_to_netclass_stats`]), so one family of each name is
//!   served, always netclass's.

use std::collections::BTreeMap;
use std::net::IpAddr;

use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkMessage, Stats64};

use crate::exporter::collector::{class_entries, read, read_attr, CollectError, Collector, Paths};
use crate::exporter::intern;
use crate::exporter::matcher::DeviceFilter;
use crate::exporter::metrics::Metrics;
use crate::exporter::rtnl;

/// node_exporter 1.5's default `--collector.netdev.device-exclude` as
/// Debian ships it.
pub const DEFAULT_DEVICE_EXCLUDE: &str = "^lo$";

/// How the collector reads and names (the `--collector.netdev.*` flags).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub filter: DeviceFilter,
    /// `--collector.netdev.netlink`: rtnetlink rather than `/proc/net/dev`.
    pub netlink: bool,
    /// `--collector.netdev.enable-detailed-metrics`: the raw names.
    pub detailed: bool,
    /// `--collector.netdev.address-info`.
    pub address_info: bool,
    /// `--collector.netdev.label-ifalias`.
    pub label_ifalias: bool,
    /// Leave out the series netclass serves under
    /// `--collector.netclass_rtnl.with-stats` (the [`NETLINK_FIELDS`]
    /// names): set when that flag, netclass's netlink mode and the netclass
    /// collector are all on, as the flag replaces these counters.
    pub yield_to_netclass_stats: bool,
}

/// One interface's counters under node_exporter's raw names (before
/// [`legacy`]).
#[derive(Debug, PartialEq)]
pub struct DeviceStats {
    pub name: String,
    pub counters: BTreeMap<&'static str, u64>,
}

/// The columns of `/proc/net/dev`, in order, under node_exporter's names.
const PROC_FIELDS: [&str; 16] = [
    "receive_bytes",
    "receive_packets",
    "receive_errors",
    "receive_dropped",
    "receive_fifo",
    "receive_frame",
    "receive_compressed",
    "receive_multicast",
    "transmit_bytes",
    "transmit_packets",
    "transmit_errors",
    "transmit_dropped",
    "transmit_fifo",
    "transmit_colls",
    "transmit_carrier",
    "transmit_compressed",
];

/// Parses `/proc/net/dev`: two header lines, then `iface: 16 counters`.
pub fn parse(text: &str) -> Result<Vec<DeviceStats>, CollectError> {
    const WHAT: &str = "/proc/net/dev";
    let mut out = Vec::new();
    for line in text.lines().skip(2).filter(|l| !l.trim().is_empty()) {
        let (name, rest) = line
            .split_once(':')
            .ok_or_else(|| CollectError::parse(WHAT, format!("malformed line {line:?}")))?;
        let nums: Vec<u64> = rest
            .split_whitespace()
            .map(str::parse::<u64>)
            .collect::<Result<_, _>>()
            .map_err(|_| CollectError::parse(WHAT, format!("bad counter in {line:?}")))?;
        if nums.len() != PROC_FIELDS.len() {
            return Err(CollectError::parse(
                WHAT,
                format!("expected 16 counters in {line:?}"),
            ));
        }
        out.push(DeviceStats {
            name: name.trim().to_owned(),
            counters: PROC_FIELDS.into_iter().zip(nums).collect(),
        });
    }
    Ok(out)
}

/// The statistics of a link dump, one entry per named link that carries
/// `IFLA_STATS64` (or, from older kernels, `IFLA_STATS`); links without
/// either are skipped, as node_exporter does.
pub fn from_links(links: &[LinkMessage]) -> Vec<DeviceStats> {
    links
        .iter()
        .filter_map(|link| {
            let name = rtnl::link_name(link)?;
            let stats = link.attributes.iter().find_map(|a| match a {
                LinkAttribute::Stats64(s) => Some(*s),
                _ => None,
            });
            let stats = stats.or_else(|| {
                link.attributes.iter().find_map(|a| match a {
                    LinkAttribute::Stats(s) => Some(widen(s)),
                    _ => None,
                })
            })?;
            Some(DeviceStats {
                name: name.to_owned(),
                counters: netlink_counters(&stats),
            })
        })
        .collect()
}

/// The 32-bit statistics as 64-bit ones.
fn widen(s: &netlink_packet_route::link::Stats) -> Stats64 {
    let mut w = Stats64::default();
    w.rx_packets = s.rx_packets.into();
    w.tx_packets = s.tx_packets.into();
    w.rx_bytes = s.rx_bytes.into();
    w.tx_bytes = s.tx_bytes.into();
    w.rx_errors = s.rx_errors.into();
    w.tx_errors = s.tx_errors.into();
    w.rx_dropped = s.rx_dropped.into();
    w.tx_dropped = s.tx_dropped.into();
    w.multicast = s.multicast.into();
    w.collisions = s.collisions.into();
    w.rx_length_errors = s.rx_length_errors.into();
    w.rx_over_errors = s.rx_over_errors.into();
    w.rx_crc_errors = s.rx_crc_errors.into();
    w.rx_frame_errors = s.rx_frame_errors.into();
    w.rx_fifo_errors = s.rx_fifo_errors.into();
    w.rx_missed_errors = s.rx_missed_errors.into();
    w.tx_aborted_errors = s.tx_aborted_errors.into();
    w.tx_carrier_errors = s.tx_carrier_errors.into();
    w.tx_fifo_errors = s.tx_fifo_errors.into();
    w.tx_heartbeat_errors = s.tx_heartbeat_errors.into();
    w.tx_window_errors = s.tx_window_errors.into();
    w.rx_compressed = s.rx_compressed.into();
    w.tx_compressed = s.tx_compressed.into();
    w.rx_nohandler = s.rx_nohandler.into();
    w
}

/// node_exporter's names for the `rtnl_link_stats64` fields it exports,
/// in the struct's order: netdev's netlink set, and netclass's
/// `--collector.netclass_rtnl.with-stats` series (with `_total`).
pub const NETLINK_FIELDS: [&str; 24] = [
    "receive_packets",
    "transmit_packets",
    "receive_bytes",
    "transmit_bytes",
    "receive_errors",
    "transmit_errors",
    "receive_dropped",
    "transmit_dropped",
    "multicast",
    "collisions",
    "receive_length_errors",
    "receive_over_errors",
    "receive_crc_errors",
    "receive_frame_errors",
    "receive_fifo_errors",
    "receive_missed_errors",
    "transmit_aborted_errors",
    "transmit_carrier_errors",
    "transmit_fifo_errors",
    "transmit_heartbeat_errors",
    "transmit_window_errors",
    "receive_compressed",
    "transmit_compressed",
    "receive_nohandler",
];

/// The [`NETLINK_FIELDS`] of one interface's statistics, by name.
pub fn netlink_counters(s: &Stats64) -> BTreeMap<&'static str, u64> {
    let values = [
        s.rx_packets,
        s.tx_packets,
        s.rx_bytes,
        s.tx_bytes,
        s.rx_errors,
        s.tx_errors,
        s.rx_dropped,
        s.tx_dropped,
        s.multicast,
        s.collisions,
        s.rx_length_errors,
        s.rx_over_errors,
        s.rx_crc_errors,
        s.rx_frame_errors,
        s.rx_fifo_errors,
        s.rx_missed_errors,
        s.tx_aborted_errors,
        s.tx_carrier_errors,
        s.tx_fifo_errors,
        s.tx_heartbeat_errors,
        s.tx_window_errors,
        s.rx_compressed,
        s.tx_compressed,
        s.rx_nohandler,
    ];
    NETLINK_FIELDS.into_iter().zip(values).collect()
}

/// Folds the raw names into `/proc/net/dev`'s, summing as the kernel does
/// when it prints that file (net/core/net-procfs.c); names already in
/// that form (the procfs set's `receive_fifo`) are kept.
pub fn legacy(c: &mut BTreeMap<&'static str, u64>) {
    // (raw name, legacy name, raw names added to it)
    const RULES: [(&str, &str, &[&str]); 10] = [
        ("receive_errors", "receive_errs", &[]),
        (
            "receive_dropped",
            "receive_drop",
            &["receive_missed_errors"],
        ),
        ("receive_fifo_errors", "receive_fifo", &[]),
        (
            "receive_frame_errors",
            "receive_frame",
            &[
                "receive_length_errors",
                "receive_over_errors",
                "receive_crc_errors",
            ],
        ),
        ("multicast", "receive_multicast", &[]),
        ("transmit_errors", "transmit_errs", &[]),
        ("transmit_dropped", "transmit_drop", &[]),
        ("transmit_fifo_errors", "transmit_fifo", &[]),
        ("collisions", "transmit_colls", &[]),
        (
            "transmit_carrier_errors",
            "transmit_carrier",
            &[
                "transmit_aborted_errors",
                "transmit_heartbeat_errors",
                "transmit_window_errors",
            ],
        ),
    ];
    for (raw, name, added) in RULES {
        if let Some(v) = c.remove(raw) {
            let sum = added
                .iter()
                .fold(v, |acc, k| acc.wrapping_add(c.remove(k).unwrap_or(0)));
            c.insert(name, sum);
        }
    }
}

/// One `node_network_address_info` series.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AddressInfo {
    pub device: String,
    pub address: String,
    pub netmask: String,
    pub scope: &'static str,
}

/// Every interface address of an address dump, named by the link dump;
/// a point-to-point IPv4 address is its local end (`IFA_LOCAL`), as Go's
/// `net.Interface.Addrs` reports it.
pub fn address_info(links: &[LinkMessage], addresses: &[AddressMessage]) -> Vec<AddressInfo> {
    let names = rtnl::link_names(links);
    let mut out: Vec<AddressInfo> = addresses
        .iter()
        .filter_map(|a| {
            let device = names.get(&a.header.index)?;
            let local = a.attributes.iter().find_map(|x| match x {
                AddressAttribute::Local(ip) => Some(*ip),
                _ => None,
            });
            let ip = local.or_else(|| {
                a.attributes.iter().find_map(|x| match x {
                    AddressAttribute::Address(ip) => Some(*ip),
                    _ => None,
                })
            })?;
            Some(AddressInfo {
                device: device.clone(),
                address: ip.to_string(),
                netmask: a.header.prefix_len.to_string(),
                scope: scope(ip),
            })
        })
        .collect();
    out.sort();
    out
}

/// node_exporter's `scope` label, from the address alone (Go's `net.IP`
/// predicates, not the kernel's `IFA_SCOPE`): `link-local` for loopback
/// and link-local addresses, `interface-local` for ff01::/16 multicast,
/// `global` for any other unicast address, else empty.
pub fn scope(ip: IpAddr) -> &'static str {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            let link_local_multicast = o[0] == 224 && o[1] == 0 && o[2] == 0;
            if v4.is_loopback() || v4.is_link_local() || link_local_multicast {
                "link-local"
            } else if v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast() {
                ""
            } else {
                "global"
            }
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let multicast = v6.is_multicast();
            let link_local_unicast = s[0] & 0xffc0 == 0xfe80;
            if v6.is_loopback() || link_local_unicast || (multicast && s[0] & 0x0f == 0x02) {
                "link-local"
            } else if multicast && s[0] & 0x0f == 0x01 {
                "interface-local"
            } else if v6.is_unspecified() || multicast {
                ""
            } else {
                "global"
            }
        }
    }
}

pub struct Netdev {
    paths: Paths,
    options: Options,
    source: Box<dyn rtnl::Source>,
}

impl Netdev {
    pub fn new(paths: Paths, options: Options) -> Self {
        Self::with_source(paths, options, Box::new(rtnl::Kernel))
    }

    pub fn with_source(paths: Paths, options: Options, source: Box<dyn rtnl::Source>) -> Self {
        Netdev {
            paths,
            options,
            source,
        }
    }

    fn stats(&self) -> Result<Vec<DeviceStats>, CollectError> {
        if self.options.netlink {
            let links = self.source.links().map_err(rtnl_error)?;
            Ok(from_links(&links))
        } else {
            parse(&read(&self.paths.proc("net/dev"))?)
        }
    }

    /// `ifalias` of every interface under `/sys/class/net` (empty when the
    /// interface has none).
    fn aliases(&self) -> Result<BTreeMap<String, String>, CollectError> {
        let base = self.paths.sys("class/net");
        Ok(class_entries(&base, "/sys/class/net")?
            .into_iter()
            .filter(|name| base.join(name).is_dir())
            .map(|name| {
                let alias = read_attr(&base.join(&name).join("ifalias")).unwrap_or_default();
                (name, alias)
            })
            .collect())
    }
}

fn rtnl_error(e: rtnl::RtnlError) -> CollectError {
    CollectError::Other(e.to_string())
}

impl Collector for Netdev {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let mut devices: Vec<DeviceStats> = self
            .stats()?
            .into_iter()
            .filter(|d| !self.options.filter.ignored(&d.name))
            .collect();
        let aliases = match self.options.label_ifalias {
            true => Some(self.aliases()?),
            false => None,
        };
        let addresses = match self.options.address_info {
            true => {
                let links = self.source.links().map_err(rtnl_error)?;
                let addrs = self.source.addresses().map_err(rtnl_error)?;
                address_info(&links, &addrs)
            }
            false => Vec::new(),
        };
        for d in devices.iter_mut() {
            if !self.options.detailed {
                legacy(&mut d.counters);
            }
            let alias = aliases.as_ref().and_then(|a| a.get(&d.name));
            let mut labels = vec![("device", d.name.as_str())];
            labels.extend(alias.map(|a| ("ifalias", a.as_str())));
            for (field, value) in &d.counters {
                if self.options.yield_to_netclass_stats && NETLINK_FIELDS.contains(field) {
                    continue;
                }
                out.counter(
                    intern::concat(&["node_network_", field, "_total"]),
                    intern::concat(&["Network device statistic ", field, "."]),
                )
                .add(&labels, *value as f64);
            }
        }
        if self.options.address_info {
            let fam = out.gauge(
                "node_network_address_info",
                "node network address by device",
            );
            for a in &addresses {
                fam.add(
                    &[
                        ("device", a.device.as_str()),
                        ("address", a.address.as_str()),
                        ("netmask", a.netmask.as_str()),
                        ("scope", a.scope),
                    ],
                    1.0,
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::exporter::matcher::Matcher;
    use crate::exporter::rtnl::RtnlError;
    use netlink_packet_route::address::AddressMessage;
    use netlink_packet_route::neighbour::NeighbourMessage;
    use netlink_packet_route::AddressFamily;

    const TEXT: &str = "Inter-|   Receive                                                |  Transmit\n \
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:  308816     436    0    0    0     0          0         0   308816     436    0    0    0     0       0          0\n  \
eth0: 1000 10 1 2 3 4 5 6 2000 20 7 8 9 10 11 12\n";

    /// 64-bit statistics whose fields are 1, 2, 3… in `rtnl_link_stats64`'s
    /// order (the 25th, `rx_otherhost_dropped`, is one node_exporter does
    /// not export).
    pub(crate) fn numbered_stats64() -> Stats64 {
        let mut s = Stats64::default();
        let fields: [&mut u64; 25] = [
            &mut s.rx_packets,
            &mut s.tx_packets,
            &mut s.rx_bytes,
            &mut s.tx_bytes,
            &mut s.rx_errors,
            &mut s.tx_errors,
            &mut s.rx_dropped,
            &mut s.tx_dropped,
            &mut s.multicast,
            &mut s.collisions,
            &mut s.rx_length_errors,
            &mut s.rx_over_errors,
            &mut s.rx_crc_errors,
            &mut s.rx_frame_errors,
            &mut s.rx_fifo_errors,
            &mut s.rx_missed_errors,
            &mut s.tx_aborted_errors,
            &mut s.tx_carrier_errors,
            &mut s.tx_fifo_errors,
            &mut s.tx_heartbeat_errors,
            &mut s.tx_window_errors,
            &mut s.rx_compressed,
            &mut s.tx_compressed,
            &mut s.rx_nohandler,
            &mut s.rx_otherhost_dropped,
        ];
        for (v, f) in (1..).zip(fields) {
            *f = v;
        }
        s
    }

    /// A link message as the kernel sends it in a dump: index, name and
    /// [`numbered_stats64`].
    fn link(index: u32, name: &str) -> LinkMessage {
        let s = numbered_stats64();
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.attributes.push(LinkAttribute::IfName(name.into()));
        m.attributes.push(LinkAttribute::Stats64(s));
        m
    }

    fn address(index: u32, prefix: u8, attrs: Vec<AddressAttribute>) -> AddressMessage {
        let mut a = AddressMessage::default();
        a.header.index = index;
        a.header.prefix_len = prefix;
        a.header.family = AddressFamily::Inet;
        a.attributes = attrs;
        a
    }

    /// A recorded kernel: fixed dumps.
    struct Recorded {
        links: Vec<LinkMessage>,
        addresses: Vec<AddressMessage>,
    }

    impl rtnl::Source for Recorded {
        fn links(&self) -> Result<std::sync::Arc<[LinkMessage]>, RtnlError> {
            Ok(self.links.clone().into())
        }
        fn neighbours(&self) -> Result<Vec<NeighbourMessage>, RtnlError> {
            Ok(Vec::new())
        }
        fn addresses(&self) -> Result<Vec<AddressMessage>, RtnlError> {
            Ok(self.addresses.clone())
        }
    }

    fn paths(dir: &std::path::Path) -> Paths {
        Paths {
            procfs: dir.into(),
            sysfs: dir.into(),
            rootfs: dir.into(),
            udev_data: None,
        }
    }

    fn value(m: &Metrics, name: &str, device: &str) -> Option<f64> {
        let fam = m.get(name)?;
        (0..fam.len())
            .map(|i| fam.sample(i))
            .find(|s| s.label("device") == Some(device))
            .map(|s| s.value)
    }

    #[test]
    fn parses_every_column() {
        let d = parse(TEXT).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[1].name, "eth0");
        assert_eq!(d[1].counters["receive_bytes"], 1000);
        assert_eq!(d[1].counters["transmit_compressed"], 12);
        assert_eq!(d[1].counters.len(), 16);
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(parse("h\nh\neth0 1 2 3\n").is_err());
        assert!(parse("h\nh\neth0: 1 2 3\n").is_err());
        assert!(parse("h\nh\neth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x\n").is_err());
    }

    #[test]
    fn procfs_names_survive_legacy_folding() {
        let mut d = parse(TEXT).unwrap().remove(1);
        legacy(&mut d.counters);
        let names: Vec<&str> = d.counters.keys().copied().collect();
        assert_eq!(
            names,
            [
                "receive_bytes",
                "receive_compressed",
                "receive_drop",
                "receive_errs",
                "receive_fifo",
                "receive_frame",
                "receive_multicast",
                "receive_packets",
                "transmit_bytes",
                "transmit_carrier",
                "transmit_colls",
                "transmit_compressed",
                "transmit_drop",
                "transmit_errs",
                "transmit_fifo",
                "transmit_packets",
            ]
        );
        assert_eq!(d.counters["receive_errs"], 1);
        assert_eq!(d.counters["receive_drop"], 2);
    }

    #[test]
    fn netlink_statistics_fold_as_the_kernel_prints_proc_net_dev() {
        let mut d = from_links(&[link(2, "eth0")]).remove(0);
        assert_eq!(d.counters.len(), 24);
        legacy(&mut d.counters);
        let c = &d.counters;
        // 16 /proc/net/dev names plus receive_nohandler.
        assert_eq!(c.len(), 17);
        assert_eq!(c["receive_packets"], 1);
        assert_eq!(c["transmit_bytes"], 4);
        assert_eq!(c["receive_errs"], 5);
        // dropped (7) + missed (16)
        assert_eq!(c["receive_drop"], 7 + 16);
        assert_eq!(c["transmit_drop"], 8);
        assert_eq!(c["receive_multicast"], 9);
        assert_eq!(c["transmit_colls"], 10);
        // frame (14) + length (11) + over (12) + crc (13)
        assert_eq!(c["receive_frame"], 14 + 11 + 12 + 13);
        assert_eq!(c["receive_fifo"], 15);
        // carrier (18) + aborted (17) + heartbeat (20) + window (21)
        assert_eq!(c["transmit_carrier"], 18 + 17 + 20 + 21);
        assert_eq!(c["transmit_fifo"], 19);
        assert_eq!(c["receive_compressed"], 22);
        assert_eq!(c["transmit_compressed"], 23);
        assert_eq!(c["receive_nohandler"], 24);
    }

    #[test]
    fn links_without_statistics_are_skipped_and_32_bit_ones_widened() {
        let mut bare = LinkMessage::default();
        bare.header.index = 5;
        bare.attributes.push(LinkAttribute::IfName("dummy0".into()));
        let mut old = LinkMessage::default();
        old.header.index = 6;
        old.attributes.push(LinkAttribute::IfName("old0".into()));
        let mut s = netlink_packet_route::link::Stats::default();
        s.rx_bytes = u32::MAX;
        s.rx_nohandler = 3;
        old.attributes.push(LinkAttribute::Stats(s));
        let d = from_links(&[bare, old]);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].name, "old0");
        assert_eq!(d[0].counters["receive_bytes"], u64::from(u32::MAX));
        assert_eq!(d[0].counters["receive_nohandler"], 3);
    }

    #[test]
    fn detailed_metrics_keep_the_raw_names_with_the_ifalias_label() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("class/net/eth0")).unwrap();
        std::fs::write(
            dir.path().join("class/net/eth0/ifalias"),
            "uplink to core\n",
        )
        .unwrap();
        let source = Recorded {
            links: vec![link(1, "lo"), link(2, "eth0"), link(3, "eth1")],
            addresses: Vec::new(),
        };
        let options = Options {
            filter: DeviceFilter {
                include: None,
                exclude: Some(Matcher::new(DEFAULT_DEVICE_EXCLUDE).unwrap()),
            },
            netlink: true,
            detailed: true,
            address_info: false,
            label_ifalias: true,
            yield_to_netclass_stats: false,
        };
        let mut m = Metrics::new();
        Netdev::with_source(paths(dir.path()), options, Box::new(source))
            .update(&mut m)
            .unwrap();
        assert_eq!(
            value(&m, "node_network_receive_missed_errors_total", "eth0"),
            Some(16.0)
        );
        assert_eq!(value(&m, "node_network_multicast_total", "eth1"), Some(9.0));
        assert!(m.get("node_network_receive_drop_total").is_none());
        assert!(value(&m, "node_network_receive_bytes_total", "lo").is_none());
        let fam = m.get("node_network_receive_bytes_total").unwrap();
        // eth0 is in /sys/class/net (with its alias); eth1 is not.
        let alias = |device: &str| {
            fam.samples()
                .find(|s| s.label("device") == Some(device))
                .map(|s| (s.label("ifalias").map(str::to_owned), s.labels().len()))
        };
        assert_eq!(alias("eth0"), Some((Some("uplink to core".to_owned()), 2)));
        assert_eq!(alias("eth1"), Some((None, 1)));
    }

    #[test]
    fn procfs_mode_reads_proc_net_dev_and_never_the_kernel() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("net")).unwrap();
        std::fs::write(dir.path().join("net/dev"), TEXT).unwrap();
        let options = Options {
            filter: DeviceFilter {
                include: None,
                exclude: Some(Matcher::new(DEFAULT_DEVICE_EXCLUDE).unwrap()),
            },
            ..Options::default()
        };
        let source = Recorded {
            links: vec![link(2, "eth0")],
            addresses: Vec::new(),
        };
        let mut m = Metrics::new();
        Netdev::with_source(paths(dir.path()), options, Box::new(source))
            .update(&mut m)
            .unwrap();
        let fam = m.get("node_network_transmit_carrier_total").unwrap();
        assert_eq!(fam.len(), 1);
        assert_eq!(fam.sample(0).value, 11.0);
        assert!(m.get("node_network_receive_nohandler_total").is_none());
        assert!(m.get("node_network_address_info").is_none());
    }

    /// A kernel that refuses every dump.
    struct Refusing;

    impl rtnl::Source for Refusing {
        fn links(&self) -> Result<std::sync::Arc<[LinkMessage]>, RtnlError> {
            Err(RtnlError::Refused {
                what: "RTM_GETLINK",
                code: -13,
            })
        }
        fn neighbours(&self) -> Result<Vec<NeighbourMessage>, RtnlError> {
            self.links().map(|_| Vec::new())
        }
        fn addresses(&self) -> Result<Vec<AddressMessage>, RtnlError> {
            self.links().map(|_| Vec::new())
        }
    }

    #[test]
    fn a_refused_dump_fails_the_collector_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let options = Options {
            netlink: true,
            ..Options::default()
        };
        let mut m = Metrics::new();
        let e = Netdev::with_source(paths(dir.path()), options, Box::new(Refusing))
            .update(&mut m)
            .unwrap_err();
        assert!(e.to_string().contains("RTM_GETLINK"), "{e}");
        assert!(m.get("node_network_receive_bytes_total").is_none());
    }

    #[test]
    fn yielding_to_netclass_stats_leaves_out_exactly_their_names() {
        // netclass's with-stats series are the 24 raw names: in the folded
        // set that is bytes, packets, compressed and receive_nohandler;
        // in the detailed set, everything.
        for (detailed, kept) in [
            (
                false,
                vec![
                    "receive_drop",
                    "receive_errs",
                    "receive_fifo",
                    "receive_frame",
                    "receive_multicast",
                    "transmit_carrier",
                    "transmit_colls",
                    "transmit_drop",
                    "transmit_errs",
                    "transmit_fifo",
                ],
            ),
            (true, vec![]),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let options = Options {
                netlink: true,
                detailed,
                yield_to_netclass_stats: true,
                ..Options::default()
            };
            let source = Recorded {
                links: vec![link(2, "eth0")],
                addresses: Vec::new(),
            };
            let mut m = Metrics::new();
            Netdev::with_source(paths(dir.path()), options, Box::new(source))
                .update(&mut m)
                .unwrap();
            let names: Vec<String> = m
                .into_sorted()
                .into_iter()
                .map(|f| f.name.into_owned())
                .collect();
            let want: Vec<String> = kept
                .iter()
                .map(|k| format!("node_network_{k}_total"))
                .collect();
            assert_eq!(names, want, "detailed: {detailed}");
        }
    }

    #[test]
    fn address_info_names_device_prefix_and_go_scope() {
        use std::net::{Ipv4Addr, Ipv6Addr};
        let links = vec![link(1, "lo"), link(2, "eth0"), link(4, "tun0")];
        let v4 = |a: [u8; 4]| IpAddr::V4(Ipv4Addr::from(a));
        let addresses = vec![
            address(1, 8, vec![AddressAttribute::Address(v4([127, 0, 0, 1]))]),
            address(
                2,
                24,
                vec![
                    AddressAttribute::Address(v4([192, 0, 2, 10])),
                    AddressAttribute::Local(v4([192, 0, 2, 10])),
                ],
            ),
            address(
                2,
                64,
                vec![AddressAttribute::Address(IpAddr::V6(
                    "fe80::1".parse::<Ipv6Addr>().unwrap(),
                ))],
            ),
            // Point-to-point: IFA_ADDRESS is the peer, IFA_LOCAL ours.
            address(
                4,
                32,
                vec![
                    AddressAttribute::Address(v4([10, 8, 0, 1])),
                    AddressAttribute::Local(v4([10, 8, 0, 2])),
                ],
            ),
            // An index no link has: dropped.
            address(9, 24, vec![AddressAttribute::Address(v4([10, 9, 0, 1]))]),
        ];
        let got = address_info(&links, &addresses);
        let rows: Vec<(&str, &str, &str, &str)> = got
            .iter()
            .map(|a| {
                (
                    a.device.as_str(),
                    a.address.as_str(),
                    a.netmask.as_str(),
                    a.scope,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("eth0", "192.0.2.10", "24", "global"),
                ("eth0", "fe80::1", "64", "link-local"),
                ("lo", "127.0.0.1", "8", "link-local"),
                ("tun0", "10.8.0.2", "32", "global"),
            ]
        );
    }

    #[test]
    fn scope_follows_go_net_ip_predicates() {
        let s = |t: &str| scope(t.parse().unwrap());
        assert_eq!(s("169.254.1.1"), "link-local");
        assert_eq!(s("224.0.0.251"), "link-local");
        assert_eq!(s("239.1.1.1"), "");
        assert_eq!(s("255.255.255.255"), "");
        assert_eq!(s("0.0.0.0"), "");
        assert_eq!(s("10.0.0.1"), "global");
        assert_eq!(s("::1"), "link-local");
        assert_eq!(s("ff02::1"), "link-local");
        assert_eq!(s("ff01::1"), "interface-local");
        assert_eq!(s("ff05::2"), "");
        assert_eq!(s("2001:db8::1"), "global");
        assert_eq!(s("::ffff:169.254.0.1"), "link-local");
    }
}
