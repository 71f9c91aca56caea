//! `outpost healthcheck URL`: one plain-HTTP GET that exits 0 on a 2xx
//! answer and 1 otherwise. It exists so that a container image holding only
//! the `outpost` binary (no shell, no curl) can have a Docker `HEALTHCHECK`,
//! and so that `scripts/up` can wait for health on a machine without curl.
//!
//! Only `http://` is spoken: health checks run on loopback next to the
//! server. An exporter behind TLS or basic auth needs a health check of its
//! own (see docs/deployment.md).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::cli::HealthcheckArgs;

/// Why a health check failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unsupported URL {0:?}: expected http://HOST:PORT/PATH")]
    Url(String),
    #[error("cannot resolve {addr}")]
    Resolve {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot connect to {addr}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("talking to {addr}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
    #[error("malformed HTTP answer from {addr}: {line:?}")]
    Answer { addr: String, line: String },
    #[error("{url} answered {status}")]
    Status { url: String, status: u16 },
}

/// An `http://` URL split into what the request needs.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    /// `host:port` to connect to (brackets kept for IPv6).
    pub addr: String,
    /// The `Host` header value.
    pub host: String,
    /// Path and query, at least `/`.
    pub path: String,
}

/// Parses `http://HOST[:PORT][/PATH]` (port 80 when absent).
pub fn parse_url(url: &str) -> Result<Target, Error> {
    let bad = || Error::Url(url.to_string());
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(bad());
    }
    let has_port = match authority.rfind(']') {
        Some(close) => authority[close..].contains(':'),
        None => authority.contains(':'),
    };
    let addr = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok(Target {
        addr,
        host: authority.to_string(),
        path: path.to_string(),
    })
}

/// The status code of an HTTP/1.x status line (`HTTP/1.1 200 OK`).
pub fn parse_status_line(line: &str) -> Option<u16> {
    let mut words = line.split_whitespace();
    if !words.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let code = words.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

/// GETs `url` within `timeout`; `Ok(())` on a 2xx answer.
pub fn check(url: &str, timeout: Duration) -> Result<(), Error> {
    let target = parse_url(url)?;
    let deadline = Instant::now() + timeout;
    let addrs: Vec<_> = target
        .addr
        .to_socket_addrs()
        .map_err(|source| Error::Resolve {
            addr: target.addr.clone(),
            source,
        })?
        .collect();
    let mut last = None;
    let mut stream = None;
    for a in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        match TcpStream::connect_timeout(&a, left.max(Duration::from_millis(1))) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let io = |source| Error::Io {
        addr: target.addr.clone(),
        source,
    };
    let mut stream = stream.ok_or_else(|| Error::Connect {
        addr: target.addr.clone(),
        source: last.unwrap_or_else(|| std::io::Error::other("no address")),
    })?;
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    stream.set_read_timeout(Some(left)).map_err(io)?;
    stream.set_write_timeout(Some(left)).map_err(io)?;
    let request = format!(
        "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: outpost-healthcheck\r\nConnection: close\r\n\r\n",
        target.path, target.host
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    // The status line is all we need; read until its end (or 1 KiB).
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 1024 {
        let n = stream.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let line = text.lines().next().unwrap_or("").to_string();
    let status = parse_status_line(&line).ok_or_else(|| Error::Answer {
        addr: target.addr.clone(),
        line,
    })?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(Error::Status {
            url: url.to_string(),
            status,
        })
    }
}

/// Entry point of `outpost healthcheck`.
pub fn main(args: HealthcheckArgs) -> anyhow::Result<()> {
    if let Err(err @ Error::Url(_)) = parse_url(&args.url) {
        return Err(crate::UsageError(err.to_string()).into());
    }
    check(&args.url, args.timeout)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        assert_eq!(
            parse_url("http://127.0.0.1:9100/metrics").unwrap(),
            Target {
                addr: "127.0.0.1:9100".into(),
                host: "127.0.0.1:9100".into(),
                path: "/metrics".into()
            }
        );
        let t = parse_url("http://[::1]:9187").unwrap();
        assert_eq!((t.addr.as_str(), t.path.as_str()), ("[::1]:9187", "/"));
        assert_eq!(parse_url("http://[::1]/x").unwrap().addr, "[::1]:80");
        assert_eq!(
            parse_url("http://localhost/-/ready?a=b").unwrap().path,
            "/-/ready?a=b"
        );
        for bad in ["https://x/", "x:9100", "http:///metrics", "http://u:p@x/"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(parse_status_line("HTTP/1.1 200 OK"), Some(200));
        assert_eq!(
            parse_status_line("HTTP/1.0 503 Service Unavailable"),
            Some(503)
        );
        assert_eq!(parse_status_line("SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status_line("HTTP/1.1 2000"), None);
        assert_eq!(parse_status_line(""), None);
    }

    /// A one-shot loopback server answering `answer` to the first request.
    fn serve_once(answer: &'static str) -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(answer.as_bytes());
        });
        format!("http://{addr}/-/ready")
    }

    #[test]
    fn a_2xx_answer_is_healthy_anything_else_is_not() {
        let ok = serve_once("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        check(&ok, Duration::from_secs(5)).unwrap();
        let down = serve_once("HTTP/1.1 503 Service Unavailable\r\n\r\n");
        assert!(matches!(
            check(&down, Duration::from_secs(5)),
            Err(Error::Status { status: 503, .. })
        ));
        let junk = serve_once("hello\r\n");
        assert!(matches!(
            check(&junk, Duration::from_secs(5)),
            Err(Error::Answer { .. })
        ));
    }

    #[test]
    fn nothing_listening_is_a_connect_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/");
        assert!(matches!(
            check(&url, Duration::from_secs(2)),
            Err(Error::Connect { .. })
        ));
    }
}
