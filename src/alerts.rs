//! The alert catalog: the one table of Outpost's alert names with their
//! severities, the chart an alert message gets, what each alert holds back
//! in Alertmanager, and the per-agent threshold it compares against. The
//! generator builds rules, rule tests and inhibitions from it; the bridge
//! decides which alerts get a chart from it; the chat reads the names of
//! the threshold series from it. Nothing else spells an alert name.
//!
//! Decisions:
//! - The table lives outside `generate`, `bridge` and `chat` so that the
//!   three depend on it and never on one another for these facts.
//! - Thresholds are data: each agent's value is a series
//!   ([`THRESHOLD_SERIES`]`{agent, threshold="KEY"}`, recorded by the
//!   generated rules), so one rule serves every agent and the chat asks
//!   Prometheus for the value in force instead of assuming a default.

/// How urgent an alert is (the `severity` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Worth a look during working hours.
    Info,
    Warning,
    Critical,
    /// The Watchdog heartbeat: not an alert for people.
    None,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
            Severity::None => "none",
        }
    }
}

/// The resource chart an alert message carries (`--attach-charts`) and the
/// chat's `/mon_*` commands draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chart {
    Cpu,
    Memory,
    Disk,
}

impl Chart {
    /// The per-agent threshold drawn on this chart and marked in `/mon_*`.
    pub fn threshold(self) -> Threshold {
        match self {
            Chart::Cpu => Threshold::Cpu,
            Chart::Memory => Threshold::Memory,
            Chart::Disk => Threshold::Disk,
        }
    }
}

/// How a threshold's value is written in agents.txt and stored in its series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// 0–100 (exclusive of 0).
    Percent,
    /// A positive number (load per core).
    Ratio,
    /// A Prometheus duration (`12h`, `90m`); the series holds seconds.
    Duration,
}

/// A threshold an agent may override on its agents.txt line (`KEY=VALUE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Threshold {
    Cpu,
    Memory,
    MemoryCritical,
    Disk,
    DiskFill,
    Load,
    Steal,
}

impl Threshold {
    pub const ALL: [Threshold; 7] = [
        Threshold::Cpu,
        Threshold::Memory,
        Threshold::MemoryCritical,
        Threshold::Disk,
        Threshold::DiskFill,
        Threshold::Load,
        Threshold::Steal,
    ];

    /// The agents.txt key, also the `threshold` label of its series.
    pub fn key(self) -> &'static str {
        match self {
            Threshold::Cpu => "cpu_threshold",
            Threshold::Memory => "memory_threshold",
            Threshold::MemoryCritical => "memory_critical_threshold",
            Threshold::Disk => "disk_threshold",
            Threshold::DiskFill => "disk_fill_within",
            Threshold::Load => "load_threshold",
            Threshold::Steal => "steal_threshold",
        }
    }

    pub fn unit(self) -> Unit {
        match self {
            Threshold::Load => Unit::Ratio,
            Threshold::DiskFill => Unit::Duration,
            _ => Unit::Percent,
        }
    }

    /// The alert that compares against it.
    pub fn alert(self) -> &'static str {
        match self {
            Threshold::Cpu => AGENT_HIGH_CPU,
            Threshold::Memory => AGENT_HIGH_MEMORY,
            Threshold::MemoryCritical => HIGH_MEMORY_USAGE,
            Threshold::Disk => AGENT_HIGH_DISK,
            Threshold::DiskFill => FS_SPACE_FILLING_UP,
            Threshold::Load => HIGH_LOAD,
            Threshold::Steal => CPU_STEAL_HIGH,
        }
    }

    pub fn from_key(key: &str) -> Option<Threshold> {
        Threshold::ALL.into_iter().find(|t| t.key() == key)
    }

    /// The threshold a person names: its key (`cpu_threshold`) or the key
    /// without `_threshold` / `_within` (`cpu`, `disk_fill`), as the chat's
    /// `/threshold AGENT METRIC VALUE` takes it. The allow-list is
    /// [`Threshold::ALL`].
    pub fn from_word(word: &str) -> Option<Threshold> {
        Threshold::ALL.into_iter().find(|t| {
            let k = t.key();
            k == word
                || k.strip_suffix("_threshold") == Some(word)
                || k.strip_suffix("_within") == Some(word)
        })
    }

    /// The short name [`Threshold::from_word`] takes (`cpu`, `disk_fill`).
    pub fn short(self) -> &'static str {
        let k = self.key();
        k.strip_suffix("_threshold")
            .or_else(|| k.strip_suffix("_within"))
            .unwrap_or(k)
    }
}

/// The recorded series holding each agent's thresholds in force:
/// `agent:outpost_threshold:value{agent="web1",threshold="cpu_threshold"}`.
pub const THRESHOLD_SERIES: &str = "agent:outpost_threshold:value";
/// The label of [`THRESHOLD_SERIES`] naming the threshold ([`Threshold::key`]).
pub const THRESHOLD_LABEL: &str = "threshold";

/// Labels that name the thing an alert is about (a mount, a disk, a unit,
/// a sensor): a critical alert holds back the warning of the same name only
/// for the same thing. Alertmanager treats a label missing on both sides as
/// equal, so alerts without them match on `agent` alone.
pub const OBJECT_LABELS: &[&str] = &[
    "device",
    "mountpoint",
    "name",
    "master",
    "controller",
    "chip",
    "sensor",
    "check",
];

/// The comparison of an alert with a per-agent threshold:
/// `EXPR OP on (agent) group_left () (SERIES{threshold="KEY"} or on (agent)
/// count by (agent) (EXPR) * 0 + DEFAULT)`, the default standing in for an
/// agent without a threshold series. [`split_against`] takes it apart.
pub fn against(expr: &str, op: &str, t: Threshold, default: &str) -> String {
    format!(
        "{expr} {op}{AGAINST}({THRESHOLD_SERIES}{{{THRESHOLD_LABEL}=\"{}\"}} or on (agent) count by (agent) ({expr}) * 0 + {default})",
        t.key()
    )
}

const AGAINST: &str = " on (agent) group_left () ";

/// The two sides of an [`against`] comparison at the top level of an
/// expression: what is compared, and the threshold expression (one series
/// per agent). `None` for any other expression.
pub fn split_against(expr: &str) -> Option<(&str, &str)> {
    let pos = expr.rfind(AGAINST)?;
    let lhs = expr[..pos]
        .trim_end_matches(['>', '<', '=', '!'])
        .trim_end();
    let rhs = &expr[pos + AGAINST.len()..];
    let balanced = |s: &str| {
        let mut depth = 0i32;
        for c in s.chars() {
            match c {
                '(' | '{' | '[' => depth += 1,
                ')' | '}' | ']' => depth -= 1,
                _ => {}
            }
            if depth < 0 {
                return false;
            }
        }
        depth == 0
    };
    (balanced(lhs) && balanced(rhs) && !lhs.is_empty()).then_some((lhs, rhs))
}

/// One alert name in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub name: &'static str,
    /// The severities its rules carry (several rules may share a name).
    pub severities: &'static [Severity],
    pub chart: Option<Chart>,
    /// Alerts this one holds back on the same agent while it fires (beyond
    /// the general rules: [`AGENT_DOWN`] holds back everything of its agent,
    /// and a critical alert its own warning).
    pub inhibits: &'static [&'static str],
    /// Labels besides `agent` that must match for [`Entry::inhibits`]
    /// (a RAID disk failure holds back the degraded alert of its array only).
    pub inhibit_equal: &'static [&'static str],
}

pub const AGENT_DOWN: &str = "AgentDown";
pub const AGENT_HIGH_CPU: &str = "AgentHighCPU";
pub const AGENT_HIGH_MEMORY: &str = "AgentHighMemory";
pub const HIGH_MEMORY_USAGE: &str = "HighMemoryUsage";
pub const AGENT_HIGH_DISK: &str = "AgentHighDisk";
pub const HIGH_LOAD: &str = "HighLoad";
pub const TCP_TARGET_DOWN: &str = "TcpTargetDown";
pub const CPU_ANOMALY: &str = "CpuAnomaly";
pub const WATCHDOG: &str = "Watchdog";
pub const FS_SPACE_FILLING_UP: &str = "NodeFilesystemSpaceFillingUp";
pub const FS_ALMOST_OUT_OF_SPACE: &str = "NodeFilesystemAlmostOutOfSpace";
pub const FS_FILES_FILLING_UP: &str = "NodeFilesystemFilesFillingUp";
pub const FS_ALMOST_OUT_OF_FILES: &str = "NodeFilesystemAlmostOutOfFiles";
pub const NETWORK_RECEIVE_ERRS: &str = "NodeNetworkReceiveErrs";
pub const NETWORK_TRANSMIT_ERRS: &str = "NodeNetworkTransmitErrs";
pub const CONNTRACK_HIGH: &str = "NodeHighNumberConntrackEntriesUsed";
pub const TEXTFILE_SCRAPE_ERROR: &str = "NodeTextFileCollectorScrapeError";
pub const CLOCK_SKEW: &str = "NodeClockSkewDetected";
pub const CLOCK_NOT_SYNCHRONISING: &str = "NodeClockNotSynchronising";
pub const RAID_DEGRADED: &str = "NodeRAIDDegraded";
pub const RAID_DISK_FAILURE: &str = "NodeRAIDDiskFailure";
pub const FD_LIMIT: &str = "NodeFileDescriptorLimit";
pub const CPU_HIGH_USAGE: &str = "NodeCPUHighUsage";
pub const SYSTEM_SATURATION: &str = "NodeSystemSaturation";
pub const MAJOR_PAGE_FAULTS: &str = "NodeMemoryMajorPagesFaults";
pub const MEMORY_HIGH_UTILIZATION: &str = "NodeMemoryHighUtilization";
pub const DISK_IO_SATURATION: &str = "NodeDiskIOSaturation";
pub const SYSTEMD_FAILED: &str = "NodeSystemdServiceFailed";
pub const SYSTEMD_CRASHLOOPING: &str = "NodeSystemdServiceCrashlooping";
pub const BONDING_DEGRADED: &str = "NodeBondingDegraded";
pub const CPU_STEAL_HIGH: &str = "NodeCPUStealHigh";
pub const OOM_KILL: &str = "NodeOOMKillDetected";
pub const REBOOT_REQUIRED: &str = "NodeRebootRequired";
pub const HWMON_TEMP_HIGH: &str = "NodeHwmonTempNearCritical";
pub const EDAC_CORRECTABLE: &str = "NodeEDACCorrectableErrors";
pub const EDAC_UNCORRECTABLE: &str = "NodeEDACUncorrectableErrors";
pub const GPU_MEMORY_NEARLY_FULL: &str = "GpuMemoryNearlyFull";
pub const GPU_TOO_HOT: &str = "GpuTooHot";
pub const GPU_XID_ERRORS: &str = "GpuXidErrors";
pub const CPU_SLOWER_THAN_USUAL: &str = "CpuSlowerThanUsual";

use Severity::{Critical, Info, Warning};

const fn entry(name: &'static str, severities: &'static [Severity]) -> Entry {
    Entry {
        name,
        severities,
        chart: None,
        inhibits: &[],
        inhibit_equal: &[],
    }
}

const fn charted(name: &'static str, severities: &'static [Severity], chart: Chart) -> Entry {
    Entry {
        chart: Some(chart),
        ..entry(name, severities)
    }
}

/// Every alert name Outpost generates, in rule-file order.
pub const CATALOG: &[Entry] = &[
    entry(AGENT_DOWN, &[Critical]),
    Entry {
        inhibits: &[CPU_HIGH_USAGE],
        ..charted(AGENT_HIGH_CPU, &[Warning], Chart::Cpu)
    },
    Entry {
        inhibits: &[MEMORY_HIGH_UTILIZATION],
        ..charted(AGENT_HIGH_MEMORY, &[Warning], Chart::Memory)
    },
    Entry {
        inhibits: &[AGENT_HIGH_MEMORY, MEMORY_HIGH_UTILIZATION],
        ..charted(HIGH_MEMORY_USAGE, &[Critical], Chart::Memory)
    },
    Entry {
        inhibits: &[FS_ALMOST_OUT_OF_SPACE, FS_SPACE_FILLING_UP],
        inhibit_equal: &["mountpoint"],
        ..charted(AGENT_HIGH_DISK, &[Critical], Chart::Disk)
    },
    Entry {
        inhibits: &[SYSTEM_SATURATION],
        ..entry(HIGH_LOAD, &[Warning])
    },
    entry(TCP_TARGET_DOWN, &[Critical]),
    charted(CPU_ANOMALY, &[Warning], Chart::Cpu),
    charted(FS_SPACE_FILLING_UP, &[Warning, Critical], Chart::Disk),
    charted(FS_ALMOST_OUT_OF_SPACE, &[Warning, Critical], Chart::Disk),
    entry(FS_FILES_FILLING_UP, &[Warning, Critical]),
    entry(FS_ALMOST_OUT_OF_FILES, &[Warning, Critical]),
    entry(NETWORK_RECEIVE_ERRS, &[Warning]),
    entry(NETWORK_TRANSMIT_ERRS, &[Warning]),
    entry(CONNTRACK_HIGH, &[Warning]),
    entry(TEXTFILE_SCRAPE_ERROR, &[Warning]),
    entry(CLOCK_SKEW, &[Warning]),
    entry(CLOCK_NOT_SYNCHRONISING, &[Warning]),
    entry(RAID_DEGRADED, &[Critical]),
    Entry {
        inhibits: &[RAID_DEGRADED],
        inhibit_equal: &["device"],
        ..entry(RAID_DISK_FAILURE, &[Warning])
    },
    entry(FD_LIMIT, &[Warning, Critical]),
    charted(CPU_HIGH_USAGE, &[Info], Chart::Cpu),
    entry(SYSTEM_SATURATION, &[Warning]),
    entry(MAJOR_PAGE_FAULTS, &[Warning]),
    charted(MEMORY_HIGH_UTILIZATION, &[Warning], Chart::Memory),
    entry(DISK_IO_SATURATION, &[Warning]),
    entry(SYSTEMD_FAILED, &[Warning]),
    entry(SYSTEMD_CRASHLOOPING, &[Warning]),
    entry(BONDING_DEGRADED, &[Warning]),
    charted(CPU_STEAL_HIGH, &[Warning], Chart::Cpu),
    entry(OOM_KILL, &[Warning]),
    entry(REBOOT_REQUIRED, &[Info]),
    entry(HWMON_TEMP_HIGH, &[Warning]),
    entry(EDAC_CORRECTABLE, &[Warning]),
    Entry {
        inhibits: &[EDAC_CORRECTABLE],
        inhibit_equal: &["controller"],
        ..entry(EDAC_UNCORRECTABLE, &[Critical])
    },
    entry(GPU_MEMORY_NEARLY_FULL, &[Warning]),
    entry(GPU_TOO_HOT, &[Warning]),
    entry(GPU_XID_ERRORS, &[Critical]),
    entry(CPU_SLOWER_THAN_USUAL, &[Warning]),
    entry(WATCHDOG, &[Severity::None]),
];

/// The catalog entry of an alert name.
pub fn find(name: &str) -> Option<&'static Entry> {
    CATALOG.iter().find(|e| e.name == name)
}

/// The chart an alert with this name gets, if any.
pub fn chart(name: &str) -> Option<Chart> {
    find(name).and_then(|e| e.chart)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_inhibitions_name_known_alerts() {
        let mut names: Vec<&str> = CATALOG.iter().map(|e| e.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CATALOG.len());
        for e in CATALOG {
            assert!(!e.severities.is_empty(), "{}", e.name);
            for i in e.inhibits {
                assert!(find(i).is_some(), "{} inhibits unknown {i}", e.name);
            }
        }
        // An alert never inhibits itself (critical over warning of the same
        // name is the general rule, not an entry).
        for e in CATALOG {
            assert!(!e.inhibits.contains(&e.name), "{} inhibits itself", e.name);
        }
    }

    #[test]
    fn against_splits_back_into_its_sides() {
        let e = against("agent:cpu_usage:percent", ">", Threshold::Cpu, "80");
        assert_eq!(
            split_against(&e),
            Some((
                "agent:cpu_usage:percent",
                "(agent:outpost_threshold:value{threshold=\"cpu_threshold\"} or on (agent) count by (agent) (agent:cpu_usage:percent) * 0 + 80)"
            ))
        );
        // Nested inside a larger expression: not a top-level comparison.
        assert_eq!(split_against(&format!("(x < 40 and {e})")), None);
        assert_eq!(split_against("up == 0"), None);
    }

    #[test]
    fn every_threshold_key_is_distinct_and_names_a_catalog_alert() {
        for t in Threshold::ALL {
            assert_eq!(Threshold::from_key(t.key()), Some(t));
            assert_eq!(Threshold::from_word(t.key()), Some(t));
            assert_eq!(Threshold::from_word(t.short()), Some(t));
            assert!(find(t.alert()).is_some(), "{:?}", t);
        }
        assert_eq!(chart("AgentHighCPU"), Some(Chart::Cpu));
        assert_eq!(chart("AgentDown"), None);
        assert_eq!(Threshold::from_word("disk_fill"), Some(Threshold::DiskFill));
        assert_eq!(Threshold::from_word("temperature"), None);
        assert_eq!(chart("NoSuchAlert"), None);
    }
}
