//! `dmmultipath`: device-mapper multipath maps from `/sys/block/dm-*`
//! (node_exporter 1.12): a `dm-N` whose `dm/uuid` starts with `mpath-` is a
//! map; its paths are the block devices in its `slaves/` directory, each
//! with the state in `/sys/block/<path>/device/state`. Exports
//! `node_dmmultipath_device_{info,active,size_bytes,paths,paths_active,
//! paths_failed}` and `node_dmmultipath_path_state{device,path,state}`. A
//! path is active when its state is `running` (SCSI) or `live` (NVMe).
//!
//! Decisions: as in node_exporter, a `dm-N` without `dm/uuid` is not a
//! device-mapper device and is skipped, while an unreadable name, size or
//! path state fails the collector; no `/sys/block` exports nothing.

use crate::exporter::collector::{
    class_entries, entries, read, read_if_present, CollectError, Collector, Paths,
};
use crate::exporter::metrics::Metrics;

/// One multipath map.
#[derive(Debug, Clone, PartialEq)]
pub struct Map {
    pub name: String,
    pub sysfs_name: String,
    pub uuid: String,
    pub suspended: bool,
    pub size_bytes: u64,
    /// Path device and its state.
    pub paths: Vec<(String, String)>,
}

/// Whether a path in `state` carries I/O.
pub fn is_active(state: &str) -> bool {
    state == "running" || state == "live"
}

fn number(path: &std::path::Path) -> Result<u64, CollectError> {
    let text = read(path)?;
    text.trim().parse().map_err(|_| {
        CollectError::parse(
            path.display().to_string(),
            format!("expected a number, got {text:?}"),
        )
    })
}

pub struct Dmmultipath {
    paths: Paths,
}

impl Dmmultipath {
    pub fn new(paths: Paths) -> Self {
        Dmmultipath { paths }
    }
}

impl Dmmultipath {
    fn maps(&self) -> Result<Vec<Map>, CollectError> {
        let block = self.paths.sys("block");
        let mut maps = Vec::new();
        for dev in class_entries(&block, "/sys/block")?
            .into_iter()
            .filter(|d| d.starts_with("dm-"))
        {
            let dm = block.join(&dev).join("dm");
            let Some(uuid) = read_if_present(&dm.join("uuid"))? else {
                continue;
            };
            let uuid = uuid.trim().to_owned();
            if !uuid.starts_with("mpath-") {
                continue;
            }
            let mut paths = Vec::new();
            for slave in entries(&block.join(&dev).join("slaves"))? {
                let state = read(&block.join(&slave).join("device/state"))?
                    .trim()
                    .to_owned();
                paths.push((slave, state));
            }
            maps.push(Map {
                name: read(&dm.join("name"))?.trim().to_owned(),
                suspended: number(&dm.join("suspended"))? == 1,
                size_bytes: number(&block.join(&dev).join("size"))? * 512,
                sysfs_name: dev,
                uuid,
                paths,
            });
        }
        Ok(maps)
    }
}

impl Collector for Dmmultipath {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        for m in self.maps()? {
            let labels = [
                ("device", m.name.as_str()),
                ("sysfs_name", m.sysfs_name.as_str()),
            ];
            out.gauge(
                "node_dmmultipath_device_info",
                "Non-numeric information about a DM-multipath device.",
            )
            .add(&[labels[0], labels[1], ("uuid", &m.uuid)], 1.0);
            out.gauge(
                "node_dmmultipath_device_active",
                "Whether the multipath device-mapper device is active (1) or suspended (0).",
            )
            .add(&labels, if m.suspended { 0.0 } else { 1.0 });
            out.gauge(
                "node_dmmultipath_device_size_bytes",
                "Size of the multipath device in bytes, read from /sys/block/<dm>/size.",
            )
            .add(&labels, m.size_bytes as f64);
            let active = m.paths.iter().filter(|(_, s)| is_active(s)).count();
            for (path, state) in &m.paths {
                out.gauge(
                    "node_dmmultipath_path_state",
                    "Reports the underlying device state for a multipath path, as read from /sys/block/<dev>/device/state.",
                )
                .add(&[("device", &m.name), ("path", path), ("state", state)], 1.0);
            }
            out.gauge(
                "node_dmmultipath_device_paths",
                "Number of paths for a multipath device.",
            )
            .add(&labels, m.paths.len() as f64);
            out.gauge(
                "node_dmmultipath_device_paths_active",
                "Number of paths in active state (SCSI running or NVMe live) for a multipath device.",
            )
            .add(&labels, active as f64);
            out.gauge(
                "node_dmmultipath_device_paths_failed",
                "Number of paths not in active state for a multipath device.",
            )
            .add(&labels, (m.paths.len() - active) as f64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_multipath_maps_and_their_paths() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let w = |rel: &str, v: &str| {
            std::fs::create_dir_all(d.join(rel).parent().unwrap()).unwrap();
            std::fs::write(d.join(rel), v).unwrap();
        };
        w("block/dm-0/dm/uuid", "mpath-36001\n");
        w("block/dm-0/dm/name", "mpatha\n");
        w("block/dm-0/dm/suspended", "0\n");
        w("block/dm-0/size", "8\n");
        std::fs::create_dir_all(d.join("block/dm-0/slaves/sda")).unwrap();
        std::fs::create_dir_all(d.join("block/dm-0/slaves/sdb")).unwrap();
        w("block/sda/device/state", "running\n");
        w("block/sdb/device/state", "transport-offline\n");
        w("block/dm-1/dm/uuid", "CRYPT-LUKS2-x\n");
        std::fs::create_dir_all(d.join("block/dm-2")).unwrap();
        let c = Dmmultipath::new(Paths {
            sysfs: d.into(),
            ..Paths::default()
        });
        let maps = c.maps().unwrap();
        assert_eq!(maps.len(), 1);
        assert_eq!(maps[0].size_bytes, 4096);
        assert_eq!(
            maps[0].paths[1],
            ("sdb".to_owned(), "transport-offline".to_owned())
        );
        assert!(is_active("live") && !is_active("transport-offline"));
        w("block/dm-0/size", "8\nmalformed line\n");
        assert!(c.maps().is_err());
    }
}
