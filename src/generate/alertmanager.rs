//! `alertmanager/alertmanager.yml`: typed Alertmanager config routing every
//! alert to the bridge's webhook (bearer token from a file, resolved
//! notifications on), the Watchdog to its own heartbeat receiver with a
//! short repeat, and inhibition of an agent's other alerts while it is down.

use serde::Serialize;

use super::settings::{prom_duration, Settings};

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
            routes: vec![Route {
                receiver: HEARTBEAT_RECEIVER.into(),
                matchers: vec!["alertname=\"Watchdog\"".into()],
                group_by: vec!["alertname".into()],
                group_wait: "0s".into(),
                group_interval: heartbeat.clone(),
                repeat_interval: heartbeat,
                ..Default::default()
            }],
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
        inhibit_rules: vec![
            // An agent that is down explains its other alerts (including the
            // TCP checks it probes, whose `agent` is the vantage agent).
            InhibitRule {
                source_matchers: vec!["alertname=\"AgentDown\"".into()],
                target_matchers: vec!["alertname!~\"AgentDown|Watchdog\"".into()],
                equal: vec!["agent".into()],
            },
            // The critical memory alert supersedes the warning.
            InhibitRule {
                source_matchers: vec!["alertname=\"HighMemoryUsage\"".into()],
                target_matchers: vec!["alertname=\"AgentHighMemory\"".into()],
                equal: vec!["agent".into()],
            },
        ],
    }
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
}
