//! `netclass`: network interface attributes from `/sys/class/net/<iface>/`
//! (`node_network_up`, `node_network_info`, `node_network_mtu_bytes`,
//! `node_network_speed_bytes`, …), as node_exporter exposes them
//! (1.12's `adminstate` label on `node_network_info` included).
//!
//! Many attributes cannot be read on some interfaces (`speed` on virtual
//! NICs, `carrier` on a down link answer `EINVAL`); such an attribute is left
//! out for that interface, never an error.
//!
//! With `--collector.netclass.netlink` (off by default, as in node_exporter)
//! the same families come from netlink instead: see `netclass_netlink.rs`.
//! This file owns the series' names and help texts for both modes.
//!
//! Where `--path.sysfs` is the live `/sys` (it resolves to `/sys`), the
//! sysfs mode takes from the scrape's `RTM_GETLINK` dump (rtnl.rs, shared
//! with netdev) every attribute the dump gives exactly as the sysfs file
//! prints it, and reads only the rest: 7 reads per running interface
//! instead of 22 (each a kernel `show()` and `vsnprintf`, `carrier` under
//! the RTNL lock). The output is the pure sysfs read's, series for series
//! (a live test compares the two); over any other `--path.sysfs` (a
//! fixture tree, a host's `/sys` mounted elsewhere) every attribute is
//! read from sysfs, as is an interface whose directory the dump does not
//! describe, and a whole scrape whose dump fails or lists other devices
//! than the directory.
//!
//! Decisions (net/core/net-sysfs.c's show functions against
//! rtnl_fill_ifinfo()'s attributes):
//! - From the dump: `address`/`broadcast` (`IFLA_ADDRESS`/`IFLA_BROADCAST`,
//!   `dev_addr`/`broadcast` over `addr_len` bytes; sysfs prints them with
//!   `%*phC`, lower-case `aa:bb`; both absent, and the file empty, when
//!   `addr_len` is 0), `ifalias` (`IFLA_IFALIAS`, absent when empty as the
//!   file is; trimmed as every sysfs read), `operstate` (`IFLA_OPERSTATE`
//!   is `IF_OPER_DOWN` for a device not running, as the file; the same
//!   name table), `carrier_changes`, `carrier_up_count`,
//!   `carrier_down_count` (the same counters), `iflink` (`IFLA_LINK`, which the kernel leaves out when it equals the
//!   index), `link_mode`, `mtu`, `netdev_group`, `tx_queue_len` (the same
//!   fields; sysfs prints the unsigned ones with `%d`, so they are read
//!   as signed 32-bit) and `type` (the header's `ifi_type`, `dev->type`).
//! - From the dump only for a running device (`IFF_UP` in sysfs `flags`):
//!   `carrier` (`IFLA_CARRIER`, `netif_carrier_ok()`) and `dormant`
//!   (`IFF_DORMANT` in the header's flags, which `dev_get_flags()` sets
//!   from `netif_dormant()` only while running). sysfs answers `EINVAL`
//!   for both on a device that is not running, and node_exporter then
//!   leaves the series out, while the dump carries `IFLA_CARRIER` always:
//!   for a device that is down both are read from sysfs.
//! - From sysfs always: `flags` (the file is `dev->flags`; the header's
//!   `ifi_flags` is `dev_get_flags()`, with `IFF_RUNNING`, `IFF_LOWER_UP`,
//!   `IFF_DORMANT` computed and `IFF_PROMISC`/`IFF_ALLMULTI` from
//!   `gflags`), `speed` and `duplex` (the ethtool link settings; not in
//!   the link dump), `addr_assign_type`, `dev_id`, `name_assign_type` (not
//!   in rtnetlink), and `ifindex`: the dump describes the directory's
//!   device only when it agrees with the header's index (the check that
//!   /sys and the dump see the same device).
//! - An attribute a kernel leaves out of the dump (an older kernel
//!   without the carrier counters, say) is read from sysfs.
//! - "The live /sys" is decided by the path alone: `--path.sysfs` that
//!   resolves to `/sys`. A namespace entered without remounting /sys
//!   would show one namespace in /sys and another over netlink; the name
//!   and index checks above then fall back to sysfs wherever they differ.

use std::path::Path;

use netlink_packet_route::link::{LinkFlags, LinkMessage};

use super::netclass_netlink;
use super::rtnl::{self, Source};
use crate::exporter::collector::{read_attr, read_attr_with, CollectError, Collector, Paths};
use crate::exporter::intern;
use crate::exporter::matcher::DeviceFilter;
use crate::exporter::metrics::Metrics;

pub struct Netclass {
    paths: Paths,
    options: Options,
    /// Whether the sysfs mode takes from the link dump what it carries
    /// (`--path.sysfs` is the live `/sys`): see [`read_interface_with_link`].
    with_dump: bool,
}

/// The collector's flags.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--collector.netclass.ignored-devices`.
    pub ignored: DeviceFilter,
    /// `--collector.netclass.ignore-invalid-speed`: leave out a speed the
    /// kernel reports as unknown (-1) instead of exporting it.
    pub ignore_invalid_speed: bool,
    /// `--collector.netclass.netlink`: rtnetlink and the ethtool family
    /// rather than ~20 sysfs attributes per interface.
    pub netlink: bool,
    /// `--collector.netclass_rtnl.with-stats`: in the netlink mode, also
    /// each interface's `IFLA_STATS64` (ignored in the sysfs mode, as in
    /// node_exporter).
    pub with_stats: bool,
}

impl Netclass {
    pub fn new(paths: Paths, options: Options) -> Self {
        let with_dump = !options.netlink
            && std::fs::canonicalize(&paths.sysfs).is_ok_and(|p| p == Path::new("/sys"));
        Netclass {
            paths,
            options,
            with_dump,
        }
    }

    /// Whether the sysfs mode takes attributes from the link dump.
    pub fn reads_the_link_dump(&self) -> bool {
        self.with_dump
    }

    /// The sysfs mode reading every attribute from sysfs, even where
    /// `--path.sysfs` is the live `/sys` (no flag asks for it: the live
    /// tests compare the two reads).
    pub fn sysfs_only(self) -> Self {
        Netclass {
            with_dump: false,
            ..self
        }
    }
}

pub(super) const UP: &str = "node_network_up";
pub(super) const UP_HELP: &str = "Value is 1 if operstate is 'up', 0 otherwise.";
pub(super) const INFO: &str = "node_network_info";
const SPEED: &str = "node_network_speed_bytes";

/// Adds `node_network_<suffix>{device}` with node_exporter's help text
/// ("Network device property: <suffix>").
pub(super) fn add_property(
    out: &mut Metrics,
    suffix: &str,
    counter: bool,
    device: &str,
    value: f64,
) {
    let name = intern::concat(&["node_network_", suffix]);
    let help = intern::concat(&["Network device property: ", suffix]);
    let fam = if counter {
        out.counter(name, help)
    } else {
        out.gauge(name, help)
    };
    fam.add(&[("device", device)], value);
}

/// The series suffix and counter-ness of the sysfs attribute `file`
/// (`carrier_changes` → `carrier_changes_total`, a counter): the one
/// table both modes name their series from.
pub(super) fn property(file: &str) -> (&'static str, bool) {
    NUMERIC
        .iter()
        .find(|(f, _, _)| *f == file)
        .map(|(_, suffix, counter)| (*suffix, *counter))
        .unwrap_or_else(|| panic!("{file} is not a netclass attribute"))
}

/// Adds `node_network_speed_bytes{device}` (`Mbit/s × 10⁶ / 8`).
pub(super) fn add_speed(out: &mut Metrics, device: &str, mbps: f64) {
    out.gauge(SPEED, "Network device property: speed_bytes")
        .add(&[("device", device)], mbps * 1000.0 * 1000.0 / 8.0);
}

/// Numeric attributes: sysfs file, metric suffix, whether it is a counter.
/// `dev_id` and `flags` are hexadecimal (`0x1003`).
const NUMERIC: [(&str, &str, bool); 16] = [
    ("addr_assign_type", "address_assign_type", false),
    ("carrier", "carrier", false),
    ("carrier_changes", "carrier_changes_total", true),
    ("carrier_up_count", "carrier_up_changes_total", true),
    ("carrier_down_count", "carrier_down_changes_total", true),
    ("dev_id", "device_id", false),
    ("dormant", "dormant", false),
    ("flags", "flags", false),
    ("ifindex", "iface_id", false),
    ("iflink", "iface_link", false),
    ("link_mode", "iface_link_mode", false),
    ("mtu", "mtu_bytes", false),
    ("name_assign_type", "name_assign_type", false),
    ("netdev_group", "net_dev_group", false),
    ("tx_queue_len", "transmit_queue_length", false),
    ("type", "protocol_type", false),
];

/// What one interface's directory says.
#[derive(Debug, Default, PartialEq)]
pub struct Interface {
    pub name: String,
    pub address: String,
    pub broadcast: String,
    pub duplex: String,
    pub ifalias: String,
    pub operstate: String,
    /// Readable numeric attributes in [`NUMERIC`] order (`None` = unreadable).
    pub numeric: Vec<Option<f64>>,
    /// Link speed in Mbit/s, as the kernel reports it (-1 = unknown).
    pub speed_mbps: Option<f64>,
}

impl Interface {
    /// node_exporter 1.12's `adminstate`: `up` when `flags` has `IFF_UP`,
    /// `down` when not, `unknown` when `flags` cannot be read.
    pub fn adminstate(&self) -> &'static str {
        const FLAGS: usize = 7;
        debug_assert_eq!(NUMERIC[FLAGS].0, "flags");
        match self.numeric.get(FLAGS).copied().flatten() {
            None => "unknown",
            Some(f) if (f as i64) & 1 == 1 => "up",
            Some(_) => "down",
        }
    }
}

/// Parses a numeric attribute the way the kernel prints it: decimal, or
/// hexadecimal with `0x`.
pub fn parse_number(text: &str) -> Option<f64> {
    let t = text.trim();
    match t.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16).ok().map(|v| v as f64),
        None => t.parse::<i64>().ok().map(|v| v as f64),
    }
}

/// Reads one interface directory. Unreadable attributes are `None`/empty.
pub fn read_interface(dir: &Path, name: &str) -> Interface {
    let text = |file: &str| read_attr(&dir.join(file)).unwrap_or_default();
    Interface {
        name: name.to_owned(),
        address: text("address"),
        broadcast: text("broadcast"),
        duplex: text("duplex"),
        ifalias: text("ifalias"),
        operstate: text("operstate"),
        numeric: NUMERIC
            .iter()
            .map(|(file, _, _)| read_attr_with(&dir.join(file), parse_number))
            .collect(),
        speed_mbps: read_attr_with(&dir.join("speed"), parse_number),
    }
}

/// `IFF_UP` in sysfs `flags` (`dev->flags`).
const IFF_UP: i64 = 0x1;

/// Reads one interface directory like [`read_interface`], taking from
/// `message` (the link dump's message for the device of that name) every
/// attribute the dump gives exactly as sysfs prints it, and reading the
/// rest (see the module doc). `None`, having read only `ifindex`, when
/// sysfs's `ifindex` is not the message's: the directory is another
/// device than the one the dump describes.
pub fn read_interface_with_link(
    dir: &Path,
    name: &str,
    message: &LinkMessage,
) -> Option<Interface> {
    let sysfs = |file: &str| read_attr_with(&dir.join(file), parse_number);
    let text = |file: &str| read_attr(&dir.join(file)).unwrap_or_default();
    let index = message.header.index;
    let ifindex = sysfs("ifindex")?;
    if ifindex != f64::from(index) {
        return None;
    }
    let l = netclass_netlink::link(message);
    let flags = sysfs("flags");
    // sysfs answers EINVAL for carrier and dormant of a device that is not
    // running; the dump has them regardless.
    let running = flags.is_some_and(|f| (f as i64) & IFF_UP != 0);
    // sysfs prints these `unsigned int`s with "%d".
    let int = |v: u32| f64::from(v as i32);
    let numeric = NUMERIC
        .iter()
        .map(|(file, _, _)| {
            let dumped = match *file {
                "ifindex" => return Some(ifindex),
                "flags" => return flags,
                "carrier" if running => l.carrier.map(f64::from),
                "dormant" if running => {
                    Some(match message.header.flags.contains(LinkFlags::Dormant) {
                        true => 1.0,
                        false => 0.0,
                    })
                }
                "carrier_changes" => l.carrier_changes.map(int),
                "carrier_up_count" => l.carrier_up.map(int),
                "carrier_down_count" => l.carrier_down.map(int),
                "iflink" => Some(int(l.iflink.unwrap_or(index))),
                "link_mode" => l.link_mode.map(f64::from),
                "mtu" => l.mtu.map(int),
                "netdev_group" => l.group.map(int),
                "tx_queue_len" => l.tx_queue_len.map(int),
                "type" => Some(f64::from(u16::from(message.header.link_layer_type))),
                _ => None,
            };
            dumped.or_else(|| sysfs(file))
        })
        .collect();
    let operstate = l
        .operstate
        .and_then(|s| netclass_netlink::OPERSTATES.get(usize::from(s)))
        .map_or_else(|| text("operstate"), |s| (*s).to_owned());
    Some(Interface {
        name: name.to_owned(),
        address: l.address,
        broadcast: l.broadcast,
        duplex: text("duplex"),
        ifalias: l.ifalias.trim().to_owned(),
        operstate,
        numeric,
        speed_mbps: sysfs("speed"),
    })
}

/// Adds one interface's metrics.
pub fn encode(iface: &Interface, out: &mut Metrics) {
    let dev = [("device", iface.name.as_str())];
    out.gauge(UP, UP_HELP)
        .add(&dev, if iface.operstate == "up" { 1.0 } else { 0.0 });
    out.gauge(
        INFO,
        "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
    )
    .add(
        &[
            ("device", &iface.name),
            ("address", &iface.address),
            ("broadcast", &iface.broadcast),
            ("duplex", &iface.duplex),
            ("ifalias", &iface.ifalias),
            ("operstate", &iface.operstate),
            ("adminstate", iface.adminstate()),
        ],
        1.0,
    );
    for ((_, suffix, counter), value) in NUMERIC.iter().zip(&iface.numeric) {
        if let Some(value) = value {
            add_property(out, suffix, *counter, &iface.name, *value);
        }
    }
    if let Some(speed) = iface.speed_mbps {
        // node_exporter 1.5 reports an unknown speed (-1) as -125000.
        add_speed(out, &iface.name, speed);
    }
}

impl Collector for Netclass {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        if self.options.netlink {
            return netclass_netlink::collect(&self.paths, &self.options, out);
        }
        let base = self.paths.sys("class/net");
        let entries = match std::fs::read_dir(&base) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CollectError::NoData("/sys/class/net"))
            }
            Err(source) => {
                return Err(CollectError::Read {
                    path: base.clone(),
                    source,
                })
            }
        };
        // The dump describes the directories when every device it names is
        // listed and every other entry is no device (a plain file such as
        // `bonding_masters`): the same namespace's devices at one moment.
        let links = match self.with_dump {
            true => rtnl::Kernel.links().ok(),
            false => None,
        };
        let mut links = links.as_deref();
        let mut listed = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| CollectError::Read {
                path: base.clone(),
                source,
            })?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let link = links.and_then(|l| l.iter().find(|l| rtnl::link_name(l) == Some(&name)));
            // Interfaces are directories (symlinks into /sys/devices);
            // plain files such as `bonding_masters` are not. A device the
            // dump names needs no look.
            let device = link.is_some() || entry.path().is_dir();
            if device && link.is_none() {
                links = None;
            }
            if device {
                listed.push(name);
            }
        }
        if links.is_some_and(|l| l.len() != listed.len()) {
            links = None;
        }
        let mut names: Vec<String> = listed
            .into_iter()
            .filter(|n| !self.options.ignored.ignored(n))
            .collect();
        names.sort();
        let mut ifaces: Vec<Interface> = names
            .iter()
            .map(|n| {
                let dir = base.join(n);
                links
                    .and_then(|l| l.iter().find(|l| rtnl::link_name(l) == Some(n)))
                    .and_then(|message| read_interface_with_link(&dir, n, message))
                    .unwrap_or_else(|| read_interface(&dir, n))
            })
            .collect();
        if self.options.ignore_invalid_speed {
            for iface in &mut ifaces {
                iface.speed_mbps = iface.speed_mbps.filter(|s| *s >= 0.0);
            }
        }
        for iface in &ifaces {
            encode(iface, out);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_decimal_and_hex() {
        assert_eq!(parse_number("1500\n"), Some(1500.0));
        assert_eq!(parse_number("0x1003"), Some(4099.0));
        assert_eq!(parse_number("-1"), Some(-1.0));
        assert_eq!(parse_number("up"), None);
        assert_eq!(parse_number(""), None);
    }

    #[test]
    fn unreadable_attributes_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let eth = dir.path().join("class/net/eth0");
        std::fs::create_dir_all(&eth).unwrap();
        std::fs::write(eth.join("operstate"), "up\n").unwrap();
        std::fs::write(eth.join("mtu"), "1500\n").unwrap();
        std::fs::write(eth.join("flags"), "0x1003\n").unwrap();
        std::fs::write(eth.join("carrier"), "garbage\n").unwrap();
        std::fs::write(dir.path().join("class/net/bonding_masters"), "\n").unwrap();
        let paths = Paths {
            procfs: dir.path().into(),
            sysfs: dir.path().into(),
            rootfs: dir.path().into(),
            udev_data: None,
        };
        let mut m = Metrics::new();
        Netclass::new(paths, Options::default())
            .update(&mut m)
            .unwrap();
        assert_eq!(m.get("node_network_up").unwrap().sample(0).value, 1.0);
        assert_eq!(m.get("node_network_up").unwrap().len(), 1);
        assert_eq!(
            m.get("node_network_mtu_bytes").unwrap().sample(0).value,
            1500.0
        );
        assert_eq!(m.get("node_network_flags").unwrap().sample(0).value, 4099.0);
        assert!(m.get("node_network_carrier").is_none());
        assert!(m.get("node_network_speed_bytes").is_none());
        let info = &m.get("node_network_info").unwrap().sample(0);
        assert_eq!(info.label("duplex"), Some(""));
        assert_eq!(info.label("adminstate"), Some("up"));
    }

    #[test]
    fn adminstate_follows_iff_up() {
        let with_flags = |f: Option<f64>| {
            let mut numeric = vec![None; NUMERIC.len()];
            numeric[7] = f;
            Interface {
                numeric,
                ..Default::default()
            }
            .adminstate()
        };
        assert_eq!(with_flags(Some(4099.0)), "up");
        assert_eq!(with_flags(Some(4098.0)), "down");
        assert_eq!(with_flags(None), "unknown");
    }

    /// A link message for device `index` as a dump carries it; its values
    /// all differ from [`sysfs_dir`]'s files.
    fn dumped(index: u32, up: bool) -> LinkMessage {
        use netlink_packet_route::link::{LinkAttribute, LinkLayerType, LinkMode, State};
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.link_layer_type = LinkLayerType::Loopback;
        m.header.flags = LinkFlags::from_bits_retain(if up { 0x20000 | 1 } else { 0 });
        m.attributes = vec![
            LinkAttribute::IfName("eth0".into()),
            LinkAttribute::Address(vec![0x02, 0xab, 0, 0, 0, 0x0c]),
            LinkAttribute::Broadcast(vec![0xff; 6]),
            LinkAttribute::IfAlias("uplink ".into()),
            LinkAttribute::OperState(State::Dormant),
            LinkAttribute::Carrier(0),
            LinkAttribute::CarrierChanges(u32::MAX),
            LinkAttribute::CarrierUpCount(7),
            LinkAttribute::CarrierDownCount(8),
            LinkAttribute::Mode(LinkMode::Dormant),
            LinkAttribute::Mtu(9000),
            LinkAttribute::Group(0xffff_fffe),
            LinkAttribute::TxQueueLen(u32::MAX),
        ];
        m
    }

    /// An interface directory whose files say other things than
    /// [`dumped`], `ifindex` 2 and `flags` as given.
    fn sysfs_dir(flags: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (file, text) in [
            ("ifindex", "2"),
            ("flags", flags),
            ("addr_assign_type", "3"),
            ("dev_id", "0x1"),
            ("name_assign_type", "4"),
            ("speed", "10000"),
            ("duplex", "full"),
            ("address", "aa:aa:aa:aa:aa:aa"),
            ("operstate", "up"),
            ("mtu", "1500"),
            ("iflink", "5"),
            ("type", "1"),
            ("carrier", "1"),
            ("dormant", "1"),
            ("tx_queue_len", "1000"),
        ] {
            std::fs::write(dir.path().join(file), format!("{text}\n")).unwrap();
        }
        dir
    }

    fn numeric(iface: &Interface, file: &str) -> Option<f64> {
        let at = NUMERIC.iter().position(|(f, _, _)| *f == file).unwrap();
        iface.numeric[at]
    }

    #[test]
    fn the_link_dump_gives_what_it_carries_as_sysfs_prints_it_and_sysfs_the_rest() {
        let dir = sysfs_dir("0x1003");
        let iface = read_interface_with_link(dir.path(), "eth0", &dumped(2, true)).unwrap();
        // From the dump, in sysfs's forms: "%phC" addresses, the operstate
        // name, a trimmed alias, "%d" of unsigned ints, IFF_DORMANT as
        // dormant, the index as iflink where IFLA_LINK is left out.
        assert_eq!(iface.address, "02:ab:00:00:00:0c");
        assert_eq!(iface.broadcast, "ff:ff:ff:ff:ff:ff");
        assert_eq!(iface.ifalias, "uplink");
        assert_eq!(iface.operstate, "dormant");
        for (file, want) in [
            ("ifindex", 2.0),
            ("carrier", 0.0),
            ("dormant", 1.0),
            ("carrier_changes", -1.0),
            ("carrier_up_count", 7.0),
            ("carrier_down_count", 8.0),
            ("link_mode", 1.0),
            ("mtu", 9000.0),
            ("iflink", 2.0),
            ("netdev_group", -2.0),
            ("tx_queue_len", -1.0),
            ("type", 772.0),
        ] {
            assert_eq!(numeric(&iface, file), Some(want), "{file}");
        }
        // From sysfs: what rtnetlink does not carry, and flags (dev->flags,
        // where the message has dev_get_flags()).
        assert_eq!(numeric(&iface, "flags"), Some(4099.0));
        assert_eq!(numeric(&iface, "addr_assign_type"), Some(3.0));
        assert_eq!(numeric(&iface, "dev_id"), Some(1.0));
        assert_eq!(numeric(&iface, "name_assign_type"), Some(4.0));
        assert_eq!(iface.speed_mbps, Some(10000.0));
        assert_eq!(iface.duplex, "full");
        assert_eq!(iface.adminstate(), "up");
    }

    #[test]
    fn a_device_that_is_down_has_carrier_and_dormant_from_sysfs() {
        // sysfs answers EINVAL there; the dump carries both regardless.
        let dir = sysfs_dir("0x1002");
        std::fs::remove_file(dir.path().join("carrier")).unwrap();
        std::fs::remove_file(dir.path().join("dormant")).unwrap();
        let iface = read_interface_with_link(dir.path(), "eth0", &dumped(2, false)).unwrap();
        assert_eq!(numeric(&iface, "carrier"), None);
        assert_eq!(numeric(&iface, "dormant"), None);
        assert_eq!(numeric(&iface, "mtu"), Some(9000.0));
    }

    #[test]
    fn attributes_the_message_lacks_and_another_device_are_read_from_sysfs() {
        let dir = sysfs_dir("0x1003");
        let mut bare = dumped(2, true);
        bare.attributes
            .retain(|a| matches!(a, netlink_packet_route::link::LinkAttribute::IfName(_)));
        let iface = read_interface_with_link(dir.path(), "eth0", &bare).unwrap();
        // What the message always says: the header's type, the index as
        // iflink where IFLA_LINK is left out, no address where
        // IFLA_ADDRESS is (a device with no link-layer address).
        let mut want = read_interface(dir.path(), "eth0");
        want.address = String::new();
        let at = |file: &str| NUMERIC.iter().position(|(f, _, _)| *f == file).unwrap();
        want.numeric[at("iflink")] = Some(2.0);
        want.numeric[at("type")] = Some(772.0);
        assert_eq!(iface, want);
        // Another index: the directory is not the dump's device.
        assert_eq!(
            read_interface_with_link(dir.path(), "eth0", &dumped(3, true)),
            None
        );
    }

    #[test]
    fn a_fixture_tree_is_read_from_sysfs_alone() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths {
            procfs: dir.path().into(),
            sysfs: dir.path().into(),
            rootfs: dir.path().into(),
            udev_data: None,
        };
        assert!(!Netclass::new(paths, Options::default()).reads_the_link_dump());
        assert!(Netclass::new(Paths::default(), Options::default()).reads_the_link_dump());
        let netlink = Options {
            netlink: true,
            ..Options::default()
        };
        assert!(!Netclass::new(Paths::default(), netlink).reads_the_link_dump());
        assert!(!Netclass::new(Paths::default(), Options::default())
            .sysfs_only()
            .reads_the_link_dump());
    }

    #[test]
    fn missing_class_directory_is_an_error() {
        let paths = Paths {
            procfs: "/nonexistent".into(),
            sysfs: "/nonexistent".into(),
            rootfs: "/nonexistent".into(),
            udev_data: None,
        };
        assert!(Netclass::new(paths, Options::default())
            .update(&mut Metrics::new())
            .is_err());
    }
}
