//! The system D-Bus, as the exporter reaches it: where the bus is,
//! connecting to it, and the one error type. Shared by the collectors that
//! ask systemd and logind and by the actions (systemd units, logind's
//! scheduled shutdown).
//!
//! Decisions: the bus is `/run/dbus/system_bus_socket` under
//! `--path.rootfs` (where a container mounts the host's), reached through
//! zbus's blocking API with one connection per scrape, so a restarted bus
//! or service is simply picked up next time. Properties are read with
//! `org.freedesktop.DBus.Properties.Get`, uncached: a scrape wants the value
//! now, and a cache would subscribe to change signals for every object.
//! Every call has a deadline ([`CALL_TIMEOUT`]): a hung systemd fails its
//! collector instead of holding the scrape forever.

use std::path::Path;

use zbus::blocking::Connection;
use zbus::names::InterfaceName;
use zbus::zvariant::{ObjectPath, OwnedValue};

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// No bus there (no socket, or nobody listening).
    #[error("D-Bus system bus not reachable at {address}: {source}")]
    Unreachable {
        address: String,
        #[source]
        source: Box<zbus::Error>,
    },
    #[error("asking {service} over D-Bus: {source}")]
    Call {
        service: &'static str,
        #[source]
        source: Box<zbus::Error>,
    },
}

impl From<zbus::Error> for BusError {
    fn from(e: zbus::Error) -> Self {
        BusError::Call {
            service: "D-Bus",
            source: Box::new(e),
        }
    }
}

impl BusError {
    /// The D-Bus error name of a failed call
    /// (`org.freedesktop.systemd1.NoSuchUnit`), if that is what it is.
    pub fn error_name(&self) -> Option<&str> {
        match self {
            BusError::Call { source, .. } => match source.as_ref() {
                zbus::Error::MethodError(name, _, _) => Some(name.as_str()),
                _ => None,
            },
            BusError::Unreachable { .. } => None,
        }
    }

    /// A failed call to `service`, for `map_err`.
    pub fn call(service: &'static str) -> impl Fn(zbus::Error) -> BusError {
        move |e| BusError::Call {
            service,
            source: Box::new(e),
        }
    }
}

/// How long one D-Bus call may take before the collector gives up.
pub const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The system bus address for a root filesystem.
pub fn address(rootfs: &Path) -> String {
    format!(
        "unix:path={}",
        rootfs.join("run/dbus/system_bus_socket").display()
    )
}

/// [`address`] under its other name, as the actions call it.
pub fn system_bus(rootfs: &Path) -> String {
    address(rootfs)
}

/// A connection to the bus at `address`.
pub fn connect(address: &str) -> Result<Connection, BusError> {
    zbus::blocking::connection::Builder::address(address)
        .and_then(|b| b.method_timeout(CALL_TIMEOUT).build())
        .map_err(|source| BusError::Unreachable {
            address: address.to_owned(),
            source: Box::new(source),
        })
}

/// One property of the object at `path` of `service`.
pub fn property<T>(
    conn: &Connection,
    service: &'static str,
    path: &ObjectPath<'_>,
    interface: &'static str,
    name: &str,
) -> Result<T, BusError>
where
    T: TryFrom<OwnedValue>,
    T::Error: Into<zbus::Error>,
{
    let call = BusError::call(service);
    let reply = conn
        .call_method(
            Some(service),
            path,
            Some("org.freedesktop.DBus.Properties"),
            "Get",
            &(InterfaceName::from_static_str_unchecked(interface), name),
        )
        .map_err(&call)?;
    // `Get` answers a variant; deserialized, it is the value inside.
    let value: OwnedValue = reply.body().deserialize().map_err(&call)?;
    T::try_from(value).map_err(|e| call(e.into()))
}
