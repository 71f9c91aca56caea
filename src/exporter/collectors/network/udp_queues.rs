//! `udp_queues`: bytes queued in the kernel for UDP sockets, summed over
//! `/proc/net/udp` and `/proc/net/udp6` (`node_udp_queues{ip,queue}`).
//! `udp6` is absent when IPv6 is disabled; that is not an error.
//!
//! Decisions: both tables are read through
//! [`openfiles::read_records_with`](crate::exporter::openfiles::read_records_with),
//! which spares the `read` that would only return the end of the file (a
//! second walk of the kernel's UDP hash table per file and scrape). It needs
//! the longest line: [`MAX_LINE`].

use std::path::Path;

use crate::exporter::collector::{CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;
use crate::exporter::openfiles;

/// An upper bound of a line's length in `/proc/net/udp` and `udp6`: every
/// field of `udp4_format_sock` / `__ip6_dgram_sock_seq_show` at its widest
/// (an `int` slot, 32-hex-digit addresses, 64-bit timer, uid, inode and
/// pointer, 32-bit drops) adds up to about 222 bytes for `udp6`; IPv4
/// lines are padded to 128.
pub const MAX_LINE: usize = 256;

/// Sums the `tx_queue:rx_queue` column (hexadecimal) into `(tx, rx)`.
pub fn parse(what: &str, text: &str) -> Result<(f64, f64), CollectError> {
    let mut lines = text.lines();
    match lines.next() {
        Some(h) if h.trim_start().starts_with("sl") => {}
        _ => return Err(CollectError::parse(what, "missing header line")),
    }
    let (mut tx, mut rx) = (0.0, 0.0);
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let queues = line
            .split_whitespace()
            .nth(4)
            .and_then(|q| q.split_once(':'))
            .and_then(|(t, r)| {
                Some((
                    u64::from_str_radix(t, 16).ok()?,
                    u64::from_str_radix(r, 16).ok()?,
                ))
            })
            .ok_or_else(|| CollectError::parse(what, format!("malformed line {line:?}")))?;
        tx += queues.0 as f64;
        rx += queues.1 as f64;
    }
    Ok((tx, rx))
}

pub struct UdpQueues {
    paths: Paths,
}

impl UdpQueues {
    pub fn new(paths: Paths) -> Self {
        UdpQueues { paths }
    }
}

impl Collector for UdpQueues {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        // Either table may be absent (no IPv6); both absent is "no data".
        let v4 = read_table(&self.paths.proc("net/udp"), "/proc/net/udp")?;
        let v6 = read_table(&self.paths.proc("net/udp6"), "/proc/net/udp6")?;
        if v4.is_none() && v6.is_none() {
            return Err(CollectError::NoData("/proc/net/udp and /proc/net/udp6"));
        }
        let fam = out.gauge(
            "node_udp_queues",
            "Number of allocated memory in the kernel for UDP datagrams in bytes.",
        );
        for (ip, (tx, rx)) in [("v4", v4), ("v6", v6)]
            .into_iter()
            .filter_map(|(ip, q)| Some((ip, q?)))
        {
            fam.add(&[("ip", ip), ("queue", "tx")], tx);
            fam.add(&[("ip", ip), ("queue", "rx")], rx);
        }
        Ok(())
    }
}

/// The sums of one table, `None` when it does not exist.
fn read_table(path: &Path, what: &str) -> Result<Option<(f64, f64)>, CollectError> {
    let parsed = openfiles::read_records_with(path, MAX_LINE, |b| {
        std::str::from_utf8(b)
            .map_err(|_| CollectError::parse(what, "not UTF-8"))
            .and_then(|text| parse(what, text))
    });
    match parsed {
        Ok(sums) => sums.map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CollectError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n  \
 12: 00000000:0044 00000000:0000 07 00000010:00000200 00:00000000 00000000     0        0 18417 2 0000000000000000 0\n  \
 13: 00000000:0045 00000000:0000 07 00000001:00000001 00:00000000 00000000     0        0 18418 2 0000000000000000 0\n";

    #[test]
    fn sums_queues() {
        assert_eq!(parse("x", TEXT).unwrap(), (17.0, 513.0));
        assert_eq!(
            parse("x", TEXT.lines().next().unwrap()).unwrap(),
            (0.0, 0.0)
        );
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(parse("x", "").is_err());
        assert!(parse("x", &TEXT.replace("00000010:00000200", "0000zz10:00000200")).is_err());
        assert!(parse("x", &TEXT.replace("00000010:00000200", "00000010")).is_err());
    }
}
