//! Who may do what: a [`Role`] per Telegram user id. Every command in the
//! command list and every button names the least role it needs; the engine
//! checks a button press exactly like the command it stands for.
//!
//! Decisions:
//! - Three ordered roles. `viewer` reads (status, charts, alerts, history);
//!   `operator` also changes what alerts do (silences, acknowledgements)
//!   and runs actions on agents; `admin` also changes configuration
//!   (agents, thresholds, subscriptions) and reads the audit log.
//! - `--allowed-users` keeps its old meaning: those users are operators,
//!   which is what they could do before roles existed. `--viewers` and
//!   `--admins` add the other two; a user named in several lists gets the
//!   highest role.
//! - `outpost ask` runs as the local operator with the admin role: whoever
//!   can run it on the bridge host can already edit its configuration.

use std::collections::HashMap;
use std::fmt;

/// A user's role; later variants include the earlier ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// What the role may do, for `/whoami`.
    pub fn about(self) -> &'static str {
        match self {
            Role::Viewer => "read status, charts, alerts and history",
            Role::Operator => "also silence, acknowledge and run actions on agents",
            Role::Admin => {
                "also change agents, thresholds and subscriptions, and read the audit log"
            }
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?} (viewer, operator or admin)"))
    }
}

/// The role of each known user; everyone else is a stranger.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles(HashMap<i64, Role>);

impl Roles {
    /// Gives `role` to each of `users`, keeping a higher role already given.
    pub fn grant(&mut self, users: impl IntoIterator<Item = i64>, role: Role) -> &mut Self {
        for id in users {
            let slot = self.0.entry(id).or_insert(role);
            *slot = (*slot).max(role);
        }
        self
    }

    /// The user's role; `None` for a stranger.
    pub fn of(&self, user_id: i64) -> Option<Role> {
        self.0.get(&user_id).copied()
    }

    /// Users with exactly this role or higher, sorted.
    pub fn at_least(&self, role: Role) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .0
            .iter()
            .filter(|(_, r)| **r >= role)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_grant_wins_and_strangers_have_none() {
        let mut r = Roles::default();
        r.grant([1, 2], Role::Operator)
            .grant([2, 3], Role::Viewer)
            .grant([3], Role::Admin);
        assert_eq!(r.of(1), Some(Role::Operator));
        assert_eq!(r.of(2), Some(Role::Operator));
        assert_eq!(r.of(3), Some(Role::Admin));
        assert_eq!(r.of(4), None);
        assert_eq!(r.at_least(Role::Operator), vec![1, 2, 3]);
        assert_eq!(r.at_least(Role::Admin), vec![3]);
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        assert_eq!("admin".parse::<Role>(), Ok(Role::Admin));
        assert!("root".parse::<Role>().is_err());
    }
}
