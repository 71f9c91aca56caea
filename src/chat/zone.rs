//! The chat's time zone (`--timezone`): an IANA name such as `UTC` or
//! `Europe/Berlin` turned into a [`TimeZone`], and the name shown in chart
//! captions and axes.
//!
//! Zones come from jiff, which reads the system's tz database
//! (`/usr/share/zoneinfo`, Debian package `tzdata`; the distroless image has
//! it too) and caches each zone once read. Not chrono-tz: it compiles the
//! whole tz database into Rust statics whose transition records each hold a
//! `&'static str` abbreviation ("CET", "EST"), and in a position-independent
//! executable each of those ~33,000 pointers is relocated at startup, which
//! dirtied about 1.1 MB of `.data.rel.ro` in every outpost process, the
//! exporter on every host included. TZif files hold no pointers.
//!
//! Lookups ignore ASCII case (`europe/berlin` works) and show the canonical
//! name. `UTC` works even without a tz database; any other zone needs one.

use std::borrow::Cow;

use jiff::tz::TimeZone;

/// The zone named `name`, or `None` when the tz database has no such zone.
/// `Etc/Unknown` (jiff's stand-in for "could not tell") is refused too.
pub fn parse(name: &str) -> Option<TimeZone> {
    TimeZone::get(name)
        .ok()
        .filter(|tz| !tz.is_unknown() && tz.iana_name().is_some())
}

/// The IANA name of a zone from [`parse`] (or [`TimeZone::UTC`]), as shown
/// to users. A zone without a name, such as a fixed offset, which `parse`
/// never returns, shows as its offset (`+05:30`).
pub fn name(tz: &TimeZone) -> Cow<'_, str> {
    match tz.iana_name() {
        Some(name) => Cow::Borrowed(name),
        None => Cow::Owned(
            tz.to_fixed_offset()
                .map_or_else(|_| "?".to_string(), |o| o.to_string()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iana_names_and_utc() {
        let berlin = parse("Europe/Berlin").expect("tzdata has Europe/Berlin");
        assert_eq!(name(&berlin), "Europe/Berlin");
        assert_eq!(name(&parse("europe/BERLIN").unwrap()), "Europe/Berlin");
        let utc = parse("UTC").unwrap();
        assert_eq!(utc, TimeZone::UTC);
        assert_eq!(name(&utc), "UTC");
        assert_eq!(name(&TimeZone::UTC), "UTC");
        let fixed = TimeZone::fixed(jiff::tz::Offset::from_seconds(19800).unwrap());
        assert_eq!(name(&fixed), "+05:30");
        assert_eq!(
            name(&parse("Asia/Kolkata").unwrap()),
            "Asia/Kolkata",
            "half-hour offsets work"
        );
    }

    #[test]
    fn unknown_names_are_refused() {
        for bad in [
            "Mars/Olympus",
            "",
            " UTC",
            "Etc/Unknown",
            "CET-1CEST",
            "../etc/passwd",
        ] {
            assert!(parse(bad).is_none(), "{bad:?} accepted");
        }
    }
}
