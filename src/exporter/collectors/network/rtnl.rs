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
//! - One `NETLINK_ROUTE` socket kept open between scrapes (reopened after
//!   any failure), each request numbered and answers to another number
//!   skipped, and a 32 KiB receive buffer kept with it: the kernel then
//!   sizes a dump's datagrams to that buffer, so this host's link dump is
//!   one datagram read with one `recv`, where a fresh socket cost
//!   `socket`, `bind`, `getsockname`, `connect`, `close` and, with
//!   `recv_from_full`'s peek-then-read of ~3 KB datagrams, six `recvfrom`
//!   calls. The ethtool family's rarer dumps keep a socket per request.
//! - The link dump is taken once per scrape ([`current_scrape`]) and
//!   shared (`Arc`): netdev's counters and netclass's attributes read
//!   the same answer.
//! - The link dump's messages are decoded with only the attributes some
//!   collector reads ([`LINK_ATTRIBUTES`], each decoded by
//!   `netlink-packet-route` as within a whole message): most of a
//!   message's ~1.5 KB is `IFLA_AF_SPEC` (IPv4 and IPv6 configuration and
//!   statistics), `IFLA_LINKINFO`, `IFLA_XDP` and the like, which no
//!   collector reads. Measured on this host (4 interfaces), netdev's
//!   share of the scrape fell from 82 to 60 µs with it. A collector that
//!   reads another attribute adds it to the list (a unit test decodes a
//!   message with every attribute read today).
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
    DecodeError, NetlinkBuffer, NetlinkDeserializable, NetlinkHeader, NetlinkMessage,
    NetlinkPayload, NetlinkSerializable, NlasIterator, ParseableParametrized, NLM_F_ACK,
    NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::GenlMessage;
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::{LinkAttribute, LinkHeader, LinkMessage};
use netlink_packet_route::neighbour::NeighbourMessage;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::{NETLINK_GENERIC, NETLINK_ROUTE};
use netlink_sys::{Socket, SocketAddr};

use crate::exporter::collector::current_scrape;
use std::sync::{Arc, Mutex, MutexGuard};

/// Why a dump failed.
#[derive(Debug, thiserror::Error)]
pub enum RtnlError {
    #[error("netlink socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("netlink: undecodable answer to {what}: {reason}")]
    Decode { what: &'static str, reason: String },
    #[error("netlink: the kernel refused {what}: error {code}")]
    Refused { what: &'static str, code: i32 },
    #[error("netlink: a datagram of {0} bytes did not fit the buffer")]
    Truncated(usize),
}

/// The three rtnetlink dumps the collectors use.
pub trait Source: Send + Sync {
    /// Every link (`RTM_GETLINK` dump): name, index, statistics. Shared:
    /// the kernel's answer is one per scrape, whoever asks.
    fn links(&self) -> Result<Arc<[LinkMessage]>, RtnlError>;
    /// IPv4 neighbours (`RTM_GETNEIGH` dump for `AF_INET`): the ARP table.
    fn neighbours(&self) -> Result<Vec<NeighbourMessage>, RtnlError>;
    /// Every interface address (`RTM_GETADDR` dump, IPv4 and IPv6).
    fn addresses(&self) -> Result<Vec<AddressMessage>, RtnlError>;
}

/// The running kernel, over the kept `NETLINK_ROUTE` socket.
#[derive(Debug, Default, Clone, Copy)]
pub struct Kernel;

impl Source for Kernel {
    /// Within one scrape ([`current_scrape`]) every caller gets the same
    /// dump; outside a scrape each call dumps afresh.
    fn links(&self) -> Result<Arc<[LinkMessage]>, RtnlError> {
        let scrape = current_scrape();
        let mut route = route();
        if let (Some(now), Some((then, links))) = (scrape, &route.links) {
            if now == *then {
                return Ok(links.clone());
            }
        }
        let links: Arc<[LinkMessage]> = route
            .dump(
                RouteNetlinkMessage::GetLink(LinkMessage::default()),
                decode_links,
            )?
            .into();
        route.links = scrape.map(|s| (s, links.clone()));
        Ok(links)
    }

    fn neighbours(&self) -> Result<Vec<NeighbourMessage>, RtnlError> {
        let mut request = NeighbourMessage::default();
        request.header.family = AddressFamily::Inet;
        let keep = |m| match m {
            RouteNetlinkMessage::NewNeighbour(n) => Some(n),
            _ => None,
        };
        route().dump(
            RouteNetlinkMessage::GetNeighbour(request),
            |datagram, sequence, out| decode(datagram, "RTM_GETNEIGH", sequence, &keep, out),
        )
    }

    fn addresses(&self) -> Result<Vec<AddressMessage>, RtnlError> {
        let keep = |m| match m {
            RouteNetlinkMessage::NewAddress(a) => Some(a),
            _ => None,
        };
        route().dump(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            |datagram, sequence, out| decode(datagram, "RTM_GETADDR", sequence, &keep, out),
        )
    }
}

/// The `NETLINK_ROUTE` socket kept between dumps, and the link dump of
/// the scrape running now.
struct Route {
    /// `None` until the first dump and after any failure (reopened by the
    /// next dump).
    socket: Option<Socket>,
    /// The last request's sequence number; answers carrying another one
    /// (left over from an abandoned request) are skipped.
    sequence: u32,
    /// Where datagrams are received; grows when one does not fit.
    buffer: Vec<u8>,
    /// The link dump and the scrape it was taken for.
    links: Option<(u64, Arc<[LinkMessage]>)>,
}

static ROUTE: Mutex<Route> = Mutex::new(Route {
    socket: None,
    sequence: 0,
    buffer: Vec::new(),
    links: None,
});

/// A dump's datagrams are at most 32 KiB (the kernel sizes them to the
/// reader's buffer up to that), unless one message is larger.
const DATAGRAM: usize = 32 * 1024;

fn route() -> MutexGuard<'static, Route> {
    ROUTE.lock().unwrap_or_else(|p| p.into_inner())
}

impl Route {
    /// An rtnetlink dump over the kept socket, the answer's datagrams
    /// read by `decode` (see [`decode`]); on any failure the socket is
    /// closed, and a datagram larger than the buffer (the kernel cut it)
    /// grows the buffer and asks again.
    fn dump<T>(
        &mut self,
        request: RouteNetlinkMessage,
        decode: impl Fn(&[u8], u32, &mut Vec<T>) -> Result<bool, RtnlError>,
    ) -> Result<Vec<T>, RtnlError> {
        loop {
            let result = self.exchange(request.clone(), &decode);
            if result.is_err() {
                self.socket = None;
            }
            match result {
                Err(RtnlError::Truncated(len)) if len <= 16 * 1024 * 1024 => {
                    self.buffer = Vec::with_capacity(len.next_power_of_two());
                }
                other => return other,
            }
        }
    }

    fn exchange<T>(
        &mut self,
        request: RouteNetlinkMessage,
        decode: &impl Fn(&[u8], u32, &mut Vec<T>) -> Result<bool, RtnlError>,
    ) -> Result<Vec<T>, RtnlError> {
        let socket = match &mut self.socket {
            Some(socket) => socket,
            none => none.insert(open(NETLINK_ROUTE)?),
        };
        self.sequence = self.sequence.wrapping_add(1);
        socket.send(
            &serialize(request, NLM_F_REQUEST | NLM_F_DUMP, self.sequence),
            0,
        )?;
        if self.buffer.capacity() < DATAGRAM {
            self.buffer = Vec::with_capacity(DATAGRAM);
        }
        let mut out = Vec::new();
        loop {
            self.buffer.clear();
            // MSG_TRUNC: the datagram's whole length, even when cut.
            let len = socket.recv(&mut self.buffer, libc::MSG_TRUNC)?;
            if len > self.buffer.len() {
                return Err(RtnlError::Truncated(len));
            }
            if decode(&self.buffer, self.sequence, &mut out)? {
                return Ok(out);
            }
        }
    }
}

/// The link attributes the collectors read (netdev, arp, netclass in
/// both modes): [`decode_links`] keeps these and skips the rest of each
/// message undecoded (`IFLA_AF_SPEC`'s per-family configuration and
/// statistics, `IFLA_LINKINFO`, `IFLA_XDP`, … are most of its bytes).
/// Numbers from `include/uapi/linux/if_link.h`.
const LINK_ATTRIBUTES: [u16; 17] = [
    1,  // IFLA_ADDRESS
    2,  // IFLA_BROADCAST
    3,  // IFLA_IFNAME
    4,  // IFLA_MTU
    5,  // IFLA_LINK
    7,  // IFLA_STATS
    13, // IFLA_TXQLEN
    16, // IFLA_OPERSTATE
    17, // IFLA_LINKMODE
    20, // IFLA_IFALIAS
    23, // IFLA_STATS64
    27, // IFLA_GROUP
    33, // IFLA_CARRIER
    35, // IFLA_CARRIER_CHANGES
    47, // IFLA_CARRIER_UP_COUNT
    48, // IFLA_CARRIER_DOWN_COUNT
    52, // IFLA_PROP_LIST (alternative names)
];

/// `RTM_NEWLINK` (`include/uapi/linux/rtnetlink.h`).
const RTM_NEWLINK: u16 = 16;
/// The size of `struct ifinfomsg`, ahead of a link message's attributes.
const IFINFOMSG: usize = 16;

/// Decodes one datagram of a link dump like [`decode`], each link
/// message with only its [`LINK_ATTRIBUTES`] (each one decoded by
/// `netlink-packet-route` as in a whole message).
fn decode_links(
    datagram: &[u8],
    sequence: u32,
    out: &mut Vec<LinkMessage>,
) -> Result<bool, RtnlError> {
    const WHAT: &str = "RTM_GETLINK";
    let error = |e: DecodeError| RtnlError::Decode {
        what: WHAT,
        reason: e.to_string(),
    };
    let mut offset = 0;
    while offset < datagram.len() {
        let message = NetlinkBuffer::new_checked(&datagram[offset..]).map_err(error)?;
        let length = message.length() as usize;
        if message.message_type() == RTM_NEWLINK && message.sequence_number() == sequence {
            let payload = message.payload();
            let mut link = LinkMessage::default();
            link.header = LinkHeader::parse(payload).map_err(error)?;
            link.attributes.reserve_exact(LINK_ATTRIBUTES.len());
            let family = link.header.interface_family;
            for nla in NlasIterator::new(&payload[IFINFOMSG.min(payload.len())..]) {
                let nla = nla.map_err(error)?;
                if LINK_ATTRIBUTES.contains(&nla.kind()) {
                    link.attributes
                        .push(LinkAttribute::parse_with_param(&nla, family).map_err(error)?);
                }
            }
            out.push(link);
        } else if decode(
            &datagram[offset..offset + length],
            WHAT,
            sequence,
            &|_: RouteNetlinkMessage| None,
            out,
        )? {
            // NLMSG_DONE or an error, through the whole-message decoder.
            return Ok(true);
        }
        // Messages are aligned to 4 bytes (NLMSG_ALIGN).
        offset += (length + 3) & !3;
    }
    Ok(false)
}

/// A bound, connected netlink socket of `protocol`.
fn open(protocol: isize) -> Result<Socket, RtnlError> {
    let mut socket = Socket::new(protocol)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    Ok(socket)
}

/// `request` as the bytes of one netlink message.
fn serialize<M>(request: M, flags: u16, sequence: u32) -> Vec<u8>
where
    M: NetlinkSerializable + std::fmt::Debug,
{
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = sequence;
    let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(request));
    packet.finalize();
    let mut buf = vec![0u8; packet.header.length as usize];
    packet.serialize(&mut buf);
    buf
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
    let socket = open(protocol)?;
    socket.send(&serialize(request, flags, 1), 0)?;

    let mut out = Vec::new();
    loop {
        // Sized to the datagram (MSG_PEEK|MSG_TRUNC first): a dump's
        // datagrams can exceed any fixed buffer.
        let (datagram, _) = socket.recv_from_full()?;
        if decode(&datagram, what, 1, &keep, &mut out)? {
            return Ok(out);
        }
    }
}

/// Decodes one datagram of an answer into `out` (the messages `keep`
/// accepts); `true` once it holds the final `NLMSG_DONE` or the
/// acknowledgement (an error message with code 0). Messages of another
/// `sequence` than the request's are skipped.
fn decode<M, T>(
    datagram: &[u8],
    what: &'static str,
    sequence: u32,
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
        let ours = message.header.sequence_number == sequence;
        match message.payload {
            _ if !ours => {}
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
        numbered_datagram(0, payloads)
    }

    /// Like [`datagram`], answering the request numbered `sequence`.
    fn numbered_datagram(
        sequence: u32,
        payloads: Vec<NetlinkPayload<RouteNetlinkMessage>>,
    ) -> Vec<u8> {
        let mut bytes = Vec::new();
        for payload in payloads {
            let mut header = NetlinkHeader::default();
            header.sequence_number = sequence;
            let mut m = NetlinkMessage::new(header, payload);
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
        assert!(!decode(&first, "RTM_GETLINK", 0, &links, &mut out).unwrap());
        let last = datagram(vec![
            new_link(3, "br0"),
            NetlinkPayload::Done(DoneMessage::default()),
        ]);
        assert!(decode(&last, "RTM_GETLINK", 0, &links, &mut out).unwrap());
        let names: Vec<_> = out.iter().filter_map(link_name).collect();
        assert_eq!(names, ["lo", "eth0.100", "br0"]);
    }

    #[test]
    fn answers_to_an_earlier_request_are_skipped() {
        // What an abandoned dump (request 6) left on the kept socket, its
        // end included, ahead of the answer to request 7.
        let mut stale = numbered_datagram(
            6,
            vec![
                new_link(9, "old0"),
                NetlinkPayload::Done(DoneMessage::default()),
            ],
        );
        stale.extend(numbered_datagram(7, vec![new_link(1, "lo")]));
        let mut out = Vec::new();
        assert!(!decode(&stale, "RTM_GETLINK", 7, &links, &mut out).unwrap());
        let done = numbered_datagram(7, vec![NetlinkPayload::Done(DoneMessage::default())]);
        assert!(decode(&done, "RTM_GETLINK", 7, &links, &mut out).unwrap());
        let names: Vec<_> = out.iter().filter_map(link_name).collect();
        assert_eq!(names, ["lo"]);
    }

    #[test]
    fn a_link_dump_keeps_the_attributes_the_collectors_read_and_skips_the_rest() {
        use netlink_packet_route::link::{LinkMode, Prop, State, Stats, Stats64};
        // Every attribute a collector matches on (netdev, arp, netclass in
        // both modes)…
        let mut full = LinkMessage::default();
        full.header.index = 2;
        full.attributes = vec![
            LinkAttribute::IfName("eth0".into()),
            LinkAttribute::Address(vec![2, 0, 0, 0, 0, 1]),
            LinkAttribute::Broadcast(vec![0xff; 6]),
            LinkAttribute::Mtu(1500),
            LinkAttribute::Link(7),
            LinkAttribute::Stats(Stats::default()),
            LinkAttribute::TxQueueLen(1000),
            LinkAttribute::OperState(State::Up),
            LinkAttribute::Mode(LinkMode::Dormant),
            LinkAttribute::IfAlias("uplink".into()),
            LinkAttribute::Stats64(Stats64::default()),
            LinkAttribute::Group(3),
            LinkAttribute::Carrier(1),
            LinkAttribute::CarrierChanges(4),
            LinkAttribute::CarrierUpCount(2),
            LinkAttribute::CarrierDownCount(2),
            LinkAttribute::PropList(vec![Prop::AltIfName("enp1s0".into())]),
        ];
        // …and some none reads.
        let mut sent = full.clone();
        sent.attributes
            .insert(1, LinkAttribute::Qdisc("noqueue".into()));
        sent.attributes.push(LinkAttribute::NumTxQueues(4));
        sent.attributes
            .push(LinkAttribute::PermAddress(vec![2, 0, 0, 0, 0, 9]));
        let message =
            |l: LinkMessage| NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l));
        let mut bytes = numbered_datagram(4, vec![new_link(9, "old0")]);
        bytes.extend(numbered_datagram(
            5,
            vec![message(sent), NetlinkPayload::Done(DoneMessage::default())],
        ));
        let mut out = Vec::new();
        assert!(decode_links(&bytes, 5, &mut out).unwrap());
        assert_eq!(out, [full]);
        // An error answer is one.
        let mut error = ErrorMessage::default();
        error.code = std::num::NonZeroI32::new(-13);
        let refused = numbered_datagram(5, vec![NetlinkPayload::Error(error)]);
        let e = decode_links(&refused, 5, &mut Vec::new()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "netlink: the kernel refused RTM_GETLINK: error -13"
        );
        assert!(decode_links(&[1, 2, 3], 5, &mut Vec::new()).is_err());
    }

    #[test]
    fn the_kept_socket_answers_dump_after_dump_and_one_scrape_shares_its_links() {
        // The running kernel: every network namespace has `lo`.
        let kernel = Kernel;
        for _ in 0..3 {
            let links = kernel.links().unwrap();
            assert!(links.iter().any(|l| link_name(l) == Some("lo")));
            kernel.addresses().unwrap();
        }
        // Outside a scrape every call asks the kernel; inside one, the
        // first answer is kept for the rest of it.
        assert!(!Arc::ptr_eq(
            &kernel.links().unwrap(),
            &kernel.links().unwrap()
        ));
        struct Twice(Mutex<Vec<Arc<[LinkMessage]>>>);
        impl crate::exporter::collector::Collector for Twice {
            fn update(
                &self,
                _: &mut crate::exporter::metrics::Metrics,
            ) -> Result<(), crate::exporter::collector::CollectError> {
                self.0.lock().unwrap().push(Kernel.links().unwrap());
                Ok(())
            }
        }
        use crate::exporter::collector::{Name, Registry};
        let twice = Arc::new(Twice(Mutex::default()));
        let registry = Registry::new(vec![
            (Name::Netdev, twice.clone()),
            (Name::Netclass, twice.clone()),
        ]);
        registry.gather();
        registry.gather();
        let seen = twice.0.lock().unwrap();
        assert!(Arc::ptr_eq(&seen[0], &seen[1]), "one scrape, one dump");
        assert!(!Arc::ptr_eq(&seen[1], &seen[2]), "a new scrape, a new dump");
        assert!(Arc::ptr_eq(&seen[2], &seen[3]));
    }

    #[test]
    fn a_kernel_error_and_garbage_are_errors_naming_the_request() {
        let mut error = ErrorMessage::default();
        error.code = std::num::NonZeroI32::new(-1);
        let refused = datagram(vec![NetlinkPayload::Error(error)]);
        let e = decode(&refused, "RTM_GETNEIGH", 0, &links, &mut Vec::new()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "netlink: the kernel refused RTM_GETNEIGH: error -1"
        );
        let e = decode(&[1, 2, 3], "RTM_GETLINK", 0, &links, &mut Vec::new()).unwrap_err();
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
        assert!(decode(&ack, "RTM_GETLINK", 0, &links, &mut out).unwrap());
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
