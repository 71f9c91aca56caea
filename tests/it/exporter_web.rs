//! `outpost exporter` as a process: TLS and basic auth from the
//! exporter-toolkit web config (with real TLS clients: rustls via reqwest and
//! OpenSSL via curl), content negotiation, gzip, and bad-input exit codes.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{free_port, outpost_bin, require, wait_for_port, Proc};

fn start_exporter(args: &[&str]) -> (Proc, u16) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(outpost_bin())
        .args(["exporter", "--web.listen-address", &listen])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start outpost exporter");
    let proc = Proc(child);
    assert!(
        wait_for_port(port, Duration::from_secs(10)),
        "exporter did not listen on {port}"
    );
    (proc, port)
}

pub(crate) struct Tls {
    _dir: tempfile::TempDir,
    pub ca_pem: String,
    pub ca_path: std::path::PathBuf,
    pub web_config: std::path::PathBuf,
}

/// A CA, a server certificate for 127.0.0.1/localhost, and a web config
/// with TLS and one basic-auth user `alice` / `s3cret`.
pub(crate) fn tls_setup() -> Tls {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Outpost test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "127.0.0.1");
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    std::fs::write(dir.path().join("server.crt"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
    let ca_path = dir.path().join("ca.crt");
    std::fs::write(&ca_path, ca.pem()).unwrap();
    let hash = bcrypt::hash("s3cret", 10).unwrap();
    let web_config = dir.path().join("web.yml");
    std::fs::write(
        &web_config,
        format!("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  alice: '{hash}'\n"),
    )
    .unwrap();
    Tls {
        ca_pem: ca.pem(),
        ca_path,
        web_config,
        _dir: dir,
    }
}

pub(crate) fn tls_client(ca_pem: &str) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[test]
fn tls_and_basic_auth_with_real_clients() {
    let tls = tls_setup();
    let (_p, port) = start_exporter(&["--web.config.file", tls.web_config.to_str().unwrap()]);
    let url = format!("https://127.0.0.1:{port}/metrics");
    let client = tls_client(&tls.ca_pem);

    let resp = client.get(&url).send().unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Basic");

    let resp = client
        .get(&url)
        .basic_auth("alice", Some("s3cret"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp
        .text()
        .unwrap()
        .contains("node_scrape_collector_success{collector=\"cpu\"} 1"));

    for (user, pass) in [("alice", "wrong"), ("mallory", "s3cret"), ("", "")] {
        let resp = client
            .get(&url)
            .basic_auth(user, Some(pass))
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{user}:{pass} was let in");
    }

    // OpenSSL-based client: curl.
    let curl = require("curl", "curl");
    let out = Command::new(curl)
        .args([
            "-sS",
            "--fail",
            "--cacert",
            tls.ca_path.to_str().unwrap(),
            "-u",
            "alice:s3cret",
            &url,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("# TYPE node_load1 gauge"));

    // Plain HTTP to the TLS port gets no metrics.
    let plain = reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .basic_auth("alice", Some("s3cret"))
        .timeout(Duration::from_secs(5))
        .send();
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));
}

#[test]
fn wrong_password_and_unknown_user_take_the_same_time() {
    let tls = tls_setup();
    let (_p, port) = start_exporter(&["--web.config.file", tls.web_config.to_str().unwrap()]);
    let url = format!("https://127.0.0.1:{port}/");
    let client = tls_client(&tls.ca_pem);
    let once = |user: &str| {
        let t = Instant::now();
        let r = client
            .get(&url)
            .basic_auth(user, Some("nope"))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
        t.elapsed()
    };
    once("alice");
    // Interleaved, so load from elsewhere on the machine hits both alike.
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..9 {
        known.push(once("alice"));
        unknown.push(once("nobody"));
    }
    known.sort();
    unknown.sort();
    let (wrong_password, unknown_user) = (known[4], unknown[4]);
    let ratio = unknown_user.as_secs_f64() / wrong_password.as_secs_f64();
    assert!(
        (0.6..1.6).contains(&ratio),
        "unknown user {unknown_user:?} vs wrong password {wrong_password:?}: timing reveals which users exist"
    );
    // And both really pay for a bcrypt check (cost 10 is well over 1 ms).
    assert!(unknown_user > Duration::from_millis(1));
}

#[test]
fn negotiates_openmetrics_and_gzip() {
    let (_p, port) = start_exporter(&[]);
    let url = format!("http://127.0.0.1:{port}/metrics");
    let client = reqwest::blocking::Client::builder()
        .gzip(false)
        .build()
        .unwrap();

    let resp = client.get(&url).send().unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = resp.text().unwrap();
    assert!(text.contains("# TYPE node_context_switches_total counter"));

    let resp = client
        .get(&url)
        .header(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .send()
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let om = resp.text().unwrap();
    assert!(om.contains("# TYPE node_context_switches counter\n"));
    assert!(om.ends_with("# EOF\n"));

    let resp = client
        .get(&url)
        .header("Accept-Encoding", "gzip")
        .send()
        .unwrap();
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let bytes = resp.bytes().unwrap();
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut plain)
        .unwrap();
    assert!(plain.contains("# TYPE node_load1 gauge"));
    assert!(bytes.len() * 3 < plain.len(), "gzip did not compress");
}

fn run_exporter_expecting_failure(args: &[&str]) -> (i32, String) {
    let mut child = Command::new(outpost_bin())
        .arg("exporter")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.code().unwrap_or(-1), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("exporter with {args:?} kept running instead of failing");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bad_input_gets_a_one_line_error_and_the_right_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let bad_hash = write(
        "badhash.yml",
        "basic_auth_users:\n  alice: not-a-bcrypt-hash\n",
    );
    let bad_yaml = write("bad.yml", "tls_server_config: [\n");
    let unknown_key = write("unknown.yml", "basic_auth: {}\n");
    let spaced_header = write(
        "spaced.yml",
        "http_server_config:\n  headers:\n    'X Frame Options': deny\n",
    );
    let crlf_header = write(
        "crlf.yml",
        "http_server_config:\n  headers:\n    X-Frame-Options: \"deny\\r\\nSet-Cookie: a=b\"\n",
    );
    let missing = dir.path().join("missing.yml");
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["--collector.nosuch"], 2, "--collector.nosuch"),
        (
            vec!["--web.listen-address", "not-an-address"],
            2,
            "listen-address",
        ),
        (
            vec!["--web.listen-address", "127.0.0.1:99999"],
            2,
            "listen-address",
        ),
        (
            vec!["--web.config.file", missing.to_str().unwrap()],
            1,
            "missing.yml",
        ),
        (vec!["--web.config.file", &bad_hash], 1, "bcrypt"),
        (vec!["--web.config.file", &bad_yaml], 1, "bad.yml"),
        (vec!["--web.config.file", &unknown_key], 1, "basic_auth"),
        (
            vec!["--web.config.file", &spaced_header],
            1,
            "\"X Frame Options\" is not a valid header name",
        ),
        (
            vec!["--web.config.file", &crlf_header],
            1,
            "value of \"X-Frame-Options\" is not a valid header value",
        ),
        (
            vec!["--web.max-connections", "0"],
            2,
            "--web.max-connections",
        ),
        (
            vec!["--web.read-header-timeout", "0s"],
            2,
            "--web.read-header-timeout",
        ),
        (
            vec!["--collector.filesystem.mount-points-exclude", "("],
            2,
            "mount-points-exclude",
        ),
    ];
    for (args, code, needle) in cases {
        let (got, stderr) = run_exporter_expecting_failure(&args);
        assert_eq!(got, code, "{args:?}: stderr {stderr}");
        assert!(
            stderr.contains(needle),
            "{args:?}: error does not mention {needle:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    }
}

#[test]
fn a_broken_proc_file_fails_only_its_collector() {
    let proc = tempfile::tempdir().unwrap();
    let p = proc.path();
    std::fs::write(p.join("loadavg"), "0.50 0.25 0.10 1/100 4242\n").unwrap();
    std::fs::write(
        p.join("meminfo"),
        "MemTotal:       1000 kB\nthis line is garbage\n",
    )
    .unwrap();
    std::fs::write(
        p.join("stat"),
        "cpu  1 2 3 4 5 6 7 8 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\nintr 5\nctxt 6\nbtime 1700000000\nprocesses 7\nprocs_running 1\nprocs_blocked 0\n",
    )
    .unwrap();
    let (_p, port) = start_exporter(&[
        "--path.procfs",
        p.to_str().unwrap(),
        "--collector.disable-defaults",
        "--collector.loadavg",
        "--collector.meminfo",
        "--collector.stat",
        "--collector.cpu",
    ]);
    let (status, body) =
        crate::support::http_get(&format!("http://127.0.0.1:{port}/metrics")).unwrap();
    assert_eq!(status, 200);
    let f = crate::exposition::parse(&body);
    let success = |c: &str| {
        f["node_scrape_collector_success"]
            .samples
            .iter()
            .find(|(l, _)| l["collector"] == c)
            .map(|s| s.1)
    };
    assert_eq!(success("meminfo"), Some(0.0));
    assert_eq!(success("loadavg"), Some(1.0));
    assert_eq!(success("stat"), Some(1.0));
    assert_eq!(success("cpu"), Some(1.0));
    assert!(
        !f.contains_key("node_memory_MemTotal_bytes"),
        "half of a failed collector leaked out"
    );
    assert_eq!(f["node_load1"].samples[0].1, 0.5);
    assert_eq!(f["node_boot_time_seconds"].samples[0].1, 1.7e9);
    assert_eq!(f["node_scrape_collector_success"].samples.len(), 4);
}

#[test]
fn a_half_sent_request_is_closed_within_the_header_timeout() {
    let (_p, port) = start_exporter(&[
        "--web.read-header-timeout",
        "1s",
        "--collector.disable-defaults",
        "--collector.loadavg",
    ]);
    let mut slow = crate::support::half_open(port, 1);
    assert_eq!(slow.len(), 1);
    // Without a header timeout the server would wait forever.
    let took = crate::support::closed_within(&mut slow[0], Duration::from_secs(15))
        .expect("a half-sent request was still open after 15 s");
    assert!(
        took >= Duration::from_millis(900),
        "closed after {took:?}, before the 1 s timeout"
    );
    let (status, body) =
        crate::support::http_get(&format!("http://127.0.0.1:{port}/metrics")).unwrap();
    assert_eq!(status, 200);
    assert!(
        body.contains("outpost_http_connections_shed_total{reason=\"header_timeout\"} 1\n"),
        "{body}"
    );
}

#[test]
fn half_open_connections_past_the_cap_do_not_stop_a_scrape() {
    // 256 descriptors: the exporter fits its connection cap under them
    // (256 - 128 kept for files - 16 for connections closing = 112). Without a cap, 300 half-open
    // connections exhaust them and accept() fails for everyone after.
    outpost::server::raise_nofile_limit().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let _p = Proc(
        Command::new(crate::support::prlimit())
            .args(["--nofile=256:256", "--"])
            .arg(outpost_bin())
            .args(["exporter", "--web.listen-address", &listen])
            .args(["--collector.disable-defaults", "--collector.loadavg"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start outpost exporter under prlimit"),
    );
    assert!(wait_for_port(port, Duration::from_secs(10)));
    let slow = crate::support::half_open(port, 300);
    assert!(slow.len() >= 250, "only {} connections opened", slow.len());
    let started = Instant::now();
    let (status, body) =
        crate::support::http_get(&format!("http://127.0.0.1:{port}/metrics")).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("node_load1 "), "{body}");
    let f = crate::exposition::parse(&body);
    let evicted = f["outpost_http_connections_shed_total"]
        .samples
        .iter()
        .find(|(l, _)| l["reason"] == "evicted")
        .map(|s| s.1)
        .unwrap();
    assert!(evicted >= 100.0, "{evicted} evicted");
    let open = f["outpost_http_connections_open"].samples[0].1;
    assert!(open <= 112.0, "{open} connections open past the cap");
    drop(slow);
    eprintln!(
        "scrape beside 300 half-open connections: {:?}",
        started.elapsed()
    );
}

/// utime + stime of process `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 1..];
    let f: Vec<&str> = after.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn a_cached_password_is_served_while_a_wrong_password_flood_keeps_bcrypt_busy() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    // Cost 12: each check takes a good fraction of a second of CPU, so the
    // flood's checks are still running when the right request arrives.
    let hash = bcrypt::hash("s3cret", 12).unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(&web, format!("basic_auth_users:\n  alice: '{hash}'\n")).unwrap();
    let (p, port) = start_exporter(&[
        "--web.config.file",
        web.to_str().unwrap(),
        "--collector.disable-defaults",
        "--collector.loadavg",
    ]);
    let url = format!("http://127.0.0.1:{port}/metrics");
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let scrape = || {
        client
            .get(&url)
            .basic_auth("alice", Some("s3cret"))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    // The first scrape pays for bcrypt and is remembered.
    assert_eq!(scrape(), 200);

    let pid = p.0.id();
    let before = cpu_ticks(pid);
    const FLOOD: usize = 24;
    let wrong = "Authorization: Basic YWxpY2U6d3Jvbmc=\r\n"; // alice:wrong
    let request = format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{wrong}Connection: close\r\n\r\n");
    let flood: Vec<_> = (0..FLOOD)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(request.as_bytes()).unwrap();
            std::thread::spawn(move || {
                let mut text = String::new();
                s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                let _ = s.read_to_string(&mut text);
                let status: u16 = text
                    .split_whitespace()
                    .nth(1)
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                (Instant::now(), status)
            })
        })
        .collect();
    // bcrypt is under way for the flood once the exporter has burnt 0.2 s
    // of CPU beyond what it had used.
    assert!(
        crate::support::wait_for(Duration::from_secs(30), || {
            (cpu_ticks(pid) - before >= 20).then_some(())
        })
        .is_some(),
        "the flood never reached bcrypt"
    );
    assert_eq!(scrape(), 200);
    let served = Instant::now();

    let answers: Vec<(Instant, u16)> = flood.into_iter().map(|t| t.join().unwrap()).collect();
    let checked: Vec<_> = answers.iter().filter(|(_, s)| *s == 401).collect();
    let shed = answers.iter().filter(|(_, s)| *s == 429).count();
    assert_eq!(checked.len() + shed, FLOOD, "{answers:?}");
    assert!(!checked.is_empty(), "no wrong password was checked");
    // The right request did not wait for the flood's checks: each answer
    // that took a bcrypt check came after it.
    assert!(
        checked.iter().all(|(at, _)| *at > served),
        "the cached password waited behind {} bcrypt checks",
        checked.iter().filter(|(at, _)| *at <= served).count()
    );
    // Checks past the bcrypt slots were turned away at once.
    assert!(shed > 0, "no check past the bcrypt slots was turned away");
}
