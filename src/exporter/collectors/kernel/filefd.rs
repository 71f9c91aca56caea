//! `filefd`: allocated and maximum file handles from `/proc/sys/fs/file-nr`.

use crate::exporter::collector::{read, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

pub struct Filefd {
    paths: Paths,
}

impl Filefd {
    pub fn new(paths: Paths) -> Self {
        Filefd { paths }
    }
}

/// Parses `allocated unused maximum` into `(allocated, maximum)`.
pub fn parse(text: &str) -> Result<(f64, f64), CollectError> {
    let fields: Vec<u64> = text
        .split_whitespace()
        .map(|f| f.parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|_| CollectError::parse("/proc/sys/fs/file-nr", format!("malformed {text:?}")))?;
    match fields[..] {
        [allocated, _, maximum] => Ok((allocated as f64, maximum as f64)),
        _ => Err(CollectError::parse(
            "/proc/sys/fs/file-nr",
            format!("expected 3 fields, got {text:?}"),
        )),
    }
}

impl Collector for Filefd {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let (allocated, maximum) = parse(&read(&self.paths.proc("sys/fs/file-nr"))?)?;
        out.gauge(
            "node_filefd_allocated",
            "File descriptor statistics: allocated.",
        )
        .add(&[], allocated);
        out.gauge(
            "node_filefd_maximum",
            "File descriptor statistics: maximum.",
        )
        .add(&[], maximum);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_and_rejects() {
        assert_eq!(
            super::parse("1024\t0\t9223372036854775807\n").unwrap(),
            (1024.0, 9223372036854775807.0)
        );
        assert!(super::parse("1024 0\n").is_err());
        assert!(super::parse("a b c\n").is_err());
    }
}
