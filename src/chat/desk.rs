//! What the engine asks of the bridge's own state ([`Desk`]): its figures
//! for `/stats`, the on-call configuration, and acknowledgements (`/ack`,
//! the "I'm on it" button). The bridge implements it over its store (with
//! the running bridge's counters, editing the alert messages on an
//! acknowledgement); `outpost ask` over the state database.

use super::oncall::OnCall;
use super::reply::BridgeFigures;

/// What to acknowledge: an alert by fingerprint (a button), or every
/// unresolved alert of a name (`/ack NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckTarget {
    Fingerprint(String),
    Alertname(String),
}

/// An acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub fingerprint: String,
    pub alertname: String,
    pub user_id: i64,
    /// How the user is named in messages (`@alice` or `user 42`).
    pub who: String,
    pub at_ms: i64,
    /// False when someone had taken it already (this is theirs).
    pub new: bool,
}

/// A failure of the bridge's state, as text (the store's errors are its own).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct DeskError(pub String);

/// What a [`Desk`] method returns.
pub type DeskFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, DeskError>> + Send + 'a>>;

/// The bridge's state as the chat engine sees it.
pub trait Desk: Send + Sync + 'static {
    /// The figures `/stats` shows.
    fn figures(&self) -> DeskFuture<'_, BridgeFigures>;
    /// The on-call configuration (`--oncall`).
    fn on_call(&self) -> &OnCall;
    /// Records `user_id` (named `who`) as handling the unresolved alerts
    /// `target` names, and shows it where those alerts were announced.
    fn ack(&self, target: AckTarget, user_id: i64, who: String) -> DeskFuture<'_, Vec<Ack>>;
}
