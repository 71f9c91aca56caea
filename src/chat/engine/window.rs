//! Chart windows: the pure time maths behind `[minutes] [hhmm]`.

use jiff::civil::{Date, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::Timestamp;

use crate::chat::commands::TimeOfDay;

/// The chart window: the last `minutes`, or `minutes` centred on `at`
/// today in the configured zone (yesterday when that time is still to
/// come), never reaching past now.
///
/// Daylight saving: a time the clocks skip that day (a gap, 02:30 on
/// the spring-forward day in Berlin) centres on now instead; a time
/// that occurs twice (a fold, 02:30 on the fall-back day) means the
/// earlier one, still on summer time.
pub fn window(tz: &TimeZone, now: Timestamp, minutes: u32, at: Option<TimeOfDay>) -> (f64, f64) {
    let span = f64::from(minutes) * 60.0;
    let now_s = now.as_second() as f64;
    let Some(at) = at else {
        return (now_s - span, now_s);
    };
    let today = tz.to_datetime(now).date();
    let centre_on = |date: Date| {
        let time = Time::new(
            i8::try_from(at.hour).ok()?,
            i8::try_from(at.minute).ok()?,
            0,
            0,
        )
        .ok()?;
        let local = date.to_datetime(time);
        let offset = match tz.to_ambiguous_timestamp(local).offset() {
            AmbiguousOffset::Unambiguous { offset } => offset,
            AmbiguousOffset::Fold { before, .. } => before,
            AmbiguousOffset::Gap { .. } => return None,
        };
        let t = offset.to_timestamp(local).ok()?;
        Some(t.as_second() as f64)
    };
    let mut centre = centre_on(today).unwrap_or(now_s);
    if centre > now_s {
        centre = today.yesterday().ok().and_then(centre_on).unwrap_or(now_s);
    }
    (centre - span / 2.0, (centre + span / 2.0).min(now_s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::zone;

    struct Zone(TimeZone);
    impl Zone {
        fn window(&self, now: Timestamp, minutes: u32, at: Option<TimeOfDay>) -> (f64, f64) {
            window(&self.0, now, minutes, at)
        }
    }

    #[test]
    fn chart_window_centres_on_time_of_day_in_zone() {
        let e = Zone(zone::parse("Europe/Berlin").unwrap());
        // 12:00 UTC = 13:00 Berlin (winter)
        let now: Timestamp = "2026-11-22T12:00:00Z".parse().unwrap();
        let n = now.as_second() as f64;
        assert_eq!(e.window(now, 5, None), (n - 300.0, n));
        // 12:30 Berlin = 11:30 UTC, 10 min around it
        let (s, t) = e.window(
            now,
            10,
            Some(TimeOfDay {
                hour: 12,
                minute: 30,
            }),
        );
        assert_eq!((s, t), (n - 1800.0 - 300.0, n - 1800.0 + 300.0));
        // close to now: the window ends at now
        let (s, t) = e.window(
            now,
            60,
            Some(TimeOfDay {
                hour: 13,
                minute: 0,
            }),
        );
        assert_eq!((s, t), (n - 1800.0, n));
        // later today → yesterday
        let (_, t) = e.window(
            now,
            10,
            Some(TimeOfDay {
                hour: 20,
                minute: 0,
            }),
        );
        assert_eq!(t, n - 86400.0 + 7.0 * 3600.0 + 300.0);
    }

    #[test]
    fn chart_window_across_daylight_saving_changes() {
        let e = Zone(zone::parse("Europe/Berlin").unwrap());
        let at = |hour, minute| Some(TimeOfDay { hour, minute });
        let secs = |s: &str| s.parse::<Timestamp>().unwrap().as_second() as f64;
        // 2026-03-29: clocks go 02:00 CET → 03:00 CEST. 12:00 UTC = 14:00.
        let now: Timestamp = "2026-03-29T12:00:00Z".parse().unwrap();
        let n = now.as_second() as f64;
        // 02:30 does not exist that day: the window ends at now
        assert_eq!(e.window(now, 10, at(2, 30)), (n - 300.0, n));
        // before the change on winter time, after it on summer time
        let c = secs("2026-03-29T00:30:00Z");
        assert_eq!(e.window(now, 10, at(1, 30)), (c - 300.0, c + 300.0));
        let c = secs("2026-03-29T01:30:00Z");
        assert_eq!(e.window(now, 10, at(3, 30)), (c - 300.0, c + 300.0));
        // later today → yesterday 20:00, still winter time
        let c = secs("2026-03-28T19:00:00Z");
        assert_eq!(e.window(now, 10, at(20, 0)), (c - 300.0, c + 300.0));
        // just after the change, 02:30 is still to come today, and
        // yesterday's 02:30 is the one that did not exist: now
        let now: Timestamp = "2026-03-30T00:10:00Z".parse().unwrap();
        let n = now.as_second() as f64;
        assert_eq!(e.window(now, 10, at(2, 30)), (n - 300.0, n));

        // 2026-10-25: clocks go 03:00 CEST → 02:00 CET; 02:30 occurs twice
        // and means the earlier one (CEST, 00:30 UTC), not 01:30 UTC.
        let now: Timestamp = "2026-10-25T12:00:00Z".parse().unwrap();
        let c = secs("2026-10-25T00:30:00Z");
        assert_eq!(e.window(now, 10, at(2, 30)), (c - 300.0, c + 300.0));
        let c = secs("2026-10-25T02:30:00Z");
        assert_eq!(e.window(now, 10, at(3, 30)), (c - 300.0, c + 300.0));
        // a time of day that cannot be: now (the parser refuses it anyway)
        let n = now.as_second() as f64;
        assert_eq!(e.window(now, 10, at(24, 0)), (n - 300.0, n));
    }

    #[test]
    fn chart_window_in_utc_and_half_hour_zones() {
        let now: Timestamp = "2026-11-22T12:00:00Z".parse().unwrap();
        let n = now.as_second() as f64;
        let at = Some(TimeOfDay {
            hour: 11,
            minute: 0,
        });
        assert_eq!(
            Zone(zone::parse("UTC").unwrap()).window(now, 10, at),
            (n - 3900.0, n - 3300.0)
        );
        // 11:00 in Kolkata (UTC+5:30) = 05:30 UTC
        let c = n - 6.5 * 3600.0;
        assert_eq!(
            Zone(zone::parse("Asia/Kolkata").unwrap()).window(now, 10, at),
            (c - 300.0, c + 300.0)
        );
    }
}
