//! Alertmanager API v2 client (firing alerts, silences: list, create,
//! expire) with a per-request time limit, and the parsing of silence
//! matchers typed in chat (`name=value`, `name!=value`, `name=~regex`,
//! `name!~regex`). Errors name Alertmanager and its URL.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::promql::innermost;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub starts_at: String,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    #[serde(default)]
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Matcher {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match (self.is_equal, self.is_regex) {
            (true, false) => "=",
            (false, false) => "!=",
            (true, true) => "=~",
            (false, true) => "!~",
        };
        write!(f, "{}{op}\"{}\"", self.name, self.value)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    pub id: String,
    pub status: SilenceStatus,
    pub matchers: Vec<Matcher>,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(default)]
    pub created_by: String,
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SilenceStatus {
    /// `active`, `pending` or `expired`.
    pub state: String,
}

/// The body of `POST /api/v2/silences`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSilence {
    pub matchers: Vec<Matcher>,
    pub starts_at: String,
    pub ends_at: String,
    pub created_by: String,
    pub comment: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AmError {
    #[error("Alertmanager at {url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("Alertmanager at {url} is slow: no answer within {}s", .after.as_secs_f64())]
    Slow { url: String, after: Duration },
    #[error("Alertmanager at {url} refused ({status}): {message}")]
    Rejected {
        url: String,
        status: u16,
        message: String,
    },
    #[error("Alertmanager at {url} sent an unexpected answer: {message}")]
    BadAnswer { url: String, message: String },
}

/// A client of one Alertmanager.
#[derive(Debug, Clone)]
pub struct Alertmanager {
    base: String,
    http: reqwest::Client,
    timeout: Duration,
}

impl Alertmanager {
    pub fn new(base: &str, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .expect("reqwest client with rustls builds");
        Alertmanager {
            base: base.trim_end_matches('/').to_string(),
            http,
            timeout,
        }
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// Firing alerts that are neither silenced nor inhibited.
    pub async fn firing(&self) -> Result<Vec<Alert>, AmError> {
        let req = self
            .http
            .get(format!("{}/api/v2/alerts", self.base))
            .query(&[
                ("active", "true"),
                ("silenced", "false"),
                ("inhibited", "false"),
            ]);
        self.json(req).await
    }

    /// Every alert Alertmanager holds, silenced and inhibited ones included.
    pub async fn all_alerts(&self) -> Result<Vec<Alert>, AmError> {
        self.json(self.http.get(format!("{}/api/v2/alerts", self.base)))
            .await
    }

    /// Every silence Alertmanager still remembers (expired ones included).
    pub async fn silences(&self) -> Result<Vec<Silence>, AmError> {
        self.json(self.http.get(format!("{}/api/v2/silences", self.base)))
            .await
    }

    /// Creates a silence; returns its id.
    pub async fn create_silence(&self, s: &NewSilence) -> Result<String, AmError> {
        #[derive(Deserialize)]
        struct Created {
            #[serde(rename = "silenceID")]
            silence_id: String,
        }
        let req = self
            .http
            .post(format!("{}/api/v2/silences", self.base))
            .json(s);
        let c: Created = self.json(req).await?;
        Ok(c.silence_id)
    }

    /// Expires a silence. `id` must already be validated as a UUID.
    pub async fn expire_silence(&self, id: &str) -> Result<(), AmError> {
        let req = self
            .http
            .delete(format!("{}/api/v2/silence/{id}", self.base));
        self.send(req).await.map(|_| ())
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Vec<u8>, AmError> {
        let resp = req.send().await.map_err(|e| self.transport(e))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| self.transport(e))?;
        if status >= 400 {
            return Err(AmError::Rejected {
                url: self.base.clone(),
                status,
                message: String::from_utf8_lossy(&body)
                    .trim()
                    .trim_matches('"')
                    .chars()
                    .take(300)
                    .collect(),
            });
        }
        Ok(body.to_vec())
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, AmError> {
        let body = self.send(req).await?;
        serde_json::from_slice(&body).map_err(|e| AmError::BadAnswer {
            url: self.base.clone(),
            message: e.to_string(),
        })
    }

    fn transport(&self, e: reqwest::Error) -> AmError {
        if e.is_timeout() {
            AmError::Slow {
                url: self.base.clone(),
                after: self.timeout,
            }
        } else {
            AmError::Unreachable {
                url: self.base.clone(),
                reason: innermost(&e),
            }
        }
    }
}

/// Parses one matcher typed in chat. Names follow Prometheus label-name
/// rules; values may be wrapped in double quotes; regexes must compile.
pub fn parse_matcher(text: &str) -> Result<Matcher, String> {
    let ops = [
        ("!=", false, false),
        ("=~", true, true),
        ("!~", false, true),
        ("=", true, false),
    ];
    let (pos, (op, is_equal, is_regex)) = ops
        .iter()
        .filter_map(|o| text.find(o.0).map(|p| (p, *o)))
        .min_by_key(|(p, o)| (*p, std::cmp::Reverse(o.0.len())))
        .ok_or_else(|| format!("{text:?} is not name=value, name!=value or name=~regex"))?;
    let name = &text[..pos];
    let mut value = &text[pos + op.len()..];
    if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
        value = &value[1..value.len() - 1];
    }
    let name_ok = name
        .chars()
        .enumerate()
        .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
    if name.is_empty() || !name_ok {
        return Err(format!("{name:?} is not a label name"));
    }
    if value.is_empty() {
        return Err(format!("{text:?} needs a value"));
    }
    if is_regex && regex_lite::Regex::new(value).is_err() {
        return Err(format!("{value:?} is not a valid regular expression"));
    }
    Ok(Matcher {
        name: name.to_string(),
        value: value.to_string(),
        is_regex,
        is_equal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_parse_and_print() {
        let m = parse_matcher("alertname=AgentHighCPU").unwrap();
        assert!(m.is_equal && !m.is_regex);
        assert_eq!(m.to_string(), r#"alertname="AgentHighCPU""#);
        let m = parse_matcher("agent!=web1").unwrap();
        assert!(!m.is_equal && !m.is_regex && m.value == "web1");
        let m = parse_matcher("agent=~\"web.*\"").unwrap();
        assert!(m.is_equal && m.is_regex && m.value == "web.*");
        let m = parse_matcher("agent!~db.+").unwrap();
        assert!(!m.is_equal && m.is_regex);
        // the first operator wins: a value may contain "="
        let m = parse_matcher("summary=a=b").unwrap();
        assert_eq!((m.name.as_str(), m.value.as_str()), ("summary", "a=b"));
        assert!(parse_matcher("web1").is_err());
        assert!(parse_matcher("1x=a").is_err());
        assert!(parse_matcher("a-b=c").is_err());
        assert!(parse_matcher("agent=").is_err());
        assert!(parse_matcher("agent=~(").is_err());
    }

    #[test]
    fn new_silence_serialises_like_the_api() {
        let s = NewSilence {
            matchers: vec![parse_matcher("agent=web1").unwrap()],
            starts_at: "2026-01-01T00:00:00.000Z".into(),
            ends_at: "2026-01-01T01:00:00.000Z".into(),
            created_by: "@alice (telegram 42)".into(),
            comment: "deploy".into(),
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["createdBy"], "@alice (telegram 42)");
        assert_eq!(v["matchers"][0]["isRegex"], false);
        assert_eq!(v["matchers"][0]["isEqual"], true);
        assert_eq!(v["endsAt"], "2026-01-01T01:00:00.000Z");
    }
}
