//! Outpost's exporter beside the real node_exporter on this host: metric
//! coverage of the "Node Exporter Full" dashboard and agreement of values.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::exposition::{parse, Family};
use crate::support::{free_port, http_get, outpost_bin, require, wait_for_port, Proc};

fn shared_fixture(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures")
        .join(name);
    assert!(
        p.exists(),
        "missing {}: the shared/ folder must sit beside the repository",
        p.display()
    );
    p
}

/// Every `node_*` metric name a panel or variable of the dashboard queries.
fn dashboard_metric_names() -> BTreeSet<String> {
    let text = std::fs::read_to_string(shared_fixture("node-exporter-full.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut exprs = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr" | "query", serde_json::Value::String(s)) => out.push(s.clone()),
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&json, &mut exprs);
    let mut names = BTreeSet::new();
    for e in exprs {
        let b = e.as_bytes();
        let mut i = 0;
        while let Some(at) = e[i..].find("node_") {
            let start = i + at;
            let boundary =
                start == 0 || !(b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_');
            let end = e[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(e.len(), |n| start + n);
            if boundary {
                names.insert(e[start..end].to_owned());
            }
            i = end;
        }
    }
    names
}

fn scrape(port: u16) -> std::collections::BTreeMap<String, Family> {
    let (status, body) = http_get(&format!("http://127.0.0.1:{port}/metrics")).unwrap();
    assert_eq!(status, 200);
    parse(&body)
}

fn value(
    f: &std::collections::BTreeMap<String, Family>,
    name: &str,
    label: Option<(&str, &str)>,
) -> Option<f64> {
    f.get(name)?
        .samples
        .iter()
        .find(|(l, _)| label.is_none_or(|(k, v)| l.get(k).map(String::as_str) == Some(v)))
        .map(|s| s.1)
}

/// `promtool check metrics` on `text`: its problem lines. Panics on a parse error.
fn promtool_check_metrics(text: &str) -> BTreeSet<String> {
    use std::io::Write;
    let mut child = Command::new(require("promtool", "prometheus"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !all.contains("error while linting"),
        "promtool could not parse the output: {all}"
    );
    all.lines()
        .map(str::to_owned)
        .filter(|l| !l.trim().is_empty())
        .collect()
}

#[test]
fn covers_the_node_exporter_full_dashboard_and_agrees_on_values() {
    let ne_bin = require("prometheus-node-exporter", "prometheus-node-exporter");
    let (ne_port, op_port) = (free_port(), free_port());
    let _ne = Proc(
        Command::new(ne_bin)
            .arg(format!("--web.listen-address=127.0.0.1:{ne_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let _op = Proc(
        Command::new(outpost_bin())
            .args([
                "exporter",
                "--web.listen-address",
                &format!("127.0.0.1:{op_port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(
        wait_for_port(ne_port, Duration::from_secs(10)),
        "node_exporter did not start"
    );
    assert!(
        wait_for_port(op_port, Duration::from_secs(10)),
        "outpost exporter did not start"
    );

    let ne_text = http_get(&format!("http://127.0.0.1:{ne_port}/metrics"))
        .unwrap()
        .1;
    let op_text = http_get(&format!("http://127.0.0.1:{op_port}/metrics"))
        .unwrap()
        .1;
    let ne = parse(&ne_text);
    let op = scrape(op_port);

    // promtool finds no parse error, and no lint problem it does not also
    // report for node_exporter's own output, other than the lint node_exporter's
    // names trigger on families 1.12 added (TcpExt_TCPOFOQueue is camelCase
    // there too; the 1.5 running here lacks it).
    let ne_problems = promtool_check_metrics(&ne_text);
    let op_problems = promtool_check_metrics(&op_text);
    let extra: Vec<&String> = op_problems
        .iter()
        .filter(|p| !ne_problems.contains(*p) && !crate::exporter_golden::is_node_exporter_lint(p))
        .collect();
    assert!(
        extra.is_empty(),
        "promtool problems only outpost has: {extra:#?}"
    );

    let wanted: Vec<String> = dashboard_metric_names()
        .into_iter()
        .filter(|n| ne.contains_key(n))
        .collect();
    assert!(
        wanted.len() > 100,
        "node_exporter exposes only {} dashboard names here",
        wanted.len()
    );
    let mut missing = Vec::new();
    let mut mismatched = Vec::new();
    for name in &wanted {
        match op.get(name) {
            None => missing.push(name.clone()),
            Some(f) if f.kind != ne[name].kind || f.label_names != ne[name].label_names => {
                mismatched.push(format!(
                    "{name}: outpost {} {:?} vs node_exporter {} {:?}",
                    f.kind, f.label_names, ne[name].kind, ne[name].label_names
                ))
            }
            Some(_) => {}
        }
    }
    let covered = wanted.len() - missing.len() - mismatched.len();
    let pct = 100.0 * covered as f64 / wanted.len() as f64;
    eprintln!(
        "dashboard coverage: {covered}/{} = {pct:.1}%\nmissing: {missing:?}\nmismatched: {mismatched:#?}",
        wanted.len()
    );
    assert!(
        pct >= 95.0,
        "coverage {pct:.1}% < 95%; missing {missing:?}; mismatched {mismatched:?}"
    );

    // Values that must agree exactly.
    for name in ["node_memory_MemTotal_bytes", "node_boot_time_seconds"] {
        assert_eq!(
            value(&op, name, None),
            value(&ne, name, None),
            "{name} differs"
        );
    }
    let ne_fs = &ne["node_filesystem_size_bytes"];
    let mut compared = 0;
    for (labels, v) in &ne_fs.samples {
        let mp = labels["mountpoint"].as_str();
        if let Some(ov) = value(&op, "node_filesystem_size_bytes", Some(("mountpoint", mp))) {
            assert_eq!(ov, *v, "filesystem size of {mp} differs");
            compared += 1;
        }
    }
    assert!(compared > 0, "no common filesystem to compare");

    // CPU seconds: within 2% per mode summed over CPUs (scraped moments apart).
    for mode in ["user", "system", "idle"] {
        let sum = |f: &std::collections::BTreeMap<String, Family>| -> f64 {
            f["node_cpu_seconds_total"]
                .samples
                .iter()
                .filter(|(l, _)| l["mode"] == mode)
                .map(|s| s.1)
                .sum()
        };
        let (a, b) = (sum(&op), sum(&ne));
        assert!(
            ((a - b) / b.max(1.0)).abs() <= 0.02,
            "cpu {mode}: outpost {a} vs node_exporter {b}"
        );
    }
}

/// Dashboard names node_exporter 1.12 does not produce on Linux, each with
/// why. The fixture-tree check below requires every other name.
const NOT_FROM_NODE_EXPORTER_ON_LINUX: &[(&str, &str)] = &[(
    "node_kernel_hung_tasks",
    "not a node_exporter name: its kernel_hung collector exports \
     node_kernel_hung_tasks_total, which Outpost produces",
)];

/// Dashboard names of the systemd collector, which reads D-Bus, not the
/// fixture tree: `exporter_dbus::systemd_from_a_standin_with_node_exporters_flags`
/// requires each of them from the systemd stand-in instead.
pub(crate) const FROM_THE_SYSTEMD_COLLECTOR: &[&str] = &[
    "node_systemd_socket_accepted_connections_total",
    "node_systemd_socket_current_connections",
    "node_systemd_socket_refused_connections_total",
    "node_systemd_units",
];

#[test]
fn covers_the_node_exporter_full_dashboard_on_the_fixture_tree() {
    use outpost::exporter::collector::Name;
    // Every collector on; netstat's fields widened by Tcp_MaxConn, which the
    // dashboard reads and node_exporter exports only with such a
    // --collector.netstat.fields (its default leaves it out).
    let fields = format!(
        "--collector.netstat.fields={}|^Tcp_MaxConn$",
        outpost::exporter::netstat::DEFAULT_FIELDS
    );
    // netdev in node_exporter 1.12's default mode, netlink (the fixture
    // helpers read /proc/net/dev): node_network_receive_nohandler_total,
    // which the dashboard charts, exists only there. Those series come from
    // this host's kernel; only their names are checked here.
    let flags: Vec<&str> = crate::exporter_golden::OFF_BY_DEFAULT
        .iter()
        .copied()
        .chain([fields.as_str(), "--collector.netdev.netlink"])
        .collect();
    let config =
        crate::exporter_golden::config_with(&crate::exporter_golden::fixtures(), &flags).unwrap();
    let produced: BTreeSet<String> = outpost::exporter::build_registry(&config)
        .gather()
        .into_sorted()
        .into_iter()
        .map(|f| f.name.to_string())
        .collect();
    let names = dashboard_metric_names();
    assert!(
        names.len() > 200,
        "only {} names in the dashboard",
        names.len()
    );
    assert!(
        Name::ALL.iter().any(|n| n.as_str() == "systemd"),
        "FROM_THE_SYSTEMD_COLLECTOR names a collector that is not here"
    );
    let mut missing = Vec::new();
    for name in &names {
        let excused = NOT_FROM_NODE_EXPORTER_ON_LINUX
            .iter()
            .any(|(n, _)| n == name)
            || FROM_THE_SYSTEMD_COLLECTOR.contains(&name.as_str());
        if excused {
            assert!(!produced.contains(name), "{name} is produced: unlist it");
        } else if !produced.contains(name) {
            missing.push(name.as_str());
        }
    }
    eprintln!(
        "dashboard names: {}; not produced on the fixture tree: {missing:?}",
        names.len()
    );
    assert!(
        missing.is_empty(),
        "dashboard names Outpost does not produce: {missing:#?}"
    );
}
