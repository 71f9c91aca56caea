//! `prometheus/rules/outpost.yml`: the alert and recording rules, as typed
//! structs. Each alert is described once ([`AlertSpec`]) together with the
//! scenario its promtool unit test replays (see `rule_tests.rs`), so a rule
//! cannot be added without a test. Names and severities come from the
//! catalog ([`crate::alerts`]); node-mixin's alerts and Outpost's extras are
//! in `node_rules.rs`, recording rules and threshold series in `recording.rs`.
//!
//! Decisions:
//! - Alerts with a per-agent threshold compare against the threshold series
//!   (`EXPR > on (agent) group_left () (THRESHOLD or on (agent) DEFAULT)`):
//!   one rule for every agent. The default stays in the rule as a fallback
//!   so an agent Prometheus scrapes without an agents.txt line (and the unit
//!   tests' agents) still get it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::inventory::Inventory;
use super::prometheus::{AGENTS_JOB, TCP_JOB_PREFIX};
use super::settings::{number, prom_duration, Settings};
use super::{node_rules, recording};
use crate::alerts::{self, Severity, Threshold, THRESHOLD_LABEL, THRESHOLD_SERIES};

pub use super::recording::CPU_RECORD;
/// Filesystem types never alerted on (memory-backed and read-only images).
pub const FS_TYPES_IGNORED: &str = "tmpfs|ramfs|devtmpfs|squashfs|iso9660|autofs|nsfs";
/// The rule file, relative to `prometheus/`.
pub const RULE_FILE: &str = "rules/outpost.yml";

#[derive(Debug, Serialize)]
pub struct RuleFile {
    pub groups: Vec<RuleGroup>,
}

#[derive(Debug, Serialize)]
pub struct RuleGroup {
    pub name: String,
    pub rules: Vec<Rule>,
}

/// A recording rule (`record`) or an alerting rule (`alert`).
#[derive(Debug, Default, Serialize)]
pub struct Rule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    pub expr: String,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// One piece of an annotation: fixed text, a label of the alert, or the
/// alert's value (one decimal).
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Label(&'static str),
    Value,
}

/// An annotation as parts, rendered either to Prometheus's Go template or,
/// for the unit tests, to the text Prometheus will produce.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation(pub Vec<Part>);

impl Annotation {
    /// The Go template Prometheus expands.
    pub fn template(&self) -> String {
        self.0
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.clone(),
                Part::Label(l) => format!("{{{{ $labels.{l} }}}}"),
                Part::Value => "{{ printf \"%.1f\" $value }}".to_string(),
            })
            .collect()
    }

    /// The text for an alert with these labels and value.
    pub fn render(&self, labels: &BTreeMap<String, String>, value: f64) -> String {
        self.0
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.clone(),
                Part::Label(l) => labels.get(*l).cloned().unwrap_or_default(),
                Part::Value => format!("{value:.1}"),
            })
            .collect()
    }
}

/// Builds an [`Annotation`] from literals: `"text"`, `label("agent")`, `VALUE`.
macro_rules! annotation {
    ($($part:expr),* $(,)?) => { Annotation(vec![$(Part::from($part)),*]) };
}
pub(crate) use annotation;

impl From<&str> for Part {
    fn from(s: &str) -> Part {
        Part::Text(s.to_string())
    }
}
impl From<String> for Part {
    fn from(s: String) -> Part {
        Part::Text(s)
    }
}

pub fn label(name: &'static str) -> Part {
    Part::Label(name)
}
pub const VALUE: Part = Part::Value;

/// One input series of a unit-test scenario: its value before, during and
/// after the bad phase.
#[derive(Debug, Clone, PartialEq)]
pub struct TestSeries {
    pub selector: String,
    pub lead: f64,
    pub bad: f64,
    pub good: f64,
}

/// A series that must never make the alert fire, in promtool's value notation.
#[derive(Debug, Clone, PartialEq)]
pub struct QuietSeries {
    pub selector: String,
    pub values: String,
}

/// What a promtool test replays for one alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Evaluation steps of `lead` values before the bad phase (fills windows).
    pub lead_steps: u64,
    pub series: Vec<TestSeries>,
    pub quiet: Vec<QuietSeries>,
    /// Labels of the firing alert (without `alertname`).
    pub labels: BTreeMap<String, String>,
    /// The alert's `$value` during the bad phase.
    pub value: f64,
    /// False for an alert that never resolves (Watchdog).
    pub resolves: bool,
}

/// An alert expected to fire in a [`Script`] case.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    /// Every label of the alert, `severity` included (not `alertname`).
    pub labels: BTreeMap<String, String>,
    /// Its `$value`, for the annotations.
    pub value: f64,
}

/// One evaluation time of a [`Script`] and the alerts (of the spec's name,
/// all its rules) firing then.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub at: Duration,
    pub firing: Vec<Firing>,
}

/// A hand-written promtool test group: input series in promtool notation
/// (one value per `interval`) and what fires when. Used where a scenario
/// needs counters, slopes or several agents side by side.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub name: String,
    pub interval: Duration,
    pub series: Vec<(String, String)>,
    pub cases: Vec<Case>,
}

impl Script {
    pub fn new(name: impl Into<String>, interval: Duration) -> Script {
        Script {
            name: name.into(),
            interval,
            series: Vec::new(),
            cases: Vec::new(),
        }
    }
    pub fn series(mut self, selector: String, values: impl Into<String>) -> Script {
        self.series.push((selector, values.into()));
        self
    }
    pub fn at(mut self, at: Duration, firing: Vec<Firing>) -> Script {
        self.cases.push(Case { at, firing });
        self
    }
}

/// An alerting rule and its test scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSpec {
    pub name: &'static str,
    pub expr: String,
    pub for_: Duration,
    pub severity: Severity,
    /// Rule labels besides `severity` (they keep rules that share an alert
    /// name distinct, e.g. `failures` on `TcpTargetDown`).
    pub extra_labels: BTreeMap<String, String>,
    pub summary: Annotation,
    pub description: Annotation,
    /// The generic fire/resolve/quiet test (see `rule_tests.rs`).
    pub scenario: Option<Scenario>,
    /// Hand-written test groups: edge cases, overrides, counters.
    pub scripts: Vec<Script>,
}

impl AlertSpec {
    fn rule(&self) -> Rule {
        Rule {
            alert: Some(self.name.to_string()),
            expr: self.expr.clone(),
            for_: (!self.for_.is_zero()).then(|| prom_duration(self.for_)),
            labels: {
                let mut l = self.extra_labels.clone();
                l.insert("severity".into(), self.severity.as_str().into());
                l
            },
            annotations: BTreeMap::from([
                ("summary".into(), self.summary.template()),
                ("description".into(), self.description.template()),
            ]),
            ..Default::default()
        }
    }
}

/// The agent and addresses the unit tests use.
pub const TEST_AGENT: &str = "agent-under-test";
pub const TEST_INSTANCE: &str = "192.0.2.10:9100";
/// A unit-test agent with every threshold overridden (by an input series
/// standing for its agents.txt line).
pub const OVERRIDE_AGENT: &str = "agent-with-override";
const OVERRIDE_INSTANCE: &str = "192.0.2.11:9100";

/// `EXPR OP threshold`, the threshold being the agent's series or, for an
/// agent without one, the default from `s`.
pub fn against(expr: &str, op: &str, t: Threshold, s: &Settings) -> String {
    alerts::against(expr, op, t, &number(s.threshold(t)))
}

/// The threshold series of one test agent, as a promtool input series.
pub fn threshold_input(agent: &str, t: Threshold) -> String {
    selector(
        THRESHOLD_SERIES,
        &[("agent", agent), (THRESHOLD_LABEL, t.key())],
    )
}

/// A test agent's series (`agent`, `instance`, `job` plus `extra`).
pub fn series_of(agent: &str, name: &str, extra: &[(&str, &str)]) -> String {
    let instance = if agent == OVERRIDE_AGENT {
        OVERRIDE_INSTANCE
    } else {
        TEST_INSTANCE
    };
    let mut pairs = vec![
        ("agent", agent),
        ("instance", instance),
        ("job", AGENTS_JOB),
    ];
    pairs.extend_from_slice(extra);
    selector(name, &pairs)
}

/// The labels of an alert on a test agent's series.
pub fn labels_of(
    agent: &str,
    severity: Severity,
    extra: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let instance = if agent == OVERRIDE_AGENT {
        OVERRIDE_INSTANCE
    } else {
        TEST_INSTANCE
    };
    let mut l = labels(&[
        ("agent", agent),
        ("instance", instance),
        ("job", AGENTS_JOB),
        ("severity", severity.as_str()),
    ]);
    l.extend(labels(extra));
    l
}

/// Input series of a test agent at a level: (selector, constant value).
pub type Inputs<'a> = &'a dyn Fn(&str, f64) -> Vec<(String, f64)>;

/// What an override test needs to know about a threshold alert.
pub struct Probe<'a> {
    pub threshold: Threshold,
    /// The input series of an agent at a level (percent or ratio), constant.
    pub inputs: Inputs<'a>,
    /// The labels of the alert on that agent.
    pub labels: &'a dyn Fn(&str) -> BTreeMap<String, String>,
    /// The alert's `$value` at a level.
    pub value: &'a dyn Fn(f64) -> f64,
}

/// The override test of a threshold alert: both agents sit between the
/// default and the override agent's threshold (only the default agent
/// fires), then the override agent rises above its own (both fire).
pub fn override_script(p: &Probe, for_: Duration, s: &Settings) -> Script {
    let step = s.evaluation_interval;
    let d = s.threshold(p.threshold);
    let (own, mid, high) = match p.threshold.unit() {
        alerts::Unit::Percent => {
            let own = (d + 100.0) / 2.0;
            (own, (d + own) / 2.0, (own + 100.0) / 2.0)
        }
        _ => (d * 2.0, d * 1.5, d * 3.0),
    };
    let n = steps(for_, step) + 3;
    let mut script = Script::new(
        format!(
            "{} per agent: {OVERRIDE_AGENT} with {}={} next to {TEST_AGENT} on the default {}",
            p.threshold.alert(),
            p.threshold.key(),
            number(own),
            number(d)
        ),
        step,
    );
    let default_inputs = (p.inputs)(TEST_AGENT, mid);
    for (sel, v) in &default_inputs {
        script = script.series(sel.clone(), constant(*v, 2 * n));
    }
    for ((sel, lo), (_, hi)) in (p.inputs)(OVERRIDE_AGENT, mid)
        .into_iter()
        .zip((p.inputs)(OVERRIDE_AGENT, high))
    {
        script = script.series(sel, format!("{} {}", constant(lo, n - 1), constant(hi, n)));
    }
    script = script.series(
        threshold_input(OVERRIDE_AGENT, p.threshold),
        constant(own, 2 * n),
    );
    let at = |k: u64| step * k as u32;
    let default_firing = Firing {
        labels: (p.labels)(TEST_AGENT),
        value: (p.value)(mid),
    };
    script.at(at(n - 1), vec![default_firing.clone()]).at(
        at(2 * n - 1),
        vec![
            default_firing,
            Firing {
                labels: (p.labels)(OVERRIDE_AGENT),
                value: (p.value)(high),
            },
        ],
    )
}

pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn selector(name: &str, pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

fn agent_series(name: &str, extra: &[(&str, &str)]) -> String {
    series_of(TEST_AGENT, name, extra)
}

fn agent_labels(severity: Severity, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    labels_of(TEST_AGENT, severity, extra)
}

pub fn constant(v: f64, steps: u64) -> String {
    format!("{}x{steps}", number(v))
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

fn agent_down(s: &Settings) -> AlertSpec {
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

fn high_cpu(s: &Settings) -> AlertSpec {
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

fn memory_alert(
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

fn high_disk(s: &Settings) -> AlertSpec {
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

fn high_load(s: &Settings) -> AlertSpec {
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
fn tcp_down(s: &Settings, failures: u32) -> AlertSpec {
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

/// Steps of `step` needed to cover `d` (at least one).
pub fn steps(d: Duration, step: Duration) -> u64 {
    (d.as_millis().div_ceil(step.as_millis().max(1)) as u64).max(1)
}

fn cpu_anomaly(s: &Settings) -> AlertSpec {
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

fn watchdog() -> AlertSpec {
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

/// Every alert, in rule-file order.
pub fn alerts(inv: &Inventory, s: &Settings) -> Vec<AlertSpec> {
    let mut all = vec![
        agent_down(s),
        high_cpu(s),
        memory_alert(
            alerts::AGENT_HIGH_MEMORY,
            Threshold::Memory,
            s.memory_for,
            Severity::Warning,
            "High",
            s,
        ),
        memory_alert(
            alerts::HIGH_MEMORY_USAGE,
            Threshold::MemoryCritical,
            s.memory_critical_for,
            Severity::Critical,
            "Critical",
            s,
        ),
        high_disk(s),
        high_load(s),
    ];
    all.extend(inv.failure_thresholds().into_iter().map(|n| tcp_down(s, n)));
    all.push(cpu_anomaly(s));
    all.extend(node_rules::alerts(s));
    all.push(watchdog());
    all
}

/// The whole rule file.
pub fn build(inv: &Inventory, s: &Settings) -> RuleFile {
    let mut groups = Vec::new();
    let thresholds = recording::thresholds(inv, s);
    if !thresholds.is_empty() {
        groups.push(RuleGroup {
            name: "outpost.thresholds".into(),
            rules: thresholds,
        });
    }
    groups.extend([
        RuleGroup {
            name: "outpost.recording".into(),
            rules: recording::records(s).iter().map(|r| r.rule()).collect(),
        },
        RuleGroup {
            name: "outpost.alerts".into(),
            rules: alerts(inv, s).iter().map(AlertSpec::rule).collect(),
        },
    ]);
    RuleFile { groups }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::inventory::parse;

    /// The rules and the catalog agree: every catalog name and severity has
    /// a rule, every rule's name and severity is in the catalog, and every
    /// rule is shown firing and not firing by its tests.
    #[test]
    fn rules_follow_the_catalog_and_each_fires_and_stays_quiet_in_a_test() {
        let inv = parse("a", "w 1.2.3.4:9100\n").unwrap();
        let all = alerts(&inv, &Settings::default());
        let mut have: Vec<(&str, Severity)> = all.iter().map(|a| (a.name, a.severity)).collect();
        have.sort();
        have.dedup();
        let mut want: Vec<(&str, Severity)> = alerts::CATALOG
            .iter()
            .flat_map(|e| e.severities.iter().map(move |s| (e.name, *s)))
            .collect();
        want.sort();
        assert_eq!(have, want);
        for a in &all {
            let fires = a.scenario.is_some()
                || all.iter().filter(|b| b.name == a.name).any(|b| {
                    b.scripts.iter().any(|s| {
                        s.cases.iter().any(|c| {
                            c.firing.iter().any(|f| {
                                f.labels.get("severity").map(String::as_str)
                                    == Some(a.severity.as_str())
                            })
                        })
                    })
                });
            assert!(
                fires,
                "{} ({}) is never shown firing",
                a.name,
                a.severity.as_str()
            );
            let quiet = a.scenario.is_some()
                || all.iter().filter(|b| b.name == a.name).any(|b| {
                    b.scripts
                        .iter()
                        .any(|s| s.cases.iter().any(|c| c.firing.is_empty()))
                });
            assert!(quiet, "{} is never shown quiet", a.name);
        }
    }

    #[test]
    fn threshold_alerts_compare_against_the_series_with_the_default_as_fallback() {
        let s = Settings {
            cpu_percent: 70.0,
            ..Default::default()
        };
        let inv = parse("a", "w 1.2.3.4:9100\n").unwrap();
        let cpu = alerts(&inv, &s)
            .into_iter()
            .find(|a| a.name == alerts::AGENT_HIGH_CPU)
            .unwrap();
        assert_eq!(
            cpu.expr,
            "agent:cpu_usage:percent > on (agent) group_left () (agent:outpost_threshold:value{threshold=\"cpu_threshold\"} or on (agent) count by (agent) (agent:cpu_usage:percent) * 0 + 70)"
        );
        assert_eq!(cpu.scripts.len(), 1, "the override scenario");
    }

    #[test]
    fn annotations_render_like_the_template() {
        let a = annotation!("CPU on ", label("agent"), " is ", VALUE, "%");
        assert_eq!(
            a.template(),
            "CPU on {{ $labels.agent }} is {{ printf \"%.1f\" $value }}%"
        );
        assert_eq!(
            a.render(&labels(&[("agent", "web1")]), 91.25),
            "CPU on web1 is 91.2%"
        );
    }

    #[test]
    fn every_agent_alert_has_agent_label_severity_and_annotations() {
        let inv = parse("a", "w 1.2.3.4:9100\ncheck c h:1 from w failures=5\n").unwrap();
        let all = alerts(&inv, &Settings::default());
        let names: Vec<&str> = all.iter().map(|a| a.name).collect();
        for required in [
            "AgentDown",
            "AgentHighCPU",
            "AgentHighMemory",
            "AgentHighDisk",
            "HighLoad",
            "HighMemoryUsage",
            "TcpTargetDown",
            "CpuAnomaly",
            "Watchdog",
        ] {
            assert!(names.contains(&required), "{required} missing");
        }
        // Default threshold 3 and the check's 5.
        assert_eq!(names.iter().filter(|n| **n == "TcpTargetDown").count(), 2);
        for a in &all {
            assert!(!a.summary.template().is_empty() && !a.description.template().is_empty());
            let firing: Vec<&BTreeMap<String, String>> = all
                .iter()
                .filter(|b| b.name == a.name)
                .flat_map(|b| {
                    b.scenario
                        .iter()
                        .map(|sc| &sc.labels)
                        .chain(b.scripts.iter().flat_map(|s| {
                            s.cases
                                .iter()
                                .flat_map(|c| c.firing.iter().map(|f| &f.labels))
                        }))
                })
                .collect();
            assert!(!firing.is_empty(), "{} never fires in a test", a.name);
            for l in firing {
                assert!(l.contains_key("severity"), "{}", a.name);
                if a.name != alerts::WATCHDOG {
                    assert!(l.contains_key("agent"), "{}", a.name);
                }
            }
        }
        let tcp5 = all
            .iter()
            .find(|a| a.name == "TcpTargetDown" && a.expr.contains("\"5\""))
            .unwrap();
        assert_eq!(tcp5.for_, Duration::from_secs(60));
    }
}
