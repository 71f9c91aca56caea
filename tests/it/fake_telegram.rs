//! A fake Telegram Bot API server on a loopback port, for the bridge and
//! chat-command tests. It behaves like the real one where it matters:
//! routes `/bot<TOKEN>/<method>` (`sendMessage`, `editMessageText`,
//! `editMessageCaption`, multipart `sendPhoto`, long-polled `getUpdates`, `getMe`); enforces a
//! per-chat limit of about one message per second with 429 and
//! `parameters.retry_after`; rejects bad HTML entities (unknown or
//! unbalanced tags, a raw `<`) and text over 4096 characters (captions
//! over 1024) with 400 and the real descriptions; checks inline keyboards
//! (`reply_markup` JSON, `callback_data` of 1–64 bytes:
//! `BUTTON_DATA_INVALID`) on messages and photos alike; answers
//! `migrate_to_chat_id` for upgraded groups; refuses an edit that changes
//! nothing ("message is not modified") or of a message marked too old
//! ("message can't be edited"); and can be told to fail
//! (5xx, dropped connections, lost replies), to hold the answers to the
//! sends it accepted (a slow Telegram: the message is delivered, the
//! sender waits), to answer the next sends with a 429 of any `retry_after` (u64::MAX included), or to echo the
//! request path, token and all, in every error's `description` (as some
//! proxies and self-hosted Bot API servers do). It records everything it
//! accepted.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::{json, Value};
use tokio::sync::Notify;

/// One message (or photo, or edit) the fake accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub chat_id: i64,
    pub message_id: i64,
    pub thread_id: Option<i64>,
    /// The text as sent (HTML source when `parse_mode` is HTML).
    pub raw: String,
    /// What a reader sees: tags removed, entities decoded.
    pub visible: String,
    pub parse_mode: Option<String>,
    pub reply_to: Option<i64>,
    pub photo_bytes: Option<usize>,
    /// The uploaded photo file (multipart `sendPhoto`).
    pub photo: Option<Vec<u8>>,
    /// `reply_markup` as sent (inline keyboards), parsed.
    pub reply_markup: Option<Value>,
    pub at: Instant,
    /// Delivered, but the reply was never sent (`Faults::lost_reply_every`).
    pub reply_lost: bool,
    /// Sent with `disable_notification` (no sound).
    pub silent: bool,
}

/// How the fake misbehaves. Counters count the "send" requests
/// (sendMessage, sendPhoto, editMessageText, editMessageCaption).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Every n-th send answers 502.
    pub server_error_every: Option<u64>,
    /// Every n-th send: the connection is dropped before anything happens.
    pub drop_every: Option<u64>,
    /// Every n-th send: the message is delivered, then the connection is
    /// dropped (the client never learns; a resend is a duplicate).
    pub lost_reply_every: Option<u64>,
    /// Everything answers 502.
    pub down: bool,
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    /// (method, HTTP status) of every request, in order.
    log: Vec<(String, u16)>,
    last_accepted: HashMap<i64, Instant>,
    next_message_id: i64,
    migrations: HashMap<i64, i64>,
    forbidden: HashSet<i64>,
    /// (chat, message id) of messages too old to edit.
    uneditable: HashSet<(i64, i64)>,
    reject_html: HashSet<i64>,
    faults: Faults,
    sends: u64,
    rate_limited: u64,
    updates: Vec<Value>,
    next_update_id: i64,
    tokens_seen_wrong: u64,
    /// Other methods (answerCallbackQuery, setMyCommands,
    /// editMessageReplyMarkup): their parameters.
    calls: Vec<(String, Value)>,
    /// The next sends answered 429, and the `retry_after` they carry.
    forced_429: (u64, u64),
    /// Every error's description ends with the request path.
    echo_path: bool,
}

struct Shared {
    token: String,
    min_interval: Duration,
    inner: Mutex<Inner>,
    updates: Notify,
    /// While true, the answer to an accepted send waits (`hold_replies`).
    hold: tokio::sync::watch::Sender<bool>,
    /// Answers waiting on `hold` now.
    held: std::sync::atomic::AtomicUsize,
}

/// The running fake. Stops when dropped.
pub struct FakeTelegram {
    pub addr: SocketAddr,
    pub token: String,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

/// Why a request is refused; `Drop` closes the connection unanswered.
#[derive(Debug)]
struct DropConnection;
impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dropped on purpose")
    }
}
impl std::error::Error for DropConnection {}

impl FakeTelegram {
    /// Starts on `127.0.0.1:0` with its own runtime, accepting `token`,
    /// one message per second per chat.
    pub fn start(token: &str) -> FakeTelegram {
        Self::start_with(token, Duration::from_millis(1000))
    }

    pub fn start_with(token: &str, min_interval: Duration) -> FakeTelegram {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            // A little slack for scheduling jitter between the client's
            // clock and ours.
            min_interval: min_interval.saturating_sub(Duration::from_millis(30)),
            inner: Mutex::new(Inner {
                next_message_id: 1,
                next_update_id: 1,
                ..Default::default()
            }),
            updates: Notify::new(),
            hold: tokio::sync::watch::Sender::new(false),
            held: Default::default(),
        });
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let sh = Arc::clone(&shared);
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let sh = Arc::clone(&sh);
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let sh = Arc::clone(&sh);
                        async move { handle(sh, req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        FakeTelegram {
            addr,
            token: token.to_owned(),
            shared,
            runtime: Some(runtime),
        }
    }

    /// The `--telegram-api-url` to use.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.shared.inner.lock().unwrap())
    }

    /// Everything accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.with(|i| i.received.clone())
    }

    /// Accepted messages in `chat`.
    pub fn messages_in(&self, chat: i64) -> Vec<Received> {
        self.with(|i| {
            i.received
                .iter()
                .filter(|r| r.chat_id == chat)
                .cloned()
                .collect()
        })
    }

    /// 429 answers given.
    pub fn rate_limited(&self) -> u64 {
        self.with(|i| i.rate_limited)
    }

    /// (method, status) of every request.
    pub fn log(&self) -> Vec<(String, u16)> {
        self.with(|i| i.log.clone())
    }

    pub fn set_faults(&self, f: Faults) {
        self.with(|i| i.faults = f);
    }

    /// While `on`, every send the fake accepts is recorded (delivered) at
    /// once, and its answer waits until `hold_replies(false)`: the sender
    /// has a message out whose fate it does not know yet.
    pub fn hold_replies(&self, on: bool) {
        self.shared.hold.send_replace(on);
    }

    /// How many accepted sends are waiting for their answer now.
    pub fn held(&self) -> usize {
        self.shared.held.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Sending to `from` answers 400 with `migrate_to_chat_id: to`.
    pub fn migrate(&self, from: i64, to: i64) {
        self.with(|i| i.migrations.insert(from, to));
    }

    /// Sending to `chat` answers 403 (bot blocked / kicked).
    /// Edits of this message are refused as Telegram refuses those of a
    /// message too old to edit.
    pub fn make_uneditable(&self, chat: i64, message_id: i64) {
        self.with(|i| i.uneditable.insert((chat, message_id)));
    }

    pub fn forbid(&self, chat: i64) {
        self.with(|i| i.forbidden.insert(chat));
    }

    /// The next `n` sends answer 429 with `parameters.retry_after` =
    /// `retry_after` (any u64, as a hostile or broken server might).
    pub fn rate_limit_next(&self, n: u64, retry_after: u64) {
        self.with(|i| i.forced_429 = (n, retry_after));
    }

    /// Every error answer's `description` ends with the request path,
    /// which holds the bot token.
    pub fn echo_path(&self, on: bool) {
        self.with(|i| i.echo_path = on);
    }

    /// HTML to `chat` is refused as if its entities were bad.
    pub fn reject_html_in(&self, chat: i64) {
        self.with(|i| i.reject_html.insert(chat));
    }

    /// Queues an update for `getUpdates` (its `update_id` is assigned).
    pub fn push_update(&self, mut update: Value) -> i64 {
        let id = self.with(|i| {
            let id = i.next_update_id;
            i.next_update_id += 1;
            update["update_id"] = json!(id);
            i.updates.push(update);
            id
        });
        self.shared.updates.notify_waiters();
        id
    }

    /// Parameters of every accepted call of `method` among the methods that
    /// send no message (`answerCallbackQuery`, `setMyCommands`).
    pub fn calls(&self, method: &str) -> Vec<Value> {
        self.with(|i| {
            i.calls
                .iter()
                .filter(|(m, _)| m == method)
                .map(|(_, v)| v.clone())
                .collect()
        })
    }

    /// Polls until `f` holds for what was received, or `timeout`.
    pub fn wait_until(&self, timeout: Duration, f: impl Fn(&[Received]) -> bool) -> bool {
        let start = Instant::now();
        loop {
            if self.with(|i| f(&i.received)) {
                return true;
            }
            if start.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

type Answer = Result<Response<Full<Bytes>>, DropConnection>;

fn reply(status: u16, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn error(status: u16, description: &str) -> Response<Full<Bytes>> {
    reply(
        status,
        json!({"ok": false, "error_code": status, "description": description}),
    )
}

/// [`route`], then (in `echo_path` mode) the request path appended to an
/// error's description.
async fn handle(sh: Arc<Shared>, req: Request<Incoming>) -> Answer {
    let path = req.uri().path().to_owned();
    let answer = route(Arc::clone(&sh), req).await?;
    if !sh.inner.lock().unwrap().echo_path || answer.status().is_success() {
        return Ok(answer);
    }
    let status = answer.status().as_u16();
    let body = answer
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut v: Value = serde_json::from_slice(&body).unwrap_or_else(
        |_| json!({"ok": false, "error_code": status, "description": format!("HTTP {status}")}),
    );
    let description = v["description"].as_str().unwrap_or("").to_owned();
    v["description"] = json!(format!("{description} (POST {path})"));
    Ok(reply(status, v))
}

async fn route(sh: Arc<Shared>, req: Request<Incoming>) -> Answer {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let ctype = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let Some(rest) = path.strip_prefix("/bot") else {
        return Ok(error(404, "Not Found"));
    };
    let Some((token, method)) = rest.split_once('/') else {
        return Ok(error(404, "Not Found"));
    };
    if token != sh.token {
        sh.inner.lock().unwrap().tokens_seen_wrong += 1;
        return Ok(error(401, "Unauthorized"));
    }
    let params = parse_params(&ctype, &query, &body);
    let answer = match method {
        "getMe" => Ok(reply(
            200,
            json!({"ok": true, "result": {"id": 4242, "is_bot": true, "first_name": "Outpost Test", "username": "outpost_test_bot", "can_join_groups": true}}),
        )),
        "getUpdates" => Ok(get_updates(&sh, &params).await),
        "sendMessage" | "sendPhoto" | "editMessageText" | "editMessageCaption" => {
            send(&sh, method, &params)
        }
        // Bot API: editMessageReplyMarkup takes chat_id and message_id
        // (or inline_message_id) and the new reply_markup, and returns the
        // edited Message. Recorded with the other calls.
        "editMessageReplyMarkup" => {
            let chat = as_i64(params.get("chat_id"));
            let message = as_i64(params.get("message_id"));
            match (chat, message, params.get("reply_markup")) {
                (None, _, _) => Ok(error(400, "Bad Request: chat_id is empty")),
                (_, None, _) => Ok(error(
                    400,
                    "Bad Request: message identifier is not specified",
                )),
                (Some(chat), Some(id), markup) => {
                    let v = Value::Object(params.clone().into_iter().collect());
                    sh.inner.lock().unwrap().calls.push((method.to_owned(), v));
                    Ok(reply(
                        200,
                        json!({"ok": true, "result": {"message_id": id, "date": 1_795_000_000, "chat": {"id": chat, "type": "group"}, "reply_markup": markup}}),
                    ))
                }
            }
        }
        "answerCallbackQuery" | "setMyCommands" => {
            let required = if method == "setMyCommands" {
                "commands"
            } else {
                "callback_query_id"
            };
            if !params.contains_key(required) {
                Ok(error(400, &format!("Bad Request: {required} is empty")))
            } else {
                let v = Value::Object(params.clone().into_iter().collect());
                sh.inner.lock().unwrap().calls.push((method.to_owned(), v));
                Ok(reply(200, json!({"ok": true, "result": true})))
            }
        }
        _ => Ok(error(404, "Not Found: method not found")),
    };
    let status = answer.as_ref().map_or(0, |r| r.status().as_u16());
    let accepted_send =
        matches!(method, "sendMessage" | "sendPhoto" | "editMessageText") && status == 200;
    if accepted_send && *sh.hold.borrow() {
        hold(&sh).await;
    }
    sh.inner
        .lock()
        .unwrap()
        .log
        .push((method.to_owned(), status));
    answer
}

/// Waits until the answers are no longer held (counted in `held`
/// meanwhile, also when the client goes away and the wait is dropped).
async fn hold(sh: &Shared) {
    struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);
    impl Drop for Waiting<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    sh.held.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let _waiting = Waiting(&sh.held);
    let _ = sh.hold.subscribe().wait_for(|on| !on).await;
}

/// Request parameters from the query string, a JSON body, a form body or
/// a multipart body (files as their byte length under `<name>#bytes`).
fn parse_params(ctype: &str, query: &str, body: &[u8]) -> HashMap<String, Value> {
    let mut out: HashMap<String, Value> = HashMap::new();
    for (k, v) in form_pairs(query) {
        out.insert(k, Value::String(v));
    }
    if ctype.starts_with("application/json") {
        if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(body) {
            out.extend(m);
        }
    } else if ctype.starts_with("application/x-www-form-urlencoded") {
        for (k, v) in form_pairs(&String::from_utf8_lossy(body)) {
            out.insert(k, Value::String(v));
        }
    } else if ctype.starts_with("multipart/form-data") {
        if let Some(b) = ctype.split("boundary=").nth(1) {
            let boundary = b.trim_matches('"');
            for (name, filename, data) in multipart_parts(body, boundary) {
                if filename.is_some() {
                    out.insert(format!("{name}#bytes"), json!(data.len()));
                    let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
                    out.insert(format!("{name}#hex"), Value::String(hex));
                    out.insert(name, Value::String("<file>".into()));
                } else {
                    out.insert(
                        name,
                        Value::String(String::from_utf8_lossy(&data).into_owned()),
                    );
                }
            }
        }
    }
    out
}

fn form_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// (name, filename, data) of each part.
fn multipart_parts(body: &[u8], boundary: &str) -> Vec<(String, Option<String>, Vec<u8>)> {
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    let mut positions = Vec::new();
    let mut i = 0;
    while i + d.len() <= body.len() {
        if &body[i..i + d.len()] == d {
            positions.push(i);
            i += d.len();
        } else {
            i += 1;
        }
    }
    let mut parts = Vec::new();
    for w in positions.windows(2) {
        let part = &body[w[0] + d.len()..w[1]];
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let part = part.strip_suffix(b"\r\n").unwrap_or(part);
        let Some(split) = part.windows(4).position(|x| x == b"\r\n\r\n") else {
            continue;
        };
        let headers = String::from_utf8_lossy(&part[..split]).into_owned();
        let data = part[split + 4..].to_vec();
        let attr = |key: &str| -> Option<String> {
            let pat = format!("{key}=\"");
            let start = headers.find(&pat)? + pat.len();
            let end = headers[start..].find('"')? + start;
            Some(headers[start..end].to_owned())
        };
        if let Some(name) = attr("name") {
            parts.push((name, attr("filename"), data));
        }
    }
    parts
}

fn as_i64(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_str(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

async fn get_updates(sh: &Shared, params: &HashMap<String, Value>) -> Response<Full<Bytes>> {
    let offset = as_i64(params.get("offset")).unwrap_or(0);
    let timeout = as_i64(params.get("timeout")).unwrap_or(0).clamp(0, 50) as u64;
    let limit = as_i64(params.get("limit")).unwrap_or(100).clamp(1, 100) as usize;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    loop {
        let notified = sh.updates.notified();
        let ready: Vec<Value> = {
            let mut inner = sh.inner.lock().unwrap();
            // Confirmed updates (id < offset) are forgotten, like the real API.
            inner
                .updates
                .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
            inner.updates.iter().take(limit).cloned().collect()
        };
        if !ready.is_empty() || tokio::time::Instant::now() >= deadline {
            return reply(200, json!({"ok": true, "result": ready}));
        }
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

fn send(sh: &Shared, method: &str, params: &HashMap<String, Value>) -> Answer {
    let mut inner = sh.inner.lock().unwrap();
    inner.sends += 1;
    let n = inner.sends;
    let hit = |every: Option<u64>| every.is_some_and(|k| k > 0 && n % k == 0);
    if inner.faults.down || hit(inner.faults.server_error_every) {
        return Ok(Response::builder()
            .status(502)
            .header("content-type", "text/html")
            .body(Full::new(Bytes::from_static(
                b"<html><body>502 Bad Gateway</body></html>",
            )))
            .unwrap());
    }
    if hit(inner.faults.drop_every) {
        return Err(DropConnection);
    }
    if inner.forced_429.0 > 0 {
        inner.forced_429.0 -= 1;
        inner.rate_limited += 1;
        let wait = inner.forced_429.1;
        return Ok(reply(
            429,
            json!({"ok": false, "error_code": 429, "description": format!("Too Many Requests: retry after {wait}"), "parameters": {"retry_after": wait}}),
        ));
    }
    let lose_reply = hit(inner.faults.lost_reply_every);
    let Some(chat) = as_i64(params.get("chat_id")) else {
        return Ok(error(400, "Bad Request: chat_id is empty"));
    };
    if let Some(&to) = inner.migrations.get(&chat) {
        return Ok(reply(
            400,
            json!({"ok": false, "error_code": 400, "description": "Bad Request: group chat was upgraded to a supergroup chat", "parameters": {"migrate_to_chat_id": to}}),
        ));
    }
    if inner.forbidden.contains(&chat) {
        return Ok(error(403, "Forbidden: bot was blocked by the user"));
    }
    let now = Instant::now();
    let edit = method.starts_with("editMessage");
    if !edit {
        if let Some(last) = inner.last_accepted.get(&chat) {
            let since = now.duration_since(*last);
            if since < sh.min_interval {
                inner.rate_limited += 1;
                let wait = (sh.min_interval - since).as_secs_f64().ceil().max(1.0) as u64;
                return Ok(reply(
                    429,
                    json!({"ok": false, "error_code": 429, "description": format!("Too Many Requests: retry after {wait}"), "parameters": {"retry_after": wait}}),
                ));
            }
        }
    }
    let (text_key, max) = if method == "sendPhoto" || method == "editMessageCaption" {
        ("caption", 1024)
    } else {
        ("text", 4096)
    };
    let raw = as_str(params.get(text_key)).unwrap_or_default();
    let parse_mode = as_str(params.get("parse_mode"));
    let visible = match parse_mode.as_deref() {
        Some(m) if m.eq_ignore_ascii_case("html") => {
            if inner.reject_html.contains(&chat) {
                return Ok(error(
                    400,
                    "Bad Request: can't parse entities: Unsupported start tag \"b\" at byte offset 0",
                ));
            }
            match parse_html(&raw) {
                Ok(v) => v,
                Err(e) => {
                    return Ok(error(
                        400,
                        &format!("Bad Request: can't parse entities: {e}"),
                    ))
                }
            }
        }
        _ => raw.clone(),
    };
    let len = visible.encode_utf16().count();
    if text_key == "text" && visible.trim().is_empty() {
        return Ok(error(400, "Bad Request: message text is empty"));
    }
    if len > max {
        return Ok(error(
            400,
            if text_key == "caption" {
                "Bad Request: message caption is too long"
            } else {
                "Bad Request: message is too long"
            },
        ));
    }
    let markup = match params.get("reply_markup") {
        None => None,
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v) => Some(v),
            Err(_) => {
                return Ok(error(
                    400,
                    "Bad Request: can't parse reply keyboard markup JSON object",
                ))
            }
        },
        Some(other) => Some(other.clone()),
    };
    if let Some(m) = &markup {
        if let Err(e) = check_markup(m) {
            return Ok(error(400, &format!("Bad Request: {e}")));
        }
    }
    let photo_bytes = as_i64(params.get("photo#bytes")).map(|b| b as usize);
    if method == "sendPhoto" && photo_bytes.is_none() && params.get("photo").is_none() {
        return Ok(error(400, "Bad Request: there is no photo in the request"));
    }
    let reply_to = as_i64(params.get("reply_to_message_id")).or_else(|| {
        params
            .get("reply_parameters")
            .and_then(|r| match r {
                Value::String(s) => serde_json::from_str::<Value>(s).ok(),
                other => Some(other.clone()),
            })
            .and_then(|r| r.get("message_id").and_then(Value::as_i64))
    });
    let message_id = if edit {
        let Some(id) = as_i64(params.get("message_id")) else {
            return Ok(error(
                400,
                "Bad Request: message identifier is not specified",
            ));
        };
        if inner.uneditable.contains(&(chat, id)) {
            return Ok(error(400, "Bad Request: message can't be edited"));
        }
        let current = inner
            .received
            .iter()
            .rev()
            .find(|m| m.chat_id == chat && m.message_id == id);
        if current.is_some_and(|m| m.raw == raw && m.reply_markup == markup) {
            return Ok(error(
                400,
                "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a content and reply markup of the current message",
            ));
        }
        id
    } else {
        inner.last_accepted.insert(chat, now);
        let id = inner.next_message_id;
        inner.next_message_id += 1;
        id
    };
    let thread_id = as_i64(params.get("message_thread_id"));
    inner.received.push(Received {
        method: method.to_owned(),
        chat_id: chat,
        message_id,
        thread_id,
        raw,
        visible: visible.clone(),
        parse_mode,
        reply_to,
        photo_bytes,
        photo: as_str(params.get("photo#hex")).map(|h| {
            (0..h.len() / 2)
                .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap_or(0))
                .collect()
        }),
        reply_markup: markup,
        at: now,
        reply_lost: lose_reply,
        silent: matches!(params.get("disable_notification"), Some(Value::Bool(true)))
            || as_str(params.get("disable_notification")).as_deref() == Some("true"),
    });
    if lose_reply {
        return Err(DropConnection);
    }
    let mut result = json!({
        "message_id": message_id,
        "date": 1_795_000_000,
        "chat": {"id": chat, "type": if chat < 0 { "supergroup" } else { "private" }},
    });
    if text_key == "caption" {
        result["caption"] = json!(visible);
        result["photo"] =
            json!([{"file_id": "fake-photo", "file_unique_id": "u", "width": 800, "height": 400}]);
    } else {
        result["text"] = json!(visible);
    }
    if let Some(t) = thread_id {
        result["message_thread_id"] = json!(t);
    }
    Ok(reply(200, json!({"ok": true, "result": result})))
}

/// An inline keyboard as the Bot API checks it: rows of buttons, each with
/// a label and `callback_data` of 1–64 bytes (or a URL), at most 100.
fn check_markup(markup: &Value) -> Result<(), &'static str> {
    let Some(rows) = markup.get("inline_keyboard") else {
        return Ok(()); // another kind of keyboard: not used here
    };
    let rows = rows.as_array().ok_or(
        "field \"inline_keyboard\" of the InlineKeyboardMarkup should be an Array of Arrays",
    )?;
    let mut count = 0;
    for row in rows {
        let row = row.as_array().ok_or(
            "field \"inline_keyboard\" of the InlineKeyboardMarkup should be an Array of Arrays",
        )?;
        for button in row {
            count += 1;
            if button["text"].as_str().is_none_or(str::is_empty) {
                return Err("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard");
            }
            match button.get("callback_data").map(Value::as_str) {
                Some(Some(d)) if (1..=64).contains(&d.len()) => {}
                Some(_) => return Err("BUTTON_DATA_INVALID"),
                None if button.get("url").is_some() => {}
                None => return Err("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"),
            }
        }
    }
    if count > 100 {
        return Err("reply markup is too long");
    }
    Ok(())
}

const TAGS: &[&str] = &[
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-emoji",
];

/// Parses Telegram's HTML subset; the visible text, or the error the real
/// API gives (without the "Bad Request: can't parse entities: " prefix).
pub fn parse_html(html: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut stack: Vec<String> = Vec::new();
    let bytes = html.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'<' => {
                let Some(end) = html[i..].find('>').map(|e| e + i) else {
                    return Err(format!("Unclosed start tag at byte offset {i}"));
                };
                let inner = &html[i + 1..end];
                if let Some(name) = inner.strip_prefix('/') {
                    let name = name.trim().to_ascii_lowercase();
                    match stack.pop() {
                        Some(open) if open == name => {}
                        _ => return Err(format!("Unexpected end tag at byte offset {i}")),
                    }
                } else {
                    let name: String = inner
                        .chars()
                        .take_while(|c| !c.is_whitespace() && *c != '/')
                        .collect::<String>()
                        .to_ascii_lowercase();
                    if name.is_empty() || !TAGS.contains(&name.as_str()) {
                        return Err(format!(
                            "Unsupported start tag \"{name}\" at byte offset {i}"
                        ));
                    }
                    let attrs = &inner[name.len()..];
                    if name == "a" && !attrs.trim_start().starts_with("href=") {
                        return Err(format!(
                            "Can't find end of href attribute at byte offset {i}"
                        ));
                    }
                    if attrs.contains('<') {
                        return Err(format!("Unsupported start tag at byte offset {i}"));
                    }
                    stack.push(name);
                }
                i = end + 1;
            }
            b'&' => {
                let rest = &html[i..];
                let semi = rest.find(';').filter(|&s| s <= 10);
                let decoded = semi.and_then(|s| {
                    let ent = &rest[1..s];
                    let c = match ent {
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "amp" => Some('&'),
                        "quot" => Some('"'),
                        _ if ent.starts_with("#x") || ent.starts_with("#X") => {
                            u32::from_str_radix(&ent[2..], 16)
                                .ok()
                                .and_then(char::from_u32)
                        }
                        _ if ent.starts_with('#') => ent[1..].parse().ok().and_then(char::from_u32),
                        _ => None,
                    };
                    c.map(|c| (c, s + 1))
                });
                match decoded {
                    Some((c, len)) => {
                        out.push(c);
                        i += len;
                    }
                    None => {
                        // Like the real API: an unknown entity is kept as text.
                        out.push('&');
                        i += 1;
                    }
                }
            }
            _ => {
                let next = html[i..].find(['<', '&']).map_or(html.len(), |n| n + i);
                out.push_str(&html[i..next]);
                i = next;
            }
        }
    }
    if let Some(open) = stack.pop() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{open}\""
        ));
    }
    Ok(out)
}

#[test]
fn the_fake_parses_html_like_telegram() {
    assert_eq!(
        parse_html("<b>a &lt;b&gt; &amp; &quot;</b>").unwrap(),
        "a <b> & \""
    );
    assert_eq!(
        parse_html("<a href=\"http://x/?a=1&amp;b=2\">link</a>").unwrap(),
        "link"
    );
    assert!(parse_html("a < b > c")
        .unwrap_err()
        .starts_with("Unsupported start tag"));
    assert!(parse_html("a < b").is_err());
    assert!(parse_html("<b>x")
        .unwrap_err()
        .contains("Can't find end tag"));
    assert!(parse_html("<b>x</i>")
        .unwrap_err()
        .contains("Unexpected end tag"));
    assert!(parse_html("<br>").is_err());
    assert!(parse_html("<script>x</script>").is_err());
    assert_eq!(parse_html("&#60;&#x3e;").unwrap(), "<>");
}

#[test]
fn the_fake_behaves_like_the_bot_api() {
    let fake = FakeTelegram::start("9:tok");
    let c = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let call = |method: &str, body: Value| -> (u16, Value) {
        let r = c
            .post(format!("{}/bot9:tok/{method}", fake.url()))
            .json(&body)
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap())
    };
    // Wrong token, unknown method.
    let r = c
        .post(format!("{}/bot9:bad/getMe", fake.url()))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(call("noSuchMethod", json!({})).0, 404);
    assert_eq!(call("getMe", json!({})).1["result"]["is_bot"], true);

    // sendMessage, then the per-chat limit.
    let (s, v) = call(
        "sendMessage",
        json!({"chat_id": 5, "text": "<b>hi</b>", "parse_mode": "HTML"}),
    );
    assert_eq!(s, 200, "{v}");
    let id = v["result"]["message_id"].as_i64().unwrap();
    let (s, v) = call("sendMessage", json!({"chat_id": 5, "text": "again"}));
    assert_eq!(s, 429);
    assert_eq!(v["parameters"]["retry_after"], 1);
    assert_eq!(fake.rate_limited(), 1);
    // Another chat is not limited; bad HTML and over-long text are 400.
    let (s, v) = call(
        "sendMessage",
        json!({"chat_id": 6, "text": "a <x> b", "parse_mode": "HTML"}),
    );
    assert_eq!(s, 400);
    assert!(v["description"]
        .as_str()
        .unwrap()
        .starts_with("Bad Request: can't parse entities"));
    let (s, v) = call(
        "sendMessage",
        json!({"chat_id": 6, "text": "é".repeat(4097)}),
    );
    assert_eq!(
        (s, v["description"].as_str().unwrap()),
        (400, "Bad Request: message is too long")
    );
    let (s, _) = call(
        "sendMessage",
        json!({"chat_id": 6, "text": "é".repeat(4096)}),
    );
    assert_eq!(s, 200);

    // Inline keyboards are checked like the real API does.
    let keys =
        |data: &str| json!({"inline_keyboard": [[{"text": "🔕 1h", "callback_data": data}]]});
    let (s, v) = call(
        "sendMessage",
        json!({"chat_id": 9, "text": "x", "reply_markup": keys(&"a".repeat(65))}),
    );
    assert_eq!(
        (s, v["description"].as_str().unwrap()),
        (400, "Bad Request: BUTTON_DATA_INVALID")
    );
    let (s, _) = call(
        "sendMessage",
        json!({"chat_id": 9, "text": "x", "reply_markup": keys(&"a".repeat(64))}),
    );
    assert_eq!(s, 200);
    let kb = fake
        .received()
        .last()
        .unwrap()
        .reply_markup
        .clone()
        .unwrap();
    assert_eq!(kb["inline_keyboard"][0][0]["callback_data"], "a".repeat(64));

    // editMessageText keeps the id.
    let (s, v) = call(
        "editMessageText",
        json!({"chat_id": 5, "message_id": id, "text": "edited"}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(fake.received().last().unwrap().message_id, id);
    // The same edit again changes nothing: refused, as Telegram does.
    let (s, v) = call(
        "editMessageText",
        json!({"chat_id": 5, "message_id": id, "text": "edited"}),
    );
    assert_eq!(s, 400);
    assert!(v["description"]
        .as_str()
        .unwrap()
        .starts_with("Bad Request: message is not modified"));
    fake.make_uneditable(5, id);
    let (s, v) = call(
        "editMessageText",
        json!({"chat_id": 5, "message_id": id, "text": "edited again"}),
    );
    assert_eq!(
        (s, v["description"].as_str().unwrap()),
        (400, "Bad Request: message can't be edited")
    );

    // Multipart sendPhoto, caption limit.
    let photo = |caption: &str| {
        let boundary = "XyZ";
        let mut body = Vec::new();
        for (name, value) in [
            ("chat_id", "7"),
            ("caption", caption),
            ("parse_mode", "HTML"),
        ] {
            body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
        }
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"c.png\"\r\nContent-Type: image/png\r\n\r\n").as_bytes());
        body.extend_from_slice(&[0x89, b'P', b'N', b'G', 0, 1, 2, 3]);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        c.post(format!("{}/bot9:tok/sendPhoto", fake.url()))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(photo(&"x".repeat(1025)), 400);
    // 1024 visible characters of HTML are fine, whatever the markup adds.
    assert_eq!(photo(&format!("<b>{}</b> &amp;", "é".repeat(1022))), 200);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        photo(&format!("<b>{}</b> &amp; <i>x</i>", "é".repeat(1022))),
        400
    );
    assert_eq!(photo("cpu of web1"), 200);
    let p = fake.received().last().unwrap().clone();
    assert_eq!(
        (
            p.method.as_str(),
            p.chat_id,
            p.photo_bytes,
            p.visible.as_str()
        ),
        ("sendPhoto", 7, Some(8), "cpu of web1")
    );

    // Long-polled getUpdates: waits, then answers when an update arrives;
    // an offset confirms.
    let t = Instant::now();
    let (_, v) = call("getUpdates", json!({"timeout": 1}));
    assert!(t.elapsed() >= Duration::from_millis(900));
    assert_eq!(v["result"], json!([]));
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(200));
            fake.push_update(
                json!({"message": {"text": "/help", "chat": {"id": 5}, "from": {"id": 11}}}),
            );
        });
        let t = Instant::now();
        let (_, v) = call("getUpdates", json!({"timeout": 10}));
        assert!(t.elapsed() < Duration::from_secs(5));
        assert_eq!(v["result"][0]["message"]["text"], "/help");
        let next = v["result"][0]["update_id"].as_i64().unwrap() + 1;
        let (_, v) = call("getUpdates", json!({"offset": next, "timeout": 0}));
        assert_eq!(v["result"], json!([]));
    });

    // Migration and failure modes.
    fake.migrate(-1, -1001);
    let (s, v) = call("sendMessage", json!({"chat_id": -1, "text": "x"}));
    assert_eq!(
        (s, v["parameters"]["migrate_to_chat_id"].as_i64()),
        (400, Some(-1001))
    );
    fake.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    assert_eq!(call_status(&c, &fake, 8), Some(502));
    fake.set_faults(Faults {
        drop_every: Some(1),
        ..Faults::default()
    });
    assert_eq!(call_status(&c, &fake, 8), None, "connection dropped");
}

fn call_status(c: &reqwest::blocking::Client, fake: &FakeTelegram, chat: i64) -> Option<u16> {
    c.post(format!("{}/bot9:tok/sendMessage", fake.url()))
        .json(&json!({"chat_id": chat, "text": "x"}))
        .send()
        .ok()
        .map(|r| r.status().as_u16())
}
