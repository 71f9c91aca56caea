//! The agent's allow-list (`--actions.config FILE`): which keys it trusts,
//! its own name, which built-in actions are on and how far their
//! parameters go, and the custom actions with their typed argv templates.
//!
//! ```yaml
//! agent: web1
//! keys:
//!   bridge: ed25519:3b6a27bc…   # key id → public key (from `outpost keygen`)
//! builtin:
//!   ports: {}
//!   top: { count: 10 }
//!   kill-port: { ports: [8000, 8999], signal: TERM }
//! custom:
//!   app-logs:
//!     argv: [/usr/bin/journalctl, -u, "{unit}", -n, "{lines}", --no-pager]
//!     params:
//!       unit: { enum: [app, worker] }
//!       lines: { int: { min: 1, max: 1000 } }
//!     timeout: 10s
//!     user: nobody
//! ```
//!
//! Decisions:
//! - A parameter fills a whole argv element: an element is either literal
//!   text without `{`/`}` or exactly `{name}`. Anything else (`--unit={u}`)
//!   is a config error, so no value is ever joined into a larger string.
//! - The program (`argv[0]`) is a literal absolute path and may not be a
//!   shell or a program runner (`sh`, `bash`, `env`, `busybox`, …): there
//!   is no way to write `sh -c` into the allow-list.
//! - Regex parameters must be anchored (`^…$`) so the type describes the
//!   whole value, not a part of it.
//! - Output caps may be lowered but not raised past 16 KiB stdout and
//!   4 KiB stderr.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::signing::{is_name, PublicKey};

/// Most stdout kept from a custom action.
pub const MAX_STDOUT: usize = 16 * 1024;
/// Most stderr kept from a custom action.
pub const MAX_STDERR: usize = 4 * 1024;
/// A custom action's timeout when the file names none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How many processes `top` lists by default.
pub const DEFAULT_TOP: usize = 10;
/// Programs that would turn an argv back into a command line.
const FORBIDDEN_PROGRAMS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "busybox", "env", "xargs",
    "sudo", "su", "doas", "nohup", "setsid", "eval",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading actions config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// serde_yaml's message names the line and column.
    #[error("parsing actions config {path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("actions config {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    agent: String,
    keys: BTreeMap<String, String>,
    #[serde(default)]
    builtin: RawBuiltin,
    #[serde(default)]
    custom: BTreeMap<String, RawCustom>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuiltin {
    ports: Option<Empty>,
    top: Option<RawTop>,
    #[serde(rename = "kill-port")]
    kill_port: Option<RawKillPort>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTop {
    count: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKillPort {
    ports: [u16; 2],
    #[serde(default)]
    signal: KillSignal,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCustom {
    argv: Vec<String>,
    #[serde(default)]
    params: BTreeMap<String, RawParam>,
    timeout: Option<String>,
    max_stdout: Option<usize>,
    max_stderr: Option<usize>,
    user: Option<String>,
}

/// The signal `kill-port` sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum KillSignal {
    #[default]
    #[serde(rename = "TERM")]
    Term,
    #[serde(rename = "KILL")]
    Kill,
    #[serde(rename = "INT")]
    Int,
}

/// `{ enum: [...] }`, `{ int: { min, max } }` or `{ regex: '^…$' }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParam {
    #[serde(rename = "enum")]
    one_of: Option<Vec<String>>,
    int: Option<RawInt>,
    #[serde(default, deserialize_with = "anchored")]
    regex: Option<Anchored>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInt {
    min: i64,
    max: i64,
}

/// A parameter's type: the only values it admits.
#[derive(Debug, Clone)]
pub enum ParamType {
    Enum(Vec<String>),
    Int { min: i64, max: i64 },
    Regex(Anchored),
}

/// An anchored regular expression (`^…$`).
#[derive(Debug, Clone)]
pub struct Anchored(pub regex_lite::Regex);

fn anchored<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Anchored>, D::Error> {
    use serde::de::Error;
    let s = String::deserialize(d)?;
    if !s.starts_with('^') || !s.ends_with('$') || s.ends_with("\\$") {
        return Err(D::Error::custom(format!(
            "regex {s:?} must be anchored: start with ^ and end with $"
        )));
    }
    regex_lite::Regex::new(&s)
        .map(|r| Some(Anchored(r)))
        .map_err(|e| D::Error::custom(format!("regex {s:?}: {e}")))
}

/// One argv element of a custom action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Literal(String),
    Param(String),
}

#[derive(Debug, Clone)]
pub struct Custom {
    pub program: PathBuf,
    pub args: Vec<Arg>,
    pub params: BTreeMap<String, ParamType>,
    pub timeout: Duration,
    pub max_stdout: usize,
    pub max_stderr: usize,
    /// Run as this user (uid, gid), looked up at startup.
    pub user: Option<(String, u32, u32)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KillPort {
    pub ports: std::ops::RangeInclusive<u16>,
    pub signal: KillSignal,
}

/// The validated allow-list.
#[derive(Debug, Clone)]
pub struct Config {
    pub agent: String,
    pub keys: BTreeMap<String, PublicKey>,
    pub ports: bool,
    /// `Some(count)` when `top` is on.
    pub top: Option<usize>,
    pub kill_port: Option<KillPort>,
    pub custom: BTreeMap<String, Custom>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let raw: Raw = serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let invalid = |reason: String| ConfigError::Invalid {
            path: path.to_owned(),
            reason,
        };
        if !is_name(&raw.agent) {
            return Err(invalid(format!(
                "agent {:?}: 1-64 of A-Z a-z 0-9 . _ -",
                raw.agent
            )));
        }
        if raw.keys.is_empty() {
            return Err(invalid("keys: at least one trusted public key".into()));
        }
        let mut keys = BTreeMap::new();
        for (id, text) in raw.keys {
            if !is_name(&id) {
                return Err(invalid(format!("key id {id:?}: 1-64 of A-Z a-z 0-9 . _ -")));
            }
            let key = text
                .parse::<PublicKey>()
                .map_err(|e| invalid(format!("keys.{id}: {e}")))?;
            keys.insert(id, key);
        }
        let kill_port = raw
            .builtin
            .kill_port
            .map(|k| {
                if k.ports[0] == 0 || k.ports[0] > k.ports[1] {
                    return Err(invalid(format!(
                        "builtin.kill-port.ports: [{}, {}] is not a range of ports (low ≥ 1, low ≤ high)",
                        k.ports[0], k.ports[1]
                    )));
                }
                Ok(KillPort {
                    ports: k.ports[0]..=k.ports[1],
                    signal: k.signal,
                })
            })
            .transpose()?;
        let top = raw
            .builtin
            .top
            .map(|t| match t.count.unwrap_or(DEFAULT_TOP) {
                n @ 1..=100 => Ok(n),
                n => Err(invalid(format!("builtin.top.count: {n} is not in 1..=100"))),
            })
            .transpose()?;
        let mut custom = BTreeMap::new();
        for (name, c) in raw.custom {
            let c = build_custom(&name, c).map_err(|r| invalid(format!("custom.{name}: {r}")))?;
            custom.insert(name, c);
        }
        Ok(Config {
            agent: raw.agent,
            keys,
            ports: raw.builtin.ports.is_some(),
            top,
            kill_port,
            custom,
        })
    }
}

fn build_custom(name: &str, c: RawCustom) -> Result<Custom, String> {
    if !is_name(name) || super::Builtin::from_name(name).is_some() {
        return Err("names are 1-64 of A-Z a-z 0-9 . _ - and not a built-in action's".into());
    }
    let mut argv = c.argv.into_iter();
    let program = PathBuf::from(argv.next().ok_or("argv is empty")?);
    if !program.is_absolute() || program.to_string_lossy().contains(['{', '}']) {
        return Err(format!(
            "argv[0] {:?} must be a literal absolute path",
            program.display()
        ));
    }
    let base = program
        .file_name()
        .map(|b| b.to_string_lossy().into_owned())
        .unwrap_or_default();
    if FORBIDDEN_PROGRAMS.contains(&base.as_str()) {
        return Err(format!(
            "argv[0] {:?} is a shell or program runner; name the program itself",
            program.display()
        ));
    }
    let mut args = Vec::new();
    let mut used = Vec::new();
    for (i, a) in argv.enumerate() {
        let inner = a.strip_prefix('{').and_then(|r| r.strip_suffix('}'));
        match inner {
            Some(p) if !p.contains(['{', '}']) => {
                if !c.params.contains_key(p) {
                    return Err(format!(
                        "argv[{}] names an undeclared parameter {p:?}",
                        i + 1
                    ));
                }
                used.push(p.to_owned());
                args.push(Arg::Param(p.to_owned()));
            }
            _ if a.contains(['{', '}']) => {
                return Err(format!(
                    "argv[{}] {a:?}: a parameter must be a whole element, exactly {{name}}",
                    i + 1
                ))
            }
            _ => args.push(Arg::Literal(a)),
        }
    }
    let mut params = BTreeMap::new();
    for (p, raw) in c.params {
        let t = match (raw.one_of, raw.int, raw.regex) {
            (Some(v), None, None) => ParamType::Enum(v),
            (None, Some(i), None) => ParamType::Int {
                min: i.min,
                max: i.max,
            },
            (None, None, Some(r)) => ParamType::Regex(r),
            _ => {
                return Err(format!(
                    "parameter {p:?}: give exactly one of enum, int, regex"
                ))
            }
        };
        params.insert(p, t);
    }
    for (p, t) in &params {
        if !used.contains(p) {
            return Err(format!("parameter {p:?} is declared but not used in argv"));
        }
        match t {
            ParamType::Enum(v) if v.is_empty() => {
                return Err(format!("parameter {p:?}: empty enum"))
            }
            ParamType::Int { min, max } if min > max => {
                return Err(format!("parameter {p:?}: min {min} > max {max}"))
            }
            _ => {}
        }
    }
    let timeout = match c.timeout {
        Some(t) => crate::units::parse_duration(&t)?,
        None => DEFAULT_TIMEOUT,
    };
    if timeout.is_zero() {
        return Err("timeout must be greater than zero".into());
    }
    let cap = |v: Option<usize>, max: usize, what: &str| match v {
        Some(n) if n > max => Err(format!("{what} {n} is over the cap of {max} bytes")),
        Some(n) => Ok(n),
        None => Ok(max),
    };
    let user = c
        .user
        .map(|u| match nix::unistd::User::from_name(&u) {
            Ok(Some(pw)) => Ok((u, pw.uid.as_raw(), pw.gid.as_raw())),
            _ => Err(format!("user {u:?} does not exist")),
        })
        .transpose()?;
    Ok(Custom {
        program,
        args,
        params,
        timeout,
        max_stdout: cap(c.max_stdout, MAX_STDOUT, "max_stdout")?,
        max_stderr: cap(c.max_stderr, MAX_STDERR, "max_stderr")?,
        user,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ed25519:0000000000000000000000000000000000000000000000000000000000000000";

    fn parse(yaml: &str) -> Result<Config, ConfigError> {
        Config::parse(yaml, Path::new("/etc/outpost/actions.yml"))
    }

    #[test]
    fn a_full_config_parses() {
        let c = parse(&format!(
            "agent: web1\nkeys:\n  bridge: {KEY}\nbuiltin:\n  ports: {{}}\n  top: {{ count: 5 }}\n  kill-port: {{ ports: [8000, 8999], signal: KILL }}\n\
             custom:\n  logs:\n    argv: [/usr/bin/journalctl, -u, '{{unit}}', -n, '{{lines}}']\n    params:\n      unit: {{ enum: [app] }}\n      lines: {{ int: {{ min: 1, max: 100 }} }}\n    timeout: 5s\n    max_stdout: 100\n"
        ))
        .unwrap();
        assert_eq!(c.agent, "web1");
        assert!(c.ports);
        assert_eq!(c.top, Some(5));
        let k = c.kill_port.unwrap();
        assert_eq!((k.ports, k.signal), (8000..=8999, KillSignal::Kill));
        let logs = &c.custom["logs"];
        assert_eq!(logs.args[1], Arg::Param("unit".into()));
        assert_eq!(logs.timeout, Duration::from_secs(5));
        assert_eq!((logs.max_stdout, logs.max_stderr), (100, MAX_STDERR));
    }

    #[test]
    fn mistakes_are_errors_naming_the_file_and_line() {
        let err = parse(&format!(
            "agent: web1\nkeys:\n  bridge: {KEY}\nbuiltn: {{}}\n"
        ))
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/etc/outpost/actions.yml"), "{text}");
        assert!(text.contains("line 4"), "{text}");
        assert!(text.contains("builtn"), "{text}");
        for (bad, needle) in [
            ("argv: [sh, -c, 'id']", "absolute path"),
            ("argv: [/bin/sh, -c, 'id']", "shell"),
            ("argv: [/usr/bin/env, id]", "shell"),
            (
                "argv: [/bin/echo, '--x={v}']\n    params:\n      v: { enum: [a] }",
                "whole element",
            ),
            ("argv: [/bin/echo, '{v}']", "undeclared"),
            (
                "argv: [/bin/echo, '{v}']\n    params:\n      v: { regex: 'a+' }",
                "anchored",
            ),
            ("argv: [/bin/echo]\n    max_stdout: 100000", "cap"),
            (
                "argv: [/bin/echo]\n    user: no-such-user-here",
                "does not exist",
            ),
        ] {
            let err = parse(&format!(
                "agent: web1\nkeys:\n  bridge: {KEY}\ncustom:\n  x:\n    {bad}\n"
            ))
            .unwrap_err()
            .to_string();
            assert!(err.contains(needle), "{bad}: {err}");
        }
        assert!(parse("agent: web1\nkeys:\n  bridge: ed25519:12\n").is_err());
        assert!(parse(&format!("agent: 'web 1'\nkeys:\n  b: {KEY}\n")).is_err());
        assert!(parse(&format!(
            "agent: w\nkeys:\n  b: {KEY}\nbuiltin:\n  kill-port: {{ ports: [9, 8] }}\n"
        ))
        .is_err());
    }
}
