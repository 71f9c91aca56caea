//! `logind` (off by default): node_exporter's
//! `node_logind_sessions{seat,remote,type,class}`, sessions registered in
//! systemd-logind, asked over D-Bus with the client the `logins`
//! collector uses ([`crate::exporter::logins::logind`]).
//!
//! Decisions: as node_exporter, every combination of `remote` (true,
//! false), logind's session types and classes (anything else counted as
//! `other`) and seat (logind's seats plus the empty seat of remote
//! sessions) is exported, zeros included, so a series never vanishes when
//! its last session ends. A bus that is not there fails the collector
//! (`node_scrape_collector_success 0`) with one warning naming the socket.

use std::collections::HashMap;

use crate::exporter::collector::{CollectError, Collector, Paths};
use crate::exporter::logins::logind::{self, Session};
use crate::exporter::metrics::Metrics;

/// Session types logind documents, `other` first (the fallback).
const TYPES: [&str; 7] = [
    "other",
    "unspecified",
    "tty",
    "x11",
    "wayland",
    "mir",
    "web",
];
/// Session classes logind documents, `other` first (the fallback).
const CLASSES: [&str; 5] = ["other", "user", "greeter", "lock-screen", "background"];
const REMOTE: [&str; 2] = ["true", "false"];

/// One `node_logind_sessions` series: seat, remote, type, class, count.
#[derive(Debug, PartialEq)]
pub struct Count {
    pub seat: String,
    pub remote: &'static str,
    pub kind: &'static str,
    pub class: &'static str,
    pub sessions: f64,
}

fn known(value: &str, list: &[&'static str]) -> &'static str {
    list.iter()
        .copied()
        .find(|k| *k == value)
        .unwrap_or("other")
}

/// Counts `sessions` over every seat of `seats` (plus the empty seat) and
/// every remote/type/class value, in node_exporter's order.
pub fn count(seats: &[String], sessions: &[Session]) -> Vec<Count> {
    let mut by: HashMap<(&str, &str, &str, &str), f64> = HashMap::new();
    for s in sessions {
        let remote = if s.remote { "true" } else { "false" };
        *by.entry((
            s.seat.as_str(),
            remote,
            known(&s.kind, &TYPES),
            known(&s.class, &CLASSES),
        ))
        .or_default() += 1.0;
    }
    let seats: Vec<&str> = seats
        .iter()
        .map(String::as_str)
        .chain(std::iter::once(""))
        .collect();
    let mut out = Vec::new();
    for remote in REMOTE {
        for kind in TYPES {
            for class in CLASSES {
                for seat in &seats {
                    out.push(Count {
                        seat: (*seat).to_owned(),
                        remote,
                        kind,
                        class,
                        sessions: by
                            .get(&(*seat, remote, kind, class))
                            .copied()
                            .unwrap_or(0.0),
                    });
                }
            }
        }
    }
    out
}

pub struct Logind {
    address: String,
}

impl Logind {
    pub fn new(paths: Paths) -> Self {
        Logind {
            address: logind::address(&paths.rootfs),
        }
    }
}

impl Collector for Logind {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let fail = |e: logind::LogindError| CollectError::Other(e.to_string());
        let client = logind::Logind::connect(&self.address).map_err(fail)?;
        let seats = client.seats().map_err(fail)?;
        let sessions = client.sessions().map_err(fail)?;
        let f = out.gauge(
            "node_logind_sessions",
            "Number of sessions registered in logind.",
        );
        for c in count(&seats, &sessions) {
            f.add(
                &[
                    ("seat", &c.seat),
                    ("remote", c.remote),
                    ("type", c.kind),
                    ("class", c.class),
                ],
                c.sessions,
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(seat: &str, remote: bool, kind: &str, class: &str) -> Session {
        Session {
            id: "1".into(),
            user: "u".into(),
            seat: seat.into(),
            kind: kind.into(),
            class: class.into(),
            remote,
            remote_host: String::new(),
            service: String::new(),
            timestamp_us: 0,
        }
    }

    #[test]
    fn counts_every_combination_with_unknown_values_as_other() {
        let seats = vec!["seat0".to_owned()];
        let sessions = [
            session("", true, "tty", "user"),
            session("", true, "tty", "user"),
            session("seat0", false, "wayland", "greeter"),
            session("seat0", false, "hologram", "manager"),
        ];
        let all = count(&seats, &sessions);
        // 2 remote values × 7 types × 5 classes × (seat0 + no seat).
        assert_eq!(all.len(), 2 * 7 * 5 * 2);
        let get = |seat: &str, remote, kind, class| {
            all.iter()
                .find(|c| {
                    c.seat == seat && c.remote == remote && c.kind == kind && c.class == class
                })
                .unwrap()
                .sessions
        };
        assert_eq!(get("", "true", "tty", "user"), 2.0);
        assert_eq!(get("seat0", "false", "wayland", "greeter"), 1.0);
        assert_eq!(get("seat0", "false", "other", "other"), 1.0);
        assert_eq!(get("seat0", "true", "tty", "user"), 0.0);
        assert_eq!(all.iter().map(|c| c.sessions).sum::<f64>(), 4.0);
    }
}
