//! The sender: drains the outbox to Telegram, one chat at a time per
//! chat (chats in parallel), each message through the [`Courier`] (pace,
//! retry policy and counters shared with chat replies; see
//! [`super::deliver`] for what each failure means).
//!
//! - The [`Doorbell`] names the chats with new rows; every 5 s a full
//!   scan of the outbox is the safety net.
//! - A chat's queued alert notifications are coalesced into one batch
//!   (see `outbox::first_batch`) and rendered with their newest state.
//! - Alerts are patient ([`Patience::UntilDelivered`]): retryable failures
//!   and a refused configuration keep the rows queued (in memory the
//!   backoff; on disk the rows, so a restart resumes). A refusal for good
//!   marks the batch failed with the reason.
//! - Rows are marked sent only when every message of their batch was
//!   accepted, so delivery is at least once: a crash in the middle of a
//!   multi-message batch sends the batch again.
//! - When marking rows sent fails (disk full), their ids are kept in
//!   memory ([`Unmarked`]) and never sent again by this process; the write
//!   is retried with the backoff, and `/-/ready` fails until it succeeds.
//!   (A restart before then forgets them and sends them again: at least
//!   once still holds.)
//! - Shutdown: no new message is started; the one in flight finishes.
//! - Buttons ([`keyboard`]): a message showing one firing alert carries its
//!   row (silence 1h / 24h, chart); a grouped message one numbered row per
//!   firing alert, for the first ten.
//! - On-call: each firing alert sent is recorded (chat, start, severity)
//!   for acknowledgement and escalation, with its message's keyboard; a
//!   resolution says who handled each alert someone took, and for how long
//!   it fired.
//! - Mentions ([`mention`]): a firing message ends with the people on call
//!   it mentions; sent without a sound when quiet hours left nobody.
//! - `--attach-charts` ([`attach`]): a message showing exactly one firing
//!   CPU, memory or disk alert is sent as a photo of the alert's chart with
//!   the text as caption (the rest, past 1024 characters, as a text reply
//!   to the photo). The chart is drawn first, within the query timeout; a
//!   chart that fails or is late is dropped and the text goes alone. A
//!   photo Telegram refuses for good is sent again as the plain text
//!   message, so a chart never costs an alert.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::attach::{self, Charts};
use super::deliver::{Backoff, Courier, Patience, Undelivered};
use super::doorbell::Doorbell;
use super::enrich::{self, Enrich};
use super::health::Problem;
use super::keyboard;
use super::mention::{self, Mentioner};
use super::message::{self, Layout, Rendered};
use super::now_ms;
use super::outbox::{first_batch, Batch, BatchContent};
use super::pacer::later;
use super::payload::Alert;
use super::state::{Epoch, Firing, Shown, State};
use super::telegram::{Outgoing, Transport};

/// Rows Telegram accepted whose `sent` mark could not be written: never
/// sent again by this process, written again after a backoff.
#[derive(Default)]
pub struct Unmarked(Mutex<UnmarkedState>);

#[derive(Default)]
struct UnmarkedState {
    ids: HashSet<i64>,
    failures: u32,
    next_try: Option<Instant>,
}

impl Unmarked {
    fn lock(&self) -> std::sync::MutexGuard<'_, UnmarkedState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn contains(&self, id: i64) -> bool {
        self.lock().ids.contains(&id)
    }

    fn is_empty(&self) -> bool {
        self.lock().ids.is_empty()
    }

    /// The write of `ids` failed (`now`): keep them, wait before trying
    /// again.
    fn failed(&self, ids: &[i64], now: Instant, backoff: &Backoff) -> Duration {
        let mut st = self.lock();
        st.ids.extend(ids);
        st.failures += 1;
        let delay = backoff.delay(st.failures);
        st.next_try = Some(later(now, delay));
        delay
    }

    /// The ids to write again, when their time has come.
    fn due(&self, now: Instant) -> Option<Vec<i64>> {
        let st = self.lock();
        (!st.ids.is_empty() && st.next_try.is_none_or(|t| t <= now))
            .then(|| st.ids.iter().copied().collect())
    }

    /// `ids` are recorded now.
    fn written(&self, ids: &[i64]) {
        let mut st = self.lock();
        for id in ids {
            st.ids.remove(id);
        }
        if st.ids.is_empty() {
            st.failures = 0;
            st.next_try = None;
        }
    }
}

/// What the sender needs.
pub struct Sender<T: Transport> {
    pub state: Arc<dyn State>,
    /// The leader's term: every claim of outbox rows carries it.
    pub epoch: Epoch,
    /// Shared with the chat bot: one pace, one retry policy, one set of
    /// counters for alerts and replies.
    pub courier: Arc<Courier<T>>,
    pub doorbell: Arc<Doorbell>,
    pub layout: Layout,
    /// `--attach-charts`: draws the chart a lone firing CPU, memory or
    /// disk alert is sent with ([`attach::charts`]).
    pub charts: Option<Charts>,
    /// Top processes under AgentHighCPU, largest containers under
    /// AgentHighDisk, from the agent's actions ([`enrich::enrich`]).
    pub enrich: Option<Enrich>,
    /// Whom firing messages mention (`--oncall`); `None`: nobody.
    pub mentions: Option<Arc<Mentioner>>,
    /// Delivered rows not yet recorded as sent.
    pub unmarked: Unmarked,
    /// How often the whole outbox is looked at: [`RESCAN`], or
    /// [`SHARED_RESCAN`] when other bridges take webhooks into it (their
    /// doorbells do not ring here).
    pub rescan: Duration,
}

/// The full scan's period: a safety net, the doorbell names new rows.
pub const RESCAN: Duration = Duration::from_secs(5);

/// The full scan's period with a shared state: how long a notification
/// taken by a follower waits at most before the leader sees it.
pub const SHARED_RESCAN: Duration = Duration::from_millis(200);

/// How a batch ended.
#[derive(Debug, PartialEq)]
enum Delivery {
    Delivered,
    Failed,
    Interrupted,
}

/// Rows read per chat per round (more than one batch can use).
const READ_AHEAD: usize = 300;

impl<T: Transport> Sender<T> {
    /// Drains the outbox until `stop` turns true; then lets the message in
    /// flight finish and returns.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut tasks: JoinSet<i64> = JoinSet::new();
        let mut in_flight: HashSet<i64> = HashSet::new();
        // Chats rung while their drain was running: looked at again when
        // it ends (it may have found its queue empty just before).
        let mut dirty: HashSet<i64> = HashSet::new();
        // Everything queued (at start, and every few seconds as a safety
        // net), then only the chats the doorbell names.
        let mut full_scan = true;
        let mut rescan = tokio::time::interval(self.rescan);
        rescan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if *stop.borrow() {
                break;
            }
            let mut chats: Vec<i64> = self.doorbell.take().into_iter().collect();
            if full_scan {
                full_scan = false;
                match self.state.queued_chats().await {
                    Ok(c) => chats.extend(c),
                    Err(e) => tracing::error!(error = %e, "reading the outbox"),
                }
            }
            for chat in chats {
                if in_flight.insert(chat) {
                    let me = Arc::clone(&self);
                    let stop = stop.clone();
                    tasks.spawn(async move {
                        me.drain_chat(chat, stop).await;
                        chat
                    });
                } else {
                    dirty.insert(chat);
                }
            }
            tokio::select! {
                _ = self.doorbell.notify.notified() => {}
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Ok(chat) = done {
                        in_flight.remove(&chat);
                        if dirty.remove(&chat) {
                            self.doorbell.ring(chat);
                        }
                    } else {
                        full_scan = true;
                    }
                }
                _ = rescan.tick() => full_scan = true,
                _ = stop.changed() => {}
            }
        }
        while tasks.join_next().await.is_some() {}
    }

    async fn drain_chat(&self, chat: i64, stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            self.write_back().await;
            let mut rows = match self.state.claim(chat, READ_AHEAD, self.epoch).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(chat, error = %e, "reading the outbox");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    return;
                }
            };
            // Delivered already; only the bookkeeping is behind.
            rows.retain(|r| !self.unmarked.contains(r.id));
            let Some(batch) = first_batch(&rows) else {
                return;
            };
            match self.deliver(batch, stop.clone()).await {
                Delivery::Delivered | Delivery::Failed => {}
                Delivery::Interrupted => return,
            }
        }
    }

    /// Records `ids` as sent; when the store cannot write, keeps them in
    /// [`Unmarked`] (so they are not sent again) and reports it.
    async fn record_sent(&self, ids: Vec<i64>) {
        match self.state.mark_sent(ids.clone(), now_ms()).await {
            Ok(()) => {
                if self.unmarked.is_empty() {
                    self.courier.health.set(Problem::StoreBookkeeping, None);
                }
            }
            Err(e) => {
                let retry_in = self
                    .unmarked
                    .failed(&ids, Instant::now(), &self.courier.backoff);
                self.courier.health.set(
                    Problem::StoreBookkeeping,
                    Some(format!("state database cannot be written: {e}")),
                );
                tracing::error!(error = %e, rows = ids.len(), ?retry_in, "recording delivered rows as sent failed; they are not sent again, the write is retried");
            }
        }
    }

    /// Writes the [`Unmarked`] rows again when their backoff is over.
    async fn write_back(&self) {
        let Some(ids) = self.unmarked.due(Instant::now()) else {
            return;
        };
        match self.state.mark_sent(ids.clone(), now_ms()).await {
            Ok(()) => {
                self.unmarked.written(&ids);
                if self.unmarked.is_empty()
                    && self.courier.health.set(Problem::StoreBookkeeping, None)
                {
                    tracing::info!(
                        rows = ids.len(),
                        "state database writable again; delivered rows recorded"
                    );
                }
            }
            Err(e) => {
                let retry_in = self
                    .unmarked
                    .failed(&ids, Instant::now(), &self.courier.backoff);
                tracing::error!(error = %e, rows = ids.len(), ?retry_in, "recording delivered rows as sent failed again");
            }
        }
    }

    fn render(&self, batch: &Batch) -> Vec<Rendered> {
        match &batch.content {
            BatchContent::Text(t) => vec![Rendered::text(t.clone())],
            BatchContent::Alerts(list) => {
                let (alerts, truncated) = message::coalesce(list);
                if list.len() > 1 {
                    tracing::debug!(
                        notifications = list.len(),
                        alerts = alerts.len(),
                        "coalesced backlog"
                    );
                }
                message::render(&alerts, truncated, now_ms(), self.layout)
            }
        }
    }

    async fn deliver(&self, batch: Batch, mut stop: watch::Receiver<bool>) -> Delivery {
        let mut chat = batch.chat;
        // Which alerts each row carries, so a row can be marked sent as
        // soon as every one of its alerts was in an accepted message: a
        // crash in the middle of a long batch then resends only the rest.
        let row_alerts: Vec<(i64, Vec<String>)> = match &batch.content {
            BatchContent::Alerts(list) => batch
                .ids
                .iter()
                .zip(list)
                .map(|(id, n)| {
                    (
                        *id,
                        n.alerts.iter().map(|a| a.fingerprint.clone()).collect(),
                    )
                })
                .collect(),
            BatchContent::Text(_) => Vec::new(),
        };
        // The alerts of this batch, newest state, for buttons and charts.
        let alerts: Vec<Alert> = match &batch.content {
            BatchContent::Alerts(list) => message::coalesce(list).0,
            BatchContent::Text(_) => Vec::new(),
        };
        let mut shown: HashSet<String> = HashSet::new();
        let mut marked: HashSet<i64> = HashSet::new();
        for mut msg in self.render(&batch) {
            if *stop.borrow() {
                return Delivery::Interrupted;
            }
            self.add_handlers(&mut msg, &alerts).await;
            let reply_to = if msg.resolved.is_empty() {
                None
            } else {
                self.state
                    .firing_message(chat, msg.resolved.clone())
                    .await
                    .unwrap_or(None)
            };
            // The chart and the enrichment are fetched together, each under
            // its own deadline.
            let (photo, extra) = tokio::join!(
                self.chart_for(&msg, &alerts, &mut stop),
                self.enrichment_for(&msg, &alerts)
            );
            let photo = match photo {
                Ok(p) => p,
                Err(d) => return d,
            };
            let html = match extra {
                Some(block) => enrich::append(&msg.html, &block, crate::html::TEXT_LIMIT),
                None => msg.html.clone(),
            };
            let (html, silent) = self.mention(&msg, &alerts, html).await;
            let (text, remainder) = match photo {
                Some(_) => attach::split_caption(&html),
                None => (html.as_str(), ""),
            };
            let markup = keyboard::for_alerts(&msg);
            let mut out = Outgoing {
                reply_to,
                reply_markup: markup.clone(),
                photo,
                silent,
                ..Outgoing::html(chat, batch.thread, text.to_owned())
            };
            let message_id = match self.send(&mut out, &html, &batch.ids, &mut stop).await {
                Ok(id) => id,
                Err(d) => return d,
            };
            chat = out.chat;
            // The photo (or the text) is the firing message: the
            // resolution replies to it.
            if !msg.firing.is_empty() {
                if let Err(e) = self
                    .state
                    .remember_firing(chat, msg.firing.clone(), message_id, now_ms())
                    .await
                {
                    tracing::warn!(error = %e, "remembering the firing message");
                }
                // The text as accepted, so an acknowledgement can edit it.
                let shown = Shown {
                    html: if out.html {
                        out.text.clone()
                    } else {
                        crate::html::escape(&out.text)
                    },
                    caption: out.photo.is_some(),
                };
                self.track(&msg, &alerts, chat, batch.thread, message_id, markup, shown)
                    .await;
            }
            if out.photo.is_some() && !remainder.is_empty() {
                let mut tail = Outgoing {
                    reply_to: Some(message_id),
                    ..Outgoing::html(chat, batch.thread, remainder.to_owned())
                };
                if let Err(d) = self.send(&mut tail, remainder, &batch.ids, &mut stop).await {
                    return d;
                }
                chat = tail.chat;
            }
            shown.extend(msg.firing.iter().chain(&msg.resolved).cloned());
            let done: Vec<i64> = row_alerts
                .iter()
                .filter(|(id, fps)| !marked.contains(id) && fps.iter().all(|f| shown.contains(f)))
                .map(|(id, _)| *id)
                .collect();
            if !done.is_empty() {
                self.record_sent(done.clone()).await;
                marked.extend(done);
            }
        }
        let rest: Vec<i64> = batch
            .ids
            .iter()
            .copied()
            .filter(|id| !marked.contains(id))
            .collect();
        if !rest.is_empty() {
            self.record_sent(rest).await;
        }
        Delivery::Delivered
    }

    /// `html` with the mentions of a message showing firing alerts (see
    /// [`mention`]), and whether to send it without a sound.
    async fn mention(&self, msg: &Rendered, alerts: &[Alert], html: String) -> (String, bool) {
        let Some(m) = self.mentions.as_ref().filter(|_| !msg.firing.is_empty()) else {
            return (html, false);
        };
        let shown: Vec<&Alert> = msg
            .firing
            .iter()
            .filter_map(|fp| alerts.iter().find(|a| &a.fingerprint == fp))
            .collect();
        let d = m.firing(self.state.as_ref(), &shown).await;
        match d.line {
            Some(line) => (
                mention::append(&html, &line, crate::html::TEXT_LIMIT),
                d.silent,
            ),
            None => (html, d.silent),
        }
    }

    /// The block appended to a message showing exactly one firing alert
    /// that [`enrich::action_for`] names; `None` when there is none.
    async fn enrichment_for(&self, msg: &Rendered, alerts: &[Alert]) -> Option<String> {
        let enrich = self.enrich.as_ref()?;
        let [fp] = msg.firing.as_slice() else {
            return None;
        };
        let alert = alerts.iter().find(|a| &a.fingerprint == fp)?;
        enrich::action_for(alert)?;
        enrich(alert.clone()).await
    }

    /// Adds to a message resolving alerts who handled each (the
    /// acknowledgement in the store) and how long it fired.
    async fn add_handlers(&self, msg: &mut Rendered, alerts: &[Alert]) {
        if msg.resolved.is_empty() {
            return;
        }
        let handled = match self
            .state
            .resolve_alerts(msg.resolved.clone(), now_ms())
            .await
        {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "reading who handled the resolved alerts");
                return;
            }
        };
        let now = jiff::Timestamp::now();
        for h in handled.iter().filter(|h| h.who.is_some()) {
            let alert = alerts.iter().find(|a| a.fingerprint == h.fingerprint);
            let name = alert
                .and_then(|a| a.labels.get("alertname"))
                .map_or("alert", String::as_str);
            // How long it fired: from its own start, else its announcement.
            let starts = alert
                .and_then(|a| message::parse_rfc3339_ms(&a.starts_at))
                .unwrap_or(h.starts_ms);
            msg.html.push('\n');
            msg.html.push_str(&crate::chat::reply::handled(
                name,
                h.who.as_deref(),
                starts,
                now,
            ));
        }
    }

    /// Records a sent message's firing alerts for acknowledgement and
    /// escalation, and its keyboard and text for editing on an
    /// acknowledgement.
    #[allow(clippy::too_many_arguments)]
    async fn track(
        &self,
        msg: &Rendered,
        alerts: &[Alert],
        chat: i64,
        thread: Option<i64>,
        message_id: i64,
        markup: Option<serde_json::Value>,
        shown: Shown,
    ) {
        let firing: Vec<Firing> = msg
            .firing
            .iter()
            .filter_map(|fp| alerts.iter().find(|a| &a.fingerprint == fp))
            .map(|a| Firing {
                fingerprint: a.fingerprint.clone(),
                alertname: a.labels.get("alertname").cloned().unwrap_or_default(),
                agent: a.labels.get("agent").cloned().unwrap_or_default(),
                critical: a.labels.get("severity").is_some_and(|s| s == "critical"),
                chat_id: chat,
                thread_id: thread,
                // Escalation counts from the announcement: nobody could
                // take the alert before it was shown.
                starts_ms: now_ms(),
            })
            .collect();
        if let Err(e) = self.state.track_firing(firing).await {
            tracing::warn!(error = %e, "recording the firing alerts");
        }
        if let Some(m) = markup {
            if let Err(e) = self
                .state
                .remember_keyboard(chat, message_id, m.to_string())
                .await
            {
                tracing::warn!(error = %e, "remembering the alert keyboard");
            }
            if let Err(e) = self.state.remember_shown(chat, message_id, shown).await {
                tracing::warn!(error = %e, "remembering the alert text");
            }
        }
    }

    /// The chart a message is sent with (`--attach-charts`): only for a
    /// message showing exactly one firing alert that [`attach::wants_chart`].
    /// `None` when there is none or drawing it failed (logged and counted);
    /// `Err` when `stop` turned true meanwhile.
    async fn chart_for(
        &self,
        msg: &Rendered,
        alerts: &[Alert],
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Option<Vec<u8>>, Delivery> {
        let Some(charts) = &self.charts else {
            return Ok(None);
        };
        let [fp] = msg.firing.as_slice() else {
            return Ok(None);
        };
        let Some(alert) = alerts.iter().find(|a| &a.fingerprint == fp) else {
            return Ok(None);
        };
        if !attach::wants_chart(alert) {
            return Ok(None);
        }
        tokio::select! {
            drawn = charts(alert.clone()) => match drawn {
                Ok(png) => Ok(Some(png)),
                Err(e) => {
                    self.courier.counters.chart_failures.inc(e.reason());
                    tracing::warn!(alert = alert.name(), error = %e, "no chart for the alert; sending it as text");
                    Ok(None)
                }
            },
            _ = stop.changed() => Err(Delivery::Interrupted),
        }
    }

    /// Sends one message through the courier until Telegram accepts it
    /// (a photo refused for good goes again as the text message
    /// `text_instead`); the message id. A refusal marks the batch `ids`
    /// failed.
    async fn send(
        &self,
        out: &mut Outgoing,
        text_instead: &str,
        ids: &[i64],
        stop: &mut watch::Receiver<bool>,
    ) -> Result<i64, Delivery> {
        let courier = &self.courier;
        match courier
            .send(out, Some(text_instead), Patience::UntilDelivered, stop)
            .await
        {
            Ok(id) => Ok(id),
            Err(Undelivered::Stopped) => Err(Delivery::Interrupted),
            Err(
                Undelivered::Refused { reason, detail } | Undelivered::GaveUp { reason, detail },
            ) => {
                tracing::error!(chat = out.chat, %reason, error = %detail, rows = ids.len(), "Telegram refused the message; giving up on it");
                if let Err(e) = courier
                    .state
                    .mark_failed(ids.to_vec(), detail, now_ms())
                    .await
                {
                    tracing::error!(error = %e, "recording the failure");
                }
                Err(Delivery::Failed)
            }
        }
    }
}

#[cfg(test)]
mod tests;
