//! `/ps`, `/logs`, `/restart`, `/service` and `/reboot` from the chat: the
//! real `outpost bridge` long-polling the fake Telegram, signing its
//! requests, talking TLS to the real `outpost exporter --actions.config`
//! pinned in agents.txt. No Docker engine, systemd or logind can be driven
//! on this machine, so the agent talks to stand-ins that follow their
//! documented interfaces and record what they were asked: the Engine API
//! on a unix socket ([`crate::docker_standin`]) and systemd and logind on a
//! private `dbus-daemon` ([`crate::dbus_standin`]). Each test reads what
//! the stand-in recorded, as well as the reply in the chat.

use std::time::Duration;

use crate::bot::{ask, buttons, in_chat, press};
use crate::chat_actions::{start_web1_bridge, ActionsAgent, OPERATOR, VIEWER};
use crate::dbus_standin::{self, logind, systemd};
use crate::docker_standin;
use crate::fake_telegram::FakeTelegram;
use crate::fake_telegram::Received;

/// The docker, service and reboot actions of the agent, against the
/// stand-ins' socket and bus.
pub(crate) fn host_builtin(docker_socket: &std::path::Path) -> String {
    format!(
        "  docker:\n    socket: {}\n    containers: ['web-*']\n    ps: {{}}\n    logs: {{ max_lines: 250 }}\n    restart: {{}}\n    prune: {{}}\n    df: {{}}\n\
         \x20 service:\n    units: [nginx.service, app.service]\n    status: {{}}\n    restart: {{}}\n\
         \x20 reboot: {{ delay: 2m }}\n",
        docker_socket.display()
    )
}

/// An engine with a running `web-1` (300 lines of log, every tenth on
/// stderr), a running `db` outside the allow-list's globs, an exited
/// `old-job`, and two volumes.
pub(crate) fn engine(dir: &std::path::Path) -> docker_standin::Engine {
    use crate::actions_docker::container;
    let mut web = container("web-1", "aaaaaaaaaaaa1111", "running", 5_000_000);
    web.logs = (1..=300)
        .map(|i| (if i % 10 == 0 { 2 } else { 1 }, format!("line {i}")))
        .collect();
    docker_standin::start(
        dir,
        "1.52",
        vec![
            web,
            container("db", "bbbbbbbbbbbb2222", "running", 900_000_000),
            container("old-job", "cccccccccccc3333", "exited", 70_000),
        ],
        vec![("pgdata", 4_000_000_000), ("cache", 12_000)],
    )
}

/// Asks `command` as the operator, checks the Confirm message says what
/// runs where and that `nothing_yet` holds until the press, presses it;
/// the reply to the press.
fn confirmed(
    fake: &FakeTelegram,
    command: &str,
    will_run: &str,
    nothing_yet: impl Fn() -> bool,
) -> Received {
    let asked = ask(fake, OPERATOR, command);
    assert!(asked.visible.contains(will_run), "{}", asked.visible);
    let confirm = buttons(&asked)
        .into_iter()
        .find(|d| d.starts_with("k:"))
        .unwrap_or_else(|| panic!("no Confirm button under {:?}", asked.visible));
    // Give a wrongly eager bridge the time to run it anyway.
    std::thread::sleep(Duration::from_millis(300));
    assert!(nothing_yet(), "{command}: ran before the press");
    let before = fake.messages_in(OPERATOR).len();
    press(
        fake,
        OPERATOR,
        OPERATOR,
        asked.message_id,
        &format!("cb-{command}"),
        &confirm,
    );
    assert!(
        fake.wait_until(Duration::from_secs(15), |r| in_chat(r, OPERATOR) > before),
        "no answer to the press for {command}"
    );
    fake.messages_in(OPERATOR)[before].clone()
}

#[test]
fn docker_containers_from_the_chat_read_and_restart_through_the_engine_api() {
    let dir = tempfile::tempdir().unwrap();
    let docker = engine(dir.path());
    let builtin = host_builtin(&docker.socket);
    let agent = ActionsAgent::start_extra(dir, &builtin, &[]);
    let chat = tempfile::tempdir().unwrap();
    let fake = FakeTelegram::start(crate::bridge::TOKEN);
    let bridge = start_web1_bridge(&fake, &agent, chat.path(), &[]);

    // A viewer lists the containers: every one, those the allow-list
    // lets actions touch marked.
    let ps = ask(&fake, VIEWER, "/ps web1");
    assert!(
        ps.visible.starts_with("✅ docker.ps on web1 ("),
        "{}\n{}",
        ps.visible,
        bridge.logs()
    );
    for line in [
        "  db          running   Up 3 hours",
        "  old-job     exited    Exited (0) 2 days ago",
        "* web-1       running   Up 3 hours",
    ] {
        assert!(ps.visible.contains(line), "{line:?} in\n{}", ps.visible);
    }

    // The last lines of a log, stdout and stderr interleaved, as lines.
    let logs = ask(&fake, VIEWER, "/logs web1 web-1 5");
    let expected: String = (296..=300).map(|i| format!("line {i}\n")).collect();
    assert!(
        logs.visible.contains(&format!(
            "The last 5 lines of web-1:\n{}",
            expected.trim_end()
        )),
        "{}",
        logs.visible
    );
    assert!(!logs.visible.contains("line 295"), "{}", logs.visible);
    // Outside the globs: the agent refuses, the engine is not asked.
    let r = ask(&fake, VIEWER, "/logs web1 db");
    assert!(r.visible.contains("not allowed"), "{}", r.visible);

    // A restart needs the operator and a Confirm press.
    let r = ask(&fake, VIEWER, "/restart web1 web-1");
    assert!(
        r.visible.contains("needs the operator role"),
        "{}",
        r.visible
    );
    let restart = "POST /containers/web-1/restart";
    let done = confirmed(
        &fake,
        "/restart web1 web-1",
        &format!(
            "This will run docker.restart with container=\"web-1\" on this host:\n• web1 (127.0.0.1:{})",
            agent.actions_port
        ),
        || !docker.requests().iter().any(|r| r == restart),
    );
    assert!(
        done.visible.starts_with("✅ docker.restart on web1 (")
            && done.visible.contains("\"container\": \"web-1\""),
        "{}",
        done.visible
    );
    assert_eq!(
        docker.requests(),
        [
            "GET /containers/json?all=true&size=false",
            "GET /containers/web-1/logs?follow=false&stdout=true&stderr=true&since=0&until=0&timestamps=false&tail=5",
            restart,
        ]
    );
}

#[test]
fn a_unit_and_a_reboot_from_the_chat_reach_systemd_and_logind_over_dbus() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let (_bus, address) = dbus_standin::system_bus(&root);
    let unit = |name, active_state, sub_state| systemd::Unit {
        description: "A unit",
        sub_state,
        ..systemd::Unit::new(name, "loaded", active_state)
    };
    let systemd_conn = systemd::serve(
        &address,
        vec![
            unit("nginx.service", "active", "running"),
            unit("app.service", "failed", "failed"),
        ],
    );
    let (logind_conn, _) = logind::serve(&address, Vec::new());
    let builtin = host_builtin(&dir.path().join("no-docker.sock"));
    let rootfs = format!("--path.rootfs={}", root.display());
    let agent = ActionsAgent::start_extra(dir, &builtin, &[rootfs]);
    let chat = tempfile::tempdir().unwrap();
    let fake = FakeTelegram::start(crate::bridge::TOKEN);
    let bridge = start_web1_bridge(&fake, &agent, chat.path(), &[]);

    let status = ask(&fake, VIEWER, "/service web1 nginx");
    assert!(
        status
            .visible
            .contains("nginx.service: active (running), loaded — A unit"),
        "{}\n{}",
        status.visible,
        bridge.logs()
    );
    let r = ask(&fake, VIEWER, "/service web1 app restart");
    assert!(
        r.visible.contains("needs the operator role"),
        "{}",
        r.visible
    );
    // Outside the allow-list's units: the agent refuses, systemd is not asked.
    let r = ask(&fake, VIEWER, "/service web1 sshd");
    assert!(r.visible.contains("sshd"), "{}", r.visible);
    assert!(!r.visible.starts_with("✅"), "{}", r.visible);

    let restart = "RestartUnit app.service replace";
    let done = confirmed(
        &fake,
        "/service web1 app restart",
        "This will run service.restart with unit=\"app\" on this host",
        || !systemd::calls(&systemd_conn).iter().any(|c| c == restart),
    );
    assert!(
        done.visible.starts_with("✅ service.restart on web1 (")
            && done.visible.contains("/org/freedesktop/systemd1/job/1"),
        "{}",
        done.visible
    );
    assert_eq!(
        systemd::calls(&systemd_conn),
        ["GetUnit nginx.service", restart]
    );

    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let done = confirmed(
        &fake,
        "/reboot web1",
        "This will run reboot on this host",
        || logind::calls(&logind_conn).is_empty(),
    );
    assert!(
        done.visible.starts_with("✅ reboot on web1 (")
            && done.visible.contains("\"scheduled\": \"reboot\"")
            && done.visible.contains("\"delay_seconds\": 120"),
        "{}",
        done.visible
    );
    let calls = logind::calls(&logind_conn);
    assert_eq!(calls.len(), 1, "{calls:?}");
    let usec: u64 = calls[0]
        .strip_prefix("ScheduleShutdown reboot ")
        .unwrap_or_else(|| panic!("{calls:?}"))
        .parse()
        .unwrap();
    assert!(
        usec / 1_000_000 >= before + 120,
        "scheduled two minutes ahead: {calls:?}"
    );
}
