//! `bcachefs` (on by default, new in node_exporter 1.12): each mounted
//! bcachefs file system from `/sys/fs/bcachefs/<uuid>/` — btree cache
//! size, compression by algorithm, errors by type, the `counters/`
//! (since creation), btree writes by type — and its member devices
//! (`dev-N/`: label, state, bucket size and count, durability, bytes done
//! and I/O errors), under node_exporter 1.12's `node_bcachefs_*` names.
//!
//! Decisions, node_exporter's (procfs' bcachefs reader): sizes are the
//! kernel's human-readable units with binary multiples (`1.5M` =
//! 1.5 × 2^20 bytes, truncated to whole bytes); an absent file is zero or
//! empty, a file that is there but malformed fails the collector naming
//! it; a host without `/sys/fs/bcachefs`, or with no file system in it,
//! reports no data.

use std::path::Path;

use crate::exporter::collector::{
    entries, read_if_present, subdirectories, CollectError, Collector, Paths,
};
use crate::exporter::intern;
use crate::exporter::metrics::Metrics;

/// One device of a file system (`dev-0`).
#[derive(Debug, Default, PartialEq)]
pub struct Device {
    pub name: String,
    pub label: String,
    pub state: String,
    pub bucket_size_bytes: f64,
    pub buckets: f64,
    pub durability: f64,
    /// (operation, data type, bytes).
    pub io_done: Vec<(String, String, f64)>,
    /// (error type, count since creation).
    pub io_errors: Vec<(String, f64)>,
}

/// One file system.
#[derive(Debug, Default, PartialEq)]
pub struct Filesystem {
    pub uuid: String,
    pub btree_cache_size_bytes: f64,
    /// (algorithm, compressed bytes, uncompressed bytes).
    pub compression: Vec<(String, f64, f64)>,
    pub errors: Vec<(String, f64)>,
    /// (counter, since filesystem creation).
    pub counters: Vec<(String, f64)>,
    /// (type, count, average size bytes).
    pub btree_writes: Vec<(String, f64, f64)>,
    pub devices: Vec<Device>,
}

fn bad(path: &Path, reason: impl Into<String>) -> CollectError {
    CollectError::parse(path.display().to_string(), reason)
}

/// A size as bcachefs prints it: `512`, `4.0k`, `1.5M`, `2G` (powers of
/// 1024), in whole bytes.
pub fn parse_size(text: &str) -> Option<f64> {
    let t = text.trim();
    let (number, shift) = match t.chars().last()? {
        'k' | 'K' => (&t[..t.len() - 1], 10),
        'm' | 'M' => (&t[..t.len() - 1], 20),
        'g' | 'G' => (&t[..t.len() - 1], 30),
        't' | 'T' => (&t[..t.len() - 1], 40),
        'p' | 'P' => (&t[..t.len() - 1], 50),
        'e' | 'E' => (&t[..t.len() - 1], 60),
        _ => (t, 0),
    };
    let v: f64 = number.trim().parse().ok()?;
    Some((v * (1u64 << shift) as f64) as u64 as f64)
}

fn size(path: &Path, text: &str) -> Result<f64, CollectError> {
    parse_size(text).ok_or_else(|| bad(path, format!("{text:?} is not a size")))
}

fn integer(path: &Path, text: &str) -> Result<f64, CollectError> {
    text.trim()
        .parse::<u64>()
        .map(|v| v as f64)
        .map_err(|_| bad(path, format!("{text:?} is not a count")))
}

/// `compression_stats` or `btree_write_stats`: a header line, then
/// `NAME: A B [C]` rows; rows with fewer than three fields are skipped.
fn table(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .skip(1)
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .filter(|f| f.len() >= 3)
        .collect()
}

/// Parses `compression_stats`: algorithm, compressed, uncompressed.
pub fn parse_compression(path: &Path, text: &str) -> Result<Vec<(String, f64, f64)>, CollectError> {
    table(text)
        .into_iter()
        .map(|f| {
            Ok((
                f[0].trim_end_matches(':').to_owned(),
                size(path, &f[1])?,
                size(path, &f[2])?,
            ))
        })
        .collect()
}

/// Parses `btree_write_stats`: type, count, average size.
pub fn parse_btree_writes(
    path: &Path,
    text: &str,
) -> Result<Vec<(String, f64, f64)>, CollectError> {
    table(text)
        .into_iter()
        .map(|f| {
            Ok((
                f[0].trim_end_matches(':').to_owned(),
                integer(path, &f[1])?,
                size(path, &f[2])?,
            ))
        })
        .collect()
}

/// Parses `errors`: `NAME COUNT [TIME]` lines.
pub fn parse_errors(path: &Path, text: &str) -> Result<Vec<(String, f64)>, CollectError> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() >= 2)
        .map(|f| Ok((f[0].to_owned(), integer(path, f[1])?)))
        .collect()
}

/// Parses one `counters/NAME` file: its `since filesystem creation:` value
/// (zero when only `since mount:` is there).
pub fn parse_counter(path: &Path, text: &str) -> Result<f64, CollectError> {
    let mut creation = None;
    let mut mount = false;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("since filesystem creation:") {
            creation = Some(size(path, v)?);
        } else if let Some(v) = line.strip_prefix("since mount:") {
            size(path, v)?;
            mount = true;
        }
    }
    match creation {
        Some(v) => Ok(v),
        None if mount => Ok(0.0),
        None => Err(bad(
            path,
            "neither \"since mount:\" nor \"since filesystem creation:\"",
        )),
    }
}

/// Parses a device's `io_done`: `read:` / `write:` sections of
/// `DATA_TYPE: BYTES` lines.
pub fn parse_io_done(path: &Path, text: &str) -> Result<Vec<(String, String, f64)>, CollectError> {
    let mut op = None;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line == "read:" || line == "write:" {
            op = Some(line.trim_end_matches(':'));
            continue;
        }
        let (Some(op), Some((kind, value))) = (op, line.split_once(':')) else {
            continue;
        };
        out.push((op.to_owned(), kind.trim().to_owned(), integer(path, value)?));
    }
    Ok(out)
}

/// Parses a device's `io_errors`: the `TYPE: COUNT` lines of its "IO errors
/// since filesystem creation" section.
pub fn parse_io_errors(path: &Path, text: &str) -> Result<Vec<(String, f64)>, CollectError> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("IO errors since filesystem creation") {
            inside = true;
            continue;
        }
        if line.starts_with("IO errors since ") {
            break;
        }
        let Some((kind, value)) = line.trim().split_once(':').filter(|_| inside) else {
            continue;
        };
        out.push((kind.trim().to_owned(), integer(path, value)?));
    }
    Ok(out)
}

fn optional(path: &Path) -> Result<Option<String>, CollectError> {
    read_if_present(path)
}

fn read_device(dir: &Path, name: &str) -> Result<Device, CollectError> {
    let text = |f: &str| -> Result<Option<(std::path::PathBuf, String)>, CollectError> {
        let p = dir.join(f);
        Ok(optional(&p)?.map(|t| (p, t)))
    };
    let mut d = Device {
        name: name.to_owned(),
        ..Default::default()
    };
    d.label = text("label")?
        .map(|(_, t)| t.trim().to_owned())
        .unwrap_or_default();
    d.state = text("state")?
        .map(|(_, t)| t.trim().to_owned())
        .unwrap_or_default();
    if let Some((p, t)) = text("bucket_size")?.filter(|(_, t)| !t.trim().is_empty()) {
        d.bucket_size_bytes = size(&p, &t)?;
    }
    if let Some((p, t)) = text("nbuckets")? {
        d.buckets = integer(&p, &t)?;
    }
    if let Some((p, t)) = text("durability")? {
        d.durability = integer(&p, &t)?;
    }
    if let Some((p, t)) = text("io_done")? {
        d.io_done = parse_io_done(&p, &t)?;
    }
    if let Some((p, t)) = text("io_errors")? {
        d.io_errors = parse_io_errors(&p, &t)?;
    }
    Ok(d)
}

/// Reads the file system in `dir`.
pub fn read_filesystem(dir: &Path, uuid: &str) -> Result<Filesystem, CollectError> {
    let mut fs = Filesystem {
        uuid: uuid.to_owned(),
        ..Default::default()
    };
    let p = dir.join("btree_cache_size");
    if let Some(t) = optional(&p)?.filter(|t| !t.trim().is_empty()) {
        fs.btree_cache_size_bytes = size(&p, &t)?;
    }
    let p = dir.join("compression_stats");
    if let Some(t) = optional(&p)? {
        fs.compression = parse_compression(&p, &t)?;
    }
    let p = dir.join("errors");
    if let Some(t) = optional(&p)? {
        fs.errors = parse_errors(&p, &t)?;
    }
    let counters = dir.join("counters");
    let skip = subdirectories(&counters)?;
    for name in entries(&counters)? {
        if skip.contains(&name) {
            continue;
        }
        let p = counters.join(&name);
        if let Some(t) = optional(&p)? {
            fs.counters.push((name, parse_counter(&p, &t)?));
        }
    }
    let p = dir.join("btree_write_stats");
    if let Some(t) = optional(&p)? {
        fs.btree_writes = parse_btree_writes(&p, &t)?;
    }
    for entry in subdirectories(dir)? {
        let Some(device) = entry.strip_prefix("dev-") else {
            continue;
        };
        fs.devices.push(read_device(&dir.join(&entry), device)?);
    }
    Ok(fs)
}

pub struct Bcachefs {
    paths: Paths,
}

impl Bcachefs {
    pub fn new(paths: Paths) -> Self {
        Bcachefs { paths }
    }
}

impl Collector for Bcachefs {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let base = self.paths.sys("fs/bcachefs");
        let mut all = Vec::new();
        for uuid in subdirectories(&base)? {
            all.push(read_filesystem(&base.join(&uuid), &uuid)?);
        }
        if all.is_empty() {
            return Err(CollectError::NoData("/sys/fs/bcachefs"));
        }
        for fs in &all {
            encode(fs, out);
        }
        Ok(())
    }
}

fn encode(fs: &Filesystem, out: &mut Metrics) {
    let uuid = ("uuid", fs.uuid.as_str());
    out.gauge("node_bcachefs_info", "Filesystem information.")
        .add(&[uuid], 1.0);
    out.gauge(
        "node_bcachefs_btree_cache_size_bytes",
        "Btree cache memory usage in bytes.",
    )
    .add(&[uuid], fs.btree_cache_size_bytes);
    for (algorithm, compressed, uncompressed) in &fs.compression {
        let labels = [uuid, ("algorithm", algorithm.as_str())];
        out.gauge(
            "node_bcachefs_compression_compressed_bytes",
            "Compressed size by algorithm.",
        )
        .add(&labels, *compressed);
        out.gauge(
            "node_bcachefs_compression_uncompressed_bytes",
            "Uncompressed size by algorithm.",
        )
        .add(&labels, *uncompressed);
    }
    for (kind, count) in &fs.errors {
        out.counter("node_bcachefs_errors_total", "Error count by error type.")
            .add(&[uuid, ("error_type", kind)], *count);
    }
    for (counter, value) in &fs.counters {
        let sanitized = intern::sanitize(counter);
        let name = intern::concat(&["node_bcachefs_", &sanitized, "_total"]);
        let help = intern::concat(&["Bcachefs counter ", counter, " since filesystem creation."]);
        out.counter(name, help).add(&[uuid], *value);
    }
    for (kind, count, average) in &fs.btree_writes {
        let labels = [uuid, ("type", kind.as_str())];
        out.counter(
            "node_bcachefs_btree_writes_total",
            "Number of btree writes by type.",
        )
        .add(&labels, *count);
        out.gauge(
            "node_bcachefs_btree_write_average_size_bytes",
            "Average btree write size by type.",
        )
        .add(&labels, *average);
    }
    for d in &fs.devices {
        let dev = ("device", d.name.as_str());
        out.gauge("node_bcachefs_device_info", "Device information.")
            .add(&[uuid, dev, ("label", &d.label), ("state", &d.state)], 1.0);
        out.gauge(
            "node_bcachefs_device_bucket_size_bytes",
            "Bucket size in bytes.",
        )
        .add(&[uuid, dev], d.bucket_size_bytes);
        out.gauge("node_bcachefs_device_buckets", "Total number of buckets.")
            .add(&[uuid, dev], d.buckets);
        out.gauge(
            "node_bcachefs_device_durability",
            "Device durability setting.",
        )
        .add(&[uuid, dev], d.durability);
        for (op, kind, bytes) in &d.io_done {
            out.counter(
                "node_bcachefs_device_io_done_bytes_total",
                "IO bytes by operation type and data type.",
            )
            .add(&[uuid, dev, ("operation", op), ("data_type", kind)], *bytes);
        }
        for (kind, count) in &d.io_errors {
            out.counter(
                "node_bcachefs_device_io_errors_total",
                "IO errors by error type.",
            )
            .add(&[uuid, dev, ("type", kind)], *count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exporter::collector::write_fixture;

    #[test]
    fn sizes_use_binary_multiples() {
        assert_eq!(parse_size("512"), Some(512.0));
        assert_eq!(parse_size("4.0k"), Some(4096.0));
        assert_eq!(parse_size("1.5M"), Some(1572864.0));
        assert_eq!(parse_size(" 2G\n"), Some(2147483648.0));
        assert_eq!(parse_size("lots"), None);
    }

    #[test]
    fn reads_a_filesystem_and_its_devices() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_fixture(&d.join("btree_cache_size"), "12.5M\n");
        write_fixture(
            &d.join("compression_stats"),
            "typ      compressed    uncompressed     average extent size\nlz4:         1.00G           2.50G                  64.0k\nzstd:          512M            1.0G                   128k\nincompressible:   0   0\n",
        );
        write_fixture(
            &d.join("errors"),
            "btree_node_read_error 2 1733400000\nbkey_version_in_future 1\n",
        );
        write_fixture(
            &d.join("counters/io_read"),
            "since mount:                     1.2G\nsince filesystem creation:       44.0G\n",
        );
        write_fixture(
            &d.join("btree_write_stats"),
            "                 nr        size\ninitial:       1024      4.0k\ninit_next_bset:  12       2.0k\n",
        );
        write_fixture(&d.join("dev-0/label"), "ssd.fast\n");
        write_fixture(&d.join("dev-0/state"), "rw\n");
        write_fixture(&d.join("dev-0/bucket_size"), "512k\n");
        write_fixture(&d.join("dev-0/nbuckets"), "1907729\n");
        write_fixture(&d.join("dev-0/durability"), "1\n");
        write_fixture(&d.join("dev-0/io_done"), "read:\nsb          :        4096\nuser        :  9876543210\nwrite:\nsb          :       16384\nuser        :  1234567890\n");
        write_fixture(
            &d.join("dev-0/io_errors"),
            "IO errors since filesystem creation\n  read:    3\n  write:   0\n  checksum:1\nIO errors since 12 h ago\n  read:    1\n",
        );
        let fs = read_filesystem(d, "uuid-1").unwrap();
        assert_eq!(fs.btree_cache_size_bytes, 13107200.0);
        assert_eq!(
            fs.compression,
            [
                ("lz4".into(), 1073741824.0, 2684354560.0),
                ("zstd".into(), 536870912.0, 1073741824.0),
                ("incompressible".into(), 0.0, 0.0),
            ]
        );
        assert_eq!(fs.errors[0], ("btree_node_read_error".into(), 2.0));
        assert_eq!(fs.counters, [("io_read".into(), 47244640256.0)]);
        assert_eq!(fs.btree_writes[1], ("init_next_bset".into(), 12.0, 2048.0));
        let dev = &fs.devices[0];
        assert_eq!(
            (dev.name.as_str(), dev.label.as_str(), dev.state.as_str()),
            ("0", "ssd.fast", "rw")
        );
        assert_eq!(
            (dev.bucket_size_bytes, dev.buckets, dev.durability),
            (524288.0, 1907729.0, 1.0)
        );
        assert_eq!(dev.io_done[1], ("read".into(), "user".into(), 9876543210.0));
        assert_eq!(
            dev.io_errors,
            [
                ("read".into(), 3.0),
                ("write".into(), 0.0),
                ("checksum".into(), 1.0)
            ]
        );

        write_fixture(&d.join("dev-0/nbuckets"), "many\n");
        let e = read_filesystem(d, "uuid-1").unwrap_err().to_string();
        assert!(e.contains("nbuckets"), "{e}");
    }
}
