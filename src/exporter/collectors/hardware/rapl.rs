//! `rapl`: energy counters of the RAPL power zones in
//! `/sys/class/powercap/*/` (`node_rapl_<zone>_joules_total{index,path}`).
//!
//! A zone is a directory with a `name` file; its counter is `energy_uj`
//! (microjoules). As node_exporter (through procfs' `GetRaplZones`): a
//! name ending in `-N` (`package-0`) gives the index `N` and the name
//! without it; otherwise the index counts earlier zones of the same name;
//! `path` is the zone's directory under `--path.sysfs`. Zones are read in
//! directory order. No `/sys/class/powercap` exports nothing.

use std::collections::HashMap;

use crate::exporter::collector::{
    class_entries, read, read_if_present, CollectError, Collector, Paths,
};
use crate::exporter::metrics::Metrics;

/// One power zone, ready to export.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    pub name: String,
    pub index: u64,
    pub path: String,
    pub microjoules: u64,
}

/// The index and name of a zone called `raw`, given the names seen so far.
pub fn index_and_name(seen: &mut HashMap<String, u64>, raw: &str) -> (u64, String) {
    let parts: Vec<&str> = raw.split('-').collect();
    let (index, name) = match parts[..] {
        [name, n] if n.parse::<i64>().is_ok() => {
            (n.parse::<i64>().unwrap_or(0) as u64, name.to_owned())
        }
        _ => (seen.get(raw).copied().unwrap_or(0), raw.to_owned()),
    };
    seen.insert(name.clone(), index + 1);
    (index, name)
}

/// A metric name part as node_exporter's `SanitizeMetricName` makes it:
/// each run of characters outside `[0-9A-Za-z_]`, with the underscores
/// around it, becomes one `_`; underscores at the ends go.
pub fn sanitize(name: &str) -> String {
    static RUN: std::sync::OnceLock<regex_lite::Regex> = std::sync::OnceLock::new();
    let run = RUN.get_or_init(|| regex_lite::Regex::new("_*[^0-9A-Za-z_]+_*").expect("valid"));
    run.replace_all(name, "_").trim_matches('_').to_owned()
}

fn number(path: &std::path::Path, text: &str) -> Result<u64, CollectError> {
    text.trim().parse().map_err(|_| {
        CollectError::parse(
            path.display().to_string(),
            format!("expected microjoules, got {text:?}"),
        )
    })
}

pub struct Rapl {
    paths: Paths,
    /// `--collector.rapl.enable-zone-label`: one family,
    /// `node_rapl_joules_total`, with the zone in a `rapl_zone` label.
    zone_label: bool,
}

impl Rapl {
    pub fn new(paths: Paths, zone_label: bool) -> Self {
        Rapl { paths, zone_label }
    }
}

impl Collector for Rapl {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let dir = self.paths.sys("class/powercap");
        let mut seen = HashMap::new();
        let mut zones = Vec::new();
        for entry in class_entries(&dir, "/sys/class/powercap")? {
            let zone_dir = dir.join(&entry);
            let Some(raw) = read_if_present(&zone_dir.join("name"))? else {
                continue;
            };
            let (index, name) = index_and_name(&mut seen, raw.trim());
            let max = zone_dir.join("max_energy_range_uj");
            number(&max, &read(&max)?)?;
            let energy = zone_dir.join("energy_uj");
            zones.push(Zone {
                name,
                index,
                path: zone_dir.display().to_string(),
                microjoules: number(&energy, &read(&energy)?)?,
            });
        }
        for z in &zones {
            let (index, joules) = (z.index.to_string(), z.microjoules as f64 / 1e6);
            if self.zone_label {
                out.counter("node_rapl_joules_total", "Current RAPL value in joules")
                    .add(
                        &[("index", &index), ("path", &z.path), ("rapl_zone", &z.name)],
                        joules,
                    );
                continue;
            }
            out.counter(
                format!(
                    "node_rapl_{}",
                    sanitize(&format!("{}_joules_total", z.name))
                ),
                format!("Current RAPL {} value in joules", z.name),
            )
            .add(&[("index", &index), ("path", &z.path)], joules);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_indexes_zones_as_node_exporter() {
        let mut seen = HashMap::new();
        assert_eq!(
            index_and_name(&mut seen, "package-0"),
            (0, "package".into())
        );
        assert_eq!(index_and_name(&mut seen, "core"), (0, "core".into()));
        assert_eq!(index_and_name(&mut seen, "dram"), (0, "dram".into()));
        assert_eq!(index_and_name(&mut seen, "dram"), (1, "dram".into()));
        assert_eq!(
            index_and_name(&mut seen, "package-1"),
            (1, "package".into())
        );
        assert_eq!(index_and_name(&mut seen, "a-b-c"), (0, "a-b-c".into()));
        assert_eq!(sanitize("package_joules_total"), "package_joules_total");
        assert_eq!(sanitize("a-b-c_joules_total"), "a_b_c_joules_total");
        assert_eq!(sanitize("-x__-y_"), "x_y");
        assert_eq!(sanitize("x__y"), "x__y");
        assert!(number(std::path::Path::new("e"), "12x").is_err());
    }
}
