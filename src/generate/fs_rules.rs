//! Node-mixin's filesystem alerts: space and inodes filling up (a 6h linear
//! fit) and almost out, with the read-only and device-error guards; each
//! with its promtool scenarios (see `node_rules.rs`).
//!
//! Decisions:
//! - `NodeFilesystemSpaceFillingUp` (warning) compares the predicted time to
//!   full (`predict_linear(avail[6h], 0) / -deriv(avail[6h])`, the same fit
//!   as node-mixin's `predict_linear(avail[6h], 24h) < 0`) with the agent's
//!   `disk_fill_within`, so the horizon is per agent; the critical rule keeps
//!   node-mixin's fixed 4 hours.

use super::node_rules::{fire, j, m, on, spec, with, M};
use super::rules::{
    against, annotation, label, threshold_input, AlertSpec, Annotation, Part, Script,
    FS_TYPES_IGNORED, OVERRIDE_AGENT, TEST_AGENT, VALUE,
};
use super::settings::{number, Settings};
use crate::alerts::{self, Severity, Threshold};

fn fs_sel() -> String {
    format!("{},fstype!~\"{FS_TYPES_IGNORED}\",mountpoint!=\"\"", j())
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

pub(super) fn filesystem(s: &Settings) -> Vec<AlertSpec> {
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

pub(super) fn out_of_space() -> Vec<AlertSpec> {
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

pub(super) fn files() -> Vec<AlertSpec> {
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
