//! Confirmation buttons for changes that destroy or reconfigure: the reply
//! to such a command shows what will happen and offers "Confirm" and
//! "Cancel"; only the user who asked may press them, once, within
//! [`CONFIRM_TTL`]. What is pending lives in memory: a restart of the
//! bridge forgets it, which can only refuse a press, never run something
//! twice.
//!
//! Decisions:
//! - The button carries only a random token (16 hex digits from the OS
//!   random source via ring), never the action: callback data is whatever
//!   a client sends, so the action is looked up here and the press is
//!   checked against the user who asked and the role the action needs
//!   (held with it, checked again at the press).
//! - A press that fails (not yours, expired, used) is refused without
//!   consuming the pending action, except expiry, which removes it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ring::rand::{SecureRandom, SystemRandom};

use super::roles::Role;

/// How long a confirmation button works.
pub const CONFIRM_TTL: Duration = Duration::from_secs(60);
/// Pending confirmations kept at most (the oldest is dropped beyond it).
const MAX_PENDING: usize = 1024;

/// Why a confirmation press does nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfirmError {
    #[error("this confirmation is unknown or was already used")]
    Unknown,
    #[error("this confirmation expired (they last 60 s); run the command again")]
    Expired,
    #[error("only the user who asked can confirm this")]
    NotYours,
}

struct Pending<T> {
    user_id: i64,
    needs: Role,
    until: Instant,
    what: T,
}

/// Actions waiting for their confirmation press, by token.
pub struct Confirmations<T> {
    pending: Mutex<HashMap<String, Pending<T>>>,
    ttl: Duration,
    rng: SystemRandom,
}

impl<T> Default for Confirmations<T> {
    fn default() -> Self {
        Confirmations::with_ttl(CONFIRM_TTL)
    }
}

impl<T> Confirmations<T> {
    /// Confirmations that expire after `ttl` (tests use a short one).
    pub fn with_ttl(ttl: Duration) -> Self {
        Confirmations {
            pending: Mutex::default(),
            ttl,
            rng: SystemRandom::new(),
        }
    }

    /// Holds `what` for `user_id` (who has role `needs` or more now) and
    /// returns the token its buttons carry.
    pub fn ask(&self, user_id: i64, needs: Role, what: T, now: Instant) -> String {
        let mut bytes = [0u8; 8];
        // The OS random source does not fail on Linux; a zero token would
        // still be checked against the user and expiry.
        let _ = self.rng.fill(&mut bytes);
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.retain(|_, p| p.until > now);
        if pending.len() >= MAX_PENDING {
            if let Some(oldest) = pending
                .iter()
                .min_by_key(|(_, p)| p.until)
                .map(|(k, _)| k.clone())
            {
                pending.remove(&oldest);
            }
        }
        pending.insert(
            token.clone(),
            Pending {
                user_id,
                needs,
                until: now + self.ttl,
                what,
            },
        );
        token
    }

    /// Takes the action for a press by `user_id` whose role is `role`:
    /// once, by the user who asked, before it expires, while their role
    /// still allows it.
    pub fn take(
        &self,
        token: &str,
        user_id: i64,
        role: Role,
        now: Instant,
    ) -> Result<T, ConfirmError> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let p = pending.get(token).ok_or(ConfirmError::Unknown)?;
        if p.until <= now {
            pending.remove(token);
            return Err(ConfirmError::Expired);
        }
        if p.user_id != user_id || p.needs > role {
            return Err(ConfirmError::NotYours);
        }
        Ok(pending.remove(token).expect("present").what)
    }

    /// Drops the action (the Cancel button), under the same checks as
    /// [`Confirmations::take`].
    pub fn cancel(
        &self,
        token: &str,
        user_id: i64,
        role: Role,
        now: Instant,
    ) -> Result<T, ConfirmError> {
        self.take(token, user_id, role, now)
    }
}

/// A token as [`Confirmations::ask`] makes it (checked before lookup).
pub fn is_token(s: &str) -> bool {
    s.len() == 16
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_only_by_the_asker_before_expiry() {
        let c = Confirmations::with_ttl(Duration::from_secs(60));
        let t0 = Instant::now();
        let token = c.ask(1, Role::Operator, "reboot web1", t0);
        assert!(is_token(&token));
        // someone else, or the asker demoted: refused, still pending
        assert_eq!(
            c.take(&token, 2, Role::Admin, t0),
            Err(ConfirmError::NotYours)
        );
        assert_eq!(
            c.take(&token, 1, Role::Viewer, t0),
            Err(ConfirmError::NotYours)
        );
        assert_eq!(c.take(&token, 1, Role::Operator, t0), Ok("reboot web1"));
        // pressed twice
        assert_eq!(
            c.take(&token, 1, Role::Operator, t0),
            Err(ConfirmError::Unknown)
        );
        // expired
        let token = c.ask(1, Role::Operator, "prune", t0);
        let later = t0 + Duration::from_secs(60);
        assert_eq!(
            c.take(&token, 1, Role::Operator, later),
            Err(ConfirmError::Expired)
        );
        assert_eq!(
            c.take(&token, 1, Role::Operator, t0),
            Err(ConfirmError::Unknown)
        );
        // tokens differ
        assert_ne!(
            c.ask(1, Role::Viewer, "a", t0),
            c.ask(1, Role::Viewer, "a", t0)
        );
        assert!(!is_token("0123456789ABCDEF") && !is_token("01234"));
    }

    #[test]
    fn the_pending_set_is_bounded() {
        let c = Confirmations::with_ttl(Duration::from_secs(60));
        let t0 = Instant::now();
        let first = c.ask(1, Role::Viewer, 0usize, t0);
        for i in 1..=MAX_PENDING {
            c.ask(1, Role::Viewer, i, t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(c.pending.lock().unwrap().len(), MAX_PENDING);
        assert_eq!(
            c.take(&first, 1, Role::Viewer, t0),
            Err(ConfirmError::Unknown)
        );
    }
}
