//! The Alertmanager webhook payload (version 4) as serde types, and the
//! dedup key that recognises the same notification sent twice.
//!
//! Parsing is tolerant: every field has a default and unknown fields are
//! ignored, so a newer or older Alertmanager (or a hand-written `curl`)
//! still gets through. Only a body that is not a JSON object, or whose
//! `alerts` is not a list of objects, is rejected.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Label or annotation set. Sorted, so rendering and hashing are stable.
pub type KeyValues = BTreeMap<String, String>;

/// One webhook notification (`version: "4"`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Notification {
    pub version: String,
    pub group_key: String,
    pub truncated_alerts: u64,
    pub status: String,
    pub receiver: String,
    pub group_labels: KeyValues,
    pub common_labels: KeyValues,
    pub common_annotations: KeyValues,
    #[serde(rename = "externalURL")]
    pub external_url: String,
    pub alerts: Vec<Alert>,
}

/// One alert inside a notification.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Alert {
    pub status: String,
    pub labels: KeyValues,
    pub annotations: KeyValues,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
}

/// Why a body is not a notification.
#[derive(Debug, thiserror::Error)]
#[error("invalid Alertmanager webhook JSON: {0}")]
pub struct ParseError(String);

/// The alert name of the dead man's switch heartbeat.
pub const WATCHDOG_ALERTNAME: &str = crate::alerts::WATCHDOG;

impl Notification {
    /// Parses a webhook body.
    pub fn parse(body: &[u8]) -> Result<Self, ParseError> {
        let mut n: Notification =
            serde_json::from_slice(body).map_err(|e| ParseError(e.to_string()))?;
        for a in &mut n.alerts {
            if a.status.is_empty() {
                a.status = n.status.clone();
            }
            if a.fingerprint.is_empty() {
                a.fingerprint = a.derived_fingerprint();
            }
        }
        Ok(n)
    }

    /// Removes the Watchdog heartbeats and returns how many of them were
    /// firing (a resolved Watchdog is not a sign of life).
    pub fn take_heartbeats(&mut self) -> usize {
        let mut beats = 0;
        self.alerts.retain(|a| {
            if a.is_watchdog() {
                beats += usize::from(a.is_firing());
                false
            } else {
                true
            }
        });
        beats
    }

    /// The key under which a repeat of this same notification (an
    /// Alertmanager retry, or the other member of an HA pair) is
    /// recognised: receiver, group key, status and every alert's
    /// fingerprint, status and start/end, in a stable order, hashed.
    /// Time of arrival is not part of it: the store decides how long a key
    /// counts as "seen" (see `--dedup-window`).
    pub fn dedup_key(&self, chat: i64, thread: Option<i64>) -> String {
        self.key_of(&[
            chat.to_string(),
            thread.map(|t| t.to_string()).unwrap_or_default(),
            self.receiver.clone(),
            self.group_key.clone(),
            self.status.clone(),
        ])
    }

    /// The key under which a chat that has subscriptions gets this
    /// notification once, whether a route named the chat or a
    /// subscription copied it there: the chat, status and the alerts,
    /// without receiver, group key or topic (two routes that both reach
    /// the chat carry the same alerts under different receivers).
    pub fn delivery_key(&self, chat: i64) -> String {
        self.key_of(&[
            "delivery".to_string(),
            chat.to_string(),
            self.status.clone(),
        ])
    }

    /// `head` and every alert's fingerprint, status and start/end, in a
    /// stable order, hashed.
    fn key_of(&self, head: &[String]) -> String {
        let mut alerts: Vec<String> = self
            .alerts
            .iter()
            .map(|a| {
                format!(
                    "{}\u{1f}{}\u{1f}{}\u{1f}{}",
                    a.fingerprint, a.status, a.starts_at, a.ends_at
                )
            })
            .collect();
        alerts.sort();
        let mut h = Sha256::new();
        for part in head {
            h.update(part.as_bytes());
            h.update([0x1e]);
        }
        for a in alerts {
            h.update(a.as_bytes());
            h.update([0x1e]);
        }
        let digest = h.finalize();
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }
}

impl Alert {
    pub fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }
    pub fn is_firing(&self) -> bool {
        self.status != "resolved"
    }
    pub fn is_watchdog(&self) -> bool {
        self.name() == WATCHDOG_ALERTNAME
    }

    /// A fingerprint from the labels, for payloads that carry none.
    fn derived_fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for (k, v) in &self.labels {
            h.update(k.as_bytes());
            h.update([0xff]);
            h.update(v.as_bytes());
            h.update([0xff]);
        }
        h.finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../shared/fixtures/alertmanager-webhook-{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn real_fixtures_parse() {
        let n = Notification::parse(&fixture("firing")).unwrap();
        assert_eq!(n.version, "4");
        assert_eq!(n.status, "firing");
        assert_eq!(n.alerts.len(), 1);
        assert_eq!(n.alerts[0].name(), "HostHighCpuLoad");
        assert_eq!(n.alerts[0].fingerprint, "4aa54d75fe575ee8");
        assert!(n.alerts[0]
            .generator_url
            .starts_with("http://127.0.0.1:19090/graph?g0.expr="));
        let g = Notification::parse(&fixture("firing-grouped")).unwrap();
        assert_eq!(g.alerts.len(), 2);
        let r = Notification::parse(&fixture("resolved")).unwrap();
        assert!(!r.alerts[0].is_firing());
        assert_eq!(r.alerts[0].ends_at, "2026-11-22T05:10:04.879783Z");
    }

    #[test]
    fn missing_and_unknown_fields_are_tolerated() {
        let n = Notification::parse(
            br#"{"alerts":[{"labels":{"alertname":"X"},"newField":{"a":1}}],"status":"firing","extra":true}"#,
        )
        .unwrap();
        assert_eq!(n.alerts[0].status, "firing");
        assert_eq!(n.alerts[0].fingerprint.len(), 16);
        assert!(Notification::parse(b"{}").unwrap().alerts.is_empty());
        assert!(Notification::parse(b"[1,2]").is_err());
        assert!(Notification::parse(b"{\"alerts\":[1]}").is_err());
        assert!(Notification::parse(b"{not json").is_err());
    }

    #[test]
    fn dedup_key_ignores_order_but_not_content() {
        let g = Notification::parse(&fixture("firing-grouped")).unwrap();
        let mut swapped = g.clone();
        swapped.alerts.reverse();
        assert_eq!(g.dedup_key(1, None), swapped.dedup_key(1, None));
        assert_ne!(g.dedup_key(1, None), g.dedup_key(2, None));
        assert_ne!(g.dedup_key(1, None), g.dedup_key(1, Some(7)));
        let mut resolved = g.clone();
        resolved.alerts[0].status = "resolved".into();
        assert_ne!(g.dedup_key(1, None), resolved.dedup_key(1, None));
        let mut restarted = g.clone();
        restarted.alerts[1].starts_at = "2026-11-22T06:00:00Z".into();
        assert_ne!(g.dedup_key(1, None), restarted.dedup_key(1, None));
    }

    #[test]
    fn the_delivery_key_ignores_the_route_but_not_the_chat_or_content() {
        let g = Notification::parse(&fixture("firing-grouped")).unwrap();
        let mut other_route = g.clone();
        other_route.receiver = "other".into();
        other_route.group_key = "{}:{x=\"y\"}".into();
        assert_eq!(g.delivery_key(1), other_route.delivery_key(1));
        assert_ne!(g.dedup_key(1, None), other_route.dedup_key(1, None));
        assert_ne!(g.delivery_key(1), g.delivery_key(2));
        assert_ne!(g.delivery_key(1), g.dedup_key(1, None));
        let mut fewer = g.clone();
        fewer.alerts.pop();
        assert_ne!(g.delivery_key(1), fewer.delivery_key(1));
    }

    #[test]
    fn heartbeats_are_taken_out() {
        let mut n = Notification::parse(
            br#"{"status":"firing","alerts":[{"labels":{"alertname":"Watchdog"}},{"labels":{"alertname":"Real"}},{"status":"resolved","labels":{"alertname":"Watchdog"}}]}"#,
        )
        .unwrap();
        assert_eq!(n.take_heartbeats(), 1);
        assert_eq!(n.alerts.len(), 1);
        assert_eq!(n.alerts[0].name(), "Real");
    }
}
