//! The chat engine's [`Desk`] over the bridge's store: `/stats` from the
//! outbox (queued, failed, oldest pending, sent rows still kept) and, in the
//! running bridge, its counters (sent, retried, 429s) and start time.
//! `outpost ask` gets the same over the state database, without counters.
//! An acknowledgement is recorded in the store and, in the running bridge,
//! shown on every message that announced the alert (its "I'm on it" button
//! relabelled through `editMessageReplyMarkup`); from `outpost ask` it is
//! recorded only (it still stops the escalation).

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;
use serde_json::json;

use super::keyboard;
use super::metrics::Counters;
use super::now_ms;
use super::state::{self, MuteTarget, QuietHours, State, StateError, Topic, UserSettings};
use super::telegram::{Payload, Telegram};
use crate::chat::desk::{Ack, AckTarget, Desk, DeskError, DeskFuture};
use crate::chat::oncall::OnCall;
use crate::chat::reply::{self, BridgeFigures};

/// [`Desk`] of the bridge's state, with the running bridge's counters when there is one.
pub struct StateDesk {
    pub state: Arc<dyn State>,
    /// `None` in `outpost ask`: only the running bridge counts.
    pub running: Option<(Arc<Counters>, i64)>,
    pub oncall: OnCall,
    /// Where acknowledgements are shown; `None` in `outpost ask`.
    pub telegram: Option<Telegram>,
    /// Zone of the time on a taken button.
    pub timezone: TimeZone,
}

/// The desk `outpost ask` uses: the state database at `path`.
pub fn for_state(path: &Path, oncall: OnCall) -> Result<StateDesk, StateError> {
    Ok(StateDesk {
        state: Arc::new(state::sqlite::Store::open(path, Duration::from_secs(2))?),
        running: None,
        oncall,
        telegram: None,
        timezone: TimeZone::UTC,
    })
}

impl StateDesk {
    /// Relabels the acknowledge button of `ack`'s alert on every message
    /// that announced it. Failures are logged: the acknowledgement holds.
    async fn show(&self, telegram: &Telegram, ack: &Ack) {
        let label = reply::taken_label(&ack.who, ack.at_ms, &self.timezone);
        let boards = match self.state.keyboards_of(ack.fingerprint.clone()).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "reading alert keyboards");
                return;
            }
        };
        for state::Keyboard {
            chat,
            message_id,
            markup,
        } in boards
        {
            let Some(new) = serde_json::from_str(&markup)
                .ok()
                .and_then(|m| keyboard::mark_taken(&m, &ack.fingerprint, &label))
            else {
                continue;
            };
            let body = json!({"chat_id": chat, "message_id": message_id, "reply_markup": new});
            match telegram
                .call("editMessageReplyMarkup", Payload::Json(body), None)
                .await
            {
                Ok((200, _)) => {
                    if let Err(e) = self
                        .state
                        .remember_keyboard(chat, message_id, new.to_string())
                        .await
                    {
                        tracing::warn!(error = %e, "remembering an alert keyboard");
                    }
                }
                Ok((status, _)) => {
                    tracing::warn!(
                        chat,
                        message_id,
                        status,
                        "editing the alert message refused"
                    )
                }
                Err(e) => tracing::warn!(chat, message_id, error = ?e, "editing the alert message"),
            }
        }
    }
}

fn desk_error(e: StateError) -> DeskError {
    DeskError(e.to_string())
}

impl Desk for StateDesk {
    fn figures(&self) -> DeskFuture<'_, BridgeFigures> {
        Box::pin(async move {
            let stats = self.state.stats().await.map_err(desk_error)?;
            let kept_sent = self.state.sent_rows().await.map_err(desk_error)?;
            let count = |n: i64| u64::try_from(n).unwrap_or(0);
            let mut f = BridgeFigures {
                queued: count(stats.queued),
                failed: count(stats.failed),
                oldest_pending_ms: stats.oldest_queued_ms,
                sent: Some(count(kept_sent)),
                source: "the state database (sent: rows kept, a day's worth)".into(),
                ..Default::default()
            };
            if let Some((counters, started_ms)) = &self.running {
                f.sent = Some(counters.sent.load(Ordering::Relaxed));
                f.retried = Some(counters.retries.load(Ordering::Relaxed));
                f.rate_limited = Some(counters.rate_limited.load(Ordering::Relaxed));
                f.up_since_ms = Some(*started_ms);
                f.source = "the running bridge (counts since it started)".into();
            }
            Ok(f)
        })
    }

    fn on_call(&self) -> &OnCall {
        &self.oncall
    }

    fn ack(&self, target: AckTarget, user_id: i64, who: String) -> DeskFuture<'_, Vec<Ack>> {
        Box::pin(async move {
            let acks = self
                .state
                .ack(target, user_id, who, now_ms())
                .await
                .map_err(desk_error)?;
            if let Some(telegram) = &self.telegram {
                for a in acks.iter().filter(|a| a.new) {
                    self.show(telegram, a).await;
                }
            }
            Ok(acks)
        })
    }

    fn subscribe(&self, chat: i64, topics: Vec<Topic>) -> DeskFuture<'_, Vec<Topic>> {
        Box::pin(async move {
            self.state
                .subscribe(chat, topics, now_ms())
                .await
                .map_err(desk_error)
        })
    }

    fn unsubscribe(&self, chat: i64, topics: Vec<Topic>) -> DeskFuture<'_, Vec<Topic>> {
        Box::pin(async move {
            self.state
                .unsubscribe(chat, topics)
                .await
                .map_err(desk_error)
        })
    }

    fn subscriptions(&self, chat: Option<i64>) -> DeskFuture<'_, Vec<(i64, Topic)>> {
        Box::pin(async move { self.state.subscriptions(chat).await.map_err(desk_error) })
    }

    fn mute(&self, user_id: i64, target: MuteTarget, until_ms: i64) -> DeskFuture<'_, ()> {
        Box::pin(async move {
            self.state
                .mute(user_id, target, until_ms)
                .await
                .map_err(desk_error)
        })
    }

    fn unmute(&self, user_id: i64, target: MuteTarget) -> DeskFuture<'_, bool> {
        Box::pin(async move { self.state.unmute(user_id, target).await.map_err(desk_error) })
    }

    fn set_quiet(&self, user_id: i64, quiet: Option<QuietHours>) -> DeskFuture<'_, ()> {
        Box::pin(async move {
            self.state
                .set_quiet(user_id, quiet)
                .await
                .map_err(desk_error)
        })
    }

    fn settings(&self, user_id: i64) -> DeskFuture<'_, UserSettings> {
        Box::pin(async move {
            let all = self
                .state
                .user_settings(now_ms())
                .await
                .map_err(desk_error)?;
            Ok(all
                .into_iter()
                .find(|s| s.user_id == user_id)
                .unwrap_or(UserSettings {
                    user_id,
                    ..UserSettings::default()
                }))
        })
    }
}
