//! The real [`GpuLibrary`]: NVML through the nvml-wrapper crate, which
//! opens `libnvidia-ml.so.1` at run time.
//!
//! Decisions: the `Nvml` handle lives for the whole process (leaked once),
//! so the XID event set, which borrows it, can live beside it; GPUs are
//! looked up by index on each call (`nvmlDeviceGetHandleByIndex` is a table
//! lookup) rather than holding handles that a GPU reset would invalidate.

use std::collections::BTreeSet;
use std::sync::Mutex;

use nvml_wrapper::bitmasks::event::EventTypes;
use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::enums::event::XidError;
use nvml_wrapper::{Device, EventSet, Nvml};

use super::{
    Clock, EccCounter, GpuLibrary, GpuProcess, Memory, MemoryError, NvmlError, Utilization,
};

/// NVML, loaded.
pub struct NvmlLibrary {
    nvml: &'static Nvml,
    /// Per GPU index, its event set registered for critical XID errors.
    events: Mutex<Vec<(u32, EventSet<'static>)>>,
}

/// Why there is no NVML on this host.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("libnvidia-ml.so.1 could not be loaded ({0})")]
    Library(String),
    #[error("the NVIDIA driver is not loaded")]
    DriverNotLoaded,
    #[error("NVML initialisation failed: {0}")]
    Init(NvmlError),
}

/// Opens and initialises NVML.
pub fn load() -> Result<NvmlLibrary, LoadError> {
    let nvml = Nvml::init().map_err(|e| match e {
        NvmlError::LibloadingError(e) => LoadError::Library(e.to_string()),
        NvmlError::LibraryNotFound => LoadError::Library("not found".into()),
        NvmlError::DriverNotLoaded => LoadError::DriverNotLoaded,
        e => LoadError::Init(e),
    })?;
    let nvml: &'static Nvml = Box::leak(Box::new(nvml));
    let events = register_xid_events(nvml);
    Ok(NvmlLibrary {
        nvml,
        events: Mutex::new(events),
    })
}

/// One event set per GPU, so a GPU that cannot report XIDs costs only
/// its own, and each event's GPU is known without asking.
fn register_xid_events(nvml: &'static Nvml) -> Vec<(u32, EventSet<'static>)> {
    let count = nvml.device_count().unwrap_or(0);
    let mut sets = Vec::new();
    for i in 0..count {
        let registered = nvml.device_by_index(i).and_then(|device| {
            let set = nvml.create_event_set()?;
            device
                .register_events(EventTypes::CRITICAL_XID_ERROR, set)
                .map_err(|e| e.error)
        });
        match registered {
            Ok(set) => sets.push((i, set)),
            Err(e) => tracing::info!(gpu = i, error = %e, "XID events not available for this GPU"),
        }
    }
    sets
}

impl NvmlLibrary {
    fn device(&self, index: u32) -> Result<Device<'static>, NvmlError> {
        self.nvml.device_by_index(index)
    }
}

impl GpuLibrary for NvmlLibrary {
    fn device_count(&self) -> Result<u32, NvmlError> {
        self.nvml.device_count()
    }
    fn name(&self, index: u32) -> Result<String, NvmlError> {
        self.device(index)?.name()
    }
    fn uuid(&self, index: u32) -> Result<String, NvmlError> {
        self.device(index)?.uuid()
    }
    fn utilization(&self, index: u32) -> Result<Utilization, NvmlError> {
        let u = self.device(index)?.utilization_rates()?;
        Ok(Utilization {
            gpu: u.gpu,
            memory: u.memory,
        })
    }
    fn memory(&self, index: u32) -> Result<Memory, NvmlError> {
        let m = self.device(index)?.memory_info()?;
        Ok(Memory {
            total: m.total,
            used: m.used,
            free: m.free,
        })
    }
    fn temperature(&self, index: u32) -> Result<u32, NvmlError> {
        self.device(index)?.temperature(TemperatureSensor::Gpu)
    }
    fn power_usage(&self, index: u32) -> Result<u32, NvmlError> {
        self.device(index)?.power_usage()
    }
    fn power_limit(&self, index: u32) -> Result<u32, NvmlError> {
        self.device(index)?.power_management_limit()
    }
    fn enforced_power_limit(&self, index: u32) -> Result<u32, NvmlError> {
        self.device(index)?.enforced_power_limit()
    }
    fn fan_speed(&self, index: u32) -> Result<u32, NvmlError> {
        self.device(index)?.fan_speed(0)
    }
    fn clock(&self, index: u32, clock: Clock) -> Result<u32, NvmlError> {
        self.device(index)?.clock_info(clock)
    }
    fn max_clock(&self, index: u32, clock: Clock) -> Result<u32, NvmlError> {
        self.device(index)?.max_clock_info(clock)
    }
    fn ecc_errors(
        &self,
        index: u32,
        kind: MemoryError,
        counter: EccCounter,
    ) -> Result<u64, NvmlError> {
        self.device(index)?.total_ecc_errors(kind, counter)
    }
    fn xid_events(&self) -> Result<Vec<(u32, u64)>, NvmlError> {
        let sets = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if sets.is_empty() {
            return Err(NvmlError::NotSupported);
        }
        let mut out = Vec::new();
        for (index, set) in sets.iter() {
            loop {
                match set.wait(0) {
                    Ok(ev) => {
                        if let Some(XidError::Value(xid)) = ev.event_data {
                            out.push((*index, xid));
                        }
                    }
                    Err(NvmlError::Timeout) => break,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(out)
    }
    fn processes(&self, index: u32) -> Result<Vec<GpuProcess>, NvmlError> {
        let device = self.device(index)?;
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        let compute = device.running_compute_processes()?;
        let graphics = device.running_graphics_processes()?;
        for p in compute.into_iter().chain(graphics) {
            if seen.insert(p.pid) {
                out.push(GpuProcess {
                    pid: p.pid,
                    used_bytes: match p.used_gpu_memory {
                        UsedGpuMemory::Used(b) => Some(b),
                        UsedGpuMemory::Unavailable => None,
                    },
                });
            }
        }
        Ok(out)
    }
}
