//! `infiniband`: InfiniBand adapters and ports from
//! `/sys/class/infiniband/<device>/` (`node_infiniband_info`, and per port
//! `node_infiniband_{state_id,physical_state_id,rate_bytes_per_second}`
//! and the port counters as `node_infiniband_*_total{device,port}`).
//!
//! Decisions, node_exporter's: `port_{rcv,xmit}_data` count 4-octet words
//! and are exported as bytes (×4); `rate` (`100 Gb/sec (4X EDR)`) becomes
//! bytes per second; a counter the adapter does not have, or reports as
//! `N/A`, is left out. A port whose `state`, `phys_state` or `rate` is
//! missing or malformed fails the collector, naming the file; a host
//! without `/sys/class/infiniband` reports no data. The legacy
//! `counters_ext` and driver `hw_counters` are not exported.

use std::path::Path;

use crate::exporter::collector::{
    class_entries, numbered_entries, read_attr, require_attr, AttrDir, CollectError, Collector,
    Paths,
};
use crate::exporter::intern;
use crate::exporter::metrics::Metrics;

/// Port counters: file under `counters/`, metric suffix, help, multiplier.
const COUNTERS: [(&str, &str, &str, f64); 22] = [
    ("excessive_buffer_overrun_errors", "excessive_buffer_overrun_errors_total", "Number of times that OverrunErrors consecutive flow control update periods occurred, each having at least one overrun error.", 1.0),
    ("link_downed", "link_downed_total", "Number of times the link failed to recover from an error state and went down", 1.0),
    ("link_error_recovery", "link_error_recovery_total", "Number of times the link successfully recovered from an error state", 1.0),
    ("local_link_integrity_errors", "local_link_integrity_errors_total", "Number of times that the count of local physical errors exceeded the threshold specified by LocalPhyErrors.", 1.0),
    ("multicast_rcv_packets", "multicast_packets_received_total", "Number of multicast packets received (including errors)", 1.0),
    ("multicast_xmit_packets", "multicast_packets_transmitted_total", "Number of multicast packets transmitted (including errors)", 1.0),
    ("port_rcv_constraint_errors", "port_constraint_errors_received_total", "Number of packets received on the switch physical port that are discarded", 1.0),
    ("port_xmit_constraint_errors", "port_constraint_errors_transmitted_total", "Number of packets not transmitted from the switch physical port", 1.0),
    ("port_rcv_data", "port_data_received_bytes_total", "Number of data octets received on all links", 4.0),
    ("port_xmit_data", "port_data_transmitted_bytes_total", "Number of data octets transmitted on all links", 4.0),
    ("port_rcv_discards", "port_discards_received_total", "Number of inbound packets discarded by the port because the port is down or congested", 1.0),
    ("port_xmit_discards", "port_discards_transmitted_total", "Number of outbound packets discarded by the port because the port is down or congested", 1.0),
    ("port_rcv_errors", "port_errors_received_total", "Number of packets containing an error that were received on this port", 1.0),
    ("port_rcv_packets", "port_packets_received_total", "Number of packets received on all VLs by this port (including errors)", 1.0),
    ("port_xmit_packets", "port_packets_transmitted_total", "Number of packets transmitted on all VLs from this port (including errors)", 1.0),
    ("port_rcv_remote_physical_errors", "port_receive_remote_physical_errors_total", "Number of packets marked with the EBP (End of Bad Packet) delimiter received on the port.", 1.0),
    ("port_rcv_switch_relay_errors", "port_receive_switch_relay_errors_total", "Number of packets that could not be forwarded by the switch.", 1.0),
    ("port_xmit_wait", "port_transmit_wait_total", "Number of ticks during which the port had data to transmit but no data was sent during the entire tick", 1.0),
    ("symbol_error", "symbol_error_total", "Number of minor link errors detected on one or more physical lanes.", 1.0),
    ("unicast_rcv_packets", "unicast_packets_received_total", "Number of unicast packets received (including errors)", 1.0),
    ("unicast_xmit_packets", "unicast_packets_transmitted_total", "Number of unicast packets transmitted (including errors)", 1.0),
    ("VL15_dropped", "vl15_dropped_total", "Number of incoming VL15 packets dropped due to resource limitations.", 1.0),
];

#[derive(Debug, PartialEq)]
pub struct Port {
    pub port: String,
    pub state_id: f64,
    pub physical_state_id: f64,
    pub rate_bytes_per_second: f64,
    /// Readable counters: index into [`COUNTERS`], converted value.
    pub counters: Vec<(usize, f64)>,
}

#[derive(Debug, PartialEq)]
pub struct Device {
    pub device: String,
    pub board_id: String,
    pub firmware_version: String,
    pub hca_type: String,
    pub ports: Vec<Port>,
}

fn malformed(path: &Path, text: &str) -> CollectError {
    CollectError::parse(path.display().to_string(), format!("unexpected {text:?}"))
}

/// The number before the colon of `4: ACTIVE`.
fn state_number(path: &Path) -> Result<f64, CollectError> {
    let text = require_attr(path)?;
    text.split(':')
        .next()
        .and_then(|n| n.trim().parse::<u32>().ok())
        .map(f64::from)
        .ok_or_else(|| malformed(path, &text))
}

/// Bytes per second from `100 Gb/sec (4X EDR)`.
fn rate(path: &Path) -> Result<f64, CollectError> {
    let text = require_attr(path)?;
    let mut parts = text.split_whitespace();
    let value: f64 = parts
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| malformed(path, &text))?;
    let scale = match parts.next() {
        Some("Gb/sec") => 1e9,
        Some("Mb/sec") => 1e6,
        _ => return Err(malformed(path, &text)),
    };
    Ok(value * scale / 8.0)
}

pub fn read_port(dir: &Path, port: &str) -> Result<Port, CollectError> {
    let mut counters = Vec::new();
    let mut attrs = AttrDir::new(&dir.join("counters"));
    for (i, (file, _, _, times)) in COUNTERS.iter().enumerate() {
        // "N/A (no PMA)" where the adapter has no such counter.
        if let Some(v) = attrs.read_with(file, |text| text.parse::<u64>().ok()) {
            counters.push((i, v as f64 * times));
        }
    }
    Ok(Port {
        port: port.to_owned(),
        state_id: state_number(&dir.join("state"))?,
        physical_state_id: state_number(&dir.join("phys_state"))?,
        rate_bytes_per_second: rate(&dir.join("rate"))?,
        counters,
    })
}

pub fn read_device(dir: &Path, device: &str) -> Result<Device, CollectError> {
    let text = |f: &str| read_attr(&dir.join(f)).unwrap_or_default();
    Ok(Device {
        device: device.to_owned(),
        board_id: text("board_id"),
        firmware_version: text("fw_ver"),
        hca_type: text("hca_type"),
        ports: numbered_entries(&dir.join("ports"), "")
            .iter()
            .map(|(n, p)| read_port(p, n))
            .collect::<Result<_, _>>()?,
    })
}

pub struct Infiniband {
    paths: Paths,
}

impl Infiniband {
    pub fn new(paths: Paths) -> Self {
        Infiniband { paths }
    }
}

impl Collector for Infiniband {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let class = self.paths.sys("class/infiniband");
        let names = class_entries(&class, "/sys/class/infiniband")?;
        let devices = names
            .iter()
            .map(|n| read_device(&class.join(n), n))
            .collect::<Result<Vec<_>, _>>()?;
        for d in &devices {
            out.gauge(
                "node_infiniband_info",
                "Non-numeric data from /sys/class/infiniband/<device>, value is always 1.",
            )
            .add(
                &[
                    ("device", &d.device),
                    ("board_id", &d.board_id),
                    ("firmware_version", &d.firmware_version),
                    ("hca_type", &d.hca_type),
                ],
                1.0,
            );
            for p in &d.ports {
                let l = [("device", d.device.as_str()), ("port", p.port.as_str())];
                out.gauge(
                    "node_infiniband_state_id",
                    "State of the InfiniBand port (0: no change, 1: down, 2: init, 3: armed, 4: active, 5: act defer)",
                )
                .add(&l, p.state_id);
                out.gauge(
                    "node_infiniband_physical_state_id",
                    "Physical state of the InfiniBand port (0: no change, 1: sleep, 2: polling, 3: disable, 4: shift, 5: link up, 6: link error recover, 7: phytest)",
                )
                .add(&l, p.physical_state_id);
                out.gauge(
                    "node_infiniband_rate_bytes_per_second",
                    "Maximum signal transfer rate",
                )
                .add(&l, p.rate_bytes_per_second);
                for (i, v) in &p.counters {
                    let (_, suffix, help, _) = COUNTERS[*i];
                    out.counter(intern::concat(&["node_infiniband_", suffix]), help)
                        .add(&l, *v);
                }
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
    fn reads_a_port_in_node_exporter_units() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        write(&p.join("state"), "4: ACTIVE\n");
        write(&p.join("phys_state"), "5: LinkUp\n");
        write(&p.join("rate"), "100 Gb/sec (4X EDR)\n");
        write(&p.join("counters/port_rcv_data"), "10\n");
        write(&p.join("counters/symbol_error"), "N/A (no PMA)\n");
        write(&p.join("counters/link_downed"), "1\n");
        let port = read_port(p, "1").unwrap();
        assert_eq!((port.state_id, port.physical_state_id), (4.0, 5.0));
        assert_eq!(port.rate_bytes_per_second, 1.25e10);
        let names: Vec<(&str, f64)> = port
            .counters
            .iter()
            .map(|(i, v)| (COUNTERS[*i].1, *v))
            .collect();
        assert_eq!(
            names,
            [
                ("link_downed_total", 1.0),
                ("port_data_received_bytes_total", 40.0)
            ]
        );
        write(&p.join("rate"), "fast\n");
        let e = read_port(p, "1").unwrap_err().to_string();
        assert!(e.contains("rate"), "{e}");
    }
}
