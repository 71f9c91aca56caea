//! `loadavg`: the 1, 5 and 15 minute load averages from `/proc/loadavg`.

use crate::exporter::collector::{read, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

pub struct Loadavg {
    paths: Paths,
}

impl Loadavg {
    pub fn new(paths: Paths) -> Self {
        Loadavg { paths }
    }
}

pub fn parse(text: &str) -> Result<[f64; 3], CollectError> {
    let mut it = text.split_whitespace();
    let mut out = [0.0; 3];
    for slot in &mut out {
        *slot = it.next().and_then(|v| v.parse().ok()).ok_or_else(|| {
            CollectError::parse("/proc/loadavg", format!("unexpected content {text:?}"))
        })?;
    }
    Ok(out)
}

impl Collector for Loadavg {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let [l1, l5, l15] = parse(&read(&self.paths.proc("loadavg"))?)?;
        out.gauge("node_load1", "1m load average.").add(&[], l1);
        out.gauge("node_load5", "5m load average.").add(&[], l5);
        out.gauge("node_load15", "15m load average.").add(&[], l15);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_and_rejects() {
        assert_eq!(
            super::parse("0.25 0.50 1.00 2/345 6789\n").unwrap(),
            [0.25, 0.5, 1.0]
        );
        assert!(super::parse("0.25 x").is_err());
        assert!(super::parse("").is_err());
    }
}
