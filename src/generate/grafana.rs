//! `grafana/`: datasource and dashboard provisioning files and the
//! dashboards, all as typed structs: Outpost's own (agents up/down, CPU,
//! memory, disk, load, TCP checks), and node-mixin's per-host "Nodes" and
//! "USE Method" node and cluster dashboards, all driven by the `agent`
//! label (an `$agent` variable).
//!
//! Decisions:
//! - The USE dashboards read the generated recording rules (`recording.rs`),
//!   as node-mixin's do, so a panel and an alert never compute the same
//!   quantity two ways.

use serde::Serialize;

use super::prometheus::{AGENTS_JOB, TCP_JOB_PREFIX};
use super::recording::{
    CPU_UTILISATION, DISK_IO_TIME, DISK_IO_WEIGHTED, LOAD_PER_CPU, MAJOR_FAULTS,
    MEMORY_UTILISATION, NET_RECEIVE, NET_RECEIVE_DROP, NET_TRANSMIT, NET_TRANSMIT_DROP, NUM_CPU,
};
use super::rules::FS_TYPES_IGNORED;
use super::settings::{prom_duration, Settings};
use crate::alerts::THRESHOLD_SERIES;

/// The provisioned datasource's uid, referenced by every panel.
pub const DATASOURCE_UID: &str = "outpost-prometheus";
/// The dashboard's uid (stable URL `/d/outpost`).
pub const DASHBOARD_UID: &str = "outpost";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasourceProvisioning {
    pub api_version: u32,
    pub datasources: Vec<Datasource>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Datasource {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub uid: String,
    pub access: String,
    pub url: String,
    pub is_default: bool,
    pub editable: bool,
    pub json_data: DatasourceJsonData,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasourceJsonData {
    pub time_interval: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DashboardProvisioning {
    pub api_version: u32,
    pub providers: Vec<DashboardProvider>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DashboardProvider {
    pub name: String,
    pub folder: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub disable_deletion: bool,
    pub allow_ui_updates: bool,
    pub options: ProviderOptions,
}

#[derive(Debug, Serialize)]
pub struct ProviderOptions {
    pub path: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dashboard {
    pub uid: String,
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    pub timezone: String,
    pub editable: bool,
    pub schema_version: u32,
    pub version: u32,
    pub refresh: String,
    pub time: TimeRange,
    pub templating: Templating,
    pub panels: Vec<Panel>,
}

#[derive(Debug, Serialize)]
pub struct TimeRange {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Serialize)]
pub struct Templating {
    pub list: Vec<Variable>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Variable {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub datasource: DatasourceRef,
    pub definition: String,
    /// A plain string: every Grafana version's Prometheus datasource reads it.
    pub query: String,
    pub refresh: u32,
    pub include_all: bool,
    pub multi: bool,
    pub all_value: String,
    pub sort: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct DatasourceRef {
    #[serde(rename = "type")]
    pub kind: String,
    pub uid: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Panel {
    pub id: u32,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub description: String,
    pub datasource: DatasourceRef,
    pub grid_pos: GridPos,
    pub targets: Vec<Target>,
    pub field_config: FieldConfig,
}

#[derive(Debug, Serialize)]
pub struct GridPos {
    pub h: u32,
    pub w: u32,
    pub x: u32,
    pub y: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub ref_id: String,
    pub datasource: DatasourceRef,
    pub expr: String,
    pub legend_format: String,
}

#[derive(Debug, Serialize)]
pub struct FieldConfig {
    pub defaults: FieldDefaults,
    pub overrides: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct FieldDefaults {
    pub unit: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

fn ds() -> DatasourceRef {
    DatasourceRef {
        kind: "prometheus".into(),
        uid: DATASOURCE_UID.into(),
    }
}

/// `grafana/provisioning/datasources/prometheus.yml`.
pub fn datasources(s: &Settings) -> DatasourceProvisioning {
    DatasourceProvisioning {
        api_version: 1,
        datasources: vec![Datasource {
            name: "Prometheus".into(),
            kind: "prometheus".into(),
            uid: DATASOURCE_UID.into(),
            access: "proxy".into(),
            url: s.prometheus_url.clone(),
            is_default: true,
            editable: false,
            json_data: DatasourceJsonData {
                time_interval: prom_duration(s.scrape_interval),
            },
        }],
    }
}

/// `grafana/provisioning/dashboards/outpost.yml`.
pub fn dashboard_provider(s: &Settings) -> DashboardProvisioning {
    DashboardProvisioning {
        api_version: 1,
        providers: vec![DashboardProvider {
            name: "outpost".into(),
            folder: "Outpost".into(),
            kind: "file".into(),
            disable_deletion: false,
            allow_ui_updates: false,
            options: ProviderOptions {
                path: s.grafana_dashboards_path.clone(),
            },
        }],
    }
}

struct PanelSpec {
    kind: &'static str,
    title: &'static str,
    description: &'static str,
    unit: &'static str,
    range: Option<(f64, f64)>,
    width: u32,
    height: u32,
    queries: Vec<(String, &'static str)>,
}

/// Every dashboard: file name under `grafana/dashboards/` and contents.
pub fn dashboards() -> Vec<(&'static str, Dashboard)> {
    vec![
        ("outpost.json", dashboard()),
        ("nodes.json", nodes()),
        ("use-node.json", use_node()),
        ("use-cluster.json", use_cluster()),
    ]
}

/// The Outpost dashboard.
pub fn dashboard() -> Dashboard {
    let agents = format!("job=\"{AGENTS_JOB}\",agent=~\"$agent\"");
    let fs = format!("{agents},fstype!~\"{FS_TYPES_IGNORED}\"");
    let tcp = format!("job=~\"{TCP_JOB_PREFIX}.+\",agent=~\"$agent\"");
    let specs = vec![
        PanelSpec {
            kind: "stat",
            title: "Agents up",
            description: "Agents whose exporter answered the last scrape.",
            unit: "none",
            range: None,
            width: 6,
            height: 4,
            queries: vec![(format!("sum(up{{{agents}}})"), "up")],
        },
        PanelSpec {
            kind: "stat",
            title: "Agents down",
            description: "Agents Prometheus could not scrape (AgentDown fires after a while).",
            unit: "none",
            range: None,
            width: 6,
            height: 4,
            queries: vec![(
                format!("count(up{{{agents}}}) - sum(up{{{agents}}})"),
                "down",
            )],
        },
        PanelSpec {
            kind: "state-timeline",
            title: "Agent status",
            description: "1 = scraped, 0 = down, per agent.",
            unit: "none",
            range: Some((0.0, 1.0)),
            width: 12,
            height: 4,
            queries: vec![(format!("up{{{agents}}}"), "{{agent}}")],
        },
        PanelSpec {
            kind: "timeseries",
            title: "CPU usage",
            description: "Busy time of all cores, per agent (the AgentHighCPU and CpuAnomaly input).",
            unit: "percent",
            range: Some((0.0, 100.0)),
            width: 12,
            height: 8,
            queries: vec![(
                format!("100 * (1 - avg by (agent) (rate(node_cpu_seconds_total{{{agents},mode=\"idle\"}}[$__rate_interval])))"),
                "{{agent}}",
            )],
        },
        PanelSpec {
            kind: "timeseries",
            title: "Memory usage",
            description: "Share of MemTotal not available to new work (1 - MemAvailable / MemTotal).",
            unit: "percent",
            range: Some((0.0, 100.0)),
            width: 12,
            height: 8,
            queries: vec![(
                format!("100 * (1 - node_memory_MemAvailable_bytes{{{agents}}} / node_memory_MemTotal_bytes{{{agents}}})"),
                "{{agent}}",
            )],
        },
        PanelSpec {
            kind: "timeseries",
            title: "Disk usage",
            description: "Used share of each real filesystem (space available to non-root users).",
            unit: "percent",
            range: Some((0.0, 100.0)),
            width: 12,
            height: 8,
            queries: vec![(
                format!("100 * (1 - node_filesystem_avail_bytes{{{fs}}} / node_filesystem_size_bytes{{{fs}}})"),
                "{{agent}} {{mountpoint}}",
            )],
        },
        PanelSpec {
            kind: "timeseries",
            title: "Load per core",
            description: "1-minute load average divided by the number of CPU cores (the HighLoad input), and the raw 1/5/15-minute loads.",
            unit: "short",
            range: None,
            width: 12,
            height: 8,
            queries: vec![
                (
                    format!("max by (agent) (node_load1{{{agents}}}) / count by (agent) (node_cpu_seconds_total{{{agents},mode=\"idle\"}})"),
                    "{{agent}} per core",
                ),
                (format!("node_load1{{{agents}}}"), "{{agent}} load1"),
                (format!("node_load5{{{agents}}}"), "{{agent}} load5"),
                (format!("node_load15{{{agents}}}"), "{{agent}} load15"),
            ],
        },
        PanelSpec {
            kind: "state-timeline",
            title: "TCP checks",
            description: "1 = the vantage agent could connect, 0 = it could not (TcpTargetDown fires after the check's failure threshold).",
            unit: "none",
            range: Some((0.0, 1.0)),
            width: 12,
            height: 8,
            queries: vec![(
                format!("probe_success{{{tcp}}}"),
                "{{check}} ({{instance}}) from {{agent}}",
            )],
        },
        PanelSpec {
            kind: "timeseries",
            title: "TCP connect time",
            description: "How long each probe took to connect.",
            unit: "s",
            range: None,
            width: 12,
            height: 8,
            queries: vec![(
                format!("probe_duration_seconds{{{tcp}}}"),
                "{{check}} from {{agent}}",
            )],
        },
    ];
    assemble(
        DASHBOARD_UID,
        "Outpost",
        "Agents and TCP checks from agents.txt (generated by `outpost generate`; edit agents.txt, not this file).",
        true,
        specs,
    )
}

fn ts(
    title: &'static str,
    description: &'static str,
    unit: &'static str,
    range: Option<(f64, f64)>,
    queries: Vec<(String, &'static str)>,
) -> PanelSpec {
    PanelSpec {
        kind: "timeseries",
        title,
        description,
        unit,
        range,
        width: 12,
        height: 8,
        queries,
    }
}

/// node-mixin's "Nodes" dashboard: one host (`$agent`) in detail.
pub fn nodes() -> Dashboard {
    let a = format!("job=\"{AGENTS_JOB}\",agent=~\"$agent\"");
    let fs = format!("{a},fstype!~\"{FS_TYPES_IGNORED}\",mountpoint!=\"\"");
    let specs = vec![
        ts(
            "CPU usage",
            "Share of each CPU mode, averaged over the host's CPUs (idle left out).",
            "percentunit",
            Some((0.0, 1.0)),
            vec![(
                format!("sum by (agent, mode) (rate(node_cpu_seconds_total{{{a},mode!=\"idle\"}}[$__rate_interval])) / on (agent) group_left () {NUM_CPU}{{agent=~\"$agent\"}}"),
                "{{mode}}",
            )],
        ),
        ts(
            "Load average",
            "1, 5 and 15 minute load averages, and the number of CPUs.",
            "short",
            None,
            vec![
                (format!("node_load1{{{a}}}"), "1m"),
                (format!("node_load5{{{a}}}"), "5m"),
                (format!("node_load15{{{a}}}"), "15m"),
                (format!("{NUM_CPU}{{agent=~\"$agent\"}}"), "CPUs"),
            ],
        ),
        ts(
            "Memory",
            "Used (MemTotal − MemFree − Buffers − Cached), buffers, cached and free memory.",
            "bytes",
            None,
            vec![
                (
                    format!("node_memory_MemTotal_bytes{{{a}}} - node_memory_MemFree_bytes{{{a}}} - node_memory_Buffers_bytes{{{a}}} - node_memory_Cached_bytes{{{a}}}"),
                    "used",
                ),
                (format!("node_memory_Buffers_bytes{{{a}}}"), "buffers"),
                (format!("node_memory_Cached_bytes{{{a}}}"), "cached"),
                (format!("node_memory_MemFree_bytes{{{a}}}"), "free"),
            ],
        ),
        ts(
            "Memory usage",
            "Share of MemTotal not available to new work (the alerts' measure).",
            "percentunit",
            Some((0.0, 1.0)),
            vec![(format!("{MEMORY_UTILISATION}{{agent=~\"$agent\"}}"), "used")],
        ),
        ts(
            "Disk I/O bytes",
            "Bytes read (+) and written (−) per second, per disk.",
            "Bps",
            None,
            vec![
                (
                    format!("rate(node_disk_read_bytes_total{{{a}}}[$__rate_interval])"),
                    "{{device}} read",
                ),
                (
                    format!("-rate(node_disk_written_bytes_total{{{a}}}[$__rate_interval])"),
                    "{{device}} written",
                ),
            ],
        ),
        ts(
            "Disk I/O time",
            "Share of time each disk was busy.",
            "percentunit",
            None,
            vec![(format!("{DISK_IO_TIME}{{agent=~\"$agent\"}}"), "{{device}}")],
        ),
        ts(
            "Disk space used",
            "Used share of each real filesystem (space available to non-root users).",
            "percentunit",
            Some((0.0, 1.0)),
            vec![(
                format!("1 - node_filesystem_avail_bytes{{{fs}}} / node_filesystem_size_bytes{{{fs}}}"),
                "{{mountpoint}}",
            )],
        ),
        ts(
            "Network received",
            "Bytes received per second, per interface (lo left out).",
            "Bps",
            None,
            vec![(
                format!("rate(node_network_receive_bytes_total{{{a},device!=\"lo\"}}[$__rate_interval])"),
                "{{device}}",
            )],
        ),
        ts(
            "Network transmitted",
            "Bytes sent per second, per interface (lo left out).",
            "Bps",
            None,
            vec![(
                format!("rate(node_network_transmit_bytes_total{{{a},device!=\"lo\"}}[$__rate_interval])"),
                "{{device}}",
            )],
        ),
        PanelSpec {
            kind: "table",
            title: "Thresholds in force",
            description: "The agent's alert thresholds: its agents.txt overrides, else the defaults.",
            unit: "none",
            range: None,
            width: 12,
            height: 8,
            queries: vec![(
                format!("{THRESHOLD_SERIES}{{agent=~\"$agent\"}}"),
                "{{threshold}}",
            )],
        },
    ];
    assemble(
        "outpost-nodes",
        "Nodes",
        "One host in detail (node-mixin's Nodes dashboard over the agent label).",
        false,
        specs,
    )
}

/// USE rows shared by the node and cluster dashboards: utilisation and
/// saturation of CPU, memory, network and disks, from the recording rules.
fn use_specs(cluster: bool) -> Vec<PanelSpec> {
    let a = "agent=~\"$agent\"";
    let legend = if cluster { "{{agent}}" } else { "" };
    let dev = if cluster {
        "{{agent}} {{device}}"
    } else {
        "{{device}}"
    };
    // Cluster views weigh each host by its CPUs / its share of the fleet.
    let cpu = if cluster {
        format!("{CPU_UTILISATION}{{{a}}} * {NUM_CPU}{{{a}}} / scalar(sum({NUM_CPU}{{{a}}}))")
    } else {
        format!("{CPU_UTILISATION}{{{a}}}")
    };
    let mem = if cluster {
        format!("{MEMORY_UTILISATION}{{{a}}} / scalar(count({MEMORY_UTILISATION}{{{a}}}))")
    } else {
        format!("{MEMORY_UTILISATION}{{{a}}}")
    };
    vec![
        ts(
            "CPU utilisation",
            "Busy share of the CPUs (in the cluster view, each host's share of all CPUs, stacked).",
            "percentunit",
            None,
            vec![(cpu, legend)],
        ),
        ts(
            "CPU saturation (load1 per CPU)",
            "1-minute load per CPU; above 1 tasks wait for a CPU.",
            "short",
            None,
            vec![(format!("{LOAD_PER_CPU}{{{a}}}"), legend)],
        ),
        ts(
            "Memory utilisation",
            "Share of memory in use (in the cluster view, each host's share of the fleet average).",
            "percentunit",
            None,
            vec![(mem, legend)],
        ),
        ts(
            "Memory saturation (major page faults)",
            "Major page faults per second: pages read back from disk.",
            "short",
            None,
            vec![(format!("{MAJOR_FAULTS}{{{a}}}"), legend)],
        ),
        ts(
            "Network utilisation (bytes)",
            "Received (+) and transmitted (−) bytes per second, lo left out.",
            "Bps",
            None,
            vec![
                (
                    format!("{NET_RECEIVE}{{{a}}}"),
                    if cluster {
                        "{{agent}} received"
                    } else {
                        "received"
                    },
                ),
                (
                    format!("-{NET_TRANSMIT}{{{a}}}"),
                    if cluster {
                        "{{agent}} transmitted"
                    } else {
                        "transmitted"
                    },
                ),
            ],
        ),
        ts(
            "Network saturation (drops)",
            "Received (+) and transmitted (−) packets dropped per second, lo left out.",
            "pps",
            None,
            vec![
                (
                    format!("{NET_RECEIVE_DROP}{{{a}}}"),
                    if cluster {
                        "{{agent}} received"
                    } else {
                        "received"
                    },
                ),
                (
                    format!("-{NET_TRANSMIT_DROP}{{{a}}}"),
                    if cluster {
                        "{{agent}} transmitted"
                    } else {
                        "transmitted"
                    },
                ),
            ],
        ),
        ts(
            "Disk I/O utilisation",
            "Share of time each disk was busy.",
            "percentunit",
            None,
            vec![(format!("{DISK_IO_TIME}{{{a}}}"), dev)],
        ),
        ts(
            "Disk I/O saturation",
            "Average number of I/O requests queued or in flight, per disk.",
            "short",
            None,
            vec![(format!("{DISK_IO_WEIGHTED}{{{a}}}"), dev)],
        ),
    ]
}

/// node-mixin's "USE Method / Node" dashboard.
pub fn use_node() -> Dashboard {
    assemble(
        "outpost-use-node",
        "USE Method / Node",
        "Utilisation and saturation of one host's resources (node-mixin's USE Method dashboard over the agent label).",
        false,
        use_specs(false),
    )
}

/// node-mixin's "USE Method / Cluster" dashboard.
pub fn use_cluster() -> Dashboard {
    assemble(
        "outpost-use-cluster",
        "USE Method / Cluster",
        "Utilisation and saturation of every selected host's resources, side by side.",
        true,
        use_specs(true),
    )
}

/// Lays panels out left to right, top to bottom, 24 columns wide.
fn assemble(
    uid: &str,
    title: &str,
    description: &str,
    multi: bool,
    specs: Vec<PanelSpec>,
) -> Dashboard {
    let (mut x, mut y, mut row_h) = (0, 0, 0);
    let panels = specs
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            if x + p.width > 24 {
                x = 0;
                y += row_h;
                row_h = 0;
            }
            let grid = GridPos {
                h: p.height,
                w: p.width,
                x,
                y,
            };
            x += p.width;
            row_h = row_h.max(p.height);
            Panel {
                id: i as u32 + 1,
                kind: p.kind.into(),
                title: p.title.into(),
                description: p.description.into(),
                datasource: ds(),
                grid_pos: grid,
                targets: p
                    .queries
                    .into_iter()
                    .enumerate()
                    .map(|(j, (expr, legend))| Target {
                        ref_id: ((b'A' + j as u8) as char).to_string(),
                        datasource: ds(),
                        expr,
                        legend_format: legend.into(),
                    })
                    .collect(),
                field_config: FieldConfig {
                    defaults: FieldDefaults {
                        unit: p.unit.into(),
                        min: p.range.map(|r| r.0),
                        max: p.range.map(|r| r.1),
                    },
                    overrides: Vec::new(),
                },
            }
        })
        .collect();
    let var_query = format!("label_values(up{{job=\"{AGENTS_JOB}\"}}, agent)");
    Dashboard {
        uid: uid.into(),
        title: title.into(),
        description: description.into(),
        tags: vec!["outpost".into()],
        timezone: "browser".into(),
        editable: false,
        schema_version: 39,
        version: 1,
        refresh: "30s".into(),
        time: TimeRange {
            from: "now-1h".into(),
            to: "now".into(),
        },
        templating: Templating {
            list: vec![Variable {
                name: "agent".into(),
                label: "Agent".into(),
                kind: "query".into(),
                datasource: ds(),
                definition: var_query.clone(),
                query: var_query,
                refresh: 2,
                include_all: multi,
                multi,
                all_value: ".*".into(),
                sort: 1,
            }],
        },
        panels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dashboard_is_driven_by_agent() {
        let all = dashboards();
        let uids: std::collections::BTreeSet<&str> =
            all.iter().map(|(_, d)| d.uid.as_str()).collect();
        assert_eq!(uids.len(), all.len());
        for (_, d) in &all {
            assert_eq!(d.templating.list[0].name, "agent");
            for p in &d.panels {
                assert!(!p.targets.is_empty(), "{}", p.title);
                for t in &p.targets {
                    assert!(t.expr.contains("$agent"), "{}: {}", d.title, t.expr);
                }
                assert!(p.grid_pos.x + p.grid_pos.w <= 24);
            }
        }
        // Single-host dashboards select one agent.
        assert!(!nodes().templating.list[0].multi);
        assert!(use_cluster().templating.list[0].multi);
    }

    #[test]
    fn every_panel_queries_prometheus_filtered_by_agent() {
        let d = dashboard();
        let titles: Vec<&str> = d.panels.iter().map(|p| p.title.as_str()).collect();
        for t in [
            "Agents up",
            "CPU usage",
            "Memory usage",
            "Disk usage",
            "Load per core",
            "TCP checks",
        ] {
            assert!(titles.contains(&t), "{t}");
        }
        for p in &d.panels {
            assert!(!p.targets.is_empty());
            for t in &p.targets {
                assert!(t.expr.contains("$agent"), "{}", t.expr);
            }
            assert!(p.grid_pos.x + p.grid_pos.w <= 24);
        }
        let ids: std::collections::BTreeSet<u32> = d.panels.iter().map(|p| p.id).collect();
        assert_eq!(ids.len(), d.panels.len());
    }
}
