//! Hardware sensors and devices: temperatures, fans, power, CPU frequency, GPUs, firmware.

pub mod cpufreq;
pub mod dmi;
pub mod drm;
pub mod edac;
pub mod gpu;
pub mod hwmon;
pub mod powersupplyclass;
pub mod rapl;
pub mod thermal_zone;
pub mod watchdog;
