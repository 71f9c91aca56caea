//! `arp`: the number of ARP table entries per network device, from
//! `/proc/net/arp` (`node_arp_entries{device}`); devices matching
//! `--collector.arp.device-exclude` are left out.

use std::collections::BTreeMap;

use super::collector::{read, CollectError, Collector, Paths};
use super::matcher::DeviceFilter;
use super::metrics::Metrics;

pub struct Arp {
    paths: Paths,
    filter: DeviceFilter,
}

impl Arp {
    pub fn new(paths: Paths, filter: DeviceFilter) -> Self {
        Arp { paths, filter }
    }
}

/// Counts entries per device. The first line is the column header.
pub fn parse(text: &str) -> Result<BTreeMap<String, u64>, CollectError> {
    let mut counts = BTreeMap::new();
    let mut lines = text.lines();
    match lines.next() {
        Some(header) if header.starts_with("IP address") => {}
        _ => return Err(CollectError::parse("/proc/net/arp", "missing header line")),
    }
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(CollectError::parse(
                "/proc/net/arp",
                format!("malformed line {line:?}"),
            ));
        }
        *counts.entry(fields[5].to_owned()).or_insert(0) += 1;
    }
    Ok(counts)
}

impl Collector for Arp {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let counts = parse(&read(&self.paths.proc("net/arp"))?)?;
        let fam = out.gauge("node_arp_entries", "ARP entries by device");
        for (device, n) in counts.iter().filter(|(d, _)| !self.filter.ignored(d)) {
            fam.add(&[("device", device)], *n as f64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        "IP address       HW type     Flags       HW address            Mask     Device\n\
        192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0\n\
        192.0.2.7        0x1         0x2         02:fc:00:00:00:07     *        eth0\n\
        10.0.0.1         0x1         0x2         02:fc:00:00:00:09     *        eth1\n";

    #[test]
    fn counts_entries_per_device() {
        let c = parse(TEXT).unwrap();
        assert_eq!(c["eth0"], 2);
        assert_eq!(c["eth1"], 1);
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(parse("").is_err());
        assert!(parse("IP address  HW type\n192.0.2.1 0x1 eth0\n").is_err());
    }
}
