//! The state in PostgreSQL (`--state postgres://…`): the backend a pair
//! of bridges shares. Every bridge takes webhooks (the dedup key is the
//! primary key of `dedup`, so two bridges given the same notification by
//! two Alertmanagers store it once); one, the holder of the lease
//! (`lease.rs`), delivers and polls Telegram.
//!
//! This file is the pool and the schema migrations (`schema.rs`); the
//! queries are split by concern like the traits: `outbox.rs` (and its
//! group commit of intake, `intake.rs`), `chats.rs`
//! (migrations, firing message ids, the update offset), `watchdog.rs`,
//! `audit.rs`, `lease.rs`, `oncall.rs` and `audience.rs` (subscriptions,
//! mutes, quiet hours).
//!
//! Decisions:
//! - tokio-postgres with deadpool-postgres, not sqlx: the bridge writes a
//!   handful of fixed statements, which tokio-postgres prepares and caches
//!   per connection (deadpool's `prepare_cached`) without sqlx's macros,
//!   offline query data or its much larger dependency tree; deadpool is the
//!   small maintained pool made for it.
//! - No TLS: the connection is plain (`NoTls`); reach a remote database
//!   over a private network or a local TLS proxy. A URL asking for
//!   `sslmode=require` fails at start rather than falling back silently.
//! - Every write that acknowledges a webhook is committed before the
//!   answer: webhooks without heartbeats by the group commit (`intake.rs`:
//!   those waiting together share one statement and one WAL flush), the
//!   others in a transaction of their own.
//! - The clock of the lease is the database's (`clock_timestamp()`), so
//!   bridges with skewed clocks agree on when it expires.
//! - The URL's password never reaches a log line or an error: errors are
//!   built from the redacted [`Location`](super::Location) and the
//!   database's own message, scrubbed of the password.

mod audience;
mod audit;
mod chats;
mod intake;
mod lease;
mod oncall;
mod outbox;
mod schema;
mod watchdog;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use super::{Location, StateError};

/// A pool of connections to the shared database.
#[derive(Clone)]
pub struct PgState {
    pool: Pool,
    /// The URL's password, scrubbed from every error text.
    password: Option<String>,
    /// The group commit of webhook intake (`intake.rs`); `None` in the
    /// copy its own loop stores through.
    committer: Option<intake::Committer>,
    /// What intake last read of the subscriptions (`audience.rs`).
    subscriptions: std::sync::Arc<audience::SubscriptionCache>,
}

impl std::fmt::Debug for PgState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgState")
    }
}

impl PgState {
    /// Connects to `url` with at most `pool_size` connections and applies
    /// the schema migrations this version knows and the database lacks.
    pub async fn connect(url: &str, pool_size: usize) -> Result<PgState, StateError> {
        let what = Location::Postgres(url.to_owned()).to_string();
        let config: tokio_postgres::Config = url.parse().map_err(|e| StateError::Open {
            what: what.clone(),
            reason: scrub(&format!("{e}"), None),
        })?;
        let password = config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned());
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(2))
            .build()
            .map_err(|e| StateError::Open {
                what: what.clone(),
                reason: e.to_string(),
            })?;
        let mut state = PgState {
            pool,
            password,
            committer: None,
            subscriptions: Default::default(),
        };
        schema::migrate(&state)
            .await
            .map_err(|e| StateError::Open {
                what,
                reason: e.to_string(),
            })?;
        state.committer = Some(intake::Committer::start(state.clone()));
        Ok(state)
    }

    /// A connection from the pool.
    async fn conn(&self) -> Result<Object, StateError> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => self.err(e),
            e => StateError::Db(scrub(&e.to_string(), self.password.as_deref())),
        })
    }

    /// A database error as a [`StateError`], without the password.
    fn err(&self, e: tokio_postgres::Error) -> StateError {
        StateError::Db(scrub(&db_error_text(&e), self.password.as_deref()))
    }
}

/// The server's message when there is one (tokio-postgres' `Display`
/// says only "db error").
fn db_error_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        }
    }
}

/// `text` with every occurrence of `password` replaced.
fn scrub(text: &str, password: Option<&str>) -> String {
    match password {
        Some(p) if !p.is_empty() => text.replace(p, "**REDACTED**"),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_database_is_an_error_without_the_password() {
        // Port 1 on loopback: nothing listens there.
        let url = "postgres://outpost:hunter2secret@127.0.0.1:1/outpost?connect_timeout=2";
        let err = PgState::connect(url, 2).await.unwrap_err().to_string();
        assert!(!err.contains("hunter2secret"), "{err}");
        assert!(err.contains("127.0.0.1:1"), "{err}");
        assert_eq!(scrub("a pw b", Some("pw")), "a **REDACTED** b");
    }
}
