//! `diskstats`: block device I/O counters from `/proc/diskstats`
//! (`node_disk_*`), plus `node_disk_info` (and, where udev has recorded
//! them, `node_disk_filesystem_info`, `node_disk_device_mapper_info` and
//! `node_disk_ata_*`) from udev's database (`--path.udev.data`; without it
//! `<rootfs>/run/udev/data`, which is node_exporter's default on a host and
//! follows `--path.rootfs` in a container).
//! `node_disk_info` carries 1.12's `rotational` label from
//! `/sys/block/<dev>/queue/rotational`.
//!
//! Devices matching the exclude regex (node_exporter's default skips
//! partitions, loop, ram and floppy devices) are left out. Sector counts
//! are 512-byte units whatever the device's block size, and times are
//! milliseconds, as the kernel documents.

use std::collections::HashMap;

use crate::exporter::matcher::DeviceFilter;

use crate::exporter::collector::{read, read_attr, CollectError, Collector, Paths};
use crate::exporter::intern;
use crate::exporter::metrics::Metrics;

/// node_exporter 1.5's default `--collector.diskstats.device-exclude`.
pub const DEFAULT_DEVICE_EXCLUDE: &str = r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";

const SECTOR_BYTES: f64 = 512.0;
const MS: f64 = 0.001;

/// How a `/proc/diskstats` column becomes a metric: its suffix, kind,
/// help text and scale.
struct Column {
    name: &'static str,
    counter: bool,
    help: &'static str,
    scale: f64,
}

const fn col(name: &'static str, counter: bool, help: &'static str, scale: f64) -> Column {
    Column {
        name,
        counter,
        help,
        scale,
    }
}

/// The columns after the device name, in kernel order.
const COLUMNS: [Column; 17] = [
    col(
        "reads_completed_total",
        true,
        "The total number of reads completed successfully.",
        1.0,
    ),
    col(
        "reads_merged_total",
        true,
        "The total number of reads merged.",
        1.0,
    ),
    col(
        "read_bytes_total",
        true,
        "The total number of bytes read successfully.",
        SECTOR_BYTES,
    ),
    col(
        "read_time_seconds_total",
        true,
        "The total number of seconds spent by all reads.",
        MS,
    ),
    col(
        "writes_completed_total",
        true,
        "The total number of writes completed successfully.",
        1.0,
    ),
    col(
        "writes_merged_total",
        true,
        "The number of writes merged.",
        1.0,
    ),
    col(
        "written_bytes_total",
        true,
        "The total number of bytes written successfully.",
        SECTOR_BYTES,
    ),
    col(
        "write_time_seconds_total",
        true,
        "This is the total number of seconds spent by all writes.",
        MS,
    ),
    col(
        "io_now",
        false,
        "The number of I/Os currently in progress.",
        1.0,
    ),
    col(
        "io_time_seconds_total",
        true,
        "Total seconds spent doing I/Os.",
        MS,
    ),
    col(
        "io_time_weighted_seconds_total",
        true,
        "The weighted # of seconds spent doing I/Os.",
        MS,
    ),
    col(
        "discards_completed_total",
        true,
        "The total number of discards completed successfully.",
        1.0,
    ),
    col(
        "discards_merged_total",
        true,
        "The total number of discards merged.",
        1.0,
    ),
    col(
        "discarded_sectors_total",
        true,
        "The total number of sectors discarded successfully.",
        1.0,
    ),
    col(
        "discard_time_seconds_total",
        true,
        "This is the total number of seconds spent by all discards.",
        MS,
    ),
    col(
        "flush_requests_total",
        true,
        "The total number of flush requests completed successfully",
        1.0,
    ),
    col(
        "flush_requests_time_seconds_total",
        true,
        "This is the total number of seconds spent by all flush requests.",
        MS,
    ),
];

/// ATA properties udev records: key, metric, help.
const ATA: &[(&str, &str, &str)] = &[
    (
        "ID_ATA_WRITE_CACHE",
        "node_disk_ata_write_cache",
        "ATA disk has a write cache.",
    ),
    (
        "ID_ATA_WRITE_CACHE_ENABLED",
        "node_disk_ata_write_cache_enabled",
        "ATA disk has its write cache enabled.",
    ),
    (
        "ID_ATA_ROTATION_RATE_RPM",
        "node_disk_ata_rotation_rate_rpm",
        "ATA disk rotation rate in RPMs (0 for SSDs).",
    ),
];

#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub major: u32,
    pub minor: u32,
    pub name: String,
    /// 11, 15 or 17 raw counters depending on the kernel version.
    pub stats: Vec<f64>,
}

/// Parses `/proc/diskstats`.
pub fn parse(text: &str) -> Result<Vec<Device>, CollectError> {
    const WHAT: &str = "/proc/diskstats";
    let mut devices = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 14 {
            return Err(CollectError::parse(
                WHAT,
                format!("too few fields in {line:?}"),
            ));
        }
        let num = |s: &str| {
            s.parse::<u64>()
                .map_err(|_| CollectError::parse(WHAT, format!("bad number {s:?} in {line:?}")))
        };
        let stats = f[3..]
            .iter()
            .take(COLUMNS.len())
            .map(|s| num(s).map(|v| v as f64))
            .collect::<Result<Vec<_>, _>>()?;
        devices.push(Device {
            major: num(f[0])? as u32,
            minor: num(f[1])? as u32,
            name: f[2].to_owned(),
            stats,
        });
    }
    Ok(devices)
}

/// Parses one udev database file (`E:KEY=VALUE` lines) into its properties.
pub fn parse_udev(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("E:")?.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

pub struct Diskstats {
    paths: Paths,
    /// `--collector.diskstats.device-include|exclude`.
    devices: DeviceFilter,
}

impl Diskstats {
    pub fn new(paths: Paths, devices: DeviceFilter) -> Self {
        Diskstats { paths, devices }
    }
}

impl Collector for Diskstats {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let devices: Vec<Device> = parse(&read(&self.paths.proc("diskstats"))?)?
            .into_iter()
            .filter(|d| !self.devices.ignored(&d.name))
            .collect();
        // udev's database is optional (containers, systems without udev).
        let udev: Vec<HashMap<String, String>> = devices
            .iter()
            .map(|d| {
                let file = format!("b{}:{}", d.major, d.minor);
                crate::exporter::collector::read_text(self.paths.udev(&file))
                    .map(|t| parse_udev(&t))
                    .unwrap_or_default()
            })
            .collect();

        for (d, props) in devices.iter().zip(&udev) {
            let prop = |k: &str| props.get(k).map(String::as_str).unwrap_or("");
            let (major, minor) = (d.major.to_string(), d.minor.to_string());
            // node_exporter 1.12: "1" for a spinning disk, "0" otherwise,
            // also when the queue directory is missing.
            let rotational = read_attr(
                &self
                    .paths
                    .sys(&format!("block/{}/queue/rotational", d.name)),
            )
            .filter(|r| r == "1")
            .map_or("0", |_| "1");
            out.gauge("node_disk_info", "Info of /sys/block/<block_device>.")
                .add(
                    &[
                        ("device", &d.name),
                        ("major", &major),
                        ("minor", &minor),
                        ("path", prop("ID_PATH")),
                        ("wwn", prop("ID_WWN")),
                        ("model", prop("ID_MODEL")),
                        ("serial", prop("ID_SERIAL_SHORT")),
                        ("revision", prop("ID_REVISION")),
                        ("rotational", rotational),
                    ],
                    1.0,
                );
            // Only a non-empty type, as node_exporter: udev records an
            // empty `ID_FS_TYPE=` for a disk blkid probed and found no
            // filesystem on.
            if !prop("ID_FS_TYPE").is_empty() {
                out.gauge("node_disk_filesystem_info", "Info about disk filesystem.")
                    .add(
                        &[
                            ("device", &d.name),
                            ("type", prop("ID_FS_TYPE")),
                            ("usage", prop("ID_FS_USAGE")),
                            ("uuid", prop("ID_FS_UUID")),
                            ("version", prop("ID_FS_VERSION")),
                        ],
                        1.0,
                    );
            }
            if props.contains_key("DM_NAME") {
                out.gauge(
                    "node_disk_device_mapper_info",
                    "Info about disk device mapper.",
                )
                .add(
                    &[
                        ("device", &d.name),
                        ("name", prop("DM_NAME")),
                        ("uuid", prop("DM_UUID")),
                        ("vg_name", prop("DM_VG_NAME")),
                        ("lv_name", prop("DM_LV_NAME")),
                        ("lv_layer", prop("DM_LV_LAYER")),
                    ],
                    1.0,
                );
            }
            for (key, name, help) in ATA {
                // Unparseable udev values are skipped, as node_exporter does.
                if let Some(v) = props.get(*key).and_then(|v| v.parse::<f64>().ok()) {
                    out.gauge(*name, *help).add(&[("device", &d.name)], v);
                }
            }
            for (c, value) in COLUMNS.iter().zip(&d.stats) {
                let name = intern::concat(&["node_disk_", c.name]);
                let fam = if c.counter {
                    out.counter(name, c.help)
                } else {
                    out.gauge(name, c.help)
                };
                fam.add(&[("device", &d.name)], value * c.scale);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exporter::matcher::Matcher;

    fn default_filter() -> DeviceFilter {
        DeviceFilter::strict("", DEFAULT_DEVICE_EXCLUDE).unwrap()
    }

    const TEXT: &str = "   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n \
        254       0 vda 35025 6756 5157714 18963 9471 26067 5275296 25623 0 9240 45428 4661 42 294024 774 983 67\n \
        254       1 vda1 100 0 200 10 0 0 0 0 0 10 10\n";

    #[test]
    fn parses_old_and_new_kernels() {
        let d = parse(TEXT).unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(d[1].name, "vda");
        assert_eq!((d[1].major, d[1].minor), (254, 0));
        assert_eq!(d[1].stats.len(), 17);
        assert_eq!(d[1].stats[2], 5157714.0);
        assert_eq!(d[2].stats.len(), 11);
    }

    #[test]
    fn default_exclude_matches_node_exporter() {
        let re = Matcher::new(DEFAULT_DEVICE_EXCLUDE).unwrap();
        for skip in ["loop0", "ram1", "sda1", "vda2", "xvda1", "nvme0n1p1", "fd0"] {
            assert!(re.is_match(skip), "{skip}");
        }
        for keep in ["sda", "vda", "nvme0n1", "zram0", "dm-0", "md0"] {
            assert!(!re.is_match(keep), "{keep}");
        }
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(parse("254 0 vda 1 2 3\n").is_err());
        assert!(parse("254 0 vda 1 2 3 x 5 6 7 8 9 10 11\n").is_err());
    }

    #[test]
    fn udev_properties() {
        let p = parse_udev("S:disk/by-id/x\nE:ID_MODEL=QEMU_HARDDISK\nE:ID_FS_TYPE=ext4\n");
        assert_eq!(p["ID_MODEL"], "QEMU_HARDDISK");
        assert_eq!(p["ID_FS_TYPE"], "ext4");
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn units_are_bytes_and_seconds() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("diskstats"), TEXT).unwrap();
        let paths = Paths {
            procfs: dir.path().into(),
            sysfs: dir.path().into(),
            rootfs: dir.path().into(),
            udev_data: None,
        };
        let mut m = Metrics::new();
        Diskstats::new(paths, default_filter())
            .update(&mut m)
            .unwrap();
        let read = m.get("node_disk_read_bytes_total").unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read.sample(0).value, 5157714.0 * 512.0);
        let t = m.get("node_disk_read_time_seconds_total").unwrap();
        assert!((t.sample(0).value - 18.963).abs() < 1e-9);
        assert!(m.get("node_disk_flush_requests_total").is_some());
    }

    #[test]
    fn udev_data_comes_from_its_flag_when_given() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("diskstats"), TEXT).unwrap();
        let udev = dir.path().join("udev");
        std::fs::create_dir(&udev).unwrap();
        std::fs::write(udev.join("b254:0"), "E:ID_FS_TYPE=xfs\n").unwrap();
        let fs_type = |udev_data: Option<std::path::PathBuf>| {
            let paths = Paths {
                procfs: dir.path().into(),
                sysfs: dir.path().into(),
                rootfs: dir.path().into(),
                udev_data,
            };
            let mut m = Metrics::new();
            Diskstats::new(paths, default_filter())
                .update(&mut m)
                .unwrap();
            m.get("node_disk_filesystem_info")
                .and_then(|f| f.sample(0).label("type").map(str::to_owned))
        };
        assert_eq!(fs_type(Some(udev)).as_deref(), Some("xfs"));
        // Without the flag: <rootfs>/run/udev/data, absent here.
        assert_eq!(fs_type(None), None);
    }
}
