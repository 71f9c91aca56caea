//! Issue 16's answers against the real stack of `chat.rs` (Prometheus
//! scraping a real `outpost exporter`, a real blackbox exporter probing a
//! closed port as check `pg`): `/plot` (GPU from the textfile stand-in,
//! several agents, bad input), `/history`, `/uptime`, `/mem_picture`, and
//! `/stats` through `outpost ask` over a state database.

use std::process::Command;
use std::time::Duration;

use crate::chat::{alice, engine, inspect_png, start_stack};
use crate::support::{outpost_bin, wait_for};

#[test]
fn plot_history_uptime_and_memory_against_real_prometheus() {
    let stack = start_stack();
    // A second agent in the list that Prometheus does not scrape.
    let agents = stack.dir.join("agents2.txt");
    let first = std::fs::read_to_string(&stack.agents).unwrap();
    std::fs::write(&agents, format!("{first}db1 127.0.0.1:1\n")).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let state = stack.dir.join("state/outpost.db");
    let e = engine(
        &stack.prometheus,
        &stack.alertmanager,
        &agents,
        &state,
        Duration::from_secs(5),
    );
    let ask = |text: &str| rt.block_on(e.answer(&alice(), text)).expect("a reply");

    // GPU utilisation of the stand-in: a line once two scrapes are in.
    let picture = wait_for(Duration::from_secs(30), || {
        // One minute: the stack is seconds old, the line grows with it.
        let chart = ask("/plot web1 gpu 1").reply.chart?;
        (inspect_png(&chart.png).2 > 300).then_some(chart)
    })
    .expect("a GPU chart with a line within 30 s");
    assert!(
        picture
            .caption
            .starts_with("<b>GPU utilisation</b> — web1, 1 min"),
        "{}",
        picture.caption
    );
    assert_eq!(inspect_png(&picture.png).0, 1000);

    // Several agents on one chart: web1 has data, db1 none; both named.
    let both = wait_for(Duration::from_secs(30), || {
        let a = ask("/plot web1,db1 net_in 5");
        a.reply.chart.is_some().then_some(a)
    })
    .expect("a network chart");
    assert!(
        both.reply
            .chart
            .as_ref()
            .unwrap()
            .caption
            .contains("Network received</b> — web1, db1"),
        "{:?}",
        both.reply.chart.map(|c| c.caption)
    );
    let rec = ask("/plot web1 agent:cpu_usage:percent 5");
    assert_eq!(
        rec.verdict,
        outpost::chat::Verdict::Ok,
        "{}",
        rec.reply.text
    );

    // Bad input: each a clear reply, nothing reaches Prometheus.
    let unknown = ask("/plot web1,nosuch cpu");
    assert_eq!(unknown.verdict, outpost::chat::Verdict::UnknownAgent);
    assert!(
        unknown.reply.text.starts_with("Unknown agent"),
        "{}",
        unknown.reply.text
    );
    let not_allowed = ask("/plot web1 node_load1");
    assert_eq!(not_allowed.verdict, outpost::chat::Verdict::Usage);
    assert!(
        not_allowed
            .reply
            .text
            .contains("is not a metric /plot draws"),
        "{}",
        not_allowed.reply.text
    );
    let bad_minutes = ask("/plot web1 cpu 5000");
    assert_eq!(bad_minutes.verdict, outpost::chat::Verdict::Usage);

    // The closed port is down for as long as it has been probed; web1 and
    // the prober stay up (counted, not listed).
    let history = wait_for(Duration::from_secs(20), || {
        let a = ask("/history 1");
        a.reply.text.contains("pg (127.0.0.1:").then_some(a)
    })
    .expect("the failing check in /history");
    let text = &history.reply.text;
    assert!(text.contains(") from web1</b>: 🔴 down"), "{text}");
    assert!(text.contains("🔴 down"), "{text}");
    assert!(text.contains("so far"), "{text}");
    // web1 itself; the prober's own `up` is not an agent's.
    assert!(text.contains("\n1 more up throughout."), "{text}");
    assert!(
        !text.contains("<b>web1</b>:"),
        "web1 never went down: {text}"
    );
    // By check name, and a name that is neither agent nor check.
    let pg = ask("/history pg 2");
    assert!(
        pg.reply.text.contains("pg (127.0.0.1:"),
        "{}",
        pg.reply.text
    );
    let none = ask("/history nosuch");
    assert_eq!(none.verdict, outpost::chat::Verdict::UnknownAgent);
    assert!(none.reply.text.contains("No agent or TCP check named"));

    let uptime = ask("/uptime web1");
    assert!(
        uptime.reply.text.contains("🟢 up <b>web1</b>"),
        "{}",
        uptime.reply.text
    );
    assert!(
        uptime.reply.text.contains("100.00%"),
        "{}",
        uptime.reply.text
    );

    let mem = ask("/mem_picture web1");
    let picture = mem.reply.chart.expect("a memory picture");
    for part in ["used ", "buffers ", "cache ", "free "] {
        assert!(picture.caption.contains(part), "{}", picture.caption);
    }
    let (_, _, coloured) = inspect_png(&picture.png);
    assert!(coloured > 5000, "four bars: {coloured}");
    let mem_none = ask("/mem_picture db1");
    assert!(mem_none
        .reply
        .text
        .starts_with("No memory figures for <b>db1</b>"));

    // /stats through `outpost ask`: from the state database, saying what
    // only the running bridge knows.
    let out = Command::new(outpost_bin())
        .args(["ask", "--state"])
        .arg(stack.dir.join("state/ask.db"))
        .args(["--prometheus-url", &stack.prometheus, "/stats"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("queued: 0"), "{stdout}");
    assert!(
        stdout.contains("429s: – (only the running bridge knows)"),
        "{stdout}"
    );
}
