//! `systemd` (off by default): units by state and the manager's state from
//! systemd (`org.freedesktop.systemd1`) over D-Bus, under node_exporter's
//! names: `node_systemd_unit_state{name,state,type}`,
//! `node_systemd_units{state}`, `node_systemd_system_running`,
//! `node_systemd_version{version}`, `node_systemd_virtualization_info`,
//! timers' last trigger and sockets' connections; start times, tasks and
//! restarts behind node_exporter's `--collector.systemd.enable-*` flags.
//!
//! Decisions:
//! - As node_exporter: `node_systemd_units` counts every unit `ListUnits`
//!   returns; the per-unit series only the loaded units whose name matches
//!   `--collector.systemd.unit-include` and not `unit-exclude` (both
//!   anchored, as node_exporter anchors them). A unit's `type` label is its
//!   service's or mount's `Type`, empty when systemd does not answer.
//! - The manager's `SystemState` and timers are read only from systemd 212
//!   on (the version that added them); per-unit properties that systemd
//!   does not answer (an older systemd without `NRestarts`) leave that
//!   series out rather than failing the scrape, as node_exporter does.
//! - The bus is [`crate::exporter::dbus`]'s; where it is not there the collector
//!   fails (`node_scrape_collector_success 0`) with one warning naming the
//!   socket, and the rest of the scrape goes on.
//! - node_exporter's hidden `--collector.systemd.private` (a root-only
//!   direct socket to systemd) is not offered.

use zbus::blocking::Connection;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue};

use crate::exporter::collector::{CollectError, Collector, Paths};
use crate::exporter::dbus::{self, BusError};
use crate::exporter::matcher::Matcher;
use crate::exporter::metrics::Metrics;

const SERVICE: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
/// The first systemd with `SystemState` and timers' `LastTriggerUSec`.
const MIN_VERSION_SYSTEM_STATE: f64 = 212.0;
/// The unit states node_exporter exports, one series each.
pub const UNIT_STATES: [&str; 5] = ["active", "activating", "deactivating", "inactive", "failed"];

/// node_exporter's default `--collector.systemd.unit-include`.
pub const DEFAULT_UNIT_INCLUDE: &str = ".+";
/// node_exporter's default `--collector.systemd.unit-exclude`.
pub const DEFAULT_UNIT_EXCLUDE: &str = r".+\.(automount|device|mount|scope|slice)";

/// What `--collector.systemd.*` asks for.
#[derive(Debug, Clone)]
pub struct Options {
    /// Anchored: see [`anchored`].
    pub unit_include: Matcher,
    pub unit_exclude: Matcher,
    pub start_time: bool,
    pub tasks: bool,
    pub restarts: bool,
}

/// `pattern` as node_exporter applies it: the whole unit name must match.
pub fn anchored(pattern: &str) -> String {
    format!("^(?:{pattern})$")
}

/// One row of `ListUnits`, as much of it as we use.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    pub name: String,
    pub load_state: String,
    pub active_state: String,
    pub path: OwnedObjectPath,
}

/// `ListUnits`' row type: name, description, load state, active state,
/// sub state, followed unit, object path, job id, job type, job path.
pub type ListedUnit = (
    String,
    String,
    String,
    String,
    String,
    String,
    OwnedObjectPath,
    u32,
    String,
    OwnedObjectPath,
);

/// The version number in systemd's `Version` (`252.22-1~deb12u1` → 252.22,
/// `v255` → 255), as node_exporter reads it: the first run of three or more
/// digits with an optional fraction; `None` when there is none.
pub fn parse_version(version: &str) -> Option<f64> {
    let b = version.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i - start < 3 {
            continue;
        }
        let mut end = i;
        if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
            end = i + 1;
            while end < b.len() && b[end].is_ascii_digit() {
                end += 1;
            }
        }
        return version[start..end].parse().ok();
    }
    None
}

/// `node_systemd_units`: how many units are in each state, every unit
/// counted; the five states node_exporter knows are always there.
pub fn summarize(units: &[Unit]) -> Vec<(String, f64)> {
    let mut counts: Vec<(String, f64)> = UNIT_STATES.iter().map(|s| (s.to_string(), 0.0)).collect();
    for u in units {
        match counts.iter_mut().find(|(s, _)| *s == u.active_state) {
            Some((_, n)) => *n += 1.0,
            None => counts.push((u.active_state.clone(), 1.0)),
        }
    }
    counts
}

/// The units the per-unit series cover: loaded, included, not excluded.
pub fn filter<'a>(units: &'a [Unit], options: &Options) -> Vec<&'a Unit> {
    units
        .iter()
        .filter(|u| {
            u.load_state == "loaded"
                && options.unit_include.is_match(&u.name)
                && !options.unit_exclude.is_match(&u.name)
        })
        .collect()
}

/// Everything one scrape read from systemd, before any is encoded.
#[derive(Debug, Default)]
struct Snapshot {
    version: (f64, String),
    virtualization: String,
    summary: Vec<(String, f64)>,
    /// Name, state, type and 1 or 0 for each filtered unit and state.
    states: Vec<(String, &'static str, String, f64)>,
    restarts: Vec<(String, f64)>,
    start_times: Vec<(String, f64)>,
    tasks_current: Vec<(String, f64)>,
    tasks_max: Vec<(String, f64)>,
    timers: Vec<(String, f64)>,
    accepted: Vec<(String, f64)>,
    connections: Vec<(String, f64)>,
    refused: Vec<(String, f64)>,
    system_running: Option<f64>,
}

pub struct Systemd {
    address: String,
    options: Options,
}

impl Systemd {
    pub fn new(paths: Paths, options: Options) -> Self {
        Systemd {
            address: dbus::address(&paths.rootfs),
            options,
        }
    }

    fn read(&self) -> Result<Snapshot, BusError> {
        let conn = dbus::connect(&self.address)?;
        let manager = ObjectPath::from_static_str_unchecked(MANAGER_PATH);
        let manager_prop =
            |name: &str| dbus::property::<String>(&conn, SERVICE, &manager, MANAGER, name);
        let mut s = Snapshot {
            version: manager_prop("Version")
                .ok()
                .map(|v| v.trim_matches('"').to_owned())
                .and_then(|v| Some((parse_version(&v)?, v)))
                .unwrap_or((0.0, String::new())),
            virtualization: match manager_prop("Virtualization") {
                Ok(v) if v.is_empty() => "none".into(),
                Ok(v) => v,
                Err(_) => "unknown".into(),
            },
            ..Snapshot::default()
        };
        let listed: Vec<ListedUnit> = conn
            .call_method(Some(SERVICE), MANAGER_PATH, Some(MANAGER), "ListUnits", &())
            .and_then(|reply| reply.body().deserialize())
            .map_err(BusError::call(SERVICE))?;
        let units: Vec<Unit> = listed
            .into_iter()
            .map(|u| Unit {
                name: u.0,
                load_state: u.2,
                active_state: u.3,
                path: u.6,
            })
            .collect();
        s.summary = summarize(&units);
        let recent = s.version.0 >= MIN_VERSION_SYSTEM_STATE;
        for u in filter(&units, &self.options) {
            self.read_unit(&conn, u, recent, &mut s);
        }
        if recent {
            let state = manager_prop("SystemState")?;
            s.system_running = Some(if state == "running" { 1.0 } else { 0.0 });
        }
        Ok(s)
    }

    /// The per-unit series of `u`; a property systemd does not answer
    /// leaves its series out.
    fn read_unit(&self, conn: &Connection, u: &Unit, recent: bool, s: &mut Snapshot) {
        let get = |interface: &'static str, name: &str| -> Option<OwnedValue> {
            dbus::property::<OwnedValue>(conn, SERVICE, &u.path, interface, name)
                .map_err(|e| tracing::debug!(unit = %u.name, property = name, error = %e, "systemd property"))
                .ok()
        };
        let string = |v: OwnedValue| String::try_from(v).ok();
        let number = |v: OwnedValue| -> Option<f64> {
            u64::try_from(v.try_clone().ok()?)
                .map(|n| n as f64)
                .or_else(|_| u32::try_from(v).map(f64::from))
                .ok()
        };
        let name = &u.name;
        let service = name.ends_with(".service");
        let kind = if service {
            get("org.freedesktop.systemd1.Service", "Type").and_then(string)
        } else if name.ends_with(".mount") {
            get("org.freedesktop.systemd1.Mount", "Type").and_then(string)
        } else {
            None
        };
        let kind = kind.unwrap_or_default();
        for state in UNIT_STATES {
            let on = if state == u.active_state { 1.0 } else { 0.0 };
            s.states.push((name.clone(), state, kind.clone(), on));
        }
        if self.options.restarts && service {
            if let Some(n) = get("org.freedesktop.systemd1.Service", "NRestarts").and_then(number) {
                s.restarts.push((name.clone(), n));
            }
        }
        if self.options.start_time {
            let at = if u.active_state != "active" {
                Some(0.0)
            } else {
                get("org.freedesktop.systemd1.Unit", "ActiveEnterTimestamp")
                    .and_then(number)
                    .map(|us| us / 1e6)
            };
            if let Some(at) = at {
                s.start_times.push((name.clone(), at));
            }
        }
        if self.options.tasks && service {
            // systemd answers u64::MAX for "no value".
            let bounded = |v: f64| (v != u64::MAX as f64).then_some(v);
            if let Some(n) = get("org.freedesktop.systemd1.Service", "TasksCurrent")
                .and_then(number)
                .and_then(bounded)
            {
                s.tasks_current.push((name.clone(), n));
            }
            if let Some(n) = get("org.freedesktop.systemd1.Service", "TasksMax")
                .and_then(number)
                .and_then(bounded)
            {
                s.tasks_max.push((name.clone(), n));
            }
        }
        if recent && name.ends_with(".timer") {
            if let Some(us) =
                get("org.freedesktop.systemd1.Timer", "LastTriggerUSec").and_then(number)
            {
                s.timers.push((name.clone(), us / 1e6));
            }
        }
        if name.ends_with(".socket") {
            let socket = |p| get("org.freedesktop.systemd1.Socket", p).and_then(number);
            if let Some(accepted) = socket("NAccepted") {
                s.accepted.push((name.clone(), accepted));
                if let Some(current) = socket("NConnections") {
                    s.connections.push((name.clone(), current));
                    if let Some(refused) = socket("NRefused") {
                        s.refused.push((name.clone(), refused));
                    }
                }
            }
        }
    }
}

fn per_unit(
    out: &mut Metrics,
    counter: bool,
    name: &'static str,
    help: &'static str,
    rows: &[(String, f64)],
) {
    if rows.is_empty() {
        return;
    }
    let f = if counter {
        out.counter(name, help)
    } else {
        out.gauge(name, help)
    };
    for (unit, v) in rows {
        f.add(&[("name", unit)], *v);
    }
}

impl Collector for Systemd {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let s = self
            .read()
            .map_err(|e| CollectError::Other(e.to_string()))?;
        out.gauge("node_systemd_version", "Detected systemd version")
            .add(&[("version", &s.version.1)], s.version.0);
        out.gauge(
            "node_systemd_virtualization_info",
            "Detected virtualization technology",
        )
        .add(&[("virtualization_type", &s.virtualization)], 1.0);
        let f = out.gauge("node_systemd_units", "Summary of systemd unit states");
        for (state, n) in &s.summary {
            f.add(&[("state", state)], *n);
        }
        if !s.states.is_empty() {
            let f = out.gauge("node_systemd_unit_state", "Systemd unit");
            for (unit, state, kind, on) in &s.states {
                f.add(&[("name", unit), ("state", state), ("type", kind)], *on);
            }
        }
        per_unit(
            out,
            true,
            "node_systemd_service_restart_total",
            "Service unit count of Restart triggers",
            &s.restarts,
        );
        per_unit(
            out,
            false,
            "node_systemd_unit_start_time_seconds",
            "Start time of the unit since unix epoch in seconds.",
            &s.start_times,
        );
        per_unit(
            out,
            false,
            "node_systemd_unit_tasks_current",
            "Current number of tasks per Systemd unit",
            &s.tasks_current,
        );
        per_unit(
            out,
            false,
            "node_systemd_unit_tasks_max",
            "Maximum number of tasks per Systemd unit",
            &s.tasks_max,
        );
        per_unit(
            out,
            false,
            "node_systemd_timer_last_trigger_seconds",
            "Seconds since epoch of last trigger.",
            &s.timers,
        );
        per_unit(
            out,
            true,
            "node_systemd_socket_accepted_connections_total",
            "Total number of accepted socket connections",
            &s.accepted,
        );
        per_unit(
            out,
            false,
            "node_systemd_socket_current_connections",
            "Current number of socket connections",
            &s.connections,
        );
        per_unit(
            out,
            false,
            "node_systemd_socket_refused_connections_total",
            "Total number of refused socket connections",
            &s.refused,
        );
        if let Some(running) = s.system_running {
            out.gauge(
                "node_systemd_system_running",
                "Whether the system is operational (see 'systemctl is-system-running')",
            )
            .add(&[], running);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(name: &str, load: &str, active: &str) -> Unit {
        Unit {
            name: name.into(),
            load_state: load.into(),
            active_state: active.into(),
            path: OwnedObjectPath::try_from("/org/freedesktop/systemd1/unit/x").unwrap(),
        }
    }

    fn options(include: &str, exclude: &str) -> Options {
        Options {
            unit_include: Matcher::new(&anchored(include)).unwrap(),
            unit_exclude: Matcher::new(&anchored(exclude)).unwrap(),
            start_time: false,
            tasks: false,
            restarts: false,
        }
    }

    #[test]
    fn reads_the_version_as_node_exporter_does() {
        assert_eq!(parse_version("252.22-1~deb12u1"), Some(252.22));
        assert_eq!(parse_version("v255"), Some(255.0));
        assert_eq!(parse_version("255.4-1ubuntu8"), Some(255.4));
        assert_eq!(parse_version("24 12"), None);
        assert_eq!(parse_version(""), None);
    }

    #[test]
    fn default_filters_keep_loaded_services_and_drop_mounts() {
        let units = [
            unit("ssh.service", "loaded", "active"),
            unit("home.mount", "loaded", "active"),
            unit("user-1000.slice", "loaded", "active"),
            unit("gone.service", "not-found", "inactive"),
            unit("logrotate.timer", "loaded", "active"),
            // Anchored: the exclude must match the whole name.
            unit("mount.service", "loaded", "failed"),
        ];
        let kept: Vec<&str> = filter(&units, &options(DEFAULT_UNIT_INCLUDE, DEFAULT_UNIT_EXCLUDE))
            .iter()
            .map(|u| u.name.as_str())
            .collect();
        assert_eq!(kept, ["ssh.service", "logrotate.timer", "mount.service"]);
        let only_ssh: Vec<&str> = filter(&units, &options("ssh.*", DEFAULT_UNIT_EXCLUDE))
            .iter()
            .map(|u| u.name.as_str())
            .collect();
        assert_eq!(only_ssh, ["ssh.service"]);
    }

    #[test]
    fn the_summary_counts_every_unit_and_keeps_unknown_states() {
        let units = [
            unit("a.service", "loaded", "active"),
            unit("b.mount", "loaded", "active"),
            unit("c.service", "not-found", "inactive"),
            unit("d.service", "loaded", "reloading"),
        ];
        assert_eq!(
            summarize(&units),
            [
                ("active".to_owned(), 2.0),
                ("activating".to_owned(), 0.0),
                ("deactivating".to_owned(), 0.0),
                ("inactive".to_owned(), 1.0),
                ("failed".to_owned(), 0.0),
                ("reloading".to_owned(), 1.0),
            ]
        );
    }
}
