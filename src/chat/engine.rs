//! The command engine, independent of any transport: a message or a button
//! press from a [`Caller`] in, an optional [`Reply`] out. It enforces access
//! (allowed users only; a stranger gets one refusal per hour and nothing
//! else), validates agents and matchers against the agents list, asks
//! Prometheus and Alertmanager, renders charts, and records every command
//! and button press in the audit log. Telegram and `outpost ask` are its two
//! front ends.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jiff::civil::{Date, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};

use super::agents::{Agent, Agents};
use super::alertmanager::{parse_matcher, Alertmanager, AmError, Matcher, NewSilence};
use super::audit::{AuditError, AuditLog, Entry};
use super::buttons::{self, Action};
use super::chart::{self, Chart, ChartError, Line};
use super::commands::{self, Command, Metric, TimeOfDay, UsageError};
use super::promql::{Labels, PromError, Prometheus};
use super::queries::{self, Scope};
use super::reply::{self, AgentStatus, Picture, Reply, Thresholds};
use super::zone;

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
    /// User ids that get answers. `outpost ask` adds [`LOCAL_OPERATOR`].
    pub allowed_users: HashSet<i64>,
    /// Zone for `hhmm`, chart axes and times in replies.
    pub timezone: TimeZone,
    /// Time limit of each Prometheus or Alertmanager request.
    pub timeout: Duration,
}

/// How many audit entries `/audit` shows.
const AUDIT_SHOWN: usize = 20;
/// Window of an alert's expression chart.
const ALERT_CHART_WINDOW: i64 = 3600;
/// Points per chart at most (the step follows from the window).
const CHART_POINTS: f64 = 300.0;

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
}

/// An answer and the audit result word.
struct Outcome {
    reply: Reply,
    result: String,
}

impl Outcome {
    fn ok(reply: Reply) -> Self {
        Outcome {
            reply,
            result: "ok".into(),
        }
    }
    fn usage(text: String) -> Self {
        Outcome {
            reply: Reply::text(text),
            result: "usage".into(),
        }
    }
}

pub struct Engine {
    config: Config,
    prometheus: Prometheus,
    alertmanager: Alertmanager,
    audit: Box<dyn AuditLog>,
    /// Messages and presses from strangers, refused (loudly or not).
    refused: Arc<AtomicU64>,
}

impl Engine {
    /// An engine keeping its audit log in `audit` ([`super::audit::Audit`]
    /// on its own connection, or the bridge's store).
    pub fn new(config: Config, audit: impl AuditLog) -> Self {
        Engine {
            prometheus: Prometheus::new(&config.prometheus_url, config.timeout),
            alertmanager: Alertmanager::new(&config.alertmanager_url, config.timeout),
            config,
            audit: Box::new(audit),
            refused: Arc::default(),
        }
    }

    /// Counts strangers' refused messages and presses in `counter` (the
    /// front end's metric) instead of a counter of its own.
    pub fn count_refusals_in(mut self, counter: Arc<AtomicU64>) -> Self {
        self.refused = counter;
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

    pub fn is_allowed(&self, user_id: i64) -> bool {
        self.config.allowed_users.contains(&user_id)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Answers a chat message. `None` means send nothing: text that is not a
    /// command, or a stranger who was already refused within the hour.
    pub async fn handle(&self, caller: &Caller, text: &str) -> Option<Reply> {
        self.answer(caller, text).await.map(|(reply, _)| reply)
    }

    /// [`Engine::handle`], also returning the audit result (`ok…`, `usage`,
    /// `unknown agent`, `refused`, `error: …`) for front ends that report
    /// success, like `outpost ask`'s exit code.
    pub async fn answer(&self, caller: &Caller, text: &str) -> Option<(Reply, String)> {
        if let Some(refusal) = self.gate(caller, text).await {
            return refusal.map(|r| (r, "refused".to_string()));
        }
        let outcome = match commands::parse(text) {
            Err(UsageError::NotACommand) => return None,
            Err(e) => Outcome::usage(reply::usage(&e)),
            Ok(cmd) => self.run(caller, cmd).await,
        };
        self.record(caller, text, &outcome.result).await;
        Some((fitted(outcome.reply), outcome.result))
    }

    /// Answers a button press (`callback_data`). `None`: send nothing.
    pub async fn press(&self, caller: &Caller, data: &str) -> Option<Reply> {
        self.answer_press(caller, data)
            .await
            .map(|(reply, _)| reply)
    }

    /// [`Engine::press`] with the audit result, like [`Engine::answer`].
    pub async fn answer_press(&self, caller: &Caller, data: &str) -> Option<(Reply, String)> {
        let action_text = format!("button:{data}");
        if let Some(refusal) = self.gate(caller, &action_text).await {
            return refusal.map(|r| (r, "refused".to_string()));
        }
        let outcome = match buttons::decode(data) {
            None => Outcome::usage("This button is not valid (any more).".into()),
            Some(action) => self.run_action(caller, action).await,
        };
        self.record(caller, &action_text, &outcome.result).await;
        Some((fitted(outcome.reply), outcome.result))
    }

    /// Access control. `None` when the caller may go on; otherwise the
    /// answer for a stranger (one refusal per interval, else nothing).
    /// Every refused message is counted; only the loud refusal is audited,
    /// so strangers cannot grow the log one row per message.
    async fn gate(&self, caller: &Caller, action: &str) -> Option<Option<Reply>> {
        if self.is_allowed(caller.user_id) {
            return None;
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
            return Some(None);
        }
        self.record(caller, action, "refused").await;
        Some(Some(Reply::text(reply::refusal(caller.user_id))))
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

    async fn run(&self, caller: &Caller, cmd: Command) -> Outcome {
        // Validate the agent first: an unknown one never reaches Prometheus.
        let agent_word = match &cmd {
            Command::Status { agent }
            | Command::Gpu { agent }
            | Command::Mon { agent, .. }
            | Command::Picture { agent, .. } => agent.clone(),
            _ => None,
        };
        let agent = match agent_word {
            None => None,
            Some(w) => match self.config.agents.resolve(&w) {
                Some(a) => Some(a.clone()),
                None => {
                    return Outcome {
                        reply: Reply::text(reply::unknown_agent(&w, &self.config.agents)),
                        result: "unknown agent".into(),
                    }
                }
            },
        };
        let scope = agent.as_ref().map_or(Scope::All, Scope::One);
        let answer = match cmd {
            Command::Start => Ok(Outcome::ok(Reply::text(reply::start()))),
            Command::Help => Ok(Outcome::ok(Reply::text(reply::help()))),
            Command::WhoAmI => Ok(Outcome::ok(Reply::text(reply::whoami(
                caller.user_id,
                caller.username.as_deref(),
                caller.chat_id,
                self.is_allowed(caller.user_id),
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
        };
        answer.unwrap_or_else(|e| Outcome {
            reply: Reply::text(reply::failure(&e.to_string())),
            result: format!("error: {e}"),
        })
    }

    async fn run_action(&self, caller: &Caller, action: Action) -> Outcome {
        let answer = match action {
            Action::Silence { fingerprint, hours } => {
                self.silence_alert(caller, &fingerprint, hours).await
            }
            Action::Undo { silence_id } => self.unsilence(&silence_id).await,
            Action::Chart { fingerprint } => self.alert_chart(&fingerprint).await,
        };
        answer.unwrap_or_else(|e| Outcome {
            reply: Reply::text(reply::failure(&e.to_string())),
            result: format!("error: {e}"),
        })
    }

    /// The known agent a series belongs to, by `agent` or `instance` label.
    fn agent_of(&self, labels: &Labels) -> Option<&Agent> {
        self.config.agents.of_series(
            labels.get("agent").map(String::as_str),
            labels.get("instance").map(String::as_str),
        )
    }

    /// Display name of a series: its known agent, else its labels.
    fn series_name(&self, labels: &Labels) -> String {
        self.agent_of(labels)
            .map(|a| a.name.clone())
            .or_else(|| labels.get("agent").cloned())
            .or_else(|| labels.get("instance").cloned())
            .unwrap_or_else(|| "value".into())
    }

    async fn agents(&self) -> Result<Outcome, Failure> {
        let up = self.prometheus.query(&queries::up(Scope::All)).await?;
        let rows = self
            .config
            .agents
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

    async fn status(&self, agent: Option<&Agent>) -> Result<Outcome, Failure> {
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
        let agents: Vec<&Agent> = match agent {
            Some(a) => vec![a],
            None => self.config.agents.iter().collect(),
        };
        let belongs =
            |labels: &Labels, a: &Agent| self.agent_of(labels).is_some_and(|x| x.name == a.name);
        let value = |v: &[super::promql::Sample], a: &Agent| {
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
    async fn thresholds(&self, scope: Scope<'_>) -> Result<Thresholds, Failure> {
        let samples = self.prometheus.query(&queries::thresholds(scope)).await?;
        Ok(Thresholds::from_samples(&samples))
    }

    async fn gpu(&self, scope: Scope<'_>) -> Result<Outcome, Failure> {
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

    async fn mon(&self, metric: Metric, scope: Scope<'_>) -> Result<Outcome, Failure> {
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

    /// The chart window: the last `minutes`, or `minutes` centred on `at`
    /// today in the configured zone (yesterday when that time is still to
    /// come), never reaching past now.
    ///
    /// Daylight saving: a time the clocks skip that day (a gap, 02:30 on
    /// the spring-forward day in Berlin) centres on now instead; a time
    /// that occurs twice (a fold, 02:30 on the fall-back day) means the
    /// earlier one, still on summer time.
    fn window(&self, now: Timestamp, minutes: u32, at: Option<TimeOfDay>) -> (f64, f64) {
        let span = f64::from(minutes) * 60.0;
        let now_s = now.as_second() as f64;
        let Some(at) = at else {
            return (now_s - span, now_s);
        };
        let tz = &self.config.timezone;
        let today = tz.to_datetime(now).date();
        let centre_on = |date: Date| {
            let time = Time::new(
                i8::try_from(at.hour).ok()?,
                i8::try_from(at.minute).ok()?,
                0,
                0,
            )
            .ok()?;
            let local = date.to_datetime(time);
            let offset = match tz.to_ambiguous_timestamp(local).offset() {
                AmbiguousOffset::Unambiguous { offset } => offset,
                AmbiguousOffset::Fold { before, .. } => before,
                AmbiguousOffset::Gap { .. } => return None,
            };
            let t = offset.to_timestamp(local).ok()?;
            Some(t.as_second() as f64)
        };
        let mut centre = centre_on(today).unwrap_or(now_s);
        if centre > now_s {
            centre = today.yesterday().ok().and_then(centre_on).unwrap_or(now_s);
        }
        (centre - span / 2.0, (centre + span / 2.0).min(now_s))
    }

    async fn picture(
        &self,
        metric: Metric,
        agent: Option<&Agent>,
        minutes: u32,
        at: Option<TimeOfDay>,
    ) -> Result<Outcome, Failure> {
        let scope = agent.map_or(Scope::All, Scope::One);
        let (start, end) = self.window(Timestamp::now(), minutes, at);
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
                self.config.agents.iter().map(|a| a.name.as_str()),
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
        let tz = &self.config.timezone;
        let fmt = |t: f64| {
            Timestamp::from_second(t as i64)
                .map(|t| tz.to_datetime(t).strftime("%H:%M").to_string())
                .unwrap_or_default()
        };
        let caption = format!(
            "<b>{}</b> — {}, {} min ({}–{} {})",
            metric.title(),
            reply::escape(&who),
            minutes,
            fmt(start),
            fmt(end),
            zone::name(tz)
        );
        if lines.iter().all(|l| l.points.is_empty()) {
            return Ok(Outcome::ok(Reply::text(format!("No data for {caption}."))));
        }
        let png = chart::render(&Chart {
            title: format!("{} — {}", metric.title(), who),
            unit: "%".into(),
            lines,
            threshold,
            start,
            end,
            tz: tz.clone(),
            percent: true,
        })?;
        Ok(Outcome::ok(Reply {
            chart: Some(Picture {
                png,
                caption: crate::html::cut(&caption, reply::CAPTION_LIMIT),
            }),
            ..Reply::default()
        }))
    }

    async fn alerts(&self) -> Result<Outcome, Failure> {
        let list = self.alertmanager.firing().await?;
        Ok(Outcome::ok(Reply::text(reply::alerts(
            &list,
            Timestamp::now(),
            &self.config.timezone,
        ))))
    }

    async fn silences(&self) -> Result<Outcome, Failure> {
        let list = self.alertmanager.silences().await?;
        Ok(Outcome::ok(Reply::text(reply::silences(
            &list,
            Timestamp::now(),
            &self.config.timezone,
        ))))
    }

    /// Turns `/silence` targets into matchers: one bare word is an agent
    /// (name or address) → `agent="NAME"`; otherwise each word is a matcher,
    /// and `agent=` equality matchers must name a known agent.
    fn matchers(&self, target: &[String]) -> Result<Vec<Matcher>, Outcome> {
        let unknown = |w: &str| Outcome {
            reply: Reply::text(reply::unknown_agent(w, &self.config.agents)),
            result: "unknown agent".into(),
        };
        let usage = |reason: String| {
            Outcome::usage(reply::usage(&UsageError::BadArgs {
                usage: commands::spec("silence").expect("listed").usage(),
                reason,
            }))
        };
        if let [word] = target {
            if !word.contains(['=', '~']) {
                let agent = self
                    .config
                    .agents
                    .resolve(word)
                    .ok_or_else(|| unknown(word))?;
                return Ok(vec![Matcher {
                    name: "agent".into(),
                    value: agent.name.clone(),
                    is_regex: false,
                    is_equal: true,
                }]);
            }
        }
        let mut out = Vec::new();
        for word in target {
            let mut m = parse_matcher(word).map_err(usage)?;
            if m.name == "agent" && !m.is_regex {
                let agent = self
                    .config
                    .agents
                    .resolve(&m.value)
                    .ok_or_else(|| unknown(&m.value))?;
                m.value = agent.name.clone();
            }
            out.push(m);
        }
        Ok(out)
    }

    async fn create_silence(
        &self,
        caller: &Caller,
        matchers: Vec<Matcher>,
        duration: Duration,
        comment: &str,
    ) -> Result<Outcome, Failure> {
        let now = Timestamp::now();
        let ends = now
            .checked_add(duration)
            .unwrap_or_else(|_| now + SignedDuration::from_hours(1));
        let shown = matchers
            .iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let comment = if comment.trim().is_empty() {
            "silenced from chat".to_string()
        } else {
            comment.to_string()
        };
        let id = self
            .alertmanager
            .create_silence(&NewSilence {
                matchers,
                starts_at: format!("{now:.3}"),
                ends_at: format!("{ends:.3}"),
                created_by: caller.created_by(),
                comment,
            })
            .await?;
        let until = reply::when(ends, now, &self.config.timezone);
        Ok(Outcome {
            reply: Reply {
                text: reply::silence_created(&id, &shown, &until),
                buttons: vec![buttons::undo_button(&id)],
                chart: None,
            },
            result: format!("ok: silence {id}"),
        })
    }

    async fn silence(
        &self,
        caller: &Caller,
        target: &[String],
        duration: Duration,
        comment: &str,
    ) -> Result<Outcome, Failure> {
        let matchers = match self.matchers(target) {
            Ok(m) => m,
            Err(outcome) => return Ok(outcome),
        };
        self.create_silence(caller, matchers, duration, comment)
            .await
    }

    async fn unsilence(&self, id: &str) -> Result<Outcome, Failure> {
        self.alertmanager.expire_silence(id).await?;
        Ok(Outcome::ok(Reply::text(reply::unsilenced(id))))
    }

    async fn audit_log(&self) -> Result<Outcome, Failure> {
        let entries = self.audit.latest(AUDIT_SHOWN).await?;
        Ok(Outcome::ok(Reply::text(reply::audit(
            &entries,
            Timestamp::now(),
            &self.config.timezone,
        ))))
    }

    /// The alert with this fingerprint, whatever its silence state.
    async fn find_alert(
        &self,
        fingerprint: &str,
    ) -> Result<Option<super::alertmanager::Alert>, Failure> {
        let all = self.alertmanager.all_alerts().await?;
        Ok(all.into_iter().find(|a| a.fingerprint == fingerprint))
    }

    async fn silence_alert(
        &self,
        caller: &Caller,
        fingerprint: &str,
        hours: u32,
    ) -> Result<Outcome, Failure> {
        let Some(alert) = self.find_alert(fingerprint).await? else {
            return Ok(Outcome::usage(
                "That alert is no longer firing; nothing to silence.".into(),
            ));
        };
        // All of the alert's labels: exactly this alert, nothing broader.
        let matchers = alert
            .labels
            .iter()
            .map(|(k, v)| Matcher {
                name: k.clone(),
                value: v.clone(),
                is_regex: false,
                is_equal: true,
            })
            .collect();
        let comment = format!(
            "{} silenced for {hours}h from the alert message",
            alert
                .labels
                .get("alertname")
                .map_or("alert", String::as_str)
        );
        self.create_silence(
            caller,
            matchers,
            Duration::from_secs(u64::from(hours) * 3600),
            &comment,
        )
        .await
    }

    async fn alert_chart(&self, fingerprint: &str) -> Result<Outcome, Failure> {
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

/// A reply whose text fits one Telegram message.
fn fitted(mut reply: Reply) -> Reply {
    reply.text = reply::fit(&reply.text, reply::TEXT_LIMIT);
    reply
}

/// The `g0.expr` query parameter of a Prometheus `generatorURL`.
pub fn generator_expr(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == "g0.expr")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(tz: &str) -> Engine {
        Engine::new(
            Config {
                // Nothing listens on port 9 here; unit tests never reach it.
                prometheus_url: "http://127.0.0.1:9".into(),
                alertmanager_url: "http://127.0.0.1:9".into(),
                agents: super::super::agents::parse("agents.txt", "web1 10.0.0.1:9100\n").unwrap(),
                allowed_users: [42].into_iter().collect(),
                timezone: zone::parse(tz).unwrap(),
                timeout: Duration::from_millis(500),
            },
            super::super::audit::Audit::in_memory().unwrap(),
        )
    }

    fn alice() -> Caller {
        Caller {
            user_id: 42,
            chat_id: -100,
            username: Some("alice".into()),
        }
    }

    #[test]
    fn generator_url_expression() {
        assert_eq!(
            generator_expr("http://prom:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1").as_deref(),
            Some("up == 0")
        );
        assert_eq!(generator_expr("http://prom:9090/graph"), None);
        assert_eq!(generator_expr("not a url"), None);
    }

    #[test]
    fn created_by_names_the_user_and_front_end() {
        assert_eq!(alice().created_by(), "@alice (telegram 42)");
        assert_eq!(Caller::local("ops").created_by(), "ops (outpost ask)");
        let anon = Caller {
            username: None,
            ..alice()
        };
        assert_eq!(anon.created_by(), "telegram user 42");
    }

    #[test]
    fn chart_window_centres_on_time_of_day_in_zone() {
        let e = engine("Europe/Berlin");
        // 12:00 UTC = 13:00 Berlin (winter)
        let now: Timestamp = "2026-11-22T12:00:00Z".parse().unwrap();
        let n = now.as_second() as f64;
        assert_eq!(e.window(now, 5, None), (n - 300.0, n));
        // 12:30 Berlin = 11:30 UTC, 10 min around it
        let (s, t) = e.window(
            now,
            10,
            Some(TimeOfDay {
                hour: 12,
                minute: 30,
            }),
        );
        assert_eq!((s, t), (n - 1800.0 - 300.0, n - 1800.0 + 300.0));
        // close to now: the window ends at now
        let (s, t) = e.window(
            now,
            60,
            Some(TimeOfDay {
                hour: 13,
                minute: 0,
            }),
        );
        assert_eq!((s, t), (n - 1800.0, n));
        // later today → yesterday
        let (_, t) = e.window(
            now,
            10,
            Some(TimeOfDay {
                hour: 20,
                minute: 0,
            }),
        );
        assert_eq!(t, n - 86400.0 + 7.0 * 3600.0 + 300.0);
    }

    #[test]
    fn chart_window_across_daylight_saving_changes() {
        let e = engine("Europe/Berlin");
        let at = |hour, minute| Some(TimeOfDay { hour, minute });
        let secs = |s: &str| s.parse::<Timestamp>().unwrap().as_second() as f64;
        // 2026-03-29: clocks go 02:00 CET → 03:00 CEST. 12:00 UTC = 14:00.
        let now: Timestamp = "2026-03-29T12:00:00Z".parse().unwrap();
        let n = now.as_second() as f64;
        // 02:30 does not exist that day: the window ends at now
        assert_eq!(e.window(now, 10, at(2, 30)), (n - 300.0, n));
        // before the change on winter time, after it on summer time
        let c = secs("2026-03-29T00:30:00Z");
        assert_eq!(e.window(now, 10, at(1, 30)), (c - 300.0, c + 300.0));
        let c = secs("2026-03-29T01:30:00Z");
        assert_eq!(e.window(now, 10, at(3, 30)), (c - 300.0, c + 300.0));
        // later today → yesterday 20:00, still winter time
        let c = secs("2026-03-28T19:00:00Z");
        assert_eq!(e.window(now, 10, at(20, 0)), (c - 300.0, c + 300.0));
        // just after the change, 02:30 is still to come today, and
        // yesterday's 02:30 is the one that did not exist: now
        let now: Timestamp = "2026-03-30T00:10:00Z".parse().unwrap();
        let n = now.as_second() as f64;
        assert_eq!(e.window(now, 10, at(2, 30)), (n - 300.0, n));

        // 2026-10-25: clocks go 03:00 CEST → 02:00 CET; 02:30 occurs twice
        // and means the earlier one (CEST, 00:30 UTC), not 01:30 UTC.
        let now: Timestamp = "2026-10-25T12:00:00Z".parse().unwrap();
        let c = secs("2026-10-25T00:30:00Z");
        assert_eq!(e.window(now, 10, at(2, 30)), (c - 300.0, c + 300.0));
        let c = secs("2026-10-25T02:30:00Z");
        assert_eq!(e.window(now, 10, at(3, 30)), (c - 300.0, c + 300.0));
        // a time of day that cannot be: now (the parser refuses it anyway)
        let n = now.as_second() as f64;
        assert_eq!(e.window(now, 10, at(24, 0)), (n - 300.0, n));
    }

    #[test]
    fn chart_window_in_utc_and_half_hour_zones() {
        let now: Timestamp = "2026-11-22T12:00:00Z".parse().unwrap();
        let n = now.as_second() as f64;
        let at = Some(TimeOfDay {
            hour: 11,
            minute: 0,
        });
        assert_eq!(engine("UTC").window(now, 10, at), (n - 3900.0, n - 3300.0));
        // 11:00 in Kolkata (UTC+5:30) = 05:30 UTC
        let c = n - 6.5 * 3600.0;
        assert_eq!(
            engine("Asia/Kolkata").window(now, 10, at),
            (c - 300.0, c + 300.0)
        );
    }

    #[tokio::test]
    async fn strangers_get_one_refusal_then_nothing() {
        let e = engine("UTC");
        let stranger = Caller {
            user_id: 7,
            chat_id: 7,
            username: None,
        };
        let first = e.handle(&stranger, "/status").await.expect("one refusal");
        assert!(first.text.contains("<code>7</code>"));
        assert!(first.chart.is_none() && first.buttons.is_empty());
        assert!(e.handle(&stranger, "/mon_cpu").await.is_none());
        assert!(e.press(&stranger, "s1:abcd").await.is_none());
        assert!(e.handle(&stranger, "/whoami").await.is_none());
        // Only the refusal is audited; every refused message is counted.
        let log = e.audit.latest(10).await.unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].result, "refused");
        assert_eq!(log[0].action, "/status");
        assert_eq!(e.refused(), 4);
    }

    #[tokio::test]
    async fn allowed_user_commands_that_need_no_network() {
        let e = engine("UTC");
        let r = e.handle(&alice(), "/help@OutpostBot").await.unwrap();
        assert!(r.text.contains("/mon_cpu_picture"));
        assert!(e.handle(&alice(), "just chatting").await.is_none());
        let r = e.handle(&alice(), "/whoami").await.unwrap();
        assert!(r.text.contains("Allowed: yes"));
        // unknown agents and injection attempts never reach Prometheus (port 9
        // would answer "unreachable")
        for text in [
            r#"/mon_cpu web1"}"#,
            "/status nosuch",
            "/mon_disk_picture web1\"} 5",
            "/silence x\"} 1h",
        ] {
            let r = e.handle(&alice(), text).await.unwrap();
            assert!(r.text.starts_with("Unknown agent"), "{text}: {}", r.text);
            assert!(r.text.contains("<code>web1</code>"));
        }
        let r = e
            .handle(&alice(), "/silence agent=nosuch 1h")
            .await
            .unwrap();
        assert!(r.text.starts_with("Unknown agent"));
        let r = e.handle(&alice(), "/silence bad-name=x 1h").await.unwrap();
        assert!(r.text.contains("Usage: <code>/silence"), "{}", r.text);
        let r = e
            .handle(&alice(), "/mon_cpu_picture web1 99999")
            .await
            .unwrap();
        assert!(r.text.contains("Usage:"));
        let r = e.press(&alice(), "s1:not/hex").await.unwrap();
        assert!(r.text.contains("not valid"));
        let r = e.handle(&alice(), "/audit").await.unwrap();
        assert!(r.text.contains("button:s1:not/hex"), "{}", r.text);
    }

    #[tokio::test]
    async fn unreachable_prometheus_is_named_quickly() {
        let e = engine("UTC");
        let t = std::time::Instant::now();
        let r = e.handle(&alice(), "/mon_cpu web1").await.unwrap();
        assert!(t.elapsed() < Duration::from_secs(3));
        assert!(
            r.text
                .starts_with("⚠️ Prometheus at http://127.0.0.1:9 is unreachable"),
            "{}",
            r.text
        );
        let r = e.handle(&alice(), "/alerts").await.unwrap();
        assert!(r
            .text
            .starts_with("⚠️ Alertmanager at http://127.0.0.1:9 is unreachable"));
        let log = e.audit.latest(1).await.unwrap();
        assert!(log[0].result.starts_with("error: Alertmanager"));
    }
}
