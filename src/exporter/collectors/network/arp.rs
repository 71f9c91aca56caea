//! `arp`: the number of ARP table entries per network device
//! (`node_arp_entries{device}`); devices matching
//! `--collector.arp.device-exclude` are left out.
//!
//! As node_exporter 1.12: with `--collector.arp.netlink` (the default) the
//! kernel's IPv4 neighbour table over rtnetlink (`RTM_GETNEIGH`), counting
//! every entry whose state lacks `NUD_NOARP` and naming devices by a link
//! dump; with `--no-collector.arp.netlink`, the lines of `/proc/net/arp`
//! under `--path.procfs`.
//!
//! Decisions: no `node_arp_states`. Per-state counts exist only in an
//! unmerged node_exporter pull request (#3191, open when this was
//! written), not in a 1.12 release, so the netlink mode exports the same
//! single family as the procfs mode.

use std::collections::BTreeMap;

use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::neighbour::NeighbourMessage;
use netlink_packet_route::AddressFamily;

use crate::exporter::collector::{read, CollectError, Collector, Paths};
use crate::exporter::matcher::DeviceFilter;
use crate::exporter::metrics::Metrics;
use crate::exporter::rtnl;

/// The kernel's `NUD_NOARP` neighbour state bit.
const NUD_NOARP: u16 = 0x40;

pub struct Arp {
    paths: Paths,
    filter: DeviceFilter,
    /// `--collector.arp.netlink`.
    netlink: bool,
    source: Box<dyn rtnl::Source>,
}

impl Arp {
    pub fn new(paths: Paths, filter: DeviceFilter, netlink: bool) -> Self {
        Self::with_source(paths, filter, netlink, Box::new(rtnl::Kernel))
    }

    pub fn with_source(
        paths: Paths,
        filter: DeviceFilter,
        netlink: bool,
        source: Box<dyn rtnl::Source>,
    ) -> Self {
        Arp {
            paths,
            filter,
            netlink,
            source,
        }
    }
}

/// Counts IPv4 neighbours per device as node_exporter's netlink mode
/// does: entries with `NUD_NOARP` set are left out (as `/proc/net/arp`
/// leaves them out), and so are entries on an index no link has (a link
/// that went away between the two dumps).
pub fn count_neighbours(
    neighbours: &[NeighbourMessage],
    links: &[LinkMessage],
) -> BTreeMap<String, u64> {
    let names = rtnl::link_names(links);
    let mut counts = BTreeMap::new();
    for n in neighbours {
        let state = u16::from(n.header.state);
        if n.header.family != AddressFamily::Inet || state & NUD_NOARP != 0 {
            continue;
        }
        if let Some(name) = names.get(&n.header.ifindex) {
            *counts.entry(name.clone()).or_insert(0) += 1;
        }
    }
    counts
}

/// Counts entries per device. The first line is the column header.
pub fn parse(text: &str) -> Result<BTreeMap<String, u64>, CollectError> {
    let mut counts = BTreeMap::new();
    let mut lines = text.lines();
    match lines.next() {
        Some(header) if header.starts_with("IP address") => {}
        _ => return Err(CollectError::parse("/proc/net/arp", "missing header line")),
    }
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(CollectError::parse(
                "/proc/net/arp",
                format!("malformed line {line:?}"),
            ));
        }
        *counts.entry(fields[5].to_owned()).or_insert(0) += 1;
    }
    Ok(counts)
}

impl Collector for Arp {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let counts = if self.netlink {
            let rtnl_error = |e: rtnl::RtnlError| CollectError::Other(e.to_string());
            let neighbours = self.source.neighbours().map_err(rtnl_error)?;
            let links = self.source.links().map_err(rtnl_error)?;
            count_neighbours(&neighbours, &links)
        } else {
            parse(&read(&self.paths.proc("net/arp"))?)?
        };
        let fam = out.gauge("node_arp_entries", "ARP entries by device");
        for (device, n) in counts.iter().filter(|(d, _)| !self.filter.ignored(d)) {
            fam.add(&[("device", device)], *n as f64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        "IP address       HW type     Flags       HW address            Mask     Device\n\
        192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0\n\
        192.0.2.7        0x1         0x2         02:fc:00:00:00:07     *        eth0\n\
        10.0.0.1         0x1         0x2         02:fc:00:00:00:09     *        eth1\n";

    #[test]
    fn counts_entries_per_device() {
        let c = parse(TEXT).unwrap();
        assert_eq!(c["eth0"], 2);
        assert_eq!(c["eth1"], 1);
        assert_eq!(c.len(), 2);
    }

    fn neighbour(family: AddressFamily, ifindex: u32, state: u16) -> NeighbourMessage {
        let mut n = NeighbourMessage::default();
        n.header.family = family;
        n.header.ifindex = ifindex;
        n.header.state = state.into();
        n
    }

    fn link(index: u32, name: &str) -> LinkMessage {
        let mut l = LinkMessage::default();
        l.header.index = index;
        l.attributes
            .push(netlink_packet_route::link::LinkAttribute::IfName(
                name.into(),
            ));
        l
    }

    #[test]
    fn counts_ipv4_neighbours_without_noarp_per_device() {
        const REACHABLE: u16 = 0x02;
        const STALE: u16 = 0x04;
        const PERMANENT: u16 = 0x80;
        const NONE: u16 = 0x00;
        let links = [link(2, "eth0"), link(3, "br0")];
        let neighbours = [
            neighbour(AddressFamily::Inet, 2, REACHABLE),
            neighbour(AddressFamily::Inet, 2, STALE),
            neighbour(AddressFamily::Inet, 3, PERMANENT),
            neighbour(AddressFamily::Inet, 3, NONE),
            // Left out: NOARP (alone or with another bit), IPv6, an
            // index no link has.
            neighbour(AddressFamily::Inet, 3, NUD_NOARP),
            neighbour(AddressFamily::Inet, 2, NUD_NOARP | PERMANENT),
            neighbour(AddressFamily::Inet6, 2, REACHABLE),
            neighbour(AddressFamily::Inet, 9, REACHABLE),
        ];
        let c = count_neighbours(&neighbours, &links);
        assert_eq!(c.len(), 2);
        assert_eq!(c["eth0"], 2);
        assert_eq!(c["br0"], 2);
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(parse("").is_err());
        assert!(parse("IP address  HW type\n192.0.2.1 0x1 eth0\n").is_err());
    }
}
