//! The collector against a recorded stand-in for NVML: no GPU can run
//! here, so [`Recorded`] answers as NVML documents and as it answers on two
//! kinds of card — a passively cooled datacenter A100 (fan `NotSupported`,
//! ECC on) and a consumer RTX 3090 (fan present, ECC `NotSupported`).

use super::*;

/// NVML's errors that the stand-in gives, copyable.
#[derive(Debug, Clone, Copy)]
enum Fail {
    NotSupported,
    NoPermission,
    GpuLost,
}

impl From<Fail> for NvmlError {
    fn from(f: Fail) -> Self {
        match f {
            Fail::NotSupported => NvmlError::NotSupported,
            Fail::NoPermission => NvmlError::NoPermission,
            Fail::GpuLost => NvmlError::GpuLost,
        }
    }
}

type Answer<T> = Result<T, Fail>;

#[derive(Clone)]
struct Card {
    name: &'static str,
    uuid: &'static str,
    utilization: Answer<Utilization>,
    memory: Answer<Memory>,
    temperature: Answer<u32>,
    power_usage: Answer<u32>,
    power_limit: Answer<u32>,
    enforced_power_limit: Answer<u32>,
    fan: Answer<u32>,
    /// Current and max MHz of graphics, SM, memory, video.
    clocks: [(u32, u32); 4],
    /// Corrected volatile/aggregate, uncorrected volatile/aggregate.
    ecc: Answer<[u64; 4]>,
    processes: Answer<Vec<GpuProcess>>,
}

fn a100() -> Card {
    Card {
        name: "NVIDIA A100-SXM4-40GB",
        uuid: "GPU-1b2c3d4e-0000-1111-2222-333344445555",
        utilization: Ok(Utilization {
            gpu: 87,
            memory: 41,
        }),
        memory: Ok(Memory {
            total: 40960 * 1024 * 1024,
            used: 30000 * 1024 * 1024,
            free: 10960 * 1024 * 1024,
        }),
        temperature: Ok(61),
        power_usage: Ok(287_123),
        power_limit: Ok(400_000),
        enforced_power_limit: Ok(400_000),
        fan: Err(Fail::NotSupported),
        clocks: [(1410, 1410), (1410, 1410), (1215, 1215), (1275, 1290)],
        ecc: Ok([3, 12, 0, 1]),
        processes: Ok(vec![
            GpuProcess {
                pid: 4242,
                used_bytes: Some(29_000 * 1024 * 1024),
            },
            GpuProcess {
                pid: 4343,
                used_bytes: None,
            },
        ]),
    }
}

fn rtx3090() -> Card {
    Card {
        name: "NVIDIA GeForce RTX 3090",
        uuid: "GPU-9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff",
        utilization: Ok(Utilization { gpu: 3, memory: 1 }),
        memory: Ok(Memory {
            total: 24576 * 1024 * 1024,
            used: 512 * 1024 * 1024,
            free: 24064 * 1024 * 1024,
        }),
        temperature: Ok(38),
        power_usage: Ok(31_456),
        power_limit: Ok(350_000),
        enforced_power_limit: Ok(350_000),
        fan: Ok(30),
        clocks: [(210, 2100), (210, 2100), (405, 9751), (555, 1950)],
        ecc: Err(Fail::NotSupported),
        processes: Err(Fail::NoPermission),
    }
}

struct Recorded {
    cards: Vec<Card>,
    xids: Mutex<Vec<(u32, u64)>>,
}

impl Recorded {
    fn new(cards: Vec<Card>) -> Self {
        Recorded {
            cards,
            xids: Mutex::default(),
        }
    }
    /// NVML answers `InvalidArg` for an index it has no GPU for.
    fn card(&self, i: u32) -> Result<&Card, NvmlError> {
        self.cards.get(i as usize).ok_or(NvmlError::InvalidArg)
    }
}

fn clock_slot(c: Clock) -> usize {
    match c {
        Clock::Graphics => 0,
        Clock::SM => 1,
        Clock::Memory => 2,
        Clock::Video => 3,
    }
}

impl GpuLibrary for Recorded {
    fn device_count(&self) -> Result<u32, NvmlError> {
        Ok(self.cards.len() as u32)
    }
    fn name(&self, i: u32) -> Result<String, NvmlError> {
        Ok(self.card(i)?.name.into())
    }
    fn uuid(&self, i: u32) -> Result<String, NvmlError> {
        Ok(self.card(i)?.uuid.into())
    }
    fn utilization(&self, i: u32) -> Result<Utilization, NvmlError> {
        Ok(self.card(i)?.utilization?)
    }
    fn memory(&self, i: u32) -> Result<Memory, NvmlError> {
        Ok(self.card(i)?.memory?)
    }
    fn temperature(&self, i: u32) -> Result<u32, NvmlError> {
        Ok(self.card(i)?.temperature?)
    }
    fn power_usage(&self, i: u32) -> Result<u32, NvmlError> {
        Ok(self.card(i)?.power_usage?)
    }
    fn power_limit(&self, i: u32) -> Result<u32, NvmlError> {
        Ok(self.card(i)?.power_limit?)
    }
    fn enforced_power_limit(&self, i: u32) -> Result<u32, NvmlError> {
        Ok(self.card(i)?.enforced_power_limit?)
    }
    fn fan_speed(&self, i: u32) -> Result<u32, NvmlError> {
        Ok(self.card(i)?.fan?)
    }
    fn clock(&self, i: u32, c: Clock) -> Result<u32, NvmlError> {
        Ok(self.card(i)?.clocks[clock_slot(c)].0)
    }
    fn max_clock(&self, i: u32, c: Clock) -> Result<u32, NvmlError> {
        Ok(self.card(i)?.clocks[clock_slot(c)].1)
    }
    fn ecc_errors(&self, i: u32, k: MemoryError, c: EccCounter) -> Result<u64, NvmlError> {
        let all = self.card(i)?.ecc?;
        let slot = match (k, c) {
            (MemoryError::Corrected, EccCounter::Volatile) => 0,
            (MemoryError::Corrected, EccCounter::Aggregate) => 1,
            (MemoryError::Uncorrected, EccCounter::Volatile) => 2,
            (MemoryError::Uncorrected, EccCounter::Aggregate) => 3,
        };
        Ok(all[slot])
    }
    fn xid_events(&self) -> Result<Vec<(u32, u64)>, NvmlError> {
        Ok(std::mem::take(&mut *self.xids.lock().unwrap()))
    }
    fn processes(&self, i: u32) -> Result<Vec<GpuProcess>, NvmlError> {
        Ok(self.card(i)?.processes.clone()?)
    }
}

fn collector(lib: Arc<Recorded>, options: Options) -> Gpu {
    let procfs = tempfile::tempdir().unwrap().keep();
    std::fs::create_dir_all(procfs.join("4242")).unwrap();
    std::fs::write(procfs.join("4242/comm"), "python3\n").unwrap();
    let paths = Paths {
        procfs,
        ..Paths::default()
    };
    Gpu::with_library(Some(lib), paths, options)
}

fn scrape(gpu: &Gpu) -> Result<Metrics, CollectError> {
    let mut m = Metrics::new();
    gpu.update(&mut m)?;
    Ok(m)
}

/// The value of `name` for the GPU with `uuid` (and `extra` labels).
fn value(m: &Metrics, name: &str, uuid: &str, extra: &[(&str, &str)]) -> Option<f64> {
    m.get(name)?
        .samples()
        .find(|s| s.label("uuid") == Some(uuid) && extra.iter().all(|(k, v)| s.label(k) == Some(v)))
        .map(|s| s.value)
}

#[test]
fn reports_each_value_in_base_units_under_nvidia_smi_names() {
    let lib = Arc::new(Recorded::new(vec![a100(), rtx3090()]));
    let m = scrape(&collector(lib, Options::default())).unwrap();
    let a = a100().uuid;
    let r = rtx3090().uuid;
    let v = |name, uuid| value(&m, name, uuid, &[]);
    assert_eq!(v("nvidia_smi_utilization_gpu_ratio", a), Some(0.87));
    assert_eq!(v("nvidia_smi_utilization_memory_ratio", a), Some(0.41));
    assert_eq!(
        v("nvidia_smi_memory_total_bytes", a),
        Some(42_949_672_960.0)
    );
    assert_eq!(v("nvidia_smi_memory_used_bytes", a), Some(31_457_280_000.0));
    assert_eq!(v("nvidia_smi_memory_free_bytes", r), Some(25_232_932_864.0));
    assert_eq!(v("nvidia_smi_temperature_gpu", a), Some(61.0));
    assert_eq!(v("nvidia_smi_power_draw_watts", a), Some(287.123));
    assert_eq!(v("nvidia_smi_power_limit_watts", r), Some(350.0));
    assert_eq!(v("nvidia_smi_enforced_power_limit_watts", a), Some(400.0));
    assert_eq!(
        v("nvidia_smi_clocks_current_memory_clock_hz", r),
        Some(405e6)
    );
    assert_eq!(
        v("nvidia_smi_clocks_max_graphics_clock_hz", r),
        Some(2100e6)
    );
    assert_eq!(v("nvidia_smi_clocks_current_sm_clock_hz", a), Some(1410e6));
    assert_eq!(
        v("nvidia_smi_ecc_errors_corrected_aggregate_total", a),
        Some(12.0)
    );
    assert_eq!(
        v("nvidia_smi_ecc_errors_uncorrected_aggregate_total", a),
        Some(1.0)
    );
    assert_eq!(
        v("nvidia_smi_ecc_errors_corrected_volatile_total", a),
        Some(3.0)
    );
    // Every series names its GPU three ways.
    let info = m.get("nvidia_smi_gpu_info").unwrap();
    let second = info
        .samples()
        .find(|s| s.label("index") == Some("1"))
        .unwrap();
    assert_eq!(second.label("uuid"), Some(r));
    assert_eq!(second.label("name"), Some("NVIDIA GeForce RTX 3090"));
    let temp = m.get("nvidia_smi_temperature_gpu").unwrap();
    assert!(temp.samples().all(|s| s.label("uuid").is_some()
        && s.label("name").is_some()
        && s.label("index").is_some()));
}

#[test]
fn what_a_card_does_not_support_is_left_out_not_zero() {
    let lib = Arc::new(Recorded::new(vec![a100(), rtx3090()]));
    let m = scrape(&collector(lib, Options::default())).unwrap();
    // The A100 has no fan, the 3090 no ECC: absent, as nvidia-smi's [N/A].
    assert_eq!(
        value(&m, "nvidia_smi_fan_speed_ratio", a100().uuid, &[]),
        None
    );
    assert_eq!(
        value(&m, "nvidia_smi_fan_speed_ratio", rtx3090().uuid, &[]),
        Some(0.3)
    );
    assert_eq!(
        value(
            &m,
            "nvidia_smi_ecc_errors_corrected_aggregate_total",
            rtx3090().uuid,
            &[]
        ),
        None
    );
    // Per-process memory is off unless asked for.
    assert!(m.get("outpost_gpu_process_memory_used_bytes").is_none());
}

#[test]
fn per_process_memory_behind_its_flag() {
    let lib = Arc::new(Recorded::new(vec![a100(), rtx3090()]));
    let options = Options {
        processes: true,
        ..Options::default()
    };
    let m = scrape(&collector(lib, options)).unwrap();
    let fam = m.get("outpost_gpu_process_memory_used_bytes").unwrap();
    // 4343's memory is unavailable and the 3090 refuses (NoPermission).
    assert_eq!(fam.len(), 1);
    let s = fam.sample(0);
    assert_eq!(s.label("pid"), Some("4242"));
    assert_eq!(s.label("process"), Some("python3"));
    assert_eq!(s.label("uuid"), Some(a100().uuid));
    assert_eq!(s.value, 29_000.0 * 1024.0 * 1024.0);
}

#[test]
fn xid_errors_are_counted_per_gpu_from_zero_with_the_last_code() {
    let lib = Arc::new(Recorded::new(vec![a100(), rtx3090()]));
    let gpu = collector(lib.clone(), Options::default());
    let m = scrape(&gpu).unwrap();
    let total = |m: &Metrics, uuid| value(m, "outpost_gpu_xid_errors_total", uuid, &[]);
    let code = |m: &Metrics, uuid| value(m, "outpost_gpu_xid_last_code", uuid, &[]);
    assert_eq!(total(&m, a100().uuid), Some(0.0));
    assert_eq!(code(&m, a100().uuid), Some(0.0));
    lib.xids.lock().unwrap().extend([(0, 79), (0, 79), (1, 13)]);
    scrape(&gpu).unwrap();
    lib.xids.lock().unwrap().push((0, 48));
    let m = scrape(&gpu).unwrap();
    assert_eq!(total(&m, a100().uuid), Some(3.0));
    assert_eq!(code(&m, a100().uuid), Some(48.0));
    assert_eq!(total(&m, rtx3090().uuid), Some(1.0));
    assert_eq!(code(&m, rtx3090().uuid), Some(13.0));
}

#[test]
fn selected_devices_only_and_an_unknown_index_fails_the_collector() {
    let lib = Arc::new(Recorded::new(vec![a100(), rtx3090()]));
    let only = Options {
        devices: vec![1],
        ..Options::default()
    };
    let m = scrape(&collector(lib.clone(), only)).unwrap();
    assert_eq!(m.get("nvidia_smi_gpu_info").unwrap().len(), 1);
    assert_eq!(
        value(&m, "nvidia_smi_gpu_info", rtx3090().uuid, &[]),
        Some(1.0)
    );

    let bad = Options {
        devices: vec![0, 2],
        ..Options::default()
    };
    let err = scrape(&collector(lib, bad)).unwrap_err().to_string();
    assert!(err.contains("GPU 2") && err.contains("has 2 GPU"), "{err}");
}

#[test]
fn a_lost_gpu_fails_the_scrape_naming_it() {
    let mut lost = rtx3090();
    lost.temperature = Err(Fail::GpuLost);
    let lib = Arc::new(Recorded::new(vec![a100(), lost]));
    let err = scrape(&collector(lib, Options::default()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("GPU 1") && err.contains("temperature"),
        "{err}"
    );
}

#[test]
fn without_the_library_it_exports_nothing_and_succeeds() {
    let gpu = Gpu::with_library(None, Paths::default(), Options::default());
    let m = scrape(&gpu).unwrap();
    assert!(m.is_empty());
}
