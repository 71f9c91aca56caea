//! `docker.*` actions through the real exporter against a stand-in Docker
//! engine ([`crate::docker_standin`]): no Docker engine can run on this
//! machine, so the engine is a server on a unix socket that follows the
//! Engine API documentation for the endpoints used (versioned paths, the
//! multiplexed log stream) and records what it was asked.

use crate::actions::{json, Agent};
use crate::docker_standin::{self, Container};

pub(crate) fn container(
    name: &'static str,
    id: &'static str,
    state: &'static str,
    size_rw: i64,
) -> Container {
    Container {
        name,
        id,
        image: "nginx:1.27",
        state,
        status: if state == "running" {
            "Up 3 hours"
        } else {
            "Exited (0) 2 days ago"
        },
        size_rw,
        size_root_fs: size_rw + 190_000_000,
        logs: Vec::new(),
    }
}

fn docker_agent(
    api_version: &'static str,
    socket_in: Option<&str>,
) -> (Agent, docker_standin::Engine) {
    let dir = tempfile::tempdir().unwrap();
    let mut web = container("web-1", "aaaaaaaaaaaa1111", "running", 5_000_000);
    web.logs = (1..=300)
        .map(|i| (if i % 10 == 0 { 2 } else { 1 }, format!("line {i}")))
        .collect();
    let engine = docker_standin::start(
        dir.path(),
        api_version,
        vec![
            web,
            container("db", "bbbbbbbbbbbb2222", "running", 900_000_000),
            container("old-job", "cccccccccccc3333", "exited", 70_000),
        ],
        vec![("pgdata", 4_000_000_000), ("cache", 12_000)],
    );
    let socket = socket_in.map_or(engine.socket.display().to_string(), str::to_owned);
    let builtin = format!(
        "  docker:\n    socket: {socket}\n    containers: ['web-*', ghost]\n    ps: {{}}\n    logs: {{ max_lines: 250 }}\n    restart: {{}}\n    prune: {{}}\n    df: {{}}\n"
    );
    (Agent::start_extra(dir, &builtin, &[]), engine)
}

#[test]
fn docker_ps_logs_and_restart_through_the_engine_api() {
    let (agent, engine) = docker_agent("1.52", None);

    let (status, text) = agent.call("docker.ps", "");
    assert_eq!(status, 200, "{text} {:?}", engine.requests());
    let ps = json(&text);
    let names: Vec<(&str, bool)> = ps
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["allowed"].as_bool().unwrap()))
        .collect();
    assert_eq!(names, [("db", false), ("old-job", false), ("web-1", true)]);
    assert_eq!(ps[2]["id"], "aaaaaaaaaaaa");
    assert_eq!(ps[2]["state"], "running");
    assert_eq!(ps[2]["status"], "Up 3 hours");

    // The last 25 lines, stdout and stderr interleaved, decoded from the
    // multiplexed stream.
    let (status, text) = agent.call(
        "docker.logs",
        r#"{"args":{"container":"web-1","lines":25}}"#,
    );
    assert_eq!(status, 200, "{text}");
    let logs = json(&text);
    let expected: String = (276..=300).map(|i| format!("line {i}\n")).collect();
    assert_eq!(logs["output"], expected);
    assert_eq!(logs["truncated"], false);

    // More lines than the allow-list's cap: refused before the engine is asked.
    let (status, text) = agent.call(
        "docker.logs",
        r#"{"args":{"container":"web-1","lines":251}}"#,
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("1..=250"), "{text}");

    let (status, text) = agent.call("docker.restart", r#"{"args":{"container":"web-1"}}"#);
    assert_eq!(status, 200, "{text}");
    assert_eq!(json(&text)["container"], "web-1");

    let requests = engine.requests();
    assert_eq!(
        requests,
        [
            "GET /containers/json?all=true&size=false",
            "GET /containers/web-1/logs?follow=false&stdout=true&stderr=true&since=0&until=0&timestamps=false&tail=25",
            "POST /containers/web-1/restart",
        ]
    );
    assert_eq!(agent.count("docker.restart", "ok"), 1.0);
}

#[test]
fn docker_refuses_containers_outside_the_globs_unknown_ones_and_a_missing_socket() {
    let (agent, engine) = docker_agent("1.52", None);
    for (body, needle) in [
        (r#"{"args":{"container":"db"}}"#, "not allowed"),
        (
            r#"{"args":{"container":"../../system/df"}}"#,
            "not a container name",
        ),
        (
            r#"{"args":{"container":"web-1; reboot"}}"#,
            "not a container name",
        ),
        (r#"{"args":{}}"#, "missing parameter"),
    ] {
        let (status, text) = agent.call("docker.restart", body);
        assert_eq!(status, 400, "{body}: {text}");
        assert!(text.contains(needle), "{body}: {text}");
    }
    assert!(engine.requests().is_empty(), "{:?}", engine.requests());
    assert_eq!(agent.count("docker.restart", "bad_request"), 4.0);

    // Allowed by the globs but unknown to the engine: the engine's 404.
    let (status, text) = agent.call("docker.restart", r#"{"args":{"container":"ghost"}}"#);
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("No such container: ghost"), "{text}");
    assert_eq!(agent.count("docker.restart", "not_found"), 1.0);

    let (missing, _) = docker_agent("1.52", Some("/nonexistent/docker.sock"));
    let (status, text) = missing.call("docker.ps", "");
    assert_eq!(status, 500, "{text}");
    assert!(
        text.contains("no Docker engine socket at /nonexistent/docker.sock"),
        "{text}"
    );
}

#[test]
fn docker_prune_and_df() {
    let (agent, engine) = docker_agent("1.52", None);
    let (status, text) = agent.call("docker.df", "");
    assert_eq!(status, 200, "{text}");
    let df = json(&text);
    let names: Vec<&str> = df["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["db", "web-1", "old-job"]);
    assert_eq!(df["containers"][0]["size_rw_bytes"], 900_000_000);
    assert_eq!(df["volumes"][0]["name"], "pgdata");
    assert_eq!(df["volumes"][0]["size_bytes"], 4_000_000_000u64);
    assert_eq!(df["volumes_total_bytes"], 4_000_012_000u64);

    let (status, text) = agent.call("docker.prune", "");
    assert_eq!(status, 200, "{text}");
    let pruned = json(&text);
    assert_eq!(pruned["containers_deleted"], 1);
    assert_eq!(pruned["images_deleted"], 2);
    assert_eq!(pruned["networks_deleted"], 1);
    assert_eq!(pruned["space_reclaimed_bytes"], 71_000);
    let requests = engine.requests();
    assert_eq!(
        requests,
        [
            "GET /version",
            "GET /system/df?verbose=true",
            "POST /containers/prune",
            "POST /images/prune",
            "POST /networks/prune",
        ]
    );

    // An engine older than API 1.52 answers /system/df in its earlier
    // shape (the `Containers` and `Volumes` arrays, no totals: the agent
    // sums them): the same answer.
    let (old, old_engine) = docker_agent("1.47", None);
    let (status, text) = old.call("docker.df", "");
    assert_eq!(status, 200, "{text}");
    assert_eq!(json(&text), df);
    assert_eq!(
        old_engine.requests(),
        ["GET /version", "GET /system/df?type=container&type=volume"]
    );
}
