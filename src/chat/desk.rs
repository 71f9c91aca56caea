//! What the engine asks of the bridge's own state ([`Desk`]): its figures
//! for `/stats`, the on-call configuration, acknowledgements (`/ack`,
//! the "I'm on it" button), and who gets what (subscriptions, mutes,
//! quiet hours). The bridge implements it over its store (with
//! the running bridge's counters, editing the alert messages on an
//! acknowledgement); `outpost ask` over the state database.

use super::audience::{MuteTarget, QuietHours, Topic, UserSettings};
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
    /// Subscribes `chat` to `topics`; its subscriptions afterwards.
    fn subscribe(&self, chat: i64, topics: Vec<Topic>) -> DeskFuture<'_, Vec<Topic>>;
    /// Ends `chat`'s subscriptions to `topics` (all of them for
    /// [`Topic::All`]); its subscriptions afterwards.
    fn unsubscribe(&self, chat: i64, topics: Vec<Topic>) -> DeskFuture<'_, Vec<Topic>>;
    /// `(chat, topic)` of one chat, or of every chat.
    fn subscriptions(&self, chat: Option<i64>) -> DeskFuture<'_, Vec<(i64, Topic)>>;
    /// Mutes `target` for `user_id` until `until_ms`.
    fn mute(&self, user_id: i64, target: MuteTarget, until_ms: i64) -> DeskFuture<'_, ()>;
    /// Ends a mute; false when there was none.
    fn unmute(&self, user_id: i64, target: MuteTarget) -> DeskFuture<'_, bool>;
    /// Sets or clears a user's quiet hours.
    fn set_quiet(&self, user_id: i64, quiet: Option<QuietHours>) -> DeskFuture<'_, ()>;
    /// A user's active mutes and quiet hours.
    fn settings(&self, user_id: i64) -> DeskFuture<'_, UserSettings>;
}
