//! The HTTP side of the bridge: the Alertmanager webhook receiver
//! (`POST /alert`, `/alert/{chat_id}`, `/alert/{chat_id}/{thread_id}` or
//! `?thread_id=` for a forum topic), `/metrics`, `/-/healthy`, `/-/ready`.
//!
//! A webhook is answered 2xx only after its notification is committed to
//! the store. What Alertmanager should not retry (bad token, wrong content
//! type, too large, malformed, bad chat id) is a 4xx with the reason; a
//! storage failure is a 5xx, which Alertmanager retries.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::doorbell::Doorbell;
use super::health::{Health, Problem};
use super::metrics::{self, Counters};
use super::payload::Notification;
use super::secret::Secret;
use super::state::{Intake, State as BridgeState, StateError};
use super::{millis, now_ms, watchdog};

/// What the handlers share.
pub struct AppState {
    pub state: Arc<dyn BridgeState>,
    pub counters: Arc<Counters>,
    /// Tells the sender which chat has something new.
    pub doorbell: Arc<Doorbell>,
    pub default_chat: Option<i64>,
    pub default_thread: Option<i64>,
    pub webhook_token: Option<Secret>,
    pub max_body: usize,
    pub dedup_window: Duration,
    /// False once shutdown began (then `/-/ready` fails and webhooks get 503).
    pub accepting: AtomicBool,
    /// What keeps the bridge from working now; `/-/ready` fails with it.
    pub health: Arc<Health>,
    /// `--self-healing`: set once the chat engine runs.
    pub healing: std::sync::OnceLock<Arc<super::heal::Healing>>,
}

/// Why a webhook was refused. The text is the reason given to the caller;
/// it never contains internals beyond what the caller sent.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("missing or wrong bearer token")]
    Unauthorized,
    #[error("content type must be application/json, got {0:?}")]
    ContentType(String),
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    Malformed(String),
    #[error("{0}")]
    BadChat(String),
    #[error("state database unavailable, retry later")]
    Storage(#[source] StateError),
    #[error("shutting down, retry later")]
    ShuttingDown,
}

impl WebhookError {
    fn status(&self) -> StatusCode {
        match self {
            WebhookError::Unauthorized => StatusCode::UNAUTHORIZED,
            WebhookError::ContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            WebhookError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            WebhookError::Malformed(_) | WebhookError::BadChat(_) => StatusCode::BAD_REQUEST,
            WebhookError::Storage(_) | WebhookError::ShuttingDown => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// The `result` label in `outpost_bridge_webhooks_received_total`.
    pub fn result_label(&self) -> &'static str {
        match self {
            WebhookError::Unauthorized => "unauthorized",
            WebhookError::ContentType(_) => "bad_content_type",
            WebhookError::TooLarge(_) => "too_large",
            WebhookError::Malformed(_) => "malformed",
            WebhookError::BadChat(_) => "bad_chat",
            WebhookError::Storage(_) => "storage_error",
            WebhookError::ShuttingDown => "shutting_down",
        }
    }
}

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        let mut resp = (self.status(), format!("{self}\n")).into_response();
        if matches!(self, WebhookError::Unauthorized) {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/alert", post(alert_default))
        .route("/alert/{chat}", post(alert_chat))
        .route("/alert/{chat}/{thread}", post(alert_topic))
        .route("/metrics", get(metrics_handler))
        .route("/-/healthy", get(|| async { "OK\n" }))
        .route("/-/ready", get(ready))
        .with_state(state)
}

async fn alert_default(
    State(st): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    receive(&st, None, None, &q, &headers, body).await
}

async fn alert_chat(
    State(st): State<Arc<AppState>>,
    Path(chat): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    receive(&st, Some(chat), None, &q, &headers, body).await
}

async fn alert_topic(
    State(st): State<Arc<AppState>>,
    Path((chat, thread)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    receive(&st, Some(chat), Some(thread), &q, &headers, body).await
}

async fn receive(
    st: &AppState,
    chat: Option<String>,
    thread: Option<String>,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    match intake(st, chat, thread, query, headers, body).await {
        Ok((label, resp)) => {
            st.counters.webhooks.inc(label);
            st.health.set(Problem::StoreIntake, None);
            resp
        }
        Err(e) => {
            st.counters.webhooks.inc(e.result_label());
            match &e {
                WebhookError::Storage(source) => {
                    st.health.set(
                        Problem::StoreIntake,
                        Some(format!("state database cannot store webhooks: {source}")),
                    );
                    tracing::error!(error = %source, "webhook not stored")
                }
                other => tracing::warn!(error = %other, "webhook refused"),
            }
            e.into_response()
        }
    }
}

fn parse_chat(s: &str) -> Result<i64, WebhookError> {
    s.trim()
        .parse()
        .map_err(|_| WebhookError::BadChat(format!("chat id must be an integer, got {s:?}")))
}

fn parse_thread(s: &str) -> Result<i64, WebhookError> {
    s.trim()
        .parse()
        .ok()
        .filter(|t: &i64| *t > 0)
        .ok_or_else(|| {
            WebhookError::BadChat(format!("thread id must be a positive integer, got {s:?}"))
        })
}

/// Checks bearer token, content type, target, size and JSON; stores.
async fn intake(
    st: &AppState,
    chat: Option<String>,
    thread: Option<String>,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<(&'static str, Response), WebhookError> {
    if !st.accepting.load(Ordering::SeqCst) {
        return Err(WebhookError::ShuttingDown);
    }
    if let Some(token) = &st.webhook_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .unwrap_or("");
        if !token.matches(given.trim()) {
            return Err(WebhookError::Unauthorized);
        }
    }
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ctype.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(WebhookError::ContentType(ctype.to_owned()));
    }
    let chat = match chat {
        Some(c) => parse_chat(&c)?,
        None => st.default_chat.ok_or_else(|| {
            WebhookError::BadChat(
                "no chat in the path and no --chat-id configured: post to /alert/{chat_id}".into(),
            )
        })?,
    };
    let thread = match thread
        .as_deref()
        .or(query.get("thread_id").map(String::as_str))
    {
        Some(t) => Some(parse_thread(t)?),
        None if st.default_chat == Some(chat) => st.default_thread,
        None => None,
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > st.max_body) {
        return Err(WebhookError::TooLarge(st.max_body));
    }
    let bytes = axum::body::to_bytes(body, st.max_body).await.map_err(|e| {
        // The limit (chunked bodies) or a client that went away.
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(&s.to_string());
            source = s.source();
        }
        if text.contains("length limit") {
            WebhookError::TooLarge(st.max_body)
        } else {
            WebhookError::Malformed("could not read the request body".into())
        }
    })?;
    let mut notification =
        Notification::parse(&bytes).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    let heartbeats = notification.take_heartbeats();
    if heartbeats > 0 {
        Counters::add(&st.counters.heartbeats, heartbeats as u64);
    }
    let key = notification.dedup_key(chat, thread);
    let for_healing = st.healing.get().map(|_| notification.alerts.clone());
    let outcome = st
        .state
        .intake(
            chat,
            thread,
            notification,
            key,
            millis(st.dedup_window),
            heartbeats,
            watchdog::recovery_notice(),
            now_ms(),
        )
        .await
        .map_err(WebhookError::Storage)?;
    let (label, body) = match outcome {
        Intake::Queued { id, chat, copies } => {
            st.doorbell.ring(chat);
            for c in copies {
                st.doorbell.ring(c);
            }
            if let (Some(h), Some(alerts)) = (st.healing.get(), for_healing) {
                h.spawn(chat, thread, alerts);
            }
            ("queued", format!("{{\"status\":\"queued\",\"id\":{id}}}"))
        }
        Intake::Duplicate => ("duplicate", "{\"status\":\"duplicate\"}".to_owned()),
        Intake::Nothing if heartbeats > 0 => {
            // A recovery notice may have been queued.
            st.doorbell.ring(chat);
            ("heartbeat", "{\"status\":\"heartbeat\"}".to_owned())
        }
        Intake::Nothing => ("empty", "{\"status\":\"empty\"}".to_owned()),
    };
    Ok((
        label,
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
    ))
}

async fn metrics_handler(State(st): State<Arc<AppState>>) -> Response {
    let stats = st.state.stats().await.ok();
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics::encode(&st.counters, stats.as_ref(), now_ms()),
    )
        .into_response()
}

async fn ready(State(st): State<Arc<AppState>>) -> Response {
    if !st.accepting.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    let problems = st.health.reasons();
    if !problems.is_empty() {
        let text = format!("not ready:\n{}\n", problems.join("\n"));
        return (StatusCode::SERVICE_UNAVAILABLE, text).into_response();
    }
    match st.state.stats().await {
        Ok(_) => (StatusCode::OK, "OK\n").into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "state database unavailable\n",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;
    use tower::ServiceExt;

    fn state(dir: &std::path::Path, token: Option<&str>) -> Arc<AppState> {
        Arc::new(AppState {
            state: Arc::new(
                crate::bridge::state::sqlite::Store::open(
                    &dir.join("s.db"),
                    Duration::from_millis(200),
                )
                .unwrap(),
            ),
            counters: Arc::new(Counters::default()),
            doorbell: Arc::new(Doorbell::default()),
            healing: Default::default(),
            default_chat: Some(42),
            default_thread: None,
            webhook_token: token.map(Secret::new),
            max_body: 1024,
            dedup_window: Duration::from_secs(60),
            accepting: AtomicBool::new(true),
            health: Arc::new(Health::default()),
        })
    }

    fn post(uri: &str, ctype: &str, auth: Option<&str>, body: &str) -> Request<Body> {
        let mut b = Request::post(uri).header("content-type", ctype);
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(Body::from(body.to_owned())).unwrap()
    }

    const OK_BODY: &str = r#"{"version":"4","status":"firing","receiver":"r","groupKey":"g","alerts":[{"status":"firing","labels":{"alertname":"A"},"fingerprint":"f1"}]}"#;

    async fn call(st: &Arc<AppState>, req: Request<Body>) -> (StatusCode, String) {
        let resp = router(Arc::clone(st)).oneshot(req).await.unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn good_webhook_is_stored_then_acknowledged_and_dedups() {
        let dir = tempfile::tempdir().unwrap();
        let st = state(dir.path(), None);
        let (s, b) = call(&st, post("/alert", "application/json", None, OK_BODY)).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert!(b.contains("queued"));
        let rows = st.state.queued(42, 10).await.unwrap();
        assert_eq!(rows.len(), 1);
        let (s, b) = call(
            &st,
            post("/alert", "application/json; charset=utf-8", None, OK_BODY),
        )
        .await;
        assert_eq!(
            (s, b.as_str()),
            (StatusCode::OK, "{\"status\":\"duplicate\"}")
        );
        let (s, _) = call(
            &st,
            post("/alert/-100123/7", "application/json", None, OK_BODY),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = call(
            &st,
            post(
                "/alert/-100123?thread_id=8",
                "application/json",
                None,
                OK_BODY,
            ),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let topics: Vec<Option<i64>> = st
            .state
            .queued(-100123, 10)
            .await
            .unwrap()
            .iter()
            .map(|r| r.thread)
            .collect();
        assert_eq!(topics, vec![Some(7), Some(8)]);
        assert_eq!(st.counters.webhooks.get("queued"), 3);
        assert_eq!(st.counters.webhooks.get("duplicate"), 1);
    }

    #[tokio::test]
    async fn bad_webhooks_get_a_4xx_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let st = state(dir.path(), Some("s3cret"));
        let auth = Some("Bearer s3cret");
        let cases = [
            (
                post("/alert", "application/json", None, OK_BODY),
                401,
                "bearer token",
            ),
            (
                post("/alert", "application/json", Some("Bearer wrong"), OK_BODY),
                401,
                "bearer token",
            ),
            (
                post("/alert", "text/plain", auth, OK_BODY),
                415,
                "application/json",
            ),
            (
                post("/alert", "application/json", auth, "{nope"),
                400,
                "invalid Alertmanager webhook JSON",
            ),
            (
                post("/alert", "application/json", auth, &"x".repeat(2000)),
                413,
                "larger than 1024",
            ),
            (
                post("/alert/abc", "application/json", auth, OK_BODY),
                400,
                "chat id must be an integer",
            ),
            (
                post("/alert/1/0", "application/json", auth, OK_BODY),
                400,
                "thread id",
            ),
        ];
        for (req, status, reason) in cases {
            let (s, b) = call(&st, req).await;
            assert_eq!(s.as_u16(), status, "{b}");
            assert!(b.contains(reason), "{b}");
        }
        let (s, _) = call(&st, post("/alert", "application/json", auth, OK_BODY)).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(st.counters.webhooks.get("unauthorized"), 2);
    }

    #[tokio::test]
    async fn storage_failure_is_a_5xx() {
        let dir = tempfile::tempdir().unwrap();
        let st = state(dir.path(), None);
        let other = rusqlite::Connection::open(dir.path().join("s.db")).unwrap();
        other.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let (s, b) = call(&st, post("/alert", "application/json", None, OK_BODY)).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
        assert!(!b.contains("locked"), "no internals in the answer: {b}");
        let ready = || Request::get("/-/ready").body(Body::empty()).unwrap();
        let (s, b) = call(&st, ready()).await;
        assert_eq!(
            s,
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready while writes fail"
        );
        assert!(b.contains("cannot store webhooks"), "{b}");
        other.execute_batch("ROLLBACK").unwrap();
        let (s, _) = call(&st, post("/alert", "application/json", None, OK_BODY)).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(call(&st, ready()).await.0, StatusCode::OK);
        assert_eq!(st.counters.webhooks.get("storage_error"), 1);
    }

    #[tokio::test]
    async fn heartbeats_are_not_queued_and_health_endpoints_answer() {
        let dir = tempfile::tempdir().unwrap();
        let st = state(dir.path(), None);
        let wd = r#"{"status":"firing","alerts":[{"labels":{"alertname":"Watchdog"}}]}"#;
        let (s, b) = call(&st, post("/alert", "application/json", None, wd)).await;
        assert_eq!(
            (s, b.as_str()),
            (StatusCode::OK, "{\"status\":\"heartbeat\"}")
        );
        assert_eq!(st.state.stats().await.unwrap().queued, 0);
        assert_eq!(st.state.watchdogs().await.unwrap().len(), 1);
        let get = |u: &str| Request::get(u).body(Body::empty()).unwrap();
        assert_eq!(call(&st, get("/-/healthy")).await.0, StatusCode::OK);
        assert_eq!(call(&st, get("/-/ready")).await.0, StatusCode::OK);
        let (s, m) = call(&st, get("/metrics")).await;
        assert_eq!(s, StatusCode::OK);
        assert!(m.contains("outpost_bridge_webhooks_received_total{result=\"heartbeat\"} 1"));
        assert!(m.contains("outpost_bridge_queue_depth 0"));
        st.accepting.store(false, Ordering::SeqCst);
        assert_eq!(
            call(&st, get("/-/ready")).await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        let (s, _) = call(&st, post("/alert", "application/json", None, OK_BODY)).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    }
}
