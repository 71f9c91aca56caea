//! `vmstat`: selected fields of `/proc/vmstat` as untyped
//! `node_vmstat_<field>`, filtered by node_exporter 1.5's default
//! `--collector.vmstat.fields`.

use std::borrow::Cow;
use std::sync::Mutex;

use crate::exporter::intern::TableMemo;
use crate::exporter::matcher::Matcher;

use crate::exporter::collector::{read, CollectError, Collector, Number, Paths};
use crate::exporter::intern;
use crate::exporter::metrics::{Kind, Metrics};

/// node_exporter's default `--collector.vmstat.fields` (the same in 1.5 and 1.12).
pub const DEFAULT_FIELDS: &str = r"^(oom_kill|pgpg|pswp|pg.*fault).*";

/// Parses every `name value` line.
pub fn parse(text: &str) -> Result<Vec<(&str, Number<'_>)>, CollectError> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next().map(Number::new), parts.next()) {
                (Some(name), Some(Some(value)), None) => Ok((name, value)),
                _ => Err(CollectError::parse(
                    "/proc/vmstat",
                    format!("malformed line {line:?}"),
                )),
            }
        })
        .collect()
}

/// A field's family name and help text.
type Named = (Cow<'static, str>, Cow<'static, str>);

pub struct Vmstat {
    paths: Paths,
    /// `--collector.vmstat.fields`.
    fields: Matcher,
    /// Per field, its name and help if the filter keeps it
    /// (`intern/table.rs`).
    named: Mutex<TableMemo<Option<Named>>>,
}

impl Vmstat {
    pub fn new(paths: Paths, fields: Matcher) -> Self {
        Vmstat {
            paths,
            fields,
            named: Mutex::default(),
        }
    }
}

impl Collector for Vmstat {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let text = read(&self.paths.proc("vmstat"))?;
        let fields = parse(&text)?;
        let filter = &self.fields;
        let mut named = self.named.lock().unwrap_or_else(|e| e.into_inner());
        let mut pass = named.pass();
        for (field, value) in fields {
            let answer = pass.answer(field, |field| {
                filter.is_match(field).then(|| {
                    (
                        intern::concat(&["node_vmstat_", field]),
                        intern::concat(&["/proc/vmstat information field ", field, "."]),
                    )
                })
            });
            if let Some((name, help)) = answer {
                out.new_family(name.clone(), help.clone(), Kind::Untyped)
                    .add(&[], value.value());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields_filter() -> Matcher {
        Matcher::new(DEFAULT_FIELDS).expect("static regex")
    }

    #[test]
    fn parses_and_filters_like_node_exporter() {
        let f = parse("nr_free_pages 100\npgfault 5\noom_kill 0\npgpgin 7\n").unwrap();
        assert_eq!(f.len(), 4);
        let kept: Vec<&str> = f
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| fields_filter().is_match(n))
            .collect();
        assert_eq!(kept, ["pgfault", "oom_kill", "pgpgin"]);
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(parse("pgfault\n").is_err());
        assert!(parse("pgfault many\n").is_err());
        assert!(parse("pgfault 1 2\n").is_err());
    }
}
