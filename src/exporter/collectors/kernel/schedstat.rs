//! `schedstat`: per-CPU scheduler statistics from `/proc/schedstat`
//! (`node_schedstat_{running,waiting}_seconds_total`, `_timeslices_total`).
//!
//! Decisions: a kernel without the file (no `CONFIG_SCHEDSTATS`) exports
//! nothing and is no error. The reader is strict where node_exporter's
//! regexp silently skips: a line other than `version`, `timestamp`,
//! `cpuN …` or `domainN …`, or a `cpuN` line without its nine numbers, fails
//! the collector.

use crate::exporter::collector::{read_or_no_data, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

/// One `cpuN` line: the fields node_exporter exports.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuSched {
    pub cpu: String,
    /// Time spent running tasks (`rq_cpu_time`), in nanoseconds.
    pub running_ns: u64,
    /// Time tasks waited to run (`run_delay`), in nanoseconds.
    pub waiting_ns: u64,
    /// Timeslices run (`pcount`).
    pub timeslices: u64,
}

pub fn parse(text: &str) -> Result<Vec<CpuSched>, CollectError> {
    let err = |n: usize, why: &str| CollectError::parse(format!("/proc/schedstat line {n}"), why);
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        if first == "version" || first == "timestamp" || first.starts_with("domain") {
            continue;
        }
        let cpu = first
            .strip_prefix("cpu")
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| err(i + 1, "expected version, timestamp, cpuN or domainN"))?;
        let fields: Vec<u64> = words
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|_| err(i + 1, "a field is not an unsigned integer"))?;
        if fields.len() < 9 {
            return Err(err(i + 1, "a cpu line has nine fields"));
        }
        out.push(CpuSched {
            cpu: cpu.to_owned(),
            running_ns: fields[6],
            waiting_ns: fields[7],
            timeslices: fields[8],
        });
    }
    Ok(out)
}

pub struct Schedstat {
    paths: Paths,
}

impl Schedstat {
    pub fn new(paths: Paths) -> Self {
        Schedstat { paths }
    }
}

impl Collector for Schedstat {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let path = self.paths.proc("schedstat");
        let text = read_or_no_data(&path, "/proc/schedstat")?;
        let cpus = parse(&text)?;
        let running = out.counter(
            "node_schedstat_running_seconds_total",
            "Number of seconds CPU spent running a process.",
        );
        for c in &cpus {
            running.add(&[("cpu", &c.cpu)], c.running_ns as f64 / 1e9);
        }
        let waiting = out.counter(
            "node_schedstat_waiting_seconds_total",
            "Number of seconds spent by processing waiting for this CPU.",
        );
        for c in &cpus {
            waiting.add(&[("cpu", &c.cpu)], c.waiting_ns as f64 / 1e9);
        }
        let slices = out.counter(
            "node_schedstat_timeslices_total",
            "Number of timeslices executed by CPU.",
        );
        for c in &cpus {
            slices.add(&[("cpu", &c.cpu)], c.timeslices as f64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_lines_and_skips_domains() {
        let text = "version 15\ntimestamp 4297299139\n\
            cpu0 0 0 0 0 0 0 2120191950573 115203393844 2634497\n\
            domain0 00000003 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36\n\
            cpu1 0 0 0 0 0 0 2093004218262 120188357532 2515733\n";
        let cpus = parse(text).unwrap();
        assert_eq!(cpus.len(), 2);
        assert_eq!(
            cpus[1],
            CpuSched {
                cpu: "1".into(),
                running_ns: 2093004218262,
                waiting_ns: 120188357532,
                timeslices: 2515733,
            }
        );
        assert!(parse("cpu0 1 2 3\n").is_err());
        assert!(parse("cpu0 0 0 0 0 0 0 1 2 x\n").is_err());
        assert!(parse("malformed line\n").is_err());
    }
}
