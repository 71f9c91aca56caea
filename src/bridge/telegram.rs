//! The Telegram Bot API transport for alerts: `sendMessage` over reqwest
//! (rustls), and the classification of every answer into what the sender
//! does next ([`Outcome`]).
//!
//! Why reqwest and not teloxide here: delivery needs exactly one method
//! and full control over the answer (`retry_after`, `migrate_to_chat_id`,
//! the entity error) and over what an error may print; reqwest is already
//! in the tree. The chat-command front end (long polling) can use
//! teloxide against the same `--telegram-api-url` without touching this.
//!
//! The bot token is part of every request URL, and reqwest errors carry
//! the URL: errors are built from `without_url()` and then passed through
//! [`Secret::redact`] as a second guard.

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
}

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
        reason: &'static str,
        detail: String,
    },
    /// 400 "can't parse entities": send again as plain text.
    BadEntities(String),
    /// 400 with `migrate_to_chat_id`: the group became a supergroup.
    Migrated(i64),
    /// Any other 4xx: do not send again.
    Permanent {
        reason: &'static str,
        detail: String,
    },
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

/// The JSON body of `sendMessage`.
pub fn request_body(msg: &Outgoing) -> serde_json::Value {
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
    body
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

/// Classifies a Bot API answer (HTTP status and body).
pub fn classify(status: u16, body: &[u8]) -> Outcome {
    let answer: ApiAnswer = serde_json::from_slice(body).unwrap_or_default();
    let params = answer.parameters.unwrap_or_default();
    let detail = if answer.description.is_empty() {
        format!("HTTP {status}")
    } else {
        answer.description.clone()
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
            reason: "server_error",
            detail,
        };
    }
    let lower = answer.description.to_ascii_lowercase();
    if status == 400 && lower.contains("can't parse entities") {
        return Outcome::BadEntities(detail);
    }
    let reason = match status {
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        400 if lower.contains("chat not found") => "chat_not_found",
        400 if lower.contains("too long") => "too_long",
        400 => "bad_request",
        _ => "client_error",
    };
    Outcome::Permanent { reason, detail }
}

impl Telegram {
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
                let reason = if e.is_timeout() { "timeout" } else { "network" };
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
                reason: "network",
                detail: self.describe(e),
            }),
        }
    }
}

impl Transport for Telegram {
    async fn send(&self, msg: &Outgoing) -> Outcome {
        match self
            .call("sendMessage", Payload::Json(request_body(msg)), None)
            .await
        {
            Ok((status, body)) => classify(status, &body),
            Err(outcome) => outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            Outcome::Permanent { reason: "forbidden", .. }
        ));
        assert!(matches!(
            classify(
                400,
                br#"{"ok":false,"description":"Bad Request: chat not found"}"#
            ),
            Outcome::Permanent {
                reason: "chat_not_found",
                ..
            }
        ));
        assert!(matches!(
            classify(502, b"<html>bad gateway</html>"),
            Outcome::Transient {
                reason: "server_error",
                ..
            }
        ));
        assert!(matches!(
            classify(200, b"garbage"),
            Outcome::Transient { .. }
        ));
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
        });
        assert!(plain.get("parse_mode").is_none());
        assert!(plain.get("message_thread_id").is_none());
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
                chat: 1,
                thread: None,
                text: "x".into(),
                html: false,
                reply_to: None,
                reply_markup: None,
            })
            .await;
        let Outcome::Transient { reason, detail } = &out else {
            panic!("{out:?}")
        };
        assert_eq!(*reason, "network");
        let all = format!("{out:?} {detail}");
        assert!(!all.contains("SECRET-token-value"), "{all}");
        assert!(!all.contains("999999"), "{all}");
        assert!(!detail.is_empty());
    }
}
