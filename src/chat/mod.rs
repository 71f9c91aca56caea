//! Chat commands and charts, independent of any transport: the command list
//! and parser (`commands`), the engine that answers (`engine`), its clients
//! of Prometheus (`promql`, `queries`) and Alertmanager (`alertmanager`),
//! chart rendering (`chart`), what `/plot` may draw (`plot`), up/down
//! transitions for `/history` (`history`), reply texts (`reply`), inline buttons
//! (`buttons`), the bridge's state as the engine sees it (`desk`), the audit log (`audit`), the agents list (`agents`) and the
//! time zone (`zone`, parsed with jiff: see there why not chrono-tz).
//! This file turns flags into an engine [`Config`] and runs `outpost ask`.
//!
//! # What a front end does (Telegram, `ask`)
//! 1. Build once: `Engine::new(chat::config(&chat_args, roles)?, audit)`
//!    with an [`audit::AuditLog`] (the bridge and `ask` keep it in the
//!    bridge's state) and share it (`Arc<Engine>`; its methods take `&self`).
//! 2. A message: `engine.handle(&Caller { user_id: from.id, chat_id: chat.id,
//!    username: from.username }, &text).await` → `None`: send nothing;
//!    `Some(reply)`: if `reply.chart` is set, `sendPhoto` its `png` with its
//!    `caption` (HTML parse mode) and `reply.buttons` as one inline-keyboard
//!    row, then `sendMessage` `reply.text` if not empty; otherwise
//!    `sendMessage` `reply.text` (HTML parse mode, already within 4096) with
//!    the buttons.
//! 3. A button: `engine.press(&caller, &callback_query.data).await`, same
//!    reply handling; answer the callback query either way.
//! 4. Under each firing alert message: `buttons::alert_buttons(&alert.fingerprint)`
//!    (one row per alert); with `--attach-charts`:
//!    `engine.alert_picture(&alert.labels, &alert.generator_url)`.
//! 5. Command menu (`setMyCommands`): `commands::SPECS` (`name`, `about`).

pub mod actions;
pub mod agents;
pub mod alertmanager;
pub mod audience;
pub mod audit;
pub mod buttons;
pub mod chart;
pub mod commands;
pub mod confirm;
pub mod desk;
pub mod engine;
pub mod history;
pub mod oncall;
pub mod plot;
pub mod promql;
pub mod queries;
pub mod reply;
pub mod roles;
pub mod zone;

use std::io::Write;

use anyhow::Context;

pub use engine::{Answer, Caller, Clients, Config, Engine, Verdict, LOCAL_OPERATOR};
pub use reply::{Picture, Reply};
pub use roles::{Role, Roles};

use crate::cli::{AskArgs, ChatArgs, RoleArgs};
use crate::UsageError;

/// Builds the engine config from the shared chat flags and the users'
/// roles.
pub fn config(args: &ChatArgs, roles: Roles) -> anyhow::Result<Config> {
    let timezone =
        zone::parse(&args.timezone).map_err(|e| UsageError(format!("--timezone {e}")))?;
    let agents = match &args.agents {
        Some(path) => agents::read(path)?,
        None => agents::Agents::default(),
    };
    let actions_key = match &args.actions_key {
        Some(path) => Some(std::sync::Arc::new(
            actions::load_key(&args.actions_key_id, path)
                .map_err(|e| UsageError(format!("--actions-key: {e}")))?,
        )),
        None => None,
    };
    Ok(Config {
        actions_key,
        actions_timeout: args.actions_timeout,
        prometheus_url: args.prometheus_url.clone(),
        alertmanager_url: args.alertmanager_url.clone(),
        agents,
        roles,
        timezone,
        timeout: args.query_timeout,
        config_change: config_change(args)?,
    })
}

/// Where the config commands write, from `--config-writable` and the flags
/// that go with it; `None` when the config is read-only here. The generate
/// flags are parsed by `outpost generate`'s own parser and validation.
pub fn config_change(args: &ChatArgs) -> anyhow::Result<Option<engine::ConfigChange>> {
    use clap::Parser;
    let c = &args.config;
    if !c.config_writable {
        return Ok(None);
    }
    let (Some(agents), Some(out)) = (&args.agents, &c.config_out) else {
        return Err(UsageError("--config-writable needs --agents and --config-out".into()).into());
    };
    let mut argv: Vec<std::ffi::OsString> = ["outpost", "generate", "--agents"]
        .into_iter()
        .map(Into::into)
        .collect();
    argv.push(agents.clone().into());
    argv.push("--out".into());
    argv.push(out.clone().into());
    argv.extend(c.generate_args.split_whitespace().map(Into::into));
    let cli = crate::cli::Cli::try_parse_from(argv).map_err(|e| {
        let first = e.to_string().lines().next().unwrap_or_default().to_string();
        UsageError(format!("--generate-args: {first}"))
    })?;
    let crate::cli::Command::Generate(gen) = cli.command else {
        unreachable!("parsed as generate");
    };
    if gen.check {
        return Err(UsageError("--generate-args must not contain --check".into()).into());
    }
    let generate = crate::generate::Config::try_from(gen)
        .map_err(|e| UsageError(format!("--generate-args: {e}")))?;
    Ok(Some(engine::ConfigChange {
        target: crate::generate::apply::Target {
            agents: agents.clone(),
            generate,
            promtool: c.promtool.clone(),
        },
        confirm_within: c.config_confirm_timeout,
    }))
}

/// The users' roles from the role flags.
pub fn roles(args: &RoleArgs) -> Roles {
    let mut roles = Roles::default();
    roles
        .grant(args.viewers.iter().copied(), Role::Viewer)
        .grant(args.allowed_users.iter().copied(), Role::Operator)
        .grant(args.admins.iter().copied(), Role::Admin);
    roles
}

/// The Confirm button's callback data, when the reply asks to confirm.
fn confirm_data(reply: &Reply) -> Option<String> {
    reply
        .buttons
        .iter()
        .find_map(|b| match buttons::decode(&b.data) {
            Some(buttons::Action::Confirm { .. }) => Some(b.data.clone()),
            _ => None,
        })
}

/// `Confirm? [y/N]` on a terminal; `false` when stdin is not one.
fn ask_yes() -> anyhow::Result<bool> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    eprint!("Confirm? [y/N] ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

/// The audit log's limits from the shared chat flags.
pub fn audit_retention(args: &ChatArgs) -> audit::Retention {
    audit::Retention {
        max_age: args.audit_max_age,
        max_rows: args.audit_max_rows,
    }
}

/// `outpost ask`: one command (or `--press` button) through the engine as
/// the local operator; prints the reply as plain text and writes any chart.
/// Exit code 0 when the command worked, 2 for usage errors and unknown
/// agents, 1 when Prometheus, Alertmanager or the store failed.
/// `audit` and `desk` (`/stats`, `/ack`) are the bridge's state, opened by
/// the caller on `runtime` (the store belongs to the bridge module, which
/// depends on this one).
pub fn main(
    args: AskArgs,
    runtime: &tokio::runtime::Runtime,
    audit: impl audit::AuditLog,
    desk: Option<std::sync::Arc<dyn desk::Desk>>,
) -> anyhow::Result<()> {
    let text = args.command.join(" ");
    if text.trim().is_empty() {
        return Err(UsageError("give a command, e.g. outpost ask /mon_cpu web1".into()).into());
    }
    let mut roles = roles(&args.roles);
    roles.grant([LOCAL_OPERATOR], Role::Admin);
    let config = config(&args.chat, roles)?;
    let mut engine = Engine::new(config, audit);
    if let Some(desk) = desk {
        engine = engine.with_desk(desk);
    }
    let login = std::env::var("USER").unwrap_or_else(|_| "operator".into());
    let caller = Caller::local(&login);
    let mut answer = runtime.block_on(async {
        if args.press {
            engine.answer_press(&caller, text.trim()).await
        } else {
            engine.answer(&caller, &text).await
        }
    });
    // A pending confirmation lives in this process only: confirm it here.
    if let Some(confirm) = answer.as_ref().and_then(|a| confirm_data(&a.reply)) {
        let shown = answer.as_ref().map(|a| reply::to_plain(&a.reply.text));
        eprintln!("{}", shown.unwrap_or_default().trim_end());
        if args.yes || ask_yes()? {
            answer = runtime.block_on(engine.answer_press(&caller, &confirm));
        } else {
            return Err(anyhow::anyhow!(
                "not confirmed: nothing was run (give --yes to confirm without a terminal)"
            ));
        }
    }
    let Some(Answer { reply, verdict }) = answer else {
        return Err(UsageError(format!(
            "{text:?} is not a command: commands start with /, see /help"
        ))
        .into());
    };
    let mut out = std::io::stdout().lock();
    if let Some(picture) = &reply.chart {
        std::fs::write(&args.chart_out, &picture.png)
            .with_context(|| format!("writing the chart to {}", args.chart_out.display()))?;
        writeln!(out, "{}", reply::to_plain(&picture.caption))?;
        writeln!(out, "Chart written to {}", args.chart_out.display())?;
    }
    if !reply.text.is_empty() {
        writeln!(out, "{}", reply::to_plain(&reply.text).trim_end())?;
    }
    for b in &reply.buttons {
        writeln!(out, "[{}] outpost ask --press {}", b.text, b.data)?;
    }
    // The reply is printed either way; the exit code tells scripts whether
    // the command worked (2: usage or unknown agent, 1: a failure).
    match verdict {
        Verdict::Ok => Ok(()),
        Verdict::Failed => Err(anyhow::anyhow!("the command failed (see the reply above)")),
        Verdict::Usage | Verdict::UnknownAgent => {
            Err(UsageError("the command was not understood (see the reply above)".into()).into())
        }
        Verdict::Refused => Err(anyhow::anyhow!(
            "the command was refused (see the reply above)"
        )),
    }
}
