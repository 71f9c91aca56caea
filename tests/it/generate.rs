//! `outpost generate`: golden files; the real promtool and amtool on the
//! generated output (IPv6, hostnames, 500 agents); errors (file:line, exit 2,
//! nothing written); `--check` drift; shards covering every agent exactly
//! once (by our own hashmod and by real Prometheus's relabelling); the
//! repository's committed config; and a live Prometheus + Alertmanager +
//! exporter stack delivering AgentDown to a recording webhook and answering
//! every dashboard query.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use md5::{Digest, Md5};
use serde_json::Value;

use crate::support;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn golden_dir() -> PathBuf {
    repo().join("tests/golden/generate")
}

fn generate(agents: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(support::outpost_bin())
        .arg("generate")
        .arg("--agents")
        .arg(agents)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn generate_ok(agents: &Path, out: &Path, extra: &[&str]) {
    let o = generate(agents, out, extra);
    assert!(
        o.status.success(),
        "generate failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Every file under `dir`, relative, sorted.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn run_tool(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// promtool check config / check rules / test rules and amtool check-config.
fn validate_with_real_tools(out: &Path) {
    let promtool = support::require("promtool", "prometheus");
    let amtool = support::require("amtool", "prometheus-alertmanager");
    let prom = out.join("prometheus");
    let mut configs = vec![prom.join("prometheus.yml")];
    if let Ok(entries) = std::fs::read_dir(prom.join("shards")) {
        let mut shards: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        shards.sort();
        configs.extend(shards);
    }
    let text = run_tool(
        Command::new(&promtool)
            .arg("check")
            .arg("config")
            .args(&configs),
    );
    assert_eq!(
        text.matches("is valid prometheus config file").count(),
        configs.len(),
        "{text}"
    );
    let text = run_tool(
        Command::new(&promtool)
            .args(["check", "rules"])
            .arg(prom.join("rules/outpost.yml")),
    );
    assert!(text.contains("SUCCESS"), "{text}");
    let mut tests: Vec<PathBuf> = std::fs::read_dir(prom.join("tests"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    tests.sort();
    assert!(tests.len() >= 10, "{tests:?}");
    let text = run_tool(Command::new(&promtool).args(["test", "rules"]).args(&tests));
    assert_eq!(text.matches("SUCCESS").count(), tests.len(), "{text}");
    let text = run_tool(
        Command::new(&amtool)
            .arg("check-config")
            .arg(out.join("alertmanager/alertmanager.yml")),
    );
    assert!(text.contains("SUCCESS"), "{text}");
}

const GOLDEN_FLAGS: &[&str] = &[
    "--shards",
    "2",
    "--bridge-url",
    "http://bridge.internal:9187",
    "--webhook-token-file",
    "/etc/outpost/webhook-token",
];

#[test]
fn golden_files_for_every_output() {
    let tmp = tempfile::tempdir().unwrap();
    generate_ok(&golden_dir().join("agents.txt"), tmp.path(), GOLDEN_FLAGS);
    let got = tree(tmp.path());
    let golden_out = golden_dir().join("out");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let _ = std::fs::remove_dir_all(&golden_out);
        for (rel, body) in &got {
            let p = golden_out.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
    }
    let want = tree(&golden_out);
    let got_names: Vec<_> = got.keys().collect();
    let want_names: Vec<_> = want.keys().collect();
    assert_eq!(
        got_names, want_names,
        "file set differs (UPDATE_GOLDEN=1 regenerates)"
    );
    for (rel, body) in &got {
        assert!(
            want[rel] == *body,
            "{} differs from its golden file (UPDATE_GOLDEN=1 regenerates):\n{}",
            rel.display(),
            String::from_utf8_lossy(body)
        );
    }
    // Deterministic: a second run writes the same bytes.
    let again = tempfile::tempdir().unwrap();
    generate_ok(&golden_dir().join("agents.txt"), again.path(), GOLDEN_FLAGS);
    assert_eq!(tree(again.path()), got);
}

#[test]
fn real_tools_accept_the_golden_setup() {
    let tmp = tempfile::tempdir().unwrap();
    generate_ok(&golden_dir().join("agents.txt"), tmp.path(), GOLDEN_FLAGS);
    validate_with_real_tools(tmp.path());
}

/// 500 agents mixing hostnames, IPv4 and IPv6, with labels and checks.
fn many_agents(n: usize) -> String {
    let mut text = String::from("# generated for tests\n");
    for i in 0..n {
        let addr = match i % 3 {
            0 => format!("host-{i}.dc{}.example.com:9100", i % 4),
            1 => format!("10.{}.{}.1:9100", i / 256, i % 256),
            _ => format!("[2001:db8::{i:x}]:9100"),
        };
        let env = if i % 2 == 0 { "prod" } else { "staging" };
        text.push_str(&format!("agent-{i} {addr} env={env} rack=r{}\n", i % 10));
    }
    for i in 0..50 {
        text.push_str(&format!(
            "check svc-{i} 10.200.0.{i}:{} from agent-{} failures={}\n",
            5000 + i,
            i * 7,
            1 + i % 5
        ));
    }
    text
}

#[test]
fn real_tools_accept_500_agents_with_ipv6_and_hostnames() {
    let tmp = tempfile::tempdir().unwrap();
    let agents = tmp.path().join("agents.txt");
    std::fs::write(&agents, many_agents(500)).unwrap();
    let out = tmp.path().join("out");
    generate_ok(&agents, &out, &["--shards", "3"]);
    let targets: Value =
        serde_json::from_slice(&std::fs::read(out.join("prometheus/targets/agents.json")).unwrap())
            .unwrap();
    assert_eq!(targets.as_array().unwrap().len(), 500);
    assert_eq!(targets[2]["targets"][0], "[2001:db8::2]:9100");
    assert_eq!(targets[2]["labels"]["agent"], "agent-2");
    assert_eq!(targets[2]["labels"]["env"], "prod");
    validate_with_real_tools(&out);
}

#[test]
fn errors_name_file_and_line_exit_2_and_write_nothing() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "web1 10.0.0.1:9100\n\nweb1 10.0.0.2:9100\n",
            3,
            "duplicate agent name \"web1\" (first defined on line 1)",
        ),
        ("web1 10.0.0.300:9100\n", 1, "bad address"),
        (
            "web1 2001:db8::1:9100\n",
            1,
            "IPv6 addresses must be bracketed",
        ),
        ("web1 10.0.0.1:65536\n", 1, "port out of range"),
        ("web1 10.0.0.1\n", 1, "bad address"),
        (
            "web1 10.0.0.1:9100\ncheck pg 10.0.0.2:5432 from web9\n",
            2,
            "unknown agent \"web9\"",
        ),
        (
            "web1 10.0.0.1:9100\ncheck pg 10.0.0.2:5432 from web1 retries=3\n",
            2,
            "unknown key \"retries\"",
        ),
        ("web1 10.0.0.1:9100 job=x\n", 1, "set by Outpost itself"),
        ("# ok\nweb1 10.0.0.1:9100 env\n", 2, "invalid label"),
        ("check 10.0.0.1:9100\n", 1, "`check` is reserved"),
        // Per-agent thresholds: a typo, a negative value, a percentage
        // above 100, a duration that does not parse.
        (
            "web1 10.0.0.1:9100\ndb1 10.0.0.2:9100 cpu_treshold=95\n",
            2,
            "unknown threshold \"cpu_treshold\"",
        ),
        (
            "db1 10.0.0.2:9100 disk_threshold=-5\n",
            1,
            "invalid disk_threshold \"-5\": must be more than 0",
        ),
        (
            "db1 10.0.0.2:9100 memory_threshold=120\n",
            1,
            "a percentage cannot be above 100",
        ),
        (
            "db1 10.0.0.2:9100 disk_fill_within=soon\n",
            1,
            "invalid disk_fill_within \"soon\"",
        ),
    ];
    for (text, line, fragment) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let agents = tmp.path().join("agents.txt");
        std::fs::write(&agents, text).unwrap();
        let out = tmp.path().join("out");
        let o = generate(&agents, &out, &[]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{text:?}: {stderr}");
        let place = format!("{}:{line}: ", agents.display());
        assert!(
            stderr.contains(&place),
            "{text:?}: want {place:?} in {stderr}"
        );
        assert!(
            stderr.contains(fragment),
            "{text:?}: want {fragment:?} in {stderr}"
        );
        assert!(!out.exists(), "{text:?}: something was written");
    }
    // Bad settings and a missing file are usage errors too.
    let tmp = tempfile::tempdir().unwrap();
    let agents = tmp.path().join("agents.txt");
    std::fs::write(&agents, "web1 10.0.0.1:9100\n").unwrap();
    let out = tmp.path().join("out");
    let o = generate(&agents, &out, &["--cpu-threshold", "150"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--cpu-threshold"));
    let o = generate(&tmp.path().join("nope.txt"), &out, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!out.exists());
}

#[test]
fn check_reports_drift_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let agents = tmp.path().join("agents.txt");
    std::fs::write(
        &agents,
        "web1 10.0.0.1:9100\ncheck pg 10.0.0.2:5432 from web1\n",
    )
    .unwrap();
    let out = tmp.path().join("out");
    // Nothing on disk yet: everything is missing, and --check creates nothing.
    let o = generate(&agents, &out, &["--check"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing: prometheus/prometheus.yml"));
    assert!(!out.exists());
    generate_ok(&agents, &out, &[]);
    let o = generate(&agents, &out, &["--check"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A hand edit and a stale file are both reported; the disk is untouched.
    let rules = out.join("prometheus/rules/outpost.yml");
    std::fs::write(&rules, "groups: []\n").unwrap();
    std::fs::write(out.join("prometheus/targets/tcp-gone.json"), "[]").unwrap();
    let before = tree(&out);
    let o = generate(&agents, &out, &["--check"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("differs: prometheus/rules/outpost.yml"),
        "{stderr}"
    );
    assert!(
        stderr.contains("stale:   prometheus/targets/tcp-gone.json"),
        "{stderr}"
    );
    assert!(!stderr.contains("agents.json"), "{stderr}");
    assert_eq!(tree(&out), before);
    // Regenerating repairs both.
    generate_ok(&agents, &out, &[]);
    assert!(generate(&agents, &out, &["--check"]).status.success());
    assert!(!out.join("prometheus/targets/tcp-gone.json").exists());
}

#[test]
fn repository_config_matches_agents_txt() {
    let o = generate(&repo().join("agents.txt"), &repo(), &["--check"]);
    assert!(
        o.status.success(),
        "the committed prometheus/, alertmanager/, grafana/ drifted from agents.txt; run `outpost generate` in the repository root:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Prometheus's hashmod: md5 of the joined source label values, the last 8
/// bytes as a big-endian u64, modulo the modulus (model/relabel/relabel.go).
fn hashmod(value: &str, modulus: u64) -> u64 {
    let sum = Md5::digest(value.as_bytes());
    let last8: [u8; 8] = sum[8..].try_into().unwrap();
    u64::from_be_bytes(last8) % modulus
}

/// The (modulus, kept value) of a job's hashmod/keep relabel pair on `agent`.
fn shard_rule(job: &Value) -> (u64, String) {
    let steps = job["relabel_configs"].items();
    let hash = steps
        .iter()
        .find(|s| s["action"] == "hashmod")
        .expect("hashmod step");
    assert_eq!(hash["source_labels"], serde_json::json!(["agent"]));
    let tmp = hash["target_label"].as_str().unwrap();
    let keep = steps
        .iter()
        .find(|s| s["action"] == "keep" && s["source_labels"] == serde_json::json!([tmp]))
        .expect("keep step");
    let regex = keep["regex"].as_str().unwrap().to_string();
    // A plain number: Prometheus's anchored regex match is string equality.
    assert!(regex.chars().all(|c| c.is_ascii_digit()), "{regex}");
    (hash["modulus"].as_u64().unwrap(), regex)
}

trait Items {
    fn items(&self) -> Vec<Value>;
}
impl Items for Value {
    fn items(&self) -> Vec<Value> {
        self.as_array().cloned().unwrap_or_default()
    }
}

fn yaml_file(path: &Path) -> Value {
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_slice(&std::fs::read(path).unwrap()).unwrap();
    serde_json::to_value(v).unwrap()
}

#[test]
fn shards_cover_every_agent_exactly_once() {
    const SHARDS: u64 = 3;
    let tmp = tempfile::tempdir().unwrap();
    let agents_txt = tmp.path().join("agents.txt");
    std::fs::write(&agents_txt, many_agents(500)).unwrap();
    let out = tmp.path().join("out");
    generate_ok(&agents_txt, &out, &["--shards", &SHARDS.to_string()]);
    let names: Vec<String> = (0..500).map(|i| format!("agent-{i}")).collect();
    let mut owner: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut ours: Vec<BTreeSet<String>> = vec![BTreeSet::new(); SHARDS as usize];
    let mut check_jobs: BTreeMap<String, u32> = BTreeMap::new();
    for k in 0..SHARDS {
        let cfg = yaml_file(&out.join(format!("prometheus/shards/shard-{k}.yml")));
        assert_eq!(cfg["global"]["external_labels"]["shard"], k.to_string());
        for job in cfg["scrape_configs"].items() {
            let (modulus, keep) = shard_rule(&job);
            assert_eq!(modulus, SHARDS);
            let name = job["job_name"].as_str().unwrap().to_string();
            if name == "outpost-agents" {
                for agent in &names {
                    if hashmod(agent, modulus).to_string() == keep {
                        owner.entry(agent.clone()).or_default().push(k);
                        ours[k as usize].insert(agent.clone());
                    }
                }
            } else {
                // A probe job keeps its targets on its vantage agent's shard.
                let vantage = job["relabel_configs"]
                    .items()
                    .into_iter()
                    .find(|s| s["target_label"] == "agent")
                    .unwrap()["replacement"]
                    .as_str()
                    .unwrap()
                    .to_string();
                if hashmod(&vantage, modulus).to_string() == keep {
                    *check_jobs.entry(name).or_default() += 1;
                }
            }
        }
    }
    for agent in &names {
        assert_eq!(
            owner.get(agent).map(Vec::len),
            Some(1),
            "{agent}: {:?}",
            owner.get(agent)
        );
    }
    for (k, set) in ours.iter().enumerate() {
        assert!(set.len() > 100, "shard {k} got only {} agents", set.len());
    }
    assert_eq!(check_jobs.len(), 50);
    assert!(check_jobs.values().all(|&n| n == 1), "{check_jobs:?}");

    // Real Prometheus relabelling (promtool's service discovery) agrees.
    let promtool = support::require("promtool", "prometheus");
    let handles: Vec<_> = (0..SHARDS)
        .map(|k| {
            let promtool = promtool.clone();
            let dir = out.join("prometheus");
            std::thread::spawn(move || {
                let o = Command::new(&promtool)
                    .current_dir(&dir)
                    .args(["check", "service-discovery", "--timeout=3s"])
                    .arg(format!("shards/shard-{k}.yml"))
                    .arg("outpost-agents")
                    .output()
                    .unwrap();
                let targets: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
                    panic!(
                        "promtool output: {e}: {}",
                        String::from_utf8_lossy(&o.stderr)
                    )
                });
                targets
                    .items()
                    .iter()
                    .filter(|t| t["labels"].as_object().is_some_and(|l| !l.is_empty()))
                    .map(|t| t["labels"]["agent"].as_str().unwrap().to_string())
                    .collect::<BTreeSet<String>>()
            })
        })
        .collect();
    for (k, h) in handles.into_iter().enumerate() {
        let kept = h.join().unwrap();
        assert_eq!(
            kept, ours[k],
            "shard {k}: Prometheus kept other agents than our hashmod"
        );
    }
}

// ---- live stack -----------------------------------------------------------

/// One webhook delivery: the Authorization header and the JSON body.
#[derive(Debug, Clone)]
struct Delivery {
    auth: Option<String>,
    body: Value,
}

type Log = Arc<Mutex<Vec<Delivery>>>;

/// A recording webhook receiver standing in for the bridge.
fn start_receiver(rt: &tokio::runtime::Runtime) -> (u16, Log) {
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    let log: Log = Arc::default();
    async fn hook(State(log): State<Log>, headers: HeaderMap, body: String) -> StatusCode {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        match serde_json::from_str(&body) {
            Ok(body) => {
                log.lock().unwrap().push(Delivery { auth, body });
                StatusCode::OK
            }
            Err(_) => StatusCode::BAD_REQUEST,
        }
    }
    let app = axum::Router::new()
        .route("/alert", axum::routing::post(hook))
        .with_state(log.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        axum::serve(listener, app).await.unwrap();
    });
    (port, log)
}

/// The first delivered alert matching `labels` with `status`.
fn delivered(log: &Log, labels: &[(&str, &str)], status: &str) -> Option<(Delivery, Value)> {
    for d in log.lock().unwrap().iter() {
        for alert in d.body["alerts"].items() {
            if alert["status"] == status && labels.iter().all(|(k, v)| alert["labels"][*k] == *v) {
                return Some((d.clone(), alert));
            }
        }
    }
    None
}

fn query(prom: u16, expr: &str) -> Vec<Value> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let resp: Value = client
        .get(format!("http://127.0.0.1:{prom}/api/v1/query"))
        .query(&[("query", expr)])
        .send()
        .and_then(|r| r.json())
        .unwrap_or(Value::Null);
    assert_ne!(resp["status"], "error", "{expr}: {resp}");
    resp["data"]["result"].items()
}

#[test]
fn live_stack_delivers_agent_down_and_resolution_and_feeds_every_panel() {
    let promtool = support::require("promtool", "prometheus");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (hook_port, log) = start_receiver(&rt);
    let tmp = tempfile::tempdir().unwrap();
    let (exp_port, bb_port, prom_port, am_port, closed_port) = (
        support::free_port(),
        support::free_port(),
        support::free_port(),
        support::free_port(),
        support::free_port(),
    );
    // `local` and `prober` are live outpost exporters; `prober` also answers
    // the TCP checks' /probe and probes Prometheus's own port.
    let agents = tmp.path().join("agents.txt");
    std::fs::write(
        &agents,
        format!(
            "local 127.0.0.1:{exp_port} env=test\nprober 127.0.0.1:{bb_port}\ncheck prometheus 127.0.0.1:{prom_port} from prober failures=2\ncheck closed 127.0.0.1:{closed_port} from prober failures=2\n"
        ),
    )
    .unwrap();
    let token = tmp.path().join("webhook-token");
    std::fs::write(&token, "s3cret-token").unwrap();
    let out = tmp.path().join("out");
    let am_url = format!("http://127.0.0.1:{am_port}");
    let bridge_url = format!("http://127.0.0.1:{hook_port}");
    generate_ok(
        &agents,
        &out,
        &[
            support::FAST_GENERATE.as_slice(),
            &[
                "--cpu-for",
                "5s",
                "--memory-for",
                "5s",
                "--memory-critical-for",
                "5s",
                "--disk-for",
                "5s",
                "--load-for",
                "5s",
                "--anomaly-window",
                "1m",
                "--anomaly-for",
                "5s",
                "--group-wait",
                "1s",
                "--group-interval",
                "1s",
                "--repeat-interval",
                "1h",
                "--heartbeat-interval",
                "2s",
                "--alertmanager-url",
                &am_url,
                "--bridge-url",
                &bridge_url,
                "--webhook-token-file",
                token.to_str().unwrap(),
            ],
        ]
        .concat(),
    );
    // The shortened rules still pass their own unit tests.
    let tests: Vec<PathBuf> = std::fs::read_dir(out.join("prometheus/tests"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    run_tool(Command::new(&promtool).args(["test", "rules"]).args(&tests));

    let _prober = support::start_exporter_on(bb_port);
    let _am = support::alertmanager_with(
        &out.join("alertmanager/alertmanager.yml"),
        &tmp.path().join("am"),
        am_port,
    );
    // Alerts evaluated before Alertmanager is discovered are dropped and
    // re-sent only after --rules.alert.resend-delay (default 1m).
    let _prom = support::prometheus_with(
        &out.join("prometheus/prometheus.yml"),
        &tmp.path().join("tsdb"),
        prom_port,
        &["--rules.alert.resend-delay=1s"],
    );
    let exporter = support::start_exporter_on(exp_port);
    for (port, what) in [
        (bb_port, "prober exporter"),
        (am_port, "alertmanager"),
        (prom_port, "prometheus"),
    ] {
        assert!(
            support::wait_for_port(port, Duration::from_secs(20)),
            "{what} did not start"
        );
    }
    let both_up = support::wait_for(Duration::from_secs(20), || {
        let up = query(prom_port, "up{job=\"outpost-agents\"} == 1");
        (up.len() == 2).then_some(())
    });
    assert!(
        both_up.is_some(),
        "agents not scraped: {:?}",
        query(prom_port, "up")
    );

    // Every query of every dashboard (Outpost, Nodes, USE node and
    // cluster) returns data once a few scrapes are in.
    let mut exprs: Vec<String> = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(out.join("grafana/dashboards"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "nodes.json",
            "outpost.json",
            "use-cluster.json",
            "use-node.json"
        ]
    );
    for name in &names {
        let dashboard: Value = serde_json::from_slice(
            &std::fs::read(out.join("grafana/dashboards").join(name)).unwrap(),
        )
        .unwrap();
        exprs.extend(
            dashboard["panels"]
                .items()
                .iter()
                .flat_map(|p| p["targets"].items())
                .map(|t| {
                    t["expr"]
                        .as_str()
                        .unwrap()
                        .replace("$agent", ".*")
                        .replace("$__rate_interval", "5s")
                }),
        );
    }
    assert!(exprs.len() >= 40, "{exprs:?}");
    let all_data = support::wait_for(Duration::from_secs(30), || {
        exprs
            .iter()
            .all(|e| !query(prom_port, e).is_empty())
            .then_some(())
    });
    let empty: Vec<&String> = exprs
        .iter()
        .filter(|e| query(prom_port, e).is_empty())
        .collect();
    assert!(all_data.is_some(), "panel queries without data: {empty:?}");
    // The recording rule behind AgentHighCPU and CpuAnomaly has data too.
    let recorded = support::wait_for(Duration::from_secs(20), || {
        let r = query(prom_port, "agent:cpu_usage:percent{agent=\"local\"}");
        (r.len() == 1).then_some(r)
    });
    assert!(recorded.is_some(), "no agent:cpu_usage:percent for local");
    // The variable's query lists both agents.
    let agents_seen = query(prom_port, "group by (agent) (up{job=\"outpost-agents\"})");
    assert_eq!(agents_seen.len(), 2);

    // The Watchdog heartbeat reaches the bridge, with the bearer token.
    let hb = support::wait_for(Duration::from_secs(30), || {
        delivered(&log, &[("alertname", "Watchdog")], "firing")
    });
    let (d, _) = hb.expect("no Watchdog heartbeat at the webhook");
    assert_eq!(d.auth.as_deref(), Some("Bearer s3cret-token"));

    // A check of a closed port fails through the vantage agent's /probe.
    let tcp = support::wait_for(Duration::from_secs(30), || {
        delivered(
            &log,
            &[("alertname", "TcpTargetDown"), ("check", "closed")],
            "firing",
        )
    });
    let (_, alert) = tcp.expect("TcpTargetDown never reached the webhook");
    assert_eq!(alert["labels"]["agent"], "prober");
    assert_eq!(alert["labels"]["failures"], "2");
    assert_eq!(
        alert["labels"]["instance"],
        format!("127.0.0.1:{closed_port}")
    );
    assert!(delivered(
        &log,
        &[("alertname", "TcpTargetDown"), ("check", "prometheus")],
        "firing"
    )
    .is_none());

    // Stop the exporter: AgentDown{agent="local"} arrives …
    drop(exporter);
    let down = support::wait_for(Duration::from_secs(40), || {
        delivered(
            &log,
            &[("alertname", "AgentDown"), ("agent", "local")],
            "firing",
        )
    });
    let (d, alert) = down.expect("AgentDown never reached the webhook");
    assert_eq!(d.auth.as_deref(), Some("Bearer s3cret-token"));
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["labels"]["env"], "test");
    assert!(
        alert["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains("local"),
        "{alert}"
    );
    assert!(delivered(
        &log,
        &[("alertname", "AgentDown"), ("agent", "prober")],
        "firing"
    )
    .is_none());
    // … and resolves once it is back.
    let _exporter = support::start_exporter_on(exp_port);
    let resolved = support::wait_for(Duration::from_secs(40), || {
        delivered(
            &log,
            &[("alertname", "AgentDown"), ("agent", "local")],
            "resolved",
        )
    });
    assert!(
        resolved.is_some(),
        "AgentDown never resolved at the webhook"
    );
}
