//! The Telegram front end of the chat commands: long-polls `getUpdates`
//! (messages and button presses), answers each through the
//! transport-independent [`crate::chat::Engine`], and sends the replies
//! (`sendMessage`, or `sendPhoto` for charts) through the alerts'
//! [`Courier`]: one budget per chat for alerts and replies, one retry
//! policy (`--retry-*`; a reply gets [`ATTEMPTS`] tries), the send
//! counters, and a reply follows a chat migration. Also publishes the
//! command menu (`setMyCommands`) at start.
//!
//! Decisions:
//! - Updates are processed at most once: the next offset is stored in the
//!   state ([`UpdateStore::save_bot_offset`](super::state::UpdateStore::save_bot_offset))
//!   before the updates are answered, so a restart never repeats a
//!   `/silence`; a crash mid-answer loses that reply. The write carries
//!   the leader's epoch: when another bridge took over meanwhile it is
//!   refused, and this bot stops without answering.
//! - Each update is answered in its own task: a slow Prometheus never holds
//!   up another user's command. Replies are paced per chat.
//! - A reply answers the command message (`reply_parameters`), so in a busy
//!   group it is clear which command it belongs to.
//! - Strangers: the engine returns `None` when it should stay silent; button
//!   presses are always answered (`answerCallbackQuery`) so no client spins.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::Instant;

use super::deliver::{Courier, Patience, Undelivered};
use super::keyboard;
use super::state::{Epoch, StateError};
use super::telegram::{Outcome, Outgoing, Payload, Telegram};
use crate::chat::{Caller, Engine, Reply};

/// Long-poll wait of one `getUpdates` (Telegram allows up to 50 s).
pub const POLL_TIMEOUT: Duration = Duration::from_secs(25);

/// Attempts of one reply message before giving up (429 waits do not count).
pub const ATTEMPTS: u32 = 4;

/// The chat front end.
pub struct Bot {
    /// For the calls that are not messages (`getUpdates`,
    /// `answerCallbackQuery`, `setMyCommands`).
    pub telegram: Telegram,
    /// Replies go through the alerts' courier: one pace, one retry policy
    /// (`--retry-*`), one set of counters.
    pub courier: Arc<Courier<Telegram>>,
    pub engine: Arc<Engine>,
    pub poll_timeout: Duration,
    /// The leader's term: every offset write carries it.
    pub epoch: Epoch,
}

/// The parts of a Bot API `Update` the bot reads.
#[derive(Debug, Deserialize)]
pub struct Update {
    pub update_id: i64,
    pub message: Option<Message>,
    pub callback_query: Option<CallbackQuery>,
}

#[derive(Debug, Deserialize)]
pub struct Message {
    pub message_id: i64,
    pub chat: Chat,
    pub from: Option<User>,
    pub text: Option<String>,
    pub message_thread_id: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct Chat {
    pub id: i64,
}

#[derive(Debug, Deserialize)]
pub struct User {
    pub id: i64,
    pub username: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    pub id: String,
    pub from: User,
    pub message: Option<Message>,
    pub data: Option<String>,
}

#[derive(Debug, Deserialize)]
struct UpdatesAnswer {
    ok: bool,
    #[serde(default)]
    result: Vec<Value>,
}

/// The updates in a `getUpdates` answer body. An update this bot cannot
/// read still counts (its id moves the offset on); it is `None`.
pub fn parse_updates(body: &[u8]) -> Option<Vec<(i64, Option<Update>)>> {
    let answer: UpdatesAnswer = serde_json::from_slice(body).ok()?;
    if !answer.ok {
        return None;
    }
    Some(
        answer
            .result
            .into_iter()
            .filter_map(|v| {
                let id = v.get("update_id")?.as_i64()?;
                Some((id, serde_json::from_value::<Update>(v).ok()))
            })
            .collect(),
    )
}

/// `setMyCommands` body from the one command list.
pub fn commands_body() -> Value {
    let commands: Vec<Value> = crate::chat::commands::SPECS
        .iter()
        .map(|s| json!({"command": s.name, "description": s.about}))
        .collect();
    json!({ "commands": commands })
}

impl Bot {
    /// Polls until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        self.publish_commands().await;
        let mut offset = match self.courier.state.bot_offset().await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(error = %e, "reading the bot's update offset; starting from Telegram's");
                0
            }
        };
        let mut failures = 0u32;
        loop {
            if *stop.borrow() {
                return;
            }
            let body = json!({
                "offset": offset,
                "timeout": self.poll_timeout.as_secs(),
                "allowed_updates": ["message", "callback_query"],
            });
            let call = self.telegram.call(
                "getUpdates",
                Payload::Json(body),
                Some(self.poll_timeout + Duration::from_secs(10)),
            );
            let answer = tokio::select! {
                a = call => a,
                _ = stop.changed() => return,
            };
            let updates = match answer {
                Ok((status, body)) if (200..300).contains(&status) => parse_updates(&body),
                Ok((status, body)) => {
                    let outcome = self.telegram.classify(status, &body);
                    tracing::warn!(status, outcome = ?outcome, "getUpdates refused");
                    if let Outcome::RetryAfter(asked) = outcome {
                        failures = 0;
                        let wait = self.courier.backoff.server_wait(asked);
                        if sleep_or_stop(wait, &mut stop).await {
                            return;
                        }
                        continue;
                    }
                    None
                }
                Err(outcome) => {
                    tracing::warn!(outcome = ?outcome, "getUpdates failed");
                    None
                }
            };
            let Some(updates) = updates else {
                failures += 1;
                let wait = Duration::from_secs(1 << failures.min(5));
                if sleep_or_stop(wait, &mut stop).await {
                    return;
                }
                continue;
            };
            failures = 0;
            let Some(last) = updates.iter().map(|(id, _)| *id).max() else {
                continue;
            };
            offset = last + 1;
            // At most once: the offset is stored before anything is answered.
            match self.courier.state.save_bot_offset(offset, self.epoch).await {
                Ok(()) => {}
                // Another bridge leads and polls now: these updates are
                // its to answer (it reads them again from the offset it
                // has).
                Err(e @ StateError::Fenced { .. }) => {
                    tracing::warn!(error = %e, "not answering: another bridge leads");
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "storing the bot's update offset"),
            }
            for (_, update) in updates {
                if let Some(update) = update {
                    let me = Arc::clone(&self);
                    let stop = stop.clone();
                    tokio::spawn(async move { me.answer(update, stop).await });
                }
            }
        }
    }

    /// `setMyCommands` from the command list; a failure is only logged.
    async fn publish_commands(&self) {
        match self
            .telegram
            .call("setMyCommands", Payload::Json(commands_body()), None)
            .await
        {
            Ok((status, body)) => match self.telegram.classify(status, &body) {
                Outcome::Sent { .. } => tracing::debug!("command menu published"),
                other => tracing::warn!(outcome = ?other, "setMyCommands refused"),
            },
            Err(e) => tracing::warn!(outcome = ?e, "setMyCommands failed"),
        }
    }

    /// Answers one update; a reply not yet sent when `stop` turns true
    /// is dropped.
    pub async fn answer(&self, update: Update, mut stop: watch::Receiver<bool>) {
        if let Some(msg) = update.message {
            let (Some(text), Some(from)) = (msg.text, msg.from) else {
                return;
            };
            let caller = Caller {
                user_id: from.id,
                chat_id: msg.chat.id,
                username: from.username,
            };
            let started = Instant::now();
            let Some(reply) = self.engine.handle(&caller, &text).await else {
                return;
            };
            let target = Outgoing {
                reply_to: Some(msg.message_id),
                ..Outgoing::html(msg.chat.id, msg.message_thread_id, String::new())
            };
            self.deliver(target, &reply, &mut stop).await;
            tracing::debug!(chat = msg.chat.id, elapsed = ?started.elapsed(), "command answered");
        } else if let Some(q) = update.callback_query {
            let chat = q.message.as_ref().map(|m| m.chat.id).unwrap_or(q.from.id);
            let caller = Caller {
                user_id: q.from.id,
                chat_id: chat,
                username: q.from.username.clone(),
            };
            let data = q.data.clone().unwrap_or_default();
            let reply = self.engine.press(&caller, &data).await;
            self.answer_callback(&q.id).await;
            if let Some(reply) = reply {
                let target = Outgoing {
                    reply_to: q.message.as_ref().map(|m| m.message_id),
                    ..Outgoing::html(
                        chat,
                        q.message.as_ref().and_then(|m| m.message_thread_id),
                        String::new(),
                    )
                };
                self.deliver(target, &reply, &mut stop).await;
            }
        }
    }

    async fn answer_callback(&self, id: &str) {
        let body = json!({ "callback_query_id": id });
        match self
            .telegram
            .call("answerCallbackQuery", Payload::Json(body), None)
            .await
        {
            Ok((status, body))
                if !matches!(self.telegram.classify(status, &body), Outcome::Sent { .. }) =>
            {
                tracing::warn!(status, "answerCallbackQuery refused");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(outcome = ?e, "answerCallbackQuery failed"),
        }
    }

    /// Sends a reply to `target` (chat, topic, the message it answers):
    /// the chart as a photo (caption, buttons) and the text as a reply to
    /// it, or the text with the buttons.
    async fn deliver(&self, target: Outgoing, reply: &Reply, stop: &mut watch::Receiver<bool>) {
        let markup = keyboard::inline(std::slice::from_ref(&reply.buttons));
        match &reply.chart {
            Some(picture) => {
                let photo = self
                    .send(
                        Outgoing {
                            text: picture.caption.clone(),
                            reply_markup: markup,
                            photo: Some(picture.png.clone()),
                            ..target.clone()
                        },
                        stop,
                    )
                    .await;
                if !reply.text.trim().is_empty() {
                    self.send(
                        Outgoing {
                            text: reply.text.clone(),
                            reply_to: photo.or(target.reply_to),
                            ..target
                        },
                        stop,
                    )
                    .await;
                }
            }
            None => {
                if reply.text.trim().is_empty() {
                    return;
                }
                self.send(
                    Outgoing {
                        text: reply.text.clone(),
                        reply_markup: markup,
                        ..target
                    },
                    stop,
                )
                .await;
            }
        }
    }

    /// Sends one message through the courier (the alerts' pace, retry
    /// policy and counters), a few attempts at most. The message id, or
    /// `None` when given up.
    async fn send(&self, mut out: Outgoing, stop: &mut watch::Receiver<bool>) -> Option<i64> {
        let patience = Patience::Attempts(ATTEMPTS);
        match self.courier.send(&mut out, None, patience, stop).await {
            Ok(id) => Some(id),
            Err(Undelivered::Stopped) => None,
            Err(e) => {
                tracing::error!(chat = out.chat, method = out.method(), outcome = ?e, "giving up on a reply");
                None
            }
        }
    }
}

/// Sleeps `wait`; true when `stop` turned true meanwhile.
async fn sleep_or_stop(wait: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(wait) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_parse_and_unknown_ones_still_move_the_offset() {
        let body = br#"{"ok":true,"result":[
            {"update_id":7,"message":{"message_id":3,"chat":{"id":-100},"from":{"id":42,"username":"al"},"text":"/mon_cpu web1","message_thread_id":9}},
            {"update_id":8,"callback_query":{"id":"cb1","from":{"id":42},"message":{"message_id":4,"chat":{"id":-100}},"data":"s1:ab12"}},
            {"update_id":9,"edited_message":{"message_id":3}},
            {"update_id":10,"message":"not an object"}
        ]}"#;
        let updates = parse_updates(body).unwrap();
        assert_eq!(
            updates.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            vec![7, 8, 9, 10]
        );
        let m = updates[0].1.as_ref().unwrap().message.as_ref().unwrap();
        assert_eq!(m.text.as_deref(), Some("/mon_cpu web1"));
        assert_eq!(m.from.as_ref().unwrap().username.as_deref(), Some("al"));
        assert_eq!(m.message_thread_id, Some(9));
        let q = updates[1]
            .1
            .as_ref()
            .unwrap()
            .callback_query
            .as_ref()
            .unwrap();
        assert_eq!(q.data.as_deref(), Some("s1:ab12"));
        assert!(updates[2].1.as_ref().unwrap().message.is_none());
        assert!(updates[3].1.is_none());
        assert!(parse_updates(br#"{"ok":false,"description":"Conflict"}"#).is_none());
        assert!(parse_updates(b"<html>").is_none());
    }

    #[test]
    fn the_command_menu_lists_every_command() {
        let body = commands_body();
        let list = body["commands"].as_array().unwrap();
        assert_eq!(list.len(), crate::chat::commands::SPECS.len());
        assert!(list.iter().any(|c| c["command"] == "mon_cpu_picture"));
        assert!(list.iter().all(|c| {
            let d = c["description"].as_str().unwrap();
            !d.is_empty() && d.len() <= 256
        }));
    }
}
