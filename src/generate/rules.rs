//! `prometheus/rules/outpost.yml`: the alert and recording rules, as typed
//! structs. Each alert is described once ([`AlertSpec`]) together with the
//! scenario its promtool unit test replays (see `rule_tests.rs`), so a rule
//! cannot be added without a test. Names and severities come from the
//! catalog ([`crate::alerts`]); the seed alerts are in `seed_rules.rs`,
//! node-mixin's alerts and Outpost's extras in `node_rules.rs`, recording
//! rules and threshold series in `recording.rs`.
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
use super::prometheus::AGENTS_JOB;
use super::settings::{number, prom_duration, Settings};
use super::{node_rules, recording, seed_rules};
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
    ($($part:expr),* $(,)?) => {
        $crate::generate::rules::Annotation(vec![$($crate::generate::rules::Part::from($part)),*])
    };
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
/// fires), then the override agent rises above its own (both fire). Inputs
/// and checks step by `step`.
pub fn override_script(p: &Probe, for_: Duration, step: Duration, s: &Settings) -> Script {
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

pub fn constant(v: f64, steps: u64) -> String {
    format!("{}x{steps}", number(v))
}

/// Steps of `step` needed to cover `d` (at least one).
pub fn steps(d: Duration, step: Duration) -> u64 {
    (d.as_millis().div_ceil(step.as_millis().max(1)) as u64).max(1)
}

/// Every alert, in rule-file order.
pub fn alerts(inv: &Inventory, s: &Settings) -> Vec<AlertSpec> {
    let mut all = vec![
        seed_rules::agent_down(s),
        seed_rules::high_cpu(s),
        seed_rules::memory_alert(
            alerts::AGENT_HIGH_MEMORY,
            Threshold::Memory,
            s.memory_for,
            Severity::Warning,
            "High",
            s,
        ),
        seed_rules::memory_alert(
            alerts::HIGH_MEMORY_USAGE,
            Threshold::MemoryCritical,
            s.memory_critical_for,
            Severity::Critical,
            "Critical",
            s,
        ),
        seed_rules::high_disk(s),
        seed_rules::high_load(s),
    ];
    all.extend(
        inv.failure_thresholds()
            .into_iter()
            .map(|n| seed_rules::tcp_down(s, n)),
    );
    all.push(seed_rules::cpu_anomaly(s));
    all.extend(node_rules::alerts(s));
    all.extend(super::own_rules::alerts(s));
    all.push(seed_rules::watchdog());
    all
}

/// The rule groups, in the order they must be evaluated: thresholds and
/// recording rules before the alerts that read them. Prometheus evaluates
/// groups independently; promtool's unit tests pick an order at random
/// unless the test file names one (`group_eval_order`), and an alert
/// evaluated before the recording rule it reads made a test flaky.
pub const GROUPS: [&str; 3] = ["outpost.thresholds", "outpost.recording", "outpost.alerts"];

/// The whole rule file.
pub fn build(inv: &Inventory, s: &Settings) -> RuleFile {
    let mut groups = Vec::new();
    let thresholds = recording::thresholds(inv, s);
    if !thresholds.is_empty() {
        groups.push(RuleGroup {
            name: GROUPS[0].into(),
            rules: thresholds,
        });
    }
    groups.extend([
        RuleGroup {
            name: GROUPS[1].into(),
            rules: recording::records(s).iter().map(|r| r.rule()).collect(),
        },
        RuleGroup {
            name: GROUPS[2].into(),
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
