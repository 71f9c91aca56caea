//! `fibrechannel`: Fibre Channel host adapters from
//! `/sys/class/fc_host/hostN/` (`node_fibrechannel_info` with port state,
//! speed and names; `node_fibrechannel_*_total` from `statistics/`).
//!
//! Decisions, node_exporter's: the kernel prints the statistics in
//! hexadecimal and reports a counter the adapter lacks as all ones
//! (`0xffffffffffffffff`), which is left out; names and ids lose their `0x`;
//! a missing text attribute is an empty label. A statistic that is not a
//! number fails the collector, naming the file; a host without
//! `/sys/class/fc_host` reports no data.

use std::path::Path;

use crate::exporter::collector::{class_entries, AttrDir, CollectError, Collector, Paths};
use crate::exporter::intern;
use crate::exporter::metrics::Metrics;

/// Text attributes, which become labels of `node_fibrechannel_info`.
const INFO: [&str; 10] = [
    "speed",
    "port_state",
    "port_type",
    "port_id",
    "port_name",
    "fabric_name",
    "symbolic_name",
    "supported_classes",
    "supported_speeds",
    "dev_loss_tmo",
];

/// Statistics: file under `statistics/`, metric suffix, help.
const STATISTICS: [(&str, &str, &str); 14] = [
    (
        "dumped_frames",
        "dumped_frames_total",
        "Number of dumped frames",
    ),
    (
        "error_frames",
        "error_frames_total",
        "Number of errors in frames",
    ),
    (
        "invalid_crc_count",
        "invalid_crc_total",
        "Invalid Cyclic Redundancy Check count",
    ),
    ("rx_frames", "rx_frames_total", "Number of frames received"),
    (
        "rx_words",
        "rx_words_total",
        "Number of words received by host port",
    ),
    (
        "tx_frames",
        "tx_frames_total",
        "Number of frames transmitted by host port",
    ),
    (
        "tx_words",
        "tx_words_total",
        "Number of words transmitted by host port",
    ),
    (
        "seconds_since_last_reset",
        "seconds_since_last_reset_total",
        "Number of seconds since last host port reset",
    ),
    (
        "invalid_tx_word_count",
        "invalid_tx_words_total",
        "Number of invalid words transmitted by host port",
    ),
    (
        "link_failure_count",
        "link_failure_total",
        "Number of times the host port link has failed",
    ),
    (
        "loss_of_sync_count",
        "loss_of_sync_total",
        "Number of failures on either bit or transmission word boundaries",
    ),
    (
        "loss_of_signal_count",
        "loss_of_signal_total",
        "Number of times signal has been lost",
    ),
    (
        "nos_count",
        "nos_total",
        "Number Not_Operational Primitive Sequence received by host port",
    ),
    (
        "fcp_packet_aborts",
        "fcp_packet_aborts_total",
        "Number of aborted packets",
    ),
];

#[derive(Debug, PartialEq)]
pub struct Host {
    pub host: String,
    /// Values in [`INFO`] order.
    pub info: Vec<String>,
    /// Available statistics: index into [`STATISTICS`], value.
    pub statistics: Vec<(usize, f64)>,
}

pub fn read_host(dir: &Path, host: &str) -> Result<Host, CollectError> {
    let mut attrs = AttrDir::new(dir);
    let info = INFO
        .iter()
        .map(|f| {
            let v = attrs.read(f).unwrap_or_default();
            v.strip_prefix("0x").map(str::to_owned).unwrap_or(v)
        })
        .collect();
    let mut statistics = Vec::new();
    let mut attrs = AttrDir::new(&dir.join("statistics"));
    for (i, (file, _, _)) in STATISTICS.iter().enumerate() {
        let Some(read) = attrs.read_with(file, |text| {
            let digits = text.strip_prefix("0x").unwrap_or(text);
            Some(u64::from_str_radix(digits, 16).map_err(|_| text.to_owned()))
        }) else {
            continue;
        };
        let v = read.map_err(|text| {
            CollectError::parse(
                dir.join("statistics").join(file).display().to_string(),
                format!("expected a hexadecimal counter, got {text:?}"),
            )
        })?;
        if v != u64::MAX {
            statistics.push((i, v as f64));
        }
    }
    Ok(Host {
        host: host.to_owned(),
        info,
        statistics,
    })
}

pub struct Fibrechannel {
    paths: Paths,
}

impl Fibrechannel {
    pub fn new(paths: Paths) -> Self {
        Fibrechannel { paths }
    }
}

impl Collector for Fibrechannel {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let class = self.paths.sys("class/fc_host");
        let names = class_entries(&class, "/sys/class/fc_host")?;
        let hosts = names
            .iter()
            .map(|n| read_host(&class.join(n), n))
            .collect::<Result<Vec<_>, _>>()?;
        for h in &hosts {
            let mut labels: Vec<(&'static str, &str)> = vec![("fc_host", &h.host)];
            labels.extend(INFO.iter().copied().zip(h.info.iter().map(String::as_str)));
            out.gauge(
                "node_fibrechannel_info",
                "Non-numeric data from /sys/class/fc_host/<host>, value is always 1.",
            )
            .add(&labels, 1.0);
            for (i, v) in &h.statistics {
                let (_, suffix, help) = STATISTICS[*i];
                out.counter(intern::concat(&["node_fibrechannel_", suffix]), help)
                    .add(&[("fc_host", &h.host)], *v);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::exporter::collector::write_fixture as write;

    #[test]
    fn reads_hex_statistics_leaving_out_unavailable_ones() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(&d.join("port_state"), "Online\n");
        write(&d.join("port_name"), "0x21000024ff7a1b2c\n");
        write(&d.join("statistics/rx_frames"), "0x3b2c1d\n");
        write(&d.join("statistics/nos_count"), "0xffffffffffffffff\n");
        let h = read_host(d, "host1").unwrap();
        assert_eq!(h.info[1], "Online");
        assert_eq!(h.info[4], "21000024ff7a1b2c");
        assert_eq!(h.info[0], "");
        assert_eq!(h.statistics, [(3, 3_877_917.0)]);
        write(&d.join("statistics/tx_words"), "lots\n");
        let e = read_host(d, "host1").unwrap_err().to_string();
        assert!(e.contains("statistics/tx_words"), "{e}");
    }
}
