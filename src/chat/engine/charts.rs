//! Charts: `/mon_*_picture` and `/plot` over a window, `/mem_picture`'s
//! bars, and an alert's own expression (the chart button and
//! `--attach-charts`).

use std::time::Duration;

use jiff::Timestamp;

use super::{window, Engine, Failure, Outcome};
use crate::chat::agents::Agent;
use crate::chat::chart::{self, Chart, Line};
use crate::chat::commands::{Metric, TimeOfDay};
use crate::chat::plot::PlotMetric;
use crate::chat::queries::{self, Scope};
use crate::chat::reply::{self, Picture, Reply};
use crate::chat::zone;

/// Window of an alert's expression chart.
const ALERT_CHART_WINDOW: i64 = 3600;
/// Points per chart at most (the step follows from the window).
const CHART_POINTS: f64 = 300.0;

impl Engine {
    pub(super) async fn picture(
        &self,
        metric: Metric,
        agent: Option<&Agent>,
        minutes: u32,
        at: Option<TimeOfDay>,
    ) -> Result<Outcome, Failure> {
        let scope = agent.map_or(Scope::All, Scope::One);
        let (start, end) = window::window(&self.config.timezone, Timestamp::now(), minutes, at);
        let step = Duration::from_secs_f64(((end - start) / CHART_POINTS).max(1.0));
        let (series, limits) = tokio::try_join!(
            async {
                Ok::<_, Failure>(
                    self.prometheus
                        .query_range(&queries::metric(metric, scope), start, end, step)
                        .await?,
                )
            },
            self.thresholds(scope)
        )?;
        // The line of the agent's threshold, or the one all agents share.
        let threshold = match agent {
            Some(a) => limits.get(&a.name, metric.threshold()),
            None => limits.common(
                self.known().iter().map(|a| a.name.as_str()),
                metric.threshold(),
            ),
        };
        let mut lines: Vec<Line> = series
            .into_iter()
            .map(|s| {
                let mut name = self.series_name(&s.labels);
                if let Some(mp) = s.labels.get("mountpoint") {
                    name = if agent.is_some() {
                        mp.clone()
                    } else {
                        format!("{name} {mp}")
                    };
                }
                Line {
                    name,
                    points: s.points,
                }
            })
            .collect();
        lines.sort_by(|a, b| a.name.cmp(&b.name));
        let who = agent.map_or("all agents".to_string(), |a| a.name.clone());
        self.lines_picture(
            metric.title(),
            &who,
            "%",
            true,
            lines,
            threshold,
            (start, end, minutes),
        )
    }

    /// `/plot`: one query per agent, all lines on one chart, the legend
    /// naming each agent (and its disk or GPU where it has several).
    pub(super) async fn plot(
        &self,
        agents: &[Agent],
        metric: PlotMetric,
        minutes: u32,
        at: Option<TimeOfDay>,
    ) -> Result<Outcome, Failure> {
        let (start, end) = window::window(&self.config.timezone, Timestamp::now(), minutes, at);
        let step = Duration::from_secs_f64(((end - start) / CHART_POINTS).max(1.0));
        let mut lines = Vec::new();
        // One query per agent, in turn: at most MAX_PLOT_AGENTS of them.
        for agent in agents {
            let q = queries::plot(metric, Scope::One(agent));
            for s in self.prometheus.query_range(&q, start, end, step).await? {
                let part = s
                    .labels
                    .get("mountpoint")
                    .cloned()
                    .or_else(|| s.labels.get("index").map(|i| format!("GPU {i}")));
                let name = match part {
                    Some(p) => format!("{} {p}", agent.name),
                    None => agent.name.clone(),
                };
                lines.push(Line {
                    name,
                    points: s.points,
                });
            }
        }
        lines.sort_by(|a, b| a.name.cmp(&b.name));
        // The alert threshold, where one agent is drawn and the metric has one.
        let threshold = match (agents, metric.resource()) {
            ([a], Some(resource)) => self
                .thresholds(Scope::One(a))
                .await?
                .get(&a.name, resource.threshold()),
            _ => None,
        };
        let who: Vec<&str> = agents.iter().map(|a| a.name.as_str()).collect();
        let unit = metric.unit();
        self.lines_picture(
            &metric.title(),
            &who.join(", "),
            unit.label(),
            unit == crate::chat::plot::Unit::Percent,
            lines,
            threshold,
            (start, end, minutes),
        )
    }

    /// A line chart with the usual caption (`title — who, N min (from–to
    /// zone)`), or "No data for …" when no line has a point.
    #[allow(clippy::too_many_arguments)]
    fn lines_picture(
        &self,
        title: &str,
        who: &str,
        unit: &str,
        percent: bool,
        lines: Vec<Line>,
        threshold: Option<f64>,
        (start, end, minutes): (f64, f64, u32),
    ) -> Result<Outcome, Failure> {
        let tz = &self.config.timezone;
        let fmt = |t: f64| {
            Timestamp::from_second(t as i64)
                .map(|t| tz.to_datetime(t).strftime("%H:%M").to_string())
                .unwrap_or_default()
        };
        let caption = format!(
            "<b>{}</b> — {}, {} min ({}–{} {})",
            reply::escape(title),
            reply::escape(who),
            minutes,
            fmt(start),
            fmt(end),
            zone::name(tz)
        );
        if lines.iter().all(|l| l.points.is_empty()) {
            return Ok(Outcome::ok(Reply::text(format!("No data for {caption}."))));
        }
        let png = chart::render(&Chart {
            title: format!("{title} — {who}"),
            unit: unit.into(),
            lines,
            threshold,
            start,
            end,
            tz: tz.clone(),
            percent,
        })?;
        Ok(Outcome::ok(Reply {
            chart: Some(Picture {
                png,
                caption: crate::html::cut(&caption, reply::CAPTION_LIMIT),
            }),
            ..Reply::default()
        }))
    }

    /// `/mem_picture`: used, buffers, cache and free memory as bars, GiB.
    pub(super) async fn mem_picture(&self, agent: &Agent) -> Result<Outcome, Failure> {
        use queries::MemPart;
        let mut total = None;
        let (mut free, mut buffers, mut cache) = (None, None, None);
        for (part, q) in queries::mem_parts(Scope::One(agent)) {
            let value = self.prometheus.query(&q).await?.first().map(|s| s.value);
            match part {
                MemPart::Total => total = value,
                MemPart::Free => free = value,
                MemPart::Buffers => buffers = value,
                MemPart::Cache => cache = value,
            }
        }
        let (Some(total), Some(free), Some(buffers), Some(cache)) = (total, free, buffers, cache)
        else {
            return Ok(Outcome::ok(Reply::text(format!(
                "No memory figures for <b>{}</b> in Prometheus.",
                reply::escape(&agent.name)
            ))));
        };
        const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
        let used = (total - free - buffers - cache).max(0.0);
        let parts = [
            ("used", used),
            ("buffers", buffers),
            ("cache", cache),
            ("free", free),
        ];
        let png = chart::render_bars(&chart::Bars {
            title: format!("Memory — {} ({:.2} GiB)", agent.name, total / GIB),
            unit: "GiB".into(),
            bars: parts
                .iter()
                .map(|(name, v)| (name.to_string(), v / GIB))
                .collect(),
        })?;
        let caption = reply::mem_caption(&agent.name, total, &parts);
        Ok(Outcome::ok(Reply {
            chart: Some(Picture { png, caption }),
            ..Reply::default()
        }))
    }

    pub(super) async fn alert_chart(&self, fingerprint: &str) -> Result<Outcome, Failure> {
        let Some(alert) = self.find_alert(fingerprint).await? else {
            return Ok(Outcome::usage(
                "That alert is no longer known to Alertmanager; nothing to chart.".into(),
            ));
        };
        match self
            .alert_picture(&alert.labels, &alert.generator_url)
            .await
        {
            Ok(Some(picture)) => Ok(Outcome::ok(Reply {
                chart: Some(picture),
                ..Reply::default()
            })),
            Ok(None) => Ok(Outcome::usage(
                "That alert carries no expression (generatorURL) to chart.".into(),
            )),
            Err(e) => Err(e),
        }
    }

    /// The chart of an alert's own expression (the `g0.expr` of its
    /// `generatorURL`, a trailing `> N` drawn as the threshold) over the last
    /// hour. `Ok(None)` when the alert carries no expression. Used by the
    /// chart button and by the bridge's `--attach-charts`; the expression
    /// comes from Alertmanager or the webhook payload, never from chat.
    pub async fn alert_picture(
        &self,
        labels: &std::collections::BTreeMap<String, String>,
        generator_url: &str,
    ) -> Result<Option<Picture>, Failure> {
        let Some(expr) = generator_expr(generator_url) else {
            return Ok(None);
        };
        let agent = labels.get("agent").map_or("", String::as_str);
        let (expr, threshold) = match crate::alerts::split_against(&expr) {
            // A per-agent threshold: its value for this alert's agent now.
            Some((lhs, rhs)) => {
                let limits = self.prometheus.query(rhs).await?;
                let value = limits
                    .iter()
                    .find(|s| s.labels.get("agent").is_some_and(|a| a == agent))
                    .map(|s| s.value);
                (lhs.to_string(), value)
            }
            None => queries::split_threshold(&expr),
        };
        let end = Timestamp::now().as_second() as f64;
        let start = end - ALERT_CHART_WINDOW as f64;
        let step = Duration::from_secs_f64((ALERT_CHART_WINDOW as f64 / CHART_POINTS).max(1.0));
        let series = self.prometheus.query_range(&expr, start, end, step).await?;
        let name = labels.get("alertname").map_or("alert", String::as_str);
        let lines = series
            .into_iter()
            .map(|s| Line {
                name: self.series_name(&s.labels),
                points: s.points,
            })
            .collect();
        let png = chart::render(&Chart {
            title: format!("{name} {agent}").trim().to_string(),
            unit: String::new(),
            lines,
            threshold,
            start,
            end,
            tz: self.config.timezone.clone(),
            percent: false,
        })?;
        let head = format!(
            "<b>{}</b> {} — last hour",
            reply::escape(name),
            reply::escape(agent)
        );
        let with_expr = format!(
            "{head}\n<code>{}</code>",
            reply::escape(&reply::truncate(&expr, 300))
        );
        // Never cut HTML: drop the expression rather than truncate markup.
        let caption = if with_expr.chars().count() <= reply::CAPTION_LIMIT {
            with_expr
        } else {
            head
        };
        Ok(Some(Picture { png, caption }))
    }
}

/// The `g0.expr` query parameter of a Prometheus `generatorURL`.
pub fn generator_expr(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == "g0.expr")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.trim().is_empty())
}
