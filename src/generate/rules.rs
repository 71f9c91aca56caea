//! `prometheus/rules/outpost.yml`: the alert and recording rules, as typed
//! structs. Each alert is described once ([`AlertSpec`]) together with the
//! scenario its promtool unit test replays (see `rule_tests.rs`), so a rule
//! cannot be added without a test.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::inventory::Inventory;
use super::prometheus::{AGENTS_JOB, TCP_JOB_PREFIX};
use super::settings::{number, prom_duration, Settings};

/// Recording rule: CPU busy percentage per agent (0–100).
pub const CPU_RECORD: &str = "agent:cpu_usage:percent";
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
    ($($part:expr),* $(,)?) => {
        $crate::generate::rules::Annotation(vec![$($crate::generate::rules::Part::from($part)),*])
    };
}
pub(super) use annotation;

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

pub(super) fn label(name: &'static str) -> Part {
    Part::Label(name)
}
pub(super) const VALUE: Part = Part::Value;

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

/// An alerting rule and its test scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSpec {
    pub name: &'static str,
    pub expr: String,
    pub for_: Duration,
    pub severity: &'static str,
    /// Rule labels besides `severity` (they keep rules that share an alert
    /// name distinct, e.g. `failures` on `TcpTargetDown`).
    pub extra_labels: BTreeMap<String, String>,
    pub summary: Annotation,
    pub description: Annotation,
    pub scenario: Scenario,
}

impl AlertSpec {
    fn rule(&self) -> Rule {
        Rule {
            alert: Some(self.name.to_string()),
            expr: self.expr.clone(),
            for_: (!self.for_.is_zero()).then(|| prom_duration(self.for_)),
            labels: {
                let mut l = self.extra_labels.clone();
                l.insert("severity".into(), self.severity.into());
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
const TEST_INSTANCE: &str = "192.0.2.10:9100";

pub(super) fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(super) fn selector(name: &str, pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

pub(super) fn agent_series(name: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("agent", TEST_AGENT),
        ("instance", TEST_INSTANCE),
        ("job", AGENTS_JOB),
    ];
    pairs.extend_from_slice(extra);
    selector(name, &pairs)
}

pub(super) fn agent_labels(severity: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut l = labels(&[
        ("agent", TEST_AGENT),
        ("instance", TEST_INSTANCE),
        ("job", AGENTS_JOB),
        ("severity", severity),
    ]);
    l.extend(labels(extra));
    l
}

pub(super) fn constant(v: f64, steps: u64) -> String {
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
        name: "AgentDown",
        expr: format!("up{{job=\"{AGENTS_JOB}\"}} == 0"),
        for_: s.agent_down_for,
        severity: "critical",
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
        scenario: Scenario {
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
            labels: agent_labels("critical", &[]),
            value: 0.0,
            resolves: true,
        },
    }
}

fn high_cpu(s: &Settings) -> AlertSpec {
    let series = selector(CPU_RECORD, &[("agent", TEST_AGENT)]);
    let bad = above(s.cpu_percent);
    AlertSpec {
        name: "AgentHighCPU",
        expr: format!("{CPU_RECORD} > {}", number(s.cpu_percent)),
        for_: s.cpu_for,
        severity: "warning",
        extra_labels: BTreeMap::new(),
        summary: annotation!("High CPU usage on ", label("agent"), ": ", VALUE, "%"),
        description: annotation!(
            "CPU usage on ",
            label("agent"),
            " is ",
            VALUE,
            format!(
                "% (all cores, busy time), above {}% for more than {}. Look for runaway processes with top or /mon_cpu.",
                number(s.cpu_percent),
                prom_duration(s.cpu_for)
            ),
        ),
        scenario: Scenario {
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
        },
    }
}

const MEM_TOTAL: f64 = 8_000_000_000.0;

fn memory_expr(threshold: f64) -> String {
    format!(
        "100 * (1 - node_memory_MemAvailable_bytes{{job=\"{AGENTS_JOB}\"}} / node_memory_MemTotal_bytes{{job=\"{AGENTS_JOB}\"}}) > {}",
        number(threshold)
    )
}

fn memory_alert(
    name: &'static str,
    threshold: f64,
    for_: Duration,
    severity: &'static str,
    what: &str,
) -> AlertSpec {
    let avail = agent_series("node_memory_MemAvailable_bytes", &[]);
    let total = agent_series("node_memory_MemTotal_bytes", &[]);
    let bad = avail_for(MEM_TOTAL, above(threshold));
    let good = avail_for(MEM_TOTAL, 40.0);
    AlertSpec {
        name,
        expr: memory_expr(threshold),
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
                "% of MemTotal (MemAvailable excluded), above {}% for more than {}. The kernel may start swapping or killing processes; check /mon_mem.",
                number(threshold),
                prom_duration(for_)
            ),
        ),
        scenario: Scenario {
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
        },
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
        name: "AgentHighDisk",
        expr: format!(
            "100 * (1 - node_filesystem_avail_bytes{{{filter}}} / node_filesystem_size_bytes{{{filter}}}) > {}",
            number(s.disk_percent)
        ),
        for_: s.disk_for,
        severity: "critical",
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
                "% full (space available to non-root users), above {}% for more than {}. Free space before writes start failing; check /mon_disk.",
                number(s.disk_percent),
                prom_duration(s.disk_for)
            ),
        ),
        scenario: Scenario {
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
            labels: agent_labels("critical", &fs),
            value: usage(bad, DISK_SIZE),
            resolves: true,
        },
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
        name: "HighLoad",
        expr: format!(
            "max by (agent) (node_load1{{job=\"{AGENTS_JOB}\"}}) / count by (agent) (node_cpu_seconds_total{{job=\"{AGENTS_JOB}\",mode=\"idle\"}}) > {}",
            number(s.load_per_core)
        ),
        for_: s.load_for,
        severity: "warning",
        extra_labels: BTreeMap::new(),
        summary: annotation!("High load on ", label("agent"), ": ", VALUE, " per core"),
        description: annotation!(
            "The 1-minute load average on ",
            label("agent"),
            " is ",
            VALUE,
            format!(
                " per CPU core, above {} for more than {}: more runnable (or I/O-blocked) tasks than cores can serve, so everything on the host slows down.",
                number(s.load_per_core),
                prom_duration(s.load_for)
            ),
        ),
        scenario: Scenario {
            lead_steps: 0,
            series,
            quiet,
            labels: labels(&[("agent", TEST_AGENT), ("severity", "warning")]),
            value: bad / cores,
            resolves: true,
        },
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
        name: "TcpTargetDown",
        expr: format!("probe_success{{job=~\"{TCP_JOB_PREFIX}.+\",failures=\"{n}\"}} == 0"),
        for_,
        severity: "critical",
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
        scenario: Scenario {
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
        },
    }
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
        name: "CpuAnomaly",
        expr: format!(
            "{CPU_RECORD} > (avg_over_time({CPU_RECORD}[{w}]) + 2 * stddev_over_time({CPU_RECORD}[{w}])) and {CPU_RECORD} > {}",
            number(s.anomaly_min_percent)
        ),
        for_: s.anomaly_for,
        severity: "warning",
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
        scenario: Scenario {
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
        },
    }
}

fn watchdog() -> AlertSpec {
    AlertSpec {
        name: "Watchdog",
        expr: "vector(1)".into(),
        for_: Duration::ZERO,
        severity: "none",
        extra_labels: BTreeMap::new(),
        summary: annotation!("Watchdog: the alerting pipeline is alive"),
        description: annotation!(
            "This alert always fires. The Outpost bridge treats it as a heartbeat: when it stops arriving, Prometheus, its rule evaluation, Alertmanager or the path to the bridge is broken."
        ),
        scenario: Scenario {
            lead_steps: 0,
            series: Vec::new(),
            quiet: Vec::new(),
            labels: labels(&[("severity", "none")]),
            value: 1.0,
            resolves: false,
        },
    }
}

/// Every alert, in rule-file order.
pub fn alerts(inv: &Inventory, s: &Settings) -> Vec<AlertSpec> {
    let mut all = vec![
        agent_down(s),
        high_cpu(s),
        memory_alert(
            "AgentHighMemory",
            s.memory_percent,
            s.memory_for,
            "warning",
            "High",
        ),
        memory_alert(
            "HighMemoryUsage",
            s.memory_critical_percent,
            s.memory_critical_for,
            "critical",
            "Critical",
        ),
        high_disk(s),
        high_load(s),
    ];
    all.extend(inv.failure_thresholds().into_iter().map(|n| tcp_down(s, n)));
    all.push(cpu_anomaly(s));
    all.extend(super::own_rules::alerts(s));
    all.push(watchdog());
    all
}

/// The CPU recording rule's expression.
pub fn cpu_record_expr(s: &Settings) -> String {
    format!(
        "100 * (1 - avg by (agent) (rate(node_cpu_seconds_total{{job=\"{AGENTS_JOB}\",mode=\"idle\"}}[{}])))",
        prom_duration(s.rate_window)
    )
}

/// The whole rule file.
pub fn build(inv: &Inventory, s: &Settings) -> RuleFile {
    RuleFile {
        groups: vec![
            RuleGroup {
                name: "outpost.recording".into(),
                rules: vec![Rule {
                    record: Some(CPU_RECORD.into()),
                    expr: cpu_record_expr(s),
                    ..Default::default()
                }],
            },
            RuleGroup {
                name: "outpost.alerts".into(),
                rules: alerts(inv, s).iter().map(AlertSpec::rule).collect(),
            },
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::inventory::parse;

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
            assert!(a.scenario.labels.contains_key("severity"));
            assert!(!a.summary.template().is_empty() && !a.description.template().is_empty());
            if a.name != "Watchdog" {
                assert!(a.scenario.labels.contains_key("agent"), "{}", a.name);
                assert!(
                    a.expr.contains("agent") || a.expr.contains("job="),
                    "{}",
                    a.name
                );
            }
        }
        let tcp5 = all
            .iter()
            .find(|a| a.name == "TcpTargetDown" && a.expr.contains("\"5\""))
            .unwrap();
        assert_eq!(tcp5.for_, Duration::from_secs(60));
    }
}
