//! `textfile`: metrics from `*.prom` files in `--collector.textfile.directory`
//! (Prometheus text format 0.0.4), merged into the scrape, plus
//! `node_textfile_mtime_seconds{file}` for each file read and
//! `node_textfile_scrape_error` (1 when any file could not be read or
//! parsed; such a file is skipped whole, as node_exporter does, and so is a
//! file with client-side timestamps).
//!
//! Histograms and summaries come out as node_exporter 1.5 writes them:
//! per series the buckets by bound (with a `+Inf` bucket equal to the count
//! when the file has none) or the quantiles by quantile, then `_sum` and
//! `_count` (0 when the file leaves them out); `le`/`quantile` values are
//! rewritten as Go writes floats (`le="1.0"` becomes `le="1"`, so the series
//! is the same one node_exporter exports); a bucket without `le` or a
//! quantile sample without `quantile` is ignored, one whose bound is not a
//! number rejects the file.
//!
//! Difference from node_exporter 1.5, decided here: a file repeating a
//! series (same name and labels) is rejected whole, where node_exporter
//! would fail that metric at gather time. As in node_exporter, a family
//! without `# HELP` gets `Metric read from <path>`, and samples of one
//! family missing a label that others have get it with an empty value.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use super::collector::{CollectError, Collector};
use super::metrics::{Kind, LabelName, Metrics};

/// One family as the file declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedFamily {
    pub name: String,
    pub help: Option<String>,
    pub kind: Kind,
    /// Whether a `# TYPE` line declared the kind (a second one is an error).
    pub typed: bool,
    pub samples: Vec<ParsedSample>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    #[error("line {line}: {reason}")]
    Syntax { line: usize, reason: String },
    #[error("line {line}: client-side timestamps are not supported")]
    Timestamp { line: usize },
}

fn is_name(s: &str, colons: bool) -> bool {
    let mut chars = s.chars();
    let ok_first = |c: char| c.is_ascii_alphabetic() || c == '_' || (colons && c == ':');
    chars.next().is_some_and(ok_first) && chars.all(|c| ok_first(c) || c.is_ascii_digit())
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// Which declared family a sample name belongs to.
fn family_of(families: &[ParsedFamily], sample: &str) -> Option<usize> {
    if let Some(i) = families.iter().position(|f| f.name == sample) {
        return Some(i);
    }
    for (suffix, kinds) in [
        ("_bucket", &[Kind::Histogram][..]),
        ("_sum", &[Kind::Histogram, Kind::Summary][..]),
        ("_count", &[Kind::Histogram, Kind::Summary][..]),
    ] {
        if let Some(base) = sample.strip_suffix(suffix) {
            if let Some(i) = families
                .iter()
                .position(|f| f.name == base && kinds.contains(&f.kind))
            {
                return Some(i);
            }
        }
    }
    None
}

/// Appends an untyped family named `name` without help; returns its index.
fn new_family(families: &mut Vec<ParsedFamily>, name: &str) -> usize {
    families.push(ParsedFamily {
        name: name.to_owned(),
        help: None,
        kind: Kind::Untyped,
        typed: false,
        samples: Vec::new(),
    });
    families.len() - 1
}

type Labels = Vec<(String, String)>;

/// Parses `{a="1",b="x\"y"}` starting after the `{`; returns the labels and
/// the rest of the line after `}`.
fn parse_labels(s: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    let mut rest = s.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = rest.find('=').ok_or("expected label name and '='")?;
        let name = rest[..eq].trim();
        if !is_name(name, false) {
            return Err(format!("invalid label name {name:?}"));
        }
        rest = rest[eq + 1..].trim_start();
        rest = rest
            .strip_prefix('"')
            .ok_or("expected '\"' to open label value")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("unterminated label value".into()),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    _ => return Err("invalid escape in label value".into()),
                },
                Some((_, c)) => value.push(c),
            }
        };
        if name == "__name__" {
            return Err("label name \"__name__\" is reserved".into());
        }
        if labels.iter().any(|(n, _)| n == name) {
            return Err(format!("duplicate label {name:?}"));
        }
        labels.push((name.to_owned(), value));
        rest = rest[end + 1..].trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start();
        } else if !rest.starts_with('}') {
            return Err("expected ',' or '}' after label value".into());
        }
    }
}

/// Undoes HELP escaping; only `\\` and `\n` are valid, as in Go's parser.
fn unescape_help(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('\\') => out.push('\\'),
            other => return Err(format!("invalid escape sequence {other:?} in HELP")),
        }
    }
    Ok(out)
}

/// Parses one file in the text exposition format.
pub fn parse(text: &str) -> Result<Vec<ParsedFamily>, ParseError> {
    let mut families: Vec<ParsedFamily> = Vec::new();
    let mut seen: HashSet<(String, Labels)> = HashSet::new();
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let err = |reason: String| ParseError::Syntax {
            line: line_no,
            reason,
        };
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut parts = comment.trim_start().splitn(3, [' ', '\t']);
            let keyword = parts.next().unwrap_or("");
            if keyword != "HELP" && keyword != "TYPE" {
                continue;
            }
            let name = parts.next().unwrap_or("").trim();
            if !is_name(name, true) {
                return Err(err(format!("invalid metric name {name:?} in {keyword}")));
            }
            let arg = parts.next().unwrap_or("").trim();
            let at = families
                .iter()
                .position(|f| f.name == name)
                .unwrap_or_else(|| new_family(&mut families, name));
            let fam = &mut families[at];
            if keyword == "HELP" {
                if fam.help.is_some() {
                    return Err(err(format!("second HELP line for {name}")));
                }
                fam.help = Some(unescape_help(arg).map_err(err)?);
            } else {
                if fam.typed || !fam.samples.is_empty() {
                    return Err(err(format!(
                        "second TYPE line for {name}, or TYPE after its samples"
                    )));
                }
                fam.typed = true;
                fam.kind = match arg {
                    "counter" => Kind::Counter,
                    "gauge" => Kind::Gauge,
                    "untyped" => Kind::Untyped,
                    "histogram" => Kind::Histogram,
                    "summary" => Kind::Summary,
                    other => return Err(err(format!("unknown metric type {other:?}"))),
                };
            }
            continue;
        }
        let name_end = line
            .find(|c: char| c == '{' || c.is_whitespace())
            .ok_or_else(|| err("expected a value after the metric name".into()))?;
        let name = &line[..name_end];
        if !is_name(name, true) {
            return Err(err(format!("invalid metric name {name:?}")));
        }
        let (labels, rest) = match line[name_end..].trim_start().strip_prefix('{') {
            Some(after) => parse_labels(after).map_err(err)?,
            None => (Vec::new(), &line[name_end..]),
        };
        let mut fields = rest.split_whitespace();
        let value = fields
            .next()
            .and_then(parse_value)
            .ok_or_else(|| err(format!("expected a float value for {name}")))?;
        match fields.next() {
            None => {}
            Some(ts) if ts.parse::<i64>().is_ok() => {
                return Err(ParseError::Timestamp { line: line_no })
            }
            Some(other) => return Err(err(format!("unexpected {other:?} after the value"))),
        }
        if fields.next().is_some() {
            return Err(err("trailing text after the timestamp".into()));
        }
        let at = family_of(&families, name).unwrap_or_else(|| new_family(&mut families, name));
        let fam = &families[at];
        let is_bound_part = match fam.kind {
            Kind::Histogram => name.len() == fam.name.len() + "_bucket".len(),
            Kind::Summary => name == fam.name,
            _ => false,
        } && name.starts_with(fam.name.as_str());
        if let (true, Some(bound)) = (is_bound_part, fam.kind.bound_label()) {
            if let Some((_, v)) = labels.iter().find(|(k, _)| k == bound) {
                if parse_bound(v).is_none() {
                    return Err(err(format!("{bound}={v:?} of {name} is not a number")));
                }
            }
        }
        let mut key = labels.clone();
        key.sort();
        if !seen.insert((name.to_owned(), key)) {
            return Err(err(format!("duplicate series for {name}")));
        }
        families[at].samples.push(ParsedSample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    families.retain(|f| !f.samples.is_empty());
    Ok(families)
}

/// A `le` or `quantile` value as Go's parser reads it.
fn parse_bound(v: &str) -> Option<f64> {
    parse_value(v).or_else(|| v.parse().ok())
}

/// Adds the families of one file, giving every sample of a family the same
/// label names (missing ones empty) as node_exporter does.
pub fn encode(families: Vec<ParsedFamily>, path: &Path, out: &mut Metrics) {
    for fam in families {
        let help = fam
            .help
            .unwrap_or_else(|| format!("Metric read from {}", path.display()));
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
struct Distribution {
    labels: Vec<(LabelName, String)>,
    bounds: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
}

impl Distribution {
    fn add_to(mut self, family: &mut super::metrics::Family, kind: Kind) {
        use super::metrics::Suffix;
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
                super::encode::go_float(*bound),
            ));
            family.add_part(labels, part, *value);
        }
        family.add_part(self.labels.clone(), Suffix::Sum, self.sum);
        family.add_part(self.labels, Suffix::Count, self.count);
    }
}

/// Groups a histogram's or summary's samples into series, in the order
/// each series first appears.
fn distributions(
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
fn upsert(bounds: &mut Vec<(f64, f64)>, bound: f64, value: f64) {
    match bounds.iter_mut().find(|b| b.0 == bound) {
        Some(b) => b.1 = value,
        None => bounds.push((bound, value)),
    }
}

pub struct Textfile {
    directory: Option<PathBuf>,
}

impl Textfile {
    pub fn new(directory: Option<PathBuf>) -> Self {
        Textfile { directory }
    }
}

/// What reading the directory produced: parsed files with their mtimes,
/// and whether anything went wrong.
struct Scan {
    files: Vec<(PathBuf, f64, Vec<ParsedFamily>)>,
    error: bool,
}

fn scan(dir: &Path) -> Scan {
    let mut scan = Scan {
        files: Vec::new(),
        error: false,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(path = %dir.display(), error = %e, "reading textfile collector directory");
            scan.error = true;
            return scan;
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "prom") && !p.is_dir())
        .collect();
    paths.sort();
    for path in paths {
        let result = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .map_err(|e| e.to_string())
            .and_then(|mtime| {
                let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
                let fams = parse(&text).map_err(|e| e.to_string())?;
                let secs = mtime
                    .duration_since(UNIX_EPOCH)
                    // Whole seconds, as node_exporter (`UnixNano() / 1e9`
                    // in integers).
                    .map_or(0.0, |d| d.as_secs() as f64);
                Ok((secs, fams))
            });
        match result {
            Ok((mtime, fams)) => scan.files.push((path, mtime, fams)),
            Err(e) => {
                tracing::error!(file = %path.display(), error = %e, "failed to collect textfile data");
                scan.error = true;
            }
        }
    }
    scan
}

impl Collector for Textfile {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let scan = match &self.directory {
            Some(dir) => scan(dir),
            None => Scan {
                files: Vec::new(),
                error: false,
            },
        };
        for (path, mtime, fams) in scan.files {
            out.gauge(
                "node_textfile_mtime_seconds",
                "Unixtime mtime of textfiles successfully read.",
            )
            .add(&[("file", &path.display().to_string())], mtime);
            encode(fams, &path, out);
        }
        out.gauge(
            "node_textfile_scrape_error",
            "1 if there was an error opening or reading a file, 0 otherwise",
        )
        .add(&[], if scan.error { 1.0 } else { 0.0 });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_help_type_labels_and_escapes() {
        let f = parse(
            "# HELP jobs_total Jobs run, by \\\\ kind.\n# TYPE jobs_total counter\n\
             jobs_total{kind=\"a \\\"b\\\"\",x=\"1\"} 3\njobs_total 4e3\n# a comment\n\
             temp{room=\"k\",} -Inf\n",
        )
        .unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].help.as_deref(), Some("Jobs run, by \\ kind."));
        assert_eq!(f[0].kind, Kind::Counter);
        assert_eq!(f[0].samples[0].labels[0], ("kind".into(), "a \"b\"".into()));
        assert_eq!(f[0].samples[1].value, 4000.0);
        assert_eq!(f[1].kind, Kind::Untyped);
        assert_eq!(f[1].samples[0].value, f64::NEG_INFINITY);
    }

    /// The text a file's families encode to, as the exporter serves it.
    fn served(file: &str) -> String {
        let mut m = Metrics::new();
        encode(parse(file).unwrap(), Path::new("/t/a.prom"), &mut m);
        crate::exporter::encode::encode(&m.into_sorted(), crate::exporter::encode::Format::Text)
    }

    #[test]
    fn histograms_come_out_as_node_exporter_writes_them() {
        let got = served(
            "# HELP lat Latency.\n# TYPE lat histogram\n\
             lat_bucket{z=\"b\",le=\"1.0\"} 1\nlat_bucket{z=\"b\",le=\"0.5\"} 0\n\
             lat_bucket{z=\"b\",le=\"+Inf\"} 2\nlat_sum{z=\"b\"} 3\nlat_count{z=\"b\"} 2\n\
             lat_bucket{z=\"a\",le=\"1e6\"} 5\nlat_sum{z=\"a\"} 7.5\nlat_count{z=\"a\"} 6\n\
             lat_bucket 9\nlat 4\n",
        );
        assert_eq!(
            got,
            "# HELP lat Latency.\n# TYPE lat histogram\n\
             lat_bucket{z=\"\",le=\"+Inf\"} 0\nlat_sum{z=\"\"} 0\nlat_count{z=\"\"} 0\n\
             lat_bucket{z=\"a\",le=\"1e+06\"} 5\nlat_bucket{z=\"a\",le=\"+Inf\"} 6\n\
             lat_sum{z=\"a\"} 7.5\nlat_count{z=\"a\"} 6\n\
             lat_bucket{z=\"b\",le=\"0.5\"} 0\nlat_bucket{z=\"b\",le=\"1\"} 1\n\
             lat_bucket{z=\"b\",le=\"+Inf\"} 2\nlat_sum{z=\"b\"} 3\nlat_count{z=\"b\"} 2\n"
        );
    }

    #[test]
    fn summaries_come_out_as_node_exporter_writes_them() {
        let got = served(
            "# TYPE rt summary\nrt{quantile=\"0.90\"} 4\nrt{quantile=\"0.5\"} 1\nrt_sum 3\nrt_count 2\n",
        );
        assert_eq!(
            got,
            "# HELP rt Metric read from /t/a.prom\n# TYPE rt summary\n\
             rt{quantile=\"0.5\"} 1\nrt{quantile=\"0.9\"} 4\nrt_sum 3\nrt_count 2\n"
        );
    }

    #[test]
    fn a_bound_that_is_not_a_number_rejects_the_file() {
        assert!(parse("# TYPE h histogram\nh_bucket{le=\"x\"} 1\n").is_err());
        assert!(parse("# TYPE s summary\ns{quantile=\"half\"} 1\n").is_err());
        // Labels named so on other families are just labels.
        assert!(parse("g{le=\"x\"} 1\n").is_ok());
    }

    #[test]
    fn missing_labels_are_filled_and_help_defaults() {
        let f = parse("m{a=\"1\"} 3\nm{b=\"2\"} 4\n").unwrap();
        let mut m = Metrics::new();
        encode(f, Path::new("/t/a.prom"), &mut m);
        let fam = m.get("m").unwrap();
        assert_eq!(fam.help, "Metric read from /t/a.prom");
        assert_eq!(fam.sample(0).labels().len(), 2);
        assert_eq!(fam.sample(1).labels().next(), Some(("a", "")));
    }

    #[test]
    fn malformed_files_are_errors() {
        for bad in [
            "bad metric here\n",
            "m{a=1} 2\n",
            "m{a=\"1\" 2\n",
            "m{a=\"1\",a=\"2\"} 2\n",
            "m\n",
            "m 1 2 3\n",
            "1m 2\n",
            "# TYPE m summaryish\nm 1\n",
            "m 1\n# TYPE m counter\n",
            "# HELP m a\n# HELP m b\nm 1\n",
            "# HELP m tab \\t\nm 1\n",
            "# TYPE m counter\n# TYPE m gauge\nm 1\n",
            "m{__name__=\"x\"} 1\n",
            "m{a=\"1\"} 1\nm{a=\"1\"} 2\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse("m 1 1700000000000\n"),
            Err(ParseError::Timestamp { line: 1 })
        );
    }

    #[test]
    fn a_bad_file_is_skipped_and_flagged() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("good.prom"), "good_metric 1\n").unwrap();
        std::fs::write(dir.path().join("bad.prom"), "bad metric\n").unwrap();
        std::fs::write(dir.path().join("ignored.txt"), "not read\n").unwrap();
        let mut m = Metrics::new();
        Textfile::new(Some(dir.path().into()))
            .update(&mut m)
            .unwrap();
        assert_eq!(m.get("good_metric").unwrap().sample(0).value, 1.0);
        assert_eq!(
            m.get("node_textfile_scrape_error").unwrap().sample(0).value,
            1.0
        );
        let mtimes = m.get("node_textfile_mtime_seconds").unwrap();
        assert_eq!(mtimes.len(), 1);
        assert!(mtimes
            .sample(0)
            .labels()
            .next()
            .unwrap()
            .1
            .ends_with("good.prom"));
    }

    #[test]
    fn no_directory_means_no_error() {
        let mut m = Metrics::new();
        Textfile::new(None).update(&mut m).unwrap();
        assert_eq!(
            m.get("node_textfile_scrape_error").unwrap().sample(0).value,
            0.0
        );
        assert!(m.get("node_textfile_mtime_seconds").is_none());
    }
}
