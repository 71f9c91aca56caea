//! `service.status UNIT`, `service.restart UNIT` (systemd over D-Bus) and
//! `reboot` / `shutdown` (logind's scheduled shutdown, cancellable with
//! `{"cancel": true}`).
//!
//! systemd: `GetUnit` and `RestartUnit(name, "replace")` on
//! `org.freedesktop.systemd1.Manager`, then the unit's `LoadState`,
//! `ActiveState`, `SubState`, `Description` and `StateChangeTimestamp`
//! from `org.freedesktop.systemd1.Unit`. logind: through
//! [`crate::exporter::logins::logind`], the one owner of its names; the
//! bus: [`crate::exporter::dbus`].
//!
//! Decisions:
//! - The systemd proxy lives here, with the actions: the only other
//!   systemd reader (a collector) may share it once both exist.
//! - A unit must be one of the allow-list's units, by its full name or,
//!   when that is listed, by its name without `.service`.
//! - `service.status` asks `GetUnit`, not `LoadUnit`: a unit systemd has
//!   not loaded is answered 404 rather than loaded as a side effect of a
//!   read.
//! - `reboot` and `shutdown` go through logind's `ScheduleShutdown`, never
//!   `Reboot`/`PowerOff`: logged-in users are warned, and there is the
//!   configured delay to cancel in. Cancelling cancels whichever is
//!   scheduled (logind keeps one).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use zbus::blocking::Proxy;

use super::{config, Args, ExecError};
use crate::exporter::dbus::{self, BusError};
use crate::exporter::logins::logind;

pub use logind::ShutdownKind;

const SYSTEMD: &str = "org.freedesktop.systemd1";
const SYSTEMD_PATH: &str = "/org/freedesktop/systemd1";
const SYSTEMD_MANAGER: &str = "org.freedesktop.systemd1.Manager";
const SYSTEMD_UNIT: &str = "org.freedesktop.systemd1.Unit";
const NO_SUCH_UNIT: &str = "org.freedesktop.systemd1.NoSuchUnit";

/// The `unit` parameter, checked against the allow-list.
pub fn unit_arg(s: &config::Service, a: &mut Args<'_>) -> Result<String, ExecError> {
    let unit = a.required("unit")?;
    let full = format!("{unit}.service");
    s.units
        .iter()
        .find(|u| *u == unit || **u == full)
        .cloned()
        .ok_or_else(|| {
            ExecError::Args(format!(
                "parameter \"unit\": {unit:?} is not one of this agent's units ({})",
                s.units.join(", ")
            ))
        })
}

/// One unit's state, as systemd reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitStatus {
    pub unit: String,
    pub description: String,
    /// `loaded`, `not-found`, `masked`, …
    pub load_state: String,
    /// `active`, `inactive`, `failed`, `activating`, …
    pub active_state: String,
    /// `running`, `exited`, `dead`, …
    pub sub_state: String,
    /// When the unit last changed state, microseconds since the epoch (0: never).
    pub state_change_us: u64,
}

/// What `service.restart` did: the job systemd queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Restarted {
    pub unit: String,
    pub job: String,
}

fn bus_error(e: BusError, unit: &str) -> ExecError {
    if e.error_name() == Some(NO_SUCH_UNIT) {
        return ExecError::NotFound(format!("systemd has no unit {unit} loaded"));
    }
    match e {
        BusError::Unreachable { .. } => ExecError::Failed(e.to_string()),
        BusError::Call { .. } => ExecError::Failed(format!("systemd: {e}")),
    }
}

/// `service.status`: the unit's state.
pub fn status(bus: &str, unit: &str) -> Result<UnitStatus, ExecError> {
    let read = || -> Result<UnitStatus, BusError> {
        let conn = dbus::connect(bus)?;
        let manager = Proxy::new(&conn, SYSTEMD, SYSTEMD_PATH, SYSTEMD_MANAGER)?;
        let path: zbus::zvariant::OwnedObjectPath = manager.call("GetUnit", &(unit,))?;
        let u = Proxy::new(&conn, SYSTEMD, path, SYSTEMD_UNIT)?;
        Ok(UnitStatus {
            unit: unit.to_owned(),
            description: u.get_property("Description")?,
            load_state: u.get_property("LoadState")?,
            active_state: u.get_property("ActiveState")?,
            sub_state: u.get_property("SubState")?,
            state_change_us: u.get_property("StateChangeTimestamp")?,
        })
    };
    read().map_err(|e| bus_error(e, unit))
}

/// `service.restart`: queues a restart job (mode `replace`).
pub fn restart(bus: &str, unit: &str) -> Result<Restarted, ExecError> {
    let call = || -> Result<Restarted, BusError> {
        let conn = dbus::connect(bus)?;
        let manager = Proxy::new(&conn, SYSTEMD, SYSTEMD_PATH, SYSTEMD_MANAGER)?;
        let job: zbus::zvariant::OwnedObjectPath =
            manager.call("RestartUnit", &(unit, "replace"))?;
        Ok(Restarted {
            unit: unit.to_owned(),
            job: job.to_string(),
        })
    };
    call().map_err(|e| bus_error(e, unit))
}

/// What `reboot` / `shutdown` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum PowerResult {
    Scheduled {
        scheduled: ShutdownKind,
        /// When, Unix seconds.
        at: u64,
        delay_seconds: u64,
    },
    Cancelled {
        /// Whether a shutdown was scheduled.
        cancelled: bool,
    },
}

/// Schedules a reboot or power-off `delay` from now.
pub fn schedule(bus: &str, kind: ShutdownKind, delay: Duration) -> Result<PowerResult, ExecError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let at = now + delay;
    logind::schedule_shutdown(bus, kind, at.as_micros() as u64)
        .map_err(|e| ExecError::Failed(format!("logind: {e}")))?;
    Ok(PowerResult::Scheduled {
        scheduled: kind,
        at: at.as_secs(),
        delay_seconds: delay.as_secs(),
    })
}

/// Cancels the scheduled shutdown, if any.
pub fn cancel(bus: &str) -> Result<PowerResult, ExecError> {
    let cancelled = logind::cancel_scheduled_shutdown(bus)
        .map_err(|e| ExecError::Failed(format!("logind: {e}")))?;
    Ok(PowerResult::Cancelled { cancelled })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_taken_only_from_the_allow_list() {
        let s = config::Service {
            units: vec!["nginx.service".into(), "backup.timer".into()],
            status: true,
            restart: true,
        };
        let unit = |v: &str| {
            let args = [("unit".to_owned(), serde_json::json!(v))].into();
            let mut a = Args::new(&args);
            unit_arg(&s, &mut a)
        };
        assert_eq!(unit("nginx.service").unwrap(), "nginx.service");
        assert_eq!(unit("nginx").unwrap(), "nginx.service");
        assert_eq!(unit("backup.timer").unwrap(), "backup.timer");
        for bad in ["backup", "sshd.service", "nginx.service; reboot", ""] {
            assert!(matches!(unit(bad), Err(ExecError::Args(_))), "{bad}");
        }
    }
}
