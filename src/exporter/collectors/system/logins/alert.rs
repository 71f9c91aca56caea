//! New remote logins as short-lived Alertmanager alerts (`POST
//! /api/v2/alerts`), rate-limited so a storm of logins is one alert.
//!
//! [`Limiter`] (pure, given the time) decides what to post; [`build`]
//! makes the API's JSON; [`Poster`] is the one thread that sends.
//!
//! Decisions:
//! - One login is `RemoteLogin` with `user`, `source` and `service` labels,
//!   so a silence can match them (e.g. `source=~"192\.0\.2\..*"` for the
//!   office) and routing works as for any alert; it carries the `agent`
//!   label every Outpost alert has, `severity="info"`, and ends
//!   [`ALERT_TTL`] after it was posted (nothing resolves a login).
//! - At most [`BURST`] single alerts per window (`--collector.logins.alert-window`);
//!   logins past that wait for the window's end and go out together as one
//!   `RemoteLoginStorm` alert, whose labels hold no user or address (they
//!   would make it many alerts again) and whose annotations list them.
//! - A failed post is logged and counted, not retried: a login alert that
//!   arrives minutes late is noise, and the login is in the counters anyway.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

/// Single login alerts allowed per window.
pub const BURST: usize = 3;
/// How long a posted login alert stays firing.
pub const ALERT_TTL: Duration = Duration::from_secs(5 * 60);
/// At most this many logins are named in a storm's description.
const STORM_LISTED: usize = 20;

/// One new remote login.
#[derive(Debug, Clone, PartialEq)]
pub struct Login {
    pub user: String,
    /// The remote address, or the host name when utmp has no address.
    pub source: String,
    /// The program that took the login (`sshd`), `unknown` when not known.
    pub service: String,
    /// When the session started.
    pub at: SystemTime,
}

impl Login {
    pub fn source_of(addr: Option<IpAddr>, host: &str) -> String {
        addr.map(|a| a.to_string())
            .unwrap_or_else(|| host.to_owned())
    }
}

/// What to post.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    One(Login),
    Storm(Vec<Login>),
}

/// Lets [`BURST`] logins per `window` through one by one and holds the
/// rest for one grouped alert at the window's end.
#[derive(Debug)]
pub struct Limiter {
    window: Duration,
    sent: VecDeque<Instant>,
    held: Vec<Login>,
    /// When the held logins go out.
    flush_at: Option<Instant>,
}

impl Limiter {
    pub fn new(window: Duration) -> Self {
        Limiter {
            window,
            sent: VecDeque::new(),
            held: Vec::new(),
            flush_at: None,
        }
    }

    /// A new login at `now`: post it now, or hold it.
    pub fn offer(&mut self, now: Instant, login: Login) -> Option<Outgoing> {
        while self
            .sent
            .front()
            .is_some_and(|&t| now.duration_since(t) >= self.window)
        {
            self.sent.pop_front();
        }
        if self.held.is_empty() && self.sent.len() < BURST {
            self.sent.push_back(now);
            return Some(Outgoing::One(login));
        }
        if self.held.is_empty() {
            self.flush_at = Some(now + self.window);
        }
        self.held.push(login);
        None
    }

    /// When [`Limiter::tick`] next has something to post.
    pub fn deadline(&self) -> Option<Instant> {
        self.flush_at
    }

    /// The held logins as one alert once their window has passed.
    pub fn tick(&mut self, now: Instant) -> Option<Outgoing> {
        if self.flush_at.is_some_and(|t| now >= t) {
            self.flush_at = None;
            self.sent.push_back(now);
            return Some(Outgoing::Storm(std::mem::take(&mut self.held)));
        }
        None
    }
}

fn rfc3339(t: SystemTime) -> String {
    jiff::Timestamp::try_from(t)
        .map(|t| t.round(jiff::Unit::Second).unwrap_or(t).to_string())
        .unwrap_or_default()
}

/// The `/api/v2/alerts` body for `out`, posted at `now` by `agent`.
pub fn build(out: &Outgoing, agent: &str, now: SystemTime) -> Value {
    let ends = rfc3339(now + ALERT_TTL);
    match out {
        Outgoing::One(l) => json!([{
            "labels": {
                "alertname": "RemoteLogin",
                "agent": agent,
                "severity": "info",
                "user": l.user,
                "source": l.source,
                "service": l.service,
            },
            "annotations": {
                "summary": format!("{} logged in to {agent} from {} ({}) at {}", l.user, l.source, l.service, rfc3339(l.at)),
            },
            "startsAt": rfc3339(l.at.min(now)),
            "endsAt": ends,
        }]),
        Outgoing::Storm(logins) => {
            let mut lines: Vec<String> = logins
                .iter()
                .take(STORM_LISTED)
                .map(|l| {
                    format!(
                        "{} from {} ({}) at {}",
                        l.user,
                        l.source,
                        l.service,
                        rfc3339(l.at)
                    )
                })
                .collect();
            if logins.len() > STORM_LISTED {
                lines.push(format!("… and {} more", logins.len() - STORM_LISTED));
            }
            let first = logins.iter().map(|l| l.at).min().unwrap_or(now);
            json!([{
                "labels": {
                    "alertname": "RemoteLoginStorm",
                    "agent": agent,
                    "severity": "warning",
                },
                "annotations": {
                    "summary": format!("{} more remote logins to {agent} since {}", logins.len(), rfc3339(first)),
                    "description": lines.join("\n"),
                },
                "startsAt": rfc3339(first.min(now)),
                "endsAt": ends,
            }])
        }
    }
}

/// How posting went, for `outpost_login_alerts_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    Sent,
    Failed,
}

/// The thread that posts login alerts to one Alertmanager.
pub struct Poster {
    tx: mpsc::Sender<Login>,
}

impl Poster {
    /// Starts the thread. `report` hears how each post went.
    pub fn start(
        url: reqwest::Url,
        agent: String,
        window: Duration,
        report: impl Fn(Posted) + Send + 'static,
    ) -> std::io::Result<Poster> {
        let (tx, rx) = mpsc::channel::<Login>();
        std::thread::Builder::new()
            .name("login-alerts".into())
            .spawn(move || post_loop(rx, url, agent, window, report))?;
        Ok(Poster { tx })
    }

    pub fn send(&self, login: Login) {
        let _ = self.tx.send(login);
    }
}

/// `url` for a log line: a password in it (basic auth) replaced.
pub fn redacted(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("REDACTED"));
    }
    shown.to_string()
}

fn post_loop(
    rx: mpsc::Receiver<Login>,
    url: reqwest::Url,
    agent: String,
    window: Duration,
    report: impl Fn(Posted),
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "login alerts: cannot start a runtime");
            return;
        }
    };
    // The client's connector needs the runtime's reactor.
    let _entered = rt.enter();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let endpoint = url.join("api/v2/alerts").unwrap_or(url);
    let shown = redacted(&endpoint);
    let mut limiter = Limiter::new(window);
    let post = |out: Outgoing| {
        let body = build(&out, &agent, SystemTime::now());
        let result = rt.block_on(client.post(endpoint.clone()).json(&body).send());
        let outcome = match result {
            Ok(r) if r.status().is_success() => Posted::Sent,
            Ok(r) => {
                tracing::warn!(status = %r.status(), url = %shown, "Alertmanager refused a login alert");
                Posted::Failed
            }
            Err(e) => {
                tracing::warn!(error = %e.without_url(), url = %shown, "posting a login alert failed");
                Posted::Failed
            }
        };
        report(outcome);
    };
    loop {
        let received = match limiter.deadline() {
            Some(t) => rx.recv_timeout(t.saturating_duration_since(Instant::now())),
            None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(login) => {
                if let Some(out) = limiter.offer(Instant::now(), login) {
                    post(out);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        if let Some(out) = limiter.tick(Instant::now()) {
            post(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(user: &str) -> Login {
        Login {
            user: user.into(),
            source: "203.0.113.9".into(),
            service: "sshd".into(),
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000),
        }
    }

    #[test]
    fn a_storm_is_one_grouped_alert_after_the_burst() {
        let t0 = Instant::now();
        let w = Duration::from_secs(60);
        let mut l = Limiter::new(w);
        for i in 0..BURST {
            let out = l.offer(t0, login(&format!("u{i}")));
            assert_eq!(out, Some(Outgoing::One(login(&format!("u{i}")))));
        }
        for i in 0..10 {
            assert_eq!(l.offer(t0 + Duration::from_secs(i), login("storm")), None);
        }
        assert_eq!(l.deadline(), Some(t0 + w));
        assert_eq!(l.tick(t0 + Duration::from_secs(59)), None);
        let Some(Outgoing::Storm(held)) = l.tick(t0 + w) else {
            panic!("no storm alert");
        };
        assert_eq!(held.len(), 10);
        assert_eq!(l.tick(t0 + w * 2), None);
        // A quiet window later, single alerts flow again.
        assert!(matches!(
            l.offer(t0 + w * 3, login("late")),
            Some(Outgoing::One(_))
        ));
    }

    #[test]
    fn a_password_in_the_url_never_reaches_a_log_line() {
        let url = reqwest::Url::parse("https://ops:hunter2@am.example/api/v2/alerts").unwrap();
        let shown = redacted(&url);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(shown, "https://ops:REDACTED@am.example/api/v2/alerts");
    }

    #[test]
    fn alerts_carry_who_from_where_and_end_soon() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_060);
        let v = build(&Outgoing::One(login("alice")), "web1", now);
        let a = &v[0];
        assert_eq!(a["labels"]["alertname"], "RemoteLogin");
        assert_eq!(a["labels"]["user"], "alice");
        assert_eq!(a["labels"]["source"], "203.0.113.9");
        assert_eq!(a["labels"]["service"], "sshd");
        assert_eq!(a["labels"]["agent"], "web1");
        assert_eq!(a["startsAt"], "2026-05-28T20:26:40Z");
        assert_eq!(a["endsAt"], "2026-05-28T20:32:40Z");
        let summary = a["annotations"]["summary"].as_str().unwrap();
        assert!(
            summary.contains("alice logged in to web1 from 203.0.113.9"),
            "{summary}"
        );

        let storm = build(&Outgoing::Storm(vec![login("a"), login("b")]), "web1", now);
        let labels = storm[0]["labels"].as_object().unwrap();
        assert_eq!(labels["alertname"], "RemoteLoginStorm");
        assert!(!labels.contains_key("user") && !labels.contains_key("source"));
        assert!(storm[0]["annotations"]["description"]
            .as_str()
            .unwrap()
            .contains("b from 203.0.113.9"));
    }
}
