//! `softirqs` (off by default; node_exporter 1.7+): softirqs handled per
//! CPU from `/proc/softirqs`: `node_softirqs_functions_total{cpu,type}`.
//!
//! Decisions: as node_exporter (through procfs), only the kernel's ten
//! softirq kinds are reported and a line of another name is skipped; a
//! line with no `NAME:` or a count that is not a number fails the
//! collector, naming the line.

use crate::exporter::collector::{read, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

/// The softirq kinds, as `/proc/softirqs` names them (`softirq_to_name`).
pub const KINDS: [&str; 10] = [
    "HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET", "SCHED", "HRTIMER", "RCU",
];

/// Per [`KINDS`], the count on each CPU (empty when the kind is absent).
pub type Softirqs = [Vec<f64>; 10];

pub fn parse(text: &str) -> Result<Softirqs, CollectError> {
    const WHAT: &str = "/proc/softirqs";
    let mut out: Softirqs = Default::default();
    for (n, line) in text.lines().enumerate().skip(1) {
        let at = || format!("{WHAT} line {}", n + 1);
        if line.trim().is_empty() {
            continue;
        }
        let Some((name, counts)) = line.split_once(':') else {
            return Err(CollectError::parse(at(), format!("no `NAME:` in {line:?}")));
        };
        let Some(kind) = KINDS.iter().position(|k| *k == name.trim()) else {
            continue;
        };
        out[kind] = counts
            .split_whitespace()
            .map(|c| c.parse::<u64>().map(|v| v as f64))
            .collect::<Result<_, _>>()
            .map_err(|_| CollectError::parse(at(), format!("bad count in {line:?}")))?;
    }
    Ok(out)
}

pub struct SoftirqsCollector {
    paths: Paths,
}

impl SoftirqsCollector {
    pub fn new(paths: Paths) -> Self {
        SoftirqsCollector { paths }
    }
}

impl Collector for SoftirqsCollector {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let table = parse(&read(&self.paths.proc("softirqs"))?)?;
        let cpus = table.iter().map(Vec::len).max().unwrap_or(0);
        let names: Vec<String> = (0..cpus).map(|c| c.to_string()).collect();
        let f = out.counter("node_softirqs_functions_total", "Softirq counts per CPU.");
        for (kind, counts) in KINDS.iter().zip(&table) {
            for (cpu, count) in names.iter().zip(counts) {
                f.add(&[("cpu", cpu), ("type", kind)], *count);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_kind_and_cpu() {
        let t =
            parse("    CPU0 CPU1\n  HI: 1 0\n  NET_RX: 48213 51877\n  NEW_KIND: 5 5\n").unwrap();
        assert_eq!(t[0], [1.0, 0.0]);
        assert_eq!(t[3], [48213.0, 51877.0]);
        assert!(t[1].is_empty());
    }

    #[test]
    fn malformed_input_is_an_error() {
        let err = parse("CPU0\n HI: x\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(parse("CPU0\nmalformed line\n").is_err());
    }
}
