//! Subscriptions at intake, pure: which other chats get a copy of a
//! notification, each with the alerts of the agents it subscribed to
//! (`/subscribe`). The store calls [`copies`] inside the transaction that
//! takes the webhook, so a copy is on disk before Alertmanager hears 200.
//!
//! Decisions:
//! - A copy carries only the alerts its chat subscribed to (all of them
//!   for `all`); a chat none of whose agents is in the notification gets
//!   nothing. The routed chat never gets a copy of its own notification.
//! - Each chat that has subscriptions gets a notification once: routed
//!   webhooks and copies for that chat share the chat's
//!   [`Notification::delivery_key`] (the alerts and status, not the
//!   receiver), so a chat subscribed to `all` that a route also names is
//!   not sent the same alerts twice. Chats without subscriptions keep the
//!   plain dedup key alone, exactly as before.
//! - Copies go to the chat itself, not a forum topic: a subscription is
//!   the chat's.

use std::collections::BTreeMap;

use super::payload::Notification;
use crate::chat::audience::Topic;

/// A notification for a subscribed chat, and its delivery key.
#[derive(Debug, Clone, PartialEq)]
pub struct Copied {
    pub chat: i64,
    pub notification: Notification,
    pub key: String,
}

/// The copies of `n` (routed to `routed`, after migrations) for the chats
/// of `subscriptions` (`(chat, topic)` rows), in chat order.
pub fn copies(n: &Notification, routed: i64, subscriptions: &[(i64, Topic)]) -> Vec<Copied> {
    let mut by_chat: BTreeMap<i64, Vec<&Topic>> = BTreeMap::new();
    for (chat, topic) in subscriptions {
        if *chat != routed {
            by_chat.entry(*chat).or_default().push(topic);
        }
    }
    by_chat
        .into_iter()
        .filter_map(|(chat, topics)| {
            let alerts: Vec<_> = n
                .alerts
                .iter()
                .filter(|a| {
                    let agent = a.labels.get("agent").map_or("", String::as_str);
                    topics.iter().any(|t| t.covers(agent))
                })
                .cloned()
                .collect();
            if alerts.is_empty() {
                return None;
            }
            let mut copy = n.clone();
            if alerts.len() != n.alerts.len() {
                copy.status = if alerts.iter().any(|a| a.is_firing()) {
                    "firing".into()
                } else {
                    "resolved".into()
                };
                copy.alerts = alerts;
            }
            let key = copy.delivery_key(chat);
            Some(Copied {
                chat,
                notification: copy,
                key,
            })
        })
        .collect()
}

/// Whether `chat` has any subscription (then its routed webhooks are
/// checked against its delivery key too).
pub fn subscribed(chat: i64, subscriptions: &[(i64, Topic)]) -> bool {
    subscriptions.iter().any(|(c, _)| *c == chat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::payload::Alert;

    fn alert(agent: &str, status: &str) -> Alert {
        let mut a = Alert {
            status: status.into(),
            fingerprint: format!("fp-{agent}"),
            ..Default::default()
        };
        a.labels.insert("alertname".into(), "AgentDown".into());
        a.labels.insert("agent".into(), agent.into());
        a
    }

    #[test]
    fn each_subscribed_chat_gets_the_alerts_of_its_agents() {
        let n = Notification {
            status: "firing".into(),
            receiver: "team".into(),
            alerts: vec![alert("web1", "firing"), alert("db1", "resolved")],
            ..Default::default()
        };
        let web = |a: &str| Topic::Agent(a.into());
        let subs = vec![
            (10, Topic::All),
            (20, web("db1")),
            (30, web("mail1")),
            (40, web("web1")),
            (40, web("db1")),
            (1, Topic::All),
        ];
        let c = copies(&n, 1, &subs);
        let chats: Vec<i64> = c.iter().map(|c| c.chat).collect();
        assert_eq!(chats, [10, 20, 40], "not the routed chat, not mail1's");
        assert_eq!(c[0].notification, n, "all: the whole notification");
        assert_eq!(c[2].notification, n, "both agents: the whole notification");
        let db_only = &c[1].notification;
        assert_eq!(db_only.alerts, vec![alert("db1", "resolved")]);
        assert_eq!(db_only.status, "resolved");
        assert_eq!(c[0].key, n.delivery_key(10));
        assert_ne!(c[0].key, c[2].key);
        assert!(subscribed(1, &subs) && !subscribed(2, &subs));
        assert!(copies(&n, 1, &[]).is_empty());
    }
}
