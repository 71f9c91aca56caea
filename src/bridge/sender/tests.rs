use super::*;
use crate::bridge::health::Health;
use crate::bridge::metrics::Counters;
use crate::bridge::pacer::{Limits, Pacer};
use crate::bridge::state::sqlite::Store;
use crate::bridge::state::{ChatStore, OutboxStore};
use crate::bridge::telegram::{Misconfig, Outcome, Reason};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;

/// A transport that fails with 5xx a few times, then rate-limits once,
/// then accepts; records when each attempt happened (paused time).
struct Flaky {
    attempts: Mutex<Vec<(Instant, Outgoing)>>,
    script: Mutex<VecDeque<Outcome>>,
}

impl Transport for Flaky {
    /// Past the script, accepts with the attempt's number as message id.
    async fn send(&self, msg: &Outgoing) -> Outcome {
        let mut attempts = self.attempts.lock().unwrap();
        attempts.push((Instant::now(), msg.clone()));
        let n = attempts.len() as i64;
        self.script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Outcome::Sent { message_id: n })
    }
}

#[tokio::test(start_paused = true)]
async fn retries_back_off_and_honour_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db"), Duration::from_secs(1)).unwrap();
    store
        .enqueue_text(1, None, "<b>hello &amp; bye</b>".into(), 0)
        .await
        .unwrap();
    let transport = Flaky {
        attempts: Mutex::new(Vec::new()),
        script: Mutex::new(VecDeque::from(vec![
            Outcome::Transient {
                reason: Reason::ServerError,
                detail: "HTTP 502".into(),
            },
            Outcome::Transient {
                reason: Reason::Network,
                detail: "connection reset".into(),
            },
            Outcome::RetryAfter(Duration::from_secs(5)),
            Outcome::BadEntities("Bad Request: can't parse entities".into()),
        ])),
    };
    let sender = sender_with(Vec::new(), store.clone(), None);
    *sender.courier.transport.script.lock().unwrap() = transport.script.into_inner().unwrap();
    let (_tx, rx) = watch::channel(false);
    let t0 = Instant::now();
    sender.drain_chat(1, rx).await;
    let attempts = sender.attempts();
    let at: Vec<u64> = attempts
        .iter()
        .map(|(t, _)| (*t - t0).as_millis() as u64)
        .collect();
    // 0: 502 → +500ms backoff (slot also ≥ 1s after the first) →
    // 1000: reset → +1000ms → 2000: 429 retry_after 5s → 7000: entity
    // error → 8000 (next per-chat slot): plain text accepted.
    assert_eq!(at, vec![0, 1000, 2000, 7000, 8000]);
    assert!(attempts[3].1.html);
    assert!(!attempts[4].1.html);
    assert_eq!(attempts[4].1.text, "hello & bye");
    let c = &sender.courier.counters;
    assert_eq!(c.rate_limited.load(Ordering::Relaxed), 1);
    assert_eq!(c.retries.load(Ordering::Relaxed), 4);
    assert_eq!(c.sent.load(Ordering::Relaxed), 1);
    assert_eq!(c.send_failures.get("server_error"), 1);
    assert_eq!(c.send_failures.get("network"), 1);
    assert_eq!(store.stats().await.unwrap().queued, 0);
}

impl Sender<Flaky> {
    /// Every attempt so far: when, and what.
    fn attempts(&self) -> Vec<(Instant, Outgoing)> {
        self.courier.transport.attempts.lock().unwrap().clone()
    }
}

fn sender_with(script: Vec<Outcome>, store: Store, charts: Option<Charts>) -> Arc<Sender<Flaky>> {
    sender_backing_off(script, store, charts, Backoff::default())
}

fn sender_backing_off(
    script: Vec<Outcome>,
    store: Store,
    charts: Option<Charts>,
    backoff: Backoff,
) -> Arc<Sender<Flaky>> {
    Arc::new(Sender {
        state: Arc::new(store.clone()),
        epoch: 1,
        courier: Arc::new(Courier {
            transport: Flaky {
                attempts: Mutex::new(Vec::new()),
                script: Mutex::new(VecDeque::from(script)),
            },
            state: Arc::new(store),
            pacer: Mutex::new(Pacer::new(Limits::default())),
            backoff,
            counters: Arc::new(Counters::default()),
            health: Arc::new(Health::default()),
        }),
        doorbell: Arc::new(Doorbell::default()),
        layout: Layout::default(),
        charts,
        enrich: None,
        mentions: None,
        unmarked: Unmarked::default(),
        rescan: RESCAN,
    })
}

#[tokio::test(start_paused = true)]
async fn a_refused_configuration_keeps_the_rows_queued_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db"), Duration::from_secs(1)).unwrap();
    store.enqueue_text(1, None, "x".into(), 0).await.unwrap();
    let refused = || Outcome::Misconfigured {
        problem: Misconfig::Unauthorized,
        detail: "Unauthorized".into(),
    };
    let sender = sender_with(vec![refused(); 100], store.clone(), None);
    let (tx, rx) = watch::channel(false);
    let drain = tokio::spawn({
        let sender = Arc::clone(&sender);
        async move { sender.drain_chat(1, rx).await }
    });
    while sender.attempts().len() < 3 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Stopped before its script of refusals can run out (paused time
    // makes the backoff free), so the row is still queued below.
    tx.send(true).unwrap();
    drain.await.unwrap();
    let reasons = sender.courier.health.reasons();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].contains("unauthorized") && reasons[0].contains("token"));
    let st = store.stats().await.unwrap();
    assert_eq!((st.queued, st.failed), (1, 0), "kept, not failed");
    assert!(sender.courier.counters.send_failures.get("unauthorized") >= 3);
    assert_eq!(sender.courier.counters.send_failures.get("bad_request"), 0);

    // Fixed (here: the script runs out): delivered, and ready again.
    let fixed = sender_with(vec![refused()], store.clone(), None);
    fixed
        .courier
        .health
        .set(Problem::TelegramConfig, Some("stale".into()));
    let (_tx, rx) = watch::channel(false);
    fixed.drain_chat(1, rx).await;
    assert_eq!(store.stats().await.unwrap().queued, 0);
    let left = fixed.courier.health.reasons();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(start_paused = true)]
async fn an_absurd_retry_after_is_cut_to_the_maximum() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db"), Duration::from_secs(1)).unwrap();
    store.enqueue_text(1, None, "x".into(), 0).await.unwrap();
    let sender = sender_backing_off(
        vec![Outcome::RetryAfter(Duration::from_secs(u64::MAX))],
        store.clone(),
        None,
        Backoff {
            retry_after_max: Duration::from_secs(2),
            ..Backoff::default()
        },
    );
    let (_tx, rx) = watch::channel(false);
    let t0 = Instant::now();
    sender.drain_chat(1, rx).await;
    let at: Vec<Duration> = sender.attempts().iter().map(|(t, _)| *t - t0).collect();
    assert_eq!(at, vec![Duration::ZERO, Duration::from_secs(2)]);
    assert_eq!(store.stats().await.unwrap().queued, 0);
    let t = Instant::now();
    assert_eq!(
        later(t, Duration::MAX),
        later(t, Duration::from_secs(365 * 86_400))
    );
}

#[tokio::test(start_paused = true)]
async fn a_row_whose_mark_failed_is_not_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db"), Duration::from_secs(1)).unwrap();
    store.enqueue_text(1, None, "x".into(), 0).await.unwrap();
    // The disk is full exactly where the sender records a delivery.
    store
        .call(|c| {
            Ok(c.execute_batch(
                "CREATE TRIGGER disk_full BEFORE UPDATE OF state ON outbox
                 WHEN NEW.state = 'sent'
                 BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
            )?)
        })
        .await
        .unwrap();
    let sender = sender_with(Vec::new(), store.clone(), None);
    let (_tx, rx) = watch::channel(false);
    for _ in 0..3 {
        sender.drain_chat(1, rx.clone()).await;
        tokio::time::advance(Duration::from_secs(2)).await;
    }
    assert_eq!(sender.attempts().len(), 1);
    assert_eq!(store.stats().await.unwrap().queued, 1, "not recorded yet");
    let reasons = sender.courier.health.reasons();
    assert!(reasons[0].contains("disk is full"), "{reasons:?}");
    store
        .call(|c| Ok(c.execute_batch("DROP TRIGGER disk_full")?))
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(10)).await;
    sender.drain_chat(1, rx).await;
    assert_eq!(sender.attempts().len(), 1);
    assert_eq!(store.stats().await.unwrap().queued, 0);
    assert!(sender.courier.health.reasons().is_empty());
}

/// A chart stand-in: this PNG, or this miss.
fn chart(result: fn() -> Result<Vec<u8>, attach::ChartMiss>) -> Charts {
    Arc::new(move |_alert: Alert| -> attach::ChartFuture { Box::pin(async move { result() }) })
}

async fn queue_cpu_alert(store: &Store, description_lines: usize) -> String {
    let fp = "0123456789abcdef".to_string();
    let mut a = Alert {
        status: "firing".into(),
        fingerprint: fp.clone(),
        starts_at: "2026-11-22T05:00:00Z".into(),
        generator_url: "http://prom/graph?g0.expr=up".into(),
        ..Default::default()
    };
    a.labels.insert("alertname".into(), "AgentHighCPU".into());
    a.labels.insert("agent".into(), "web1".into());
    let text: String = (0..description_lines)
        .map(|i| format!("step {i}: check <top> & the load\n"))
        .collect();
    a.annotations.insert("description".into(), text);
    let n = crate::bridge::payload::Notification {
        alerts: vec![a],
        ..Default::default()
    };
    store
        .intake(
            7,
            None,
            n,
            format!("k{description_lines}"),
            1,
            0,
            String::new(),
            now_ms(),
        )
        .await
        .unwrap();
    fp
}

#[tokio::test(start_paused = true)]
async fn an_attached_chart_is_the_alert_message() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db"), Duration::from_secs(1)).unwrap();
    let fp = queue_cpu_alert(&store, 80).await;
    // The HTML caption is refused once: the photo goes again as plain
    // text; then the rest of the text replies to it.
    let sender = sender_with(
        vec![Outcome::BadEntities(
            "Bad Request: can't parse entities".into(),
        )],
        store.clone(),
        Some(chart(|| Ok(vec![0x89, b'P', b'N', b'G']))),
    );
    let (_tx, rx) = watch::channel(false);
    sender.drain_chat(7, rx).await;
    let attempts: Vec<Outgoing> = sender.attempts().iter().map(|(_, o)| o.clone()).collect();
    assert_eq!(attempts.len(), 3, "{attempts:#?}");
    let (first, plain, rest) = (&attempts[0], &attempts[1], &attempts[2]);
    assert_eq!(first.method(), "sendPhoto");
    assert!(first.html);
    assert!(message::visible_len(&first.text) <= crate::bridge::telegram::CAPTION_LIMIT);
    assert!(message::to_plain(&first.text).contains("AgentHighCPU"));
    let keys = first
        .reply_markup
        .as_ref()
        .expect("buttons under the photo");
    assert_eq!(
        keys["inline_keyboard"][0][0]["callback_data"],
        format!("s1:{fp}")
    );
    assert_eq!(plain.photo, first.photo);
    assert!(!plain.html);
    assert_eq!(plain.text, message::to_plain(&first.text));
    assert_eq!(plain.reply_markup, first.reply_markup);
    assert_eq!(rest.method(), "sendMessage");
    assert_eq!(rest.reply_to, Some(2), "the rest replies to the photo");
    assert!(rest.reply_markup.is_none());
    assert!(message::to_plain(&rest.text).contains("step 79:"));
    // The photo is the firing message a resolution replies to.
    assert_eq!(store.firing_message(7, vec![fp]).await.unwrap(), Some(2));
    assert_eq!(store.stats().await.unwrap().queued, 0);
    assert_eq!(sender.courier.counters.sent.load(Ordering::Relaxed), 2);
}

#[tokio::test(start_paused = true)]
async fn a_missing_chart_or_a_refused_photo_still_delivers_the_alert() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db"), Duration::from_secs(1)).unwrap();
    // The chart is late: the alert goes as text, with its buttons.
    queue_cpu_alert(&store, 1).await;
    let late = sender_with(
        Vec::new(),
        store.clone(),
        Some(chart(|| {
            Err(attach::ChartMiss::Timeout(Duration::from_secs(3)))
        })),
    );
    let (_tx, rx) = watch::channel(false);
    late.drain_chat(7, rx.clone()).await;
    let attempts = late.attempts();
    assert_eq!(attempts.len(), 1);
    assert!(attempts[0].1.photo.is_none());
    assert!(attempts[0].1.reply_markup.is_some());
    assert_eq!(late.courier.counters.chart_failures.get("timeout"), 1);

    // Telegram refuses the photo for good: the whole text goes instead.
    queue_cpu_alert(&store, 80).await;
    let refused = sender_with(
        vec![Outcome::Permanent {
            reason: Reason::BadRequest,
            detail: "Bad Request: PHOTO_INVALID_DIMENSIONS".into(),
        }],
        store.clone(),
        Some(chart(|| Ok(vec![1, 2, 3]))),
    );
    refused.drain_chat(7, rx).await;
    let attempts = refused.attempts();
    assert_eq!(attempts.len(), 2, "{attempts:#?}");
    assert!(attempts[0].1.photo.is_some());
    let text = &attempts[1].1;
    assert!(text.photo.is_none() && text.html);
    assert!(message::to_plain(&text.text).contains("step 0:"));
    assert!(message::to_plain(&text.text).contains("step 79:"));
    assert!(text.reply_markup.is_some());
    assert_eq!(store.stats().await.unwrap().queued, 0);
    assert_eq!(store.stats().await.unwrap().failed, 0);
}
