//! `GET /probe?target=HOST:PORT[&module=tcp_connect|tcp_connect_tls]`,
//! answering like blackbox_exporter's tcp prober so the standard
//! multi-target relabelling (`__param_target`) works unchanged.
//!
//! The probe's deadline is `--probe.timeout`, shortened to Prometheus'
//! `X-Prometheus-Scrape-Timeout-Seconds` minus 0.5 s when that is smaller
//! (blackbox's default offset), so the answer arrives before Prometheus
//! gives up. A missing, duplicated or malformed target, an unknown module
//! or a bad timeout header gets 400 with the reason; more than
//! `--probe.concurrency` probes at once get 503.
//!
//! Metrics: `probe_success`, `probe_duration_seconds`,
//! `probe_dns_lookup_time_seconds`, `probe_ip_protocol` (as blackbox), plus
//! `probe_failed_due_to{reason}` (1, only when the probe failed; reason is
//! one of [`super::FailureReason::as_str`]) and, for TLS,
//! `probe_ssl_earliest_cert_expiry` and `probe_tls_version_info{version}`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{ProbeOutcome, Target, TargetError};
use crate::exporter::encode::{self, Format};
use crate::exporter::metrics::Metrics;
use crate::exporter::AppState;

/// Subtracted from Prometheus' scrape timeout, as blackbox does by default.
pub const TIMEOUT_OFFSET: Duration = Duration::from_millis(500);

/// Why a `/probe` request was refused; the message is the response body.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("target parameter is missing")]
    MissingTarget,
    #[error("target parameter is given more than once")]
    RepeatedTarget,
    #[error("invalid target: {0}")]
    Target(#[from] TargetError),
    #[error("unknown module {0:?}: use tcp_connect or tcp_connect_tls")]
    Module(String),
    #[error("invalid X-Prometheus-Scrape-Timeout-Seconds header {0:?}")]
    Timeout(String),
    #[error("too many probes in flight")]
    Busy,
}

impl IntoResponse for RequestError {
    fn into_response(self) -> Response {
        let status = match self {
            RequestError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        (status, format!("{self}\n")).into_response()
    }
}

/// A validated `/probe` request.
#[derive(Debug, PartialEq)]
pub struct ProbeRequest {
    pub target: Target,
    pub tls: bool,
}

/// Validates the query parameters (pure).
pub fn parse_request(params: &[(String, String)]) -> Result<ProbeRequest, RequestError> {
    let mut targets = params.iter().filter(|(k, _)| k == "target");
    let target = targets.next().ok_or(RequestError::MissingTarget)?;
    if targets.next().is_some() {
        return Err(RequestError::RepeatedTarget);
    }
    let target = Target::parse(&target.1)?;
    let tls = match params
        .iter()
        .find(|(k, _)| k == "module")
        .map(|(_, v)| v.as_str())
    {
        None | Some("" | "tcp_connect" | "tcp") => false,
        Some("tcp_connect_tls" | "tcp_tls") => true,
        Some(other) => return Err(RequestError::Module(other.to_owned())),
    };
    Ok(ProbeRequest { target, tls })
}

/// The probe deadline: `max`, or Prometheus' scrape timeout minus
/// [`TIMEOUT_OFFSET`] when smaller (the whole scrape timeout when it is
/// shorter than the offset).
pub fn deadline(header: Option<&str>, max: Duration) -> Result<Duration, RequestError> {
    let Some(raw) = header else { return Ok(max) };
    let secs: f64 = raw
        .trim()
        .parse()
        .map_err(|_| RequestError::Timeout(raw.to_owned()))?;
    if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 {
        return Err(RequestError::Timeout(raw.to_owned()));
    }
    let scrape = Duration::from_secs_f64(secs);
    let budget = scrape.checked_sub(TIMEOUT_OFFSET).filter(|d| !d.is_zero());
    Ok(budget.unwrap_or(scrape).min(max))
}

/// The blackbox-style metrics for one outcome (pure).
pub fn encode_outcome(o: &ProbeOutcome, out: &mut Metrics) {
    out.gauge(
        "probe_success",
        "Displays whether or not the probe was a success",
    )
    .add(&[], f64::from(u8::from(o.success)));
    out.gauge(
        "probe_duration_seconds",
        "Returns how long the probe took to complete in seconds",
    )
    .add(&[], o.duration.as_secs_f64());
    out.gauge(
        "probe_dns_lookup_time_seconds",
        "Returns the time taken for probe dns lookup in seconds",
    )
    .add(&[], o.dns_lookup.as_secs_f64());
    out.gauge(
        "probe_ip_protocol",
        "Specifies whether probe ip protocol is IP4 or IP6",
    )
    .add(&[], f64::from(o.ip_protocol));
    if let Some(reason) = o.failure {
        out.gauge(
            "probe_failed_due_to",
            "Present with value 1 when the probe failed: reason is dns, timeout, refused, unreachable, tls or error",
        )
        .add(&[("reason", reason.as_str())], 1.0);
    }
    if let Some(tls) = &o.tls {
        if let Some(exp) = tls.earliest_expiry {
            out.gauge(
                "probe_ssl_earliest_cert_expiry",
                "Returns earliest SSL cert expiry in unixtime",
            )
            .add(&[], exp as f64);
        }
        out.gauge(
            "probe_tls_version_info",
            "Returns the TLS version used, or NaN when unknown",
        )
        .add(&[("version", tls.version)], 1.0);
    }
}

/// `GET /probe`.
pub async fn probe(
    State(state): State<Arc<AppState>>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, RequestError> {
    let req = parse_request(&params)?;
    let timeout_header = headers
        .get("x-prometheus-scrape-timeout-seconds")
        .map(|v| v.to_str().unwrap_or("(not text)"));
    let timeout = deadline(timeout_header, state.probes.options.timeout)?;
    let _permit = state
        .probes
        .endpoint_limit
        .try_acquire()
        .map_err(|_| RequestError::Busy)?;
    let outcome = state
        .probes
        .prober
        .probe(&req.target, req.tls, timeout)
        .await;
    if let Some(reason) = outcome.failure {
        tracing::debug!(target = %req.target, reason = reason.as_str(), "probe failed");
    }
    let mut m = Metrics::new();
    encode_outcome(&outcome, &mut m);
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let body = encode::encode(&m.into_sorted(), format);
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, format.content_type())],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exporter::probe::FailureReason;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn requests_validate() {
        let r = parse_request(&q(&[("target", "[::1]:22")])).unwrap();
        assert!(!r.tls);
        let r = parse_request(&q(&[("module", "tcp_connect_tls"), ("target", "a.b:443")])).unwrap();
        assert!(r.tls);
        assert!(matches!(
            parse_request(&q(&[])),
            Err(RequestError::MissingTarget)
        ));
        assert!(matches!(
            parse_request(&q(&[("target", "a.b:1"), ("target", "c.d:1")])),
            Err(RequestError::RepeatedTarget)
        ));
        assert!(matches!(
            parse_request(&q(&[("target", "a.b:1"), ("module", "http_2xx")])),
            Err(RequestError::Module(_))
        ));
        assert!(matches!(
            parse_request(&q(&[("target", "")])),
            Err(RequestError::Target(TargetError::Empty))
        ));
    }

    #[test]
    fn deadline_follows_prometheus_minus_offset() {
        let max = Duration::from_secs(2);
        assert_eq!(deadline(None, max).unwrap(), max);
        assert_eq!(deadline(Some("10"), max).unwrap(), max);
        assert_eq!(deadline(Some("1.5"), max).unwrap(), Duration::from_secs(1));
        assert_eq!(
            deadline(Some("0.3"), max).unwrap(),
            Duration::from_millis(300)
        );
        for bad in ["", "soon", "-1", "0", "NaN", "inf"] {
            assert!(deadline(Some(bad), max).is_err(), "{bad}");
        }
    }

    #[test]
    fn outcome_encodes_like_blackbox() {
        let o = ProbeOutcome {
            success: false,
            duration: Duration::from_millis(250),
            dns_lookup: Duration::from_millis(10),
            ip_protocol: 6,
            failure: Some(FailureReason::Refused),
            tls: None,
        };
        let mut m = Metrics::new();
        encode_outcome(&o, &mut m);
        let text = encode::encode(&m.into_sorted(), Format::Text);
        assert!(text.contains("probe_success 0\n"), "{text}");
        assert!(text.contains("probe_ip_protocol 6\n"));
        assert!(text.contains("probe_duration_seconds 0.25\n"));
        assert!(text.contains("probe_failed_due_to{reason=\"refused\"} 1\n"));
        assert!(!text.contains("probe_ssl"));
    }
}
