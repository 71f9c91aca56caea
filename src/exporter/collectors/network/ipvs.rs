//! `ipvs`: IP Virtual Server totals from `/proc/net/ip_vs_stats`
//! (`node_ipvs_{connections,incoming_packets,outgoing_packets,
//! incoming_bytes,outgoing_bytes}_total`) and per backend from
//! `/proc/net/ip_vs` (`node_ipvs_backend_{connections_active,
//! connections_inactive,weight}` labelled `local_address`, `local_port`,
//! `remote_address`, `remote_port`, `proto`, `local_mark`), as
//! node_exporter exports them with its default backend labels.
//!
//! The kernel writes addresses and ports in hexadecimal (IPv4 as eight
//! digits, IPv6 in brackets); a firewall-mark service (`FWM`) has a mark
//! instead of an address. `--collector.ipvs.backend-labels` picks the
//! backend labels (all six by default); backends whose chosen labels are
//! equal are one series, summed, as in node_exporter. No IPVS module
//! (`ip_vs_stats` absent) exports nothing.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::exporter::collector::{read, read_or_no_data, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

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

/// A backend label `--collector.ipvs.backend-labels` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BackendLabel {
    // In name order: the order the labels are written in.
    LocalAddress,
    LocalMark,
    LocalPort,
    Proto,
    RemoteAddress,
    RemotePort,
}

impl BackendLabel {
    pub const ALL: [BackendLabel; 6] = [
        BackendLabel::LocalAddress,
        BackendLabel::LocalMark,
        BackendLabel::LocalPort,
        BackendLabel::Proto,
        BackendLabel::RemoteAddress,
        BackendLabel::RemotePort,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BackendLabel::LocalAddress => "local_address",
            BackendLabel::LocalMark => "local_mark",
            BackendLabel::LocalPort => "local_port",
            BackendLabel::Proto => "proto",
            BackendLabel::RemoteAddress => "remote_address",
            BackendLabel::RemotePort => "remote_port",
        }
    }

    /// The flag's comma-separated list (empty: no labels), as node_exporter
    /// reads it: an unknown name is an error.
    pub fn parse_list(list: &str) -> Result<Vec<BackendLabel>, String> {
        let mut out = Vec::new();
        for name in list.split(',').filter(|n| !n.is_empty()) {
            let label = Self::ALL
                .into_iter()
                .find(|l| l.as_str() == name)
                .ok_or_else(|| format!("unknown IPVS backend label {name:?}"))?;
            if !out.contains(&label) {
                out.push(label);
            }
        }
        out.sort();
        Ok(out)
    }

    fn value(self, b: &Backend) -> String {
        match self {
            BackendLabel::LocalAddress => b.local_address.clone(),
            BackendLabel::LocalMark => b.local_mark.clone(),
            BackendLabel::LocalPort => b.local_port.to_string(),
            BackendLabel::Proto => b.proto.clone(),
            BackendLabel::RemoteAddress => b.remote_address.clone(),
            BackendLabel::RemotePort => b.remote_port.to_string(),
        }
    }
}

/// node_exporter's default `--collector.ipvs.backend-labels`.
pub const DEFAULT_BACKEND_LABELS: &str =
    "local_address,local_port,remote_address,remote_port,proto,local_mark";

pub struct Ipvs {
    paths: Paths,
    labels: Vec<BackendLabel>,
}

impl Ipvs {
    pub fn new(paths: Paths, labels: Vec<BackendLabel>) -> Self {
        Ipvs { paths, labels }
    }
}

/// Backends grouped by the values of `labels`, counts summed; in label
/// order.
pub fn group(backends: &[Backend], labels: &[BackendLabel]) -> Vec<(Vec<String>, [f64; 3])> {
    let mut grouped: std::collections::BTreeMap<Vec<String>, [f64; 3]> = Default::default();
    for b in backends {
        let key = labels.iter().map(|l| l.value(b)).collect();
        let sums = grouped.entry(key).or_default();
        sums[0] += b.active;
        sums[1] += b.inactive;
        sums[2] += b.weight;
    }
    grouped.into_iter().collect()
}

impl Collector for Ipvs {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let stats = read_or_no_data(&self.paths.proc("net/ip_vs_stats"), "/proc/net/ip_vs_stats")?;
        let totals = parse_stats(&stats)?;
        let backends = parse_backends(&read(&self.paths.proc("net/ip_vs"))?)?;
        let grouped = group(&backends, &self.labels);

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
        for (values, [active, inactive, weight]) in &grouped {
            let labels: Vec<(&str, &str)> = self
                .labels
                .iter()
                .zip(values)
                .map(|(l, v)| (l.as_str(), v.as_str()))
                .collect();
            out.gauge(
                "node_ipvs_backend_connections_active",
                "The current active connections by local and remote address.",
            )
            .add(&labels, *active);
            out.gauge(
                "node_ipvs_backend_connections_inactive",
                "The current inactive connections by local and remote address.",
            )
            .add(&labels, *inactive);
            out.gauge(
                "node_ipvs_backend_weight",
                "The current backend weight by local and remote address.",
            )
            .add(&labels, *weight);
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

    #[test]
    fn backend_labels_pick_and_sum_like_node_exporter() {
        assert_eq!(
            BackendLabel::parse_list(DEFAULT_BACKEND_LABELS).unwrap(),
            BackendLabel::ALL
        );
        assert_eq!(BackendLabel::parse_list("").unwrap(), []);
        assert!(BackendLabel::parse_list("proto,bogus").is_err());
        let vs = "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n\
                  TCP  0A000001:0050 rr\n  -> 0A000002:1F90      Masq    3      4          5\n\
                  TCP  0A000001:01BB rr\n  -> 0A000002:1F90      Masq    1      2          0\n";
        let b = parse_backends(vs).unwrap();
        let labels = BackendLabel::parse_list("remote_address,proto").unwrap();
        assert_eq!(labels, [BackendLabel::Proto, BackendLabel::RemoteAddress]);
        assert_eq!(
            group(&b, &labels),
            [(
                vec!["TCP".to_owned(), "10.0.0.2".to_owned()],
                [6.0, 5.0, 4.0]
            )]
        );
        assert_eq!(group(&b, &[]), [(vec![], [6.0, 5.0, 4.0])]);
    }
}
