//! The Telegram Bot API transport, shared by the alert sender and the chat
//! bot: one [`Outgoing`] message becomes `sendMessage` (JSON) or, when it
//! carries a photo, multipart `sendPhoto` with the text as its caption, or,
//! when it names a message to [`Edit`], `editMessageText` /
//! `editMessageCaption`, over reqwest (rustls); every answer is classified
//! into what the caller does next ([`Outcome`]).
//!
//! Why reqwest and not teloxide: delivery needs a handful of methods and
//! full control over the answer (`retry_after`, `migrate_to_chat_id`, the
//! entity error) and over what an error may print; reqwest is already in
//! the tree.
//!
//! The bot token is part of every request URL, and reqwest errors carry
//! the URL: errors are built from `without_url()` and then passed through
//! [`Secret::redact`] as a second guard. Text from the API itself (an
//! error's `description`) is redacted where it enters, in [`classify`]: a
//! proxy or a self-hosted Bot API server may echo the request path, token
//! included, and that text is logged and stored in `outbox.error`.
//!
//! Decisions: 401 and 404 are [`Outcome::Misconfigured`], not a refusal of
//! the message: they mean the token or `--telegram-api-url` is wrong, so
//! the caller keeps the message and tries again later.

use std::future::Future;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::secret::Secret;

/// One message to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub chat: i64,
    pub thread: Option<i64>,
    pub text: String,
    /// Parse mode HTML (otherwise plain text).
    pub html: bool,
    pub reply_to: Option<i64>,
    /// `reply_markup` (e.g. an inline keyboard), as the Bot API takes it.
    pub reply_markup: Option<serde_json::Value>,
    /// A PNG to send as a photo (`sendPhoto`); `text` is then its caption
    /// (at most [`CAPTION_LIMIT`] visible characters).
    pub photo: Option<Vec<u8>>,
    /// A message sent before whose text (or caption) and keyboard this
    /// replaces, instead of sending a new one.
    pub edit: Option<Edit>,
    /// `disable_notification`: delivered without a sound.
    pub silent: bool,
}

/// Which sent message an [`Outgoing`] edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edit {
    pub message_id: i64,
    /// The message is a photo: `text` is its new caption.
    pub caption: bool,
}

impl Outgoing {
    /// A text message (parse mode HTML) to `chat`, no reply, no buttons.
    pub fn html(chat: i64, thread: Option<i64>, text: String) -> Self {
        Outgoing {
            chat,
            thread,
            text,
            html: true,
            reply_to: None,
            reply_markup: None,
            photo: None,
            edit: None,
            silent: false,
        }
    }

    /// The Bot API method that sends it.
    pub fn method(&self) -> &'static str {
        match (self.edit, &self.photo) {
            (Some(Edit { caption: true, .. }), _) => "editMessageCaption",
            (Some(_), _) => "editMessageText",
            (None, Some(_)) => "sendPhoto",
            (None, None) => "sendMessage",
        }
    }
}

/// Telegram's limit on a photo caption's visible text (the chat engine
/// keeps its chart captions within it too).
pub use crate::html::CAPTION_LIMIT;

/// What became of one `sendMessage`.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Sent {
        message_id: i64,
    },
    /// 429: wait this long, then send again.
    RetryAfter(Duration),
    /// Network error, timeout or 5xx: send again after a backoff.
    Transient {
        reason: Reason,
        detail: String,
    },
    /// 400 "can't parse entities": send again as plain text.
    BadEntities(String),
    /// 400 with `migrate_to_chat_id`: the group became a supergroup.
    Migrated(i64),
    /// 401 (`unauthorized`: wrong token) or 404 (`not_found`: wrong
    /// `--telegram-api-url`, or a token Telegram does not route): the
    /// bridge's configuration is wrong, not the message. Keep it, say so,
    /// try again later.
    Misconfigured {
        problem: Misconfig,
        detail: String,
    },
    /// Any other 4xx: do not send again.
    Permanent {
        reason: Reason,
        detail: String,
    },
}

/// Why a send failed: the `reason` label of
/// `outpost_bridge_send_failures_total`, decided once by [`classify`] (or
/// the transport), never re-derived from the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Network,
    Timeout,
    ServerError,
    RateLimited,
    BadEntities,
    Unauthorized,
    NotFound,
    Forbidden,
    ChatNotFound,
    TooLong,
    /// An edit that would change nothing (the message already says it).
    NotModified,
    BadRequest,
    ClientError,
}

impl Reason {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Reason::Network => "network",
            Reason::Timeout => "timeout",
            Reason::ServerError => "server_error",
            Reason::RateLimited => "rate_limited",
            Reason::BadEntities => "bad_entities",
            Reason::Unauthorized => "unauthorized",
            Reason::NotFound => "not_found",
            Reason::Forbidden => "forbidden",
            Reason::ChatNotFound => "chat_not_found",
            Reason::TooLong => "too_long",
            Reason::NotModified => "not_modified",
            Reason::BadRequest => "bad_request",
            Reason::ClientError => "client_error",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// What a 401 or 404 says is wrong with the bridge's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misconfig {
    /// 401: Telegram does not know the token.
    Unauthorized,
    /// 404: nothing answers at that path: `--telegram-api-url` (or the
    /// token's shape) is wrong.
    NotFound,
}

impl Misconfig {
    /// The failure reason it is counted under.
    pub fn reason(self) -> Reason {
        match self {
            Misconfig::Unauthorized => Reason::Unauthorized,
            Misconfig::NotFound => Reason::NotFound,
        }
    }

    /// The `reason` label in `outpost_bridge_send_failures_total`.
    pub fn label(self) -> &'static str {
        self.reason().label()
    }

    /// What the operator should check.
    pub fn hint(self) -> &'static str {
        match self {
            Misconfig::Unauthorized => {
                "check the bot token (--telegram-token, --telegram-token-file, OUTPOST_TELEGRAM_TOKEN)"
            }
            Misconfig::NotFound => "check --telegram-api-url and the bot token",
        }
    }
}

/// Something that delivers messages (the Bot API, or a test double).
pub trait Transport: Send + Sync + 'static {
    fn send(&self, msg: &Outgoing) -> impl Future<Output = Outcome> + Send;
}

/// The Bot API over HTTP.
#[derive(Clone)]
pub struct Telegram {
    client: reqwest::Client,
    base: String,
    token: Secret,
}

#[derive(Debug, thiserror::Error)]
#[error("building the Telegram HTTP client: {0}")]
pub struct ClientError(String);

impl Telegram {
    /// `api_url` is e.g. `https://api.telegram.org` (no trailing slash
    /// needed).
    pub fn new(api_url: &str, token: Secret, timeout: Duration) -> Result<Self, ClientError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("outpost/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError(e.without_url().to_string()))?;
        Ok(Telegram {
            client,
            base: api_url.trim_end_matches('/').to_owned(),
            token,
        })
    }

    fn url(&self, method: &str) -> String {
        format!("{}/bot{}/{method}", self.base, self.token.expose())
    }

    /// An error text safe to log: no URL, no token.
    fn describe(&self, err: reqwest::Error) -> String {
        let err = err.without_url();
        let mut text = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        self.token.redact(&text)
    }
}

/// The JSON body of `sendMessage`, or of the edit [`Outgoing::edit`]
/// names (a caption edit has no link preview options, and no edit has a
/// thread or a reply: the message keeps its own).
pub fn request_body(msg: &Outgoing) -> serde_json::Value {
    if let Some(edit) = msg.edit {
        let mut body = json!({"chat_id": msg.chat, "message_id": edit.message_id});
        if edit.caption {
            body["caption"] = json!(msg.text);
        } else {
            body["text"] = json!(msg.text);
            body["link_preview_options"] = json!({"is_disabled": true});
        }
        if msg.html {
            body["parse_mode"] = json!("HTML");
        }
        if let Some(m) = &msg.reply_markup {
            body["reply_markup"] = m.clone();
        }
        return body;
    }
    let mut body = json!({
        "chat_id": msg.chat,
        "text": msg.text,
        "link_preview_options": {"is_disabled": true},
    });
    if msg.html {
        body["parse_mode"] = json!("HTML");
    }
    if let Some(t) = msg.thread {
        body["message_thread_id"] = json!(t);
    }
    if let Some(r) = msg.reply_to {
        // A deleted firing message must not stop the resolution.
        body["reply_parameters"] = json!({"message_id": r, "allow_sending_without_reply": true});
    }
    if let Some(m) = &msg.reply_markup {
        body["reply_markup"] = m.clone();
    }
    if msg.silent {
        body["disable_notification"] = json!(true);
    }
    body
}

/// The text fields of `sendPhoto` (everything but the file), as the Bot
/// API takes them in a multipart form: JSON values as JSON text.
pub fn photo_fields(msg: &Outgoing) -> Vec<(&'static str, String)> {
    let mut fields = vec![("chat_id", msg.chat.to_string())];
    if !msg.text.is_empty() {
        fields.push(("caption", msg.text.clone()));
        if msg.html {
            fields.push(("parse_mode", "HTML".to_owned()));
        }
    }
    if let Some(t) = msg.thread {
        fields.push(("message_thread_id", t.to_string()));
    }
    if let Some(r) = msg.reply_to {
        fields.push((
            "reply_parameters",
            json!({"message_id": r, "allow_sending_without_reply": true}).to_string(),
        ));
    }
    if let Some(m) = &msg.reply_markup {
        fields.push(("reply_markup", m.to_string()));
    }
    if msg.silent {
        fields.push(("disable_notification", "true".to_owned()));
    }
    fields
}

/// The multipart body of `sendPhoto`: [`photo_fields`] and the PNG.
pub fn photo_form(msg: &Outgoing, png: &[u8]) -> reqwest::multipart::Form {
    let part = reqwest::multipart::Part::bytes(png.to_vec())
        .file_name("chart.png")
        .mime_str("image/png")
        .expect("a valid MIME type");
    photo_fields(msg)
        .into_iter()
        .fold(reqwest::multipart::Form::new(), |form, (k, v)| {
            form.text(k, v)
        })
        .part("photo", part)
}

/// A request body: JSON, or multipart (for uploading a photo).
pub enum Payload {
    Json(serde_json::Value),
    Multipart(reqwest::multipart::Form),
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ApiAnswer {
    ok: bool,
    description: String,
    result: Option<serde_json::Value>,
    parameters: Option<ApiParameters>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ApiParameters {
    retry_after: Option<u64>,
    migrate_to_chat_id: Option<i64>,
}

/// Longest API error text kept (in characters, after redaction): enough
/// for any real `description`, bounded for a hostile server.
const DETAIL_LIMIT: usize = 300;

/// An error text from the API made safe to log and store: `token`
/// redacted, then cut to [`DETAIL_LIMIT`].
fn clean(text: &str, token: &Secret) -> String {
    let text = token.redact(text);
    match text.char_indices().nth(DETAIL_LIMIT) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

/// Classifies a Bot API answer (HTTP status and body). The description is
/// cleaned of `token` here, where it enters (a server may echo the path).
pub fn classify(status: u16, body: &[u8], token: &Secret) -> Outcome {
    let answer: ApiAnswer = serde_json::from_slice(body).unwrap_or_default();
    let params = answer.parameters.unwrap_or_default();
    let detail = if answer.description.is_empty() {
        format!("HTTP {status}")
    } else {
        clean(&answer.description, token)
    };
    if (200..300).contains(&status) && answer.ok {
        let id = answer
            .result
            .as_ref()
            .and_then(|r| r.get("message_id"))
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0);
        return Outcome::Sent { message_id: id };
    }
    if let Some(to) = params.migrate_to_chat_id {
        return Outcome::Migrated(to);
    }
    if status == 429 {
        return Outcome::RetryAfter(Duration::from_secs(params.retry_after.unwrap_or(1).max(1)));
    }
    if status >= 500 || (200..300).contains(&status) {
        return Outcome::Transient {
            reason: Reason::ServerError,
            detail,
        };
    }
    if status == 401 || status == 404 {
        let problem = if status == 401 {
            Misconfig::Unauthorized
        } else {
            Misconfig::NotFound
        };
        return Outcome::Misconfigured { problem, detail };
    }
    let lower = detail.to_ascii_lowercase();
    if status == 400 && lower.contains("can't parse entities") {
        return Outcome::BadEntities(detail);
    }
    let reason = match status {
        403 => Reason::Forbidden,
        400 if lower.contains("chat not found") => Reason::ChatNotFound,
        400 if lower.contains("too long") => Reason::TooLong,
        400 if lower.contains("message is not modified") => Reason::NotModified,
        400 => Reason::BadRequest,
        _ => Reason::ClientError,
    };
    Outcome::Permanent { reason, detail }
}

impl Telegram {
    /// [`classify`] with this transport's token.
    pub fn classify(&self, status: u16, body: &[u8]) -> Outcome {
        classify(status, body, &self.token)
    }

    /// Calls one Bot API method: the HTTP status and body, or an
    /// [`Outcome::Transient`] whose detail shows neither URL nor token.
    /// `timeout` overrides the client's (long polling waits longer).
    pub async fn call(
        &self,
        method: &str,
        payload: Payload,
        timeout: Option<Duration>,
    ) -> Result<(u16, Vec<u8>), Outcome> {
        let mut req = self.client.post(self.url(method));
        req = match payload {
            Payload::Json(v) => req.json(&v),
            Payload::Multipart(form) => req.multipart(form),
        };
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                let reason = if e.is_timeout() {
                    Reason::Timeout
                } else {
                    Reason::Network
                };
                return Err(Outcome::Transient {
                    reason,
                    detail: self.describe(e),
                });
            }
        };
        let status = resp.status().as_u16();
        match resp.bytes().await {
            Ok(body) => Ok((status, body.to_vec())),
            Err(e) => Err(Outcome::Transient {
                reason: Reason::Network,
                detail: self.describe(e),
            }),
        }
    }
}

impl Transport for Telegram {
    async fn send(&self, msg: &Outgoing) -> Outcome {
        let payload = match &msg.photo {
            Some(png) if msg.edit.is_none() => Payload::Multipart(photo_form(msg, png)),
            _ => Payload::Json(request_body(msg)),
        };
        match self.call(msg.method(), payload, None).await {
            Ok((status, body)) => self.classify(status, &body),
            Err(outcome) => outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(status: u16, body: &[u8]) -> Outcome {
        super::classify(status, body, &Secret::new("1:T"))
    }

    #[test]
    fn answers_are_classified_like_the_bot_api_means_them() {
        assert_eq!(
            classify(
                200,
                br#"{"ok":true,"result":{"message_id":42,"chat":{"id":1}}}"#
            ),
            Outcome::Sent { message_id: 42 }
        );
        assert_eq!(
            classify(429, br#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#),
            Outcome::RetryAfter(Duration::from_secs(7))
        );
        assert_eq!(
            classify(400, br#"{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1001234}}"#),
            Outcome::Migrated(-1001234)
        );
        assert!(matches!(
            classify(400, br#"{"ok":false,"error_code":400,"description":"Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 3"}"#),
            Outcome::BadEntities(_)
        ));
        assert!(matches!(
            classify(403, br#"{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}"#),
            Outcome::Permanent {
                reason: Reason::Forbidden,
                ..
            }
        ));
        assert!(matches!(
            classify(
                400,
                br#"{"ok":false,"description":"Bad Request: chat not found"}"#
            ),
            Outcome::Permanent {
                reason: Reason::ChatNotFound,
                ..
            }
        ));
        assert!(matches!(
            classify(400, br#"{"ok":false,"error_code":400,"description":"Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a content and reply markup of the current message"}"#),
            Outcome::Permanent {
                reason: Reason::NotModified,
                ..
            }
        ));
        assert!(matches!(
            classify(502, b"<html>bad gateway</html>"),
            Outcome::Transient {
                reason: Reason::ServerError,
                ..
            }
        ));
        assert!(matches!(
            classify(200, b"garbage"),
            Outcome::Transient { .. }
        ));
        // The bridge's configuration, not the message: kept and retried.
        assert_eq!(
            classify(
                401,
                br#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#
            ),
            Outcome::Misconfigured {
                problem: Misconfig::Unauthorized,
                detail: "Unauthorized".into()
            }
        );
        assert!(matches!(
            classify(404, b"<html>404</html>"),
            Outcome::Misconfigured {
                problem: Misconfig::NotFound,
                ..
            }
        ));
    }

    #[test]
    fn an_echoed_token_is_redacted_where_the_description_enters() {
        let token = Secret::new("999:SECRET-tok");
        let body = br#"{"ok":false,"error_code":403,"description":"Forbidden: POST /bot999:SECRET-tok/sendMessage and /bot999%3ASECRET-tok/x"}"#;
        let out = super::classify(403, body, &token);
        let Outcome::Permanent { reason, detail } = &out else {
            panic!("{out:?}")
        };
        assert_eq!(*reason, Reason::Forbidden);
        assert!(!detail.contains("SECRET-tok"), "{detail}");
        assert!(detail.contains("**REDACTED**"), "{detail}");
        let long = format!(r#"{{"ok":false,"description":"{}"}}"#, "x".repeat(10_000));
        let Outcome::Permanent { detail, .. } = super::classify(400, long.as_bytes(), &token)
        else {
            panic!()
        };
        assert_eq!(detail.chars().count(), DETAIL_LIMIT + 1);
    }

    #[test]
    fn request_body_names_topic_and_reply() {
        let b = request_body(&Outgoing {
            chat: -100,
            thread: Some(7),
            text: "<b>x</b>".into(),
            html: true,
            reply_to: Some(55),
            reply_markup: None,
            photo: None,
            edit: None,
            silent: false,
        });
        assert_eq!(b["parse_mode"], "HTML");
        assert_eq!(b["message_thread_id"], 7);
        assert_eq!(b["reply_parameters"]["message_id"], 55);
        let plain = request_body(&Outgoing {
            chat: 1,
            thread: None,
            text: "x".into(),
            html: false,
            reply_to: None,
            reply_markup: None,
            photo: None,
            edit: None,
            silent: true,
        });
        assert!(plain.get("parse_mode").is_none());
        assert!(plain.get("message_thread_id").is_none());
        assert_eq!(plain["disable_notification"], true);
        assert!(b.get("disable_notification").is_none());
    }

    #[test]
    fn an_edit_names_its_message_and_keeps_html_and_buttons() {
        let markup = json!({"inline_keyboard": [[{"text": "🙋 taken", "callback_data": "a:ab"}]]});
        let text = Outgoing {
            reply_markup: Some(markup.clone()),
            edit: Some(Edit {
                message_id: 12,
                caption: false,
            }),
            ..Outgoing::html(-100, Some(9), "<b>x</b>".into())
        };
        assert_eq!(text.method(), "editMessageText");
        let b = request_body(&text);
        assert_eq!(b["message_id"], 12);
        assert_eq!(b["text"], "<b>x</b>");
        assert_eq!(b["parse_mode"], "HTML");
        assert_eq!(b["reply_markup"], markup);
        assert!(b.get("message_thread_id").is_none());
        let caption = Outgoing {
            edit: Some(Edit {
                message_id: 12,
                caption: true,
            }),
            ..text
        };
        assert_eq!(caption.method(), "editMessageCaption");
        let b = request_body(&caption);
        assert_eq!(b["caption"], "<b>x</b>");
        assert!(b.get("text").is_none());
    }

    #[test]
    fn photo_fields_carry_caption_reply_and_buttons() {
        let markup = json!({"inline_keyboard": [[{"text": "🔕 1h", "callback_data": "s1:ab12"}]]});
        let msg = Outgoing {
            reply_to: Some(3),
            reply_markup: Some(markup.clone()),
            photo: Some(vec![0x89, b'P']),
            ..Outgoing::html(-100, Some(9), "<b>CPU</b> high".into())
        };
        assert_eq!(msg.method(), "sendPhoto");
        let fields: std::collections::HashMap<_, _> = photo_fields(&msg).into_iter().collect();
        assert_eq!(fields["chat_id"], "-100");
        assert_eq!(fields["caption"], "<b>CPU</b> high");
        assert_eq!(fields["parse_mode"], "HTML");
        assert_eq!(fields["message_thread_id"], "9");
        let reply: serde_json::Value = serde_json::from_str(&fields["reply_parameters"]).unwrap();
        assert_eq!(reply["message_id"], 3);
        let sent: serde_json::Value = serde_json::from_str(&fields["reply_markup"]).unwrap();
        assert_eq!(sent, markup);
        // The plain-text fallback drops the parse mode; no caption, no field.
        let plain = photo_fields(&Outgoing {
            html: false,
            ..msg.clone()
        });
        assert!(plain.iter().all(|(k, _)| *k != "parse_mode"));
        let bare = photo_fields(&Outgoing {
            text: String::new(),
            ..msg
        });
        assert!(bare
            .iter()
            .all(|(k, _)| *k != "caption" && *k != "parse_mode"));
        assert_eq!(Outgoing::html(1, None, "x".into()).method(), "sendMessage");
    }

    #[tokio::test]
    async fn network_errors_never_show_the_token() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let token = Secret::new("999999:SECRET-token-value");
        let t = Telegram::new(
            &format!("http://127.0.0.1:{port}"),
            token.clone(),
            Duration::from_secs(2),
        )
        .unwrap();
        let out = t
            .send(&Outgoing {
                html: false,
                ..Outgoing::html(1, None, "x".into())
            })
            .await;
        let Outcome::Transient { reason, detail } = &out else {
            panic!("{out:?}")
        };
        assert_eq!(*reason, Reason::Network);
        let all = format!("{out:?} {detail}");
        assert!(!all.contains("SECRET-token-value"), "{all}");
        assert!(!all.contains("999999"), "{all}");
        assert!(!detail.is_empty());
    }
}
