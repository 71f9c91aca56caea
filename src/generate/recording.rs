//! Recording rules, in Prometheus's `level:metric:operations` naming
//! (`agent:node_load1_per_cpu:ratio`: aggregated to `agent`), each with the
//! promtool test that checks its value ([`RecordSpec`]), and the per-agent
//! threshold series ([`crate::alerts::THRESHOLD_SERIES`]) built from
//! agents.txt.
//!
//! Decisions:
//! - Node-mixin records per `instance`; Outpost aggregates to `agent`, the
//!   label every generated series, alert, dashboard and chat command uses.
//! - CPU steal is averaged over CPUs after clamping each CPU's rate to 1
//!   (a CPU cannot lose more than all of its time): some kernels and
//!   hypervisors report steal jumps that would otherwise read as
//!   thousands of percent.
//! - Every scraped agent gets every threshold as a series (its agents.txt
//!   override or the default), so the chat and dashboards read the value in
//!   force with one query; the alert rules keep the default as a fallback
//!   for the moments before the first scrape and for the unit tests.

use std::collections::BTreeMap;
use std::time::Duration;

use super::inventory::Inventory;
use super::prometheus::AGENTS_JOB;
use super::rules::{labels, selector, series_of, Rule, TEST_AGENT};
use super::settings::{number, prom_duration, Settings};
use crate::alerts::{Threshold, THRESHOLD_LABEL, THRESHOLD_SERIES};

/// CPU busy percentage per agent (0–100), over `--rate-window`.
pub const CPU_RECORD: &str = "agent:cpu_usage:percent";
pub const NUM_CPU: &str = "agent:node_num_cpu:sum";
pub const CPU_UTILISATION: &str = "agent:node_cpu_utilisation:rate5m";
pub const LOAD_PER_CPU: &str = "agent:node_load1_per_cpu:ratio";
pub const MEMORY_UTILISATION: &str = "agent:node_memory_utilisation:ratio";
pub const MAJOR_FAULTS: &str = "agent:node_vmstat_pgmajfault:rate5m";
pub const DISK_IO_TIME: &str = "agent_device:node_disk_io_time_seconds:rate5m";
pub const DISK_IO_WEIGHTED: &str = "agent_device:node_disk_io_time_weighted_seconds:rate5m";
pub const NET_RECEIVE: &str = "agent:node_network_receive_bytes_excluding_lo:rate5m";
pub const NET_TRANSMIT: &str = "agent:node_network_transmit_bytes_excluding_lo:rate5m";
pub const NET_RECEIVE_DROP: &str = "agent:node_network_receive_drop_excluding_lo:rate5m";
pub const NET_TRANSMIT_DROP: &str = "agent:node_network_transmit_drop_excluding_lo:rate5m";
pub const CPU_STEAL: &str = "agent:node_cpu_steal:percent_rate5m";

/// Block devices worth watching (node-mixin's disk device selector).
pub const DISK_DEVICES: &str =
    "(/dev/)?(mmcblk.p.+|nvme.+|rbd.+|sd.+|vd.+|xvd.+|dm-.+|md.+|dasd.+)";

/// One expression check: (evaluation time, expression, expected samples as
/// (labels, value)).
pub type ExprCheck = (Duration, String, Vec<(String, f64)>);

/// A promtool `promql_expr_test` group.
#[derive(Debug, Clone, PartialEq)]
pub struct ExprScript {
    pub name: String,
    pub interval: Duration,
    pub series: Vec<(String, String)>,
    pub checks: Vec<ExprCheck>,
}

/// A recording rule and its test.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSpec {
    pub record: &'static str,
    pub expr: String,
    pub test: ExprScript,
}

impl RecordSpec {
    pub fn rule(&self) -> Rule {
        Rule {
            record: Some(self.record.into()),
            expr: self.expr.clone(),
            ..Default::default()
        }
    }
}

pub(super) const MINUTE: Duration = Duration::from_secs(60);

fn j() -> String {
    format!("job=\"{AGENTS_JOB}\"")
}

fn agent_only() -> String {
    format!("{{agent=\"{TEST_AGENT}\"}}")
}

/// A test of `record` alone: its value at `at`, rounded to 0.001.
fn check(
    record: &'static str,
    name: &str,
    series: Vec<(String, String)>,
    at: Duration,
    expect: Vec<(String, f64)>,
) -> ExprScript {
    ExprScript {
        name: format!("{record}: {name}"),
        interval: MINUTE,
        series,
        checks: vec![(at, format!("round({record}, 0.001)"), expect)],
    }
}

fn cpu(c: &str, mode: &str) -> String {
    series_of(
        TEST_AGENT,
        "node_cpu_seconds_total",
        &[("cpu", c), ("mode", mode)],
    )
}

/// Every recording rule, in evaluation order (later rules read earlier).
pub fn records(s: &Settings) -> Vec<RecordSpec> {
    let j = j();
    let step = s.evaluation_interval.as_secs_f64();
    let window = super::rules::steps(s.rate_window, s.evaluation_interval);
    let n = window + 4;
    // Two CPUs idle 25 % and 75 % of the time: 50 % busy.
    let two_cpus = |per: f64| {
        vec![
            (cpu("0", "idle"), format!("1000+{}x30", number(0.25 * per))),
            (cpu("1", "idle"), format!("1000+{}x30", number(0.75 * per))),
            (cpu("0", "user"), format!("5000+{}x30", number(0.75 * per))),
        ]
    };
    vec![
        RecordSpec {
            record: CPU_RECORD,
            expr: format!(
                "100 * (1 - avg by (agent) (rate(node_cpu_seconds_total{{{j},mode=\"idle\"}}[{}])))",
                prom_duration(s.rate_window)
            ),
            test: ExprScript {
                name: format!("{CPU_RECORD} averages busy time over cores"),
                interval: s.evaluation_interval,
                series: vec![
                    (cpu("0", "idle"), format!("1000000+{}x{n}", number(0.25 * step))),
                    (cpu("1", "idle"), format!("1000000+{}x{n}", number(0.75 * step))),
                    (cpu("0", "user"), format!("5000+{}x{n}", number(0.75 * step))),
                ],
                checks: vec![(
                    s.evaluation_interval * (window + 2) as u32,
                    format!("round({CPU_RECORD}, 0.1)"),
                    vec![(agent_only(), 50.0)],
                )],
            },
        },
        RecordSpec {
            record: NUM_CPU,
            expr: format!("count by (agent) (node_cpu_seconds_total{{{j},mode=\"idle\"}})"),
            test: check(NUM_CPU, "idle series counted once per CPU", two_cpus(60.0), 10 * MINUTE, vec![(agent_only(), 2.0)]),
        },
        RecordSpec {
            record: CPU_UTILISATION,
            expr: format!(
                "1 - avg by (agent) (rate(node_cpu_seconds_total{{{j},mode=\"idle\"}}[5m]))"
            ),
            test: check(CPU_UTILISATION, "busy share over all CPUs", two_cpus(60.0), 10 * MINUTE, vec![(agent_only(), 0.5)]),
        },
        RecordSpec {
            record: LOAD_PER_CPU,
            expr: format!("max by (agent) (node_load1{{{j}}}) / {NUM_CPU}"),
            test: check(
                LOAD_PER_CPU,
                "load over CPUs",
                {
                    let mut v = two_cpus(60.0);
                    v.push((series_of(TEST_AGENT, "node_load1", &[]), "3x20".into()));
                    v
                },
                10 * MINUTE,
                vec![(agent_only(), 1.5)],
            ),
        },
        RecordSpec {
            record: MEMORY_UTILISATION,
            expr: format!(
                "1 - max by (agent) (node_memory_MemAvailable_bytes{{{j}}}) / max by (agent) (node_memory_MemTotal_bytes{{{j}}})"
            ),
            test: check(
                MEMORY_UTILISATION,
                "used share of MemTotal",
                vec![
                    (series_of(TEST_AGENT, "node_memory_MemAvailable_bytes", &[]), "2000000000x20".into()),
                    (series_of(TEST_AGENT, "node_memory_MemTotal_bytes", &[]), "8000000000x20".into()),
                ],
                10 * MINUTE,
                vec![(agent_only(), 0.75)],
            ),
        },
        RecordSpec {
            record: MAJOR_FAULTS,
            expr: format!("sum by (agent) (rate(node_vmstat_pgmajfault{{{j}}}[5m]))"),
            // 600 faults a minute, across a counter reset (reboot): still 10/s.
            test: check(
                MAJOR_FAULTS,
                "rate across a counter reset",
                vec![(
                    series_of(TEST_AGENT, "node_vmstat_pgmajfault", &[]),
                    "100000+600x8 600+600x11".into(),
                )],
                12 * MINUTE,
                vec![(agent_only(), 10.0)],
            ),
        },
        RecordSpec {
            record: DISK_IO_TIME,
            expr: format!(
                "sum by (agent, device) (rate(node_disk_io_time_seconds_total{{{j},device=~\"{DISK_DEVICES}\"}}[5m]))"
            ),
            test: check(
                DISK_IO_TIME,
                "busy share per disk, loop devices left out",
                vec![
                    (series_of(TEST_AGENT, "node_disk_io_time_seconds_total", &[("device", "sda")]), "0+30x20".into()),
                    (series_of(TEST_AGENT, "node_disk_io_time_seconds_total", &[("device", "loop0")]), "0+60x20".into()),
                ],
                10 * MINUTE,
                vec![(format!("{{agent=\"{TEST_AGENT}\",device=\"sda\"}}"), 0.5)],
            ),
        },
        RecordSpec {
            record: DISK_IO_WEIGHTED,
            expr: format!(
                "sum by (agent, device) (rate(node_disk_io_time_weighted_seconds_total{{{j},device=~\"{DISK_DEVICES}\"}}[5m]))"
            ),
            test: check(
                DISK_IO_WEIGHTED,
                "queue depth per disk",
                vec![(
                    series_of(TEST_AGENT, "node_disk_io_time_weighted_seconds_total", &[("device", "nvme0n1")]),
                    "0+240x20".into(),
                )],
                10 * MINUTE,
                vec![(format!("{{agent=\"{TEST_AGENT}\",device=\"nvme0n1\"}}"), 4.0)],
            ),
        },
        net_record(NET_RECEIVE, "node_network_receive_bytes_total"),
        net_record(NET_TRANSMIT, "node_network_transmit_bytes_total"),
        net_record(NET_RECEIVE_DROP, "node_network_receive_drop_total"),
        net_record(NET_TRANSMIT_DROP, "node_network_transmit_drop_total"),
        RecordSpec {
            record: CPU_STEAL,
            expr: format!(
                "100 * avg by (agent) (clamp_max(rate(node_cpu_seconds_total{{{j},mode=\"steal\"}}[5m]), 1))"
            ),
            // CPU 0 loses 20 % of its time; CPU 1's counter jumps by
            // 100000 s in one minute (a kernel reporting absurd steal): its
            // share is clamped to 100 %, so the agent reads 60 %, not ~33000 %.
            test: check(
                CPU_STEAL,
                "share of stolen time, absurd jumps clamped",
                vec![
                    (cpu("0", "steal"), "0+12x20".into()),
                    (cpu("1", "steal"), "0x8 100000x12".into()),
                ],
                10 * MINUTE,
                vec![(agent_only(), 60.0)],
            ),
        },
    ]
}

/// Per-agent network rate without the loopback device.
fn net_record(record: &'static str, metric: &str) -> RecordSpec {
    let j = j();
    RecordSpec {
        record,
        expr: format!("sum by (agent) (rate({metric}{{{j},device!=\"lo\"}}[5m]))"),
        test: check(
            record,
            "summed over devices, lo left out",
            vec![
                (
                    series_of(TEST_AGENT, metric, &[("device", "eth0")]),
                    "0+600x20".into(),
                ),
                (
                    series_of(TEST_AGENT, metric, &[("device", "eth1")]),
                    "0+60x20".into(),
                ),
                (
                    series_of(TEST_AGENT, metric, &[("device", "lo")]),
                    "0+6000x20".into(),
                ),
            ],
            10 * MINUTE,
            vec![(agent_only(), 11.0)],
        ),
    }
}

/// The threshold series: one rule per threshold, giving every scraped
/// agent its value in force: the overrides of agents.txt, and the default
/// for every other agent Prometheus scrapes (any target with an `agent`
/// label, so hand-written scrape configs get them too). One rule per threshold,
/// not per agent: thousands of agents stay seven cheap rules.
pub fn thresholds(inv: &Inventory, s: &Settings) -> Vec<Rule> {
    Threshold::ALL
        .into_iter()
        .map(|t| {
            let mut parts: Vec<String> = inv
                .agents
                .iter()
                .filter_map(|a| {
                    let v = a.thresholds.get(&t)?;
                    Some(format!(
                        "label_replace(vector({}), \"agent\", \"{}\", \"\", \"\")",
                        number(*v),
                        a.name
                    ))
                })
                .collect();
            parts.push(format!(
                "max by (agent) (up{{agent!=\"\"}}) * 0 + {}",
                number(s.threshold(t))
            ));
            Rule {
                record: Some(THRESHOLD_SERIES.into()),
                expr: parts.join(" or "),
                labels: labels(&[(THRESHOLD_LABEL, t.key())]),
                ..Default::default()
            }
        })
        .collect()
}

/// The test that the threshold series hold each agent's values in force:
/// the first agent of agents.txt and the first with an override, both
/// scraped (`up`).
pub fn thresholds_test(inv: &Inventory, s: &Settings) -> Option<ExprScript> {
    let mut agents = vec![inv.agents.first()?];
    if let Some(a) = inv.agents.iter().find(|a| !a.thresholds.is_empty()) {
        if a.name != agents[0].name {
            agents.push(a);
        }
    }
    let series = agents
        .iter()
        .map(|a| {
            (
                selector("up", &[("agent", &a.name), ("job", AGENTS_JOB)]),
                "1x5".to_string(),
            )
        })
        .collect();
    let checks = agents
        .iter()
        .map(|a| {
            let expect: BTreeMap<String, f64> = Threshold::ALL
                .into_iter()
                .map(|t| {
                    (
                        selector(
                            THRESHOLD_SERIES,
                            &[("agent", &a.name), (THRESHOLD_LABEL, t.key())],
                        ),
                        a.thresholds.get(&t).copied().unwrap_or(s.threshold(t)),
                    )
                })
                .collect();
            (
                MINUTE,
                format!("{THRESHOLD_SERIES}{{agent=\"{}\"}}", a.name),
                expect.into_iter().collect(),
            )
        })
        .collect();
    Some(ExprScript {
        name: format!("{THRESHOLD_SERIES} holds each agent's thresholds in force"),
        interval: MINUTE,
        series,
        checks,
    })
}
