//! Prometheus HTTP API client (`/api/v1/query`, `/api/v1/query_range`) with
//! a per-request time limit, and the escaping of label values inserted into
//! PromQL. Errors name Prometheus and its URL so a chat reply can say which
//! part of the pipeline is unreachable or slow.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// Label set of a series.
pub type Labels = BTreeMap<String, String>;

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub value: f64,
}

/// One series of a range query: (unix seconds, value) points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub points: Vec<(f64, f64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum PromError {
    #[error("Prometheus at {url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("Prometheus at {url} is slow: no answer within {}s", .after.as_secs_f64())]
    Slow { url: String, after: Duration },
    #[error("Prometheus at {url} rejected the query ({status}): {message}")]
    Rejected {
        url: String,
        status: u16,
        message: String,
    },
    #[error("Prometheus at {url} sent an answer that is not the query API's: {message}")]
    BadAnswer { url: String, message: String },
}

/// A client of one Prometheus server.
#[derive(Debug, Clone)]
pub struct Prometheus {
    base: String,
    http: reqwest::Client,
    timeout: Duration,
}

impl Prometheus {
    /// `base` is the server URL, e.g. `http://localhost:9090` (a path prefix
    /// such as `/prometheus` is kept).
    pub fn new(base: &str, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .expect("reqwest client with rustls builds");
        Prometheus {
            base: base.trim_end_matches('/').to_string(),
            http,
            timeout,
        }
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// Instant query at the server's "now".
    pub async fn query(&self, expr: &str) -> Result<Vec<Sample>, PromError> {
        let data = self
            .call("/api/v1/query", &[("query", expr.to_string())])
            .await?;
        match data {
            Data::Vector(v) => Ok(v
                .into_iter()
                .filter_map(|r| {
                    Some(Sample {
                        value: number(&r.value.1)?,
                        labels: r.metric,
                    })
                })
                .collect()),
            Data::Scalar((_, v)) => Ok(number(&v)
                .map(|value| Sample {
                    labels: Labels::new(),
                    value,
                })
                .into_iter()
                .collect()),
            Data::Matrix(_) => Err(self.bad("expected a vector, got a matrix")),
        }
    }

    /// Range query from `start` to `end` (unix seconds) every `step`.
    pub async fn query_range(
        &self,
        expr: &str,
        start: f64,
        end: f64,
        step: Duration,
    ) -> Result<Vec<Series>, PromError> {
        let params = [
            ("query", expr.to_string()),
            ("start", format!("{start:.3}")),
            ("end", format!("{end:.3}")),
            ("step", format!("{}", step.as_secs_f64().max(0.001))),
        ];
        match self.call("/api/v1/query_range", &params).await? {
            Data::Matrix(m) => Ok(m
                .into_iter()
                .map(|r| Series {
                    labels: r.metric,
                    points: r
                        .values
                        .into_iter()
                        .filter_map(|(t, v)| Some((t, number(&v)?)))
                        .collect(),
                })
                .collect()),
            _ => Err(self.bad("expected a matrix")),
        }
    }

    /// `POST /-/reload` (needs Prometheus's `--web.enable-lifecycle`), then
    /// `prometheus_config_last_reload_successful` from its own `/metrics`.
    pub async fn reload(&self) -> Result<(), PromError> {
        let url = format!("{}/-/reload", self.base);
        let resp = self
            .http
            .post(&url)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let status = resp.status().as_u16();
        if status >= 300 {
            let body = resp.text().await.unwrap_or_default();
            return Err(PromError::Rejected {
                url: self.base.clone(),
                status,
                message: format!(
                    "reload: {}",
                    body.trim().chars().take(500).collect::<String>()
                ),
            });
        }
        let url = format!("{}/metrics", self.base);
        let body = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| self.transport(e))?
            .text()
            .await
            .map_err(|e| self.transport(e))?;
        let successful = body
            .lines()
            .find_map(|l| l.strip_prefix("prometheus_config_last_reload_successful "))
            .and_then(|v| v.trim().parse::<f64>().ok());
        match successful {
            Some(1.0) => Ok(()),
            Some(_) => Err(PromError::Rejected {
                url: self.base.clone(),
                status,
                message: "prometheus_config_last_reload_successful is 0: the new config was not loaded (see Prometheus's log)".into(),
            }),
            None => Err(self.bad("no prometheus_config_last_reload_successful on /metrics")),
        }
    }

    /// The label sets of the active targets (`/api/v1/targets?state=active`).
    pub async fn active_targets(&self) -> Result<Vec<Labels>, PromError> {
        #[derive(Deserialize)]
        struct Targets {
            status: String,
            data: TargetsData,
        }
        #[derive(Deserialize)]
        struct TargetsData {
            #[serde(rename = "activeTargets", default)]
            active: Vec<Target>,
        }
        #[derive(Deserialize)]
        struct Target {
            labels: Labels,
        }
        let url = format!("{}/api/v1/targets", self.base);
        let body = self
            .http
            .get(&url)
            .query(&[("state", "active")])
            .send()
            .await
            .map_err(|e| self.transport(e))?
            .bytes()
            .await
            .map_err(|e| self.transport(e))?;
        let t: Targets = serde_json::from_slice(&body).map_err(|e| self.bad(&e.to_string()))?;
        if t.status != "success" {
            return Err(self.bad(&t.status));
        }
        Ok(t.data.active.into_iter().map(|t| t.labels).collect())
    }

    async fn call(&self, path: &str, params: &[(&str, String)]) -> Result<Data, PromError> {
        let url = format!("{}{}", self.base, path);
        let resp = self
            .http
            .post(&url)
            .form(params)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| self.transport(e))?;
        let answer: Answer = serde_json::from_slice(&body).map_err(|e| {
            if status >= 400 {
                PromError::Rejected {
                    url: self.base.clone(),
                    status,
                    message: String::from_utf8_lossy(&body).chars().take(200).collect(),
                }
            } else {
                self.bad(&e.to_string())
            }
        })?;
        if answer.status != "success" {
            return Err(PromError::Rejected {
                url: self.base.clone(),
                status,
                message: format!(
                    "{}: {}",
                    answer.error_type.unwrap_or_default(),
                    answer.error.unwrap_or_default()
                ),
            });
        }
        answer.data.ok_or_else(|| self.bad("no data"))
    }

    fn transport(&self, e: reqwest::Error) -> PromError {
        if e.is_timeout() {
            PromError::Slow {
                url: self.base.clone(),
                after: self.timeout,
            }
        } else {
            PromError::Unreachable {
                url: self.base.clone(),
                reason: innermost(&e),
            }
        }
    }

    fn bad(&self, message: &str) -> PromError {
        PromError::BadAnswer {
            url: self.base.clone(),
            message: message.to_string(),
        }
    }
}

/// The deepest cause of an error ("Connection refused (os error 111)"),
/// which is what a person on call needs, without reqwest's URL repetition.
pub(crate) fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

fn number(s: &str) -> Option<f64> {
    match s {
        "NaN" => None,
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok().filter(|v: &f64| v.is_finite()),
    }
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    data: Option<Data>,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(Vec<VectorRow>),
    Matrix(Vec<MatrixRow>),
    Scalar((f64, String)),
}

#[derive(Deserialize)]
struct VectorRow {
    #[serde(default)]
    metric: Labels,
    value: (f64, String),
}

#[derive(Deserialize)]
struct MatrixRow {
    #[serde(default)]
    metric: Labels,
    values: Vec<(f64, String)>,
}

/// Escapes a label value for a double-quoted PromQL string literal.
pub fn escape_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// `name="value"` with the value escaped.
pub fn label_matcher(name: &str, value: &str) -> String {
    format!("{name}=\"{}\"", escape_label_value(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_quotes_backslashes_newlines() {
        assert_eq!(escape_label_value(r#"web1"}"#), r#"web1\"}"#);
        assert_eq!(escape_label_value("a\\b\nc"), "a\\\\b\\nc");
        assert_eq!(
            label_matcher("agent", r#"x"} or vector(1) #"#),
            r#"agent="x\"} or vector(1) #""#
        );
    }

    #[test]
    fn decodes_vector_matrix_and_errors() {
        let a: Answer = serde_json::from_str(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"agent":"web1"},"value":[1700000000.1,"12.5"]},{"metric":{},"value":[1,"NaN"]}]}}"#,
        )
        .unwrap();
        let Some(Data::Vector(v)) = a.data else {
            panic!()
        };
        assert_eq!(v.len(), 2);
        assert_eq!(number(&v[0].value.1), Some(12.5));
        assert_eq!(number(&v[1].value.1), None);
        let m: Answer = serde_json::from_str(
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"instance":"h:1"},"values":[[1,"1"],[2,"2"]]}]}}"#,
        )
        .unwrap();
        assert!(matches!(m.data, Some(Data::Matrix(ref r)) if r[0].values.len() == 2));
        // VictoriaMetrics' answer (as its 1.79 sent it): whole-second
        // timestamps as integers.
        let vm: Answer = serde_json::from_str(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"agent":"web2","instance":"127.0.0.1:41002"},"value":[1796561099,"100"]}]}}"#,
        )
        .unwrap();
        assert!(matches!(vm.data, Some(Data::Vector(ref r)) if r[0].value.0 == 1_796_561_099.0));
        let e: Answer = serde_json::from_str(
            r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#,
        )
        .unwrap();
        assert_eq!(e.error.as_deref(), Some("parse error"));
    }
}
