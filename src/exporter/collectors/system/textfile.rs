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
//! Differences from node_exporter 1.5, decided here:
//! - A file repeating a series (same name and labels) is rejected whole,
//!   where node_exporter would fail that metric at gather time.
//! - Only regular files are read (symlinks to them followed). node_exporter
//!   opens whatever ends in `.prom`: a FIFO blocks its scrape for good and a
//!   device is read as a file. Here a FIFO, socket or device is skipped
//!   unopened and counts as an error; a regular file is opened non-blocking
//!   and checked again on the descriptor, so one swapped in meanwhile
//!   cannot block either. A directory named `*.prom` is passed over without
//!   error (node_exporter reads it as an empty file, also without error).
//! - A file over `--collector.textfile.max-size` ([`DEFAULT_MAX_SIZE`];
//!   node_exporter has no limit) is skipped without being read whole, and
//!   counts as an error: one huge file must not cost seconds and hundreds of
//!   megabytes per scrape.
//! - Each skipped file is named in Outpost's own
//!   `outpost_textfile_skipped{file,reason} 1` (`not_regular`, `too_large`,
//!   `unreadable`, `invalid`), so the file behind a
//!   `node_textfile_scrape_error 1` shows on `/metrics`, not only in the log;
//!   the family is absent when nothing was skipped.
//!
//! As in node_exporter, a family without `# HELP` gets `Metric read from
//! <path>`, and samples of one family missing a label that others have get
//! it with an empty value.
//!
//! Several directories (node_exporter 1.9+: the flag repeated, each value a
//! glob, or a plain directory when the glob matches nothing) are read in
//! the order given, their files as if in one directory. Across files, as
//! node_exporter 1.12: a family's first `# HELP` stands, and a later file
//! giving the same family another `# HELP` has that family left out (an
//! error: `node_textfile_scrape_error 1`); a family without `# HELP` gets
//! `Metric read from <every file that has it>`; a family whose help or
//! type then differs from the first file's, or a series already read from
//! an earlier file, is left out without an error (node_exporter drops
//! those when gathering and serves the rest).

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::exporter::collector::{CollectError, Collector};
use crate::exporter::metrics::{Kind, LabelName, Metrics};

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
    encode_new(families, path, &mut Read::default(), out);
}

/// What earlier files gave: each family's help and type, and each series
/// (sample name and labels, empty ones included).
#[derive(Default)]
struct Read {
    families: std::collections::HashMap<String, (String, Kind)>,
    series: HashSet<(String, Vec<(String, String)>)>,
}

/// [`encode`], leaving out what `read` says earlier files gave: a family
/// under another help or type, a series already there.
fn encode_new(families: Vec<ParsedFamily>, path: &Path, read: &mut Read, out: &mut Metrics) {
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
struct Distribution {
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

/// Default for `--collector.textfile.max-size`: far above what a cron job
/// writes, small enough that parsing stays a small part of a scrape.
pub const DEFAULT_MAX_SIZE: u64 = 4 << 20;

/// Where the collector reads and how much it reads of one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// `--collector.textfile.directory`, in the order given: directories
    /// or globs of them; nothing is read without one.
    pub directories: Vec<PathBuf>,
    /// `--collector.textfile.max-size`: a larger file is skipped unread
    /// (`None`: no limit).
    pub max_size: Option<u64>,
}

impl Options {
    /// Reads `directory` with the default size limit.
    pub fn new(directory: Option<PathBuf>) -> Self {
        Options {
            directories: directory.into_iter().collect(),
            max_size: Some(DEFAULT_MAX_SIZE),
        }
    }
}

pub struct Textfile {
    options: Options,
}

impl Textfile {
    pub fn new(options: Options) -> Self {
        Textfile { options }
    }
}

/// Why a `*.prom` entry was left out of the scrape; each one sets
/// `node_textfile_scrape_error` and is named in `outpost_textfile_skipped`.
#[derive(Debug, thiserror::Error)]
enum Skip {
    #[error("not a regular file")]
    NotRegular,
    #[error("{size} bytes, over --collector.textfile.max-size={max}")]
    TooLarge { size: u64, max: u64 },
    #[error("{0}")]
    Unreadable(std::io::Error),
    #[error("{0}")]
    Invalid(ParseError),
}

impl Skip {
    /// The `reason` label of `outpost_textfile_skipped`.
    fn reason(&self) -> &'static str {
        match self {
            Skip::NotRegular => "not_regular",
            Skip::TooLarge { .. } => "too_large",
            Skip::Unreadable(_) => "unreadable",
            Skip::Invalid(_) => "invalid",
        }
    }
}

/// What reading one entry gave: a file's text and mtime, a directory
/// (passed over, as it is no file of metrics), or a reason to skip it.
enum Entry {
    File { text: String, mtime: f64 },
    Directory,
}

/// Reads one `*.prom` entry (symlinks followed, as node_exporter does).
/// Only a regular file is opened, and that with `O_NONBLOCK`, its type and
/// size checked again on the open descriptor: a FIFO or device put there
/// (or swapped in between the two looks) never blocks the scrape, and a
/// file over `max_size` is never read whole, even one still growing.
fn read(path: &Path, max_size: Option<u64>) -> Result<Entry, Skip> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;

    let check = |meta: &std::fs::Metadata| -> Result<Option<Entry>, Skip> {
        if meta.is_dir() {
            return Ok(Some(Entry::Directory));
        }
        if !meta.is_file() {
            return Err(Skip::NotRegular);
        }
        match max_size {
            Some(max) if meta.len() > max => Err(Skip::TooLarge {
                size: meta.len(),
                max,
            }),
            _ => Ok(None),
        }
    };
    if let Some(entry) = check(&std::fs::metadata(path).map_err(Skip::Unreadable)?)? {
        return Ok(entry);
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(Skip::Unreadable)?;
    let meta = file.metadata().map_err(Skip::Unreadable)?;
    if let Some(entry) = check(&meta)? {
        return Ok(entry);
    }
    let limit = max_size.unwrap_or(u64::MAX);
    let mut text = String::with_capacity(meta.len() as usize);
    file.take(limit.saturating_add(1))
        .read_to_string(&mut text)
        .map_err(Skip::Unreadable)?;
    if text.len() as u64 > limit {
        return Err(Skip::TooLarge {
            size: text.len() as u64,
            max: limit,
        });
    }
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        // Whole seconds, as node_exporter (`UnixNano() / 1e9` in integers).
        .map_or(0.0, |d| d.as_secs() as f64);
    Ok(Entry::File { text, mtime })
}

/// What reading the directory produced: parsed files with their mtimes,
/// the files skipped and whether anything went wrong.
struct Scan {
    files: Vec<(PathBuf, f64, Vec<ParsedFamily>)>,
    skipped: Vec<(PathBuf, Skip)>,
    error: bool,
}

/// The directories a `--collector.textfile.directory` value names: the
/// glob's matches in order, or the value itself when it is no glob, not
/// valid as one or matches nothing (as node_exporter's `filepath.Glob`
/// fallback).
pub fn expand(pattern: &Path) -> Vec<PathBuf> {
    let matches: Vec<PathBuf> = pattern
        .to_str()
        .and_then(|p| glob::glob(p).ok())
        .map(|paths| paths.filter_map(Result::ok).collect())
        .unwrap_or_default();
    if matches.is_empty() {
        vec![pattern.to_owned()]
    } else {
        matches
    }
}

fn scan(directories: &[PathBuf], max_size: Option<u64>) -> Scan {
    let mut scan = Scan {
        files: Vec::new(),
        skipped: Vec::new(),
        error: false,
    };
    for dir in directories.iter().flat_map(|d| expand(d)) {
        scan_dir(&dir, max_size, &mut scan);
    }
    scan
}

fn scan_dir(dir: &Path, max_size: Option<u64>, scan: &mut Scan) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(path = %dir.display(), error = %e, "reading textfile collector directory");
            scan.error = true;
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "prom"))
        .collect();
    paths.sort();
    for path in paths {
        let parsed = read(&path, max_size).and_then(|entry| match entry {
            Entry::File { text, mtime } => parse(&text)
                .map(|fams| Some((mtime, fams)))
                .map_err(Skip::Invalid),
            Entry::Directory => Ok(None),
        });
        match parsed {
            Ok(Some((mtime, fams))) => scan.files.push((path, mtime, fams)),
            Ok(None) => {}
            Err(skip) => {
                tracing::error!(file = %path.display(), reason = skip.reason(), error = %skip, "failed to collect textfile data");
                scan.skipped.push((path, skip));
                scan.error = true;
            }
        }
    }
}

/// node_exporter's pass over the help texts of every file's families: the
/// first `# HELP` of a family stands; a later family with another one is
/// dropped (an error); families without one get `Metric read from` and
/// every file that has the family. Returns whether any was dropped.
fn settle_help(files: &mut [(PathBuf, f64, Vec<ParsedFamily>)]) -> bool {
    use std::collections::HashMap;
    let mut helps: HashMap<String, (String, bool)> = HashMap::new();
    let mut files_of: HashMap<String, Vec<String>> = HashMap::new();
    let mut error = false;
    for (path, _, fams) in files.iter_mut() {
        fams.retain(|fam| {
            if let Some((first, inconsistent)) = helps.get_mut(&fam.name) {
                if fam.help.as_ref().is_some_and(|h| h != first) || *inconsistent {
                    *inconsistent = true;
                    error = true;
                    tracing::error!(metric = %fam.name, file = %path.display(), original_help_text = %first, "inconsistent metric help text");
                    return false;
                }
            }
            if let Some(help) = &fam.help {
                helps.insert(fam.name.clone(), (help.clone(), false));
            }
            files_of
                .entry(fam.name.clone())
                .or_default()
                .push(path.display().to_string());
            true
        });
    }
    for (_, _, fams) in files.iter_mut() {
        for fam in fams.iter_mut().filter(|f| f.help.is_none()) {
            fam.help = Some(format!(
                "Metric read from {}",
                files_of[&fam.name].join(", ")
            ));
        }
    }
    error
}

impl Collector for Textfile {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let mut scan = scan(&self.options.directories, self.options.max_size);
        scan.error |= settle_help(&mut scan.files);
        let mut read = Read::default();
        for (path, mtime, fams) in scan.files {
            out.gauge(
                "node_textfile_mtime_seconds",
                "Unixtime mtime of textfiles successfully read.",
            )
            .add(&[("file", &path.display().to_string())], mtime);
            encode_new(fams, &path, &mut read, out);
        }
        if !scan.skipped.is_empty() {
            let family = out.gauge(
                SKIPPED,
                "1 for each textfile left out of this scrape: reason is not_regular, too_large, unreadable or invalid.",
            );
            for (path, skip) in &scan.skipped {
                family.add(
                    &[
                        ("file", &path.display().to_string()),
                        ("reason", skip.reason()),
                    ],
                    1.0,
                );
            }
        }
        out.gauge(
            "node_textfile_scrape_error",
            "1 if there was an error opening or reading a file, 0 otherwise",
        )
        .add(&[], if scan.error { 1.0 } else { 0.0 });
        Ok(())
    }
}

/// Outpost's own family naming each skipped file and why.
pub const SKIPPED: &str = "outpost_textfile_skipped";

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
        Textfile::new(Options::new(Some(dir.path().into())))
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

    /// node_exporter 1.12 over several directories (its flag repeated, a
    /// glob among them): files read in the order given, families merged
    /// across files by its rules.
    #[test]
    fn several_directories_are_read_as_one_by_node_exporters_rules() {
        let root = tempfile::tempdir().unwrap();
        let w = |rel: &str, text: &str| {
            let p = root.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        w("a/jobs.prom", "# HELP jobs_total Jobs run.\n# TYPE jobs_total counter\njobs_total{q=\"x\"} 1\nbare 1\nkind_m 1\n");
        // Same HELP: merged. Another HELP: left out, an error.
        w(
            "b/1/jobs.prom",
            "# HELP jobs_total Jobs run.\n# TYPE jobs_total counter\njobs_total{q=\"y\"} 2\n",
        );
        w(
            "b/2/other.prom",
            "# HELP jobs_total Other text.\n# TYPE jobs_total counter\njobs_total{q=\"z\"} 3\n",
        );
        // Without HELP in both files: help names both. A series read
        // before: left out, no error. Another type: left out, no error.
        w(
            "c/more.prom",
            "bare 5\n# TYPE kind_m gauge\nkind_m{s=\"2\"} 7\n",
        );
        let options = |dirs: &[&str]| Options {
            directories: dirs.iter().map(|d| root.path().join(d)).collect(),
            max_size: None,
        };
        let scrape = |o: Options| {
            let mut m = Metrics::new();
            Textfile::new(o).update(&mut m).unwrap();
            crate::exporter::encode::encode(&m.into_sorted(), crate::exporter::encode::Format::Text)
        };
        let text = scrape(options(&["a", "b/*", "c"]));
        let r = |rel: &str| root.path().join(rel).display().to_string();
        let series: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains("node_textfile_mtime") && !l.starts_with("# TYPE"))
            .collect();
        assert_eq!(
            series,
            [
                format!("# HELP bare Metric read from {}, {}", r("a/jobs.prom"), r("c/more.prom")).as_str(),
                "bare 1",
                "# HELP jobs_total Jobs run.",
                "jobs_total{q=\"x\"} 1",
                "jobs_total{q=\"y\"} 2",
                format!("# HELP kind_m Metric read from {}, {}", r("a/jobs.prom"), r("c/more.prom")).as_str(),
                "kind_m 1",
                "# HELP node_textfile_scrape_error 1 if there was an error opening or reading a file, 0 otherwise",
                "node_textfile_scrape_error 1",
            ],
            "{text}"
        );
        // Every file that parsed has its mtime, the one left out too.
        assert_eq!(
            text.matches("node_textfile_mtime_seconds{").count(),
            4,
            "{text}"
        );
        // Without the file of the other HELP: no error. A glob that
        // matches nothing is read as a directory (missing: an error).
        let text = scrape(options(&["a", "b/1", "c"]));
        assert!(text.contains("node_textfile_scrape_error 0"), "{text}");
        let text = scrape(options(&["a", "nothing-*"]));
        assert!(text.contains("node_textfile_scrape_error 1"), "{text}");
        assert!(text.contains("jobs_total{q=\"x\"} 1"), "{text}");
    }

    #[test]
    fn no_directory_means_no_error() {
        let mut m = Metrics::new();
        Textfile::new(Options::new(None)).update(&mut m).unwrap();
        assert_eq!(
            m.get("node_textfile_scrape_error").unwrap().sample(0).value,
            0.0
        );
        assert!(m.get("node_textfile_mtime_seconds").is_none());
    }

    #[test]
    fn only_regular_files_within_the_size_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let fifo = d.join("fifo.prom");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        // Opened blocking, this would wait for a writer forever.
        assert!(matches!(read(&fifo, None), Err(Skip::NotRegular)));
        assert!(matches!(
            read(Path::new("/dev/null"), None),
            Err(Skip::NotRegular)
        ));
        std::fs::create_dir(d.join("dir.prom")).unwrap();
        assert!(matches!(
            read(&d.join("dir.prom"), None),
            Ok(Entry::Directory)
        ));
        std::fs::write(d.join("ten.prom"), "m_total 1\n").unwrap();
        let ten = d.join("ten.prom");
        assert!(
            matches!(read(&ten, Some(10)), Ok(Entry::File { ref text, .. }) if text == "m_total 1\n")
        );
        assert!(matches!(
            read(&ten, Some(9)),
            Err(Skip::TooLarge { size: 10, max: 9 })
        ));
        assert!(matches!(read(&ten, None), Ok(Entry::File { .. })));
        assert!(matches!(
            read(&d.join("gone.prom"), None),
            Err(Skip::Unreadable(_))
        ));
    }

    #[test]
    fn skipped_files_are_named_with_their_reason() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.prom"), "a_m 1\n").unwrap();
        std::fs::write(d.join("big.prom"), "big_m 1\n# padding\n").unwrap();
        std::fs::write(d.join("bad.prom"), "bad metric\n").unwrap();
        nix::unistd::mkfifo(&d.join("p.prom"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        std::fs::create_dir(d.join("sub.prom")).unwrap();
        let mut m = Metrics::new();
        Textfile::new(Options {
            directories: vec![d.into()],
            max_size: Some(16),
        })
        .update(&mut m)
        .unwrap();
        let skipped: Vec<(String, String)> = m
            .get(SKIPPED)
            .unwrap()
            .samples()
            .map(|s| {
                let file = s.label("file").unwrap();
                let name = Path::new(file).file_name().unwrap().to_string_lossy();
                (name.into_owned(), s.label("reason").unwrap().to_owned())
            })
            .collect();
        let want = [
            ("bad.prom", "invalid"),
            ("big.prom", "too_large"),
            ("p.prom", "not_regular"),
        ];
        assert_eq!(
            skipped,
            want.map(|(f, r)| (f.to_owned(), r.to_owned())).to_vec()
        );
        assert_eq!(m.get("a_m").unwrap().sample(0).value, 1.0);
        assert_eq!(m.get("node_textfile_mtime_seconds").unwrap().len(), 1);
        assert_eq!(
            m.get("node_textfile_scrape_error").unwrap().sample(0).value,
            1.0
        );
    }
}
