//! Escalation of critical alerts nobody acknowledged (`--oncall`'s
//! `escalation.after`): every second the state names the alerts due
//! (it marks each at its new level in the same transaction, so a restart
//! neither repeats nor forgets one), and each is queued in the outbox like
//! any message: level 1 again in its own chat, mentioning the people on
//! call (less those who muted the alert: see [`super::mention`]); level 2
//! in the escalation chat, when one is configured.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::watch;

use super::doorbell::Doorbell;
use super::state::{Due, State};
use super::{millis, now_ms};
use crate::chat::oncall::OnCall;
use crate::chat::reply;

/// How often the state is asked for alerts due.
pub const TICK: Duration = Duration::from_secs(1);

/// Runs until `stop` turns true. Does nothing without `escalation.after`.
/// Only the leader runs it (one term at a time, like the sender), so a
/// pair of bridges escalates each alert once.
pub async fn run(
    state: Arc<dyn State>,
    oncall: OnCall,
    doorbell: Arc<Doorbell>,
    mut stop: watch::Receiver<bool>,
) {
    let Some(after) = oncall.escalate_after else {
        return;
    };
    let max_level = if oncall.escalation_chat.is_some() {
        2
    } else {
        1
    };
    loop {
        match state
            .due_escalations(now_ms(), millis(after), max_level)
            .await
        {
            Ok(due) => {
                for d in due {
                    queue(state.as_ref(), &oncall, &doorbell, &d).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading alerts due to escalate"),
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

async fn queue(state: &dyn State, oncall: &OnCall, doorbell: &Doorbell, d: &Due) {
    let now = Timestamp::now();
    let f = &d.firing;
    // Those on call who muted the alert (or its agent) are left out.
    let people = super::mention::escalation(oncall, state, &f.agent, &f.alertname, now).await;
    let text = reply::escalation(&f.alertname, &f.agent, f.starts_ms, d.level, &people, now);
    let (chat, thread) = match (d.level, oncall.escalation_chat) {
        (2, Some(chat)) => (chat, None),
        _ => (f.chat_id, f.thread_id),
    };
    match state.enqueue_text(chat, thread, text, now_ms()).await {
        Ok(_) => {
            tracing::info!(alert = %f.alertname, level = d.level, chat, "escalated");
            doorbell.ring(chat);
        }
        Err(e) => tracing::error!(error = %e, alert = %f.alertname, "queueing an escalation"),
    }
}
