//! What the engine asks of the bridge's own state ([`Desk`]): its figures
//! for `/stats` now; the bridge implements it over its store (and the
//! running bridge's counters), `outpost ask` over the state database.

use super::reply::BridgeFigures;

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
}
