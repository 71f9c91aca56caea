//! One Telegram message to one chat until it is delivered or given up,
//! for alert messages ([`super::sender`]) and chat replies
//! ([`super::bot`]) alike: the one retry policy ([`Backoff`],
//! `--retry-*`), the one pace ([`Pacer`]) and the one set of send
//! counters (`outpost_bridge_messages_sent_total`, `_send_failures_total`
//! by typed [`Reason`], `_send_retries_total`, `_rate_limited_total`,
//! `_chat_migrations_total`).
//!
//! What each [`Outcome`] means:
//! - network errors, timeouts and 5xx: the same message again after an
//!   exponential backoff;
//! - 429: again after `retry_after`, honoured up to
//!   [`Backoff::retry_after_max`] (`--retry-after-max`; u64::MAX seconds
//!   is cut to it);
//! - 401/404 (a wrong token or `--telegram-api-url`): again after the
//!   backoff, logged at error level with what to check, and `/-/ready`
//!   fails ([`Problem::TelegramConfig`]) until Telegram accepts again;
//! - entity errors: the same message as plain text;
//! - `migrate_to_chat_id`: the chat is moved (remembered in the store, so
//!   later alerts go there too) and the message goes to the new id;
//! - a photo refused for good: the caller's text instead, when it gave one;
//! - any other 4xx: [`Undelivered::Refused`].
//!
//! How long to keep trying is the caller's [`Patience`]: alerts (durable
//! rows) until delivered or shutdown; replies and edits (the "taken by"
//! line of an acknowledged alert, [`super::desk`]) a few attempts. An edit
//! goes through the same pace and counts its failures like a send, but is
//! not counted as a message sent.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::health::{Health, Problem};
use super::metrics::Counters;
use super::pacer::{later, Pacer};
use super::state::State;
use super::telegram::{Outcome, Outgoing, Reason, Transport};

/// Retry backoff for network errors, 5xx, a refused configuration and
/// failed bookkeeping writes; and the longest server-given wait honoured.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    /// A 429's `retry_after` longer than this is cut to it
    /// (`--retry-after-max`): a server asking for hours (or u64::MAX
    /// seconds) must not stall a chat for good. Asking again early only
    /// costs another 429.
    pub retry_after_max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(60),
            retry_after_max: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The wait before attempt `n + 1` after `n` failures (n ≥ 1).
    pub fn delay(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(20);
        self.initial.saturating_mul(1u32 << exp).min(self.max)
    }

    /// How long to honour a server-given wait.
    pub fn server_wait(&self, asked: Duration) -> Duration {
        asked.min(self.retry_after_max)
    }
}

/// How long to keep trying one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patience {
    /// Until Telegram accepts or refuses it for good, or shutdown (alert
    /// rows are durable: giving up would lose them).
    UntilDelivered,
    /// At most this many failed attempts (429s apart, which may come
    /// [`RATE_LIMITS`] times): a chat reply nobody waits for for long.
    Attempts(u32),
}

/// 429 answers one message with [`Patience::Attempts`] may get.
pub const RATE_LIMITS: u32 = 10;

/// Why a message was not delivered.
#[derive(Debug, Clone, PartialEq)]
pub enum Undelivered {
    /// Shutdown began first.
    Stopped,
    /// Telegram refused it for good (`detail` is cleaned of the token).
    Refused { reason: Reason, detail: String },
    /// The caller's [`Patience`] ran out on a failure worth retrying.
    GaveUp { reason: Reason, detail: String },
}

/// Sends messages within the pace and the retry policy.
pub struct Courier<T: Transport> {
    pub transport: T,
    /// Where a chat migration is remembered.
    pub state: Arc<dyn State>,
    /// One pace for alerts and replies.
    pub pacer: Mutex<Pacer>,
    pub backoff: Backoff,
    pub counters: Arc<Counters>,
    /// Where a refused configuration is reported.
    pub health: Arc<Health>,
}

impl<T: Transport> Courier<T> {
    fn pacer(&self) -> MutexGuard<'_, Pacer> {
        self.pacer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends `out` until Telegram accepts it: the message id. `out.chat`
    /// follows a migration and `out` ends as the form that was accepted
    /// (plain text after an entity error). A photo refused for good is
    /// sent again as `text_instead` (HTML), when given.
    pub async fn send(
        &self,
        out: &mut Outgoing,
        text_instead: Option<&str>,
        patience: Patience,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<i64, Undelivered> {
        let mut failures = 0u32;
        let mut rate_limited = 0u32;
        let method = out.method();
        loop {
            let slot = self.pacer().reserve(out.chat, Instant::now());
            tokio::select! {
                _ = tokio::time::sleep_until(slot) => {}
                _ = stop.changed() => return Err(Undelivered::Stopped),
            }
            let outcome = self.transport.send(out).await;
            self.pacer().finished(out.chat, Instant::now());
            let c = &self.counters;
            let pause = match outcome {
                Outcome::Sent { message_id } => {
                    // An edit is no new message.
                    if out.edit.is_none() {
                        Counters::add(&c.sent, 1);
                    }
                    if self.health.set(Problem::TelegramConfig, None) {
                        tracing::info!("Telegram accepts the bridge's configuration again");
                    }
                    return Ok(message_id);
                }
                Outcome::RetryAfter(asked) => {
                    Counters::add(&c.rate_limited, 1);
                    c.send_failures.inc(Reason::RateLimited.label());
                    rate_limited += 1;
                    if matches!(patience, Patience::Attempts(_)) && rate_limited > RATE_LIMITS {
                        return Err(Undelivered::GaveUp {
                            reason: Reason::RateLimited,
                            detail: format!("{RATE_LIMITS} rate limits in a row"),
                        });
                    }
                    Counters::add(&c.retries, 1);
                    let wait = self.backoff.server_wait(asked);
                    tracing::warn!(chat = out.chat, method, retry_after = ?asked, waiting = ?wait, "Telegram rate limit");
                    self.pacer().hold(out.chat, later(Instant::now(), wait));
                    None
                }
                Outcome::Transient { reason, detail } => {
                    failures += 1;
                    c.send_failures.inc(reason.label());
                    if exhausted(patience, failures) {
                        return Err(Undelivered::GaveUp { reason, detail });
                    }
                    Counters::add(&c.retries, 1);
                    let delay = self.backoff.delay(failures);
                    tracing::warn!(chat = out.chat, method, %reason, error = %detail, retry_in = ?delay, "send failed, will retry");
                    Some(delay)
                }
                Outcome::Misconfigured { problem, detail } => {
                    failures += 1;
                    c.send_failures.inc(problem.label());
                    let delay = self.backoff.delay(failures);
                    self.health.set(
                        Problem::TelegramConfig,
                        Some(format!(
                            "Telegram answers {} ({detail}): {}; alerts stay queued",
                            problem.label(),
                            problem.hint()
                        )),
                    );
                    tracing::error!(chat = out.chat, method, reason = problem.label(), error = %detail, retry_in = ?delay, "Telegram refuses the bridge's configuration: {}; the alerts stay queued", problem.hint());
                    if exhausted(patience, failures) {
                        return Err(Undelivered::GaveUp {
                            reason: problem.reason(),
                            detail,
                        });
                    }
                    Counters::add(&c.retries, 1);
                    Some(delay)
                }
                Outcome::BadEntities(detail) if out.html => {
                    c.send_failures.inc(Reason::BadEntities.label());
                    Counters::add(&c.retries, 1);
                    tracing::warn!(chat = out.chat, method, error = %detail, "Telegram rejected the HTML; sending as plain text");
                    out.text = crate::html::to_plain(&out.text);
                    out.html = false;
                    None
                }
                Outcome::Migrated(to) => {
                    Counters::add(&c.migrations, 1);
                    Counters::add(&c.retries, 1);
                    tracing::info!(from = out.chat, to, "chat migrated; following it");
                    if let Err(e) = self.state.migrate_chat(out.chat, to).await {
                        tracing::error!(error = %e, "remembering the chat migration");
                    }
                    out.chat = to;
                    None
                }
                Outcome::BadEntities(detail) if out.photo.is_some() && text_instead.is_some() => {
                    self.photo_refused(Reason::BadEntities, &detail, out, text_instead);
                    None
                }
                Outcome::Permanent { reason, detail }
                    if out.photo.is_some() && text_instead.is_some() =>
                {
                    self.photo_refused(reason, &detail, out, text_instead);
                    None
                }
                Outcome::BadEntities(detail) => {
                    c.send_failures.inc(Reason::BadEntities.label());
                    return Err(Undelivered::Refused {
                        reason: Reason::BadEntities,
                        detail,
                    });
                }
                Outcome::Permanent { reason, detail } => {
                    c.send_failures.inc(reason.label());
                    return Err(Undelivered::Refused { reason, detail });
                }
            };
            if let Some(delay) = pause {
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.changed() => return Err(Undelivered::Stopped),
                }
            }
        }
    }
}

impl<T: Transport> Courier<T> {
    /// Telegram refused a photo for good: the message goes again as the
    /// text `text_instead`, so a chart never costs an alert.
    fn photo_refused(
        &self,
        reason: Reason,
        detail: &str,
        out: &mut Outgoing,
        text_instead: Option<&str>,
    ) {
        self.counters.send_failures.inc(reason.label());
        Counters::add(&self.counters.retries, 1);
        tracing::warn!(chat = out.chat, %reason, error = %detail, "Telegram refused the photo; sending the text instead");
        out.photo = None;
        out.text = text_instead.unwrap_or_default().to_owned();
        out.html = true;
    }
}

/// Whether `failures` failed attempts use up `patience`.
fn exhausted(patience: Patience, failures: u32) -> bool {
    matches!(patience, Patience::Attempts(n) if failures >= n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::pacer::Limits;
    use crate::bridge::telegram::Misconfig;
    use std::collections::VecDeque;
    use std::sync::atomic::Ordering;

    /// Answers from a script, then accepts; records what it was sent.
    struct Script(Mutex<VecDeque<Outcome>>, Mutex<Vec<Outgoing>>);

    impl Transport for Script {
        async fn send(&self, msg: &Outgoing) -> Outcome {
            self.1.lock().unwrap().push(msg.clone());
            let next = self.0.lock().unwrap().pop_front();
            next.unwrap_or(Outcome::Sent { message_id: 9 })
        }
    }

    fn courier(dir: &std::path::Path, script: Vec<Outcome>) -> Courier<Script> {
        Courier {
            transport: Script(Mutex::new(script.into()), Mutex::new(Vec::new())),
            state: Arc::new(
                crate::bridge::state::sqlite::Store::open(
                    &dir.join("s.db"),
                    Duration::from_secs(1),
                )
                .unwrap(),
            ),
            pacer: Mutex::new(Pacer::new(Limits::default())),
            backoff: Backoff::default(),
            counters: Arc::new(Counters::default()),
            health: Arc::new(Health::default()),
        }
    }

    fn network() -> Outcome {
        Outcome::Transient {
            reason: Reason::Network,
            detail: "connection reset".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_edit_is_paced_and_retried_but_not_counted_as_a_message_sent() {
        let dir = tempfile::tempdir().unwrap();
        let c = courier(dir.path(), vec![network()]);
        let (_tx, mut stop) = watch::channel(false);
        let mut out = Outgoing {
            edit: Some(crate::bridge::telegram::Edit {
                message_id: 9,
                caption: false,
            }),
            ..Outgoing::html(1, None, "x".into())
        };
        let r = c
            .send(&mut out, None, Patience::Attempts(4), &mut stop)
            .await;
        assert_eq!(r, Ok(9));
        assert_eq!(c.transport.1.lock().unwrap().len(), 2);
        assert_eq!(c.counters.send_failures.get("network"), 1);
        assert_eq!(c.counters.sent.load(Ordering::Relaxed), 0);
        let mut new = Outgoing::html(1, None, "y".into());
        c.send(&mut new, None, Patience::Attempts(4), &mut stop)
            .await
            .unwrap();
        assert_eq!(c.counters.sent.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reply_follows_a_migration_and_gives_up_after_its_attempts() {
        let dir = tempfile::tempdir().unwrap();
        let mut script = vec![Outcome::Migrated(-1002)];
        script.extend(std::iter::repeat_n(network(), 4));
        let c = courier(dir.path(), script);
        let (_tx, mut stop) = watch::channel(false);
        let mut out = Outgoing::html(-1001, None, "x".into());
        let r = c
            .send(&mut out, None, Patience::Attempts(4), &mut stop)
            .await;
        assert_eq!(
            r,
            Err(Undelivered::GaveUp {
                reason: Reason::Network,
                detail: "connection reset".into()
            })
        );
        assert_eq!(out.chat, -1002);
        assert_eq!(c.transport.1.lock().unwrap().len(), 5);
        assert_eq!(c.counters.migrations.load(Ordering::Relaxed), 1);
        assert_eq!(c.counters.send_failures.get("network"), 4);
        // The migration is remembered for what is queued later.
        c.state
            .enqueue_text(-1001, None, "later".into(), 0)
            .await
            .unwrap();
        assert_eq!(c.state.queued(-1002, 10).await.unwrap().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn alerts_wait_out_a_refused_configuration_replies_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let refused = || Outcome::Misconfigured {
            problem: Misconfig::NotFound,
            detail: "Not Found".into(),
        };
        let c = courier(dir.path(), vec![refused(); 6]);
        let (_tx, mut stop) = watch::channel(false);
        let mut out = Outgoing::html(1, None, "x".into());
        let r = c
            .send(&mut out, None, Patience::Attempts(2), &mut stop)
            .await;
        assert!(
            matches!(
                r,
                Err(Undelivered::GaveUp {
                    reason: Reason::NotFound,
                    ..
                })
            ),
            "{r:?}"
        );
        assert!(c.health.reasons()[0].contains("--telegram-api-url"));
        let r = c
            .send(&mut out, None, Patience::UntilDelivered, &mut stop)
            .await;
        assert_eq!(r, Ok(9), "kept trying until the configuration was fixed");
        assert_eq!(c.counters.send_failures.get("not_found"), 6);
        assert!(c.health.reasons().is_empty());
        // A refusal for good ends either way, with its reason.
        let c = courier(
            dir.path(),
            vec![Outcome::Permanent {
                reason: Reason::Forbidden,
                detail: "Forbidden: bot was blocked by the user".into(),
            }],
        );
        let r = c
            .send(&mut out, None, Patience::UntilDelivered, &mut stop)
            .await;
        assert!(
            matches!(
                r,
                Err(Undelivered::Refused {
                    reason: Reason::Forbidden,
                    ..
                })
            ),
            "{r:?}"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(4),
            ..Backoff::default()
        };
        let d: Vec<u64> = (1..=6).map(|n| b.delay(n).as_millis() as u64).collect();
        assert_eq!(d, vec![500, 1000, 2000, 4000, 4000, 4000]);
    }
}
