//! Who delivers: the bridge holding the state's lease leads (sends the
//! outbox, polls `getUpdates`, checks the watchdog); the others follow
//! (take webhooks, serve health and metrics) and try to take the lease
//! over. [`run`] keeps the lease and publishes the [`Role`]; `mod.rs`
//! starts a term's tasks when it leads and stops them when it no longer
//! does.
//!
//! Timing, for a lease of `ttl` (`--lease-ttl`): the leader renews every
//! `ttl / 3`; a follower tries to take the lease every `ttl / 15` (at
//! least 100 ms). The lease expires `ttl` after the last renewal, so
//! after the leader dies a follower leads within `ttl + ttl / 15`.
//! A leader that cannot renew (database unreachable) steps down when
//! its lease has run out by its own clock, so it stops sending before
//! another can have taken over; the epoch fences whatever it still writes.
//!
//! A failover costs duplicates, never losses: rows the dead leader
//! claimed and sent but had not yet marked sent are queued still and
//! sent again by the next leader: at most the batch in flight per chat.
//!
//! Decisions: a SQLite state is not shared (`LeaseStore::shared` is
//! false): the bridge leads at once and for good, as before issue 14.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::state::{Epoch, State};

/// This bridge's role now: `Some(epoch)` while it leads.
pub type Role = Option<Epoch>;

/// What `/metrics` shows about leadership.
#[derive(Debug, Default)]
pub struct Standing {
    pub leader: AtomicBool,
    /// The epoch of the last term this bridge led (0: never).
    pub epoch: AtomicI64,
    /// Terms this bridge has started.
    pub terms: AtomicI64,
}

impl Standing {
    fn set(&self, role: Role) {
        self.leader.store(role.is_some(), Ordering::Relaxed);
        if let Some(e) = role {
            self.epoch.store(e, Ordering::Relaxed);
            self.terms.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// How often the leader renews.
pub fn renew_interval(ttl: Duration) -> Duration {
    (ttl / 3).max(Duration::from_millis(100))
}

/// How often a follower tries to take the lease.
pub fn follow_interval(ttl: Duration) -> Duration {
    (ttl / 15).max(Duration::from_millis(100))
}

/// A name for this bridge in the lease row: host, process and start time,
/// so a restarted bridge is a new holder.
pub fn holder_name() -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into());
    format!("{host}:{}:{}", std::process::id(), super::now_ms())
}

/// Keeps (or chases) the lease until `stop` turns true, publishing the
/// role on `role`; gives the lease up on the way out.
pub async fn run(
    state: Arc<dyn State>,
    holder: String,
    ttl: Duration,
    role: watch::Sender<Role>,
    standing: Arc<Standing>,
    mut stop: watch::Receiver<bool>,
) {
    let ttl_ms = super::millis(ttl);
    let mut current: Role = None;
    // By this bridge's clock, when the lease runs out unless renewed.
    let mut deadline = Instant::now();
    loop {
        if *stop.borrow() {
            break;
        }
        let asked = Instant::now();
        match current {
            None => match state.acquire_lease(&holder, ttl_ms).await {
                Ok(Some(epoch)) => {
                    tracing::info!(epoch, holder = %holder, "leading: delivering and polling Telegram");
                    current = Some(epoch);
                    deadline = asked + ttl;
                    standing.set(current);
                    role.send_replace(current);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "trying to take the lease"),
            },
            Some(epoch) => match state.renew_lease(&holder, epoch, ttl_ms).await {
                Ok(true) => deadline = asked + ttl,
                Ok(false) => {
                    tracing::warn!(epoch, "lease lost to another bridge: following");
                    current = None;
                }
                Err(e) => {
                    tracing::warn!(error = %e, epoch, "renewing the lease");
                    if Instant::now() + renew_interval(ttl) >= deadline {
                        tracing::warn!(epoch, "lease about to run out: following");
                        current = None;
                    }
                }
            },
        }
        if current.is_none() && role.borrow().is_some() {
            standing.set(None);
            role.send_replace(None);
        }
        if !state.shared() && current.is_some() {
            // Nobody else can take it: wait for the end.
            let _ = stop.wait_for(|s| *s).await;
            break;
        }
        let pause = if current.is_some() {
            renew_interval(ttl)
        } else {
            follow_interval(ttl)
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => {}
        }
    }
    if let Some(epoch) = current {
        standing.set(None);
        role.send_replace(None);
        if let Err(e) = state.release_lease(&holder, epoch).await {
            tracing::warn!(error = %e, "giving the lease up");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follower_looks_often_enough_to_take_over_within_the_ttl_and_a_bit() {
        let ttl = Duration::from_secs(15);
        assert_eq!(renew_interval(ttl), Duration::from_secs(5));
        assert_eq!(follow_interval(ttl), Duration::from_secs(1));
        assert_eq!(
            follow_interval(Duration::from_millis(300)),
            Duration::from_millis(100)
        );
    }

    #[tokio::test]
    async fn a_file_leads_at_once_and_for_good() {
        let dir = tempfile::tempdir().unwrap();
        let state: Arc<dyn State> = Arc::new(
            super::super::state::sqlite::Store::open(
                &dir.path().join("s.db"),
                Duration::from_secs(1),
            )
            .unwrap(),
        );
        let (role_tx, mut role_rx) = watch::channel(None);
        let (stop_tx, stop_rx) = watch::channel(false);
        let standing = Arc::new(Standing::default());
        let task = tokio::spawn(run(
            state,
            holder_name(),
            Duration::from_secs(15),
            role_tx,
            Arc::clone(&standing),
            stop_rx,
        ));
        role_rx.wait_for(|r| r.is_some()).await.unwrap();
        assert_eq!(*role_rx.borrow(), Some(1));
        assert!(standing.leader.load(Ordering::Relaxed));
        stop_tx.send(true).unwrap();
        task.await.unwrap();
        assert!(!standing.leader.load(Ordering::Relaxed));
    }
}
