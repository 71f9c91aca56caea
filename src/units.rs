//! Durations and sizes as people write them in flags and config files
//! (`5s`, `2m`, `4MiB`): shared by the command line, agents.txt and the
//! exporter's actions file, so none of them depends on another for it.

use std::time::Duration;

/// Parses `500ms`, `5s`, `2m`, `1h` (and plain seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. 500ms, 5s, 2m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => {
            return Err(format!(
                "invalid duration unit in {s:?}: use ms, s, m, h or d"
            ))
        }
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("invalid duration {s:?}"));
    }
    // Not `from_secs_f64`: it panics on a value too large for a Duration.
    Duration::try_from_secs_f64(secs).map_err(|_| format!("invalid duration {s:?}: too long"))
}

/// A size in bytes, written as a whole number with an optional binary
/// unit: `B`, `KiB`, `MiB` or `GiB` (`4MiB`, `512KiB`, `1048576`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

const SIZE_UNITS: [(&str, u64); 4] = [
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("B", 1),
];

impl std::str::FromStr for Size {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let at = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(at);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("invalid size {s:?}: expected e.g. 512KiB, 4MiB or bytes"))?;
        let scale = match unit.trim() {
            "" => 1,
            u => SIZE_UNITS
                .iter()
                .find(|(name, _)| *name == u)
                .map(|(_, scale)| *scale)
                .ok_or_else(|| format!("invalid size unit in {s:?}: use B, KiB, MiB or GiB"))?,
        };
        n.checked_mul(scale)
            .map(Size)
            .ok_or_else(|| format!("invalid size {s:?}: too large"))
    }
}

/// In the largest unit that divides it exactly (`4MiB`), as `--help` shows it.
impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (name, scale) = SIZE_UNITS
            .iter()
            .find(|(_, scale)| self.0 != 0 && self.0 % scale == 0)
            .unwrap_or(&("B", 1));
        write!(f, "{}{name}", self.0 / scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5y").is_err());
        assert!(
            parse_duration("1e300d").is_err(),
            "too long is an error, not a panic"
        );
        for (text, bytes, shown) in [
            ("4MiB", 4 << 20, "4MiB"),
            ("512KiB", 512 << 10, "512KiB"),
            ("1000", 1000, "1000B"),
            ("1025 B", 1025, "1025B"),
            ("0", 0, "0B"),
        ] {
            let size: Size = text.parse().unwrap();
            assert_eq!(size, Size(bytes), "{text}");
            assert_eq!(size.to_string(), shown);
        }
        for bad in ["", "4MB", "-1", "1.5MiB", "99999999999GiB"] {
            assert!(bad.parse::<Size>().is_err(), "{bad}");
        }
    }
}
