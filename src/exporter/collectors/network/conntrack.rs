//! `conntrack`: the netfilter connection-tracking table size and limit
//! (`/proc/sys/net/netfilter/nf_conntrack_{count,max}`) and, where the
//! kernel exposes it, the per-CPU statistics of `/proc/net/stat/nf_conntrack`
//! summed over CPUs (`node_nf_conntrack_stat_*`).

use crate::exporter::collector::{read, read_or_no_data, CollectError, Collector, Paths};
use crate::exporter::intern;
use crate::exporter::metrics::Metrics;

pub struct Conntrack {
    paths: Paths,
}

impl Conntrack {
    pub fn new(paths: Paths) -> Self {
        Conntrack { paths }
    }
}

/// The statistics node_exporter exposes: the column name in the kernel's
/// table (also the metric suffix) and the help text.
const STATS: [(&str, &str); 8] = [
    ("found", "Number of searched entries which were successful."),
    ("invalid", "Number of packets seen which can not be tracked."),
    ("ignore", "Number of packets seen which are already connected to a conntrack entry."),
    ("insert", "Number of entries inserted into the list."),
    ("insert_failed", "Number of entries for which list insertion was attempted but failed."),
    ("drop", "Number of packets dropped due to conntrack failure."),
    ("early_drop", "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached."),
    ("search_restart", "Number of conntrack table lookups which had to be restarted due to hashtable resizes."),
];

/// Parses a file holding one unsigned integer.
pub fn parse_count(what: &str, text: &str) -> Result<f64, CollectError> {
    text.trim()
        .parse::<u64>()
        .map(|v| v as f64)
        .map_err(|_| CollectError::parse(what, format!("expected an integer, got {text:?}")))
}

/// Parses `/proc/net/stat/nf_conntrack`: a header naming the columns, then
/// one row of hexadecimal counters per CPU. Returns [`STATS`]' values summed
/// over CPUs, in [`STATS`] order.
pub fn parse_stat(text: &str) -> Result<[f64; 8], CollectError> {
    const WHAT: &str = "/proc/net/stat/nf_conntrack";
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| CollectError::parse(WHAT, "empty file"))?
        .split_whitespace()
        .collect();
    let columns = STATS
        .iter()
        .map(|(col, _)| {
            header
                .iter()
                .position(|h| h == col)
                .ok_or_else(|| CollectError::parse(WHAT, format!("no column {col:?}")))
        })
        .collect::<Result<Vec<usize>, _>>()?;
    let mut sums = [0.0; 8];
    for line in lines {
        let row: Vec<&str> = line.split_whitespace().collect();
        if row.len() != header.len() {
            return Err(CollectError::parse(WHAT, format!("malformed row {line:?}")));
        }
        for (sum, &col) in sums.iter_mut().zip(&columns) {
            let v = u64::from_str_radix(row[col], 16)
                .map_err(|_| CollectError::parse(WHAT, format!("bad hex value {:?}", row[col])))?;
            *sum += v as f64;
        }
    }
    Ok(sums)
}

impl Collector for Conntrack {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let count = parse_count(
            "nf_conntrack_count",
            &read_or_no_data(
                &self.paths.proc("sys/net/netfilter/nf_conntrack_count"),
                "/proc/sys/net/netfilter/nf_conntrack_count",
            )?,
        )?;
        let max = parse_count(
            "nf_conntrack_max",
            &read(&self.paths.proc("sys/net/netfilter/nf_conntrack_max"))?,
        )?;
        // The statistics table is optional (older kernels, restricted
        // namespaces): absent means no stat metrics, garbled is an error.
        let stats =
            match crate::exporter::collector::read_text(self.paths.proc("net/stat/nf_conntrack")) {
                Ok(text) => Some(parse_stat(&text)?),
                Err(_) => None,
            };
        out.gauge(
            "node_nf_conntrack_entries",
            "Number of currently allocated flow entries for connection tracking.",
        )
        .add(&[], count);
        out.gauge(
            "node_nf_conntrack_entries_limit",
            "Maximum size of connection tracking table.",
        )
        .add(&[], max);
        if let Some(stats) = stats {
            for ((suffix, help), value) in STATS.iter().zip(stats) {
                out.gauge(intern::concat(&["node_nf_conntrack_stat_", suffix]), *help)
                    .add(&[], value);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n\
        00000021  00000000 00000001 00000000 00000002 00000003 00000000 00000000 00000004 00000005 00000006 00000007 00000000  00000000 00000000 00000000 0000000a\n\
        00000021  00000000 00000010 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000001\n";

    #[test]
    fn sums_hex_statistics_over_cpus() {
        assert_eq!(
            parse_stat(STAT).unwrap(),
            [17.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 11.0]
        );
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(parse_stat("").is_err());
        assert!(parse_stat("entries found\n1 2\n").is_err());
        let short = STAT.replace(" 0000000a", "");
        assert!(parse_stat(&short).is_err());
        let bad_hex = STAT.replace("0000000a", "zzzzzzzz");
        assert!(parse_stat(&bad_hex).is_err());
        assert!(parse_count("x", "many").is_err());
    }
}
