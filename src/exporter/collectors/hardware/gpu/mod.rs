//! `gpu`: NVIDIA GPUs through NVML, loaded at run time (off by default).
//!
//! The collector asks a [`GpuLibrary`] — the few NVML calls it needs, one
//! method each — and never NVML itself, so it is tested against a recorded
//! stand-in (`tests` below) that answers as NVML does on the cards it
//! stands for. [`nvml::load`] gives the real one: it opens
//! `libnvidia-ml.so.1` with `dlopen` (through the nvml-wrapper crate), so
//! the same binary runs on hosts without a GPU; there the collector logs one
//! line at info when it is built and exports nothing.
//!
//! Decisions:
//! - Metric names are nvidia_gpu_exporter's `nvidia_smi_*` (the names of
//!   `nvidia-smi --query-gpu` fields in base units: `_ratio` for percent,
//!   `_bytes` for MiB, `_watts`, `_clock_hz` for MHz), because the Grafana
//!   dashboards people already use for NVIDIA GPUs outside Kubernetes
//!   (e.g. grafana.com 14574) are built on them; dcgm-exporter's
//!   `DCGM_FI_*` names need DCGM. `nvidia_smi_temperature_gpu` keeps that
//!   exporter's name (no `_celsius`) for the same reason. What it has no name
//!   for (XID errors, per-process memory) is `outpost_gpu_*`.
//! - Every per-GPU series carries `uuid`, `name` and `index`, so a panel can
//!   join on whichever it has; `nvidia_smi_gpu_info` carries them too.
//! - A value NVML answers `NotSupported` (fan on passively cooled datacenter
//!   cards, ECC on consumer cards) or `NoPermission` for is left out, as
//!   nvidia-smi prints `[N/A]`. Any other error (`GpuLost`, `Unknown`, …) fails
//!   the scrape of this collector (`node_scrape_collector_success 0`) naming
//!   the GPU and the call: a GPU falling off the bus is worth noticing.
//! - XID errors arrive as NVML events, not as a counter: the real library
//!   registers every GPU for `CRITICAL_XID_ERROR` once, each scrape drains the
//!   queue, and the collector counts them per GPU
//!   (`outpost_gpu_xid_errors_total`, 0 from the start so `increase()` sees
//!   the first) and keeps the last code (`outpost_gpu_xid_last_code`): a
//!   code label would make a new series whose first sample `increase()`
//!   cannot see.
//! - `--collector.gpu.devices` names GPUs by index; an index the host does
//!   not have fails the collector's scrape with a line saying how many GPUs
//!   there are (rather than silently watching fewer GPUs than asked).
//! - Per-process memory (`--collector.gpu.processes`) is its own flag: its
//!   `pid` label makes new series as processes come and go.

pub mod nvml;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub use nvml_wrapper::enum_wrappers::device::{Clock, EccCounter, MemoryError};
pub use nvml_wrapper::error::NvmlError;

use crate::exporter::collector::{CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

/// GPU utilisation over NVML's last sample period, in percent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Utilization {
    pub gpu: u32,
    pub memory: u32,
}

/// Frame-buffer memory in bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Memory {
    pub total: u64,
    pub used: u64,
    pub free: u64,
}

/// One process using a GPU; `used_bytes` is `None` where NVML cannot say.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuProcess {
    pub pid: u32,
    pub used_bytes: Option<u64>,
}

/// The NVML calls the collector makes, in NVML's units (percent, bytes,
/// degrees Celsius, milliwatts, MHz) and with NVML's errors. GPUs are
/// named by index.
pub trait GpuLibrary: Send + Sync {
    fn device_count(&self) -> Result<u32, NvmlError>;
    fn name(&self, index: u32) -> Result<String, NvmlError>;
    fn uuid(&self, index: u32) -> Result<String, NvmlError>;
    fn utilization(&self, index: u32) -> Result<Utilization, NvmlError>;
    fn memory(&self, index: u32) -> Result<Memory, NvmlError>;
    /// The GPU die's temperature.
    fn temperature(&self, index: u32) -> Result<u32, NvmlError>;
    fn power_usage(&self, index: u32) -> Result<u32, NvmlError>;
    /// The power management limit (`power.limit` in nvidia-smi).
    fn power_limit(&self, index: u32) -> Result<u32, NvmlError>;
    fn enforced_power_limit(&self, index: u32) -> Result<u32, NvmlError>;
    /// Fan 0's intended speed in percent.
    fn fan_speed(&self, index: u32) -> Result<u32, NvmlError>;
    fn clock(&self, index: u32, clock: Clock) -> Result<u32, NvmlError>;
    fn max_clock(&self, index: u32, clock: Clock) -> Result<u32, NvmlError>;
    fn ecc_errors(
        &self,
        index: u32,
        kind: MemoryError,
        counter: EccCounter,
    ) -> Result<u64, NvmlError>;
    /// XID errors since the last call, as `(gpu index, xid)`.
    fn xid_events(&self) -> Result<Vec<(u32, u64)>, NvmlError>;
    /// Compute and graphics processes together, each pid once.
    fn processes(&self, index: u32) -> Result<Vec<GpuProcess>, NvmlError>;
}

/// What `--collector.gpu.*` asks for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// GPU indices to watch; empty: all.
    pub devices: Vec<u32>,
    /// Export per-process GPU memory.
    pub processes: bool,
}

/// Everything read from one GPU in one scrape; `None`: not supported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    pub index: u32,
    pub uuid: String,
    pub name: String,
    pub utilization: Option<Utilization>,
    pub memory: Option<Memory>,
    pub temperature: Option<u32>,
    pub power_usage_mw: Option<u32>,
    pub power_limit_mw: Option<u32>,
    pub enforced_power_limit_mw: Option<u32>,
    pub fan_percent: Option<u32>,
    /// `(clock, current MHz, max MHz)`.
    pub clocks: Vec<(Clock, Option<u32>, Option<u32>)>,
    /// `(kind, counter, count)` for the counts the card keeps.
    pub ecc: Vec<(MemoryError, EccCounter, u64)>,
    pub processes: Option<Vec<GpuProcess>>,
}

const CLOCKS: [(Clock, &str); 4] = [
    (Clock::Graphics, "graphics"),
    (Clock::SM, "sm"),
    (Clock::Memory, "memory"),
    (Clock::Video, "video"),
];

/// `Ok(None)` for the answers that mean "this card has no such value".
fn optional<T>(
    index: u32,
    call: &'static str,
    r: Result<T, NvmlError>,
) -> Result<Option<T>, CollectError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(NvmlError::NotSupported | NvmlError::NoPermission) => Ok(None),
        Err(e) => Err(failed(index, call, e)),
    }
}

fn failed(index: u32, call: &'static str, e: NvmlError) -> CollectError {
    CollectError::Other(format!("GPU {index}: {call}: {e}"))
}

/// Reads every value of GPU `index`.
pub fn read(lib: &dyn GpuLibrary, index: u32, processes: bool) -> Result<Reading, CollectError> {
    let mut clocks = Vec::with_capacity(CLOCKS.len());
    for (clock, _) in CLOCKS {
        let current = optional(index, "clock", lib.clock(index, clock))?;
        let max = optional(index, "max clock", lib.max_clock(index, clock))?;
        if current.is_some() || max.is_some() {
            clocks.push((clock, current, max));
        }
    }
    let mut ecc = Vec::new();
    for kind in [MemoryError::Corrected, MemoryError::Uncorrected] {
        for counter in [EccCounter::Volatile, EccCounter::Aggregate] {
            if let Some(n) = optional(index, "ECC errors", lib.ecc_errors(index, kind, counter))? {
                ecc.push((kind, counter, n));
            }
        }
    }
    Ok(Reading {
        index,
        uuid: lib.uuid(index).map_err(|e| failed(index, "uuid", e))?,
        name: lib.name(index).map_err(|e| failed(index, "name", e))?,
        utilization: optional(index, "utilization", lib.utilization(index))?,
        memory: optional(index, "memory", lib.memory(index))?,
        temperature: optional(index, "temperature", lib.temperature(index))?,
        power_usage_mw: optional(index, "power usage", lib.power_usage(index))?,
        power_limit_mw: optional(index, "power limit", lib.power_limit(index))?,
        enforced_power_limit_mw: optional(
            index,
            "enforced power limit",
            lib.enforced_power_limit(index),
        )?,
        fan_percent: optional(index, "fan speed", lib.fan_speed(index))?,
        clocks,
        ecc,
        processes: if processes {
            optional(index, "processes", lib.processes(index))?
        } else {
            None
        },
    })
}

/// Per GPU index: XID errors seen so far and the last one's code.
pub type XidCounts = BTreeMap<u32, (u64, u64)>;

/// Adds the metrics of `readings` and the XID counts to `out`. `comm`
/// names a process by pid (per-process memory only).
pub fn encode(
    readings: &[Reading],
    xids: &XidCounts,
    comm: &dyn Fn(u32) -> String,
    out: &mut Metrics,
) {
    fn gauge(
        out: &mut Metrics,
        r: &Reading,
        index: &str,
        name: &'static str,
        help: &'static str,
        v: Option<f64>,
    ) {
        if let Some(v) = v {
            out.gauge(name, help).add(&labels(r, index), v);
        }
    }
    fn labels<'a>(r: &'a Reading, index: &'a str) -> [(&'static str, &'a str); 3] {
        [("uuid", &r.uuid), ("name", &r.name), ("index", index)]
    }
    for r in readings {
        let index = r.index.to_string();
        let l = labels(r, &index);
        out.gauge(
            "nvidia_smi_gpu_info",
            "A metric with a constant '1' value labeled by the GPU's uuid, name and index.",
        )
        .add(&l, 1.0);
        let pct = |v: u32| f64::from(v) / 100.0;
        let watts = |mw: u32| f64::from(mw) / 1000.0;
        gauge(
            out,
            r,
            &index,
            "nvidia_smi_utilization_gpu_ratio",
            "Fraction of the last sample period during which a kernel ran on the GPU.",
            r.utilization.map(|u| pct(u.gpu)),
        );
        gauge(
            out,
            r,
            &index,
            "nvidia_smi_utilization_memory_ratio",
            "Fraction of the last sample period during which device memory was read or written.",
            r.utilization.map(|u| pct(u.memory)),
        );
        gauge(
            out,
            r,
            &index,
            "nvidia_smi_memory_total_bytes",
            "Total installed GPU memory in bytes.",
            r.memory.map(|m| m.total as f64),
        );
        gauge(
            out,
            r,
            &index,
            "nvidia_smi_memory_used_bytes",
            "GPU memory allocated by active contexts, in bytes.",
            r.memory.map(|m| m.used as f64),
        );
        gauge(
            out,
            r,
            &index,
            "nvidia_smi_memory_free_bytes",
            "Unallocated GPU memory in bytes.",
            r.memory.map(|m| m.free as f64),
        );
        gauge(
            out,
            r,
            &index,
            "nvidia_smi_temperature_gpu",
            "GPU die temperature in degrees Celsius.",
            r.temperature.map(f64::from),
        );
        gauge(
            out,
            r,
            &index,
            "nvidia_smi_power_draw_watts",
            "Power drawn by the whole board, in watts.",
            r.power_usage_mw.map(watts),
        );
        gauge(
            out,
            r,
            &index,
            "nvidia_smi_power_limit_watts",
            "Software power management limit, in watts.",
            r.power_limit_mw.map(watts),
        );
        gauge(
            out,
            r,
            &index,
            "nvidia_smi_enforced_power_limit_watts",
            "Power limit the GPU enforces (the lowest of all limits), in watts.",
            r.enforced_power_limit_mw.map(watts),
        );
        gauge(
            out,
            r,
            &index,
            "nvidia_smi_fan_speed_ratio",
            "Intended speed of fan 0 as a fraction of its maximum.",
            r.fan_percent.map(pct),
        );
        for &(clock, current, max) in &r.clocks {
            let (cur_name, max_name, help_cur, help_max) = clock_names(clock);
            let hz = |mhz: u32| f64::from(mhz) * 1e6;
            gauge(out, r, &index, cur_name, help_cur, current.map(hz));
            gauge(out, r, &index, max_name, help_max, max.map(hz));
        }
        for &(kind, counter, n) in &r.ecc {
            let (name, help) = ecc_name(kind, counter);
            out.counter(name, help).add(&l, n as f64);
        }
        if let Some(procs) = &r.processes {
            let fam = out.gauge(
                "outpost_gpu_process_memory_used_bytes",
                "GPU memory used by a process, in bytes.",
            );
            for p in procs {
                if let Some(bytes) = p.used_bytes {
                    let pid = p.pid.to_string();
                    let comm = comm(p.pid);
                    fam.add(
                        &[l[0], l[1], l[2], ("pid", &pid), ("process", &comm)],
                        bytes as f64,
                    );
                }
            }
        }
    }
    // Per GPU, zero from the start so that `increase()` sees the first one.
    let total = out.counter(
        "outpost_gpu_xid_errors_total",
        "Critical XID errors the driver reported since the exporter started.",
    );
    let last = |r: &Reading| xids.get(&r.index).copied().unwrap_or((0, 0));
    for r in readings {
        let i = r.index.to_string();
        total.add(
            &[("uuid", &r.uuid), ("name", &r.name), ("index", &i)],
            last(r).0 as f64,
        );
    }
    let fam = out.gauge(
        "outpost_gpu_xid_last_code",
        "The code of the last critical XID error (0: none since the exporter started).",
    );
    for r in readings {
        let i = r.index.to_string();
        fam.add(
            &[("uuid", &r.uuid), ("name", &r.name), ("index", &i)],
            last(r).1 as f64,
        );
    }
}

fn clock_names(clock: Clock) -> (&'static str, &'static str, &'static str, &'static str) {
    match clock {
        Clock::Graphics => (
            "nvidia_smi_clocks_current_graphics_clock_hz",
            "nvidia_smi_clocks_max_graphics_clock_hz",
            "Current graphics clock in hertz.",
            "Maximum graphics clock in hertz.",
        ),
        Clock::SM => (
            "nvidia_smi_clocks_current_sm_clock_hz",
            "nvidia_smi_clocks_max_sm_clock_hz",
            "Current streaming multiprocessor clock in hertz.",
            "Maximum streaming multiprocessor clock in hertz.",
        ),
        Clock::Memory => (
            "nvidia_smi_clocks_current_memory_clock_hz",
            "nvidia_smi_clocks_max_memory_clock_hz",
            "Current memory clock in hertz.",
            "Maximum memory clock in hertz.",
        ),
        Clock::Video => (
            "nvidia_smi_clocks_current_video_clock_hz",
            "nvidia_smi_clocks_max_video_clock_hz",
            "Current video encoder/decoder clock in hertz.",
            "Maximum video encoder/decoder clock in hertz.",
        ),
    }
}

fn ecc_name(kind: MemoryError, counter: EccCounter) -> (&'static str, &'static str) {
    match (kind, counter) {
        (MemoryError::Corrected, EccCounter::Volatile) => (
            "nvidia_smi_ecc_errors_corrected_volatile_total",
            "Corrected ECC errors since the driver loaded.",
        ),
        (MemoryError::Corrected, EccCounter::Aggregate) => (
            "nvidia_smi_ecc_errors_corrected_aggregate_total",
            "Corrected ECC errors over the GPU's lifetime.",
        ),
        (MemoryError::Uncorrected, EccCounter::Volatile) => (
            "nvidia_smi_ecc_errors_uncorrected_volatile_total",
            "Uncorrected ECC errors since the driver loaded.",
        ),
        (MemoryError::Uncorrected, EccCounter::Aggregate) => (
            "nvidia_smi_ecc_errors_uncorrected_aggregate_total",
            "Uncorrected ECC errors over the GPU's lifetime.",
        ),
    }
}

/// The `gpu` collector: NVML when it loaded, else nothing.
pub struct Gpu {
    lib: Option<Arc<dyn GpuLibrary>>,
    options: Options,
    paths: Paths,
    xids: Mutex<XidCounts>,
}

impl Gpu {
    /// Loads NVML; on a host without it, logs one line at info.
    pub fn new(paths: Paths, options: Options) -> Self {
        let lib = match nvml::load() {
            Ok(lib) => Some(Arc::new(lib) as Arc<dyn GpuLibrary>),
            Err(why) => {
                tracing::info!(reason = %why, "no NVIDIA GPU library; the gpu collector exports nothing");
                None
            }
        };
        Self::with_library(lib, paths, options)
    }

    /// A collector over any [`GpuLibrary`] (`None`: no library).
    pub fn with_library(lib: Option<Arc<dyn GpuLibrary>>, paths: Paths, options: Options) -> Self {
        Gpu {
            lib,
            options,
            paths,
            xids: Mutex::default(),
        }
    }
}

impl Collector for Gpu {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let Some(lib) = &self.lib else {
            return Ok(());
        };
        let count = lib
            .device_count()
            .map_err(|e| CollectError::Other(format!("counting GPUs: {e}")))?;
        let indices: Vec<u32> = if self.options.devices.is_empty() {
            (0..count).collect()
        } else {
            self.options.devices.clone()
        };
        if let Some(bad) = indices.iter().find(|&&i| i >= count) {
            return Err(CollectError::Other(format!(
                "--collector.gpu.devices names GPU {bad}, but this host has {count} GPU(s) (indices 0..{count})"
            )));
        }
        let readings = indices
            .iter()
            .map(|&i| read(lib.as_ref(), i, self.options.processes))
            .collect::<Result<Vec<_>, _>>()?;
        let events = match lib.xid_events() {
            Ok(ev) => ev,
            Err(NvmlError::NotSupported) => Vec::new(),
            Err(e) => return Err(CollectError::Other(format!("reading XID events: {e}"))),
        };
        let mut xids = self.xids.lock().unwrap_or_else(|p| p.into_inner());
        for (index, xid) in events {
            let seen = xids.entry(index).or_default();
            seen.0 += 1;
            seen.1 = xid;
        }
        let procfs = &self.paths.procfs;
        let comm = |pid: u32| {
            std::fs::read_to_string(procfs.join(pid.to_string()).join("comm"))
                .map(|s| s.trim().to_owned())
                .unwrap_or_default()
        };
        encode(&readings, &xids, &comm, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
