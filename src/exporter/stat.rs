//! `stat`: boot time, context switches, interrupts, forks and process
//! states from `/proc/stat`.

use super::collector::{read, CollectError, Collector, Paths};
use super::metrics::Metrics;

pub struct Stat {
    paths: Paths,
}

impl Stat {
    pub fn new(paths: Paths) -> Self {
        Stat { paths }
    }
}

#[derive(Debug, Default, PartialEq)]
pub struct KernelStat {
    pub boot_time: f64,
    pub context_switches: f64,
    pub interrupts: f64,
    pub forks: f64,
    pub procs_running: f64,
    pub procs_blocked: f64,
}

pub fn parse(text: &str) -> Result<KernelStat, CollectError> {
    let mut st = KernelStat::default();
    let mut seen = 0u8;
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let key = parts.next().unwrap_or("");
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
        let st = parse(&read(&self.paths.proc("stat"))?)?;
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
                procs_blocked: 1.0
            }
        );
        assert!(parse("btime x\n").is_err());
        assert!(parse("cpu 1 2 3\n").is_err());
    }
}
