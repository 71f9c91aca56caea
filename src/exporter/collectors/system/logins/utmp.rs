//! The utmp file (`/run/utmp`): glibc's fixed 384-byte `struct utmp`
//! records on Linux (x86-64 and aarch64 alike), read and — for tests and
//! stand-ins — written.
//!
//! Decisions: parsed here rather than with the `utmp-rs` crate: the format
//! is a dozen fixed fields at fixed offsets (utmp(5)), the crate adds
//! zerocopy and a second `thiserror` major for them, and only
//! `USER_PROCESS` records matter to us.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The size of one record.
pub const RECORD: usize = 384;
/// `ut_type` of a logged-in session.
pub const USER_PROCESS: i16 = 7;
/// `ut_type` of a slot whose session ended.
pub const DEAD_PROCESS: i16 = 8;

const LINE: std::ops::Range<usize> = 8..40;
const USER: std::ops::Range<usize> = 44..76;
const HOST: std::ops::Range<usize> = 76..332;
const TV_SEC: usize = 340;
const TV_USEC: usize = 344;
const ADDR: std::ops::Range<usize> = 348..364;

/// One utmp record, as much of it as we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: i16,
    pub pid: i32,
    /// The terminal: `pts/0`, `tty1`, `:0`.
    pub line: String,
    pub user: String,
    /// The remote host name or address, or an X display (`:0`); empty locally.
    pub host: String,
    /// Login time: seconds and microseconds since the epoch.
    pub seconds: i64,
    pub micros: i32,
    /// `ut_addr_v6`: the remote address, when the login program filled it.
    pub addr: Option<IpAddr>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{len} bytes is not a whole number of {RECORD}-byte utmp records")]
pub struct Truncated {
    pub len: usize,
}

fn text(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn addr(b: &[u8]) -> Option<IpAddr> {
    let raw: [u8; 16] = b.try_into().ok()?;
    if raw == [0; 16] {
        None
    } else if raw[4..] == [0; 12] {
        // An IPv4 address in the first word, in network order.
        Some(IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3])))
    } else {
        Some(IpAddr::V6(Ipv6Addr::from(raw)))
    }
}

/// Every record of a utmp file. A trailing partial record (a writer caught
/// mid-write) is an error naming the length.
pub fn parse(bytes: &[u8]) -> Result<Vec<Entry>, Truncated> {
    if bytes.len() % RECORD != 0 {
        return Err(Truncated { len: bytes.len() });
    }
    Ok(bytes
        .chunks_exact(RECORD)
        .map(|r| Entry {
            kind: i16::from_ne_bytes([r[0], r[1]]),
            pid: i32_at(r, 4),
            line: text(&r[LINE]),
            user: text(&r[USER]),
            host: text(&r[HOST]),
            seconds: i64::from(i32_at(r, TV_SEC)),
            micros: i32_at(r, TV_USEC),
            addr: addr(&r[ADDR]),
        })
        .collect())
}

fn put(dst: &mut [u8], s: &str) {
    let n = s.len().min(dst.len());
    dst[..n].copy_from_slice(&s.as_bytes()[..n]);
}

/// The record's bytes, as login(3) writes them.
pub fn encode(e: &Entry) -> [u8; RECORD] {
    let mut r = [0u8; RECORD];
    r[0..2].copy_from_slice(&e.kind.to_ne_bytes());
    r[4..8].copy_from_slice(&e.pid.to_ne_bytes());
    put(&mut r[LINE], &e.line);
    // ut_id: the line's last four characters, as login(3) does.
    let id = e.line.trim_start_matches("pts/").trim_start_matches("tty");
    put(&mut r[40..44], id);
    put(&mut r[USER], &e.user);
    put(&mut r[HOST], &e.host);
    r[TV_SEC..TV_SEC + 4].copy_from_slice(&(e.seconds as i32).to_ne_bytes());
    r[TV_USEC..TV_USEC + 4].copy_from_slice(&e.micros.to_ne_bytes());
    match e.addr {
        Some(IpAddr::V4(a)) => r[ADDR.start..ADDR.start + 4].copy_from_slice(&a.octets()),
        Some(IpAddr::V6(a)) => r[ADDR].copy_from_slice(&a.octets()),
        None => {}
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssh() -> Entry {
        Entry {
            kind: USER_PROCESS,
            pid: 4242,
            line: "pts/3".into(),
            user: "alice".into(),
            host: "198.51.100.7".into(),
            seconds: 1_780_000_000,
            micros: 250_000,
            addr: Some("198.51.100.7".parse().unwrap()),
        }
    }

    #[test]
    fn records_round_trip_at_the_glibc_offsets() {
        let v6 = Entry {
            addr: Some("2001:db8::5".parse().unwrap()),
            host: "2001:db8::5".into(),
            ..ssh()
        };
        let mut file = encode(&ssh()).to_vec();
        file.extend(encode(&v6));
        assert_eq!(parse(&file).unwrap(), vec![ssh(), v6]);
        // Fixed offsets: the user name starts at byte 44, the host at 76.
        let r = encode(&ssh());
        assert_eq!(&r[44..49], b"alice");
        assert_eq!(&r[76..88], b"198.51.100.7");
        assert_eq!(&r[348..352], &[198, 51, 100, 7]);
    }

    #[test]
    fn a_partial_record_is_an_error() {
        let mut file = encode(&ssh()).to_vec();
        file.truncate(200);
        assert_eq!(parse(&file), Err(Truncated { len: 200 }));
        assert_eq!(parse(&[]).unwrap(), vec![]);
    }
}
