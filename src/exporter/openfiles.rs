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
//!   standing in for procfs/sysfs) are kept too, but checked before each
//!   read with one `fstat` on the descriptor: a file that was deleted or
//!   replaced (written elsewhere and renamed over its name, as udev,
//!   package managers and editors do) has no links left, and the path is
//!   opened afresh. A change the link count cannot show (a symlink on the
//!   path re-pointed at another file that still exists) is seen within
//!   [`ORDINARY_FOR`], after which an ordinary file is always reopened.
//!   Content written in place is read fresh either way. The `fstat` also
//!   gives the size, so the read stops there instead of asking again for
//!   the end of the file.
//! - At most [`MAX_KEPT`] descriptors (and an eighth of the open-file limit,
//!   see [`cap`]) are kept; the rest are opened per read.
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

use super::fasthash::FastMap;

/// At most this many descriptors are kept (the rest are opened per read).
pub const MAX_KEPT: usize = 1024;

/// How long an ordinary file's descriptor is used before the path is
/// opened again (see the module's decisions).
pub const ORDINARY_FOR: Duration = Duration::from_secs(60);

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
    /// procfs or sysfs.
    Kernel,
    /// An ordinary file, opened at this time.
    Ordinary(Instant),
}

struct KeptFile {
    file: File,
    source: Source,
}

#[derive(Default)]
struct Kept {
    files: FastMap<Box<[u8]>, KeptFile>,
    scratch: Vec<u8>,
}

static KEPT: Mutex<Option<Kept>> = Mutex::new(None);

fn is_kernel_fs(f: &File) -> bool {
    use nix::sys::statfs::{fstatfs, PROC_SUPER_MAGIC, SYSFS_MAGIC};
    match fstatfs(f) {
        Ok(st) => st.filesystem_type() == PROC_SUPER_MAGIC || st.filesystem_type() == SYSFS_MAGIC,
        Err(_) => false,
    }
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
    /// Once this many bytes are in (an ordinary file of this size).
    At(u64),
    /// Only at end of file.
    End,
}

/// Reads `f` from offset 0 into `buf`, which stays initialised at its full
/// length; returns how many bytes are the file's.
fn read_all_at(f: &File, buf: &mut Vec<u8>, stop: Stop) -> io::Result<usize> {
    if buf.len() < SCRATCH {
        buf.resize(SCRATCH, 0);
    }
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(len * 2, 0);
        }
        match f.read_at(&mut buf[len..], len as u64) {
            Ok(0) => return Ok(len),
            Ok(n) => {
                len += n;
                match stop {
                    Stop::First => return Ok(len),
                    Stop::At(size) if len as u64 >= size => return Ok(len),
                    _ => {}
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The size of an ordinary kept file if its descriptor still names what
/// its path names (see the module's decisions); `None`: open it again.
fn still_current(file: &File, opened: Instant) -> Option<u64> {
    if opened.elapsed() >= ORDINARY_FOR {
        return None;
    }
    let meta = file.metadata().ok()?;
    (meta.nlink() > 0).then_some(meta.size())
}

/// Calls `f` with the bytes of `path`, read through a kept descriptor where
/// possible. `single` reads once (a sysfs attribute is produced by one
/// `show()` call).
pub fn read_with<R>(path: &Path, single: bool, f: impl FnOnce(&[u8]) -> R) -> io::Result<R> {
    let key = path.as_os_str().as_bytes();
    let mut guard = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let kept = guard.get_or_insert_with(Kept::default);
    let Kept { files, scratch } = kept;
    if scratch.len() > SCRATCH_KEEP {
        scratch.truncate(SCRATCH);
        scratch.shrink_to_fit();
    }
    let kernel_stop = if single { Stop::First } else { Stop::End };
    if let Some(kept) = files.get(key) {
        let stop = match kept.source {
            Source::Kernel => Some(kernel_stop),
            Source::Ordinary(opened) => still_current(&kept.file, opened).map(Stop::At),
        };
        if let Some(stop) = stop {
            match read_all_at(&kept.file, scratch, stop) {
                Ok(n) => return Ok(f(&scratch[..n])),
                Err(e) if attribute_unavailable(&e) => return Err(e),
                Err(_) => {}
            }
        }
        files.remove(key);
    }
    let file = File::open(path)?;
    let (source, stop) = if is_kernel_fs(&file) {
        (Some(Source::Kernel), kernel_stop)
    } else {
        match file.metadata() {
            Ok(m) if m.is_file() => (Some(Source::Ordinary(Instant::now())), Stop::At(m.size())),
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

/// A listing of an ordinary directory, kept with a descriptor on it.
struct KeptDir {
    dir: File,
    stamp: DirStamp,
    opened: Instant,
    /// Whether the listing was taken long enough after the directory last
    /// changed that a later change must move its times (time stamps have a
    /// granularity, so a change in the same tick as the listing might not).
    settled: bool,
    names: std::sync::Arc<[std::ffi::OsString]>,
}

/// What is known of a directory path.
enum Listed {
    /// On procfs or sysfs: listed afresh every time.
    Kernel,
    Ordinary(KeptDir),
}

static DIRS: Mutex<Option<FastMap<Box<[u8]>, Listed>>> = Mutex::new(None);

/// How long after a directory's last change its listing is trusted to be
/// complete (well above any file system's time stamp granularity).
const SETTLE: Duration = Duration::from_secs(2);

fn list_fresh(dir: &Path) -> io::Result<Vec<std::ffi::OsString>> {
    let mut names: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    names.sort();
    Ok(names)
}

fn settled(stamp: &DirStamp) -> bool {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let newest = stamp.mtime.0.max(stamp.ctime.0);
    now - newest > SETTLE.as_secs() as i64
}

/// The entry names of `dir`, sorted by their bytes.
///
/// Directories on procfs and sysfs are listed on every call, as
/// node_exporter does (nothing cheap tells when a device appears there).
/// An ordinary directory's listing is kept with a descriptor on the
/// directory and reused while one `fstat` shows it unchanged (the same
/// times, link count and size, and still linked), it changed more than
/// [`SETTLE`] before it was listed, and it is younger than
/// [`ORDINARY_FOR`]; otherwise the directory is listed again.
pub fn list_dir(dir: &Path) -> io::Result<std::sync::Arc<[std::ffi::OsString]>> {
    let key = dir.as_os_str().as_bytes();
    let mut guard = DIRS.lock().unwrap_or_else(|e| e.into_inner());
    let dirs = guard.get_or_insert_with(FastMap::default);
    match dirs.get(key) {
        Some(Listed::Kernel) => return list_fresh(dir).map(Into::into),
        Some(Listed::Ordinary(kept)) => {
            if kept.settled && kept.opened.elapsed() < ORDINARY_FOR {
                if let Ok(meta) = kept.dir.metadata() {
                    if meta.nlink() > 0 && DirStamp::of(&meta) == kept.stamp {
                        return Ok(kept.names.clone());
                    }
                }
            }
            dirs.remove(key);
        }
        None => {}
    }
    let file = File::open(dir)?;
    if is_kernel_fs(&file) {
        if dirs.len() < MAX_KEPT {
            dirs.insert(key.into(), Listed::Kernel);
        }
        return list_fresh(dir).map(Into::into);
    }
    let meta = file.metadata()?;
    let stamp = DirStamp::of(&meta);
    let names: std::sync::Arc<[_]> = list_fresh(dir)?.into();
    let limit = LIMIT.load(Ordering::Relaxed) / 4;
    if meta.is_dir() && dirs.len() < limit {
        let kept = KeptDir {
            dir: file,
            stamp,
            opened: Instant::now(),
            settled: settled(&stamp),
            names: names.clone(),
        };
        dirs.insert(key.into(), Listed::Ordinary(kept));
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path, single: bool) -> io::Result<Vec<u8>> {
        read_with(path, single, <[u8]>::to_vec)
    }

    fn is_kept(path: &Path) -> bool {
        KEPT.lock()
            .unwrap()
            .as_ref()
            .is_some_and(|k| k.files.contains_key(path.as_os_str().as_bytes()))
    }

    #[test]
    fn an_attribute_without_a_value_keeps_its_descriptor() {
        // The loopback interface has no link speed: reading it fails with
        // EINVAL, every time, through the same descriptor.
        let path = Path::new("/sys/class/net/lo/speed");
        let first = read(path, true).unwrap_err();
        assert!(attribute_unavailable(&first), "{first}");
        assert!(is_kept(path));
        let again = read(path, true).unwrap_err();
        assert!(attribute_unavailable(&again), "{again}");
    }

    #[test]
    fn large_files_are_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big");
        let content: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        std::fs::write(&p, &content).unwrap();
        assert_eq!(read(&p, false).unwrap(), content);
        // A small file read next gets only its own bytes.
        std::fs::write(&p, "small").unwrap();
        assert_eq!(read(&p, false).unwrap(), b"small");
    }

    #[test]
    fn procfs_files_are_kept_and_reread_fresh() {
        let path = Path::new("/proc/self/stat");
        let a = read(path, false).unwrap();
        let b = read(path, false).unwrap();
        assert!(is_kept(path));
        // Fresh content each time: the utime/ticks or at least the whole line is re-read.
        assert!(!a.is_empty() && !b.is_empty());
        assert!(String::from_utf8(b).unwrap().contains(')'));
    }

    #[test]
    fn ordinary_files_are_kept_until_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, "one").unwrap();
        assert_eq!(read(&p, false).unwrap(), b"one");
        assert!(is_kept(&p));
        // Written in place (shorter, then longer): read fresh and whole.
        std::fs::write(&p, "1").unwrap();
        assert_eq!(read(&p, false).unwrap(), b"1");
        std::fs::write(&p, "eleven").unwrap();
        assert_eq!(read(&p, false).unwrap(), b"eleven");
        // Replaced under the same name: the new content is read.
        std::fs::write(dir.path().join("y"), "two").unwrap();
        std::fs::rename(dir.path().join("y"), &p).unwrap();
        assert_eq!(read(&p, false).unwrap(), b"two");
        // Deleted: gone, as for a fresh open.
        std::fs::remove_file(&p).unwrap();
        let gone = read(&p, false).unwrap_err();
        assert_eq!(gone.kind(), io::ErrorKind::NotFound);
        assert!(!is_kept(&p));
    }

    #[test]
    fn an_ordinary_file_is_reopened_after_its_time() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, link) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("l"),
        );
        std::fs::write(&a, "a").unwrap();
        std::fs::write(&b, "b").unwrap();
        std::os::unix::fs::symlink(&a, &link).unwrap();
        assert_eq!(read(&link, false).unwrap(), b"a");
        // The symlink re-pointed at another file that still exists: the
        // link count cannot tell, the age bound does.
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(&b, &link).unwrap();
        let key: &[u8] = link.as_os_str().as_bytes();
        if let Some(k) = KEPT.lock().unwrap().as_mut() {
            let kept = k.files.get_mut(key).unwrap();
            let long_ago = Instant::now().checked_sub(ORDINARY_FOR).expect("uptime");
            kept.source = Source::Ordinary(long_ago);
        }
        assert_eq!(read(&link, false).unwrap(), b"b");
    }

    fn set_listed_long_ago(dir: &Path) {
        let mut guard = DIRS.lock().unwrap();
        let dirs = guard.as_mut().unwrap();
        let Some(Listed::Ordinary(kept)) = dirs.get_mut(dir.as_os_str().as_bytes()) else {
            panic!("{} not kept", dir.display())
        };
        kept.settled = true;
    }

    fn names(dir: &Path) -> Vec<String> {
        list_dir(dir)
            .unwrap()
            .iter()
            .map(|n| n.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn a_kept_listing_follows_added_removed_and_renamed_entries() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("b"), "").unwrap();
        std::fs::write(d.join("a"), "").unwrap();
        assert_eq!(names(d), ["a", "b"]);
        // Pretend the listing was taken long after the last change: from
        // now on only the directory's own times make it list again.
        set_listed_long_ago(d);
        assert_eq!(names(d), ["a", "b"]);
        // Past the time stamps' granularity (a clock tick) after the listing.
        let tick = || std::thread::sleep(Duration::from_millis(20));
        tick();
        std::fs::write(d.join("c"), "").unwrap();
        assert_eq!(names(d), ["a", "b", "c"]);
        set_listed_long_ago(d);
        tick();
        std::fs::remove_file(d.join("a")).unwrap();
        assert_eq!(names(d), ["b", "c"]);
        set_listed_long_ago(d);
        tick();
        std::fs::rename(d.join("b"), d.join("d")).unwrap();
        assert_eq!(names(d), ["c", "d"]);
    }

    #[test]
    fn a_listing_taken_right_after_a_change_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a"), "").unwrap();
        assert_eq!(names(d), ["a"]);
        let guard = DIRS.lock().unwrap();
        let Some(Listed::Ordinary(kept)) = guard.as_ref().unwrap().get(d.as_os_str().as_bytes())
        else {
            panic!("not kept")
        };
        assert!(!kept.settled);
    }

    #[test]
    fn a_replaced_directory_is_listed_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let (d, new) = (dir.path().join("d"), dir.path().join("new"));
        std::fs::create_dir(&d).unwrap();
        std::fs::create_dir(&new).unwrap();
        std::fs::write(new.join("x"), "").unwrap();
        assert!(names(&d).is_empty());
        set_listed_long_ago(&d);
        std::fs::rename(&new, &d).unwrap();
        assert_eq!(names(&d), ["x"]);
        std::fs::remove_dir_all(&d).unwrap();
        assert_eq!(list_dir(&d).unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn kernel_directories_are_listed_every_time() {
        let d = Path::new("/proc/self/fd");
        let extra = File::open("/proc/self/stat").unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&extra).to_string();
        assert!(names(d).contains(&fd));
        let guard = DIRS.lock().unwrap();
        let listed = guard.as_ref().unwrap().get(d.as_os_str().as_bytes());
        assert!(matches!(listed, Some(Listed::Kernel)));
    }
}
