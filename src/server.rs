//! The HTTP server loop the exporter and the bridge share: HTTP/1.1 over
//! plain TCP or TLS, with a cap on open connections, a deadline for each
//! request's headers, and the open-file limit raised to match.
//!
//! Decisions:
//! - At the cap a new connection takes the place of the one that has waited
//!   longest for a request (half-open, in a slow TLS handshake, or idle
//!   keep-alive). A slowloris client holding every slot is pushed out by
//!   real clients instead of locking them out until its connections time
//!   out. Only when every connection is serving a request is the newcomer
//!   closed at once. While more than [`CLOSING_SLACK`] evicted connections
//!   are still closing, accepting waits for them, so connections never
//!   hold more than cap + slack descriptors.
//! - One deadline, `read_header_timeout`, covers the TLS handshake and each
//!   request's headers. It runs from when the connection starts waiting and
//!   is not extended by bytes trickling in (hyper's header timer). An idle
//!   keep-alive connection is closed after the same time. A request's body
//!   must then arrive within the same time after its headers (reading it
//!   fails past that), so a trickled body cannot hold a busy slot either.
//! - The cap is lowered to fit under the open-file limit, less a reserve for
//!   what else the process opens ([`fit_to_nofile`]), so a flood of
//!   connections never makes the rest of the process fail with EMFILE.
//! - Shed connections are counted by [`ShedReason`] for each component's
//!   `/metrics` and logged at most every 10 s.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify};

/// Default of `--web.max-connections` / `--max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// Default of `--web.read-header-timeout` / `--read-header-timeout`.
pub const DEFAULT_READ_HEADER_TIMEOUT: &str = "10s";
/// Evicted connections that may still be closing while new ones are
/// accepted; fitted under the open-file limit with the cap.
pub const CLOSING_SLACK: usize = 16;
/// The cap is never fitted below this many connections.
const MIN_CONNECTIONS: usize = 16;
/// Least time between two "shedding connections" log lines.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// How many connections and how long for a request's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    pub read_header_timeout: Duration,
}

/// A [`Limits`] that cannot serve anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    #[error("must be at least 1")]
    NoConnections,
    #[error("must be greater than zero")]
    NoTimeout,
}

impl Limits {
    pub fn new(max_connections: usize, read_header_timeout: Duration) -> Result<Self, LimitsError> {
        if max_connections == 0 {
            return Err(LimitsError::NoConnections);
        }
        if read_header_timeout.is_zero() {
            return Err(LimitsError::NoTimeout);
        }
        Ok(Limits {
            max_connections,
            read_header_timeout,
        })
    }
}

/// Why a connection was closed by the server rather than the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShedReason {
    /// Closed, while waiting for a request, to make room for a new one.
    Evicted,
    /// A new connection closed at once: every slot was serving a request.
    Refused,
    /// Its first request's headers (or TLS handshake) took too long.
    HeaderTimeout,
}

impl ShedReason {
    pub const ALL: [ShedReason; 3] = [
        ShedReason::Evicted,
        ShedReason::Refused,
        ShedReason::HeaderTimeout,
    ];

    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ShedReason::Evicted => "evicted",
            ShedReason::Refused => "refused",
            ShedReason::HeaderTimeout => "header_timeout",
        }
    }
}

/// Help text of each component's `…_http_connections_shed_total`.
pub const SHED_HELP: &str = "HTTP connections closed by the server: evicted to make room at \
     the connection cap, refused at the cap, or too slow to send request headers.";
/// Help text of each component's `…_http_connections_open`.
pub const OPEN_HELP: &str = "HTTP connections open now.";

/// What the server loop counts, for `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    shed: [AtomicU64; 3],
    open: AtomicU64,
    last_log: Mutex<Option<Instant>>,
}

impl Stats {
    pub fn shed(&self, reason: ShedReason) -> u64 {
        self.shed[reason as usize].load(Ordering::Relaxed)
    }

    pub fn open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    fn record(&self, reason: ShedReason, max: usize) {
        self.shed[reason as usize].fetch_add(1, Ordering::Relaxed);
        if rate_limit(&self.last_log) {
            tracing::warn!(
                reason = reason.as_str(),
                evicted = self.shed(ShedReason::Evicted),
                refused = self.shed(ShedReason::Refused),
                header_timeouts = self.shed(ShedReason::HeaderTimeout),
                open = self.open(),
                max_connections = max,
                "shedding HTTP connections (a slow or flooding client?); totals so far, logged at most every 10s"
            );
        }
    }
}

/// True at most once per [`LOG_EVERY`].
fn rate_limit(last: &Mutex<Option<Instant>>) -> bool {
    let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    if last.is_some_and(|t| now.duration_since(t) < LOG_EVERY) {
        return false;
    }
    *last = Some(now);
    true
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit. Returns the soft
/// limit now in force.
pub fn raise_nofile_limit() -> nix::Result<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(hard.max(soft))
}

/// `limits` with the connection cap lowered so that the connections (and
/// [`CLOSING_SLACK`] still closing) plus `reserve` other descriptors fit
/// under `nofile` (never below 16).
pub fn fit_to_nofile(limits: Limits, nofile: u64, reserve: u64) -> Limits {
    let room = nofile.saturating_sub(reserve + CLOSING_SLACK as u64);
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    Limits {
        max_connections: limits.max_connections.min(room).max(MIN_CONNECTIONS),
        ..limits
    }
}

/// At startup: raises the open-file limit and fits `limits` under it,
/// saying so when the cap had to come down. Also returns the open-file
/// limit now in force, when it could be read.
pub fn prepare(limits: Limits, reserve: u64) -> (Limits, Option<u64>) {
    match raise_nofile_limit() {
        Ok(nofile) => {
            let fitted = fit_to_nofile(limits, nofile, reserve);
            if fitted.max_connections < limits.max_connections {
                tracing::warn!(
                    nofile,
                    requested = limits.max_connections,
                    max_connections = fitted.max_connections,
                    "open-file limit is low: fewer HTTP connections allowed (raise LimitNOFILE / ulimit -n)"
                );
            }
            (fitted, Some(nofile))
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not raise the open-file limit");
            (limits, None)
        }
    }
}

/// Milliseconds on a process-wide monotonic clock.
fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// One open connection as the table sees it.
struct Conn {
    /// Requests being served (0 or 1 for HTTP/1.1); while above 0 the
    /// connection is not evicted.
    requests: AtomicUsize,
    /// Responses completed: a timeout after one is a keep-alive close.
    served: AtomicU64,
    /// When it last started waiting for a request ([`now_ms`]).
    waiting_since: AtomicU64,
    /// Told to close (evicted).
    close: Notify,
}

/// The open connections, for the cap and for eviction.
struct Table {
    max: usize,
    stats: Arc<Stats>,
    inner: Mutex<(u64, HashMap<u64, Arc<Conn>>)>,
    /// Connection tasks not yet ended: those in the table plus evicted ones
    /// still closing (each holds a descriptor).
    live: AtomicUsize,
    /// Told when a connection task ends.
    ended: Notify,
}

impl Table {
    fn new(max: usize, stats: Arc<Stats>) -> Self {
        Table {
            max: max.max(1),
            stats,
            inner: Mutex::new((0, HashMap::new())),
            live: AtomicUsize::new(0),
            ended: Notify::new(),
        }
    }

    /// Waits while more than [`CLOSING_SLACK`] evicted connections are
    /// still closing.
    async fn room(&self) {
        loop {
            let ended = self.ended.notified();
            if self.live.load(Ordering::Acquire) < self.max + CLOSING_SLACK {
                return;
            }
            ended.await;
        }
    }

    /// Registers `conn`, evicting the longest-waiting idle connection when
    /// full. `None`: full of busy connections, `conn` must be closed.
    fn admit(self: &Arc<Self>, conn: &Arc<Conn>) -> Option<Registration> {
        let mut evicted = false;
        let id = {
            let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let (next, conns) = &mut *guard;
            if conns.len() >= self.max {
                let victim = conns
                    .iter()
                    .filter(|(_, c)| c.requests.load(Ordering::Acquire) == 0)
                    .min_by_key(|(_, c)| c.waiting_since.load(Ordering::Relaxed))
                    .map(|(id, _)| *id)?;
                if let Some(v) = conns.remove(&victim) {
                    v.close.notify_one();
                }
                evicted = true;
            }
            *next += 1;
            conns.insert(*next, Arc::clone(conn));
            self.stats.open.store(conns.len() as u64, Ordering::Relaxed);
            *next
        };
        if evicted {
            self.stats.record(ShedReason::Evicted, self.max);
        }
        self.live.fetch_add(1, Ordering::AcqRel);
        Some(Registration {
            table: Arc::clone(self),
            id,
        })
    }
}

/// A connection's place in the [`Table`], given up when dropped (after
/// its stream is closed).
struct Registration {
    table: Arc<Table>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut guard = self.table.inner.lock().unwrap_or_else(|p| p.into_inner());
        guard.1.remove(&self.id);
        self.table
            .stats
            .open
            .store(guard.1.len() as u64, Ordering::Relaxed);
        drop(guard);
        self.table.live.fetch_sub(1, Ordering::AcqRel);
        self.table.ended.notify_one();
    }
}

/// Marks its connection busy from a request's headers until the response
/// body is dropped (fully written, or the connection gone).
struct Busy(Arc<Conn>);

impl Busy {
    fn start(conn: &Arc<Conn>) -> Self {
        conn.requests.fetch_add(1, Ordering::AcqRel);
        Busy(Arc::clone(conn))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.waiting_since.store(now_ms(), Ordering::Relaxed);
        self.0.served.fetch_add(1, Ordering::Relaxed);
        self.0.requests.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its connection marked busy.
struct Tracked {
    body: Body,
    _busy: Busy,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A request body that fails once its deadline passes.
struct Deadline {
    body: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl hyper::body::Body for Deadline {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "request body not received in time",
            ))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// What every connection task shares.
struct Shared {
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: Limits,
    stats: Arc<Stats>,
}

/// Serves `app` on `listener` (over TLS when `tls` is given) within
/// `limits` until `shutdown` completes; then stops accepting, closes idle
/// connections, and returns once the requests in flight are answered.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    stats: Arc<Stats>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let shared = Arc::new(Shared {
        app,
        tls: tls.map(tokio_rustls::TlsAcceptor::from),
        limits,
        stats: Arc::clone(&stats),
    });
    let table = Arc::new(Table::new(limits.max_connections, stats));
    let (stop_tx, stop_rx) = watch::channel(false);
    // Each task holds a sender; `recv` returns `None` once all are gone.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let accept_log = Mutex::new(None);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = table.room() => {}
        }
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                // A client that gave up before being accepted.
                Err(e) if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                ) => continue,
                Err(e) => {
                    // EMFILE and the like: wait for descriptors to free up.
                    if rate_limit(&accept_log) {
                        tracing::error!(error = %e, "accepting HTTP connections failed");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let conn = Arc::new(Conn {
            requests: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            waiting_since: AtomicU64::new(now_ms()),
            close: Notify::new(),
        });
        let Some(registration) = table.admit(&conn) else {
            drop(stream);
            table.stats.record(ShedReason::Refused, table.max);
            continue;
        };
        let shared = Arc::clone(&shared);
        let (stop, done) = (stop_rx.clone(), done_tx.clone());
        tokio::spawn(async move {
            connection(stream, &shared, &conn, stop).await;
            drop((registration, done));
        });
    }
    let _ = stop_tx.send(true);
    drop(done_tx);
    let _ = done_rx.recv().await;
}

/// One connection: the TLS handshake if any, then HTTP/1.1.
async fn connection(
    stream: TcpStream,
    shared: &Shared,
    conn: &Arc<Conn>,
    mut stop: watch::Receiver<bool>,
) {
    let Some(acceptor) = &shared.tls else {
        return http(TokioIo::new(stream), shared, conn, stop).await;
    };
    let handshake =
        tokio::time::timeout(shared.limits.read_header_timeout, acceptor.accept(stream));
    let tls = tokio::select! {
        r = handshake => match r {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                shared.stats.record(ShedReason::HeaderTimeout, shared.limits.max_connections);
                return;
            }
        },
        _ = conn.close.notified() => return,
        _ = stop.wait_for(|s| *s) => return,
    };
    http(TokioIo::new(tls), shared, conn, stop).await
}

async fn http<I>(io: TokioIo<I>, shared: &Shared, conn: &Arc<Conn>, mut stop: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = {
        let app = shared.app.clone();
        let conn = Arc::clone(conn);
        let body_time = shared.limits.read_header_timeout;
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let busy = Busy::start(&conn);
            let app = app.clone();
            let req = req.map(|body| {
                if hyper::body::Body::is_end_stream(&body) {
                    Body::new(body)
                } else {
                    Body::new(Deadline {
                        body,
                        deadline: Box::pin(tokio::time::sleep(body_time)),
                    })
                }
            });
            async move {
                use tower::ServiceExt;
                let resp = app
                    .oneshot(req)
                    .await
                    .unwrap_or_else(|e: Infallible| match e {});
                Ok::<_, Infallible>(resp.map(|body| Tracked { body, _busy: busy }))
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.limits.read_header_timeout);
    let served = builder.serve_connection(io, service);
    tokio::pin!(served);
    let mut closing = false;
    let result = loop {
        tokio::select! {
            r = served.as_mut() => break r,
            _ = conn.close.notified(), if !closing => {}
            _ = stop.wait_for(|s| *s), if !closing => {}
        }
        // Evicted or shutting down: an idle connection goes now, a busy one
        // after its response.
        if conn.requests.load(Ordering::Acquire) == 0 {
            return;
        }
        closing = true;
        served.as_mut().graceful_shutdown();
    };
    if let Err(e) = result {
        if e.is_timeout() && conn.served.load(Ordering::Relaxed) == 0 {
            shared
                .stats
                .record(ShedReason::HeaderTimeout, shared.limits.max_connections);
        } else {
            tracing::debug!(error = %e, "HTTP connection error");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_fits_under_the_open_file_limit() {
        let l = Limits {
            max_connections: 512,
            read_header_timeout: Duration::from_secs(10),
        };
        assert_eq!(fit_to_nofile(l, 1 << 20, 128).max_connections, 512);
        assert_eq!(fit_to_nofile(l, 256, 128).max_connections, 112);
        assert_eq!(fit_to_nofile(l, 100, 128).max_connections, MIN_CONNECTIONS);
        assert_eq!(
            fit_to_nofile(l, 256, 128).read_header_timeout,
            l.read_header_timeout
        );
    }

    fn conn(waiting_since: u64, requests: usize) -> Arc<Conn> {
        Arc::new(Conn {
            requests: AtomicUsize::new(requests),
            served: AtomicU64::new(0),
            waiting_since: AtomicU64::new(waiting_since),
            close: Notify::new(),
        })
    }

    #[test]
    fn a_full_table_evicts_the_longest_waiting_idle_connection() {
        let stats = Arc::new(Stats::default());
        let table = Arc::new(Table::new(3, Arc::clone(&stats)));
        let busy_oldest = conn(1, 1);
        let idle_old = conn(5, 0);
        let idle_new = conn(9, 0);
        let regs: Vec<_> = [&busy_oldest, &idle_old, &idle_new]
            .into_iter()
            .map(|c| table.admit(c).unwrap())
            .collect();
        assert_eq!(stats.shed(ShedReason::Evicted), 0);
        assert_eq!(stats.open(), 3);
        let newcomer = conn(10, 0);
        let reg = table.admit(&newcomer).expect("room made");
        assert_eq!(stats.shed(ShedReason::Evicted), 1);
        assert_eq!(stats.open(), 3);
        // The evicted one still holds its descriptor until its task ends.
        assert_eq!(table.live.load(Ordering::Relaxed), 4);
        // The evicted one was told (a stored permit), the others not.
        let told = |c: &Arc<Conn>| {
            let n = c.close.notified();
            tokio::pin!(n);
            n.as_mut().enable()
        };
        assert!(told(&idle_old));
        assert!(!told(&idle_new) && !told(&busy_oldest));
        // Its registration dropping later does not remove anyone else.
        // Past the slack of closing connections, no accepting until they
        // have closed.
        for _ in 0..CLOSING_SLACK - 1 {
            table.live.fetch_add(1, Ordering::Relaxed);
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let wait = |d| rt.block_on(async { tokio::time::timeout(d, table.room()).await });
        assert!(wait(Duration::from_millis(20)).is_err());
        table.live.fetch_sub(CLOSING_SLACK - 1, Ordering::Relaxed);
        drop(regs);
        assert!(wait(Duration::from_secs(5)).is_ok());
        assert_eq!(stats.open(), 1);
        drop(reg);
        assert_eq!(stats.open(), 0);
    }

    #[test]
    fn a_table_full_of_busy_connections_refuses() {
        let table = Arc::new(Table::new(2, Arc::new(Stats::default())));
        let (a, b) = (conn(1, 1), conn(2, 1));
        let _regs = (table.admit(&a).unwrap(), table.admit(&b).unwrap());
        assert!(table.admit(&conn(3, 0)).is_none());
    }

    #[test]
    fn shed_reasons_are_distinct_labels_in_index_order() {
        for (i, r) in ShedReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
        let mut names: Vec<_> = ShedReason::ALL.iter().map(|r| r.as_str()).collect();
        names.dedup();
        assert_eq!(names.len(), 3);
    }
}
