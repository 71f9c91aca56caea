//! `top`: the processes using the most CPU (over a short sample) and the
//! most memory (resident set), from `/proc/PID/stat`.
//!
//! Decisions:
//! - CPU is measured over [`SAMPLE`] between two reads, like `top`, not
//!   averaged over each process's lifetime: a process that spins now is
//!   what an on-call wants to see. 100% is one core.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::ports::{pids, read_comm};
use crate::exporter::process::parse_stat;

/// Time between the two CPU readings.
pub const SAMPLE: Duration = Duration::from_millis(500);

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

/// pid → (CPU seconds, resident bytes).
fn read_all(procfs: &Path) -> HashMap<u32, (f64, f64)> {
    pids(procfs)
        .into_iter()
        .filter_map(|pid| {
            let text = std::fs::read_to_string(procfs.join(pid.to_string()).join("stat")).ok()?;
            let st = parse_stat(&text, 0.0).ok()?;
            Some((pid, (st.cpu_seconds, st.resident_bytes)))
        })
        .collect()
}

/// Two readings [`SAMPLE`] apart (blocking; run it off the async threads).
pub fn sample(procfs: &Path, count: usize) -> Top {
    let first = read_all(procfs);
    let start = Instant::now();
    std::thread::sleep(SAMPLE);
    let second = read_all(procfs);
    rank(&first, &second, start.elapsed(), count, |pid| {
        read_comm(procfs, pid)
    })
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
}
