//! Answers over time: `/history` (up/down changes of agents and TCP checks
//! from range queries), `/uptime`, and `/stats` from the bridge's [`Desk`].
//!
//! [`Desk`]: crate::chat::desk::Desk

use std::time::Duration;

use jiff::Timestamp;

use super::{Engine, Failure, Outcome};
use crate::chat::agents::Agent;
use crate::chat::history;
use crate::chat::queries::{self, Scope, Watched};
use crate::chat::reply::{self, Reply, UptimeRow, Watch};

/// Points per `/history` series at most; the step follows from the window.
const HISTORY_POINTS: u64 = 1000;
/// The finest `/history` step (a scrape interval or two).
const MIN_STEP: u64 = 30;

impl Engine {
    pub(super) async fn history(
        &self,
        target: Option<&str>,
        hours: u32,
    ) -> Result<Outcome, Failure> {
        let known = self.known();
        let agent = target.and_then(|t| known.resolve(t));
        let watched = match (target, agent) {
            (None, _) => Watched::All,
            (Some(_), Some(a)) => Watched::Agent(a),
            (Some(check), None) => Watched::Check(check),
        };
        let span = u64::from(hours) * 3600;
        let step = (span / HISTORY_POINTS).max(MIN_STEP);
        let end = Timestamp::now().as_second() as f64;
        let start = end - span as f64;
        let (up, probes) = queries::history(watched, step);
        let mut series = Vec::new();
        for (q, is_check) in [(up, false), (probes, true)] {
            let Some(q) = q else { continue };
            let found = self
                .prometheus
                .query_range(&q, start, end, Duration::from_secs(step))
                .await?;
            series.extend(found.into_iter().map(|s| (s, is_check)));
        }
        if let (Some(word), Watched::Check(_), true) = (target, watched, series.is_empty()) {
            return Ok(Outcome::unknown_agent(format!(
                "No agent or TCP check named <code>{}</code> has data in the last {hours} h. {}",
                reply::escape(word),
                reply::unknown_agent(word, &self.known())
            )));
        }
        let mut watches = Vec::new();
        let mut steady = 0;
        for (s, is_check) in series {
            let stretches = history::stretches(&s.points, step as f64, end);
            if !history::eventful(&stretches) {
                steady += 1;
                continue;
            }
            let name = if is_check {
                let check = s.labels.get("check").cloned().unwrap_or_default();
                let target = s.labels.get("instance").cloned().unwrap_or_default();
                let from = s.labels.get("agent").cloned().unwrap_or_default();
                format!("{check} ({target}) from {from}")
            } else {
                self.series_name(&s.labels)
            };
            watches.push(Watch { name, stretches });
        }
        watches.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Outcome::ok(Reply::text(reply::history(
            &watches,
            steady,
            hours,
            Timestamp::now(),
            &self.config.timezone,
        ))))
    }

    pub(super) async fn uptime(&self, agent: Option<&Agent>) -> Result<Outcome, Failure> {
        let scope = agent.map_or(Scope::All, Scope::One);
        let p = &self.prometheus;
        let q = [
            queries::up(scope),
            queries::uptime_seconds(scope),
            queries::availability(scope, "24h"),
            queries::availability(scope, "7d"),
        ];
        let (up, boot, day, week) = tokio::try_join!(
            p.query(&q[0]),
            p.query(&q[1]),
            p.query(&q[2]),
            p.query(&q[3])
        )?;
        let known = self.known();
        let agents: Vec<&Agent> = match agent {
            Some(a) => vec![a],
            None => known.iter().collect(),
        };
        let of = |v: &[crate::chat::promql::Sample], a: &Agent| {
            v.iter()
                .find(|s| self.agent_of(&s.labels).is_some_and(|x| x.name == a.name))
                .map(|s| s.value)
        };
        let rows: Vec<UptimeRow> = agents
            .iter()
            .map(|a| UptimeRow {
                name: a.name.clone(),
                up: of(&up, a).map(|v| v >= 1.0),
                since_boot_seconds: of(&boot, a),
                day: of(&day, a),
                week: of(&week, a),
            })
            .collect();
        Ok(Outcome::ok(Reply::text(reply::uptime(&rows))))
    }

    pub(super) async fn stats(&self) -> Result<Outcome, Failure> {
        let Some(desk) = &self.desk else {
            return Ok(Outcome::usage(
                "No bridge state here: /stats needs the bridge or outpost ask --state.".into(),
            ));
        };
        let figures = desk.figures().await?;
        Ok(Outcome::ok(Reply::text(reply::stats(
            &figures,
            Timestamp::now(),
            &self.config.timezone,
        ))))
    }
}
