//! Answers that read Prometheus: the agents list, `/status`, `/mon_*`,
//! `/gpu`, the thresholds in force, and `/audit` from the store.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::{Engine, Failure, Outcome, AUDIT_SHOWN};
use crate::chat::agents::Agent;
use crate::chat::commands::Metric;
use crate::chat::promql::Labels;
use crate::chat::queries::{self, Scope};
use crate::chat::reply::{self, AgentStatus, Reply, Thresholds};

impl Engine {
    /// The known agent a series belongs to, by `agent` or `instance` label.
    pub(super) fn agent_of(&self, labels: &Labels) -> Option<Agent> {
        self.known()
            .of_series(
                labels.get("agent").map(String::as_str),
                labels.get("instance").map(String::as_str),
            )
            .cloned()
    }

    /// Display name of a series: its known agent, else its labels.
    pub(super) fn series_name(&self, labels: &Labels) -> String {
        self.agent_of(labels)
            .map(|a| a.name.clone())
            .or_else(|| labels.get("agent").cloned())
            .or_else(|| labels.get("instance").cloned())
            .unwrap_or_else(|| "value".into())
    }

    pub(super) async fn agents(&self) -> Result<Outcome, Failure> {
        let up = self.prometheus.query(&queries::up(Scope::All)).await?;
        let rows = self
            .known()
            .iter()
            .map(|a| {
                let state = up
                    .iter()
                    .filter(|s| self.agent_of(&s.labels).is_some_and(|x| x.name == a.name))
                    .map(|s| s.value >= 1.0)
                    .reduce(|x, y| x && y);
                (a.name.clone(), a.address.clone(), state)
            })
            .collect::<Vec<_>>();
        Ok(Outcome::ok(Reply::text(reply::agents(&rows))))
    }

    pub(super) async fn status(&self, agent: Option<&Agent>) -> Result<Outcome, Failure> {
        let scope = agent.map_or(Scope::All, Scope::One);
        let p = &self.prometheus;
        let q = [
            queries::up(scope),
            queries::cpu(scope),
            queries::mem(scope),
            queries::worst_disk(scope),
            queries::load1(scope),
            queries::uptime_seconds(scope),
            queries::failing_probes(scope),
            queries::thresholds(scope),
        ];
        let (up, cpu, mem, disk, load, uptime, probes, limits) = tokio::try_join!(
            p.query(&q[0]),
            p.query(&q[1]),
            p.query(&q[2]),
            p.query(&q[3]),
            p.query(&q[4]),
            p.query(&q[5]),
            p.query(&q[6]),
            p.query(&q[7]),
        )?;
        let limits = Thresholds::from_samples(&limits);
        let known = self.known();
        let agents: Vec<&Agent> = match agent {
            Some(a) => vec![a],
            None => known.iter().collect(),
        };
        let belongs =
            |labels: &Labels, a: &Agent| self.agent_of(labels).is_some_and(|x| x.name == a.name);
        let value = |v: &[crate::chat::promql::Sample], a: &Agent| {
            v.iter().find(|s| belongs(&s.labels, a)).map(|s| s.value)
        };
        let rows: Vec<AgentStatus> = agents
            .iter()
            .map(|a| AgentStatus {
                name: a.name.clone(),
                address: a.address.clone(),
                up: up
                    .iter()
                    .filter(|s| belongs(&s.labels, a))
                    .map(|s| s.value >= 1.0)
                    .reduce(|x, y| x && y),
                cpu: value(&cpu, a),
                mem: value(&mem, a),
                worst_disk: value(&disk, a),
                load1: value(&load, a),
                uptime_seconds: value(&uptime, a),
                failing: probes
                    .iter()
                    .filter(|s| {
                        // The generated probe jobs label each check with the
                        // agent that probes it, its `check` name and the
                        // target as `instance`.
                        s.labels.get("agent").is_some_and(|n| *n == a.name)
                    })
                    .map(|s| {
                        let target = s.labels.get("instance").cloned().unwrap_or_default();
                        match s.labels.get("check") {
                            Some(check) => format!("{check} ({target})"),
                            None => target,
                        }
                    })
                    .collect(),
                alert_at: limits.0.get(&a.name).cloned().unwrap_or_default(),
            })
            .collect();
        let text = match agent {
            Some(_) => reply::status_one(&rows[0]),
            None => reply::status_all(&rows),
        };
        Ok(Outcome::ok(Reply::text(text)))
    }

    /// The thresholds in force for the scope, from Prometheus.
    pub(super) async fn thresholds(&self, scope: Scope<'_>) -> Result<Thresholds, Failure> {
        let samples = self.prometheus.query(&queries::thresholds(scope)).await?;
        Ok(Thresholds::from_samples(&samples))
    }

    pub(super) async fn gpu(&self, scope: Scope<'_>) -> Result<Outcome, Failure> {
        use queries::GpuField;
        let mut rows: BTreeMap<(String, String), reply::GpuRow> = BTreeMap::new();
        for (field, q) in queries::gpu(scope) {
            for s in self.prometheus.query(&q).await? {
                let agent = self.series_name(&s.labels);
                let index = s.labels.get("index").cloned().unwrap_or_default();
                let row = rows
                    .entry((agent.clone(), index.clone()))
                    .or_insert_with(|| reply::GpuRow {
                        agent,
                        index,
                        name: s.labels.get("name").cloned().unwrap_or_default(),
                        ..Default::default()
                    });
                let slot = match field {
                    GpuField::Load => &mut row.load,
                    GpuField::Memory => &mut row.memory,
                    GpuField::Celsius => &mut row.celsius,
                    GpuField::Watts => &mut row.watts,
                    GpuField::LastXid => &mut row.last_xid,
                };
                *slot = Some(s.value);
            }
        }
        let rows: Vec<reply::GpuRow> = rows.into_values().collect();
        Ok(Outcome::ok(Reply::text(reply::gpu(&rows))))
    }

    pub(super) async fn mon(&self, metric: Metric, scope: Scope<'_>) -> Result<Outcome, Failure> {
        let (samples, limits) = tokio::try_join!(
            async {
                Ok::<_, Failure>(
                    self.prometheus
                        .query(&queries::metric(metric, scope))
                        .await?,
                )
            },
            self.thresholds(scope)
        )?;
        let mut rows: Vec<(String, Option<String>, f64)> = samples
            .iter()
            .map(|s| {
                (
                    self.series_name(&s.labels),
                    s.labels.get("mountpoint").cloned(),
                    s.value,
                )
            })
            .collect();
        rows.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        Ok(Outcome::ok(Reply::text(reply::mon(metric, &rows, &limits))))
    }

    pub(super) async fn audit_log(&self) -> Result<Outcome, Failure> {
        let entries = self.audit.latest(AUDIT_SHOWN).await?;
        Ok(Outcome::ok(Reply::text(reply::audit(
            &entries,
            Timestamp::now(),
            &self.config.timezone,
        ))))
    }
}
