//! `meminfo`: every field of `/proc/meminfo` as `node_memory_<Field>_bytes`
//! (or without `_bytes` for page counts), named exactly as node_exporter
//! names them, camel case included, so existing dashboards keep working.

use std::borrow::Cow;
use std::sync::Mutex;

use crate::exporter::collector::{read, CollectError, Collector, Paths};
use crate::exporter::intern;
use crate::exporter::intern::TableMemo;
use crate::exporter::metrics::{Kind, Metrics};

/// A field's family name and help text.
type Named = (Cow<'static, str>, Cow<'static, str>);

pub struct Meminfo {
    paths: Paths,
    /// Per field, its name and help (`intern/table.rs`).
    named: Mutex<TableMemo<Named>>,
}

impl Meminfo {
    pub fn new(paths: Paths) -> Self {
        Meminfo {
            paths,
            named: Mutex::default(),
        }
    }
}

/// One parsed line: the kernel's key, whether its value was in kB, and the
/// value in bytes (or pages).
#[derive(Debug, PartialEq)]
pub struct Field<'a> {
    pub key: &'a str,
    pub kb: bool,
    pub value: f64,
}

impl Field<'_> {
    /// The metric name suffix: `Active(anon)` becomes `Active_anon`, and a
    /// value in kB gains `_bytes`.
    pub fn name(&self) -> String {
        let mut name = String::with_capacity(self.key.len() + 6);
        for c in self.key.chars() {
            match c {
                '(' => name.push('_'),
                ')' => {}
                c => name.push(c),
            }
        }
        if self.kb {
            name.push_str("_bytes");
        }
        name
    }
}

/// Parses `/proc/meminfo`; values with a `kB` unit become bytes.
pub fn parse(text: &str) -> Result<Vec<Field<'_>>, CollectError> {
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
        let kb = parts.next() == Some("kB");
        let value = if kb { value * 1024.0 } else { value };
        fields.push(Field { key, kb, value });
    }
    Ok(fields)
}

impl Collector for Meminfo {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let text = read(&self.paths.proc("meminfo"))?;
        let fields = parse(&text)?;
        let mut named = self.named.lock().unwrap_or_else(|e| e.into_inner());
        let mut pass = named.pass();
        // The memo's key: the kernel's key, and its unit.
        let mut key = String::with_capacity(64);
        for f in fields {
            key.clear();
            key.push_str(f.key);
            if f.kb {
                key.push_str(" kB");
            }
            let (name, help) = pass.answer(&key, |_| {
                let name = f.name();
                (
                    intern::concat(&["node_memory_", &name]),
                    intern::concat(&["Memory information field ", &name, "."]),
                )
            });
            out.new_family(name.clone(), help.clone(), Kind::Gauge)
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
        assert_eq!(f[0].name(), "MemTotal_bytes");
        assert_eq!(f[0].value, 16318412.0 * 1024.0);
        assert_eq!(f[1].name(), "Active_anon_bytes");
        assert_eq!(f[2].name(), "HugePages_Total");
        assert_eq!(f[2].value, 0.0);
    }

    #[test]
    fn names_follow_a_changed_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meminfo");
        let paths = Paths {
            procfs: dir.path().to_owned(),
            ..Paths::default()
        };
        let c = Meminfo::new(paths);
        let names = |text: &str| {
            std::fs::write(&path, text).unwrap();
            let mut m = Metrics::new();
            c.update(&mut m).unwrap();
            m.into_sorted()
                .iter()
                .map(|f| (f.name.to_string(), f.sample(0).value))
                .collect::<Vec<_>>()
        };
        let a = names("MemTotal: 1 kB\nHugePages_Total: 2\n");
        assert_eq!(
            a,
            [
                ("node_memory_HugePages_Total".into(), 2.0),
                ("node_memory_MemTotal_bytes".into(), 1024.0)
            ]
        );
        // The same keys, new values: remembered names, fresh values.
        let b = names("MemTotal: 2 kB\nHugePages_Total: 3\n");
        assert_eq!(b[1], ("node_memory_MemTotal_bytes".into(), 2048.0));
        // The same key in another unit is another name.
        let c = names("MemTotal: 2\nHugePages_Total: 3 kB\n");
        assert_eq!(
            c,
            [
                ("node_memory_HugePages_Total_bytes".into(), 3072.0),
                ("node_memory_MemTotal".into(), 2.0)
            ]
        );
    }

    #[test]
    fn a_malformed_line_is_an_error_not_a_panic() {
        assert!(parse("MemTotal 12 kB\n").is_err());
        assert!(parse("MemTotal: lots kB\n").is_err());
    }
}
