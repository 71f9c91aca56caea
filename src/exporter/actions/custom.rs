//! Custom actions: a request's arguments checked against the parameter
//! types, the argv built from the template, and the program run with no
//! shell, a deadline and capped output.
//!
//! Decisions:
//! - The child gets its own process group; at the deadline the whole group
//!   is killed with SIGKILL, so a runaway that forked is stopped too, and
//!   pipes held by grandchildren cannot keep the answer waiting.
//! - The environment is cleared but for `PATH=/usr/sbin:/usr/bin:/sbin:/bin`
//!   and `LANG=C.UTF-8`: nothing of the exporter's own environment leaks in.
//! - Output past the caps is read and dropped (the child never blocks on a
//!   full pipe) and the result says it was truncated.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::config::{Arg, Custom, ParamType};

/// Why a request's arguments were refused (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    #[error("unknown parameter {0:?}")]
    Unknown(String),
    #[error("missing parameter {0:?}")]
    Missing(String),
    #[error("parameter {0:?}: not one of the allowed values")]
    NotInEnum(String),
    #[error("parameter {name:?}: must be an integer in {min}..={max}")]
    OutOfRange { name: String, min: i64, max: i64 },
    #[error("parameter {0:?}: does not match its pattern")]
    NoMatch(String),
    #[error("parameter {0:?}: must be a string")]
    NotString(String),
}

/// The value of one checked parameter: always passed as one argv element.
fn check_one(name: &str, t: &ParamType, v: &serde_json::Value) -> Result<String, ArgError> {
    match t {
        ParamType::Int { min, max } => {
            let range = || ArgError::OutOfRange {
                name: name.to_owned(),
                min: *min,
                max: *max,
            };
            let n = match v {
                serde_json::Value::Number(n) => n.as_i64().ok_or_else(range)?,
                serde_json::Value::String(s) if !s.starts_with('+') => {
                    s.parse::<i64>().map_err(|_| range())?
                }
                _ => return Err(range()),
            };
            if n < *min || n > *max {
                return Err(range());
            }
            Ok(n.to_string())
        }
        ParamType::Enum(values) => {
            let s = v
                .as_str()
                .ok_or_else(|| ArgError::NotString(name.to_owned()))?;
            values
                .iter()
                .find(|a| *a == s)
                .cloned()
                .ok_or_else(|| ArgError::NotInEnum(name.to_owned()))
        }
        ParamType::Regex(re) => {
            let s = v
                .as_str()
                .ok_or_else(|| ArgError::NotString(name.to_owned()))?;
            if re.0.is_match(s) {
                Ok(s.to_owned())
            } else {
                Err(ArgError::NoMatch(name.to_owned()))
            }
        }
    }
}

/// The argv (program first) for `args`, or why they are refused.
pub fn build_argv(
    action: &Custom,
    args: &BTreeMap<String, serde_json::Value>,
) -> Result<Vec<String>, ArgError> {
    if let Some(k) = args.keys().find(|k| !action.params.contains_key(*k)) {
        return Err(ArgError::Unknown(k.clone()));
    }
    let mut values = BTreeMap::new();
    for (name, t) in &action.params {
        let v = args
            .get(name)
            .ok_or_else(|| ArgError::Missing(name.clone()))?;
        values.insert(name.as_str(), check_one(name, t, v)?);
    }
    let mut argv = vec![action.program.to_string_lossy().into_owned()];
    for a in &action.args {
        argv.push(match a {
            Arg::Literal(s) => s.clone(),
            Arg::Param(p) => values[p.as_str()].clone(),
        });
    }
    Ok(argv)
}

/// What a custom action did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunResult {
    /// The exit code; `None` when killed by a signal (or at the deadline).
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub duration_ms: u64,
}

/// Reads all of `r`, keeping the first `cap` bytes.
async fn read_capped(mut r: impl AsyncRead + Unpin, cap: usize) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return (kept, truncated),
            Ok(n) => {
                let room = cap - kept.len();
                if n > room {
                    truncated = true;
                }
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
}

/// Runs `argv` as `action` says; `Err` only when it cannot be started.
pub async fn run(action: &Custom, argv: &[String]) -> std::io::Result<RunResult> {
    let start = Instant::now();
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LANG", "C.UTF-8")
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some((_, uid, gid)) = &action.user {
        cmd.uid(*uid).gid(*gid);
    }
    let mut child = cmd.spawn()?;
    let pgid = child.id().map(|p| nix::unistd::Pid::from_raw(p as i32));
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let work = async {
        let (out, err, status) = tokio::join!(
            read_capped(stdout, action.max_stdout),
            read_capped(stderr, action.max_stderr),
            child.wait()
        );
        (out, err, status)
    };
    let (out, err, status, timed_out) = match tokio::time::timeout(action.timeout, work).await {
        Ok((out, err, status)) => (out, err, status.ok(), false),
        Err(_) => {
            kill_group(pgid);
            let status = child.wait().await.ok();
            ((Vec::new(), false), (Vec::new(), false), status, true)
        }
    };
    // Whatever the child left behind in its group goes with it.
    kill_group(pgid);
    Ok(RunResult {
        exit_code: status.and_then(|s| s.code()),
        timed_out,
        stdout: String::from_utf8_lossy(&out.0).into_owned(),
        stderr: String::from_utf8_lossy(&err.0).into_owned(),
        stdout_truncated: out.1,
        stderr_truncated: err.1,
        duration_ms: start.elapsed().as_millis() as u64,
    })
}

fn kill_group(pgid: Option<nix::unistd::Pid>) {
    if let Some(pgid) = pgid {
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    }
}

/// How long [`run`] may take at most, answer included.
pub fn deadline(action: &Custom) -> Duration {
    action.timeout + Duration::from_secs(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exporter::actions::config::Config;
    use serde_json::json;

    fn custom(yaml: &str) -> Custom {
        let key = "ed25519:0000000000000000000000000000000000000000000000000000000000000000";
        let c = Config::parse(
            &format!("agent: a\nkeys:\n  k: {key}\ncustom:\n  x:\n{yaml}"),
            std::path::Path::new("t.yml"),
        )
        .unwrap();
        c.custom["x"].clone()
    }

    #[test]
    fn values_are_checked_against_their_types() {
        let c = custom(
            "    argv: [/usr/bin/printf, '%s\\n', '{u}', '{n}', '{r}']\n    params:\n      u: { enum: [app, worker] }\n      n: { int: { min: 1, max: 10 } }\n      r: { regex: '^[a-z]+$' }\n",
        );
        let args = |u: serde_json::Value, n: serde_json::Value, r: &str| {
            BTreeMap::from([
                ("u".to_owned(), u),
                ("n".to_owned(), n),
                ("r".to_owned(), json!(r)),
            ])
        };
        assert_eq!(
            build_argv(&c, &args(json!("app"), json!(3), "abc")).unwrap(),
            vec!["/usr/bin/printf", "%s\\n", "app", "3", "abc"]
        );
        assert_eq!(
            build_argv(&c, &args(json!("app"), json!("10"), "abc")).unwrap()[3],
            "10"
        );
        for (a, e) in [
            (
                args(json!("; rm -rf /"), json!(1), "a"),
                ArgError::NotInEnum("u".into()),
            ),
            (
                args(json!("app"), json!(11), "a"),
                ArgError::OutOfRange {
                    name: "n".into(),
                    min: 1,
                    max: 10,
                },
            ),
            (
                args(json!("app"), json!("1; id"), "a"),
                ArgError::OutOfRange {
                    name: "n".into(),
                    min: 1,
                    max: 10,
                },
            ),
            (
                args(json!("app"), json!(1), "$(id)"),
                ArgError::NoMatch("r".into()),
            ),
            (
                args(json!("app"), json!(1), "abc\nx"),
                ArgError::NoMatch("r".into()),
            ),
            (
                args(json!(1), json!(1), "a"),
                ArgError::NotString("u".into()),
            ),
        ] {
            assert_eq!(build_argv(&c, &a).unwrap_err(), e);
        }
        let mut extra = args(json!("app"), json!(1), "a");
        extra.insert("z".into(), json!("x"));
        assert_eq!(
            build_argv(&c, &extra).unwrap_err(),
            ArgError::Unknown("z".into())
        );
    }

    #[tokio::test]
    async fn shell_text_reaches_the_program_as_one_literal_argument() {
        let c = custom(
            "    argv: [/usr/bin/printf, '[%s]\\n', '{v}']\n    params:\n      v: { regex: '^.*$' }\n",
        );
        for evil in ["; rm -rf /", "$(id)", "`id` && echo pwned", "a b\tc"] {
            let argv = build_argv(&c, &BTreeMap::from([("v".to_owned(), json!(evil))])).unwrap();
            let r = run(&c, &argv).await.unwrap();
            assert_eq!(r.exit_code, Some(0));
            assert_eq!(r.stdout, format!("[{evil}]\n"), "one argument, unexpanded");
        }
    }

    #[tokio::test]
    async fn runs_as_the_configured_user() {
        let c = custom("    argv: [/usr/bin/id, -u]\n    user: nobody\n");
        let nobody = c.user.clone().unwrap().1;
        let r = run(&c, &build_argv(&c, &BTreeMap::new()).unwrap()).await;
        if nix::unistd::geteuid().is_root() {
            assert_eq!(r.unwrap().stdout, format!("{nobody}\n"));
        } else {
            // Only root may switch users: the start fails, nothing runs as us.
            assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::PermissionDenied);
        }
    }

    #[tokio::test]
    async fn output_is_capped_and_runaways_are_killed_with_their_group() {
        let c = custom("    argv: [/usr/bin/yes]\n    timeout: 300ms\n    max_stdout: 100\n");
        let r = run(&c, &build_argv(&c, &BTreeMap::new()).unwrap())
            .await
            .unwrap();
        assert!(r.timed_out);
        assert_eq!(r.exit_code, None);
        assert!(r.stdout.is_empty(), "output of a killed run is not kept");
        // A child that forks a grandchild holding the pipe: the group goes.
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("spawn");
        let pidfile = dir.path().join("pid");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nsleep 30 &\necho $! > {}\nsleep 30\n",
                pidfile.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let c = custom(&format!(
            "    argv: [{}]\n    timeout: 500ms\n",
            script.display()
        ));
        let started = Instant::now();
        let r = run(&c, &build_argv(&c, &BTreeMap::new()).unwrap())
            .await
            .unwrap();
        assert!(r.timed_out);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let grandchild = std::fs::read_to_string(&pidfile).unwrap();
        let stat = format!("/proc/{}/stat", grandchild.trim());
        let gone = (0..50).any(|_| {
            let alive = std::fs::read_to_string(&stat).is_ok_and(|s| {
                !s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            });
            if alive {
                std::thread::sleep(Duration::from_millis(100));
            }
            !alive
        });
        assert!(
            gone,
            "the grandchild {} outlived the deadline",
            grandchild.trim()
        );
        let c = custom("    argv: [/usr/bin/head, -c, '20000', /dev/zero]\n    max_stdout: 1000\n");
        let r = run(&c, &build_argv(&c, &BTreeMap::new()).unwrap())
            .await
            .unwrap();
        assert_eq!(
            (r.exit_code, r.stdout.len(), r.stdout_truncated),
            (Some(0), 1000, true)
        );
    }
}
