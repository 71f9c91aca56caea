//! `cpufreq`: CPU frequencies and scaling governors from
//! `/sys/devices/system/cpu/cpuN/cpufreq/` (`node_cpu_frequency_hertz`,
//! `node_cpu_frequency_{min,max}_hertz`, `node_cpu_scaling_frequency_*`,
//! and node_exporter 1.12's `node_cpu_scaling_governor{cpu,governor}`, 1 for
//! the governor in use and 0 for each other available one).
//!
//! Decisions, node_exporter's: the kernel's kHz become Hz; an attribute
//! that is absent or unreadable (`cpuinfo_cur_freq` is root's only) is left
//! out, one that is not a number fails the collector; a host whose CPUs
//! have no `cpufreq` directory (most VMs) reports no data.

use std::path::Path;

use crate::exporter::collector::{numbered_entries, read_attr, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

/// Frequency attributes: sysfs file, metric, help.
const FREQUENCIES: [(&str, &str, &str); 6] = [
    (
        "cpuinfo_cur_freq",
        "node_cpu_frequency_hertz",
        "Current cpu thread frequency in hertz.",
    ),
    (
        "cpuinfo_min_freq",
        "node_cpu_frequency_min_hertz",
        "Minimum cpu thread frequency in hertz.",
    ),
    (
        "cpuinfo_max_freq",
        "node_cpu_frequency_max_hertz",
        "Maximum cpu thread frequency in hertz.",
    ),
    (
        "scaling_cur_freq",
        "node_cpu_scaling_frequency_hertz",
        "Current scaled CPU thread frequency in hertz.",
    ),
    (
        "scaling_min_freq",
        "node_cpu_scaling_frequency_min_hertz",
        "Minimum scaled CPU thread frequency in hertz.",
    ),
    (
        "scaling_max_freq",
        "node_cpu_scaling_frequency_max_hertz",
        "Maximum scaled CPU thread frequency in hertz.",
    ),
];

/// One CPU's cpufreq state.
#[derive(Debug, PartialEq)]
pub struct CpuFreq {
    pub cpu: String,
    /// Hz, in [`FREQUENCIES`] order; `None` where unreadable.
    pub hertz: [Option<f64>; 6],
    pub governor: String,
    pub available_governors: String,
}

pub fn read_cpu(dir: &Path, cpu: &str) -> Result<CpuFreq, CollectError> {
    let mut hertz = [None; 6];
    for (slot, (file, _, _)) in hertz.iter_mut().zip(FREQUENCIES) {
        let path = dir.join(file);
        let Some(text) = read_attr(&path) else {
            continue;
        };
        let khz: u64 = text.parse().map_err(|_| {
            CollectError::parse(
                path.display().to_string(),
                format!("expected kHz, got {text:?}"),
            )
        })?;
        *slot = Some(khz as f64 * 1000.0);
    }
    Ok(CpuFreq {
        cpu: cpu.to_owned(),
        hertz,
        governor: read_attr(&dir.join("scaling_governor")).unwrap_or_default(),
        available_governors: read_attr(&dir.join("scaling_available_governors"))
            .unwrap_or_default(),
    })
}

pub struct Cpufreq {
    paths: Paths,
}

impl Cpufreq {
    pub fn new(paths: Paths) -> Self {
        Cpufreq { paths }
    }
}

impl Collector for Cpufreq {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let cpus = numbered_entries(&self.paths.sys("devices/system/cpu"), "cpu")
            .into_iter()
            .map(|(n, dir)| (n, dir.join("cpufreq")))
            .filter(|(_, dir)| crate::exporter::openfiles::is_dir(dir))
            .map(|(n, dir)| read_cpu(&dir, &n))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, (_, name, help)) in FREQUENCIES.iter().enumerate() {
            if cpus.iter().all(|c| c.hertz[i].is_none()) {
                continue;
            }
            let f = out.gauge(*name, *help);
            for c in &cpus {
                if let Some(v) = c.hertz[i] {
                    f.add(&[("cpu", &c.cpu)], v);
                }
            }
        }
        if cpus.iter().any(|c| !c.governor.is_empty()) {
            let f = out.gauge(
                "node_cpu_scaling_governor",
                "Current enabled CPU frequency governor.",
            );
            for c in cpus.iter().filter(|c| !c.governor.is_empty()) {
                for g in c.available_governors.split(' ') {
                    let on = if g == c.governor { 1.0 } else { 0.0 };
                    f.add(&[("cpu", &c.cpu), ("governor", g)], on);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_khz_as_hertz_and_the_governor() {
        let dir = tempfile::tempdir().unwrap();
        for (f, v) in [
            ("scaling_cur_freq", "3412871"),
            ("cpuinfo_max_freq", "4700000"),
            ("scaling_governor", "powersave"),
            ("scaling_available_governors", "performance powersave"),
        ] {
            std::fs::write(dir.path().join(f), format!("{v}\n")).unwrap();
        }
        let c = read_cpu(dir.path(), "3").unwrap();
        assert_eq!(
            c.hertz,
            [None, None, Some(4.7e9), Some(3_412_871_000.0), None, None]
        );
        assert_eq!(c.governor, "powersave");
        std::fs::write(dir.path().join("scaling_min_freq"), "slow\n").unwrap();
        // As at the start of a scrape: the file seen missing is there now.
        crate::exporter::dirwatch::sync();
        let e = read_cpu(dir.path(), "3").unwrap_err().to_string();
        assert!(e.contains("scaling_min_freq"), "{e}");
    }
}
