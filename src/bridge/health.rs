//! What keeps the bridge from doing its job right now, for `/-/ready`: a
//! Telegram configuration the API refuses (wrong token, wrong
//! `--telegram-api-url`) and a state database that cannot be written.
//! Each part of the bridge reports its own [`Problem`] as it finds it and
//! clears it when it works again; `/-/ready` fails while any is set and
//! says which.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Who reports a problem (one entry each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Problem {
    /// The Bot API answers 401/404 to sends: token or URL wrong.
    TelegramConfig,
    /// The webhook could not store a notification.
    StoreIntake,
    /// Delivered rows could not be recorded as sent.
    StoreBookkeeping,
}

/// The problems seen now, each with its reason.
#[derive(Debug, Default)]
pub struct Health {
    problems: Mutex<BTreeMap<Problem, String>>,
}

impl Health {
    /// Sets (`Some`) or clears (`None`) `problem`. True when that changed
    /// whether the problem is set (so callers can log transitions once).
    pub fn set(&self, problem: Problem, reason: Option<String>) -> bool {
        let mut m = self.problems.lock().unwrap_or_else(|e| e.into_inner());
        match reason {
            Some(r) => m.insert(problem, r).is_none(),
            None => m.remove(&problem).is_some(),
        }
    }

    /// The reasons, one per problem (empty: healthy).
    pub fn reasons(&self) -> Vec<String> {
        let m = self.problems.lock().unwrap_or_else(|e| e.into_inner());
        m.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_set_and_cleared_per_reporter() {
        let h = Health::default();
        assert!(h.reasons().is_empty());
        assert!(h.set(Problem::TelegramConfig, Some("401".into())));
        assert!(!h.set(Problem::TelegramConfig, Some("401 again".into())));
        assert!(h.set(Problem::StoreBookkeeping, Some("disk full".into())));
        assert_eq!(h.reasons(), vec!["401 again", "disk full"]);
        assert!(h.set(Problem::TelegramConfig, None));
        assert!(!h.set(Problem::TelegramConfig, None));
        assert_eq!(h.reasons(), vec!["disk full"]);
    }
}
