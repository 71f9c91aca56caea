//! `kernel_hung`: `node_kernel_hung_tasks_total`, the tasks the kernel's
//! hung-task detector has reported since boot, from
//! `/proc/sys/kernel/hung_task_detect_count` (node_exporter 1.12; the file
//! exists with `CONFIG_DETECT_HUNG_TASK` on Linux ≥ 6.12). Without the file
//! the collector exports nothing and is no error.

use crate::exporter::collector::{read_or_no_data, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

pub fn parse(text: &str) -> Result<u64, CollectError> {
    text.trim().parse().map_err(|_| {
        CollectError::parse(
            "/proc/sys/kernel/hung_task_detect_count",
            format!("expected an unsigned integer, got {text:?}"),
        )
    })
}

pub struct KernelHung {
    paths: Paths,
}

impl KernelHung {
    pub fn new(paths: Paths) -> Self {
        KernelHung { paths }
    }
}

impl Collector for KernelHung {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let path = self.paths.proc("sys/kernel/hung_task_detect_count");
        let text = read_or_no_data(&path, "/proc/sys/kernel/hung_task_detect_count")?;
        let count = parse(&text)?;
        out.counter(
            "node_kernel_hung_tasks_total",
            "Total number of tasks that have been detected as hung since the system booted.",
        )
        .add(&[], count as f64);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_one_count() {
        assert_eq!(super::parse("3\n").unwrap(), 3);
        assert!(super::parse("3\nmalformed line\n").is_err());
        assert!(super::parse("-1\n").is_err());
    }
}
