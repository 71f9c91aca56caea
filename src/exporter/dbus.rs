//! The D-Bus system bus as the exporter reaches it: its address under
//! `--path.rootfs` and one blocking connection, with the error that tells
//! "no bus here" apart from "the bus answered with an error". Shared by
//! the logins collector (logind's sessions) and the actions (systemd
//! units, logind's scheduled shutdown).
//!
//! Decisions: the system bus is reached at `/run/dbus/system_bus_socket`
//! under `--path.rootfs` (where a container mounts the host's), through
//! zbus's blocking API (callers run on blocking threads); one connection
//! per use, so a restarted bus or service is simply picked up next time.

use std::path::Path;

use zbus::blocking::Connection;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// No bus there (no socket, or nobody listening).
    #[error("D-Bus system bus not reachable at {address}: {source}")]
    Unreachable {
        address: String,
        #[source]
        source: Box<zbus::Error>,
    },
    /// The bus or the service answered a call with an error.
    #[error("{0}")]
    Call(Box<zbus::Error>),
}

impl From<zbus::Error> for BusError {
    fn from(e: zbus::Error) -> Self {
        BusError::Call(Box::new(e))
    }
}

impl BusError {
    /// The D-Bus error name of a failed call
    /// (`org.freedesktop.systemd1.NoSuchUnit`), if that is what it is.
    pub fn error_name(&self) -> Option<&str> {
        match self {
            BusError::Call(e) => match e.as_ref() {
                zbus::Error::MethodError(name, _, _) => Some(name.as_str()),
                _ => None,
            },
            BusError::Unreachable { .. } => None,
        }
    }
}

/// The system bus's address for a root filesystem.
pub fn system_bus(rootfs: &Path) -> String {
    format!(
        "unix:path={}",
        rootfs.join("run/dbus/system_bus_socket").display()
    )
}

/// A connection to the bus at `address`.
pub fn connect(address: &str) -> Result<Connection, BusError> {
    zbus::blocking::connection::Builder::address(address)
        .and_then(|b| b.build())
        .map_err(|source| BusError::Unreachable {
            address: address.to_owned(),
            source: Box::new(source),
        })
}
