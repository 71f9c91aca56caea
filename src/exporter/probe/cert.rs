//! Reads a certificate's expiry (`notAfter`) from its DER encoding.
//!
//! The TLS probe needs exactly one field of each certificate the server
//! presents, so this walks the X.509 structure just far enough
//! (`Certificate → tbsCertificate → validity → notAfter`) instead of pulling
//! in a full certificate parser. Pure and allocation-free.

/// Why a certificate's expiry could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed certificate: {0}")]
pub struct CertError(&'static str);

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const VERSION: u8 = 0xa0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// The certificate's `notAfter` as Unix seconds.
pub fn not_after(der: &[u8]) -> Result<i64, CertError> {
    let (cert, _) = tlv(der, SEQUENCE)?;
    let (tbs, _) = tlv(cert, SEQUENCE)?;
    let mut rest = tbs;
    if rest.first() == Some(&VERSION) {
        rest = tlv(rest, VERSION)?.1;
    }
    rest = tlv(rest, INTEGER)?.1; // serialNumber
    rest = tlv(rest, SEQUENCE)?.1; // signature
    rest = tlv(rest, SEQUENCE)?.1; // issuer
    let (validity, _) = tlv(rest, SEQUENCE)?;
    let tag_of = |b: &[u8]| b.first().copied().ok_or(CertError("truncated validity"));
    let (_, after_not_before) = tlv(validity, tag_of(validity)?)?;
    let tag = tag_of(after_not_before)?;
    let (time, _) = tlv(after_not_before, tag)?;
    match tag {
        UTC_TIME => parse_time(time, 2),
        GENERALIZED_TIME => parse_time(time, 4),
        _ => Err(CertError("notAfter is not a time")),
    }
}

/// One DER element with tag `tag`: its contents and what follows it.
fn tlv(input: &[u8], tag: u8) -> Result<(&[u8], &[u8]), CertError> {
    let (&t, rest) = input.split_first().ok_or(CertError("truncated"))?;
    if t != tag {
        return Err(CertError("unexpected tag"));
    }
    let (&first, mut rest) = rest.split_first().ok_or(CertError("truncated length"))?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(CertError("bad length"));
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return Err(CertError("truncated contents"));
    }
    Ok(rest.split_at(len))
}

/// `YYMMDDHHMMSSZ` (`year_digits` 2, UTCTime) or `YYYYMMDDHHMMSSZ` (4).
fn parse_time(s: &[u8], year_digits: usize) -> Result<i64, CertError> {
    let bad = CertError("bad time");
    if s.len() != year_digits + 11 || s.last() != Some(&b'Z') {
        return Err(bad);
    }
    let num = |from: usize, len: usize| -> Result<i64, CertError> {
        s[from..from + len].iter().try_fold(0i64, |acc, &b| {
            b.is_ascii_digit()
                .then(|| acc * 10 + i64::from(b - b'0'))
                .ok_or(CertError("bad time"))
        })
    };
    let mut year = num(0, year_digits)?;
    if year_digits == 2 {
        // RFC 5280: 50-99 are 19xx, 00-49 are 20xx.
        year += if year >= 50 { 1900 } else { 2000 };
    }
    let at = year_digits;
    let (month, day) = (num(at, 2)?, num(at + 2, 2)?);
    let (hour, min, sec) = (num(at + 4, 2)?, num(at + 6, 2)?, num(at + 8, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return Err(bad);
    }
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_expiring(year: i32, month: u8, day: u8) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params.not_after = rcgen::date_time_ymd(year, month, day);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn reads_not_after_of_real_certificates() {
        // UTCTime (before 2050) and GeneralizedTime (from 2050 on).
        assert_eq!(
            not_after(&cert_expiring(2031, 5, 17)).unwrap(),
            1_936_742_400
        );
        assert_eq!(
            not_after(&cert_expiring(2051, 1, 2)).unwrap(),
            2_556_230_400
        );
    }

    #[test]
    fn civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(parse_time(b"700101000001Z", 2), Ok(1));
        assert_eq!(parse_time(b"20000229235959Z", 4), Ok(951_868_799));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(not_after(b"").is_err());
        assert!(not_after(&[0x30, 0x82, 0xff]).is_err());
        assert!(not_after(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
        let mut der = cert_expiring(2031, 5, 17);
        der.truncate(40);
        assert!(not_after(&der).is_err());
        assert!(parse_time(b"3113320000Z", 2).is_err());
    }
}
