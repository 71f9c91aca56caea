//! Stand-ins for systemd and systemd-logind on a private `dbus-daemon`
//! (the machine runs neither as a service a test may drive): each serves
//! the interface's methods and properties the exporter uses (its
//! collectors and its actions), as the services document them, and records
//! the calls it gets. One stand-in per service, shared by every test.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::{require, spawn, wait_for, Proc};

/// Starts a private bus at `root/run/dbus/system_bus_socket`, where the
/// exporter looks under `--path.rootfs=root`; the daemon and its address.
pub fn system_bus(root: &Path) -> (Proc, String) {
    let dbus = require("dbus-daemon", "dbus-daemon");
    std::fs::create_dir_all(root.join("run/dbus")).unwrap();
    let socket = root.join("run/dbus/system_bus_socket");
    let address = format!("unix:path={}", socket.display());
    let bus = spawn(
        Command::new(dbus)
            .args(["--session", "--nofork", "--nopidfile"])
            .arg(format!("--address={address}")),
    );
    assert!(
        wait_for(Duration::from_secs(10), || socket.exists().then_some(())).is_some(),
        "dbus-daemon did not start"
    );
    (bus, address)
}

/// systemd-logind: the `org.freedesktop.login1` manager (sessions,
/// scheduled shutdown) and session objects.
pub mod logind {
    use std::sync::{Arc, Mutex};

    use zbus::zvariant::OwnedObjectPath;

    #[derive(Clone, Default)]
    pub struct Session {
        pub id: &'static str,
        /// `seat0`, or empty for a session without a seat (SSH).
        pub seat: &'static str,
        pub user: &'static str,
        pub kind: &'static str,
        pub class: &'static str,
        pub remote: bool,
        pub remote_host: &'static str,
        pub service: &'static str,
        pub timestamp_us: u64,
    }

    fn path(id: &str) -> OwnedObjectPath {
        OwnedObjectPath::try_from(format!("/org/freedesktop/login1/session/_3{id}")).unwrap()
    }

    pub struct Manager {
        sessions: Arc<Mutex<Vec<Session>>>,
        /// `ScheduleShutdown TYPE USEC` and `CancelScheduledShutdown`, in order.
        pub calls: Vec<String>,
        scheduled: Option<(String, u64)>,
    }

    #[zbus::interface(name = "org.freedesktop.login1.Manager")]
    impl Manager {
        fn list_sessions(&self) -> Vec<(String, u32, String, String, OwnedObjectPath)> {
            self.sessions
                .lock()
                .unwrap()
                .iter()
                .map(|s| (s.id.into(), 1000, s.user.into(), s.seat.into(), path(s.id)))
                .collect()
        }

        /// `seat0`, as on a machine with a console.
        fn list_seats(&self) -> Vec<(String, OwnedObjectPath)> {
            vec![(
                "seat0".into(),
                OwnedObjectPath::try_from("/org/freedesktop/login1/seat/seat0").unwrap(),
            )]
        }

        /// logind refuses unknown types with InvalidArgs.
        fn schedule_shutdown(&mut self, kind: String, usec: u64) -> zbus::fdo::Result<()> {
            self.calls.push(format!("ScheduleShutdown {kind} {usec}"));
            if ![
                "poweroff",
                "reboot",
                "halt",
                "kexec",
                "dry-poweroff",
                "dry-reboot",
            ]
            .contains(&kind.as_str())
            {
                return Err(zbus::fdo::Error::InvalidArgs(format!(
                    "Unsupported shutdown type: {kind}"
                )));
            }
            self.scheduled = Some((kind, usec));
            Ok(())
        }

        fn cancel_scheduled_shutdown(&mut self) -> bool {
            self.calls.push("CancelScheduledShutdown".into());
            self.scheduled.take().is_some()
        }
    }

    pub struct SessionObject(pub Session);

    #[zbus::interface(name = "org.freedesktop.login1.Session")]
    impl SessionObject {
        #[zbus(property, name = "Type")]
        fn kind(&self) -> String {
            self.0.kind.into()
        }
        #[zbus(property)]
        fn class(&self) -> String {
            self.0.class.into()
        }
        #[zbus(property)]
        fn remote(&self) -> bool {
            self.0.remote
        }
        #[zbus(property)]
        fn remote_host(&self) -> String {
            self.0.remote_host.into()
        }
        #[zbus(property)]
        fn service(&self) -> String {
            self.0.service.into()
        }
        #[zbus(property)]
        fn timestamp(&self) -> u64 {
            self.0.timestamp_us
        }
    }

    /// Serves `sessions` on the bus at `address`; add more with [`add`].
    pub fn serve(
        address: &str,
        sessions: Vec<Session>,
    ) -> (zbus::blocking::Connection, Arc<Mutex<Vec<Session>>>) {
        let list = Arc::new(Mutex::new(Vec::new()));
        let manager = Manager {
            sessions: list.clone(),
            calls: Vec::new(),
            scheduled: None,
        };
        let conn = zbus::blocking::connection::Builder::address(address)
            .unwrap()
            .name("org.freedesktop.login1")
            .unwrap()
            .serve_at("/org/freedesktop/login1", manager)
            .unwrap()
            .build()
            .unwrap();
        for s in sessions {
            add(&conn, &list, s);
        }
        (conn, list)
    }

    pub fn add(conn: &zbus::blocking::Connection, list: &Arc<Mutex<Vec<Session>>>, s: Session) {
        conn.object_server()
            .at(path(s.id), SessionObject(s.clone()))
            .unwrap();
        list.lock().unwrap().push(s);
    }

    /// The manager's calls so far.
    pub fn calls(conn: &zbus::blocking::Connection) -> Vec<String> {
        let iface = conn
            .object_server()
            .interface::<_, Manager>("/org/freedesktop/login1")
            .unwrap();
        let calls = iface.get().calls.clone();
        calls
    }
}

/// systemd: the `org.freedesktop.systemd1` manager (`ListUnits` and the
/// properties the `systemd` collector reads; `GetUnit` and `RestartUnit`
/// for the `service.*` actions) and unit objects with their properties
/// (`Unit`, and `Service`, `Socket` or `Timer` where the unit has them),
/// with the types and meanings of org.freedesktop.systemd1(5).
pub mod systemd {
    use zbus::zvariant::OwnedObjectPath;

    #[derive(Debug, zbus::DBusError)]
    #[zbus(prefix = "org.freedesktop.systemd1")]
    pub enum Error {
        #[zbus(error)]
        ZBus(zbus::Error),
        NoSuchUnit(String),
    }

    /// One unit as the stand-in serves it.
    #[derive(Clone)]
    pub struct Unit {
        pub name: &'static str,
        pub description: &'static str,
        /// `loaded`, `not-found`, …
        pub load_state: &'static str,
        pub active_state: &'static str,
        pub sub_state: &'static str,
        /// When it last changed state, microseconds since the epoch.
        pub state_change_us: u64,
        /// When it last became active, microseconds since the epoch.
        pub active_enter_us: u64,
        /// A service's `Type`, restarts, tasks now and at most.
        pub service: Option<(&'static str, u32, u64, u64)>,
        /// A socket's accepted, current and refused connections.
        pub socket: Option<(u32, u32, u32)>,
        /// A timer's last trigger, microseconds since the epoch.
        pub timer_us: Option<u64>,
    }

    impl Unit {
        /// `name` in these states, its sub-state `running` when active and
        /// `dead` otherwise, nothing else set.
        pub fn new(
            name: &'static str,
            load_state: &'static str,
            active_state: &'static str,
        ) -> Unit {
            Unit {
                name,
                description: "",
                load_state,
                active_state,
                sub_state: if active_state == "active" {
                    "running"
                } else {
                    "dead"
                },
                state_change_us: 0,
                active_enter_us: 0,
                service: None,
                socket: None,
                timer_us: None,
            }
        }
    }

    /// The manager's own properties.
    pub struct Host {
        pub version: &'static str,
        pub virtualization: &'static str,
        pub state: &'static str,
    }

    impl Default for Host {
        fn default() -> Self {
            Host {
                version: "252.30-1~deb12u2",
                virtualization: "",
                state: "running",
            }
        }
    }

    /// The object path systemd gives a unit: its name with every byte
    /// other than a letter or digit escaped as `_XX`.
    pub fn path(name: &str) -> OwnedObjectPath {
        let mut p = String::from("/org/freedesktop/systemd1/unit/");
        for b in name.bytes() {
            if b.is_ascii_alphanumeric() {
                p.push(b as char);
            } else {
                p.push_str(&format!("_{b:02x}"));
            }
        }
        OwnedObjectPath::try_from(p).unwrap()
    }

    pub struct Manager {
        units: Vec<Unit>,
        host: Host,
        /// `GetUnit NAME`, `RestartUnit NAME MODE`, in order.
        pub calls: Vec<String>,
        jobs: u32,
    }

    /// `ListUnits`' row, as the collector reads it.
    type Listed = outpost::exporter::systemd::ListedUnit;

    impl Manager {
        fn known(&self, name: &str) -> bool {
            self.units.iter().any(|u| u.name == name)
        }
    }

    #[zbus::interface(name = "org.freedesktop.systemd1.Manager")]
    impl Manager {
        fn list_units(&self) -> Vec<Listed> {
            self.units
                .iter()
                .map(|u| {
                    (
                        u.name.into(),
                        u.description.into(),
                        u.load_state.into(),
                        u.active_state.into(),
                        u.sub_state.into(),
                        String::new(),
                        path(u.name),
                        0,
                        String::new(),
                        OwnedObjectPath::try_from("/").unwrap(),
                    )
                })
                .collect()
        }

        fn get_unit(&mut self, name: String) -> Result<OwnedObjectPath, Error> {
            self.calls.push(format!("GetUnit {name}"));
            if !self.known(&name) {
                return Err(Error::NoSuchUnit(format!("Unit {name} not loaded.")));
            }
            Ok(path(&name))
        }

        fn restart_unit(&mut self, name: String, mode: String) -> Result<OwnedObjectPath, Error> {
            self.calls.push(format!("RestartUnit {name} {mode}"));
            if !self.known(&name) {
                return Err(Error::NoSuchUnit(format!("Unit {name} not found.")));
            }
            self.jobs += 1;
            Ok(
                OwnedObjectPath::try_from(format!("/org/freedesktop/systemd1/job/{}", self.jobs))
                    .unwrap(),
            )
        }

        #[zbus(property, name = "Version")]
        fn version(&self) -> String {
            self.host.version.into()
        }
        #[zbus(property, name = "Virtualization")]
        fn virtualization(&self) -> String {
            self.host.virtualization.into()
        }
        #[zbus(property, name = "SystemState")]
        fn system_state(&self) -> String {
            self.host.state.into()
        }
    }

    pub struct UnitObject(pub Unit);

    #[zbus::interface(name = "org.freedesktop.systemd1.Unit")]
    impl UnitObject {
        #[zbus(property)]
        fn id(&self) -> String {
            self.0.name.into()
        }
        #[zbus(property)]
        fn description(&self) -> String {
            self.0.description.into()
        }
        #[zbus(property)]
        fn load_state(&self) -> String {
            self.0.load_state.into()
        }
        #[zbus(property)]
        fn active_state(&self) -> String {
            self.0.active_state.into()
        }
        #[zbus(property)]
        fn sub_state(&self) -> String {
            self.0.sub_state.into()
        }
        #[zbus(property)]
        fn state_change_timestamp(&self) -> u64 {
            self.0.state_change_us
        }
        #[zbus(property, name = "ActiveEnterTimestamp")]
        fn active_enter_timestamp(&self) -> u64 {
            self.0.active_enter_us
        }
    }

    pub struct Service(pub (&'static str, u32, u64, u64));
    #[zbus::interface(name = "org.freedesktop.systemd1.Service")]
    impl Service {
        #[zbus(property, name = "Type")]
        fn kind(&self) -> String {
            self.0 .0.into()
        }
        #[zbus(property, name = "NRestarts")]
        fn n_restarts(&self) -> u32 {
            self.0 .1
        }
        #[zbus(property, name = "TasksCurrent")]
        fn tasks_current(&self) -> u64 {
            self.0 .2
        }
        #[zbus(property, name = "TasksMax")]
        fn tasks_max(&self) -> u64 {
            self.0 .3
        }
    }

    pub struct Socket(pub (u32, u32, u32));
    #[zbus::interface(name = "org.freedesktop.systemd1.Socket")]
    impl Socket {
        #[zbus(property, name = "NAccepted")]
        fn n_accepted(&self) -> u32 {
            self.0 .0
        }
        #[zbus(property, name = "NConnections")]
        fn n_connections(&self) -> u32 {
            self.0 .1
        }
        #[zbus(property, name = "NRefused")]
        fn n_refused(&self) -> u32 {
            self.0 .2
        }
    }

    pub struct Timer(pub u64);
    #[zbus::interface(name = "org.freedesktop.systemd1.Timer")]
    impl Timer {
        #[zbus(property, name = "LastTriggerUSec")]
        fn last_trigger_usec(&self) -> u64 {
            self.0
        }
    }

    /// Serves `units` on the bus at `address`, the manager's properties
    /// [`Host::default`].
    pub fn serve(address: &str, units: Vec<Unit>) -> zbus::blocking::Connection {
        serve_host(address, Host::default(), units)
    }

    /// Serves `units` on the bus at `address` with these manager properties.
    pub fn serve_host(address: &str, host: Host, units: Vec<Unit>) -> zbus::blocking::Connection {
        let manager = Manager {
            units: units.clone(),
            host,
            calls: Vec::new(),
            jobs: 0,
        };
        let conn = zbus::blocking::connection::Builder::address(address)
            .unwrap()
            .name("org.freedesktop.systemd1")
            .unwrap()
            .serve_at("/org/freedesktop/systemd1", manager)
            .unwrap()
            .build()
            .unwrap();
        {
            let server = conn.object_server();
            for u in units {
                let p = path(u.name);
                if let Some(s) = u.service {
                    server.at(&p, Service(s)).unwrap();
                }
                if let Some(s) = u.socket {
                    server.at(&p, Socket(s)).unwrap();
                }
                if let Some(t) = u.timer_us {
                    server.at(&p, Timer(t)).unwrap();
                }
                server.at(&p, UnitObject(u)).unwrap();
            }
        }
        conn
    }

    /// The manager's calls so far.
    pub fn calls(conn: &zbus::blocking::Connection) -> Vec<String> {
        let iface = conn
            .object_server()
            .interface::<_, Manager>("/org/freedesktop/systemd1")
            .unwrap();
        let calls = iface.get().calls.clone();
        calls
    }
}
