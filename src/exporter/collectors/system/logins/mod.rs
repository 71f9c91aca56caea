//! `logins`: sessions on this host from utmp, and each new remote login
//! posted to Alertmanager as a short-lived alert (off by default).
//!
//! The collector asks systemd-logind over D-Bus for the sessions, or
//! reads utmp (`/run/utmp`, else `/var/run/utmp`) where there is no
//! system bus (`--collector.logins.source`, default `auto`), at each scrape
//! and, when alerts are on, every [`POLL`] on its own thread too, so a
//! login is noticed within seconds whatever the scrape interval. Series are
//! bounded: sessions now by `type`, `class` and `remote`, logins counted by
//! `class` and `remote`; user names and addresses only ever reach the
//! alerts ([`alert`]).
//!
//! Decisions:
//! - A session is new when it was not there at the previous look (logind:
//!   its id and start time; utmp: its line, pid and login time). The first
//!   look only learns what is there: sessions open before the exporter
//!   started are neither counted as logins nor alerted.
//! - `type` and `class` are logind's, kept to the values logind documents
//!   (anything else is `other`). utmp has neither: there `type` is `x11`
//!   for a display line and `tty` otherwise (as logind types an SSH
//!   session), `class` is `user`, and `remote` means utmp names a remote
//!   host or address (an X display such as `:0` is local).
//! - `service` in the alert is logind's PAM service, or for utmp the
//!   session's process name (`/proc/PID/comm`, `sshd`); `unknown` when
//!   neither is known.
//! - `auto` falls back to utmp only when the bus is not there at all; a
//!   bus that answers with an error fails the scrape (success 0) with that
//!   error, as `logind` does when the bus is not reachable: the user asked
//!   for logind and should hear why it is not used.

pub mod alert;
pub mod logind;
pub mod utmp;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use crate::exporter::collector::{CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;
use alert::{Login, Posted, Poster};

/// How often the watcher thread looks at utmp when alerts are on.
pub const POLL: Duration = Duration::from_secs(5);
/// Where utmp lives, tried in order under `--path.rootfs`.
pub const UTMP_PATHS: [&str; 2] = ["/run/utmp", "/var/run/utmp"];

/// What `--collector.logins.*` asks for.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where to post login alerts; `None`: no alerts.
    pub alertmanager_url: Option<reqwest::Url>,
    /// The `agent` label of those alerts.
    pub agent: String,
    /// Single alerts allowed per window ([`alert::BURST`]); the rest grouped.
    pub alert_window: Duration,
    pub source: Source,
}

/// Where sessions come from (`--collector.logins.source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    /// systemd-logind when the system bus answers, else utmp.
    #[default]
    Auto,
    Logind,
    Utmp,
}

impl std::str::FromStr for Source {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Source::Auto),
            "logind" => Ok(Source::Logind),
            "utmp" => Ok(Source::Utmp),
            _ => Err(format!("{s:?}: expected auto, logind or utmp")),
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            alertmanager_url: None,
            agent: String::new(),
            alert_window: Duration::from_secs(60),
            source: Source::Auto,
        }
    }
}

/// Identity of one session (source, id or line, login time).
type Key = String;

#[derive(Default)]
struct State {
    /// `None` until the first read.
    known: Option<HashSet<Key>>,
    /// Logins seen, by `(class, remote)`.
    logins: BTreeMap<(&'static str, bool), u64>,
    /// Sessions now, by `(type, class, remote)`.
    sessions: BTreeMap<(&'static str, &'static str, bool), u64>,
    alerts: BTreeMap<&'static str, u64>,
}

struct Shared {
    paths: Paths,
    source: Source,
    state: Mutex<State>,
    poster: Option<Poster>,
}

/// The `logins` collector.
pub struct Logins {
    shared: Arc<Shared>,
}

fn is_remote(e: &utmp::Entry) -> bool {
    e.addr.is_some() || !(e.host.is_empty() || e.host.starts_with(':'))
}

fn session_type(e: &utmp::Entry) -> &'static str {
    if e.line.starts_with(':') || e.host.starts_with(':') {
        "x11"
    } else {
        "tty"
    }
}

impl Logins {
    pub fn new(paths: Paths, options: Options) -> Self {
        let shared = Arc::new_cyclic(|weak: &Weak<Shared>| {
            let poster = options.alertmanager_url.clone().and_then(|url| {
                let weak = weak.clone();
                let report = move |p: Posted| {
                    if let Some(s) = weak.upgrade() {
                        let key = match p {
                            Posted::Sent => "sent",
                            Posted::Failed => "failed",
                        };
                        *s.lock().alerts.entry(key).or_default() += 1;
                    }
                };
                Poster::start(url, options.agent.clone(), options.alert_window, report)
                    .map_err(|e| tracing::error!(error = %e, "cannot start the login alert thread"))
                    .ok()
            });
            Shared {
                paths,
                source: options.source,
                state: Mutex::default(),
                poster,
            }
        });
        if shared.poster.is_some() {
            let weak = Arc::downgrade(&shared);
            let _ = std::thread::Builder::new()
                .name("logins".into())
                .spawn(move || watch(weak));
        }
        Logins { shared }
    }
}

/// Polls utmp until the collector is dropped.
fn watch(shared: Weak<Shared>) {
    loop {
        match shared.upgrade() {
            Some(s) => {
                if let Err(e) = s.observe() {
                    tracing::debug!(error = %e, "logins: sessions not read");
                }
            }
            None => return,
        }
        std::thread::sleep(POLL);
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> Result<Vec<utmp::Entry>, CollectError> {
        let mut last = None;
        for rel in UTMP_PATHS {
            let path: PathBuf = self.paths.root(rel);
            match std::fs::read(&path) {
                Ok(bytes) => {
                    return utmp::parse(&bytes).map_err(|e| {
                        CollectError::parse(path.display().to_string(), e.to_string())
                    })
                }
                Err(source) => last = Some(CollectError::Read { path, source }),
            }
        }
        Err(last.expect("UTMP_PATHS is not empty"))
    }

    /// The sessions open now, from logind or utmp as `--collector.logins.source` says.
    fn sessions(&self) -> Result<Vec<Seen>, CollectError> {
        let from_logind = || {
            logind::list(&crate::exporter::dbus::system_bus(&self.paths.rootfs))
                .map(|all| all.into_iter().map(Seen::from_logind).collect())
        };
        match self.source {
            Source::Utmp => self.utmp_sessions(),
            Source::Logind => from_logind().map_err(|e| CollectError::Other(e.to_string())),
            Source::Auto => match from_logind() {
                Ok(seen) => Ok(seen),
                Err(crate::exporter::dbus::BusError::Unreachable { .. }) => self.utmp_sessions(),
                Err(e) => Err(CollectError::Other(e.to_string())),
            },
        }
    }

    fn utmp_sessions(&self) -> Result<Vec<Seen>, CollectError> {
        Ok(self
            .read()?
            .iter()
            .filter(|e| e.kind == utmp::USER_PROCESS && !e.user.is_empty())
            .map(|e| Seen::from_utmp(e, &self.paths))
            .collect())
    }

    /// Reads the sessions and notes what changed; posts new remote logins.
    fn observe(&self) -> Result<(), CollectError> {
        // Locked before reading: a read that finished earlier must not be
        // applied after a later one (its missing session would look new
        // again next time).
        let mut state = self.lock();
        let live = self.sessions()?;
        let first = state.known.is_none();
        let known = state.known.take().unwrap_or_default();
        let mut now_keys = HashSet::with_capacity(live.len());
        let mut sessions: BTreeMap<_, u64> = [("tty", "user", false), ("tty", "user", true)]
            .into_iter()
            .map(|k| (k, 0))
            .collect();
        for seen in live {
            *sessions
                .entry((seen.kind, seen.class, seen.remote))
                .or_default() += 1;
            if !first && !known.contains(&seen.key) {
                *state.logins.entry((seen.class, seen.remote)).or_default() += 1;
                if let (true, Some(poster)) = (seen.remote, &self.poster) {
                    poster.send(seen.login.clone());
                }
            }
            now_keys.insert(seen.key);
        }
        state.known = Some(now_keys);
        state.sessions = sessions;
        Ok(())
    }
}

/// A session, from either source.
#[derive(Debug, Clone)]
struct Seen {
    key: String,
    kind: &'static str,
    class: &'static str,
    remote: bool,
    login: Login,
}

/// `v` if it is one of `known`, else `other`: labels stay a fixed set.
fn bounded(v: &str, known: &[&'static str]) -> &'static str {
    known.iter().copied().find(|k| *k == v).unwrap_or("other")
}

const TYPES: &[&str] = &["tty", "x11", "wayland", "mir", "web", "unspecified"];
const CLASSES: &[&str] = &[
    "user",
    "greeter",
    "lock-screen",
    "background",
    "manager",
    "user-early",
    "user-incomplete",
    "user-light",
    "background-light",
    "manager-early",
    "none",
];

impl Seen {
    fn from_utmp(e: &utmp::Entry, paths: &Paths) -> Seen {
        let comm = paths.proc(&format!("{}/comm", e.pid));
        let service = std::fs::read_to_string(comm)
            .map(|s| s.trim().to_owned())
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".into());
        let at = SystemTime::UNIX_EPOCH
            + Duration::from_secs(e.seconds.max(0) as u64)
            + Duration::from_micros(e.micros.max(0) as u64);
        Seen {
            key: format!("utmp {} {} {} {}", e.line, e.pid, e.seconds, e.micros),
            kind: session_type(e),
            class: "user",
            remote: is_remote(e),
            login: Login {
                user: e.user.clone(),
                source: Login::source_of(e.addr, &e.host),
                service,
                at,
            },
        }
    }

    fn from_logind(s: logind::Session) -> Seen {
        let remote = s.remote;
        Seen {
            key: format!("logind {} {}", s.id, s.timestamp_us),
            kind: bounded(&s.kind, TYPES),
            class: bounded(&s.class, CLASSES),
            remote,
            login: Login {
                user: s.user,
                source: s.remote_host,
                service: if s.service.is_empty() {
                    "unknown".into()
                } else {
                    s.service
                },
                at: SystemTime::UNIX_EPOCH + Duration::from_micros(s.timestamp_us),
            },
        }
    }
}

impl Collector for Logins {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        self.shared.observe()?;
        let state = self.shared.lock();
        let fam = out.gauge(
            "outpost_login_sessions",
            "Login sessions open now, by session type, class and whether remote.",
        );
        for (&(ty, class, remote), &n) in &state.sessions {
            fam.add(
                &[("type", ty), ("class", class), ("remote", bool_str(remote))],
                n as f64,
            );
        }
        let fam = out.counter(
            "outpost_logins_total",
            "Logins seen since the exporter started, by class and whether remote.",
        );
        let mut logins = state.logins.clone();
        for remote in [false, true] {
            logins.entry(("user", remote)).or_default();
        }
        for ((class, remote), n) in logins {
            fam.add(&[("class", class), ("remote", bool_str(remote))], n as f64);
        }
        if self.shared.poster.is_some() {
            let fam = out.counter(
                "outpost_login_alerts_total",
                "Login alerts posted to Alertmanager, by result.",
            );
            for result in ["sent", "failed"] {
                let n = state.alerts.get(result).copied().unwrap_or(0);
                fam.add(&[("result", result)], n as f64);
            }
        }
        Ok(())
    }
}

fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utmp::Entry;

    fn entry(line: &str, user: &str, host: &str, t: i64) -> Entry {
        Entry {
            kind: utmp::USER_PROCESS,
            pid: 1000 + t as i32 % 1000,
            line: line.into(),
            user: user.into(),
            host: host.into(),
            seconds: t,
            micros: 0,
            addr: host.parse().ok(),
        }
    }

    fn write(root: &std::path::Path, entries: &[Entry]) {
        let bytes: Vec<u8> = entries.iter().flat_map(utmp::encode).collect();
        std::fs::create_dir_all(root.join("run")).unwrap();
        std::fs::write(root.join("run/utmp"), bytes).unwrap();
    }

    fn value(m: &Metrics, name: &str, labels: &[(&str, &str)]) -> f64 {
        m.get(name)
            .unwrap()
            .samples()
            .find(|s| labels.iter().all(|(k, v)| s.label(k) == Some(v)))
            .unwrap()
            .value
    }

    #[test]
    fn sessions_now_and_new_logins_without_names_in_labels() {
        let root = tempfile::tempdir().unwrap();
        let paths = Paths {
            rootfs: root.path().into(),
            ..Paths::default()
        };
        // Open before the exporter started: sessions, not new logins.
        let console = entry("tty1", "root", "", 100);
        let x = entry(":0", "carol", ":0", 101);
        write(root.path(), &[console.clone(), x.clone()]);
        let c = Logins::new(paths, Options::default());
        let mut m = Metrics::new();
        c.update(&mut m).unwrap();
        assert_eq!(
            value(
                &m,
                "outpost_login_sessions",
                &[("type", "tty"), ("remote", "false")]
            ),
            1.0
        );
        assert_eq!(
            value(
                &m,
                "outpost_login_sessions",
                &[("type", "x11"), ("remote", "false")]
            ),
            1.0
        );
        assert_eq!(
            value(&m, "outpost_logins_total", &[("remote", "false")]),
            0.0
        );

        let ssh = entry("pts/0", "alice", "198.51.100.7", 200);
        let mut dead = console.clone();
        dead.kind = utmp::DEAD_PROCESS;
        write(root.path(), &[dead, x, ssh]);
        let mut m = Metrics::new();
        c.update(&mut m).unwrap();
        assert_eq!(
            value(
                &m,
                "outpost_login_sessions",
                &[("type", "tty"), ("remote", "true")]
            ),
            1.0
        );
        assert_eq!(
            value(
                &m,
                "outpost_login_sessions",
                &[("type", "tty"), ("remote", "false")]
            ),
            0.0
        );
        assert_eq!(
            value(
                &m,
                "outpost_logins_total",
                &[("class", "user"), ("remote", "true")]
            ),
            1.0
        );
        assert_eq!(
            value(&m, "outpost_logins_total", &[("remote", "false")]),
            0.0
        );
        let text = crate::exporter::encode::encode(
            &m.into_sorted(),
            crate::exporter::encode::Format::Text,
        );
        assert!(
            !text.contains("alice") && !text.contains("198.51.100.7"),
            "{text}"
        );
    }

    #[test]
    fn unreadable_or_torn_utmp_fails_naming_the_file() {
        let root = tempfile::tempdir().unwrap();
        let paths = Paths {
            rootfs: root.path().into(),
            ..Paths::default()
        };
        let c = Logins::new(paths, Options::default());
        let err = c.update(&mut Metrics::new()).unwrap_err().to_string();
        assert!(err.contains("var/run/utmp"), "{err}");
        std::fs::create_dir_all(root.path().join("run")).unwrap();
        std::fs::write(root.path().join("run/utmp"), [0u8; 100]).unwrap();
        let err = c.update(&mut Metrics::new()).unwrap_err().to_string();
        assert!(
            err.contains("run/utmp") && err.contains("100 bytes"),
            "{err}"
        );
    }
}
