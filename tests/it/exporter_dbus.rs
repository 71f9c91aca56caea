//! node_exporter's D-Bus collectors in the real `outpost exporter`:
//! `systemd` against the systemd stand-in and `logind` against the logind
//! stand-in ([`crate::dbus_standin`]), each served on a private `dbus-daemon`
//! (this machine has no system bus), and both with no bus at all.
//!
//! The systemd stand-in ([`crate::dbus_standin::systemd`]) is not systemd:
//! it answers `ListUnits` and the manager's and units' properties the
//! collector reads, with the types and meanings systemd's D-Bus API
//! documents (org.freedesktop.systemd1(5)).

use std::time::Duration;

use crate::dbus_standin::{
    logind as logind_standin, system_bus as private_bus, systemd as systemd_standin,
};
use crate::exporter_extras::{exporter, sample, scrape};

fn unit(name: &'static str, load: &'static str, active: &'static str) -> systemd_standin::Unit {
    systemd_standin::Unit::new(name, load, active)
}

/// The sample lines of `family` in `body`.
fn lines<'a>(body: &'a str, family: &str) -> Vec<&'a str> {
    body.lines()
        .filter(|l| l.starts_with(&format!("{family}{{")) || l.starts_with(&format!("{family} ")))
        .collect()
}

#[test]
fn systemd_from_a_standin_with_node_exporters_flags() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let (_bus, address) = private_bus(&root);
    let units = vec![
        systemd_standin::Unit {
            active_enter_us: 1_733_300_000_250_000,
            service: Some(("notify", 2, 3, 4915)),
            ..unit("ssh.service", "loaded", "active")
        },
        systemd_standin::Unit {
            // systemd answers u64::MAX for "no tasks accounting".
            service: Some(("oneshot", 0, u64::MAX, u64::MAX)),
            ..unit("backup.service", "loaded", "failed")
        },
        systemd_standin::Unit {
            socket: Some((12, 1, 3)),
            active_enter_us: 1_733_200_000_000_000,
            ..unit("docker.socket", "loaded", "active")
        },
        systemd_standin::Unit {
            timer_us: Some(1_733_380_000_500_000),
            ..unit("logrotate.timer", "loaded", "activating")
        },
        unit("home.mount", "loaded", "active"),
        unit("user-1000.slice", "loaded", "active"),
        unit("ghost.service", "not-found", "inactive"),
    ];
    let _systemd = systemd_standin::serve_host(
        &address,
        systemd_standin::Host {
            version: "252.30-1~deb12u2",
            virtualization: "",
            state: "degraded",
        },
        units,
    );
    let rootfs = format!("--path.rootfs={}", root.display());
    let log = dir.path().join("exporter.log");
    let args = [
        "--collector.disable-defaults".to_owned(),
        "--collector.systemd".into(),
        "--collector.systemd.enable-task-metrics".into(),
        "--collector.systemd.enable-restarts-metrics".into(),
        "--collector.systemd.enable-start-time-metrics".into(),
        rootfs.clone(),
    ];
    let (_exporter, port) = exporter(&args, &log);
    let body = scrape(port);
    assert_eq!(
        sample(
            &body,
            "node_scrape_collector_success{collector=\"systemd\"}"
        ),
        Some(1.0),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert_eq!(
        lines(&body, "node_systemd_version"),
        ["node_systemd_version{version=\"252.30-1~deb12u2\"} 252.3"]
    );
    assert_eq!(
        lines(&body, "node_systemd_virtualization_info"),
        ["node_systemd_virtualization_info{virtualization_type=\"none\"} 1"]
    );
    assert_eq!(
        lines(&body, "node_systemd_system_running"),
        ["node_systemd_system_running 0"]
    );
    // What "Node Exporter Full" reads from this collector.
    for name in crate::exporter_compat::FROM_THE_SYSTEMD_COLLECTOR {
        assert!(!lines(&body, name).is_empty(), "{name} missing");
    }
    // Every unit counted, the filters notwithstanding.
    assert_eq!(
        lines(&body, "node_systemd_units"),
        [
            "node_systemd_units{state=\"activating\"} 1",
            "node_systemd_units{state=\"active\"} 4",
            "node_systemd_units{state=\"deactivating\"} 0",
            "node_systemd_units{state=\"failed\"} 1",
            "node_systemd_units{state=\"inactive\"} 1",
        ]
    );
    // Per unit: loaded ones, mounts and slices excluded by default.
    let states = lines(&body, "node_systemd_unit_state");
    assert_eq!(states.len(), 4 * 5, "{states:#?}");
    for want in [
        "node_systemd_unit_state{name=\"ssh.service\",state=\"active\",type=\"notify\"} 1",
        "node_systemd_unit_state{name=\"ssh.service\",state=\"failed\",type=\"notify\"} 0",
        "node_systemd_unit_state{name=\"backup.service\",state=\"failed\",type=\"oneshot\"} 1",
        "node_systemd_unit_state{name=\"docker.socket\",state=\"active\",type=\"\"} 1",
        "node_systemd_unit_state{name=\"logrotate.timer\",state=\"activating\",type=\"\"} 1",
    ] {
        assert!(states.contains(&want), "{want} not in {states:#?}");
    }
    assert!(
        !states
            .iter()
            .any(|l| l.contains("home.mount") || l.contains(".slice") || l.contains("ghost")),
        "{states:#?}"
    );
    assert_eq!(
        lines(&body, "node_systemd_service_restart_total"),
        [
            "node_systemd_service_restart_total{name=\"backup.service\"} 0",
            "node_systemd_service_restart_total{name=\"ssh.service\"} 2",
        ]
    );
    assert_eq!(
        lines(&body, "node_systemd_unit_tasks_current"),
        ["node_systemd_unit_tasks_current{name=\"ssh.service\"} 3"]
    );
    assert_eq!(
        lines(&body, "node_systemd_unit_tasks_max"),
        ["node_systemd_unit_tasks_max{name=\"ssh.service\"} 4915"]
    );
    // Inactive units start at 0; active ones when they became active.
    assert_eq!(
        lines(&body, "node_systemd_unit_start_time_seconds"),
        [
            "node_systemd_unit_start_time_seconds{name=\"backup.service\"} 0",
            "node_systemd_unit_start_time_seconds{name=\"docker.socket\"} 1733200000",
            "node_systemd_unit_start_time_seconds{name=\"logrotate.timer\"} 0",
            "node_systemd_unit_start_time_seconds{name=\"ssh.service\"} 1733300000.25",
        ]
    );
    assert_eq!(
        lines(&body, "node_systemd_timer_last_trigger_seconds"),
        ["node_systemd_timer_last_trigger_seconds{name=\"logrotate.timer\"} 1733380000.5"]
    );
    assert_eq!(
        lines(&body, "node_systemd_socket_accepted_connections_total"),
        ["node_systemd_socket_accepted_connections_total{name=\"docker.socket\"} 12"]
    );
    assert_eq!(
        lines(&body, "node_systemd_socket_current_connections"),
        ["node_systemd_socket_current_connections{name=\"docker.socket\"} 1"]
    );
    assert_eq!(
        lines(&body, "node_systemd_socket_refused_connections_total"),
        ["node_systemd_socket_refused_connections_total{name=\"docker.socket\"} 3"]
    );

    // node_exporter's filter flags, anchored; and without the enable-* flags
    // their families are absent.
    let log2 = dir.path().join("exporter2.log");
    let args = [
        "--collector.disable-defaults".to_owned(),
        "--collector.systemd".into(),
        "--collector.systemd.unit-include=.*\\.service".into(),
        "--collector.systemd.unit-exclude=backup.*".into(),
        rootfs,
    ];
    let (_exporter2, port2) = exporter(&args, &log2);
    let body = scrape(port2);
    let names: std::collections::BTreeSet<&str> = lines(&body, "node_systemd_unit_state")
        .iter()
        .map(|l| l.split('"').nth(1).unwrap())
        .collect();
    assert_eq!(names.into_iter().collect::<Vec<_>>(), ["ssh.service"]);
    for family in [
        "node_systemd_service_restart_total",
        "node_systemd_unit_tasks_current",
        "node_systemd_unit_start_time_seconds",
    ] {
        assert!(lines(&body, family).is_empty(), "{family} without its flag");
    }
}

#[test]
fn logind_sessions_from_the_standin() {
    use logind_standin::Session;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let (_bus, address) = private_bus(&root);
    let session = |id, seat, kind, class, remote| Session {
        id,
        seat,
        user: "someone",
        kind,
        class,
        remote,
        remote_host: "",
        service: "sshd",
        timestamp_us: 1,
    };
    let _logind = logind_standin::serve(
        &address,
        vec![
            session("1", "seat0", "wayland", "user", false),
            session("2", "", "tty", "user", true),
            session("3", "", "tty", "user", true),
            session("4", "seat0", "x11", "greeter", false),
            session("5", "", "hologram", "user", true),
        ],
    );
    let log = dir.path().join("exporter.log");
    let args = [
        "--collector.disable-defaults".to_owned(),
        "--collector.logind".into(),
        format!("--path.rootfs={}", root.display()),
    ];
    let (_exporter, port) = exporter(&args, &log);
    let body = scrape(port);
    let all = lines(&body, "node_logind_sessions");
    // remote × 7 types × 5 classes × (seat0 and no seat), zeros included.
    assert_eq!(all.len(), 2 * 7 * 5 * 2, "{body}");
    for (series, want) in [
        (
            "{class=\"user\",remote=\"true\",seat=\"\",type=\"tty\"}",
            2.0,
        ),
        (
            "{class=\"user\",remote=\"false\",seat=\"seat0\",type=\"wayland\"}",
            1.0,
        ),
        (
            "{class=\"greeter\",remote=\"false\",seat=\"seat0\",type=\"x11\"}",
            1.0,
        ),
        (
            "{class=\"user\",remote=\"true\",seat=\"\",type=\"other\"}",
            1.0,
        ),
        (
            "{class=\"user\",remote=\"true\",seat=\"seat0\",type=\"tty\"}",
            0.0,
        ),
    ] {
        assert_eq!(
            sample(&body, &format!("node_logind_sessions{series}")),
            Some(want),
            "{series}"
        );
    }
}

#[test]
fn without_a_bus_systemd_and_logind_fail_alone_and_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("exporter.log");
    let args = [
        "--collector.disable-defaults".to_owned(),
        "--collector.systemd".into(),
        "--collector.logind".into(),
        "--collector.loadavg".into(),
        format!("--path.rootfs={}", dir.path().display()),
    ];
    let (_exporter, port) = exporter(&args, &log);
    let body = scrape(port);
    for (collector, want) in [("systemd", 0.0), ("logind", 0.0), ("loadavg", 1.0)] {
        assert_eq!(
            sample(
                &body,
                &format!("node_scrape_collector_success{{collector=\"{collector}\"}}")
            ),
            Some(want),
            "{body}"
        );
    }
    assert!(!body.contains("node_systemd_") && !body.contains("node_logind_"));
    std::thread::sleep(Duration::from_millis(100));
    let text = std::fs::read_to_string(&log).unwrap();
    let said = text
        .lines()
        .filter(|l| l.contains("D-Bus system bus not reachable at unix:path="))
        .count();
    assert_eq!(said, 2, "one line per collector: {text}");
}

/// A systemd that takes the call and never answers in time.
struct HungManager;

#[zbus::interface(name = "org.freedesktop.systemd1.Manager")]
impl HungManager {
    /// Never answers, without holding the stand-ins' shared executor.
    async fn list_units(&self) -> Vec<(String, u32)> {
        std::future::pending().await
    }
}

#[test]
fn a_hung_systemd_fails_its_collector_within_the_call_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let (_bus, address) = private_bus(&root);
    let _systemd = zbus::blocking::connection::Builder::address(address.as_str())
        .unwrap()
        .name("org.freedesktop.systemd1")
        .unwrap()
        .serve_at("/org/freedesktop/systemd1", HungManager)
        .unwrap()
        .build()
        .unwrap();
    let log = dir.path().join("exporter.log");
    let args = [
        "--collector.disable-defaults".to_owned(),
        "--collector.systemd".into(),
        "--collector.loadavg".into(),
        format!("--path.rootfs={}", root.display()),
    ];
    let (_exporter, port) = exporter(&args, &log);
    let started = std::time::Instant::now();
    let body = scrape(port);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10) && took >= outpost::exporter::dbus::CALL_TIMEOUT,
        "{took:?}"
    );
    assert_eq!(
        sample(
            &body,
            "node_scrape_collector_success{collector=\"systemd\"}"
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &body,
            "node_scrape_collector_success{collector=\"loadavg\"}"
        ),
        Some(1.0)
    );
}
