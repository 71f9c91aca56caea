//! `tcpstat` (off by default): TCP sockets per connection state, and the
//! bytes queued on them, from `/proc/net/tcp` and `/proc/net/tcp6`:
//! `node_tcp_connection_states{state}`.
//!
//! Decisions: node_exporter 1.5 asks the kernel over netlink (inet_diag),
//! which sees the host's network namespace whatever `--path.procfs` says;
//! this reads the text tables under `--path.procfs` (as node_exporter did
//! before 1.3), so it counts the same sockets of the procfs it is pointed
//! at. The numbers are the same: the text tables' `tx_queue:rx_queue` are
//! inet_diag's write and read queues (for a listener, the accept backlog
//! and its limit). A state number outside 1–11 is counted as `unknown`.
//! `tcp6` may be absent (no IPv6); `tcp` is required. The tables are
//! parsed in place, without copying them: a busy host has many sockets.

use crate::exporter::collector::{CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;
use std::path::Path;

/// The kernel's TCP states 1..=11 (`include/net/tcp_states.h`), by number.
const STATES: [&str; 11] = [
    "established",
    "syn_sent",
    "syn_recv",
    "fin_wait1",
    "fin_wait2",
    "time_wait",
    "close",
    "close_wait",
    "last_ack",
    "listen",
    "closing",
];

/// Sockets per state and queued bytes, summed over the tables read.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TcpStats {
    /// Per [`STATES`]; `None` when no socket was in that state.
    pub states: [Option<f64>; 11],
    pub unknown: Option<f64>,
    pub rx_queued: f64,
    pub tx_queued: f64,
    /// Whether any socket was seen (the queue totals are only reported then).
    pub any: bool,
}

impl TcpStats {
    /// Adds the sockets of one table (`/proc/net/tcp` format) named `what`.
    pub fn add_table(&mut self, what: &Path, text: &[u8]) -> Result<(), CollectError> {
        let bad = |n: usize, reason: &str| {
            CollectError::parse(format!("{} line {}", what.display(), n + 1), reason)
        };
        for (n, line) in text.split(|&b| b == b'\n').enumerate().skip(1) {
            let mut fields = line
                .split(|b| b.is_ascii_whitespace())
                .filter(|f| !f.is_empty());
            let Some(_slot) = fields.next() else { continue };
            let (Some(_local), Some(_remote), Some(st), Some(queues)) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Err(bad(n, "fewer than 5 fields"));
            };
            let Some(colon) = queues.iter().position(|&b| b == b':') else {
                return Err(bad(n, "no tx_queue:rx_queue"));
            };
            let tx = hex(&queues[..colon]).ok_or_else(|| bad(n, "bad tx_queue"))?;
            let rx = hex(&queues[colon + 1..]).ok_or_else(|| bad(n, "bad rx_queue"))?;
            let st = hex(st)
                .filter(|&s| s <= i8::MAX as u64)
                .ok_or_else(|| bad(n, "bad state"))?;
            self.tx_queued += tx as f64;
            self.rx_queued += rx as f64;
            let slot = match st {
                1..=11 => &mut self.states[st as usize - 1],
                _ => &mut self.unknown,
            };
            *slot = Some(slot.unwrap_or(0.0) + 1.0);
            self.any = true;
        }
        Ok(())
    }
}

/// A hexadecimal number as the kernel prints it.
fn hex(b: &[u8]) -> Option<u64> {
    u64::from_str_radix(std::str::from_utf8(b).ok()?, 16).ok()
}

pub struct Tcpstat {
    paths: Paths,
}

impl Tcpstat {
    pub fn new(paths: Paths) -> Self {
        Tcpstat { paths }
    }

    fn add(&self, stats: &mut TcpStats, rel: &str, required: bool) -> Result<(), CollectError> {
        let path = self.paths.proc(rel);
        match crate::exporter::openfiles::read_with(&path, false, |b| stats.add_table(&path, b)) {
            Ok(parsed) => parsed,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(CollectError::Read { path, source }),
        }
    }
}

impl Collector for Tcpstat {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let mut stats = TcpStats::default();
        self.add(&mut stats, "net/tcp", true)?;
        self.add(&mut stats, "net/tcp6", false)?;
        let f = out.gauge("node_tcp_connection_states", "Number of connection states.");
        for (name, count) in STATES.iter().zip(stats.states) {
            if let Some(count) = count {
                f.add(&[("state", name)], count);
            }
        }
        if let Some(count) = stats.unknown {
            f.add(&[("state", "unknown")], count);
        }
        if stats.any {
            f.add(&[("state", "rx_queued_bytes")], stats.rx_queued);
            f.add(&[("state", "tx_queued_bytes")], stats.tx_queued);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000002 00:00000000 00000000     0        0 17012 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D2F4 01 00000010:00000000 00:00000000 00000000  1000        0 40411 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:D2F4 0100007F:1F90 01 00000000:00000100 00:00000000 00000000  1000        0 40412 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:D2F6 0100007F:1F90 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
";

    #[test]
    fn counts_states_and_queues() {
        let mut s = TcpStats::default();
        s.add_table(Path::new("tcp"), TCP.as_bytes()).unwrap();
        assert_eq!(s.states[0], Some(2.0)); // established
        assert_eq!(s.states[5], Some(1.0)); // time_wait
        assert_eq!(s.states[9], Some(1.0)); // listen
        assert_eq!(s.states[1], None);
        assert_eq!(s.tx_queued, 16.0);
        assert_eq!(s.rx_queued, 2.0 + 256.0);
        // A second table adds to the first.
        s.add_table(Path::new("tcp6"), TCP.as_bytes()).unwrap();
        assert_eq!(s.states[0], Some(4.0));
        assert_eq!(s.unknown, None);
    }

    #[test]
    fn a_header_alone_is_no_socket() {
        let mut s = TcpStats::default();
        s.add_table(Path::new("tcp"), TCP.lines().next().unwrap().as_bytes())
            .unwrap();
        assert!(!s.any);
    }

    #[test]
    fn malformed_lines_name_the_file_and_line() {
        let mut s = TcpStats::default();
        let text = format!("{TCP}malformed line\n");
        let err = s
            .add_table(Path::new("/proc/net/tcp"), text.as_bytes())
            .unwrap_err();
        assert!(err.to_string().contains("/proc/net/tcp line 6"), "{err}");
        let bad_queue = "h\n 0: 0:0 0:0 01 0000zz:00\n";
        assert!(s.add_table(Path::new("t"), bad_queue.as_bytes()).is_err());
        let bad_state = "h\n 0: 0:0 0:0 FF 00:00\n";
        assert!(s.add_table(Path::new("t"), bad_state.as_bytes()).is_err());
    }
}
