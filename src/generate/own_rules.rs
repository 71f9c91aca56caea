//! Alerts on the metrics of Outpost's own collectors (`gpu`,
//! `cpu_benchmark`), each an [`AlertSpec`] with its promtool scenario like
//! every rule in `rules.rs`, which lists them among the others.
//!
//! Decisions:
//! - `GpuXidErrors` looks at `increase()` over four evaluation intervals (1m
//!   at the defaults): long enough for two scrapes when, as in every
//!   generated setup, scrapes are at most twice as far apart as
//!   evaluations; short enough that the alert resolves soon after, to fire
//!   again at the next XID. The exporter exports the counter from 0, so the
//!   first XID counts.
//! - `CpuSlowerThanUsual` compares the last benchmark run with the
//!   host's own median over the baseline (7d), not with a fleet-wide
//!   number: hosts differ, and the question is whether this one got
//!   slower. The median (not the mean) so a few slow runs do not move it.

use std::collections::BTreeMap;

use super::prometheus::AGENTS_JOB;
use super::rules::{
    annotation, constant, label, labels_of, series_of, steps, AlertSpec, QuietSeries, Scenario,
    TestSeries, TEST_AGENT, VALUE,
};
use super::settings::{number, prom_duration, Settings};
use crate::alerts::{self, Severity};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
const GPU_TOTAL: f64 = 40.0 * GIB;
/// The labels a GPU series has in the scenarios (as the exporter writes them).
const GPU: [(&str, &str); 3] = [
    ("index", "0"),
    ("name", "NVIDIA A100-SXM4-40GB"),
    ("uuid", "GPU-1b2c3d4e-0000-1111-2222-333344445555"),
];

fn job() -> String {
    format!("job=\"{AGENTS_JOB}\"")
}

fn gpu_memory(s: &Settings) -> AlertSpec {
    let used = series_of(TEST_AGENT, "nvidia_smi_memory_used_bytes", &GPU);
    let total = series_of(TEST_AGENT, "nvidia_smi_memory_total_bytes", &GPU);
    // 38 of 40 GiB: 95 %, as the rule computes it.
    let bad_used = 38.0 * GIB;
    let percent = 100.0 * bad_used / GPU_TOTAL;
    let job = job();
    AlertSpec {
        name: alerts::GPU_MEMORY_NEARLY_FULL,
        expr: format!(
            "100 * nvidia_smi_memory_used_bytes{{{job}}} / nvidia_smi_memory_total_bytes{{{job}}} > {}",
            number(s.gpu_memory_percent)
        ),
        for_: s.gpu_memory_for,
        severity: Severity::Warning,
        extra_labels: BTreeMap::new(),
        summary: annotation!("GPU ", label("index"), " on ", label("agent"), " is ", VALUE, "% full"),
        description: annotation!(
            "GPU ",
            label("index"),
            " (",
            label("name"),
            ", ",
            label("uuid"),
            ") on ",
            label("agent"),
            " has ",
            VALUE,
            format!(
                "% of its memory allocated, above {}% for more than {}. The next allocation may fail (CUDA out of memory); see /gpu for what runs there.",
                number(s.gpu_memory_percent),
                prom_duration(s.gpu_memory_for)
            ),
        ),
        scripts: vec![],
        scenario: Some(Scenario {
            lead_steps: 0,
            series: vec![
                TestSeries {
                    selector: used.clone(),
                    lead: GIB,
                    bad: bad_used,
                    good: GIB,
                },
                TestSeries {
                    selector: total.clone(),
                    lead: GPU_TOTAL,
                    bad: GPU_TOTAL,
                    good: GPU_TOTAL,
                },
            ],
            quiet: vec![
                QuietSeries {
                    selector: used,
                    values: constant((GPU_TOTAL * s.gpu_memory_percent / 100.0 * 0.9).round(), 20),
                },
                QuietSeries {
                    selector: total,
                    values: constant(GPU_TOTAL, 20),
                },
            ],
            labels: labels_of(TEST_AGENT, Severity::Warning, &GPU),
            value: percent,
            resolves: true,
        }),
    }
}

fn gpu_hot(s: &Settings) -> AlertSpec {
    let series = series_of(TEST_AGENT, "nvidia_smi_temperature_gpu", &GPU);
    let bad = s.gpu_temperature + 7.0;
    AlertSpec {
        name: alerts::GPU_TOO_HOT,
        expr: format!(
            "nvidia_smi_temperature_gpu{{{}}} > {}",
            job(),
            number(s.gpu_temperature)
        ),
        for_: s.gpu_temperature_for,
        severity: Severity::Warning,
        extra_labels: BTreeMap::new(),
        summary: annotation!("GPU ", label("index"), " on ", label("agent"), " is at ", VALUE, "°C"),
        description: annotation!(
            "GPU ",
            label("index"),
            " (",
            label("name"),
            ", ",
            label("uuid"),
            ") on ",
            label("agent"),
            " is at ",
            VALUE,
            format!(
                "°C, above {}°C for more than {}. It will slow its clocks to cool down; check its fans, the airflow and the room.",
                number(s.gpu_temperature),
                prom_duration(s.gpu_temperature_for)
            ),
        ),
        scripts: vec![],
        scenario: Some(Scenario {
            lead_steps: 0,
            series: vec![TestSeries {
                selector: series.clone(),
                lead: 45.0,
                bad,
                good: 45.0,
            }],
            quiet: vec![QuietSeries {
                selector: series,
                values: constant(s.gpu_temperature - 5.0, 20),
            }],
            labels: labels_of(TEST_AGENT, Severity::Warning, &GPU),
            value: bad,
            resolves: true,
        }),
    }
}

fn gpu_xid(s: &Settings) -> AlertSpec {
    let window = s.evaluation_interval * 4;
    let series = series_of(TEST_AGENT, "outpost_gpu_xid_errors_total", &GPU);
    AlertSpec {
        name: alerts::GPU_XID_ERRORS,
        expr: format!(
            "increase(outpost_gpu_xid_errors_total{{{}}}[{}]) > 0",
            job(),
            prom_duration(window)
        ),
        for_: std::time::Duration::ZERO,
        severity: Severity::Critical,
        extra_labels: BTreeMap::new(),
        summary: annotation!("XID errors on GPU ", label("index"), " of ", label("agent")),
        description: annotation!(
            "The NVIDIA driver reported critical XID errors on GPU ",
            label("index"),
            " (",
            label("name"),
            ", ",
            label("uuid"),
            ") of ",
            label("agent"),
            ". /gpu shows the last XID code (e.g. 79: fallen off the bus, 48: double-bit ECC error, 13/31/43: a program's fault); look up the code in NVIDIA's XID table and the kernel log."
        ),
        scripts: vec![],
        scenario: Some(Scenario {
            // The window first holds only zeros.
            lead_steps: steps(window, s.evaluation_interval) + 1,
            series: vec![TestSeries {
                selector: series.clone(),
                lead: 0.0,
                bad: 1.0,
                good: 1.0,
            }],
            quiet: vec![QuietSeries {
                selector: series,
                values: constant(2.0, 20),
            }],
            labels: labels_of(TEST_AGENT, Severity::Critical, &GPU),
            value: 0.0,
            resolves: true,
        }),
    }
}

fn cpu_slower(s: &Settings) -> AlertSpec {
    let series = series_of(TEST_AGENT, "outpost_cpu_benchmark_duration_seconds", &[]);
    let f = steps(s.cpu_slow_for, s.evaluation_interval);
    // More usual runs than slow ones in the window, so the median stays.
    let lead = 2 * (f + 3);
    let (usual, slow) = (0.004, 0.008);
    let base = prom_duration(s.cpu_slow_baseline);
    let job = job();
    AlertSpec {
        name: alerts::CPU_SLOWER_THAN_USUAL,
        expr: format!(
            "outpost_cpu_benchmark_duration_seconds{{{job}}} / quantile_over_time(0.5, outpost_cpu_benchmark_duration_seconds{{{job}}}[{base}]) > {}",
            number(s.cpu_slow_factor)
        ),
        for_: s.cpu_slow_for,
        severity: Severity::Warning,
        extra_labels: BTreeMap::new(),
        summary: annotation!("CPU of ", label("agent"), " is ", VALUE, "× slower than usual"),
        description: annotation!(
            "The fixed CPU benchmark on ",
            label("agent"),
            " takes ",
            VALUE,
            format!(
                " times its own {base} median, more than {}× for over {}. The provider may be throttling this host or overselling its CPU, even where no steal time is reported.",
                number(s.cpu_slow_factor),
                prom_duration(s.cpu_slow_for)
            ),
        ),
        scripts: vec![],
        scenario: Some(Scenario {
            lead_steps: lead,
            series: vec![TestSeries {
                selector: series.clone(),
                lead: usual,
                bad: slow,
                good: usual,
            }],
            quiet: vec![QuietSeries {
                // Slower, but not by the factor.
                selector: series,
                values: format!(
                    "{} {}",
                    constant(usual, lead),
                    constant(usual * (1.0 + (s.cpu_slow_factor - 1.0) / 2.0), f + 8)
                ),
            }],
            labels: labels_of(TEST_AGENT, Severity::Warning, &[]),
            value: slow / usual,
            resolves: true,
        }),
    }
}

/// The alerts on Outpost's own collectors, in rule-file order.
pub fn alerts(s: &Settings) -> Vec<AlertSpec> {
    vec![gpu_memory(s), gpu_hot(s), gpu_xid(s), cpu_slower(s)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_come_from_the_settings() {
        let s = Settings {
            cpu_slow_factor: 2.0,
            gpu_temperature: 80.0,
            ..Settings::default()
        };
        let all = alerts(&s);
        let by = |n: &str| all.iter().find(|a| a.name == n).unwrap();
        assert!(by("CpuSlowerThanUsual").expr.ends_with("[7d]) > 2"));
        assert_eq!(
            by("CpuSlowerThanUsual").for_,
            std::time::Duration::from_secs(1200)
        );
        assert!(by("GpuTooHot").expr.ends_with("> 80"));
        assert!(by("GpuXidErrors").expr.contains("[1m]"));
        for a in &all {
            assert!(
                a.scenario.as_ref().unwrap().labels.contains_key("agent"),
                "{}",
                a.name
            );
        }
    }
}
