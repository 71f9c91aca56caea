//! What `/plot` may draw: the named metrics ([`PlotMetric`]) and the
//! allow-list of recording rules ([`PLOT_RECORDS`]), with each one's title
//! and unit. The PromQL behind each lives in [`super::queries::plot`].
//!
//! Decisions:
//! - Recording rules are allowed by their exact name and only from
//!   [`PLOT_RECORDS`], whose entries are the generator's own constants
//!   (`generate::recording`, the one owner of those names): a name typed in
//!   chat never becomes PromQL unless it is one of them.
//! - Per-device records (`agent_device:…`) are left out: one line per disk
//!   of every agent is not a chart one can read on a phone.

use crate::generate::recording;

/// Recording rules `/plot` draws by name, with their unit.
pub const PLOT_RECORDS: &[(&str, Unit)] = &[
    (recording::CPU_RECORD, Unit::Percent),
    (recording::CPU_UTILISATION, Unit::Ratio),
    (recording::LOAD_PER_CPU, Unit::Ratio),
    (recording::MEMORY_UTILISATION, Unit::Ratio),
    (recording::MAJOR_FAULTS, Unit::PerSecond),
    (recording::NET_RECEIVE, Unit::BytesPerSecond),
    (recording::NET_TRANSMIT, Unit::BytesPerSecond),
    (recording::NET_RECEIVE_DROP, Unit::PerSecond),
    (recording::NET_TRANSMIT_DROP, Unit::PerSecond),
    (recording::CPU_STEAL, Unit::Percent),
];

/// The y axis of a plot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// 0–100.
    Percent,
    /// A plain ratio or count (load, 0–1 ratios).
    Ratio,
    BytesPerSecond,
    PerSecond,
    Celsius,
}

impl Unit {
    /// The axis label.
    pub fn label(self) -> &'static str {
        match self {
            Unit::Percent => "%",
            Unit::Ratio => "",
            Unit::BytesPerSecond => "B/s",
            Unit::PerSecond => "/s",
            Unit::Celsius => "°C",
        }
    }
}

/// A metric `/plot` draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlotMetric {
    Cpu,
    Mem,
    Disk,
    Load,
    NetIn,
    NetOut,
    DiskIo,
    Temp,
    /// NVIDIA GPU utilisation, per GPU (the gpu collector's `nvidia_smi_*`).
    Gpu,
    /// A recording rule from [`PLOT_RECORDS`].
    Record(&'static str),
}

impl PlotMetric {
    /// The named metrics, in `/help` order.
    pub const NAMED: [PlotMetric; 9] = [
        PlotMetric::Cpu,
        PlotMetric::Mem,
        PlotMetric::Disk,
        PlotMetric::Load,
        PlotMetric::NetIn,
        PlotMetric::NetOut,
        PlotMetric::DiskIo,
        PlotMetric::Temp,
        PlotMetric::Gpu,
    ];

    /// The word typed in chat.
    pub fn as_str(self) -> &'static str {
        match self {
            PlotMetric::Cpu => "cpu",
            PlotMetric::Mem => "mem",
            PlotMetric::Disk => "disk",
            PlotMetric::Load => "load",
            PlotMetric::NetIn => "net_in",
            PlotMetric::NetOut => "net_out",
            PlotMetric::DiskIo => "disk_io",
            PlotMetric::Temp => "temp",
            PlotMetric::Gpu => "gpu",
            PlotMetric::Record(r) => r,
        }
    }

    /// A named metric or an allowed recording rule; `None` otherwise.
    pub fn parse(word: &str) -> Option<PlotMetric> {
        let lower = word.to_ascii_lowercase();
        PlotMetric::NAMED
            .into_iter()
            .find(|m| m.as_str() == lower)
            .or_else(|| {
                PLOT_RECORDS
                    .iter()
                    .find(|(r, _)| *r == word)
                    .map(|(r, _)| PlotMetric::Record(r))
            })
    }

    pub fn title(self) -> String {
        match self {
            PlotMetric::Cpu => "CPU usage".into(),
            PlotMetric::Mem => "Memory usage".into(),
            PlotMetric::Disk => "Disk usage".into(),
            PlotMetric::Load => "Load (1 min)".into(),
            PlotMetric::NetIn => "Network received".into(),
            PlotMetric::NetOut => "Network sent".into(),
            PlotMetric::DiskIo => "Disk reads + writes".into(),
            PlotMetric::Temp => "Hottest sensor".into(),
            PlotMetric::Gpu => "GPU utilisation".into(),
            PlotMetric::Record(r) => r.to_string(),
        }
    }

    pub fn unit(self) -> Unit {
        match self {
            PlotMetric::Cpu | PlotMetric::Mem | PlotMetric::Disk | PlotMetric::Gpu => Unit::Percent,
            PlotMetric::Load => Unit::Ratio,
            PlotMetric::NetIn | PlotMetric::NetOut | PlotMetric::DiskIo => Unit::BytesPerSecond,
            PlotMetric::Temp => Unit::Celsius,
            PlotMetric::Record(r) => PLOT_RECORDS
                .iter()
                .find(|(name, _)| *name == r)
                .map_or(Unit::Ratio, |(_, u)| *u),
        }
    }

    /// The `/mon_*` resource with the same chart, for its threshold line.
    pub fn resource(self) -> Option<super::commands::Metric> {
        use super::commands::Metric;
        match self {
            PlotMetric::Cpu => Some(Metric::Cpu),
            PlotMetric::Mem => Some(Metric::Mem),
            PlotMetric::Disk => Some(Metric::Disk),
            _ => None,
        }
    }
}

/// The words `/plot` understands, for a refusal.
pub fn known_words() -> String {
    let named: Vec<&str> = PlotMetric::NAMED.iter().map(|m| m.as_str()).collect();
    let records: Vec<&str> = PLOT_RECORDS.iter().map(|(r, _)| *r).collect();
    format!(
        "{}; recording rules: {}",
        named.join(", "),
        records.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_the_allow_list() {
        for m in PlotMetric::NAMED {
            assert_eq!(PlotMetric::parse(m.as_str()), Some(m));
        }
        assert_eq!(PlotMetric::parse("GPU"), Some(PlotMetric::Gpu));
        assert_eq!(
            PlotMetric::parse("agent:node_load1_per_cpu:ratio"),
            Some(PlotMetric::Record(recording::LOAD_PER_CPU))
        );
        assert_eq!(
            PlotMetric::parse(recording::CPU_STEAL).unwrap().unit(),
            Unit::Percent
        );
        // Not in the allow-list: any other series, or PromQL.
        for w in ["node_load1", "up", "agent:x:y", r#"up{a="b"}"#, "sum(up)"] {
            assert_eq!(PlotMetric::parse(w), None, "{w}");
        }
        assert!(known_words().contains("net_in") && known_words().contains(recording::CPU_RECORD));
    }
}
