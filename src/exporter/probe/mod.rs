//! TCP reachability probes: the one probe implementation behind both
//! `GET /probe` ([`handler`]) and the background prober ([`scheduler`]).
//!
//! A probe of a [`Target`] resolves the host (timed separately; skipped for
//! IP literals), connects to the **first** address the system resolver
//! returns (its RFC 6724 order, so `/etc/gai.conf` decides between IPv4 and
//! IPv6), and, when TLS is asked for, completes a TLS handshake and reads
//! the expiry of every certificate the server presents. One deadline covers
//! all of it. Name resolution runs `getaddrinfo` on tokio's blocking pool,
//! which scrapes share; at most [`DNS_PARALLELISM`] resolutions run at once
//! (waiting for a slot counts against the deadline), so a hanging resolver
//! can never occupy the whole pool and stall `/metrics`. The result is a [`ProbeOutcome`]: success, timings, the IP
//! protocol used and, on failure, a [`FailureReason`].
//!
//! # Asking for TLS
//! URLs are refused as targets, so TLS is requested beside the target:
//! - `/probe?target=HOST:PORT&module=tcp_connect_tls` (blackbox-style module
//!   name; `tcp_connect`, the default, is a plain connect);
//! - `--probe.target NAME=HOST:PORT,tls`;
//! - a trailing `tls` token in the targets file: `NAME HOST:PORT tls`.
//!
//! The TLS probe checks that a handshake completes (the server's handshake
//! signature is verified against the certificate it presents) and reports
//! the earliest `notAfter` of the presented chain; it does **not** check the
//! chain against a CA store, because the services probed here commonly use
//! private CAs. Expiry is what it alerts on.

pub mod cert;
pub mod handler;
pub mod scheduler;
pub mod target;
pub mod targets;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio::time::timeout_at;

pub use target::{Host, Target, TargetError};

/// Settings shared by both ways of probing.
#[derive(Debug, Clone)]
pub struct Options {
    /// Targets from `--probe.target`.
    pub targets: Vec<targets::Entry>,
    /// `--probe.targets-file`, re-read when it changes.
    pub targets_file: Option<std::path::PathBuf>,
    pub interval: Duration,
    pub concurrency: usize,
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            targets: Vec::new(),
            targets_file: None,
            interval: Duration::from_secs(15),
            concurrency: DEFAULT_CONCURRENCY,
            timeout: Duration::from_secs(2),
        }
    }
}

/// What the exporter's HTTP side shares for probing: the prober, the
/// background results and the `/probe` concurrency limit.
pub struct Probes {
    pub prober: Arc<Prober>,
    pub board: Arc<scheduler::Board>,
    pub options: Options,
    /// `/probe` requests answered at once (`--probe.concurrency`); more get 503.
    pub endpoint_limit: tokio::sync::Semaphore,
}

impl Probes {
    pub fn new(options: &Options) -> Self {
        Probes {
            prober: Arc::new(Prober::new()),
            board: Arc::new(scheduler::Board::new()),
            options: options.clone(),
            endpoint_limit: tokio::sync::Semaphore::new(options.concurrency.max(1)),
        }
    }

    /// Starts the background prober if any target is listed (see [`scheduler::start`]).
    pub async fn start(&self) -> Result<Option<tokio::task::JoinHandle<()>>, targets::ListError> {
        scheduler::start(
            Arc::clone(&self.board),
            Arc::clone(&self.prober),
            &self.options,
        )
        .await
    }
}

/// Default `--probe.concurrency`. Each probe in flight holds one socket, so
/// this is also the prober's file-descriptor budget. 1024 lets a full 15 s
/// interval cover 7,500 targets even if every one of them hangs for the
/// whole 2 s timeout (15 / 2 × 1024), while staying far below the usual
/// hard `RLIMIT_NOFILE` and the ~28,000 ephemeral ports.
pub const DEFAULT_CONCURRENCY: usize = 1024;

/// Why a probe failed. `as_str` is the `reason` label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// The name did not resolve, resolved to no address, or did not
    /// resolve before the deadline.
    Dns,
    /// The deadline passed while connecting or in the TLS handshake.
    Timeout,
    /// The port is closed (RST).
    Refused,
    /// No route to the host or network.
    Unreachable,
    /// The TCP connection opened but the TLS handshake failed.
    Tls,
    /// Anything else (e.g. out of file descriptors); logged.
    Error,
}

impl FailureReason {
    pub const ALL: &'static [FailureReason] = &[
        FailureReason::Dns,
        FailureReason::Timeout,
        FailureReason::Refused,
        FailureReason::Unreachable,
        FailureReason::Tls,
        FailureReason::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Dns => "dns",
            FailureReason::Timeout => "timeout",
            FailureReason::Refused => "refused",
            FailureReason::Unreachable => "unreachable",
            FailureReason::Tls => "tls",
            FailureReason::Error => "error",
        }
    }

    fn of_connect(err: &io::Error) -> FailureReason {
        if err.kind() == io::ErrorKind::ConnectionRefused {
            return FailureReason::Refused;
        }
        match err.raw_os_error() {
            Some(nix::libc::EHOSTUNREACH | nix::libc::ENETUNREACH) => FailureReason::Unreachable,
            Some(nix::libc::ETIMEDOUT) => FailureReason::Timeout,
            _ => FailureReason::Error,
        }
    }
}

/// What the TLS handshake told.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsInfo {
    /// `TLS 1.2` or `TLS 1.3`.
    pub version: &'static str,
    /// Earliest `notAfter` (Unix seconds) in the presented chain, when readable.
    pub earliest_expiry: Option<i64>,
}

/// The result of one probe.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeOutcome {
    pub success: bool,
    /// Whole probe, resolution included.
    pub duration: Duration,
    /// Name resolution only (zero for IP literals).
    pub dns_lookup: Duration,
    /// 4 or 6 once an address was chosen; 0 when resolution failed.
    pub ip_protocol: u8,
    pub failure: Option<FailureReason>,
    pub tls: Option<TlsInfo>,
}

/// Resolutions in flight at once: half of the exporter's 16 blocking
/// threads, leaving the rest for scrapes.
pub const DNS_PARALLELISM: usize = 8;

/// Everything a probe needs besides its target: built once, shared.
pub struct Prober {
    tls: tokio_rustls::TlsConnector,
    dns_slots: tokio::sync::Semaphore,
}

impl Default for Prober {
    fn default() -> Self {
        Self::new()
    }
}

impl Prober {
    pub fn new() -> Self {
        let config = crate::tls::client_config(PresentedChain);
        Prober {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            dns_slots: tokio::sync::Semaphore::new(DNS_PARALLELISM),
        }
    }

    /// Probes `target` within `timeout`; never fails, never exceeds the deadline
    /// by more than a timer tick.
    pub async fn probe(&self, target: &Target, tls: bool, timeout: Duration) -> ProbeOutcome {
        let started = Instant::now();
        let deadline = tokio::time::Instant::from_std(started + timeout);
        let mut out = ProbeOutcome {
            success: false,
            duration: Duration::ZERO,
            dns_lookup: Duration::ZERO,
            ip_protocol: 0,
            failure: None,
            tls: None,
        };
        let result = self.attempt(target, tls, deadline, &mut out).await;
        out.duration = started.elapsed();
        match result {
            Ok(()) => out.success = true,
            Err(reason) => out.failure = Some(reason),
        }
        out
    }

    async fn attempt(
        &self,
        target: &Target,
        tls: bool,
        deadline: tokio::time::Instant,
        out: &mut ProbeOutcome,
    ) -> Result<(), FailureReason> {
        let addr = match &target.host {
            Host::V4(ip) => SocketAddr::new((*ip).into(), target.port),
            Host::V6(ip) => SocketAddr::new((*ip).into(), target.port),
            Host::Name(name) => {
                let started = Instant::now();
                let found = timeout_at(deadline, async {
                    let _slot = self.dns_slots.acquire().await;
                    tokio::net::lookup_host((name.as_str(), target.port)).await
                })
                .await;
                out.dns_lookup = started.elapsed();
                match found {
                    Err(_) => return Err(FailureReason::Dns),
                    Ok(Err(err)) => {
                        tracing::debug!(target = %target, error = %err, "resolution failed");
                        return Err(FailureReason::Dns);
                    }
                    Ok(Ok(mut addrs)) => addrs.next().ok_or(FailureReason::Dns)?,
                }
            }
        };
        out.ip_protocol = if addr.is_ipv4() { 4 } else { 6 };
        let stream = match timeout_at(deadline, TcpStream::connect(addr)).await {
            Err(_) => return Err(FailureReason::Timeout),
            Ok(Err(err)) => {
                let reason = FailureReason::of_connect(&err);
                if reason == FailureReason::Error {
                    tracing::warn!(target = %target, error = %err, "probe could not connect");
                }
                return Err(reason);
            }
            Ok(Ok(s)) => s,
        };
        if !tls {
            return Ok(());
        }
        let name = match &target.host {
            Host::Name(n) => ServerName::try_from(n.clone()).map_err(|_| FailureReason::Tls)?,
            Host::V4(ip) => ServerName::IpAddress((*ip).into()),
            Host::V6(ip) => ServerName::IpAddress((*ip).into()),
        };
        let conn = match timeout_at(deadline, self.tls.connect(name, stream)).await {
            Err(_) => return Err(FailureReason::Timeout),
            Ok(Err(err)) => {
                tracing::debug!(target = %target, error = %err, "TLS handshake failed");
                return Err(FailureReason::Tls);
            }
            Ok(Ok(c)) => c,
        };
        let (_, session) = conn.get_ref();
        let version = match session.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2",
            _ => "unknown",
        };
        let earliest_expiry = session
            .peer_certificates()
            .unwrap_or_default()
            .iter()
            .filter_map(|c| cert::not_after(c).ok())
            .min();
        out.tls = Some(TlsInfo {
            version,
            earliest_expiry,
        });
        Ok(())
    }
}

/// Accepts whatever chain the server presents (see the module docs: the
/// probe reports expiry, it does not judge trust); the handshake
/// signatures are still verified against the presented certificate.
#[derive(Debug)]
struct PresentedChain;

impl crate::tls::LeafCheck for PresentedChain {
    fn check(&self, _end_entity: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_distinct_label_values() {
        let mut seen = std::collections::HashSet::new();
        for r in FailureReason::ALL {
            assert!(seen.insert(r.as_str()));
        }
    }

    #[test]
    fn connect_errors_map_to_reasons() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(FailureReason::of_connect(&refused), FailureReason::Refused);
        let unreach = io::Error::from_raw_os_error(nix::libc::EHOSTUNREACH);
        assert_eq!(
            FailureReason::of_connect(&unreach),
            FailureReason::Unreachable
        );
        let emfile = io::Error::from_raw_os_error(nix::libc::EMFILE);
        assert_eq!(FailureReason::of_connect(&emfile), FailureReason::Error);
    }
}
