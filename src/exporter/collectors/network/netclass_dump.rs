//! netclass's sysfs mode on the live `/sys`: one interface read from
//! the scrape's link dump and the attributes only sysfs has.
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
//!   `carrier_down_count` (the same counters), `iflink` (`IFLA_LINK`,
//!   which the kernel leaves out when it equals the index), `link_mode`,
//!   `mtu`, `netdev_group`, `tx_queue_len` (the same fields; sysfs prints the unsigned ones with `%d`, so they are read
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

use super::netclass::{parse_number, Interface, NUMERIC};
use super::netclass_netlink;
use crate::exporter::collector::{read_attr, read_attr_with};

/// `IFF_UP` in sysfs `flags` (`dev->flags`).
const IFF_UP: i64 = 0x1;

/// Reads one interface directory like `netclass.rs`'s `read_interface`,
/// taking from `message` (the link dump's message for the device of that
/// name) every attribute the dump gives exactly as sysfs prints it, and reading the
/// rest (see the module doc). `None`, having read only `ifindex`, when
/// sysfs's `ifindex` is not the message's: the directory is another
/// device than the one the dump describes.
pub fn read_interface(dir: &Path, name: &str, message: &LinkMessage) -> Option<Interface> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exporter::netclass;

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
        let iface = read_interface(dir.path(), "eth0", &dumped(2, true)).unwrap();
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
        let iface = read_interface(dir.path(), "eth0", &dumped(2, false)).unwrap();
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
        let iface = read_interface(dir.path(), "eth0", &bare).unwrap();
        // What the message always says: the header's type, the index as
        // iflink where IFLA_LINK is left out, no address where
        // IFLA_ADDRESS is (a device with no link-layer address).
        let mut want = netclass::read_interface(dir.path(), "eth0");
        want.address = String::new();
        let at = |file: &str| NUMERIC.iter().position(|(f, _, _)| *f == file).unwrap();
        want.numeric[at("iflink")] = Some(2.0);
        want.numeric[at("type")] = Some(772.0);
        assert_eq!(iface, want);
        // Another index: the directory is not the dump's device.
        assert_eq!(read_interface(dir.path(), "eth0", &dumped(3, true)), None);
    }
}
