//! TCP probes against real loopback listeners: `/probe` through the router
//! (no socket for the HTTP side), the background prober through a served
//! exporter, and Prometheus scraping `/probe` with the standard blackbox
//! relabelling against the real `outpost exporter` binary.

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use clap::Parser;
use outpost::cli::{Cli, Command};
use outpost::exporter::{router, AppState, Config};
use tokio::net::{TcpListener, TcpSocket};
use tower::ServiceExt;

use crate::support;

/// A config from exporter flags, exactly as the binary builds it.
fn config(flags: &[&str]) -> Config {
    let mut argv = vec!["outpost", "exporter", "--collector.disable-defaults"];
    argv.extend_from_slice(flags);
    #[allow(irrefutable_let_patterns)]
    let Command::Exporter(args) = Cli::try_parse_from(argv).unwrap().command
    else {
        panic!("not the exporter");
    };
    Config::try_from(args).unwrap()
}

/// A listener that accepts and closes every connection.
async fn open_port(addr: &str) -> SocketAddr {
    let l = TcpListener::bind(addr).await.unwrap();
    let at = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            drop(s);
        }
    });
    at
}

/// A port nothing listens on (bound, then released).
async fn closed_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A listener whose accept queue is full and never drained: the kernel
/// drops further SYNs, so a connect hangs until the prober's deadline.
/// Returns the listener and the connection filling its queue (keep both).
fn hanging_port() -> (TcpListener, TcpStream, SocketAddr) {
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = sock.listen(0).unwrap();
    let at = listener.local_addr().unwrap();
    // With backlog 0 the queue holds one connection; this one fills it.
    let filler = TcpStream::connect_timeout(&at, Duration::from_secs(1)).unwrap();
    (listener, filler, at)
}

async fn get(
    state: &Arc<AppState>,
    uri: &str,
    timeout_header: Option<&str>,
) -> (StatusCode, String) {
    let mut req = Request::get(uri);
    if let Some(t) = timeout_header {
        req = req.header("X-Prometheus-Scrape-Timeout-Seconds", t);
    }
    let resp = router(Arc::clone(state))
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// The value of the sample line starting with `series ` (exact series text).
fn value(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn state(flags: &[&str]) -> Arc<AppState> {
    Arc::new(AppState::new(&config(flags)))
}

#[tokio::test]
async fn open_port_succeeds_over_ipv4_and_ipv6() {
    let st = state(&[]);
    let v4 = open_port("127.0.0.1:0").await;
    let (status, body) = get(&st, &format!("/probe?target={v4}"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(value(&body, "probe_success"), Some(1.0), "{body}");
    assert_eq!(value(&body, "probe_ip_protocol"), Some(4.0), "{body}");
    assert_eq!(value(&body, "probe_dns_lookup_time_seconds"), Some(0.0));
    assert!(value(&body, "probe_duration_seconds").unwrap() < 1.0);
    assert!(!body.contains("probe_failed_due_to"), "{body}");

    let v6 = open_port("[::1]:0").await;
    let (_, body) = get(&st, &format!("/probe?target=[::1]:{}", v6.port()), None).await;
    assert_eq!(value(&body, "probe_success"), Some(1.0), "{body}");
    assert_eq!(value(&body, "probe_ip_protocol"), Some(6.0), "{body}");

    // A hostname goes through the resolver, and the time is reported.
    let (_, body) = get(&st, &format!("/probe?target=localhost:{}", v4.port()), None).await;
    let proto = value(&body, "probe_ip_protocol").unwrap();
    assert!(proto == 4.0 || proto == 6.0, "{body}");
    assert!(
        value(&body, "probe_dns_lookup_time_seconds").unwrap() > 0.0,
        "{body}"
    );
    // localhost may resolve to ::1 first, where the v4 listener is absent:
    // then the honest answer is refused.
    if proto == 4.0 {
        assert_eq!(value(&body, "probe_success"), Some(1.0), "{body}");
    } else {
        assert!(
            body.contains("probe_failed_due_to{reason=\"refused\"} 1"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn closed_port_fails_as_refused() {
    let st = state(&[]);
    let closed = closed_port().await;
    let (status, body) = get(&st, &format!("/probe?target={closed}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(value(&body, "probe_success"), Some(0.0), "{body}");
    assert_eq!(
        value(&body, "probe_failed_due_to{reason=\"refused\"}"),
        Some(1.0),
        "{body}"
    );
    assert_eq!(value(&body, "probe_ip_protocol"), Some(4.0));
}

#[tokio::test]
async fn unanswered_handshake_times_out_within_prometheus_budget() {
    let st = state(&["--probe.timeout", "5s"]);
    let (_l, _filler, at) = hanging_port();
    let started = Instant::now();
    // Prometheus allows 1 s: the probe must give up 0.5 s before that.
    let (_, body) = get(&st, &format!("/probe?target={at}"), Some("1")).await;
    let took = started.elapsed();
    assert_eq!(value(&body, "probe_success"), Some(0.0), "{body}");
    assert_eq!(
        value(&body, "probe_failed_due_to{reason=\"timeout\"}"),
        Some(1.0),
        "{body}"
    );
    let reported = value(&body, "probe_duration_seconds").unwrap();
    assert!((0.45..0.8).contains(&reported), "{reported}");
    assert!(took < Duration::from_millis(900), "{took:?}");

    // Without the header, --probe.timeout applies (here set to 300ms).
    let st = state(&["--probe.timeout", "300ms"]);
    let (_, body) = get(&st, &format!("/probe?target={at}"), None).await;
    let reported = value(&body, "probe_duration_seconds").unwrap();
    assert!((0.28..0.6).contains(&reported), "{reported}");
}

#[tokio::test]
async fn unresolvable_name_fails_as_dns() {
    let st = state(&["--probe.timeout", "3s"]);
    let (_, body) = get(&st, "/probe?target=nonexistent.invalid:80", None).await;
    assert_eq!(value(&body, "probe_success"), Some(0.0), "{body}");
    assert_eq!(
        value(&body, "probe_failed_due_to{reason=\"dns\"}"),
        Some(1.0),
        "{body}"
    );
    assert_eq!(value(&body, "probe_ip_protocol"), Some(0.0));
}

#[tokio::test]
async fn bad_targets_get_400_with_the_reason() {
    let st = state(&[]);
    let long = format!("{}.com:80", "a".repeat(300));
    let cases = [
        ("/probe".to_owned(), "target parameter is missing"),
        ("/probe?target=".to_owned(), "target is empty"),
        ("/probe?target=http://127.0.0.1:22".to_owned(), "not a URL"),
        (
            "/probe?target=http%3A%2F%2F127.0.0.1%3A22".to_owned(),
            "not a URL",
        ),
        (format!("/probe?target={long}"), "longer than 255"),
        ("/probe?target=127.0.0.1".to_owned(), "missing :PORT"),
        ("/probe?target=127.0.0.1:0".to_owned(), "1-65535"),
        ("/probe?target=127.0.0.1:65536".to_owned(), "1-65535"),
        ("/probe?target=::1:22".to_owned(), "bracketed"),
        ("/probe?target=user%40127.0.0.1:22".to_owned(), "userinfo"),
        ("/probe?target=127.0.0.1:22%2Fx".to_owned(), "path"),
        ("/probe?target=127.1:22".to_owned(), "invalid host"),
        (
            "/probe?target=a.b:1&target=c.d:1".to_owned(),
            "more than once",
        ),
        (
            "/probe?target=a.b:1&module=http_2xx".to_owned(),
            "unknown module",
        ),
    ];
    for (uri, reason) in cases {
        let (status, body) = get(&st, &uri, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert!(body.contains(reason), "{uri}: {body}");
    }
    let (status, body) = get(&st, "/probe?target=a.b:1", Some("soon")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("X-Prometheus-Scrape-Timeout-Seconds"),
        "{body}"
    );
}

/// A TLS server with a certificate expiring on 2031-05-17.
async fn tls_port() -> SocketAddr {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params.not_after = rcgen::date_time_ymd(2031, 5, 17);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(s).await;
            });
        }
    });
    at
}

#[tokio::test]
async fn tls_module_reports_certificate_expiry() {
    let st = state(&[]);
    let at = tls_port().await;
    let (_, body) = get(
        &st,
        &format!(
            "/probe?target=localhost:{}&module=tcp_connect_tls",
            at.port()
        ),
        None,
    )
    .await;
    // localhost may resolve to ::1 first; use the address when it does.
    let body = if value(&body, "probe_success") == Some(1.0) {
        body
    } else {
        get(
            &st,
            &format!("/probe?target={at}&module=tcp_connect_tls"),
            None,
        )
        .await
        .1
    };
    assert_eq!(value(&body, "probe_success"), Some(1.0), "{body}");
    assert_eq!(
        value(&body, "probe_ssl_earliest_cert_expiry"),
        Some(1_936_742_400.0),
        "{body}"
    );
    assert_eq!(
        value(&body, "probe_tls_version_info{version=\"TLS 1.3\"}"),
        Some(1.0),
        "{body}"
    );
    promtool_check(&body);

    // A plain TCP port is not a TLS server.
    let plain = open_port("127.0.0.1:0").await;
    let (_, body) = get(
        &st,
        &format!("/probe?target={plain}&module=tcp_connect_tls"),
        None,
    )
    .await;
    assert_eq!(value(&body, "probe_success"), Some(0.0), "{body}");
    assert_eq!(
        value(&body, "probe_failed_due_to{reason=\"tls\"}"),
        Some(1.0),
        "{body}"
    );
    // Without the module, the same TLS port is a plain TCP success.
    let (_, body) = get(&st, &format!("/probe?target={at}"), None).await;
    assert_eq!(value(&body, "probe_success"), Some(1.0), "{body}");
    assert!(!body.contains("probe_ssl_earliest_cert_expiry"));
}

/// Serves an exporter built from `flags` on a loopback port.
async fn serve(flags: &[&str]) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let cfg = config(flags);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        outpost::exporter::run(cfg, listener, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (at, stop)
}

async fn scrape(at: SocketAddr) -> String {
    let resp = reqwest::get(format!("http://{at}/metrics")).await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_prober_is_bounded_and_never_blocks_a_scrape() {
    outpost::server::raise_nofile_limit().unwrap();
    const TARGETS: usize = 500;
    let mut hanging = Vec::new();
    let mut file = String::new();
    for i in 0..TARGETS {
        let (l, filler, at) = hanging_port();
        file.push_str(&format!("hang{i:03} {at}\n"));
        hanging.push((l, filler));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("targets.txt");
    std::fs::write(&path, file).unwrap();
    let path = path.to_str().unwrap().to_owned();
    let (at, _stop) = serve(&[
        "--probe.targets-file",
        &path,
        "--probe.concurrency",
        "50",
        "--probe.timeout",
        "600ms",
        "--probe.interval",
        "1m",
    ])
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Mid-round: exactly the concurrency limit is in flight, and a scrape
    // answers at once instead of waiting for any of them.
    let started = Instant::now();
    let body = scrape(at).await;
    let took = started.elapsed();
    assert!(took < Duration::from_millis(300), "scrape took {took:?}");
    assert_eq!(
        value(&body, "outpost_tcp_probe_in_flight"),
        Some(50.0),
        "{body}"
    );
    assert_eq!(
        value(&body, "outpost_tcp_probe_targets"),
        Some(TARGETS as f64)
    );
    assert!(!body.contains("outpost_tcp_probe_last_run_timestamp_seconds"));

    // Through the first waves: never more than 50 in flight, every scrape
    // fast, and the finished probes recorded as timeouts.
    let until = Instant::now() + Duration::from_millis(1500);
    let mut body = String::new();
    while Instant::now() < until {
        let started = Instant::now();
        body = scrape(at).await;
        let took = started.elapsed();
        assert!(took < Duration::from_millis(300), "scrape took {took:?}");
        let in_flight = value(&body, "outpost_tcp_probe_in_flight").unwrap();
        assert!(in_flight <= 50.0, "{in_flight} in flight");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let timeouts = body
        .lines()
        .filter(|l| {
            l.starts_with("outpost_tcp_probe_failed_due_to{")
                && l.contains("reason=\"timeout\"")
                && l.ends_with(" 1")
        })
        .count();
    // 1.8 s into 10 waves of 0.6 s: at least the first wave is done, and
    // the round (6 s) is not.
    assert!((50..TARGETS).contains(&timeouts), "{timeouts} timeouts");
    let successes: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("outpost_tcp_probe_success{"))
        .collect();
    assert_eq!(successes.len(), timeouts);
    assert!(successes.iter().all(|l| l.ends_with(" 0")), "{successes:?}");
    for l in body
        .lines()
        .filter(|l| l.starts_with("outpost_tcp_probe_duration_seconds{"))
    {
        let secs: f64 = l.rsplit(' ').next().unwrap().parse().unwrap();
        assert!((0.55..1.2).contains(&secs), "{l}");
    }
}

#[tokio::test]
async fn targets_file_is_reloaded_and_a_broken_one_keeps_the_last_list() {
    let open = open_port("127.0.0.1:0").await;
    let closed = closed_port().await;
    let tls = tls_port().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("targets.txt");
    std::fs::write(
        &path,
        format!("# three targets\nup {open}\n\ndown {closed}  # expected down\ncert {tls} tls\n"),
    )
    .unwrap();
    let p = path.to_str().unwrap().to_owned();
    let open6 = open_port("[::1]:0").await;
    let flag = format!("v6=[::1]:{}", open6.port());
    let (at, _stop) = serve(&[
        "--probe.targets-file",
        &p,
        "--probe.target",
        &flag,
        "--probe.interval",
        "200ms",
    ])
    .await;

    let up = format!("outpost_tcp_probe_success{{name=\"up\",target=\"{open}\"}}");
    let down = format!("outpost_tcp_probe_success{{name=\"down\",target=\"{closed}\"}}");
    let v6 = format!(
        "outpost_tcp_probe_success{{name=\"v6\",target=\"[::1]:{}\"}}",
        open6.port()
    );
    let body = wait_for_metrics(at, |b| {
        value(b, &down).is_some() && value(b, &v6).is_some() && b.contains("name=\"cert\"")
    })
    .await;
    assert_eq!(value(&body, &up), Some(1.0), "{body}");
    assert_eq!(value(&body, &down), Some(0.0), "{body}");
    assert_eq!(value(&body, &v6), Some(1.0), "{body}");
    let reason = format!(
        "outpost_tcp_probe_failed_due_to{{name=\"down\",reason=\"refused\",target=\"{closed}\"}}"
    );
    assert_eq!(value(&body, &reason), Some(1.0), "{body}");
    let expiry =
        format!("outpost_tcp_probe_ssl_earliest_cert_expiry{{name=\"cert\",target=\"{tls}\"}}");
    assert_eq!(value(&body, &expiry), Some(1_936_742_400.0), "{body}");
    assert_eq!(value(&body, "outpost_tcp_probe_targets_file_ok"), Some(1.0));
    assert!(value(&body, "outpost_tcp_probe_last_run_timestamp_seconds").unwrap() > 1.7e9);
    promtool_check(&body);

    // A broken file: the last good list stays, and the metric says so.
    std::fs::write(&path, format!("up {open}\nbroken 127.0.0.1:99999\n")).unwrap();
    let body = wait_for_metrics(at, |b| {
        value(b, "outpost_tcp_probe_targets_file_ok") == Some(0.0)
    })
    .await;
    assert_eq!(
        value(&body, "outpost_tcp_probe_targets"),
        Some(4.0),
        "{body}"
    );
    assert_eq!(value(&body, &down), Some(0.0), "{body}");

    // A duplicate of a flag's name is rejected too.
    std::fs::write(&path, format!("v6 {open}\n")).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let body = scrape(at).await;
    assert_eq!(
        value(&body, "outpost_tcp_probe_targets_file_ok"),
        Some(0.0),
        "{body}"
    );

    // Fixed: the new list replaces the old, and the removed target is gone.
    std::fs::write(&path, format!("up {open}\n")).unwrap();
    let body = wait_for_metrics(at, |b| {
        value(b, "outpost_tcp_probe_targets_file_ok") == Some(1.0)
    })
    .await;
    assert_eq!(
        value(&body, "outpost_tcp_probe_targets"),
        Some(2.0),
        "{body}"
    );
    assert!(!body.contains("name=\"down\""), "{body}");
}

/// `promtool check metrics` accepts `body` (format and lint).
fn promtool_check(body: &str) {
    use std::io::Write;
    let promtool = support::require("promtool", "prometheus");
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{body}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn wait_for_metrics(at: SocketAddr, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = scrape(at).await;
        if ok(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "condition never met; last scrape:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn broken_targets_at_startup_stop_the_exporter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.txt");
    std::fs::write(&path, "a 127.0.0.1:1\na 127.0.0.1:2\n").unwrap();
    let out = std::process::Command::new(support::outpost_bin())
        .args([
            "exporter",
            "--web.listen-address",
            "127.0.0.1:0",
            "--probe.targets-file",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!(
            "{}:2: duplicate target name \"a\"",
            path.display()
        )),
        "{err}"
    );

    let out = std::process::Command::new(support::outpost_bin())
        .args(["exporter", "--probe.target", "db=db1:70000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("port \"70000\""));
}

#[test]
fn prometheus_scrapes_probe_through_multi_target_relabelling() {
    let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open_at = open.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in open.incoming() {
            drop(s);
        }
    });
    let closed_at = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();

    let exporter_port = support::free_port();
    let _exporter = support::Proc(
        std::process::Command::new(support::outpost_bin())
            .args([
                "exporter",
                "--collector.disable-defaults",
                "--web.listen-address",
            ])
            .arg(format!("127.0.0.1:{exporter_port}"))
            .spawn()
            .unwrap(),
    );
    assert!(support::wait_for_port(
        exporter_port,
        Duration::from_secs(10)
    ));

    let dir = tempfile::tempdir().unwrap();
    // The standard blackbox multi-target job, unchanged but for the module.
    let config = serde_json::json!({
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{
            "job_name": "tcp",
            "metrics_path": "/probe",
            "params": {"module": ["tcp_connect"]},
            "static_configs": [{"targets": [open_at.to_string(), closed_at.to_string()]}],
            "relabel_configs": [
                {"source_labels": ["__address__"], "target_label": "__param_target"},
                {"source_labels": ["__param_target"], "target_label": "instance"},
                {"target_label": "__address__", "replacement": format!("127.0.0.1:{exporter_port}")},
            ],
        }],
    });
    let config = serde_yaml_ng::to_string(&config).unwrap();
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap();
    let prom_port = support::free_port();
    let data = dir.path().join("data");
    let log_path = data.with_extension("log");
    let _prom = support::prometheus_with(&config_path, &data, prom_port, &[]);
    let url = format!("http://127.0.0.1:{prom_port}/api/v1/query?query=probe_success");
    let results = support::wait_for(Duration::from_secs(30), || {
        let (_, body) = support::http_get(&url).ok()?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let r = v["data"]["result"].as_array()?.clone();
        (r.len() == 2).then_some(r)
    })
    .unwrap_or_else(|| {
        panic!(
            "Prometheus never had probe_success for both targets; its log:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        )
    });
    let by_instance = |inst: String| {
        results
            .iter()
            .find(|r| r["metric"]["instance"] == inst.as_str())
            .unwrap_or_else(|| panic!("no series for {inst}: {results:?}"))["value"][1]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(by_instance(open_at.to_string()), "1");
    assert_eq!(by_instance(closed_at.to_string()), "0");
    // The scrape itself was healthy for both (up is about the exporter).
    let (_, up) = support::http_get(&format!(
        "http://127.0.0.1:{prom_port}/api/v1/query?query=sum(up{{job=%22tcp%22}})"
    ))
    .unwrap();
    assert!(up.contains("\"2\""), "{up}");
}
