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

mod acts;
mod config;
#[cfg(test)]
mod tests;

use acts::{act_on, broadcast, kill_port, logs, run, service};
pub use acts::{Act, ActArgs, DEFAULT_LOG_LINES, MAX_LOG_LINES, READ_ACTIONS};
use config::{agent_add, check_add, threshold};

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
