//! Outpost's alerts beyond node-mixin: CPU steal (a noisy neighbour,
//! clamped against absurd kernel reports), OOM kills, reboot required,
//! hwmon temperature near critical and EDAC memory errors; each with its
//! promtool scenarios (see `node_rules.rs`).
//!
//! Decisions:
//! - "Reboot required" reads `node_reboot_required`, the series the textfile
//!   scripts of node-exporter-textfile-collector-scripts (apt_info) write.

use std::time::Duration;

use super::node_rules::{fire, fire_agent, gauge, j, m, on, spec, with, M};
use super::recording::CPU_STEAL;
use super::rules::{
    against, annotation, label, labels, override_script, selector, AlertSpec, Probe, Script,
    OVERRIDE_AGENT, TEST_AGENT, VALUE,
};
use super::settings::{number, Settings};
use crate::alerts::{self, Severity, Threshold};

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
        M,
        s,
    );
    with(with(a, clamp), over)
}

pub(super) fn extras(s: &Settings) -> Vec<AlertSpec> {
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
