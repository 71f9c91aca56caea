//! Versioned schema migrations, applied at start: `outpost_schema` lists
//! the versions applied; each missing one runs in the transaction that
//! records it, under a table lock so two bridges starting together apply
//! it once. A migration is never edited once released: change the schema
//! with a new version at the end of [`MIGRATIONS`].

use super::{PgState, StateError};

/// `(version, SQL)`, in order.
pub const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        "
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    chat_id BIGINT NOT NULL,
    thread_id BIGINT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_ms BIGINT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued',
    done_ms BIGINT,
    error TEXT,
    claimed_epoch BIGINT
);
CREATE INDEX outbox_queue ON outbox(state, chat_id, id);
CREATE TABLE dedup (
    key TEXT PRIMARY KEY,
    first_seen_ms BIGINT NOT NULL
);
CREATE TABLE chat_migration (
    from_chat BIGINT PRIMARY KEY,
    to_chat BIGINT NOT NULL
);
CREATE TABLE firing_message (
    chat_id BIGINT NOT NULL,
    fingerprint TEXT NOT NULL,
    message_id BIGINT NOT NULL,
    sent_ms BIGINT NOT NULL,
    PRIMARY KEY (chat_id, fingerprint)
);
CREATE TABLE bot_offset (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    next BIGINT NOT NULL,
    epoch BIGINT NOT NULL
);
CREATE TABLE watchdog (
    chat_id BIGINT PRIMARY KEY,
    thread_id BIGINT,
    last_seen_ms BIGINT NOT NULL,
    silent BOOLEAN NOT NULL DEFAULT false
);
CREATE TABLE chat_audit (
    id BIGSERIAL PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    username TEXT,
    chat_id BIGINT NOT NULL,
    action TEXT NOT NULL,
    result TEXT NOT NULL
);
CREATE INDEX chat_audit_at ON chat_audit(at_ms);
CREATE TABLE chat_refusals (
    user_id BIGINT PRIMARY KEY,
    last_at_ms BIGINT NOT NULL
);
CREATE TABLE leader_lease (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
",
    ),
    // On-call: announced alerts, acknowledgements, escalation levels,
    // alert keyboards (`oncall.rs`).
    (
        2,
        "
CREATE TABLE oncall_alert (
    fingerprint TEXT PRIMARY KEY,
    alertname TEXT NOT NULL,
    agent TEXT NOT NULL DEFAULT '',
    critical BOOLEAN NOT NULL,
    chat_id BIGINT NOT NULL,
    thread_id BIGINT,
    starts_ms BIGINT NOT NULL,
    level INTEGER NOT NULL DEFAULT 0,
    resolved_ms BIGINT
);
CREATE INDEX oncall_alert_alertname ON oncall_alert(alertname);
CREATE TABLE oncall_ack (
    fingerprint TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    who TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE TABLE alert_keyboard (
    chat_id BIGINT NOT NULL,
    message_id BIGINT NOT NULL,
    markup TEXT NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);
",
    ),
    // The text of alert messages, so an acknowledgement can edit it
    // (`oncall.rs`).
    (
        3,
        "
CREATE TABLE alert_text (
    chat_id BIGINT NOT NULL,
    message_id BIGINT NOT NULL,
    html TEXT NOT NULL,
    caption BOOLEAN NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);
",
    ),
    // Who gets what: subscriptions, mutes, quiet hours (`audience.rs`).
    (
        4,
        "
CREATE TABLE subscription (
    chat_id BIGINT NOT NULL,
    topic TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (chat_id, topic)
);
CREATE TABLE user_mute (
    user_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    until_ms BIGINT NOT NULL,
    PRIMARY KEY (user_id, kind, name)
);
CREATE TABLE user_quiet (
    user_id BIGINT PRIMARY KEY,
    start_min INTEGER NOT NULL,
    end_min INTEGER NOT NULL
);
",
    ),
];

/// Applies the migrations the database lacks. Fails when the database is
/// newer than this binary (it would not know the schema).
pub async fn migrate(state: &PgState) -> Result<(), StateError> {
    let mut c = state.conn().await?;
    // Two bridges creating the table at once: one of them may fail on
    // the catalog's unique index; the table exists then.
    if let Err(e) = c
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS outpost_schema (
                version INTEGER PRIMARY KEY,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )",
        )
        .await
    {
        tracing::debug!(error = %state.err(e), "creating outpost_schema (raced)");
    }
    let tx = c.transaction().await.map_err(|e| state.err(e))?;
    tx.batch_execute("LOCK TABLE outpost_schema IN EXCLUSIVE MODE")
        .await
        .map_err(|e| state.err(e))?;
    let applied: Option<i32> = tx
        .query_one("SELECT MAX(version) FROM outpost_schema", &[])
        .await
        .map_err(|e| state.err(e))?
        .get(0);
    let applied = applied.unwrap_or(0);
    let newest = MIGRATIONS.last().map_or(0, |m| m.0);
    if applied > newest {
        return Err(StateError::Db(format!(
            "schema version {applied} is newer than this outpost knows ({newest}); upgrade outpost"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > applied) {
        tx.batch_execute(sql).await.map_err(|e| state.err(e))?;
        tx.execute(
            "INSERT INTO outpost_schema(version) VALUES ($1)",
            &[version],
        )
        .await
        .map_err(|e| state.err(e))?;
        tracing::info!(version, "state database: schema migration applied");
    }
    tx.commit().await.map_err(|e| state.err(e))
}
