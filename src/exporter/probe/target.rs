//! What a probe target is, and the one strict parser every way of naming a
//! target goes through (`/probe?target=`, `--probe.target`, the targets file).
//!
//! A target is `HOST:PORT`: a hostname (RFC 1123 letters, digits, hyphens
//! and dots), a dotted-quad IPv4 address, or a bracketed IPv6 address
//! (`[::1]:22`), and a port 1–65535. There is no scheme, path, userinfo,
//! zone id or whitespace, and no other spelling of an address: `127.1`,
//! `2130706433` and `0x7f000001` are refused rather than handed to the
//! resolver (glibc's `getaddrinfo` would turn each into 127.0.0.1). So the
//! exporter connects to exactly the host and port the user wrote.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The longest target accepted, in bytes (a DNS name is at most 253).
pub const MAX_TARGET_LEN: usize = 255;

/// Where a target points.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name, resolved at probe time (lower-cased, without a trailing dot).
    Name(String),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

/// One validated `HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub host: Host,
    pub port: u16,
}

/// Why a target was refused. Messages are safe to show to a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("target is empty")]
    Empty,
    #[error("target is longer than {MAX_TARGET_LEN} characters")]
    TooLong,
    #[error("target must be HOST:PORT, not a URL")]
    Url,
    #[error("target must not contain whitespace or control characters")]
    Whitespace,
    #[error("target must not contain userinfo (@)")]
    Userinfo,
    #[error("target must not contain a path, query or fragment")]
    Path,
    #[error("target must be HOST:PORT (missing :PORT)")]
    MissingPort,
    #[error("port {0:?} is not a number in 1-65535")]
    Port(String),
    #[error("IPv6 addresses must be bracketed, e.g. [::1]:22")]
    UnbracketedV6,
    #[error("invalid IPv6 address {0:?}")]
    V6(String),
    #[error("invalid host {host:?}: {why}")]
    Host { host: String, why: &'static str },
}

impl Target {
    /// Parses and validates `HOST:PORT` (see the module docs).
    pub fn parse(s: &str) -> Result<Target, TargetError> {
        if s.is_empty() {
            return Err(TargetError::Empty);
        }
        if s.len() > MAX_TARGET_LEN {
            return Err(TargetError::TooLong);
        }
        if s.contains("://") {
            return Err(TargetError::Url);
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(TargetError::Whitespace);
        }
        if s.contains('@') {
            return Err(TargetError::Userinfo);
        }
        if s.contains(['/', '?', '#', '\\']) {
            return Err(TargetError::Path);
        }
        if let Some(rest) = s.strip_prefix('[') {
            let (addr, after) = rest
                .split_once(']')
                .ok_or_else(|| TargetError::V6(s.to_owned()))?;
            let port = after.strip_prefix(':').ok_or(TargetError::MissingPort)?;
            let ip: Ipv6Addr = addr.parse().map_err(|_| TargetError::V6(addr.to_owned()))?;
            return Ok(Target {
                host: Host::V6(ip),
                port: parse_port(port)?,
            });
        }
        let (host, port) = s.rsplit_once(':').ok_or(TargetError::MissingPort)?;
        if host.contains(':') {
            return Err(TargetError::UnbracketedV6);
        }
        Ok(Target {
            host: parse_host(host)?,
            port: parse_port(port)?,
        })
    }

    /// The host as written for TLS SNI and logs (no brackets).
    pub fn host_str(&self) -> String {
        match &self.host {
            Host::Name(n) => n.clone(),
            Host::V4(ip) => ip.to_string(),
            Host::V6(ip) => ip.to_string(),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Name(n) => write!(f, "{n}:{}", self.port),
            Host::V4(ip) => write!(f, "{ip}:{}", self.port),
            Host::V6(ip) => write!(f, "[{ip}]:{}", self.port),
        }
    }
}

fn parse_port(s: &str) -> Result<u16, TargetError> {
    let bad = || TargetError::Port(s.to_owned());
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match s.parse::<u32>() {
        Ok(p @ 1..=65535) => Ok(p as u16),
        _ => Err(bad()),
    }
}

fn parse_host(s: &str) -> Result<Host, TargetError> {
    let bad = |why| TargetError::Host {
        host: s.to_owned(),
        why,
    };
    if s.is_empty() {
        return Err(bad("empty host"));
    }
    if let Ok(ip) = s.parse::<Ipv4Addr>() {
        return Ok(Host::V4(ip));
    }
    let name = s.strip_suffix('.').unwrap_or(s);
    if name.is_empty() || name.len() > 253 {
        return Err(bad("a hostname is 1-253 characters"));
    }
    let mut last = "";
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(bad("each dot-separated label is 1-63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(bad("only letters, digits, hyphens and dots are allowed"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(bad("a label must not start or end with a hyphen"));
        }
        last = label;
    }
    // The resolver reads `127.1`, `2130706433` or `0x7f000001` as IPv4
    // addresses; a real top-level label never starts with a digit.
    if last.as_bytes()[0].is_ascii_digit() {
        return Err(bad(
            "not a hostname (last label starts with a digit) and not a dotted-quad IPv4 address",
        ));
    }
    Ok(Host::Name(name.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_targets_parse_and_print_back() {
        for (input, shown) in [
            ("localhost:22", "localhost:22"),
            ("DB1.Example.com:5432", "db1.example.com:5432"),
            ("example.com.:443", "example.com:443"),
            ("127.0.0.1:9100", "127.0.0.1:9100"),
            ("[::1]:22", "[::1]:22"),
            ("[2001:db8::1]:65535", "[2001:db8::1]:65535"),
            ("1password.com:1", "1password.com:1"),
            ("a-b.c:80", "a-b.c:80"),
        ] {
            assert_eq!(Target::parse(input).unwrap().to_string(), shown, "{input}");
        }
        assert_eq!(
            Target::parse("[::1]:22").unwrap().host,
            Host::V6(Ipv6Addr::LOCALHOST)
        );
    }

    #[test]
    fn bad_targets_are_refused_with_the_reason() {
        use TargetError as E;
        let long = format!("{}.com:80", "a".repeat(260));
        type Check = fn(&TargetError) -> bool;
        let cases: &[(&str, Check)] = &[
            ("", |e| *e == E::Empty),
            (&long, |e| *e == E::TooLong),
            ("http://example.com:80", |e| *e == E::Url),
            ("tcp://127.0.0.1:22", |e| *e == E::Url),
            ("example.com:80/path", |e| *e == E::Path),
            ("example.com:80?x=1", |e| *e == E::Path),
            ("user@example.com:80", |e| *e == E::Userinfo),
            ("user:pw@127.0.0.1:80", |e| *e == E::Userinfo),
            ("exa mple.com:80", |e| *e == E::Whitespace),
            ("example.com:80\n", |e| *e == E::Whitespace),
            ("example.com", |e| *e == E::MissingPort),
            ("example.com:0", |e| matches!(e, E::Port(_))),
            ("example.com:65536", |e| matches!(e, E::Port(_))),
            ("example.com:+80", |e| matches!(e, E::Port(_))),
            ("example.com:", |e| matches!(e, E::Port(_))),
            ("::1:22", |e| *e == E::UnbracketedV6),
            ("[::1]", |e| *e == E::MissingPort),
            ("[::1%eth0]:22", |e| matches!(e, E::V6(_))),
            ("[nonsense]:22", |e| matches!(e, E::V6(_))),
            (":80", |e| matches!(e, E::Host { .. })),
            ("127.1:80", |e| matches!(e, E::Host { .. })),
            ("2130706433:80", |e| matches!(e, E::Host { .. })),
            ("0x7f000001:80", |e| matches!(e, E::Host { .. })),
            ("256.0.0.1:80", |e| matches!(e, E::Host { .. })),
            ("-bad.com:80", |e| matches!(e, E::Host { .. })),
            ("bad_name.com:80", |e| matches!(e, E::Host { .. })),
            ("a..b:80", |e| matches!(e, E::Host { .. })),
        ];
        for (input, ok) in cases {
            let err = Target::parse(input).expect_err(input);
            assert!(ok(&err), "{input:?} gave {err:?}");
        }
    }
}
