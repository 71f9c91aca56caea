//! `pressure`: pressure stall information from `/proc/pressure/{cpu,io,memory}`
//! (`node_pressure_*_{waiting,stalled}_seconds_total`). As in node_exporter,
//! a kernel without PSI (no `/proc/pressure`) makes the collector fail.

use super::collector::{read, CollectError, Collector, Paths};
use super::metrics::Metrics;

/// The `total=` microseconds of the `some` and (where present) `full` lines.
#[derive(Debug, PartialEq)]
pub struct Psi {
    pub some: f64,
    pub full: Option<f64>,
}

pub fn parse(what: &str, text: &str) -> Result<Psi, CollectError> {
    let mut some = None;
    let mut full = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.split_whitespace();
        let slot = match parts.next() {
            Some("some") => &mut some,
            Some("full") => &mut full,
            _ => {
                return Err(CollectError::parse(
                    what,
                    format!("malformed line {line:?}"),
                ))
            }
        };
        let total = parts
            .find_map(|p| p.strip_prefix("total="))
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| CollectError::parse(what, format!("no total in {line:?}")))?;
        // Two divisions, as node_exporter: the same float64 to the last bit.
        *slot = Some(total as f64 / 1000.0 / 1000.0);
    }
    Ok(Psi {
        some: some.ok_or_else(|| CollectError::parse(what, "no \"some\" line"))?,
        full,
    })
}

pub struct Pressure {
    paths: Paths,
}

impl Pressure {
    pub fn new(paths: Paths) -> Self {
        Pressure { paths }
    }
}

impl Collector for Pressure {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let mut psi = Vec::with_capacity(3);
        for res in ["cpu", "io", "memory"] {
            let path = self.paths.proc(&format!("pressure/{res}"));
            psi.push(parse(&format!("/proc/pressure/{res}"), &read(&path)?)?);
        }
        let (cpu, io, mem) = (&psi[0], &psi[1], &psi[2]);
        out.counter(
            "node_pressure_cpu_waiting_seconds_total",
            "Total time in seconds that processes have waited for CPU time",
        )
        .add(&[], cpu.some);
        out.counter(
            "node_pressure_io_waiting_seconds_total",
            "Total time in seconds that processes have waited due to IO congestion",
        )
        .add(&[], io.some);
        out.counter(
            "node_pressure_io_stalled_seconds_total",
            "Total time in seconds no process could make progress due to IO congestion",
        )
        .add(&[], io.full.unwrap_or(0.0));
        out.counter(
            "node_pressure_memory_waiting_seconds_total",
            "Total time in seconds that processes have waited for memory",
        )
        .add(&[], mem.some);
        out.counter(
            "node_pressure_memory_stalled_seconds_total",
            "Total time in seconds no process could make progress due to memory congestion",
        )
        .add(&[], mem.full.unwrap_or(0.0));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_become_seconds() {
        let p = parse(
            "x",
            "some avg10=1.02 avg60=1.66 avg300=2.06 total=25070633\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1500000\n",
        )
        .unwrap();
        assert_eq!(
            p,
            Psi {
                some: 25.070633,
                full: Some(1.5)
            }
        );
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(parse("x", "some avg10=1.0\n").is_err());
        assert!(parse("x", "most total=1\n").is_err());
        assert!(parse("x", "").is_err());
        assert!(parse("x", "some total=x\n").is_err());
    }
}
