//! `meminfo_numa` (off by default): memory per NUMA node from
//! `/sys/devices/system/node/node<N>/{meminfo,numastat}`:
//! `node_memory_numa_<Field>{node}` gauges (in bytes where the kernel says
//! `kB`; `Active(anon)` becomes `Active_anon`) and
//! `node_memory_numa_<stat>_total{node}` counters.
//!
//! Decisions: as node_exporter, a node directory without either file fails
//! the collector, as does a line that does not parse (named by file and
//! line); no node directories export nothing.

use std::borrow::Cow;
use std::path::Path;

use crate::exporter::collector::{entries, read, CollectError, Collector, Paths};
use crate::exporter::intern;
use crate::exporter::metrics::Metrics;

/// One value of one node.
#[derive(Debug, PartialEq)]
pub struct Field<'a> {
    /// The metric name's last part (`Active_anon`, `numa_hit_total`).
    pub name: Cow<'a, str>,
    pub value: f64,
}

fn line_error(what: &Path, n: usize, reason: String) -> CollectError {
    CollectError::parse(format!("{} line {}", what.display(), n + 1), reason)
}

/// Parses a node's `meminfo` (`Node 0 MemTotal:  8123456 kB`); the node
/// number each line names, and its fields.
pub fn parse_meminfo<'a>(
    what: &Path,
    text: &'a str,
) -> Result<Vec<(&'a str, Field<'a>)>, CollectError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.is_empty() {
            continue;
        }
        let (node, key, value, unit) = match parts[..] {
            [_, node, key, value] => (node, key, value, None),
            [_, node, key, value, unit] => (node, key, value, Some(unit)),
            _ => {
                return Err(line_error(
                    what,
                    n,
                    format!("not `Node N Key: value [kB]`: {line:?}"),
                ))
            }
        };
        let mut value: f64 = value
            .parse()
            .map_err(|_| line_error(what, n, format!("bad value in {line:?}")))?;
        match unit {
            None => {}
            Some("kB") => value *= 1024.0,
            Some(u) => return Err(line_error(what, n, format!("unknown unit {u:?}"))),
        }
        let key = key.trim_end_matches(':');
        // `Active(anon)` → `Active_anon`
        let name = match key.split_once('(') {
            Some((head, rest)) => Cow::Owned(format!("{head}_{}", rest.trim_end_matches(')'))),
            None => Cow::Borrowed(key),
        };
        out.push((node, Field { name, value }));
    }
    Ok(out)
}

/// Parses a node's `numastat` (`numa_hit 48122890`).
pub fn parse_numastat<'a>(what: &Path, text: &'a str) -> Result<Vec<Field<'a>>, CollectError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts[..] {
            [] => {}
            [key, value] => out.push(Field {
                name: Cow::Owned(format!("{key}_total")),
                value: value
                    .parse()
                    .map_err(|_| line_error(what, n, format!("bad value in {line:?}")))?,
            }),
            _ => return Err(line_error(what, n, format!("not `key value`: {line:?}"))),
        }
    }
    Ok(out)
}

pub struct MeminfoNuma {
    paths: Paths,
}

impl MeminfoNuma {
    pub fn new(paths: Paths) -> Self {
        MeminfoNuma { paths }
    }
}

/// Whether `name` is a node directory (`node` and digits).
fn node_number(name: &str) -> Option<&str> {
    name.strip_prefix("node")
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

impl Collector for MeminfoNuma {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let base = self.paths.sys("devices/system/node");
        let mut texts = Vec::new();
        for dir in entries(&base)? {
            let Some(number) = node_number(&dir) else {
                continue;
            };
            let meminfo = base.join(&dir).join("meminfo");
            let numastat = base.join(&dir).join("numastat");
            let (m, s) = (read(&meminfo)?, read(&numastat)?);
            texts.push((number.to_owned(), meminfo, m, numastat, s));
        }
        let mut gauges = Vec::new();
        let mut counters = Vec::new();
        for (number, meminfo, m, numastat, s) in &texts {
            gauges.extend(parse_meminfo(meminfo, m)?);
            counters.extend(
                parse_numastat(numastat, s)?
                    .into_iter()
                    .map(|f| (number.as_str(), f)),
            );
        }
        for (list, counter) in [(&gauges, false), (&counters, true)] {
            for (node, f) in list {
                let name = intern::concat(&["node_memory_numa_", &f.name]);
                let help = intern::concat(&["Memory information field ", &f.name, "."]);
                let family = if counter {
                    out.counter(name, help)
                } else {
                    out.gauge(name, help)
                };
                family.add(&[("node", node)], f.value);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_in_bytes_with_names_cleaned() {
        let f = parse_meminfo(
            Path::new("meminfo"),
            "Node 1 MemFree:  4 kB\nNode 1 Active(anon): 2 kB\nNode 1 HugePages_Free:  3\n",
        )
        .unwrap();
        assert_eq!(
            f[0],
            (
                "1",
                Field {
                    name: "MemFree".into(),
                    value: 4096.0
                }
            )
        );
        assert_eq!(f[1].1.name, "Active_anon");
        assert_eq!(f[2].1.value, 3.0);
    }

    #[test]
    fn numastat_counters() {
        let f = parse_numastat(Path::new("numastat"), "numa_hit 7\nother_node 2\n").unwrap();
        assert_eq!(
            f[0],
            Field {
                name: "numa_hit_total".into(),
                value: 7.0
            }
        );
        assert_eq!(f[1].value, 2.0);
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        let err =
            parse_meminfo(Path::new("m"), "Node 0 MemFree: 1 kB\nmalformed line\n").unwrap_err();
        assert!(err.to_string().contains("m line 2"), "{err}");
        assert!(parse_meminfo(Path::new("m"), "Node 0 MemFree: 1 MB\n").is_err());
        assert!(parse_numastat(Path::new("s"), "numa_hit x\n").is_err());
        assert!(parse_numastat(Path::new("s"), "malformed line\n").is_err());
    }

    #[test]
    fn node_directories_only() {
        assert_eq!(node_number("node12"), Some("12"));
        assert_eq!(node_number("possible"), None);
        assert_eq!(node_number("nodex"), None);
        assert_eq!(node_number("node"), None);
    }
}
