//! `edac`: memory error counters from the kernel's EDAC subsystem,
//! `/sys/devices/system/edac/mc/mcN/` (`node_edac_{correctable,uncorrectable}_errors_total{controller}`
//! and per chip-select row `node_edac_csrow_*_errors_total{controller,csrow}`;
//! errors the driver could not place in a row count under `csrow="unknown"`).
//!
//! Decisions: as node_exporter, a host without EDAC (no memory controllers
//! listed) exports nothing, successfully; a controller or row missing one of
//! its counters fails the collector, naming the file.

use std::path::Path;

use crate::exporter::collector::{
    numbered_entries, require_int_attr, CollectError, Collector, Paths,
};
use crate::exporter::metrics::Metrics;

/// One memory controller's counters.
#[derive(Debug, PartialEq)]
pub struct Controller {
    pub controller: String,
    pub ce: f64,
    pub ue: f64,
    /// `(csrow, correctable, uncorrectable)`, `unknown` first.
    pub csrows: Vec<(String, f64, f64)>,
}

pub fn read_controller(dir: &Path, controller: &str) -> Result<Controller, CollectError> {
    let int = |d: &Path, f: &str| require_int_attr(&d.join(f));
    let mut csrows = vec![(
        "unknown".to_owned(),
        int(dir, "ce_noinfo_count")?,
        int(dir, "ue_noinfo_count")?,
    )];
    for (n, row) in numbered_entries(dir, "csrow") {
        csrows.push((n, int(&row, "ce_count")?, int(&row, "ue_count")?));
    }
    Ok(Controller {
        controller: controller.to_owned(),
        ce: int(dir, "ce_count")?,
        ue: int(dir, "ue_count")?,
        csrows,
    })
}

pub struct Edac {
    paths: Paths,
}

impl Edac {
    pub fn new(paths: Paths) -> Self {
        Edac { paths }
    }
}

impl Collector for Edac {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let mc = self.paths.sys("devices/system/edac/mc");
        let controllers = numbered_entries(&mc, "mc")
            .iter()
            .map(|(n, dir)| read_controller(dir, n))
            .collect::<Result<Vec<_>, _>>()?;
        if controllers.is_empty() {
            return Ok(());
        }
        let f = out.counter(
            "node_edac_correctable_errors_total",
            "Total correctable memory errors.",
        );
        for c in &controllers {
            f.add(&[("controller", &c.controller)], c.ce);
        }
        let f = out.counter(
            "node_edac_uncorrectable_errors_total",
            "Total uncorrectable memory errors.",
        );
        for c in &controllers {
            f.add(&[("controller", &c.controller)], c.ue);
        }
        let f = out.counter(
            "node_edac_csrow_correctable_errors_total",
            "Total correctable memory errors for this csrow.",
        );
        for c in &controllers {
            for (row, ce, _) in &c.csrows {
                f.add(&[("controller", &c.controller), ("csrow", row)], *ce);
            }
        }
        let f = out.counter(
            "node_edac_csrow_uncorrectable_errors_total",
            "Total uncorrectable memory errors for this csrow.",
        );
        for c in &controllers {
            for (row, _, ue) in &c.csrows {
                f.add(&[("controller", &c.controller), ("csrow", row)], *ue);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, file: &str, text: &str) {
        crate::exporter::collector::write_fixture(&dir.join(file), text);
    }

    #[test]
    fn reads_a_controller_and_its_rows() {
        let root = tempfile::tempdir().unwrap();
        let mc = root.path().join("mc0");
        for (f, v) in [
            ("ce_count", "3"),
            ("ue_count", "1"),
            ("ce_noinfo_count", "0"),
            ("ue_noinfo_count", "1"),
        ] {
            write(&mc, f, &format!("{v}\n"));
        }
        write(&mc.join("csrow2"), "ce_count", "3\n");
        write(&mc.join("csrow2"), "ue_count", "0\n");
        let c = read_controller(&mc, "0").unwrap();
        assert_eq!((c.ce, c.ue), (3.0, 1.0));
        assert_eq!(
            c.csrows,
            [("unknown".to_owned(), 0.0, 1.0), ("2".to_owned(), 3.0, 0.0)]
        );
        write(&mc.join("csrow2"), "ue_count", "many\n");
        let e = read_controller(&mc, "0").unwrap_err().to_string();
        assert!(e.contains("csrow2/ue_count"), "{e}");
    }
}
