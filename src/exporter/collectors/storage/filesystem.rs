//! `filesystem`: size, free space and inodes per mount, from the mount table
//! and `statfs`.
//!
//! A dead network filesystem can make `statfs` block forever. Each scrape
//! stats mounts on a worker thread and waits at most `mount_timeout` in all;
//! a mount whose call has not returned is *stuck*: it is reported with
//! `node_filesystem_device_error 1` and not stat'ed again until that call
//! returns, so there is never more than one blocked thread per mount.
//! Mounts are stat'ed by up to `--collector.filesystem.stat-workers`
//! threads at once (node_exporter's default 4; 0: one per mount), each
//! taking every n-th mount in order.
//!
//! Decisions:
//! - Mounts whose `statfs` cannot block are stat'ed in place, on the
//!   scrape thread, without a worker or a wait: a file system type in
//!   [`is_local_fs`] (its `statfs` reads the superblock's in-memory
//!   counters: local disk file systems, and in-memory and kernel pseudo
//!   file systems) at a mount point no other mount of another type lies
//!   above, or at (the path walk to the mount point crosses those: an ext4
//!   image mounted inside an NFS share is reached through NFS). Everything
//!   else (network and cluster file systems, FUSE and virtiofs whose answer
//!   comes from a daemon, autofs which mounts on access, overlay and
//!   ecryptfs which ask the file system below, and any type not listed)
//!   keeps the workers and the `mount_timeout` bound. On a host with only
//!   local mounts a scrape hands nothing to another thread and no statfs
//!   thread exists: context switches per scrape fell from 10-11 to 3-4 (all
//!   threads, `perf stat`). CPU per scrape moved by less than this shared
//!   host's noise (`bench/exporter_ab.py` medians; the minimums 2-3% lower).
//! - Local disk file systems can still wait on their disk in `statfs` when
//!   project quotas are on (xfs and ext4 read the quota record); that is a
//!   local I/O like every other file the scrape reads, not a network round
//!   trip that may never end.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::exporter::matcher::{DeviceFilter, Matcher};

use crate::exporter::collector::{read, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

pub const DEFAULT_MOUNT_POINTS_EXCLUDE: &str =
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
pub const DEFAULT_FS_TYPES_EXCLUDE: &str = "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$";

#[derive(Debug, Clone)]
pub struct Options {
    /// `--collector.filesystem.mount-points-exclude|include`.
    pub mount_points: DeviceFilter,
    /// `--collector.filesystem.fs-types-exclude|include`.
    pub fs_types: DeviceFilter,
    pub mount_timeout: Duration,
    /// `--collector.filesystem.stat-workers`: how many `statfs` calls run
    /// at once (0: one thread per mount).
    pub stat_workers: usize,
}

/// node_exporter's `--collector.filesystem.stat-workers` default.
pub const DEFAULT_STAT_WORKERS: usize = 4;

impl Default for Options {
    fn default() -> Self {
        let exclude = |re| DeviceFilter {
            include: None,
            exclude: Some(Matcher::new(re).expect("valid default")),
        };
        Options {
            mount_points: exclude(DEFAULT_MOUNT_POINTS_EXCLUDE),
            fs_types: exclude(DEFAULT_FS_TYPES_EXCLUDE),
            mount_timeout: Duration::from_secs(5),
            stat_workers: DEFAULT_STAT_WORKERS,
        }
    }
}

/// Whether `statfs` on a mount of `fs_type` answers from memory (see the
/// module docs); every other type is stat'ed on a worker under
/// `mount_timeout`. Left out on purpose: nfs*, cifs, smb3, ceph, 9p, gfs2,
/// ocfs2, glusterfs, lustre, afs (network or cluster locks), fuse*,
/// virtiofs, vboxsf (a daemon answers), autofs (mounts on access), overlay,
/// ecryptfs (forward to the file system below, which may be remote), zfs (a
/// suspended pool blocks).
///
/// A `match` rather than a table, inlined: it compiles to compares inside
/// the collector's hot code (`link/symbol-order.txt` places that), where a
/// table of strings would sit in cold read-only data and a separate
/// function in cold code, each costing a 64 KiB fault-around window of
/// resident memory (measured through lld's map).
#[inline(always)]
pub fn is_local_fs(fs_type: &str) -> bool {
    matches!(
        fs_type,
        // Local disk file systems.
        "bcachefs" | "btrfs" | "erofs" | "exfat" | "ext2" | "ext3" | "ext4" | "f2fs" | "hfs"
            | "hfsplus" | "iso9660" | "jfs" | "minix" | "msdos" | "nilfs2" | "ntfs3"
            | "reiserfs" | "squashfs" | "udf" | "vfat" | "xfs"
            // In memory ("rootfs": the initramfs some kernels list as `/`).
            | "devtmpfs" | "hugetlbfs" | "ramfs" | "rootfs" | "tmpfs"
            // Kernel pseudo file systems.
            | "binfmt_misc" | "bpf" | "cgroup" | "cgroup2" | "configfs" | "debugfs" | "devpts"
            | "efivarfs" | "fusectl" | "mqueue" | "nsfs" | "proc" | "pstore" | "rpc_pipefs"
            | "securityfs" | "selinuxfs" | "sysfs" | "tracefs"
    )
}

/// What `statfs` tells about one mount, in bytes and inodes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FsStats {
    pub size: f64,
    pub free: f64,
    pub avail: f64,
    pub files: f64,
    pub files_free: f64,
}

/// The `statfs` call, behind a trait so tests can inject one that hangs.
pub trait StatFs: Send + Sync + 'static {
    fn statfs(&self, path: &Path) -> io::Result<FsStats>;
}

/// The real `statvfs(2)`.
pub struct SysStatFs;

impl StatFs for SysStatFs {
    fn statfs(&self, path: &Path) -> io::Result<FsStats> {
        let st = nix::sys::statvfs::statvfs(path).map_err(io::Error::from)?;
        let frag = st.fragment_size() as f64;
        Ok(FsStats {
            size: st.blocks() as f64 * frag,
            free: st.blocks_free() as f64 * frag,
            avail: st.blocks_available() as f64 * frag,
            files: st.files() as f64,
            files_free: st.files_free() as f64,
        })
    }
}

/// One line of the mount table.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub device: String,
    pub mount_point: String,
    pub fs_type: String,
    pub read_only: bool,
}

/// Parses `/proc/*/mounts`, decoding the kernel's octal escapes (`\040`).
pub fn parse_mounts(text: &str) -> Result<Vec<Mount>, CollectError> {
    let mut mounts = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 {
            return Err(CollectError::parse(
                "mounts",
                format!("malformed line {line:?}"),
            ));
        }
        mounts.push(Mount {
            device: unescape(f[0]),
            mount_point: unescape(f[1]),
            fs_type: unescape(f[2]),
            read_only: f[3].split(',').any(|o| o == "ro"),
        });
    }
    Ok(mounts)
}

fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub struct Filesystem {
    paths: Paths,
    options: Options,
    stat: Arc<dyn StatFs>,
    /// Mount points whose `statfs` has not returned yet.
    in_flight: Arc<Mutex<HashSet<PathBuf>>>,
    /// The long-lived workers that run `statfs` calls, by slot.
    workers: Mutex<Vec<Option<mpsc::Sender<Job>>>>,
}

enum Outcome {
    Stats(FsStats),
    Error,
}

impl Filesystem {
    pub fn new(paths: Paths, options: Options) -> Self {
        Self::with_statfs(paths, options, Arc::new(SysStatFs))
    }

    pub fn with_statfs(paths: Paths, options: Options, stat: Arc<dyn StatFs>) -> Self {
        Filesystem {
            paths,
            options,
            stat,
            in_flight: Arc::default(),
            workers: Mutex::new(Vec::new()),
        }
    }

    /// The mounts to report, in mount-table order, each with whether its
    /// `statfs` can run in place (see the module docs).
    fn mounts(&self) -> Result<Vec<(Mount, bool)>, CollectError> {
        let primary = self.paths.proc("1/mounts");
        let text = match read(&primary) {
            Ok(t) => t,
            Err(_) => read(&self.paths.proc("self/mounts"))?,
        };
        let rootfs = self
            .paths
            .rootfs
            .to_string_lossy()
            .trim_end_matches('/')
            .to_owned();
        let table = parse_mounts(&text)?;
        // Mount points of types that may block: a mount at or below one is
        // reached through it. Usually none.
        let remote: Vec<String> = table
            .iter()
            .filter(|m| !is_local_fs(&m.fs_type))
            .map(|m| m.mount_point.clone())
            .collect();
        let mut seen = HashSet::new();
        let mut out: Vec<(Mount, bool)> = Vec::new();
        for mut m in table.into_iter().rev() {
            let in_place = is_local_fs(&m.fs_type)
                && !remote.iter().any(|r| is_at_or_below(&m.mount_point, r));
            // Inside a container the host's mounts appear below --path.rootfs.
            if !rootfs.is_empty() {
                match m.mount_point.strip_prefix(&rootfs) {
                    Some("") => m.mount_point = "/".into(),
                    Some(rest) if rest.starts_with('/') => m.mount_point = rest.to_owned(),
                    _ => continue,
                }
            }
            if self.options.mount_points.ignored(&m.mount_point)
                || self.options.fs_types.ignored(&m.fs_type)
            {
                continue;
            }
            // The last mount on a point hides the earlier ones.
            if seen.insert(m.mount_point.clone()) {
                out.push((m, in_place));
            }
        }
        out.reverse();
        Ok(out)
    }

    /// Stats `mounts` on worker threads. Returns one outcome per mount;
    /// `None` where no answer came in time.
    ///
    /// Each of up to `stat_workers` workers stats its share of the mounts
    /// (every n-th) in order. When the first round's deadline passes, the
    /// mount a worker is blocked on is stuck, and that worker is retired;
    /// fresh workers get the mounts still unanswered, with `grace` more
    /// time. A scrape therefore waits at most `timeout + grace`, and a
    /// healthy mount is not blamed for a neighbour that hangs.
    ///
    /// Mounts marked in place are stat'ed first, on this thread.
    fn stat_all(&self, mounts: &[(Mount, bool)], timeout: Duration) -> Vec<Option<Outcome>> {
        let start = Instant::now();
        let mut results: Vec<Option<Outcome>> = (0..mounts.len()).map(|_| None).collect();
        let mut pending: Vec<(usize, PathBuf)> = Vec::new();
        for (i, (m, in_place)) in mounts.iter().enumerate() {
            let path = self.paths.root(&m.mount_point);
            if *in_place {
                results[i] = Some(outcome(&path, self.stat.statfs(&path)));
            } else {
                pending.push((i, path));
            }
        }
        if !pending.is_empty() {
            let in_flight = self.in_flight.lock().expect("in_flight lock");
            pending.retain(|(_, p)| !in_flight.contains(p));
        }
        let deadlines = [start + timeout, start + timeout + timeout / 2];
        for deadline in deadlines {
            if pending.is_empty() {
                break;
            }
            let workers = match self.options.stat_workers {
                0 => pending.len(),
                n => n.min(pending.len()),
            };
            let (tx, rx) = mpsc::channel();
            let abandoned = Arc::new(AtomicBool::new(false));
            let shares: Vec<Vec<(usize, PathBuf)>> = (0..workers)
                .map(|k| pending.iter().skip(k).step_by(workers).cloned().collect())
                .collect();
            for (slot, targets) in shares.iter().enumerate() {
                if let Err(err) = self.submit(
                    slot,
                    Job {
                        targets: targets.clone(),
                        tx: tx.clone(),
                        abandoned: Arc::clone(&abandoned),
                    },
                ) {
                    tracing::warn!(error = %err, "cannot start statfs worker");
                }
            }
            drop(tx);
            loop {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                match rx.recv_timeout(deadline - now) {
                    Ok((i, outcome)) => results[i] = Some(outcome),
                    Err(_) => break, // all answered, or out of time
                }
            }
            abandoned.store(true, Ordering::SeqCst);
            let in_flight = self.in_flight.lock().expect("in_flight lock");
            let mut slots = self.workers.lock().expect("workers lock");
            for (slot, targets) in shares.iter().enumerate() {
                if targets.iter().any(|(i, _)| results[*i].is_none()) {
                    // The worker may be blocked in a stuck mount: retire it.
                    slots[slot] = None;
                }
            }
            pending.retain(|(i, p)| results[*i].is_none() && !in_flight.contains(p));
        }
        results
    }

    /// Hands `job` to the long-lived worker in `slot`, starting one when
    /// there is none (first use, or the last one was retired while
    /// blocked).
    fn submit(&self, slot: usize, job: Job) -> io::Result<()> {
        let mut slots = self.workers.lock().expect("workers lock");
        if slots.len() <= slot {
            slots.resize_with(slot + 1, || None);
        }
        let slot = &mut slots[slot];
        if let Some(tx) = slot.as_ref() {
            match tx.send(job) {
                Ok(()) => return Ok(()),
                Err(mpsc::SendError(job)) => {
                    *slot = None;
                    return self.start_worker(slot, job);
                }
            }
        }
        self.start_worker(slot, job)
    }

    fn start_worker(&self, slot: &mut Option<mpsc::Sender<Job>>, job: Job) -> io::Result<()> {
        let (tx, rx) = mpsc::channel::<Job>();
        let stat = Arc::clone(&self.stat);
        let in_flight = Arc::clone(&self.in_flight);
        std::thread::Builder::new()
            .name("statfs".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                // Ends when the collector drops or retires this worker.
                while let Ok(job) = rx.recv() {
                    run_job(&*stat, &in_flight, job);
                }
            })?;
        tx.send(job)
            .map_err(|_| io::Error::other("statfs worker exited"))?;
        *slot = Some(tx);
        Ok(())
    }
}

/// A batch of mounts for the worker, with where to send each outcome.
struct Job {
    targets: Vec<(usize, PathBuf)>,
    tx: mpsc::Sender<(usize, Outcome)>,
    abandoned: Arc<AtomicBool>,
}

fn run_job(stat: &dyn StatFs, in_flight: &Mutex<HashSet<PathBuf>>, job: Job) {
    for (i, path) in job.targets {
        {
            // Claim the mount: never two calls in flight on one mount.
            let mut g = in_flight.lock().expect("in_flight lock");
            if job.abandoned.load(Ordering::SeqCst) {
                return;
            }
            if !g.insert(path.clone()) {
                continue;
            }
        }
        let r = stat.statfs(&path);
        in_flight.lock().expect("in_flight lock").remove(&path);
        if job.tx.send((i, outcome(&path, r))).is_err() {
            return;
        }
    }
}

#[inline]
fn outcome(path: &Path, r: io::Result<FsStats>) -> Outcome {
    match r {
        Ok(s) => Outcome::Stats(s),
        Err(err) => {
            tracing::debug!(path = %path.display(), error = %err, "statfs failed");
            Outcome::Error
        }
    }
}

/// Whether the path walk to mount point `m` crosses mount point `above`
/// (`above` is `m` itself, or one of its ancestors).
#[inline]
fn is_at_or_below(m: &str, above: &str) -> bool {
    above == "/"
        || m.strip_prefix(above)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl Collector for Filesystem {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let mounts = self.mounts()?;
        let results = self.stat_all(&mounts, self.options.mount_timeout);

        let mut rows = Vec::with_capacity(mounts.len());
        for ((m, _), r) in mounts.iter().zip(results) {
            match r {
                Some(Outcome::Stats(s)) => rows.push((m, Some(s))),
                Some(Outcome::Error) => rows.push((m, None)),
                None => {
                    tracing::warn!(mountpoint = %m.mount_point, timeout = ?self.options.mount_timeout, "statfs did not return in time; mount marked stuck");
                    rows.push((m, None));
                }
            }
        }

        let error = out.gauge(
            "node_filesystem_device_error",
            "Whether an error occurred while getting statistics for the given device.",
        );
        for (m, s) in &rows {
            error.add(&labels(m), if s.is_some() { 0.0 } else { 1.0 });
        }
        let ro = out.gauge("node_filesystem_readonly", "Filesystem read-only status.");
        for (m, _) in &rows {
            ro.add(&labels(m), if m.read_only { 1.0 } else { 0.0 });
        }
        type Pick = fn(&FsStats) -> f64;
        let fields: [(&'static str, &'static str, Pick); 5] = [
            (
                "node_filesystem_size_bytes",
                "Filesystem size in bytes.",
                |s| s.size,
            ),
            (
                "node_filesystem_free_bytes",
                "Filesystem free space in bytes.",
                |s| s.free,
            ),
            (
                "node_filesystem_avail_bytes",
                "Filesystem space available to non-root users in bytes.",
                |s| s.avail,
            ),
            (
                "node_filesystem_files",
                "Filesystem total file nodes.",
                |s| s.files,
            ),
            (
                "node_filesystem_files_free",
                "Filesystem total free file nodes.",
                |s| s.files_free,
            ),
        ];
        for (name, help, pick) in fields {
            let fam = out.gauge(name, help);
            for (m, s) in &rows {
                if let Some(s) = s {
                    fam.add(&labels(m), pick(s));
                }
            }
        }
        Ok(())
    }
}

fn labels(m: &Mount) -> [(&'static str, &str); 3] {
    [
        ("device", &m.device),
        ("fstype", &m.fs_type),
        ("mountpoint", &m.mount_point),
    ]
}

#[cfg(test)]
mod tests;
