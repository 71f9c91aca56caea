//! The command engine, independent of any transport: a message or a button
//! press from a [`Caller`] in, an optional [`Answer`] out. It enforces access
//! (known users only, each command and button within the caller's
//! [`Role`]; a stranger gets one refusal per hour and nothing else),
//! validates agents and matchers against the agents list, asks Prometheus
//! and Alertmanager, renders charts, and records every command and button
//! press in the audit log. Telegram and `outpost ask` are its two front ends.
//!
//! The answers are split by what they talk to: `answers.rs` (Prometheus
//! reads, the audit log), `history.rs` (answers over time, `/stats`),
//! `silences.rs` (Alertmanager), `charts.rs` (pictures), `oncall.rs`
//! (acknowledgements, `/oncall`), `audience.rs` (subscriptions, mutes,
//! quiet hours), `window.rs` (the pure time maths of chart windows). This
//! file holds access, dispatch, the audit record and the [`Verdict`].
//!
//! Decisions:
//! - The engine takes its clients ([`Clients`]) as parameters, so a test
//!   points it at real programs on loopback (or at nothing, port 9) without
//!   flags.
//! - A known user asking for more than their role gets a reply saying which
//!   role it needs (audited as refused); only strangers get the quiet
//!   once-an-hour treatment.

mod act_text;
mod acts;
mod answers;
mod audience;
mod charts;
mod config;
mod history;
mod oncall;
mod silences;
#[cfg(test)]
mod tests;
pub mod window;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::Timestamp;

pub use charts::generator_expr;
pub use config::ConfigChange;

use super::agents::Agents;
use super::alertmanager::{Alertmanager, AmError};
use super::audit::{AuditError, AuditLog, Entry};
use super::buttons::{self, Action};
use super::chart::ChartError;
use super::commands::{self, Command, UsageError};
use super::confirm::Confirmations;
use super::desk::{Desk, DeskError};
use super::promql::{PromError, Prometheus};
use super::queries::Scope;
use super::reply::{self, Reply};
use super::roles::{Role, Roles};
use crate::generate::edit::Edit;

/// The user id `outpost ask` acts as (Telegram ids are never 0).
pub const LOCAL_OPERATOR: i64 = 0;

/// Who sent a message or pressed a button.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Telegram user id (`from.id`), or [`LOCAL_OPERATOR`].
    pub user_id: i64,
    /// Telegram chat id the reply goes to.
    pub chat_id: i64,
    /// Telegram username without `@`, or the local login name.
    pub username: Option<String>,
}

impl Caller {
    /// The operator at a terminal running `outpost ask`.
    pub fn local(login: &str) -> Self {
        Caller {
            user_id: LOCAL_OPERATOR,
            chat_id: 0,
            username: Some(login.to_string()),
        }
    }

    /// `createdBy` of silences: who, and through which front end.
    pub fn created_by(&self) -> String {
        match (&self.username, self.user_id) {
            (Some(u), LOCAL_OPERATOR) => format!("{u} (outpost ask)"),
            (None, LOCAL_OPERATOR) => "outpost ask".to_string(),
            (Some(u), id) => format!("@{u} (telegram {id})"),
            (None, id) => format!("telegram user {id}"),
        }
    }
}

/// What the engine needs; built by the front end from its flags.
#[derive(Debug, Clone)]
pub struct Config {
    pub prometheus_url: String,
    pub alertmanager_url: String,
    pub agents: Agents,
    /// Each known user's role. `outpost ask` adds [`LOCAL_OPERATOR`] as admin.
    pub roles: Roles,
    /// Zone for `hhmm`, chart axes and times in replies.
    pub timezone: TimeZone,
    /// Time limit of each Prometheus or Alertmanager request.
    pub timeout: Duration,
    /// The key that signs action requests (`--actions-key`); actions are
    /// off without it.
    pub actions_key: Option<Arc<crate::signing::Signer>>,
    /// Time limit of each action request.
    pub actions_timeout: Duration,
    /// Where agents.txt and the generated config live, when the chat may
    /// change them (`--config-writable`); `None`: read-only.
    pub config_change: Option<ConfigChange>,
}

/// The engine's clients of the outside world.
pub struct Clients {
    pub prometheus: Prometheus,
    pub alertmanager: Alertmanager,
    /// Agents' signed actions.
    pub actions: Arc<super::actions::Client>,
    /// The audit log and refusal memory ([`super::audit::Audit`] on its own
    /// connection, or the bridge's store).
    pub audit: Box<dyn AuditLog>,
    /// The bridge's state (`/stats`); `None` where there is none.
    pub desk: Option<Arc<dyn Desk>>,
}

impl Clients {
    /// HTTP clients at the config's URLs, with `audit` as the log.
    pub fn from_config(config: &Config, audit: impl AuditLog) -> Self {
        Clients {
            prometheus: Prometheus::new(&config.prometheus_url, config.timeout),
            alertmanager: Alertmanager::new(&config.alertmanager_url, config.timeout),
            actions: Arc::new(super::actions::Client::new(
                config.actions_key.clone(),
                config.actions_timeout,
            )),
            audit: Box::new(audit),
            desk: None,
        }
    }
}

/// How many audit entries `/audit` shows.
const AUDIT_SHOWN: usize = 20;

/// A failure while answering; its text becomes the reply and the audit result.
/// Each variant names the part that failed (Prometheus, Alertmanager, …).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Prometheus(#[from] PromError),
    #[error(transparent)]
    Alertmanager(#[from] AmError),
    #[error(transparent)]
    Chart(#[from] ChartError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("bridge state: {0}")]
    Desk(#[from] DeskError),
}

/// How a command or button press ended, for front ends that report success
/// (`outpost ask`'s exit code) and for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Answered.
    Ok,
    /// Not understood: bad arguments, an unknown command, a stale button.
    Usage,
    /// An agent name that is not in the agents list.
    UnknownAgent,
    /// The caller may not do this (a stranger, or a role too low).
    Refused,
    /// Prometheus, Alertmanager, the store or a chart failed.
    Failed,
}

/// An answer to a message or button press.
#[derive(Debug, Clone)]
pub struct Answer {
    pub reply: Reply,
    pub verdict: Verdict,
}

/// An answer and what the audit log says about it.
struct Outcome {
    reply: Reply,
    verdict: Verdict,
    /// Words after the verdict in the audit log, e.g. the silence id.
    note: Option<String>,
}

impl Outcome {
    fn ok(reply: Reply) -> Self {
        Outcome {
            reply,
            verdict: Verdict::Ok,
            note: None,
        }
    }
    fn ok_noting(reply: Reply, note: String) -> Self {
        Outcome {
            reply,
            verdict: Verdict::Ok,
            note: Some(note),
        }
    }
    fn usage(text: String) -> Self {
        Outcome {
            reply: Reply::text(text),
            verdict: Verdict::Usage,
            note: None,
        }
    }
    fn unknown_agent(text: String) -> Self {
        Outcome {
            reply: Reply::text(text),
            verdict: Verdict::UnknownAgent,
            note: None,
        }
    }
    fn failed(e: Failure) -> Self {
        Outcome {
            reply: Reply::text(reply::failure(&e.to_string())),
            verdict: Verdict::Failed,
            note: Some(e.to_string()),
        }
    }

    /// The audit log's result column.
    fn audit_result(&self) -> String {
        let word = match self.verdict {
            Verdict::Ok => "ok",
            Verdict::Usage => "usage",
            Verdict::UnknownAgent => "unknown agent",
            Verdict::Refused => "refused",
            Verdict::Failed => "error",
        };
        match &self.note {
            Some(note) => format!("{word}: {note}"),
            None => word.to_string(),
        }
    }
}

pub struct Engine {
    config: Config,
    prometheus: Prometheus,
    alertmanager: Alertmanager,
    actions: Arc<super::actions::Client>,
    audit: Box<dyn AuditLog>,
    desk: Option<Arc<dyn Desk>>,
    /// Messages and presses from strangers, refused (loudly or not).
    refused: Arc<AtomicU64>,
    /// Changes waiting for their Confirm press.
    confirmations: Confirmations<Confirmable>,
    /// The agents in force: `Config.agents` at start, replaced after each
    /// config change.
    agents: std::sync::RwLock<Arc<Agents>>,
    /// Config changes run one at a time.
    changing: tokio::sync::Mutex<()>,
}

/// A change that runs only after its Confirm button
/// ([`Engine::ask_to_confirm`]). Each destructive or reconfiguring command
/// adds its variant and its arm in [`Engine::confirmed`].
#[derive(Debug, Clone, PartialEq)]
pub enum Confirmable {
    /// An action that changes hosts, on the agents it names.
    Act(acts::Plan),
    /// A change of agents.txt, shown as a diff of `based_on` (the file's
    /// text when asked).
    ConfigChange {
        edit: crate::generate::edit::Edit,
        based_on: String,
    },
}

impl Engine {
    /// An engine asking Prometheus and Alertmanager at the config's URLs,
    /// keeping its audit log in `audit`.
    pub fn new(config: Config, audit: impl AuditLog) -> Self {
        let clients = Clients::from_config(&config, audit);
        Engine::with_clients(config, clients)
    }

    /// An engine using the given clients.
    pub fn with_clients(config: Config, clients: Clients) -> Self {
        Engine {
            agents: std::sync::RwLock::new(Arc::new(config.agents.clone())),
            changing: tokio::sync::Mutex::new(()),
            config,
            prometheus: clients.prometheus,
            alertmanager: clients.alertmanager,
            actions: clients.actions,
            audit: clients.audit,
            desk: clients.desk,
            refused: Arc::default(),
            confirmations: Confirmations::default(),
        }
    }

    /// Counts strangers' refused messages and presses in `counter` (the
    /// front end's metric) instead of a counter of its own.
    pub fn count_refusals_in(mut self, counter: Arc<AtomicU64>) -> Self {
        self.refused = counter;
        self
    }

    /// Confirmation buttons that expire after `ttl` instead of
    /// [`super::confirm::CONFIRM_TTL`] (tests).
    pub fn confirm_within(mut self, ttl: Duration) -> Self {
        self.confirmations = Confirmations::with_ttl(ttl);
        self
    }

    /// Answers `/stats` (and more of the bridge's state) from `desk`.
    pub fn with_desk(mut self, desk: Arc<dyn Desk>) -> Self {
        self.desk = Some(desk);
        self
    }

    /// Strangers' messages and presses refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Prunes the audit log (age limit, stale refusal memory).
    pub async fn prune_audit(&self, now_ms: i64) -> Result<(), AuditError> {
        self.audit.prune(now_ms).await
    }

    /// The caller's role; `None` for a stranger.
    pub fn role_of(&self, user_id: i64) -> Option<Role> {
        self.config.roles.of(user_id)
    }

    /// Whether the user gets answers at all (any role).
    pub fn is_allowed(&self, user_id: i64) -> bool {
        self.role_of(user_id).is_some()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The agents in force now (agents.txt as last read or changed).
    pub fn known(&self) -> Arc<Agents> {
        self.agents
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Answers a chat message. `None` means send nothing: text that is not a
    /// command, or a stranger who was already refused within the hour.
    pub async fn handle(&self, caller: &Caller, text: &str) -> Option<Reply> {
        self.answer(caller, text).await.map(|a| a.reply)
    }

    /// [`Engine::handle`] with the [`Verdict`], for front ends that report
    /// success, like `outpost ask`'s exit code.
    pub async fn answer(&self, caller: &Caller, text: &str) -> Option<Answer> {
        let role = match self.gate(caller, text).await {
            Ok(role) => role,
            Err(refusal) => return refusal.map(refused),
        };
        let outcome = match commands::parse(text) {
            Err(UsageError::NotACommand) => return None,
            Err(e) => Outcome::usage(reply::usage(&e)),
            Ok(cmd) => match commands::spec(&cmd.name()).map(|s| s.role) {
                Some(needed) if needed > role => self.too_low(needed, role),
                _ => self.run(caller, role, cmd).await,
            },
        };
        Some(self.finish(caller, text, outcome).await)
    }

    /// Answers a button press (`callback_data`). `None`: send nothing.
    pub async fn press(&self, caller: &Caller, data: &str) -> Option<Reply> {
        self.answer_press(caller, data).await.map(|a| a.reply)
    }

    /// [`Engine::press`] with the [`Verdict`], like [`Engine::answer`]. A
    /// press is checked like the command it stands for: any member of a
    /// group can press any button.
    pub async fn answer_press(&self, caller: &Caller, data: &str) -> Option<Answer> {
        let action_text = format!("button:{data}");
        let role = match self.gate(caller, &action_text).await {
            Ok(role) => role,
            Err(refusal) => return refusal.map(refused),
        };
        let outcome = match buttons::decode(data) {
            None => Outcome::usage("This button is not valid (any more).".into()),
            Some(action) if action.role() > role => self.too_low(action.role(), role),
            Some(action) => self.run_action(caller, action).await,
        };
        Some(self.finish(caller, &action_text, outcome).await)
    }

    async fn finish(&self, caller: &Caller, action: &str, outcome: Outcome) -> Answer {
        self.record(caller, action, &outcome.audit_result()).await;
        Answer {
            reply: fitted(outcome.reply),
            verdict: outcome.verdict,
        }
    }

    /// The reply to a known user asking for more than their role allows.
    fn too_low(&self, needed: Role, role: Role) -> Outcome {
        Outcome {
            reply: Reply::text(reply::role_too_low(needed, role)),
            verdict: Verdict::Refused,
            note: Some(format!("needs {needed}")),
        }
    }

    /// Access control. `Ok(role)` when the caller is known; otherwise the
    /// answer for a stranger (one refusal per interval, else nothing).
    /// Every refused message is counted; only the loud refusal is audited,
    /// so strangers cannot grow the log one row per message.
    async fn gate(&self, caller: &Caller, action: &str) -> Result<Role, Option<Reply>> {
        if let Some(role) = self.role_of(caller.user_id) {
            return Ok(role);
        }
        self.refused.fetch_add(1, Ordering::Relaxed);
        let loud = self
            .audit
            .should_refuse_loudly(caller.user_id, Timestamp::now().as_millisecond())
            .await
            .unwrap_or_else(|e| {
                // Without the store we cannot remember; stay quiet rather than
                // answer every message of a stranger.
                tracing::warn!(error = %e, "refusal memory unavailable");
                false
            });
        if !loud {
            return Err(None);
        }
        self.record(caller, action, "refused").await;
        Err(Some(Reply::text(reply::refusal(caller.user_id))))
    }

    async fn record(&self, caller: &Caller, action: &str, result: &str) {
        let entry = Entry {
            at_ms: Timestamp::now().as_millisecond(),
            user_id: caller.user_id,
            username: caller.username.clone(),
            chat_id: caller.chat_id,
            action: reply::truncate(action, 500),
            result: reply::truncate(result, 500),
        };
        if let Err(e) = self.audit.record(entry).await {
            tracing::warn!(error = %e, "audit record failed");
        }
    }

    async fn run(&self, caller: &Caller, role: Role, cmd: Command) -> Outcome {
        // Validate the agent first: an unknown one never reaches Prometheus.
        let agent_word = match &cmd {
            Command::Status { agent }
            | Command::Gpu { agent }
            | Command::Mon { agent, .. }
            | Command::Picture { agent, .. }
            | Command::Uptime { agent } => agent.clone(),
            Command::MemPicture { agent } => Some(agent.clone()),
            _ => None,
        };
        let known = self.known();
        let agent = match agent_word {
            None => None,
            Some(w) => match known.resolve(&w) {
                Some(a) => Some(a.clone()),
                None => return Outcome::unknown_agent(reply::unknown_agent(&w, &known)),
            },
        };
        let scope = agent.as_ref().map_or(Scope::All, Scope::One);
        let answer = match cmd {
            Command::Start => Ok(Outcome::ok(Reply::text(reply::start()))),
            Command::Help => Ok(Outcome::ok(Reply::text(reply::help(role)))),
            Command::WhoAmI => Ok(Outcome::ok(Reply::text(reply::whoami(
                caller.user_id,
                caller.username.as_deref(),
                caller.chat_id,
                Some(role),
            )))),
            Command::Agents => self.agents().await,
            Command::Status { .. } => self.status(agent.as_ref()).await,
            Command::Mon { metric, .. } => self.mon(metric, scope).await,
            Command::Picture {
                metric,
                minutes,
                at,
                ..
            } => self.picture(metric, agent.as_ref(), minutes, at).await,
            Command::Gpu { .. } => self.gpu(scope).await,
            Command::Alerts => self.alerts().await,
            Command::Silences => self.silences().await,
            Command::Silence {
                target,
                duration,
                comment,
            } => self.silence(caller, &target, duration, &comment).await,
            Command::Unsilence { id } => self.unsilence(&id).await,
            Command::Audit => self.audit_log().await,
            Command::Act(act) => return self.act(caller, role, act).await,
            Command::AgentAdd {
                name,
                address,
                labels,
            } => Ok(self.config_change(
                caller,
                Edit::AddAgent {
                    name,
                    address,
                    labels,
                },
            )),
            Command::AgentRm { agent } => {
                Ok(self.config_change(caller, Edit::RemoveAgent { name: agent }))
            }
            Command::Threshold {
                agent,
                threshold,
                value,
            } => Ok(self.config_change(
                caller,
                Edit::SetThreshold {
                    agent,
                    threshold,
                    value,
                },
            )),
            Command::CheckAdd {
                name,
                target,
                from,
                failures,
            } => Ok(self.config_change(
                caller,
                Edit::AddCheck {
                    name,
                    target,
                    from,
                    failures,
                },
            )),
            Command::CheckRm { name } => Ok(self.config_change(caller, Edit::RemoveCheck { name })),
            Command::Plot {
                agents,
                metric,
                minutes,
                at,
            } => {
                let mut chosen = Vec::new();
                for w in &agents {
                    match known.resolve(w) {
                        Some(a) => chosen.push(a.clone()),
                        None => return Outcome::unknown_agent(reply::unknown_agent(w, &known)),
                    }
                }
                self.plot(&chosen, metric, minutes, at).await
            }
            Command::History { target, hours } => self.history(target.as_deref(), hours).await,
            Command::Uptime { .. } => self.uptime(agent.as_ref()).await,
            Command::Stats => self.stats().await,
            Command::Ack { alertname } => {
                self.ack(caller, crate::chat::desk::AckTarget::Alertname(alertname))
                    .await
            }
            Command::OnCall => Ok(self.on_call()),
            Command::Subscribe { topics } => self.subscribe(caller, &topics, true).await,
            Command::Unsubscribe { topics } => self.subscribe(caller, &topics, false).await,
            Command::Subscriptions => self.subscriptions(caller).await,
            Command::Mute { target, duration } => self.mute(caller, &target, duration).await,
            Command::Unmute { target } => self.unmute(caller, &target).await,
            Command::Quiet(arg) => self.quiet(caller, arg).await,
            Command::MemPicture { agent: word } => match &agent {
                Some(a) => self.mem_picture(a).await,
                None => Ok(Outcome::unknown_agent(reply::unknown_agent(&word, &known))),
            },
        };
        answer.unwrap_or_else(Outcome::failed)
    }

    async fn run_action(&self, caller: &Caller, action: Action) -> Outcome {
        let confirm = matches!(action, Action::Confirm { .. });
        let answer = match action {
            Action::Silence { fingerprint, hours } => {
                self.silence_alert(caller, &fingerprint, hours).await
            }
            Action::Undo { silence_id } => self.unsilence(&silence_id).await,
            Action::Chart { fingerprint } => self.alert_chart(&fingerprint).await,
            Action::Confirm { token } | Action::Cancel { token } => {
                let role = self.role_of(caller.user_id).unwrap_or(Role::Viewer);
                let now = std::time::Instant::now();
                return match self.confirmations.take(&token, caller.user_id, role, now) {
                    Err(e) => Outcome {
                        reply: Reply::text(format!("⛔ {e}.")),
                        verdict: Verdict::Refused,
                        note: Some(e.to_string()),
                    },
                    Ok(_) if !confirm => Outcome::ok_noting(
                        Reply::text("Cancelled; nothing was changed."),
                        "cancelled".into(),
                    ),
                    Ok(what) => self.confirmed(caller, what).await,
                };
            }
            Action::Ack { fingerprint } => {
                self.ack(
                    caller,
                    crate::chat::desk::AckTarget::Fingerprint(fingerprint),
                )
                .await
            }
        };
        answer.unwrap_or_else(Outcome::failed)
    }

    /// A reply that shows `what_will_happen` (HTML) and holds `what` until
    /// the caller presses Confirm (once, within a minute, only them).
    fn ask_to_confirm(
        &self,
        caller: &Caller,
        needs: Role,
        what: Confirmable,
        what_will_happen: String,
    ) -> Outcome {
        let token = self
            .confirmations
            .ask(caller.user_id, needs, what, std::time::Instant::now());
        Outcome::ok_noting(
            Reply {
                text: format!("{what_will_happen}\n\nConfirm within a minute:"),
                buttons: buttons::confirm_buttons(&token),
                chart: None,
            },
            "asked to confirm".into(),
        )
    }

    /// Runs a confirmed change.
    async fn confirmed(&self, _caller: &Caller, what: Confirmable) -> Outcome {
        match what {
            Confirmable::Act(plan) => self.execute(&plan).await,
            Confirmable::ConfigChange { edit, based_on } => self.apply_change(edit, based_on).await,
        }
    }
}

/// The answer to a stranger: the one refusal of the hour.
fn refused(reply: Reply) -> Answer {
    Answer {
        reply,
        verdict: Verdict::Refused,
    }
}

/// A reply whose text fits one Telegram message.
fn fitted(mut reply: Reply) -> Reply {
    reply.text = reply::fit(&reply.text, reply::TEXT_LIMIT);
    reply
}
