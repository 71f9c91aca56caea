//! `meminfo`: every field of `/proc/meminfo` as `node_memory_<Field>_bytes`
//! (or without `_bytes` for page counts), named exactly as node_exporter
//! names them, camel case included, so existing dashboards keep working.

use crate::exporter::collector::{read, CollectError, Collector, Paths};
use crate::exporter::intern;
use crate::exporter::metrics::Metrics;

pub struct Meminfo {
    paths: Paths,
}

impl Meminfo {
    pub fn new(paths: Paths) -> Self {
        Meminfo { paths }
    }
}

/// One parsed line: the metric name suffix and its value in bytes (or pages).
#[derive(Debug, PartialEq)]
pub struct Field {
    pub name: String,
    pub value: f64,
}

/// Parses `/proc/meminfo`. `Active(anon)` becomes `Active_anon`; values with
/// a `kB` unit become bytes and gain the `_bytes` suffix.
pub fn parse(text: &str) -> Result<Vec<Field>, CollectError> {
    let mut fields = Vec::with_capacity(64);
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let (key, rest) = line.split_once(':').ok_or_else(|| {
            CollectError::parse("/proc/meminfo", format!("malformed line {line:?}"))
        })?;
        let mut parts = rest.split_whitespace();
        let value: f64 = parts.next().and_then(|v| v.parse().ok()).ok_or_else(|| {
            CollectError::parse("/proc/meminfo", format!("malformed value in {line:?}"))
        })?;
        // One allocation per line: `Active(anon)` -> `Active_anon`, plus
        // `_bytes` for a value in kB.
        let kb = parts.next() == Some("kB");
        let mut name = String::with_capacity(key.len() + 6);
        for c in key.chars() {
            match c {
                '(' => name.push('_'),
                ')' => {}
                c => name.push(c),
            }
        }
        let value = if kb {
            name.push_str("_bytes");
            value * 1024.0
        } else {
            value
        };
        fields.push(Field { name, value });
    }
    Ok(fields)
}

impl Collector for Meminfo {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let fields = parse(&read(&self.paths.proc("meminfo"))?)?;
        for f in fields {
            let help = intern::concat(&["Memory information field ", &f.name, "."]);
            out.gauge(intern::concat(&["node_memory_", &f.name]), help)
                .add(&[], f.value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_units_follow_node_exporter() {
        let f = parse(
            "MemTotal:       16318412 kB\nActive(anon):     12 kB\nHugePages_Total:       0\n",
        )
        .unwrap();
        assert_eq!(
            f[0],
            Field {
                name: "MemTotal_bytes".into(),
                value: 16318412.0 * 1024.0
            }
        );
        assert_eq!(f[1].name, "Active_anon_bytes");
        assert_eq!(
            f[2],
            Field {
                name: "HugePages_Total".into(),
                value: 0.0
            }
        );
    }

    #[test]
    fn a_malformed_line_is_an_error_not_a_panic() {
        assert!(parse("MemTotal 12 kB\n").is_err());
        assert!(parse("MemTotal: lots kB\n").is_err());
    }
}
