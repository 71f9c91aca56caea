//! `--attach-charts`: which firing alerts arrive with the chart of their
//! own expression, drawing that chart under the `--query-timeout`
//! deadline, and cutting the alert message into a photo caption and the
//! rest.
//!
//! Decisions:
//! - The chart travels in the alert message itself (`sendPhoto`, the alert
//!   text as caption, the buttons under it), so a phone shows one message
//!   per alert. The price is that the alert waits for its chart, at most
//!   the query deadline; a chart that fails or is late is dropped and the
//!   alert goes as text, as without the flag.
//! - A caption holds 1024 visible characters; a longer alert text is cut
//!   between lines (never inside a tag, see [`crate::html::split_at_line`])
//!   and the rest follows as a text message replying to the photo.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::payload::Alert;
use super::telegram::CAPTION_LIMIT;
use crate::chat::engine::Failure;
use crate::chat::Engine;

/// Whether a firing alert gets its chart attached: the alerts the catalog
/// ([`crate::alerts::CATALOG`]) gives a chart.
pub fn wants_chart(alert: &Alert) -> bool {
    alert.is_firing() && crate::alerts::chart(alert.name()).is_some()
}

/// Why an alert goes without its chart.
#[derive(Debug, thiserror::Error)]
pub enum ChartMiss {
    #[error("the alert carries no expression (generatorURL) to chart")]
    NoExpression,
    #[error("no chart within {0:?} (--query-timeout)")]
    Timeout(Duration),
    #[error(transparent)]
    Failed(#[from] Failure),
}

impl ChartMiss {
    /// The `reason` label of `outpost_bridge_chart_failures_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            ChartMiss::NoExpression => "no_expression",
            ChartMiss::Timeout(_) => "timeout",
            ChartMiss::Failed(Failure::Prometheus(_)) => "prometheus",
            ChartMiss::Failed(_) => "chart",
        }
    }
}

/// A chart being drawn: the PNG, or why there is none.
pub type ChartFuture = Pin<Box<dyn Future<Output = Result<Vec<u8>, ChartMiss>> + Send>>;

/// Draws an alert's chart (the engine in the bridge; a stand-in in tests).
pub type Charts = Arc<dyn Fn(Alert) -> ChartFuture + Send + Sync>;

/// The PNG of an alert's expression over the last hour, given up after
/// the engine's query timeout.
pub async fn draw(engine: &Engine, alert: &Alert) -> Result<Vec<u8>, ChartMiss> {
    let limit = engine.config().timeout;
    let picture = engine.alert_picture(&alert.labels, &alert.generator_url);
    match tokio::time::timeout(limit, picture).await {
        Err(_) => Err(ChartMiss::Timeout(limit)),
        Ok(Err(e)) => Err(e.into()),
        Ok(Ok(None)) => Err(ChartMiss::NoExpression),
        Ok(Ok(Some(p))) => Ok(p.png),
    }
}

/// [`draw`] with this engine, as the sender takes it.
pub fn charts(engine: Arc<Engine>) -> Charts {
    Arc::new(move |alert: Alert| -> ChartFuture {
        let engine = Arc::clone(&engine);
        Box::pin(async move { draw(&engine, &alert).await })
    })
}

/// The caption (at most [`CAPTION_LIMIT`] visible characters) and the rest
/// of an alert message, cut between lines; the rest is empty when all fits.
pub fn split_caption(html: &str) -> (&str, &str) {
    crate::html::split_at_line(html, CAPTION_LIMIT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::message::{self, to_plain, visible_len, Layout};

    fn alert(name: &str, status: &str) -> Alert {
        let mut a = Alert {
            status: status.into(),
            fingerprint: "ab12".into(),
            starts_at: "2026-11-22T05:00:00Z".into(),
            generator_url: "http://prom:9090/graph?g0.expr=up+%3E+0".into(),
            ..Default::default()
        };
        a.labels.insert("alertname".into(), name.into());
        a.labels.insert("agent".into(), "web1".into());
        a
    }

    #[test]
    fn charts_go_with_the_alerts_the_catalog_charts() {
        for name in [
            "AgentHighCPU",
            "CpuAnomaly",
            "AgentHighMemory",
            "HighMemoryUsage",
            "AgentHighDisk",
            "NodeFilesystemSpaceFillingUp",
            "NodeCPUStealHigh",
        ] {
            assert!(wants_chart(&alert(name, "firing")), "{name}");
        }
        // Names with "cpu" or "disk" in them that have no chart of their own.
        assert!(!wants_chart(&alert("NodeDiskIOSaturation", "firing")));
        assert!(!wants_chart(&alert("AgentDown", "firing")));
        assert!(!wants_chart(&alert("TcpTargetDown", "firing")));
        assert!(!wants_chart(&alert("AgentHighCPU", "resolved")));
    }

    #[test]
    fn a_short_alert_is_all_caption() {
        let msgs = message::render(&[alert("AgentHighCPU", "firing")], 0, 0, Layout::default());
        let (caption, rest) = split_caption(&msgs[0].html);
        assert_eq!(caption, msgs[0].html);
        assert!(rest.is_empty());
    }

    #[test]
    fn a_long_alert_is_cut_between_lines_and_nothing_is_lost() {
        let mut a = alert("AgentHighCPU", "firing");
        a.annotations
            .insert("summary".into(), "CPU <high> & \"hot\" on web1".into());
        // A description with line breaks inside its <i>…</i>, entities and
        // characters that count twice in UTF-16.
        let long: String = (0..60)
            .map(|i| format!("line {i}: load & <queue> 😀 rising\n"))
            .collect();
        a.annotations.insert("description".into(), long);
        a.annotations
            .insert("runbook".into(), "https://wiki/cpu?a=1&b=2".into());
        let html = message::render(&[a], 0, 0, Layout::default())
            .remove(0)
            .html;
        assert!(visible_len(&html) > CAPTION_LIMIT);
        let (caption, rest) = split_caption(&html);
        assert!(
            visible_len(caption) <= CAPTION_LIMIT,
            "{}",
            visible_len(caption)
        );
        assert!(!rest.is_empty());
        assert!(to_plain(caption).contains("AgentHighCPU"));
        for part in [caption, rest] {
            for tag in ["b", "i", "code", "a"] {
                let opens = part.matches(&format!("<{tag}>")).count()
                    + part.matches(&format!("<{tag} ")).count();
                assert_eq!(
                    opens,
                    part.matches(&format!("</{tag}>")).count(),
                    "{tag} in {part}"
                );
            }
            // Nothing starts or ends inside an entity or a tag.
            assert!(!part.ends_with('&') && !part.ends_with('<') && !part.starts_with('>'));
        }
        // Caption + rest is the whole visible text, less the line break(s)
        // at the cut.
        let (whole, c, r) = (to_plain(&html), to_plain(caption), to_plain(rest));
        assert!(whole.starts_with(&c) && whole.ends_with(&r));
        let middle = &whole[c.len()..whole.len() - r.len()];
        assert!(
            !middle.is_empty() && middle.chars().all(|ch| ch == '\n'),
            "{middle:?}"
        );
        // The description's <i> spans lines: it went whole to the rest.
        assert!(r.contains("line 0:") && r.contains("line 59"));
        assert!(rest.contains("<i>line 0:"));
    }
}
