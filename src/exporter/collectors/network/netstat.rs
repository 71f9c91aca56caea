//! `netstat`: network protocol counters from `/proc/net/netstat`,
//! `/proc/net/snmp` and `/proc/net/snmp6` as untyped
//! `node_netstat_<Protocol>_<Field>`, filtered by node_exporter 1.12's
//! default `--collector.netstat.fields` so the same series appear.
//! `snmp6` is absent when IPv6 is disabled; that is not an error.

use std::borrow::Cow;
use std::sync::Mutex;

use crate::exporter::intern::TableMemo;
use crate::exporter::matcher::Matcher;

use crate::exporter::collector::{read, CollectError, Collector, Number, Paths};
use crate::exporter::intern;
use crate::exporter::metrics::{Kind, Metrics};

/// node_exporter 1.12's default `--collector.netstat.fields` (1.5's plus
/// `TcpExt_TCPOFOQueue` and `TcpExt_TCPRcvQDrop`).
pub const DEFAULT_FIELDS: &str = r"^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts|TCPOFOQueue|TCPRcvQDrop)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$";

/// One counter: protocol (`TcpExt`, `Ip6`), field (`ListenDrops`) and value,
/// borrowed from the file's text (most are filtered out right away, so the
/// value is converted only for those kept).
#[derive(Debug, PartialEq)]
pub struct Stat<'a> {
    pub protocol: &'a str,
    pub field: &'a str,
    pub value: Number<'a>,
}

/// Parses the paired-line format of `/proc/net/{netstat,snmp}`: a line of
/// names, then a line of values, both prefixed by `Protocol:`.
pub fn parse_pairs<'a>(what: &str, text: &'a str) -> Result<Vec<Stat<'a>>, CollectError> {
    let mut out = Vec::new();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    while let Some(names) = lines.next() {
        let values = lines
            .next()
            .ok_or_else(|| CollectError::parse(what, format!("no values after {names:?}")))?;
        let mut names = names.split_whitespace();
        let mut values = values.split_whitespace();
        let (Some(p1), Some(p2)) = (names.next(), values.next()) else {
            return Err(CollectError::parse(what, "empty line"));
        };
        let protocol = p1
            .strip_suffix(':')
            .filter(|p| Some(*p) == p2.strip_suffix(':'))
            .ok_or_else(|| {
                CollectError::parse(what, format!("mismatched protocols {p1:?} {p2:?}"))
            })?;
        let mismatch = || CollectError::parse(what, format!("field count mismatch for {protocol}"));
        loop {
            let (name, value) = match (names.next(), values.next()) {
                (Some(name), Some(value)) => (name, value),
                (None, None) => break,
                _ => return Err(mismatch()),
            };
            let value = Number::new(value).ok_or_else(|| {
                CollectError::parse(what, format!("bad value {value:?} for {protocol}{name}"))
            })?;
            out.push(Stat {
                protocol,
                field: name,
                value,
            });
        }
    }
    Ok(out)
}

/// Parses `/proc/net/snmp6`: `Ip6InReceives  123` lines. The protocol is
/// everything up to and including the first `6`.
pub fn parse_snmp6(text: &str) -> Result<Vec<Stat<'_>>, CollectError> {
    const WHAT: &str = "/proc/net/snmp6";
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.split_whitespace();
        let (Some(key), Some(value), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CollectError::parse(
                WHAT,
                format!("malformed line {line:?}"),
            ));
        };
        let Some(six) = key.find('6') else { continue };
        let value = Number::new(value)
            .ok_or_else(|| CollectError::parse(WHAT, format!("bad value in {line:?}")))?;
        out.push(Stat {
            protocol: &key[..=six],
            field: &key[six + 1..],
            value,
        });
    }
    Ok(out)
}

/// A counter's family name and help text.
type Named = (Cow<'static, str>, Cow<'static, str>);

pub struct Netstat {
    paths: Paths,
    /// `--collector.netstat.fields`.
    fields: Matcher,
    /// Per counter (`Protocol_Field`), its name and help if the filter
    /// keeps it.
    named: Mutex<TableMemo<Option<Named>>>,
}

impl Netstat {
    pub fn new(paths: Paths, fields: Matcher) -> Self {
        Netstat {
            paths,
            fields,
            named: Mutex::default(),
        }
    }
}

impl Collector for Netstat {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let netstat = read(&self.paths.proc("net/netstat"))?;
        let snmp = read(&self.paths.proc("net/snmp"))?;
        let snmp6 = crate::exporter::collector::read_text(self.paths.proc("net/snmp6")).ok();
        let mut stats = parse_pairs("/proc/net/netstat", &netstat)?;
        stats.extend(parse_pairs("/proc/net/snmp", &snmp)?);
        if let Some(text) = &snmp6 {
            stats.extend(parse_snmp6(text)?);
        }
        let filter = &self.fields;
        // Most of the ~300 counters are filtered out: match on a reused
        // buffer, and name only the ones kept; both answers are kept for
        // the next scrape (`intern/table.rs`).
        let mut named = self.named.lock().unwrap_or_else(|e| e.into_inner());
        let mut pass = named.pass();
        let mut key = String::with_capacity(64);
        for s in stats {
            key.clear();
            key.push_str(s.protocol);
            key.push('_');
            key.push_str(s.field);
            let answer = pass.answer(&key, |key| {
                filter.is_match(key).then(|| {
                    (
                        intern::concat(&["node_netstat_", key]),
                        intern::concat(&["Statistic ", s.protocol, s.field, "."]),
                    )
                })
            });
            if let Some((name, help)) = answer {
                out.new_family(name.clone(), help.clone(), Kind::Untyped)
                    .add(&[], s.value.value());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields_filter() -> Matcher {
        Matcher::new(DEFAULT_FIELDS).expect("static regex")
    }

    #[test]
    fn pairs_and_snmp6() {
        let s = parse_pairs(
            "x",
            "Ip: Forwarding DefaultTTL\nIp: 2 64\nTcp: CurrEstab\nTcp: 3\n",
        )
        .unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(
            s[2],
            Stat {
                protocol: "Tcp",
                field: "CurrEstab",
                value: Number::new("3").unwrap()
            }
        );
        let s6 = parse_snmp6("Ip6InOctets  10\nUdpLite6InErrors 1\nIcmp6OutMsgs\t4\n").unwrap();
        assert_eq!(s6[1].protocol, "UdpLite6");
        assert_eq!(s6[1].field, "InErrors");
        assert_eq!(s6[2].value.value(), 4.0);
    }

    #[test]
    fn the_default_filter_matches_node_exporter() {
        let f = fields_filter();
        for keep in [
            "Ip_Forwarding",
            "TcpExt_ListenDrops",
            "UdpLite_InErrors",
            "Icmp6_InMsgs",
            "TcpExt_TCPOFOQueue",
            "TcpExt_TCPRcvQDrop",
        ] {
            assert!(f.is_match(keep), "{keep}");
        }
        for drop in [
            "Ip_DefaultTTL",
            "TcpExt_TW",
            "Udp_InCsumErrors",
            "TcpExt_TCPOFODrop",
        ] {
            assert!(!f.is_match(drop), "{drop}");
        }
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(parse_pairs("x", "Ip: Forwarding DefaultTTL\n").is_err());
        assert!(parse_pairs("x", "Ip: Forwarding DefaultTTL\nIp: 2\n").is_err());
        assert!(parse_pairs("x", "Ip: Forwarding\nTcp: 2\n").is_err());
        assert!(parse_pairs("x", "Ip: Forwarding\nIp: two\n").is_err());
        assert!(parse_snmp6("Ip6InOctets\n").is_err());
        assert!(parse_snmp6("Ip6InOctets x\n").is_err());
    }
}
