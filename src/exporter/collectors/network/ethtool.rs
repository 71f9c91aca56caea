//! `ethtool` (off by default): per network device, the driver's own
//! statistics (`node_ethtool_<stat>{device}`, untyped, with node_exporter's
//! renaming: `rx`→`received`, `tx`→`transmitted`, and its seven
//! `_total` names for the common counters), the driver
//! (`node_ethtool_info`) and the link modes supported and advertised
//! (`node_network_supported_speed_bytes`, `…_autonegotiate`, …), under
//! node_exporter 1.12's names, filtered by `--collector.ethtool.device-include`
//! / `-exclude` and `--collector.ethtool.metrics-include`.
//!
//! Decisions:
//! - The collector reads through the narrow [`Source`] trait, so its logic
//!   (names, collisions, filters, link modes) is a pure core tested with a
//!   recorded stand-in; on a host the source is
//!   [`crate::exporter::ethtool_ioctl::IoctlSource`], the `SIOCETHTOOL` ioctl (driver
//!   statistics have no netlink form; see that file for the one `unsafe`
//!   block and why no crate does it).
//! - As node_exporter: the devices are `/sys/class/net`'s; a driver that
//!   answers `EOPNOTSUPP` has no series and no error (other errors are
//!   logged, the scrape goes on); statistic names are sanitized (runs of
//!   characters outside `[0-9A-Za-z_]`, with the underscores around them,
//!   become one `_`: `Queue[0] AllocFails` → `queue_0_allocfails`,
//!   `[3]: tx_bytes` → `3_transmitted_bytes`; per-queue statistics stay
//!   separate metric names, not a label), lower-cased and stripped of
//!   leading `_`; statistics whose names then collide are dropped, all of
//!   them; `metrics-include` is matched unanchored on the sanitized name.
//! - A statistic's value is the driver's, also for a sanitized name
//!   (`port.rx_dropped`), as node_exporter since 1.10 gives it (before,
//!   it looked up the sanitized name and exported 0).

use std::collections::BTreeMap;

use crate::exporter::collector::{class_entries, CollectError, Collector, Paths};
use crate::exporter::intern;
use crate::exporter::matcher::{DeviceFilter, Matcher};
use crate::exporter::metrics::Metrics;

/// What `--collector.ethtool.*` asks for.
#[derive(Debug, Clone)]
pub struct Options {
    pub devices: DeviceFilter,
    pub metrics_include: Matcher,
}

/// A driver's identity (`ETHTOOL_GDRVINFO`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DriverInfo {
    pub driver: String,
    pub version: String,
    pub firmware_version: String,
    pub expansion_rom_version: String,
    pub bus_info: String,
}

/// A link's modes (`ETHTOOL_GSET`'s `struct ethtool_cmd`): bit masks of
/// `ethtool_link_mode_bit_indices` below 32, and whether autonegotiation
/// is on.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LinkInfo {
    pub supported: u32,
    pub advertising: u32,
    pub autoneg: bool,
}

/// Why a source has no answer for a device.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    /// The driver does not offer it (`EOPNOTSUPP`): not worth a warning.
    #[error("not supported")]
    Unsupported,
    #[error("{0}")]
    Failed(String),
}

/// Where ethtool's answers come from, per device.
pub trait Source: Send + Sync {
    fn driver_info(&self, device: &str) -> Result<DriverInfo, SourceError>;
    fn stats(&self, device: &str) -> Result<BTreeMap<String, u64>, SourceError>;
    fn link_info(&self, device: &str) -> Result<LinkInfo, SourceError>;
}

/// Bits of `ethtool_link_mode_bit_indices` (include/uapi/linux/ethtool.h)
/// that node_exporter 1.12 names as a speed: bit, Mb/s, duplex, PHY. Its
/// table also lists modes above bit 31, which its 32-bit `ETHTOOL_GSET`
/// masks never carry; bit 15 (2500baseX) is not in it.
const SPEEDS: &[(u32, u32, &str, &str)] = &[
    (0, 10, "half", "T"),
    (1, 10, "full", "T"),
    (2, 100, "half", "T"),
    (3, 100, "full", "T"),
    (4, 1000, "half", "T"),
    (5, 1000, "full", "T"),
    (12, 10000, "full", "T"),
    (17, 1000, "full", "KX"),
    (18, 10000, "full", "KX4"),
    (19, 10000, "full", "KR"),
    (20, 10000, "full", "R_FEC"),
    (21, 20000, "full", "MLD2"),
    (22, 20000, "full", "KR2"),
    (23, 40000, "full", "KR4"),
    (24, 40000, "full", "CR4"),
    (25, 40000, "full", "SR4"),
    (26, 40000, "full", "LR4"),
    (27, 56000, "full", "KR4"),
    (28, 56000, "full", "CR4"),
    (29, 56000, "full", "SR4"),
    (30, 56000, "full", "LR4"),
    (31, 25000, "full", "CR"),
];
/// Port types: bit, name.
const PORTS: &[(u32, &str)] = &[
    (7, "TP"),
    (8, "AUI"),
    (9, "MII"),
    (10, "FIBRE"),
    (11, "BNC"),
    (16, "Backplane"),
];
const AUTONEG_BIT: u32 = 6;
const PAUSE_BIT: u32 = 13;
const ASYM_PAUSE_BIT: u32 = 14;

/// node_exporter's seven common statistics, which keep a name of their
/// own (`_total`) and help text.
const COMMON: [(&str, &str, &str); 7] = [
    (
        "rx_bytes",
        "node_ethtool_received_bytes_total",
        "Network interface bytes received",
    ),
    (
        "rx_dropped",
        "node_ethtool_received_dropped_total",
        "Number of received frames dropped",
    ),
    (
        "rx_errors",
        "node_ethtool_received_errors_total",
        "Number of received frames with errors",
    ),
    (
        "rx_packets",
        "node_ethtool_received_packets_total",
        "Network interface packets received",
    ),
    (
        "tx_bytes",
        "node_ethtool_transmitted_bytes_total",
        "Network interface bytes sent",
    ),
    (
        "tx_errors",
        "node_ethtool_transmitted_errors_total",
        "Number of sent frames with errors",
    ),
    (
        "tx_packets",
        "node_ethtool_transmitted_packets_total",
        "Network interface packets sent",
    ),
];

/// The name node_exporter derives from statistic `stat` (its
/// `buildEthtoolFQName`): sanitized, lower case, leading `_` trimmed, the
/// words `rx`/`tx` spelled out. Names collide on this form.
pub fn fq_name(stat: &str) -> String {
    let lower = intern::sanitize(stat).to_lowercase();
    let name = spell_out(lower.trim_start_matches('_'), "rx", "received");
    format!("node_ethtool_{}", spell_out(&name, "tx", "transmitted"))
}

/// Replaces the word `short` as the regexp `(^|_)short(_|$)` does when
/// replacing all matches: an underscore taken by one match does not start
/// the next, so `rx_rx` becomes `received_rx`.
fn spell_out(name: &str, short: &str, long: &str) -> String {
    let b = name.as_bytes();
    let n = short.len();
    let word_at =
        |p: usize| b[p..].starts_with(short.as_bytes()) && (p + n == b.len() || b[p + n] == b'_');
    let mut out = String::with_capacity(name.len() + 8);
    let (mut p, mut copied) = (0, 0);
    while p < b.len() {
        let start = if p == 0 && word_at(0) {
            0
        } else if b[p] == b'_' && word_at(p + 1) {
            p + 1
        } else {
            p += 1;
            continue;
        };
        out.push_str(&name[copied..start]);
        out.push_str(long);
        let mut end = start + n;
        if end < b.len() {
            out.push('_');
            end += 1;
        }
        copied = end;
        p = end;
    }
    out.push_str(&name[copied..]);
    out
}

/// The metric name of a sanitized statistic: a common one's own name,
/// else [`fq_name`].
pub fn metric_name(stat: &str) -> String {
    match COMMON.iter().find(|(s, ..)| *s == stat) {
        Some((_, name, _)) => (*name).to_owned(),
        None => fq_name(stat),
    }
}

/// The help text of a sanitized statistic, node_exporter's.
fn help(stat: &str) -> String {
    match COMMON.iter().find(|(s, ..)| *s == stat) {
        Some((.., help)) => (*help).to_owned(),
        None => format!("Network interface {stat}"),
    }
}

/// The statistics of one device to export: (metric name, sanitized
/// statistic, value), sorted by name. Statistics whose [`fq_name`]s
/// collide are all dropped, as is one that leaves no name.
pub fn select_stats(
    stats: &BTreeMap<String, u64>,
    include: &Matcher,
) -> Vec<(String, String, u64)> {
    let mut by_name: BTreeMap<String, Option<(String, u64)>> = BTreeMap::new();
    for (stat, value) in stats {
        let sanitized = intern::sanitize(stat).into_owned();
        if !include.is_match(&sanitized) {
            continue;
        }
        by_name
            .entry(fq_name(&sanitized))
            .and_modify(|e| *e = None)
            .or_insert(Some((sanitized, *value)));
    }
    let mut out: Vec<(String, String, u64)> = by_name
        .into_iter()
        .filter(|(name, _)| name.len() > "node_ethtool_".len())
        .filter_map(|(_, e)| e.map(|(stat, v)| (metric_name(&stat), stat, v)))
        .collect();
    out.sort();
    out
}

pub struct Ethtool {
    paths: Paths,
    options: Options,
    source: Box<dyn Source>,
}

impl Ethtool {
    pub fn new(paths: Paths, options: Options) -> Self {
        let source = Box::new(crate::exporter::ethtool_ioctl::IoctlSource::new());
        Self::with_source(paths, options, source)
    }

    /// A collector reading through `source` (tests use a stand-in).
    pub fn with_source(paths: Paths, options: Options, source: Box<dyn Source>) -> Self {
        Ethtool {
            paths,
            options,
            source,
        }
    }
}

fn warn(device: &str, what: &str, e: &SourceError) {
    if *e != SourceError::Unsupported {
        tracing::warn!(device, error = %e, "ethtool {what}");
    }
}

impl Collector for Ethtool {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let devices = class_entries(&self.paths.sys("class/net"), "/sys/class/net")?;
        if devices.is_empty() {
            return Err(CollectError::Other("no network devices found".into()));
        }
        for device in devices.iter().filter(|d| !self.options.devices.ignored(d)) {
            match self.source.link_info(device) {
                Ok(link) => encode_link(device, &link, out),
                Err(e) => warn(device, "link info", &e),
            }
            match self.source.driver_info(device) {
                Ok(d) => {
                    out.gauge(
                        "node_ethtool_info",
                        "A metric with a constant '1' value labeled by bus_info, device, driver, expansion_rom_version, firmware_version, version.",
                    )
                    .add(
                        &[
                            ("bus_info", &d.bus_info),
                            ("device", device),
                            ("driver", &d.driver),
                            ("expansion_rom_version", &d.expansion_rom_version),
                            ("firmware_version", &d.firmware_version),
                            ("version", &d.version),
                        ],
                        1.0,
                    );
                }
                Err(e) => warn(device, "driver info", &e),
            }
            let stats = match self.source.stats(device) {
                Ok(s) => s,
                Err(e) => {
                    warn(device, "stats", &e);
                    continue;
                }
            };
            for (name, stat, value) in select_stats(&stats, &self.options.metrics_include) {
                out.untyped(name, help(&stat))
                    .add(&[("device", device)], value as f64);
            }
        }
        Ok(())
    }
}

fn encode_link(device: &str, link: &LinkInfo, out: &mut Metrics) {
    let has = |mask: u32, bit: u32| mask & (1 << bit) != 0;
    let flag = |mask: u32, bit: u32| if has(mask, bit) { 1.0 } else { 0.0 };
    for (prefix, mask) in [
        ("supported", link.supported),
        ("advertised", link.advertising),
    ] {
        let (name, help) = if prefix == "supported" {
            (
                "node_network_supported_speed_bytes",
                "Combination of speeds and features supported by network device",
            )
        } else {
            (
                "node_network_advertised_speed_bytes",
                "Combination of speeds and features offered by network device",
            )
        };
        for &(bit, mbps, duplex, phy) in SPEEDS {
            if has(mask, bit) {
                let mode = format!("{mbps}base{phy}");
                out.gauge(name, help).add(
                    &[("device", device), ("duplex", duplex), ("mode", &mode)],
                    f64::from(mbps) * 1_000_000.0 / 8.0,
                );
            }
        }
        let caps: [(&'static str, &'static str, u32); 3] = if prefix == "supported" {
            [
                (
                    "node_network_autonegotiate_supported",
                    "If this port device supports autonegotiate",
                    AUTONEG_BIT,
                ),
                (
                    "node_network_pause_supported",
                    "If this port device supports pause frames",
                    PAUSE_BIT,
                ),
                (
                    "node_network_asymmetricpause_supported",
                    "If this port device supports asymmetric pause frames",
                    ASYM_PAUSE_BIT,
                ),
            ]
        } else {
            [
                (
                    "node_network_autonegotiate_advertised",
                    "If this port device offers autonegotiate",
                    AUTONEG_BIT,
                ),
                (
                    "node_network_pause_advertised",
                    "If this port device offers pause capability",
                    PAUSE_BIT,
                ),
                (
                    "node_network_asymmetricpause_advertised",
                    "If this port device offers asymmetric pause capability",
                    ASYM_PAUSE_BIT,
                ),
            ]
        };
        for (name, help, bit) in caps {
            out.gauge(name, help)
                .add(&[("device", device)], flag(mask, bit));
        }
        if prefix == "supported" {
            for &(bit, port) in PORTS {
                if has(mask, bit) {
                    out.gauge(
                        "node_network_supported_port_info",
                        "Type of ports or PHYs supported by network device",
                    )
                    .add(&[("device", device), ("type", port)], 1.0);
                }
            }
        }
    }
    out.gauge(
        "node_network_autonegotiate",
        "If this port is using autonegotiate",
    )
    .add(&[("device", device)], if link.autoneg { 1.0 } else { 0.0 });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exporter::collector::write_fixture;

    /// A recorded stand-in for the kernel's ethtool answers: what an
    /// Intel i40e port (`eth0`) and a loopback device (`lo`, which offers
    /// none) reply.
    struct Recorded;

    impl Source for Recorded {
        fn driver_info(&self, device: &str) -> Result<DriverInfo, SourceError> {
            match device {
                "eth0" => Ok(DriverInfo {
                    driver: "i40e".into(),
                    version: "6.1.0-18-amd64".into(),
                    firmware_version: "9.20 0x8000d95e 1.3429.0".into(),
                    expansion_rom_version: String::new(),
                    bus_info: "0000:3b:00.0".into(),
                }),
                _ => Err(SourceError::Unsupported),
            }
        }
        fn stats(&self, device: &str) -> Result<BTreeMap<String, u64>, SourceError> {
            match device {
                "eth0" => Ok([
                    ("rx_bytes", 9_000_000_000),
                    ("tx_packets", 1234),
                    ("rx_queue_0_packets", 77),
                    ("port.rx_dropped", 5),
                    ("port.tx-timeout", 1),
                    ("port.tx_timeout", 2),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect()),
                _ => Err(SourceError::Unsupported),
            }
        }
        fn link_info(&self, device: &str) -> Result<LinkInfo, SourceError> {
            match device {
                // 1000baseT/Full, 10000baseT/Full, TP, autoneg, pause.
                "eth0" => Ok(LinkInfo {
                    supported: (1 << 5) | (1 << 12) | (1 << 7) | (1 << 6) | (1 << 13),
                    advertising: (1 << 12) | (1 << 6),
                    autoneg: true,
                }),
                _ => Err(SourceError::Unsupported),
            }
        }
    }

    fn options(include: &str, exclude: &str, metrics: &str) -> Options {
        let m = |p: &str| (!p.is_empty()).then(|| Matcher::new(p).unwrap());
        Options {
            devices: DeviceFilter {
                include: m(include),
                exclude: m(exclude),
            },
            metrics_include: Matcher::new(metrics).unwrap(),
        }
    }

    fn scrape(options: Options) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        for dev in ["eth0", "lo"] {
            write_fixture(
                &dir.path().join(format!("class/net/{dev}/operstate")),
                "up\n",
            );
        }
        let paths = Paths {
            sysfs: dir.path().to_owned(),
            ..Paths::default()
        };
        let c = Ethtool::with_source(paths, options, Box::new(Recorded));
        let mut m = Metrics::new();
        c.update(&mut m).unwrap();
        let text = crate::exporter::encode::encode(
            &m.into_sorted(),
            crate::exporter::encode::Format::Text,
        );
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn names_statistics_as_node_exporter() {
        assert_eq!(metric_name("rx_bytes"), "node_ethtool_received_bytes_total");
        assert_eq!(
            metric_name("rx_queue_0_packets"),
            "node_ethtool_received_queue_0_packets"
        );
        assert_eq!(
            metric_name("port_rx_dropped"),
            "node_ethtool_port_received_dropped"
        );
        assert_eq!(metric_name("Tx_Octets"), "node_ethtool_transmitted_octets");
        assert_eq!(metric_name("rxtx"), "node_ethtool_rxtx");
        // Per-queue names from drivers, sanitized: the queue stays in the name.
        assert_eq!(
            fq_name("tx-3.tx_bytes"),
            "node_ethtool_transmitted_3_transmitted_bytes"
        );
        assert_eq!(fq_name("rxq5: rx_pkts"), "node_ethtool_rxq5_received_pkts");
        assert_eq!(
            fq_name("Rx Queue[12] Drops"),
            "node_ethtool_received_queue_12_drops"
        );
        assert_eq!(fq_name("[7]: rx_bytes"), "node_ethtool_7_received_bytes");
        assert_eq!(fq_name("  LPI tx"), "node_ethtool_lpi_transmitted");
        // The regexp's matches do not share an underscore.
        assert_eq!(fq_name("rx_rx_tx"), "node_ethtool_received_rx_transmitted");
        assert_eq!(fq_name("tx_tx"), "node_ethtool_transmitted_tx");
        // Only the exact common names get `_total`.
        assert_eq!(metric_name("RX_bytes"), "node_ethtool_received_bytes");
        assert_eq!(help("rx_errors"), "Number of received frames with errors");
        assert_eq!(help("port_rx_dropped"), "Network interface port_rx_dropped");
    }

    #[test]
    fn drops_every_statistic_of_a_colliding_name() {
        let all = Matcher::new(".*").unwrap();
        let stats: BTreeMap<String, u64> = [
            ("rx_bytes", 1),
            ("RX_bytes", 2),
            ("port.rx-drops", 3),
            ("port_rx_drops", 4),
            ("port rx drops", 5),
            ("tx_packets", 6),
            ("...", 7),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(
            select_stats(&stats, &all),
            [(
                "node_ethtool_transmitted_packets_total".to_owned(),
                "tx_packets".to_owned(),
                6
            )]
        );
        // Filtered before collisions are counted: the survivor stays.
        let only_upper = Matcher::new("^RX_").unwrap();
        assert_eq!(
            select_stats(&stats, &only_upper),
            [(
                "node_ethtool_received_bytes".to_owned(),
                "RX_bytes".to_owned(),
                2
            )]
        );
    }

    #[test]
    fn maps_only_node_exporters_speed_bits() {
        let mut m = Metrics::new();
        // 2500baseX (bit 15) is not in node_exporter 1.12's table; 25000baseCR (31) is.
        let link = LinkInfo {
            supported: (1 << 15) | (1 << 31) | (1 << 16),
            advertising: 0,
            autoneg: false,
        };
        encode_link("eth9", &link, &mut m);
        let text = crate::exporter::encode::encode(
            &m.into_sorted(),
            crate::exporter::encode::Format::Text,
        );
        let speeds: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("node_network_supported_speed_bytes{"))
            .collect();
        assert_eq!(
            speeds,
            ["node_network_supported_speed_bytes{device=\"eth9\",duplex=\"full\",mode=\"25000baseCR\"} 3125000000"]
        );
        assert!(
            text.contains("node_network_supported_port_info{device=\"eth9\",type=\"Backplane\"} 1")
        );
        assert!(text.contains("node_network_autonegotiate{device=\"eth9\"} 0"));
    }

    #[test]
    fn exports_the_recorded_answers_with_the_filters() {
        let all = scrape(options("", "", ".*"));
        for want in [
            "node_ethtool_received_bytes_total{device=\"eth0\"} 9000000000",
            "node_ethtool_transmitted_packets_total{device=\"eth0\"} 1234",
            "node_ethtool_received_queue_0_packets{device=\"eth0\"} 77",
            "node_ethtool_port_received_dropped{device=\"eth0\"} 5",
            "node_ethtool_info{bus_info=\"0000:3b:00.0\",device=\"eth0\",driver=\"i40e\",expansion_rom_version=\"\",firmware_version=\"9.20 0x8000d95e 1.3429.0\",version=\"6.1.0-18-amd64\"} 1",
            "node_network_supported_speed_bytes{device=\"eth0\",duplex=\"full\",mode=\"1000baseT\"} 125000000",
            "node_network_advertised_speed_bytes{device=\"eth0\",duplex=\"full\",mode=\"10000baseT\"} 1250000000",
            "node_network_supported_port_info{device=\"eth0\",type=\"TP\"} 1",
            "node_network_pause_supported{device=\"eth0\"} 1",
            "node_network_pause_advertised{device=\"eth0\"} 0",
            "node_network_autonegotiate{device=\"eth0\"} 1",
        ] {
            assert!(all.iter().any(|l| l == want), "missing {want}: {all:#?}");
        }
        // port.tx-timeout and port.tx_timeout collide once sanitized: both dropped.
        assert!(!all.iter().any(|l| l.contains("timeout")), "{all:#?}");
        // lo answers nothing: no series, no error.
        assert!(!all.iter().any(|l| l.contains("\"lo\"")), "{all:#?}");

        let some = scrape(options("", "", "^rx_"));
        let stats: Vec<&String> = some
            .iter()
            .filter(|l| l.starts_with("node_ethtool_") && !l.starts_with("node_ethtool_info"))
            .collect();
        assert_eq!(stats.len(), 2, "{stats:#?}");
        assert!(scrape(options("", "^eth", ".*")).is_empty());
        assert!(scrape(options("^lo$", "", ".*")).is_empty());
    }
}
