//! `service.*`, `reboot` and `shutdown` through the real exporter, against
//! stand-ins for systemd and logind on a private `dbus-daemon`
//! ([`crate::dbus_standin`]) that record the calls they get.

use crate::actions::{json, Agent};
use crate::dbus_standin::{self, logind, systemd};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

const BUILTIN: &str = "  service:\n    units: [nginx.service, app.service, gone.service]\n    status: {}\n    restart: {}\n  reboot: { delay: 2m }\n  shutdown: {}\n";

#[test]
fn service_status_and_restart_over_systemds_dbus_interface() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let (_bus, address) = dbus_standin::system_bus(&root);
    let units = vec![
        systemd::Unit {
            description: "A high performance web server",
            sub_state: "running",
            state_change_us: 1_700_000_000_000_000,
            ..systemd::Unit::new("nginx.service", "loaded", "active")
        },
        systemd::Unit {
            description: "The app",
            sub_state: "failed",
            state_change_us: 1_700_000_100_000_000,
            ..systemd::Unit::new("app.service", "loaded", "failed")
        },
        // Loaded on the host but not in the allow-list.
        systemd::Unit {
            description: "OpenSSH",
            sub_state: "running",
            state_change_us: 0,
            ..systemd::Unit::new("sshd.service", "loaded", "active")
        },
    ];
    let systemd_conn = systemd::serve(&address, units);
    let agent = Agent::start_extra(dir, BUILTIN, &[format!("--path.rootfs={}", root.display())]);

    let (status, text) = agent.call("service.status", r#"{"args":{"unit":"nginx"}}"#);
    assert_eq!(status, 200, "{text}");
    let s = json(&text);
    assert_eq!(s["unit"], "nginx.service");
    assert_eq!(s["active_state"], "active");
    assert_eq!(s["sub_state"], "running");
    assert_eq!(s["load_state"], "loaded");
    assert_eq!(s["description"], "A high performance web server");
    assert_eq!(s["state_change_us"], 1_700_000_000_000_000u64);

    let (status, text) = agent.call("service.restart", r#"{"args":{"unit":"app.service"}}"#);
    assert_eq!(status, 200, "{text}");
    assert_eq!(json(&text)["job"], "/org/freedesktop/systemd1/job/1");

    // Listed but not loaded: systemd's NoSuchUnit is a 404.
    let (status, text) = agent.call("service.status", r#"{"args":{"unit":"gone.service"}}"#);
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("gone.service"), "{text}");

    // Not in the allow-list: refused before systemd is asked.
    for unit in ["sshd.service", "nginx.service --now", "../nginx.service"] {
        let body = serde_json::json!({"args": {"unit": unit}}).to_string();
        let (status, text) = agent.call("service.restart", &body);
        assert_eq!(status, 400, "{unit}: {text}");
    }
    assert_eq!(
        systemd::calls(&systemd_conn),
        [
            "GetUnit nginx.service",
            "RestartUnit app.service replace",
            "GetUnit gone.service",
        ]
    );
    assert_eq!(agent.count("service.restart", "bad_request"), 3.0);
    assert_eq!(agent.count("service.status", "not_found"), 1.0);
}

#[test]
fn reboot_and_shutdown_are_scheduled_with_logind_and_cancellable() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let (_bus, address) = dbus_standin::system_bus(&root);
    let (logind_conn, _) = logind::serve(&address, Vec::new());
    let agent = Agent::start_extra(dir, BUILTIN, &[format!("--path.rootfs={}", root.display())]);

    let before = now();
    let (status, text) = agent.call("reboot", "");
    assert_eq!(status, 200, "{text}");
    let r = json(&text);
    assert_eq!(r["scheduled"], "reboot");
    assert_eq!(r["delay_seconds"], 120);
    let at = r["at"].as_u64().unwrap();
    assert!((before + 120..=now() + 120).contains(&at), "{text}");

    let (status, text) = agent.call("reboot", r#"{"args":{"cancel":true}}"#);
    assert_eq!(status, 200, "{text}");
    assert_eq!(json(&text)["cancelled"], true);
    let (status, text) = agent.call("shutdown", r#"{"args":{"cancel":true}}"#);
    assert_eq!(status, 200, "{text}");
    assert_eq!(json(&text)["cancelled"], false, "nothing was scheduled");

    let (status, text) = agent.call("shutdown", "");
    assert_eq!(status, 200, "{text}");
    assert_eq!(json(&text)["scheduled"], "poweroff");
    assert_eq!(json(&text)["delay_seconds"], 60);

    // Wrongly typed or unknown arguments: refused before logind is asked.
    for body in [r#"{"args":{"cancel":"yes"}}"#, r#"{"args":{"delay":0}}"#] {
        let (status, text) = agent.call("reboot", body);
        assert_eq!(status, 400, "{body}: {text}");
    }

    let calls = logind::calls(&logind_conn);
    assert_eq!(calls.len(), 4, "{calls:?}");
    let usec: u64 = calls[0]
        .strip_prefix("ScheduleShutdown reboot ")
        .unwrap_or_else(|| panic!("{calls:?}"))
        .parse()
        .unwrap();
    assert_eq!(usec / 1_000_000, at, "logind got the same time, in µs");
    assert_eq!(calls[1], "CancelScheduledShutdown");
    assert_eq!(calls[2], "CancelScheduledShutdown");
    assert!(
        calls[3].starts_with("ScheduleShutdown poweroff "),
        "{calls:?}"
    );
    assert_eq!(agent.count("reboot", "ok"), 2.0);
    assert_eq!(agent.count("reboot", "bad_request"), 2.0);
}

#[test]
fn service_actions_without_a_bus_fail_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let agent = Agent::start_extra(
        dir,
        BUILTIN,
        &[format!("--path.rootfs={}", empty.display())],
    );
    let (status, text) = agent.call("service.status", r#"{"args":{"unit":"nginx"}}"#);
    assert_eq!(status, 500, "{text}");
    assert!(text.contains("D-Bus system bus not reachable"), "{text}");
    let (status, text) = agent.call("reboot", "");
    assert_eq!(status, 500, "{text}");
    assert!(text.contains("logind"), "{text}");
}
