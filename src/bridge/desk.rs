//! The chat engine's [`Desk`] over the bridge's store: `/stats` from the
//! outbox (queued, failed, oldest pending, sent rows still kept) and, in the
//! running bridge, its counters (sent, retried, 429s) and start time.
//! `outpost ask` gets the same over the state (a SQLite file or
//! PostgreSQL, [`for_state`]), without counters.
//! An acknowledgement is recorded in the store and, in the running bridge,
//! shown on every message that announced the alert: the message is edited
//! (`editMessageText`, or `editMessageCaption` for a chart, through the one
//! [`Courier`]: pace, retries like a reply, failure counters) to end with
//! "🙋 Taken by NAME at HH:MM" in the bridge's zone, cut to Telegram's
//! limit ([`crate::html::with_last_line`]), its "I'm on it" button
//! relabelled in the same call. From `outpost ask` it is recorded only (it
//! still stops the escalation).
//!
//! Decisions: an edit that fails (the message too old to edit, the
//! network) is logged and counted in `outpost_bridge_send_failures_total`
//! by reason; the acknowledgement stays recorded, and its answer in the
//! chat says who took the alert. "Message is not modified" (counted as
//! `not_modified`) means an earlier try was applied and its answer lost:
//! the edit is taken as made. A message whose text the store does not have
//! (sent by a bridge from before texts were kept) is not edited.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use jiff::tz::TimeZone;
use tokio::sync::watch;

use super::deliver::{Courier, Patience, Undelivered};
use super::keyboard;
use super::metrics::Counters;
use super::now_ms;
use super::state::{
    self, Location, MuteTarget, Options, QuietHours, Shown, State, StateAudit, StateError, Topic,
    UserSettings,
};
use super::telegram::{Edit, Outgoing, Reason, Telegram};
use crate::chat::audit::Retention;
use crate::chat::desk::{Ack, AckTarget, Desk, DeskError, DeskFuture};
use crate::chat::oncall::OnCall;
use crate::chat::reply::{self, BridgeFigures};
use crate::html::{self, CAPTION_LIMIT, TEXT_LIMIT};

/// [`Desk`] of the bridge's state, with the running bridge's counters when there is one.
pub struct StateDesk {
    pub state: Arc<dyn State>,
    /// `None` in `outpost ask`: only the running bridge counts.
    pub running: Option<(Arc<Counters>, i64)>,
    pub oncall: OnCall,
    /// Where acknowledgements are shown; `None` in `outpost ask`.
    pub courier: Option<Arc<Courier<Telegram>>>,
    /// Zone of the time on a taken message and button.
    pub timezone: TimeZone,
}

/// The desk and the audit log `outpost ask` uses: the state at
/// `location` (a SQLite file or PostgreSQL, as the bridge's `--state`),
/// opened once for both.
pub async fn for_state(
    location: &Location,
    oncall: OnCall,
    retention: Retention,
) -> Result<(StateDesk, StateAudit), StateError> {
    let state = state::open(location, &Options::default()).await?;
    let audit = StateAudit {
        state: Arc::clone(&state),
        retention,
    };
    let desk = StateDesk {
        state,
        running: None,
        oncall,
        courier: None,
        timezone: TimeZone::UTC,
    };
    Ok((desk, audit))
}

impl StateDesk {
    /// Edits every message that announced `ack`'s alert to say who took
    /// it, relabelling its button. Failures are logged and counted: the
    /// acknowledgement holds.
    async fn show(&self, courier: &Courier<Telegram>, ack: &Ack) {
        let label = reply::taken_label(&ack.who, ack.at_ms, &self.timezone);
        let line = reply::taken_line(&ack.who, ack.at_ms, &self.timezone);
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
            shown,
        } in boards
        {
            let (Some(new), Some(shown)) = (
                serde_json::from_str(&markup)
                    .ok()
                    .and_then(|m| keyboard::mark_taken(&m, &ack.fingerprint, &label)),
                shown,
            ) else {
                continue;
            };
            let limit = if shown.caption {
                CAPTION_LIMIT
            } else {
                TEXT_LIMIT
            };
            let mut out = Outgoing {
                reply_markup: Some(new.clone()),
                edit: Some(Edit {
                    message_id,
                    caption: shown.caption,
                }),
                ..Outgoing::html(chat, None, html::with_last_line(&shown.html, &line, limit))
            };
            // Nothing stops an edit but its attempts.
            let (_running, mut stop) = watch::channel(false);
            let patience = Patience::Attempts(super::bot::ATTEMPTS);
            match courier.send(&mut out, None, patience, &mut stop).await {
                Ok(_) => {}
                // It says so already: an earlier try was applied but its
                // answer lost.
                Err(Undelivered::Refused {
                    reason: Reason::NotModified,
                    ..
                }) => {}
                Err(e) => {
                    tracing::warn!(chat, message_id, fingerprint = %ack.fingerprint, error = ?e, "editing the alert message failed; the acknowledgement holds");
                    continue;
                }
            }
            let text = Shown {
                html: if out.html {
                    out.text
                } else {
                    html::escape(&out.text)
                },
                caption: shown.caption,
            };
            let remembered = match self
                .state
                .remember_keyboard(chat, message_id, new.to_string())
                .await
            {
                Ok(()) => self.state.remember_shown(chat, message_id, text).await,
                Err(e) => Err(e),
            };
            if let Err(e) = remembered {
                tracing::warn!(error = %e, "remembering an edited alert message");
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
            if let Some(courier) = &self.courier {
                for a in acks.iter().filter(|a| a.new) {
                    self.show(courier, a).await;
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
