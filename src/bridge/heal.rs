//! Self-healing (off unless `--self-healing FILE`): rules that map a firing
//! alert (by name and exact label values) to an action on the alert's own
//! agent, each with a cooldown and a cap per hour. This file holds the
//! rules file, its parser and the pure decision ([`Healer::decide`]);
//! the bridge runs what it decides through the chat engine's actions
//! client and posts a notice saying what was done and its result.
//!
//! ```yaml
//! rules:
//!   - alert: AgentHighDisk
//!     labels: { mountpoint: / }     # optional, exact values
//!     action: docker.prune
//!     args: {}                      # optional, as the agent takes them
//!     cooldown: 30m                 # per agent; default 15m
//!     max_per_hour: 2               # per rule, all agents; default 4
//! ```
//!
//! Decisions:
//! - A rule acts only on the agent named by the alert's `agent` label, and
//!   only on agents with `actions=` in agents.txt: an alert cannot point an
//!   action at another host.
//! - The cooldown is per rule and agent, the cap per rule over the last
//!   hour: one noisy host cannot use up another's remedies in the
//!   cooldown, and a fleet-wide storm is still capped.
//! - Alert names are checked against the alert catalog ([`crate::alerts`])
//!   and node-mixin's names are not, so a rule for a typo is refused only
//!   when it looks like one of ours (`Agent…`); other names may come from
//!   the operator's own rules.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::chat::commands::ActArgs;

/// Default time between two runs of one rule on one agent.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(15 * 60);
/// Default most runs of one rule per hour.
pub const DEFAULT_MAX_PER_HOUR: u32 = 4;
const HOUR: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum HealError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// serde_yaml's message names the line and column.
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: rule {index} (line {line}): {problem}")]
    Rule {
        path: PathBuf,
        index: usize,
        line: usize,
        problem: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    rules: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    alert: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    action: String,
    #[serde(default)]
    args: ActArgs,
    cooldown: Option<String>,
    max_per_hour: Option<u32>,
}

/// One rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub alert: String,
    pub labels: BTreeMap<String, String>,
    pub action: String,
    pub args: ActArgs,
    pub cooldown: Duration,
    pub max_per_hour: u32,
}

impl Rule {
    fn matches(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        self.alert == name
            && self
                .labels
                .iter()
                .all(|(k, v)| labels.get(k).is_some_and(|l| l == v))
    }
}

/// Reads and checks a rules file.
pub fn read(path: &Path) -> Result<Vec<Rule>, HealError> {
    let text = std::fs::read_to_string(path).map_err(|source| HealError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

/// The line of the `index`th rule (its `- ` at the top level of `rules:`).
fn rule_line(text: &str, index: usize) -> usize {
    let mut seen = 0;
    let mut in_rules = false;
    let mut indent = None;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("rules:") {
            in_rules = true;
            continue;
        }
        let trimmed = line.trim_start();
        if in_rules && trimmed.starts_with("- ") {
            let here = line.len() - trimmed.len();
            if *indent.get_or_insert(here) == here {
                if seen == index {
                    return i + 1;
                }
                seen += 1;
            }
        }
    }
    0
}

/// Parses a rules file's text (`path` names it in errors).
pub fn parse(path: &Path, text: &str) -> Result<Vec<Rule>, HealError> {
    let raw: RawFile = serde_yaml_ng::from_str(text).map_err(|e| HealError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    raw.rules
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let bad = |problem: String| HealError::Rule {
                path: path.to_owned(),
                index: i + 1,
                line: rule_line(text, i),
                problem,
            };
            if !crate::signing::is_name(&r.action) {
                return Err(bad(format!("{:?} is not an action name", r.action)));
            }
            if r.alert.is_empty()
                || !r
                    .alert
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(bad(format!("{:?} is not an alert name", r.alert)));
            }
            if r.alert.starts_with("Agent")
                && !crate::alerts::CATALOG.iter().any(|a| a.name == r.alert)
            {
                return Err(bad(format!("no alert {:?} in Outpost's catalog", r.alert)));
            }
            let cooldown = match &r.cooldown {
                None => DEFAULT_COOLDOWN,
                Some(c) => crate::chat::commands::parse_silence_duration(c)
                    .ok_or_else(|| bad(format!("cooldown {c:?}: a duration like 30m or 2h")))?,
            };
            let max_per_hour = r.max_per_hour.unwrap_or(DEFAULT_MAX_PER_HOUR);
            if max_per_hour == 0 {
                return Err(bad("max_per_hour must be at least 1".into()));
            }
            Ok(Rule {
                alert: r.alert,
                labels: r.labels,
                action: r.action,
                args: r.args,
                cooldown,
                max_per_hour,
            })
        })
        .collect()
}

/// Why a matching rule did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    Cooldown { left: Duration },
    Cap { per_hour: u32 },
}

/// The rules and what they did lately.
#[derive(Debug, Default)]
pub struct Healer {
    rules: Vec<Rule>,
    /// (rule index, agent) → last run.
    last: Mutex<HashMap<(usize, String), Instant>>,
    /// rule index → runs in the last hour.
    runs: Mutex<HashMap<usize, VecDeque<Instant>>>,
}

impl Healer {
    pub fn new(rules: Vec<Rule>) -> Self {
        Healer {
            rules,
            ..Healer::default()
        }
    }

    /// The rules a firing alert on `agent` matches, each with whether it
    /// may run now; a rule that may run is recorded as run at `now`.
    pub fn decide(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
        agent: &str,
        now: Instant,
    ) -> Vec<(Rule, Result<(), Held>)> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if !rule.matches(name, labels) {
                continue;
            }
            let key = (i, agent.to_owned());
            if let Some(t) = last.get(&key) {
                let since = now.saturating_duration_since(*t);
                if since < rule.cooldown {
                    out.push((
                        rule.clone(),
                        Err(Held::Cooldown {
                            left: rule.cooldown - since,
                        }),
                    ));
                    continue;
                }
            }
            let recent = runs.entry(i).or_default();
            while recent
                .front()
                .is_some_and(|t| now.saturating_duration_since(*t) >= HOUR)
            {
                recent.pop_front();
            }
            if recent.len() >= rule.max_per_hour as usize {
                out.push((
                    rule.clone(),
                    Err(Held::Cap {
                        per_hour: rule.max_per_hour,
                    }),
                ));
                continue;
            }
            recent.push_back(now);
            last.insert(key, now);
            out.push((rule.clone(), Ok(())));
        }
        out
    }
}

/// Self-healing in the running bridge: the rules, the engine that runs
/// their actions, and where notices go.
pub struct Healing {
    pub healer: Healer,
    pub engine: std::sync::Arc<crate::chat::Engine>,
    pub state: std::sync::Arc<dyn super::state::State>,
    pub doorbell: std::sync::Arc<super::doorbell::Doorbell>,
}

impl Healing {
    /// Runs, in the background, what the rules decide for these alerts;
    /// each run's notice is queued to `chat`.
    pub fn spawn(
        self: &std::sync::Arc<Self>,
        chat: i64,
        thread: Option<i64>,
        alerts: Vec<super::payload::Alert>,
    ) {
        let this = std::sync::Arc::clone(self);
        tokio::spawn(async move {
            for alert in alerts.iter().filter(|a| a.is_firing()) {
                let Some(agent) = alert.labels.get("agent") else {
                    continue;
                };
                for (rule, decision) in
                    this.healer
                        .decide(alert.name(), &alert.labels, agent, Instant::now())
                {
                    if let Err(held) = decision {
                        tracing::info!(alert = alert.name(), %agent, action = %rule.action, ?held, "self-healing held back");
                        continue;
                    }
                    let Some(notice) = this
                        .engine
                        .heal(alert.name(), agent, &rule.action, &rule.args)
                        .await
                    else {
                        tracing::warn!(alert = alert.name(), %agent, "self-healing: the agent accepts no actions");
                        continue;
                    };
                    let now = jiff::Timestamp::now().as_millisecond();
                    match this.state.enqueue_text(chat, thread, notice, now).await {
                        Ok(_) => this.doorbell.ring(chat),
                        Err(e) => tracing::warn!(error = %e, "self-healing notice not stored"),
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "rules:\n  - alert: AgentHighDisk\n    labels: { mountpoint: / }\n    action: docker.prune\n    cooldown: 30m\n    max_per_hour: 2\n  - alert: AgentHighCPU\n    action: restart-app\n";

    #[test]
    fn rules_parse_with_defaults_and_errors_name_file_and_line() {
        let rules = parse(Path::new("heal.yml"), FILE).unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].cooldown, Duration::from_secs(1800));
        assert_eq!(rules[1].cooldown, DEFAULT_COOLDOWN);
        assert_eq!(rules[1].max_per_hour, DEFAULT_MAX_PER_HOUR);
        let bad = FILE.replace("restart-app", "rm -rf");
        let e = parse(Path::new("heal.yml"), &bad).unwrap_err().to_string();
        assert_eq!(
            e,
            "heal.yml: rule 2 (line 7): \"rm -rf\" is not an action name"
        );
        let e = parse(
            Path::new("heal.yml"),
            "rules:\n  - alert: X\n    acton: y\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("heal.yml: ") && e.contains("line 3"), "{e}");
        let e = parse(Path::new("h"), &FILE.replace("30m", "soon"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("rule 1 (line 2): cooldown"), "{e}");
    }

    #[test]
    fn cooldown_per_agent_and_cap_per_hour() {
        let h = Healer::new(parse(Path::new("h"), FILE).unwrap());
        let disk: BTreeMap<String, String> = [("mountpoint".to_string(), "/".to_string())].into();
        let t0 = Instant::now();
        let ran = |r: &[(Rule, Result<(), Held>)]| r.iter().filter(|(_, x)| x.is_ok()).count();
        assert_eq!(ran(&h.decide("AgentHighDisk", &disk, "web1", t0)), 1);
        let again = h.decide("AgentHighDisk", &disk, "web1", t0 + Duration::from_secs(60));
        assert!(matches!(again[0].1, Err(Held::Cooldown { .. })));
        assert_eq!(ran(&h.decide("AgentHighDisk", &disk, "web2", t0)), 1);
        let capped = h.decide("AgentHighDisk", &disk, "web3", t0);
        assert_eq!(capped[0].1, Err(Held::Cap { per_hour: 2 }));
        assert_eq!(ran(&h.decide("AgentHighDisk", &disk, "web3", t0 + HOUR)), 1);
        // labels must match exactly
        let other: BTreeMap<String, String> =
            [("mountpoint".to_string(), "/data".to_string())].into();
        assert!(h.decide("AgentHighDisk", &other, "web9", t0).is_empty());
    }
}
