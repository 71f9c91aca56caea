//! The scrape thread: every `/metrics` request is gathered, encoded and
//! compressed on one long-lived thread.
//!
//! Collectors block (file reads, a bounded wait on `statfs`), so they cannot
//! run on the async scheduler. A single dedicated thread instead of tokio's
//! blocking pool keeps one warm set of buffers: the blocking pool spawned a
//! new thread (and malloc arena) for bursts of scrapes, which cost
//! megabytes of RSS for nothing. (All threads now share glibc's main arena:
//! `residency::one_malloc_arena`.) Concurrent scrapes queue; each takes
//! about a millisecond.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc;
use std::sync::{Arc, Weak};

use tokio::sync::oneshot;

use super::encode::{self, Format};
use super::AppState;

/// How long the exporter must be idle before it drops the code pages the
/// last scrape mapped (see `residency.rs`). Prometheus scrapes every 15 s or
/// more, so between scrapes the process holds only what it needs; under
/// back-to-back scrapes nothing is dropped and nothing is re-faulted.
const SHED_AFTER_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

struct Job {
    format: Format,
    gzip: bool,
    reply: oneshot::Sender<Vec<u8>>,
}

/// A handle to the scrape thread. Dropping it ends the thread.
pub struct Scraper {
    tx: std::sync::Mutex<mpsc::Sender<Job>>,
}

impl Scraper {
    /// Starts the thread. It holds only a weak reference to `state`, so the
    /// state (which owns this handle) can still be dropped.
    pub fn start(state: Weak<AppState>) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("scrape".into())
            .spawn(move || {
                let mut shed_pending = false;
                let mut first = true;
                let mut text = String::new();
                loop {
                    let job = match rx.recv_timeout(SHED_AFTER_IDLE) {
                        Ok(job) => job,
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            if shed_pending {
                                super::residency::shed_after_scrape();
                                shed_pending = false;
                            }
                            continue;
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    };
                    let Some(state) = state.upgrade() else { return };
                    let body = render(&state, job.format, job.gzip, &mut text);
                    drop(state);
                    let _ = job.reply.send(body);
                    if std::mem::take(&mut first) {
                        // The first scrape also ran one-time code (opening
                        // files, compiling filters, starting threads) that
                        // later scrapes never touch again: drop it now
                        // rather than carry it through a busy stretch.
                        super::residency::shed_after_scrape();
                    } else {
                        shed_pending = true;
                    }
                }
            })?;
        Ok(Scraper {
            tx: std::sync::Mutex::new(tx),
        })
    }

    /// One scrape's response body, encoded in `format`, gzipped if asked.
    /// `None` if the scrape thread is gone.
    pub async fn scrape(&self, format: Format, gzip: bool) -> Option<Vec<u8>> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .lock()
            .expect("scrape queue lock")
            .send(Job {
                format,
                gzip,
                reply,
            })
            .ok()?;
        rx.await.ok()
    }
}

/// The length of the last scrape's text, to size a new buffer: a plain
/// (uncompressed) response takes the thread's buffer with it.
static LAST_LEN: AtomicUsize = AtomicUsize::new(64 * 1024);

/// Gathers, encodes and (optionally) compresses one scrape, writing the
/// text in `text`: the scrape thread keeps that buffer for the next
/// scrape, unless the text itself is the (plain) response.
pub fn render(state: &Arc<AppState>, format: Format, gzip: bool, text: &mut String) -> Vec<u8> {
    let families = state.gather().into_sorted();
    text.clear();
    if text.capacity() == 0 {
        let last = LAST_LEN.load(Relaxed);
        text.reserve(last + last / 16 + 1024);
    }
    encode::encode_into(text, &families, format);
    LAST_LEN.store(text.len(), Relaxed);
    state.recycle(families);
    if gzip {
        state.gzip.compress(text.as_bytes())
    } else {
        std::mem::take(text).into_bytes()
    }
}
