//! The seed alerts Outpost started with, kept under their names: AgentDown,
//! AgentHighCPU, AgentHighMemory, HighMemoryUsage, AgentHighDisk, HighLoad,
//! TcpTargetDown, CpuAnomaly and the Watchdog, each with its generic
//! fire/resolve/quiet [`Scenario`] and, where a per-agent threshold applies,
//! the override test ([`override_script`]).

use std::collections::BTreeMap;
use std::time::Duration;

use super::prometheus::{AGENTS_JOB, TCP_JOB_PREFIX};
use super::rules::{
    against, annotation, constant, label, labels, labels_of, override_script, selector, series_of,
    steps, AlertSpec, Probe, QuietSeries, Scenario, TestSeries, CPU_RECORD, FS_TYPES_IGNORED,
    TEST_AGENT, VALUE,
};
use super::settings::{number, prom_duration, Settings};
use crate::alerts::{self, Severity, Threshold};

fn agent_series(name: &str, extra: &[(&str, &str)]) -> String {
    series_of(TEST_AGENT, name, extra)
}

fn agent_labels(severity: Severity, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    labels_of(TEST_AGENT, severity, extra)
}

/// A usage percentage in the bad phase: halfway between threshold and 100.
fn above(threshold: f64) -> f64 {
    (threshold + 100.0) / 2.0
}
/// A usage percentage that must stay quiet.
fn below(threshold: f64) -> f64 {
    threshold * 0.9
}

/// The `avail` bytes of a `total`-byte resource used `percent` percent.
fn avail_for(total: f64, percent: f64) -> f64 {
    (total * (1.0 - percent / 100.0)).round()
}
/// Usage percentage exactly as the PromQL of the rules computes it.
fn usage(avail: f64, total: f64) -> f64 {
    100.0 * (1.0 - avail / total)
}

pub(super) fn agent_down(s: &Settings) -> AlertSpec {
    let series = agent_series("up", &[]);
    AlertSpec {
        name: alerts::AGENT_DOWN,
        expr: format!("up{{job=\"{AGENTS_JOB}\"}} == 0"),
        for_: s.agent_down_for,
        severity: Severity::Critical,
        extra_labels: BTreeMap::new(),
        summary: annotation!("Agent ", label("agent"), " is down"),
        description: annotation!(
            "Prometheus has not been able to scrape ",
            label("agent"),
            " (",
            label("instance"),
            format!(
                ") for more than {}: the host, its exporter or the network path to it is down. Other alerts for this agent are held back while it is down.",
                prom_duration(s.agent_down_for)
            ),
        ),
        scripts: Vec::new(),
        scenario: Some(Scenario {
            lead_steps: 0,
            series: vec![TestSeries {
                selector: series.clone(),
                lead: 1.0,
                bad: 0.0,
                good: 1.0,
            }],
            quiet: vec![QuietSeries {
                selector: series,
                values: constant(1.0, 20),
            }],
            labels: agent_labels(Severity::Critical, &[]),
            value: 0.0,
            resolves: true,
        }),
    }
}

pub(super) fn high_cpu(s: &Settings) -> AlertSpec {
    let series = selector(CPU_RECORD, &[("agent", TEST_AGENT)]);
    let bad = above(s.cpu_percent);
    AlertSpec {
        name: alerts::AGENT_HIGH_CPU,
        expr: against(CPU_RECORD, ">", Threshold::Cpu, s),
        for_: s.cpu_for,
        severity: Severity::Warning,
        extra_labels: BTreeMap::new(),
        summary: annotation!("High CPU usage on ", label("agent"), ": ", VALUE, "%"),
        description: annotation!(
            "CPU usage on ",
            label("agent"),
            " is ",
            VALUE,
            format!(
                "% (all cores, busy time), above {} for more than {}. Look for runaway processes with top or /mon_cpu.",
                threshold_words(Threshold::Cpu, s, "%"),
                prom_duration(s.cpu_for)
            ),
        ),
        scripts: vec![override_script(
            &Probe {
                threshold: Threshold::Cpu,
                inputs: &|agent, level| vec![(selector(CPU_RECORD, &[("agent", agent)]), level)],
                labels: &|agent| labels(&[("agent", agent), ("severity", "warning")]),
                value: &|level| level,
            },
            s.cpu_for,
            s.evaluation_interval,
            s,
        )],
        scenario: Some(Scenario {
            lead_steps: 0,
            series: vec![TestSeries {
                selector: series.clone(),
                lead: 10.0,
                bad,
                good: 10.0,
            }],
            quiet: vec![QuietSeries {
                selector: series,
                values: constant(below(s.cpu_percent), 20),
            }],
            labels: labels(&[("agent", TEST_AGENT), ("severity", "warning")]),
            value: bad,
            resolves: true,
        }),
    }
}

const MEM_TOTAL: f64 = 8_000_000_000.0;

fn memory_expr(t: Threshold, s: &Settings) -> String {
    against(
        &format!("100 * (1 - node_memory_MemAvailable_bytes{{job=\"{AGENTS_JOB}\"}} / node_memory_MemTotal_bytes{{job=\"{AGENTS_JOB}\"}})"),
        ">",
        t,
        s,
    )
}

pub(super) fn memory_alert(
    name: &'static str,
    t: Threshold,
    for_: Duration,
    severity: Severity,
    what: &str,
    s: &Settings,
) -> AlertSpec {
    let threshold = s.threshold(t);
    let avail = agent_series("node_memory_MemAvailable_bytes", &[]);
    let total = agent_series("node_memory_MemTotal_bytes", &[]);
    let bad = avail_for(MEM_TOTAL, above(threshold));
    let good = avail_for(MEM_TOTAL, 40.0);
    AlertSpec {
        name,
        expr: memory_expr(t, s),
        for_,
        severity,
        extra_labels: BTreeMap::new(),
        summary: annotation!(format!("{what} memory usage on "), label("agent"), ": ", VALUE, "%"),
        description: annotation!(
            "Memory in use on ",
            label("agent"),
            " (",
            label("instance"),
            ") is ",
            VALUE,
            format!(
                "% of MemTotal (MemAvailable excluded), above {} for more than {}. The kernel may start swapping or killing processes; check /mon_mem.",
                threshold_words(t, s, "%"),
                prom_duration(for_)
            ),
        ),
        scripts: vec![override_script(
            &Probe {
                threshold: t,
                inputs: &|agent, level| {
                    vec![
                        (
                            series_of(agent, "node_memory_MemAvailable_bytes", &[]),
                            avail_for(MEM_TOTAL, level),
                        ),
                        (series_of(agent, "node_memory_MemTotal_bytes", &[]), MEM_TOTAL),
                    ]
                },
                labels: &|agent| labels_of(agent, severity, &[]),
                value: &|level| usage(avail_for(MEM_TOTAL, level), MEM_TOTAL),
            },
            for_,
            s.evaluation_interval,
            s,
        )],
        scenario: Some(Scenario {
            lead_steps: 0,
            series: vec![
                TestSeries {
                    selector: avail.clone(),
                    lead: good,
                    bad,
                    good,
                },
                TestSeries {
                    selector: total.clone(),
                    lead: MEM_TOTAL,
                    bad: MEM_TOTAL,
                    good: MEM_TOTAL,
                },
            ],
            quiet: vec![
                QuietSeries {
                    selector: avail,
                    values: constant(avail_for(MEM_TOTAL, below(threshold)), 20),
                },
                QuietSeries {
                    selector: total,
                    values: constant(MEM_TOTAL, 20),
                },
            ],
            labels: agent_labels(severity, &[]),
            value: usage(bad, MEM_TOTAL),
            resolves: true,
        }),
    }
}

const DISK_SIZE: f64 = 100_000_000_000.0;

pub(super) fn high_disk(s: &Settings) -> AlertSpec {
    let fs = [
        ("device", "/dev/sda1"),
        ("fstype", "ext4"),
        ("mountpoint", "/"),
    ];
    let tmp = [
        ("device", "tmpfs"),
        ("fstype", "tmpfs"),
        ("mountpoint", "/run"),
    ];
    let filter = format!("job=\"{AGENTS_JOB}\",fstype!~\"{FS_TYPES_IGNORED}\"");
    let bad = avail_for(DISK_SIZE, above(s.disk_percent));
    let good = avail_for(DISK_SIZE, 50.0);
    AlertSpec {
        name: alerts::AGENT_HIGH_DISK,
        expr: against(
            &format!("100 * (1 - node_filesystem_avail_bytes{{{filter}}} / node_filesystem_size_bytes{{{filter}}})"),
            ">",
            Threshold::Disk,
            s,
        ),
        for_: s.disk_for,
        severity: Severity::Critical,
        extra_labels: BTreeMap::new(),
        summary: annotation!(
            "Disk ",
            label("mountpoint"),
            " on ",
            label("agent"),
            " is ",
            VALUE,
            "% full"
        ),
        description: annotation!(
            "Filesystem ",
            label("mountpoint"),
            " (",
            label("device"),
            ", ",
            label("fstype"),
            ") on ",
            label("agent"),
            " is ",
            VALUE,
            format!(
                "% full (space available to non-root users), above {} for more than {}. Free space before writes start failing; check /mon_disk.",
                threshold_words(Threshold::Disk, s, "%"),
                prom_duration(s.disk_for)
            ),
        ),
        scripts: vec![override_script(
            &Probe {
                threshold: Threshold::Disk,
                inputs: &|agent, level| {
                    vec![
                        (
                            series_of(agent, "node_filesystem_avail_bytes", &fs),
                            avail_for(DISK_SIZE, level),
                        ),
                        (series_of(agent, "node_filesystem_size_bytes", &fs), DISK_SIZE),
                    ]
                },
                labels: &|agent| labels_of(agent, Severity::Critical, &fs),
                value: &|level| usage(avail_for(DISK_SIZE, level), DISK_SIZE),
            },
            s.disk_for,
            s.evaluation_interval,
            s,
        )],
        scenario: Some(Scenario {
            lead_steps: 0,
            series: vec![
                TestSeries {
                    selector: agent_series("node_filesystem_avail_bytes", &fs),
                    lead: good,
                    bad,
                    good,
                },
                TestSeries {
                    selector: agent_series("node_filesystem_size_bytes", &fs),
                    lead: DISK_SIZE,
                    bad: DISK_SIZE,
                    good: DISK_SIZE,
                },
            ],
            quiet: vec![
                QuietSeries {
                    selector: agent_series("node_filesystem_avail_bytes", &fs),
                    values: constant(avail_for(DISK_SIZE, below(s.disk_percent)), 20),
                },
                QuietSeries {
                    selector: agent_series("node_filesystem_size_bytes", &fs),
                    values: constant(DISK_SIZE, 20),
                },
                // A full tmpfs is ignored by the fstype filter.
                QuietSeries {
                    selector: agent_series("node_filesystem_avail_bytes", &tmp),
                    values: constant(0.0, 20),
                },
                QuietSeries {
                    selector: agent_series("node_filesystem_size_bytes", &tmp),
                    values: constant(DISK_SIZE, 20),
                },
            ],
            labels: agent_labels(Severity::Critical, &fs),
            value: usage(bad, DISK_SIZE),
            resolves: true,
        }),
    }
}

pub(super) fn high_load(s: &Settings) -> AlertSpec {
    let cores = 2.0;
    let load = agent_series("node_load1", &[]);
    let cpus: Vec<String> = ["0", "1"]
        .iter()
        .map(|c| agent_series("node_cpu_seconds_total", &[("cpu", c), ("mode", "idle")]))
        .collect();
    let bad = s.load_per_core * 2.0 * cores;
    let mut series = vec![TestSeries {
        selector: load.clone(),
        lead: 0.5,
        bad,
        good: 0.5,
    }];
    let mut quiet = vec![QuietSeries {
        selector: load,
        values: constant(s.load_per_core * 0.5 * cores, 20),
    }];
    for cpu in cpus {
        series.push(TestSeries {
            selector: cpu.clone(),
            lead: 1000.0,
            bad: 1000.0,
            good: 1000.0,
        });
        quiet.push(QuietSeries {
            selector: cpu,
            values: constant(1000.0, 20),
        });
    }
    AlertSpec {
        name: alerts::HIGH_LOAD,
        expr: against(
            &format!("max by (agent) (node_load1{{job=\"{AGENTS_JOB}\"}}) / count by (agent) (node_cpu_seconds_total{{job=\"{AGENTS_JOB}\",mode=\"idle\"}})"),
            ">",
            Threshold::Load,
            s,
        ),
        for_: s.load_for,
        severity: Severity::Warning,
        extra_labels: BTreeMap::new(),
        summary: annotation!("High load on ", label("agent"), ": ", VALUE, " per core"),
        description: annotation!(
            "The 1-minute load average on ",
            label("agent"),
            " is ",
            VALUE,
            format!(
                " per CPU core, above {} for more than {}: more runnable (or I/O-blocked) tasks than cores can serve, so everything on the host slows down.",
                threshold_words(Threshold::Load, s, ""),
                prom_duration(s.load_for)
            ),
        ),
        scripts: vec![override_script(
            &Probe {
                threshold: Threshold::Load,
                inputs: &|agent, level| {
                    let mut v = vec![(series_of(agent, "node_load1", &[]), level * cores)];
                    for cpu in ["0", "1"] {
                        v.push((
                            series_of(agent, "node_cpu_seconds_total", &[("cpu", cpu), ("mode", "idle")]),
                            1000.0,
                        ));
                    }
                    v
                },
                labels: &|agent| labels(&[("agent", agent), ("severity", "warning")]),
                value: &|level| level,
            },
            s.load_for,
            s.evaluation_interval,
            s,
        )],
        scenario: Some(Scenario {
            lead_steps: 0,
            series,
            quiet,
            labels: labels(&[("agent", TEST_AGENT), ("severity", "warning")]),
            value: bad / cores,
            resolves: true,
        }),
    }
}

/// One `TcpTargetDown` rule per failure threshold in use: `for` is
/// `(failures - 1) × scrape interval`, so the alert fires on the
/// `failures`-th consecutive failed probe.
pub(super) fn tcp_down(s: &Settings, failures: u32) -> AlertSpec {
    let for_ = s.scrape_interval * failures.saturating_sub(1);
    let n = failures.to_string();
    let job = format!("{TCP_JOB_PREFIX}{TEST_AGENT}");
    let pairs = [
        ("agent", TEST_AGENT),
        ("check", "database"),
        ("failures", n.as_str()),
        ("instance", "192.0.2.20:5432"),
        ("job", job.as_str()),
    ];
    let series = selector("probe_success", &pairs);
    let mut exp = labels(&pairs);
    exp.insert("severity".into(), "critical".into());
    AlertSpec {
        name: alerts::TCP_TARGET_DOWN,
        expr: format!("probe_success{{job=~\"{TCP_JOB_PREFIX}.+\",failures=\"{n}\"}} == 0"),
        for_,
        severity: Severity::Critical,
        extra_labels: labels(&[("failures", n.as_str())]),
        summary: annotation!(
            "TCP check ",
            label("check"),
            " (",
            label("instance"),
            ") is failing from ",
            label("agent")
        ),
        description: annotation!(
            label("agent"),
            " cannot open a TCP connection to ",
            label("instance"),
            " (check ",
            label("check"),
            match failures {
                1 => "): the last probe failed. The service is down, not listening, or blocked by a firewall.".to_string(),
                n => format!(
                    "): {n} consecutive probes, {} apart, have failed. The service is down, not listening, or blocked by a firewall.",
                    prom_duration(s.scrape_interval)
                ),
            },
        ),
        scripts: Vec::new(),
        scenario: Some(Scenario {
            lead_steps: 0,
            series: vec![TestSeries {
                selector: series.clone(),
                lead: 1.0,
                bad: 0.0,
                good: 1.0,
            }],
            quiet: vec![QuietSeries {
                selector: series,
                values: constant(1.0, 20),
            }],
            labels: exp,
            value: 0.0,
            resolves: true,
        }),
    }
}

/// How a description names a per-agent threshold: `the agent's
/// cpu_threshold (default 80%)`.
fn threshold_words(t: Threshold, s: &Settings, unit: &str) -> String {
    format!(
        "the agent's {} (default {}{unit})",
        t.key(),
        number(s.threshold(t))
    )
}

pub(super) fn cpu_anomaly(s: &Settings) -> AlertSpec {
    let w = prom_duration(s.anomaly_window);
    let series = selector(CPU_RECORD, &[("agent", TEST_AGENT)]);
    let lead = steps(s.anomaly_window, s.evaluation_interval);
    let f = steps(s.anomaly_for, s.evaluation_interval);
    let mut quiet = Vec::new();
    // Usage that swings 10↔30: a move to 30 is within mean + 2σ.
    let swing: Vec<String> = (0..lead + f + 8)
        .map(|i| if i % 2 == 0 { "10" } else { "30" }.to_string())
        .collect();
    quiet.push(QuietSeries {
        selector: selector(CPU_RECORD, &[("agent", "swinging")]),
        values: swing.join(" "),
    });
    // An unusual jump that stays under the floor.
    if s.anomaly_min_percent > 0.0 {
        quiet.push(QuietSeries {
            selector: selector(CPU_RECORD, &[("agent", "idle")]),
            values: format!(
                "{} {}",
                constant(s.anomaly_min_percent * 0.1, lead),
                constant(s.anomaly_min_percent * 0.8, f + 8)
            ),
        });
    }
    AlertSpec {
        name: alerts::CPU_ANOMALY,
        expr: format!(
            "{CPU_RECORD} > (avg_over_time({CPU_RECORD}[{w}]) + 2 * stddev_over_time({CPU_RECORD}[{w}])) and {CPU_RECORD} > {}",
            number(s.anomaly_min_percent)
        ),
        for_: s.anomaly_for,
        severity: Severity::Warning,
        extra_labels: BTreeMap::new(),
        summary: annotation!("Unusual CPU usage on ", label("agent"), ": ", VALUE, "%"),
        description: annotation!(
            "CPU usage on ",
            label("agent"),
            " is ",
            VALUE,
            format!(
                "%, more than two standard deviations above its mean over the last {w}, for more than {}. Not a fixed threshold: something changed on this host (a new job, a loop, an attack).",
                prom_duration(s.anomaly_for)
            ),
        ),
        scripts: Vec::new(),
        scenario: Some(Scenario {
            lead_steps: lead,
            series: vec![TestSeries {
                selector: series,
                lead: 10.0,
                bad: 90.0,
                good: 10.0,
            }],
            quiet,
            labels: labels(&[("agent", TEST_AGENT), ("severity", "warning")]),
            value: 90.0,
            resolves: true,
        }),
    }
}

pub(super) fn watchdog() -> AlertSpec {
    AlertSpec {
        name: alerts::WATCHDOG,
        expr: "vector(1)".into(),
        for_: Duration::ZERO,
        severity: Severity::None,
        extra_labels: BTreeMap::new(),
        summary: annotation!("Watchdog: the alerting pipeline is alive"),
        description: annotation!(
            "This alert always fires. The Outpost bridge treats it as a heartbeat: when it stops arriving, Prometheus, its rule evaluation, Alertmanager or the path to the bridge is broken."
        ),
        scripts: Vec::new(),
        scenario: Some(Scenario {
            lead_steps: 0,
            series: Vec::new(),
            quiet: Vec::new(),
            labels: labels(&[("severity", "none")]),
            value: 1.0,
            resolves: false,
        }),
    }
}
