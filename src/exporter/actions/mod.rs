//! Signed, allow-listed actions served by the exporter on their own
//! listener (`--actions.listen-address`, off unless `--actions.config`).
//!
//! A request is `POST /actions/NAME` with a JSON body `{"args": {…}}`,
//! signed as [`crate::signing`] defines. The agent checks, in this order:
//! the signature headers are present and well formed, the request is
//! addressed to this agent, the key id is trusted, the timestamp is within
//! ±[`WINDOW`] of the agent's clock, the Ed25519 signature verifies, and
//! the nonce was not seen before. Any failure is 401. Then the action must
//! be enabled (else 403) and its arguments must fit their types (else
//! 400). Every outcome is logged and counted in
//! `outpost_actions_requests_total{action,result}` on `/metrics`.
//!
//! Built-in actions: `ports` ([`ports`]), `top` ([`top`]) and `kill-port`.
//! Custom actions: [`custom`]. The allow-list: [`config`].
//!
//! Decisions:
//! - The nonce is remembered only after the signature verified, so forged
//!   requests cannot fill the cache; the cache holds at most
//!   [`NONCE_CACHE`] nonces and forgets those older than the window (a
//!   replay of an older one is stale anyway). When it is full of fresh
//!   nonces, new requests are refused (503) rather than a nonce forgotten
//!   early.
//! - The `action` label is an enabled action's name, or `other` for any
//!   name the allow-list lacks, so a client cannot grow the label set.
//! - Without TLS the actions listener may only bind a loopback address:
//!   signatures stop forgery and replay but not eavesdropping on answers.
//! - At most [`MAX_RUNNING`] actions run at once; past that a signed
//!   request is answered 503 at once rather than queued, so a burst cannot
//!   pile up processes on the host.
//! - `kill-port` refuses PID 1 and the exporter's own PID, and ports outside
//!   the configured range, before looking anything up.

pub mod config;
pub mod custom;
pub mod ports;
pub mod top;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::Serialize;

use crate::signing::{self, Signed};
pub use config::Config;

/// How far a request's timestamp may be from the agent's clock.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Most nonces remembered at once.
pub const NONCE_CACHE: usize = 100_000;
/// Largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;
/// Most actions running at once; one more is answered 503 (`busy`).
pub const MAX_RUNNING: usize = 4;
/// Route prefix of every action.
pub const PATH_PREFIX: &str = "/actions/";

/// The built-in actions: the one list of their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Ports,
    Top,
    KillPort,
}

impl Builtin {
    pub const ALL: [Builtin; 3] = [Builtin::Ports, Builtin::Top, Builtin::KillPort];

    pub fn as_str(self) -> &'static str {
        match self {
            Builtin::Ports => "ports",
            Builtin::Top => "top",
            Builtin::KillPort => "kill-port",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.as_str() == name)
    }
}

/// How a request ended: the `result` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Ok,
    Failed,
    Unsigned,
    WrongAgent,
    UnknownKey,
    Stale,
    BadSignature,
    Replayed,
    Busy,
    NotAllowed,
    BadRequest,
}

impl Outcome {
    pub const ALL: [Outcome; 11] = [
        Outcome::Ok,
        Outcome::Failed,
        Outcome::Unsigned,
        Outcome::WrongAgent,
        Outcome::UnknownKey,
        Outcome::Stale,
        Outcome::BadSignature,
        Outcome::Replayed,
        Outcome::Busy,
        Outcome::NotAllowed,
        Outcome::BadRequest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Unsigned => "unsigned",
            Outcome::WrongAgent => "wrong_agent",
            Outcome::UnknownKey => "unknown_key",
            Outcome::Stale => "stale",
            Outcome::BadSignature => "bad_signature",
            Outcome::Replayed => "replayed",
            Outcome::Busy => "busy",
            Outcome::NotAllowed => "not_allowed",
            Outcome::BadRequest => "bad_request",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Outcome::Ok => StatusCode::OK,
            Outcome::Failed => StatusCode::INTERNAL_SERVER_ERROR,
            Outcome::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Outcome::NotAllowed => StatusCode::FORBIDDEN,
            Outcome::BadRequest => StatusCode::BAD_REQUEST,
            _ => StatusCode::UNAUTHORIZED,
        }
    }
}

/// Requests counted by action and outcome, for `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    counts: Mutex<BTreeMap<(String, Outcome), u64>>,
}

/// Help text of `outpost_actions_requests_total`.
pub const REQUESTS_HELP: &str =
    "Action requests by action (`other` for a name not in the allow-list) and result.";

impl Stats {
    fn add(&self, action: &str, outcome: Outcome) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *c.entry((action.to_owned(), outcome)).or_default() += 1;
    }

    /// Every (action, result) pair counted so far.
    pub fn snapshot(&self) -> Vec<(String, Outcome, u64)> {
        let c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.iter().map(|((a, o), n)| (a.clone(), *o, *n)).collect()
    }

    pub fn encode(&self, m: &mut crate::exporter::metrics::Metrics) {
        let family = m.counter("outpost_actions_requests_total", REQUESTS_HELP);
        for (action, outcome, n) in self.snapshot() {
            family.add(
                &[("action", &action), ("result", outcome.as_str())],
                n as f64,
            );
        }
    }
}

/// Seen nonces, oldest first, bounded.
#[derive(Debug, Default)]
pub struct Nonces {
    seen: HashMap<String, i64>,
    order: VecDeque<(i64, String)>,
}

impl Nonces {
    /// Records `nonce` seen at `now`; `Err(Replayed)` when it was seen,
    /// `Err(Busy)` when the cache is full of fresh nonces.
    pub fn insert(&mut self, nonce: &str, now: i64, cap: usize) -> Result<(), Outcome> {
        let horizon = now - 2 * WINDOW.as_secs() as i64;
        while let Some((t, _)) = self.order.front() {
            if *t >= horizon {
                break;
            }
            let (_, n) = self.order.pop_front().expect("front exists");
            self.seen.remove(&n);
        }
        if self.seen.contains_key(nonce) {
            return Err(Outcome::Replayed);
        }
        if self.seen.len() >= cap {
            return Err(Outcome::Busy);
        }
        self.seen.insert(nonce.to_owned(), now);
        self.order.push_back((now, nonce.to_owned()));
        Ok(())
    }
}

/// What the actions handlers share.
pub struct Agent {
    pub config: Config,
    pub procfs: PathBuf,
    pub stats: Arc<Stats>,
    nonces: Mutex<Nonces>,
    running: tokio::sync::Semaphore,
}

impl Agent {
    pub fn new(config: Config, procfs: PathBuf, stats: Arc<Stats>) -> Self {
        Agent {
            config,
            procfs,
            stats,
            nonces: Mutex::default(),
            running: tokio::sync::Semaphore::new(MAX_RUNNING),
        }
    }

    fn enabled(&self, name: &str) -> bool {
        match Builtin::from_name(name) {
            Some(Builtin::Ports) => self.config.ports,
            Some(Builtin::Top) => self.config.top.is_some(),
            Some(Builtin::KillPort) => self.config.kill_port.is_some(),
            None => self.config.custom.contains_key(name),
        }
    }

    /// Checks the signature headers; the key id on success.
    fn authenticate(
        &self,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<String, Outcome> {
        let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let (Some(agent), Some(key_id), Some(ts), Some(nonce), Some(sig)) = (
            h(signing::AGENT_HEADER),
            h(signing::KEY_ID_HEADER),
            h(signing::TIMESTAMP_HEADER),
            h(signing::NONCE_HEADER),
            h(signing::SIGNATURE_HEADER),
        ) else {
            return Err(Outcome::Unsigned);
        };
        let timestamp: i64 = ts.parse().map_err(|_| Outcome::Unsigned)?;
        if !signing::is_nonce(nonce) {
            return Err(Outcome::Unsigned);
        }
        if agent != self.config.agent {
            return Err(Outcome::WrongAgent);
        }
        let key = self.config.keys.get(key_id).ok_or(Outcome::UnknownKey)?;
        let now = unix_now();
        if timestamp.abs_diff(now) > WINDOW.as_secs() {
            return Err(Outcome::Stale);
        }
        let signed = Signed {
            method: "POST",
            path,
            agent,
            key_id,
            timestamp,
            nonce,
            body,
        };
        if !key.verify(&signed, sig) {
            return Err(Outcome::BadSignature);
        }
        self.nonces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(nonce, now, NONCE_CACHE)?;
        Ok(key_id.to_owned())
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The request body.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    #[serde(default)]
    pub args: BTreeMap<String, serde_json::Value>,
}

/// The JSON answer to a refused or failed request.
#[derive(Debug, Serialize)]
struct Refusal<'a> {
    error: &'a str,
    reason: String,
}

pub fn router(agent: Arc<Agent>) -> Router {
    Router::new()
        .route("/actions/{name}", post(handle))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(agent)
}

async fn handle(
    State(agent): State<Arc<Agent>>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("{PATH_PREFIX}{name}");
    let label = if agent.enabled(&name) {
        name.as_str()
    } else {
        "other"
    };
    let refuse = |outcome: Outcome, reason: String, key_id: Option<&str>| {
        agent.stats.add(label, outcome);
        tracing::warn!(action = %label, key_id = key_id.unwrap_or(""), result = outcome.as_str(), %reason, "action refused");
        let body = serde_json::to_string(&Refusal {
            error: outcome.as_str(),
            reason,
        })
        .unwrap_or_default();
        (
            outcome.status(),
            [("content-type", "application/json")],
            body,
        )
            .into_response()
    };
    let key_id = match agent.authenticate(&path, &headers, &body) {
        Ok(k) => k,
        Err(o) => return refuse(o, "request not accepted".into(), None),
    };
    if !agent.enabled(&name) {
        return refuse(
            Outcome::NotAllowed,
            "action not enabled on this agent".into(),
            Some(&key_id),
        );
    }
    let request: Request = if body.is_empty() {
        Request::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => return refuse(Outcome::BadRequest, format!("body: {e}"), Some(&key_id)),
        }
    };
    let Ok(_running) = agent.running.try_acquire() else {
        return refuse(
            Outcome::Busy,
            format!("{MAX_RUNNING} actions are running already"),
            Some(&key_id),
        );
    };
    let started = std::time::Instant::now();
    let result = execute(&agent, &name, &request.args).await;
    match result {
        Ok(value) => {
            agent.stats.add(label, Outcome::Ok);
            tracing::info!(action = %name, %key_id, args = ?request.args, duration_ms = started.elapsed().as_millis() as u64, "action done");
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                value,
            )
                .into_response()
        }
        Err(ExecError::Args(reason)) => refuse(Outcome::BadRequest, reason, Some(&key_id)),
        Err(ExecError::Failed(reason)) => refuse(Outcome::Failed, reason, Some(&key_id)),
    }
}

enum ExecError {
    /// The arguments were refused (400): nothing ran.
    Args(String),
    /// It ran and failed, or could not start (500).
    Failed(String),
}

fn json<T: Serialize>(v: &T) -> Result<String, ExecError> {
    serde_json::to_string(v).map_err(|e| ExecError::Failed(e.to_string()))
}

async fn execute(
    agent: &Arc<Agent>,
    name: &str,
    args: &BTreeMap<String, serde_json::Value>,
) -> Result<String, ExecError> {
    let no_args = || {
        if let Some(k) = args.keys().next() {
            return Err(ExecError::Args(format!("unknown parameter {k:?}")));
        }
        Ok(())
    };
    let procfs = agent.procfs.clone();
    match Builtin::from_name(name) {
        Some(Builtin::Ports) => {
            no_args()?;
            let l = blocking(move || ports::listeners(&procfs)).await?;
            json(&l.map_err(|e| ExecError::Failed(format!("reading sockets: {e}")))?)
        }
        Some(Builtin::Top) => {
            no_args()?;
            let count = agent.config.top.unwrap_or(config::DEFAULT_TOP);
            json(&blocking(move || top::sample(&procfs, count)).await?)
        }
        Some(Builtin::KillPort) => {
            let kp = agent.config.kill_port.clone().expect("enabled");
            let port = kill_port_arg(args, &kp)?;
            let r = blocking(move || kill_port(&procfs, port, kp.signal)).await?;
            json(&r?)
        }
        None => {
            let action = &agent.config.custom[name];
            let argv =
                custom::build_argv(action, args).map_err(|e| ExecError::Args(e.to_string()))?;
            let r = custom::run(action, &argv)
                .await
                .map_err(|e| ExecError::Failed(format!("cannot start {}: {e}", argv[0])))?;
            json(&r)
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ExecError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ExecError::Failed(e.to_string()))
}

fn kill_port_arg(
    args: &BTreeMap<String, serde_json::Value>,
    kp: &config::KillPort,
) -> Result<u16, ExecError> {
    if let Some(k) = args.keys().find(|k| *k != "port") {
        return Err(ExecError::Args(format!("unknown parameter {k:?}")));
    }
    let range = || {
        ExecError::Args(format!(
            "parameter \"port\": must be an integer in {}..={}",
            kp.ports.start(),
            kp.ports.end()
        ))
    };
    let port = match args.get("port") {
        Some(serde_json::Value::Number(n)) => n.as_u64().ok_or_else(range)?,
        Some(serde_json::Value::String(s)) => s.parse().map_err(|_| range())?,
        Some(_) => return Err(range()),
        None => return Err(ExecError::Args("missing parameter \"port\"".into())),
    };
    u16::try_from(port)
        .ok()
        .filter(|p| kp.ports.contains(p))
        .ok_or_else(range)
}

/// What `kill-port` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Killed {
    pub port: u16,
    pub signal: &'static str,
    pub signalled: Vec<ports::Owner>,
}

fn kill_port(
    procfs: &std::path::Path,
    port: u16,
    signal: config::KillSignal,
) -> Result<Killed, ExecError> {
    let listeners =
        ports::listeners(procfs).map_err(|e| ExecError::Failed(format!("reading sockets: {e}")))?;
    let mut owners: Vec<ports::Owner> = listeners
        .into_iter()
        .filter(|l| l.port == port)
        .flat_map(|l| l.owners)
        .collect();
    owners.sort_by_key(|o| o.pid);
    owners.dedup_by_key(|o| o.pid);
    if owners.is_empty() {
        return Err(ExecError::Failed(format!(
            "no process this agent can see listens on port {port}"
        )));
    }
    let me = std::process::id();
    if let Some(o) = owners.iter().find(|o| o.pid == 1 || o.pid == me) {
        return Err(ExecError::Args(format!(
            "port {port} belongs to PID {} ({}), which kill-port never signals",
            o.pid, o.comm
        )));
    }
    let (sig, name) = match signal {
        config::KillSignal::Term => (nix::sys::signal::Signal::SIGTERM, "TERM"),
        config::KillSignal::Kill => (nix::sys::signal::Signal::SIGKILL, "KILL"),
        config::KillSignal::Int => (nix::sys::signal::Signal::SIGINT, "INT"),
    };
    for o in &owners {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(o.pid as i32), sig)
            .map_err(|e| ExecError::Failed(format!("signalling PID {}: {e}", o.pid)))?;
    }
    Ok(Killed {
        port,
        signal: name,
        signalled: owners,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_refused_twice_and_forgotten_after_the_window() {
        let mut n = Nonces::default();
        assert_eq!(n.insert("a", 100, 2), Ok(()));
        assert_eq!(n.insert("a", 100, 2), Err(Outcome::Replayed));
        assert_eq!(n.insert("b", 101, 2), Ok(()));
        assert_eq!(n.insert("c", 102, 2), Err(Outcome::Busy));
        assert_eq!(
            n.insert("c", 100 + 121, 2),
            Ok(()),
            "a is past twice the window"
        );
        assert_eq!(n.seen.len(), 2);
    }

    #[test]
    fn kill_port_never_signals_pid_1_or_the_exporter() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("net")).unwrap();
        let line = |port: u16, inode: u32| {
            format!("   0: 00000000:{port:04X} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 {inode} 1 0 100 0 0 10 0\n")
        };
        std::fs::write(
            root.join("net/tcp"),
            format!("  sl  local_address\n{}{}", line(80, 11), line(81, 12)),
        )
        .unwrap();
        std::fs::write(root.join("net/udp"), "  sl\n").unwrap();
        for (pid, inode) in [(1, 11), (std::process::id(), 12)] {
            std::fs::create_dir_all(root.join(format!("{pid}/fd"))).unwrap();
            std::os::unix::fs::symlink(
                format!("socket:[{inode}]"),
                root.join(format!("{pid}/fd/3")),
            )
            .unwrap();
        }
        for port in [80, 81] {
            match kill_port(root, port, config::KillSignal::Kill) {
                Err(ExecError::Args(reason)) => {
                    assert!(reason.contains("never signals"), "{reason}")
                }
                _ => panic!("port {port} was not refused"),
            }
        }
        assert!(matches!(
            kill_port(root, 82, config::KillSignal::Kill),
            Err(ExecError::Failed(_))
        ));
    }

    #[test]
    fn builtin_names_round_trip() {
        for b in Builtin::ALL {
            assert_eq!(Builtin::from_name(b.as_str()), Some(b));
        }
    }
}
