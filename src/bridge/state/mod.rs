//! All of the bridge's durable state behind one interface, [`State`]:
//! the outbox and its dedup keys, chat migrations and firing message ids,
//! the watchdog, the chat audit log and refusal memory, the chat bot's
//! update offset, the on-call records (announced alerts, acknowledgements,
//! escalation levels, alert keyboards and texts), who gets what (chat
//! subscriptions, users' mutes and quiet hours) and the leader lease. The rest of
//! the bridge sees only `Arc<dyn State>`; [`open`] picks the backend from
//! `--state`.
//!
//! Backends: [`sqlite`] (a file, the default: one store thread owns the
//! connection) and [`postgres`] (`postgres://…`, shared by a pair of
//! bridges). Each keeps one file of queries per concern below.
//!
//! Decisions: one trait per concern ([`OutboxStore`], [`ChatStore`],
//! [`WatchdogStore`], [`AuditStore`], [`UpdateStore`], [`LeaseStore`],
//! [`OnCallStore`], [`AudienceStore`]) and [`State`] their sum, implemented for every type
//! that has them all. A new concern is a new trait here, one file per
//! backend, and one more bound on [`State`]; no caller changes. On-call
//! pruning is its own method ([`OnCallStore::prune_oncall`], called after
//! [`OutboxStore::prune`]) so the outbox's pruning need not know the
//! on-call tables; the on-call queries read `firing_message` (the chat
//! concern's) to find the messages that announced an alert. The outbox's
//! intake reads `subscription` (the audience concern's) to store copies
//! for subscribed chats in the transaction that takes the webhook (see
//! [`crate::bridge::fanout`]), and a chat migration moves subscriptions
//! with everything else of the chat. Async methods through
//! `async_trait` (boxed futures): the state is used as `dyn State`, which
//! native `async fn` in traits does not allow yet, and one allocation per
//! database call is noise beside the call.
//!
//! Leadership: exactly one bridge delivers and polls Telegram. It holds
//! the lease ([`LeaseStore`]) and passes its epoch to every outbox claim
//! and offset write; a write with an older epoch fails with
//! [`StateError::Fenced`], so a leader that was paused past its lease and
//! replaced cannot move the offset or claim rows any more. The SQLite
//! backend is one process's own file: it is always the leader (epoch 1).

pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;

use super::outbox::Row;
use super::payload::Notification;
pub use crate::chat::audience::{MuteTarget, QuietHours, Topic, UserSettings};
use crate::chat::audit::{AuditError, AuditFuture, AuditLog, Entry, Retention};
pub use crate::chat::desk::{Ack, AckTarget};

/// A state error. Cloneable (as text) so one failed commit can answer
/// every job in its transaction.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StateError {
    /// `what` is a path or a URL with its password redacted.
    #[error("opening state database {what}: {reason}")]
    Open { what: String, reason: String },
    #[error("state database: {0}")]
    Db(String),
    #[error("state database is closed")]
    Closed,
    /// The write carried an epoch that is no longer the lease's: another
    /// bridge leads now.
    #[error("leadership lost: epoch {epoch} was replaced")]
    Fenced { epoch: i64 },
}

/// How an incoming notification was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intake {
    /// Stored in the outbox (row id, and the chat after remembered
    /// migrations), with copies for the subscribed chats `copies`.
    Queued {
        id: i64,
        chat: i64,
        copies: Vec<i64>,
    },
    /// Seen within the dedup window: not stored again.
    Duplicate,
    /// Nothing to deliver (only heartbeats, or no alerts).
    Nothing,
}

/// Figures for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub queued: i64,
    pub failed: i64,
    pub oldest_queued_ms: Option<i64>,
}

/// Per-chat watchdog state.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchdogState {
    pub chat: i64,
    pub thread: Option<i64>,
    pub last_seen_ms: i64,
    pub silent: bool,
}

/// The fencing token of a leader's term: passed to every outbox claim
/// and offset write.
pub type Epoch = i64;

/// The outbox: intake (dedup, watchdog heartbeats), the queue, delivery
/// marks, the figures behind `/metrics` and pruning.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Stores a notification for `chat` unless its `dedup_key` was seen in
    /// the last `window_ms` (or, when `chat` has subscriptions, its
    /// delivery key), and then a copy for every other chat subscribed to
    /// its agents (see [`crate::bridge::fanout`]), each unless its delivery
    /// key was seen; records `heartbeats` for the watchdog. When a
    /// heartbeat arrives for a chat whose pipeline was reported silent,
    /// `recovery` (HTML) is queued for that chat first. Returns after the
    /// transaction committed.
    #[allow(clippy::too_many_arguments)]
    async fn intake(
        &self,
        chat: i64,
        thread: Option<i64>,
        notification: Notification,
        dedup_key: String,
        window_ms: i64,
        heartbeats: usize,
        recovery: String,
        now_ms: i64,
    ) -> Result<Intake, StateError>;

    /// Queues a pre-rendered message.
    async fn enqueue_text(
        &self,
        chat: i64,
        thread: Option<i64>,
        html: String,
        now_ms: i64,
    ) -> Result<i64, StateError>;

    /// Chats with queued rows.
    async fn queued_chats(&self) -> Result<Vec<i64>, StateError>;

    /// The first `limit` queued rows of `chat`, oldest first (a read: no
    /// lease needed).
    async fn queued(&self, chat: i64, limit: usize) -> Result<Vec<Row>, StateError>;

    /// [`OutboxStore::queued`] for delivery by the leader of `epoch`: the
    /// rows are marked claimed by it, and the claim fails with
    /// [`StateError::Fenced`] when `epoch` no longer holds the lease.
    async fn claim(&self, chat: i64, limit: usize, epoch: Epoch) -> Result<Vec<Row>, StateError>;

    /// Marks rows delivered.
    async fn mark_sent(&self, ids: Vec<i64>, now_ms: i64) -> Result<(), StateError>;

    /// Marks rows as permanently failed, keeping the reason.
    async fn mark_failed(
        &self,
        ids: Vec<i64>,
        reason: String,
        now_ms: i64,
    ) -> Result<(), StateError>;

    /// Queue depth, failures and the oldest queued row's arrival.
    async fn stats(&self) -> Result<Stats, StateError>;

    /// Delivered rows still kept (pruned after a day), for `/stats`.
    async fn sent_rows(&self) -> Result<i64, StateError>;

    /// Forgets what is no longer needed: delivered rows after a day,
    /// failed rows (kept for inspection) after a week, dedup keys past
    /// their window, firing message ids after 30 days.
    async fn prune(&self, now_ms: i64, window_ms: i64) -> Result<(), StateError>;
}

/// What is remembered about chats: migrations (a group upgraded to a
/// supergroup) and the message that announced each firing alert.
#[async_trait]
pub trait ChatStore: Send + Sync {
    /// Remembers that `from` became `to` and moves everything queued,
    /// remembered and watched for `from`.
    async fn migrate_chat(&self, from: i64, to: i64) -> Result<(), StateError>;

    /// Remembers the message that announced these firing alerts.
    async fn remember_firing(
        &self,
        chat: i64,
        fingerprints: Vec<String>,
        message_id: i64,
        now_ms: i64,
    ) -> Result<(), StateError>;

    /// The message id that announced the first of `fingerprints` to fire.
    async fn firing_message(
        &self,
        chat: i64,
        fingerprints: Vec<String>,
    ) -> Result<Option<i64>, StateError>;
}

/// Where the chat bot's `getUpdates` continues.
#[async_trait]
pub trait UpdateStore: Send + Sync {
    /// The next `getUpdates` offset (0 before the first update).
    async fn bot_offset(&self) -> Result<i64, StateError>;

    /// Remembers the next offset, fenced by the leader's `epoch`.
    async fn save_bot_offset(&self, next: i64, epoch: Epoch) -> Result<(), StateError>;
}

/// The watchdog's state: each chat's last heartbeat and whether its
/// silence was reported (see [`crate::bridge::watchdog`]).
#[async_trait]
pub trait WatchdogStore: Send + Sync {
    /// Marks silent every chat whose last heartbeat (or `since_ms`, the
    /// bridge's start, whichever is later) is older than `timeout_ms`, and
    /// queues `notice` (HTML) for each. Returns the chats newly silent.
    async fn expire_watchdogs(
        &self,
        now_ms: i64,
        timeout_ms: i64,
        since_ms: i64,
        notice: String,
    ) -> Result<Vec<i64>, StateError>;

    /// The watchdog state of every chat that has seen a heartbeat.
    async fn watchdogs(&self) -> Result<Vec<WatchdogState>, StateError>;
}

/// The chat engine's audit log and refusal memory (the engine sees them
/// as an [`AuditLog`] through [`StateAudit`]).
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends `e`, dropping the oldest entries past `retention.max_rows`.
    async fn record_audit(&self, e: Entry, retention: Retention) -> Result<(), StateError>;
    /// The latest `limit` entries, newest first.
    async fn latest_audit(&self, limit: usize) -> Result<Vec<Entry>, StateError>;
    /// Whether a stranger should be told they are refused now; remembers
    /// the answer.
    async fn should_refuse_loudly(&self, user_id: i64, now_ms: i64) -> Result<bool, StateError>;
    /// Deletes entries past the age limit and stale refusal memory.
    async fn prune_audit(&self, now_ms: i64, retention: Retention) -> Result<(), StateError>;
}

/// The leader lease: one row with a holder, an expiry (the database's
/// clock) and an epoch that grows with every change of holder.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Whether other bridges can share this state (then the lease decides
    /// who delivers; otherwise this bridge always leads).
    fn shared(&self) -> bool;

    /// Takes the lease for `holder` for `ttl_ms` when it is free or
    /// expired, starting a new epoch; `None` while another holds it.
    async fn acquire_lease(&self, holder: &str, ttl_ms: i64) -> Result<Option<Epoch>, StateError>;

    /// Extends the lease of `epoch` by `ttl_ms`; false when it was lost.
    async fn renew_lease(
        &self,
        holder: &str,
        epoch: Epoch,
        ttl_ms: i64,
    ) -> Result<bool, StateError>;

    /// Gives the lease up (a clean shutdown), so a follower takes over at
    /// once rather than after the expiry.
    async fn release_lease(&self, holder: &str, epoch: Epoch) -> Result<(), StateError>;
}

/// A firing alert as the bridge announced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firing {
    pub fingerprint: String,
    pub alertname: String,
    pub agent: String,
    /// `severity="critical"`: only these escalate.
    pub critical: bool,
    pub chat_id: i64,
    pub thread_id: Option<i64>,
    /// When the bridge first announced it (escalation counts from here).
    pub starts_ms: i64,
}

/// A critical alert due to escalate one level further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub firing: Firing,
    /// The level it reaches now (1: repeated with the on-call users, 2: to
    /// the escalation chat).
    pub level: u32,
}

/// Who handled a resolved alert and since when it fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    pub fingerprint: String,
    pub who: Option<String>,
    pub acked_ms: Option<i64>,
    pub starts_ms: i64,
}

/// An alert message's inline keyboard, remembered so an acknowledgement
/// can edit it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyboard {
    pub chat: i64,
    pub message_id: i64,
    /// The `reply_markup` JSON.
    pub markup: String,
    /// The message's text as last sent or edited, when remembered.
    pub shown: Option<Shown>,
}

/// The text of an alert message, remembered so an acknowledgement can
/// edit it to say who took the alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// The text (HTML) as sent.
    pub html: String,
    /// The message is a photo and this is its caption.
    pub caption: bool,
}

/// On-call state: the firing alerts the bridge announced (where, since
/// when, how far they escalated), who acknowledged each, and the keyboard
/// of every alert message (see [`crate::bridge::escalate`] and
/// [`crate::bridge::desk`]).
#[async_trait]
pub trait OnCallStore: Send + Sync {
    /// Records alerts announced as firing (again: the first chat and start
    /// stay, a resolved one fires anew, without its acknowledgement).
    async fn track_firing(&self, alerts: Vec<Firing>) -> Result<(), StateError>;

    /// Marks alerts resolved; who handled each (if anyone) and since when
    /// it fired, for the resolution message (only alerts it knows).
    async fn resolve_alerts(
        &self,
        fingerprints: Vec<String>,
        now_ms: i64,
    ) -> Result<Vec<Handled>, StateError>;

    /// Acknowledges the unresolved alerts `target` names for `user_id`
    /// (`who`). An alert someone took already keeps its first taker.
    async fn ack(
        &self,
        target: AckTarget,
        user_id: i64,
        who: String,
        now_ms: i64,
    ) -> Result<Vec<Ack>, StateError>;

    /// Unacknowledged, unresolved critical alerts due to escalate: to
    /// level 1 `delay_ms` after they started firing, to level 2 (up to
    /// `max_level`) after twice that. Marks them at their new level in the
    /// same transaction, so each is reported once.
    async fn due_escalations(
        &self,
        now_ms: i64,
        delay_ms: i64,
        max_level: u32,
    ) -> Result<Vec<Due>, StateError>;

    /// Remembers (or replaces) the inline keyboard of an alert message.
    async fn remember_keyboard(
        &self,
        chat: i64,
        message_id: i64,
        markup: String,
    ) -> Result<(), StateError>;

    /// Remembers (or replaces) the text of an alert message.
    async fn remember_shown(
        &self,
        chat: i64,
        message_id: i64,
        shown: Shown,
    ) -> Result<(), StateError>;

    /// The remembered messages that announced `fingerprint` firing, with
    /// their keyboards (and texts, where remembered).
    async fn keyboards_of(&self, fingerprint: String) -> Result<Vec<Keyboard>, StateError>;

    /// Forgets alerts resolved more than 30 days before `now_ms` with
    /// their acknowledgements, and the keyboards and texts of messages whose firing
    /// message id is no longer remembered ([`OutboxStore::prune`] first).
    async fn prune_oncall(&self, now_ms: i64) -> Result<(), StateError>;
}

/// How long a resolved alert's on-call record is kept.
pub const ONCALL_KEEP_MS: i64 = 30 * 86_400_000;

/// Who gets what: the chats' subscriptions (to agents, or to all) and
/// each user's mutes and quiet hours (see [`crate::chat::audience`]).
#[async_trait]
pub trait AudienceStore: Send + Sync {
    /// Subscribes `chat` (after migrations) to `topics`; the chat's
    /// subscriptions afterwards.
    async fn subscribe(
        &self,
        chat: i64,
        topics: Vec<Topic>,
        now_ms: i64,
    ) -> Result<Vec<Topic>, StateError>;

    /// Unsubscribes `chat` from `topics` ([`Topic::All`] among them: from
    /// everything); the chat's subscriptions afterwards.
    async fn unsubscribe(&self, chat: i64, topics: Vec<Topic>) -> Result<Vec<Topic>, StateError>;

    /// `(chat, topic)` of one chat, or of every chat, by chat and topic.
    async fn subscriptions(&self, chat: Option<i64>) -> Result<Vec<(i64, Topic)>, StateError>;

    /// Mutes `target` for `user_id` until `until_ms` (replacing an
    /// earlier mute of it).
    async fn mute(&self, user_id: i64, target: MuteTarget, until_ms: i64)
        -> Result<(), StateError>;

    /// Ends a mute; false when there was none.
    async fn unmute(&self, user_id: i64, target: MuteTarget) -> Result<bool, StateError>;

    /// Sets (or with `None` clears) a user's quiet hours.
    async fn set_quiet(&self, user_id: i64, quiet: Option<QuietHours>) -> Result<(), StateError>;

    /// Every user with quiet hours or a mute not expired at `now_ms`.
    async fn user_settings(&self, now_ms: i64) -> Result<Vec<UserSettings>, StateError>;

    /// Forgets mutes expired before `now_ms`.
    async fn prune_audience(&self, now_ms: i64) -> Result<(), StateError>;
}

/// All of the bridge's state: every concern above.
pub trait State:
    OutboxStore
    + ChatStore
    + UpdateStore
    + WatchdogStore
    + AuditStore
    + LeaseStore
    + OnCallStore
    + AudienceStore
    + 'static
{
}

impl<T> State for T where
    T: OutboxStore
        + ChatStore
        + UpdateStore
        + WatchdogStore
        + AuditStore
        + LeaseStore
        + OnCallStore
        + AudienceStore
        + 'static
{
}

/// Where the state lives (`--state`): a SQLite file or a PostgreSQL URL.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(std::path::PathBuf),
    /// The URL (which may carry a password: only [`Location`]'s
    /// `Display` is ever logged).
    Postgres(String),
}

impl Location {
    /// `postgres://` or `postgresql://` is a database; anything else a file.
    pub fn parse(s: &str) -> Location {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Location::Postgres(s.to_owned())
        } else {
            Location::Sqlite(s.into())
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(p) => write!(f, "{}", p.display()),
            Location::Postgres(url) => f.write_str(&super::secret::redact_userinfo(url)),
        }
    }
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

/// How the state is opened.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long a SQLite write waits for a lock held elsewhere.
    pub busy: std::time::Duration,
    pub durability: sqlite::Durability,
    /// Most PostgreSQL connections of this bridge.
    pub pool_size: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            busy: std::time::Duration::from_secs(2),
            durability: sqlite::Durability::Full,
            pool_size: 16,
        }
    }
}

/// Opens the state at `location` (creating and migrating its schema).
pub async fn open(location: &Location, options: &Options) -> Result<Arc<dyn State>, StateError> {
    Ok(match location {
        Location::Sqlite(path) => Arc::new(sqlite::Store::open_with(
            path,
            options.busy,
            options.durability,
        )?),
        Location::Postgres(url) => {
            Arc::new(postgres::PgState::connect(url, options.pool_size).await?)
        }
    })
}

/// [`AuditLog`] for the chat engine, kept in the bridge's state.
pub struct StateAudit {
    pub state: Arc<dyn State>,
    pub retention: Retention,
}

fn audit_error(e: StateError) -> AuditError {
    AuditError::Store(e.to_string())
}

impl AuditLog for StateAudit {
    fn record(&self, e: Entry) -> AuditFuture<'_, ()> {
        Box::pin(async move {
            self.state
                .record_audit(e, self.retention)
                .await
                .map_err(audit_error)
        })
    }

    fn latest(&self, limit: usize) -> AuditFuture<'_, Vec<Entry>> {
        Box::pin(async move { self.state.latest_audit(limit).await.map_err(audit_error) })
    }

    fn should_refuse_loudly(&self, user_id: i64, now_ms: i64) -> AuditFuture<'_, bool> {
        Box::pin(async move {
            self.state
                .should_refuse_loudly(user_id, now_ms)
                .await
                .map_err(audit_error)
        })
    }

    fn prune(&self, now_ms: i64) -> AuditFuture<'_, ()> {
        Box::pin(async move {
            self.state
                .prune_audit(now_ms, self.retention)
                .await
                .map_err(audit_error)
        })
    }
}
