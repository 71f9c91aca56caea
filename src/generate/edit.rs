//! A pure editor of `agents.txt`: adds or removes an agent line, sets or
//! resets one per-agent threshold key, adds or removes a `check` line, and
//! leaves every other byte (comments, blank lines, order, spacing, line
//! endings) as it was. The chat's config commands use it; the file is read
//! and written elsewhere ([`super::apply`]).
//!
//! Every edit is checked twice: first for the mistakes a person makes
//! (a duplicate name, an address already used, an unknown agent, a value out
//! of range, a metric not in [`Threshold::ALL`]), each a typed
//! [`EditError`]; then the new text is parsed again with
//! [`inventory::parse`] and must equal the inventory the edit intends, so
//! what is written is exactly what `outpost generate` will read.
//!
//! Decisions:
//! - New lines go at the end of the file (agents and checks alike): the
//!   order of existing lines is the user's, and appending never moves one.
//! - A word containing `#` is refused: it would turn the rest of the line
//!   into a comment.
//! - An agent that a check probes from cannot be removed (remove the check
//!   first); an address is "already used" when another agent has the same
//!   exporter address, or another check the same target from the same agent.
//! - A threshold value is written as given (`95`, `12h`) after
//!   [`inventory::parse_threshold`] accepted it; `default` removes the key.

use std::fmt;

use super::inventory::{self, Address, Inventory, ParseError, Problem, CHECK_KEYWORD};
use crate::alerts::Threshold;

/// One change to `agents.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// `NAME HOST:PORT [KEY=VALUE ...]` appended.
    AddAgent {
        name: String,
        address: String,
        labels: Vec<String>,
    },
    RemoveAgent {
        name: String,
    },
    /// `value: None` resets the threshold to the generator's default.
    SetThreshold {
        agent: String,
        threshold: Threshold,
        value: Option<String>,
    },
    /// `check NAME HOST:PORT from AGENT [failures=N]` appended
    /// (`failures` as written, checked by [`inventory::parse_failures`];
    /// `None` is the generator's default).
    AddCheck {
        name: String,
        target: String,
        from: String,
        failures: Option<String>,
    },
    RemoveCheck {
        name: String,
    },
}

impl fmt::Display for Edit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Edit::AddAgent { name, address, .. } => write!(f, "add agent {name} ({address})"),
            Edit::RemoveAgent { name } => write!(f, "remove agent {name}"),
            Edit::SetThreshold {
                agent,
                threshold,
                value,
            } => write!(
                f,
                "set {} of {agent} to {}",
                threshold.key(),
                value.as_deref().unwrap_or("default")
            ),
            Edit::AddCheck {
                name,
                target,
                from,
                failures,
            } => {
                write!(f, "add check {name} ({target} from {from}")?;
                match failures {
                    Some(n) => write!(f, ", failures={n})"),
                    None => f.write_str(")"),
                }
            }
            Edit::RemoveCheck { name } => write!(f, "remove check {name}"),
        }
    }
}

/// Why an edit is refused. Nothing is changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The file as it is does not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("an agent called {0:?} already exists")]
    DuplicateAgent(String),
    #[error("a check called {0:?} already exists")]
    DuplicateCheck(String),
    #[error("address {address} is already used by {by}")]
    AddressInUse { address: String, by: String },
    #[error("unknown agent {0:?}")]
    UnknownAgent(String),
    #[error("unknown check {0:?}")]
    UnknownCheck(String),
    #[error("agent {agent:?} probes the checks {checks}; remove them first")]
    AgentInUse { agent: String, checks: String },
    #[error("{0:?} contains `#`, which would start a comment")]
    Comment(String),
    /// A name, address, label or value that agents.txt does not accept.
    #[error("{0}")]
    Invalid(Problem),
    #[error("{key} of {agent:?} is already {value}")]
    Unchanged {
        agent: String,
        key: String,
        value: String,
    },
}

/// The result of an edit: the new text, what it parses to, and the line it
/// changed (before and after), for the diff and the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct Edited {
    pub text: String,
    pub inventory: Inventory,
    /// 1-based line number of the changed line (in the old text for a
    /// removal, in the new text otherwise).
    pub line: usize,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl Edited {
    /// A unified-diff-like view of the change: `-` the old line, `+` the new.
    pub fn diff(&self, file: &str) -> String {
        let mut out = format!("--- {file}\n+++ {file}\n@@ line {} @@\n", self.line);
        if let Some(b) = &self.before {
            out.push_str(&format!("-{b}\n"));
        }
        if let Some(a) = &self.after {
            out.push_str(&format!("+{a}\n"));
        }
        out
    }

    /// Old and new values for the audit log.
    pub fn audit_note(&self) -> String {
        let show = |l: &Option<String>| match l {
            Some(l) => format!("{l:?}"),
            None => "none".to_string(),
        };
        format!("old {} new {}", show(&self.before), show(&self.after))
    }
}

/// Applies `edit` to the text of an agents file (`file` names it in errors).
pub fn apply(file: &str, text: &str, edit: &Edit) -> Result<Edited, EditError> {
    let inv = inventory::parse(file, text)?;
    let lines = Lines::split(text);
    let (new_text, line, before, after, want) = match edit {
        Edit::AddAgent {
            name,
            address,
            labels,
        } => {
            for w in std::iter::once(name)
                .chain(std::iter::once(address))
                .chain(labels)
            {
                no_comment(w)?;
            }
            if inv.agent(name).is_some() {
                return Err(EditError::DuplicateAgent(name.clone()));
            }
            let addr = inventory::parse_address(address).map_err(EditError::Invalid)?;
            if let Some(a) = inv.agents.iter().find(|a| a.address == addr) {
                return Err(EditError::AddressInUse {
                    address: addr.to_string(),
                    by: format!("agent {}", a.name),
                });
            }
            let mut words = vec![name.clone(), address.clone()];
            words.extend(labels.iter().cloned());
            let new_line = words.join(" ");
            let want = parse_line(&new_line)?;
            let mut intended = inv.clone();
            intended.agents.extend(want.agents);
            let (t, n) = lines.append(&new_line);
            (t, n, None, Some(new_line), intended)
        }
        Edit::RemoveAgent { name } => {
            let idx = lines
                .agent(name)
                .ok_or_else(|| EditError::UnknownAgent(name.clone()))?;
            let users: Vec<&str> = inv
                .checks
                .iter()
                .filter(|c| &c.from == name)
                .map(|c| c.name.as_str())
                .collect();
            if !users.is_empty() {
                return Err(EditError::AgentInUse {
                    agent: name.clone(),
                    checks: users.join(", "),
                });
            }
            let mut intended = inv.clone();
            intended.agents.retain(|a| &a.name != name);
            let before = lines.content(idx);
            (lines.without(idx), idx + 1, Some(before), None, intended)
        }
        Edit::SetThreshold {
            agent,
            threshold,
            value,
        } => {
            let idx = lines
                .agent(agent)
                .ok_or_else(|| EditError::UnknownAgent(agent.clone()))?;
            let key = threshold.key();
            let mut intended = inv.clone();
            let entry = intended
                .agents
                .iter_mut()
                .find(|a| &a.name == agent)
                .expect("the line names a parsed agent");
            let old = entry.thresholds.get(threshold).copied();
            match value {
                Some(v) => {
                    no_comment(v)?;
                    let parsed =
                        inventory::parse_threshold(*threshold, v).map_err(EditError::Invalid)?;
                    if old == Some(parsed) {
                        return Err(unchanged(agent, key, v));
                    }
                    entry.thresholds.insert(*threshold, parsed);
                }
                None => {
                    if old.is_none() {
                        return Err(unchanged(agent, key, "the default"));
                    }
                    entry.thresholds.remove(threshold);
                }
            }
            let before = lines.content(idx);
            let new_line = set_key(lines.raw(idx), key, value.as_deref());
            let after = Lines::split(&new_line).content(0);
            (
                lines.replaced(idx, &new_line),
                idx + 1,
                Some(before),
                Some(after),
                intended,
            )
        }
        Edit::AddCheck {
            name,
            target,
            from,
            failures,
        } => {
            for w in [name, target, from] {
                no_comment(w)?;
            }
            // A number from 1 to 1000 (so no `#` either), as agents.txt takes it.
            if let Some(n) = failures {
                inventory::parse_failures(n).map_err(EditError::Invalid)?;
            }
            if inv.checks.iter().any(|c| &c.name == name) {
                return Err(EditError::DuplicateCheck(name.clone()));
            }
            if inv.agent(from).is_none() {
                return Err(EditError::UnknownAgent(from.clone()));
            }
            let addr = inventory::parse_address(target).map_err(EditError::Invalid)?;
            if let Some(c) = inv
                .checks
                .iter()
                .find(|c| c.target == addr && &c.from == from)
            {
                return Err(EditError::AddressInUse {
                    address: addr.to_string(),
                    by: format!("check {} from {from}", c.name),
                });
            }
            let mut new_line = format!("{CHECK_KEYWORD} {name} {target} from {from}");
            if let Some(n) = failures {
                new_line.push_str(&format!(" failures={n}"));
            }
            // The check's agent is in the file; parse the line with it.
            let probe = format!("{from} {}\n{new_line}\n", placeholder(&inv, from));
            let mut intended = inv.clone();
            intended.checks.extend(parse_line(&probe)?.checks);
            let (t, n) = lines.append(&new_line);
            (t, n, None, Some(new_line), intended)
        }
        Edit::RemoveCheck { name } => {
            let idx = lines
                .check(name)
                .ok_or_else(|| EditError::UnknownCheck(name.clone()))?;
            let mut intended = inv.clone();
            intended.checks.retain(|c| &c.name != name);
            let before = lines.content(idx);
            (lines.without(idx), idx + 1, Some(before), None, intended)
        }
    };
    // The new text must parse to exactly the intended inventory.
    let inventory = inventory::parse(file, &new_text)?;
    if inventory != want {
        return Err(EditError::Invalid(Problem::Syntax(format!(
            "{edit} would change more than intended"
        ))));
    }
    Ok(Edited {
        text: new_text,
        inventory,
        line,
        before,
        after,
    })
}

fn unchanged(agent: &str, key: &str, value: &str) -> EditError {
    EditError::Unchanged {
        agent: agent.to_string(),
        key: key.to_string(),
        value: value.to_string(),
    }
}

fn no_comment(word: &str) -> Result<(), EditError> {
    if word.contains('#') || word.chars().any(char::is_whitespace) || word.is_empty() {
        return Err(EditError::Comment(word.to_string()));
    }
    Ok(())
}

/// The address of agent `name`, to parse a check line on its own.
fn placeholder(inv: &Inventory, name: &str) -> Address {
    inv.agent(name).expect("checked").address.clone()
}

/// Parses one new line (plus what it needs) the way the file will be, so
/// a bad name, label or value is the inventory parser's own problem.
fn parse_line(text: &str) -> Result<Inventory, EditError> {
    inventory::parse("new line", text).map_err(|e| EditError::Invalid(e.problem))
}

/// The text as lines, each with its own line ending (`\n`, `\r\n` or none).
struct Lines<'a> {
    text: &'a str,
    lines: Vec<&'a str>,
}

impl<'a> Lines<'a> {
    fn split(text: &'a str) -> Self {
        Lines {
            text,
            lines: text.split_inclusive('\n').collect(),
        }
    }

    /// The line without its ending.
    fn raw(&self, idx: usize) -> &'a str {
        self.lines[idx].trim_end_matches(['\n', '\r'])
    }

    /// The line without its ending, as an owned string.
    fn content(&self, idx: usize) -> String {
        self.raw(idx).to_string()
    }

    fn words(&self, idx: usize) -> Vec<&'a str> {
        self.raw(idx)
            .split('#')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect()
    }

    fn agent(&self, name: &str) -> Option<usize> {
        (0..self.lines.len()).find(|&i| {
            let w = self.words(i);
            w.first().is_some_and(|f| *f == name && *f != CHECK_KEYWORD)
        })
    }

    fn check(&self, name: &str) -> Option<usize> {
        (0..self.lines.len()).find(|&i| {
            let w = self.words(i);
            w.len() > 1 && w[0] == CHECK_KEYWORD && w[1] == name
        })
    }

    /// The line ending this file uses.
    fn ending(&self) -> &'static str {
        if self.text.contains("\r\n") {
            "\r\n"
        } else {
            "\n"
        }
    }

    /// The text with `line` appended, and its 1-based line number.
    fn append(&self, line: &str) -> (String, usize) {
        let mut out = self.text.to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push_str(self.ending());
        }
        out.push_str(line);
        out.push_str(self.ending());
        (out, self.lines.len() + 1)
    }

    fn without(&self, idx: usize) -> String {
        let mut out = String::with_capacity(self.text.len());
        for (i, l) in self.lines.iter().enumerate() {
            if i != idx {
                out.push_str(l);
            }
        }
        out
    }

    /// The text with line `idx` replaced by `line` (its ending kept).
    fn replaced(&self, idx: usize, line: &str) -> String {
        let mut out = String::with_capacity(self.text.len() + line.len());
        for (i, l) in self.lines.iter().enumerate() {
            if i == idx {
                out.push_str(line);
                out.push_str(&l[self.raw(i).len()..]);
            } else {
                out.push_str(l);
            }
        }
        out
    }
}

/// `line` with the word `KEY=…` replaced by `KEY=value`, added after the
/// last word (before any comment) or, with `None`, removed together with
/// the blanks before it. Everything else on the line stays as it was.
fn set_key(line: &str, key: &str, value: Option<&str>) -> String {
    let content_end = line.find('#').unwrap_or(line.len());
    let content = &line[..content_end];
    let prefix = format!("{key}=");
    // Byte spans of the words in the content.
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in content.char_indices() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, content.len()));
    }
    let found = spans
        .iter()
        .copied()
        .find(|&(s, e)| content[s..e].starts_with(&prefix));
    match (found, value) {
        (Some((s, e)), Some(v)) => format!("{}{prefix}{v}{}", &line[..s], &line[e..]),
        (Some((s, e)), None) => {
            let cut = line[..s].trim_end_matches([' ', '\t']).len();
            format!("{}{}", &line[..cut], &line[e..])
        }
        (None, Some(v)) => {
            let end = spans.last().map_or(0, |&(_, e)| e);
            format!("{} {prefix}{v}{}", &line[..end], &line[end..])
        }
        (None, None) => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# fleet\n\nweb1  10.0.0.5:9100   env=prod   # front\n\n# databases\ndb1 db1.example.com:9100 cpu_threshold=90\ncheck pg 10.0.0.6:5432 from web1\n";

    fn edit(e: Edit) -> Result<Edited, EditError> {
        apply("agents.txt", FILE, &e)
    }

    fn s(x: &str) -> String {
        x.to_string()
    }

    #[test]
    fn add_agent_appends_and_round_trips() {
        let e = edit(Edit::AddAgent {
            name: s("web2"),
            address: s("10.0.0.7:9100"),
            labels: vec![s("env=staging")],
        })
        .unwrap();
        assert_eq!(e.text, format!("{FILE}web2 10.0.0.7:9100 env=staging\n"));
        assert_eq!(e.line, 8);
        let mut want = inventory::parse("x", FILE).unwrap();
        want.agents.push(
            inventory::parse("x", "web2 10.0.0.7:9100 env=staging")
                .unwrap()
                .agents
                .remove(0),
        );
        assert_eq!(inventory::parse("agents.txt", &e.text).unwrap(), want);
        assert_eq!(e.inventory, want);
        assert!(e
            .diff("agents.txt")
            .contains("\n+web2 10.0.0.7:9100 env=staging\n"));
        // A file without a final newline, and one with CRLF endings.
        let e = apply(
            "a",
            "web1 h:1",
            &Edit::AddAgent {
                name: s("web2"),
                address: s("h:2"),
                labels: vec![],
            },
        )
        .unwrap();
        assert_eq!(e.text, "web1 h:1\nweb2 h:2\n");
        let e = apply(
            "a",
            "# x\r\nweb1 h:1\r\n",
            &Edit::RemoveAgent { name: s("web1") },
        )
        .unwrap();
        assert_eq!(e.text, "# x\r\n");
    }

    #[test]
    fn remove_agent_and_checks_keep_everything_else() {
        let e = edit(Edit::RemoveCheck { name: s("pg") }).unwrap();
        assert_eq!(
            e.text,
            FILE.replace("check pg 10.0.0.6:5432 from web1\n", "")
        );
        assert_eq!(
            e.before.as_deref(),
            Some("check pg 10.0.0.6:5432 from web1")
        );
        let e2 = apply(
            "agents.txt",
            &e.text,
            &Edit::RemoveAgent { name: s("web1") },
        )
        .unwrap();
        assert_eq!(
            e2.text,
            "# fleet\n\n\n# databases\ndb1 db1.example.com:9100 cpu_threshold=90\n"
        );
        assert_eq!(e2.inventory.agents.len(), 1);
        let e = edit(Edit::AddCheck {
            name: s("ssh"),
            target: s("[::1]:22"),
            from: s("db1"),
            failures: None,
        })
        .unwrap();
        assert!(e.text.ends_with("\ncheck ssh [::1]:22 from db1\n"));
        assert_eq!(inventory::parse("a", &e.text).unwrap(), e.inventory);
        assert_eq!(e.inventory.checks[1].from, "db1");
        assert_eq!(e.inventory.checks[1].failures, inventory::DEFAULT_FAILURES);
    }

    #[test]
    fn a_check_takes_failures_checked_like_agents_txt() {
        let e = edit(Edit::AddCheck {
            name: s("ssh"),
            target: s("[::1]:22"),
            from: s("db1"),
            failures: Some(s("5")),
        })
        .unwrap();
        assert!(e
            .text
            .ends_with("\ncheck ssh [::1]:22 from db1 failures=5\n"));
        assert!(
            e.diff("agents.txt")
                .contains("+check ssh [::1]:22 from db1 failures=5"),
            "{}",
            e.diff("agents.txt")
        );
        assert_eq!(e.inventory.checks[1].failures, 5);
        // The generator gives it its own TcpTargetDown: firing on the 5th
        // failed probe in a row, after 4 scrape intervals.
        let settings = crate::generate::settings::Settings::default();
        let rule = crate::generate::rules::alerts(&e.inventory, &settings)
            .into_iter()
            .find(|a| a.name == "TcpTargetDown" && a.extra_labels["failures"] == "5")
            .expect("a TcpTargetDown rule for failures=5");
        assert_eq!(rule.for_, settings.scrape_interval * 4);
        assert!(rule.expr.contains("failures=\"5\""), "{}", rule.expr);
        assert_eq!(
            Edit::AddCheck {
                name: s("ssh"),
                target: s("h:22"),
                from: s("db1"),
                failures: Some(s("5")),
            }
            .to_string(),
            "add check ssh (h:22 from db1, failures=5)"
        );
        // A bad value: the inventory's own error, nothing written.
        for bad in ["0", "1001", "x", "-1", ""] {
            let err = edit(Edit::AddCheck {
                name: s("ssh"),
                target: s("[::1]:22"),
                from: s("db1"),
                failures: Some(s(bad)),
            })
            .unwrap_err();
            assert_eq!(err, EditError::Invalid(Problem::BadFailures(s(bad))));
            assert_eq!(
                err.to_string(),
                format!("invalid failures {bad:?}: use a whole number from 1 to 1000")
            );
        }
    }

    #[test]
    fn thresholds_are_set_replaced_and_reset_in_place() {
        let e = edit(Edit::SetThreshold {
            agent: s("web1"),
            threshold: Threshold::Cpu,
            value: Some(s("95")),
        })
        .unwrap();
        assert_eq!(
            e.text,
            FILE.replace(
                "web1  10.0.0.5:9100   env=prod   # front",
                "web1  10.0.0.5:9100   env=prod cpu_threshold=95   # front"
            )
        );
        assert_eq!(e.inventory.agents[0].thresholds[&Threshold::Cpu], 95.0);
        assert_eq!(e.audit_note(), "old \"web1  10.0.0.5:9100   env=prod   # front\" new \"web1  10.0.0.5:9100   env=prod cpu_threshold=95   # front\"");
        let e = edit(Edit::SetThreshold {
            agent: s("db1"),
            threshold: Threshold::Cpu,
            value: Some(s("70")),
        })
        .unwrap();
        assert!(e
            .text
            .contains("\ndb1 db1.example.com:9100 cpu_threshold=70\n"));
        let e = edit(Edit::SetThreshold {
            agent: s("db1"),
            threshold: Threshold::Cpu,
            value: None,
        })
        .unwrap();
        assert!(e.text.contains("\ndb1 db1.example.com:9100\n"));
        assert!(e.inventory.agents[1].thresholds.is_empty());
        let e = edit(Edit::SetThreshold {
            agent: s("db1"),
            threshold: Threshold::DiskFill,
            value: Some(s("12h")),
        })
        .unwrap();
        assert_eq!(
            e.inventory.agents[1].thresholds[&Threshold::DiskFill],
            43200.0
        );
        assert_eq!(inventory::parse("a", &e.text).unwrap(), e.inventory);
    }

    #[test]
    fn mistakes_are_typed_errors() {
        let add = |name: &str, addr: &str, labels: &[&str]| {
            edit(Edit::AddAgent {
                name: s(name),
                address: s(addr),
                labels: labels.iter().map(|l| s(l)).collect(),
            })
            .unwrap_err()
        };
        assert_eq!(
            add("web1", "h:1", &[]),
            EditError::DuplicateAgent(s("web1"))
        );
        assert_eq!(
            add("web9", "DB1.example.com:9100", &[]),
            EditError::AddressInUse {
                address: s("db1.example.com:9100"),
                by: s("agent db1")
            }
        );
        assert!(matches!(
            add("web9", "h:70000", &[]),
            EditError::Invalid(Problem::PortOutOfRange { .. })
        ));
        assert!(matches!(
            add("we\"b", "h:1", &[]),
            EditError::Invalid(Problem::BadName(_))
        ));
        assert!(matches!(
            add("check", "h:1", &[]),
            EditError::Invalid(Problem::ReservedName)
        ));
        assert!(matches!(
            add("web9", "h:1", &["job=x"]),
            EditError::Invalid(Problem::ReservedLabel(_))
        ));
        assert!(matches!(
            add("web9", "h:1", &["cpu_threshold=101"]),
            EditError::Invalid(Problem::BadThreshold { .. })
        ));
        assert_eq!(
            add("web9", "h:1", &["env=a#b"]),
            EditError::Comment(s("env=a#b"))
        );
        let set = |agent: &str, t: Threshold, v: Option<&str>| {
            edit(Edit::SetThreshold {
                agent: s(agent),
                threshold: t,
                value: v.map(s),
            })
            .unwrap_err()
        };
        assert_eq!(
            set("web9", Threshold::Cpu, Some("90")),
            EditError::UnknownAgent(s("web9"))
        );
        for (t, v) in [
            (Threshold::Cpu, "101"),
            (Threshold::Cpu, "0"),
            (Threshold::Load, "-1"),
            (Threshold::Cpu, "x"),
            (Threshold::DiskFill, "12"),
            (Threshold::DiskFill, "90d"),
        ] {
            assert!(
                matches!(
                    set("web1", t, Some(v)),
                    EditError::Invalid(Problem::BadThreshold { .. })
                ),
                "{v}"
            );
        }
        assert!(matches!(
            set("db1", Threshold::Cpu, Some("90")),
            EditError::Unchanged { .. }
        ));
        assert!(matches!(
            set("web1", Threshold::Cpu, None),
            EditError::Unchanged { .. }
        ));
        assert_eq!(
            edit(Edit::RemoveAgent { name: s("web1") }).unwrap_err(),
            EditError::AgentInUse {
                agent: s("web1"),
                checks: s("pg")
            }
        );
        assert_eq!(
            edit(Edit::RemoveCheck { name: s("nope") }).unwrap_err(),
            EditError::UnknownCheck(s("nope"))
        );
        let check = |name: &str, target: &str, from: &str| {
            edit(Edit::AddCheck {
                name: s(name),
                target: s(target),
                from: s(from),
                failures: None,
            })
            .unwrap_err()
        };
        assert_eq!(
            check("pg", "h:1", "web1"),
            EditError::DuplicateCheck(s("pg"))
        );
        assert_eq!(
            check("x", "h:1", "web9"),
            EditError::UnknownAgent(s("web9"))
        );
        assert!(matches!(
            check("pg2", "10.0.0.6:5432", "web1"),
            EditError::AddressInUse { .. }
        ));
        // A broken file is reported with its line.
        let e = apply("agents.txt", "web1\n", &Edit::RemoveCheck { name: s("x") }).unwrap_err();
        assert!(e.to_string().starts_with("agents.txt:1:"), "{e}");
    }
}
