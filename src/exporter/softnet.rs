//! `softnet`: per-CPU packet processing statistics from
//! `/proc/net/softnet_stat` (hexadecimal columns; one line per CPU).

use super::collector::{read, CollectError, Collector, Paths};
use super::metrics::Metrics;

#[derive(Debug, PartialEq)]
pub struct CpuStat {
    pub processed: f64,
    pub dropped: f64,
    pub time_squeezed: f64,
}

pub fn parse(text: &str) -> Result<Vec<CpuStat>, CollectError> {
    const WHAT: &str = "/proc/net/softnet_stat";
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cols = line
                .split_whitespace()
                .take(3)
                .map(|c| u64::from_str_radix(c, 16).map(|v| v as f64))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| CollectError::parse(WHAT, format!("bad hex value in {line:?}")))?;
            match cols[..] {
                [processed, dropped, time_squeezed] => Ok(CpuStat {
                    processed,
                    dropped,
                    time_squeezed,
                }),
                _ => Err(CollectError::parse(
                    WHAT,
                    format!("too few columns in {line:?}"),
                )),
            }
        })
        .collect()
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
        for (cpu, s) in stats.iter().enumerate() {
            let cpu = cpu.to_string();
            let l = [("cpu", cpu.as_str())];
            out.counter(
                "node_softnet_processed_total",
                "Number of processed packets",
            )
            .add(&l, s.processed);
            out.counter("node_softnet_dropped_total", "Number of dropped packets")
                .add(&l, s.dropped);
            out.counter(
                "node_softnet_times_squeezed_total",
                "Number of times processing packets ran out of quota",
            )
            .add(&l, s.time_squeezed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_columns() {
        let s = parse("00000049 00000001 0000000a 00000000\n000012fe 00000000 00000000 00000000\n")
            .unwrap();
        assert_eq!(
            s[0],
            CpuStat {
                processed: 73.0,
                dropped: 1.0,
                time_squeezed: 10.0
            }
        );
        assert_eq!(s[1].processed, 4862.0);
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(parse("00000049 00000001\n").is_err());
        assert!(parse("0000zz49 00000001 00000000\n").is_err());
    }
}
