//! `alertmanager/alertmanager.yml`: typed Alertmanager config routing every
//! alert to the bridge's webhook (bearer token from a file, resolved
//! notifications on), the Watchdog to its own heartbeat receiver with a
//! short repeat, info alerts repeated once a day, and inhibitions built from
//! the alert catalog ([`crate::alerts`]): an agent that is down holds back
//! its other alerts, a critical alert the warning of the same name, agent
//! and object, and each catalog entry the alerts it names.
//!
//! Decisions:
//! - Grouping by `alertname` and `agent`: one chat message per problem and
//!   host, so a host with a full disk and a dead RAID shows two threads, and
//!   twenty hosts losing the same NTP server show twenty short lines in
//!   twenty messages rather than one wall of text.

use serde::Serialize;

use super::settings::{prom_duration, Settings};
use crate::alerts::{self, Severity, CATALOG, OBJECT_LABELS};

/// Receiver of every alert except the Watchdog.
pub const BRIDGE_RECEIVER: &str = "outpost-bridge";
/// Receiver of the Watchdog heartbeat.
pub const HEARTBEAT_RECEIVER: &str = "outpost-heartbeat";

#[derive(Debug, Serialize)]
pub struct AlertmanagerConfig {
    pub global: Global,
    pub route: Route,
    pub receivers: Vec<Receiver>,
    pub inhibit_rules: Vec<InhibitRule>,
}

#[derive(Debug, Serialize)]
pub struct Global {
    pub resolve_timeout: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Route {
    pub receiver: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub matchers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<String>,
    pub group_wait: String,
    pub group_interval: String,
    pub repeat_interval: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
}

#[derive(Debug, Serialize)]
pub struct Receiver {
    pub name: String,
    pub webhook_configs: Vec<WebhookConfig>,
}

#[derive(Debug, Serialize)]
pub struct WebhookConfig {
    pub url: String,
    pub send_resolved: bool,
    pub http_config: HttpConfig,
}

#[derive(Debug, Serialize)]
pub struct HttpConfig {
    pub authorization: Authorization,
}

#[derive(Debug, Serialize)]
pub struct Authorization {
    #[serde(rename = "type")]
    pub kind: String,
    pub credentials_file: String,
}

#[derive(Debug, Serialize)]
pub struct InhibitRule {
    pub source_matchers: Vec<String>,
    pub target_matchers: Vec<String>,
    pub equal: Vec<String>,
}

/// The bridge's webhook URL.
pub fn webhook_url(s: &Settings) -> String {
    format!("{}/alert", s.bridge_url.trim_end_matches('/'))
}

fn webhook(s: &Settings, send_resolved: bool) -> WebhookConfig {
    WebhookConfig {
        url: webhook_url(s),
        send_resolved,
        http_config: HttpConfig {
            authorization: Authorization {
                kind: "Bearer".into(),
                credentials_file: s.webhook_token_file.clone(),
            },
        },
    }
}

/// The whole config.
pub fn build(s: &Settings) -> AlertmanagerConfig {
    let heartbeat = prom_duration(s.heartbeat_interval);
    AlertmanagerConfig {
        global: Global {
            resolve_timeout: "5m".into(),
        },
        route: Route {
            receiver: BRIDGE_RECEIVER.into(),
            group_by: vec!["alertname".into(), "agent".into()],
            group_wait: prom_duration(s.group_wait),
            group_interval: prom_duration(s.group_interval),
            repeat_interval: prom_duration(s.repeat_interval),
            routes: vec![
                Route {
                    receiver: HEARTBEAT_RECEIVER.into(),
                    matchers: vec![format!("alertname=\"{}\"", alerts::WATCHDOG)],
                    group_by: vec!["alertname".into()],
                    group_wait: "0s".into(),
                    group_interval: heartbeat.clone(),
                    repeat_interval: heartbeat,
                    ..Default::default()
                },
                // Information, not a page: once a day is enough.
                Route {
                    receiver: BRIDGE_RECEIVER.into(),
                    matchers: vec![format!("severity=\"{}\"", Severity::Info.as_str())],
                    group_by: vec!["alertname".into(), "agent".into()],
                    group_wait: prom_duration(s.group_wait),
                    group_interval: prom_duration(s.group_interval),
                    repeat_interval: prom_duration(s.repeat_interval.max(INFO_REPEAT)),
                    ..Default::default()
                },
            ],
            ..Default::default()
        },
        receivers: vec![
            Receiver {
                name: BRIDGE_RECEIVER.into(),
                webhook_configs: vec![webhook(s, true)],
            },
            // The bridge recognises alertname="Watchdog" as its heartbeat; a
            // Watchdog never resolves, so no resolved notifications.
            Receiver {
                name: HEARTBEAT_RECEIVER.into(),
                webhook_configs: vec![webhook(s, false)],
            },
        ],
        inhibit_rules: inhibitions(),
    }
}

/// How often an info alert is repeated at most.
const INFO_REPEAT: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The inhibit rules, from the catalog.
pub fn inhibitions() -> Vec<InhibitRule> {
    let mut rules = vec![
        // An agent that is down explains its other alerts (including the
        // TCP checks it probes, whose `agent` is the vantage agent).
        InhibitRule {
            source_matchers: vec![format!("alertname=\"{}\"", alerts::AGENT_DOWN)],
            target_matchers: vec![format!(
                "alertname!~\"{}|{}\"",
                alerts::AGENT_DOWN,
                alerts::WATCHDOG
            )],
            equal: vec!["agent".into()],
        },
        // The critical alert supersedes the warning (and info) of the same
        // name on the same agent and object.
        InhibitRule {
            source_matchers: vec![format!("severity=\"{}\"", Severity::Critical.as_str())],
            target_matchers: vec![format!(
                "severity=~\"{}|{}\"",
                Severity::Warning.as_str(),
                Severity::Info.as_str()
            )],
            equal: ["alertname", "agent"]
                .iter()
                .chain(OBJECT_LABELS)
                .map(|l| l.to_string())
                .collect(),
        },
    ];
    for e in CATALOG.iter().filter(|e| !e.inhibits.is_empty()) {
        rules.push(InhibitRule {
            source_matchers: vec![format!("alertname=\"{}\"", e.name)],
            target_matchers: vec![format!("alertname=~\"{}\"", e.inhibits.join("|"))],
            equal: std::iter::once("agent")
                .chain(e.inhibit_equal.iter().copied())
                .map(String::from)
                .collect(),
        });
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_to_the_bridge_with_bearer_file() {
        let s = Settings {
            bridge_url: "http://bridge:9187/".into(),
            webhook_token_file: "/run/secrets/token".into(),
            ..Default::default()
        };
        let c = build(&s);
        let hook = &c.receivers[0].webhook_configs[0];
        assert_eq!(hook.url, "http://bridge:9187/alert");
        assert!(hook.send_resolved);
        assert_eq!(
            hook.http_config.authorization.credentials_file,
            "/run/secrets/token"
        );
        assert_eq!(c.route.group_by, ["alertname", "agent"]);
        assert_eq!(c.route.routes[0].repeat_interval, "1m");
    }

    #[test]
    fn inhibitions_come_from_the_catalog() {
        let rules = inhibitions();
        let raid = rules
            .iter()
            .find(|r| r.source_matchers == ["alertname=\"NodeRAIDDiskFailure\""])
            .unwrap();
        assert_eq!(raid.target_matchers, ["alertname=~\"NodeRAIDDegraded\""]);
        assert_eq!(raid.equal, ["agent", "device"]);
        let mem = rules
            .iter()
            .find(|r| r.source_matchers == ["alertname=\"HighMemoryUsage\""])
            .unwrap();
        assert_eq!(
            mem.target_matchers,
            ["alertname=~\"AgentHighMemory|NodeMemoryHighUtilization\""]
        );
        assert_eq!(
            rules.len(),
            2 + CATALOG.iter().filter(|e| !e.inhibits.is_empty()).count()
        );
    }
}
