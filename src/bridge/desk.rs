//! The chat engine's [`Desk`] over the bridge's store: `/stats` from the
//! outbox (queued, failed, oldest pending, sent rows still kept) and, in the
//! running bridge, its counters (sent, retried, 429s) and start time.
//! `outpost ask` gets the same over the state database, without counters.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::metrics::Counters;
use super::store::{Store, StoreError};
use crate::chat::desk::{Desk, DeskError, DeskFuture};
use crate::chat::reply::BridgeFigures;

/// [`Desk`] of a store, with the running bridge's counters when there is one.
pub struct StoreDesk {
    pub store: Store,
    /// `None` in `outpost ask`: only the running bridge counts.
    pub running: Option<(Arc<Counters>, i64)>,
}

/// The desk `outpost ask` uses: the state database at `path`.
pub fn for_state(path: &Path) -> Result<StoreDesk, StoreError> {
    Ok(StoreDesk {
        store: Store::open(path, Duration::from_secs(2))?,
        running: None,
    })
}

fn desk_error(e: StoreError) -> DeskError {
    DeskError(e.to_string())
}

impl Desk for StoreDesk {
    fn figures(&self) -> DeskFuture<'_, BridgeFigures> {
        Box::pin(async move {
            let stats = self.store.stats().await.map_err(desk_error)?;
            let kept_sent = self.store.sent_rows().await.map_err(desk_error)?;
            let count = |n: i64| u64::try_from(n).unwrap_or(0);
            let mut f = BridgeFigures {
                queued: count(stats.queued),
                failed: count(stats.failed),
                oldest_pending_ms: stats.oldest_queued_ms,
                sent: Some(count(kept_sent)),
                source: "the state database (sent: rows kept, a day's worth)".into(),
                ..Default::default()
            };
            if let Some((counters, started_ms)) = &self.running {
                f.sent = Some(counters.sent.load(Ordering::Relaxed));
                f.retried = Some(counters.retries.load(Ordering::Relaxed));
                f.rate_limited = Some(counters.rate_limited.load(Ordering::Relaxed));
                f.up_since_ms = Some(*started_ms);
                f.source = "the running bridge (counts since it started)".into();
            }
            Ok(f)
        })
    }
}
