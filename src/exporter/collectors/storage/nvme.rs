//! `nvme`: NVMe controllers from `/sys/class/nvme/nvmeN/`
//! (`node_nvme_info{device,firmware_revision,model,serial,state,cntlid}`):
//! a controller whose `state` is not `live` (resetting, dead) is one an
//! operator wants to see.
//!
//! Decisions: the attributes are trimmed (the kernel pads model and serial
//! with spaces); `cntlid` is node_exporter 1.12's label, empty where the
//! kernel lacks the file; a controller without serial, model, state or
//! firmware_rev fails the collector, naming the file; a host without
//! `/sys/class/nvme` reports no data. 1.12's per-namespace metrics are not
//! exported yet.

use std::path::Path;

use crate::exporter::collector::{
    class_entries, read_attr, require_attr, CollectError, Collector, Paths,
};
use crate::exporter::metrics::Metrics;

#[derive(Debug, PartialEq)]
pub struct Controller {
    pub device: String,
    pub firmware_revision: String,
    pub model: String,
    pub serial: String,
    pub state: String,
    pub cntlid: String,
}

pub fn read_controller(dir: &Path, device: &str) -> Result<Controller, CollectError> {
    let attr = |f: &str| require_attr(&dir.join(f));
    Ok(Controller {
        device: device.to_owned(),
        firmware_revision: attr("firmware_rev")?,
        model: attr("model")?,
        serial: attr("serial")?,
        state: attr("state")?,
        cntlid: read_attr(&dir.join("cntlid")).unwrap_or_default(),
    })
}

pub struct Nvme {
    paths: Paths,
}

impl Nvme {
    pub fn new(paths: Paths) -> Self {
        Nvme { paths }
    }
}

impl Collector for Nvme {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let class = self.paths.sys("class/nvme");
        let names = class_entries(&class, "/sys/class/nvme")?;
        let controllers = names
            .iter()
            .map(|n| read_controller(&class.join(n), n))
            .collect::<Result<Vec<_>, _>>()?;
        if controllers.is_empty() {
            return Ok(());
        }
        let f = out.gauge(
            "node_nvme_info",
            "Non-numeric data from /sys/class/nvme/<device>, value is always 1.",
        );
        for c in &controllers {
            f.add(
                &[
                    ("device", &c.device),
                    ("firmware_revision", &c.firmware_revision),
                    ("model", &c.model),
                    ("serial", &c.serial),
                    ("state", &c.state),
                    ("cntlid", &c.cntlid),
                ],
                1.0,
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_controller_trimming_the_kernels_padding() {
        let dir = tempfile::tempdir().unwrap();
        for (f, v) in [
            ("serial", "S69ENF0R812345T     "),
            ("model", "Samsung SSD 980 PRO 2TB          "),
            ("state", "live"),
            ("firmware_rev", "5B2QGXA7"),
        ] {
            std::fs::write(dir.path().join(f), format!("{v}\n")).unwrap();
        }
        let c = read_controller(dir.path(), "nvme0").unwrap();
        assert_eq!(c.model, "Samsung SSD 980 PRO 2TB");
        assert_eq!(c.serial, "S69ENF0R812345T");
        assert_eq!(c.cntlid, "");
        std::fs::remove_file(dir.path().join("state")).unwrap();
        let e = read_controller(dir.path(), "nvme0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("state"), "{e}");
    }
}
