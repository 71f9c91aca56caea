//! `softnet`: per-CPU packet processing statistics from
//! `/proc/net/softnet_stat` (hexadecimal columns; one line per CPU).
//!
//! Decisions: the columns are the kernel's (`net/core/net-procfs.c`):
//! processed, dropped, time_squeeze, five unused, cpu_collision (from 2.6.23,
//! 9 columns), received_rps and flow_limit_count (4.17, 11 columns),
//! backlog length and the CPU's id (5.10, 13 columns). As node_exporter
//! 1.12, every row exports all seven series, zero where the kernel is too old
//! to print the column, and the `cpu` label is the id column where there is
//! one (the file skips offline CPUs), else the line number.

use crate::exporter::collector::{read, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

#[derive(Debug, Default, PartialEq)]
pub struct CpuStat {
    pub cpu: u32,
    pub processed: f64,
    pub dropped: f64,
    pub time_squeezed: f64,
    pub cpu_collision: f64,
    pub received_rps: f64,
    pub flow_limit_count: f64,
    pub backlog_len: f64,
}

pub fn parse(text: &str) -> Result<Vec<CpuStat>, CollectError> {
    const WHAT: &str = "/proc/net/softnet_stat";
    let mut stats = Vec::new();
    let mut cols = Vec::with_capacity(16);
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        cols.clear();
        for c in line.split_whitespace() {
            let v = u32::from_str_radix(c, 16).map_err(|_| {
                CollectError::parse(WHAT, format!("line {}: bad hex value {c:?}", n + 1))
            })?;
            cols.push(v);
        }
        if cols.len() < 9 {
            return Err(CollectError::parse(
                WHAT,
                format!(
                    "line {}: {} columns, at least 9 expected",
                    n + 1,
                    cols.len()
                ),
            ));
        }
        let col = |i: usize| cols.get(i).map_or(0.0, |&v| v as f64);
        stats.push(CpuStat {
            cpu: cols.get(12).copied().unwrap_or(stats.len() as u32),
            processed: col(0),
            dropped: col(1),
            time_squeezed: col(2),
            cpu_collision: col(8),
            received_rps: col(9),
            flow_limit_count: col(10),
            backlog_len: col(11),
        });
    }
    Ok(stats)
}

pub struct Softnet {
    paths: Paths,
}

impl Softnet {
    pub fn new(paths: Paths) -> Self {
        Softnet { paths }
    }
}

impl Collector for Softnet {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let stats = parse(&read(&self.paths.proc("net/softnet_stat"))?)?;
        type Field = fn(&CpuStat) -> f64;
        const COUNTERS: [(&str, &str, Field); 6] = [
            (
                "node_softnet_processed_total",
                "Number of processed packets",
                |s| s.processed,
            ),
            (
                "node_softnet_dropped_total",
                "Number of dropped packets",
                |s| s.dropped,
            ),
            (
                "node_softnet_times_squeezed_total",
                "Number of times processing packets ran out of quota",
                |s| s.time_squeezed,
            ),
            (
                "node_softnet_cpu_collision_total",
                "Number of collision occur while obtaining device lock while transmitting",
                |s| s.cpu_collision,
            ),
            (
                "node_softnet_received_rps_total",
                "Number of times cpu woken up received_rps",
                |s| s.received_rps,
            ),
            (
                "node_softnet_flow_limit_count_total",
                "Number of times flow limit has been reached",
                |s| s.flow_limit_count,
            ),
        ];
        let cpus: Vec<String> = stats.iter().map(|s| s.cpu.to_string()).collect();
        for (name, help, field) in COUNTERS {
            let fam = out.counter(name, help);
            for (s, cpu) in stats.iter().zip(&cpus) {
                fam.add(&[("cpu", cpu)], field(s));
            }
        }
        let backlog = out.gauge("node_softnet_backlog_len", "Softnet backlog status");
        for (s, cpu) in stats.iter().zip(&cpus) {
            backlog.add(&[("cpu", cpu)], s.backlog_len);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kernel_width() {
        // 5.10+: 13 columns and more, the last named one the CPU's id.
        let s = parse(
            "00000049 00000001 0000000a 00000000 00000000 00000000 00000000 00000000 00000002 00000003 00000004 00000005 00000007 00000000 00000000\n",
        )
        .unwrap();
        assert_eq!(
            s[0],
            CpuStat {
                cpu: 7,
                processed: 73.0,
                dropped: 1.0,
                time_squeezed: 10.0,
                cpu_collision: 2.0,
                received_rps: 3.0,
                flow_limit_count: 4.0,
                backlog_len: 5.0,
            }
        );
        // 4.17: 11 columns; 2.6.23: 9. The line number names the CPU.
        let s = parse("000012fe 0 0 0 0 0 0 0 1 2 3\n00000010 0 0 0 0 0 0 0 9\n").unwrap();
        assert_eq!(
            (s[0].cpu, s[0].processed, s[0].flow_limit_count),
            (0, 4862.0, 3.0)
        );
        assert_eq!(
            (s[1].cpu, s[1].cpu_collision, s[1].received_rps),
            (1, 9.0, 0.0)
        );
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(parse("00000049 00000001 00000000\n").is_err());
        assert!(parse("0000zz49 00000001 00000000 0 0 0 0 0 0\n").is_err());
        let e = parse("0 0 0 0 0 0 0 0 0\nmalformed line\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}
