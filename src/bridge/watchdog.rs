//! The dead man's switch. Alertmanager sends the always-firing `Watchdog`
//! alert on every `repeat_interval`; the webhook records each one as a
//! heartbeat for its chat instead of forwarding it. This task checks the
//! heartbeats: once a chat has seen one, silence for `--watchdog-timeout`
//! queues "alerting pipeline is silent" for that chat, and the next
//! heartbeat queues the recovery (see `Store::intake`). The state lives in
//! the store, so a restart neither forgets a silence nor repeats it.
//!
//! Silence is counted from the later of the last heartbeat and the
//! bridge's own start: time the bridge itself was down is not held
//! against Alertmanager.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::doorbell::Doorbell;
use super::message::{escape, format_duration_ms};
use super::state::State;
use super::{millis, now_ms};

/// The notice queued when the heartbeat stops.
pub fn silent_notice(timeout: Duration) -> String {
    format!(
        "🚨 <b>Alerting pipeline is silent</b>\n\
         No Watchdog heartbeat from Alertmanager for {}. Alerts may not be \
         reaching this chat: check Prometheus, Alertmanager and the route to \
         this bridge.",
        escape(&format_duration_ms(millis(timeout)))
    )
}

/// The notice queued when the heartbeat comes back.
pub fn recovery_notice() -> String {
    "✅ <b>Alerting pipeline is back</b>\nThe Watchdog heartbeat arrives again.".to_owned()
}

/// How often to look, for a given timeout.
pub fn check_interval(timeout: Duration) -> Duration {
    (timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(10))
}

/// Checks heartbeats until `stop` turns true.
pub async fn run(
    state: Arc<dyn State>,
    timeout: Duration,
    started_ms: i64,
    doorbell: Arc<Doorbell>,
    mut stop: watch::Receiver<bool>,
) {
    let notice = silent_notice(timeout);
    let mut tick = tokio::time::interval(check_interval(timeout));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        match state
            .expire_watchdogs(now_ms(), millis(timeout), started_ms, notice.clone())
            .await
        {
            Ok(chats) if !chats.is_empty() => {
                tracing::warn!(chats = ?chats, timeout = ?timeout, "no Watchdog heartbeat: alerting pipeline is silent");
                for chat in chats {
                    doorbell.ring(chat);
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "checking the watchdog"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::message::to_plain;

    #[test]
    fn notices_read_well() {
        assert_eq!(
            to_plain(&silent_notice(Duration::from_secs(600)))
                .lines()
                .next(),
            Some("🚨 Alerting pipeline is silent")
        );
        assert!(silent_notice(Duration::from_secs(600)).contains("for 10m 0s"));
        assert!(to_plain(&recovery_notice()).starts_with("✅ Alerting pipeline is back"));
        assert_eq!(
            check_interval(Duration::from_secs(2)),
            Duration::from_millis(500)
        );
        assert_eq!(
            check_interval(Duration::from_secs(3600)),
            Duration::from_secs(10)
        );
    }
}
