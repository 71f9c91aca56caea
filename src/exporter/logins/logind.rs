//! systemd-logind over D-Bus (`org.freedesktop.login1`), the one owner
//! of its names: the sessions (`ListSessions` on the manager, then each
//! session's properties) for the logins collector, and the scheduled
//! shutdown (`ScheduleShutdown`, `CancelScheduledShutdown`) for the
//! `reboot` and `shutdown` actions. The bus itself: [`crate::exporter::dbus`].

use zbus::blocking::{Connection, Proxy};
use zbus::zvariant::OwnedObjectPath;

use crate::exporter::dbus::{self, BusError};

const SERVICE: &str = "org.freedesktop.login1";
const MANAGER_PATH: &str = "/org/freedesktop/login1";
const MANAGER: &str = "org.freedesktop.login1.Manager";
const SESSION: &str = "org.freedesktop.login1.Session";

/// One logind session, as much of it as we use.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: String,
    pub user: String,
    /// `tty`, `x11`, `wayland`, `mir`, `web` or `unspecified`.
    pub kind: String,
    /// `user`, `greeter`, `lock-screen`, `background`, …
    pub class: String,
    pub remote: bool,
    pub remote_host: String,
    /// The PAM service: `sshd`, `login`, `gdm-password`.
    pub service: String,
    /// Login time, microseconds since the epoch.
    pub timestamp_us: u64,
}

/// Every session logind knows.
pub fn list(address: &str) -> Result<Vec<Session>, BusError> {
    let conn = dbus::connect(address)?;
    let manager = Proxy::new(&conn, SERVICE, MANAGER_PATH, MANAGER)?;
    let listed: Vec<(String, u32, String, String, OwnedObjectPath)> =
        manager.call("ListSessions", &())?;
    listed
        .into_iter()
        .map(|(id, _uid, user, _seat, path)| session(&conn, id, user, path))
        .collect()
}

fn session(
    conn: &Connection,
    id: String,
    user: String,
    path: OwnedObjectPath,
) -> Result<Session, BusError> {
    let p = Proxy::new(conn, SERVICE, path, SESSION)?;
    Ok(Session {
        id,
        user,
        kind: p.get_property("Type")?,
        class: p.get_property("Class")?,
        remote: p.get_property("Remote")?,
        remote_host: p.get_property("RemoteHost")?,
        service: p.get_property("Service")?,
        timestamp_us: p.get_property("Timestamp")?,
    })
}

/// What a scheduled shutdown does: logind's `ScheduleShutdown` types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ShutdownKind {
    Reboot,
    #[serde(rename = "poweroff")]
    PowerOff,
}

impl ShutdownKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ShutdownKind::Reboot => "reboot",
            ShutdownKind::PowerOff => "poweroff",
        }
    }
}

/// Asks logind to reboot or power off at `at_us` (microseconds since the
/// epoch, `CLOCK_REALTIME`); logind announces it to logged-in users and
/// replaces any shutdown scheduled before.
pub fn schedule_shutdown(address: &str, kind: ShutdownKind, at_us: u64) -> Result<(), BusError> {
    let conn = dbus::connect(address)?;
    let manager = Proxy::new(&conn, SERVICE, MANAGER_PATH, MANAGER)?;
    manager.call::<_, _, ()>("ScheduleShutdown", &(kind.as_str(), at_us))?;
    Ok(())
}

/// Cancels a scheduled shutdown; whether one was scheduled.
pub fn cancel_scheduled_shutdown(address: &str) -> Result<bool, BusError> {
    let conn = dbus::connect(address)?;
    let manager = Proxy::new(&conn, SERVICE, MANAGER_PATH, MANAGER)?;
    Ok(manager.call("CancelScheduledShutdown", &())?)
}
