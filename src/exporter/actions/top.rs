//! `top`: the processes using the most CPU (over a short sample) and the
//! most memory (resident set), from `/proc/PID/stat`.
//!
//! Decisions:
//! - CPU is measured between two reads, like `top`, not averaged over each
//!   process's lifetime: a process that spins now is what an on-call wants
//!   to see. 100% is one core.
//! - The window is at least [`SAMPLE`] (200 ms: 20 clock ticks of a core
//!   at the kernel's 100 Hz, so 5% steps) and the first read is the
//!   previous request's second read when that is at most [`REUSE_WITHIN`]
//!   old ([`Last`]). A request soon after another answers without waiting
//!   (or waits only what the window lacks); an isolated one waits
//!   [`SAMPLE`]. Nothing samples in the background, so the agent's idle
//!   cost is unchanged; the kept reading is one small map. The reply says
//!   how long the window was (`sample_seconds`). Earlier this was a fixed
//!   0.5 s sleep, which alone missed the 300 ms goal of a `/top` round trip.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::ports::{pids, read_comm};
use crate::exporter::process::parse_stat;

/// The shortest time between the two CPU readings.
pub const SAMPLE: Duration = Duration::from_millis(200);
/// The oldest previous reading a request measures from.
pub const REUSE_WITHIN: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Process {
    pub pid: u32,
    pub comm: String,
    /// Percent of one core over the sample.
    pub cpu_percent: f64,
    pub resident_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Top {
    pub sample_seconds: f64,
    pub by_cpu: Vec<Process>,
    pub by_memory: Vec<Process>,
}

/// One reading of every process.
#[derive(Debug)]
pub struct Reading {
    at: Instant,
    /// pid → (CPU seconds, resident bytes).
    procs: HashMap<u32, (f64, f64)>,
}

impl Reading {
    fn now(procfs: &Path) -> Reading {
        let at = Instant::now();
        let procs = pids(procfs)
            .into_iter()
            .filter_map(|pid| {
                let text =
                    std::fs::read_to_string(procfs.join(pid.to_string()).join("stat")).ok()?;
                let st = parse_stat(&text, 0.0).ok()?;
                Some((pid, (st.cpu_seconds, st.resident_bytes)))
            })
            .collect();
        Reading { at, procs }
    }
}

/// The last request's second reading, kept for the next request.
#[derive(Debug, Default)]
pub struct Last(Mutex<Option<Arc<Reading>>>);

/// Whether a previous reading `age` old is the first read of a new
/// window, and how long to wait before the second read.
pub fn plan(age: Option<Duration>) -> (bool, Duration) {
    match age {
        Some(age) if age <= REUSE_WITHIN => (true, SAMPLE.saturating_sub(age)),
        _ => (false, SAMPLE),
    }
}

/// Two readings at least [`SAMPLE`] apart, the first one `last`'s when it
/// is recent (blocking; run it off the async threads).
pub fn sample(procfs: &Path, count: usize, last: &Last) -> Top {
    let previous = last.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let first = match plan(previous.as_ref().map(|r| r.at.elapsed())) {
        (true, wait) => {
            std::thread::sleep(wait);
            previous.expect("planned from it")
        }
        (false, wait) => {
            let first = Arc::new(Reading::now(procfs));
            std::thread::sleep(wait);
            first
        }
    };
    let second = Arc::new(Reading::now(procfs));
    *last.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&second));
    rank(
        &first.procs,
        &second.procs,
        second.at.duration_since(first.at),
        count,
        |pid| read_comm(procfs, pid),
    )
}

/// The pure ranking of two readings.
pub fn rank(
    first: &HashMap<u32, (f64, f64)>,
    second: &HashMap<u32, (f64, f64)>,
    elapsed: Duration,
    count: usize,
    mut comm: impl FnMut(u32) -> String,
) -> Top {
    let secs = elapsed.as_secs_f64().max(1e-3);
    let mut all: Vec<Process> = second
        .iter()
        .map(|(&pid, &(cpu, rss))| {
            let before = first.get(&pid).map_or(cpu, |&(c, _)| c);
            Process {
                pid,
                comm: String::new(),
                cpu_percent: ((cpu - before).max(0.0) / secs * 1000.0).round() / 10.0,
                resident_bytes: rss as u64,
            }
        })
        .collect();
    let mut by_cpu = all.clone();
    by_cpu.sort_by(|a, b| {
        b.cpu_percent
            .total_cmp(&a.cpu_percent)
            .then(a.pid.cmp(&b.pid))
    });
    by_cpu.truncate(count);
    all.sort_by(|a, b| {
        b.resident_bytes
            .cmp(&a.resident_bytes)
            .then(a.pid.cmp(&b.pid))
    });
    all.truncate(count);
    for p in by_cpu.iter_mut().chain(all.iter_mut()) {
        p.comm = comm(p.pid);
    }
    Top {
        sample_seconds: secs,
        by_cpu,
        by_memory: all,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_by_cpu_delta_and_by_memory() {
        let first = HashMap::from([(1, (10.0, 100.0)), (2, (5.0, 900.0)), (3, (0.0, 50.0))]);
        let second = HashMap::from([
            (1, (10.1, 100.0)),
            (2, (5.0, 900.0)),
            (3, (0.5, 50.0)),
            (4, (0.0, 10.0)),
        ]);
        let t = rank(&first, &second, Duration::from_secs(1), 2, |p| {
            format!("p{p}")
        });
        let cpu: Vec<(u32, f64)> = t.by_cpu.iter().map(|p| (p.pid, p.cpu_percent)).collect();
        assert_eq!(cpu, vec![(3, 50.0), (1, 10.0)]);
        let mem: Vec<u32> = t.by_memory.iter().map(|p| p.pid).collect();
        assert_eq!(mem, vec![2, 1]);
        assert_eq!(t.by_cpu[0].comm, "p3");
    }

    #[test]
    fn a_recent_reading_starts_the_window_and_an_old_one_does_not() {
        assert_eq!(plan(None), (false, SAMPLE));
        assert_eq!(
            plan(Some(Duration::from_millis(50))),
            (true, Duration::from_millis(150))
        );
        assert_eq!(plan(Some(SAMPLE)), (true, Duration::ZERO));
        assert_eq!(plan(Some(REUSE_WITHIN)), (true, Duration::ZERO));
        assert_eq!(
            plan(Some(REUSE_WITHIN + Duration::from_millis(1))),
            (false, SAMPLE)
        );
    }
}
