//! The chat commands: the one list ([`SPECS`]) that drives parsing and the
//! `/help` text, the typed [`Command`] a message parses into, and the pure
//! [`parse`] function. No I/O here.
//!
//! A hand-written table instead of teloxide's `BotCommands` derive: the same
//! list must serve the Telegram front end and `outpost ask`, the arguments
//! need typed validation (minutes, times, durations, matchers) that the
//! derive's whitespace splitting does not give, and pulling teloxide into the
//! engine would tie a transport-independent core to one transport.

use std::time::Duration;

use super::audience::{self, QuietArg};
use super::plot::PlotMetric;
use super::roles::Role;

/// The resource a `/mon_*` command or chart is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Cpu,
    Mem,
    Disk,
}

impl Metric {
    pub const ALL: [Metric; 3] = [Metric::Cpu, Metric::Mem, Metric::Disk];

    /// Short name used in command names (`cpu`, `mem`, `disk`).
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Cpu => "cpu",
            Metric::Mem => "mem",
            Metric::Disk => "disk",
        }
    }

    /// Human title for replies and charts.
    pub fn title(self) -> &'static str {
        match self {
            Metric::Cpu => "CPU usage",
            Metric::Mem => "Memory usage",
            Metric::Disk => "Disk usage",
        }
    }

    /// The per-agent threshold of the alert on this resource (from the
    /// alert catalog); its value in force is read from Prometheus.
    pub fn threshold(self) -> crate::alerts::Threshold {
        let chart = match self {
            Metric::Cpu => crate::alerts::Chart::Cpu,
            Metric::Mem => crate::alerts::Chart::Memory,
            Metric::Disk => crate::alerts::Chart::Disk,
        };
        chart.threshold()
    }
}

/// A time of day, `HH:MM` in the configured zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeOfDay {
    pub hour: u32,
    pub minute: u32,
}

/// Chart windows allowed, in minutes.
pub const MINUTES_RANGE: std::ops::RangeInclusive<u32> = 1..=1440;
/// Default chart window, in minutes.
pub const DEFAULT_MINUTES: u32 = 5;
/// Longest silence that can be created from chat.
pub const MAX_SILENCE: Duration = Duration::from_secs(90 * 86400);

/// A parsed chat command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Start,
    Help,
    WhoAmI,
    Agents,
    Status {
        agent: Option<String>,
    },
    Mon {
        metric: Metric,
        agent: Option<String>,
    },
    Picture {
        metric: Metric,
        agent: Option<String>,
        minutes: u32,
        at: Option<TimeOfDay>,
    },
    /// `/gpu [agent]`: each NVIDIA GPU's load, memory, temperature, power.
    Gpu {
        agent: Option<String>,
    },
    Alerts,
    Silences,
    Silence {
        /// An agent name or address, or matchers (`name=value`, …), as typed.
        target: Vec<String>,
        duration: Duration,
        comment: String,
    },
    Unsilence {
        id: String,
    },
    Audit,
    /// An action on one agent or, for `/broadcast`, on every agent that
    /// accepts actions.
    Act(Act),
    /// `/agent_add NAME HOST:PORT [labels]`.
    AgentAdd {
        name: String,
        address: String,
        labels: Vec<String>,
    },
    /// `/agent_rm NAME` (a name or an address).
    AgentRm {
        agent: String,
    },
    /// `/threshold AGENT METRIC VALUE|default` (`value: None` is `default`).
    Threshold {
        agent: String,
        threshold: crate::alerts::Threshold,
        value: Option<String>,
    },
    /// `/check_add NAME HOST:PORT from AGENT [failures=N]` (`failures`
    /// as written: the config editor checks it like agents.txt's).
    CheckAdd {
        name: String,
        target: String,
        from: String,
        failures: Option<String>,
    },
    CheckRm {
        name: String,
    },
    /// `/plot AGENT[,AGENT…] METRIC [minutes] [hhmm]`.
    Plot {
        agents: Vec<String>,
        metric: PlotMetric,
        minutes: u32,
        at: Option<TimeOfDay>,
    },
    /// `/history [check|agent] [hours]`.
    History {
        target: Option<String>,
        hours: u32,
    },
    /// `/uptime [agent]`.
    Uptime {
        agent: Option<String>,
    },
    /// `/stats`: the bridge's own figures.
    Stats,
    /// `/ack ALERT`: "I'm on it" for every firing alert of that name.
    Ack {
        alertname: String,
    },
    /// `/oncall`: who is on call this week.
    OnCall,
    /// `/mem_picture AGENT`: the memory breakdown as bars.
    MemPicture {
        agent: String,
    },
    /// `/subscribe [AGENT…|all]`: agents as typed, or `all`.
    Subscribe {
        topics: Vec<String>,
    },
    /// `/unsubscribe [AGENT…|all]`.
    Unsubscribe {
        topics: Vec<String>,
    },
    /// `/subscriptions`: this chat's.
    Subscriptions,
    /// `/mute AGENT|ALERT DURATION`: the target as typed.
    Mute {
        target: String,
        duration: Duration,
    },
    /// `/unmute AGENT|ALERT`.
    Unmute {
        target: String,
    },
    /// `/quiet [HH:MM-HH:MM|off]`.
    Quiet(QuietArg),
}

/// Action arguments as the agent takes them (`{"args": {…}}`).
pub type ActArgs = std::collections::BTreeMap<String, serde_json::Value>;

/// An action command: which agent action, with which arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Act {
    /// The chat command's name, e.g. `restart`.
    pub command: &'static str,
    /// The agent as typed; `None` for `/broadcast` (all agents).
    pub agent: Option<String>,
    /// The agent's action name, e.g. `docker.restart`.
    pub action: String,
    pub args: ActArgs,
    /// Whether it changes the host: operator role and a Confirm press.
    pub change: bool,
}

/// Built-in agent actions that only read (viewer; no confirmation). Every
/// other action, custom ones included, counts as a change.
pub const READ_ACTIONS: &[&str] = &[
    "ports",
    "top",
    "docker.ps",
    "docker.logs",
    "docker.df",
    "service.status",
];

/// Most log lines `/logs` asks for.
pub const MAX_LOG_LINES: u32 = 1000;
/// Log lines `/logs` asks for without a number.
pub const DEFAULT_LOG_LINES: u32 = 50;

impl Command {
    /// The command's name without the slash, e.g. `mon_cpu_picture`.
    pub fn name(&self) -> String {
        match self {
            Command::Start => "start".into(),
            Command::Help => "help".into(),
            Command::WhoAmI => "whoami".into(),
            Command::Agents => "agents".into(),
            Command::Status { .. } => "status".into(),
            Command::Mon { metric, .. } => format!("mon_{}", metric.as_str()),
            Command::Picture { metric, .. } => format!("mon_{}_picture", metric.as_str()),
            Command::Gpu { .. } => "gpu".into(),
            Command::Alerts => "alerts".into(),
            Command::Silences => "silences".into(),
            Command::Silence { .. } => "silence".into(),
            Command::Unsilence { .. } => "unsilence".into(),
            Command::Audit => "audit".into(),
            Command::Act(a) => a.command.into(),
            Command::AgentAdd { .. } => "agent_add".into(),
            Command::AgentRm { .. } => "agent_rm".into(),
            Command::Threshold { .. } => "threshold".into(),
            Command::CheckAdd { .. } => "check_add".into(),
            Command::CheckRm { .. } => "check_rm".into(),
            Command::Plot { .. } => "plot".into(),
            Command::History { .. } => "history".into(),
            Command::Uptime { .. } => "uptime".into(),
            Command::Stats => "stats".into(),
            Command::MemPicture { .. } => "mem_picture".into(),
            Command::Ack { .. } => "ack".into(),
            Command::OnCall => "oncall".into(),
            Command::Subscribe { .. } => "subscribe".into(),
            Command::Unsubscribe { .. } => "unsubscribe".into(),
            Command::Subscriptions => "subscriptions".into(),
            Command::Mute { .. } => "mute".into(),
            Command::Unmute { .. } => "unmute".into(),
            Command::Quiet(_) => "quiet".into(),
        }
    }
}

/// One entry of the command list.
pub struct Spec {
    /// Name without the slash.
    pub name: &'static str,
    /// Argument synopsis, e.g. `[agent] [minutes] [hhmm]`.
    pub args: &'static str,
    /// One-line description (the `/help` text and Telegram's command menu).
    pub about: &'static str,
    /// The least role that may run it (a button names its own).
    pub role: Role,
    parse: fn(&[&str]) -> Result<Command, String>,
}

impl Spec {
    /// The usage line, e.g. `/unsilence <id>`.
    pub fn usage(&self) -> String {
        if self.args.is_empty() {
            format!("/{}", self.name)
        } else {
            format!("/{} {}", self.name, self.args)
        }
    }
}

/// Every command, in `/help` order. Parsing and help both come from here.
pub static SPECS: &[Spec] = &[
    Spec { name: "start", role: Role::Viewer, args: "", about: "Greeting and what this bot does", parse: |a| none(a, Command::Start) },
    Spec { name: "help", role: Role::Viewer, args: "", about: "This list of commands", parse: |a| none(a, Command::Help) },
    Spec { name: "whoami", role: Role::Viewer, args: "", about: "Your user id, this chat's id, and whether you are allowed", parse: |a| none(a, Command::WhoAmI) },
    Spec { name: "agents", role: Role::Viewer, args: "", about: "Every agent with its up/down state", parse: |a| none(a, Command::Agents) },
    Spec { name: "status", role: Role::Viewer, args: "[agent]", about: "Up, CPU, memory, worst disk, load, uptime, failing TCP checks", parse: |a| Ok(Command::Status { agent: agent_only(a)? }) },
    Spec { name: "mon_cpu", role: Role::Viewer, args: "[agent]", about: "Current CPU usage", parse: |a| mon(Metric::Cpu, a) },
    Spec { name: "mon_mem", role: Role::Viewer, args: "[agent]", about: "Current memory usage", parse: |a| mon(Metric::Mem, a) },
    Spec { name: "mon_disk", role: Role::Viewer, args: "[agent]", about: "Current disk usage per mount point", parse: |a| mon(Metric::Disk, a) },
    Spec { name: "mon_cpu_picture", role: Role::Viewer, args: "[agent] [minutes] [hhmm]", about: "CPU chart: last 5 minutes, or minutes around hhmm today", parse: |a| picture(Metric::Cpu, a) },
    Spec { name: "mon_mem_picture", role: Role::Viewer, args: "[agent] [minutes] [hhmm]", about: "Memory chart", parse: |a| picture(Metric::Mem, a) },
    Spec { name: "mon_disk_picture", role: Role::Viewer, args: "[agent] [minutes] [hhmm]", about: "Disk chart", parse: |a| picture(Metric::Disk, a) },
    Spec { name: "gpu", role: Role::Viewer, args: "[agent]", about: "NVIDIA GPUs: load, memory, temperature, power, last XID error", parse: |a| Ok(Command::Gpu { agent: agent_only(a)? }) },
    Spec { name: "plot", role: Role::Viewer, args: "<agent[,agent…]> <metric> [minutes] [hhmm]", about: "Chart cpu, mem, disk, load, net_in, net_out, disk_io, temp, gpu or an allowed recording rule, several agents on one chart", parse: plot },
    Spec { name: "mem_picture", role: Role::Viewer, args: "<agent>", about: "Memory breakdown (used, buffers, cache, free) as bars", parse: mem_picture },
    Spec { name: "history", role: Role::Viewer, args: "[check|agent] [hours]", about: "Up/down changes of agents and TCP checks, with durations (default 24 hours)", parse: history },
    Spec { name: "uptime", role: Role::Viewer, args: "[agent]", about: "Time since boot and availability over 24 hours and 7 days", parse: |a| Ok(Command::Uptime { agent: agent_only(a)? }) },
    Spec { name: "stats", role: Role::Viewer, args: "", about: "The bridge's own figures: queued, sent, failed, retried, 429s, oldest pending, up since", parse: |a| none(a, Command::Stats) },
    Spec { name: "alerts", role: Role::Viewer, args: "", about: "Firing alerts (from Alertmanager)", parse: |a| none(a, Command::Alerts) },
    Spec { name: "silences", role: Role::Viewer, args: "", about: "Active and pending silences", parse: |a| none(a, Command::Silences) },
    Spec { name: "silence", role: Role::Operator, args: "<agent|matchers> <duration> [comment]", about: "Silence an agent or matchers (name=value, name!=value, name=~regex), e.g. /silence web1 2h deploy", parse: silence },
    Spec { name: "unsilence", role: Role::Operator, args: "<id>", about: "Expire a silence", parse: unsilence },
    Spec { name: "ps", role: Role::Viewer, args: "<agent>", about: "Docker containers on an agent", parse: |a| act_on("ps", "docker.ps", a, &[]) },
    Spec { name: "logs", role: Role::Viewer, args: "<agent> <container> [lines]", about: "The last lines of a container's log (default 50, at most 1000)", parse: logs },
    Spec { name: "restart", role: Role::Operator, args: "<agent> <container>", about: "Restart a Docker container (asks to confirm)", parse: |a| act_on("restart", "docker.restart", a, &["container"]) },
    Spec { name: "service", role: Role::Viewer, args: "<agent> <unit> [restart]", about: "A systemd unit's state; with restart, restart it (operator, asks to confirm)", parse: service },
    Spec { name: "ports", role: Role::Viewer, args: "<agent>", about: "Listening TCP/UDP ports and their processes", parse: |a| act_on("ports", "ports", a, &[]) },
    Spec { name: "top", role: Role::Viewer, args: "<agent>", about: "Top processes by CPU and by memory", parse: |a| act_on("top", "top", a, &[]) },
    Spec { name: "kill_port", role: Role::Operator, args: "<agent> <port>", about: "Stop the process listening on a port (asks to confirm)", parse: kill_port },
    Spec { name: "reboot", role: Role::Operator, args: "<agent>", about: "Schedule a reboot through logind (asks to confirm)", parse: |a| act_on("reboot", "reboot", a, &[]) },
    Spec { name: "run", role: Role::Operator, args: "<agent> <action> [name=value …]", about: "Run a custom action of the agent's allow-list (asks to confirm)", parse: run },
    Spec { name: "broadcast", role: Role::Viewer, args: "<action> [name=value …]", about: "An action on every agent that accepts actions; changes need operator and a confirm", parse: broadcast },
    Spec { name: "ack", role: Role::Operator, args: "<alertname>", about: "I'm on it: take every firing alert of that name (stops its escalation)", parse: ack },
    Spec { name: "oncall", role: Role::Viewer, args: "", about: "Who is on call this week, and the escalation", parse: |a| none(a, Command::OnCall) },
    Spec { name: "subscriptions", role: Role::Viewer, args: "", about: "The agents whose alerts this chat subscribed to", parse: |a| none(a, Command::Subscriptions) },
    Spec { name: "mute", role: Role::Viewer, args: "<agent|alert> <duration>", about: "Stop mentioning you for an agent's or an alert's messages for a while (1m to 90d)", parse: |a| audience::parse_mute(a).map(|(target, duration)| Command::Mute { target, duration }) },
    Spec { name: "unmute", role: Role::Viewer, args: "<agent|alert>", about: "End your mute of an agent or an alert", parse: |a| match a { [t] => Ok(Command::Unmute { target: (*t).to_string() }), _ => Err("name exactly one agent or alert".into()) } },
    Spec { name: "quiet", role: Role::Viewer, args: "[HH:MM-HH:MM|off]", about: "Your quiet hours (the bridge's time zone): no mentions then; alone, your mutes and quiet hours", parse: |a| audience::parse_quiet(a).map(Command::Quiet) },
    Spec { name: "audit", role: Role::Admin, args: "", about: "The latest commands and button presses", parse: |a| none(a, Command::Audit) },
    Spec { name: "agent_add", role: Role::Admin, args: "<name> <host:port> [key=value ...]", about: "Add an agent to agents.txt (labels or thresholds as key=value) and reload Prometheus", parse: agent_add },
    Spec { name: "agent_rm", role: Role::Admin, args: "<agent>", about: "Remove an agent from agents.txt and reload Prometheus", parse: |a| match a { [agent] => Ok(Command::AgentRm { agent: (*agent).to_string() }), _ => Err("exactly one agent".into()) } },
    Spec { name: "threshold", role: Role::Admin, args: "<agent> <metric> <value|default>", about: "Set or reset an agent's alert threshold (cpu, memory, memory_critical, disk, disk_fill, load, steal)", parse: threshold },
    Spec { name: "check_add", role: Role::Admin, args: "<name> <host:port> from <agent> [failures=N]", about: "Add a TCP check probed from an agent", parse: check_add },
    Spec { name: "subscribe", role: Role::Admin, args: "[agent…|all]", about: "This chat also gets the alerts of these agents (default all), wherever Alertmanager routes them", parse: |a| audience::parse_topics(a).map(|topics| Command::Subscribe { topics }) },
    Spec { name: "unsubscribe", role: Role::Admin, args: "[agent…|all]", about: "Ends this chat's subscriptions to these agents (default all: every one)", parse: |a| audience::parse_topics(a).map(|topics| Command::Unsubscribe { topics }) },
    Spec { name: "check_rm", role: Role::Admin, args: "<name>", about: "Remove a TCP check", parse: |a| match a { [name] => Ok(Command::CheckRm { name: (*name).to_string() }), _ => Err("exactly one check name".into()) } },
];

/// The spec of a command name (without slash).
pub fn spec(name: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.name == name)
}

/// Why a message is not a valid command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    /// The text does not start with `/`.
    #[error("not a command")]
    NotACommand,
    /// `/something` that is not in the list.
    #[error("unknown command /{0}")]
    Unknown(String),
    /// A known command with bad arguments.
    #[error("{reason}; usage: {usage}")]
    BadArgs { usage: String, reason: String },
}

/// Parses a chat message into a command. Accepts `/cmd@BotName`, any amount
/// of whitespace, and is case-insensitive in the command name only.
pub fn parse(text: &str) -> Result<Command, UsageError> {
    let text = text.trim();
    let Some(rest) = text.strip_prefix('/') else {
        return Err(UsageError::NotACommand);
    };
    let mut words = rest.split_whitespace();
    let head = words.next().unwrap_or("");
    let name = head.split_once('@').map_or(head, |(n, _bot)| n);
    let name = name.to_ascii_lowercase();
    let args: Vec<&str> = words.collect();
    let spec = spec(&name).ok_or_else(|| UsageError::Unknown(name.clone()))?;
    (spec.parse)(&args).map_err(|reason| UsageError::BadArgs {
        usage: spec.usage(),
        reason,
    })
}

fn none(args: &[&str], cmd: Command) -> Result<Command, String> {
    if args.is_empty() {
        Ok(cmd)
    } else {
        Err("this command takes no arguments".into())
    }
}

fn agent_only(args: &[&str]) -> Result<Option<String>, String> {
    match args {
        [] => Ok(None),
        [a] => Ok(Some((*a).to_string())),
        _ => Err("at most one agent".into()),
    }
}

fn mon(metric: Metric, args: &[&str]) -> Result<Command, String> {
    Ok(Command::Mon {
        metric,
        agent: agent_only(args)?,
    })
}

/// `[agent] [minutes] [hhmm]`: the agent is the first word unless it is a
/// number; after it the first number is minutes and a second one (or any
/// word with a colon, `14:05`) is the time of day. So `/mon_cpu_picture 30`
/// is "30 minutes, all agents" and `/mon_cpu_picture web1 14:05` works.
fn picture(metric: Metric, args: &[&str]) -> Result<Command, String> {
    let mut rest = args;
    let mut agent = None;
    if let Some(first) = rest.first() {
        if !first.chars().all(|c| c.is_ascii_digit() || c == ':') {
            agent = Some((*first).to_string());
            rest = &rest[1..];
        }
    }
    let (minutes, at) = picture_window(rest)?;
    Ok(Command::Picture {
        metric,
        agent,
        minutes,
        at,
    })
}

/// `[minutes] [hhmm]` after the agent: the first number is minutes, a
/// second one (or any word with a colon) the time of day.
fn picture_window(rest: &[&str]) -> Result<(u32, Option<TimeOfDay>), String> {
    let (mut minutes, mut at) = (None, None);
    for word in rest {
        if word.contains(':') || minutes.is_some() {
            if at.is_some() {
                return Err("too many arguments".into());
            }
            at = Some(parse_time(word)?);
        } else {
            minutes = Some(parse_minutes(word)?);
        }
    }
    Ok((minutes.unwrap_or(DEFAULT_MINUTES), at))
}

/// `<agent[,agent…]> <metric> [minutes] [hhmm]`.
fn plot(args: &[&str]) -> Result<Command, String> {
    let [agents, metric, rest @ ..] = args else {
        return Err("name one or more agents (comma-separated) and a metric".into());
    };
    let agents: Vec<String> = agents
        .split(',')
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect();
    if agents.is_empty() || agents.len() > MAX_PLOT_AGENTS {
        return Err(format!("from 1 to {MAX_PLOT_AGENTS} agents"));
    }
    let metric = PlotMetric::parse(metric).ok_or_else(|| {
        format!(
            "{metric:?} is not a metric /plot draws; it draws {}",
            super::plot::known_words()
        )
    })?;
    let (minutes, at) = picture_window(rest)?;
    Ok(Command::Plot {
        agents,
        metric,
        minutes,
        at,
    })
}

/// Agents on one `/plot` at most (the legend stays readable).
pub const MAX_PLOT_AGENTS: usize = 8;
/// `/history` looks back this many hours at most.
pub const MAX_HISTORY_HOURS: u32 = 168;
/// `/history`'s default window, in hours.
pub const DEFAULT_HISTORY_HOURS: u32 = 24;

/// An alert name as Prometheus allows metric-like names.
fn ack(args: &[&str]) -> Result<Command, String> {
    match args {
        [name]
            if !name.is_empty()
                && name.len() <= 200
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') =>
        {
            Ok(Command::Ack {
                alertname: (*name).to_string(),
            })
        }
        [_] => Err("an alert name is letters, digits and _, e.g. AgentDown".into()),
        _ => Err("name exactly one alert, e.g. /ack AgentDown".into()),
    }
}

fn mem_picture(args: &[&str]) -> Result<Command, String> {
    match args {
        [agent] => Ok(Command::MemPicture {
            agent: (*agent).to_string(),
        }),
        _ => Err("name exactly one agent".into()),
    }
}

/// `[check|agent] [hours]`: a number is hours, a word the name.
fn history(args: &[&str]) -> Result<Command, String> {
    let (mut target, mut hours) = (None, None);
    for w in args {
        if w.chars().all(|c| c.is_ascii_digit()) {
            if hours.is_some() {
                return Err("at most one number of hours".into());
            }
            match w.parse::<u32>() {
                Ok(h) if (1..=MAX_HISTORY_HOURS).contains(&h) => hours = Some(h),
                _ => return Err(format!("hours must be from 1 to {MAX_HISTORY_HOURS}")),
            }
        } else if target.replace((*w).to_string()).is_some() {
            return Err("at most one check or agent".into());
        }
    }
    Ok(Command::History {
        target,
        hours: hours.unwrap_or(DEFAULT_HISTORY_HOURS),
    })
}

fn parse_minutes(word: &str) -> Result<u32, String> {
    match word.parse::<u32>() {
        Ok(m) if MINUTES_RANGE.contains(&m) => Ok(m),
        _ => Err(format!(
            "minutes must be a number from {} to {}",
            MINUTES_RANGE.start(),
            MINUTES_RANGE.end()
        )),
    }
}

/// `HHMM` or `HH:MM`, 24-hour clock.
pub fn parse_time(word: &str) -> Result<TimeOfDay, String> {
    let bad = || format!("time must be HHMM or HH:MM (24h), not {word:?}");
    let digits: String = word.chars().filter(|c| *c != ':').collect();
    let colon_ok = match word.find(':') {
        None => true,
        Some(i) => word.len() - i == 3 && word.matches(':').count() == 1,
    };
    if !colon_ok || !(3..=4).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let (h, m) = digits.split_at(digits.len() - 2);
    let (hour, minute): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if hour > 23 || minute > 59 {
        return Err(bad());
    }
    Ok(TimeOfDay { hour, minute })
}

/// Durations like `30m`, `1h`, `2d`, `1h30m`, `1w`.
pub fn parse_silence_duration(word: &str) -> Option<Duration> {
    let mut total: u64 = 0;
    let mut num = String::new();
    let mut any = false;
    for c in word.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 7 * 86400,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
        any = true;
    }
    if !num.is_empty() || !any || total == 0 {
        return None;
    }
    Some(Duration::from_secs(total))
}

/// `<agent|matchers…> <duration> [comment…]`: every word before the first
/// duration is the target, everything after it is the comment.
fn silence(args: &[&str]) -> Result<Command, String> {
    let Some(pos) = args
        .iter()
        .position(|w| parse_silence_duration(w).is_some())
    else {
        return Err("a duration is required, e.g. 30m, 2h, 1d".into());
    };
    if pos == 0 {
        return Err("name an agent or matchers before the duration".into());
    }
    let duration = parse_silence_duration(args[pos]).expect("checked above");
    if duration < Duration::from_secs(60) || duration > MAX_SILENCE {
        return Err("duration must be between 1m and 90d".into());
    }
    let target = args[..pos]
        .iter()
        .flat_map(|w| w.split(','))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    Ok(Command::Silence {
        target,
        duration,
        comment: args[pos + 1..].join(" "),
    })
}

/// `AGENT` then the named string parameters, one word each.
fn act_on(
    command: &'static str,
    action: &str,
    args: &[&str],
    params: &[&str],
) -> Result<Command, String> {
    let [agent, rest @ ..] = args else {
        return Err("name an agent".into());
    };
    if rest.len() != params.len() {
        return Err(format!(
            "expected {} argument(s) after the agent",
            params.len()
        ));
    }
    let args = params
        .iter()
        .zip(rest)
        .map(|(p, v)| ((*p).to_string(), serde_json::Value::from(*v)))
        .collect();
    Ok(Command::Act(Act {
        command,
        agent: Some((*agent).to_string()),
        action: action.to_string(),
        args,
        change: !READ_ACTIONS.contains(&action),
    }))
}

fn logs(args: &[&str]) -> Result<Command, String> {
    let (head, lines) = match args {
        [a, c] => ([*a, *c], DEFAULT_LOG_LINES),
        [a, c, n] => match n.parse::<u32>() {
            Ok(n) if (1..=MAX_LOG_LINES).contains(&n) => ([*a, *c], n),
            _ => return Err(format!("lines must be a number from 1 to {MAX_LOG_LINES}")),
        },
        _ => return Err("name an agent and a container".into()),
    };
    let mut cmd = act_on("logs", "docker.logs", &head, &["container"])?;
    if let Command::Act(a) = &mut cmd {
        a.args.insert("lines".into(), lines.into());
    }
    Ok(cmd)
}

fn service(args: &[&str]) -> Result<Command, String> {
    match args {
        [a, u] => act_on("service", "service.status", &[a, u], &["unit"]),
        [a, u, r] if r.eq_ignore_ascii_case("restart") => {
            act_on("service", "service.restart", &[a, u], &["unit"])
        }
        _ => Err("name an agent and a unit, optionally followed by restart".into()),
    }
}

fn kill_port(args: &[&str]) -> Result<Command, String> {
    let port = match args {
        [_, p] => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or("the port must be a number from 1 to 65535")?,
        _ => return Err("name an agent and a port".into()),
    };
    let mut cmd = act_on("kill_port", "kill-port", &args[..1], &[])?;
    if let Command::Act(a) = &mut cmd {
        a.args.insert("port".into(), port.into());
    }
    Ok(cmd)
}

/// `NAME [name=value …]`: an action name as agents name them and its
/// parameters, each a string the agent types (enum, integer, regex).
fn action_and_params(words: &[&str]) -> Result<(String, ActArgs), String> {
    let [action, params @ ..] = words else {
        return Err("name an action".into());
    };
    if !crate::signing::is_name(action) {
        return Err(format!("{action:?} is not an action name"));
    }
    let mut args = ActArgs::new();
    for p in params {
        let (k, v) = p
            .split_once('=')
            .filter(|(k, _)| crate::signing::is_name(k))
            .ok_or_else(|| format!("parameters are name=value, not {p:?}"))?;
        if args.insert(k.to_string(), v.into()).is_some() {
            return Err(format!("parameter {k:?} given twice"));
        }
    }
    Ok((action.to_string(), args))
}

/// `/run AGENT ACTION [name=value …]`: always a change (the bridge cannot
/// see which custom actions only read).
fn run(args: &[&str]) -> Result<Command, String> {
    let [agent, rest @ ..] = args else {
        return Err("name an agent and an action".into());
    };
    let (action, args) = action_and_params(rest)?;
    Ok(Command::Act(Act {
        command: "run",
        agent: Some((*agent).to_string()),
        action,
        args,
        change: true,
    }))
}

fn broadcast(args: &[&str]) -> Result<Command, String> {
    let (action, args) = action_and_params(args)?;
    Ok(Command::Act(Act {
        command: "broadcast",
        agent: None,
        change: !READ_ACTIONS.contains(&action.as_str()),
        action,
        args,
    }))
}

fn agent_add(args: &[&str]) -> Result<Command, String> {
    match args {
        [name, address, labels @ ..] => Ok(Command::AgentAdd {
            name: (*name).to_string(),
            address: (*address).to_string(),
            labels: labels.iter().map(|l| (*l).to_string()).collect(),
        }),
        _ => Err("give a name and HOST:PORT".into()),
    }
}

/// `METRIC` is a threshold of the alert catalog's allow-list
/// ([`crate::alerts::Threshold::from_word`]); anything else is refused here.
fn threshold(args: &[&str]) -> Result<Command, String> {
    use crate::alerts::Threshold;
    let [agent, metric, value] = args else {
        return Err("give an agent, a metric and a value (or default)".into());
    };
    let threshold = Threshold::from_word(metric).ok_or_else(|| {
        let known: Vec<&str> = Threshold::ALL.iter().map(|t| t.short()).collect();
        format!("unknown metric {metric:?} (known: {})", known.join(", "))
    })?;
    Ok(Command::Threshold {
        agent: (*agent).to_string(),
        threshold,
        value: (!value.eq_ignore_ascii_case("default")).then(|| (*value).to_string()),
    })
}

fn check_add(args: &[&str]) -> Result<Command, String> {
    let (args, failures) = match args {
        [head @ .., last] if last.starts_with("failures=") => {
            (head, last.strip_prefix("failures=").map(str::to_string))
        }
        _ => (args, None),
    };
    match args {
        [name, target, from, agent] if from.eq_ignore_ascii_case("from") => Ok(Command::CheckAdd {
            name: (*name).to_string(),
            target: (*target).to_string(),
            from: (*agent).to_string(),
            failures,
        }),
        _ => Err("give a name, HOST:PORT, `from` and an agent, then optionally failures=N".into()),
    }
}

/// Silence ids are UUIDs; anything else is refused before it reaches a URL.
fn unsilence(args: &[&str]) -> Result<Command, String> {
    match args {
        [id] if is_silence_id(id) => Ok(Command::Unsilence {
            id: id.to_ascii_lowercase(),
        }),
        [_] => Err("a silence id looks like 8f3c…-…, see /silences".into()),
        _ => Err("exactly one silence id".into()),
    }
}

/// A UUID as Alertmanager prints it (hex and dashes, 36 characters).
pub fn is_silence_id(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(text: &str) -> String {
        match parse(text) {
            Err(UsageError::BadArgs { usage, .. }) => usage,
            other => panic!("{text}: expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn gpu_takes_an_optional_agent() {
        assert_eq!(parse("/gpu").unwrap(), Command::Gpu { agent: None });
        assert_eq!(
            parse("/gpu@OutpostBot web1").unwrap(),
            Command::Gpu {
                agent: Some("web1".into())
            }
        );
        assert_eq!(bad("/gpu web1 web2"), "/gpu [agent]");
    }

    #[test]
    fn plot_history_and_mem_picture_arguments() {
        assert_eq!(
            parse("/plot web1,web2 gpu 30 14:05").unwrap(),
            Command::Plot {
                agents: vec!["web1".into(), "web2".into()],
                metric: PlotMetric::Gpu,
                minutes: 30,
                at: Some(TimeOfDay {
                    hour: 14,
                    minute: 5
                })
            }
        );
        assert_eq!(
            parse("/plot web1 agent:node_load1_per_cpu:ratio").unwrap(),
            Command::Plot {
                agents: vec!["web1".into()],
                metric: PlotMetric::Record(crate::generate::recording::LOAD_PER_CPU),
                minutes: DEFAULT_MINUTES,
                at: None
            }
        );
        let usage = "/plot <agent[,agent…]> <metric> [minutes] [hhmm]";
        assert_eq!(bad("/plot web1"), usage);
        assert_eq!(bad("/plot web1 node_load1"), usage);
        assert_eq!(bad("/plot web1 cpu 0"), usage);
        assert_eq!(bad("/plot a,b,c,d,e,f,g,h,i cpu"), usage);
        match parse("/plot web1 sum(up)") {
            Err(UsageError::BadArgs { reason, .. }) => {
                assert!(reason.contains("not a metric /plot draws"), "{reason}");
                assert!(reason.contains("net_in"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse("/history").unwrap(),
            Command::History {
                target: None,
                hours: 24
            }
        );
        assert_eq!(
            parse("/history 6 db").unwrap(),
            Command::History {
                target: Some("db".into()),
                hours: 6
            }
        );
        assert_eq!(bad("/history 0"), "/history [check|agent] [hours]");
        assert_eq!(bad("/history 169"), "/history [check|agent] [hours]");
        assert_eq!(bad("/history a b"), "/history [check|agent] [hours]");
        assert_eq!(bad("/mem_picture"), "/mem_picture <agent>");
    }

    #[test]
    fn every_spec_parses_to_a_command_of_its_name() {
        let sample_args = |s: &Spec| match s.name {
            "silence" => " web1 1h".to_string(),
            "unsilence" => " 0f9a8b7c-1d2e-4f30-8a9b-0c1d2e3f4a5b".to_string(),
            "ps" | "ports" | "top" | "reboot" => " web1".to_string(),
            "logs" | "restart" => " web1 app".to_string(),
            "service" => " web1 nginx.service".to_string(),
            "kill_port" => " web1 8080".to_string(),
            "run" => " web1 app-logs".to_string(),
            "broadcast" => " top".to_string(),
            "agent_add" => " web2 10.0.0.9:9100".to_string(),
            "agent_rm" | "check_rm" => " web2".to_string(),
            "threshold" => " web1 cpu 95".to_string(),
            "check_add" => " pg 10.0.0.6:5432 from web1".to_string(),
            "plot" => " web1,web2 cpu".to_string(),
            "mem_picture" => " web1".to_string(),
            "ack" => " AgentDown".to_string(),
            "mute" => " web1 1h".to_string(),
            "unmute" => " web1".to_string(),
            _ => String::new(),
        };
        for s in SPECS {
            let cmd = parse(&format!("/{}{}", s.name, sample_args(s))).unwrap();
            assert_eq!(cmd.name(), s.name);
        }
        let mut names: Vec<_> = SPECS.iter().map(|s| s.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), SPECS.len(), "duplicate command");
    }

    #[test]
    fn bot_suffix_case_and_whitespace() {
        assert_eq!(parse("/agents@OutpostBot").unwrap(), Command::Agents);
        assert_eq!(
            parse("  /MON_CPU@outpost_bot   web1  ").unwrap(),
            Command::Mon {
                metric: Metric::Cpu,
                agent: Some("web1".into())
            }
        );
        assert_eq!(parse("hello"), Err(UsageError::NotACommand));
        assert_eq!(
            parse("/nosuch x"),
            Err(UsageError::Unknown("nosuch".into()))
        );
        assert_eq!(parse("/"), Err(UsageError::Unknown("".into())));
    }

    #[test]
    fn agent_args_are_kept_verbatim_for_validation_later() {
        // Injection attempts parse (the agent check refuses them), so the
        // reply can list the known agents.
        assert_eq!(
            parse(r#"/mon_cpu web1"}"#).unwrap(),
            Command::Mon {
                metric: Metric::Cpu,
                agent: Some(r#"web1"}"#.into())
            }
        );
        assert_eq!(bad("/status a b"), "/status [agent]");
        assert_eq!(bad("/help me"), "/help");
    }

    #[test]
    fn picture_arguments() {
        let p = |t| parse(t).unwrap();
        assert_eq!(
            p("/mon_cpu_picture"),
            Command::Picture {
                metric: Metric::Cpu,
                agent: None,
                minutes: 5,
                at: None
            }
        );
        assert_eq!(
            p("/mon_mem_picture web1 30"),
            Command::Picture {
                metric: Metric::Mem,
                agent: Some("web1".into()),
                minutes: 30,
                at: None
            }
        );
        assert_eq!(
            p("/mon_disk_picture 60 1405"),
            Command::Picture {
                metric: Metric::Disk,
                agent: None,
                minutes: 60,
                at: Some(TimeOfDay {
                    hour: 14,
                    minute: 5
                })
            }
        );
        assert_eq!(
            p("/mon_cpu_picture web1 14:05"),
            Command::Picture {
                metric: Metric::Cpu,
                agent: Some("web1".into()),
                minutes: 5,
                at: Some(TimeOfDay {
                    hour: 14,
                    minute: 5
                })
            }
        );
        assert_eq!(p("/mon_cpu_picture web1 10 905").name(), "mon_cpu_picture");
        let usage = "/mon_cpu_picture [agent] [minutes] [hhmm]";
        assert_eq!(bad("/mon_cpu_picture web1 0"), usage);
        assert_eq!(bad("/mon_cpu_picture web1 1441"), usage);
        assert_eq!(bad("/mon_cpu_picture web1 x5"), usage);
        assert_eq!(bad("/mon_cpu_picture web1 5 2460"), usage);
        assert_eq!(bad("/mon_cpu_picture web1 5 12:60"), usage);
        assert_eq!(bad("/mon_cpu_picture web1 5 1:2:3"), usage);
        assert_eq!(bad("/mon_cpu_picture web1 5 1200 1300"), usage);
    }

    #[test]
    fn times_and_durations() {
        assert_eq!(
            parse_time("0905").unwrap(),
            TimeOfDay { hour: 9, minute: 5 }
        );
        assert_eq!(parse_time("905").unwrap(), TimeOfDay { hour: 9, minute: 5 });
        assert_eq!(
            parse_time("23:59").unwrap(),
            TimeOfDay {
                hour: 23,
                minute: 59
            }
        );
        assert!(parse_time("24:00").is_err());
        assert!(parse_time("12:5").is_err());
        assert_eq!(
            parse_silence_duration("1h30m"),
            Some(Duration::from_secs(5400))
        );
        assert_eq!(
            parse_silence_duration("2d"),
            Some(Duration::from_secs(172800))
        );
        assert_eq!(parse_silence_duration("web1"), None);
        assert_eq!(parse_silence_duration("10"), None);
        assert_eq!(parse_silence_duration("0h"), None);
        assert_eq!(parse_silence_duration("99999999999999999999h"), None);
    }

    #[test]
    fn silence_arguments() {
        assert_eq!(
            parse("/silence web1 1h deploy in progress").unwrap(),
            Command::Silence {
                target: vec!["web1".into()],
                duration: Duration::from_secs(3600),
                comment: "deploy in progress".into()
            }
        );
        assert_eq!(
            parse("/silence alertname=AgentHighCPU,agent=~web.* 30m").unwrap(),
            Command::Silence {
                target: vec!["alertname=AgentHighCPU".into(), "agent=~web.*".into()],
                duration: Duration::from_secs(1800),
                comment: String::new()
            }
        );
        let usage = "/silence <agent|matchers> <duration> [comment]";
        assert_eq!(bad("/silence web1"), usage);
        assert_eq!(bad("/silence 1h"), usage);
        assert_eq!(bad("/silence web1 30s"), usage);
        assert_eq!(bad("/silence web1 100d"), usage);
    }

    #[test]
    fn action_commands_name_the_agent_action_its_args_and_whether_it_changes() {
        let act = |t: &str| match parse(t).unwrap() {
            Command::Act(a) => a,
            other => panic!("{t}: {other:?}"),
        };
        let a = act("/logs web1 app 20");
        assert_eq!((a.action.as_str(), a.change), ("docker.logs", false));
        assert_eq!(a.args["container"], "app");
        assert_eq!(a.args["lines"], 20);
        assert_eq!(act("/logs web1 app").args["lines"], 50);
        assert!(act("/restart web1 app").change);
        assert_eq!(act("/service web1 nginx").action, "service.status");
        let r = act("/service web1 nginx RESTART");
        assert_eq!((r.action.as_str(), r.change), ("service.restart", true));
        let k = act("/kill_port web1 8080");
        assert_eq!((k.action.as_str(), k.change), ("kill-port", true));
        assert_eq!(k.args["port"], 8080);
        let b = act("/broadcast top");
        assert_eq!((b.agent, b.change), (None, false));
        assert!(act("/broadcast docker.prune").change);
        // Custom actions always change; a parameter like `; rm -rf /` stays
        // one string value (the agent types it; no shell anywhere).
        let c = act("/run web1 echo v=$(id);rm");
        assert!(c.change);
        assert_eq!(c.args["v"], "$(id);rm");
        assert_eq!(bad("/kill_port web1 0"), "/kill_port <agent> <port>");
        assert_eq!(bad("/kill_port web1 x"), "/kill_port <agent> <port>");
        assert_eq!(
            bad("/logs web1 app 5000"),
            "/logs <agent> <container> [lines]"
        );
        assert_eq!(bad("/ports"), "/ports <agent>");
        assert_eq!(bad("/restart web1"), "/restart <agent> <container>");
        assert_eq!(
            bad("/run web1 ../x"),
            "/run <agent> <action> [name=value …]"
        );
        assert_eq!(
            bad("/run web1 echo v"),
            "/run <agent> <action> [name=value …]"
        );
        assert_eq!(
            bad("/broadcast top a=1 a=2"),
            "/broadcast <action> [name=value …]"
        );
    }

    #[test]
    fn config_command_arguments() {
        use crate::alerts::Threshold;
        assert_eq!(
            parse("/threshold web1 cpu_threshold default").unwrap(),
            Command::Threshold {
                agent: "web1".into(),
                threshold: Threshold::Cpu,
                value: None
            }
        );
        assert_eq!(
            parse("/threshold web1 disk_fill 12h").unwrap(),
            Command::Threshold {
                agent: "web1".into(),
                threshold: Threshold::DiskFill,
                value: Some("12h".into())
            }
        );
        match parse("/threshold web1 temperature 90") {
            Err(UsageError::BadArgs { reason, .. }) => {
                assert!(
                    reason.starts_with("unknown metric \"temperature\" (known: cpu, memory,"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse("/agent_add web2 h:1 env=prod role=db").unwrap(),
            Command::AgentAdd {
                name: "web2".into(),
                address: "h:1".into(),
                labels: vec!["env=prod".into(), "role=db".into()]
            }
        );
        assert_eq!(
            bad("/agent_add web2"),
            "/agent_add <name> <host:port> [key=value ...]"
        );
        assert_eq!(
            bad("/check_add pg h:1 by web1"),
            "/check_add <name> <host:port> from <agent> [failures=N]"
        );
        assert_eq!(
            parse("/check_add pg h:1 from web1 failures=5").unwrap(),
            Command::CheckAdd {
                name: "pg".into(),
                target: "h:1".into(),
                from: "web1".into(),
                failures: Some("5".into())
            }
        );
        // The value is checked by the config editor, like agents.txt's.
        assert!(matches!(
            parse("/check_add pg h:1 from web1 failures=0").unwrap(),
            Command::CheckAdd { failures: Some(f), .. } if f == "0"
        ));
        assert_eq!(
            bad("/check_add pg h:1 from web1 retries=5"),
            "/check_add <name> <host:port> from <agent> [failures=N]"
        );
        assert_eq!(bad("/agent_rm"), "/agent_rm <agent>");
    }

    #[test]
    fn subscription_mute_and_quiet_arguments() {
        assert_eq!(
            parse("/subscribe").unwrap(),
            Command::Subscribe {
                topics: vec!["all".into()]
            }
        );
        assert_eq!(
            parse("/unsubscribe web1,db1").unwrap(),
            Command::Unsubscribe {
                topics: vec!["web1".into(), "db1".into()]
            }
        );
        assert_eq!(bad("/subscribe all web1"), "/subscribe [agent…|all]");
        assert_eq!(
            parse("/mute AgentDown 2h").unwrap(),
            Command::Mute {
                target: "AgentDown".into(),
                duration: Duration::from_secs(7200)
            }
        );
        assert_eq!(bad("/mute web1 soon"), "/mute <agent|alert> <duration>");
        assert_eq!(bad("/mute web1"), "/mute <agent|alert> <duration>");
        assert_eq!(bad("/unmute"), "/unmute <agent|alert>");
        assert_eq!(bad("/quiet 25:00-07:00"), "/quiet [HH:MM-HH:MM|off]");
        assert_eq!(parse("/quiet off").unwrap(), Command::Quiet(QuietArg::Off));
        assert_eq!(bad("/subscriptions web1"), "/subscriptions");
    }

    #[test]
    fn unsilence_takes_a_uuid_only() {
        assert_eq!(
            parse("/unsilence 0F9A8B7C-1D2E-4F30-8A9B-0C1D2E3F4A5B").unwrap(),
            Command::Unsilence {
                id: "0f9a8b7c-1d2e-4f30-8a9b-0c1d2e3f4a5b".into()
            }
        );
        assert_eq!(bad("/unsilence ../../api/v2/status"), "/unsilence <id>");
        assert_eq!(bad("/unsilence"), "/unsilence <id>");
    }
}
