//! `time`: the system clock (`node_time_seconds`), the local time zone and
//! its offset (`node_time_zone_offset_seconds{time_zone}`, from `TZ` or
//! `/etc/localtime`, like Go's `time.Local`), and the clock sources in
//! `/sys/devices/system/clocksource/clocksource<N>/`
//! (`node_time_clocksource_{available,current}_info{device,clocksource}`).
//!
//! Decisions:
//! - Without `TZ`, the zone is read from `/etc/localtime` itself (through
//!   `openfiles`: a zone file replaced is seen at once, the link re-pointed
//!   at another zone within `openfiles::ORDINARY_FOR`, a minute) and parsed
//!   only when its bytes change. jiff's `TimeZone::system()` first
//!   works out the zone's IANA name, and for that lists the whole zoneinfo
//!   database (900 files here), keeps the list (~110 KB of heap for the
//!   process's life, a tenth of the scrape thread's live memory on the
//!   fixture tree) and lists it again every five minutes. The metric needs
//!   only the abbreviation and offset, which the TZif data holds.
//! - With `TZ` set (a name, a path or a POSIX rule), jiff's own handling
//!   is kept.
//! - No or unreadable `/etc/localtime` is UTC, as for Go's `time.Local`
//!   and jiff.
//! - Whether `TZ` is set is read once, when the collector is made: a
//!   process's environment does not change from outside, and Go reads it
//!   once for `time.Local` too. Asking on every scrape took the standard
//!   library's environment lock and ran C's `getenv`, whose code then kept
//!   64 KiB of the C library resident for that alone.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use jiff::tz::TimeZone;

use crate::exporter::collector::{read_attr, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

/// One `clocksource<N>` directory.
#[derive(Debug, PartialEq)]
pub struct ClockSource {
    pub device: String,
    pub available: Vec<String>,
    pub current: String,
}

/// Reads every `clocksource<N>` under `dir`, ordered by N. No directory
/// (no sysfs, or a kernel without it) means no clock sources.
pub fn read_clocksources(dir: &Path) -> Vec<ClockSource> {
    let Ok(entries) = crate::exporter::openfiles::list_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(u32, ClockSource)> = entries
        .iter()
        .filter_map(|name| {
            let n: u32 = name.to_str()?.strip_prefix("clocksource")?.parse().ok()?;
            let path = dir.join(name);
            Some((
                n,
                ClockSource {
                    device: n.to_string(),
                    available: read_attr(&path.join("available_clocksource"))
                        .unwrap_or_default()
                        .split_whitespace()
                        .map(str::to_owned)
                        .collect(),
                    current: read_attr(&path.join("current_clocksource"))?,
                },
            ))
        })
        .collect();
    out.sort_by_key(|(n, _)| *n);
    out.into_iter().map(|(_, c)| c).collect()
}

pub fn encode_clocksources(sources: &[ClockSource], out: &mut Metrics) {
    for cs in sources {
        for a in &cs.available {
            out.gauge(
                "node_time_clocksource_available_info",
                "Available clocksources read from '/sys/devices/system/clocksource'.",
            )
            .add(&[("device", &cs.device), ("clocksource", a)], 1.0);
        }
        out.gauge(
            "node_time_clocksource_current_info",
            "Current clocksource read from '/sys/devices/system/clocksource'.",
        )
        .add(&[("device", &cs.device), ("clocksource", &cs.current)], 1.0);
    }
}

/// The local time zone: `TZ` through jiff, else `/etc/localtime`'s TZif
/// data, kept with the bytes it was parsed from.
pub struct LocalZone {
    path: PathBuf,
    /// `TZ` was set when the zone was made.
    from_env: bool,
    kept: Mutex<Option<(Box<[u8]>, TimeZone)>>,
}

impl LocalZone {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        LocalZone {
            path: path.into(),
            from_env: std::env::var_os("TZ").is_some(),
            kept: Mutex::new(None),
        }
    }

    /// The zone now.
    pub fn get(&self) -> TimeZone {
        if self.from_env {
            return TimeZone::system();
        }
        self.in_file()
    }

    /// The zone `path` holds; UTC if it cannot be read or is not TZif.
    fn in_file(&self) -> TimeZone {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let read = crate::exporter::openfiles::read_with(&self.path, false, |data| match &*kept {
            Some((bytes, tz)) if **bytes == *data => tz.clone(),
            _ => {
                let tz = TimeZone::tzif("Local", data).unwrap_or(TimeZone::UTC);
                *kept = Some((data.into(), tz.clone()));
                tz
            }
        });
        read.unwrap_or(TimeZone::UTC)
    }
}

pub struct Time {
    paths: Paths,
    zone: LocalZone,
}

impl Time {
    pub fn new(paths: Paths) -> Self {
        Time {
            paths,
            zone: LocalZone::new("/etc/localtime"),
        }
    }
}

impl Collector for Time {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        // The zone's abbreviation and offset at this instant, as `%Z` and
        // the offset of `Zoned::now()` give them, without building a
        // `Zoned` and running the strftime machinery for one field: that
        // was ~130 allocations and ~10 µs per scrape.
        let now = jiff::Timestamp::now();
        let tz = self.zone.get();
        let info = tz.to_offset_info(now);
        let zone = info.abbreviation();
        let offset = info.offset().seconds();
        let seconds = now.as_nanosecond() as f64 / 1e9;
        let sources = read_clocksources(&self.paths.sys("devices/system/clocksource"));
        out.gauge(
            "node_time_seconds",
            "System time in seconds since epoch (1970).",
        )
        .add(&[], seconds);
        out.gauge(
            "node_time_zone_offset_seconds",
            "System time zone offset in seconds.",
        )
        .add(&[("time_zone", zone)], f64::from(offset));
        encode_clocksources(&sources, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_clock_sources() {
        let dir = tempfile::tempdir().unwrap();
        let cs = dir.path().join("clocksource0");
        std::fs::create_dir_all(&cs).unwrap();
        std::fs::write(cs.join("available_clocksource"), "kvm-clock tsc \n").unwrap();
        std::fs::write(cs.join("current_clocksource"), "tsc\n").unwrap();
        std::fs::create_dir_all(dir.path().join("power")).unwrap();
        let got = read_clocksources(dir.path());
        assert_eq!(
            got,
            [ClockSource {
                device: "0".into(),
                available: vec!["kvm-clock".into(), "tsc".into()],
                current: "tsc".into()
            }]
        );
        assert!(read_clocksources(&dir.path().join("missing")).is_empty());
    }

    /// A TZif (RFC 8536) version 1 file for a zone with one fixed offset.
    fn tzif(abbreviation: &str, offset: i32) -> Vec<u8> {
        let mut f = b"TZif".to_vec();
        f.extend([0; 16]); // version 1, reserved
                           // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
        for count in [0, 0, 0, 0, 1, abbreviation.len() as u32 + 1] {
            f.extend(count.to_be_bytes());
        }
        f.extend(offset.to_be_bytes());
        f.extend([0, 0]); // not daylight saving; designation at index 0
        f.extend(abbreviation.as_bytes());
        f.push(0);
        f
    }

    #[test]
    fn the_zone_follows_the_localtime_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("localtime");
        let zone = LocalZone::new(&path);
        let at = |zone: &LocalZone| {
            let tz = zone.in_file();
            let info = tz.to_offset_info(jiff::Timestamp::now());
            (info.abbreviation().to_owned(), info.offset().seconds())
        };
        // No file: UTC, as for Go's `time.Local`.
        assert_eq!(at(&zone), ("UTC".to_owned(), 0));
        std::fs::write(&path, tzif("ABC", 3600)).unwrap();
        assert_eq!(at(&zone), ("ABC".to_owned(), 3600));
        assert_eq!(at(&zone), ("ABC".to_owned(), 3600));
        // Replaced (a link re-pointed, as `timedatectl` does): the new zone.
        let next = dir.path().join("next");
        std::fs::write(&next, tzif("XYZ", -7 * 3600)).unwrap();
        std::fs::rename(&next, &path).unwrap();
        assert_eq!(at(&zone), ("XYZ".to_owned(), -7 * 3600));
        // Not TZif: UTC, not an error.
        std::fs::write(&path, "garbage").unwrap();
        assert_eq!(at(&zone), ("UTC".to_owned(), 0));
    }

    #[test]
    fn the_clock_is_now() {
        let mut m = Metrics::new();
        Time::new(Paths::default()).update(&mut m).unwrap();
        let t = m.get("node_time_seconds").unwrap().sample(0).value;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!((t - now).abs() < 5.0);
        let zone = m.get("node_time_zone_offset_seconds").unwrap();
        assert_eq!(zone.len(), 1);
        // The same abbreviation and offset as formatting the zoned time
        // with `%Z` gives.
        let zoned = jiff::Zoned::now();
        assert_eq!(
            zone.sample(0).label("time_zone"),
            Some(zoned.strftime("%Z").to_string().as_str())
        );
        assert_eq!(zone.sample(0).value, f64::from(zoned.offset().seconds()));
    }
}
