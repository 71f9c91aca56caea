//! `ipvs`: IP Virtual Server totals from `/proc/net/ip_vs_stats`
//! (`node_ipvs_{connections,incoming_packets,outgoing_packets,
//! incoming_bytes,outgoing_bytes}_total`) and per backend from
//! `/proc/net/ip_vs` (`node_ipvs_backend_{connections_active,
//! connections_inactive,weight}` labelled `local_address`, `local_port`,
//! `remote_address`, `remote_port`, `proto`, `local_mark`), as
//! node_exporter 1.5 exports them with its default backend labels.
//!
//! The kernel writes addresses and ports in hexadecimal (IPv4 as eight
//! digits, IPv6 in brackets); a firewall-mark service (`FWM`) has a mark
//! instead of an address. Decisions: node_exporter's
//! `--collector.ipvs.backend-labels` is not offered (all labels are kept;
//! backends with the same labels are summed, as there); no IPVS module
//! (`ip_vs_stats` absent) exports nothing.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::collector::{read, read_if_present, CollectError, Collector, Paths};
use super::metrics::Metrics;

/// The five totals of `ip_vs_stats`: connections, incoming and outgoing
/// packets, incoming and outgoing bytes.
pub fn parse_stats(text: &str) -> Result<[u64; 5], CollectError> {
    const WHAT: &str = "/proc/net/ip_vs_stats";
    let line = text
        .lines()
        .nth(2)
        .ok_or_else(|| CollectError::parse(WHAT, "no totals line"))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .map(|w| u64::from_str_radix(w, 16))
        .collect::<Result<_, _>>()
        .map_err(|_| CollectError::parse(WHAT, format!("not hexadecimal: {line:?}")))?;
    values
        .try_into()
        .map_err(|_| CollectError::parse(WHAT, format!("expected five totals in {line:?}")))
}

/// One backend of one virtual service.
#[derive(Debug, Clone, PartialEq)]
pub struct Backend {
    pub proto: String,
    pub local_address: String,
    pub local_port: u16,
    pub local_mark: String,
    pub remote_address: String,
    pub remote_port: u16,
    pub weight: f64,
    pub active: f64,
    pub inactive: f64,
}

/// `HEX:PORT` or `[v6]:PORT` as an address and port.
fn address(what: &str, s: &str) -> Result<(String, u16), CollectError> {
    let bad = || CollectError::parse(what, format!("bad address {s:?}"));
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port = u16::from_str_radix(port, 16).map_err(|_| bad())?;
    let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<Ipv6Addr>().map_err(|_| bad())?.to_string(),
        None if host.len() == 8 => {
            Ipv4Addr::from(u32::from_str_radix(host, 16).map_err(|_| bad())?).to_string()
        }
        None => return Err(bad()),
    };
    Ok((host, port))
}

pub fn parse_backends(text: &str) -> Result<Vec<Backend>, CollectError> {
    const WHAT: &str = "/proc/net/ip_vs";
    let mut out = Vec::new();
    // The current virtual service: proto, address, port, mark.
    let mut service: Option<(String, String, u16, String)> = None;
    for (n, line) in text.lines().enumerate().skip(3) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let err = |why: &str| CollectError::parse(WHAT, format!("line {}: {why}", n + 1));
        match words[..] {
            [] => {}
            ["->", remote, _forward, weight, active, inactive, ..] => {
                let (proto, laddr, lport, mark) = service
                    .clone()
                    .ok_or_else(|| err("backend before any service"))?;
                let (raddr, rport) = address(WHAT, remote)?;
                let num = |s: &str| {
                    s.parse::<u64>()
                        .map(|v| v as f64)
                        .map_err(|_| err("not a number"))
                };
                out.push(Backend {
                    proto,
                    local_address: laddr,
                    local_port: lport,
                    local_mark: mark,
                    remote_address: raddr,
                    remote_port: rport,
                    weight: num(weight)?,
                    active: num(active)?,
                    inactive: num(inactive)?,
                });
            }
            ["FWM", mark, ..] => service = Some(("FWM".into(), String::new(), 0, mark.to_owned())),
            [proto @ ("TCP" | "UDP" | "SCTP"), local, ..] => {
                let (addr, port) = address(WHAT, local)?;
                service = Some((proto.to_owned(), addr, port, String::new()));
            }
            _ => return Err(err("expected a service or a \"->\" backend line")),
        }
    }
    Ok(out)
}

pub struct Ipvs {
    paths: Paths,
}

impl Ipvs {
    pub fn new(paths: Paths) -> Self {
        Ipvs { paths }
    }
}

impl Collector for Ipvs {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let Some(stats) = read_if_present(&self.paths.proc("net/ip_vs_stats"))? else {
            return Ok(());
        };
        let totals = parse_stats(&stats)?;
        let mut backends = parse_backends(&read(&self.paths.proc("net/ip_vs"))?)?;
        // Backends with the same labels are one series, summed.
        let key = |b: &Backend| {
            (
                b.local_address.clone(),
                b.local_port,
                b.remote_address.clone(),
                b.remote_port,
                b.proto.clone(),
                b.local_mark.clone(),
            )
        };
        backends.sort_by_key(key);
        backends.dedup_by(|later, first| {
            if key(later) != key(first) {
                return false;
            }
            first.weight += later.weight;
            first.active += later.active;
            first.inactive += later.inactive;
            true
        });

        for (name, help, v) in [
            (
                "node_ipvs_connections_total",
                "The total number of connections made.",
                totals[0],
            ),
            (
                "node_ipvs_incoming_packets_total",
                "The total number of incoming packets.",
                totals[1],
            ),
            (
                "node_ipvs_outgoing_packets_total",
                "The total number of outgoing packets.",
                totals[2],
            ),
            (
                "node_ipvs_incoming_bytes_total",
                "The total amount of incoming data.",
                totals[3],
            ),
            (
                "node_ipvs_outgoing_bytes_total",
                "The total amount of outgoing data.",
                totals[4],
            ),
        ] {
            out.counter(name, help).add(&[], v as f64);
        }
        for b in &backends {
            let (lport, rport) = (b.local_port.to_string(), b.remote_port.to_string());
            let labels = [
                ("local_address", b.local_address.as_str()),
                ("local_mark", b.local_mark.as_str()),
                ("local_port", lport.as_str()),
                ("proto", b.proto.as_str()),
                ("remote_address", b.remote_address.as_str()),
                ("remote_port", rport.as_str()),
            ];
            out.gauge(
                "node_ipvs_backend_connections_active",
                "The current active connections by local and remote address.",
            )
            .add(&labels, b.active);
            out.gauge(
                "node_ipvs_backend_connections_inactive",
                "The current inactive connections by local and remote address.",
            )
            .add(&labels, b.inactive);
            out.gauge(
                "node_ipvs_backend_weight",
                "The current backend weight by local and remote address.",
            )
            .add(&labels, b.weight);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_totals_and_backends() {
        let stats = "   Total Incoming Outgoing         Incoming         Outgoing\n   Conns  Packets  Packets            Bytes            Bytes\n\
                     \x20    10       FF        0             1000                1\n";
        assert_eq!(parse_stats(stats).unwrap(), [16, 255, 0, 4096, 1]);
        assert!(parse_stats("a\nb\nmalformed line\n").is_err());
        let vs = "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n\
                  TCP  0A000001:0050 rr\n  -> 0A000002:1F90      Masq    3      4          5\n\
                  FWM  00000010 wlc\n  -> [fe80:0000:0000:0000:0000:0000:0000:0001]:0000      Route   0      0          1\n";
        let b = parse_backends(vs).unwrap();
        assert_eq!(b[0].local_address, "10.0.0.1");
        assert_eq!((b[0].local_port, b[0].remote_port), (80, 8080));
        assert_eq!((b[0].weight, b[0].active, b[0].inactive), (3.0, 4.0, 5.0));
        assert_eq!(b[1].local_mark, "00000010");
        assert_eq!(b[1].remote_address, "fe80::1");
        assert!(parse_backends(&format!("{vs}malformed line\n")).is_err());
    }
}
