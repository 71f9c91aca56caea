//! `dmi`: the machine's firmware identity from `/sys/class/dmi/id/`
//! (`node_dmi_info{bios_vendor,board_name,product_name,system_vendor,…}`).
//!
//! Decisions, node_exporter's: the attributes are read once, when the
//! collector is made (firmware does not change while the system runs); a
//! label is present when its file is readable (empty or not), absent when
//! the file is missing or root-only (`product_serial`, `board_serial` for an
//! unprivileged exporter); a host without DMI (most ARM boards) reports no
//! data.

use std::path::Path;

use crate::exporter::collector::{CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

/// sysfs file and label, in node_exporter's order.
const FIELDS: [(&str, &str); 20] = [
    ("bios_date", "bios_date"),
    ("bios_release", "bios_release"),
    ("bios_vendor", "bios_vendor"),
    ("bios_version", "bios_version"),
    ("board_asset_tag", "board_asset_tag"),
    ("board_name", "board_name"),
    ("board_serial", "board_serial"),
    ("board_vendor", "board_vendor"),
    ("board_version", "board_version"),
    ("chassis_asset_tag", "chassis_asset_tag"),
    ("chassis_serial", "chassis_serial"),
    ("chassis_vendor", "chassis_vendor"),
    ("chassis_version", "chassis_version"),
    ("product_family", "product_family"),
    ("product_name", "product_name"),
    ("product_serial", "product_serial"),
    ("product_sku", "product_sku"),
    ("product_uuid", "product_uuid"),
    ("product_version", "product_version"),
    ("sys_vendor", "system_vendor"),
];

const HELP: &str = "A metric with a constant '1' value labeled by bios_date, bios_release, bios_vendor, bios_version, board_asset_tag, board_name, board_serial, board_vendor, board_version, chassis_asset_tag, chassis_serial, chassis_vendor, chassis_version, product_family, product_name, product_serial, product_sku, product_uuid, product_version, system_vendor if provided by DMI.";

/// The readable DMI attributes of `dir` as `(label, value)`; `None` when
/// `dir` is absent.
pub fn read(dir: &Path) -> Option<Vec<(&'static str, String)>> {
    if !dir.is_dir() {
        return None;
    }
    Some(
        FIELDS
            .iter()
            .filter_map(|(file, label)| {
                let bytes = std::fs::read(dir.join(file)).ok()?;
                Some((*label, String::from_utf8_lossy(&bytes).trim().to_owned()))
            })
            .collect(),
    )
}

pub struct Dmi {
    info: Option<Vec<(&'static str, String)>>,
}

impl Dmi {
    pub fn new(paths: Paths) -> Self {
        Dmi {
            info: read(&paths.sys("class/dmi/id")),
        }
    }
}

impl Collector for Dmi {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let Some(info) = &self.info else {
            return Err(CollectError::NoData("/sys/class/dmi/id"));
        };
        let labels: Vec<(&'static str, &str)> =
            info.iter().map(|(k, v)| (*k, v.as_str())).collect();
        out.gauge("node_dmi_info", HELP).add(&labels, 1.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_attributes_become_labels() {
        let dir = tempfile::tempdir().unwrap();
        for (f, v) in [
            ("sys_vendor", "Supermicro\n"),
            ("chassis_asset_tag", " \n"),
            ("bios_vendor", "American Megatrends International, LLC.\n"),
        ] {
            std::fs::write(dir.path().join(f), v).unwrap();
        }
        assert_eq!(
            read(dir.path()).unwrap(),
            [
                (
                    "bios_vendor",
                    "American Megatrends International, LLC.".to_owned()
                ),
                ("chassis_asset_tag", String::new()),
                ("system_vendor", "Supermicro".to_owned()),
            ]
        );
        assert_eq!(read(&dir.path().join("absent")), None);
    }
}
