//! `zfs`: ZFS on Linux kstats from `/proc/spl/kstat/zfs/`, as node_exporter
//! 1.5 exports them: every `uint64` (kstat type 4) value of the module-wide
//! files as an untyped `node_zfs_<subsystem>_<name>` (help
//! `kstat.zfs.misc.<file>.<name>`), and per pool the `io` counters
//! (`node_zfs_zpool_<field>{zpool}`), the datasets' `objset-*` counters
//! (`node_zfs_zpool_dataset_<name>{zpool,dataset}`) and
//! `node_zfs_zpool_state{zpool,state}` (1 for the pool's state, 0 for the
//! five others).
//!
//! Decisions: no `/proc/spl/kstat/zfs` (module not loaded) exports nothing;
//! a missing module-wide file is skipped (older modules lack some). Where
//! node_exporter skips a line it cannot split, this reader fails the
//! collector. node_exporter 1.12 also reads `int64` (type 3) values and adds
//! the state `suspended`; that catch-up is left to the 1.5→1.12 work.

use crate::exporter::collector::{
    entries, read_if_present, subdirectories, CollectError, Collector, Paths,
};
use crate::exporter::metrics::Metrics;

/// Subsystem and kstat file, as node_exporter maps them.
const FILES: [(&str, &str); 11] = [
    ("abd", "abdstats"),
    ("arc", "arcstats"),
    ("dbuf", "dbufstats"),
    ("dmu_tx", "dmu_tx"),
    ("dnode", "dnodestats"),
    ("fm", "fm"),
    ("vdev_cache", "vdev_cache_stats"),
    ("vdev_mirror", "vdev_mirror_stats"),
    ("xuio", "xuio_stats"),
    ("zfetch", "zfetchstats"),
    ("zil", "zil"),
];

/// The pool states node_exporter 1.5 reports.
const STATES: [&str; 6] = [
    "online", "degraded", "faulted", "offline", "removed", "unavail",
];

/// A metric name from a kstat name (`-` becomes `_`).
fn metric_name(kstat: &str) -> String {
    kstat.replace('-', "_")
}

/// A named kstat file (`name type data` table after a header): the
/// `uint64` rows, and the `dataset_name` string row if any.
#[derive(Debug, Default, PartialEq)]
pub struct Named {
    pub values: Vec<(String, u64)>,
    pub dataset: Option<String>,
}

pub fn parse_named(what: &str, text: &str) -> Result<Named, CollectError> {
    let err = |n: usize, why: &str| CollectError::parse(what, format!("line {n}: {why}"));
    let mut out = Named::default();
    let mut table = false;
    for (i, line) in text.lines().enumerate() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if !table {
            table = parts == ["name", "type", "data"];
            continue;
        }
        if parts.is_empty() {
            continue;
        }
        let [name, kind, data, ..] = parts[..] else {
            return Err(err(i + 1, "expected name, type and data"));
        };
        if name == "dataset_name" {
            out.dataset = Some(data.to_owned());
        } else if kind == "4" {
            let v = data
                .parse()
                .map_err(|_| err(i + 1, "not an unsigned integer"))?;
            out.values.push((name.to_owned(), v));
        }
    }
    if !table {
        return Err(CollectError::parse(what, "no \"name type data\" header"));
    }
    Ok(out)
}

/// A pool's `io` file: the header row's names with the values below them.
pub fn parse_io(what: &str, text: &str) -> Result<Vec<(String, u64)>, CollectError> {
    let mut lines = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("nread"));
    let header: Vec<&str> = lines
        .next()
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    if header.len() < 12 {
        return Err(CollectError::parse(
            what,
            "no \"nread …\" header of twelve fields",
        ));
    }
    let mut out = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let values: Vec<&str> = line.split_whitespace().collect();
        if values.len() < header.len() {
            return Err(CollectError::parse(
                what,
                format!("too few values in {line:?}"),
            ));
        }
        for (name, v) in header.iter().zip(values) {
            let v = v.parse().map_err(|_| {
                CollectError::parse(what, format!("{name}: not an unsigned integer"))
            })?;
            out.push((name.to_string(), v));
        }
    }
    Ok(out)
}

pub struct Zfs {
    paths: Paths,
}

impl Zfs {
    pub fn new(paths: Paths) -> Self {
        Zfs { paths }
    }
}

/// One pool's data.
struct Pool {
    name: String,
    io: Vec<(String, u64)>,
    datasets: Vec<Named>,
    state: Option<String>,
}

impl Collector for Zfs {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let root = self.paths.proc("spl/kstat/zfs");
        if !crate::exporter::openfiles::is_dir(&root) {
            return Err(CollectError::NoData("/proc/spl/kstat/zfs"));
        }
        let mut files = Vec::new();
        for (subsystem, file) in FILES {
            let path = root.join(file);
            if let Some(text) = read_if_present(&path)? {
                files.push((
                    subsystem,
                    file,
                    parse_named(&path.display().to_string(), &text)?,
                ));
            }
        }
        let mut pools = Vec::new();
        for name in subdirectories(&root)? {
            let dir = root.join(&name);
            let io_path = dir.join("io");
            let io = match read_if_present(&io_path)? {
                Some(text) => parse_io(&io_path.display().to_string(), &text)?,
                None => Vec::new(),
            };
            let mut datasets = Vec::new();
            for f in entries(&dir)?
                .into_iter()
                .filter(|f| f.starts_with("objset-"))
            {
                let path = dir.join(&f);
                if let Some(text) = read_if_present(&path)? {
                    datasets.push(parse_named(&path.display().to_string(), &text)?);
                }
            }
            let state = read_if_present(&dir.join("state"))?
                .map(|s| s.lines().next().unwrap_or("").to_lowercase());
            pools.push(Pool {
                name,
                io,
                datasets,
                state,
            });
        }

        for (subsystem, file, named) in &files {
            for (name, v) in &named.values {
                out.untyped(
                    format!("node_zfs_{subsystem}_{}", metric_name(name)),
                    format!("kstat.zfs.misc.{file}.{name}"),
                )
                .add(&[], *v as f64);
            }
        }
        for pool in &pools {
            for (name, v) in &pool.io {
                out.untyped(
                    format!("node_zfs_zpool_{}", metric_name(name)),
                    format!("kstat.zfs.misc.io.{name}"),
                )
                .add(&[("zpool", &pool.name)], *v as f64);
            }
            for ds in &pool.datasets {
                let dataset = ds.dataset.as_deref().unwrap_or("");
                for (name, v) in &ds.values {
                    out.untyped(
                        format!("node_zfs_zpool_dataset_{}", metric_name(name)),
                        format!("kstat.zfs.misc.objset.{name}"),
                    )
                    .add(&[("dataset", dataset), ("zpool", &pool.name)], *v as f64);
                }
            }
            if let Some(state) = &pool.state {
                for s in STATES {
                    out.gauge("node_zfs_zpool_state", "kstat.zfs.misc.state")
                        .add(
                            &[("state", s), ("zpool", &pool.name)],
                            if state == s { 1.0 } else { 0.0 },
                        );
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kstat_tables_and_pool_io() {
        let text = "13 1 0x01 3 144 1 2\nname type data\nhits 4 10\nweird-name 4 3\n\
                    neg 3 -1\ndataset_name 7 tank/home\n";
        let n = parse_named("t", text).unwrap();
        assert_eq!(
            n.values,
            [("hits".to_owned(), 10), ("weird-name".to_owned(), 3)]
        );
        assert_eq!(n.dataset.as_deref(), Some("tank/home"));
        assert_eq!(metric_name("weird-name"), "weird_name");
        assert!(parse_named("t", &format!("{text}malformed line\n")).is_err());
        assert!(parse_named("t", "hits 4 10\n").is_err());

        let io = "12 3 0x00 1 80 1 2\nnread nwritten reads writes wtime wlentime wupdate rtime rlentime rupdate wcnt rcnt\n\
                  1 2 3 4 5 6 7 8 9 10 11 12\n";
        let v = parse_io("t", io).unwrap();
        assert_eq!(v.len(), 12);
        assert_eq!(v[11], ("rcnt".to_owned(), 12));
        assert!(parse_io("t", &io.replace(" 12\n", "\n")).is_err());
    }
}
