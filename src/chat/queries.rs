//! The PromQL expressions behind `/status`, `/mon_*` and the charts, built
//! as text from a validated [`Scope`]. Every agent value goes through
//! [`promql::label_matcher`] (escaped) and comes from the agents list, never
//! straight from chat.
//!
//! Series are grouped `by (agent, instance)`: the generated Prometheus config
//! labels every target with `agent`; for hand-written configs without it, a
//! single-agent query falls back to `instance="HOST:PORT"` with PromQL `or`.

use super::agents::Agent;
use super::commands::Metric;
use super::plot::PlotMetric;
use super::promql::label_matcher;

/// Which series a query covers.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    All,
    One(&'a Agent),
}

/// Filesystems never worth reporting (the exporter already drops pseudo
/// filesystems; these are memory-backed ones it keeps).
const FS_FILTER: &str = r#"fstype!~"tmpfs|ramfs""#;

/// Builds `template(extra)` for the scope, where `extra` is a list of label
/// matchers to add inside the selector braces (possibly empty).
fn scoped(scope: Scope, template: impl Fn(&str) -> String) -> String {
    match scope {
        Scope::All => template(""),
        Scope::One(agent) => format!(
            "({}) or ({})",
            template(&label_matcher("agent", &agent.name)),
            template(&label_matcher("instance", &agent.address))
        ),
    }
}

/// `{a, b}` from non-empty parts.
fn braces(parts: &[&str]) -> String {
    let parts: Vec<&str> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
    format!("{{{}}}", parts.join(","))
}

pub fn up(scope: Scope) -> String {
    scoped(scope, |m| {
        format!("min by (agent, instance) (up{})", braces(&[m]))
    })
}

/// CPU busy %, per agent.
pub fn cpu(scope: Scope) -> String {
    scoped(scope, |m| {
        format!(
            "100 * (1 - avg by (agent, instance) (rate(node_cpu_seconds_total{}[1m])))",
            braces(&[r#"mode="idle""#, m])
        )
    })
}

/// Memory used % (1 - MemAvailable / MemTotal), per agent.
pub fn mem(scope: Scope) -> String {
    scoped(scope, |m| {
        let s = braces(&[m]);
        format!(
            "100 * (1 - max by (agent, instance) (node_memory_MemAvailable_bytes{s}) / max by (agent, instance) (node_memory_MemTotal_bytes{s}))"
        )
    })
}

/// Disk used %, per agent and mount point.
pub fn disk(scope: Scope) -> String {
    scoped(scope, |m| {
        let s = braces(&[FS_FILTER, m]);
        format!(
            "100 * (1 - max by (agent, instance, mountpoint) (node_filesystem_avail_bytes{s}) / max by (agent, instance, mountpoint) (node_filesystem_size_bytes{s}))"
        )
    })
}

/// The fullest filesystem's used %, per agent.
pub fn worst_disk(scope: Scope) -> String {
    format!("max by (agent, instance) ({})", disk(scope))
}

pub fn load1(scope: Scope) -> String {
    scoped(scope, |m| {
        format!("max by (agent, instance) (node_load1{})", braces(&[m]))
    })
}

pub fn uptime_seconds(scope: Scope) -> String {
    scoped(scope, |m| {
        format!(
            "max by (agent, instance) (time() - node_boot_time_seconds{})",
            braces(&[m])
        )
    })
}

/// The thresholds in force, per agent and threshold: the series the
/// generated rules record from agents.txt.
pub fn thresholds(scope: Scope) -> String {
    let series = crate::alerts::THRESHOLD_SERIES;
    match scope {
        Scope::All => series.to_string(),
        Scope::One(agent) => format!("{series}{{{}}}", label_matcher("agent", &agent.name)),
    }
}

/// TCP checks that fail now (every label kept, to name the target).
pub fn failing_probes(scope: Scope) -> String {
    scoped(scope, |m| format!("probe_success{} == 0", braces(&[m])))
}

/// The expression charted and reported for a resource.
pub fn metric(metric: Metric, scope: Scope) -> String {
    match metric {
        Metric::Cpu => cpu(scope),
        Metric::Mem => mem(scope),
        Metric::Disk => disk(scope),
    }
}

/// Splits an alert expression `EXPR > 80` (or `>=`, `<`, `<=`, `==`, `!=`)
/// into the part worth charting and its threshold, so `up == 0` charts `up`
/// with a line at 0 instead of a series that only exists while firing.
/// Other expressions are charted as they are.
pub fn split_threshold(expr: &str) -> (String, Option<f64>) {
    let trimmed = expr.trim();
    for op in [">=", "<=", "==", "!=", ">", "<"] {
        if let Some(pos) = trimmed.rfind(op) {
            let (lhs, rhs) = (&trimmed[..pos], &trimmed[pos + op.len()..]);
            if let Ok(v) = rhs.trim().parse::<f64>() {
                // Only a top-level comparison: the left side's brackets balance.
                let depth = lhs.chars().fold(0i32, |d, c| match c {
                    '(' | '{' | '[' => d + 1,
                    ')' | '}' | ']' => d - 1,
                    _ => d,
                });
                let lhs = lhs.trim_end().trim_end_matches(" bool").trim_end();
                if depth == 0 && !lhs.is_empty() && !lhs.ends_with(['=', '!', '<', '>']) {
                    return (lhs.to_string(), Some(v));
                }
            }
        }
    }
    (trimmed.to_string(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web1() -> Agent {
        Agent {
            name: "web1".into(),
            address: "10.0.0.1:9100".into(),
            actions: None,
        }
    }

    #[test]
    fn all_agents_have_no_agent_matcher() {
        assert_eq!(
            cpu(Scope::All),
            r#"100 * (1 - avg by (agent, instance) (rate(node_cpu_seconds_total{mode="idle"}[1m])))"#
        );
        assert_eq!(load1(Scope::All), "max by (agent, instance) (node_load1{})");
    }

    #[test]
    fn one_agent_uses_agent_label_or_instance() {
        let a = web1();
        assert_eq!(
            up(Scope::One(&a)),
            r#"(min by (agent, instance) (up{agent="web1"})) or (min by (agent, instance) (up{instance="10.0.0.1:9100"}))"#
        );
        assert!(disk(Scope::One(&a)).contains(r#"{fstype!~"tmpfs|ramfs",agent="web1"}"#));
    }

    #[test]
    fn hostile_values_stay_inside_the_string_literal() {
        let a = Agent {
            name: r#"x"} or vector(1) or up{a=""#.into(),
            address: "h:1".into(),
            actions: None,
        };
        let q = load1(Scope::One(&a));
        assert!(q.contains(r#"agent="x\"} or vector(1) or up{a=\"""#), "{q}");
    }

    #[test]
    fn threshold_split() {
        assert_eq!(
            split_threshold("100 * (1 - avg(rate(x[1m]))) > 80"),
            ("100 * (1 - avg(rate(x[1m])))".to_string(), Some(80.0))
        );
        assert_eq!(
            split_threshold(r#"up{job="outpost-agents"} == 0"#),
            (r#"up{job="outpost-agents"}"#.to_string(), Some(0.0))
        );
        assert_eq!(
            split_threshold(r#"probe_success{job=~"outpost-tcp-.+",failures="3"} == 0"#).1,
            Some(0.0)
        );
        assert_eq!(
            split_threshold("absent(up)"),
            ("absent(up)".to_string(), None)
        );
        assert_eq!(
            split_threshold("probe_success{a=\">5\"} >= 0.5"),
            ("probe_success{a=\">5\"}".to_string(), Some(0.5))
        );
        assert_eq!(split_threshold("f(x > 5)"), ("f(x > 5)".to_string(), None));
    }
}

/// One figure `/gpu` shows per GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuField {
    /// Percent busy.
    Load,
    /// Percent of memory allocated.
    Memory,
    Celsius,
    Watts,
    /// The last XID error's code (0: none).
    LastXid,
}

/// The queries behind `/gpu`, one per field, each by agent and GPU.
pub fn gpu(scope: Scope) -> Vec<(GpuField, String)> {
    const BY: &str = "max by (agent, instance, index, name)";
    let one = |metric: &'static str, scale: &'static str| {
        scoped(scope, move |m| {
            format!("{scale}{BY} ({metric}{})", braces(&[m]))
        })
    };
    vec![
        (
            GpuField::Load,
            one("nvidia_smi_utilization_gpu_ratio", "100 * "),
        ),
        (
            GpuField::Memory,
            scoped(scope, |m| {
                let s = braces(&[m]);
                format!("100 * {BY} (nvidia_smi_memory_used_bytes{s}) / {BY} (nvidia_smi_memory_total_bytes{s})")
            }),
        ),
        (GpuField::Celsius, one("nvidia_smi_temperature_gpu", "")),
        (GpuField::Watts, one("nvidia_smi_power_draw_watts", "")),
        (GpuField::LastXid, one("outpost_gpu_xid_last_code", "")),
    ]
}

/// GPU utilisation %, per agent and GPU.
pub fn gpu_load(scope: Scope) -> String {
    scoped(scope, |m| {
        format!(
            "100 * max by (agent, instance, index, name) (nvidia_smi_utilization_gpu_ratio{})",
            braces(&[m])
        )
    })
}

/// Bytes per second summed over the non-loopback interfaces of `metric`.
fn net_rate(scope: Scope, metric: &str) -> String {
    scoped(scope, |m| {
        format!(
            "sum by (agent, instance) (rate({metric}{}[1m]))",
            braces(&[r#"device!="lo""#, m])
        )
    })
}

/// The expression `/plot` draws for one agent (or all).
pub fn plot(metric: PlotMetric, scope: Scope) -> String {
    match metric {
        PlotMetric::Cpu => cpu(scope),
        PlotMetric::Mem => mem(scope),
        PlotMetric::Disk => disk(scope),
        PlotMetric::Load => load1(scope),
        PlotMetric::NetIn => net_rate(scope, "node_network_receive_bytes_total"),
        PlotMetric::NetOut => net_rate(scope, "node_network_transmit_bytes_total"),
        PlotMetric::DiskIo => scoped(scope, |m| {
            let s = braces(&[m]);
            format!(
                "sum by (agent, instance) (rate(node_disk_read_bytes_total{s}[1m])) + sum by (agent, instance) (rate(node_disk_written_bytes_total{s}[1m]))"
            )
        }),
        PlotMetric::Temp => scoped(scope, |m| {
            format!(
                "max by (agent, instance) (node_hwmon_temp_celsius{})",
                braces(&[m])
            )
        }),
        PlotMetric::Gpu => gpu_load(scope),
        // Recording rules are aggregated to `agent` (no `instance`).
        PlotMetric::Record(record) => match scope {
            Scope::All => record.to_string(),
            Scope::One(agent) => format!("{record}{{{}}}", label_matcher("agent", &agent.name)),
        },
    }
}

/// What `/history` follows: agents' `up` or TCP checks' `probe_success`.
#[derive(Debug, Clone, Copy)]
pub enum Watched<'a> {
    /// Every agent and every check.
    All,
    Agent(&'a Agent),
    /// A check by its `check` label (any text: escaped here).
    Check(&'a str),
}

/// The up (1) / down (0) series `/history` reads, as range queries with
/// this step: the worst value within each step, so a down shorter than
/// the step still shows. Returns (agents' expression, checks' expression);
/// `None` where the selection leaves one out.
pub fn history(watched: Watched, step_secs: u64) -> (Option<String>, Option<String>) {
    // The probe jobs' own `up` is the prober's, not an agent's.
    let not_probes = format!(
        r#"job!~"{}.+""#,
        crate::generate::prometheus::TCP_JOB_PREFIX
    );
    let up = |m: &str| {
        format!(
            "min by (agent, instance) (min_over_time(up{}[{step_secs}s]))",
            braces(&[&not_probes, m])
        )
    };
    let probes = |m: &str| {
        format!(
            "min by (agent, check, instance) (min_over_time(probe_success{}[{step_secs}s]))",
            braces(&[m])
        )
    };
    match watched {
        Watched::All => (Some(up("")), Some(probes(""))),
        Watched::Agent(a) => (Some(scoped(Scope::One(a), up)), None),
        Watched::Check(name) => (None, Some(probes(&label_matcher("check", name)))),
    }
}

/// Share of scrapes that found the agent up over `window` (`24h`, `7d`), %.
pub fn availability(scope: Scope, window: &str) -> String {
    scoped(scope, |m| {
        format!(
            "100 * avg by (agent, instance) (avg_over_time(up{}[{window}]))",
            braces(&[m])
        )
    })
}

/// One part of `/mem_picture`'s breakdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemPart {
    Total,
    Free,
    Buffers,
    /// Page cache and reclaimable slab (what `free` calls buff/cache less buffers).
    Cache,
}

/// The queries behind `/mem_picture`, bytes, per part.
pub fn mem_parts(scope: Scope) -> Vec<(MemPart, String)> {
    let one = |expr: &'static str| {
        scoped(scope, move |m| {
            let s = braces(&[m]);
            format!("max by (agent, instance) ({})", expr.replace("{S}", &s))
        })
    };
    vec![
        (MemPart::Total, one("node_memory_MemTotal_bytes{S}")),
        (MemPart::Free, one("node_memory_MemFree_bytes{S}")),
        (MemPart::Buffers, one("node_memory_Buffers_bytes{S}")),
        (
            MemPart::Cache,
            one("node_memory_Cached_bytes{S} + node_memory_SReclaimable_bytes{S}"),
        ),
    ]
}

#[cfg(test)]
mod more_tests {
    use super::*;

    fn web1() -> Agent {
        Agent {
            name: "web1".into(),
            address: "10.0.0.1:9100".into(),
            actions: None,
        }
    }

    #[test]
    fn plot_queries_are_scoped_and_records_only_by_agent() {
        let a = web1();
        let q = plot(PlotMetric::Gpu, Scope::One(&a));
        assert!(
            q.contains(r#"nvidia_smi_utilization_gpu_ratio{agent="web1"}"#),
            "{q}"
        );
        assert!(q.contains(r#"{instance="10.0.0.1:9100"}"#), "{q}");
        let q = plot(PlotMetric::NetIn, Scope::One(&a));
        assert!(q.contains(r#"{device!="lo",agent="web1"}"#), "{q}");
        assert_eq!(
            plot(
                PlotMetric::Record(crate::generate::recording::LOAD_PER_CPU),
                Scope::One(&a)
            ),
            r#"agent:node_load1_per_cpu:ratio{agent="web1"}"#
        );
    }

    #[test]
    fn history_names_a_check_escaped() {
        let (up, probes) = history(Watched::Check(r#"db"}or"#), 60);
        assert!(up.is_none());
        let p = probes.unwrap();
        assert!(p.contains(r#"probe_success{check="db\"}or"}[60s]"#), "{p}");
        let (up, probes) = history(Watched::All, 30);
        assert!(up.unwrap().contains("min_over_time(up{job!~"));
        assert!(probes.is_some());
    }
}
