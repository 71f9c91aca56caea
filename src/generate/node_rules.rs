//! Node-mixin's alerts (node_exporter's `docs/node-mixin`, same names,
//! severities, windows and guards) over the `agent` label, plus Outpost's
//! extras: CPU steal, OOM kills, reboot required, hwmon temperature near
//! critical, EDAC memory errors. Each rule carries a hand-written promtool
//! scenario ([`Script`]) that shows it firing and not firing, edge cases
//! included (read-only and failed filesystems ignored, counter resets, steal
//! clamped, an override agent next to a default one).
//!
//! Decisions:
//! - Percentages are 0–100 in values and descriptions (node-mixin mixes
//!   ratios and percentages); network errors alert on the share of packets.
//! - `NodeFilesystemSpaceFillingUp` (warning) compares the predicted time to
//!   full (`predict_linear(avail[6h], 0) / -deriv(avail[6h])`, the same fit
//!   as node-mixin's `predict_linear(avail[6h], 24h) < 0`) with the agent's
//!   `disk_fill_within`, so the horizon is per agent; the critical rule keeps
//!   node-mixin's fixed 4 hours.
//! - "Reboot required" reads `node_reboot_required`, the series the
//!   textfile scripts of node-exporter-textfile-collector-scripts (apt_info)
//!   write; hwmon, EDAC, mdadm, systemd and bonding need those collectors on.

use std::collections::BTreeMap;
use std::time::Duration;

use super::prometheus::AGENTS_JOB;
use super::recording::{
    CPU_STEAL, DISK_DEVICES, DISK_IO_WEIGHTED, LOAD_PER_CPU, MAJOR_FAULTS, MEMORY_UTILISATION,
};
use super::rules::{
    against, annotation, label, labels, labels_of, override_script, selector, series_of,
    threshold_input, AlertSpec, Annotation, Firing, Part, Probe, Script, FS_TYPES_IGNORED,
    OVERRIDE_AGENT, TEST_AGENT, VALUE,
};
use super::settings::{number, Settings};
use crate::alerts::{self, Severity, Threshold};

const M: Duration = Duration::from_secs(60);

fn m(n: u32) -> Duration {
    M * n
}

fn j() -> String {
    format!("job=\"{AGENTS_JOB}\"")
}

fn fs_sel() -> String {
    format!("{},fstype!~\"{FS_TYPES_IGNORED}\",mountpoint!=\"\"", j())
}

fn spec(
    name: &'static str,
    severity: Severity,
    expr: String,
    for_: Duration,
    summary: Annotation,
    description: Annotation,
) -> AlertSpec {
    AlertSpec {
        name,
        expr,
        for_,
        severity,
        extra_labels: BTreeMap::new(),
        summary,
        description,
        scenario: None,
        scripts: Vec::new(),
    }
}

fn with(mut a: AlertSpec, script: Script) -> AlertSpec {
    a.scripts.push(script);
    a
}

fn fire(agent: &str, severity: Severity, extra: &[(&str, &str)], value: f64) -> Firing {
    Firing {
        labels: labels_of(agent, severity, extra),
        value,
    }
}

/// An alert on a value aggregated to `agent` (a recording rule).
fn fire_agent(agent: &str, severity: Severity, extra: &[(&str, &str)], value: f64) -> Firing {
    let mut l = labels(&[("agent", agent), ("severity", severity.as_str())]);
    l.extend(labels(extra));
    Firing { labels: l, value }
}

fn on(agent: &str, metric: &str, extra: &[(&str, &str)]) -> String {
    series_of(agent, metric, extra)
}

const SIZE: f64 = 100_000_000_000.0;

fn mount(dev: &'static str, mp: &'static str) -> [(&'static str, &'static str); 3] {
    [("device", dev), ("fstype", "ext4"), ("mountpoint", mp)]
}

fn fs_where() -> Annotation {
    annotation!(
        "Filesystem ",
        label("mountpoint"),
        " (",
        label("device"),
        ") on ",
        label("agent"),
        " has ",
        VALUE,
        "% of its space available",
    )
}

fn filesystem(s: &Settings) -> Vec<AlertSpec> {
    let fs = fs_sel();
    let avail = format!("node_filesystem_avail_bytes{{{fs}}}");
    let ratio = format!("100 * {avail} / node_filesystem_size_bytes{{{fs}}}");
    let guards = format!(
        "and node_filesystem_readonly{{{fs}}} == 0 unless node_filesystem_device_error{{{fs}}} == 1"
    );
    let until_full = format!("predict_linear({avail}[6h], 0) / (-deriv({avail}[6h]) > 0)");
    let warn = spec(
        alerts::FS_SPACE_FILLING_UP,
        Severity::Warning,
        format!(
            "({ratio} < 40 and {} {guards})",
            against(&until_full, "<", Threshold::DiskFill, s)
        ),
        m(60),
        annotation!(
            "Filesystem ",
            label("mountpoint"),
            " on ",
            label("agent"),
            " is filling up"
        ),
        {
            let mut a = fs_where();
            a.0.push(Part::from(format!(
                " and is predicted to be full within {} (default {}).",
                Threshold::DiskFill.key(),
                super::settings::prom_duration(s.disk_fill_within)
            )));
            a
        },
    );
    let crit = spec(
        alerts::FS_SPACE_FILLING_UP,
        Severity::Critical,
        format!("({ratio} < 20 and predict_linear({avail}[6h], 4 * 3600) < 0 {guards})"),
        m(60),
        annotation!(
            "Filesystem ",
            label("mountpoint"),
            " on ",
            label("agent"),
            " fills up fast"
        ),
        {
            let mut a = fs_where();
            a.0.push(Part::from(" and is predicted to be full within 4 hours."));
            a
        },
    );
    // One agent at the default horizon (24h), one with 6h; five mounts.
    let mut script = Script::new(
        "filling mounts fire; slow, read-only and failed ones do not; the override agent's shorter horizon",
        M,
    );
    let mounts: [(&str, &str, f64, f64, f64, f64); 6] = [
        // device, mountpoint, avail at 0, drop per minute, readonly, device_error
        ("/dev/sdb1", "/data", 30e9, 5e7, 0.0, 0.0),
        ("/dev/sdc1", "/var", 15e9, 1e8, 0.0, 0.0),
        ("/dev/sdd1", "/slow", 30e9, 5e6, 0.0, 0.0),
        ("/dev/sde1", "/ro", 15e9, 1e8, 1.0, 0.0),
        ("/dev/sdf1", "/big", 50e9, 1e8, 0.0, 0.0),
        ("/dev/sdg1", "/err", 15e9, 1e8, 0.0, 1.0),
    ];
    for (dev, mp, a0, drop, ro, err) in mounts {
        let l = mount(dev, mp);
        script = script
            .series(
                on(TEST_AGENT, "node_filesystem_avail_bytes", &l),
                format!("{}-{}x100", number(a0), number(drop)),
            )
            .series(
                on(TEST_AGENT, "node_filesystem_size_bytes", &l),
                format!("{}x100", number(SIZE)),
            )
            .series(
                on(TEST_AGENT, "node_filesystem_readonly", &l),
                format!("{}x100", number(ro)),
            )
            .series(
                on(TEST_AGENT, "node_filesystem_device_error", &l),
                format!("{}x100", number(err)),
            );
    }
    let data = mount("/dev/sdb1", "/data");
    script = script
        .series(
            on(OVERRIDE_AGENT, "node_filesystem_avail_bytes", &data),
            "30000000000-50000000x100",
        )
        .series(
            on(OVERRIDE_AGENT, "node_filesystem_size_bytes", &data),
            format!("{}x100", number(SIZE)),
        )
        .series(
            on(OVERRIDE_AGENT, "node_filesystem_readonly", &data),
            "0x100",
        )
        .series(
            threshold_input(OVERRIDE_AGENT, Threshold::DiskFill),
            "21600x100",
        );
    // At 76m /data has 26.2 % left (full in 8.7 h), /var 7.4 % (74 min).
    let var = mount("/dev/sdc1", "/var");
    script = script.at(m(55), vec![]).at(
        m(76),
        vec![
            fire(TEST_AGENT, Severity::Warning, &data, 26.2),
            fire(TEST_AGENT, Severity::Warning, &var, 7.4),
            fire(TEST_AGENT, Severity::Critical, &var, 7.4),
        ],
    );
    vec![with(warn, script), crit]
}

fn out_of_space() -> Vec<AlertSpec> {
    let fs = fs_sel();
    let ratio =
        format!("100 * node_filesystem_avail_bytes{{{fs}}} / node_filesystem_size_bytes{{{fs}}}");
    let rule = |sev, limit: u32| {
        spec(
            alerts::FS_ALMOST_OUT_OF_SPACE,
            sev,
            format!("({ratio} < {limit} and node_filesystem_readonly{{{fs}}} == 0)"),
            m(30),
            annotation!(
                format!("Filesystem has less than {limit}% space left on "),
                label("agent")
            ),
            {
                let mut a = fs_where();
                a.0.push(Part::from("."));
                a
            },
        )
    };
    let root = mount("/dev/sda1", "/");
    let var = mount("/dev/sdc1", "/var");
    let ro = mount("/dev/sr0", "/cdrom");
    let tmp = [
        ("device", "tmpfs"),
        ("fstype", "tmpfs"),
        ("mountpoint", "/run"),
    ];
    let mut script = Script::new("4 % warns, 2 % is critical; read-only and tmpfs ignored", M);
    for (l, avail, readonly) in [(&root, 4e9, 0.0), (&var, 2e9, 0.0), (&ro, 0.0, 1.0)] {
        script = script
            .series(
                on(TEST_AGENT, "node_filesystem_avail_bytes", l),
                format!("{}x40", number(avail)),
            )
            .series(
                on(TEST_AGENT, "node_filesystem_size_bytes", l),
                format!("{}x40", number(SIZE)),
            )
            .series(
                on(TEST_AGENT, "node_filesystem_readonly", l),
                format!("{}x40", number(readonly)),
            );
    }
    script = script
        .series(on(TEST_AGENT, "node_filesystem_avail_bytes", &tmp), "0x40")
        .series(
            on(TEST_AGENT, "node_filesystem_size_bytes", &tmp),
            "1000000x40",
        )
        .series(on(TEST_AGENT, "node_filesystem_readonly", &tmp), "0x40")
        .at(m(25), vec![])
        .at(
            m(35),
            vec![
                fire(TEST_AGENT, Severity::Warning, &root, 4.0),
                fire(TEST_AGENT, Severity::Warning, &var, 2.0),
                fire(TEST_AGENT, Severity::Critical, &var, 2.0),
            ],
        );
    vec![
        with(rule(Severity::Warning, 5), script),
        rule(Severity::Critical, 3),
    ]
}

fn files() -> Vec<AlertSpec> {
    let fs = fs_sel();
    let free = format!("node_filesystem_files_free{{{fs}}}");
    let ratio = format!("100 * {free} / node_filesystem_files{{{fs}}}");
    let ro = format!("node_filesystem_readonly{{{fs}}} == 0");
    let inodes = |what: &str| {
        annotation!(
            "Filesystem ",
            label("mountpoint"),
            " (",
            label("device"),
            ") on ",
            label("agent"),
            " has ",
            VALUE,
            format!("% of its inodes free{what}"),
        )
    };
    let filling = |sev, limit: u32, hours: u32, what: &str| {
        spec(
            alerts::FS_FILES_FILLING_UP,
            sev,
            format!(
                "({ratio} < {limit} and predict_linear({free}[6h], {hours} * 3600) < 0 and {ro})"
            ),
            m(60),
            annotation!(
                format!("Filesystem is predicted to run out of inodes within {hours} hours on "),
                label("agent")
            ),
            inodes(what),
        )
    };
    let almost = |sev, limit: u32| {
        spec(
            alerts::FS_ALMOST_OUT_OF_FILES,
            sev,
            format!("({ratio} < {limit} and {ro})"),
            m(60),
            annotation!(
                format!("Filesystem has less than {limit}% inodes left on "),
                label("agent")
            ),
            inodes("."),
        )
    };
    let data = mount("/dev/sdb1", "/data");
    let var = mount("/dev/sdc1", "/var");
    let ro_fs = mount("/dev/sde1", "/ro");
    let mut filling_script = Script::new(
        "inodes running out within a day warn, within 4 hours are critical; read-only ignored",
        M,
    );
    for (l, free, readonly) in [
        (&data, "300000-500x100", 0.0),
        (&var, "150000-1000x100", 0.0),
        (&ro_fs, "150000-1000x100", 1.0),
    ] {
        filling_script = filling_script
            .series(on(TEST_AGENT, "node_filesystem_files_free", l), free)
            .series(on(TEST_AGENT, "node_filesystem_files", l), "1000000x100")
            .series(
                on(TEST_AGENT, "node_filesystem_readonly", l),
                format!("{}x100", number(readonly)),
            );
    }
    // At 76m /data has 26.2 % of its inodes free, /var 7.4 %.
    filling_script = filling_script.at(m(55), vec![]).at(
        m(76),
        vec![
            fire(TEST_AGENT, Severity::Warning, &data, 26.2),
            fire(TEST_AGENT, Severity::Warning, &var, 7.4),
            fire(TEST_AGENT, Severity::Critical, &var, 7.4),
        ],
    );
    let root = mount("/dev/sda1", "/");
    let almost_script = Script::new("4 % inodes left warns, 2 % is critical", M)
        .series(
            on(TEST_AGENT, "node_filesystem_files_free", &root),
            "40000x80",
        )
        .series(on(TEST_AGENT, "node_filesystem_files", &root), "1000000x80")
        .series(on(TEST_AGENT, "node_filesystem_readonly", &root), "0x80")
        .series(
            on(TEST_AGENT, "node_filesystem_files_free", &var),
            "20000x80",
        )
        .series(on(TEST_AGENT, "node_filesystem_files", &var), "1000000x80")
        .series(on(TEST_AGENT, "node_filesystem_readonly", &var), "0x80")
        .at(m(55), vec![])
        .at(
            m(65),
            vec![
                fire(TEST_AGENT, Severity::Warning, &root, 4.0),
                fire(TEST_AGENT, Severity::Warning, &var, 2.0),
                fire(TEST_AGENT, Severity::Critical, &var, 2.0),
            ],
        );
    vec![
        with(
            filling(Severity::Warning, 40, 24, " and falling."),
            filling_script,
        ),
        filling(Severity::Critical, 20, 4, " and falling fast."),
        with(almost(Severity::Warning, 5), almost_script),
        almost(Severity::Critical, 3),
    ]
}

fn network_errors(name: &'static str, dir: &str) -> AlertSpec {
    let j = j();
    let a = spec(
        name,
        Severity::Warning,
        format!(
            "100 * rate(node_network_{dir}_errs_total{{{j}}}[2m]) / rate(node_network_{dir}_packets_total{{{j}}}[2m]) > 1"
        ),
        m(60),
        annotation!(format!("Network interface {dir} errors on "), label("agent")),
        annotation!(
            "Interface ",
            label("device"),
            " on ",
            label("agent"),
            format!(" fails to {dir} "),
            VALUE,
            "% of its packets (over 1% for an hour): check the cable, the NIC and the switch port.",
        ),
    );
    let errs = format!("node_network_{dir}_errs_total");
    let packets = format!("node_network_{dir}_packets_total");
    let dev = |d: &'static str| [("device", d)];
    let script = Script::new(
        "2 % errors fire; 0.5 % does not, across a counter reset either",
        M,
    )
    .series(on(TEST_AGENT, &errs, &dev("eth0")), "0+120x80")
    .series(on(TEST_AGENT, &packets, &dev("eth0")), "0+6000x80")
    .series(on(TEST_AGENT, &errs, &dev("eth1")), "0+30x80")
    .series(on(TEST_AGENT, &packets, &dev("eth1")), "0+6000x80")
    .series(on(TEST_AGENT, &errs, &dev("eth2")), "50000+30x30 30+30x49")
    .series(
        on(TEST_AGENT, &packets, &dev("eth2")),
        "9000000+6000x30 6000+6000x49",
    )
    .at(m(55), vec![])
    .at(
        m(65),
        vec![fire(TEST_AGENT, Severity::Warning, &dev("eth0"), 2.0)],
    );
    with(a, script)
}

/// A gauge alert whose series is `bad` from the start: quiet before `for`,
/// firing after.
fn gauge(
    a: AlertSpec,
    series: Vec<(String, String)>,
    firing: Vec<Firing>,
    what: &str,
) -> AlertSpec {
    let f = a.for_;
    let before = if f.is_zero() { Duration::ZERO } else { f - M };
    let mut script = Script::new(what, M);
    for (sel, v) in series {
        script = script.series(sel, v);
    }
    let after = if f.is_zero() { m(7) } else { f + m(5) };
    let script = script.at(before, vec![]).at(after, firing);
    with(a, script)
}

fn simple(s: &Settings) -> Vec<AlertSpec> {
    let j = j();
    let w = Severity::Warning;
    let mut out = Vec::new();

    out.push(gauge(
        spec(
            alerts::CONNTRACK_HIGH,
            w,
            format!("100 * node_nf_conntrack_entries{{{j}}} / node_nf_conntrack_entries_limit{{{j}}} > 75"),
            Duration::ZERO,
            annotation!("Conntrack table nearly full on ", label("agent")),
            annotation!(VALUE, "% of the conntrack table is in use on ", label("agent"), "; new connections are dropped when it is full."),
        ),
        vec![
            (on(TEST_AGENT, "node_nf_conntrack_entries", &[]), "50000x3 80000x10".into()),
            (on(TEST_AGENT, "node_nf_conntrack_entries_limit", &[]), "100000x13".into()),
        ],
        vec![fire(TEST_AGENT, w, &[], 80.0)],
        "80 % of the table fires, 50 % does not",
    ));
    out.push(gauge(
        spec(
            alerts::TEXTFILE_SCRAPE_ERROR,
            w,
            format!("node_textfile_scrape_error{{{j}}} == 1"),
            Duration::ZERO,
            annotation!("Textfile collector failed on ", label("agent")),
            annotation!(
                "The textfile collector on ",
                label("agent"),
                " could not read a .prom file: its metrics are missing."
            ),
        ),
        vec![(
            on(TEST_AGENT, "node_textfile_scrape_error", &[]),
            "0x3 1x10".into(),
        )],
        vec![fire(TEST_AGENT, w, &[], 1.0)],
        "a scrape error fires",
    ));
    // Clock skew: drifting away fires; a large offset being corrected does not.
    let skew = spec(
        alerts::CLOCK_SKEW,
        w,
        format!(
            "(node_timex_offset_seconds{{{j}}} > 0.05 and deriv(node_timex_offset_seconds{{{j}}}[5m]) >= 0) or (node_timex_offset_seconds{{{j}}} < -0.05 and deriv(node_timex_offset_seconds{{{j}}}[5m]) <= 0)"
        ),
        m(10),
        annotation!("Clock skew on ", label("agent")),
        annotation!("The clock of ", label("agent"), " is more than 0.05 s off and not converging. Check NTP (chrony, systemd-timesyncd)."),
    );
    out.push(with(
        skew,
        Script::new("a drifting clock fires; one converging does not", M)
            .series(
                on(TEST_AGENT, "node_timex_offset_seconds", &[]),
                "0.1+0.001x30",
            )
            .series(
                on(OVERRIDE_AGENT, "node_timex_offset_seconds", &[]),
                "-0.2+0.001x30",
            )
            .at(m(8), vec![])
            .at(m(15), vec![fire(TEST_AGENT, w, &[], 0.115)]),
    ));
    out.push(with(
        spec(
            alerts::CLOCK_NOT_SYNCHRONISING,
            w,
            format!("min_over_time(node_timex_sync_status{{{j}}}[5m]) == 0 and node_timex_maxerror_seconds{{{j}}} >= 16"),
            m(10),
            annotation!("Clock not synchronising on ", label("agent")),
            annotation!("The clock of ", label("agent"), " has not been synchronised for a while (maximum error 16 s or more). Check NTP."),
        ),
        Script::new("unsynchronised with a large error fires; a small error does not", M)
            .series(on(TEST_AGENT, "node_timex_sync_status", &[]), "0x20")
            .series(on(TEST_AGENT, "node_timex_maxerror_seconds", &[]), "16.5x20")
            .series(on(OVERRIDE_AGENT, "node_timex_sync_status", &[]), "0x20")
            .series(on(OVERRIDE_AGENT, "node_timex_maxerror_seconds", &[]), "0.5x20")
            .at(m(8), vec![])
            .at(m(12), vec![fire(TEST_AGENT, w, &[], 0.0)]),
    ));
    // RAID.
    let md = |d: &'static str| [("device", d)];
    out.push(with(
        spec(
            alerts::RAID_DEGRADED,
            Severity::Critical,
            format!(
                "node_md_disks_required{{{j},device=~\"{DISK_DEVICES}\"}} - ignoring (state) (node_md_disks{{{j},state=\"active\",device=~\"{DISK_DEVICES}\"}}) > 0"
            ),
            m(15),
            annotation!("RAID array ", label("device"), " on ", label("agent"), " is degraded"),
            annotation!(
                "RAID array ",
                label("device"),
                " on ",
                label("agent"),
                " runs with fewer active disks than it needs and no spare to rebuild on. Replace the missing disk.",
            ),
        ),
        Script::new("an array missing a disk fires; a complete one does not", M)
            .series(on(TEST_AGENT, "node_md_disks_required", &md("md0")), "2x30")
            .series(on(TEST_AGENT, "node_md_disks", &[("device", "md0"), ("state", "active")]), "1x30")
            .series(on(TEST_AGENT, "node_md_disks_required", &md("md1")), "2x30")
            .series(on(TEST_AGENT, "node_md_disks", &[("device", "md1"), ("state", "active")]), "2x30")
            .at(m(10), vec![])
            .at(m(20), vec![fire(TEST_AGENT, Severity::Critical, &md("md0"), 1.0)]),
    ));
    out.push(with(
        spec(
            alerts::RAID_DISK_FAILURE,
            w,
            format!("node_md_disks{{{j},state=\"failed\",device=~\"{DISK_DEVICES}\"}} > 0"),
            Duration::ZERO,
            annotation!(
                "Failed disk in RAID array ",
                label("device"),
                " on ",
                label("agent")
            ),
            annotation!(
                VALUE,
                " disk(s) of RAID array ",
                label("device"),
                " on ",
                label("agent"),
                " failed: the array needs attention and possibly a disk swap."
            ),
        ),
        Script::new("a failed member fires", M)
            .series(
                on(
                    TEST_AGENT,
                    "node_md_disks",
                    &[("device", "md0"), ("state", "failed")],
                ),
                "0 1x10",
            )
            .series(
                on(
                    TEST_AGENT,
                    "node_md_disks",
                    &[("device", "md1"), ("state", "failed")],
                ),
                "0x10",
            )
            .at(Duration::ZERO, vec![])
            .at(
                m(2),
                vec![fire(
                    TEST_AGENT,
                    w,
                    &[("device", "md0"), ("state", "failed")],
                    1.0,
                )],
            ),
    ));
    // File descriptors: 80 % warns, 95 % is critical too.
    let fd = |sev, limit: u32| {
        spec(
            alerts::FD_LIMIT,
            sev,
            format!("node_filefd_allocated{{{j}}} * 100 / node_filefd_maximum{{{j}}} > {limit}"),
            m(15),
            annotation!("File descriptors running out on ", label("agent")),
            annotation!(
                VALUE,
                format!("% of the kernel's file descriptors are allocated on "),
                label("agent"),
                format!(" (over {limit}%).")
            ),
        )
    };
    out.push(with(
        fd(w, 70),
        Script::new("80 % warns; 95 % is critical as well", M)
            .series(on(TEST_AGENT, "node_filefd_allocated", &[]), "80000x30")
            .series(on(TEST_AGENT, "node_filefd_maximum", &[]), "100000x30")
            .series(on(OVERRIDE_AGENT, "node_filefd_allocated", &[]), "95000x30")
            .series(on(OVERRIDE_AGENT, "node_filefd_maximum", &[]), "100000x30")
            .at(m(10), vec![])
            .at(
                m(20),
                vec![
                    fire(TEST_AGENT, w, &[], 80.0),
                    fire(OVERRIDE_AGENT, w, &[], 95.0),
                    fire(OVERRIDE_AGENT, Severity::Critical, &[], 95.0),
                ],
            ),
    ));
    out.push(fd(Severity::Critical, 90));
    // CPU, load, memory, disk IO.
    out.push(gauge(
        spec(
            alerts::CPU_HIGH_USAGE,
            Severity::Info,
            format!("sum without (mode) (avg without (cpu) (rate(node_cpu_seconds_total{{{j},mode!~\"idle|iowait\"}}[2m]))) * 100 > 90"),
            m(15),
            annotation!("CPU busy on ", label("agent"), ": ", VALUE, "%"),
            annotation!("CPU on ", label("agent"), " has been ", VALUE, "% busy (over 90%) for 15 minutes."),
        ),
        vec![
            (on(TEST_AGENT, "node_cpu_seconds_total", &[("cpu", "0"), ("mode", "user")]), "0+57x30".into()),
            (on(TEST_AGENT, "node_cpu_seconds_total", &[("cpu", "0"), ("mode", "idle")]), "0+3x30".into()),
        ],
        vec![fire(TEST_AGENT, Severity::Info, &[], 95.0)],
        "95 % busy fires",
    ));
    out.push(gauge(
        spec(
            alerts::SYSTEM_SATURATION,
            w,
            format!("{LOAD_PER_CPU} > 2"),
            m(15),
            annotation!(
                "System saturated on ",
                label("agent"),
                ": load ",
                VALUE,
                " per CPU"
            ),
            annotation!(
                "The 1-minute load on ",
                label("agent"),
                " is ",
                VALUE,
                " per CPU (over 2 for 15 minutes): tasks wait for CPU or I/O."
            ),
        ),
        vec![
            (on(TEST_AGENT, "node_load1", &[]), "5x30".into()),
            (
                on(
                    TEST_AGENT,
                    "node_cpu_seconds_total",
                    &[("cpu", "0"), ("mode", "idle")],
                ),
                "0+30x30".into(),
            ),
            (
                on(
                    TEST_AGENT,
                    "node_cpu_seconds_total",
                    &[("cpu", "1"), ("mode", "idle")],
                ),
                "0+30x30".into(),
            ),
        ],
        vec![fire_agent(TEST_AGENT, w, &[], 2.5)],
        "load 2.5 per CPU fires",
    ));
    out.push(gauge(
        spec(
            alerts::MAJOR_PAGE_FAULTS,
            w,
            format!("{MAJOR_FAULTS} > 500"),
            m(15),
            annotation!("Memory major page faults on ", label("agent")),
            annotation!(label("agent"), " takes ", VALUE, " major page faults a second (over 500): it is short of memory and reading pages back from disk."),
        ),
        vec![(on(TEST_AGENT, "node_vmstat_pgmajfault", &[]), "0+36000x30".into())],
        vec![fire_agent(TEST_AGENT, w, &[], 600.0)],
        "600 major faults a second fire",
    ));
    out.push(gauge(
        spec(
            alerts::MEMORY_HIGH_UTILIZATION,
            w,
            format!("100 * {MEMORY_UTILISATION} > 90"),
            m(15),
            annotation!("Memory nearly full on ", label("agent"), ": ", VALUE, "%"),
            annotation!(
                VALUE,
                "% of memory is in use on ",
                label("agent"),
                " (over 90% for 15 minutes)."
            ),
        ),
        vec![
            (
                on(TEST_AGENT, "node_memory_MemAvailable_bytes", &[]),
                "400000000x30".into(),
            ),
            (
                on(TEST_AGENT, "node_memory_MemTotal_bytes", &[]),
                "8000000000x30".into(),
            ),
        ],
        vec![fire_agent(TEST_AGENT, w, &[], 95.0)],
        "95 % used fires",
    ));
    out.push(with(
        spec(
            alerts::DISK_IO_SATURATION,
            w,
            format!("{DISK_IO_WEIGHTED} > 10"),
            m(30),
            annotation!("Disk ", label("device"), " saturated on ", label("agent")),
            annotation!(
                "Disk ",
                label("device"),
                " on ",
                label("agent"),
                " has ",
                VALUE,
                " I/O requests queued on average (over 10 for 30 minutes)."
            ),
        ),
        Script::new("a queue of 12 fires; 1 does not", M)
            .series(
                on(
                    TEST_AGENT,
                    "node_disk_io_time_weighted_seconds_total",
                    &[("device", "nvme0n1")],
                ),
                "0+720x50",
            )
            .series(
                on(
                    TEST_AGENT,
                    "node_disk_io_time_weighted_seconds_total",
                    &[("device", "sda")],
                ),
                "0+60x50",
            )
            .at(m(25), vec![])
            .at(
                m(40),
                vec![fire_agent(TEST_AGENT, w, &[("device", "nvme0n1")], 12.0)],
            ),
    ));
    // systemd and bonding.
    let unit = [
        ("name", "nginx.service"),
        ("state", "failed"),
        ("type", "simple"),
    ];
    out.push(with(
        spec(
            alerts::SYSTEMD_FAILED,
            w,
            format!("node_systemd_unit_state{{{j},state=\"failed\"}} == 1"),
            m(5),
            annotation!("Service ", label("name"), " failed on ", label("agent")),
            annotation!(
                "systemd unit ",
                label("name"),
                " on ",
                label("agent"),
                " is in the failed state."
            ),
        ),
        Script::new("a failed unit fires; an active one does not", M)
            .series(on(TEST_AGENT, "node_systemd_unit_state", &unit), "1x20")
            .series(
                on(
                    TEST_AGENT,
                    "node_systemd_unit_state",
                    &[
                        ("name", "sshd.service"),
                        ("state", "failed"),
                        ("type", "simple"),
                    ],
                ),
                "0x20",
            )
            .at(m(3), vec![])
            .at(m(8), vec![fire(TEST_AGENT, w, &unit, 1.0)]),
    ));
    out.push(with(
        spec(
            alerts::SYSTEMD_CRASHLOOPING,
            w,
            format!("increase(node_systemd_service_restart_total{{{j}}}[5m]) > 2"),
            m(15),
            annotation!(
                "Service ",
                label("name"),
                " is crashlooping on ",
                label("agent")
            ),
            annotation!(
                "systemd service ",
                label("name"),
                " on ",
                label("agent"),
                " restarted more than twice in 5 minutes, for 15 minutes."
            ),
        ),
        Script::new("a restart a minute fires; one in 10 minutes does not", M)
            .series(
                on(
                    TEST_AGENT,
                    "node_systemd_service_restart_total",
                    &[("name", "app.service")],
                ),
                "0+1x30",
            )
            .series(
                on(
                    TEST_AGENT,
                    "node_systemd_service_restart_total",
                    &[("name", "cron.service")],
                ),
                "0+0.1x30",
            )
            .at(m(10), vec![])
            .at(
                m(20),
                vec![fire(TEST_AGENT, w, &[("name", "app.service")], 5.0)],
            ),
    ));
    out.push(gauge(
        spec(
            alerts::BONDING_DEGRADED,
            w,
            format!("(node_bonding_slaves{{{j}}} - node_bonding_active{{{j}}}) != 0"),
            m(5),
            annotation!("Bond ", label("master"), " degraded on ", label("agent")),
            annotation!(
                "Bond ",
                label("master"),
                " on ",
                label("agent"),
                " has ",
                VALUE,
                " inactive member(s)."
            ),
        ),
        vec![
            (
                on(TEST_AGENT, "node_bonding_slaves", &[("master", "bond0")]),
                "2x20".into(),
            ),
            (
                on(TEST_AGENT, "node_bonding_active", &[("master", "bond0")]),
                "1x20".into(),
            ),
        ],
        vec![fire(TEST_AGENT, w, &[("master", "bond0")], 1.0)],
        "one member down fires",
    ));
    out.extend(extras(s));
    out
}

fn steal(s: &Settings) -> AlertSpec {
    let w = Severity::Warning;
    let a = spec(
        alerts::CPU_STEAL_HIGH,
        w,
        against(CPU_STEAL, ">", Threshold::Steal, s),
        m(20),
        annotation!("CPU steal on ", label("agent"), ": ", VALUE, "%"),
        annotation!(
            "The hypervisor takes ",
            VALUE,
            "% of the CPU time of ",
            label("agent"),
            format!(
                " (over the agent's {} (default {}%) for 20 minutes): a noisy neighbour or an overcommitted host.",
                Threshold::Steal.key(),
                number(s.steal_percent)
            ),
        ),
    );
    let cpu = |c: &'static str| [("cpu", c), ("mode", "steal")];
    let clamp = Script::new(
        "15 % steal for 20 minutes fires; one absurd jump (clamped, over in 5 minutes) does not",
        M,
    )
    .series(
        on("steal-victim", "node_cpu_seconds_total", &cpu("0")),
        "0+9x40",
    )
    .series(on(TEST_AGENT, "node_cpu_seconds_total", &cpu("0")), "0x40")
    .series(
        on(TEST_AGENT, "node_cpu_seconds_total", &cpu("1")),
        "0x5 100000x35",
    )
    .at(m(15), vec![])
    .at(m(25), vec![fire_agent("steal-victim", w, &[], 15.0)]);
    let over = override_script(
        &Probe {
            threshold: Threshold::Steal,
            inputs: &|agent, level| vec![(selector(CPU_STEAL, &[("agent", agent)]), level)],
            labels: &|agent| labels(&[("agent", agent), ("severity", "warning")]),
            value: &|level| level,
        },
        m(20),
        s,
    );
    with(with(a, clamp), over)
}

fn extras(s: &Settings) -> Vec<AlertSpec> {
    let j = j();
    let w = Severity::Warning;
    let mut out = vec![steal(s)];
    out.push(with(
        spec(
            alerts::OOM_KILL,
            w,
            format!("increase(node_vmstat_oom_kill{{{j}}}[5m]) > 0"),
            Duration::ZERO,
            annotation!("OOM kill on ", label("agent")),
            annotation!(
                "The kernel's out-of-memory killer ended a process on ",
                label("agent"),
                " in the last 5 minutes. See dmesg."
            ),
        ),
        Script::new(
            "a kill fires for 5 minutes; a counter reset (reboot) does not",
            M,
        )
        .series(on(TEST_AGENT, "node_vmstat_oom_kill", &[]), "0x5 1x10")
        .series(on(OVERRIDE_AGENT, "node_vmstat_oom_kill", &[]), "3x5 0x10")
        .at(m(3), vec![])
        .at(m(7), vec![fire(TEST_AGENT, w, &[], 1.25)])
        .at(m(14), vec![]),
    ));
    out.push(gauge(
        spec(
            alerts::REBOOT_REQUIRED,
            Severity::Info,
            format!("node_reboot_required{{{j}}} > 0"),
            m(60),
            annotation!(label("agent"), " needs a reboot"),
            annotation!(label("agent"), " has installed updates (a kernel, libraries) that take effect only after a reboot."),
        ),
        vec![(on(TEST_AGENT, "node_reboot_required", &[]), "1x80".into())],
        vec![fire(TEST_AGENT, Severity::Info, &[], 1.0)],
        "a pending reboot fires after an hour",
    ));
    let sensor = |n: &'static str| [("chip", "platform_coretemp_0"), ("sensor", n)];
    out.push(with(
        spec(
            alerts::HWMON_TEMP_HIGH,
            w,
            format!(
                "node_hwmon_temp_celsius{{{j}}} > (node_hwmon_temp_crit_celsius{{{j}}} > 0) - 5"
            ),
            m(5),
            annotation!(
                "Hot sensor ",
                label("sensor"),
                " on ",
                label("agent"),
                ": ",
                VALUE,
                " °C"
            ),
            annotation!(
                "Sensor ",
                label("sensor"),
                " of ",
                label("chip"),
                " on ",
                label("agent"),
                " reads ",
                VALUE,
                " °C, within 5 °C of its critical temperature. Check cooling."
            ),
        ),
        Script::new(
            "within 5 °C of critical fires; cooler and critical-less sensors do not",
            M,
        )
        .series(
            on(TEST_AGENT, "node_hwmon_temp_celsius", &sensor("temp1")),
            "97x20",
        )
        .series(
            on(TEST_AGENT, "node_hwmon_temp_crit_celsius", &sensor("temp1")),
            "100x20",
        )
        .series(
            on(TEST_AGENT, "node_hwmon_temp_celsius", &sensor("temp2")),
            "80x20",
        )
        .series(
            on(TEST_AGENT, "node_hwmon_temp_crit_celsius", &sensor("temp2")),
            "100x20",
        )
        .series(
            on(TEST_AGENT, "node_hwmon_temp_celsius", &sensor("temp3")),
            "50x20",
        )
        .series(
            on(TEST_AGENT, "node_hwmon_temp_crit_celsius", &sensor("temp3")),
            "0x20",
        )
        .at(m(3), vec![])
        .at(m(8), vec![fire(TEST_AGENT, w, &sensor("temp1"), 97.0)]),
    ));
    let ctl = [("controller", "0")];
    out.push(with(
        spec(
            alerts::EDAC_CORRECTABLE,
            w,
            format!("increase(node_edac_correctable_errors_total{{{j}}}[5m]) > 0"),
            Duration::ZERO,
            annotation!("Correctable memory errors on ", label("agent")),
            annotation!(
                "Memory controller ",
                label("controller"),
                " on ",
                label("agent"),
                " corrected errors in the last 5 minutes: a DIMM may be failing."
            ),
        ),
        Script::new("new corrected errors fire; a steady count does not", M)
            .series(
                on(TEST_AGENT, "node_edac_correctable_errors_total", &ctl),
                "0x5 4x10",
            )
            .series(
                on(
                    TEST_AGENT,
                    "node_edac_correctable_errors_total",
                    &[("controller", "1")],
                ),
                "7x15",
            )
            .at(m(3), vec![])
            .at(m(7), vec![fire(TEST_AGENT, w, &ctl, 5.0)])
            .at(m(14), vec![]),
    ));
    out.push(with(
        spec(
            alerts::EDAC_UNCORRECTABLE,
            Severity::Critical,
            format!("node_edac_uncorrectable_errors_total{{{j}}} > 0"),
            Duration::ZERO,
            annotation!("Uncorrectable memory errors on ", label("agent")),
            annotation!(
                "Memory controller ",
                label("controller"),
                " on ",
                label("agent"),
                " reported ",
                VALUE,
                " uncorrectable error(s) since boot: replace the DIMM."
            ),
        ),
        Script::new("an uncorrectable error fires", M)
            .series(
                on(TEST_AGENT, "node_edac_uncorrectable_errors_total", &ctl),
                "0x3 1x5",
            )
            .at(m(1), vec![])
            .at(m(5), vec![fire(TEST_AGENT, Severity::Critical, &ctl, 1.0)]),
    ));
    out
}

/// Node-mixin's alerts and Outpost's extras, in rule-file order.
pub fn alerts(s: &Settings) -> Vec<AlertSpec> {
    let mut out = filesystem(s);
    out.extend(out_of_space());
    out.extend(files());
    out.push(network_errors(alerts::NETWORK_RECEIVE_ERRS, "receive"));
    out.push(network_errors(alerts::NETWORK_TRANSMIT_ERRS, "transmit"));
    out.extend(simple(s));
    out
}
