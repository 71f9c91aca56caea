//! Alert messages enriched from the alert's own agent through its signed
//! actions: a firing AgentHighCPU carries the agent's top processes
//! (`top`), a firing AgentHighDisk its largest containers and volumes
//! (`docker.df`, where the agent enables docker). Only for agents with
//! `actions=` in agents.txt and a bridge with `--actions-key`.
//!
//! Decisions:
//! - The block is fetched under [`DEADLINE`], alongside the chart, so the
//!   alert waits at most that long; a late, refused or failed fetch is
//!   logged and the alert goes as it is.
//! - The block is appended to the message and the whole is cut to
//!   Telegram's limit between lines, so the alert's own text is never
//!   what gets cut.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::payload::Alert;
use crate::alerts::{AGENT_HIGH_CPU, AGENT_HIGH_DISK};
use crate::chat::Engine;

/// The longest an alert waits for its enrichment.
pub const DEADLINE: Duration = Duration::from_secs(2);

/// The agent action that enriches a firing alert, if any.
pub fn action_for(alert: &Alert) -> Option<&'static str> {
    if !alert.is_firing() {
        return None;
    }
    match alert.name() {
        AGENT_HIGH_CPU => Some("top"),
        AGENT_HIGH_DISK => Some("docker.df"),
        _ => None,
    }
}

/// An enrichment being fetched: HTML to append, or nothing.
pub type EnrichFuture = Pin<Box<dyn Future<Output = Option<String>> + Send>>;

/// Fetches an alert's enrichment (the engine in the bridge; a stand-in in
/// tests).
pub type Enrich = Arc<dyn Fn(Alert) -> EnrichFuture + Send + Sync>;

/// The enrichment of `alert` from `engine`'s actions client, given up
/// after `deadline`.
pub async fn fetch(engine: &Engine, alert: &Alert, deadline: Duration) -> Option<String> {
    let action = action_for(alert)?;
    let agent = alert.labels.get("agent")?;
    match tokio::time::timeout(deadline, engine.enrichment(agent, action)).await {
        Ok(Ok(html)) => html,
        Ok(Err(e)) => {
            tracing::warn!(alert = alert.name(), %agent, error = %e, "no enrichment for the alert");
            None
        }
        Err(_) => {
            tracing::warn!(alert = alert.name(), %agent, limit_ms = deadline.as_millis() as u64, "enrichment late; sending the alert without it");
            None
        }
    }
}

/// [`fetch`] with this engine, as the sender takes it.
pub fn enrich(engine: Arc<Engine>, deadline: Duration) -> Enrich {
    Arc::new(move |alert: Alert| -> EnrichFuture {
        let engine = Arc::clone(&engine);
        Box::pin(async move { fetch(&engine, &alert, deadline).await })
    })
}

/// `html` with `block` appended, cut to `limit` visible characters.
pub fn append(html: &str, block: &str, limit: usize) -> String {
    crate::html::cut(&format!("{html}\n\n{block}"), limit)
}
