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
//!   docker:
//!     socket: /var/run/docker.sock     # the default
//!     containers: ["web-*", db]        # globs (`*`, `?`) for NAME parameters
//!     ps: {}
//!     logs: { max_lines: 500 }         # the default cap is 200
//!     restart: {}
//!     prune: {}
//!     df: {}
//!   service:
//!     units: [nginx.service, app.service]
//!     status: {}
//!     restart: {}
//!   reboot: { delay: 1m }              # logind's scheduled shutdown, cancellable
//!   shutdown: { delay: 5m }
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
/// The Docker engine's socket when the file names none.
pub const DEFAULT_DOCKER_SOCKET: &str = "/var/run/docker.sock";
/// `docker.logs`' cap on lines when the file names none.
pub const DEFAULT_LOG_LINES: u32 = 200;
/// The highest cap on `docker.logs` lines a file may set.
pub const MAX_LOG_LINES: u32 = 10_000;
/// The delay of a scheduled reboot or shutdown when the file names none.
pub const DEFAULT_POWER_DELAY: Duration = Duration::from_secs(60);
/// The longest delay a file may set.
pub const MAX_POWER_DELAY: Duration = Duration::from_secs(3600);
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
    docker: Option<RawDocker>,
    service: Option<RawService>,
    reboot: Option<RawPower>,
    shutdown: Option<RawPower>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocker {
    socket: Option<PathBuf>,
    #[serde(default)]
    containers: Vec<String>,
    ps: Option<Empty>,
    logs: Option<RawLogs>,
    restart: Option<Empty>,
    prune: Option<Empty>,
    df: Option<Empty>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogs {
    max_lines: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    units: Vec<String>,
    status: Option<Empty>,
    restart: Option<Empty>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPower {
    delay: Option<String>,
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

/// The `docker.*` actions: the engine's socket, which containers a NAME
/// may name, and which of the actions are on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Docker {
    pub socket: PathBuf,
    /// Globs over container names (`*` any run, `?` one character).
    pub containers: Vec<String>,
    pub ps: bool,
    /// `Some(cap on lines)` when `docker.logs` is on.
    pub logs: Option<u32>,
    pub restart: bool,
    pub prune: bool,
    pub df: bool,
}

impl Docker {
    /// Whether a container called `name` may be named in a request.
    pub fn allows(&self, name: &str) -> bool {
        self.containers.iter().any(|g| glob_match(g, name))
    }
}

/// The `service.*` actions: the units they may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub units: Vec<String>,
    pub status: bool,
    pub restart: bool,
}

/// `reboot` or `shutdown`: scheduled this far ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Power {
    pub delay: Duration,
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
    pub docker: Option<Docker>,
    pub service: Option<Service>,
    pub reboot: Option<Power>,
    pub shutdown: Option<Power>,
    pub custom: BTreeMap<String, Custom>,
}

/// Shell-style wildcard match of a whole name: `*` matches any run of
/// characters (none included), `?` exactly one; everything else itself.
pub fn glob_match(glob: &str, name: &str) -> bool {
    let (g, n): (Vec<char>, Vec<char>) = (glob.chars().collect(), name.chars().collect());
    // Iterative matcher with one backtrack point (the last `*`).
    let (mut gi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == n[ni]) {
            gi += 1;
            ni += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some(gi);
            mark = ni;
            gi += 1;
        } else if let Some(s) = star {
            gi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|c| *c == '*')
}

/// A Docker container name as the engine accepts one:
/// `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 128 characters.
pub fn is_container_name(s: &str) -> bool {
    let mut b = s.bytes();
    s.len() <= 128
        && b.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A systemd unit name with its type suffix (`nginx.service`,
/// `getty@tty1.service`): the characters systemd allows, at most 255.
pub fn is_unit_name(s: &str) -> bool {
    const TYPES: &[&str] = &[
        "service",
        "socket",
        "target",
        "timer",
        "mount",
        "path",
        "slice",
        "scope",
        "swap",
        "device",
        "automount",
    ];
    let ok_chars = s.bytes().all(|c| {
        c.is_ascii_alphanumeric() || matches!(c, b':' | b'_' | b'.' | b'@' | b'-' | b'\\')
    });
    let typed = s
        .rsplit_once('.')
        .is_some_and(|(stem, ty)| !stem.is_empty() && TYPES.contains(&ty));
    (1..=255).contains(&s.len()) && ok_chars && typed
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
        let docker = raw
            .builtin
            .docker
            .map(|d| build_docker(d).map_err(|r| invalid(format!("builtin.docker: {r}"))))
            .transpose()?;
        let service = raw
            .builtin
            .service
            .map(|s| build_service(s).map_err(|r| invalid(format!("builtin.service: {r}"))))
            .transpose()?;
        let power = |p: Option<RawPower>, what: &str| {
            p.map(|p| build_power(p).map_err(|r| invalid(format!("builtin.{what}: {r}"))))
                .transpose()
        };
        let reboot = power(raw.builtin.reboot, "reboot")?;
        let shutdown = power(raw.builtin.shutdown, "shutdown")?;
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
            docker,
            service,
            reboot,
            shutdown,
            custom,
        })
    }
}

fn build_docker(d: RawDocker) -> Result<Docker, String> {
    let socket = d
        .socket
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DOCKER_SOCKET));
    if !socket.is_absolute() {
        return Err(format!(
            "socket {:?} must be an absolute path",
            socket.display()
        ));
    }
    for g in &d.containers {
        let literal = g.replace(['*', '?'], "a");
        if g.is_empty() || !is_container_name(&literal) {
            return Err(format!(
                "containers: {g:?} is not a glob over container names ([a-zA-Z0-9_.-], `*`, `?`)"
            ));
        }
    }
    let names_a_container = d.logs.is_some() || d.restart.is_some();
    if names_a_container && d.containers.is_empty() {
        return Err("containers: logs and restart need at least one glob".into());
    }
    let logs = d
        .logs
        .map(|l| match l.max_lines.unwrap_or(DEFAULT_LOG_LINES) {
            n @ 1..=MAX_LOG_LINES => Ok(n),
            n => Err(format!("logs.max_lines: {n} is not in 1..={MAX_LOG_LINES}")),
        })
        .transpose()?;
    Ok(Docker {
        socket,
        containers: d.containers,
        ps: d.ps.is_some(),
        logs,
        restart: d.restart.is_some(),
        prune: d.prune.is_some(),
        df: d.df.is_some(),
    })
}

fn build_service(s: RawService) -> Result<Service, String> {
    if s.units.is_empty() {
        return Err("units: name at least one unit".into());
    }
    if let Some(u) = s.units.iter().find(|u| !is_unit_name(u)) {
        return Err(format!(
            "units: {u:?} is not a unit name with its type (e.g. nginx.service)"
        ));
    }
    Ok(Service {
        units: s.units,
        status: s.status.is_some(),
        restart: s.restart.is_some(),
    })
}

fn build_power(p: RawPower) -> Result<Power, String> {
    let delay = match p.delay {
        Some(t) => crate::cli::parse_duration(&t)?,
        None => DEFAULT_POWER_DELAY,
    };
    if delay > MAX_POWER_DELAY {
        return Err(format!(
            "delay {}s is over the cap of {}s",
            delay.as_secs(),
            MAX_POWER_DELAY.as_secs()
        ));
    }
    Ok(Power { delay })
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

    #[test]
    fn docker_service_and_power_sections() {
        let c = parse(&format!(
            "agent: w\nkeys:\n  b: {KEY}\nbuiltin:\n  docker:\n    containers: ['web-*', db]\n    logs: {{}}\n    df: {{}}\n\
             \x20 service:\n    units: [nginx.service, 'getty@tty1.service']\n    restart: {{}}\n  reboot: {{ delay: 2m }}\n  shutdown: {{}}\n"
        ))
        .unwrap();
        let d = c.docker.unwrap();
        assert_eq!(d.socket, PathBuf::from(DEFAULT_DOCKER_SOCKET));
        assert_eq!(
            (d.ps, d.logs, d.restart, d.prune, d.df),
            (false, Some(DEFAULT_LOG_LINES), false, false, true)
        );
        assert!(d.allows("web-1") && d.allows("web-") && d.allows("db"));
        assert!(!d.allows("db2") && !d.allows("xweb-1"));
        let s = c.service.unwrap();
        assert_eq!((s.status, s.restart), (false, true));
        assert_eq!(c.reboot.unwrap().delay, Duration::from_secs(120));
        assert_eq!(c.shutdown.unwrap().delay, DEFAULT_POWER_DELAY);
        for (bad, needle) in [
            ("docker:\n    logs: {}", "at least one glob"),
            (
                "docker:\n    containers: ['web/*']\n    ps: {}",
                "not a glob",
            ),
            ("docker:\n    socket: docker.sock\n    ps: {}", "absolute"),
            (
                "docker:\n    containers: [a]\n    logs: { max_lines: 0 }",
                "max_lines",
            ),
            ("service:\n    units: [nginx]", "type"),
            ("service:\n    units: ['a.service; reboot']", "unit name"),
            ("service:\n    units: []", "at least one"),
            ("reboot: { delay: 2h }", "cap"),
        ] {
            let err = parse(&format!("agent: w\nkeys:\n  b: {KEY}\nbuiltin:\n  {bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }

    #[test]
    fn globs_match_whole_names() {
        for (g, n, m) in [
            ("*", "", true),
            ("web-*", "web-1", true),
            ("web-*", "web", false),
            ("*-db", "pg-db", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            ("w?b", "web", true),
            ("w?b", "wb", false),
            ("db", "db", true),
            ("db", "db1", false),
        ] {
            assert_eq!(glob_match(g, n), m, "{g} {n}");
        }
    }
}
