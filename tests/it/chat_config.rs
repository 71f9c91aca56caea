//! Configuration from the chat against the real stack: `outpost generate`'s
//! output served by the real Prometheus (1 s scrapes, `--web.enable-lifecycle`),
//! real `outpost exporter`s, the real promtool, and the engine the Telegram
//! front end calls. An admin adds an agent and sees it scraped, sets a
//! threshold and sees the alert fire at it; strangers, viewers and bad
//! input change nothing; a failing validation or reload rolls back.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Parser;
use outpost::chat::audit::Audit;
use outpost::chat::{Caller, Engine, Reply, Role, Roles, Verdict};

use crate::support::{
    free_port, outpost_bin, require, start_exporter_on, wait_for_port, Proc, FAST_GENERATE,
};

const ADMIN: i64 = 42;
const VIEWER: i64 = 43;
const OPERATOR: i64 = 44;
const STRANGER: i64 = 7;

/// The generate flags of this setup: fast, memory alerts after 1 s, and a
/// default memory threshold no host reaches.
fn generate_flags() -> Vec<&'static str> {
    let mut f = FAST_GENERATE.to_vec();
    f.extend(["--memory-threshold", "99.9", "--memory-for", "1s"]);
    f
}

struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    agents: PathBuf,
    gen: PathBuf,
    prometheus: String,
    /// web1's exporter address.
    web1: String,
    _procs: Vec<Proc>,
}

/// agents.txt with web1 (a real exporter), generated, and Prometheus on it.
fn setup(lifecycle: bool) -> Setup {
    require("promtool", "prometheus");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let eport = free_port();
    let exporter = start_exporter_on(eport);
    let agents = dir.join("agents.txt");
    std::fs::write(
        &agents,
        format!("# the fleet\n\nweb1   127.0.0.1:{eport}   # first\n"),
    )
    .unwrap();
    let gen = dir.join("gen");
    generate(&agents, &gen, false).expect("first generate");
    let pport = free_port();
    let extra: &[&str] = if lifecycle {
        &["--web.enable-lifecycle"]
    } else {
        &[]
    };
    let prometheus = crate::support::prometheus_with(
        &gen.join("prometheus/prometheus.yml"),
        &dir.join("tsdb"),
        pport,
        extra,
    );
    assert!(wait_for_port(pport, Duration::from_secs(20)));
    Setup {
        _tmp: tmp,
        dir,
        agents,
        gen,
        prometheus: format!("http://127.0.0.1:{pport}"),
        web1: format!("127.0.0.1:{eport}"),
        _procs: vec![exporter, prometheus],
    }
}

/// Runs `outpost generate` (with `--check`: reports drift) with this setup's flags.
fn generate(agents: &Path, out: &Path, check: bool) -> Result<String, String> {
    let mut cmd = Command::new(outpost_bin());
    cmd.arg("generate")
        .arg("--agents")
        .arg(agents)
        .arg("--out")
        .arg(out)
        .args(generate_flags());
    if check {
        cmd.arg("--check");
    }
    let o = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    if o.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

/// The engine as the bridge builds it from its flags.
fn engine(s: &Setup, writable: bool) -> Engine {
    let flags = generate_flags().join(" ");
    let mut argv = vec![
        "outpost".to_string(),
        "ask".into(),
        "--agents".into(),
        s.agents.display().to_string(),
        "--prometheus-url".into(),
        s.prometheus.clone(),
        "--alertmanager-url".into(),
        "http://127.0.0.1:9".into(),
        "--config-out".into(),
        s.gen.display().to_string(),
        "--generate-args".into(),
        flags,
        "--config-confirm-timeout".into(),
        "45s".into(),
    ];
    if writable {
        argv.push("--config-writable".into());
    }
    argv.push("/help".into());
    let cli = outpost::cli::Cli::try_parse_from(argv).unwrap();
    let outpost::cli::Command::Ask(args) = cli.command else {
        panic!("not ask")
    };
    let mut roles = Roles::default();
    roles
        .grant([VIEWER], Role::Viewer)
        .grant([OPERATOR], Role::Operator)
        .grant([ADMIN], Role::Admin);
    let config = outpost::chat::config(&args.chat, roles).unwrap();
    Engine::new(
        config,
        Audit::open(&s.dir.join("state.db"), Default::default()).unwrap(),
    )
}

fn user(id: i64) -> Caller {
    Caller {
        user_id: id,
        chat_id: -100,
        username: Some(format!("u{id}")),
    }
}

/// Sends `text` as the admin, expects the diff with a Confirm button,
/// presses it and returns the final reply.
async fn confirmed(e: &Engine, text: &str, diff_line: &str) -> outpost::chat::Answer {
    let asked = e.answer(&user(ADMIN), text).await.unwrap();
    assert_eq!(asked.verdict, Verdict::Ok, "{text}: {}", asked.reply.text);
    assert!(
        asked.reply.text.contains(diff_line),
        "{text}: {}",
        asked.reply.text
    );
    e.answer_press(&user(ADMIN), &confirm_data(&asked.reply))
        .await
        .unwrap()
}

fn confirm_data(r: &Reply) -> String {
    r.buttons
        .iter()
        .find(|b| b.text.contains("Confirm"))
        .unwrap_or_else(|| panic!("no Confirm button: {r:?}"))
        .data
        .clone()
}

/// The value of an instant query's first sample.
async fn query(prometheus: &str, expr: &str) -> Option<f64> {
    let v: serde_json::Value = reqwest::Client::new()
        .get(format!("{prometheus}/api/v1/query"))
        .query(&[("query", expr)])
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
}

async fn firing(prometheus: &str, alert: &str, agent: &str) -> bool {
    let Ok(resp) = reqwest::get(format!("{prometheus}/api/v1/alerts")).await else {
        return false;
    };
    let v: serde_json::Value = resp.json().await.unwrap();
    v["data"]["alerts"].as_array().unwrap().iter().any(|a| {
        a["labels"]["alertname"] == alert && a["labels"]["agent"] == agent && a["state"] == "firing"
    })
}

/// Polls `f` every 200 ms until it is true or `limit` passes.
/// The `for` (seconds) of the loaded TcpTargetDown rule for checks with
/// `failures`, from Prometheus' rules API.
async fn tcp_down_for(prometheus: &str, failures: &str) -> Option<f64> {
    let url = format!("{prometheus}/api/v1/rules?type=alert");
    let v: serde_json::Value = reqwest::get(&url).await.ok()?.json().await.ok()?;
    v["data"]["groups"]
        .as_array()?
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .find(|r| r["name"] == "TcpTargetDown" && r["labels"]["failures"] == failures)
        .and_then(|r| r["duration"].as_f64())
}

async fn eventually<F: std::future::Future<Output = bool>>(
    limit: Duration,
    mut f: impl FnMut() -> F,
) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// Every file under `dir` with its bytes.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push((e.path(), std::fs::read(e.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_adds_an_agent_sets_a_threshold_and_removes_it_without_drift() {
    let s = setup(true);
    let e = engine(&s, true);
    let p = s.prometheus.clone();
    // A second real exporter, not yet in agents.txt.
    let port2 = free_port();
    let _web2 = start_exporter_on(port2);
    assert!(
        eventually(Duration::from_secs(30), || async {
            query(&p, "up{agent=\"web1\"}").await == Some(1.0)
        })
        .await,
        "web1 never up"
    );

    // Add web2: diff, confirm, live; scraped and up within a minute.
    let started = Instant::now();
    let line = format!("web2 127.0.0.1:{port2} env=test");
    let done = confirmed(
        &e,
        &format!("/agent_add web2 127.0.0.1:{port2} env=test"),
        &format!("+{line}"),
    )
    .await;
    assert_eq!(done.verdict, Verdict::Ok, "{}", done.reply.text);
    assert!(
        done.reply.text.contains("its target is active"),
        "{}",
        done.reply.text
    );
    let up = eventually(Duration::from_secs(60), || async {
        query(&p, "up{agent=\"web2\",env=\"test\"}").await == Some(1.0)
    })
    .await;
    assert!(up, "web2 not up");
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(
        std::fs::read_to_string(&s.agents).unwrap(),
        format!(
            "# the fleet\n\nweb1   127.0.0.1:{}   # first\n{line}\n",
            e.known()
                .iter()
                .next()
                .unwrap()
                .address
                .rsplit(':')
                .next()
                .unwrap()
        )
    );
    // The engine knows web2 at once; generate --check sees no drift.
    let agents = e.answer(&user(VIEWER), "/agents").await.unwrap();
    assert!(agents.reply.text.contains("web2"), "{}", agents.reply.text);
    generate(&s.agents, &s.gen, true).expect("no drift after agent_add");

    // Memory on web2 alerts at 0.01% instead of the default 99.9%.
    assert!(!firing(&p, "AgentHighMemory", "web2").await);
    let done = confirmed(&e, "/threshold web2 memory 0.01", "memory_threshold=0.01").await;
    assert_eq!(done.verdict, Verdict::Ok, "{}", done.reply.text);
    assert!(
        done.reply.text.contains("memory_threshold of web2 is 0.01"),
        "{}",
        done.reply.text
    );
    let fired = eventually(Duration::from_secs(30), || {
        firing(&p, "AgentHighMemory", "web2")
    })
    .await;
    assert!(fired, "AgentHighMemory never fired for web2");
    assert!(
        !firing(&p, "AgentHighMemory", "web1").await,
        "web1 keeps the default"
    );
    let status = e.answer(&user(VIEWER), "/status web2").await.unwrap();
    assert!(
        status.reply.text.contains("mem 0.01%"),
        "{}",
        status.reply.text
    );
    generate(&s.agents, &s.gen, true).expect("no drift after threshold");
    let audit = e.answer(&user(ADMIN), "/audit").await.unwrap().reply.text;
    // The audit entry names the change and the old line (the new one
    // follows it, cut in this view).
    assert!(
        audit.contains(&format!(
            "set memory_threshold of web2 to 0.01: old &quot;{line}&quot;"
        )),
        "{audit}"
    );

    // A check with its own failure count: live with the rule it means
    // (firing on the 5th failed probe: `for` 4 × the 1 s scrape interval).
    let done = confirmed(
        &e,
        "/check_add ssh 127.0.0.1:22 from web1 failures=5",
        "+check ssh 127.0.0.1:22 from web1 failures=5",
    )
    .await;
    assert_eq!(done.verdict, Verdict::Ok, "{}", done.reply.text);
    let rule = tcp_down_for(&p, "5").await;
    assert_eq!(rule, Some(4.0), "TcpTargetDown for failures=5");
    generate(&s.agents, &s.gen, true).expect("no drift after check_add");
    let done = confirmed(
        &e,
        "/check_rm ssh",
        "-check ssh 127.0.0.1:22 from web1 failures=5",
    )
    .await;
    assert_eq!(done.verdict, Verdict::Ok, "{}", done.reply.text);

    // Back to the default, then remove web2: the target goes.
    let done = confirmed(&e, "/threshold web2 memory default", &format!("+{line}")).await;
    assert_eq!(done.verdict, Verdict::Ok, "{}", done.reply.text);
    assert_eq!(
        query(
            &p,
            "agent:outpost_threshold:value{agent=\"web2\",threshold=\"memory_threshold\"}"
        )
        .await,
        Some(99.9)
    );
    let done = confirmed(&e, "/agent_rm web2", &format!("-{line}")).await;
    assert_eq!(done.verdict, Verdict::Ok, "{}", done.reply.text);
    assert!(
        done.reply
            .text
            .contains("no target has agent=&quot;web2&quot; any more"),
        "{}",
        done.reply.text
    );
    assert!(!e.known().iter().any(|a| a.name == "web2"));
    generate(&s.agents, &s.gen, true).expect("no drift after agent_rm");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_bad_input_and_failed_steps_change_nothing() {
    // Prometheus without --web.enable-lifecycle: a reload is refused.
    let s = setup(false);
    let e = engine(&s, true);
    let web1 = s.web1.clone();
    let before = (std::fs::read(&s.agents).unwrap(), tree(&s.gen));
    let unchanged = |what: &str| {
        assert_eq!(
            (std::fs::read(&s.agents).unwrap(), tree(&s.gen)),
            before,
            "{what} changed files"
        );
    };

    // A stranger gets the one refusal; a viewer and an operator are told
    // the role it needs. No Confirm button for any of them.
    let r = e
        .answer(&user(STRANGER), "/agent_add web2 127.0.0.1:1")
        .await
        .unwrap();
    assert_eq!(r.verdict, Verdict::Refused);
    assert!(r.reply.buttons.is_empty());
    for id in [VIEWER, OPERATOR] {
        for text in [
            "/agent_add web2 127.0.0.1:1",
            "/threshold web1 cpu 90",
            "/agent_rm web1",
            "/check_add x 127.0.0.1:1 from web1",
            "/check_rm x",
        ] {
            let r = e.answer(&user(id), text).await.unwrap();
            assert_eq!(r.verdict, Verdict::Refused, "{id} {text}");
            assert!(
                r.reply.text.contains("needs the admin role"),
                "{}",
                r.reply.text
            );
            assert!(r.reply.buttons.is_empty());
        }
    }
    unchanged("refused users");

    // Bad input: a clear reply, no button, nothing changed.
    for (text, verdict, says) in [
        (
            "/threshold web9 cpu 90",
            Verdict::UnknownAgent,
            "unknown agent \"web9\"",
        ),
        (
            "/agent_rm web9",
            Verdict::UnknownAgent,
            "unknown agent \"web9\"",
        ),
        (
            "/check_add pg 127.0.0.1:5432 from web9",
            Verdict::UnknownAgent,
            "unknown agent \"web9\"",
        ),
        (
            "/agent_add web1 127.0.0.1:2",
            Verdict::Usage,
            "an agent called \"web1\" already exists",
        ),
        (
            "/check_add pg2 127.0.0.1:5433 from web1 failures=0",
            Verdict::Usage,
            "invalid failures \"0\": use a whole number from 1 to 1000",
        ),
        (
            &format!("/agent_add web2 {web1}"),
            Verdict::Usage,
            "is already used by agent web1",
        ),
        (
            "/threshold web1 cpu 101",
            Verdict::Usage,
            "a percentage cannot be above 100",
        ),
        (
            "/threshold web1 cpu -5",
            Verdict::Usage,
            "must be more than 0",
        ),
        (
            "/threshold web1 disk_fill 12",
            Verdict::Usage,
            "use a duration with a unit",
        ),
        (
            "/threshold web1 temperature 90",
            Verdict::Usage,
            "nknown metric \"temperature\" (known: cpu, memory,",
        ),
        (
            "/agent_add web2 127.0.0.1:70000",
            Verdict::Usage,
            "port out of range",
        ),
        (
            "/agent_add web2 127.0.0.1:2 job=x",
            Verdict::Usage,
            "set by Outpost itself",
        ),
        (
            "/check_rm nosuch",
            Verdict::Usage,
            "unknown check \"nosuch\"",
        ),
    ] {
        let r = e.answer(&user(ADMIN), text).await.unwrap();
        assert_eq!(r.verdict, verdict, "{text}: {}", r.reply.text);
        assert!(
            r.reply.text.contains(&says.replace('"', "&quot;")) || r.reply.text.contains(says),
            "{text}: {}",
            r.reply.text
        );
        assert!(r.reply.buttons.is_empty(), "{text}");
    }
    unchanged("bad input");

    // Read-only: the commands say so.
    let ro = engine(&s, false);
    let r = ro
        .answer(&user(ADMIN), "/agent_add web2 127.0.0.1:2")
        .await
        .unwrap();
    assert_eq!(r.verdict, Verdict::Refused);
    assert!(r.reply.text.contains("read-only"), "{}", r.reply.text);

    // Cancel changes nothing.
    let asked = e
        .answer(&user(ADMIN), "/agent_add web2 127.0.0.1:2")
        .await
        .unwrap();
    let cancel = asked
        .reply
        .buttons
        .iter()
        .find(|b| b.text.contains("Cancel"))
        .unwrap();
    let r = e.answer_press(&user(ADMIN), &cancel.data).await.unwrap();
    assert!(r.reply.text.contains("nothing was changed"));
    unchanged("cancel");

    // Validation fails (a broken rule file of the user's that Prometheus
    // would load too): nothing written; the reply names the step.
    let broken = s.gen.join("prometheus/rules/mine.yml");
    std::fs::write(
        &broken,
        "groups:\n  - name: mine\n    rules:\n      - alert: X\n        expr: up ==\n",
    )
    .unwrap();
    let before_broken = (std::fs::read(&s.agents).unwrap(), tree(&s.gen));
    let r = confirmed(&e, "/agent_add web2 127.0.0.1:2", "+web2 127.0.0.1:2").await;
    assert_eq!(r.verdict, Verdict::Failed, "{}", r.reply.text);
    assert!(
        r.reply.text.contains("validating with promtool failed"),
        "{}",
        r.reply.text
    );
    assert!(r.reply.text.contains("mine.yml"), "{}", r.reply.text);
    assert_eq!(
        (std::fs::read(&s.agents).unwrap(), tree(&s.gen)),
        before_broken
    );
    std::fs::remove_file(&broken).unwrap();

    // Written, then the reload is refused (no lifecycle API): rolled back
    // to the byte.
    let r = confirmed(
        &e,
        "/check_add ssh 127.0.0.1:22 from web1",
        "+check ssh 127.0.0.1:22 from web1",
    )
    .await;
    assert_eq!(r.verdict, Verdict::Failed, "{}", r.reply.text);
    assert!(
        r.reply.text.contains("reloading Prometheus failed"),
        "{}",
        r.reply.text
    );
    assert!(r.reply.text.contains("were restored"), "{}", r.reply.text);
    unchanged("a failed reload");
    assert!(!e.known().iter().any(|a| a.name == "web2"));
    generate(&s.agents, &s.gen, true).expect("no drift after the rollback");
}
