//! `tapestats`: SCSI tape drive statistics from
//! `/sys/class/scsi_tape/stN/stats/` (`node_tape_*{device}`), as
//! node_exporter 1.5 exports them. Only the `stN` devices are read, not
//! their `nstN` (no-rewind) and `stNa`… mode aliases, which share the
//! counters. Times are nanoseconds in the kernel, seconds here.
//!
//! Decisions: node_exporter's `--collector.tapestats.ignored-devices` is
//! not offered (its default ignores nothing); a missing or malformed
//! statistic fails the collector; no tape drives export nothing.

use crate::exporter::collector::{class_entries, read, CollectError, Collector, Paths};
use crate::exporter::matcher::Matcher;
use crate::exporter::metrics::{Kind, Metrics};

/// Statistic file, metric, kind, scale, help.
const STATS: [(&str, &str, Kind, f64, &str); 10] = [
    ("in_flight", "node_tape_io_now", Kind::Gauge, 1.0, "The number of I/Os currently outstanding to this device."),
    ("io_ns", "node_tape_io_time_seconds_total", Kind::Counter, 1e-9, "The amount of time spent waiting for all I/O to complete (including read and write). This includes tape movement commands such as seeking between file or set marks and implicit tape movement such as when rewind on close tape devices are used."),
    ("other_cnt", "node_tape_io_others_total", Kind::Counter, 1.0, "The number of I/Os issued to the tape drive other than read or write commands. The time taken to complete these commands uses the following calculation io_time_seconds_total-read_time_seconds_total-write_time_seconds_total"),
    ("read_byte_cnt", "node_tape_read_bytes_total", Kind::Counter, 1.0, "The number of bytes read from the tape drive."),
    ("read_cnt", "node_tape_reads_completed_total", Kind::Counter, 1.0, "The number of read requests issued to the tape drive."),
    ("read_ns", "node_tape_read_time_seconds_total", Kind::Counter, 1e-9, "The amount of time spent waiting for read requests to complete."),
    ("resid_cnt", "node_tape_residual_total", Kind::Counter, 1.0, "The number of times during a read or write we found the residual amount to be non-zero. This should mean that a program is issuing a read larger thean the block size on tape. For write not all data made it to tape."),
    ("write_byte_cnt", "node_tape_written_bytes_total", Kind::Counter, 1.0, "The number of bytes written to the tape drive."),
    ("write_cnt", "node_tape_writes_completed_total", Kind::Counter, 1.0, "The number of write requests issued to the tape drive."),
    ("write_ns", "node_tape_write_time_seconds_total", Kind::Counter, 1e-9, "The amount of time spent waiting for write requests to complete."),
];

/// Whether `name` is a tape drive's primary device (`st0`, not `nst0`
/// or `st0a`).
pub fn is_drive(name: &str) -> bool {
    name.strip_prefix("st")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// One statistic's value.
pub fn parse(what: &str, text: &str) -> Result<u64, CollectError> {
    text.trim().parse().map_err(|_| {
        CollectError::parse(what, format!("expected an unsigned integer, got {text:?}"))
    })
}

pub struct Tapestats {
    paths: Paths,
    /// `--collector.tapestats.ignored-devices`.
    ignored: Matcher,
}

impl Tapestats {
    pub fn new(paths: Paths, ignored: Matcher) -> Self {
        Tapestats { paths, ignored }
    }
}

impl Collector for Tapestats {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let class = self.paths.sys("class/scsi_tape");
        let mut drives = Vec::new();
        for name in class_entries(&class, "/sys/class/scsi_tape")?
            .into_iter()
            .filter(|n| is_drive(n) && !self.ignored.is_match(n))
        {
            let dir = class.join(&name).join("stats");
            let values = STATS
                .iter()
                .map(|(file, ..)| {
                    let path = dir.join(file);
                    parse(&path.display().to_string(), &read(&path)?)
                })
                .collect::<Result<Vec<u64>, _>>()?;
            drives.push((name, values));
        }
        for (i, (_, metric, kind, scale, help)) in STATS.iter().enumerate() {
            for (name, values) in &drives {
                out.family(*metric, *help, *kind)
                    .add(&[("device", name)], values[i] as f64 * scale);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_drives_and_parses_counters() {
        assert!(is_drive("st0") && is_drive("st12"));
        assert!(!is_drive("nst0") && !is_drive("st0a") && !is_drive("st"));
        assert_eq!(parse("t", "1409\n").unwrap(), 1409);
        assert!(parse("t", "1409\nmalformed line\n").is_err());
    }
}
