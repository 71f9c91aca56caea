//! `prometheus/tests/*.yml`: promtool unit tests, one file per alert name,
//! built from each alert's [`Scenario`](super::rules::Scenario) (the alert
//! does not fire before its `for`, fires with the expected labels and
//! annotations, resolves, and stays quiet below its threshold) and its
//! hand-written [`Script`]s; plus `recording.yml` and `recording-5m.yml`,
//! the tests of every recording rule and of the threshold series. A file is
//! evaluated as often as its finest input series (scripts spanning hours
//! step by the minute), since promtool's cost grows with evaluations.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::inventory::Inventory;
use super::recording::{records, thresholds_test, ExprScript, MINUTE};
use super::rules::{alerts, steps, AlertSpec, Firing, Script, RULE_FILE};
use super::settings::{number, prom_duration, Settings};

#[derive(Debug, Serialize)]
pub struct TestFile {
    pub rule_files: Vec<String>,
    pub evaluation_interval: String,
    /// [`super::rules::GROUPS`]: the order the rule file's groups must run in.
    pub group_eval_order: Vec<String>,
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
/// The groups of the rule file in evaluation order, for `group_eval_order`.
fn eval_order() -> Vec<String> {
    super::rules::GROUPS.iter().map(|g| g.to_string()).collect()
}

fn alert_file(specs: &[&AlertSpec], s: &Settings) -> TestFile {
    let step = s.evaluation_interval;
    let at = |n: u64| prom_duration(step * n as u32);
    let mut groups = Vec::new();
    for spec in specs {
        for script in &spec.scripts {
            groups.push(script_group(spec, specs, script));
        }
        let Some(sc) = &spec.scenario else {
            continue;
        };
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
    // Rules are evaluated as often as the finest input series needs: the
    // configured interval for the generic scenarios, a minute for scripts
    // spanning hours (promtool's cost grows with the evaluations).
    let evaluation = specs
        .iter()
        .flat_map(|spec| {
            spec.scenario
                .iter()
                .map(|_| step)
                .chain(spec.scripts.iter().map(|s| s.interval))
        })
        .min()
        .unwrap_or(step);
    TestFile {
        rule_files: vec![format!("../{RULE_FILE}")],
        evaluation_interval: prom_duration(evaluation),
        group_eval_order: eval_order(),
        tests: groups,
    }
}

/// The expected alert of a scripted firing: its annotations come from the
/// rule of its severity (rules sharing a name differ in severity).
fn expected(specs: &[&AlertSpec], f: &Firing) -> ExpAlert {
    let severity = f.labels.get("severity").map(String::as_str);
    let spec = specs
        .iter()
        .find(|s| Some(s.severity.as_str()) == severity)
        .unwrap_or(&specs[0]);
    ExpAlert {
        exp_labels: f.labels.clone(),
        exp_annotations: BTreeMap::from([
            ("summary".into(), spec.summary.render(&f.labels, f.value)),
            (
                "description".into(),
                spec.description.render(&f.labels, f.value),
            ),
        ]),
    }
}

fn script_group(spec: &AlertSpec, specs: &[&AlertSpec], script: &Script) -> TestGroup {
    TestGroup {
        name: format!("{}: {}", spec.name, script.name),
        interval: prom_duration(script.interval),
        input_series: script
            .series
            .iter()
            .map(|(series, values)| InputSeries {
                series: series.clone(),
                values: values.clone(),
            })
            .collect(),
        alert_rule_test: script
            .cases
            .iter()
            .map(|c| AlertTestCase {
                eval_time: prom_duration(c.at),
                alertname: spec.name.into(),
                exp_alerts: c.firing.iter().map(|f| expected(specs, f)).collect(),
            })
            .collect(),
        promql_expr_test: Vec::new(),
    }
}

fn expr_group(e: &ExprScript) -> TestGroup {
    TestGroup {
        name: e.name.clone(),
        interval: prom_duration(e.interval),
        input_series: e
            .series
            .iter()
            .map(|(series, values)| InputSeries {
                series: series.clone(),
                values: values.clone(),
            })
            .collect(),
        alert_rule_test: Vec::new(),
        promql_expr_test: e
            .checks
            .iter()
            .map(|(at, expr, samples)| ExprTestCase {
                expr: expr.clone(),
                eval_time: prom_duration(*at),
                exp_samples: samples
                    .iter()
                    .map(|(labels, value)| ExpSample {
                        labels: labels.clone(),
                        value: *value,
                    })
                    .collect(),
            })
            .collect(),
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

/// Every recording rule's test, and the threshold series'.
/// `recording.yml`: the tests stepping at the configured evaluation interval
/// (the CPU record over `--rate-window`); `recording-5m.yml`: the records
/// over fixed 5m windows and the threshold series, stepping by the minute.
fn recording_files(inv: &Inventory, s: &Settings) -> [(String, TestFile); 2] {
    let (fine, coarse): (Vec<ExprScript>, Vec<ExprScript>) = records(s)
        .into_iter()
        .map(|r| r.test)
        .chain(thresholds_test(inv, s))
        .partition(|t| t.interval < MINUTE);
    let file = |tests: Vec<ExprScript>, evaluation: Duration| TestFile {
        rule_files: vec![format!("../{RULE_FILE}")],
        evaluation_interval: prom_duration(evaluation),
        group_eval_order: eval_order(),
        tests: tests.iter().map(expr_group).collect(),
    };
    [
        (
            "recording.yml".into(),
            file(fine, s.evaluation_interval.min(MINUTE)),
        ),
        ("recording-5m.yml".into(), file(coarse, MINUTE)),
    ]
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
    files.extend(recording_files(inv, s));
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
            if a.name != crate::alerts::WATCHDOG {
                let quiet = if a.scenario.is_some() { 3 } else { 1 };
                assert!(
                    cases.iter().filter(|c| c.exp_alerts.is_empty()).count() >= quiet,
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
