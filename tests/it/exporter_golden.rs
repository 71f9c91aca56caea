//! The exporter on the captured fixture tree (`tests/fixtures/{proc,sys,rootfs}`):
//! every collector succeeds, the output matches `tests/golden/exporter-fixture.txt`
//! (regenerate with `UPDATE_GOLDEN=1`), passes the real `promtool check metrics`
//! with only the lints node_exporter's own output gets, and matches the real
//! node_exporter 1.5 run on the same tree: names, types, HELP, labels, values.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use clap::Parser;
use outpost::cli::{Cli, Command as Sub};
use outpost::exporter::{build_registry, encode, Config};

use crate::support;

pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The exporter config a user would get from these flags, pointed at the
/// fixture tree.
fn fixture_config() -> Config {
    config_for(&fixtures())
}

/// Collectors node_exporter leaves off by default, turned on for the
/// fixture tree so the golden file and the comparisons cover them.
pub(crate) const OFF_BY_DEFAULT: &[&str] = &[
    "--collector.tcpstat",
    "--collector.interrupts",
    "--collector.softirqs",
    "--collector.meminfo_numa",
    "--collector.processes",
    "--collector.cpu_vulnerabilities",
    "--collector.drm",
    "--collector.mountstats",
    "--collector.ethtool",
];

/// The config for a fixture tree rooted at `f`, with every collector on.
pub(crate) fn config_for(f: &Path) -> Config {
    config_with(f, OFF_BY_DEFAULT).expect("valid config")
}

/// The config for a fixture tree rooted at `f`, with extra flags.
pub(crate) fn config_with(
    f: &Path,
    extra: &[&str],
) -> Result<Config, outpost::cli::exporter::ConfigError> {
    let arg = |flag: &str, rel: &str| format!("--{flag}={}", f.join(rel).display());
    let cli = Cli::try_parse_from(
        [
            "outpost".to_owned(),
            "exporter".to_owned(),
            arg("path.procfs", "proc"),
            arg("path.sysfs", "sys"),
            arg("path.rootfs", "rootfs"),
            arg("collector.textfile.directory", "textfile"),
            arg("path.udev.data", "rootfs/run/udev/data"),
            // netdev and arp default to netlink (as in node_exporter 1.12),
            // which asks the running kernel whatever --path.procfs says: a
            // fixture tree is read through their /proc variants. A test may
            // turn netlink back on in `extra` (the last flag wins).
            "--no-collector.netdev.netlink".to_owned(),
            "--no-collector.arp.netlink".to_owned(),
        ]
        .into_iter()
        .chain(extra.iter().map(|e| e.to_string())),
    )
    .expect("flags parse");
    // Other subcommands exist on other branches: stay a `match`.
    #[allow(unreachable_patterns)]
    let args = match cli.command {
        Sub::Exporter(args) => args,
        _ => panic!("not the exporter subcommand"),
    };
    Config::try_from(args)
}

/// The ethtool collector's families: it asks the running kernel (the
/// `SIOCETHTOOL` ioctl) about the devices the tree lists, as node_exporter
/// does, so their values are the host's; `exporter_ethtool` compares them
/// with ethtool(8) instead.
pub(crate) fn from_ethtool(name: &str) -> bool {
    name.starts_with("node_ethtool_")
        || matches!(
            name,
            "node_network_supported_speed_bytes"
                | "node_network_advertised_speed_bytes"
                | "node_network_supported_port_info"
                | "node_network_autonegotiate"
                | "node_network_autonegotiate_supported"
                | "node_network_autonegotiate_advertised"
                | "node_network_pause_supported"
                | "node_network_pause_advertised"
                | "node_network_asymmetricpause_supported"
                | "node_network_asymmetricpause_advertised"
        )
}

/// Families whose values depend on the machine or the moment, not on the
/// fixture tree: left out of the golden file (still checked by promtool).
fn machine_dependent(name: &str) -> bool {
    from_ethtool(name)
        || name.starts_with("node_timex_")
        || name.starts_with("node_filesystem_")
        || matches!(
            name,
            "node_uname_info"
                | "node_time_seconds"
                | "node_time_zone_offset_seconds"
                | "node_textfile_mtime_seconds"
                | "node_scrape_collector_duration_seconds"
        )
}

/// One scrape of every collector on the fixture tree, as families.
fn scrape() -> Vec<outpost::exporter::metrics::Family> {
    build_registry(&fixture_config()).gather().into_sorted()
}

#[test]
fn every_collector_succeeds_on_the_fixture_tree() {
    let families = scrape();
    let success = families
        .iter()
        .find(|f| f.name == "node_scrape_collector_success")
        .expect("success family");
    let config = fixture_config();
    assert_eq!(success.len(), config.collectors.len());
    assert!(
        config.collectors.len() >= 23 + OFF_BY_DEFAULT.len(),
        "all collectors are on"
    );
    for s in success.samples() {
        assert_eq!(s.value, 1.0, "collector {:?} failed", s.label("collector"));
    }
}

#[test]
fn output_matches_the_golden_file_and_passes_promtool() {
    let families = scrape();
    let stable: Vec<_> = families
        .iter()
        .filter(|f| !machine_dependent(&f.name))
        .cloned()
        .collect();
    // Labels naming a file (rapl's `path`) hold the checkout's location.
    let text = encode::encode(&stable, encode::Format::Text)
        .replace(&fixtures().display().to_string(), "<fixtures>");
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/exporter-fixture.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(&golden, &text).unwrap();
    }
    let want = std::fs::read_to_string(&golden)
        .expect("golden file missing: run with UPDATE_GOLDEN=1 to create it");
    if text != want {
        let first = text
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(text.lines().count().min(want.lines().count()));
        panic!(
            "output differs from {} at line {}:\n got: {:?}\nwant: {:?}\n(UPDATE_GOLDEN=1 regenerates it)",
            golden.display(),
            first + 1,
            text.lines().nth(first),
            want.lines().nth(first)
        );
    }

    // The full output, machine-dependent families included, through the
    // real promtool.
    let full = encode::encode(&families, encode::Format::Text);
    let problems = promtool_check(&full);
    let unexpected: Vec<&String> = problems
        .iter()
        .filter(|p| !is_node_exporter_lint(p))
        .collect();
    assert!(unexpected.is_empty(), "promtool problems: {unexpected:#?}");
    // The lint is really being run: node_exporter's camelCase names trip it.
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("node_memory_MemTotal_bytes")),
        "promtool did not report the expected camelCase lint: {problems:?}"
    );
}

/// Lints promtool also reports on node_exporter 1.5's own output: camelCase
/// in names kept for compatibility, and entropy counted in bits.
pub(crate) fn is_node_exporter_lint(line: &str) -> bool {
    let name = line.split_whitespace().next().unwrap_or("");
    (name.starts_with("node_")
        && line.ends_with("should be written in 'snake_case' not 'camelCase'"))
        || (name.starts_with("node_entropy_")
            && line.ends_with("use base unit \"bytes\" instead of \"bits\""))
}

/// Runs `promtool check metrics` on `text`; its problem lines.
fn promtool_check(text: &str) -> Vec<String> {
    use std::io::Write;
    let promtool = support::require("promtool", "prometheus");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
        .map(str::to_owned)
        .filter(|l| !l.trim().is_empty())
        .collect();
    lines.sort();
    lines
}

/// An exposition body as `series → value` plus `# HELP`/`# TYPE` lines.
pub(crate) struct Exposition {
    pub(crate) meta: BTreeMap<String, String>,
    pub(crate) samples: BTreeMap<String, f64>,
}

pub(crate) fn parse_exposition(text: &str, keep: impl Fn(&str) -> bool) -> Exposition {
    let mut meta = BTreeMap::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kind, name, value) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap_or(""),
            );
            if keep(name) {
                meta.insert(format!("{kind} {name}"), value.to_owned());
            }
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let name = series.split('{').next().unwrap();
        if keep(name) {
            let v = match value {
                "NaN" => f64::NAN,
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v
                    .parse()
                    .unwrap_or_else(|_| panic!("bad value in {line:?}")),
            };
            samples.insert(series.to_owned(), v);
        }
    }
    Exposition { meta, samples }
}

/// Series whose node_exporter 1.5 value is a known misreading (see the
/// comparison below).
const KNOWN_1_5_MISREADS: &[&str] = &[
    "node_nfsd_requests_total{method=\"Verify\",proto=\"4\"}",
    "node_nfsd_requests_total{method=\"Write\",proto=\"4\"}",
    "node_nfsd_requests_total{method=\"RelLockOwner\",proto=\"4\"}",
    // 1.5's procfs reports a card of another driver (i915) as `amd`, with zeros.
    "node_drm_card_info{card=\"card1\",memory_vendor=\"\",power_performance_level=\"\",unique_id=\"\",vendor=\"amd\"}",
    "node_drm_gpu_busy_percent{card=\"card1\"}",
    "node_drm_memory_gtt_size_bytes{card=\"card1\"}",
    "node_drm_memory_gtt_used_bytes{card=\"card1\"}",
    "node_drm_memory_vis_vram_size_bytes{card=\"card1\"}",
    "node_drm_memory_vis_vram_used_bytes{card=\"card1\"}",
    "node_drm_memory_vram_size_bytes{card=\"card1\"}",
    "node_drm_memory_vram_used_bytes{card=\"card1\"}",
];

/// Name prefixes of the families of collectors node_exporter 1.5 does not
/// have (added in 1.7–1.12): the golden file covers them, written from
/// node_exporter 1.12's code (names, labels, help) and reviewed by hand.
const AFTER_1_5: &[&str] = &[
    "node_watchdog_",
    "node_kernel_hung_",
    "node_dmmultipath_",
    "node_softirqs_",
    "node_cpu_vulnerabilities_",
    "node_bcachefs_",
];

#[test]
fn matches_node_exporter_on_the_same_tree() {
    compare_with_node_exporter(&[]);
}

#[test]
fn matches_node_exporter_on_a_tree_without_the_optional_files() {
    // A host with only what every Linux has: collectors whose files are
    // absent must answer as node_exporter does, each in its own way
    // ("no data", success 0, logged at debug level; or nothing and success
    // 1; or an error), and export the same (mostly nothing). Every file a
    // collector cannot do without is there: node_exporter writes what a
    // collector sent before failing, Outpost nothing of a failed one.
    let root = tempfile::tempdir().unwrap();
    let f = fixtures();
    for required in [
        "proc/stat",
        "proc/meminfo",
        "proc/loadavg",
        "proc/diskstats",
        "proc/vmstat",
        "proc/sys/fs/file-nr",
        "proc/sys/kernel/random/entropy_avail",
        "proc/sys/kernel/random/poolsize",
        "proc/sys/kernel/threads-max",
        "proc/sys/kernel/pid_max",
        "proc/net/netstat",
        "proc/net/snmp",
        "proc/net/softnet_stat",
        "proc/net/arp",
        "proc/interrupts",
    ] {
        let to = root.path().join(required);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(f.join(required), to).unwrap();
    }
    for dir in ["sys", "rootfs", "textfile", "proc/1200"] {
        std::fs::create_dir_all(root.path().join(dir)).unwrap();
    }
    // Every Linux has /proc/self (node_exporter's mountstats collector is
    // not even created without it); what it holds is optional.
    std::os::unix::fs::symlink("1200", root.path().join("proc/self")).unwrap();
    compare_on(root.path(), &[], 50);
}

#[test]
fn matches_node_exporter_with_the_filter_flags() {
    // The flags node_exporter's own end-to-end test uses, given to both.
    compare_with_node_exporter(&[
        "--collector.arp.device-exclude=^bond",
        "--collector.netclass.ignored-devices=^(lo|ifb.*)$",
        "--collector.netclass.ignore-invalid-speed",
        "--collector.stat.softirq",
        "--collector.cpu.info",
        "--collector.cpu.info.flags-include=^(aes|avx.*)$",
        "--collector.cpu.info.bugs-include=^spectre",
    ]);
}

#[test]
fn matches_node_exporter_with_detailed_netdev_metrics() {
    // /proc/net/dev's columns under the raw names (receive_errors,
    // receive_dropped, transmit_errors, transmit_dropped); 1.5 and 1.12
    // share this flag.
    compare_with_node_exporter(&["--collector.netdev.enable-detailed-metrics"]);
}

#[test]
fn label_ifalias_labels_every_netdev_series_with_the_sysfs_alias() {
    // node_exporter 1.9+ (`--collector.netdev.label-ifalias`): every
    // counter of an interface under /sys/class/net gets
    // ifalias="<class/net/IFACE/ifalias>", empty where none is set.
    let config = config_with(&fixtures(), &["--collector.netdev.label-ifalias"]).unwrap();
    let text = encode::encode(
        &build_registry(&config).gather().into_sorted(),
        encode::Format::Text,
    );
    let series = parse_exposition(&text, |n| n == "node_network_receive_bytes_total").samples;
    assert_eq!(
        series.get(r#"node_network_receive_bytes_total{device="eth0",ifalias="uplink to core"}"#),
        Some(&261_565_587.0),
        "{series:#?}"
    );
    assert!(
        series.contains_key(r#"node_network_receive_bytes_total{device="ifb0",ifalias=""}"#),
        "{series:#?}"
    );
    assert!(series.keys().all(|k| k.contains("ifalias=")), "{series:#?}");
    let plain = config_with(&fixtures(), &[]).unwrap();
    let text = encode::encode(
        &build_registry(&plain).gather().into_sorted(),
        encode::Format::Text,
    );
    let plain = parse_exposition(&text, |n| n == "node_network_receive_bytes_total").samples;
    assert!(!plain.is_empty());
    assert!(
        plain.keys().all(|k| !k.contains("ifalias=")),
        "ifalias without the flag: {plain:#?}"
    );
}

#[test]
fn matches_node_exporter_with_the_collector_filters() {
    // Every filter flag node_exporter 1.5 also has, each set away from its
    // default so that it changes the output.
    compare_with_node_exporter(&[
        "--collector.diskstats.device-exclude=",
        "--collector.diskstats.device-include=^(vda|loop0)$",
        "--collector.arp.device-include=^eth",
        "--collector.powersupply.ignored-supplies=^BAT",
        "--collector.tapestats.ignored-devices=^st1$",
        "--collector.ipvs.backend-labels=remote_address,proto",
        "--collector.netstat.fields=^(Tcp_.*|Udp_InDatagrams)$",
        "--collector.vmstat.fields=^nr_(free|dirty).*",
        "--collector.rapl.enable-zone-label",
        "--no-collector.cpu.guest",
        "--collector.bcache.priorityStats",
    ]);
}

#[test]
fn a_diskstats_include_needs_the_default_exclude_emptied_as_in_node_exporter() {
    // node_exporter 1.5 refuses to start with both ("device-exclude &
    // device-include are mutually exclusive"); so does Outpost.
    let err = config_with(&fixtures(), &["--collector.diskstats.device-include=^vda$"])
        .expect_err("include with the default exclude");
    assert!(err.to_string().contains("mutually exclusive"), "{err}");
    let bin = support::require("prometheus-node-exporter", "prometheus-node-exporter");
    let status = Command::new(bin)
        .args([
            &format!("--web.listen-address=127.0.0.1:{}", support::free_port()),
            "--collector.diskstats.device-include=^vda$",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "node_exporter accepted both");
}

/// Runs the real node_exporter 1.5 and Outpost, both with `extra` flags,
/// over the fixture tree and compares every series of the collectors both
/// have, exactly.
fn compare_with_node_exporter(extra: &[&str]) {
    compare_on(&fixtures(), extra, 200);
}

/// [`compare_with_node_exporter`] over the tree at `f`, which must give
/// node_exporter more than `min_samples` series; also compares
/// `node_scrape_collector_success` per collector.
fn compare_on(f: &Path, extra: &[&str], min_samples: usize) {
    let bin = support::require("prometheus-node-exporter", "prometheus-node-exporter");
    // Collectors whose output depends only on the fixture tree.
    let compared = [
        "arp",
        "bonding",
        "conntrack",
        "cpu",
        "cpufreq",
        "diskstats",
        "dmi",
        "edac",
        "entropy",
        "fibrechannel",
        "filefd",
        "hwmon",
        "infiniband",
        "loadavg",
        "mdadm",
        "meminfo",
        "netclass",
        "netdev",
        "netstat",
        "nvme",
        "os",
        "powersupplyclass",
        "pressure",
        "sockstat",
        "softnet",
        "stat",
        "textfile",
        "thermal_zone",
        "time",
        "udp_queues",
        "vmstat",
        // Added for issue 12 (the rest of node_exporter 1.5's defaults).
        "schedstat",
        "selinux",
        "rapl",
        "xfs",
        "btrfs",
        "zfs",
        "nfs",
        "nfsd",
        "ipvs",
        "bcache",
        "tapestats",
        // Off by default in node_exporter.
        "interrupts",
        "meminfo_numa",
        "processes",
        "drm",
        "mountstats",
    ];
    let port = support::free_port();
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--path.procfs={}", f.join("proc").display()))
        .arg(format!("--path.sysfs={}", f.join("sys").display()))
        .arg(format!("--path.rootfs={}", f.join("rootfs").display()))
        .arg(format!(
            "--collector.textfile.directory={}",
            f.join("textfile").display()
        ))
        .arg(format!(
            "--path.udev.data={}",
            f.join("rootfs/run/udev/data").display()
        ))
        .arg("--collector.disable-defaults")
        // node_exporter 1.5 reads netdev over netlink by default, from the
        // live kernel whatever --path.procfs says; its /proc/net/dev variant
        // reads the fixture tree, as Outpost does with the same flag (see
        // `config_with`). 1.5 has no `--collector.arp.netlink`: its arp
        // always reads /proc/net/arp.
        .arg("--no-collector.netdev.netlink")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for c in compared {
        cmd.arg(format!("--collector.{c}"));
    }
    cmd.args(extra);
    let _ne = support::Proc(cmd.spawn().expect("node_exporter starts"));
    assert!(
        support::wait_for_port(port, Duration::from_secs(10)),
        "node_exporter did not listen"
    );
    let (status, theirs) = support::http_get(&format!("http://127.0.0.1:{port}/metrics")).unwrap();
    assert_eq!(status, 200);

    let flags: Vec<&str> = OFF_BY_DEFAULT.iter().chain(extra).copied().collect();
    let config = config_with(f, &flags).expect("valid flags");
    let ours = encode::encode(
        &build_registry(&config).gather().into_sorted(),
        encode::Format::Text,
    );
    // Whether each collector succeeded: the same on both sides.
    let success = |text: &str| -> BTreeMap<String, f64> {
        let all = parse_exposition(text, |n| n == "node_scrape_collector_success").samples;
        compared
            .iter()
            .map(|c| {
                let series = format!("node_scrape_collector_success{{collector=\"{c}\"}}");
                let v = all.get(&series).copied();
                (c.to_string(), v.unwrap_or_else(|| panic!("no {series}")))
            })
            .collect()
    };
    let (their_success, our_success) = (success(&theirs), success(&ours));
    let differ: Vec<String> = compared
        .iter()
        .filter(|c| their_success[**c] != our_success[**c])
        .map(|c| {
            format!(
                "{c}: ours {}, node_exporter {}",
                our_success[*c], their_success[*c]
            )
        })
        .collect();
    assert!(
        differ.is_empty(),
        "node_scrape_collector_success differs: {differ:#?}"
    );
    // Only node_* families of the compared collectors; not the clock itself.
    let keep = |name: &str| {
        name.starts_with("node_")
            && !AFTER_1_5.iter().any(|p| name.starts_with(p))
            && !name.starts_with("node_scrape_")
            && !name.starts_with("node_exporter_")
            && !name.starts_with("node_filesystem_")
            && !name.starts_with("node_timex_")
            && !from_ethtool(name)
            // node_exporter 1.5 counts TCP sockets over netlink, from the
            // live host whatever --path.procfs says (golden file only).
            && !name.starts_with("node_tcp_")
            && !matches!(
                name,
                "node_time_seconds" | "node_time_zone_offset_seconds" | "node_uname_info"
            )
    };
    let mut want = parse_exposition(&theirs, keep);
    // Series node_exporter 1.5 reads from the wrong column: its NFSv4
    // server operation table skips SETCLIENTID and SETCLIENTID_CONFIRM, so
    // `Verify`, `Write` and `RelLockOwner` get the values of ops 35–37.
    // Outpost follows the kernel's numbering (as later node_exporter
    // releases do); `nfsd.rs`'s unit test pins that mapping.
    for series in KNOWN_1_5_MISREADS {
        let present = want.samples.remove(*series).is_some();
        // Only the main fixture tree has the NFS server's table.
        assert!(
            present || f != fixtures(),
            "{series} not in node_exporter's output"
        );
    }
    let mut got = parse_exposition(&ours, |name| keep(name) && !NEW_SINCE_1_5.contains(&name));
    got.samples = got
        .samples
        .into_iter()
        .map(|(series, v)| (without_labels_new_since_1_5(&series), v))
        .collect();
    assert!(
        want.samples.len() > min_samples,
        "node_exporter gave too little: {}",
        want.samples.len()
    );

    let missing: Vec<_> = want
        .samples
        .keys()
        .filter(|k| !got.samples.contains_key(*k))
        .collect();
    let extra: Vec<_> = got
        .samples
        .keys()
        .filter(|k| !want.samples.contains_key(*k) && !KNOWN_1_5_MISREADS.contains(&k.as_str()))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "series missing: {missing:#?}\nextra: {extra:#?}"
    );
    let differ: Vec<String> = want
        .samples
        .iter()
        .filter_map(|(series, w)| {
            let g = got.samples[series];
            let same = (g.is_nan() && w.is_nan()) || g == *w;
            // Exactly: both sides print the same float64 from the same tree.
            (!same).then(|| format!("{series}: ours {g}, node_exporter {w}"))
        })
        .collect();
    assert!(differ.is_empty(), "values differ: {differ:#?}");
    let meta_diff: Vec<_> = want
        .meta
        .iter()
        .filter(|(k, v)| got.meta.get(*k) != Some(v))
        .map(|(k, v)| format!("{k}: node_exporter {v:?}, ours {:?}", got.meta.get(k)))
        .collect();
    assert!(meta_diff.is_empty(), "HELP/TYPE differ: {meta_diff:#?}");
}

/// Families node_exporter added after 1.5 (checked by the golden file,
/// written from 1.12's documented behaviour, not against 1.5).
const NEW_SINCE_1_5: &[&str] = &[
    "node_cpu_scaling_governor",
    "node_netstat_TcpExt_TCPOFOQueue",
    "node_netstat_TcpExt_TCPRcvQDrop",
    "node_pressure_irq_stalled_seconds_total",
    "node_softnet_backlog_len",
    "node_softnet_cpu_collision_total",
    "node_softnet_flow_limit_count_total",
    "node_softnet_received_rps_total",
    "node_mountstats_nfs_mountpoint_info",
    "node_mountstats_nfs_operations_errors_total",
];

/// Labels node_exporter added after 1.5 to families 1.5 has: family, label.
const LABELS_NEW_SINCE_1_5: &[(&str, &str)] = &[
    ("node_disk_info", "rotational"),
    ("node_network_info", "adminstate"),
    ("node_nvme_info", "cntlid"),
    // 1.12 numbers an NFS mount's transports (several with nconnect/trunking).
    ("node_mountstats_nfs_transport_bind_total", "transport"),
    ("node_mountstats_nfs_transport_connect_total", "transport"),
    (
        "node_mountstats_nfs_transport_idle_time_seconds",
        "transport",
    ),
    ("node_mountstats_nfs_transport_sends_total", "transport"),
    ("node_mountstats_nfs_transport_receives_total", "transport"),
    (
        "node_mountstats_nfs_transport_bad_transaction_ids_total",
        "transport",
    ),
    (
        "node_mountstats_nfs_transport_backlog_queue_total",
        "transport",
    ),
    (
        "node_mountstats_nfs_transport_maximum_rpc_slots",
        "transport",
    ),
    (
        "node_mountstats_nfs_transport_sending_queue_total",
        "transport",
    ),
    (
        "node_mountstats_nfs_transport_pending_queue_total",
        "transport",
    ),
];

/// `series` as node_exporter 1.5 would name it: without 1.12's new labels.
fn without_labels_new_since_1_5(series: &str) -> String {
    let name = series.split('{').next().unwrap();
    let mut out = series.to_owned();
    for (family, label) in LABELS_NEW_SINCE_1_5 {
        if name != *family {
            continue;
        }
        let at = out
            .find(&format!("{label}=\""))
            .unwrap_or_else(|| panic!("{series}: no {label} label"));
        let end = at + label.len() + 2 + out[at + label.len() + 2..].find('"').unwrap() + 1;
        // Take the separating comma with it.
        let (start, end) = if out[end..].starts_with(',') {
            (at, end + 1)
        } else {
            (at - 1, end)
        };
        out.replace_range(start..end, "");
    }
    out
}

/// Copies a directory tree of plain files.
pub(crate) fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            // sysfs is made of links (class/hwmon/hwmon0 → ../../devices/…).
            let link = std::fs::read_link(entry.path()).unwrap();
            std::os::unix::fs::symlink(link, &target).unwrap();
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn a_malformed_file_fails_only_its_collector() {
    let cases = [
        ("proc/net/arp", "arp"),
        ("proc/net/stat/nf_conntrack", "conntrack"),
        (
            "sys/devices/system/cpu/cpufreq/policy0/scaling_cur_freq",
            "cpufreq",
        ),
        ("proc/diskstats", "diskstats"),
        ("sys/devices/system/edac/mc/mc0/ce_count", "edac"),
        ("proc/sys/kernel/random/entropy_avail", "entropy"),
        (
            "sys/class/fc_host/host1/statistics/rx_frames",
            "fibrechannel",
        ),
        ("proc/sys/fs/file-nr", "filefd"),
        ("proc/mdstat", "mdadm"),
        ("proc/meminfo", "meminfo"),
        ("proc/net/dev", "netdev"),
        ("proc/net/netstat", "netstat"),
        ("rootfs/etc/os-release", "os"),
        ("sys/class/power_supply/BAT0/capacity", "powersupplyclass"),
        ("proc/pressure/io", "pressure"),
        ("proc/net/sockstat", "sockstat"),
        ("proc/net/softnet_stat", "softnet"),
        ("proc/net/udp", "udp_queues"),
        ("sys/class/thermal/thermal_zone0/temp", "thermal_zone"),
        ("proc/vmstat", "vmstat"),
        // Added for issue 12.
        ("proc/schedstat", "schedstat"),
        ("sys/class/watchdog/watchdog0/timeout", "watchdog"),
        ("proc/sys/kernel/hung_task_detect_count", "kernel_hung"),
        ("sys/class/powercap/intel-rapl:0/energy_uj", "rapl"),
        ("sys/fs/xfs/sda1/stats/stats", "xfs"),
        (
            "sys/fs/btrfs/4f2a9c61-7d3e-4b8a-9e02-5c1d7a3b8e90/allocation/data/raid1/used_bytes",
            "btrfs",
        ),
        ("proc/spl/kstat/zfs/arcstats", "zfs"),
        ("proc/spl/kstat/zfs/tank/io", "zfs"),
        ("proc/net/rpc/nfs", "nfs"),
        ("proc/net/rpc/nfsd", "nfsd"),
        ("proc/net/ip_vs", "ipvs"),
        (
            "sys/fs/bcache/1c7a3e2f-9d4b-4f1e-8a2c-6b5d0e9f3a71/bdev0/writeback_rate_debug",
            "bcache",
        ),
        ("sys/class/scsi_tape/st0/stats/io_ns", "tapestats"),
        ("sys/block/dm-0/size", "dmmultipath"),
        // Off by default in node_exporter (issue 12).
        ("proc/net/tcp6", "tcpstat"),
        ("proc/interrupts", "interrupts"),
        ("proc/softirqs", "softirqs"),
        ("sys/devices/system/node/node1/meminfo", "meminfo_numa"),
        ("sys/devices/system/node/node0/numastat", "meminfo_numa"),
        ("proc/sys/kernel/pid_max", "processes"),
        (
            "sys/devices/system/cpu/vulnerabilities/mds",
            "cpu_vulnerabilities",
        ),
        (
            "sys/fs/bcachefs/7b2e4c1a-3f5d-4e8a-9c01-2d6f8a4b3e57/dev-0/nbuckets",
            "bcachefs",
        ),
    ];
    for (file, broken) in cases {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&fixtures(), dir.path());
        let path = dir.path().join(file);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("malformed line\n");
        std::fs::write(&path, text).unwrap();

        let families = build_registry(&config_for(dir.path()))
            .gather()
            .into_sorted();
        let success = families
            .iter()
            .find(|f| f.name == "node_scrape_collector_success")
            .unwrap();
        for s in success.samples() {
            let collector = s.label("collector").unwrap();
            let want = if collector == broken { 0.0 } else { 1.0 };
            assert_eq!(s.value, want, "{collector} with a malformed {file}");
        }
    }
}

#[test]
fn a_collector_whose_files_are_absent_exports_nothing() {
    // As node_exporter: no series, success 0 (its "no data" outcome).
    let absent = [
        ("proc/mdstat", "mdadm", "node_md_"),
        ("proc/pressure", "pressure", "node_pressure_"),
        ("sys/class/hwmon", "hwmon", "node_hwmon_"),
        ("sys/class/net/bonding_masters", "bonding", "node_bonding_"),
        (
            "sys/class/power_supply",
            "powersupplyclass",
            "node_power_supply_",
        ),
        ("sys/fs/bcachefs", "bcachefs", "node_bcachefs_"),
        ("proc/1200/mountstats", "mountstats", "node_mountstats_"),
    ];
    for (file, collector, prefix) in absent {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&fixtures(), dir.path());
        let path = dir.path().join(file);
        if path.is_dir() {
            std::fs::remove_dir_all(path).unwrap();
        } else {
            std::fs::remove_file(path).unwrap();
        }
        let families = build_registry(&config_for(dir.path()))
            .gather()
            .into_sorted();
        let leaked: Vec<_> = families
            .iter()
            .filter(|f| f.name.starts_with(prefix))
            .map(|f| f.name.clone())
            .collect();
        assert!(leaked.is_empty(), "{collector} without {file}: {leaked:?}");
        let success = families
            .iter()
            .find(|f| f.name == "node_scrape_collector_success")
            .unwrap();
        for s in success.samples() {
            let c = s.label("collector").unwrap();
            let want = if c == collector { 0.0 } else { 1.0 };
            assert_eq!(s.value, want, "{c} with {file} absent");
        }
    }
}

#[test]
fn pressure_without_irq_accounting_exports_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixtures(), dir.path());
    std::fs::remove_file(dir.path().join("proc/pressure/irq")).unwrap();
    let m = build_registry(&config_for(dir.path())).gather();
    assert!(m.get("node_pressure_irq_stalled_seconds_total").is_none());
    assert!(m.get("node_pressure_io_stalled_seconds_total").is_some());
    let success = m.get("node_scrape_collector_success").unwrap();
    let pressure = success
        .samples()
        .find(|s| s.label("collector") == Some("pressure"))
        .unwrap();
    assert_eq!(pressure.value, 1.0);
}

/// The devices a scrape with `flags` reports in `family`.
fn devices(flags: &[&str], family: &str) -> Vec<String> {
    let config = config_with(&fixtures(), flags).unwrap();
    let families = build_registry(&config).gather().into_sorted();
    let fam = families.iter().find(|f| f.name == family).unwrap();
    fam.samples()
        .map(|s| s.label("device").unwrap().to_owned())
        .collect()
}

#[test]
fn device_exclude_flags_reach_the_collectors() {
    let net = "node_network_receive_bytes_total";
    assert!(
        !devices(&[], net).contains(&"lo".to_owned()),
        "lo excluded by default"
    );
    assert!(devices(&["--collector.netdev.device-exclude="], net).contains(&"lo".to_owned()));
    assert_eq!(
        devices(&["--collector.netdev.device-exclude=^(lo|ifb.*)$"], net),
        ["eth0"]
    );

    let disk = "node_disk_reads_completed_total";
    assert_eq!(devices(&[], disk), ["vda", "zram0"]);
    let all = devices(&["--collector.diskstats.device-exclude=^zram"], disk);
    assert!(all.contains(&"loop0".to_owned()) && !all.contains(&"zram0".to_owned()));

    assert_eq!(
        devices(&["--collector.netdev.device-include=^(eth|bond)"], net),
        ["eth0"]
    );
    let arp = "node_arp_entries";
    assert_eq!(devices(&[], arp), ["bond0", "eth0"]);
    assert_eq!(
        devices(&["--collector.arp.device-exclude=^bond"], arp),
        ["eth0"]
    );
    let up = "node_network_up";
    assert!(devices(&[], up).contains(&"lo".to_owned()));
    assert!(!devices(&["--collector.netclass.ignored-devices=^lo$"], up).contains(&"lo".to_owned()));

    for flag in [
        "--collector.netdev.device-include=(",
        "--collector.arp.device-exclude=(",
        "--collector.netclass.ignored-devices=(",
        "--collector.cpu.info.flags-include=(",
    ] {
        let bad = config_with(&fixtures(), &[flag]);
        assert!(
            matches!(bad, Err(ref e) if e.is_usage()),
            "{flag}: {:?}",
            bad.err()
        );
    }
    let bad = config_with(&fixtures(), &["--collector.diskstats.device-exclude=("]);
    assert!(matches!(bad, Err(ref e) if e.is_usage()), "{:?}", bad.err());
}

#[test]
fn off_by_default_collectors_need_their_flag() {
    let plain = config_with(&fixtures(), &[]).unwrap();
    let on = config_for(&fixtures());
    for flag in OFF_BY_DEFAULT {
        let name = flag.trim_start_matches("--collector.");
        let has = |c: &Config| c.collectors.iter().any(|n| n.as_str() == name);
        assert!(!has(&plain), "{name} is on without its flag");
        assert!(has(&on), "{flag} does not turn {name} on");
    }
}
