//! The background prober: every `--probe.interval` it probes every listed
//! target with at most `--probe.concurrency` probes in flight, and keeps the
//! latest outcome of each on a [`Board`] that `/metrics` reads.
//!
//! A scrape only copies the board under a short lock, so it never waits for
//! a probe. Rounds never overlap: a round that outlasts the interval is
//! logged and the next starts right after it. Before each round the targets
//! file is re-read if it changed; a broken file keeps the last good list,
//! is logged once per distinct error, and shows as
//! `outpost_tcp_probe_targets_file_ok 0`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::MissedTickBehavior;

use super::targets::{self, Entry, ListError, TargetsFile};
use super::{Options, ProbeOutcome, Prober};
use crate::exporter::metrics::Metrics;

/// The latest outcome of every listed target, and the prober's own state.
#[derive(Default)]
pub struct Board {
    state: Mutex<BoardState>,
    in_flight: AtomicUsize,
}

#[derive(Default)]
struct BoardState {
    targets: Arc<Vec<Entry>>,
    /// By target name: the target as shown and its latest outcome.
    results: HashMap<String, (String, ProbeOutcome)>,
    last_round: Option<(SystemTime, Duration)>,
    file: Option<FileStatus>,
}

#[derive(Debug, Clone, Copy)]
struct FileStatus {
    ok: bool,
    last_success: SystemTime,
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Board {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BoardState> {
        // A panic while holding the lock cannot leave the map half-written
        // in a way that matters for metrics; keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the target list, dropping results of targets that left it
    /// or now point elsewhere.
    pub fn set_targets(&self, list: Vec<Entry>) {
        let mut st = self.lock();
        let keep: HashMap<&str, String> = list
            .iter()
            .map(|e| (e.name.as_str(), e.target.to_string()))
            .collect();
        st.results
            .retain(|name, (shown, _)| keep.get(name.as_str()) == Some(shown));
        st.targets = Arc::new(list);
    }

    pub fn targets(&self) -> Arc<Vec<Entry>> {
        Arc::clone(&self.lock().targets)
    }

    /// Stores `entry`'s outcome; `list` is the list the probe was taken from.
    fn record(&self, list: &Arc<Vec<Entry>>, entry: &Entry, outcome: ProbeOutcome) {
        let shown = entry.target.to_string();
        let mut st = self.lock();
        // The list may have changed while this probe ran (never during a
        // round today, but keep results honest if it does).
        if Arc::ptr_eq(&st.targets, list)
            || st
                .targets
                .iter()
                .any(|e| e.name == entry.name && e.target == entry.target)
        {
            st.results.insert(entry.name.clone(), (shown, outcome));
        }
    }

    fn file_status(&self, ok: bool) {
        let mut st = self.lock();
        let last_success = match (ok, st.file) {
            (true, _) => SystemTime::now(),
            (false, Some(f)) => f.last_success,
            (false, None) => SystemTime::UNIX_EPOCH,
        };
        st.file = Some(FileStatus { ok, last_success });
    }

    /// The number of probes running now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Adds the prober's metrics to `out`. Takes the lock once, briefly.
    pub fn encode(&self, out: &mut Metrics) {
        let st = self.lock();
        if st.targets.is_empty() && st.file.is_none() {
            return;
        }
        let mut rows: Vec<(&str, &str, &ProbeOutcome)> = st
            .results
            .iter()
            .map(|(name, (shown, o))| (name.as_str(), shown.as_str(), o))
            .collect();
        rows.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let fam = out.gauge(
            "outpost_tcp_probe_success",
            "Whether the latest background TCP probe of the target succeeded.",
        );
        for (name, target, o) in &rows {
            fam.add(
                &[("name", name), ("target", target)],
                f64::from(u8::from(o.success)),
            );
        }
        let fam = out.gauge(
            "outpost_tcp_probe_duration_seconds",
            "How long the latest background probe of the target took, resolution included.",
        );
        for (name, target, o) in &rows {
            fam.add(
                &[("name", name), ("target", target)],
                o.duration.as_secs_f64(),
            );
        }
        let fam = out.gauge(
            "outpost_tcp_probe_dns_lookup_time_seconds",
            "How long resolving the target's name took in its latest probe (0 for IP addresses).",
        );
        for (name, target, o) in &rows {
            fam.add(
                &[("name", name), ("target", target)],
                o.dns_lookup.as_secs_f64(),
            );
        }
        let fam = out.gauge(
            "outpost_tcp_probe_failed_due_to",
            "Present with value 1 while the target's latest probe failed; reason is dns, timeout, refused, unreachable, tls or error.",
        );
        for (name, target, o) in &rows {
            if let Some(r) = o.failure {
                fam.add(
                    &[("name", name), ("target", target), ("reason", r.as_str())],
                    1.0,
                );
            }
        }
        let fam = out.gauge(
            "outpost_tcp_probe_ssl_earliest_cert_expiry",
            "Earliest certificate expiry (Unix seconds) presented by a TLS target in its latest successful probe.",
        );
        for (name, target, o) in &rows {
            if let Some(exp) = o.tls.as_ref().and_then(|t| t.earliest_expiry) {
                fam.add(&[("name", name), ("target", target)], exp as f64);
            }
        }
        out.gauge(
            "outpost_tcp_probe_targets",
            "Number of targets the background prober probes.",
        )
        .add(&[], st.targets.len() as f64);
        out.gauge(
            "outpost_tcp_probe_in_flight",
            "Background probes running right now (at most --probe.concurrency).",
        )
        .add(&[], self.in_flight() as f64);
        if let Some((end, took)) = st.last_round {
            out.gauge(
                "outpost_tcp_probe_last_run_timestamp_seconds",
                "When the last complete round of background probes finished (Unix seconds).",
            )
            .add(&[], unix(end));
            out.gauge(
                "outpost_tcp_probe_last_run_duration_seconds",
                "How long the last complete round of background probes took.",
            )
            .add(&[], took.as_secs_f64());
        }
        if let Some(f) = st.file {
            out.gauge(
                "outpost_tcp_probe_targets_file_ok",
                "Whether the last read of --probe.targets-file succeeded (0: the last good list is kept).",
            )
            .add(&[], f64::from(u8::from(f.ok)));
            out.gauge(
                "outpost_tcp_probe_targets_file_last_reload_success_timestamp_seconds",
                "When --probe.targets-file was last read successfully (Unix seconds).",
            )
            .add(&[], unix(f.last_success));
        }
    }
}

/// Starts the background prober when there is anything to probe. The
/// targets file is read once here, so a missing or broken file at startup
/// is an error rather than an empty list.
pub async fn start(
    board: Arc<Board>,
    prober: Arc<Prober>,
    options: &Options,
) -> Result<Option<JoinHandle<()>>, ListError> {
    targets::check_flags(&options.targets)?;
    let mut file = options.targets_file.clone().map(TargetsFile::new);
    let mut list = options.targets.clone();
    if let Some(f) = &mut file {
        let entries = f.reload_if_changed().await?.unwrap_or_default();
        list = targets::merge(&options.targets, entries, f.path())?;
        board.file_status(true);
    }
    if list.is_empty() && file.is_none() {
        return Ok(None);
    }
    tracing::info!(
        targets = list.len(),
        interval = ?options.interval,
        concurrency = options.concurrency,
        timeout = ?options.timeout,
        "background prober starting"
    );
    board.set_targets(list);
    let round = Round {
        board,
        prober,
        concurrency: options.concurrency.max(1),
        timeout: options.timeout,
    };
    let reload = Reload {
        file,
        flags: options.targets.clone(),
        last_error: None,
    };
    Ok(Some(tokio::spawn(run(round, reload, options.interval))))
}

struct Round {
    board: Arc<Board>,
    prober: Arc<Prober>,
    concurrency: usize,
    timeout: Duration,
}

struct Reload {
    file: Option<TargetsFile>,
    flags: Vec<Entry>,
    last_error: Option<String>,
}

async fn run(round: Round, mut reload: Reload, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        reload.apply(&round.board).await;
        let (count, failed, took) = round.run_once().await;
        tracing::debug!(
            targets = count,
            failed,
            seconds = took.as_secs_f64(),
            "probe round finished"
        );
        if took > interval {
            tracing::warn!(
                seconds = took.as_secs_f64(),
                interval = ?interval,
                "probe round took longer than --probe.interval; raise --probe.concurrency or the interval"
            );
        }
    }
}

impl Reload {
    async fn apply(&mut self, board: &Board) {
        let Some(file) = &mut self.file else { return };
        let result = match file.reload_if_changed().await {
            Ok(None) => return,
            Ok(Some(entries)) => targets::merge(&self.flags, entries, file.path()),
            Err(e) => Err(e),
        };
        match result {
            Ok(list) => {
                tracing::info!(path = %file.path().display(), targets = list.len(), "targets file reloaded");
                board.set_targets(list);
                board.file_status(true);
                self.last_error = None;
            }
            Err(err) => {
                // Read again next time even if the file is not touched: the
                // error may have been in merging, or a transient read error.
                file.forget();
                let msg = err.to_string();
                if self.last_error.as_deref() != Some(&msg) {
                    tracing::error!(error = %msg, "targets file rejected; keeping the last good list");
                }
                self.last_error = Some(msg);
                board.file_status(false);
            }
        }
    }
}

impl Round {
    /// Probes every target once; returns (targets, failures, duration).
    async fn run_once(&self) -> (usize, usize, Duration) {
        let started = Instant::now();
        let list = self.board.targets();
        let limit = Arc::new(Semaphore::new(self.concurrency));
        let mut set = JoinSet::new();
        let mut failed = 0;
        for i in 0..list.len() {
            let permit = Arc::clone(&limit)
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            while let Some(done) = set.try_join_next() {
                failed += usize::from(matches!(done, Ok(false)));
            }
            let (board, prober, list) = (
                Arc::clone(&self.board),
                Arc::clone(&self.prober),
                Arc::clone(&list),
            );
            let timeout = self.timeout;
            board.in_flight.fetch_add(1, Ordering::Relaxed);
            set.spawn(async move {
                let entry = &list[i];
                let outcome = prober.probe(&entry.target, entry.tls, timeout).await;
                let ok = outcome.success;
                board.in_flight.fetch_sub(1, Ordering::Relaxed);
                board.record(&list, entry, outcome);
                drop(permit);
                ok
            });
        }
        while let Some(done) = set.join_next().await {
            failed += usize::from(matches!(done, Ok(false)));
        }
        let took = started.elapsed();
        self.board.lock().last_round = Some((SystemTime::now(), took));
        (list.len(), failed, took)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exporter::probe::Target;

    fn entry(name: &str, target: &str) -> Entry {
        Entry {
            name: name.into(),
            target: Target::parse(target).unwrap(),
            tls: false,
        }
    }

    fn outcome(success: bool) -> ProbeOutcome {
        ProbeOutcome {
            success,
            duration: Duration::from_millis(5),
            dns_lookup: Duration::ZERO,
            ip_protocol: 4,
            failure: (!success).then_some(super::super::FailureReason::Refused),
            tls: None,
        }
    }

    #[test]
    fn board_encodes_latest_results_and_forgets_removed_targets() {
        let board = Board::new();
        board.set_targets(vec![entry("a", "127.0.0.1:1"), entry("b", "127.0.0.1:2")]);
        let list = board.targets();
        board.record(&list, &entry("a", "127.0.0.1:1"), outcome(true));
        board.record(&list, &entry("b", "127.0.0.1:2"), outcome(false));
        let mut m = Metrics::new();
        board.encode(&mut m);
        let success = m.get("outpost_tcp_probe_success").unwrap();
        assert_eq!(success.len(), 2);
        let failed = m.get("outpost_tcp_probe_failed_due_to").unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed.sample(0).label("reason"), Some("refused"));
        assert!(m
            .get("outpost_tcp_probe_last_run_timestamp_seconds")
            .is_none());

        // b now points elsewhere: its old result must not be shown under it.
        board.set_targets(vec![entry("a", "127.0.0.1:1"), entry("b", "127.0.0.1:3")]);
        let mut m = Metrics::new();
        board.encode(&mut m);
        assert_eq!(m.get("outpost_tcp_probe_success").unwrap().len(), 1);
        // A result for a target no longer listed is dropped.
        board.record(&list, &entry("c", "127.0.0.1:4"), outcome(true));
        let mut m = Metrics::new();
        board.encode(&mut m);
        assert_eq!(m.get("outpost_tcp_probe_success").unwrap().len(), 1);
    }

    #[test]
    fn an_idle_board_adds_nothing() {
        let mut m = Metrics::new();
        Board::new().encode(&mut m);
        assert!(m.is_empty());
    }
}
