//! Signed actions against the real exporter binary: `outpost keygen` makes
//! the keys, the exporter serves `--actions.config`, and requests are
//! signed with the library's one signing module (`outpost::signing`), as
//! the bridge and `outpost ask` will sign them. Real processes listen on
//! real loopback ports for `ports` and `kill-port`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use outpost::signing::{Signer, SIGNATURE_HEADER};

use crate::support::{free_port, http_get, outpost_bin, spawn, wait_for, wait_for_port, Proc};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Runs `outpost keygen --out DIR`; the signer and the printed `keys:` line.
pub(crate) fn keygen(dir: &Path) -> (Signer, String) {
    let out = Command::new(outpost_bin())
        .args(["keygen", "--out"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let line = String::from_utf8(out.stdout).unwrap();
    let private = std::fs::read_to_string(dir.join("actions.key")).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !line.contains(private.trim()) && !stderr.contains(private.trim()),
        "the private key is never printed"
    );
    (
        Signer::load("bridge", &dir.join("actions.key")).unwrap(),
        line,
    )
}

pub struct Agent {
    pub _proc: Proc,
    pub port: u16,
    metrics_port: u16,
    pub dir: tempfile::TempDir,
    signer: Signer,
    /// A key of the right shape that the agent does not trust.
    stranger: Signer,
    victim_port: u16,
    /// `http://127.0.0.1:PORT` or `https://…`.
    base: String,
    client: reqwest::blocking::Client,
    /// `alice:s3cret` when the web config asks for basic auth.
    basic_auth: bool,
}

impl Agent {
    fn marker(&self) -> PathBuf {
        self.dir.path().join("ran")
    }

    fn start() -> Agent {
        Agent::start_with(None, None)
    }

    /// With `tls`, the actions listener binds 0.0.0.0 (allowed only with TLS)
    /// and serves through the web config's TLS and basic auth.
    fn start_with(tls: Option<&crate::exporter_web::Tls>, kill_ports: Option<[u16; 2]>) -> Agent {
        Agent::start_in(tempfile::tempdir().unwrap(), tls, kill_ports, "", &[])
    }

    /// An agent whose allow-list has `builtin` (YAML lines indented under
    /// `builtin:`) besides the usual actions, started with `args` too.
    pub fn start_extra(dir: tempfile::TempDir, builtin: &str, args: &[String]) -> Agent {
        Agent::start_in(dir, None, None, builtin, args)
    }

    fn start_in(
        dir: tempfile::TempDir,
        tls: Option<&crate::exporter_web::Tls>,
        kill_ports: Option<[u16; 2]>,
        builtin: &str,
        args: &[String],
    ) -> Agent {
        let (signer, keys_line) = keygen(&dir.path().join("keys"));
        let (stranger, _) = keygen(&dir.path().join("other"));
        assert!(keys_line.starts_with("bridge: ed25519:"), "{keys_line}");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join("keys/actions.key"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let victim_port = free_port();
        let marker = dir.path().join("ran");
        let config = dir.path().join("actions.yml");
        std::fs::write(
            &config,
            format!(
                "agent: web1\nkeys:\n  {keys_line}builtin:\n  ports: {{}}\n  top: {{ count: 50 }}\n  kill-port: {{ ports: [{lo}, {hi}] }}\n{builtin}\
                 custom:\n  echo:\n    argv: [/usr/bin/printf, '[%s]\\n', '{{v}}']\n    params:\n      v: {{ regex: '^.*$' }}\n    timeout: 5s\n\
                 \x20 sleep:\n    argv: [/usr/bin/sleep, '{{s}}']\n    params:\n      s: {{ int: {{ min: 1, max: 3 }} }}\n\
                 \x20 touch:\n    argv: [/usr/bin/touch, '{{f}}']\n    params:\n      f: {{ enum: ['{marker}'] }}\n",
                lo = kill_ports.map_or(victim_port.saturating_sub(10).max(1), |r| r[0]),
                hi = kill_ports.map_or(victim_port, |r| r[1]),
                marker = marker.display(),
            ),
        )
        .unwrap();
        let port = free_port();
        let metrics_port = free_port();
        let mut cmd = Command::new(outpost_bin());
        cmd.args(["exporter", "--collector.disable-defaults"])
            .arg(format!("--web.listen-address=127.0.0.1:{metrics_port}"))
            .arg("--actions.config")
            .arg(&config)
            .args(args);
        let (base, client) = match tls {
            Some(tls) => {
                cmd.arg(format!("--actions.listen-address=0.0.0.0:{port}"))
                    .arg("--actions.web-config.file")
                    .arg(&tls.web_config);
                (
                    format!("https://127.0.0.1:{port}"),
                    crate::exporter_web::tls_client(&tls.ca_pem),
                )
            }
            None => {
                cmd.arg(format!("--actions.listen-address=127.0.0.1:{port}"));
                (
                    format!("http://127.0.0.1:{port}"),
                    reqwest::blocking::Client::builder()
                        .timeout(Duration::from_secs(20))
                        .build()
                        .unwrap(),
                )
            }
        };
        let proc = spawn(&mut cmd);
        assert!(
            wait_for_port(port, Duration::from_secs(10)),
            "actions listener"
        );
        assert!(wait_for_port(metrics_port, Duration::from_secs(10)));
        Agent {
            _proc: proc,
            port,
            metrics_port,
            dir,
            signer,
            stranger,
            victim_port,
            base,
            client,
            basic_auth: tls.is_some(),
        }
    }

    fn post(&self, action: &str, body: &str, headers: &[(&str, String)]) -> (u16, String) {
        let mut req = self
            .client
            .post(format!("{}/actions/{action}", self.base))
            .body(body.to_owned());
        if self.basic_auth {
            req = req.basic_auth("alice", Some("s3cret"));
        }
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let resp = req.send().unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().unwrap())
    }

    /// A request signed as the bridge would sign it.
    pub fn call(&self, action: &str, body: &str) -> (u16, String) {
        let h = self.signer.sign(
            "POST",
            &format!("/actions/{action}"),
            "web1",
            body.as_bytes(),
            now(),
        );
        self.post(action, body, &h)
    }

    pub fn count(&self, action: &str, result: &str) -> f64 {
        let (_, text) =
            http_get(&format!("http://127.0.0.1:{}/metrics", self.metrics_port)).unwrap();
        let series =
            format!("outpost_actions_requests_total{{action=\"{action}\",result=\"{result}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&series))
            .map_or(0.0, |v| v.parse().unwrap())
    }
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

pub(crate) fn python_listener(port: u16) -> Proc {
    let py = crate::support::require("python3", "python3");
    let p = spawn(Command::new(py).arg("-c").arg(format!(
        "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',{port}))\ns.listen()\ntime.sleep(300)"
    )));
    assert!(
        wait_for_port(port, Duration::from_secs(10)),
        "victim listens"
    );
    p
}

#[test]
fn ports_and_kill_port_act_on_a_real_listener() {
    let agent = Agent::start();
    assert!(agent.base.starts_with("http://"));
    let mut victim = python_listener(agent.victim_port);
    let victim_pid = victim.0.id();

    let (status, text) = agent.call("ports", "");
    assert_eq!(status, 200, "{text}");
    let ports = json(&text);
    let entry = ports
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["port"] == agent.victim_port && l["protocol"] == "tcp")
        .unwrap_or_else(|| panic!("port {} not listed: {text}", agent.victim_port));
    assert_eq!(entry["address"], "127.0.0.1");
    assert!(
        entry["owners"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["pid"] == victim_pid && o["comm"] == "python3"),
        "{entry}"
    );
    // The exporter's own actions port is listed, owned by the exporter.
    assert!(text.contains(&format!("\"port\":{}", agent.port)), "{text}");

    // Outside the configured range: refused, nothing signalled.
    let (status, text) = agent.call(
        "kill-port",
        &format!("{{\"args\":{{\"port\":{}}}}}", agent.victim_port + 1),
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("must be an integer in"), "{text}");
    assert!(victim.0.try_wait().unwrap().is_none());
    let (status, text) = agent.call(
        "kill-port",
        &format!("{{\"args\":{{\"port\":{}}}}}", agent.victim_port),
    );
    assert_eq!(status, 200, "{text}");
    let killed = json(&text);
    assert_eq!(killed["signal"], "TERM");
    assert_eq!(killed["signalled"][0]["pid"], victim_pid);
    let exited = wait_for(Duration::from_secs(5), || victim.0.try_wait().unwrap());
    assert!(exited.is_some(), "the listener was not signalled");
    assert_eq!(agent.count("kill-port", "ok"), 1.0);
    assert_eq!(agent.count("kill-port", "bad_request"), 1.0);
}

#[test]
fn kill_port_refuses_the_exporter_itself() {
    let mut agent = Agent::start_with(None, Some([1, 65535]));
    for port in [agent.port, agent.metrics_port] {
        let (status, text) = agent.call("kill-port", &format!("{{\"args\":{{\"port\":{port}}}}}"));
        assert_eq!(status, 400, "{text}");
        assert!(text.contains("never signals"), "{text}");
    }
    assert!(
        agent._proc.0.try_wait().unwrap().is_none(),
        "the exporter signalled itself"
    );
    let (status, _) = agent.call("ports", "");
    assert_eq!(status, 200, "still serving");
    assert_eq!(agent.count("kill-port", "bad_request"), 2.0);
}

/// CPU seconds `pid` has used, as the kernel counts them.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    outpost::exporter::process::parse_stat(&stat, 0.0)
        .unwrap()
        .cpu_seconds
}

/// Not a timing test: on a loaded machine `yes` may get little CPU in one
/// window, so the agent is asked until it shows up (at most 20 times), and
/// each answer is checked against what the kernel counted for `yes` around
/// the call, which holds however busy the machine is.
#[test]
fn top_measures_a_busy_process_over_its_window() {
    let agent = Agent::start();
    let idle = spawn(Command::new("/usr/bin/sleep").arg("300"));
    let busy = spawn(&mut Command::new("/usr/bin/yes"));
    let (pid, idle_pid) = (busy.0.id(), idle.0.id());
    std::thread::sleep(Duration::from_millis(200));
    let mut seen = None;
    for _ in 0..20 {
        let before = cpu_seconds(pid);
        let t0 = std::time::Instant::now();
        let (status, text) = agent.call("top", "");
        let (wall, used) = (t0.elapsed().as_secs_f64(), cpu_seconds(pid) - before);
        assert_eq!(status, 200, "{text}");
        let top = json(&text);
        let window = top["sample_seconds"].as_f64().unwrap();
        assert!((0.2..=wall).contains(&window), "{window} s within {wall} s");
        let by_cpu = top["by_cpu"].as_array().unwrap();
        let cpu: Vec<f64> = by_cpu
            .iter()
            .map(|p| p["cpu_percent"].as_f64().unwrap())
            .collect();
        assert!(cpu.windows(2).all(|w| w[0] >= w[1]), "{text}");
        let rss: Vec<u64> = top["by_memory"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["resident_bytes"].as_u64().unwrap())
            .collect();
        assert!(
            !rss.is_empty() && rss.windows(2).all(|w| w[0] >= w[1]),
            "{text}"
        );
        if let Some(p) = by_cpu.iter().find(|p| p["pid"] == idle_pid) {
            assert_eq!(p["cpu_percent"], 0.0, "a sleeping process: {p}");
        }
        let Some(yes) = by_cpu.iter().find(|p| p["pid"] == pid) else {
            continue;
        };
        assert_eq!(yes["comm"], "yes");
        // The window lies inside the call: `yes` cannot have used more in
        // it than the kernel counted from before the call to after it
        // (the percentage is rounded to 0.1).
        let reported = yes["cpu_percent"].as_f64().unwrap() / 100.0 * window;
        assert!(
            reported <= used + 0.001 * window,
            "{reported} s > {used} s: {text}"
        );
        if reported > 0.0 {
            seen = Some(reported);
            break;
        }
    }
    assert!(seen.is_some(), "yes (PID {pid}) never showed CPU use");
    drop(busy);
}

#[test]
fn shell_text_reaches_a_custom_action_as_one_argument() {
    let agent = Agent::start();
    for evil in ["; rm -rf /", "$(id)"] {
        let body = serde_json::json!({"args": {"v": evil}}).to_string();
        let (status, text) = agent.call("echo", &body);
        assert_eq!(status, 200, "{text}");
        let r = json(&text);
        assert_eq!(r["stdout"], format!("[{evil}]\n"));
        assert_eq!(r["exit_code"], 0);
    }
}

#[test]
fn bad_requests_are_refused_counted_and_run_nothing() {
    let agent = Agent::start();
    let marker = agent.marker();
    let body = serde_json::json!({"args": {"f": marker}}).to_string();
    let path = "/actions/touch";
    let signed = |signer: &Signer, agent_name: &str, at: i64| {
        signer.sign("POST", path, agent_name, body.as_bytes(), at)
    };
    let mut forged = signed(&agent.signer, "web1", now());
    let sig = forged
        .iter_mut()
        .find(|(k, _)| *k == SIGNATURE_HEADER)
        .unwrap();
    sig.1 = format!(
        "{}{}",
        if sig.1.starts_with('0') { "1" } else { "0" },
        &sig.1[1..]
    );
    let mut unknown_key = signed(&agent.signer, "web1", now());
    unknown_key[1].1 = "nobody".into();
    let other_body = serde_json::json!({"args": {"f": "/tmp/elsewhere"}}).to_string();

    // (expected result label, status, headers, body)
    type Case<'a> = (&'a str, u16, Vec<(&'a str, String)>, &'a str);
    let cases: Vec<Case> = vec![
        ("unsigned", 401, vec![], &body),
        ("bad_signature", 401, forged.to_vec(), &body),
        (
            "bad_signature",
            401,
            signed(&agent.stranger, "web1", now()).to_vec(),
            &body,
        ),
        ("unknown_key", 401, unknown_key.to_vec(), &body),
        (
            "stale",
            401,
            signed(&agent.signer, "web1", now() - 120).to_vec(),
            &body,
        ),
        (
            "stale",
            401,
            signed(&agent.signer, "web1", now() + 120).to_vec(),
            &body,
        ),
        (
            "wrong_agent",
            401,
            signed(&agent.signer, "web2", now()).to_vec(),
            &body,
        ),
        // Signed over one body, sent with another.
        (
            "bad_signature",
            401,
            signed(&agent.signer, "web1", now()).to_vec(),
            &other_body,
        ),
    ];
    for (result, status, headers, body) in &cases {
        let (got, text) = agent.post("touch", body, headers);
        assert_eq!(got, *status, "{result}: {text}");
        assert!(text.contains(result), "{result}: {text}");
        assert!(!marker.exists(), "{result}: the action ran");
    }
    // A parameter outside its type, properly signed: 400.
    let (got, text) = agent.call("touch", &other_body);
    assert_eq!(got, 400, "{text}");
    assert!(!marker.exists());
    // An action not in the allow-list, properly signed: 403, counted as `other`.
    let (got, text) = agent.call("reboot", "");
    assert_eq!(got, 403, "{text}");

    // The same request, properly signed, runs once; replayed, it is refused.
    let good = signed(&agent.signer, "web1", now());
    let (got, text) = agent.post("touch", &body, &good);
    assert_eq!(got, 200, "{text}");
    assert!(marker.exists(), "a good request runs the action");
    std::fs::remove_file(&marker).unwrap();
    let (got, text) = agent.post("touch", &body, &good);
    assert_eq!(got, 401, "{text}");
    assert!(text.contains("replayed"), "{text}");
    assert!(!marker.exists(), "a replay ran the action again");

    assert_eq!(agent.count("touch", "unsigned"), 1.0);
    assert_eq!(agent.count("touch", "bad_signature"), 3.0);
    assert_eq!(agent.count("touch", "unknown_key"), 1.0);
    assert_eq!(agent.count("touch", "stale"), 2.0);
    assert_eq!(agent.count("touch", "wrong_agent"), 1.0);
    assert_eq!(agent.count("touch", "bad_request"), 1.0);
    assert_eq!(agent.count("touch", "replayed"), 1.0);
    assert_eq!(agent.count("touch", "ok"), 1.0);
    assert_eq!(agent.count("other", "not_allowed"), 1.0);
}

#[test]
fn actions_are_served_over_tls_from_the_actions_web_config() {
    let tls = crate::exporter_web::tls_setup();
    let agent = Agent::start_with(Some(&tls), None);
    let body = serde_json::json!({"args": {"v": "over tls"}}).to_string();
    let (status, text) = agent.call("echo", &body);
    assert_eq!(status, 200, "{text}");
    assert_eq!(json(&text)["stdout"], "[over tls]\n");
    // Plain HTTP to the TLS listener gets no answer.
    let plain = http_get(&format!("http://127.0.0.1:{}/actions/echo", agent.port));
    assert!(plain.as_ref().map_or(true, |(s, _)| *s == 400), "{plain:?}");
    // The web config's basic auth is enforced too, before the signature.
    let h = agent
        .signer
        .sign("POST", "/actions/echo", "web1", body.as_bytes(), now());
    let mut req = agent
        .client
        .post(format!("{}/actions/echo", agent.base))
        .body(body.clone());
    for (k, v) in &h {
        req = req.header(*k, v);
    }
    assert_eq!(req.send().unwrap().status().as_u16(), 401);
}

#[test]
fn at_most_max_running_actions_run_at_once() {
    use outpost::exporter::actions::MAX_RUNNING;
    let agent = Agent::start();
    let body = r#"{"args":{"s":2}}"#;
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..=MAX_RUNNING)
            .map(|_| s.spawn(|| agent.call("sleep", body).0))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut sorted = statuses.clone();
    sorted.sort();
    let mut expected = vec![200; MAX_RUNNING];
    expected.push(503);
    assert_eq!(sorted, expected, "{statuses:?}");
    assert_eq!(agent.count("sleep", "busy"), 1.0);
    assert_eq!(agent.count("sleep", "ok"), MAX_RUNNING as f64);
}

#[test]
fn a_bad_actions_config_stops_the_exporter_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("actions.yml");
    std::fs::write(
        &config,
        "agent: web1\nkeys:\n  b: ed25519:0000000000000000000000000000000000000000000000000000000000000000\nbuiltin:\n  rebooot: {}\n",
    )
    .unwrap();
    let out = Command::new(outpost_bin())
        .args([
            "exporter",
            "--web.listen-address",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .arg("--actions.config")
        .arg(&config)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&config.display().to_string()), "{stderr}");
    assert!(stderr.contains("line 5"), "{stderr}");
    assert!(stderr.contains("rebooot"), "{stderr}");
    // Without TLS, only loopback.
    std::fs::write(
        &config,
        "agent: web1\nkeys:\n  b: ed25519:0000000000000000000000000000000000000000000000000000000000000000\n",
    )
    .unwrap();
    let out = Command::new(outpost_bin())
        .args(["exporter", "--actions.listen-address", "0.0.0.0:1"])
        .arg("--actions.config")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("loopback"), "{stderr}");
}

#[test]
fn actions_fingerprint_prints_the_pin_openssl_computes_and_agents_txt_takes() {
    let openssl = crate::support::require("openssl", "openssl");
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["web1.example".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let pem = dir.path().join("cert.pem");
    std::fs::write(&pem, cert.pem()).unwrap();
    let out = Command::new(outpost_bin())
        .args(["actions", "fingerprint"])
        .arg(&pem)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let line = String::from_utf8(out.stdout).unwrap();
    let pin = line.trim().strip_prefix("actions_sha256=").unwrap();
    let theirs = Command::new(openssl)
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&pem)
        .output()
        .unwrap();
    let theirs = String::from_utf8(theirs.stdout).unwrap();
    let theirs = theirs.trim().rsplit('=').next().unwrap();
    assert_eq!(pin, theirs.replace(':', "").to_ascii_lowercase());
    // The printed line goes on an agent's line as it is.
    let inv = outpost::generate::inventory::parse(
        "agents.txt",
        &format!("web1 10.0.0.5:9100 actions=10.0.0.5:9110 {}", line.trim()),
    )
    .unwrap();
    let endpoint = inv.agents[0].actions.as_ref().unwrap();
    assert!(endpoint.cert_sha256.matches(cert.der()));

    // Not a certificate: an error naming the file, exit 1.
    std::fs::write(&pem, "hello").unwrap();
    let out = Command::new(outpost_bin())
        .args(["actions", "fingerprint"])
        .arg(&pem)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&pem.display().to_string()), "{stderr}");
}
