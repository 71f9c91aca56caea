//! The PostgreSQL leg of the bridge benchmark (issue 14): a pair of
//! bridges on one durable PostgreSQL of the benchmark's own, webhooks
//! spread over both as two Alertmanagers would send them.
//!
//! Decisions:
//! - The server keeps PostgreSQL's durable defaults (`fsync`,
//!   `synchronous_commit`): a webhook is answered after its commit is on
//!   disk, as with SQLite's `--state-sync full` in the same run.
//! - Both bridges run with the default pool and `--lease-ttl` (15 s), so
//!   the takeover measured is the one an operator gets.
//! - CPU per acknowledged webhook is read from `/proc/PID/stat` of each
//!   bridge and of every PostgreSQL process (the backends serving the
//!   pools, the WAL writer, the checkpointer…) over the saturated phase,
//!   and of this process (load client and Telegram stand-in): where the two
//!   cores go.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::pg_server::{Postgres, Settings};
use crate::{cpu_secs, e2e_line, end_to_end, free_port, saturate, steady, Arrivals, Bridge, Run};

/// CPU seconds of each process in `pids` now.
fn cpu_of(pids: &[String]) -> HashMap<String, f64> {
    pids.iter().map(|p| (p.clone(), cpu_secs(p))).collect()
}

/// CPU seconds used between `before` and now by `pids` (a process that
/// started meanwhile counts from its start).
fn cpu_since(before: &HashMap<String, f64>, pids: &[String]) -> f64 {
    pids.iter()
        .map(|p| cpu_secs(p) - before.get(p).copied().unwrap_or(0.0))
        .sum()
}

/// Saturates `urls` with 32 clients and prints the rate, the latencies and
/// where the CPU went.
async fn saturated(what: &str, urls: &[String], pg: &Postgres, bridges: &[&Bridge], dur: Duration) {
    let me = vec!["self".to_owned()];
    let bridge_pids: Vec<String> = bridges.iter().map(|b| b.pid()).collect();
    let before_pg = cpu_of(&pg_pids(pg));
    let before_bridges = cpu_of(&bridge_pids);
    let before_me = cpu_of(&me);
    let run: Run = saturate(urls, &format!("Pg{what}"), 32, dur).await;
    let pg_cpu = cpu_since(&before_pg, &pg_pids(pg));
    let bridge_cpu = cpu_since(&before_bridges, &bridge_pids);
    let me_cpu = cpu_since(&before_me, &me);
    println!(
        "{}",
        run.report(&format!(
            "pair on PostgreSQL, saturated (32 clients), {what}"
        ))
    );
    let per = |cpu: f64| cpu / run.acked.max(1) as f64 * 1e6;
    println!(
        "  CPU per acknowledged webhook: bridges {:.0} µs, PostgreSQL {:.0} µs, load client + Telegram stand-in {:.0} µs; \
         CPU busy {:.0}% of 2 cores",
        per(bridge_cpu),
        per(pg_cpu),
        per(me_cpu),
        (bridge_cpu + pg_cpu + me_cpu) / run.secs / 2.0 * 100.0
    );
}

/// The server's processes as `/proc` names them.
fn pg_pids(pg: &Postgres) -> Vec<String> {
    pg.pids().iter().map(u32::to_string).collect()
}

/// Runs the PostgreSQL leg, printing each figure.
pub async fn run(outpost: &str, tg: SocketAddr, arrivals: &Arrivals, dur: Duration) {
    let pg = Postgres::launch(free_port(), &Settings::DURABLE);
    println!(
        "PostgreSQL (durable defaults) with its data in {}",
        pg.dir().display()
    );
    let client = reqwest::Client::new();
    let a = Bridge::start(outpost, tg, &pg.url(), &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !a.leads(&client).await {
        assert!(Instant::now() < deadline, "the first bridge never led");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let b = Bridge::start(outpost, tg, &pg.url(), &[]);
    assert!(!b.leads(&client).await, "two leaders");
    let bases = [a.url.clone(), b.url.clone()];
    let urls: Vec<String> = bases.iter().map(|u| format!("{u}/alert")).collect();

    // 1. End to end, webhooks alternating between the leader and the
    //    follower.
    let e2e = end_to_end(&bases, "E2ePg", 20_000, arrivals).await;
    println!(
        "{}",
        e2e_line(
            "pair on PostgreSQL, end to end, webhook to the leader",
            &e2e[0],
            100
        )
    );
    println!(
        "{}",
        e2e_line(
            "pair on PostgreSQL, end to end, webhook to the follower",
            &e2e[1],
            100
        )
    );

    // 2. Steady 200/s over both.
    let st = steady(&urls, "PgSteady", 200, dur).await;
    println!(
        "{}",
        st.report("pair on PostgreSQL, 200/s steady over both")
    );

    // 3. Saturation: over both, then all on one bridge (what one bridge
    //    can take with the same clients).
    saturated("over both", &urls, &pg, &[&a, &b], dur).await;
    saturated("all to the follower", &urls[1..], &pg, &[&a, &b], dur).await;

    // 4. Takeover: SIGKILL the leader; a webhook to the survivor right
    //    after; time to its lead and to that alert in the chat.
    let mut a = a;
    a.child.kill().unwrap();
    let killed = Instant::now();
    a.child.wait().unwrap();
    let r = client
        .post(format!("{}/alert/30000", b.url))
        .header("content-type", "application/json")
        .body(crate::alert("E2eTakeover"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "the survivor refused a webhook");
    let acked_after = killed.elapsed();
    let deadline = killed + Duration::from_secs(60);
    while !b.leads(&client).await {
        assert!(Instant::now() < deadline, "the follower never took over");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let led = killed.elapsed();
    let delivered = loop {
        if let Some(at) = arrivals.lock().unwrap().get("E2eTakeover") {
            break *at - killed;
        }
        assert!(Instant::now() < deadline, "the survivor never delivered");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    println!(
        "takeover (--lease-ttl 15s, SIGKILL of the leader): webhook acknowledged by the follower {:.1} ms after the kill; \
         it leads after {:.2} s; that alert reached the chat after {:.2} s",
        acked_after.as_secs_f64() * 1e3,
        led.as_secs_f64(),
        delivered.as_secs_f64()
    );
}
