//! The exporter's own `process_*` metrics, read from `/proc/self` the way
//! Prometheus client libraries report them.

use super::collector::{read, CollectError};
use super::metrics::Metrics;
use std::path::Path;

/// Page size and clock ticks for Linux on every ABI we build for.
const PAGE_SIZE: f64 = 4096.0;
const USER_HZ: f64 = 100.0;

#[derive(Debug, Default, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: f64,
    pub start_time: f64,
    pub virtual_bytes: f64,
    pub resident_bytes: f64,
    pub open_fds: f64,
    pub max_fds: f64,
}

/// Parses `/proc/self/stat`: utime, stime, starttime (ticks after boot),
/// vsize and rss (pages). The command name may contain spaces, so fields are
/// counted after its closing parenthesis.
pub fn parse_stat(text: &str, boot_time: f64) -> Result<ProcessStats, CollectError> {
    let after = text
        .rfind(')')
        .map(|i| &text[i + 1..])
        .ok_or_else(|| CollectError::parse("/proc/self/stat", "no command field"))?;
    let f: Vec<&str> = after.split_whitespace().collect();
    let num = |i: usize| -> Result<f64, CollectError> {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| CollectError::parse("/proc/self/stat", format!("field {i}")))
    };
    // Indices relative to the field after `(comm)`: state is 0.
    Ok(ProcessStats {
        cpu_seconds: (num(11)? + num(12)?) / USER_HZ,
        start_time: boot_time + num(19)? / USER_HZ,
        virtual_bytes: num(20)?,
        resident_bytes: num(21)? * PAGE_SIZE,
        ..Default::default()
    })
}

fn parse_max_fds(limits: &str) -> Option<f64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let v = line["Max open files".len()..].split_whitespace().next()?;
    if v == "unlimited" {
        Some(f64::INFINITY)
    } else {
        v.parse().ok()
    }
}

/// The number of open descriptors listed in `dir` (`/proc/self/fd`).
///
/// Since Linux 6.2 procfs reports that number as the directory's size, so
/// one `stat` replaces listing every descriptor (the exporter keeps about a
/// hundred kernel files open, and listing them cost more than reading
/// most collectors' files). Older kernels report 0 and fixture trees are
/// not procfs: those are listed.
pub fn open_fds(dir: &Path) -> f64 {
    use nix::sys::statfs::{statfs, PROC_SUPER_MAGIC};
    let on_procfs = statfs(dir).is_ok_and(|s| s.filesystem_type() == PROC_SUPER_MAGIC);
    if on_procfs {
        if let Ok(m) = std::fs::metadata(dir) {
            if m.len() > 0 {
                return m.len() as f64;
            }
        }
    }
    std::fs::read_dir(dir)
        .map(|d| d.count() as f64)
        .unwrap_or(0.0)
}

/// Reads this process's stats below `procfs`.
pub fn read_self(procfs: &Path, boot_time: f64) -> Result<ProcessStats, CollectError> {
    let me = procfs.join("self");
    let mut st = parse_stat(&read(&me.join("stat"))?, boot_time)?;
    st.open_fds = open_fds(&me.join("fd"));
    st.max_fds = read(&me.join("limits"))
        .ok()
        .and_then(|l| parse_max_fds(&l))
        .unwrap_or(0.0);
    Ok(st)
}

pub fn encode(st: &ProcessStats, out: &mut Metrics) {
    out.counter(
        "process_cpu_seconds_total",
        "Total user and system CPU time spent in seconds.",
    )
    .add(&[], st.cpu_seconds);
    out.gauge(
        "process_max_fds",
        "Maximum number of open file descriptors.",
    )
    .add(&[], st.max_fds);
    out.gauge("process_open_fds", "Number of open file descriptors.")
        .add(&[], st.open_fds);
    out.gauge(
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
    )
    .add(&[], st.resident_bytes);
    out.gauge(
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
    )
    .add(&[], st.start_time);
    out.gauge(
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes.",
    )
    .add(&[], st.virtual_bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_the_name() {
        let text = "1234 (my (odd) proc) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1000 123456789 500 18446744073709551615";
        let st = parse_stat(text, 1_700_000_000.0).unwrap();
        assert_eq!(st.cpu_seconds, 3.0);
        assert_eq!(st.start_time, 1_700_000_010.0);
        assert_eq!(st.virtual_bytes, 123456789.0);
        assert_eq!(st.resident_bytes, 500.0 * 4096.0);
        assert!(parse_stat("garbage", 0.0).is_err());
    }

    #[test]
    fn open_fds_counts_this_process_descriptors() {
        // Held open across the count, so the process has more than the
        // three standard descriptors whatever other tests do meanwhile.
        let _files: Vec<std::fs::File> = (0..5)
            .map(|_| std::fs::File::open("/proc/self/stat").unwrap())
            .collect();
        let fd = Path::new("/proc/self/fd");
        let counted = open_fds(fd);
        let listed = std::fs::read_dir(fd).unwrap().count() as f64;
        assert!(counted >= 8.0, "{counted}");
        // Tests running beside this one open and close files between the
        // two counts; listing also holds one descriptor of its own.
        assert!((counted - listed).abs() <= 4.0, "{counted} vs {listed}");
        // A fixture directory is counted by listing, not by its size.
        let dir = tempfile::tempdir().unwrap();
        for i in 0..3 {
            std::fs::write(dir.path().join(i.to_string()), "").unwrap();
        }
        assert_eq!(open_fds(dir.path()), 3.0);
    }

    #[test]
    fn max_fds_from_limits() {
        let l = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n";
        assert_eq!(parse_max_fds(l), Some(1024.0));
    }
}
