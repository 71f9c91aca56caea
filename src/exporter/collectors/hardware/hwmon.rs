//! `hwmon`: hardware sensors from `/sys/class/hwmon/hwmon*/` (temperatures,
//! fans, voltages, currents, power, energy, humidity, alarms), named as
//! node_exporter names them (`node_hwmon_temp_celsius{chip,sensor}`,
//! `node_hwmon_chip_names{chip,chip_name}`, `node_hwmon_sensor_label`).
//!
//! Decisions, all node_exporter's so the series are the same:
//! - A chip is named after its device (`platform_coretemp_0`,
//!   `nvme_nvme0`), which is stable and unique, falling back to the chip's
//!   `name` file, then to `hwmonN`. Two chips with the same `name` (two
//!   NVMe drives) stay apart by device; `node_hwmon_chip_names` maps each
//!   to its human name.
//! - A sensor keeps its file name (`temp1`) even when it has a label; the
//!   label goes to `node_hwmon_sensor_label`, as the driver wrote it.
//! - Attributes in the chip's `device/` directory count too (old drivers).
//! - An attribute that cannot be read (`EINVAL` from a sensor without a
//!   reading) or is not a number is left out, never an error.
//! - A host without `/sys/class/hwmon` reports no data.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::exporter::collector::{AttrDir, CollectError, Collector, Paths};
use crate::exporter::fasthash::FastMap;
use crate::exporter::intern;
use crate::exporter::matcher::DeviceFilter;
use crate::exporter::metrics::Metrics;

/// The sensor types node_exporter reads (the prefix of an attribute file).
const TYPES: [&str; 13] = [
    "vrm",
    "beep_enable",
    "update_interval",
    "in",
    "cpu",
    "fan",
    "pwm",
    "temp",
    "curr",
    "power",
    "energy",
    "humidity",
    "intrusion",
];

/// One chip: its `chip` label, its human name, and its sensors' attributes
/// (`temp1` → `crit` → `"100000"`; the bare value's property is `""`).
#[derive(Debug, Default, PartialEq)]
pub struct Chip {
    pub chip: String,
    pub chip_name: Option<String>,
    pub sensors: BTreeMap<String, BTreeMap<String, String>>,
}

/// node_exporter's `cleanMetricName`: lower case, anything but
/// `[a-z0-9:_]` as `_`, no leading or trailing `_`.
pub fn clean(name: &str) -> String {
    let mut s = String::new();
    clean_into(name, &mut s);
    s
}

/// [`clean`], appended to `out`.
fn clean_into(name: &str, out: &mut String) {
    let start = out.len();
    for c in name.chars().flat_map(char::to_lowercase) {
        let keep = c.is_ascii_lowercase() || c.is_ascii_digit() || c == ':' || c == '_';
        out.push(if keep { c } else { '_' });
    }
    let end = out.trim_end_matches('_').len().max(start);
    out.truncate(end);
    let leading = out[start..].len() - out[start..].trim_start_matches('_').len();
    out.drain(start..start + leading);
}

/// Splits an attribute file name into `(type, number, property)`:
/// `temp1_crit_alarm` → `("temp", 1, "crit_alarm")`, `beep_enable` →
/// `("beep_enable", 0, "")`.
pub fn split_attribute(file: &str) -> Option<(&str, u32, &str)> {
    let digits_at = file
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(file.len());
    if digits_at == 0 {
        return None;
    }
    let (kind, rest) = file.split_at(digits_at);
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (digits, rest) = rest.split_at(digits_end);
    let property = match rest {
        "" => "",
        r => r.strip_prefix('_').filter(|p| !p.is_empty())?,
    };
    let number = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    Some((kind, number, property))
}

/// Reads a sensor attribute as node_exporter does: one read of at most 128
/// bytes, newlines trimmed. `None` when unreadable (`EINVAL`, a directory).
fn read_value(path: &Path) -> Option<String> {
    crate::exporter::openfiles::read_with(path, true, |b| {
        let b = &b[..b.len().min(128)];
        std::str::from_utf8(b)
            .ok()
            .map(|s| s.trim_matches('\n').to_owned())
    })
    .ok()?
}

/// Adds the sensor attributes of one directory, listed as `listing`, to
/// `sensors`.
fn collect_attributes(
    dir: &Path,
    listing: &[std::ffi::OsString],
    sensors: &mut BTreeMap<String, BTreeMap<String, String>>,
) {
    let mut attrs = AttrDir::new(dir);
    let mut sensor = String::new();
    for file in listing.iter() {
        let Some(file) = file.to_str() else { continue };
        let Some((kind, number, property)) = split_attribute(file) else {
            continue;
        };
        if !TYPES.contains(&kind) {
            continue;
        }
        if let Some(value) = read_value(attrs.path(file)) {
            use std::fmt::Write;
            sensor.clear();
            let _ = write!(sensor, "{kind}{number}");
            let properties = match sensors.get_mut(sensor.as_str()) {
                Some(properties) => properties,
                None => sensors.entry(sensor.clone()).or_default(),
            };
            properties.insert(property.to_owned(), value);
        }
    }
}

/// A chip's label as last worked out, with what it was worked out from:
/// the `hwmonN` entry's link target and the chip's `name`.
struct KeptLabel {
    link: PathBuf,
    human_name: Option<String>,
    label: Option<String>,
}

/// The last label per chip directory (see [`chip_label`]).
static LABELS: Mutex<Option<FastMap<PathBuf, KeptLabel>>> = Mutex::new(None);

/// [`label_of`] of `dir`, remembered while the `hwmonN` entry links to the
/// same device path and the chip's `name` is the same.
///
/// Decisions: resolving the two paths costs a `readlink` per path
/// component (about 15 per chip, 107 per scrape on the fixture tree);
/// checking the entry's own link costs one. A chip re-created for another
/// device (`hwmonN` renumbered after a module reload) links elsewhere; an
/// entry that is no symlink (a fixture tree) is resolved every time.
fn chip_label(dir: &Path, human_name: Option<&str>) -> Option<String> {
    let Ok(link) = std::fs::read_link(dir) else {
        return label_of(dir, human_name);
    };
    let mut guard = LABELS.lock().unwrap_or_else(|e| e.into_inner());
    let kept = guard.get_or_insert_with(FastMap::default);
    if let Some(k) = kept.get(dir) {
        if k.link == link && k.human_name.as_deref() == human_name {
            return k.label.clone();
        }
    }
    let label = label_of(dir, human_name);
    if kept.len() < 256 {
        kept.insert(
            dir.to_owned(),
            KeptLabel {
                link,
                human_name: human_name.map(str::to_owned),
                label: label.clone(),
            },
        );
    }
    label
}

/// The chip's `chip` label: from its device's path, else its `name` file,
/// else the `hwmonN` directory's own name.
fn label_of(dir: &Path, human_name: Option<&str>) -> Option<String> {
    if let Ok(device) = std::fs::canonicalize(dir.join("device")) {
        let name = device.file_name().map(|n| clean(&n.to_string_lossy()));
        let kind = device
            .parent()
            .and_then(Path::file_name)
            .map(|n| clean(&n.to_string_lossy()));
        match (kind, name) {
            (Some(k), Some(n)) if !k.is_empty() && !n.is_empty() => {
                return Some(format!("{k}_{n}"))
            }
            (_, Some(n)) if !n.is_empty() => return Some(n),
            _ => {}
        }
    }
    if let Some(name) = human_name {
        return Some(name.to_owned());
    }
    let real = std::fs::canonicalize(dir).ok()?;
    let name = clean(&real.file_name()?.to_string_lossy());
    (!name.is_empty()).then_some(name)
}

/// The chip's `name` file, cleaned (`nvme`, `coretemp`).
fn human_name(dir: &Path) -> Option<String> {
    let raw = crate::exporter::openfiles::read_with(&dir.join("name"), true, |b| {
        String::from_utf8_lossy(b).into_owned()
    })
    .ok()?;
    let name = clean(&raw);
    (!name.is_empty()).then_some(name)
}

/// Reads one `hwmonN` directory (`None`: not a directory).
pub fn read_chip(dir: &Path) -> Result<Option<Chip>, CollectError> {
    read_chip_filtered(dir, &Filters::default())
}

/// `--collector.hwmon.chip-include|exclude` and
/// `--collector.hwmon.sensor-include|exclude`. A sensor is matched as
/// `CHIP;SENSOR` (`platform_coretemp_0;temp3`), as node_exporter does.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub chips: DeviceFilter,
    pub sensors: DeviceFilter,
}

/// Whether a failed listing means "no directory there" (an entry that is
/// no directory, or one gone since it was listed).
fn not_a_directory(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(nix::libc::ENOENT | nix::libc::ENOTDIR)
    )
}

/// Reads one `hwmonN` directory through `filters`; `None` when it is no
/// directory (node_exporter passes over such an entry) or the chip is
/// filtered out (its attributes are then not read).
///
/// Decisions: the entry is listed first, and a listing that fails because
/// it is no directory (or is gone) is what tells; a `stat` of every entry
/// beforehand (as node_exporter does) walked each `hwmonN` link through
/// sysfs once more per scrape, and the listing is needed anyway.
pub fn read_chip_filtered(dir: &Path, filters: &Filters) -> Result<Option<Chip>, CollectError> {
    let io = |source| CollectError::Read {
        path: dir.to_owned(),
        source,
    };
    let listing = match crate::exporter::openfiles::list_dir(dir) {
        Ok(listing) => listing,
        Err(e) if not_a_directory(&e) => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let chip_name = human_name(dir);
    let chip = chip_label(dir, chip_name.as_deref())
        .ok_or_else(|| CollectError::Other(format!("no name for hwmon chip {}", dir.display())))?;
    if filters.chips.ignored(&chip) {
        return Ok(None);
    }
    let mut sensors = BTreeMap::new();
    collect_attributes(dir, &listing, &mut sensors);
    let device = dir.join("device");
    match crate::exporter::openfiles::list_dir(&device) {
        Ok(listing) => collect_attributes(&device, &listing, &mut sensors),
        // No device directory (a virtual chip), or `device` is not one.
        Err(e) if not_a_directory(&e) => {}
        Err(e) => return Err(io(e)),
    }
    if filters.sensors.include.is_some() || filters.sensors.exclude.is_some() {
        let mut key = String::new();
        sensors.retain(|sensor, _| {
            key.clear();
            key.push_str(&chip);
            key.push(';');
            key.push_str(sensor);
            !filters.sensors.ignored(&key)
        });
    }
    Ok(Some(Chip {
        chip,
        chip_name,
        sensors,
    }))
}

/// A family name and help text built from parts, kept once (see `intern`).
fn text(parts: &[&str]) -> std::borrow::Cow<'static, str> {
    intern::concat(parts)
}

/// Adds one chip's metrics, as node_exporter's `updateHwmon` does.
pub fn encode(chip: &Chip, out: &mut Metrics) {
    let c = chip.chip.as_str();
    if let Some(name) = &chip.chip_name {
        out.gauge(
            "node_hwmon_chip_names",
            "Annotation metric for human-readable chip names",
        )
        .add(&[("chip", c), ("chip_name", name)], 1.0);
    }
    let mut cleaned = String::new();
    for (sensor, attrs) in &chip.sensors {
        let labels = [("chip", c), ("sensor", sensor.as_str())];
        if let Some(label) = attrs.get("label").filter(|l| !l.is_empty()) {
            out.gauge("node_hwmon_sensor_label", "Label for given chip and sensor")
                .add(&[("chip", c), ("sensor", sensor), ("label", label)], 1.0);
        }
        let kind = split_attribute(sensor).map_or("", |(k, _, _)| k);
        let bare = attrs.get("").map(String::as_str);
        match kind {
            "beep_enable" => {
                let v = if bare == Some("1") { 1.0 } else { 0.0 };
                out.gauge("node_hwmon_beep_enabled", "Hardware beep enabled")
                    .add(&labels, v);
                continue;
            }
            "vrm" => {
                if let Some(v) = bare.and_then(|v| v.parse::<f64>().ok()) {
                    out.gauge(
                        "node_hwmon_voltage_regulator_version",
                        "Hardware voltage regulator",
                    )
                    .add(&labels, v);
                }
                continue;
            }
            "update_interval" => {
                if let Some(v) = bare.and_then(|v| v.parse::<f64>().ok()) {
                    out.gauge(
                        "node_hwmon_update_interval_seconds",
                        "Hardware monitor update interval",
                    )
                    .add(&labels, v * 0.001);
                }
                continue;
            }
            _ => {}
        }
        for (element, value) in attrs {
            if element == "label" {
                continue;
            }
            let Ok(v) = value.parse::<f64>() else {
                continue;
            };
            let suffix: &str = match element.as_str() {
                "input" if bare.is_some() => "_input",
                "input" | "" => "",
                e => {
                    cleaned.clear();
                    cleaned.push('_');
                    clean_into(e, &mut cleaned);
                    &cleaned
                }
            };
            let name = |unit: &str| text(&["node_hwmon_", kind, suffix, unit]);
            let e = element.as_str();
            let (name, help, value, counter) = match (kind, e) {
                (_, "fault" | "alarm") => (
                    name(""),
                    text(&["Hardware sensor ", e, " status (", kind, ")"]),
                    v,
                    false,
                ),
                (_, "beep") => (
                    name("_enabled"),
                    "Hardware monitor sensor has beeping enabled".into(),
                    v,
                    false,
                ),
                ("in" | "cpu", _) => (
                    name("_volts"),
                    text(&["Hardware monitor for voltage (", e, ")"]),
                    v * 0.001,
                    false,
                ),
                ("temp", e) if e != "type" => (
                    name("_celsius"),
                    text(&[
                        "Hardware monitor for temperature (",
                        if e.is_empty() { "input" } else { e },
                        ")",
                    ]),
                    v * 0.001,
                    false,
                ),
                ("curr", _) => (
                    name("_amps"),
                    text(&["Hardware monitor for current (", e, ")"]),
                    v * 0.001,
                    false,
                ),
                ("energy", _) => (
                    name("_joule_total"),
                    text(&["Hardware monitor for joules used so far (", e, ")"]),
                    v / 1000000.0,
                    true,
                ),
                ("power", "accuracy") => (
                    name(""),
                    "Hardware monitor power meter accuracy, as a ratio".into(),
                    v / 1000000.0,
                    false,
                ),
                ("power", "average_interval" | "average_interval_min" | "average_interval_max") => (
                    name("_seconds"),
                    text(&["Hardware monitor power usage update interval (", e, ")"]),
                    v * 0.001,
                    false,
                ),
                ("power", _) => (
                    name("_watt"),
                    text(&["Hardware monitor for power usage in watts (", e, ")"]),
                    v / 1000000.0,
                    false,
                ),
                ("humidity", _) => (
                    name(""),
                    text(&[
                        "Hardware monitor for humidity, as a ratio (multiply with 100.0 to get the humidity as a percentage) (",
                        e,
                        ")",
                    ]),
                    v / 1000000.0,
                    false,
                ),
                ("fan", "input" | "min" | "max" | "target") => (
                    name("_rpm"),
                    text(&["Hardware monitor for fan revolutions per minute (", e, ")"]),
                    v,
                    false,
                ),
                _ => (
                    name(""),
                    text(&["Hardware monitor ", kind, " element ", e]),
                    v,
                    false,
                ),
            };
            let fam = if counter {
                out.counter(name, help)
            } else {
                out.gauge(name, help)
            };
            fam.add(&labels, value);
        }
    }
}

pub struct Hwmon {
    paths: Paths,
    filters: Filters,
}

impl Hwmon {
    pub fn new(paths: Paths, filters: Filters) -> Self {
        Hwmon { paths, filters }
    }
}

impl Collector for Hwmon {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let class = self.paths.sys("class/hwmon");
        let entries = match crate::exporter::openfiles::list_dir(&class) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CollectError::NoData("/sys/class/hwmon"))
            }
            Err(source) => {
                return Err(CollectError::Read {
                    path: class,
                    source,
                })
            }
        };
        // Entries that are no directory are passed over by
        // `read_chip_filtered` when listing them fails.
        let mut dirs: Vec<_> = entries.iter().map(|name| class.join(name)).collect();
        dirs.sort();
        let chips = dirs
            .iter()
            .filter_map(|d| read_chip_filtered(d, &self.filters).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        for chip in &chips {
            encode(chip, out);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_names_split_as_node_exporter_splits_them() {
        assert_eq!(
            split_attribute("temp1_crit_alarm"),
            Some(("temp", 1, "crit_alarm"))
        );
        assert_eq!(split_attribute("in0_input"), Some(("in", 0, "input")));
        assert_eq!(split_attribute("pwm1"), Some(("pwm", 1, "")));
        assert_eq!(split_attribute("beep_enable"), Some(("beep_enable", 0, "")));
        assert_eq!(split_attribute("temp01_input"), Some(("temp", 1, "input")));
        assert_eq!(split_attribute("temp1x"), None);
        assert_eq!(split_attribute("1temp"), None);
        assert_eq!(clean("Package id 0\n"), "package_id_0");
        assert_eq!(clean("ACPI000D:00"), "acpi000d:00");
        assert_eq!(clean(" "), "");
        assert_eq!(clean("__Core 0__"), "core_0");
        // Lower-cased as `str::to_lowercase` does, then trimmed.
        assert_eq!(clean("_Temp İ_"), "temp_i");
        let mut out = "node_".to_owned();
        clean_into("-X-", &mut out);
        assert_eq!(out, "node_x");
    }

    fn write(dir: &Path, file: &str, text: &str) {
        crate::exporter::collector::write_fixture(&dir.join(file), text);
    }

    #[test]
    fn a_chip_reads_into_its_sensors_and_encodes_with_units() {
        let root = tempfile::tempdir().unwrap();
        let dev = root.path().join("devices/platform/coretemp.0");
        let hw = dev.join("hwmon/hwmon1");
        write(&hw, "name", "coretemp\n");
        write(&hw, "temp1_input", "52000\n");
        write(&hw, "temp1_label", "Package id 0\n");
        write(&hw, "temp1_crit", "100000\n");
        write(&hw, "temp2_input", "49500\n");
        write(&hw, "fan1_input", "1198\n");
        write(&hw, "fan1_pulses", "2\n");
        write(&hw, "power1_model_number", "ACPI000D\n");
        // An attribute whose read fails (a directory here; EINVAL on a
        // real chip) is skipped.
        std::fs::create_dir_all(hw.join("temp9_input")).unwrap();
        std::os::unix::fs::symlink("../../../coretemp.0", hw.join("device")).unwrap();

        let chip = read_chip(&hw).unwrap().unwrap();
        assert_eq!(chip.chip, "platform_coretemp_0");
        assert_eq!(chip.chip_name.as_deref(), Some("coretemp"));
        assert!(!chip.sensors.contains_key("temp9"));
        let mut m = Metrics::new();
        encode(&chip, &mut m);
        let temp = m.get("node_hwmon_temp_celsius").unwrap();
        assert_eq!(temp.len(), 2);
        assert_eq!(temp.sample(0).label("sensor"), Some("temp1"));
        assert_eq!(temp.sample(0).value, 52.0);
        assert_eq!(temp.sample(1).value, 49.5);
        assert_eq!(
            m.get("node_hwmon_temp_crit_celsius")
                .unwrap()
                .sample(0)
                .value,
            100.0
        );
        let label = m.get("node_hwmon_sensor_label").unwrap().sample(0);
        assert_eq!(label.label("label"), Some("Package id 0"));
        assert_eq!(m.get("node_hwmon_fan_rpm").unwrap().sample(0).value, 1198.0);
        assert!(m.get("node_hwmon_fan_pulses").is_some());
        assert!(m.get("node_hwmon_power_model_number_watt").is_none());
    }

    #[test]
    fn a_chip_linked_to_another_device_is_labelled_afresh() {
        let root = tempfile::tempdir().unwrap();
        for dev in ["platform/coretemp.0", "pci0000:00/nvme0"] {
            let hw = root.path().join("devices").join(dev).join("hwmon/hwmon1");
            write(&hw, "temp1_input", "1000\n");
            std::os::unix::fs::symlink(
                "../../../".to_owned() + dev.rsplit('/').next().unwrap(),
                hw.join("device"),
            )
            .unwrap();
        }
        let class = root.path().join("class/hwmon");
        std::fs::create_dir_all(&class).unwrap();
        let entry = class.join("hwmon1");
        let link = |dev: &str| {
            let _ = std::fs::remove_file(&entry);
            std::os::unix::fs::symlink(format!("../../devices/{dev}/hwmon/hwmon1"), &entry)
                .unwrap();
        };
        link("platform/coretemp.0");
        assert_eq!(
            read_chip(&entry).unwrap().unwrap().chip,
            "platform_coretemp_0"
        );
        assert_eq!(
            read_chip(&entry).unwrap().unwrap().chip,
            "platform_coretemp_0"
        );
        // The same hwmonN, re-created for another device.
        link("pci0000:00/nvme0");
        assert_eq!(read_chip(&entry).unwrap().unwrap().chip, "pci0000:00_nvme0");
    }

    #[test]
    fn class_entries_that_are_no_directory_are_passed_over() {
        let root = tempfile::tempdir().unwrap();
        let class = root.path().join("class/hwmon");
        let hw = root
            .path()
            .join("devices/virtual/thermal/thermal_zone0/hwmon0");
        write(&hw, "name", "acpitz\n");
        write(&hw, "temp1_input", "27800\n");
        std::fs::create_dir_all(&class).unwrap();
        std::os::unix::fs::symlink(
            "../../devices/virtual/thermal/thermal_zone0/hwmon0",
            class.join("hwmon0"),
        )
        .unwrap();
        // A dangling link (a chip gone) and a plain file: no chips, no error.
        std::os::unix::fs::symlink("../../devices/gone/hwmon1", class.join("hwmon1")).unwrap();
        write(&class, "hwmon2", "not a chip\n");
        assert_eq!(read_chip(&class.join("hwmon1")).unwrap(), None);
        assert_eq!(read_chip(&class.join("hwmon2")).unwrap(), None);
        let paths = Paths {
            sysfs: root.path().into(),
            ..Paths::default()
        };
        let mut m = Metrics::new();
        Hwmon::new(paths, Filters::default())
            .update(&mut m)
            .unwrap();
        let temps = m.get("node_hwmon_temp_celsius").unwrap();
        assert_eq!(temps.len(), 1);
        assert_eq!(temps.sample(0).value, 27.8);
        assert_eq!(
            m.get("node_hwmon_chip_names").unwrap().len(),
            1,
            "only hwmon0 is a chip"
        );
    }

    #[test]
    fn chips_without_a_device_are_named_by_their_name_file() {
        let root = tempfile::tempdir().unwrap();
        let hw = root.path().join("hwmon0");
        write(&hw, "name", "acpitz\n");
        write(&hw, "temp1_input", "27800\n");
        assert_eq!(read_chip(&hw).unwrap().unwrap().chip, "acpitz");
        let bare = root.path().join("hwmon7");
        write(&bare, "temp1_input", "1000\n");
        assert_eq!(read_chip(&bare).unwrap().unwrap().chip, "hwmon7");
    }

    #[test]
    fn chip_and_sensor_filters_follow_node_exporter() {
        use crate::exporter::matcher::Matcher;
        let root = tempfile::tempdir().unwrap();
        let dev = root.path().join("devices/platform/coretemp.0");
        let hw = dev.join("hwmon/hwmon1");
        write(&hw, "name", "coretemp\n");
        write(&hw, "temp1_input", "52000\n");
        write(&hw, "temp2_input", "49500\n");
        write(&hw, "fan1_input", "1198\n");
        std::os::unix::fs::symlink("../../../coretemp.0", hw.join("device")).unwrap();
        let re = |p: &str| Some(Matcher::new(p).unwrap());
        let sensors = |f: Filters| -> Option<Vec<String>> {
            read_chip_filtered(&hw, &f)
                .unwrap()
                .map(|c| c.sensors.into_keys().collect())
        };
        assert_eq!(
            sensors(Filters::default()).unwrap(),
            ["fan1", "temp1", "temp2"]
        );
        let chips = |include, exclude| Filters {
            chips: DeviceFilter { include, exclude },
            sensors: DeviceFilter::default(),
        };
        assert_eq!(
            sensors(chips(re("^platform_coretemp"), None))
                .unwrap()
                .len(),
            3
        );
        assert_eq!(sensors(chips(re("^nvme"), None)), None);
        assert_eq!(sensors(chips(None, re("coretemp"))), None);
        let by_sensor = |include, exclude| Filters {
            chips: DeviceFilter::default(),
            sensors: DeviceFilter { include, exclude },
        };
        assert_eq!(
            sensors(by_sensor(None, re("^platform_coretemp_0;temp2$"))).unwrap(),
            ["fan1", "temp1"]
        );
        assert_eq!(
            sensors(by_sensor(re(";temp"), None)).unwrap(),
            ["temp1", "temp2"]
        );
        // The sensor is matched with its chip: a bare sensor name anchored
        // at the start matches nothing.
        assert!(sensors(by_sensor(re("^temp1$"), None)).unwrap().is_empty());
    }
}
