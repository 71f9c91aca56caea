//! Node-mixin's alerts (node_exporter's `docs/node-mixin`: same names,
//! severities, windows and guards) over the `agent` label: network errors,
//! conntrack, textfile errors, clocks, RAID, file descriptors, CPU, load,
//! memory, disk I/O, systemd and bonding here; the filesystem family in
//! `fs_rules.rs`; Outpost's extras (steal, OOM, reboot, hwmon, EDAC) in
//! `extra_rules.rs`. Each rule carries a hand-written promtool scenario
//! ([`Script`]) that shows it firing and not firing, edge cases included
//! (read-only and failed filesystems ignored, counter resets, steal clamped,
//! an override agent next to a default one). The helpers here build them.
//!
//! Decisions:
//! - Percentages are 0–100 in values and descriptions (node-mixin mixes
//!   ratios and percentages); network errors alert on the share of packets.
//! - RAID, systemd, bonding, hwmon and EDAC need those collectors on.

use std::collections::BTreeMap;
use std::time::Duration;

use super::prometheus::AGENTS_JOB;
use super::recording::{
    DISK_DEVICES, DISK_IO_WEIGHTED, LOAD_PER_CPU, MAJOR_FAULTS, MEMORY_UTILISATION,
};
use super::rules::{
    annotation, label, labels, labels_of, series_of, AlertSpec, Annotation, Firing, Script,
    OVERRIDE_AGENT, TEST_AGENT, VALUE,
};
use super::settings::Settings;
use super::{extra_rules, fs_rules};
use crate::alerts::{self, Severity};

pub(super) const M: Duration = Duration::from_secs(60);

pub(super) fn m(n: u32) -> Duration {
    M * n
}

pub(super) fn j() -> String {
    format!("job=\"{AGENTS_JOB}\"")
}

pub(super) fn spec(
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

pub(super) fn with(mut a: AlertSpec, script: Script) -> AlertSpec {
    a.scripts.push(script);
    a
}

pub(super) fn fire(agent: &str, severity: Severity, extra: &[(&str, &str)], value: f64) -> Firing {
    Firing {
        labels: labels_of(agent, severity, extra),
        value,
    }
}

/// An alert on a value aggregated to `agent` (a recording rule).
pub(super) fn fire_agent(
    agent: &str,
    severity: Severity,
    extra: &[(&str, &str)],
    value: f64,
) -> Firing {
    let mut l = labels(&[("agent", agent), ("severity", severity.as_str())]);
    l.extend(labels(extra));
    Firing { labels: l, value }
}

pub(super) fn on(agent: &str, metric: &str, extra: &[(&str, &str)]) -> String {
    series_of(agent, metric, extra)
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
pub(super) fn gauge(
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
    out.extend(extra_rules::extras(s));
    out
}

/// Node-mixin's alerts and Outpost's extras, in rule-file order.
pub fn alerts(s: &Settings) -> Vec<AlertSpec> {
    let mut out = fs_rules::filesystem(s);
    out.extend(fs_rules::out_of_space());
    out.extend(fs_rules::files());
    out.push(network_errors(alerts::NETWORK_RECEIVE_ERRS, "receive"));
    out.push(network_errors(alerts::NETWORK_TRANSMIT_ERRS, "transmit"));
    out.extend(simple(s));
    out
}
