//! Settings of the generated setup that do not come from `agents.txt`:
//! thresholds, durations, URLs and the shard layout, with their defaults.

use std::time::Duration;

use crate::alerts::Threshold;

/// Everything `generate` needs besides the inventory.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Prometheus scrape (and probe) interval.
    pub scrape_interval: Duration,
    /// Prometheus rule evaluation interval; also the step of the rule unit tests.
    pub evaluation_interval: Duration,
    /// Window of `rate()` in the CPU recording rule.
    pub rate_window: Duration,
    pub agent_down_for: Duration,
    pub cpu_percent: f64,
    pub cpu_for: Duration,
    pub memory_percent: f64,
    pub memory_for: Duration,
    /// `HighMemoryUsage`: the critical memory level.
    pub memory_critical_percent: f64,
    pub memory_critical_for: Duration,
    pub disk_percent: f64,
    pub disk_for: Duration,
    /// `HighLoad`: 1-minute load average per CPU core.
    pub load_per_core: f64,
    pub load_for: Duration,
    /// `NodeCPUStealHigh`: share of CPU time stolen by the hypervisor.
    pub steal_percent: f64,
    /// `NodeFilesystemSpaceFillingUp` (warning): predicted full within this.
    pub disk_fill_within: Duration,
    /// `CpuAnomaly`: sliding window of mean and standard deviation.
    pub anomaly_window: Duration,
    pub anomaly_for: Duration,
    /// `CpuAnomaly` stays quiet below this CPU usage, however unusual.
    pub anomaly_min_percent: f64,
    /// `GpuMemoryNearlyFull`: percent of a GPU's memory in use.
    pub gpu_memory_percent: f64,
    pub gpu_memory_for: Duration,
    /// `GpuTooHot`: GPU die temperature, °C.
    pub gpu_temperature: f64,
    pub gpu_temperature_for: Duration,
    /// `CpuSlowerThanUsual`: how many times its own median benchmark
    /// duration a host must take.
    pub cpu_slow_factor: f64,
    pub cpu_slow_for: Duration,
    /// The window of that median.
    pub cpu_slow_baseline: Duration,
    /// Base URL of `outpost bridge` (its webhook is `BRIDGE/alert`).
    pub bridge_url: String,
    /// Alertmanagers Prometheus sends alerts to: every member of a cluster
    /// (each alert goes to all of them; their gossip sends it on once).
    pub alertmanager_urls: Vec<String>,
    /// Prometheus URL of the Grafana datasource.
    pub prometheus_url: String,
    /// File holding the bridge's webhook token (Alertmanager `credentials_file`).
    pub webhook_token_file: String,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    /// How often the Watchdog heartbeat is re-sent to the bridge.
    pub heartbeat_interval: Duration,
    /// Directory Grafana reads provisioned dashboards from.
    pub grafana_dashboards_path: String,
    /// Sharded layout: number of Prometheus shards (`None`: one Prometheus).
    pub shards: Option<u32>,
    /// `host:port` of each shard, for the federating global Prometheus.
    pub shard_targets: Vec<String>,
    /// Remote-write URL added to prometheus.yml and every shard
    /// (VictoriaMetrics, Thanos, Mimir …).
    pub remote_write_url: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            scrape_interval: secs(15),
            evaluation_interval: secs(15),
            rate_window: secs(60),
            agent_down_for: secs(60),
            cpu_percent: 80.0,
            cpu_for: secs(120),
            memory_percent: 85.0,
            memory_for: secs(120),
            memory_critical_percent: 95.0,
            memory_critical_for: secs(60),
            disk_percent: 90.0,
            disk_for: secs(60),
            load_per_core: 2.0,
            load_for: secs(300),
            steal_percent: 10.0,
            disk_fill_within: secs(24 * 3600),
            anomaly_window: secs(3600),
            anomaly_for: secs(300),
            anomaly_min_percent: 10.0,
            gpu_memory_percent: 90.0,
            gpu_memory_for: secs(300),
            gpu_temperature: 85.0,
            gpu_temperature_for: secs(300),
            cpu_slow_factor: 1.5,
            cpu_slow_for: secs(20 * 60),
            cpu_slow_baseline: secs(7 * 86400),
            bridge_url: "http://127.0.0.1:9187".into(),
            alertmanager_urls: vec!["http://127.0.0.1:9093".into()],
            prometheus_url: "http://127.0.0.1:9090".into(),
            webhook_token_file: "webhook-token".into(),
            group_wait: secs(30),
            group_interval: secs(300),
            repeat_interval: secs(4 * 3600),
            heartbeat_interval: secs(60),
            grafana_dashboards_path: "/var/lib/grafana/dashboards/outpost".into(),
            shards: None,
            shard_targets: Vec::new(),
            remote_write_url: None,
        }
    }
}

impl Settings {
    /// The default of a per-agent threshold, in its series' unit.
    pub fn threshold(&self, t: Threshold) -> f64 {
        match t {
            Threshold::Cpu => self.cpu_percent,
            Threshold::Memory => self.memory_percent,
            Threshold::MemoryCritical => self.memory_critical_percent,
            Threshold::Disk => self.disk_percent,
            Threshold::DiskFill => self.disk_fill_within.as_secs_f64(),
            Threshold::Load => self.load_per_core,
            Threshold::Steal => self.steal_percent,
        }
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A duration in Prometheus/Alertmanager notation: `1h30m`, `15s`, `500ms`.
pub fn prom_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if ms % 1000 != 0 {
        return format!("{ms}ms");
    }
    let mut s = (ms / 1000) as u64;
    let mut out = String::new();
    for (unit, len) in [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)] {
        if s >= len {
            out.push_str(&format!("{}{unit}", s / len));
            s %= len;
        }
    }
    out
}

/// A threshold as written in PromQL and text: `80`, `1.5`.
pub fn number(v: f64) -> String {
    format!("{v}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_prometheus_notation() {
        assert_eq!(prom_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(prom_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(prom_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(prom_duration(Duration::ZERO), "0s");
        assert_eq!(prom_duration(Duration::from_secs(86400 + 1)), "1d1s");
        assert_eq!(number(80.0), "80");
        assert_eq!(number(1.5), "1.5");
    }
}
