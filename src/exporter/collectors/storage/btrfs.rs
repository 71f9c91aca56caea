//! `btrfs`: Btrfs filesystems from `/sys/fs/btrfs/<uuid>/`, as
//! node_exporter 1.5 reads them (through procfs' `btrfs` package):
//! `node_btrfs_info{label,uuid}`, `node_btrfs_global_rsv_size_bytes`,
//! `node_btrfs_device_size_bytes{device}` (512-byte sectors), and per block
//! group type (`data`, `metadata`, `system`) `node_btrfs_reserved_bytes`
//! plus, per layout directory (`single`, `dup`, `raid1`, …), `_size_bytes`,
//! `_used_bytes` and `_allocation_ratio{mode}`.
//!
//! Only directories whose name has a `-` (a UUID) are filesystems; the UUID
//! is `metadata_uuid` when present. Decisions: a missing attribute counts 0
//! as in node_exporter, but one that is there and not a number fails the
//! collector (node_exporter silently reads 0). node_exporter 1.5's extra
//! per-device error counters need an ioctl on the mounted filesystem and
//! are not read here.

use crate::exporter::collector::{
    entries, read_if_present, subdirectories, CollectError, Collector, Paths,
};
use crate::exporter::metrics::Metrics;
use std::path::Path;

const TYPES: [&str; 3] = ["data", "metadata", "system"];

/// One layout of one block group type.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub mode: String,
    pub total_bytes: u64,
    pub used_bytes: u64,
    pub ratio: f64,
}

/// One filesystem.
#[derive(Debug, Clone, PartialEq)]
pub struct Filesystem {
    pub uuid: String,
    pub label: String,
    pub global_rsv_size: u64,
    /// Device name and size in bytes.
    pub devices: Vec<(String, u64)>,
    /// Per [`TYPES`]: reserved bytes and layouts.
    pub types: Vec<(u64, Vec<Layout>)>,
}

/// How many copies a layout keeps, as procfs computes it (`0` when unknown).
pub fn ratio(mode: &str, devices: usize) -> f64 {
    let n = devices as f64;
    match mode {
        "single" | "raid0" => 1.0,
        "dup" | "raid1" | "raid10" => 2.0,
        "raid5" => n / (n - 1.0),
        "raid6" => n / (n - 2.0),
        _ => 0.0,
    }
}

/// A number attribute: 0 when absent, an error when not a number.
fn value(path: &Path) -> Result<u64, CollectError> {
    match read_if_present(path)? {
        None => Ok(0),
        Some(text) => text.trim().parse().map_err(|_| {
            CollectError::parse(
                path.display().to_string(),
                format!("expected a number, got {text:?}"),
            )
        }),
    }
}

/// Reads the filesystem in directory `dir` (named `name`).
pub fn read_filesystem(dir: &Path, name: &str) -> Result<Filesystem, CollectError> {
    let text = |file: &str| -> Result<String, CollectError> {
        Ok(read_if_present(&dir.join(file))?
            .unwrap_or_default()
            .trim()
            .to_owned())
    };
    let mut devices = Vec::new();
    for dev in entries(&dir.join("devices"))? {
        devices.push((
            dev.clone(),
            512 * value(&dir.join("devices").join(&dev).join("size"))?,
        ));
    }
    let mut types = Vec::new();
    for t in TYPES {
        let tdir = dir.join("allocation").join(t);
        let mut layouts = Vec::new();
        for mode in subdirectories(&tdir)? {
            let ldir = tdir.join(&mode);
            layouts.push(Layout {
                ratio: ratio(&mode, devices.len()),
                total_bytes: value(&ldir.join("total_bytes"))?,
                used_bytes: value(&ldir.join("used_bytes"))?,
                mode,
            });
        }
        types.push((value(&tdir.join("bytes_reserved"))?, layouts));
    }
    let uuid = match text("metadata_uuid")? {
        u if u.is_empty() => name.to_owned(),
        u => u,
    };
    Ok(Filesystem {
        uuid,
        label: text("label")?,
        global_rsv_size: value(&dir.join("allocation/global_rsv_size"))?,
        devices,
        types,
    })
}

pub struct Btrfs {
    paths: Paths,
}

impl Btrfs {
    pub fn new(paths: Paths) -> Self {
        Btrfs { paths }
    }
}

impl Collector for Btrfs {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let root = self.paths.sys("fs/btrfs");
        let mut filesystems = Vec::new();
        for name in entries(&root)?.into_iter().filter(|n| n.contains('-')) {
            filesystems.push(read_filesystem(&root.join(&name), &name)?);
        }
        for fs in &filesystems {
            let uuid = fs.uuid.as_str();
            out.gauge("node_btrfs_info", "Filesystem information")
                .add(&[("label", &fs.label), ("uuid", uuid)], 1.0);
            out.gauge(
                "node_btrfs_global_rsv_size_bytes",
                "Size of global reserve.",
            )
            .add(&[("uuid", uuid)], fs.global_rsv_size as f64);
            for (device, size) in &fs.devices {
                out.gauge(
                    "node_btrfs_device_size_bytes",
                    "Size of a device that is part of the filesystem.",
                )
                .add(&[("device", device), ("uuid", uuid)], *size as f64);
            }
            for (t, (reserved, layouts)) in TYPES.iter().zip(&fs.types) {
                out.gauge(
                    "node_btrfs_reserved_bytes",
                    "Amount of space reserved for a data type",
                )
                .add(&[("block_group_type", t), ("uuid", uuid)], *reserved as f64);
                for l in layouts {
                    let labels = [
                        ("block_group_type", *t),
                        ("mode", l.mode.as_str()),
                        ("uuid", uuid),
                    ];
                    out.gauge(
                        "node_btrfs_size_bytes",
                        "Amount of space allocated for a layout/data type",
                    )
                    .add(&labels, l.total_bytes as f64);
                    out.gauge(
                        "node_btrfs_used_bytes",
                        "Amount of used space by a layout/data type",
                    )
                    .add(&labels, l.used_bytes as f64);
                    out.gauge(
                        "node_btrfs_allocation_ratio",
                        "Data allocation ratio for a layout/data type",
                    )
                    .add(&labels, l.ratio);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_filesystem_directory() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let w = |rel: &str, v: &str| {
            std::fs::create_dir_all(d.join(rel).parent().unwrap()).unwrap();
            std::fs::write(d.join(rel), v).unwrap();
        };
        w("label", "home\n");
        w("devices/sda2/size", "1000\n");
        w("devices/sdb2/size", "1000\n");
        w("devices/sdc2/size", "1000\n");
        w("allocation/global_rsv_size", "77\n");
        w("allocation/data/bytes_reserved", "5\n");
        w("allocation/data/raid5/total_bytes", "300\n");
        w("allocation/data/raid5/used_bytes", "100\n");
        let fs = read_filesystem(d, "a-b").unwrap();
        assert_eq!(fs.uuid, "a-b");
        assert_eq!(fs.label, "home");
        assert_eq!(fs.devices[0], ("sda2".into(), 512_000));
        assert_eq!(fs.types[0].0, 5);
        assert_eq!(
            fs.types[0].1[0],
            Layout {
                mode: "raid5".into(),
                total_bytes: 300,
                used_bytes: 100,
                ratio: 1.5
            }
        );
        assert!(fs.types[1].1.is_empty());
        w("allocation/data/raid5/used_bytes", "100\nmalformed line\n");
        assert!(read_filesystem(d, "a-b").is_err());
        assert_eq!(ratio("raid6", 4), 2.0);
        assert_eq!(ratio("weird", 4), 0.0);
    }
}
