//! `entropy`: the kernel's available entropy and pool size from
//! `/proc/sys/kernel/random/{entropy_avail,poolsize}`.

use crate::exporter::collector::{read, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

pub struct Entropy {
    paths: Paths,
}

impl Entropy {
    pub fn new(paths: Paths) -> Self {
        Entropy { paths }
    }
}

/// Parses a file holding one unsigned integer.
pub fn parse(what: &str, text: &str) -> Result<f64, CollectError> {
    text.trim()
        .parse::<u64>()
        .map(|v| v as f64)
        .map_err(|_| CollectError::parse(what, format!("expected an integer, got {text:?}")))
}

impl Collector for Entropy {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let avail_path = self.paths.proc("sys/kernel/random/entropy_avail");
        let pool_path = self.paths.proc("sys/kernel/random/poolsize");
        let avail = parse("entropy_avail", &read(&avail_path)?)?;
        let pool = parse("poolsize", &read(&pool_path)?)?;
        out.gauge("node_entropy_available_bits", "Bits of available entropy.")
            .add(&[], avail);
        out.gauge("node_entropy_pool_size_bits", "Bits of entropy pool.")
            .add(&[], pool);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_one_integer() {
        assert_eq!(super::parse("x", "256\n").unwrap(), 256.0);
        assert!(super::parse("x", "lots\n").is_err());
        assert!(super::parse("x", "").is_err());
    }
}
