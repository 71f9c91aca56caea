//! The kernel's netlink as the collectors read it: routing netlink
//! (rtnetlink) when `--collector.netdev.netlink` /
//! `--collector.arp.netlink` / `--collector.netclass.netlink` are on, one
//! dump request (`RTM_GETLINK`, `RTM_GETNEIGH`, `RTM_GETADDR`) answered by
//! typed messages; and the ethtool generic-netlink family's
//! `ETHTOOL_MSG_LINKMODES_GET` dump (link speed and duplex) for
//! `--collector.netclass.netlink`. The collectors take a [`Source`] or
//! plain messages, so their mapping is tested with constructed messages;
//! [`Kernel`] is the one that opens a socket, and [`ask`] the one loop
//! that sends a request and reads its answer.
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
//! - The ethtool family through `netlink-packet-generic` (the family-id
//!   lookup, `CTRL_CMD_GETFAMILY`) and the `ethtool` crate's typed
//!   messages (rust-netlink's, made for this family; its async handle is
//!   not used, the blocking [`ask`] loop sends its messages). Speed and
//!   duplex come from this dump rather than the `ETHTOOL_GSET` ioctl that
//!   `ethtool_ioctl.rs` owns because the two can differ in what
//!   node_exporter exports: on a kernel without the ethtool family
//!   (before 5.6) node_exporter's netlink mode exports no speed and an
//!   empty duplex while the ioctl still answers, and the dump (not a
//!   per-device call) decides which devices appear.

use ethtool::{EthtoolAttr, EthtoolHeader, EthtoolLinkModeAttr, EthtoolMessage};
use netlink_packet_core::{
    NetlinkDeserializable, NetlinkHeader, NetlinkMessage, NetlinkPayload, NetlinkSerializable,
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::GenlMessage;
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::neighbour::NeighbourMessage;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::{NETLINK_GENERIC, NETLINK_ROUTE};
use netlink_sys::{Socket, SocketAddr};

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
        route_dump(
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
        route_dump(
            "RTM_GETNEIGH",
            RouteNetlinkMessage::GetNeighbour(request),
            |m| match m {
                RouteNetlinkMessage::NewNeighbour(n) => Some(n),
                _ => None,
            },
        )
    }

    fn addresses(&self) -> Result<Vec<AddressMessage>, RtnlError> {
        route_dump(
            "RTM_GETADDR",
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            |m| match m {
                RouteNetlinkMessage::NewAddress(a) => Some(a),
                _ => None,
            },
        )
    }
}

/// One device's link settings, from the ethtool family's LINKMODES
/// dump: what node_exporter's netlink mode reads (mdlayher/ethtool's
/// `LinkMode`). An attribute the kernel left out reads 0, as there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkModes {
    pub device: String,
    /// `ETHTOOL_A_LINKMODES_SPEED` in Mbit/s; `u32::MAX` is the kernel's
    /// `SPEED_UNKNOWN` (-1).
    pub speed_mbps: u32,
    /// `ETHTOOL_A_LINKMODES_DUPLEX`: 0 half, 1 full, 255 unknown.
    pub duplex: u8,
}

/// The kernel's `ENOENT`, as a netlink error code: no such family.
const ENOENT: i32 = -2;

impl Kernel {
    /// Every device with link settings (`ETHTOOL_MSG_LINKMODES_GET`
    /// dump; the kernel leaves out devices whose driver has none).
    /// `None` when the kernel has no ethtool genetlink family.
    pub fn link_modes(&self) -> Result<Option<Vec<LinkModes>>, RtnlError> {
        let lookup = GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName("ethtool".into())],
        });
        let ids = ask(
            NETLINK_GENERIC,
            "CTRL_CMD_GETFAMILY ethtool",
            lookup,
            NLM_F_REQUEST | NLM_F_ACK,
            |m: GenlMessage<GenlCtrl>| {
                m.payload.nlas.iter().find_map(|a| match a {
                    GenlCtrlAttrs::FamilyId(id) => Some(*id),
                    _ => None,
                })
            },
        );
        let family = match ids {
            Ok(ids) => match ids.first() {
                Some(id) => *id,
                None => return Ok(None),
            },
            Err(RtnlError::Refused { code: ENOENT, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut request = GenlMessage::from_payload(EthtoolMessage::new_link_mode_get(None));
        request.set_resolved_family_id(family);
        ask(
            NETLINK_GENERIC,
            "ETHTOOL_MSG_LINKMODES_GET",
            request,
            NLM_F_REQUEST | NLM_F_DUMP,
            |m: GenlMessage<EthtoolMessage>| link_modes(&m.payload),
        )
        .map(Some)
    }
}

/// One LINKMODES answer as [`LinkModes`]; `None` without a device name.
pub fn link_modes(message: &EthtoolMessage) -> Option<LinkModes> {
    let mut out = LinkModes::default();
    for attr in &message.nlas {
        let EthtoolAttr::LinkMode(attr) = attr else {
            continue;
        };
        match attr {
            EthtoolLinkModeAttr::Header(header) => {
                for h in header {
                    if let EthtoolHeader::DevName(name) = h {
                        out.device = name.clone();
                    }
                }
            }
            EthtoolLinkModeAttr::Speed(speed) => out.speed_mbps = *speed,
            EthtoolLinkModeAttr::Duplex(duplex) => out.duplex = u8::from(*duplex),
            _ => {}
        }
    }
    (!out.device.is_empty()).then_some(out)
}

/// An rtnetlink dump.
fn route_dump<T>(
    what: &'static str,
    request: RouteNetlinkMessage,
    keep: impl Fn(RouteNetlinkMessage) -> Option<T>,
) -> Result<Vec<T>, RtnlError> {
    ask(
        NETLINK_ROUTE,
        what,
        request,
        NLM_F_REQUEST | NLM_F_DUMP,
        keep,
    )
}

/// Sends one request on a fresh socket of `protocol` and collects the
/// answers `keep` accepts until the kernel's `NLMSG_DONE` (a dump) or
/// its acknowledgement (a request with `NLM_F_ACK`).
fn ask<M, T>(
    protocol: isize,
    what: &'static str,
    request: M,
    flags: u16,
    keep: impl Fn(M) -> Option<T>,
) -> Result<Vec<T>, RtnlError>
where
    M: NetlinkSerializable + NetlinkDeserializable + std::fmt::Debug,
{
    let mut socket = Socket::new(protocol)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = 1;
    let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(request));
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

/// Decodes one datagram of an answer into `out` (the messages `keep`
/// accepts); `true` once it holds the final `NLMSG_DONE` or the
/// acknowledgement (an error message with code 0).
fn decode<M, T>(
    datagram: &[u8],
    what: &'static str,
    keep: &impl Fn(M) -> Option<T>,
    out: &mut Vec<T>,
) -> Result<bool, RtnlError>
where
    M: NetlinkDeserializable + std::fmt::Debug,
{
    let mut offset = 0;
    while offset < datagram.len() {
        let message = NetlinkMessage::<M>::deserialize(&datagram[offset..]).map_err(|e| {
            RtnlError::Decode {
                what,
                reason: e.to_string(),
            }
        })?;
        let length = message.header.length as usize;
        match message.payload {
            NetlinkPayload::Done(_) => return Ok(true),
            NetlinkPayload::Error(e) => match e.code {
                Some(code) => {
                    return Err(RtnlError::Refused {
                        what,
                        code: code.get(),
                    })
                }
                None => return Ok(true),
            },
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
    fn a_linkmodes_answer_gives_device_speed_and_duplex() {
        use ethtool::EthtoolLinkModeDuplex;
        let answer = EthtoolMessage {
            cmd: ethtool::EthtoolCmd::LinkModeGetReply,
            nlas: vec![
                EthtoolAttr::LinkMode(EthtoolLinkModeAttr::Header(vec![
                    EthtoolHeader::DevIndex(4),
                    EthtoolHeader::DevName("eth0".into()),
                ])),
                EthtoolAttr::LinkMode(EthtoolLinkModeAttr::Speed(u32::MAX)),
                EthtoolAttr::LinkMode(EthtoolLinkModeAttr::Duplex(EthtoolLinkModeDuplex::Unknown)),
            ],
        };
        assert_eq!(
            link_modes(&answer),
            Some(LinkModes {
                device: "eth0".into(),
                speed_mbps: u32::MAX,
                duplex: 255,
            })
        );
        let nameless = EthtoolMessage {
            nlas: vec![EthtoolAttr::LinkMode(EthtoolLinkModeAttr::Speed(1000))],
            ..answer
        };
        assert_eq!(link_modes(&nameless), None);
    }

    #[test]
    fn an_acknowledgement_ends_a_request() {
        let mut out = Vec::new();
        let ack = datagram(vec![
            new_link(1, "lo"),
            NetlinkPayload::Error(ErrorMessage::default()),
        ]);
        assert!(decode(&ack, "RTM_GETLINK", &links, &mut out).unwrap());
        assert_eq!(out.len(), 1);
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
