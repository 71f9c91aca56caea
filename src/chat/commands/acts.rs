//! The action commands' arguments (`/ps`, `/logs`, `/restart`, `/service`,
//! `/kill_port`, `/run`, `/broadcast`, …): what an [`Act`] asks of an
//! agent, and which built-in actions only read.

use super::Command;

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

/// `AGENT` then the named string parameters, one word each.
pub(super) fn act_on(
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

pub(super) fn logs(args: &[&str]) -> Result<Command, String> {
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

pub(super) fn service(args: &[&str]) -> Result<Command, String> {
    match args {
        [a, u] => act_on("service", "service.status", &[a, u], &["unit"]),
        [a, u, r] if r.eq_ignore_ascii_case("restart") => {
            act_on("service", "service.restart", &[a, u], &["unit"])
        }
        _ => Err("name an agent and a unit, optionally followed by restart".into()),
    }
}

pub(super) fn kill_port(args: &[&str]) -> Result<Command, String> {
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
pub(super) fn action_and_params(words: &[&str]) -> Result<(String, ActArgs), String> {
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
pub(super) fn run(args: &[&str]) -> Result<Command, String> {
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

pub(super) fn broadcast(args: &[&str]) -> Result<Command, String> {
    let (action, args) = action_and_params(args)?;
    Ok(Command::Act(Act {
        command: "broadcast",
        agent: None,
        change: !READ_ACTIONS.contains(&action.as_str()),
        action,
        args,
    }))
}
