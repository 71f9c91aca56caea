//! `pressure`: pressure stall information from
//! `/proc/pressure/{cpu,io,memory,irq}`
//! (`node_pressure_*_{waiting,stalled}_seconds_total`).
//!
//! Decisions: as node_exporter, a kernel without PSI (no `/proc/pressure`)
//! gives no data. `irq` (kernel 6.1+ with IRQ time accounting) has only a
//! `full` line and may be absent on its own; then 1.12's
//! `node_pressure_irq_stalled_seconds_total` is simply not exported.

use crate::exporter::collector::{read_text, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

/// The `total=` seconds of the `some` and `full` lines, where present.
#[derive(Debug, PartialEq)]
pub struct Psi {
    pub some: Option<f64>,
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
    if some.is_none() && full.is_none() {
        return Err(CollectError::parse(what, "no \"some\" or \"full\" line"));
    }
    Ok(Psi { some, full })
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
        const WHAT: [&str; 4] = [
            "/proc/pressure/cpu",
            "/proc/pressure/io",
            "/proc/pressure/memory",
            "/proc/pressure/irq",
        ];
        let mut psi = Vec::with_capacity(4);
        for (i, what) in WHAT.iter().enumerate() {
            let path = self.paths.proc(&what["/proc/".len()..]);
            let text = match read_text(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if i == 3 {
                        psi.push(Psi {
                            some: None,
                            full: None,
                        });
                        continue;
                    }
                    return Err(CollectError::NoData("/proc/pressure"));
                }
                Err(source) => return Err(CollectError::Read { path, source }),
            };
            let p = parse(what, &text)?;
            if i < 3 && p.some.is_none() {
                return Err(CollectError::parse(*what, "no \"some\" line"));
            }
            psi.push(p);
        }
        let (cpu, io, mem, irq) = (&psi[0], &psi[1], &psi[2], &psi[3]);
        out.counter(
            "node_pressure_cpu_waiting_seconds_total",
            "Total time in seconds that processes have waited for CPU time",
        )
        .add(&[], cpu.some.unwrap_or(0.0));
        out.counter(
            "node_pressure_io_waiting_seconds_total",
            "Total time in seconds that processes have waited due to IO congestion",
        )
        .add(&[], io.some.unwrap_or(0.0));
        out.counter(
            "node_pressure_io_stalled_seconds_total",
            "Total time in seconds no process could make progress due to IO congestion",
        )
        .add(&[], io.full.unwrap_or(0.0));
        out.counter(
            "node_pressure_memory_waiting_seconds_total",
            "Total time in seconds that processes have waited for memory",
        )
        .add(&[], mem.some.unwrap_or(0.0));
        out.counter(
            "node_pressure_memory_stalled_seconds_total",
            "Total time in seconds no process could make progress due to memory congestion",
        )
        .add(&[], mem.full.unwrap_or(0.0));
        if let Some(full) = irq.full {
            out.counter(
                "node_pressure_irq_stalled_seconds_total",
                "Total time in seconds no process could make progress due to IRQ congestion",
            )
            .add(&[], full);
        }
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
                some: Some(25.070633),
                full: Some(1.5)
            }
        );
        // /proc/pressure/irq: a "full" line only.
        let irq = parse(
            "x",
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=2500000\n",
        )
        .unwrap();
        assert_eq!((irq.some, irq.full), (None, Some(2.5)));
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(parse("x", "some avg10=1.0\n").is_err());
        assert!(parse("x", "most total=1\n").is_err());
        assert!(parse("x", "").is_err());
        assert!(parse("x", "some total=x\n").is_err());
    }
}
