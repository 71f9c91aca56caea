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
//! Built-in actions: `ports` ([`ports`]), `top` ([`top`]), `kill-port`
//! ([`kill_port`]), `docker.*` ([`docker`]), `service.*`, `reboot` and
//! `shutdown` ([`service`]); [`Builtin`] is the one list of their names.
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
pub mod docker;
pub mod kill_port;
pub mod ports;
pub mod service;
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
    DockerPs,
    DockerLogs,
    DockerRestart,
    DockerPrune,
    DockerDf,
    ServiceStatus,
    ServiceRestart,
    Reboot,
    Shutdown,
}

impl Builtin {
    pub const ALL: [Builtin; 12] = [
        Builtin::Ports,
        Builtin::Top,
        Builtin::KillPort,
        Builtin::DockerPs,
        Builtin::DockerLogs,
        Builtin::DockerRestart,
        Builtin::DockerPrune,
        Builtin::DockerDf,
        Builtin::ServiceStatus,
        Builtin::ServiceRestart,
        Builtin::Reboot,
        Builtin::Shutdown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Builtin::Ports => "ports",
            Builtin::Top => "top",
            Builtin::KillPort => "kill-port",
            Builtin::DockerPs => "docker.ps",
            Builtin::DockerLogs => "docker.logs",
            Builtin::DockerRestart => "docker.restart",
            Builtin::DockerPrune => "docker.prune",
            Builtin::DockerDf => "docker.df",
            Builtin::ServiceStatus => "service.status",
            Builtin::ServiceRestart => "service.restart",
            Builtin::Reboot => "reboot",
            Builtin::Shutdown => "shutdown",
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
    NotFound,
}

impl Outcome {
    pub const ALL: [Outcome; 12] = [
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
        Outcome::NotFound,
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
            Outcome::NotFound => "not_found",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Outcome::Ok => StatusCode::OK,
            Outcome::Failed => StatusCode::INTERNAL_SERVER_ERROR,
            Outcome::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Outcome::NotAllowed => StatusCode::FORBIDDEN,
            Outcome::BadRequest => StatusCode::BAD_REQUEST,
            Outcome::NotFound => StatusCode::NOT_FOUND,
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
    /// The D-Bus system bus (systemd, logind) under `--path.rootfs`.
    pub bus: String,
    pub stats: Arc<Stats>,
    nonces: Mutex<Nonces>,
    running: tokio::sync::Semaphore,
    /// `top`'s last reading.
    top: Arc<top::Last>,
}

impl Agent {
    pub fn new(
        config: Config,
        procfs: PathBuf,
        rootfs: &std::path::Path,
        stats: Arc<Stats>,
    ) -> Self {
        Agent {
            config,
            procfs,
            bus: crate::exporter::dbus::system_bus(rootfs),
            stats,
            nonces: Mutex::default(),
            running: tokio::sync::Semaphore::new(MAX_RUNNING),
            top: Arc::default(),
        }
    }

    fn enabled(&self, name: &str) -> bool {
        match Builtin::from_name(name) {
            Some(Builtin::Ports) => self.config.ports,
            Some(Builtin::Top) => self.config.top.is_some(),
            Some(Builtin::KillPort) => self.config.kill_port.is_some(),
            Some(Builtin::DockerPs) => self.config.docker.as_ref().is_some_and(|d| d.ps),
            Some(Builtin::DockerLogs) => self
                .config
                .docker
                .as_ref()
                .is_some_and(|d| d.logs.is_some()),
            Some(Builtin::DockerRestart) => self.config.docker.as_ref().is_some_and(|d| d.restart),
            Some(Builtin::DockerPrune) => self.config.docker.as_ref().is_some_and(|d| d.prune),
            Some(Builtin::DockerDf) => self.config.docker.as_ref().is_some_and(|d| d.df),
            Some(Builtin::ServiceStatus) => self.config.service.as_ref().is_some_and(|s| s.status),
            Some(Builtin::ServiceRestart) => {
                self.config.service.as_ref().is_some_and(|s| s.restart)
            }
            Some(Builtin::Reboot) => self.config.reboot.is_some(),
            Some(Builtin::Shutdown) => self.config.shutdown.is_some(),
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
        Err(ExecError::NotFound(reason)) => refuse(Outcome::NotFound, reason, Some(&key_id)),
    }
}

/// Why an enabled action did not answer 200.
#[derive(Debug)]
pub enum ExecError {
    /// The arguments were refused (400): nothing ran.
    Args(String),
    /// What the request names does not exist there (404): a container
    /// the engine does not know, a unit systemd has not loaded.
    NotFound(String),
    /// It ran and failed, or could not start (500).
    Failed(String),
}

/// A request's arguments, read by name and type; every parameter must be
/// read or the request is refused ([`Args::finish`]).
pub struct Args<'a> {
    args: &'a BTreeMap<String, serde_json::Value>,
    known: Vec<&'static str>,
}

impl<'a> Args<'a> {
    pub fn new(args: &'a BTreeMap<String, serde_json::Value>) -> Self {
        Args {
            args,
            known: Vec::new(),
        }
    }

    /// A string parameter, if given.
    pub fn string(&mut self, name: &'static str) -> Result<Option<&'a str>, ExecError> {
        self.known.push(name);
        match self.args.get(name) {
            None => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ExecError::Args(format!(
                "parameter {name:?}: must be a string"
            ))),
        }
    }

    /// A string parameter that must be given.
    pub fn required(&mut self, name: &'static str) -> Result<&'a str, ExecError> {
        self.string(name)?
            .ok_or_else(|| ExecError::Args(format!("missing parameter {name:?}")))
    }

    /// An integer parameter in `range` (a JSON number or decimal string), if given.
    pub fn int(
        &mut self,
        name: &'static str,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Option<u64>, ExecError> {
        self.known.push(name);
        let bad = || {
            ExecError::Args(format!(
                "parameter {name:?}: must be an integer in {}..={}",
                range.start(),
                range.end()
            ))
        };
        let n = match self.args.get(name) {
            None => return Ok(None),
            Some(serde_json::Value::Number(n)) => n.as_u64().ok_or_else(bad)?,
            Some(serde_json::Value::String(s)) => s.parse().map_err(|_| bad())?,
            Some(_) => return Err(bad()),
        };
        range.contains(&n).then_some(Some(n)).ok_or_else(bad)
    }

    /// A boolean parameter; absent is false.
    pub fn flag(&mut self, name: &'static str) -> Result<bool, ExecError> {
        self.known.push(name);
        match self.args.get(name) {
            None => Ok(false),
            Some(serde_json::Value::Bool(b)) => Ok(*b),
            Some(_) => Err(ExecError::Args(format!(
                "parameter {name:?}: must be true or false"
            ))),
        }
    }

    /// Refuses any parameter not read.
    pub fn finish(self) -> Result<(), ExecError> {
        match self.args.keys().find(|k| !self.known.contains(&k.as_str())) {
            Some(k) => Err(ExecError::Args(format!("unknown parameter {k:?}"))),
            None => Ok(()),
        }
    }
}

pub fn json<T: Serialize>(v: &T) -> Result<String, ExecError> {
    serde_json::to_string(v).map_err(|e| ExecError::Failed(e.to_string()))
}

async fn execute(
    agent: &Arc<Agent>,
    name: &str,
    args: &BTreeMap<String, serde_json::Value>,
) -> Result<String, ExecError> {
    let procfs = agent.procfs.clone();
    match Builtin::from_name(name) {
        Some(Builtin::Ports) => {
            Args::new(args).finish()?;
            let l = blocking(move || ports::listeners(&procfs)).await?;
            json(&l.map_err(|e| ExecError::Failed(format!("reading sockets: {e}")))?)
        }
        Some(Builtin::Top) => {
            Args::new(args).finish()?;
            let count = agent.config.top.unwrap_or(config::DEFAULT_TOP);
            let last = Arc::clone(&agent.top);
            json(&blocking(move || top::sample(&procfs, count, &last)).await?)
        }
        Some(Builtin::KillPort) => {
            let kp = agent.config.kill_port.clone().expect("enabled");
            let port = kill_port::arg(args, &kp)?;
            let r = blocking(move || kill_port::kill(&procfs, port, kp.signal)).await?;
            json(&r?)
        }
        Some(
            b @ (Builtin::DockerPs
            | Builtin::DockerLogs
            | Builtin::DockerRestart
            | Builtin::DockerPrune
            | Builtin::DockerDf),
        ) => {
            let d = agent.config.docker.as_ref().expect("enabled");
            docker::execute(d, b, Args::new(args)).await
        }
        Some(b @ (Builtin::ServiceStatus | Builtin::ServiceRestart)) => {
            let s = agent.config.service.clone().expect("enabled");
            let mut a = Args::new(args);
            let unit = service::unit_arg(&s, &mut a)?;
            a.finish()?;
            let bus = agent.bus.clone();
            match b {
                Builtin::ServiceStatus => {
                    json(&blocking(move || service::status(&bus, &unit)).await??)
                }
                _ => json(&blocking(move || service::restart(&bus, &unit)).await??),
            }
        }
        Some(b @ (Builtin::Reboot | Builtin::Shutdown)) => {
            let (power, kind) = match b {
                Builtin::Reboot => (agent.config.reboot, service::ShutdownKind::Reboot),
                _ => (agent.config.shutdown, service::ShutdownKind::PowerOff),
            };
            let power = power.expect("enabled");
            let mut a = Args::new(args);
            let cancel = a.flag("cancel")?;
            a.finish()?;
            let bus = agent.bus.clone();
            let r = blocking(move || {
                if cancel {
                    service::cancel(&bus)
                } else {
                    service::schedule(&bus, kind, power.delay)
                }
            })
            .await??;
            json(&r)
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
    fn builtin_names_round_trip() {
        for b in Builtin::ALL {
            assert_eq!(Builtin::from_name(b.as_str()), Some(b));
        }
    }
}
