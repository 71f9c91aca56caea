//! `netdev`: per-interface receive and transmit counters from
//! `/proc/net/dev` (`node_network_receive_*_total`,
//! `node_network_transmit_*_total`), plus `receive_nohandler` from
//! `/sys/class/net/<iface>/statistics/rx_nohandler` where the kernel has it
//! (node_exporter 1.5 reads it over netlink).
//!
//! Interfaces matching `--collector.netdev.device-exclude` (default `^lo$`,
//! as node_exporter 1.5 ships it) are left out.

use super::matcher::DeviceFilter;

use super::collector::{read, read_attr, CollectError, Collector, Paths};
use super::intern;
use super::metrics::Metrics;

/// node_exporter 1.5's default `--collector.netdev.device-exclude`.
pub const DEFAULT_DEVICE_EXCLUDE: &str = "^lo$";

/// The columns of `/proc/net/dev`, in order.
const FIELDS: [&str; 16] = [
    "receive_bytes",
    "receive_packets",
    "receive_errs",
    "receive_drop",
    "receive_fifo",
    "receive_frame",
    "receive_compressed",
    "receive_multicast",
    "transmit_bytes",
    "transmit_packets",
    "transmit_errs",
    "transmit_drop",
    "transmit_fifo",
    "transmit_colls",
    "transmit_carrier",
    "transmit_compressed",
];

#[derive(Debug, PartialEq)]
pub struct DeviceStats {
    pub name: String,
    /// Values in [`FIELDS`] order.
    pub values: [f64; 16],
}

/// Parses `/proc/net/dev`: two header lines, then `iface: 16 counters`.
pub fn parse(text: &str) -> Result<Vec<DeviceStats>, CollectError> {
    const WHAT: &str = "/proc/net/dev";
    let mut out = Vec::new();
    for line in text.lines().skip(2).filter(|l| !l.trim().is_empty()) {
        let (name, rest) = line
            .split_once(':')
            .ok_or_else(|| CollectError::parse(WHAT, format!("malformed line {line:?}")))?;
        let nums: Vec<f64> = rest
            .split_whitespace()
            .map(|v| v.parse::<u64>().map(|v| v as f64))
            .collect::<Result<_, _>>()
            .map_err(|_| CollectError::parse(WHAT, format!("bad counter in {line:?}")))?;
        let values: [f64; 16] = nums
            .try_into()
            .map_err(|_| CollectError::parse(WHAT, format!("expected 16 counters in {line:?}")))?;
        out.push(DeviceStats {
            name: name.trim().to_owned(),
            values,
        });
    }
    Ok(out)
}

pub struct Netdev {
    paths: Paths,
    filter: DeviceFilter,
}

impl Netdev {
    pub fn new(paths: Paths, filter: DeviceFilter) -> Self {
        Netdev { paths, filter }
    }
}

impl Collector for Netdev {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let devices: Vec<DeviceStats> = parse(&read(&self.paths.proc("net/dev"))?)?
            .into_iter()
            .filter(|d| !self.filter.ignored(&d.name))
            .collect();
        let nohandler: Vec<Option<f64>> = devices
            .iter()
            .map(|d| {
                let rel = format!("class/net/{}/statistics/rx_nohandler", d.name);
                read_attr(&self.paths.sys(&rel))
                    .and_then(|v| v.parse::<u64>().ok().map(|v| v as f64))
            })
            .collect();
        for (d, nohandler) in devices.iter().zip(nohandler) {
            let dev = [("device", d.name.as_str())];
            let extra = nohandler.map(|v| ("receive_nohandler", v));
            let fields = FIELDS.iter().copied().zip(d.values).chain(extra);
            for (field, value) in fields {
                out.counter(
                    intern::concat(&["node_network_", field, "_total"]),
                    intern::concat(&["Network device statistic ", field, "."]),
                )
                .add(&dev, value);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exporter::matcher::Matcher;

    const TEXT: &str = "Inter-|   Receive                                                |  Transmit\n \
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:  308816     436    0    0    0     0          0         0   308816     436    0    0    0     0       0          0\n  \
eth0: 1000 10 1 2 3 4 5 6 2000 20 7 8 9 10 11 12\n";

    #[test]
    fn parses_every_column() {
        let d = parse(TEXT).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[1].name, "eth0");
        assert_eq!(d[1].values[0], 1000.0);
        assert_eq!(d[1].values[15], 12.0);
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(parse("h\nh\neth0 1 2 3\n").is_err());
        assert!(parse("h\nh\neth0: 1 2 3\n").is_err());
        assert!(parse("h\nh\neth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x\n").is_err());
    }

    #[test]
    fn excluded_devices_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("net")).unwrap();
        std::fs::write(dir.path().join("net/dev"), TEXT).unwrap();
        let paths = Paths {
            procfs: dir.path().into(),
            sysfs: dir.path().into(),
            rootfs: dir.path().into(),
            udev_data: None,
        };
        let mut m = Metrics::new();
        let filter = DeviceFilter {
            include: None,
            exclude: Some(Matcher::new(DEFAULT_DEVICE_EXCLUDE).unwrap()),
        };
        Netdev::new(paths, filter).update(&mut m).unwrap();
        let fam = m.get("node_network_transmit_carrier_total").unwrap();
        assert_eq!(fam.len(), 1);
        assert_eq!(fam.sample(0).value, 11.0);
        assert!(m.get("node_network_receive_nohandler_total").is_none());
    }
}
