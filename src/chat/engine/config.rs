//! Config changes from the chat: `/agent_add`, `/agent_rm`, `/threshold`,
//! `/check_add`, `/check_rm`. Each shows the diff of agents.txt under a
//! Confirm button ([`Engine::ask_to_confirm`]); the press runs
//! [`crate::generate::apply::apply`] (write, generate, validate, reload,
//! confirm live, or roll back), then the engine's agents list is replaced
//! by the new inventory's. Without `--config-writable` each says the
//! config is read-only here.
//!
//! Decisions:
//! - The press re-reads agents.txt and refuses if it is no longer the text
//!   the diff was shown for (another change, a hand edit): what runs is
//!   always what was confirmed.
//! - An agent is named by name or address, as in every other command; the
//!   edit itself uses the name.
//! - Changes run one at a time (a lock around the whole pipeline).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Caller, Confirmable, Engine, Outcome, Verdict};
use crate::alerts::{THRESHOLD_LABEL, THRESHOLD_SERIES};
use crate::chat::agents::Agents;
use crate::chat::promql::{label_matcher, Prometheus};
use crate::chat::reply::{self, Reply};
use crate::chat::roles::Role;
use crate::generate::apply::{self, Expect, Live, Target};
use crate::generate::edit::{Edit, EditError};
use crate::html::escape;

/// Where the config lives, for an engine allowed to change it
/// (`--config-writable`).
#[derive(Debug, Clone)]
pub struct ConfigChange {
    pub target: Target,
    /// How long to wait for Prometheus to show a change (a new target, the
    /// threshold series) before rolling it back.
    pub confirm_within: Duration,
}

impl Engine {
    /// The reply to a config command: the diff and a Confirm button, or why not.
    pub(super) fn config_change(&self, caller: &Caller, edit: Edit) -> Outcome {
        let Some(change) = &self.config.config_change else {
            return Outcome {
                reply: Reply::text(
                    "⛔ The configuration is read-only here: this bridge was started without <code>--config-writable</code>. Change agents.txt where it is managed and run <code>outpost generate</code>.".to_string(),
                ),
                verdict: Verdict::Refused,
                note: Some("config read-only".into()),
            };
        };
        let edit = self.by_name(edit);
        match apply::preview(&change.target, &edit) {
            Err(failed) => refused_edit(failed),
            Ok((text, edited)) => {
                let file = change.target.agents.display().to_string();
                let what = format!(
                    "<b>{}</b>\n<pre>{}</pre>",
                    escape(&edit.to_string()),
                    escape(edited.diff(&file).trim_end())
                );
                self.ask_to_confirm(
                    caller,
                    Role::Admin,
                    Confirmable::ConfigChange {
                        edit,
                        based_on: text,
                    },
                    what,
                )
            }
        }
    }

    /// Runs a confirmed config change.
    pub(super) async fn apply_change(&self, edit: Edit, based_on: String) -> Outcome {
        let Some(change) = &self.config.config_change else {
            return Outcome::usage("The configuration is read-only here.".into());
        };
        let _one_at_a_time = self.changing.lock().await;
        let live = PromLive {
            prometheus: &self.prometheus,
            within: change.confirm_within,
        };
        match apply::apply(&change.target, &edit, &based_on, &live).await {
            Ok(applied) => {
                let agents = Agents::of(&applied.edited.inventory);
                *self.agents.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(agents);
                let mut text = format!(
                    "✅ Done: {}. Prometheus reloaded; {}.",
                    escape(&edit.to_string()),
                    escape(&applied.confirmed)
                );
                if applied.unvalidated {
                    text.push_str(
                        " (promtool is not installed here: validated by Prometheus's reload only.)",
                    );
                }
                Outcome::ok_noting(
                    Reply::text(text),
                    format!("{edit}: {}", applied.edited.audit_note()),
                )
            }
            Err(failed) if failed.refused.is_some() => refused_edit(failed),
            Err(failed) => Outcome {
                reply: Reply::text(reply::failure(&failed.to_string())),
                verdict: Verdict::Failed,
                note: Some(format!("{edit}: {failed}")),
            },
        }
    }

    /// The edit with an agent given by address replaced by its name.
    fn by_name(&self, edit: Edit) -> Edit {
        let known = self.known();
        let name = |w: String| known.resolve(&w).map_or(w, |a| a.name.clone());
        match edit {
            Edit::RemoveAgent { name: n } => Edit::RemoveAgent { name: name(n) },
            Edit::SetThreshold {
                agent,
                threshold,
                value,
            } => Edit::SetThreshold {
                agent: name(agent),
                threshold,
                value,
            },
            Edit::AddCheck {
                name: n,
                target,
                from,
                failures,
            } => Edit::AddCheck {
                name: n,
                target,
                from: name(from),
                failures,
            },
            other => other,
        }
    }
}

/// The reply to an edit refused before anything was touched.
fn refused_edit(failed: apply::Failed) -> Outcome {
    let verdict = match failed.refused.as_deref() {
        Some(EditError::UnknownAgent(_)) => Verdict::UnknownAgent,
        Some(_) => Verdict::Usage,
        None => Verdict::Failed,
    };
    let why = match failed.refused.as_deref() {
        Some(e) => e.to_string(),
        None => failed.to_string(),
    };
    Outcome {
        reply: Reply::text(format!("⛔ {}. Nothing was changed.", escape(&why))),
        verdict,
        note: Some(why),
    }
}

/// Prometheus as [`Live`]: reload, then poll until the change shows.
struct PromLive<'a> {
    prometheus: &'a Prometheus,
    within: Duration,
}

impl Live for PromLive<'_> {
    async fn reload(&self) -> Result<(), String> {
        self.prometheus.reload().await.map_err(|e| e.to_string())
    }

    async fn confirm(&self, expect: &Expect) -> Result<String, String> {
        let deadline = Instant::now() + self.within;
        let mut last = String::from("nothing seen yet");
        loop {
            match self.seen(expect).await {
                Ok(Some(seen)) => return Ok(seen),
                Ok(None) => {}
                Err(e) => last = e,
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "Prometheus did not show the change within {}s ({last})",
                    self.within.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

impl PromLive<'_> {
    /// `Some(what was seen)` once `expect` holds.
    async fn seen(&self, expect: &Expect) -> Result<Option<String>, String> {
        match expect {
            Expect::Target {
                label,
                value,
                present,
            } => {
                let targets = self
                    .prometheus
                    .active_targets()
                    .await
                    .map_err(|e| e.to_string())?;
                let found = targets
                    .iter()
                    .any(|t| t.get(*label).is_some_and(|v| v == value));
                Ok((found == *present).then(|| {
                    if *present {
                        format!("its target is active ({label}=\"{value}\")")
                    } else {
                        format!("no target has {label}=\"{value}\" any more")
                    }
                }))
            }
            Expect::Threshold {
                agent,
                threshold,
                value,
                is_default,
            } => {
                let expr = format!(
                    "{THRESHOLD_SERIES}{{{},{}}}",
                    label_matcher("agent", agent),
                    label_matcher(THRESHOLD_LABEL, threshold.key())
                );
                let samples = self
                    .prometheus
                    .query(&expr)
                    .await
                    .map_err(|e| e.to_string())?;
                let shown = crate::generate::settings::number(*value);
                match samples.first() {
                    Some(s) if s.value == *value => Ok(Some(format!(
                        "{} of {agent} is {shown} in {THRESHOLD_SERIES}",
                        threshold.key()
                    ))),
                    Some(_) => Ok(None),
                    // An agent Prometheus does not scrape has no series;
                    // back on the default, there is nothing to show.
                    None if *is_default => {
                        let up = self
                            .prometheus
                            .query(&format!("up{{{}}}", label_matcher("agent", agent)))
                            .await
                            .map_err(|e| e.to_string())?;
                        Ok(up.is_empty().then(|| {
                            format!("{agent} is not scraped; it will use the default {shown}")
                        }))
                    }
                    None => Ok(None),
                }
            }
        }
    }
}
