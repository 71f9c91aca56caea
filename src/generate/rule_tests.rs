//! `prometheus/tests/*.yml`: promtool unit tests, one file per alert, built
//! from each alert's [`Scenario`](super::rules::Scenario): the alert does not fire before its `for`,
//! fires with the expected labels and annotations, resolves, and stays quiet
//! below its threshold. Plus a test of the CPU recording rule.

use std::collections::BTreeMap;

use serde::Serialize;

use super::inventory::Inventory;
use super::prometheus::AGENTS_JOB;
use super::rules::{alerts, steps, AlertSpec, CPU_RECORD, RULE_FILE, TEST_AGENT};
use super::settings::{number, prom_duration, Settings};

#[derive(Debug, Serialize)]
pub struct TestFile {
    pub rule_files: Vec<String>,
    pub evaluation_interval: String,
    pub tests: Vec<TestGroup>,
}

#[derive(Debug, Serialize)]
pub struct TestGroup {
    pub name: String,
    pub interval: String,
    pub input_series: Vec<InputSeries>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alert_rule_test: Vec<AlertTestCase>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub promql_expr_test: Vec<ExprTestCase>,
}

#[derive(Debug, Serialize)]
pub struct InputSeries {
    pub series: String,
    pub values: String,
}

#[derive(Debug, Serialize)]
pub struct AlertTestCase {
    pub eval_time: String,
    pub alertname: String,
    pub exp_alerts: Vec<ExpAlert>,
}

#[derive(Debug, Serialize)]
pub struct ExpAlert {
    pub exp_labels: BTreeMap<String, String>,
    pub exp_annotations: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct ExprTestCase {
    pub expr: String,
    pub eval_time: String,
    pub exp_samples: Vec<ExpSample>,
}

#[derive(Debug, Serialize)]
pub struct ExpSample {
    pub labels: String,
    pub value: f64,
}

/// `count` copies of `v` in promtool notation (`count` ≥ 1).
fn repeat(v: f64, count: u64) -> String {
    format!("{}x{}", number(v), count - 1)
}

/// The test file of one alert name (several rules may share it, e.g. one
/// `TcpTargetDown` per failure threshold: one group each).
fn alert_file(specs: &[&AlertSpec], s: &Settings) -> TestFile {
    let step = s.evaluation_interval;
    let at = |n: u64| prom_duration(step * n as u32);
    let mut groups = Vec::new();
    for spec in specs {
        let sc = &spec.scenario;
        let f = if spec.for_.is_zero() {
            0
        } else {
            steps(spec.for_, step)
        };
        let l = sc.lead_steps;
        let firing = ExpAlert {
            exp_labels: sc.labels.clone(),
            exp_annotations: BTreeMap::from([
                ("summary".into(), spec.summary.render(&sc.labels, sc.value)),
                (
                    "description".into(),
                    spec.description.render(&sc.labels, sc.value),
                ),
            ]),
        };
        let case = |t: u64, firing: Option<&ExpAlert>| AlertTestCase {
            eval_time: at(t),
            alertname: spec.name.into(),
            exp_alerts: firing
                .map(|e| {
                    vec![ExpAlert {
                        exp_labels: e.exp_labels.clone(),
                        exp_annotations: e.exp_annotations.clone(),
                    }]
                })
                .unwrap_or_default(),
        };
        let mut cases = Vec::new();
        if f >= 1 {
            // Condition true since step l, but `for` has not elapsed.
            cases.push(case(l + f - 1, None));
        }
        cases.push(case(l + f, Some(&firing)));
        if sc.resolves {
            // Bad for steps l ..= l+f+2, good from l+f+3.
            cases.push(case(l + f + 4, None));
        } else {
            cases.push(case(l + f + 10, Some(&firing)));
        }
        let input_series = sc
            .series
            .iter()
            .map(|ts| {
                let mut parts = Vec::new();
                if l > 0 {
                    parts.push(repeat(ts.lead, l));
                }
                parts.push(repeat(ts.bad, f + 3));
                parts.push(repeat(ts.good, 8));
                InputSeries {
                    series: ts.selector.clone(),
                    values: parts.join(" "),
                }
            })
            .collect();
        let threshold = if spec.for_.is_zero() {
            String::new()
        } else {
            format!(" after {}", prom_duration(spec.for_))
        };
        groups.push(TestGroup {
            name: format!("{} fires{threshold} and resolves", rule_id(spec)),
            interval: prom_duration(step),
            input_series,
            alert_rule_test: cases,
            promql_expr_test: Vec::new(),
        });
        if !sc.quiet.is_empty() {
            groups.push(TestGroup {
                name: format!("{} stays quiet below its threshold", rule_id(spec)),
                interval: prom_duration(step),
                input_series: sc
                    .quiet
                    .iter()
                    .map(|q| InputSeries {
                        series: q.selector.clone(),
                        values: q.values.clone(),
                    })
                    .collect(),
                alert_rule_test: [l + f, l + f + 2]
                    .into_iter()
                    .map(|t| case(t, None))
                    .collect(),
                promql_expr_test: Vec::new(),
            });
        }
    }
    TestFile {
        rule_files: vec![format!("../{RULE_FILE}")],
        evaluation_interval: prom_duration(step),
        tests: groups,
    }
}

/// The alert name, plus the distinguishing selector of rules that share it.
fn rule_id(spec: &AlertSpec) -> String {
    match spec.expr.split("failures=\"").nth(1) {
        Some(rest) => format!(
            "{} (failures={})",
            spec.name,
            rest.split('"').next().unwrap_or("")
        ),
        None => spec.name.to_string(),
    }
}

/// Two cores, 75 % and 25 % busy: the recording rule reports 50 %.
fn recording_file(s: &Settings) -> TestFile {
    let step = s.evaluation_interval;
    let step_secs = step.as_secs_f64();
    let window = steps(s.rate_window, step);
    let n = window + 4;
    let idle = |cpu: &str, share: f64| {
        InputSeries {
        series: format!(
            "node_cpu_seconds_total{{agent=\"{TEST_AGENT}\",cpu=\"{cpu}\",instance=\"192.0.2.10:9100\",job=\"{AGENTS_JOB}\",mode=\"idle\"}}"
        ),
        values: format!("1000000+{}x{n}", number(share * step_secs)),
    }
    };
    let user = InputSeries {
        series: format!(
            "node_cpu_seconds_total{{agent=\"{TEST_AGENT}\",cpu=\"0\",instance=\"192.0.2.10:9100\",job=\"{AGENTS_JOB}\",mode=\"user\"}}"
        ),
        values: format!("5000+{}x{n}", number(0.75 * step_secs)),
    };
    TestFile {
        rule_files: vec![format!("../{RULE_FILE}")],
        evaluation_interval: prom_duration(step),
        tests: vec![TestGroup {
            name: format!("{CPU_RECORD} averages busy time over cores"),
            interval: prom_duration(step),
            input_series: vec![idle("0", 0.25), idle("1", 0.75), user],
            alert_rule_test: Vec::new(),
            promql_expr_test: vec![ExprTestCase {
                expr: format!("round({CPU_RECORD}, 0.1)"),
                eval_time: prom_duration(step * (window + 2) as u32),
                exp_samples: vec![ExpSample {
                    labels: format!("{{agent=\"{TEST_AGENT}\"}}"),
                    value: 50.0,
                }],
            }],
        }],
    }
}

/// Every test file, keyed by file name under `prometheus/tests/`.
pub fn build(inv: &Inventory, s: &Settings) -> BTreeMap<String, TestFile> {
    let all = alerts(inv, s);
    let mut by_name: BTreeMap<&str, Vec<&AlertSpec>> = BTreeMap::new();
    for a in &all {
        by_name.entry(a.name).or_default().push(a);
    }
    let mut files: BTreeMap<String, TestFile> = by_name
        .into_iter()
        .map(|(name, specs)| (format!("{name}.yml"), alert_file(&specs, s)))
        .collect();
    files.insert("recording.yml".into(), recording_file(s));
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::inventory::parse;

    #[test]
    fn every_alert_has_a_test_file_with_before_firing_and_resolved_cases() {
        let inv = parse("a", "w 1.2.3.4:9100\n").unwrap();
        let s = Settings::default();
        let files = build(&inv, &s);
        for a in alerts(&inv, &s) {
            let file = &files[&format!("{}.yml", a.name)];
            let cases: Vec<&AlertTestCase> =
                file.tests.iter().flat_map(|g| &g.alert_rule_test).collect();
            assert!(cases.iter().any(|c| !c.exp_alerts.is_empty()), "{}", a.name);
            if a.name != "Watchdog" {
                assert!(
                    cases.iter().filter(|c| c.exp_alerts.is_empty()).count() >= 3,
                    "{}",
                    a.name
                );
            }
        }
        // AgentDown, for 1m at 15s steps: pending at 45s, firing at 1m, resolved at 2m.
        let down = &files["AgentDown.yml"].tests[0];
        let times: Vec<&str> = down
            .alert_rule_test
            .iter()
            .map(|c| c.eval_time.as_str())
            .collect();
        assert_eq!(times, ["45s", "1m", "2m"]);
        assert_eq!(down.input_series[0].values, "0x6 1x7");
    }
}
