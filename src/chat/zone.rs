//! The chat's time zone (`--timezone`): an IANA name such as `UTC` or
//! `Europe/Berlin` turned into a [`TimeZone`], and the name shown in chart
//! captions and axes.
//!
//! Zones come from jiff, which reads the system's tz database
//! (`$TZDIR`, else `/usr/share/zoneinfo`: Debian package `tzdata`, which the
//! distroless image has too) and caches each zone once read. Not chrono-tz:
//! it compiles the whole tz database into Rust statics whose transition
//! records each hold a `&'static str` abbreviation ("CET", "EST"), and in a
//! position-independent executable each of those pointers (about 29,000 of
//! the 38,000 relocations in `.data.rel.ro`) is relocated at startup, which
//! dirtied about 1.1 MB of `.data.rel.ro` in every outpost process, the
//! exporter on every host included (a running exporter's private dirty
//! memory went from 1.56 MB to 0.58 MB; BENCHMARKS.md, "Time zones").
//! TZif files hold no pointers.
//!
//! No copy of the database is bundled (jiff's `tzdb-bundle-always`): the
//! system's copy gets tzdata updates, and every supported target has one.
//! Without one, `UTC` still works and any other name is refused at startup
//! with a message that says why.
//!
//! Lookups ignore ASCII case (`europe/berlin` works) and show the canonical
//! name.

use std::borrow::Cow;

use jiff::tz::{TimeZone, TimeZoneDatabase};

/// Why a `--timezone` name was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    #[error("{0:?} is not an IANA zone name such as UTC or Europe/Berlin")]
    Unknown(String),
    #[error(
        "{0:?} is not known: no tz database was found ($TZDIR or \
         /usr/share/zoneinfo, Debian package tzdata), so only UTC works"
    )]
    NoDatabase(String),
}

/// The zone named `name` in the system's tz database.
pub fn parse(name: &str) -> Result<TimeZone, ZoneError> {
    lookup(jiff::tz::db(), name)
}

/// The zone named `name` in `db`. `UTC`, the default, needs no database
/// (jiff's lookups fail when it found none). `Etc/Unknown` (jiff's stand-in
/// for "could not tell") is refused like any unknown name.
fn lookup(db: &TimeZoneDatabase, name: &str) -> Result<TimeZone, ZoneError> {
    if name.eq_ignore_ascii_case("UTC") {
        return Ok(TimeZone::UTC);
    }
    match db.get(name) {
        Ok(tz) if !tz.is_unknown() && tz.iana_name().is_some() => Ok(tz),
        _ if db.is_definitively_empty() => Err(ZoneError::NoDatabase(name.to_string())),
        _ => Err(ZoneError::Unknown(name.to_string())),
    }
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
            assert_eq!(parse(bad), Err(ZoneError::Unknown(bad.into())));
        }
        assert_eq!(
            ZoneError::Unknown("Mars/Olympus".into()).to_string(),
            r#""Mars/Olympus" is not an IANA zone name such as UTC or Europe/Berlin"#
        );
    }

    #[test]
    fn without_a_database_only_utc_works() {
        let none = TimeZoneDatabase::none();
        assert_eq!(lookup(&none, "UTC"), Ok(TimeZone::UTC));
        let err = lookup(&none, "Europe/Berlin").unwrap_err();
        assert_eq!(err, ZoneError::NoDatabase("Europe/Berlin".into()));
        assert!(err.to_string().contains("tzdata"), "{err}");
    }
}
