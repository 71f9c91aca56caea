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
//! Where `--path.sysfs` is the live `/sys`, the sysfs mode takes what the
//! scrape's link dump gives exactly as sysfs does from the dump and reads
//! the rest: see `netclass_dump.rs`.

use std::path::Path;

use super::rtnl::{self, Source};
use super::{netclass_dump, netclass_netlink};
use crate::exporter::collector::{AttrDir, CollectError, Collector, Paths};
use crate::exporter::intern;
use crate::exporter::matcher::DeviceFilter;
use crate::exporter::metrics::Metrics;

pub struct Netclass {
    paths: Paths,
    options: Options,
    /// Whether the sysfs mode takes from the link dump what it carries
    /// (`--path.sysfs` is the live `/sys`): see `netclass_dump.rs`.
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
pub(super) const NUMERIC: [(&str, &str, bool); 16] = [
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
    let mut attrs = AttrDir::new(dir);
    let mut text = |file: &str| attrs.read(file).unwrap_or_default();
    let (address, broadcast, duplex, ifalias, operstate) = (
        text("address"),
        text("broadcast"),
        text("duplex"),
        text("ifalias"),
        text("operstate"),
    );
    Interface {
        name: name.to_owned(),
        address,
        broadcast,
        duplex,
        ifalias,
        operstate,
        numeric: NUMERIC
            .iter()
            .map(|(file, _, _)| attrs.read_with(file, parse_number))
            .collect(),
        speed_mbps: attrs.read_with("speed", parse_number),
    }
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
        let (entries, kinds) = match crate::exporter::openfiles::list_entries(&base) {
            Ok(listing) => listing,
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
        for (entry, kind) in entries.iter().zip(kinds.iter()) {
            let name = entry.to_string_lossy().into_owned();
            let link = links.and_then(|l| l.iter().find(|l| rtnl::link_name(l) == Some(&name)));
            // Interfaces are directories (symlinks into /sys/devices);
            // plain files such as `bonding_masters` are not. A device the
            // dump names needs no look.
            let device = link.is_some() || kind.is_dir(&base, entry);
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
                    .and_then(|message| netclass_dump::read_interface(&dir, n, message))
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
