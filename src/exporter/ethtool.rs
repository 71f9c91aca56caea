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
//! - The kernel answers these through the `SIOCETHTOOL` ioctl (driver
//!   statistics have no netlink form), which needs `unsafe` code the crate
//!   denies, and no maintained crate wraps it safely (the `ethtool` netlink
//!   crate covers link modes and features, not driver statistics or driver
//!   information). So the collector reads through the narrow [`Source`]
//!   trait: its logic (names, filters, link modes) is tested with a
//!   recorded stand-in, and the source in use, [`SysfsSource`], answers
//!   what sysfs knows without an ioctl — the driver and bus address of
//!   `node_ethtool_info` (versions empty) — and reports statistics and
//!   link modes as unsupported, as a driver without them does (no series,
//!   no error). An ioctl source plugs in behind the same trait.
//! - As node_exporter: the devices are `/sys/class/net`'s; a statistic
//!   whose sanitized name collides with another one's is dropped, both;
//!   `metrics-include` is matched unanchored on the sanitized name.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::collector::{class_entries, CollectError, Collector, Paths};
use super::intern;
use super::matcher::{DeviceFilter, Matcher};
use super::metrics::Metrics;

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

/// A link's modes (`ETHTOOL_GSET`): bit masks of
/// `ethtool_link_mode_bit_indices`, and whether autonegotiation is on.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LinkInfo {
    pub supported: u64,
    pub advertising: u64,
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

/// The driver and bus address from sysfs (`device/driver` and `device`
/// links); statistics and link modes unsupported (see the module doc).
pub struct SysfsSource {
    class: PathBuf,
}

impl SysfsSource {
    fn link_name(&self, device: &str, rel: &str) -> Option<String> {
        let target = std::fs::read_link(self.class.join(device).join(rel)).ok()?;
        Some(target.file_name()?.to_string_lossy().into_owned())
    }
}

impl Source for SysfsSource {
    fn driver_info(&self, device: &str) -> Result<DriverInfo, SourceError> {
        let driver = self
            .link_name(device, "device/driver")
            .ok_or(SourceError::Unsupported)?;
        Ok(DriverInfo {
            driver,
            bus_info: self.link_name(device, "device").unwrap_or_default(),
            ..Default::default()
        })
    }
    fn stats(&self, _: &str) -> Result<BTreeMap<String, u64>, SourceError> {
        Err(SourceError::Unsupported)
    }
    fn link_info(&self, _: &str) -> Result<LinkInfo, SourceError> {
        Err(SourceError::Unsupported)
    }
}

/// Bits of `ethtool_link_mode_bit_indices` (include/uapi/linux/ethtool.h)
/// below 64 that name a speed: bit, Mb/s, duplex, PHY.
const SPEEDS: &[(u32, u32, &str, &str)] = &[
    (0, 10, "half", "T"),
    (1, 10, "full", "T"),
    (2, 100, "half", "T"),
    (3, 100, "full", "T"),
    (4, 1000, "half", "T"),
    (5, 1000, "full", "T"),
    (12, 10000, "full", "T"),
    (15, 2500, "full", "X"),
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
    (32, 25000, "full", "KR"),
    (33, 25000, "full", "SR"),
    (34, 50000, "full", "CR2"),
    (35, 50000, "full", "KR2"),
    (36, 100000, "full", "KR4"),
    (37, 100000, "full", "SR4"),
    (38, 100000, "full", "CR4"),
    (39, 100000, "full", "R4_ER4"),
    (40, 50000, "full", "SR2"),
    (41, 1000, "full", "X"),
    (42, 10000, "full", "CR"),
    (43, 10000, "full", "SR"),
    (44, 10000, "full", "LR"),
    (45, 10000, "full", "LRM"),
    (46, 10000, "full", "ER"),
    (47, 2500, "full", "T"),
    (48, 5000, "full", "T"),
    (52, 50000, "full", "KR"),
    (53, 50000, "full", "SR"),
    (54, 50000, "full", "CR"),
    (55, 50000, "full", "LR_ER_FR"),
    (56, 50000, "full", "DR"),
    (57, 100000, "full", "KR2"),
    (58, 100000, "full", "SR2"),
    (59, 100000, "full", "CR2"),
    (60, 100000, "full", "LR2_ER2_FR2"),
    (61, 100000, "full", "DR2"),
    (62, 200000, "full", "KR4"),
    (63, 200000, "full", "SR4"),
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

/// The metric name for driver statistic `stat`, as node_exporter builds
/// it: sanitized, lower case, `rx`/`tx` words spelled out.
pub fn metric_name(stat: &str) -> String {
    match stat {
        "rx_bytes" => return "node_ethtool_received_bytes_total".into(),
        "rx_dropped" => return "node_ethtool_received_dropped_total".into(),
        "rx_errors" => return "node_ethtool_received_errors_total".into(),
        "rx_packets" => return "node_ethtool_received_packets_total".into(),
        "tx_bytes" => return "node_ethtool_transmitted_bytes_total".into(),
        "tx_errors" => return "node_ethtool_transmitted_errors_total".into(),
        "tx_packets" => return "node_ethtool_transmitted_packets_total".into(),
        _ => {}
    }
    let lower = intern::sanitize(stat).to_lowercase();
    let words: Vec<&str> = lower
        .trim_start_matches('_')
        .split('_')
        .map(|w| match w {
            "rx" => "received",
            "tx" => "transmitted",
            w => w,
        })
        .collect();
    format!("node_ethtool_{}", words.join("_"))
}

/// The help text of a statistic, node_exporter's.
fn help(stat: &str) -> String {
    match stat {
        "rx_bytes" => "Network interface bytes received".into(),
        "rx_dropped" => "Number of received frames dropped".into(),
        "rx_errors" => "Number of received frames with errors".into(),
        "rx_packets" => "Network interface packets received".into(),
        "tx_bytes" => "Network interface bytes sent".into(),
        "tx_errors" => "Number of sent frames with errors".into(),
        "tx_packets" => "Network interface packets sent".into(),
        s => format!("Network interface {s}"),
    }
}

/// The statistics of one device to export: (metric name, statistic,
/// value), sorted by name; colliding names dropped.
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
        let name = metric_name(&sanitized);
        by_name
            .entry(name)
            .and_modify(|e| *e = None)
            .or_insert(Some((sanitized, *value)));
    }
    by_name
        .into_iter()
        .filter_map(|(name, e)| e.map(|(stat, v)| (name, stat, v)))
        .collect()
}

pub struct Ethtool {
    paths: Paths,
    options: Options,
    source: Box<dyn Source>,
}

impl Ethtool {
    pub fn new(paths: Paths, options: Options) -> Self {
        let source = Box::new(SysfsSource {
            class: paths.sys("class/net"),
        });
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
    let has = |mask: u64, bit: u32| mask & (1 << bit) != 0;
    let flag = |mask: u64, bit: u32| if has(mask, bit) { 1.0 } else { 0.0 };
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
    fn the_sysfs_source_names_the_driver_and_bus_address() {
        let dir = tempfile::tempdir().unwrap();
        let pci = dir.path().join("devices/pci0000:00/0000:3b:00.0");
        std::fs::create_dir_all(&pci).unwrap();
        std::fs::create_dir_all(dir.path().join("bus/pci/drivers/i40e")).unwrap();
        std::os::unix::fs::symlink("../../../../bus/pci/drivers/i40e", pci.join("driver")).unwrap();
        std::fs::create_dir_all(dir.path().join("class/net/eth0")).unwrap();
        std::fs::create_dir_all(dir.path().join("class/net/lo")).unwrap();
        std::os::unix::fs::symlink(
            "../../../devices/pci0000:00/0000:3b:00.0",
            dir.path().join("class/net/eth0/device"),
        )
        .unwrap();
        let source = SysfsSource {
            class: dir.path().join("class/net"),
        };
        let info = source.driver_info("eth0").unwrap();
        assert_eq!(
            (info.driver.as_str(), info.bus_info.as_str()),
            ("i40e", "0000:3b:00.0")
        );
        assert_eq!(source.driver_info("lo"), Err(SourceError::Unsupported));
        assert_eq!(source.stats("eth0"), Err(SourceError::Unsupported));
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
