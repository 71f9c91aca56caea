//! `drm` (off by default): AMD GPUs (`amdgpu` driver) from
//! `/sys/class/drm/card<N>/device/`: `node_drm_card_info{card,memory_vendor,
//! power_performance_level,unique_id,vendor}`, `node_drm_gpu_busy_percent`
//! and `node_drm_memory_{gtt,vis_vram,vram}_{size,used}_bytes{card}`.
//!
//! Decisions: as node_exporter, only `card` and one digit (`card0`..
//! `card9`; connectors such as `card0-DP-1` are not cards), a card whose
//! `device/uevent` is missing fails the collector, and an attribute the
//! card lacks reads 0 (or ""). Cards of other drivers are skipped, as
//! procfs does since 1.5 (node_exporter 1.5 lists them as `amd` with
//! zeros; the golden test names those series). Unlike node_exporter, which
//! reads a number that does not parse as 0, such a number fails the
//! collector, naming the file. node_exporter 1.9+ adds a `chip` label from
//! the `device` link's target; not done here.

use std::path::Path;

use crate::exporter::collector::{entries, read, read_attr, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

/// The numeric attributes: file and metric name, help.
const NUMBERS: [(&str, &str, &str); 7] = [
    (
        "gpu_busy_percent",
        "node_drm_gpu_busy_percent",
        "How busy the GPU is as a percentage.",
    ),
    (
        "mem_info_gtt_total",
        "node_drm_memory_gtt_size_bytes",
        "The size of the graphics translation table (GTT) block in bytes.",
    ),
    (
        "mem_info_gtt_used",
        "node_drm_memory_gtt_used_bytes",
        "The used amount of the graphics translation table (GTT) block in bytes.",
    ),
    (
        "mem_info_vis_vram_total",
        "node_drm_memory_vis_vram_size_bytes",
        "The size of visible VRAM in bytes.",
    ),
    (
        "mem_info_vis_vram_used",
        "node_drm_memory_vis_vram_used_bytes",
        "The used amount of visible VRAM in bytes.",
    ),
    (
        "mem_info_vram_total",
        "node_drm_memory_vram_size_bytes",
        "The size of VRAM in bytes.",
    ),
    (
        "mem_info_vram_used",
        "node_drm_memory_vram_used_bytes",
        "The used amount of VRAM in bytes.",
    ),
];

/// One amdgpu card.
#[derive(Debug, Default, PartialEq)]
pub struct Card {
    pub name: String,
    /// Per [`NUMBERS`], in order.
    pub numbers: [f64; 7],
    pub memory_vendor: String,
    pub performance_level: String,
    pub unique_id: String,
}

/// Whether `name` is a card directory (`card` and one digit).
fn is_card(name: &str) -> bool {
    name.strip_prefix("card")
        .is_some_and(|d| d.len() == 1 && d.as_bytes()[0].is_ascii_digit())
}

/// Whether a `uevent` names the amdgpu driver.
pub fn is_amdgpu(uevent: &str) -> bool {
    uevent.contains("DRIVER=amdgpu")
}

/// Reads an amdgpu card's attributes from its `device` directory.
pub fn read_card(name: &str, device: &Path) -> Result<Card, CollectError> {
    let mut card = Card {
        name: name.to_owned(),
        ..Card::default()
    };
    for ((file, _, _), slot) in NUMBERS.iter().zip(&mut card.numbers) {
        let path = device.join(file);
        if let Some(text) = read_attr(&path) {
            *slot = text.parse::<u64>().map_err(|_| {
                CollectError::parse(
                    path.display().to_string(),
                    format!("not a number: {text:?}"),
                )
            })? as f64;
        }
    }
    let text = |file: &str| read_attr(&device.join(file)).unwrap_or_default();
    card.memory_vendor = text("mem_info_vram_vendor");
    card.performance_level = text("power_dpm_force_performance_level");
    card.unique_id = text("unique_id");
    Ok(card)
}

pub struct Drm {
    paths: Paths,
}

impl Drm {
    pub fn new(paths: Paths) -> Self {
        Drm { paths }
    }
}

impl Collector for Drm {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let class = self.paths.sys("class/drm");
        let mut cards = Vec::new();
        for name in entries(&class)? {
            if !is_card(&name) {
                continue;
            }
            let device = class.join(&name).join("device");
            if is_amdgpu(&read(&device.join("uevent"))?) {
                cards.push(read_card(&name, &device)?);
            }
        }
        let info = out.gauge("node_drm_card_info", "Card information");
        for c in &cards {
            info.add(
                &[
                    ("card", &c.name),
                    ("memory_vendor", &c.memory_vendor),
                    ("power_performance_level", &c.performance_level),
                    ("unique_id", &c.unique_id),
                    ("vendor", "amd"),
                ],
                1.0,
            );
        }
        for (i, (_, name, help)) in NUMBERS.iter().enumerate() {
            let f = out.gauge(*name, *help);
            for c in &cards {
                f.add(&[("card", &c.name)], c.numbers[i]);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_are_one_digit() {
        assert!(is_card("card0"));
        assert!(!is_card("card0-DP-1"));
        assert!(!is_card("renderD128"));
        assert!(!is_card("card"));
    }

    #[test]
    fn reads_attributes_missing_ones_as_zero() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("gpu_busy_percent"), "35\n").unwrap();
        std::fs::write(dir.path().join("mem_info_vram_total"), "17163091968\n").unwrap();
        std::fs::write(dir.path().join("mem_info_vram_vendor"), "samsung\n").unwrap();
        let c = read_card("card0", dir.path()).unwrap();
        assert_eq!(c.numbers, [35.0, 0.0, 0.0, 0.0, 0.0, 17163091968.0, 0.0]);
        assert_eq!(c.memory_vendor, "samsung");
        assert_eq!(c.unique_id, "");

        std::fs::write(dir.path().join("gpu_busy_percent"), "35\nmalformed line\n").unwrap();
        let err = read_card("card0", dir.path()).unwrap_err();
        assert!(err.to_string().contains("gpu_busy_percent"), "{err}");
    }

    #[test]
    fn only_the_amdgpu_driver() {
        assert!(is_amdgpu("DRIVER=amdgpu\nPCI_CLASS=30000\n"));
        assert!(!is_amdgpu("DRIVER=i915\n"));
    }
}
