//! Files kept open between scrapes.
//!
//! A scrape reads hundreds of procfs and sysfs files. Opening one costs a
//! path walk and, for sysfs, allocating the kernel's per-open state; closing
//! it frees that again. Both file systems regenerate a file's content when
//! it is read again from offset 0, so the exporter opens each once and
//! re-reads it with `pread(…, 0)` on later scrapes.
//!
//! Decisions:
//! - Kernel files (procfs, sysfs: checked with `fstatfs` at first open) are
//!   kept until a read fails because their object went away (an interface
//!   removed: `ENODEV`); the path is then opened afresh once. One whose
//!   attribute merely has no value right now (`EINVAL`, `EOPNOTSUPP`: the
//!   speed of a virtual interface) is kept, so it is not reopened on every
//!   scrape.
//! - Ordinary files (udev's database on tmpfs, `os-release`, a fixture tree
//!   standing in for procfs/sysfs) are kept too, while no inotify event
//!   arrived in their directory (see `dirwatch.rs`): a file deleted or
//!   replaced (written elsewhere and renamed over its name, as udev,
//!   package managers and editors do) is an event there, and the path is
//!   opened afresh. A scrape sees every change made before it began, and a
//!   change during it within `dirwatch::DRAIN_EVERY` (1 ms). This replaced
//!   one `fstat` per read: on the fixture tree ~720 `statx` per scrape
//!   (~17% of its CPU; `ab.py 100 5 fx`: 3.20 -> 2.41 ms per scrape
//!   together with the absent paths below). Where no watch can be added
//!   the file is checked before each read with one `fstat` as before: no
//!   links left means deleted or replaced.
//! - Content written in place is read fresh either way: an ordinary file is
//!   read until a read returns less than asked (a short read is the end of
//!   a regular file), so neither its size nor an event for it is needed.
//! - A path that is not there, in a watched ordinary directory, is
//!   remembered as absent until an event in that directory (on the fixture
//!   tree ~156 failing `openat`s per scrape, ~9% of its CPU).
//! - A path that is not there on procfs or sysfs (which send no events) is
//!   remembered as absent for [`KERNEL_ABSENT_FOR`]: the classes and files
//!   of hardware and modules a host lacks (`/sys/class/nvme`,
//!   `thermal_throttle`, `/proc/net/rpc/nfsd`: ~24 failing `openat`s per
//!   scrape on a small VM, each a path walk of several microseconds). So a
//!   module loaded or a device class that appears is seen up to a minute
//!   later, where node_exporter looks on every scrape; one that goes away
//!   is seen at once (its read fails).
//! - Ordinary directory listings ([`list_dir`]) are kept while no event
//!   arrived in the directory itself; without a watch, while one `fstat`
//!   on it shows the same times (and only once [`SETTLE`] has passed since
//!   its last change: time stamps have a granularity; a watch needs no
//!   such wait).
//! - A change neither check can show (a symlink on the path re-pointed at
//!   another file that still exists, an ancestor directory replaced) is
//!   seen within [`ORDINARY_FOR`], after which an ordinary file is always
//!   reopened.
//! - A sysfs directory that had entries is kept open too, and listed again
//!   by rewinding its descriptor (`lseek` and `getdents64`) instead of
//!   `openat`, `fstat`, `getdents64` and `close` with a path walk each time
//!   (~10 listings per scrape on a small VM: `list_dir` was ~7% of a
//!   scrape's CPU, most of it the path walk and open). sysfs sends no
//!   events, and a descriptor on a directory whose device went away lists
//!   nothing, without an error, even once a device of the same name is back
//!   (checked with `ip link add`/`del` on an `ifb` interface). So a kept
//!   descriptor that had entries and lists none is dropped and the path
//!   listed afresh, and so is one older than [`ORDINARY_FOR`]. One that was
//!   empty when opened (a class with no devices) is trusted for
//!   [`KERNEL_ABSENT_FOR`], like a path that is not there. procfs
//!   directories (a process's `fd/`) are listed by path every time.
//! - At most [`MAX_KEPT`] descriptors (and an eighth of the open-file limit,
//!   see [`cap`]) are kept for files, and a quarter of that for sysfs
//!   directories; the rest are opened per read.
//!
//! - A procfs table whose records have a known maximum length
//!   ([`read_records_with`]: `/proc/net/udp`) stops after a read that left
//!   room for one more record in seq_file's buffer, instead of reading on
//!   to a `read` that returns 0. Each `read` of such a file walks the
//!   kernel's table from the start (`udp_seq_start` skips to the
//!   position), so that last, empty `read` was a second walk of the UDP
//!   hash table every scrape (`udp_get_first`, ~3% of a scrape's CPU on
//!   this host). Why a short read is the end: `seq_read_iter` (fs/seq_file.c)
//!   fills its buffer, at least one page, with whole records and stops
//!   only at the end of the table, when the caller's buffer is full (ours
//!   is larger than a page), or when the next record does not fit (or its
//!   `show` fails, which the UDP tables' never does). A read that returned
//!   at most a page less the longest record therefore stopped at the end.
//!
//! - A sysctl file (`/proc/sys/…`) is read with a first `read` of
//!   [`SYSCTL_ASK`] bytes, not the whole scratch buffer: the kernel
//!   allocates and zeroes a buffer of the size asked for every read of a
//!   sysctl (`proc_sys_call_handler`), ~1 µs for 16 KiB, and a value that
//!   fits is produced whole by one call, so a read that returns less than
//!   asked is the end and the `read` that would return 0 is not made. A
//!   value that fills the small read is read again whole from offset 0
//!   (a sysctl of numbers gives nothing at a later offset). Seven sysctls
//!   are read per scrape here (entropy, conntrack, file-nr, hung tasks,
//!   domainname): 14 reads zeroing 16 KiB each became 7 small ones.
//!
//! - Files are opened with `O_NOATIME` where the kernel allows it: a
//!   scrape does not mark what it reads as accessed, and skips the
//!   access-time check on every read of an ordinary file.
//!
//! Reads go into one scratch buffer that lives as long as the process, so a
//! read allocates nothing but its result.

use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::dirwatch::{self, Stamp};
use super::fasthash::FastMap;

/// At most this many descriptors are kept (the rest are opened per read).
pub const MAX_KEPT: usize = 1024;

/// How long an ordinary file's descriptor is used before the path is
/// opened again (see the module's decisions).
pub const ORDINARY_FOR: Duration = Duration::from_secs(60);

/// How long a path that procfs or sysfs did not have is taken to be still
/// absent (see the module's decisions).
pub const KERNEL_ABSENT_FOR: Duration = Duration::from_secs(60);

static LIMIT: AtomicUsize = AtomicUsize::new(MAX_KEPT);

/// Keeps at most an eighth of `nofile` (the open-file limit in force)
/// descriptors, so kept files never crowd out connections and probes.
pub fn cap(nofile: u64) {
    let eighth = usize::try_from(nofile / 8).unwrap_or(usize::MAX);
    LIMIT.store(MAX_KEPT.min(eighth), Ordering::Relaxed);
}

/// The scratch buffer's starting size, and the size it is cut back to after
/// an unusually large file (a busy host's `/proc/net/udp`).
const SCRATCH: usize = 16 * 1024;
const SCRATCH_KEEP: usize = 256 * 1024;

enum Source {
    /// procfs or sysfs; `sysctl`: below `/proc/sys` (see the module's
    /// decisions).
    Kernel { sysctl: bool },
    /// An ordinary file, opened at this time, current while its directory's
    /// stamp is (or, without one, while `fstat` shows it still linked).
    Ordinary(Instant, Option<Stamp>),
}

struct KeptFile {
    file: File,
    source: Source,
}

/// What is known of a path that was not there.
#[derive(Clone, Copy, Debug)]
enum Absent {
    /// In a watched ordinary directory: absent while its stamp is current.
    Watched(Stamp, Instant),
    /// On procfs or sysfs: absent for [`KERNEL_ABSENT_FOR`].
    Kernel(Instant),
    /// Neither: tried afresh every time, but known not to be below procfs
    /// or sysfs, so not checked for that again.
    Unknown,
}

#[derive(Default)]
struct Kept {
    files: FastMap<Box<[u8]>, KeptFile>,
    /// Paths that were not there.
    absent: FastMap<Box<[u8]>, Absent>,
    scratch: Vec<u8>,
}

static KEPT: Mutex<Option<Kept>> = Mutex::new(None);

/// The kernel file systems whose files are generated when read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KernelFs {
    Proc,
    Sys,
}

fn kernel_fs(f: &File) -> Option<KernelFs> {
    use nix::sys::statfs::{fstatfs, PROC_SUPER_MAGIC, SYSFS_MAGIC};
    let kind = fstatfs(f).ok()?.filesystem_type();
    if kind == PROC_SUPER_MAGIC {
        Some(KernelFs::Proc)
    } else if kind == SYSFS_MAGIC {
        Some(KernelFs::Sys)
    } else {
        None
    }
}

/// Whether the nearest existing directory above `path` (absent itself) is
/// on procfs or sysfs.
fn below_kernel_fs(path: &Path) -> bool {
    use nix::sys::statfs::{statfs, PROC_SUPER_MAGIC, SYSFS_MAGIC};
    for dir in path.ancestors().skip(1) {
        match statfs(dir) {
            Ok(st) => {
                return st.filesystem_type() == PROC_SUPER_MAGIC
                    || st.filesystem_type() == SYSFS_MAGIC
            }
            Err(nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR) => continue,
            Err(_) => return false,
        }
    }
    false
}

/// Whether a read error says only that the attribute has no value now; the
/// descriptor itself stays good.
fn attribute_unavailable(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(nix::libc::EINVAL) | Some(nix::libc::EOPNOTSUPP) | Some(nix::libc::ENODATA)
    )
}

/// When a read may stop before the file says "end".
#[derive(Clone, Copy)]
enum Stop {
    /// After the first read (a sysfs attribute: one `show()` call).
    First,
    /// After a read that returned less than asked (an ordinary file: a
    /// short read is its end).
    Short,
    /// Only at end of file.
    End,
    /// After a first read of this many bytes that returned less; a first
    /// read that filled them is followed by reading the file whole from
    /// offset 0 (a sysctl: see the module's decisions).
    Small(usize),
    /// After a read that left room, in seq_file's buffer of at least
    /// [`SEQ_BUF_MIN`] bytes, for a record of this many bytes (see the
    /// module's decisions).
    Records(usize),
}

/// How much the first read of a sysctl file asks for (see the module's
/// decisions): more than any number, list of numbers or name a collector
/// reads there.
pub const SYSCTL_ASK: usize = 512;

/// Whether `path`, a file on procfs, is a sysctl: below a `sys` directory
/// (procfs has no other).
fn is_sysctl(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == "sys")
}

/// The smallest buffer `seq_read_iter` fills per `read`: one page, and no
/// page is smaller.
const SEQ_BUF_MIN: usize = 4096;

impl Stop {
    /// Whether a `read` that returned `n` of `asked` bytes (`n > 0`) may
    /// be the last.
    fn ends(self, n: usize, asked: usize) -> bool {
        match self {
            Stop::First => true,
            Stop::Short => n < asked,
            Stop::End => false,
            Stop::Small(_) => n < asked,
            Stop::Records(max) => n < asked && n + max <= SEQ_BUF_MIN,
        }
    }
}

/// Reads `f` from offset 0 into `buf`, which stays initialised at its full
/// length; returns how many bytes are the file's.
fn read_all_at(f: &File, buf: &mut Vec<u8>, stop: Stop) -> io::Result<usize> {
    if buf.len() < SCRATCH {
        buf.resize(SCRATCH, 0);
    }
    if let Stop::Small(ask) = stop {
        let ask = ask.min(buf.len());
        loop {
            match f.read_at(&mut buf[..ask], 0) {
                Ok(n) if stop.ends(n, ask) => return Ok(n),
                Ok(_) => return read_all_at(f, buf, Stop::End),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(len * 2, 0);
        }
        let asked = buf.len() - len;
        match f.read_at(&mut buf[len..], len as u64) {
            Ok(0) => return Ok(len),
            Ok(n) => {
                len += n;
                if stop.ends(n, asked) {
                    return Ok(len);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Opens `path` for reading without updating its access time
/// (`O_NOATIME`), where the kernel allows it (the file's owner, or
/// `CAP_FOWNER`); otherwise as usual. A scrape only looks, and the
/// access-time check on each read of an ordinary file (`touch_atime`) was
/// ~2% of a scrape of the fixture tree.
fn open_noatime(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOATIME)
        .open(path)
    {
        Err(e) if e.raw_os_error() == Some(nix::libc::EPERM) => File::open(path),
        opened => opened,
    }
}

/// Whether an ordinary kept file's descriptor still names what its path
/// names (see the module's decisions).
fn still_current(file: &File, opened: Instant, stamp: Option<Stamp>) -> bool {
    let now = Instant::now();
    if now.saturating_duration_since(opened) >= ORDINARY_FOR {
        return false;
    }
    match stamp {
        Some(stamp) => dirwatch::is_current_at(stamp, now),
        None => file.metadata().is_ok_and(|m| m.nlink() > 0),
    }
}

fn parent(path: &Path) -> Option<&Path> {
    path.parent().filter(|p| !p.as_os_str().is_empty())
}

/// Calls `f` with the bytes of `path`, read through a kept descriptor where
/// possible. `single` reads once (a sysfs attribute is produced by one
/// `show()` call).
pub fn read_with<R>(path: &Path, single: bool, f: impl FnOnce(&[u8]) -> R) -> io::Result<R> {
    read_stopping(path, if single { Stop::First } else { Stop::End }, f)
}

/// Calls `f` with the bytes of `path`, a procfs table made by seq_file
/// whose records (lines) are at most `max_record` bytes long: the read
/// stops once a `read` proves the end (see the module's decisions).
pub fn read_records_with<R>(
    path: &Path,
    max_record: usize,
    f: impl FnOnce(&[u8]) -> R,
) -> io::Result<R> {
    read_stopping(path, Stop::Records(max_record), f)
}

/// [`read_with`], stopping a kernel file's read at `kernel_stop`.
fn read_stopping<R>(path: &Path, kernel_stop: Stop, f: impl FnOnce(&[u8]) -> R) -> io::Result<R> {
    let key = path.as_os_str().as_bytes();
    let mut guard = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let kept = guard.get_or_insert_with(Kept::default);
    let Kept {
        files,
        absent,
        scratch,
    } = kept;
    if scratch.len() > SCRATCH_KEEP {
        scratch.truncate(SCRATCH);
        scratch.shrink_to_fit();
    }
    if let Some(kept) = files.get(key) {
        let stop = match kept.source {
            Source::Kernel { sysctl: true } => Some(Stop::Small(SYSCTL_ASK)),
            Source::Kernel { sysctl: false } => Some(kernel_stop),
            Source::Ordinary(opened, stamp) => {
                still_current(&kept.file, opened, stamp).then_some(Stop::Short)
            }
        };
        if let Some(stop) = stop {
            match read_all_at(&kept.file, scratch, stop) {
                Ok(n) => return Ok(f(&scratch[..n])),
                Err(e) if attribute_unavailable(&e) => return Err(e),
                Err(_) => {}
            }
        }
        files.remove(key);
    } else if let Some(&was) = absent.get(key) {
        let current = match was {
            Absent::Watched(stamp, since) => {
                since.elapsed() < ORDINARY_FOR && dirwatch::is_current(stamp)
            }
            Absent::Kernel(since) => since.elapsed() < KERNEL_ABSENT_FOR,
            Absent::Unknown => false,
        };
        if current {
            return Err(io::Error::from_raw_os_error(nix::libc::ENOENT));
        }
        if !matches!(was, Absent::Unknown) {
            absent.remove(key);
        }
    }
    let file = match open_noatime(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // Remembered as absent only if its directory is watched (an
            // ordinary one: procfs and sysfs get no stamp) and, after the
            // watch, the name is not there at all (not created meanwhile,
            // not a dangling symlink, whose target's directory is not
            // watched).
            // On procfs or sysfs, remembered for a while. A path known to
            // be neither is not checked again.
            if absent.len() < MAX_KEPT && !matches!(absent.get(key), Some(Absent::Unknown)) {
                let stamp = parent(path).and_then(dirwatch::stamp);
                let was = if let Some(stamp) = stamp {
                    std::fs::symlink_metadata(path)
                        .is_err_and(|e| e.kind() == io::ErrorKind::NotFound)
                        .then(|| Absent::Watched(stamp, Instant::now()))
                } else if below_kernel_fs(path) {
                    Some(Absent::Kernel(Instant::now()))
                } else {
                    Some(Absent::Unknown)
                };
                if let Some(was) = was {
                    absent.insert(key.into(), was);
                }
            }
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let (source, stop) = if let Some(kind) = kernel_fs(&file) {
        let sysctl = kind == KernelFs::Proc && is_sysctl(path);
        let stop = if sysctl {
            Stop::Small(SYSCTL_ASK)
        } else {
            kernel_stop
        };
        (Some(Source::Kernel { sysctl }), stop)
    } else {
        // The stamp vouches for the descriptor only if, after the watch,
        // the name itself still is this file: not replaced meanwhile, and
        // not a symlink (`/etc/os-release`), whose target's directory is
        // not the one watched; otherwise `fstat` before each read.
        let stamp = parent(path).and_then(dirwatch::stamp);
        match file.metadata() {
            Ok(m) if m.is_file() && m.nlink() > 0 => {
                let named = |l: std::fs::Metadata| l.dev() == m.dev() && l.ino() == m.ino();
                let stamp = stamp.filter(|_| std::fs::symlink_metadata(path).is_ok_and(named));
                (Some(Source::Ordinary(Instant::now(), stamp)), Stop::Short)
            }
            _ => (None, Stop::End),
        }
    };
    let result = read_all_at(&file, scratch, stop);
    let keep = match &result {
        Ok(_) => true,
        Err(e) => attribute_unavailable(e),
    };
    if let Some(source) = source.filter(|_| keep && files.len() < LIMIT.load(Ordering::Relaxed)) {
        files.insert(key.into(), KeptFile { file, source });
    }
    let n = result?;
    Ok(f(&scratch[..n]))
}

/// What an ordinary directory's `fstat` says about its entries: any entry
/// added, removed or renamed changes its modification and change times.
#[derive(Clone, Copy, PartialEq, Eq)]
struct DirStamp {
    mtime: (i64, i64),
    ctime: (i64, i64),
    nlink: u64,
    size: u64,
}

impl DirStamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        DirStamp {
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            nlink: meta.nlink(),
            size: meta.size(),
        }
    }
}

/// How a kept listing is known to be current.
enum Check {
    /// No event in the watched directory since this stamp.
    Watched(Stamp),
    /// Without a watch: one `fstat` on the kept descriptor.
    Stat {
        dir: File,
        stamp: DirStamp,
        /// Whether the listing was taken long enough after the directory
        /// last changed that a later change must move its times (time
        /// stamps have a granularity, so a change in the same tick as the
        /// listing might not).
        settled: bool,
    },
}

/// What a directory listing said an entry is (`d_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    /// A file, a device, a socket: anything but a directory or a symlink.
    Other,
    /// A symlink, or a file system that does not say: `stat` to know.
    Unknown,
}

impl EntryKind {
    /// Whether the entry `name` of `dir` is a directory (a symlink
    /// followed): as the listing said, else by `stat`.
    pub fn is_dir(self, dir: &Path, name: &std::ffi::OsStr) -> bool {
        match self {
            EntryKind::Dir => true,
            EntryKind::Other => false,
            EntryKind::Unknown => dir.join(name).is_dir(),
        }
    }

    fn of(kind: Option<std::fs::FileType>) -> Self {
        match kind {
            Some(k) if k.is_dir() => EntryKind::Dir,
            Some(k) if !k.is_symlink() => EntryKind::Other,
            _ => EntryKind::Unknown,
        }
    }
}

/// A directory's entries, sorted by name, with their kinds.
type Entries = Vec<(std::ffi::OsString, EntryKind)>;

/// The names and kinds of a listing, as handed out.
pub type Listing = (
    std::sync::Arc<[std::ffi::OsString]>,
    std::sync::Arc<[EntryKind]>,
);

fn into_listing(entries: Entries) -> Listing {
    let kinds = entries.iter().map(|(_, k)| *k).collect();
    (entries.into_iter().map(|(n, _)| n).collect(), kinds)
}

/// A listing of an ordinary directory.
struct KeptDir {
    check: Check,
    opened: Instant,
    listing: Listing,
}

impl KeptDir {
    fn is_current(&self) -> bool {
        if self.opened.elapsed() >= ORDINARY_FOR {
            return false;
        }
        match &self.check {
            Check::Watched(stamp) => dirwatch::is_current(*stamp),
            Check::Stat {
                dir,
                stamp,
                settled,
            } => {
                *settled
                    && dir
                        .metadata()
                        .is_ok_and(|m| m.nlink() > 0 && DirStamp::of(&m) == *stamp)
            }
        }
    }
}

/// What is known of a directory path.
enum Listed {
    /// On procfs or sysfs: listed afresh every time.
    /// A sysfs directory is kept open while it lists entries (see the
    /// module's decisions).
    Kernel(Option<OpenDir>),
    /// Not there on procfs or sysfs, since then (see [`KERNEL_ABSENT_FOR`]).
    KernelAbsent(Instant),
    /// Not there, and not below procfs or sysfs: looked for afresh every
    /// time, without checking that again.
    Absent,
    Ordinary(KeptDir),
}

static DIRS: Mutex<Option<FastMap<Box<[u8]>, Listed>>> = Mutex::new(None);

/// How many sysfs directories are kept open ([`Listed::Kernel`]).
static OPEN_DIRS: AtomicUsize = AtomicUsize::new(0);

/// A directory kept open, to be listed again through its descriptor.
struct OpenDir {
    dir: nix::dir::Dir,
    opened: Instant,
    /// Whether it listed nothing when opened (see [`list_kernel`]).
    empty: bool,
}

impl OpenDir {
    /// Keeps `dir`, which listed nothing if `empty`, if the limit allows.
    fn keep(dir: nix::dir::Dir, empty: bool) -> Option<Self> {
        let limit = LIMIT.load(Ordering::Relaxed) / 4;
        OPEN_DIRS
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()?;
        Some(OpenDir {
            dir,
            opened: Instant::now(),
            empty,
        })
    }
}

impl Drop for OpenDir {
    fn drop(&mut self) {
        OPEN_DIRS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The entries of an open directory, from its start, sorted by their
/// names' bytes. `nix`'s iterator rewinds the directory when it is dropped.
fn list_open(dir: &mut nix::dir::Dir) -> io::Result<Entries> {
    use nix::dir::Type;
    let mut entries = Vec::new();
    for entry in dir.iter() {
        let entry = entry.map_err(io::Error::from)?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            let kind = match entry.file_type() {
                Some(Type::Directory) => EntryKind::Dir,
                Some(Type::Symlink) | None => EntryKind::Unknown,
                Some(_) => EntryKind::Other,
            };
            entries.push((std::ffi::OsStr::from_bytes(name).to_owned(), kind));
        }
    }
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

/// Lists a kernel directory: through `kept` while that lists entries and
/// is younger than [`ORDINARY_FOR`], else by `path`, keeping the new
/// descriptor in `kept` if it is on sysfs and listed entries.
///
/// A descriptor that listed nothing when it was opened (a class with no
/// devices: `power_supply`, `watchdog` on a VM) is trusted to list nothing
/// for [`KERNEL_ABSENT_FOR`], as a path that is not there is: a device that
/// appears in a live directory is listed at once, and only a directory
/// removed and made again (a module reloaded) is seen up to a minute late.
fn list_kernel(path: &Path, kept: &mut Option<OpenDir>) -> io::Result<Entries> {
    if let Some(open) = kept {
        if open.opened.elapsed() < ORDINARY_FOR {
            if let Ok(names) = list_open(&mut open.dir) {
                if !names.is_empty() || (open.empty && open.opened.elapsed() < KERNEL_ABSENT_FOR) {
                    return Ok(names);
                }
            }
        }
        *kept = None;
    }
    let file = File::open(path)?;
    let sysfs = kernel_fs(&file) == Some(KernelFs::Sys);
    list_and_keep(file, sysfs, kept)
}

/// Lists the open directory `file`, and keeps it in `kept` if `keep`.
fn list_and_keep(file: File, keep: bool, kept: &mut Option<OpenDir>) -> io::Result<Entries> {
    let mut dir = nix::dir::Dir::from(file)?;
    let names = list_open(&mut dir)?;
    if keep {
        *kept = OpenDir::keep(dir, names.is_empty());
    }
    Ok(names)
}

/// How long after a directory's last change its listing is trusted to be
/// complete (well above any file system's time stamp granularity).
const SETTLE: Duration = Duration::from_secs(2);

fn list_fresh(dir: &Path) -> io::Result<Entries> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| (e.file_name(), EntryKind::of(e.file_type().ok())))
        .collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

fn settled(stamp: &DirStamp) -> bool {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let newest = stamp.mtime.0.max(stamp.ctime.0);
    now - newest > SETTLE.as_secs() as i64
}

/// Records that `dir` (`key`) is not there: for a while on procfs or sysfs
/// (see [`KERNEL_ABSENT_FOR`]).
fn remember_absent_dir(dirs: &mut FastMap<Box<[u8]>, Listed>, key: &[u8], dir: &Path) {
    if matches!(dirs.get(key), Some(Listed::Absent)) || dirs.len() >= MAX_KEPT {
        return;
    }
    let listed = if below_kernel_fs(dir) {
        Listed::KernelAbsent(Instant::now())
    } else {
        Listed::Absent
    };
    dirs.insert(key.into(), listed);
}

/// Whether `dir` is a directory, as `Path::is_dir`; a procfs or sysfs
/// directory that is not there is remembered as [`list_dir`] remembers it,
/// so a collector's check for a class the host lacks (`cpufreq`, ZFS's
/// kstats) costs no path walk on most scrapes.
pub fn is_dir(dir: &Path) -> bool {
    let key = dir.as_os_str().as_bytes();
    let mut guard = DIRS.lock().unwrap_or_else(|e| e.into_inner());
    let dirs = guard.get_or_insert_with(FastMap::default);
    match dirs.get(key) {
        Some(Listed::KernelAbsent(since)) if since.elapsed() < KERNEL_ABSENT_FOR => return false,
        Some(Listed::KernelAbsent(_)) => {
            dirs.remove(key);
        }
        _ => {}
    }
    match std::fs::metadata(dir) {
        Ok(meta) => meta.is_dir(),
        Err(e) => {
            if e.kind() == io::ErrorKind::NotFound {
                remember_absent_dir(dirs, key, dir);
            }
            false
        }
    }
}

/// The entry names of `dir`, sorted by their bytes.
///
/// Directories on procfs and sysfs are listed on every call, as
/// node_exporter does (nothing cheap tells when a device appears there).
/// An ordinary directory's listing is kept while no inotify event arrived
/// in it (see `dirwatch.rs`) and it is younger than [`ORDINARY_FOR`].
/// Where it cannot be watched, a descriptor on it is kept instead and the
/// listing reused while one `fstat` shows it unchanged (the same times,
/// link count and size, and still linked) and it changed more than
/// [`SETTLE`] before it was listed; otherwise it is listed again.
pub fn list_dir(dir: &Path) -> io::Result<std::sync::Arc<[std::ffi::OsString]>> {
    list_entries(dir).map(|(names, _)| names)
}

/// [`list_dir`] with each entry's kind as the listing gave it (`d_type`),
/// kept with the names: telling the subdirectories of a kept listing
/// apart needs no system call (see `collector::subdirectories`).
pub fn list_entries(dir: &Path) -> io::Result<Listing> {
    let key = dir.as_os_str().as_bytes();
    let mut guard = DIRS.lock().unwrap_or_else(|e| e.into_inner());
    let dirs = guard.get_or_insert_with(FastMap::default);
    match dirs.get_mut(key) {
        Some(Listed::Kernel(kept)) => return list_kernel(dir, kept).map(into_listing),
        Some(Listed::KernelAbsent(since)) => {
            if since.elapsed() < KERNEL_ABSENT_FOR {
                return Err(io::Error::from_raw_os_error(nix::libc::ENOENT));
            }
            dirs.remove(key);
        }
        Some(Listed::Absent) => {}
        Some(Listed::Ordinary(kept)) => {
            if kept.is_current() {
                return Ok(kept.listing.clone());
            }
            dirs.remove(key);
        }
        None => {}
    }
    let file = match File::open(dir) {
        Ok(file) => file,
        Err(e) => {
            if e.kind() == io::ErrorKind::NotFound {
                remember_absent_dir(dirs, key, dir);
            }
            return Err(e);
        }
    };
    if let Some(kind) = kernel_fs(&file) {
        let mut kept = None;
        let entries = list_and_keep(file, kind == KernelFs::Sys, &mut kept)?;
        if dirs.len() < MAX_KEPT {
            dirs.insert(key.into(), Listed::Kernel(kept));
        }
        return Ok(into_listing(entries));
    }
    // Watched before it is listed: a change after the listing began is an
    // event.
    let watched = dirwatch::stamp(dir);
    let meta = file.metadata()?;
    let listing = into_listing(list_fresh(dir)?);
    let limit = LIMIT.load(Ordering::Relaxed) / 4;
    if meta.is_dir() && dirs.len() < limit {
        let check = match watched {
            Some(stamp) => Check::Watched(stamp),
            None => {
                let stamp = DirStamp::of(&meta);
                Check::Stat {
                    dir: file,
                    stamp,
                    settled: settled(&stamp),
                }
            }
        };
        let kept = KeptDir {
            check,
            opened: Instant::now(),
            listing: listing.clone(),
        };
        dirs.insert(key.into(), Listed::Ordinary(kept));
    }
    Ok(listing)
}

#[cfg(test)]
mod tests;
