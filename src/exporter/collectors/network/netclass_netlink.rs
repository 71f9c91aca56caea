//! `netclass` with `--collector.netclass.netlink` (node_exporter's
//! `netclass_rtnl.go`): the interface attributes from one `RTM_GETLINK`
//! dump, speed and duplex from the ethtool family's LINKMODES dump, and
//! the three attributes rtnetlink does not carry (`addr_assign_type`,
//! `dev_id`, `name_assign_type`) from `/sys/class/net/<iface>/`. Netlink
//! answers for the running kernel, whatever `--path.sysfs` says; the three
//! sysfs reads honour it.
//!
//! What node_exporter's code makes of the messages, and so this file:
//! - `up` is 1 when `IFLA_OPERSTATE` is `IF_OPER_UP`; `info` has the labels
//!   `device`, `address`, `broadcast` (`IFLA_ADDRESS`/`IFLA_BROADCAST` as
//!   lower-case `aa:bb:…`, empty when absent), `duplex`, `operstate` (the
//!   kernel's name for `IFLA_OPERSTATE`) and `ifalias` (`IFLA_IFALIAS`),
//!   and no `adminstate` (that label is the sysfs mode's); its help text is
//!   "Non-numeric data of <iface>, value is always 1.".
//! - `duplex` is the ethtool library's name for `ETHTOOL_A_LINKMODES_DUPLEX`
//!   (`Half`, `Full`, `Unknown`, else `Duplex(N)`), empty for a device the
//!   LINKMODES dump leaves out (no link settings, e.g. `lo`).
//! - `speed_bytes` is exported for every device of the LINKMODES dump
//!   (down ones included), as `speed × 125000`. The speed is read as an
//!   unsigned 32-bit number, so the kernel's `SPEED_UNKNOWN` (-1) becomes
//!   4294967295 Mbit/s = 536870911875000 bytes/s, where the sysfs mode
//!   exports -125000.
//! - `flags` is the message's `ifi_flags` (`dev_get_flags()`: with
//!   `IFF_RUNNING`, `IFF_LOWER_UP`, `IFF_DORMANT`, which sysfs `flags`
//!   lacks); `iface_id` the index; `iface_link` `IFLA_LINK`, or the index
//!   when the kernel leaves it out (it does when they are equal);
//!   `protocol_type` the message's `ifi_type`.
//! - `carrier` (`IFLA_CARRIER`) and `dormant` are there for down devices
//!   too (sysfs answers `EINVAL` there), and `dormant` carries
//!   `IFLA_LINKMODE`, the same value as `iface_link_mode`: node_exporter
//!   pushes that attribute for both.
//! - `altnames_info{device,altname}`, one per alternative name
//!   (`IFLA_ALT_IFNAME`), exists only in this mode.
//! - `--collector.netclass_rtnl.with-stats` (off by default) adds the 24
//!   fields of the message's `IFLA_STATS64` up to `rx_nohandler`, under
//!   netdev's netlink names plus `_total` (`receive_bytes_total`,
//!   `multicast_total`, `receive_missed_errors_total`, …; the table is
//!   netdev's [`NETLINK_FIELDS`](super::netdev::NETLINK_FIELDS)), labelled
//!   `device`, with the help "Network device property: <name>" and as
//!   gauges, as node_exporter pushes them. A device left out by
//!   `ignored-devices` has none; a message without `IFLA_STATS64` (the
//!   32-bit `IFLA_STATS` only) adds none.
//!
//! The facts come from the newest `netclass_rtnl.go` the project could
//! read (node_exporter 1.6–1.8's, which 1.12 keeps in these respects as
//! far as its docs show) and from the real node_exporter 1.5's netlink
//! mode, which the live tests compare with (1.5 lacks only the three sysfs
//! attributes, added in 1.6, and `altnames_info`; it has `with-stats`). Series order is not a
//! difference: both exporters serve families by name and samples by
//! labels.
//!
//! Decisions:
//! - The three sysfs attributes are read under `--path.sysfs`, where
//!   node_exporter reads a fixed `/sys`: the same files on a host, and the
//!   host's files in a container that mounts them elsewhere.
//! - `--collector.netclass.ignore-invalid-speed` leaves out a speed of
//!   `SPEED_UNKNOWN` here too. node_exporter's netlink code never consults
//!   the flag (its `>= 0` test cannot fail on a number read unsigned), so
//!   with the flag it still exports 536870911875000; the flag exists to
//!   drop exactly that value, so Outpost honours it in both modes. Without
//!   the flag the output is node_exporter's.
//! - `altnames_info` follows node_exporter's documented series (help text
//!   and labels as its docs list them); the version of `netclass_rtnl.go`
//!   that could be read predates it.
//! - A kernel without the ethtool family (before 5.6) is not an error:
//!   no speed and an empty duplex, as node_exporter logs and does.
//! - The with-stats names are netdev's; with netdev on too, netdev leaves
//!   them out (see its module doc) rather than serve a second family of
//!   the same name, where node_exporter serves one at random and logs.

use std::collections::HashMap;
use std::path::Path;

use netlink_packet_route::link::{LinkAttribute, LinkMessage, Prop, Stats64};

use super::netclass::{
    add_property, add_speed, parse_number, property, Options, INFO, UP, UP_HELP,
};
use super::netdev::netlink_counters;
use super::rtnl::{self, LinkModes, Source};
use crate::exporter::collector::{read_attr, CollectError, Paths};
use crate::exporter::intern;
use crate::exporter::metrics::Metrics;

/// The attributes read from sysfs in this mode (node_exporter: they take
/// a per-device lock, not the RTNL lock that reading the others would).
pub const SYSFS_EXTRAS: [&str; 3] = ["addr_assign_type", "dev_id", "name_assign_type"];

/// One interface's [`SYSFS_EXTRAS`], in that order (`None` = unreadable).
pub type Extras = [Option<f64>; 3];

/// `IF_OPER_*` names, by value (`include/uapi/linux/if.h`), as sysfs
/// `operstate` prints them too.
pub(super) const OPERSTATES: [&str; 7] = [
    "unknown",
    "notpresent",
    "down",
    "lowerlayerdown",
    "testing",
    "dormant",
    "up",
];
const IF_OPER_UP: u8 = 6;
/// The kernel's `SPEED_UNKNOWN` as the LINKMODES dump carries it.
const SPEED_UNKNOWN: u32 = u32::MAX;

/// Asks the kernel, reads the extras, and adds the samples.
pub fn collect(paths: &Paths, options: &Options, out: &mut Metrics) -> Result<(), CollectError> {
    let kernel = rtnl::Kernel;
    let netlink = |e: rtnl::RtnlError| CollectError::Other(e.to_string());
    let modes = kernel.link_modes().map_err(netlink)?;
    if modes.is_none() {
        tracing::debug!("ethtool netlink family unavailable: no speed, empty duplex");
    }
    let links = kernel.links().map_err(netlink)?;
    let base = paths.sys("class/net");
    let extras = links
        .iter()
        .filter_map(rtnl::link_name)
        .filter(|name| !options.ignored.ignored(name))
        .map(|name| (name.to_owned(), read_extras(&base.join(name))))
        .collect();
    encode(&links, modes.as_deref(), &extras, options, out);
    Ok(())
}

/// Reads one interface directory's [`SYSFS_EXTRAS`].
pub fn read_extras(dir: &Path) -> Extras {
    SYSFS_EXTRAS.map(|file| read_attr(&dir.join(file)).as_deref().and_then(parse_number))
}

/// What one link message carries for netclass (this mode and the sysfs
/// mode's reads from the dump); `None`/empty where the kernel left the
/// attribute out.
#[derive(Default)]
pub(super) struct Link<'a> {
    pub address: String,
    pub broadcast: String,
    pub ifalias: &'a str,
    pub operstate: Option<u8>,
    pub carrier: Option<u8>,
    pub carrier_changes: Option<u32>,
    pub carrier_up: Option<u32>,
    pub carrier_down: Option<u32>,
    pub link_mode: Option<u8>,
    pub stats: Option<Stats64>,
    pub iflink: Option<u32>,
    pub mtu: Option<u32>,
    pub group: Option<u32>,
    pub tx_queue_len: Option<u32>,
    pub altnames: Vec<&'a str>,
}

pub(super) fn link(message: &LinkMessage) -> Link<'_> {
    let mut l = Link::default();
    for attr in &message.attributes {
        match attr {
            LinkAttribute::Address(a) => l.address = hardware_address(a),
            LinkAttribute::Broadcast(a) => l.broadcast = hardware_address(a),
            LinkAttribute::IfAlias(a) => l.ifalias = a,
            LinkAttribute::OperState(s) => l.operstate = Some(u8::from(*s)),
            LinkAttribute::Carrier(c) => l.carrier = Some(*c),
            LinkAttribute::CarrierChanges(c) => l.carrier_changes = Some(*c),
            LinkAttribute::CarrierUpCount(c) => l.carrier_up = Some(*c),
            LinkAttribute::CarrierDownCount(c) => l.carrier_down = Some(*c),
            LinkAttribute::Mode(m) => l.link_mode = Some(u8::from(*m)),
            LinkAttribute::Stats64(s) => l.stats = Some(*s),
            LinkAttribute::Link(i) => l.iflink = Some(*i),
            LinkAttribute::Mtu(m) => l.mtu = Some(*m),
            LinkAttribute::Group(g) => l.group = Some(*g),
            LinkAttribute::TxQueueLen(q) => l.tx_queue_len = Some(*q),
            LinkAttribute::PropList(props) => {
                l.altnames.extend(props.iter().filter_map(|p| match p {
                    Prop::AltIfName(name) => Some(name.as_str()),
                    _ => None,
                }))
            }
            _ => {}
        }
    }
    l
}

/// A link-layer address as Go's `net.HardwareAddr` prints it, which is
/// also the kernel's `%*phC` in sysfs `address`/`broadcast`: lower-case
/// hex bytes joined by `:`.
pub(super) fn hardware_address(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `ETHTOOL_A_LINKMODES_DUPLEX` as mdlayher/ethtool's `Duplex` names it.
fn duplex_name(duplex: u8) -> String {
    match duplex {
        0 => "Half".into(),
        1 => "Full".into(),
        255 => "Unknown".into(),
        other => format!("Duplex({other})"),
    }
}

/// The pure core: turns the link dump, the LINKMODES dump (`None` when
/// the kernel has no ethtool family) and the sysfs extras by device into
/// samples, leaving out `--collector.netclass.ignored-devices`.
pub fn encode(
    links: &[LinkMessage],
    modes: Option<&[LinkModes]>,
    extras: &HashMap<String, Extras>,
    options: &Options,
    out: &mut Metrics,
) {
    let modes: Vec<&LinkModes> = modes
        .unwrap_or_default()
        .iter()
        .filter(|m| !options.ignored.ignored(&m.device))
        .collect();
    for m in &modes {
        if !(options.ignore_invalid_speed && m.speed_mbps == SPEED_UNKNOWN) {
            add_speed(out, &m.device, f64::from(m.speed_mbps));
        }
    }
    for message in links {
        let Some(device) = rtnl::link_name(message) else {
            continue;
        };
        if options.ignored.ignored(device) {
            continue;
        }
        let l = link(message);
        let index = message.header.index;
        out.gauge(UP, UP_HELP).add(
            &[("device", device)],
            if l.operstate == Some(IF_OPER_UP) {
                1.0
            } else {
                0.0
            },
        );
        let duplex = modes
            .iter()
            .find(|m| m.device == device)
            .map(|m| duplex_name(m.duplex))
            .unwrap_or_default();
        let operstate = OPERSTATES
            .get(usize::from(l.operstate.unwrap_or(0)))
            .copied()
            .unwrap_or("unknown");
        out.gauge(INFO, "Non-numeric data of <iface>, value is always 1.")
            .add(
                &[
                    ("device", device),
                    ("address", &l.address),
                    ("broadcast", &l.broadcast),
                    ("duplex", &duplex),
                    ("operstate", operstate),
                    ("ifalias", l.ifalias),
                ],
                1.0,
            );
        for altname in &l.altnames {
            out.gauge(
                "node_network_altnames_info",
                "Non-numeric data of <iface> altname, value is always 1.",
            )
            .add(&[("device", device), ("altname", altname)], 1.0);
        }
        let none = [None; 3];
        let [addr_assign_type, dev_id, name_assign_type] = extras.get(device).unwrap_or(&none);
        let values: [(&str, Option<f64>); 16] = [
            ("addr_assign_type", *addr_assign_type),
            ("carrier", l.carrier.map(f64::from)),
            ("carrier_changes", l.carrier_changes.map(f64::from)),
            ("carrier_up_count", l.carrier_up.map(f64::from)),
            ("carrier_down_count", l.carrier_down.map(f64::from)),
            ("dev_id", *dev_id),
            ("flags", Some(f64::from(message.header.flags.bits()))),
            ("ifindex", Some(f64::from(index))),
            ("link_mode", l.link_mode.map(f64::from)),
            // node_exporter pushes IFLA_LINKMODE as `dormant`.
            ("dormant", l.link_mode.map(f64::from)),
            (
                "iflink",
                Some(f64::from(match l.iflink {
                    Some(link) if link > 0 => link,
                    _ => index,
                })),
            ),
            ("mtu", Some(f64::from(l.mtu.unwrap_or(0)))),
            ("name_assign_type", *name_assign_type),
            ("netdev_group", l.group.map(f64::from)),
            ("tx_queue_len", Some(f64::from(l.tx_queue_len.unwrap_or(0)))),
            (
                "type",
                Some(f64::from(u16::from(message.header.link_layer_type))),
            ),
        ];
        for (file, value) in values {
            if let Some(value) = value {
                let (suffix, counter) = property(file);
                add_property(out, suffix, counter, device, value);
            }
        }
        if let Some(stats) = l.stats.filter(|_| options.with_stats) {
            for (field, value) in netlink_counters(&stats) {
                let suffix = intern::concat(&[field, "_total"]);
                add_property(out, &suffix, false, device, value as f64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exporter::matcher::{DeviceFilter, Matcher};
    use netlink_packet_route::link::{LinkFlags, LinkLayerType, LinkMode, State};

    fn message(index: u32, name: &str, attributes: Vec<LinkAttribute>) -> LinkMessage {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.link_layer_type = LinkLayerType::Ether;
        m.header.flags = LinkFlags::from_bits_retain(0x11043);
        m.attributes.push(LinkAttribute::IfName(name.into()));
        m.attributes.extend(attributes);
        m
    }

    /// Every sample as `name{labels} value`, sorted as served.
    fn render(out: Metrics) -> Vec<String> {
        let mut lines = Vec::new();
        for fam in out.into_sorted() {
            for s in fam.samples() {
                let labels: Vec<String> = s.labels().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
                lines.push(format!("{}{{{}}} {}", fam.name, labels.join(","), s.value));
            }
        }
        lines
    }

    fn eth0() -> LinkMessage {
        message(
            2,
            "eth0",
            vec![
                LinkAttribute::Address(vec![0x02, 0xfc, 0, 0, 0, 0x0a]),
                LinkAttribute::Broadcast(vec![0xff; 6]),
                LinkAttribute::IfAlias("uplink".into()),
                LinkAttribute::OperState(State::Up),
                LinkAttribute::Carrier(1),
                LinkAttribute::CarrierChanges(3),
                LinkAttribute::CarrierUpCount(2),
                LinkAttribute::CarrierDownCount(1),
                LinkAttribute::Mode(LinkMode::Dormant),
                LinkAttribute::Mtu(9000),
                LinkAttribute::Group(0),
                LinkAttribute::TxQueueLen(1000),
                LinkAttribute::PropList(vec![Prop::AltIfName("enp1s0".into())]),
            ],
        )
    }

    #[test]
    fn links_modes_and_extras_become_node_exporters_series() {
        // A VLAN on eth0 (IFLA_LINK 2), down, with few attributes, and a
        // device whose speed the kernel does not know.
        let vlan = message(
            3,
            "eth0.7",
            vec![
                LinkAttribute::OperState(State::LowerLayerDown),
                LinkAttribute::Link(2),
                LinkAttribute::Mtu(1500),
            ],
        );
        let modes = [
            LinkModes {
                device: "eth0".into(),
                speed_mbps: 25000,
                duplex: 1,
            },
            LinkModes {
                device: "virt0".into(),
                speed_mbps: u32::MAX,
                duplex: 255,
            },
        ];
        let extras = HashMap::from([("eth0".to_owned(), [Some(0.0), Some(0.0), Some(4.0)])]);
        let mut out = Metrics::new();
        encode(
            &[eth0(), vlan],
            Some(&modes),
            &extras,
            &Options::default(),
            &mut out,
        );
        let want = [
            r#"node_network_address_assign_type{device="eth0"} 0"#,
            r#"node_network_altnames_info{altname="enp1s0",device="eth0"} 1"#,
            r#"node_network_carrier{device="eth0"} 1"#,
            r#"node_network_carrier_changes_total{device="eth0"} 3"#,
            r#"node_network_carrier_down_changes_total{device="eth0"} 1"#,
            r#"node_network_carrier_up_changes_total{device="eth0"} 2"#,
            r#"node_network_device_id{device="eth0"} 0"#,
            r#"node_network_dormant{device="eth0"} 1"#,
            r#"node_network_flags{device="eth0"} 69699"#,
            r#"node_network_flags{device="eth0.7"} 69699"#,
            r#"node_network_iface_id{device="eth0"} 2"#,
            r#"node_network_iface_id{device="eth0.7"} 3"#,
            r#"node_network_iface_link{device="eth0"} 2"#,
            r#"node_network_iface_link{device="eth0.7"} 2"#,
            r#"node_network_iface_link_mode{device="eth0"} 1"#,
            r#"node_network_info{address="",broadcast="",device="eth0.7",duplex="",ifalias="",operstate="lowerlayerdown"} 1"#,
            r#"node_network_info{address="02:fc:00:00:00:0a",broadcast="ff:ff:ff:ff:ff:ff",device="eth0",duplex="Full",ifalias="uplink",operstate="up"} 1"#,
            r#"node_network_mtu_bytes{device="eth0"} 9000"#,
            r#"node_network_mtu_bytes{device="eth0.7"} 1500"#,
            r#"node_network_name_assign_type{device="eth0"} 4"#,
            r#"node_network_net_dev_group{device="eth0"} 0"#,
            r#"node_network_protocol_type{device="eth0"} 1"#,
            r#"node_network_protocol_type{device="eth0.7"} 1"#,
            r#"node_network_speed_bytes{device="eth0"} 3125000000"#,
            r#"node_network_speed_bytes{device="virt0"} 536870911875000"#,
            r#"node_network_transmit_queue_length{device="eth0"} 1000"#,
            r#"node_network_transmit_queue_length{device="eth0.7"} 0"#,
            r#"node_network_up{device="eth0"} 1"#,
            r#"node_network_up{device="eth0.7"} 0"#,
        ];
        assert_eq!(render(out), want);
    }

    #[test]
    fn ignored_devices_and_unknown_speeds_are_left_out() {
        let modes = [
            LinkModes {
                device: "eth0".into(),
                speed_mbps: u32::MAX,
                duplex: 7,
            },
            LinkModes {
                device: "eth1".into(),
                speed_mbps: 1000,
                duplex: 0,
            },
        ];
        let options = Options {
            ignored: DeviceFilter {
                include: None,
                exclude: Some(Matcher::new("^eth1$").unwrap()),
            },
            ignore_invalid_speed: true,
            netlink: true,
            with_stats: false,
        };
        let mut out = Metrics::new();
        let eth1 = message(5, "eth1", vec![LinkAttribute::Mtu(1500)]);
        encode(
            &[eth0(), eth1],
            Some(&modes),
            &HashMap::new(),
            &options,
            &mut out,
        );
        let lines = render(out);
        assert!(!lines.iter().any(|l| l.contains("eth1")), "{lines:#?}");
        assert!(
            !lines.iter().any(|l| l.contains("speed_bytes")),
            "{lines:#?}"
        );
        assert!(lines.iter().any(|l| l.contains(r#"duplex="Duplex(7)""#)));
        // No ethtool family: no speed, an empty duplex.
        let mut out = Metrics::new();
        encode(&[eth0()], None, &HashMap::new(), &options, &mut out);
        let info = out.get("node_network_info").unwrap().sample(0);
        assert_eq!(info.label("duplex"), Some(""));
        assert!(out.get("node_network_speed_bytes").is_none());
    }

    #[test]
    fn with_stats_adds_ifla_stats64_as_node_exporters_gauges() {
        use crate::exporter::matcher::{DeviceFilter, Matcher};
        use crate::exporter::metrics::Kind;
        use netlink_packet_route::link::Stats;
        // eth0's statistics are 1..=24 in rtnl_link_stats64's order (and
        // rx_otherhost_dropped, which node_exporter does not export).
        let s = crate::exporter::collectors::network::netdev::tests::numbered_stats64();
        let with = |name: &str, index: u32, attr: LinkAttribute| {
            message(index, name, vec![LinkAttribute::Mtu(1500), attr])
        };
        // eth1 is ignored; old0 carries only the 32-bit IFLA_STATS, which
        // node_exporter's netlink mode does not read.
        let links = [
            with("eth0", 2, LinkAttribute::Stats64(s)),
            with("eth1", 3, LinkAttribute::Stats64(s)),
            with("old0", 4, LinkAttribute::Stats(Stats::default())),
        ];
        let options = Options {
            ignored: DeviceFilter {
                include: None,
                exclude: Some(Matcher::new("^eth1$").unwrap()),
            },
            with_stats: true,
            netlink: true,
            ..Options::default()
        };
        let mut out = Metrics::new();
        encode(&links, None, &HashMap::new(), &options, &mut out);
        let names = [
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
        for (value, name) in (1..).zip(names) {
            let family = format!("node_network_{name}_total");
            let fam = out.get(&family).unwrap_or_else(|| panic!("no {family}"));
            assert_eq!(fam.kind, Kind::Gauge, "{family}");
            assert_eq!(fam.help, format!("Network device property: {name}_total"));
            assert_eq!(fam.len(), 1, "{family}: only eth0");
            let sample = fam.sample(0);
            assert_eq!(sample.label("device"), Some("eth0"));
            assert_eq!(sample.value, f64::from(value), "{family}");
        }
        let stats_families = |out: Metrics| -> Vec<String> {
            out.into_sorted()
                .into_iter()
                .map(|f| f.name.into_owned())
                .filter(|n| {
                    names
                        .iter()
                        .any(|s| *n == format!("node_network_{s}_total"))
                })
                .collect()
        };
        assert_eq!(stats_families(out).len(), 24);
        // Without the flag: none of them.
        let mut out = Metrics::new();
        let without = Options {
            with_stats: false,
            ..options
        };
        encode(&links, None, &HashMap::new(), &without, &mut out);
        assert!(out.get("node_network_mtu_bytes").is_some());
        assert_eq!(stats_families(out), Vec::<String>::new());
    }
}
