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

mod encode;
mod parse;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::exporter::collector::{CollectError, Collector};
use crate::exporter::metrics::Metrics;

pub use encode::encode;
use encode::*;
pub use parse::{parse, ParseError, ParsedFamily, ParsedSample};

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
///
/// A value without the glob crate's special characters (`*`, `?`, `[`)
/// is taken as it is: its glob would give that path if it exists and the
/// fallback gives it if not, and the glob crate `stat`s every component of
/// the path to find that out (five system calls a scrape for
/// `tests/fixtures/textfile`, each a path walk).
pub fn expand(pattern: &Path) -> Vec<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    if !pattern
        .as_os_str()
        .as_bytes()
        .iter()
        .any(|b| matches!(b, b'*' | b'?' | b'['))
    {
        return vec![pattern.to_owned()];
    }
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
