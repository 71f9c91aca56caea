//! `cpu`: seconds spent per CPU and mode (`node_cpu_seconds_total`), guest
//! time (`node_cpu_guest_seconds_total`), and thermal throttle counters where
//! sysfs has them.
//!
//! As in node_exporter, `user` and `nice` are the kernel's figures, which
//! include guest time; guest time is also exported on its own
//! (`node_cpu_guest_seconds_total`), so it is not subtracted: on a
//! hypervisor that would hide the guests' whole load from `user`.
//!
//! `node_cpu_isolated{cpu}` (node_exporter 1.12) is 1 for each CPU listed in
//! `/sys/devices/system/cpu/isolated`; like node_exporter, the list is read
//! once, when the collector is made (it changes only with a reboot).
//!
//! With `--collector.cpu.info`, `/proc/cpuinfo` gives `node_cpu_info` per
//! logical CPU, and `--collector.cpu.info.{flags,bugs}-include` (either of
//! which turns the info on, as in node_exporter) `node_cpu_flag_info` /
//! `node_cpu_bug_info` for the first CPU's matching flags and bugs.

use crate::exporter::collector::{read, read_attr, read_shared, CollectError, Collector, Paths};
use crate::exporter::matcher::Matcher;
use crate::exporter::metrics::Metrics;

/// Kernel clock ticks per second (`USER_HZ`): 100 on every Linux ABI.
const USER_HZ: f64 = 100.0;

const MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

/// `--collector.cpu.info` and its filters.
#[derive(Clone, Debug, Default)]
pub struct InfoOptions {
    pub enabled: bool,
    pub flags_include: Option<Matcher>,
    pub bugs_include: Option<Matcher>,
}

pub struct Cpu {
    paths: Paths,
    info: InfoOptions,
    /// `--collector.cpu.guest`: export `node_cpu_guest_seconds_total`.
    guest: bool,
    /// The isolated CPUs' numbers, or why the list could not be parsed.
    isolated: Result<Vec<String>, String>,
}

impl Cpu {
    pub fn new(paths: Paths, mut info: InfoOptions, guest: bool) -> Self {
        info.enabled |= info.flags_include.is_some() || info.bugs_include.is_some();
        let isolated = match read_attr(&paths.sys("devices/system/cpu/isolated")) {
            None => Ok(Vec::new()),
            Some(list) => parse_cpu_list(&list)
                .map(|cpus| cpus.iter().map(u32::to_string).collect())
                .ok_or_else(|| format!("bad CPU list {list:?}")),
        };
        Cpu {
            paths,
            info,
            guest,
            isolated,
        }
    }
}

/// One logical CPU of `/proc/cpuinfo`: `node_cpu_info`'s labels, flags, bugs.
#[derive(Debug, Default, PartialEq)]
pub struct CpuInfo {
    pub labels: [String; 10],
    pub flags: Vec<String>,
    pub bugs: Vec<String>,
}

/// `node_cpu_info`'s labels and the `/proc/cpuinfo` keys they come from.
const INFO_LABELS: [(&str, &str); 10] = [
    ("package", "physical id"),
    ("core", "core id"),
    ("cpu", "processor"),
    ("vendor", "vendor_id"),
    ("family", "cpu family"),
    ("model", "model"),
    ("model_name", "model name"),
    ("microcode", "microcode"),
    ("stepping", "stepping"),
    ("cachesize", "cache size"),
];

/// Parses `/proc/cpuinfo` (x86 layout: one `key\t: value` block per CPU).
pub fn parse_cpuinfo(text: &str) -> Result<Vec<CpuInfo>, CollectError> {
    let mut cpus = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut cpu = CpuInfo::default();
        let mut seen_processor = false;
        for line in block.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            if let Some(i) = INFO_LABELS.iter().position(|(_, k)| *k == key) {
                cpu.labels[i] = value.to_owned();
                seen_processor |= key == "processor";
            }
            match key {
                "flags" => cpu.flags = value.split_whitespace().map(str::to_owned).collect(),
                "bugs" => cpu.bugs = value.split_whitespace().map(str::to_owned).collect(),
                _ => {}
            }
        }
        if !seen_processor || cpu.labels[2].parse::<u32>().is_err() {
            return Err(CollectError::parse(
                "/proc/cpuinfo",
                format!(
                    "a CPU block without a processor number: {:?}",
                    block.lines().next()
                ),
            ));
        }
        cpus.push(cpu);
    }
    Ok(cpus)
}

/// Parses the kernel's CPU list format (`0-2,5`; empty for none).
pub fn parse_cpu_list(text: &str) -> Option<Vec<u32>> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if a > b {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}

#[derive(Debug, PartialEq)]
pub struct CpuTimes {
    pub cpu: String,
    /// Seconds in the order of [`MODES`].
    pub modes: [f64; 8],
    pub guest: f64,
    pub guest_nice: f64,
}

/// Parses the per-CPU `cpuN` lines of `/proc/stat` into seconds.
pub fn parse(text: &str) -> Result<Vec<CpuTimes>, CollectError> {
    let mut cpus = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("cpu") else {
            continue;
        };
        if rest.starts_with(' ') {
            continue; // the aggregate line
        }
        let mut parts = rest.split_whitespace();
        let id = parts.next().unwrap_or("");
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CollectError::parse(
                "/proc/stat",
                format!("bad cpu line {line:?}"),
            ));
        }
        let vals: Vec<f64> = parts
            .map(|v| v.parse::<f64>().map(|t| t / USER_HZ))
            .collect::<Result<_, _>>()
            .map_err(|_| CollectError::parse("/proc/stat", format!("bad cpu line {line:?}")))?;
        if vals.len() < 8 {
            return Err(CollectError::parse(
                "/proc/stat",
                format!("short cpu line {line:?}"),
            ));
        }
        let guest = vals.get(8).copied().unwrap_or(0.0);
        let guest_nice = vals.get(9).copied().unwrap_or(0.0);
        let mut modes = [0.0; 8];
        modes.copy_from_slice(&vals[..8]);
        cpus.push(CpuTimes {
            cpu: id.to_owned(),
            modes,
            guest,
            guest_nice,
        });
    }
    if cpus.is_empty() {
        return Err(CollectError::parse("/proc/stat", "no per-CPU lines"));
    }
    Ok(cpus)
}

impl Collector for Cpu {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let cpus = parse(&read_shared(&self.paths.proc("stat"))?)?;
        // Throttle counters are optional: absent on VMs and most ARM boards.
        let mut core_throttles = Vec::new();
        let mut package_throttles = std::collections::BTreeMap::new();
        for c in &cpus {
            let base = self.paths.sys(&format!("devices/system/cpu/cpu{}", c.cpu));
            let Some(core) = read_attr(&base.join("thermal_throttle/core_throttle_count")) else {
                continue;
            };
            let core_id = read_attr(&base.join("topology/core_id")).unwrap_or_default();
            let pkg = read_attr(&base.join("topology/physical_package_id")).unwrap_or_default();
            if let Ok(v) = core.parse::<f64>() {
                core_throttles.push((pkg.clone(), core_id, v));
            }
            if let Some(v) = read_attr(&base.join("thermal_throttle/package_throttle_count"))
                .and_then(|v| v.parse::<f64>().ok())
            {
                package_throttles.insert(pkg, v);
            }
        }

        let cpuinfo = if self.info.enabled {
            parse_cpuinfo(&read(&self.paths.proc("cpuinfo"))?)?
        } else {
            Vec::new()
        };
        let isolated = self.isolated.as_ref().map_err(|reason| {
            CollectError::parse("/sys/devices/system/cpu/isolated", reason.clone())
        })?;

        let secs = out.counter(
            "node_cpu_seconds_total",
            "Seconds the CPUs spent in each mode.",
        );
        for c in &cpus {
            for (mode, v) in MODES.iter().zip(c.modes) {
                secs.add(&[("cpu", &c.cpu), ("mode", mode)], v);
            }
        }
        if self.guest {
            let guest = out.counter(
                "node_cpu_guest_seconds_total",
                "Seconds the CPUs spent in guests (VMs) for each mode.",
            );
            for c in &cpus {
                guest.add(&[("cpu", &c.cpu), ("mode", "user")], c.guest);
                guest.add(&[("cpu", &c.cpu), ("mode", "nice")], c.guest_nice);
            }
        }
        if !cpuinfo.is_empty() {
            let f = out.gauge("node_cpu_info", "CPU information from /proc/cpuinfo.");
            for c in &cpuinfo {
                let labels: Vec<(&'static str, &str)> = INFO_LABELS
                    .iter()
                    .zip(&c.labels)
                    .map(|((label, _), v)| (*label, v.as_str()))
                    .collect();
                f.add(&labels, 1.0);
            }
            let first = &cpuinfo[0];
            for (values, filter, name, label, help) in [
                (
                    &first.flags,
                    &self.info.flags_include,
                    "node_cpu_flag_info",
                    "flag",
                    "The `flags` field of CPU information from /proc/cpuinfo taken from the first core.",
                ),
                (
                    &first.bugs,
                    &self.info.bugs_include,
                    "node_cpu_bug_info",
                    "bug",
                    "The `bugs` field of CPU information from /proc/cpuinfo taken from the first core.",
                ),
            ] {
                let Some(filter) = filter else { continue };
                let matching: Vec<&String> = values.iter().filter(|v| filter.is_match(v)).collect();
                if matching.is_empty() {
                    continue;
                }
                let f = out.gauge(name, help);
                for v in matching {
                    f.add(&[(label, v)], 1.0);
                }
            }
        }
        if !isolated.is_empty() {
            let f = out.gauge(
                "node_cpu_isolated",
                "Whether each core is isolated, information from /sys/devices/system/cpu/isolated.",
            );
            for cpu in isolated {
                f.add(&[("cpu", cpu)], 1.0);
            }
        }
        if !core_throttles.is_empty() {
            let f = out.counter(
                "node_cpu_core_throttles_total",
                "Number of times this CPU core has been throttled.",
            );
            let mut seen = std::collections::HashSet::new();
            for (pkg, core, v) in core_throttles {
                if seen.insert((pkg.clone(), core.clone())) {
                    f.add(&[("package", &pkg), ("core", &core)], v);
                }
            }
            let f = out.counter(
                "node_cpu_package_throttles_total",
                "Number of times this CPU package has been throttled.",
            );
            for (pkg, v) in package_throttles {
                f.add(&[("package", &pkg)], v);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_nice_keep_guest_time() {
        let text =
            "cpu  10 10 10 10 10 10 10 10 10 10\ncpu0 500 200 100 1000 5 1 2 3 100 50\nintr 1\n";
        let cpus = parse(text).unwrap();
        assert_eq!(cpus.len(), 1);
        assert_eq!(cpus[0].cpu, "0");
        assert_eq!(cpus[0].modes, [5.0, 2.0, 1.0, 10.0, 0.05, 0.01, 0.02, 0.03]);
        assert_eq!((cpus[0].guest, cpus[0].guest_nice), (1.0, 0.5));
    }

    #[test]
    fn cpuinfo_blocks_parse_per_cpu() {
        let text = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 106\nmodel name\t: Xeon\nphysical id\t: 0\ncore id\t\t: 0\nflags\t\t: fpu aes avx\nbugs\t\t: spectre_v1\n\nprocessor\t: 1\ncore id\t\t: 1\n\n";
        let cpus = parse_cpuinfo(text).unwrap();
        assert_eq!(cpus.len(), 2);
        assert_eq!(cpus[0].labels[2], "0");
        assert_eq!(cpus[0].labels[6], "Xeon");
        assert_eq!(cpus[0].flags, ["fpu", "aes", "avx"]);
        assert_eq!(cpus[1].labels[1], "1");
        assert!(parse_cpuinfo("vendor_id\t: x\n\n").is_err());
    }

    #[test]
    fn cpu_lists_parse_as_the_kernel_writes_them() {
        assert_eq!(parse_cpu_list("2-4,7\n"), Some(vec![2, 3, 4, 7]));
        assert_eq!(parse_cpu_list("\n"), Some(vec![]));
        assert_eq!(parse_cpu_list("1"), Some(vec![1]));
        assert_eq!(parse_cpu_list("4-2"), None);
        assert_eq!(parse_cpu_list("a"), None);
    }

    #[test]
    fn malformed_lines_are_errors() {
        assert!(parse("cpu0 1 2 x 4 5 6 7 8\n").is_err());
        assert!(parse("cpu0 1 2\n").is_err());
        assert!(parse("intr 1\n").is_err());
    }
}
