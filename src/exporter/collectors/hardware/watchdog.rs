//! `watchdog`: hardware watchdogs from `/sys/class/watchdog/<name>/`
//! (node_exporter 1.7+): `node_watchdog_{bootstatus,fw_version,nowayout,
//! timeleft_seconds,timeout_seconds,pretimeout_seconds,access_cs0}{name}`
//! for each attribute the driver provides, and `node_watchdog_info` with
//! the text attributes as labels.
//!
//! Decisions: as node_exporter, numbers are read as Go's `ParseInt(s, 0,
//! 64)` does (`0x`/`0o`/`0b` prefixes, a leading `0` for octal), a missing
//! attribute is left out and a number that does not parse fails the
//! collector; no `/sys/class/watchdog` exports nothing.

use crate::exporter::collector::{class_entries, read_if_present, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

/// The numeric attributes: file and metric suffix.
const NUMBERS: [(&str, &str); 7] = [
    ("bootstatus", "bootstatus"),
    ("fw_version", "fw_version"),
    ("nowayout", "nowayout"),
    ("timeleft", "timeleft_seconds"),
    ("timeout", "timeout_seconds"),
    ("pretimeout", "pretimeout_seconds"),
    ("access_cs0", "access_cs0"),
];

/// The text attributes, in `node_watchdog_info`'s label order.
const TEXTS: [&str; 5] = [
    "options",
    "identity",
    "state",
    "status",
    "pretimeout_governor",
];

/// One watchdog device.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Device {
    pub name: String,
    /// Per [`NUMBERS`], in order.
    pub numbers: [Option<i64>; 7],
    /// Per [`TEXTS`], in order; `""` when absent.
    pub texts: [String; 5],
}

/// Parses an integer as Go's `strconv.ParseInt(s, 0, 64)`.
pub fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_owned())
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_owned())
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_owned())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_owned())
    } else {
        (10, lower)
    };
    let digits = digits.replace('_', "");
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = i128::from_str_radix(&digits, radix).ok()?;
    i64::try_from(if neg { -magnitude } else { magnitude }).ok()
}

/// Builds a device from its attributes (`read` gives a file's trimmed
/// content, `None` when absent).
pub fn parse(
    name: &str,
    mut read: impl FnMut(&str) -> Result<Option<String>, CollectError>,
) -> Result<Device, CollectError> {
    let mut dev = Device {
        name: name.to_owned(),
        ..Device::default()
    };
    for (slot, (file, _)) in dev.numbers.iter_mut().zip(NUMBERS) {
        if let Some(v) = read(file)? {
            *slot = Some(parse_go_int(&v).ok_or_else(|| {
                CollectError::parse(
                    format!("watchdog {name} {file}"),
                    format!("not an integer: {v:?}"),
                )
            })?);
        }
    }
    for (slot, file) in dev.texts.iter_mut().zip(TEXTS) {
        *slot = read(file)?.unwrap_or_default();
    }
    Ok(dev)
}

pub struct Watchdog {
    paths: Paths,
}

impl Watchdog {
    pub fn new(paths: Paths) -> Self {
        Watchdog { paths }
    }
}

impl Collector for Watchdog {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let class = self.paths.sys("class/watchdog");
        let mut devices = Vec::new();
        for name in class_entries(&class, "/sys/class/watchdog")? {
            let dir = class.join(&name);
            devices.push(parse(&name, |file| {
                Ok(read_if_present(&dir.join(file))?.map(|v| v.trim().to_owned()))
            })?);
        }
        for (i, (file, suffix)) in NUMBERS.iter().enumerate() {
            for dev in &devices {
                if let Some(v) = dev.numbers[i] {
                    out.gauge(
                        format!("node_watchdog_{suffix}"),
                        format!("Value of /sys/class/watchdog/<watchdog>/{file}"),
                    )
                    .add(&[("name", &dev.name)], v as f64);
                }
            }
        }
        for dev in &devices {
            let t = &dev.texts;
            out.gauge(
                "node_watchdog_info",
                "Info of /sys/class/watchdog/<watchdog>",
            )
            .add(
                &[
                    ("name", &dev.name),
                    ("options", &t[0]),
                    ("identity", &t[1]),
                    ("state", &t[2]),
                    ("status", &t[3]),
                    ("pretimeout_governor", &t[4]),
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
    fn reads_numbers_as_go_does_and_texts_as_labels() {
        assert_eq!(parse_go_int("30"), Some(30));
        assert_eq!(parse_go_int("0x8000"), Some(0x8000));
        assert_eq!(parse_go_int("010"), Some(8));
        assert_eq!(parse_go_int("-5"), Some(-5));
        assert_eq!(parse_go_int("0"), Some(0));
        assert_eq!(parse_go_int("ten"), None);
        assert_eq!(parse_go_int(""), None);

        let attrs = [
            ("timeout", "60"),
            ("timeleft", "57"),
            ("identity", "iTCO_wdt"),
            ("options", "0x8380"),
            ("state", "active"),
        ];
        let dev = parse("watchdog0", |f| {
            Ok(attrs
                .iter()
                .find(|(k, _)| *k == f)
                .map(|(_, v)| v.to_string()))
        })
        .unwrap();
        assert_eq!(dev.numbers[4], Some(60));
        assert_eq!(dev.numbers[3], Some(57));
        assert_eq!(dev.numbers[0], None);
        assert_eq!(
            dev.texts,
            ["0x8380", "iTCO_wdt", "active", "", ""].map(String::from)
        );
        assert!(parse("w", |f| Ok((f == "timeout").then(|| "1m".to_owned()))).is_err());
    }
}
