//! `prometheus/`: typed `prometheus.yml` (agents through `file_sd`, one
//! blackbox-style multi-target job per vantage agent for TCP checks, rules,
//! alerting to every Alertmanager of a cluster, `remote_write` to a
//! long-term store), the `file_sd` target files, and the sharded layout
//! (`shards/shard-K.yml` with `hashmod` relabelling plus a federating
//! `global.yml`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::inventory::{Check, Inventory};
use super::settings::{prom_duration, Settings};
use super::GenerateError;

/// Job that scrapes every agent's exporter.
pub const AGENTS_JOB: &str = "outpost-agents";
/// Prefix of the per-vantage-agent TCP probe jobs (`outpost-tcp-web1`).
pub const TCP_JOB_PREFIX: &str = "outpost-tcp-";
/// `file_sd` file of the agents, relative to `prometheus/`.
pub const AGENTS_TARGETS: &str = "targets/agents.json";
/// Temporary label holding a target's shard number during relabelling.
pub const SHARD_TMP_LABEL: &str = "__tmp_outpost_shard";

#[derive(Debug, Serialize)]
pub struct PrometheusConfig {
    pub global: Global,
    pub rule_files: Vec<String>,
    pub alerting: Alerting,
    pub scrape_configs: Vec<ScrapeConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remote_write: Vec<RemoteWrite>,
}

#[derive(Debug, Serialize)]
pub struct Global {
    pub scrape_interval: String,
    pub scrape_timeout: String,
    pub evaluation_interval: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub external_labels: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct Alerting {
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

#[derive(Debug, Serialize)]
pub struct AlertmanagerConfig {
    pub scheme: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    pub static_configs: Vec<StaticConfig>,
}

#[derive(Debug, Serialize)]
pub struct StaticConfig {
    pub targets: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct FileSdConfig {
    pub files: Vec<String>,
    pub refresh_interval: String,
}

#[derive(Debug, Default, Serialize)]
pub struct ScrapeConfig {
    pub job_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub honor_labels: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_path: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub file_sd_configs: Vec<FileSdConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub static_configs: Vec<StaticConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub relabel_configs: Vec<RelabelConfig>,
}

/// One `relabel_config`; unset fields take Prometheus's defaults
/// (`action: replace`, `regex: (.*)`, `replacement: $1`, `separator: ;`).
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct RelabelConfig {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_labels: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modulus: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RemoteWrite {
    pub url: String,
}

/// One target group of a `file_sd` JSON file.
#[derive(Debug, Serialize)]
pub struct TargetGroup {
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// `http://host:port/prefix` split the way Prometheus wants it.
struct Endpoint {
    scheme: String,
    host_port: String,
    path: Option<String>,
}

fn parse_url(url: &str) -> Result<Endpoint, GenerateError> {
    let bad = || GenerateError::BadUrl(url.to_string());
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    if scheme != "http" && scheme != "https" {
        return Err(bad());
    }
    let (host_port, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    if host_port.is_empty() || host_port.contains(char::is_whitespace) {
        return Err(bad());
    }
    let path = path
        .map(|p| p.trim_end_matches('/'))
        .filter(|p| !p.is_empty());
    Ok(Endpoint {
        scheme: scheme.to_string(),
        host_port: host_port.to_string(),
        path: path.map(str::to_string),
    })
}

/// The Alertmanager webhook URL is checked the same way.
pub fn check_url(url: &str) -> Result<(), GenerateError> {
    parse_url(url).map(|_| ())
}

fn replace(source: &str, target: &str) -> RelabelConfig {
    RelabelConfig {
        source_labels: vec![source.into()],
        target_label: Some(target.into()),
        ..Default::default()
    }
}

fn set(target: &str, value: &str) -> RelabelConfig {
    RelabelConfig {
        target_label: Some(target.into()),
        replacement: Some(value.into()),
        ..Default::default()
    }
}

/// The two steps that keep only shard `shard` of `modulus`, hashing the
/// `agent` label (so an agent and the checks it probes share a shard).
pub fn shard_relabel(modulus: u32, shard: u32) -> [RelabelConfig; 2] {
    [
        RelabelConfig {
            source_labels: vec!["agent".into()],
            modulus: Some(modulus.into()),
            target_label: Some(SHARD_TMP_LABEL.into()),
            action: Some("hashmod".into()),
            ..Default::default()
        },
        RelabelConfig {
            source_labels: vec![SHARD_TMP_LABEL.into()],
            regex: Some(shard.to_string()),
            action: Some("keep".into()),
            ..Default::default()
        },
    ]
}

/// The name of the TCP probe job of vantage agent `agent`.
pub fn tcp_job(agent: &str) -> String {
    format!("{TCP_JOB_PREFIX}{agent}")
}

/// The `file_sd` file of `agent`'s checks, relative to `prometheus/`.
pub fn tcp_targets(agent: &str) -> String {
    format!("targets/tcp-{agent}.json")
}

/// Scrape jobs; `prefix` is where `targets/` is relative to the config file.
fn scrape_configs(
    inv: &Inventory,
    settings: &Settings,
    prefix: &str,
    shard: Option<(u32, u32)>,
) -> Vec<ScrapeConfig> {
    let refresh = prom_duration(
        settings
            .scrape_interval
            .max(std::time::Duration::from_secs(30)),
    );
    let sharding: Vec<RelabelConfig> = shard
        .map(|(n, k)| shard_relabel(n, k).to_vec())
        .unwrap_or_default();
    let mut jobs = vec![ScrapeConfig {
        job_name: AGENTS_JOB.into(),
        file_sd_configs: vec![FileSdConfig {
            files: vec![format!("{prefix}{AGENTS_TARGETS}")],
            refresh_interval: refresh.clone(),
        }],
        relabel_configs: sharding.clone(),
        ..Default::default()
    }];
    for vantage in inv.vantage_agents() {
        let agent = inv.agent(vantage).expect("checks name known agents");
        let mut relabel = vec![
            replace("__address__", "__param_target"),
            replace("__param_target", "instance"),
            set("__address__", &agent.address.to_string()),
            set("agent", &agent.name),
        ];
        relabel.extend(sharding.iter().cloned());
        jobs.push(ScrapeConfig {
            job_name: tcp_job(vantage),
            metrics_path: Some("/probe".into()),
            params: BTreeMap::from([("module".into(), vec!["tcp_connect".into()])]),
            file_sd_configs: vec![FileSdConfig {
                files: vec![format!("{prefix}{}", tcp_targets(vantage))],
                refresh_interval: refresh.clone(),
            }],
            relabel_configs: relabel,
            ..Default::default()
        });
    }
    jobs
}

fn global(settings: &Settings, external: BTreeMap<String, String>) -> Global {
    let timeout = settings
        .scrape_interval
        .min(std::time::Duration::from_secs(10));
    Global {
        scrape_interval: prom_duration(settings.scrape_interval),
        scrape_timeout: prom_duration(timeout),
        evaluation_interval: prom_duration(settings.evaluation_interval),
        external_labels: external,
    }
}

/// Every Alertmanager of `--alertmanager-url`. Prometheus sends each alert
/// to all of them (an Alertmanager cluster relies on that: its members
/// gossip which notifications went out, so each goes out once). Targets
/// sharing a scheme and path prefix share one entry, in flag order.
fn alerting(settings: &Settings) -> Result<Alerting, GenerateError> {
    let mut alertmanagers: Vec<AlertmanagerConfig> = Vec::new();
    for url in &settings.alertmanager_urls {
        let am = parse_url(url)?;
        match alertmanagers
            .iter_mut()
            .find(|c| c.scheme == am.scheme && c.path_prefix == am.path)
        {
            Some(c) => c.static_configs[0].targets.push(am.host_port),
            None => alertmanagers.push(AlertmanagerConfig {
                scheme: am.scheme,
                path_prefix: am.path,
                static_configs: vec![StaticConfig {
                    targets: vec![am.host_port],
                    labels: BTreeMap::new(),
                }],
            }),
        }
    }
    Ok(Alerting { alertmanagers })
}

/// `--remote-write-url`, when given.
fn remote_write(settings: &Settings) -> Vec<RemoteWrite> {
    settings
        .remote_write_url
        .iter()
        .map(|url| RemoteWrite { url: url.clone() })
        .collect()
}

/// `prometheus/prometheus.yml`.
pub fn build_config(
    inv: &Inventory,
    settings: &Settings,
) -> Result<PrometheusConfig, GenerateError> {
    Ok(PrometheusConfig {
        global: global(settings, BTreeMap::new()),
        rule_files: vec!["rules/*.yml".into()],
        alerting: alerting(settings)?,
        scrape_configs: scrape_configs(inv, settings, "", None),
        remote_write: remote_write(settings),
    })
}

/// `prometheus/shards/shard-K.yml`: the full config keeping shard `k` of `n`.
pub fn build_shard(
    inv: &Inventory,
    settings: &Settings,
    n: u32,
    k: u32,
) -> Result<PrometheusConfig, GenerateError> {
    Ok(PrometheusConfig {
        global: global(settings, BTreeMap::from([("shard".into(), k.to_string())])),
        rule_files: vec!["../rules/*.yml".into()],
        alerting: alerting(settings)?,
        scrape_configs: scrape_configs(inv, settings, "../", Some((n, k))),
        remote_write: remote_write(settings),
    })
}

/// The default address of shard `k` for the global view.
pub fn default_shard_target(k: u32) -> String {
    format!("prometheus-shard-{k}:9090")
}

/// `prometheus/shards/global.yml`: a Prometheus that federates every shard's
/// agent, probe and recorded series (dashboards and ad-hoc queries); alerts
/// stay on the shards, which hold the raw data.
pub fn build_global(settings: &Settings, n: u32) -> PrometheusConfig {
    let targets: Vec<String> = (0..n)
        .map(|k| {
            settings
                .shard_targets
                .get(k as usize)
                .cloned()
                .unwrap_or_else(|| default_shard_target(k))
        })
        .collect();
    PrometheusConfig {
        global: global(settings, BTreeMap::new()),
        rule_files: Vec::new(),
        alerting: Alerting {
            alertmanagers: Vec::new(),
        },
        scrape_configs: vec![ScrapeConfig {
            job_name: "outpost-federate".into(),
            honor_labels: Some(true),
            metrics_path: Some("/federate".into()),
            params: BTreeMap::from([(
                "match[]".into(),
                vec![
                    "{job=~\"outpost-.+\"}".into(),
                    "{__name__=~\"agent:.+\"}".into(),
                ],
            )]),
            static_configs: vec![StaticConfig {
                targets,
                labels: BTreeMap::new(),
            }],
            ..Default::default()
        }],
        remote_write: Vec::new(),
    }
}

/// `prometheus/targets/agents.json`: one group per agent, in file order.
pub fn agent_targets(inv: &Inventory) -> Vec<TargetGroup> {
    inv.agents
        .iter()
        .map(|a| {
            let mut labels = a.labels.clone();
            labels.insert("agent".into(), a.name.clone());
            TargetGroup {
                targets: vec![a.address.to_string()],
                labels,
            }
        })
        .collect()
}

/// `prometheus/targets/tcp-AGENT.json`: the checks `agent` probes.
pub fn check_targets(inv: &Inventory, agent: &str) -> Vec<TargetGroup> {
    inv.checks
        .iter()
        .filter(|c| c.from == agent)
        .map(|c: &Check| TargetGroup {
            targets: vec![c.target.to_string()],
            labels: BTreeMap::from([
                ("check".into(), c.name.clone()),
                ("failures".into(), c.failures.to_string()),
            ]),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::inventory::parse;

    #[test]
    fn probe_job_relabels_through_the_vantage_agent() {
        let inv = parse(
            "a",
            "web1 10.0.0.5:9100\ncheck pg db:5432 from web1 failures=4\n",
        )
        .unwrap();
        let cfg = build_config(&inv, &Settings::default()).unwrap();
        let job = &cfg.scrape_configs[1];
        assert_eq!(job.job_name, "outpost-tcp-web1");
        assert_eq!(job.metrics_path.as_deref(), Some("/probe"));
        assert_eq!(job.relabel_configs[2], set("__address__", "10.0.0.5:9100"));
        assert_eq!(job.relabel_configs[3], set("agent", "web1"));
        let groups = check_targets(&inv, "web1");
        assert_eq!(groups[0].targets, ["db:5432"]);
        assert_eq!(groups[0].labels["failures"], "4");
    }

    #[test]
    fn remote_write_in_the_single_config_and_every_shard() {
        let inv = parse("a", "web1 10.0.0.5:9100\n").unwrap();
        let plain = build_config(&inv, &Settings::default()).unwrap();
        assert!(plain.remote_write.is_empty());
        let s = Settings {
            remote_write_url: Some("http://vm:8428/api/v1/write".into()),
            ..Default::default()
        };
        let cfg = build_config(&inv, &s).unwrap();
        assert_eq!(cfg.remote_write[0].url, "http://vm:8428/api/v1/write");
        let shard = build_shard(&inv, &s, 2, 1).unwrap();
        assert_eq!(shard.remote_write[0].url, "http://vm:8428/api/v1/write");
    }

    #[test]
    fn urls_split_for_alerting() {
        let s = Settings {
            alertmanager_urls: vec!["https://am.example:9443/am/".into()],
            ..Default::default()
        };
        let a = alerting(&s).unwrap();
        assert_eq!(a.alertmanagers[0].scheme, "https");
        assert_eq!(a.alertmanagers[0].path_prefix.as_deref(), Some("/am"));
        assert_eq!(
            a.alertmanagers[0].static_configs[0].targets,
            ["am.example:9443"]
        );
        // A cluster: every member listed; one entry per scheme and prefix.
        let s = Settings {
            alertmanager_urls: vec![
                "http://am1:9093".into(),
                "https://am3:9093".into(),
                "http://am2:9093/".into(),
            ],
            ..Default::default()
        };
        let a = alerting(&s).unwrap();
        assert_eq!(a.alertmanagers.len(), 2);
        assert_eq!(
            a.alertmanagers[0].static_configs[0].targets,
            ["am1:9093", "am2:9093"]
        );
        assert_eq!(a.alertmanagers[1].scheme, "https");
        assert_eq!(a.alertmanagers[1].static_configs[0].targets, ["am3:9093"]);
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("http://").is_err());
    }
}
