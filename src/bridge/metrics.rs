//! The bridge's own counters and their Prometheus text exposition
//! (hand-written, format 0.0.4). Counters are atomics shared by the
//! webhook and the sender; gauges (queue depth, oldest queued age) come
//! from the store at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::state::Stats;

/// Counters with one label, keyed by a `&'static str` value.
#[derive(Default)]
pub struct LabelledCounter(Mutex<BTreeMap<&'static str, u64>>);

impl LabelledCounter {
    pub fn inc(&self, label: &'static str) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry(label).or_insert(0) += 1;
    }
    pub fn get(&self, label: &str) -> u64 {
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.get(label).copied().unwrap_or(0)
    }
    fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.iter().map(|(k, v)| (*k, *v)).collect()
    }
}

/// Everything `/metrics` counts.
#[derive(Default)]
pub struct Counters {
    /// Webhooks by result (`queued`, `duplicate`, `heartbeat`, `malformed` …).
    pub webhooks: LabelledCounter,
    /// Messages accepted by Telegram.
    pub sent: AtomicU64,
    /// Failed send attempts by reason (`network`, `server_error`,
    /// `rate_limited`, `bad_entities`, `forbidden` …).
    pub send_failures: LabelledCounter,
    /// 429 answers.
    pub rate_limited: AtomicU64,
    /// Sends repeated after a failure.
    pub retries: AtomicU64,
    /// Chats moved by `migrate_to_chat_id`.
    pub migrations: AtomicU64,
    /// Watchdog heartbeats received.
    pub heartbeats: AtomicU64,
    /// `--attach-charts` charts not made (the alert went as text), by
    /// reason (`timeout`, `prometheus`, `chart`, `no_expression`).
    pub chart_failures: LabelledCounter,
    /// Chat messages and button presses from users not allowed (shared
    /// with the chat engine, which counts them).
    pub chat_refused: Arc<AtomicU64>,
    /// Whether this bridge leads, and its epoch.
    pub standing: Arc<super::leader::Standing>,
    /// The HTTP server's open and shed connections.
    pub connections: std::sync::Arc<crate::server::Stats>,
}

impl Counters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The exposition text. `stats` is `None` when the store did not answer
/// (then `outpost_bridge_store_up` is 0 and the queue gauges are left out).
pub fn encode(c: &Counters, stats: Option<&Stats>, now_ms: i64) -> String {
    let mut out = String::with_capacity(2048);
    family(
        &mut out,
        "outpost_bridge_webhooks_received_total",
        "counter",
        "Alertmanager webhook requests, by result.",
    );
    for (result, n) in c.webhooks.snapshot() {
        let _ = writeln!(
            out,
            "outpost_bridge_webhooks_received_total{{result=\"{result}\"}} {n}"
        );
    }
    let simple = [
        (
            "outpost_bridge_messages_sent_total",
            "Messages accepted by Telegram.",
            &c.sent,
        ),
        (
            "outpost_bridge_rate_limited_total",
            "Telegram answers 429 Too Many Requests.",
            &c.rate_limited,
        ),
        (
            "outpost_bridge_send_retries_total",
            "Messages sent again after a failed attempt.",
            &c.retries,
        ),
        (
            "outpost_bridge_chat_migrations_total",
            "Chats moved to a new id (group upgraded to supergroup).",
            &c.migrations,
        ),
        (
            "outpost_bridge_watchdog_heartbeats_total",
            "Watchdog heartbeats received.",
            &c.heartbeats,
        ),
        (
            "outpost_bridge_chat_refused_total",
            "Chat messages and button presses refused because the sender is not allowed.",
            &c.chat_refused,
        ),
    ];
    for (name, help, v) in simple {
        family(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
    }
    family(
        &mut out,
        "outpost_bridge_send_failures_total",
        "counter",
        "Failed send attempts, by reason.",
    );
    for (reason, n) in c.send_failures.snapshot() {
        let _ = writeln!(
            out,
            "outpost_bridge_send_failures_total{{reason=\"{reason}\"}} {n}"
        );
    }
    family(
        &mut out,
        "outpost_bridge_chart_failures_total",
        "counter",
        "Charts for --attach-charts not made (the alert was sent as text), by reason.",
    );
    for (reason, n) in c.chart_failures.snapshot() {
        let _ = writeln!(
            out,
            "outpost_bridge_chart_failures_total{{reason=\"{reason}\"}} {n}"
        );
    }
    encode_connections(&mut out, &c.connections);
    family(
        &mut out,
        "outpost_bridge_leader",
        "gauge",
        "1 while this bridge holds the lease (delivers and polls Telegram), 0 while it follows.",
    );
    let _ = writeln!(
        out,
        "outpost_bridge_leader {}",
        u8::from(c.standing.leader.load(Ordering::Relaxed))
    );
    family(
        &mut out,
        "outpost_bridge_leader_epoch",
        "gauge",
        "The epoch (fencing token) of the last term this bridge led; 0 if none.",
    );
    let _ = writeln!(
        out,
        "outpost_bridge_leader_epoch {}",
        c.standing.epoch.load(Ordering::Relaxed)
    );
    family(
        &mut out,
        "outpost_bridge_leader_terms_total",
        "counter",
        "Terms this bridge started as the leader.",
    );
    let _ = writeln!(
        out,
        "outpost_bridge_leader_terms_total {}",
        c.standing.terms.load(Ordering::Relaxed)
    );
    family(
        &mut out,
        "outpost_bridge_store_up",
        "gauge",
        "Whether the state database answered this scrape.",
    );
    let _ = writeln!(out, "outpost_bridge_store_up {}", u8::from(stats.is_some()));
    if let Some(s) = stats {
        family(
            &mut out,
            "outpost_bridge_queue_depth",
            "gauge",
            "Notifications waiting in the outbox.",
        );
        let _ = writeln!(out, "outpost_bridge_queue_depth {}", s.queued);
        family(
            &mut out,
            "outpost_bridge_queue_failed",
            "gauge",
            "Outbox rows given up on (permanent Telegram errors).",
        );
        let _ = writeln!(out, "outpost_bridge_queue_failed {}", s.failed);
        family(
            &mut out,
            "outpost_bridge_oldest_queued_age_seconds",
            "gauge",
            "Age of the oldest notification waiting in the outbox (0 when empty).",
        );
        let age = s
            .oldest_queued_ms
            .map_or(0.0, |t| ((now_ms - t).max(0) as f64) / 1000.0);
        let _ = writeln!(out, "outpost_bridge_oldest_queued_age_seconds {age}");
    }
    out
}

/// The HTTP server's counts as `outpost_bridge_http_connections_*`.
fn encode_connections(out: &mut String, stats: &crate::server::Stats) {
    use crate::server::{ShedReason, OPEN_HELP, SHED_HELP};
    let shed = "outpost_bridge_http_connections_shed_total";
    family(out, shed, "counter", SHED_HELP);
    for reason in ShedReason::ALL {
        let (label, n) = (reason.as_str(), stats.shed(reason));
        let _ = writeln!(out, "{shed}{{reason=\"{label}\"}} {n}");
    }
    let open = "outpost_bridge_http_connections_open";
    family(out, open, "gauge", OPEN_HELP);
    let _ = writeln!(out, "{open} {}", stats.open());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_every_family() {
        let c = Counters::default();
        c.webhooks.inc("queued");
        c.webhooks.inc("queued");
        c.webhooks.inc("malformed");
        c.send_failures.inc("network");
        c.chart_failures.inc("timeout");
        Counters::add(&c.sent, 3);
        Counters::add(&c.chat_refused, 2);
        let s = Stats {
            queued: 4,
            failed: 1,
            oldest_queued_ms: Some(1_000),
        };
        let text = encode(&c, Some(&s), 3_500);
        for line in [
            "outpost_bridge_webhooks_received_total{result=\"queued\"} 2",
            "outpost_bridge_webhooks_received_total{result=\"malformed\"} 1",
            "outpost_bridge_send_failures_total{reason=\"network\"} 1",
            "outpost_bridge_chart_failures_total{reason=\"timeout\"} 1",
            "outpost_bridge_messages_sent_total 3",
            "outpost_bridge_chat_refused_total 2",
            "outpost_bridge_queue_depth 4",
            "outpost_bridge_oldest_queued_age_seconds 2.5",
            "outpost_bridge_store_up 1",
            "outpost_bridge_http_connections_shed_total{reason=\"header_timeout\"} 0",
            "outpost_bridge_http_connections_open 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
        let down = encode(&c, None, 0);
        assert!(down.contains("outpost_bridge_store_up 0"));
        assert!(!down.contains("queue_depth"));
    }
}
