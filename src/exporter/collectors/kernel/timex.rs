//! `timex`: the kernel's clock discipline state from adjtimex(2) in
//! read-only mode (`modes = 0`): offset, frequency, error estimates, PPS
//! counters and sync status (`node_timex_*`), converted exactly as
//! node_exporter 1.5 converts them.
//!
//! Neither nix nor rustix wraps adjtimex(2), so this file holds the crate's
//! one reviewed `unsafe` block (see lib.rs).

use crate::exporter::collector::{CollectError, Collector};
use crate::exporter::metrics::Metrics;

/// `STA_NANO`: offsets are in nanoseconds rather than microseconds.
const STA_NANO: i64 = 0x2000;
/// `TIME_ERROR`: the clock is not synchronised.
const TIME_ERROR: i32 = 5;
/// Frequencies are ppm with a 16-bit binary fraction (adjtimex(2) NOTES).
const PPM16FRAC: f64 = 1_000_000.0 * 65536.0;
const MICRO: f64 = 1e6;
const NANO: f64 = 1e9;

/// The fields of `struct timex` that are reported, plus the return state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timex {
    pub state: i32,
    pub offset: i64,
    pub freq: i64,
    pub maxerror: i64,
    pub esterror: i64,
    pub status: i64,
    pub constant: i64,
    pub tick: i64,
    pub ppsfreq: i64,
    pub jitter: i64,
    pub shift: i64,
    pub stabil: i64,
    pub jitcnt: i64,
    pub calcnt: i64,
    pub errcnt: i64,
    pub stbcnt: i64,
    pub tai: i64,
}

/// Reads the clock state without changing it.
// `c_long` fields are i64 here but i32 on 32-bit targets: the casts stay.
#[allow(clippy::unnecessary_cast)]
pub fn read() -> std::io::Result<Timex> {
    // SAFETY: `libc::timex` is a plain C struct of integers (and a timeval),
    // for which all-zero bytes are a valid value; zero `modes` asks the
    // kernel only to fill the struct in. The pointer is to a live, properly
    // aligned local that outlives the call, and nothing else aliases it.
    #[allow(unsafe_code)]
    let (state, tx) = unsafe {
        let mut tx: libc::timex = std::mem::zeroed();
        let state = libc::adjtimex(&mut tx);
        (state, tx)
    };
    if state < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Timex {
        state,
        offset: tx.offset as i64,
        freq: tx.freq as i64,
        maxerror: tx.maxerror as i64,
        esterror: tx.esterror as i64,
        status: i64::from(tx.status),
        constant: tx.constant as i64,
        tick: tx.tick as i64,
        ppsfreq: tx.ppsfreq as i64,
        jitter: tx.jitter as i64,
        shift: i64::from(tx.shift),
        stabil: tx.stabil as i64,
        jitcnt: tx.jitcnt as i64,
        calcnt: tx.calcnt as i64,
        errcnt: tx.errcnt as i64,
        stbcnt: tx.stbcnt as i64,
        tai: i64::from(tx.tai),
    })
}

/// Adds the 17 `node_timex_*` metrics.
pub fn encode(t: &Timex, out: &mut Metrics) {
    let divisor = if t.status & STA_NANO != 0 {
        NANO
    } else {
        MICRO
    };
    let gauges: [(&'static str, &'static str, f64); 12] = [
        (
            "node_timex_sync_status",
            "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
            if t.state == TIME_ERROR { 0.0 } else { 1.0 },
        ),
        (
            "node_timex_offset_seconds",
            "Time offset in between local system and reference clock.",
            t.offset as f64 / divisor,
        ),
        (
            "node_timex_frequency_adjustment_ratio",
            "Local clock frequency adjustment.",
            1.0 + t.freq as f64 / PPM16FRAC,
        ),
        (
            "node_timex_maxerror_seconds",
            "Maximum error in seconds.",
            t.maxerror as f64 / MICRO,
        ),
        (
            "node_timex_estimated_error_seconds",
            "Estimated error in seconds.",
            t.esterror as f64 / MICRO,
        ),
        (
            "node_timex_status",
            "Value of the status array bits.",
            t.status as f64,
        ),
        (
            "node_timex_loop_time_constant",
            "Phase-locked loop time constant.",
            t.constant as f64,
        ),
        (
            "node_timex_tick_seconds",
            "Seconds between clock ticks.",
            t.tick as f64 / MICRO,
        ),
        (
            "node_timex_pps_frequency_hertz",
            "Pulse per second frequency.",
            t.ppsfreq as f64 / PPM16FRAC,
        ),
        (
            "node_timex_pps_jitter_seconds",
            "Pulse per second jitter.",
            t.jitter as f64 / divisor,
        ),
        (
            "node_timex_pps_shift_seconds",
            "Pulse per second interval duration.",
            t.shift as f64,
        ),
        (
            "node_timex_pps_stability_hertz",
            "Pulse per second stability, average of recent frequency changes.",
            t.stabil as f64 / PPM16FRAC,
        ),
    ];
    for (name, help, value) in gauges {
        out.gauge(name, help).add(&[], value);
    }
    let counters: [(&'static str, &'static str, f64); 4] = [
        (
            "node_timex_pps_jitter_total",
            "Pulse per second count of jitter limit exceeded events.",
            t.jitcnt as f64,
        ),
        (
            "node_timex_pps_calibration_total",
            "Pulse per second count of calibration intervals.",
            t.calcnt as f64,
        ),
        (
            "node_timex_pps_error_total",
            "Pulse per second count of calibration errors.",
            t.errcnt as f64,
        ),
        (
            "node_timex_pps_stability_exceeded_total",
            "Pulse per second count of stability limit exceeded events.",
            t.stbcnt as f64,
        ),
    ];
    for (name, help, value) in counters {
        out.counter(name, help).add(&[], value);
    }
    out.gauge(
        "node_timex_tai_offset_seconds",
        "International Atomic Time (TAI) offset.",
    )
    .add(&[], t.tai as f64);
}

pub struct TimexCollector;

impl Collector for TimexCollector {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let t = read().map_err(|e| CollectError::Other(format!("adjtimex: {e}")))?;
        encode(&t, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_follow_node_exporter() {
        let t = Timex {
            state: TIME_ERROR,
            offset: 2_000_000,
            freq: 65536 * 10,
            maxerror: 16_000_000,
            tick: 10_000,
            status: STA_NANO | 0x40,
            ..Timex::default()
        };
        let mut m = Metrics::new();
        encode(&t, &mut m);
        let v = |n: &str| m.get(n).unwrap().sample(0).value;
        assert_eq!(v("node_timex_sync_status"), 0.0);
        assert_eq!(v("node_timex_offset_seconds"), 0.002);
        assert!((v("node_timex_frequency_adjustment_ratio") - 1.00001).abs() < 1e-12);
        assert_eq!(v("node_timex_maxerror_seconds"), 16.0);
        assert_eq!(v("node_timex_tick_seconds"), 0.01);
        assert_eq!(v("node_timex_status"), 8256.0);
        let names: std::collections::HashSet<_> =
            m.into_sorted().into_iter().map(|f| f.name).collect();
        assert_eq!(names.len(), 17);
    }

    #[test]
    fn reads_the_kernel_clock() {
        let t = read().unwrap();
        // The kernel tick is 1/HZ seconds in microseconds: 1000..=10000.
        assert!((1000..=10000).contains(&t.tick), "tick {}", t.tick);
    }
}
