//! `powersupplyclass`: power supplies and batteries from
//! `/sys/class/power_supply/<name>/` (`node_power_supply_online`,
//! `node_power_supply_capacity`, `node_power_supply_energy_watthour`, …,
//! and `node_power_supply_info` with the text attributes as labels).
//!
//! Decisions, node_exporter's: micro-units (µV, µA, µW, µWh, µAh) are
//! divided by 1e6, tenths of a degree by 10; an attribute the supply does
//! not have is left out, and the info metric carries only the non-empty
//! text attributes. An attribute that is not a number where one is expected
//! fails the collector, naming the file; a host without
//! `/sys/class/power_supply` reports no data.

use std::path::Path;

use crate::exporter::collector::{class_entries, AttrDir, CollectError, Collector, Paths};
use crate::exporter::intern;
use crate::exporter::matcher::Matcher;
use crate::exporter::metrics::Metrics;

/// Numeric attributes: sysfs file, metric suffix, divisor.
const NUMERIC: [(&str, &str, f64); 49] = [
    ("authentic", "authentic", 1.0),
    ("calibrate", "calibrate", 1.0),
    ("capacity", "capacity", 1.0),
    ("capacity_alert_max", "capacity_alert_max", 1.0),
    ("capacity_alert_min", "capacity_alert_min", 1.0),
    ("cycle_count", "cyclecount", 1.0),
    ("online", "online", 1.0),
    ("present", "present", 1.0),
    ("time_to_empty_now", "time_to_empty_seconds", 1.0),
    ("time_to_full_now", "time_to_full_seconds", 1.0),
    ("current_boot", "current_boot", 1e6),
    ("current_max", "current_max", 1e6),
    ("current_now", "current_ampere", 1e6),
    ("energy_empty", "energy_empty", 1e6),
    ("energy_empty_design", "energy_empty_design", 1e6),
    ("energy_full", "energy_full", 1e6),
    ("energy_full_design", "energy_full_design", 1e6),
    ("energy_now", "energy_watthour", 1e6),
    ("voltage_boot", "voltage_boot", 1e6),
    ("voltage_max", "voltage_max", 1e6),
    ("voltage_max_design", "voltage_max_design", 1e6),
    ("voltage_min", "voltage_min", 1e6),
    ("voltage_min_design", "voltage_min_design", 1e6),
    ("voltage_now", "voltage_volt", 1e6),
    ("voltage_ocv", "voltage_ocv", 1e6),
    ("charge_control_limit", "charge_control_limit", 1e6),
    ("charge_control_limit_max", "charge_control_limit_max", 1e6),
    ("charge_counter", "charge_counter", 1e6),
    ("charge_empty", "charge_empty", 1e6),
    ("charge_empty_design", "charge_empty_design", 1e6),
    ("charge_full", "charge_full", 1e6),
    ("charge_full_design", "charge_full_design", 1e6),
    ("charge_now", "charge_ampere", 1e6),
    ("charge_term_current", "charge_term_current", 1e6),
    ("constant_charge_current", "constant_charge_current", 1e6),
    (
        "constant_charge_current_max",
        "constant_charge_current_max",
        1e6,
    ),
    ("constant_charge_voltage", "constant_charge_voltage", 1e6),
    (
        "constant_charge_voltage_max",
        "constant_charge_voltage_max",
        1e6,
    ),
    ("precharge_current", "precharge_current", 1e6),
    ("input_current_limit", "input_current_limit", 1e6),
    ("power_now", "power_watt", 1e6),
    ("temp", "temp_celsius", 10.0),
    ("temp_alert_max", "temp_alert_max_celsius", 10.0),
    ("temp_alert_min", "temp_alert_min_celsius", 10.0),
    ("temp_ambient", "temp_ambient_celsius", 10.0),
    ("temp_ambient_max", "temp_ambient_max_celsius", 10.0),
    ("temp_ambient_min", "temp_ambient_min_celsius", 10.0),
    ("temp_max", "temp_max_celsius", 10.0),
    ("temp_min", "temp_min_celsius", 10.0),
];

/// Text attributes, which become labels of `node_power_supply_info`.
const TEXT: [&str; 11] = [
    "capacity_level",
    "charge_type",
    "health",
    "manufacturer",
    "model_name",
    "serial_number",
    "status",
    "technology",
    "type",
    "usb_type",
    "scope",
];

/// One supply: its name, readable numeric attributes (metric suffix,
/// converted value) and non-empty text attributes.
#[derive(Debug, PartialEq)]
pub struct Supply {
    pub name: String,
    pub values: Vec<(&'static str, f64)>,
    pub info: Vec<(&'static str, String)>,
}

pub fn read_supply(dir: &Path, name: &str) -> Result<Supply, CollectError> {
    let mut values = Vec::new();
    let mut attrs = AttrDir::new(dir);
    for (file, suffix, divisor) in NUMERIC {
        let Some(read) = attrs.read_with(file, |text| {
            Some(text.parse::<i64>().map_err(|_| text.to_owned()))
        }) else {
            continue;
        };
        let v = read.map_err(|text| {
            CollectError::parse(
                dir.join(file).display().to_string(),
                format!("expected an integer, got {text:?}"),
            )
        })?;
        values.push((suffix, v as f64 / divisor));
    }
    let info = TEXT
        .iter()
        .filter_map(|file| Some((*file, attrs.read(file).filter(|t| !t.is_empty())?)))
        .collect();
    Ok(Supply {
        name: name.to_owned(),
        values,
        info,
    })
}

pub struct PowerSupplyClass {
    paths: Paths,
    /// `--collector.powersupply.ignored-supplies`.
    ignored: Matcher,
}

impl PowerSupplyClass {
    pub fn new(paths: Paths, ignored: Matcher) -> Self {
        PowerSupplyClass { paths, ignored }
    }
}

impl Collector for PowerSupplyClass {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let class = self.paths.sys("class/power_supply");
        let names = class_entries(&class, "/sys/class/power_supply")?;
        let supplies = names
            .iter()
            .filter(|n| !self.ignored.is_match(n))
            .map(|n| read_supply(&class.join(n), n))
            .collect::<Result<Vec<_>, _>>()?;
        for s in &supplies {
            for (suffix, v) in &s.values {
                out.gauge(
                    intern::concat(&["node_power_supply_", suffix]),
                    intern::concat(&[suffix, " value of /sys/class/power_supply/<power_supply>."]),
                )
                .add(&[("power_supply", &s.name)], *v);
            }
            let mut labels: Vec<(&'static str, &str)> = vec![("power_supply", &s.name)];
            labels.extend(s.info.iter().map(|(k, v)| (*k, v.as_str())));
            out.gauge(
                "node_power_supply_info",
                "info of /sys/class/power_supply/<power_supply>.",
            )
            .add(&labels, 1.0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_battery_in_node_exporter_units() {
        let dir = tempfile::tempdir().unwrap();
        for (f, v) in [
            ("type", "Battery"),
            ("status", "Charging"),
            ("voltage_now", "12174000"),
            ("energy_now", "31210000"),
            ("temp", "291"),
            ("serial_number", "  981 "),
            ("manufacturer", ""),
        ] {
            std::fs::write(dir.path().join(f), format!("{v}\n")).unwrap();
        }
        let s = read_supply(dir.path(), "BAT0").unwrap();
        assert_eq!(
            s.values,
            [
                ("energy_watthour", 31.21),
                ("voltage_volt", 12.174),
                ("temp_celsius", 29.1)
            ]
        );
        assert_eq!(
            s.info,
            [
                ("serial_number", "981".to_owned()),
                ("status", "Charging".to_owned()),
                ("type", "Battery".to_owned())
            ]
        );
        std::fs::write(dir.path().join("capacity"), "full\n").unwrap();
        let e = read_supply(dir.path(), "BAT0").unwrap_err().to_string();
        assert!(e.contains("capacity"), "{e}");
    }
}
