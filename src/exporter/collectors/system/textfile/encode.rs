//! Parsed families into the scrape: histograms and summaries as
//! node_exporter writes them, families and series already given by an
//! earlier file left out.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use super::parse::*;
use crate::exporter::metrics::{Kind, LabelName, Metrics};

/// Adds the families of one file, giving every sample of a family the same
/// label names (missing ones empty) as node_exporter does.
pub fn encode(families: Vec<ParsedFamily>, path: &Path, out: &mut Metrics) {
    encode_new(families, path, &mut Read::default(), out);
}

/// What earlier files gave: each family's help and type, and each series
/// (sample name and labels, empty ones included).
#[derive(Default)]
pub(super) struct Read {
    families: std::collections::HashMap<String, (String, Kind)>,
    series: HashSet<(String, Vec<(String, String)>)>,
}

/// [`encode`], leaving out what `read` says earlier files gave: a family
/// under another help or type, a series already there.
pub(super) fn encode_new(
    families: Vec<ParsedFamily>,
    path: &Path,
    read: &mut Read,
    out: &mut Metrics,
) {
    for mut fam in families {
        let help = fam
            .help
            .clone()
            .unwrap_or_else(|| format!("Metric read from {}", path.display()));
        let first = read
            .families
            .entry(fam.name.clone())
            .or_insert_with(|| (help.clone(), fam.kind));
        if *first != (help.clone(), fam.kind) {
            tracing::error!(metric = %fam.name, file = %path.display(), "textfile metric family differs in help or type from an earlier file's; left out");
            continue;
        }
        fam.help = Some(help);
        let bound = fam.kind.bound_label();
        let names: BTreeSet<String> = fam
            .samples
            .iter()
            .flat_map(|s| s.labels.iter().map(|(k, _)| k.clone()))
            .filter(|k| Some(k.as_str()) != bound)
            .collect();
        let series_labels = |s: &ParsedSample| -> Vec<(LabelName, String)> {
            names
                .iter()
                .map(|n| {
                    let v = s
                        .labels
                        .iter()
                        .find(|(k, _)| k == n)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default();
                    (LabelName::Owned(n.clone()), v)
                })
                .collect()
        };
        fam.samples.retain(|s| {
            let mut key: Vec<(String, String)> = series_labels(s)
                .into_iter()
                .map(|(k, v)| (k.into_owned(), v))
                .collect();
            if let Some((k, v)) = s.labels.iter().find(|(k, _)| Some(k.as_str()) == bound) {
                key.push((k.clone(), v.clone()));
            }
            let new = read.series.insert((s.name.clone(), key));
            if !new {
                tracing::error!(metric = %s.name, file = %path.display(), "textfile series read from an earlier file already; left out");
            }
            new
        });
        let help = fam.help.take().unwrap_or_default();
        if matches!(fam.kind, Kind::Histogram | Kind::Summary) {
            let family = out.family(fam.name.clone(), help, fam.kind);
            for series in distributions(&fam.name, fam.kind, &fam.samples, series_labels) {
                series.add_to(family, fam.kind);
            }
            continue;
        }
        for s in &fam.samples {
            out.family(fam.name.clone(), help.clone(), fam.kind)
                .add_owned(series_labels(s), s.value);
        }
    }
}

/// One histogram or summary series: its labels (without the bound), its
/// buckets or quantiles by bound, its sum and count.
pub(super) struct Distribution {
    labels: Vec<(LabelName, String)>,
    bounds: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
}

impl Distribution {
    fn add_to(mut self, family: &mut crate::exporter::metrics::Family, kind: Kind) {
        use crate::exporter::metrics::Suffix;
        let (bound_label, part) = match kind {
            Kind::Histogram => ("le", Suffix::Bucket),
            _ => ("quantile", Suffix::None),
        };
        self.bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
        if kind == Kind::Histogram && self.bounds.last().is_none_or(|b| b.0 != f64::INFINITY) {
            self.bounds.push((f64::INFINITY, self.count));
        }
        for (bound, value) in &self.bounds {
            let mut labels = self.labels.clone();
            labels.push((
                LabelName::Borrowed(bound_label),
                crate::exporter::encode::go_float(*bound),
            ));
            family.add_part(labels, part, *value);
        }
        family.add_part(self.labels.clone(), Suffix::Sum, self.sum);
        family.add_part(self.labels, Suffix::Count, self.count);
    }
}

/// Groups a histogram's or summary's samples into series, in the order
/// each series first appears.
pub(super) fn distributions(
    name: &str,
    kind: Kind,
    samples: &[ParsedSample],
    labels_of: impl Fn(&ParsedSample) -> Vec<(LabelName, String)>,
) -> Vec<Distribution> {
    let bound_label = kind.bound_label().unwrap_or("");
    let mut out: Vec<Distribution> = Vec::new();
    for s in samples {
        let labels = labels_of(s);
        let at = match out.iter().position(|d| d.labels == labels) {
            Some(at) => at,
            None => {
                out.push(Distribution {
                    labels,
                    bounds: Vec::new(),
                    sum: 0.0,
                    count: 0.0,
                });
                out.len() - 1
            }
        };
        let d = &mut out[at];
        let suffix = &s.name[name.len()..];
        let bound = s
            .labels
            .iter()
            .find(|(k, _)| k == bound_label)
            .and_then(|(_, v)| parse_bound(v));
        match (suffix, bound) {
            ("_sum", _) => d.sum = s.value,
            ("_count", _) => d.count = s.value,
            ("_bucket", Some(b)) if kind == Kind::Histogram => upsert(&mut d.bounds, b, s.value),
            ("", Some(q)) if kind == Kind::Summary => upsert(&mut d.bounds, q, s.value),
            // A bucket without `le`, a quantile sample without `quantile`,
            // a histogram sample under the bare name: node_exporter drops
            // these too.
            _ => {}
        }
    }
    out
}

/// Sets the value for `bound`, the last one read winning (`le="1"` and
/// `le="1.0"` are one bucket).
pub(super) fn upsert(bounds: &mut Vec<(f64, f64)>, bound: f64, value: f64) {
    match bounds.iter_mut().find(|b| b.0 == bound) {
        Some(b) => b.1 = value,
        None => bounds.push((bound, value)),
    }
}
