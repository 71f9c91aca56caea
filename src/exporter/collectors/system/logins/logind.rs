//! Sessions and seats from systemd-logind over D-Bus
//! (`org.freedesktop.login1`): `ListSessions` / `ListSeats` on the manager,
//! then each session's properties. Shared by the `logins` collector and
//! node_exporter's `logind` collector (`exporter/logind.rs`), and the
//! scheduled shutdown (`ScheduleShutdown`, `CancelScheduledShutdown`) for
//! the `reboot` and `shutdown` actions.
//!
//! Decisions: the bus and its errors are [`crate::exporter::dbus`]'s; one
//! connection per read, so a restarted bus or logind is simply picked up
//! next time.

use zbus::blocking::{Connection, Proxy};
use zbus::zvariant::OwnedObjectPath;

use crate::exporter::dbus;
pub use crate::exporter::dbus::address;

const SERVICE: &str = "org.freedesktop.login1";
const MANAGER_PATH: &str = "/org/freedesktop/login1";
const MANAGER: &str = "org.freedesktop.login1.Manager";
const SESSION: &str = "org.freedesktop.login1.Session";

/// One logind session, as much of it as we use.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: String,
    pub user: String,
    /// The seat (`seat0`); empty for a session without one (SSH).
    pub seat: String,
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

/// The errors of talking to logind: the bus's.
pub type LogindError = dbus::BusError;

/// A connection to logind.
pub struct Logind {
    conn: Connection,
}

impl Logind {
    pub fn connect(address: &str) -> Result<Self, LogindError> {
        Ok(Logind {
            conn: dbus::connect(address)?,
        })
    }

    fn manager(&self) -> Result<Proxy<'_>, LogindError> {
        Proxy::new(&self.conn, SERVICE, MANAGER_PATH, MANAGER).map_err(LogindError::call(SERVICE))
    }

    /// Every session logind knows.
    pub fn sessions(&self) -> Result<Vec<Session>, LogindError> {
        let listed: Vec<(String, u32, String, String, OwnedObjectPath)> = self
            .manager()?
            .call("ListSessions", &())
            .map_err(LogindError::call(SERVICE))?;
        listed
            .into_iter()
            .map(|(id, _uid, user, seat, path)| self.session(id, user, seat, path))
            .collect()
    }

    /// The names of the seats logind knows (`seat0`).
    pub fn seats(&self) -> Result<Vec<String>, LogindError> {
        let listed: Vec<(String, OwnedObjectPath)> = self
            .manager()?
            .call("ListSeats", &())
            .map_err(LogindError::call(SERVICE))?;
        Ok(listed.into_iter().map(|(id, _)| id).collect())
    }

    fn session(
        &self,
        id: String,
        user: String,
        seat: String,
        path: OwnedObjectPath,
    ) -> Result<Session, LogindError> {
        let path = path.as_ref();
        let c = &self.conn;
        Ok(Session {
            id,
            user,
            seat,
            kind: dbus::property(c, SERVICE, &path, SESSION, "Type")?,
            class: dbus::property(c, SERVICE, &path, SESSION, "Class")?,
            remote: dbus::property(c, SERVICE, &path, SESSION, "Remote")?,
            remote_host: dbus::property(c, SERVICE, &path, SESSION, "RemoteHost")?,
            service: dbus::property(c, SERVICE, &path, SESSION, "Service")?,
            timestamp_us: dbus::property(c, SERVICE, &path, SESSION, "Timestamp")?,
        })
    }
}

/// Every session logind knows.
pub fn list(address: &str) -> Result<Vec<Session>, LogindError> {
    Logind::connect(address)?.sessions()
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
pub fn schedule_shutdown(address: &str, kind: ShutdownKind, at_us: u64) -> Result<(), LogindError> {
    let conn = dbus::connect(address)?;
    let manager = Proxy::new(&conn, SERVICE, MANAGER_PATH, MANAGER)?;
    manager.call::<_, _, ()>("ScheduleShutdown", &(kind.as_str(), at_us))?;
    Ok(())
}

/// Cancels a scheduled shutdown; whether one was scheduled.
pub fn cancel_scheduled_shutdown(address: &str) -> Result<bool, LogindError> {
    let conn = dbus::connect(address)?;
    let manager = Proxy::new(&conn, SERVICE, MANAGER_PATH, MANAGER)?;
    Ok(manager.call("CancelScheduledShutdown", &())?)
}
