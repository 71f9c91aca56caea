//! A three-shard setup from `outpost generate --shards 3` on real
//! Prometheus (issue 14): three shards scrape the agents by `hashmod`, a
//! fourth Prometheus runs the generated `global.yml` (federating them), and
//! the chat engine asks the global view. Every agent must be scraped by
//! exactly one shard, and the global view must answer for all of them with
//! what the shard that scrapes each one answers. The agents are `outpost
//! exporter`s on a frozen fixture host, so each shard's answer and the
//! global one can be compared exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use outpost::chat::promql::Prometheus;
use outpost::chat::queries::{self, Scope};

use crate::ha_victoria::{ask, engine};
use crate::support::{self, free_port, wait_for, wait_for_port, Proc};

/// Chosen so that `hashmod` over `agent` puts two on every shard (MD5's
/// last 8 bytes modulo 3: app1 and proxy1 on 0, web1 and web2 on 1, db1 and
/// db2 on 2); asserted below, so a change in the relabelling cannot hide.
const AGENTS: [&str; 6] = ["web1", "web2", "db1", "db2", "app1", "proxy1"];
const SHARDS: usize = 3;

/// The line of `agent` in a `/mon_cpu` reply (`<b>web1</b>: 100.0% …`).
fn line_of<'a>(text: &'a str, agent: &str) -> Option<&'a str> {
    let tag = format!("<b>{agent}</b>");
    text.lines().find(|l| l.contains(&tag))
}

#[test]
fn three_shards_split_the_agents_and_the_global_view_answers_across_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let host = support::frozen_host(&dir.join("host"));
    let mut procs: Vec<Proc> = Vec::new();
    let mut inventory = String::new();
    for name in AGENTS {
        let port = free_port();
        procs.push(support::start_frozen_exporter(&host, port));
        inventory.push_str(&format!("{name} 127.0.0.1:{port}\n"));
    }
    let agents = dir.join("agents.txt");
    std::fs::write(&agents, inventory).unwrap();
    let shard_ports: Vec<u16> = (0..SHARDS).map(|_| free_port()).collect();
    let global_port = free_port();
    let targets = shard_ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    let out = dir.join("out");
    let mut args = support::FAST_GENERATE.to_vec();
    args.extend(["--shards", "3", "--shard-targets", &targets]);
    support::generate(&agents, &out, &args);

    let shards_dir = out.join("prometheus/shards");
    for (k, port) in shard_ports.iter().enumerate() {
        procs.push(support::prometheus_with(
            &shards_dir.join(format!("shard-{k}.yml")),
            &dir.join(format!("tsdb-{k}")),
            *port,
            &[],
        ));
    }
    procs.push(support::prometheus_with(
        &shards_dir.join("global.yml"),
        &dir.join("tsdb-global"),
        global_port,
        &[],
    ));
    for port in shard_ports.iter().chain([&global_port]) {
        assert!(wait_for_port(*port, Duration::from_secs(20)), "port {port}");
    }

    let rt = tokio::runtime::Runtime::new().unwrap();
    // Which agents each shard scrapes: its `up` series of the agents job.
    let scraped = |port: u16| -> BTreeSet<String> {
        let client = Prometheus::new(&format!("http://127.0.0.1:{port}"), Duration::from_secs(5));
        rt.block_on(client.query("up{job=\"outpost-agents\"} == 1"))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|s| s.labels.get("agent").cloned())
            .collect()
    };
    let all: BTreeSet<String> = AGENTS.iter().map(|a| a.to_string()).collect();
    let split = wait_for(Duration::from_secs(30), || {
        let split: Vec<BTreeSet<String>> = shard_ports.iter().map(|p| scraped(*p)).collect();
        let total: usize = split.iter().map(BTreeSet::len).sum();
        (total >= AGENTS.len()
            && split
                .iter()
                .fold(BTreeSet::new(), |acc, s| &acc | s)
                .eq(&all))
        .then_some(split)
    })
    .unwrap_or_else(|| {
        panic!(
            "the shards never scraped every agent: {:?}",
            shard_ports.iter().map(|p| scraped(*p)).collect::<Vec<_>>()
        )
    });
    // Exactly one shard per agent, and every shard has work.
    let total: usize = split.iter().map(BTreeSet::len).sum();
    assert_eq!(total, AGENTS.len(), "an agent is scraped twice: {split:?}");
    assert!(split.iter().all(|s| s.len() == 2), "{split:?}");
    let shard_of: BTreeMap<&str, usize> = AGENTS
        .iter()
        .map(|a| (*a, split.iter().position(|s| s.contains(*a)).unwrap()))
        .collect();

    // The global view answers for every agent, across shards.
    let global = engine(
        &format!("http://127.0.0.1:{global_port}"),
        &agents,
        &dir.join("global-state.db"),
    );
    let status = wait_for(Duration::from_secs(90), || {
        let r = ask(&rt, &global, "/status");
        let cpu = ask(&rt, &global, "/mon_cpu");
        (r.text.starts_with("<b>Status</b>: 6 agents, 6 up")
            && AGENTS
                .iter()
                .all(|a| line_of(&cpu.text, a).is_some_and(|l| l.contains('%'))))
        .then_some(r)
    })
    .unwrap_or_else(|| {
        panic!(
            "the global view never answered for all agents:\n{}\n{}",
            ask(&rt, &global, "/status").text,
            ask(&rt, &global, "/mon_cpu").text
        )
    });
    assert!(status.text.contains("6 up, 0 down"), "{}", status.text);

    // Each agent's answer from the global view is its shard's answer.
    let shard_engines: Vec<_> = shard_ports
        .iter()
        .enumerate()
        .map(|(k, p)| {
            engine(
                &format!("http://127.0.0.1:{p}"),
                &agents,
                &dir.join(format!("shard-{k}-state.db")),
            )
        })
        .collect();
    let global_cpu = ask(&rt, &global, "/mon_cpu").text;
    for agent in AGENTS {
        let shard = &shard_engines[shard_of[agent]];
        let shard_cpu = ask(&rt, shard, "/mon_cpu").text;
        assert_eq!(
            line_of(&global_cpu, agent),
            line_of(&shard_cpu, agent),
            "/mon_cpu {agent}: global view vs shard {}",
            shard_of[agent]
        );
        let g = ask(&rt, &global, &format!("/status {agent}")).text;
        let s = ask(&rt, shard, &format!("/status {agent}")).text;
        assert_eq!(g, s, "/status {agent}: global view vs shard");
        // A shard knows nothing of the agents it does not scrape.
        let other = &shard_engines[(shard_of[agent] + 1) % SHARDS];
        let o = ask(&rt, other, &format!("/mon_cpu {agent}")).text;
        assert!(!line_of(&o, agent).is_some_and(|l| l.contains('%')), "{o}");
    }

    // The picture's range query over the global view has every agent.
    let client = Prometheus::new(
        &format!("http://127.0.0.1:{global_port}"),
        Duration::from_secs(5),
    );
    // Federation brings each shard's samples a scrape later: wait until
    // the last minute holds two of each agent (what a rate needs).
    let charted_now = || {
        let now = jiff::Timestamp::now().as_second() as f64;
        let series = rt
            .block_on(client.query_range(
                &queries::cpu(Scope::All),
                now - 60.0,
                now,
                Duration::from_secs(5),
            ))
            .unwrap();
        series
            .iter()
            .filter_map(|s| s.labels.get("agent").cloned())
            .collect::<BTreeSet<String>>()
    };
    let charted = wait_for(Duration::from_secs(60), || {
        let c = charted_now();
        (c == all).then_some(c)
    })
    .unwrap_or_else(charted_now);
    assert_eq!(charted, all);
    let pic = ask(&rt, &global, "/mon_cpu_picture");
    assert!(pic.chart.is_some(), "{}", pic.text);
}
