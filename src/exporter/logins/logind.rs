//! Sessions from systemd-logind over D-Bus (`org.freedesktop.login1`):
//! `ListSessions` on the manager, then each session's properties.
//!
//! Decisions: the system bus is reached at
//! `/run/dbus/system_bus_socket` under `--path.rootfs` (where a container
//! mounts the host's), through zbus's blocking API; one connection per
//! read, so a restarted bus or logind is simply picked up next time.

use std::path::Path;

use zbus::blocking::{Connection, Proxy};
use zbus::zvariant::OwnedObjectPath;

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

#[derive(Debug, thiserror::Error)]
pub enum LogindError {
    /// No bus there (no socket, or nobody listening).
    #[error("D-Bus system bus not reachable at {address}: {source}")]
    Unreachable {
        address: String,
        #[source]
        source: Box<zbus::Error>,
    },
    #[error("asking systemd-logind over D-Bus: {0}")]
    Call(Box<zbus::Error>),
}

impl From<zbus::Error> for LogindError {
    fn from(e: zbus::Error) -> Self {
        LogindError::Call(Box::new(e))
    }
}

/// The bus address for a root filesystem.
pub fn address(rootfs: &Path) -> String {
    format!(
        "unix:path={}",
        rootfs.join("run/dbus/system_bus_socket").display()
    )
}

/// Every session logind knows.
pub fn list(address: &str) -> Result<Vec<Session>, LogindError> {
    let conn = zbus::blocking::connection::Builder::address(address)
        .and_then(|b| b.build())
        .map_err(|source| LogindError::Unreachable {
            address: address.to_owned(),
            source: Box::new(source),
        })?;
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
) -> Result<Session, LogindError> {
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
