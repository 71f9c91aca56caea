//! Action commands from the chat: the real `outpost bridge` long-polling the
//! fake Telegram, signing with a key from `outpost keygen`, talking TLS to
//! the real `outpost exporter --actions.config` (a self-signed certificate
//! pinned in agents.txt), with a real process listening on a real port for
//! `/ports` and `/kill_port`. Roles, confirmation buttons and refusals are
//! checked end to end; "nothing ran" is read from the agent's own counter
//! (`outpost_actions_requests_total`) and from the victim process staying
//! alive.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::bot::{ask, buttons, in_chat, press};
use crate::bridge::{Bridge, TOKEN};
use crate::fake_telegram::FakeTelegram;
use crate::support::{free_port, http_get, outpost_bin, spawn, wait_for, wait_for_port, Proc};

pub(crate) const OPERATOR: i64 = 42;
pub(crate) const VIEWER: i64 = 43;
const ADMIN: i64 = 44;
const STRANGER: i64 = 777;

/// A real exporter serving actions over TLS, and where to reach it.
pub(crate) struct ActionsAgent {
    _proc: Proc,
    _dir: tempfile::TempDir,
    pub metrics_port: u16,
    pub actions_port: u16,
    /// SHA-256 of its certificate, lowercase hex.
    pub pin: String,
    /// The private key the bridge signs with.
    pub key: PathBuf,
    pub victim_port: u16,
}

impl ActionsAgent {
    /// Writes `dir/agents.txt` listing this agent as `web1`; its path.
    pub(crate) fn web1_agents_txt(&self, dir: &Path) -> PathBuf {
        let agents = dir.join("agents.txt");
        std::fs::write(&agents, self.line("web1", &self.pin)).unwrap();
        agents
    }

    pub(crate) fn start() -> ActionsAgent {
        ActionsAgent::start_extra(tempfile::tempdir().unwrap(), "", &[])
    }

    /// An agent in `dir` whose allow-list also has `builtin` (YAML lines
    /// indented under `builtin:`), started with `args` too.
    pub(crate) fn start_extra(
        dir: tempfile::TempDir,
        builtin: &str,
        args: &[String],
    ) -> ActionsAgent {
        let (_, keys_line) = crate::actions::keygen(&dir.path().join("keys"));
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.path().join("a.crt"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("a.key"), key.serialize_pem()).unwrap();
        let web = dir.path().join("web.yml");
        std::fs::write(
            &web,
            "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n",
        )
        .unwrap();
        let pin = {
            use sha2::Digest;
            outpost::signing::hex(&sha2::Sha256::digest(cert.der()))
        };
        // Low, so it is listed before other tests' listeners in `/ports`.
        let victim_port = crate::support::low_free_port();
        let config = dir.path().join("actions.yml");
        std::fs::write(
            &config,
            format!(
                "agent: web1\nkeys:\n  {keys_line}builtin:\n  ports: {{}}\n  top: {{ count: 20 }}\n  kill-port: {{ ports: [{victim_port}, {victim_port}] }}\n{builtin}\
                 custom:\n  echo:\n    argv: [/usr/bin/printf, '[%s]\\n', '{{v}}']\n    params:\n      v: {{ regex: '^.*$' }}\n    timeout: 5s\n"
            ),
        )
        .unwrap();
        let (metrics_port, actions_port) = (free_port(), free_port());
        let proc = spawn(
            Command::new(outpost_bin())
                .args(["exporter", "--collector.disable-defaults"])
                .arg(format!("--web.listen-address=127.0.0.1:{metrics_port}"))
                .arg("--actions.config")
                .arg(&config)
                .arg(format!("--actions.listen-address=127.0.0.1:{actions_port}"))
                .arg("--actions.web-config.file")
                .arg(&web)
                .args(args),
        );
        assert!(wait_for_port(actions_port, Duration::from_secs(10)));
        assert!(wait_for_port(metrics_port, Duration::from_secs(10)));
        ActionsAgent {
            _proc: proc,
            key: dir.path().join("keys/actions.key"),
            _dir: dir,
            metrics_port,
            actions_port,
            pin,
            victim_port,
        }
    }

    /// An agents.txt line naming this agent's actions listener and `pin`.
    pub(crate) fn line(&self, name: &str, pin: &str) -> String {
        format!(
            "{name} 127.0.0.1:{} actions=127.0.0.1:{} actions_sha256={pin}\n",
            self.metrics_port, self.actions_port
        )
    }

    /// Every request the agent counted, whatever its action or result.
    pub(crate) fn requests(&self) -> f64 {
        let (_, text) =
            http_get(&format!("http://127.0.0.1:{}/metrics", self.metrics_port)).unwrap();
        text.lines()
            .filter(|l| l.starts_with("outpost_actions_requests_total{"))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum()
    }
}

/// A bridge (state in `dir`) whose agents.txt, written in `dir`, lists
/// only `agent` as `web1` with its pin.
pub(crate) fn start_web1_bridge(
    fake: &FakeTelegram,
    agent: &ActionsAgent,
    dir: &Path,
    extra: &[&str],
) -> Bridge {
    let agents = agent.web1_agents_txt(dir);
    start_bridge(fake, &agents, &agent.key, &dir.join("state.db"), extra)
}

/// The bridge with the test's roles, `agents`, signing with `key`, plus
/// `extra` flags.
pub(crate) fn start_bridge(
    fake: &FakeTelegram,
    agents: &Path,
    key: &Path,
    state: &Path,
    extra: &[&str],
) -> Bridge {
    let (viewer, operator, admin) = (VIEWER.to_string(), OPERATOR.to_string(), ADMIN.to_string());
    let mut args = vec![
        "--viewers",
        &viewer,
        "--allowed-users",
        &operator,
        "--admins",
        &admin,
        "--agents",
        agents.to_str().unwrap(),
        "--actions-key",
        key.to_str().unwrap(),
        // Nothing listens on port 9: no Prometheus is needed here.
        "--prometheus-url",
        "http://127.0.0.1:9",
        "--alertmanager-url",
        "http://127.0.0.1:9",
    ];
    args.extend_from_slice(extra);
    Bridge::start(&fake.url(), state, free_port(), &args)
}

pub(crate) fn alive(p: &mut Proc) -> bool {
    p.0.try_wait().unwrap().is_none()
}

#[test]
fn actions_from_the_chat_with_roles_confirmation_and_a_pinned_agent() {
    let agent = ActionsAgent::start();
    let mut victim = crate::actions::python_listener(agent.victim_port);
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents.txt");
    let wrong_pin = "ab".repeat(32);
    std::fs::write(
        &agents,
        format!(
            "{}{}",
            agent.line("web1", &agent.pin),
            agent.line("web2", &wrong_pin)
        ),
    )
    .unwrap();
    let fake = FakeTelegram::start(TOKEN);
    let bridge = start_bridge(
        &fake,
        &agents,
        &agent.key,
        &dir.path().join("state.db"),
        &[],
    );

    // A viewer reads ports and top processes, through the agent.
    let ports = ask(&fake, VIEWER, "/ports web1");
    assert!(
        ports
            .visible
            .contains(&format!("127.0.0.1:{}", agent.victim_port))
            && ports.visible.contains("python3"),
        "{}\n{}",
        ports.visible,
        bridge.logs()
    );
    let top = ask(&fake, VIEWER, "/top web1");
    assert!(
        top.visible.contains("By CPU") && top.visible.contains("By memory"),
        "{}",
        top.visible
    );
    assert_eq!(agent.requests(), 2.0);

    // Refused without reaching the agent: a stranger, a viewer's change, and
    // an agent whose certificate is not the pinned one.
    let r = ask(&fake, STRANGER, "/ports web1");
    assert!(r.visible.contains("not allowed"), "{}", r.visible);
    let r = ask(&fake, VIEWER, "/restart web1 app");
    assert!(
        r.visible.contains("needs the operator role"),
        "{}",
        r.visible
    );
    let r = ask(&fake, VIEWER, "/kill_port web1 1");
    assert!(
        r.visible.contains("needs the operator role"),
        "{}",
        r.visible
    );
    let r = ask(&fake, OPERATOR, "/ports web2");
    assert!(
        r.visible.contains(outpost::chat::actions::PIN_MISMATCH),
        "{}",
        r.visible
    );
    assert_eq!(agent.requests(), 2.0, "nothing reached the agent");

    // An operator's change shows what will run where and waits for Confirm.
    let asked = ask(
        &fake,
        OPERATOR,
        &format!("/kill_port web1 {}", agent.victim_port),
    );
    assert!(
        asked.visible.contains(&format!(
            "This will run kill-port with port={} on this host:\n• web1 (127.0.0.1:{})",
            agent.victim_port, agent.actions_port
        )),
        "{}",
        asked.visible
    );
    let data = buttons(&asked);
    let confirm = data.iter().find(|d| d.starts_with("k:")).unwrap().clone();
    assert_eq!(agent.requests(), 2.0, "nothing runs before the press");

    // Someone else's presses do nothing; the stranger was refused already
    // this hour, so gets no answer at all.
    press(
        &fake,
        STRANGER,
        STRANGER,
        asked.message_id,
        "cb-s",
        &confirm,
    );
    let before = fake.messages_in(VIEWER).len();
    press(&fake, VIEWER, VIEWER, asked.message_id, "cb-v", &confirm);
    assert!(fake.wait_until(Duration::from_secs(10), |r| in_chat(r, VIEWER) > before));
    let r = fake.messages_in(VIEWER)[before].clone();
    assert!(
        r.visible.contains("only the user who asked"),
        "{}",
        r.visible
    );
    assert!(alive(&mut victim));
    assert_eq!(agent.requests(), 2.0);

    // The asker's press runs it once.
    let before = fake.messages_in(OPERATOR).len();
    press(
        &fake,
        OPERATOR,
        OPERATOR,
        asked.message_id,
        "cb-o",
        &confirm,
    );
    assert!(fake.wait_until(Duration::from_secs(15), |r| in_chat(r, OPERATOR) > before));
    let done = fake.messages_in(OPERATOR)[before].clone();
    assert!(
        done.visible.contains("kill-port on web1") && done.visible.contains("\"signal\": \"TERM\""),
        "{}",
        done.visible
    );
    assert!(
        wait_for(Duration::from_secs(10), || (!alive(&mut victim))
            .then_some(()))
        .is_some(),
        "the listener was stopped"
    );
    assert_eq!(agent.requests(), 3.0);
    press(
        &fake,
        OPERATOR,
        OPERATOR,
        asked.message_id,
        "cb-o2",
        &confirm,
    );
    assert!(
        fake.wait_until(Duration::from_secs(10), |r| in_chat(r, OPERATOR)
            > before + 1)
    );
    let again = fake.messages_in(OPERATOR)[before + 1].clone();
    assert!(
        again.visible.contains("unknown or was already used"),
        "{}",
        again.visible
    );
    assert_eq!(agent.requests(), 3.0, "a second press runs nothing");

    // The audit says who did what where, with the result.
    let audit = ask(&fake, ADMIN, "/audit").visible;
    for expected in [
        "/restart web1 app",
        "refused: needs operator",
        &format!("ok: web1 kill-port port={} → ok in", agent.victim_port),
        "refused: only the user who asked can confirm this",
        "refused: this confirmation is unknown or was already used",
        "error: web2 ports → agent web2 at",
    ] {
        assert!(audit.contains(expected), "{expected:?} in\n{audit}");
    }
    let logs = bridge.logs();
    let key = std::fs::read_to_string(&agent.key).unwrap();
    assert!(
        !logs.contains(key.trim()),
        "the private key is never logged"
    );
}

#[test]
fn a_broadcast_summarises_each_agent_and_lists_failures() {
    let agent = ActionsAgent::start();
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents.txt");
    // web1 answers; web3 names the same listener, which refuses a request
    // addressed to another agent; plain has no actions and is left out.
    std::fs::write(
        &agents,
        format!(
            "{}{}plain 127.0.0.1:1\n",
            agent.line("web1", &agent.pin),
            agent.line("web3", &agent.pin)
        ),
    )
    .unwrap();
    let fake = FakeTelegram::start(TOKEN);
    let _bridge = start_bridge(
        &fake,
        &agents,
        &agent.key,
        &dir.path().join("state.db"),
        &[],
    );
    let r = ask(&fake, VIEWER, "/broadcast ports");
    assert!(
        r.visible
            .starts_with("📣 ports on 2 agents: 1 ok, 1 failed\nOK: web1\nFailed:\n• web3: agent web3 refused (401 wrong_agent)"),
        "{}",
        r.visible
    );
    // A change by broadcast needs an operator and a confirmation.
    let r = ask(&fake, VIEWER, "/broadcast echo v=x");
    assert!(
        r.visible.contains("needs the operator role"),
        "{}",
        r.visible
    );
    let r = ask(&fake, OPERATOR, "/broadcast echo v=x");
    assert!(
        r.visible
            .contains("This will run echo with v=\"x\" on 2 hosts"),
        "{}",
        r.visible
    );
    assert_eq!(agent.requests(), 2.0);
}

/// The engine in-process (a short confirmation lifetime), against the real
/// agent: an expired confirmation runs nothing.
#[test]
fn an_expired_confirmation_runs_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    use outpost::chat::{agents, audit::Audit, Caller, Config, Engine, Roles, Verdict};
    let agent = ActionsAgent::start();
    let mut victim = crate::actions::python_listener(agent.victim_port);
    let mut roles = Roles::default();
    roles.grant([OPERATOR], outpost::chat::Role::Operator);
    let key = outpost::chat::actions::load_key("bridge", &agent.key).unwrap();
    let config = Config {
        prometheus_url: "http://127.0.0.1:9".into(),
        alertmanager_url: "http://127.0.0.1:9".into(),
        agents: agents::parse("agents.txt", &agent.line("web1", &agent.pin)).unwrap(),
        roles,
        timezone: jiff::tz::TimeZone::UTC,
        timeout: Duration::from_secs(1),
        actions_key: Some(std::sync::Arc::new(key)),
        actions_timeout: Duration::from_secs(10),
        config_change: None,
    };
    let engine =
        Engine::new(config, Audit::in_memory().unwrap()).confirm_within(Duration::from_millis(200));
    let caller = Caller {
        user_id: OPERATOR,
        chat_id: OPERATOR,
        username: None,
    };
    let asked = rt
        .block_on(engine.answer(&caller, &format!("/kill_port web1 {}", agent.victim_port)))
        .unwrap();
    let data = asked.reply.buttons[0].data.clone();
    assert!(data.starts_with("k:"), "{data}");
    std::thread::sleep(Duration::from_millis(300));
    let pressed = rt.block_on(engine.answer_press(&caller, &data)).unwrap();
    assert_eq!(pressed.verdict, Verdict::Refused);
    assert!(
        pressed.reply.text.contains("expired"),
        "{}",
        pressed.reply.text
    );
    assert!(alive(&mut victim));
    assert_eq!(agent.requests(), 0.0);
}

/// Benchmark (BENCHMARKS.md, "Actions from the chat"): `/ports web1` and
/// `/top web1` from the fake Telegram's update to the fake accepting the
/// reply, through the real bridge and the real agent over pinned TLS. Each
/// request from its own chat (per-chat pacing would space them 1 s apart).
/// `OUTPOST_BENCH_GAP_MS` waits that long before each request: past
/// `top::REUSE_WITHIN` (2 s) every `/top` samples afresh.
/// `OUTPOST_BENCH_N=50 cargo test --test it chat_actions::action_round_trip -- --ignored --nocapture`.
#[test]
#[ignore = "benchmark; run by bench/actions.sh"]
fn action_round_trip() {
    let n: usize = std::env::var("OUTPOST_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let gap = Duration::from_millis(
        std::env::var("OUTPOST_BENCH_GAP_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    );
    let agent = ActionsAgent::start();
    let _victim = crate::actions::python_listener(agent.victim_port);
    let dir = tempfile::tempdir().unwrap();
    let agents = agent.web1_agents_txt(dir.path());
    let fake = FakeTelegram::start_with(TOKEN, Duration::from_millis(1));
    let users: Vec<String> = (0..=2 * n as i64).map(|i| (5000 + i).to_string()).collect();
    let _bridge = Bridge::start(
        &fake.url(),
        &dir.path().join("state.db"),
        free_port(),
        &[
            "--viewers",
            &users.join(","),
            "--agents",
            agents.to_str().unwrap(),
            "--actions-key",
            agent.key.to_str().unwrap(),
            "--global-per-second",
            "1000",
        ],
    );
    assert!(ask(&fake, 5000, "/ports web1").visible.contains("python3"));
    for (k, command) in ["/ports web1", "/top web1"].into_iter().enumerate() {
        let mut times = Vec::with_capacity(n);
        for i in 1..=n as i64 {
            let user = 5000 + k as i64 * n as i64 + i;
            std::thread::sleep(gap);
            let t0 = std::time::Instant::now();
            crate::bot::message(&fake, user, command);
            assert!(fake.wait_until(Duration::from_secs(10), |r| in_chat(r, user) > 0));
            let m = fake.messages_in(user)[0].clone();
            assert!(m.visible.starts_with("✅"), "{}", m.visible);
            times.push(m.at.duration_since(t0));
        }
        times.sort();
        let pct =
            |p: f64| times[((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1];
        println!(
            "action round trip {command} (gap {gap:?}): n={n} p50={:.2?} p90={:.2?} max={:.2?}",
            pct(0.5),
            pct(0.9),
            times[times.len() - 1]
        );
    }
}
