//! `cpu_benchmark`: how long a fixed small single-thread workload takes on
//! this host, run on its own thread at most once per
//! `--collector.cpu_benchmark.interval` (default 1m; off by default).
//!
//! A VPS whose provider throttles it or oversells its cores gets slower at
//! the same work, whether or not the hypervisor reports steal; the alert
//! rule compares each host with its own 7-day median (`generate::rules`).
//!
//! Decisions:
//! - The duration is wall-clock time: time the vCPU was not running us
//!   (steal, throttling) is what we want to see, and thread CPU time would
//!   hide it.
//! - The workload ([`workload`]) is integer arithmetic and table updates in
//!   16 KiB (L1 cache), so it measures the core, not memory or the disk,
//!   and takes a few milliseconds; its result is checked, so the compiler
//!   cannot drop it.
//! - Never during a scrape: the run holds the registry's [`ScrapeGate`]
//!   exclusively, so it waits for a scrape in progress and a scrape that
//!   starts meanwhile waits (a few milliseconds) for it.
//! - An interval below [`MIN_INTERVAL`] is not a startup error: the flag
//!   belongs to one opt-in collector, and refusing to start would take all
//!   of the host's metrics away for it. The collector does not run, logs
//!   why once at startup, and every scrape reports it with
//!   `node_scrape_collector_success{collector="cpu_benchmark"} 0` and the
//!   same line, where Prometheus users look for a broken collector.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use super::collector::{CollectError, Collector, ScrapeGate};
use super::metrics::Metrics;

/// The shortest interval allowed.
pub const MIN_INTERVAL: Duration = Duration::from_secs(10);
/// The default interval.
pub const DEFAULT_INTERVAL: &str = "1m";
/// How long after startup the first run happens.
const FIRST_RUN: Duration = Duration::from_secs(1);
const ROUNDS: u32 = 1 << 21;

/// The fixed workload; returns a checksum that depends on every step.
pub fn workload() -> u64 {
    let mut table = [0u32; 4096];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..ROUNDS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let slot = (x >> 52) as usize;
        table[slot] = table[slot].rotate_left(5) ^ (x as u32).wrapping_add(i);
    }
    table
        .iter()
        .fold(x, |acc, &v| acc.rotate_left(7) ^ u64::from(v))
}

/// The checksum [`workload`] must return: a run that differs was not the
/// same work.
pub const CHECKSUM: u64 = 1_689_888_369_268_202_169;

#[derive(Debug, Default, Clone, Copy)]
struct Last {
    runs: u64,
    seconds: f64,
    at: f64,
}

struct Shared {
    last: Mutex<Last>,
}

/// The `cpu_benchmark` collector.
pub struct CpuBenchmark {
    shared: Arc<Shared>,
    /// Why it does not run, when it does not.
    refused: Option<String>,
}

impl CpuBenchmark {
    /// Starts the benchmark thread (unless `interval` is too short).
    pub fn new(interval: Duration, gate: Arc<ScrapeGate>) -> Self {
        let shared = Arc::new(Shared {
            last: Mutex::default(),
        });
        if interval < MIN_INTERVAL {
            let why = format!(
                "--collector.cpu_benchmark.interval {interval:?} is below the minimum of {MIN_INTERVAL:?}; the CPU benchmark does not run"
            );
            tracing::warn!("{why}");
            return CpuBenchmark {
                shared,
                refused: Some(why),
            };
        }
        let weak = Arc::downgrade(&shared);
        let started = std::thread::Builder::new()
            .name("cpu-benchmark".into())
            .spawn(move || run(weak, interval, gate));
        let refused = started
            .err()
            .map(|e| format!("cannot start the CPU benchmark thread: {e}"));
        CpuBenchmark { shared, refused }
    }
}

/// Runs the workload every `interval` until the collector is dropped.
fn run(shared: Weak<Shared>, interval: Duration, gate: Arc<ScrapeGate>) {
    std::thread::sleep(FIRST_RUN);
    loop {
        let Some(s) = shared.upgrade() else {
            return;
        };
        let (took, sum) = {
            let _no_scrape = gate.exclusive();
            let start = Instant::now();
            let sum = std::hint::black_box(workload());
            (start.elapsed(), sum)
        };
        if sum != CHECKSUM {
            tracing::error!(sum, "CPU benchmark computed a wrong result");
        } else {
            let mut last = s.last.lock().unwrap_or_else(|p| p.into_inner());
            last.runs += 1;
            last.seconds = took.as_secs_f64();
            last.at = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
        }
        drop(s);
        std::thread::sleep(interval);
    }
}

impl Collector for CpuBenchmark {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        if let Some(why) = &self.refused {
            return Err(CollectError::Other(why.clone()));
        }
        let last = *self.shared.last.lock().unwrap_or_else(|p| p.into_inner());
        out.counter(
            "outpost_cpu_benchmark_runs_total",
            "Runs of the fixed CPU benchmark workload.",
        )
        .add(&[], last.runs as f64);
        if last.runs > 0 {
            out.gauge(
                "outpost_cpu_benchmark_duration_seconds",
                "Wall-clock time the last run of the fixed single-thread CPU workload took.",
            )
            .add(&[], last.seconds);
            out.gauge(
                "outpost_cpu_benchmark_last_run_timestamp_seconds",
                "When the last CPU benchmark run finished, in seconds since the epoch.",
            )
            .add(&[], last.at);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exporter::collector::tests_support::wait_until;

    #[test]
    fn the_workload_is_fixed() {
        assert_eq!(workload(), CHECKSUM);
    }

    #[test]
    fn an_interval_below_the_minimum_fails_the_collector_with_a_reason() {
        let c = CpuBenchmark::new(Duration::from_secs(5), Arc::default());
        let err = c.update(&mut Metrics::new()).unwrap_err().to_string();
        assert!(err.contains("below the minimum of 10s"), "{err}");
    }

    #[test]
    fn runs_once_soon_after_start_and_waits_for_a_scrape_in_progress() {
        let gate: Arc<ScrapeGate> = Arc::default();
        let scrape = gate.shared();
        let c = CpuBenchmark::new(MIN_INTERVAL, gate.clone());
        // While a scrape holds the gate the benchmark cannot run.
        std::thread::sleep(FIRST_RUN + Duration::from_millis(500));
        let mut m = Metrics::new();
        c.update(&mut m).unwrap();
        assert_eq!(
            m.get("outpost_cpu_benchmark_runs_total")
                .unwrap()
                .sample(0)
                .value,
            0.0
        );
        assert!(m.get("outpost_cpu_benchmark_duration_seconds").is_none());
        drop(scrape);
        assert!(wait_until(Duration::from_secs(30), || {
            let mut m = Metrics::new();
            c.update(&mut m).unwrap();
            m.get("outpost_cpu_benchmark_duration_seconds")
                .is_some_and(|f| f.sample(0).value > 0.0)
        }));
        let mut m = Metrics::new();
        c.update(&mut m).unwrap();
        assert_eq!(
            m.get("outpost_cpu_benchmark_runs_total")
                .unwrap()
                .sample(0)
                .value,
            1.0
        );
    }
}
