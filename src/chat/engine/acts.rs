//! Action commands (`/ps`, `/ports`, `/top`, `/restart`, `/run`,
//! `/broadcast` …): which agents, whether a Confirm press is needed, the
//! signed calls through [`crate::chat::actions`], and the replies, whose
//! text is built by pure functions here and in `act_text.rs` (docker and
//! service answers).
//!
//! Decisions:
//! - A change (anything not in [`crate::chat::commands::READ_ACTIONS`]) needs the
//!   operator role and a Confirm press whose message shows the action, its
//!   arguments and each host (name and address); reads run at once.
//! - `/broadcast` runs on every agent with `actions=` in agents.txt, at
//!   most [`BROADCAST_CONCURRENCY`] at a time, and answers with one summary:
//!   how many succeeded, and each failure by agent.
//! - The audit note names agent, action, arguments, result and duration,
//!   so a confirmed press (audited as `button:k:…`) says what it ran.

use std::sync::Arc;

use super::act_text::{self, bytes};
use super::{Caller, Engine, Outcome, Verdict};
use crate::chat::actions::{ActionError, Answer, Client};
use crate::chat::agents::Agent;
use crate::chat::commands::{Act, ActArgs};
use crate::chat::reply::{self, Reply};
use crate::chat::roles::Role;
use crate::exporter::actions::docker::{Container, DiskUse, Logs, Pruned};
use crate::exporter::actions::service::UnitStatus;
use crate::exporter::actions::{custom::RunResult, ports::Listener, top::Top};
use crate::html::escape;

/// Most agents a broadcast talks to at once.
pub const BROADCAST_CONCURRENCY: usize = 8;
/// Processes shown per list in a `/top` reply.
const TOP_SHOWN: usize = 8;
/// Processes shown per list under an alert.
const ENRICH_SHOWN: usize = 5;

/// What runs where: the held part of a confirmation.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub targets: Vec<Agent>,
    pub action: String,
    pub args: ActArgs,
    /// A `/broadcast` (a summary reply even for one agent).
    pub broadcast: bool,
}

impl Engine {
    pub(super) async fn act(&self, caller: &Caller, role: Role, act: Act) -> Outcome {
        let targets: Vec<Agent> = match &act.agent {
            Some(word) => match self.known().resolve(word) {
                Some(a) => vec![a.clone()],
                None => return Outcome::unknown_agent(reply::unknown_agent(word, &self.known())),
            },
            None => self.known().with_actions().cloned().collect(),
        };
        if targets.is_empty() {
            return Outcome::usage(
                "No agent accepts actions: none has actions= in agents.txt.".into(),
            );
        }
        let plan = Plan {
            targets,
            action: act.action,
            args: act.args,
            broadcast: act.agent.is_none(),
        };
        if !act.change {
            return self.execute(&plan).await;
        }
        if role < Role::Operator {
            return self.too_low(Role::Operator, role);
        }
        let text = will_run(&plan);
        self.ask_to_confirm(caller, Role::Operator, super::Confirmable::Act(plan), text)
    }

    /// An alert's enrichment (HTML) from its agent's `action`: `None` when
    /// the agent is unknown or accepts no actions (no request is made).
    pub async fn enrichment(
        &self,
        agent_label: &str,
        action: &str,
    ) -> Result<Option<String>, ActionError> {
        let known = self.known();
        let Some(agent) = known.of_series(Some(agent_label), None) else {
            return Ok(None);
        };
        if agent.actions.is_none() {
            return Ok(None);
        }
        let answer = call(&self.actions, agent, action, &ActArgs::new()).await?;
        let body = match action {
            "top" => answer.typed::<Top>().map(|t| {
                let mut t = t;
                t.by_cpu.truncate(ENRICH_SHOWN);
                t.by_memory.truncate(ENRICH_SHOWN);
                top(&t)
            }),
            "docker.df" => answer
                .typed::<DiskUse>()
                .map(|d| act_text::disk(&d, ENRICH_SHOWN)),
            _ => None,
        };
        let body = body.unwrap_or_else(|| generic(&answer.value));
        Ok(Some(format!(
            "<b>{}</b> on {}:\n{body}",
            escape(action),
            escape(&agent.name)
        )))
    }

    /// Self-healing: runs `action` on the agent an alert names, audits it
    /// as the `self-healing` caller and returns the chat notice (HTML).
    /// `None` when the agent is unknown or accepts no actions (nothing
    /// runs).
    pub async fn heal(
        &self,
        alert: &str,
        agent_label: &str,
        action: &str,
        args: &ActArgs,
    ) -> Option<String> {
        let agent = self
            .config
            .agents
            .of_series(Some(agent_label), None)?
            .clone();
        agent.actions.as_ref()?;
        let plan = Plan {
            targets: vec![agent.clone()],
            action: action.to_owned(),
            args: args.clone(),
            broadcast: false,
        };
        let result = call(&self.actions, &agent, action, args).await;
        let note = note(&agent, &plan, &result);
        let caller = Caller {
            user_id: super::LOCAL_OPERATOR,
            chat_id: 0,
            username: Some("self-healing".into()),
        };
        let verdict = if result.is_ok() { "ok" } else { "error" };
        self.record(
            &caller,
            &format!("self-healing {alert}"),
            &format!("{verdict}: {note}"),
        )
        .await;
        let head = format!(
            "🩹 Self-healing for <b>{}</b> on <b>{}</b>: ran <code>{}</code>{}",
            escape(alert),
            escape(&agent.name),
            escape(action),
            match args_words(args) {
                w if w.is_empty() => String::new(),
                w => format!(" <code>{}</code>", escape(&w)),
            }
        );
        Some(match result {
            Ok(a) => format!("{head}\n{}", render(&agent.name, action, &a)),
            Err(e) => format!("{head}\n❌ {}", escape(&e.to_string())),
        })
    }

    /// Runs a plan (read, or confirmed) and answers.
    pub(super) async fn execute(&self, plan: &Plan) -> Outcome {
        if !plan.broadcast {
            let agent = &plan.targets[0];
            let result = call(&self.actions, agent, &plan.action, &plan.args).await;
            let note = note(agent, plan, &result);
            return match result {
                Ok(answer) => Outcome::ok_noting(
                    Reply::text(render(&agent.name, &plan.action, &answer)),
                    note,
                ),
                Err(e) => Outcome {
                    reply: Reply::text(reply::failure(&e.to_string())),
                    verdict: Verdict::Failed,
                    note: Some(note),
                },
            };
        }
        let results = broadcast(&self.actions, plan).await;
        let failed = results.iter().filter(|(_, r)| r.is_err()).count();
        let note = format!(
            "broadcast {} {}: {} ok, {failed} failed{}",
            plan.action,
            args_words(&plan.args),
            results.len() - failed,
            results
                .iter()
                .filter_map(|(a, r)| r.as_ref().err().map(|e| format!("; {a}: {e}")))
                .collect::<String>()
        );
        Outcome {
            reply: Reply::text(summary(&plan.action, &results)),
            verdict: if failed == 0 {
                Verdict::Ok
            } else {
                Verdict::Failed
            },
            note: Some(note),
        }
    }
}

async fn call(
    client: &Client,
    agent: &Agent,
    action: &str,
    args: &ActArgs,
) -> Result<Answer, ActionError> {
    client
        .call(&agent.name, agent.actions.as_ref(), action, args)
        .await
}

/// Each target's result, in the plan's order.
async fn broadcast(
    client: &Arc<Client>,
    plan: &Plan,
) -> Vec<(String, Result<Answer, ActionError>)> {
    let gate = Arc::new(tokio::sync::Semaphore::new(BROADCAST_CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, agent) in plan.targets.iter().cloned().enumerate() {
        let (client, gate) = (client.clone(), gate.clone());
        let (action, args) = (plan.action.clone(), plan.args.clone());
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await;
            (
                i,
                agent.name.clone(),
                call(&client, &agent, &action, &args).await,
            )
        });
    }
    let mut out = Vec::with_capacity(plan.targets.len());
    while let Some(done) = tasks.join_next().await {
        if let Ok(r) = done {
            out.push(r);
        }
    }
    out.sort_by_key(|(i, _, _)| *i);
    out.into_iter().map(|(_, a, r)| (a, r)).collect()
}

/// `name=value …` for replies and the audit (values as JSON text).
fn args_words(args: &ActArgs) -> String {
    args.iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s:?}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The audit note of one call: where, what, arguments, result, duration.
fn note(agent: &Agent, plan: &Plan, result: &Result<Answer, ActionError>) -> String {
    let what = format!("{} {} {}", agent.name, plan.action, args_words(&plan.args));
    match result {
        Ok(a) => format!(
            "{} → {} in {} ms",
            what.trim_end(),
            summary_of(&plan.action, a),
            a.duration.as_millis()
        ),
        Err(e) => format!("{} → {e}", what.trim_end()),
    }
}

/// A few words on what an answer held, for the audit.
fn summary_of(action: &str, a: &Answer) -> String {
    match action {
        "ports" => a
            .typed::<Vec<Listener>>()
            .map_or("ok".into(), |l| format!("{} listening sockets", l.len())),
        "top" => "ok".into(),
        _ => match a.typed::<RunResult>() {
            Some(r) if r.timed_out => "timed out".into(),
            Some(r) => format!(
                "exit {}",
                r.exit_code.map_or("by signal".into(), |c| c.to_string())
            ),
            None => "ok".into(),
        },
    }
}

/// The Confirm message: what will run, with which arguments, on which hosts.
pub fn will_run(plan: &Plan) -> String {
    let args = args_words(&plan.args);
    let hosts: Vec<String> = plan
        .targets
        .iter()
        .map(|a| {
            let at = a
                .actions
                .as_ref()
                .map_or("no actions listener", |e| e.address.as_str());
            format!("• <b>{}</b> ({})", escape(&a.name), escape(at))
        })
        .collect();
    format!(
        "⚠️ This will run <code>{}</code>{} on {}:\n{}",
        escape(&plan.action),
        if args.is_empty() {
            String::new()
        } else {
            format!(" with <code>{}</code>", escape(&args))
        },
        if hosts.len() == 1 {
            "this host".to_string()
        } else {
            format!("{} hosts", hosts.len())
        },
        hosts.join("\n")
    )
}

/// One agent's answer as a reply (HTML).
pub fn render(agent: &str, action: &str, answer: &Answer) -> String {
    let head = format!(
        "✅ <code>{}</code> on <b>{}</b> ({} ms)",
        escape(action),
        escape(agent),
        answer.duration.as_millis()
    );
    let body = match action {
        "ports" => answer.typed::<Vec<Listener>>().map(|l| ports(&l)),
        "top" => answer.typed::<Top>().map(|t| top(&t)),
        "docker.ps" => answer
            .typed::<Vec<Container>>()
            .map(|c| act_text::containers(&c)),
        "docker.logs" => answer.typed::<Logs>().map(|l| act_text::logs(&l)),
        "docker.df" => answer
            .typed::<DiskUse>()
            .map(|d| act_text::disk(&d, TOP_SHOWN)),
        "docker.prune" => answer.typed::<Pruned>().map(|p| act_text::pruned(&p)),
        "service.status" => answer.typed::<UnitStatus>().map(|u| act_text::unit(&u)),
        _ => answer.typed::<RunResult>().map(|r| run_result(&r)),
    }
    .unwrap_or_else(|| generic(&answer.value));
    format!("{head}\n{body}")
}

/// Any other answer: its JSON, indented.
fn generic(value: &serde_json::Value) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    format!("<pre>{}</pre>", escape(&text))
}

fn owners(o: &[crate::exporter::actions::ports::Owner]) -> String {
    if o.is_empty() {
        return "?".into();
    }
    o.iter()
        .map(|o| format!("{} ({})", o.comm, o.pid))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `/ports`: one line per listening socket.
pub fn ports(list: &[Listener]) -> String {
    if list.is_empty() {
        return "Nothing listens.".into();
    }
    let mut sorted: Vec<&Listener> = list.iter().collect();
    sorted.sort_by_key(|l| (l.port, l.address));
    let lines: Vec<String> = sorted
        .iter()
        .map(|l| {
            let proto = serde_json::to_value(l.protocol)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let addr = std::net::SocketAddr::new(l.address, l.port);
            format!("{proto:<4}{addr:<24}{}", owners(&l.owners))
        })
        .collect();
    format!("<pre>{}</pre>", escape(&lines.join("\n")))
}

/// `/top`: the first few by CPU and by memory.
pub fn top(t: &Top) -> String {
    let line = |p: &crate::exporter::actions::top::Process| {
        format!(
            "{:>6.1}%  {:>9}  {} ({})",
            p.cpu_percent,
            bytes(p.resident_bytes),
            p.comm,
            p.pid
        )
    };
    let list = |v: &[crate::exporter::actions::top::Process]| {
        v.iter()
            .take(TOP_SHOWN)
            .map(line)
            .collect::<Vec<_>>()
            .join("\n")
    };
    format!(
        "By CPU (over {:.1} s):\n<pre>{}</pre>\nBy memory:\n<pre>{}</pre>",
        t.sample_seconds,
        escape(&list(&t.by_cpu)),
        escape(&list(&t.by_memory))
    )
}

/// A custom action's exit and output.
pub fn run_result(r: &RunResult) -> String {
    let mut out = match (r.timed_out, r.exit_code) {
        (true, _) => format!("⏱ timed out after {} ms", r.duration_ms),
        (false, Some(c)) => format!("exit code {c} in {} ms", r.duration_ms),
        (false, None) => format!("killed by a signal after {} ms", r.duration_ms),
    };
    for (name, text, cut) in [
        ("stdout", &r.stdout, r.stdout_truncated),
        ("stderr", &r.stderr, r.stderr_truncated),
    ] {
        if !text.is_empty() {
            let cut = if cut { " (cut)" } else { "" };
            out.push_str(&format!(
                "\n{name}{cut}:\n<pre>{}</pre>",
                escape(text.trim_end())
            ));
        }
    }
    out
}

/// A broadcast's reply: counts, then each failure by agent.
pub fn summary(action: &str, results: &[(String, Result<Answer, ActionError>)]) -> String {
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(a, r)| {
            r.as_ref()
                .err()
                .map(|e| format!("• <b>{}</b>: {}", escape(a), escape(&e.to_string())))
        })
        .collect();
    let ok: Vec<String> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(a, _)| escape(a))
        .collect();
    let mut text = format!(
        "📣 <code>{}</code> on {} agents: {} ok, {} failed",
        escape(action),
        results.len(),
        ok.len(),
        failed.len()
    );
    if !ok.is_empty() {
        text.push_str(&format!("\nOK: {}", ok.join(", ")));
    }
    if !failed.is_empty() {
        text.push_str(&format!("\nFailed:\n{}", failed.join("\n")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::actions::Endpoint;
    use std::time::Duration;

    fn agent(name: &str, at: &str) -> Agent {
        Agent {
            name: name.into(),
            address: "h:9100".into(),
            actions: Some(Endpoint {
                address: at.into(),
                cert_sha256: [0; 32],
            }),
        }
    }

    #[test]
    fn the_confirm_text_shows_action_arguments_and_hosts_escaped() {
        let plan = Plan {
            targets: vec![agent("web1", "10.0.0.5:9110"), agent("db<1>", "db:9110")],
            action: "docker.restart".into(),
            args: [("container".to_string(), serde_json::json!("app<x>"))].into(),
            broadcast: true,
        };
        assert_eq!(
            will_run(&plan),
            "⚠️ This will run <code>docker.restart</code> with <code>container=&quot;app&lt;x&gt;&quot;</code> on 2 hosts:\n\
             • <b>web1</b> (10.0.0.5:9110)\n• <b>db&lt;1&gt;</b> (db:9110)"
        );
    }

    #[test]
    fn ports_and_custom_results_render_as_escaped_text() {
        let l: Vec<Listener> = serde_json::from_str(
            r#"[{"protocol":"udp","address":"::","port":53,"inode":1,"owners":[]},
                {"protocol":"tcp","address":"127.0.0.1","port":8080,"inode":2,"owners":[{"pid":812,"comm":"py<thon>"}]}]"#,
        )
        .unwrap();
        assert_eq!(
            ports(&l),
            "<pre>udp [::]:53                 ?\ntcp 127.0.0.1:8080          py&lt;thon&gt; (812)</pre>"
        );
        let r = RunResult {
            exit_code: Some(1),
            timed_out: false,
            stdout: "a & b\n".into(),
            stderr: String::new(),
            stdout_truncated: true,
            stderr_truncated: false,
            duration_ms: 7,
        };
        assert_eq!(
            run_result(&r),
            "exit code 1 in 7 ms\nstdout (cut):\n<pre>a &amp; b</pre>"
        );
    }

    #[test]
    fn a_broadcast_summary_lists_each_failure() {
        let ok = Answer {
            value: serde_json::json!([]),
            duration: Duration::from_millis(3),
        };
        let results = vec![
            ("web1".to_string(), Ok(ok)),
            (
                "web2".to_string(),
                Err(ActionError::Refused {
                    agent: "web2".into(),
                    status: 403,
                    error: "not_allowed".into(),
                    reason: "action not enabled on this agent".into(),
                }),
            ),
        ];
        assert_eq!(
            summary("ports", &results),
            "📣 <code>ports</code> on 2 agents: 1 ok, 1 failed\nOK: web1\nFailed:\n\
             • <b>web2</b>: agent web2 refused (403 not_allowed): action not enabled on this agent"
        );
    }
}
