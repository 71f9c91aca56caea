//! `stat`: boot time, context switches, interrupts, forks and process
//! states from `/proc/stat`; with `--collector.stat.softirq`, softirqs per
//! vector (`node_softirqs_total{vector}`) from its `softirq` line.

use crate::exporter::collector::{read_shared, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

pub struct Stat {
    paths: Paths,
    softirq: bool,
}

impl Stat {
    pub fn new(paths: Paths, softirq: bool) -> Self {
        Stat { paths, softirq }
    }
}

/// The softirq vectors, in the kernel's column order (`softirq_to_name`).
pub const SOFTIRQ_VECTORS: [&str; 10] = [
    "hi",
    "timer",
    "net_tx",
    "net_rx",
    "block",
    "block_iopoll",
    "tasklet",
    "sched",
    "hrtimer",
    "rcu",
];

#[derive(Debug, Default, PartialEq)]
pub struct KernelStat {
    pub boot_time: f64,
    pub context_switches: f64,
    pub interrupts: f64,
    pub forks: f64,
    pub procs_running: f64,
    pub procs_blocked: f64,
    /// Per vector, in [`SOFTIRQ_VECTORS`] order, where the line is present.
    pub softirqs: Option<[f64; 10]>,
}

pub fn parse(text: &str) -> Result<KernelStat, CollectError> {
    let mut st = KernelStat::default();
    let mut seen = 0u8;
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let key = parts.next().unwrap_or("");
        if key == "softirq" {
            // The total, then one column per vector.
            let cols: Vec<f64> = parts
                .skip(1)
                .map(|v| v.parse::<u64>().map(|v| v as f64))
                .collect::<Result<_, _>>()
                .map_err(|_| CollectError::parse("/proc/stat", "malformed softirq line"))?;
            let mut v = [0.0; 10];
            if cols.len() < v.len() {
                return Err(CollectError::parse("/proc/stat", "short softirq line"));
            }
            v.copy_from_slice(&cols[..10]);
            st.softirqs = Some(v);
            continue;
        }
        let slot = match key {
            "btime" => &mut st.boot_time,
            "ctxt" => &mut st.context_switches,
            "intr" => &mut st.interrupts,
            "processes" => &mut st.forks,
            "procs_running" => &mut st.procs_running,
            "procs_blocked" => &mut st.procs_blocked,
            _ => continue,
        };
        *slot = parts
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| CollectError::parse("/proc/stat", format!("malformed {key} line")))?;
        seen += 1;
    }
    if seen < 6 {
        return Err(CollectError::parse(
            "/proc/stat",
            "missing btime/ctxt/intr/processes/procs lines",
        ));
    }
    Ok(st)
}

impl Collector for Stat {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let st = parse(&read_shared(&self.paths.proc("stat"))?)?;
        if let (true, Some(v)) = (self.softirq, &st.softirqs) {
            let f = out.counter("node_softirqs_total", "Number of softirq calls.");
            for (vector, n) in SOFTIRQ_VECTORS.iter().zip(v) {
                f.add(&[("vector", vector)], *n);
            }
        }
        out.gauge("node_boot_time_seconds", "Node boot time, in unixtime.")
            .add(&[], st.boot_time);
        out.counter(
            "node_context_switches_total",
            "Total number of context switches.",
        )
        .add(&[], st.context_switches);
        out.counter("node_intr_total", "Total number of interrupts serviced.")
            .add(&[], st.interrupts);
        out.counter("node_forks_total", "Total number of forks.")
            .add(&[], st.forks);
        out.gauge(
            "node_procs_running",
            "Number of processes in runnable state.",
        )
        .add(&[], st.procs_running);
        out.gauge(
            "node_procs_blocked",
            "Number of processes blocked waiting for I/O to complete.",
        )
        .add(&[], st.procs_blocked);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kernel_counters() {
        let text = "cpu  1 2 3 4 5 6 7 8 9 10\nintr 9876 1 2 3\nctxt 555\nbtime 1700000000\nprocesses 42\nprocs_running 3\nprocs_blocked 1\n";
        let st = parse(text).unwrap();
        assert_eq!(
            st,
            KernelStat {
                boot_time: 1.7e9,
                context_switches: 555.0,
                interrupts: 9876.0,
                forks: 42.0,
                procs_running: 3.0,
                procs_blocked: 1.0,
                softirqs: None,
            }
        );
        assert!(parse("btime x\n").is_err());
        assert!(parse("cpu 1 2 3\n").is_err());
    }

    #[test]
    fn softirqs_per_vector() {
        let text = "btime 1\nctxt 1\nintr 1\nprocesses 1\nprocs_running 1\nprocs_blocked 1\nsoftirq 55 0 10 1 20 3 0 4 7 0 10\n";
        let st = parse(text).unwrap();
        assert_eq!(
            st.softirqs,
            Some([0.0, 10.0, 1.0, 20.0, 3.0, 0.0, 4.0, 7.0, 0.0, 10.0])
        );
        assert!(parse(&text.replace("softirq 55 0 10", "softirq 55 0")).is_err());
        assert!(parse(&text.replace("0 10\n", "0 x\n")).is_err());
        let mut m = Metrics::new();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("stat"), text).unwrap();
        let paths = Paths {
            procfs: dir.path().into(),
            sysfs: dir.path().into(),
            rootfs: dir.path().into(),
            udev_data: None,
        };
        Stat::new(paths.clone(), false).update(&mut m).unwrap();
        assert!(m.get("node_softirqs_total").is_none());
        Stat::new(paths, true).update(&mut m).unwrap();
        let f = m.get("node_softirqs_total").unwrap();
        assert_eq!(f.len(), 10);
        assert_eq!(f.sample(3).label("vector"), Some("net_rx"));
        assert_eq!(f.sample(3).value, 20.0);
    }
}
