//! `thermal_zone`: the kernel's thermal zones and cooling devices from
//! `/sys/class/thermal/{thermal_zone,cooling_device}N/`
//! (`node_thermal_zone_temp{zone,type}`,
//! `node_cooling_device_{cur,max}_state{name,type}`).
//!
//! Decisions: as node_exporter, a host without `/sys/class/thermal` (most
//! VMs) has no zones and exports nothing, successfully; a zone or cooling
//! device missing a file it must have (`type`, `policy`, `temp`;
//! `max_state`, `cur_state`) fails the collector, naming the file.

use std::path::Path;

use crate::exporter::collector::{
    numbered_entries, require_attr, require_int_attr, CollectError, Collector, Paths,
};
use crate::exporter::metrics::Metrics;

#[derive(Debug, PartialEq)]
pub struct Zone {
    /// The number after `thermal_zone`.
    pub zone: String,
    pub kind: String,
    /// Degrees Celsius.
    pub temp: f64,
}

#[derive(Debug, PartialEq)]
pub struct CoolingDevice {
    /// The number after `cooling_device`.
    pub name: String,
    pub kind: String,
    pub cur_state: f64,
    pub max_state: f64,
}

fn attr(dir: &Path, file: &str) -> Result<String, CollectError> {
    require_attr(&dir.join(file))
}

fn int(dir: &Path, file: &str) -> Result<f64, CollectError> {
    require_int_attr(&dir.join(file))
}

pub fn read_zone(dir: &Path, zone: &str) -> Result<Zone, CollectError> {
    let kind = attr(dir, "type")?;
    attr(dir, "policy")?;
    // Millidegrees; node_exporter divides by 1000.0.
    let temp = int(dir, "temp")? / 1000.0;
    Ok(Zone {
        zone: zone.to_owned(),
        kind,
        temp,
    })
}

pub fn read_cooling_device(dir: &Path, name: &str) -> Result<CoolingDevice, CollectError> {
    Ok(CoolingDevice {
        name: name.to_owned(),
        kind: attr(dir, "type")?,
        max_state: int(dir, "max_state")?,
        cur_state: int(dir, "cur_state")?,
    })
}

pub struct ThermalZone {
    paths: Paths,
}

impl ThermalZone {
    pub fn new(paths: Paths) -> Self {
        ThermalZone { paths }
    }
}

impl Collector for ThermalZone {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let class = self.paths.sys("class/thermal");
        let zones = numbered_entries(&class, "thermal_zone")
            .iter()
            .map(|(n, p)| read_zone(p, n))
            .collect::<Result<Vec<_>, _>>()?;
        let devices = numbered_entries(&class, "cooling_device")
            .iter()
            .map(|(n, p)| read_cooling_device(p, n))
            .collect::<Result<Vec<_>, _>>()?;
        if !zones.is_empty() {
            let f = out.gauge("node_thermal_zone_temp", "Zone temperature in Celsius");
            for z in &zones {
                f.add(&[("zone", &z.zone), ("type", &z.kind)], z.temp);
            }
        }
        if !devices.is_empty() {
            let f = out.gauge(
                "node_cooling_device_cur_state",
                "Current throttle state of the cooling device",
            );
            for d in &devices {
                f.add(&[("name", &d.name), ("type", &d.kind)], d.cur_state);
            }
            let f = out.gauge(
                "node_cooling_device_max_state",
                "Maximum throttle state of the cooling device",
            );
            for d in &devices {
                f.add(&[("name", &d.name), ("type", &d.kind)], d.max_state);
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
    fn reads_zones_and_cooling_devices() {
        let root = tempfile::tempdir().unwrap();
        let z = root.path().join("thermal_zone3");
        write(&z, "type", "x86_pkg_temp\n");
        write(&z, "policy", "step_wise\n");
        write(&z, "temp", "52500\n");
        assert_eq!(
            read_zone(&z, "3").unwrap(),
            Zone {
                zone: "3".into(),
                kind: "x86_pkg_temp".into(),
                temp: 52.5
            }
        );
        let c = root.path().join("cooling_device0");
        write(&c, "type", "intel_powerclamp\n");
        write(&c, "max_state", "50\n");
        write(&c, "cur_state", "-1\n");
        let d = read_cooling_device(&c, "0").unwrap();
        assert_eq!((d.cur_state, d.max_state), (-1.0, 50.0));
    }

    #[test]
    fn a_malformed_or_missing_attribute_is_an_error_naming_the_file() {
        let root = tempfile::tempdir().unwrap();
        let z = root.path().join("thermal_zone0");
        write(&z, "type", "acpitz\n");
        write(&z, "temp", "27800\n");
        let e = read_zone(&z, "0").unwrap_err().to_string();
        assert!(e.contains("policy"), "{e}");
        write(&z, "policy", "step_wise\n");
        write(&z, "temp", "warm\n");
        // As at the start of a scrape: the file seen missing is there now.
        crate::exporter::dirwatch::sync();
        let e = read_zone(&z, "0").unwrap_err().to_string();
        assert!(e.contains("thermal_zone0/temp"), "{e}");
    }
}
