//! The inventory: parsing `agents.txt` into agents (with labels) and TCP
//! checks, with errors that name the file, line and problem.
//!
//! Format (one entry per line; `#` starts a comment, blank lines are ignored):
//!
//! ```text
//! NAME HOST:PORT [KEY=VALUE ...]                         an agent; KEY=VALUE are thresholds, its actions listener or extra labels
//! check NAME HOST:PORT from AGENT [failures=N]           a TCP check probed by AGENT's exporter
//! ```
//!
//! A `KEY` of [`crate::alerts::Threshold`] (`cpu_threshold=95`,
//! `disk_fill_within=12h`) overrides that threshold for the agent.
//! `actions=HOST:PORT` says the agent serves signed actions there (its
//! `--actions.listen-address`, over TLS), and `actions_sha256=HEX` pins
//! that listener's certificate ([`crate::pin`]; `outpost actions
//! fingerprint CERT.pem` prints it): both or neither, so the bridge never
//! talks to an unpinned host ([`ActionsEndpoint`]). Any other key is a
//! label.
//!
//! Decisions:
//! - Thresholds and labels share the `KEY=VALUE` form, so a misspelt
//!   threshold would silently become a label. A key that looks like a
//!   threshold (it contains `threshold`, ends in `_within`, or is at most
//!   two edits away from a threshold key) but is none is an error instead.
//!
//! `check` is a reserved word: a line whose first word is `check` is always a
//! check, and no agent may be called `check`, so the two forms never overlap.
//! Hosts are hostnames, IPv4 addresses or bracketed IPv6 addresses
//! (`[2001:db8::1]:9100`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::alerts::{Threshold, Unit};

/// The word that starts a TCP check line.
pub const CHECK_KEYWORD: &str = "check";
/// Failure threshold of a check that names none.
pub const DEFAULT_FAILURES: u32 = 3;
/// Labels Outpost sets itself; an agent line may not set them.
pub const RESERVED_LABELS: &[&str] = &["agent", "instance", "job", "check", "failures", "shard"];

/// A parsed `agents.txt`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Inventory {
    /// Agents in file order.
    pub agents: Vec<Agent>,
    /// TCP checks in file order.
    pub checks: Vec<Check>,
}

/// One monitored host running `outpost exporter` (or node_exporter).
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub name: String,
    pub address: Address,
    /// Extra labels (`env=prod`), sorted by key.
    pub labels: BTreeMap<String, String>,
    /// Threshold overrides, in the series' unit (percent, ratio, seconds).
    pub thresholds: BTreeMap<Threshold, f64>,
    /// Where it serves signed actions; `None`: it accepts none.
    pub actions: Option<ActionsEndpoint>,
}

/// An agent's actions listener (`actions=HOST:PORT`) and the SHA-256 of
/// the TLS certificate it must present (`actions_sha256=…`). The bridge
/// connects to `address` over TLS and accepts only a certificate whose
/// DER hashes to `cert_sha256` ([`crate::pin::CertSha256::matches`]),
/// whatever its issuer or names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionsEndpoint {
    pub address: Address,
    pub cert_sha256: crate::pin::CertSha256,
}

/// The key of an agent's actions address on its line.
pub const ACTIONS_KEY: &str = "actions";

/// A TCP reachability check probed from a vantage agent's `/probe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub target: Address,
    /// The agent whose exporter runs the probe.
    pub from: String,
    /// Consecutive failed probes before `TcpTargetDown` fires.
    pub failures: u32,
}

/// A `HOST:PORT` address as written, validated.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Address {
    pub host: Host,
    pub port: u16,
}

/// The host part of an address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Host {
    Name(String),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Name(n) => write!(f, "{n}:{}", self.port),
            Host::V4(ip) => write!(f, "{ip}:{}", self.port),
            Host::V6(ip) => write!(f, "[{ip}]:{}", self.port),
        }
    }
}

/// A problem in `agents.txt`, with the place it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {problem}")]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    pub problem: Problem,
}

/// What is wrong with one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("expected `NAME HOST:PORT [KEY=VALUE ...]` or `check NAME HOST:PORT from AGENT [failures=N]`, found {0:?}")]
    Syntax(String),
    #[error("invalid name {0:?}: use letters, digits, `_`, `.` and `-`, starting with a letter or digit")]
    BadName(String),
    #[error("`check` is reserved for TCP check lines and cannot name an agent")]
    ReservedName,
    #[error("duplicate agent name {name:?} (first defined on line {first_line})")]
    DuplicateAgent { name: String, first_line: usize },
    #[error("duplicate check name {name:?} (first defined on line {first_line})")]
    DuplicateCheck { name: String, first_line: usize },
    #[error("bad address {address:?}: {reason}")]
    BadAddress { address: String, reason: String },
    #[error("port out of range in {address:?}: {port} (use 1-65535)")]
    PortOutOfRange { address: String, port: String },
    #[error(
        "unknown agent {0:?} in check (agents must be listed in agents.txt; order does not matter)"
    )]
    UnknownAgent(String),
    #[error("unknown key {key:?} in check (known keys: failures)")]
    UnknownKey { key: String },
    #[error("invalid label {0:?}: expected KEY=VALUE with KEY like `env` ([a-zA-Z_][a-zA-Z0-9_]*, not starting with `__`) and a non-empty VALUE")]
    BadLabel(String),
    #[error("label {0:?} is set by Outpost itself and cannot be given in agents.txt")]
    ReservedLabel(String),
    #[error("key {0:?} given twice on one line")]
    DuplicateKey(String),
    #[error("invalid failures {0:?}: use a whole number from 1 to 1000")]
    BadFailures(String),
    #[error("actions={0} without actions_sha256=: the bridge only talks to a pinned listener; add the certificate's SHA-256 (`outpost actions fingerprint CERT.pem` prints it)")]
    UnpinnedActions(String),
    #[error("actions_sha256= without actions=HOST:PORT")]
    PinWithoutActions,
    #[error("invalid actions_sha256 {value:?}: {reason}")]
    BadPin { value: String, reason: String },
    #[error("unknown threshold {key:?} (known: {known})")]
    UnknownThreshold { key: String, known: String },
    #[error("invalid {key} {value:?}: {reason}")]
    BadThreshold {
        key: String,
        value: String,
        reason: &'static str,
    },
}

/// Parses the text of an agents file; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Inventory, ParseError> {
    let at = |line: usize, problem: Problem| ParseError {
        file: file.to_string(),
        line,
        problem,
    };
    let mut inv = Inventory::default();
    let mut agent_lines: BTreeMap<String, usize> = BTreeMap::new();
    let mut check_lines: BTreeMap<String, usize> = BTreeMap::new();
    // Checks are resolved after all agents are known, so order in the file
    // does not matter.
    let mut pending_from: Vec<(usize, usize)> = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line_no = idx + 1;
        let content = raw.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let words: Vec<&str> = content.split_whitespace().collect();
        if words[0] == CHECK_KEYWORD {
            let check = parse_check(&words).map_err(|p| at(line_no, p))?;
            if let Some(&first_line) = check_lines.get(&check.name) {
                return Err(at(
                    line_no,
                    Problem::DuplicateCheck {
                        name: check.name,
                        first_line,
                    },
                ));
            }
            check_lines.insert(check.name.clone(), line_no);
            pending_from.push((line_no, inv.checks.len()));
            inv.checks.push(check);
        } else {
            let agent = parse_agent(&words).map_err(|p| at(line_no, p))?;
            if let Some(&first_line) = agent_lines.get(&agent.name) {
                return Err(at(
                    line_no,
                    Problem::DuplicateAgent {
                        name: agent.name,
                        first_line,
                    },
                ));
            }
            agent_lines.insert(agent.name.clone(), line_no);
            inv.agents.push(agent);
        }
    }
    for (line_no, i) in pending_from {
        let from = &inv.checks[i].from;
        if !agent_lines.contains_key(from) {
            return Err(at(line_no, Problem::UnknownAgent(from.clone())));
        }
    }
    Ok(inv)
}

fn syntax(words: &[&str]) -> Problem {
    Problem::Syntax(words.join(" "))
}

fn parse_agent(words: &[&str]) -> Result<Agent, Problem> {
    if words.len() < 2 {
        return Err(syntax(words));
    }
    let name = parse_name(words[0])?;
    let address = parse_address(words[1])?;
    let mut labels = BTreeMap::new();
    let mut thresholds = BTreeMap::new();
    let (mut actions, mut pin) = (None, None);
    for word in &words[2..] {
        let (key, value) = word
            .split_once('=')
            .ok_or_else(|| Problem::BadLabel(word.to_string()))?;
        if key == ACTIONS_KEY {
            if actions.replace(parse_address(value)?).is_some() {
                return Err(Problem::DuplicateKey(key.to_string()));
            }
            continue;
        }
        if key == crate::pin::PIN_KEY {
            let p = value
                .parse::<crate::pin::CertSha256>()
                .map_err(|e| Problem::BadPin {
                    value: value.to_string(),
                    reason: e.to_string(),
                })?;
            if pin.replace(p).is_some() {
                return Err(Problem::DuplicateKey(key.to_string()));
            }
            continue;
        }
        if let Some(t) = Threshold::from_key(key) {
            if thresholds.insert(t, parse_threshold(t, value)?).is_some() {
                return Err(Problem::DuplicateKey(key.to_string()));
            }
            continue;
        }
        if looks_like_threshold(key) {
            return Err(Problem::UnknownThreshold {
                key: key.to_string(),
                known: Threshold::ALL.map(Threshold::key).join(", "),
            });
        }
        if !is_label_name(key) || value.is_empty() {
            return Err(Problem::BadLabel(word.to_string()));
        }
        if RESERVED_LABELS.contains(&key) {
            return Err(Problem::ReservedLabel(key.to_string()));
        }
        if labels.insert(key.to_string(), value.to_string()).is_some() {
            return Err(Problem::DuplicateKey(key.to_string()));
        }
    }
    let actions = match (actions, pin) {
        (Some(address), Some(cert_sha256)) => Some(ActionsEndpoint {
            address,
            cert_sha256,
        }),
        (Some(address), None) => return Err(Problem::UnpinnedActions(address.to_string())),
        (None, Some(_)) => return Err(Problem::PinWithoutActions),
        (None, None) => None,
    };
    Ok(Agent {
        name,
        address,
        labels,
        thresholds,
        actions,
    })
}

/// A threshold value in its series' unit: percent (0 < v ≤ 100), a
/// positive ratio, or a duration with a unit (`12h`) as seconds.
pub fn parse_threshold(t: Threshold, value: &str) -> Result<f64, Problem> {
    let bad = |reason| Problem::BadThreshold {
        key: t.key().to_string(),
        value: value.to_string(),
        reason,
    };
    match t.unit() {
        Unit::Duration => {
            if value.is_empty() || value.chars().all(|c| c.is_ascii_digit() || c == '.') {
                return Err(bad("use a duration with a unit, e.g. 12h or 90m"));
            }
            let d = crate::units::parse_duration(value)
                .map_err(|_| bad("use a duration with a unit, e.g. 12h or 90m"))?;
            if d.as_secs() < 60 || d.as_secs() > 30 * 86400 {
                return Err(bad("use a duration from 1m to 30d"));
            }
            Ok(d.as_secs() as f64)
        }
        unit => {
            let v: f64 = value
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| bad("not a number"))?;
            if v <= 0.0 {
                return Err(bad("must be more than 0"));
            }
            if unit == Unit::Percent && v > 100.0 {
                return Err(bad("a percentage cannot be above 100"));
            }
            Ok(v)
        }
    }
}

/// A key that is meant as a threshold but is none (see the module docs).
fn looks_like_threshold(key: &str) -> bool {
    key.contains("threshold")
        || key.ends_with("_within")
        || Threshold::ALL
            .iter()
            .any(|t| edit_distance(key, t.key()) <= 2)
}

/// Levenshtein distance, for catching misspelt threshold keys.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn parse_check(words: &[&str]) -> Result<Check, Problem> {
    // check NAME HOST:PORT from AGENT [failures=N]
    if words.len() == 2 {
        // `check HOST:PORT`: an agent called `check`.
        return Err(Problem::ReservedName);
    }
    if words.len() < 5 || words[3] != "from" {
        return Err(syntax(words));
    }
    let name = parse_name(words[1])?;
    let target = parse_address(words[2])?;
    let from = parse_name(words[4])?;
    let mut failures = None;
    for word in &words[5..] {
        let Some((key, value)) = word.split_once('=') else {
            return Err(syntax(words));
        };
        match key {
            "failures" => {
                if failures.is_some() {
                    return Err(Problem::DuplicateKey(key.to_string()));
                }
                failures = Some(parse_failures(value)?);
            }
            _ => {
                return Err(Problem::UnknownKey {
                    key: key.to_string(),
                })
            }
        }
    }
    Ok(Check {
        name,
        target,
        from,
        failures: failures.unwrap_or(DEFAULT_FAILURES),
    })
}

/// A check's `failures=` value: consecutive failed probes before
/// `TcpTargetDown` fires, 1 to 1000.
pub fn parse_failures(value: &str) -> Result<u32, Problem> {
    value
        .parse()
        .ok()
        .filter(|n| (1..=1000).contains(n))
        .ok_or_else(|| Problem::BadFailures(value.to_string()))
}

fn parse_name(word: &str) -> Result<String, Problem> {
    if word == CHECK_KEYWORD {
        return Err(Problem::ReservedName);
    }
    let mut chars = word.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && word.len() <= 128;
    if ok {
        Ok(word.to_string())
    } else {
        Err(Problem::BadName(word.to_string()))
    }
}

/// A Prometheus label name that users may set (`__` prefix is internal).
fn is_label_name(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !key.starts_with("__")
}

/// Parses `host:port`, `ipv4:port` or `[ipv6]:port`.
pub fn parse_address(word: &str) -> Result<Address, Problem> {
    let bad = |reason: &str| Problem::BadAddress {
        address: word.to_string(),
        reason: reason.to_string(),
    };
    let (host_part, port_part) = if let Some(rest) = word.strip_prefix('[') {
        let (inside, after) = rest
            .split_once(']')
            .ok_or_else(|| bad("missing `]` after the IPv6 address"))?;
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| bad("expected `:PORT` after `]`"))?;
        let ip: Ipv6Addr = inside
            .parse()
            .map_err(|_| bad("not a valid IPv6 address inside `[...]`"))?;
        (Host::V6(ip), port)
    } else {
        let (host, port) = word
            .rsplit_once(':')
            .ok_or_else(|| bad("expected HOST:PORT"))?;
        if host.contains(':') {
            return Err(bad(
                "IPv6 addresses must be bracketed, e.g. [2001:db8::1]:9100",
            ));
        }
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        let host = if host.chars().all(|c| c.is_ascii_digit() || c == '.') {
            Host::V4(host.parse().map_err(|_| bad("not a valid IPv4 address"))?)
        } else if is_hostname(host) {
            Host::Name(host.to_ascii_lowercase())
        } else {
            return Err(bad("not a valid hostname"));
        };
        (host, port)
    };
    if port_part.is_empty() || !port_part.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad("the port must be a number"));
    }
    let port = port_part
        .parse::<u32>()
        .ok()
        .filter(|p| (1..=65535).contains(p))
        .ok_or_else(|| Problem::PortOutOfRange {
            address: word.to_string(),
            port: port_part.to_string(),
        })?;
    Ok(Address {
        host: host_part,
        port: port as u16,
    })
}

/// RFC 1123 hostname: dot-separated labels of letters, digits and `-`.
fn is_hostname(host: &str) -> bool {
    host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

impl Inventory {
    /// The agent called `name`.
    pub fn agent(&self, name: &str) -> Option<&Agent> {
        self.agents.iter().find(|a| a.name == name)
    }

    /// Names of agents that probe at least one check, sorted.
    pub fn vantage_agents(&self) -> BTreeSet<&str> {
        self.checks.iter().map(|c| c.from.as_str()).collect()
    }

    /// Every failure threshold in use, plus the default, sorted.
    pub fn failure_thresholds(&self) -> BTreeSet<u32> {
        let mut set: BTreeSet<u32> = self.checks.iter().map(|c| c.failures).collect();
        set.insert(DEFAULT_FAILURES);
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> (usize, Problem) {
        let err = parse("agents.txt", text).unwrap_err();
        (err.line, err.problem)
    }

    #[test]
    fn simplest_form_hostnames_ipv4_ipv6() {
        let inv = parse(
            "a.txt",
            "# comment\n\nweb1 10.0.0.5:9100\ndb.example.com:9100\n",
        );
        // `db.example.com:9100` alone is one word: a syntax error.
        assert!(matches!(inv.unwrap_err().problem, Problem::Syntax(_)));
        let inv = parse(
            "a.txt",
            "web1 10.0.0.5:9100 # trailing comment\ndb1 DB.example.com:9100\nv6 [2001:db8::1]:9100\n\tlocalhost   127.0.0.1:9100\n",
        )
        .unwrap();
        let addrs: Vec<String> = inv.agents.iter().map(|a| a.address.to_string()).collect();
        assert_eq!(
            addrs,
            [
                "10.0.0.5:9100",
                "db.example.com:9100",
                "[2001:db8::1]:9100",
                "127.0.0.1:9100"
            ]
        );
        assert_eq!(
            inv.agents[2].address.host,
            Host::V6("2001:db8::1".parse().unwrap())
        );
    }

    #[test]
    fn labels_and_checks() {
        let inv = parse(
            "a.txt",
            "check pg 10.0.0.6:5432 from web1 failures=5\nweb1 10.0.0.5:9100 env=prod role=web\ncheck ssh [::1]:22 from web1\n",
        )
        .unwrap();
        assert_eq!(inv.agents[0].labels["env"], "prod");
        assert!(inv.agents[0].thresholds.is_empty());
        assert_eq!(inv.agents[0].labels["role"], "web");
        assert_eq!(inv.checks[0].failures, 5);
        assert_eq!(inv.checks[1].failures, DEFAULT_FAILURES);
        assert_eq!(inv.checks[1].target.to_string(), "[::1]:22");
        assert_eq!(
            inv.failure_thresholds().into_iter().collect::<Vec<_>>(),
            [3, 5]
        );
    }

    #[test]
    fn an_actions_listener_with_its_pinned_certificate() {
        let pin = "0f".repeat(32);
        let openssl = vec!["0F"; 32].join(":");
        let inv = parse(
            "a.txt",
            &format!("web1 10.0.0.5:9100 env=prod actions=10.0.0.5:9110 actions_sha256={pin}\ndb1 [::1]:9100 actions_sha256={openssl} actions=[::1]:9110\nweb2 h:9100\n"),
        )
        .unwrap();
        let a = inv.agents[0].actions.as_ref().unwrap();
        assert_eq!(a.address.to_string(), "10.0.0.5:9110");
        assert_eq!(a.cert_sha256.to_string(), pin);
        assert_eq!(inv.agents[0].labels.len(), 1, "not labels");
        let b = inv.agents[1].actions.as_ref().unwrap();
        assert_eq!(b.address.to_string(), "[::1]:9110");
        assert_eq!(b.cert_sha256, a.cert_sha256);
        assert_eq!(inv.agents[2].actions, None);
    }

    #[test]
    fn thresholds_next_to_labels() {
        let inv = parse(
            "a.txt",
            "db1 10.0.0.6:9100 env=prod cpu_threshold=95 disk_threshold=80.5 disk_fill_within=12h load_threshold=4\n",
        )
        .unwrap();
        let a = &inv.agents[0];
        assert_eq!(a.labels.len(), 1);
        assert_eq!(a.thresholds[&Threshold::Cpu], 95.0);
        assert_eq!(a.thresholds[&Threshold::Disk], 80.5);
        assert_eq!(a.thresholds[&Threshold::DiskFill], 12.0 * 3600.0);
        assert_eq!(a.thresholds[&Threshold::Load], 4.0);
        // Labels far from any threshold key stay labels.
        assert_eq!(
            parse("a", "w h:1 disk=ssd").unwrap().agents[0].labels["disk"],
            "ssd"
        );
    }

    #[test]
    fn errors_name_the_line_and_problem() {
        assert!(matches!(
            problem("a 1.2.3.4:1\n\na 1.2.3.5:1\n"),
            (3, Problem::DuplicateAgent { first_line: 1, .. })
        ));
        assert!(matches!(
            problem("a 1.2.3.400:1"),
            (1, Problem::BadAddress { .. })
        ));
        assert!(matches!(
            problem("a 2001:db8::1:9100"),
            (1, Problem::BadAddress { .. })
        ));
        assert!(matches!(
            problem("a host_x:9100"),
            (1, Problem::BadAddress { .. })
        ));
        assert!(matches!(
            problem("a host:port"),
            (1, Problem::BadAddress { .. })
        ));
        assert!(matches!(
            problem("a [::1:9100"),
            (1, Problem::BadAddress { .. })
        ));
        assert!(matches!(
            problem("a h:70000"),
            (1, Problem::PortOutOfRange { .. })
        ));
        assert!(matches!(
            problem("a h:0"),
            (1, Problem::PortOutOfRange { .. })
        ));
        assert!(matches!(
            problem("a h:1\ncheck c h:2 from b"),
            (2, Problem::UnknownAgent(_))
        ));
        assert!(matches!(
            problem("a h:1\ncheck c h:2 from a retries=2"),
            (2, Problem::UnknownKey { .. })
        ));
        assert!(matches!(
            problem("a h:1\ncheck c h:2 from a failures=0"),
            (2, Problem::BadFailures(_))
        ));
        assert!(matches!(
            problem("a h:1\ncheck c h:2 from a\ncheck c h:3 from a"),
            (3, Problem::DuplicateCheck { first_line: 2, .. })
        ));
        assert!(matches!(
            problem("a h:1 agent=x"),
            (1, Problem::ReservedLabel(_))
        ));
        assert!(matches!(problem("a h:1 env"), (1, Problem::BadLabel(_))));
        assert!(matches!(problem("a h:1 __x=1"), (1, Problem::BadLabel(_))));
        assert!(matches!(
            problem("a h:1 env=a env=b"),
            (1, Problem::DuplicateKey(_))
        ));
        assert!(matches!(problem("check h:1"), (1, Problem::ReservedName)));
        assert!(matches!(
            problem("check c h:1 web1"),
            (1, Problem::Syntax(_))
        ));
        assert!(matches!(problem("-a h:1"), (1, Problem::BadName(_))));
        for (line, reason) in [
            ("a h:1 cpu_treshold=95", "unknown"),
            ("a h:1 disk_thresold=80", "unknown"),
            ("a h:1 net_threshold=5", "unknown"),
            ("a h:1 cpu_threshold=-5", "more than 0"),
            ("a h:1 cpu_threshold=0", "more than 0"),
            ("a h:1 disk_threshold=101", "above 100"),
            ("a h:1 memory_threshold=lots", "not a number"),
            ("a h:1 disk_fill_within=12", "unit"),
            ("a h:1 disk_fill_within=12x", "unit"),
            ("a h:1 disk_fill_within=10s", "1m to 30d"),
            ("a h:1 load_threshold=NaN", "not a number"),
            ("a h:1 cpu_threshold=90 cpu_threshold=95", "twice"),
        ] {
            let err = parse("agents.txt", line).unwrap_err();
            assert_eq!(err.line, 1, "{line}");
            assert!(err.to_string().contains(reason), "{line}: {err}");
        }
        let pin = "ab".repeat(32);
        for (line, reason) in [
            ("a h:1 actions=h:9110".to_string(), "without actions_sha256"),
            (
                format!("a h:1 actions_sha256={pin}"),
                "without actions=HOST:PORT",
            ),
            (
                format!("a h:1 actions=h:9110 actions_sha256={}", &pin[2..]),
                "64 hex digits",
            ),
            (
                format!("a h:1 actions=h actions_sha256={pin}"),
                "expected HOST:PORT",
            ),
            (
                format!("a h:1 actions=h:1 actions=h:2 actions_sha256={pin}"),
                "twice",
            ),
        ] {
            let err = parse("agents.txt", &line).unwrap_err();
            assert_eq!(err.line, 1, "{line}");
            assert!(err.to_string().contains(reason), "{line}: {err}");
        }
        let err = parse("dir/agents.txt", "\n\nweb1 1.2.3.4:99999\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "dir/agents.txt:3: port out of range in \"1.2.3.4:99999\": 99999 (use 1-65535)"
        );
    }
}
