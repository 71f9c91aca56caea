//! `grafana/`: datasource and dashboard provisioning files and the Outpost
//! dashboard (agents up/down, CPU, memory, disk, load, TCP checks, with an
//! `$agent` variable), all as typed structs.

use serde::Serialize;

use super::prometheus::{AGENTS_JOB, TCP_JOB_PREFIX};
use super::rules::FS_TYPES_IGNORED;
use super::settings::{prom_duration, Settings};

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
        uid: DASHBOARD_UID.into(),
        title: "Outpost".into(),
        description: "Agents and TCP checks from agents.txt (generated by `outpost generate`; edit agents.txt, not this file).".into(),
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
                include_all: true,
                multi: true,
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
