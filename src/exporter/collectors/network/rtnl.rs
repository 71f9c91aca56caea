//! The kernel's routing netlink (rtnetlink) as the netdev and arp
//! collectors read it when `--collector.netdev.netlink` /
//! `--collector.arp.netlink` are on (node_exporter 1.12's defaults): one
//! dump request (`RTM_GETLINK`, `RTM_GETNEIGH`, `RTM_GETADDR`) answered by
//! typed messages. The collectors take a [`Source`], so their mapping is
//! tested with constructed messages; [`Kernel`] is the one that opens a
//! socket.
//!
//! Netlink answers for the host's own network namespace, never for
//! `--path.procfs`/`--path.sysfs`: like node_exporter, a fixture tree is
//! read only with the `--no-collector.*.netlink` flags.
//!
//! Decisions:
//! - `netlink-packet-route` + `netlink-sys` (the rust-netlink project, which
//!   the `rtnetlink` crate and many network tools build on; maintained,
//!   every rtnetlink message and attribute typed, `IFLA_STATS64` included)
//!   rather than `neli` (generic-netlink first; route messages would be
//!   assembled from raw attributes by hand) or the `rtnetlink` crate itself
//!   (async on tokio, a connection task per call: more than a blocking dump
//!   every scrape needs). No hand-written parsing of netlink bytes.
//! - A socket per dump: a scrape asks at most three questions, and a fresh
//!   socket needs no sequence bookkeeping across scrapes.

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::neighbour::NeighbourMessage;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// Why a dump failed.
#[derive(Debug, thiserror::Error)]
pub enum RtnlError {
    #[error("netlink socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("netlink: undecodable answer to {what}: {reason}")]
    Decode { what: &'static str, reason: String },
    #[error("netlink: the kernel refused {what}: error {code}")]
    Refused { what: &'static str, code: i32 },
}

/// The three rtnetlink dumps the collectors use.
pub trait Source: Send + Sync {
    /// Every link (`RTM_GETLINK` dump): name, index, statistics.
    fn links(&self) -> Result<Vec<LinkMessage>, RtnlError>;
    /// IPv4 neighbours (`RTM_GETNEIGH` dump for `AF_INET`): the ARP table.
    fn neighbours(&self) -> Result<Vec<NeighbourMessage>, RtnlError>;
    /// Every interface address (`RTM_GETADDR` dump, IPv4 and IPv6).
    fn addresses(&self) -> Result<Vec<AddressMessage>, RtnlError>;
}

/// The running kernel, over a `NETLINK_ROUTE` socket.
#[derive(Debug, Default, Clone, Copy)]
pub struct Kernel;

impl Source for Kernel {
    fn links(&self) -> Result<Vec<LinkMessage>, RtnlError> {
        dump(
            "RTM_GETLINK",
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            |m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l),
                _ => None,
            },
        )
    }

    fn neighbours(&self) -> Result<Vec<NeighbourMessage>, RtnlError> {
        let mut request = NeighbourMessage::default();
        request.header.family = AddressFamily::Inet;
        dump(
            "RTM_GETNEIGH",
            RouteNetlinkMessage::GetNeighbour(request),
            |m| match m {
                RouteNetlinkMessage::NewNeighbour(n) => Some(n),
                _ => None,
            },
        )
    }

    fn addresses(&self) -> Result<Vec<AddressMessage>, RtnlError> {
        dump(
            "RTM_GETADDR",
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            |m| match m {
                RouteNetlinkMessage::NewAddress(a) => Some(a),
                _ => None,
            },
        )
    }
}

/// Sends one dump request and collects the answers `keep` accepts until
/// the kernel's `NLMSG_DONE`.
fn dump<T>(
    what: &'static str,
    request: RouteNetlinkMessage,
    keep: impl Fn(RouteNetlinkMessage) -> Option<T>,
) -> Result<Vec<T>, RtnlError> {
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = 1;
    let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(request));
    packet.finalize();
    let mut buf = vec![0u8; packet.header.length as usize];
    packet.serialize(&mut buf);
    socket.send(&buf, 0)?;

    let mut out = Vec::new();
    loop {
        // Sized to the datagram (MSG_PEEK|MSG_TRUNC first): a dump's
        // datagrams can exceed any fixed buffer.
        let (datagram, _) = socket.recv_from_full()?;
        if decode(&datagram, what, &keep, &mut out)? {
            return Ok(out);
        }
    }
}

/// Decodes one datagram of a dump's answer into `out` (the messages
/// `keep` accepts); `true` once it holds the final `NLMSG_DONE`.
fn decode<T>(
    datagram: &[u8],
    what: &'static str,
    keep: &impl Fn(RouteNetlinkMessage) -> Option<T>,
    out: &mut Vec<T>,
) -> Result<bool, RtnlError> {
    let mut offset = 0;
    while offset < datagram.len() {
        let message = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&datagram[offset..])
            .map_err(|e| RtnlError::Decode {
                what,
                reason: e.to_string(),
            })?;
        let length = message.header.length as usize;
        match message.payload {
            NetlinkPayload::Done(_) => return Ok(true),
            NetlinkPayload::Error(e) => {
                if let Some(code) = e.code {
                    return Err(RtnlError::Refused {
                        what,
                        code: code.get(),
                    });
                }
            }
            NetlinkPayload::InnerMessage(m) => out.extend(keep(m)),
            _ => {}
        }
        if length == 0 {
            return Err(RtnlError::Decode {
                what,
                reason: "a message of length 0".into(),
            });
        }
        // Messages are aligned to 4 bytes (NLMSG_ALIGN).
        offset += (length + 3) & !3;
    }
    Ok(false)
}

/// Interface index to name, from a link dump.
pub fn link_names(links: &[LinkMessage]) -> std::collections::HashMap<u32, String> {
    links
        .iter()
        .filter_map(|l| link_name(l).map(|n| (l.header.index, n.to_owned())))
        .collect()
}

/// A link's `IFLA_IFNAME`.
pub fn link_name(link: &LinkMessage) -> Option<&str> {
    link.attributes.iter().find_map(|a| match a {
        netlink_packet_route::link::LinkAttribute::IfName(n) => Some(n.as_str()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{DoneMessage, ErrorMessage};
    use netlink_packet_route::link::LinkAttribute;

    /// The bytes of `payloads` as the kernel sends them in one datagram.
    fn datagram(payloads: Vec<NetlinkPayload<RouteNetlinkMessage>>) -> Vec<u8> {
        let mut bytes = Vec::new();
        for payload in payloads {
            let mut m = NetlinkMessage::new(NetlinkHeader::default(), payload);
            m.finalize();
            let mut buf = vec![0u8; m.buffer_len()];
            m.serialize(&mut buf);
            bytes.extend(buf);
        }
        bytes
    }

    fn new_link(index: u32, name: &str) -> NetlinkPayload<RouteNetlinkMessage> {
        let mut l = LinkMessage::default();
        l.header.index = index;
        l.attributes.push(LinkAttribute::IfName(name.into()));
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l))
    }

    fn links(m: RouteNetlinkMessage) -> Option<LinkMessage> {
        match m {
            RouteNetlinkMessage::NewLink(l) => Some(l),
            _ => None,
        }
    }

    #[test]
    fn a_dump_is_decoded_across_datagrams_until_done() {
        let mut out = Vec::new();
        let first = datagram(vec![new_link(1, "lo"), new_link(2, "eth0.100")]);
        assert!(!decode(&first, "RTM_GETLINK", &links, &mut out).unwrap());
        let last = datagram(vec![
            new_link(3, "br0"),
            NetlinkPayload::Done(DoneMessage::default()),
        ]);
        assert!(decode(&last, "RTM_GETLINK", &links, &mut out).unwrap());
        let names: Vec<_> = out.iter().filter_map(link_name).collect();
        assert_eq!(names, ["lo", "eth0.100", "br0"]);
    }

    #[test]
    fn a_kernel_error_and_garbage_are_errors_naming_the_request() {
        let mut error = ErrorMessage::default();
        error.code = std::num::NonZeroI32::new(-1);
        let refused = datagram(vec![NetlinkPayload::Error(error)]);
        let e = decode(&refused, "RTM_GETNEIGH", &links, &mut Vec::new()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "netlink: the kernel refused RTM_GETNEIGH: error -1"
        );
        let e = decode(&[1, 2, 3], "RTM_GETLINK", &links, &mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("RTM_GETLINK"), "{e}");
    }

    #[test]
    fn names_come_from_ifname_by_index() {
        let mut a = LinkMessage::default();
        a.header.index = 2;
        a.attributes.push(LinkAttribute::IfName("eth0".into()));
        let mut nameless = LinkMessage::default();
        nameless.header.index = 3;
        let names = link_names(&[a, nameless]);
        assert_eq!(names.len(), 1);
        assert_eq!(names[&2], "eth0");
    }
}
