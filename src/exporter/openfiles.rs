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
//!   tree ~156 failing `openat`s per scrape, ~9% of its CPU). Never on
//!   procfs or sysfs: they send no events, so they get no watch.
//! - Ordinary directory listings ([`list_dir`]) are kept while no event
//!   arrived in the directory itself; without a watch, while one `fstat`
//!   on it shows the same times (and only once [`SETTLE`] has passed since
//!   its last change: time stamps have a granularity; a watch needs no
//!   such wait).
//! - A change neither check can show (a symlink on the path re-pointed at
//!   another file that still exists, an ancestor directory replaced) is
//!   seen within [`ORDINARY_FOR`], after which an ordinary file is always
//!   reopened.
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

use super::dirwatch::{self, Stamp};
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
    /// An ordinary file, opened at this time, current while its directory's
    /// stamp is (or, without one, while `fstat` shows it still linked).
    Ordinary(Instant, Option<Stamp>),
}

struct KeptFile {
    file: File,
    source: Source,
}

#[derive(Default)]
struct Kept {
    files: FastMap<Box<[u8]>, KeptFile>,
    /// Paths on watched ordinary directories that were not there.
    absent: FastMap<Box<[u8]>, (Stamp, Instant)>,
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
    /// After a read that returned less than asked (an ordinary file: a
    /// short read is its end).
    Short,
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
        let asked = buf.len() - len;
        match f.read_at(&mut buf[len..], len as u64) {
            Ok(0) => return Ok(len),
            Ok(n) => {
                len += n;
                match stop {
                    Stop::First => return Ok(len),
                    Stop::Short if n < asked => return Ok(len),
                    _ => {}
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Whether an ordinary kept file's descriptor still names what its path
/// names (see the module's decisions).
fn still_current(file: &File, opened: Instant, stamp: Option<Stamp>) -> bool {
    if opened.elapsed() >= ORDINARY_FOR {
        return false;
    }
    match stamp {
        Some(stamp) => dirwatch::is_current(stamp),
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
    let kernel_stop = if single { Stop::First } else { Stop::End };
    if let Some(kept) = files.get(key) {
        let stop = match kept.source {
            Source::Kernel => Some(kernel_stop),
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
    } else if let Some(&(stamp, since)) = absent.get(key) {
        if since.elapsed() < ORDINARY_FOR && dirwatch::is_current(stamp) {
            return Err(io::Error::from_raw_os_error(nix::libc::ENOENT));
        }
        absent.remove(key);
    }
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // Remembered as absent only if its directory is watched (an
            // ordinary one: procfs and sysfs get no stamp) and, after the
            // watch, the name is not there at all (not created meanwhile,
            // not a dangling symlink, whose target's directory is not
            // watched).
            let stamp = parent(path).and_then(dirwatch::stamp);
            if let Some(stamp) = stamp.filter(|_| absent.len() < MAX_KEPT) {
                if std::fs::symlink_metadata(path)
                    .is_err_and(|e| e.kind() == io::ErrorKind::NotFound)
                {
                    absent.insert(key.into(), (stamp, Instant::now()));
                }
            }
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let (source, stop) = if is_kernel_fs(&file) {
        (Some(Source::Kernel), kernel_stop)
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

/// A listing of an ordinary directory.
struct KeptDir {
    check: Check,
    opened: Instant,
    names: std::sync::Arc<[std::ffi::OsString]>,
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
/// An ordinary directory's listing is kept while no inotify event arrived
/// in it (see `dirwatch.rs`) and it is younger than [`ORDINARY_FOR`].
/// Where it cannot be watched, a descriptor on it is kept instead and the
/// listing reused while one `fstat` shows it unchanged (the same times,
/// link count and size, and still linked) and it changed more than
/// [`SETTLE`] before it was listed; otherwise it is listed again.
pub fn list_dir(dir: &Path) -> io::Result<std::sync::Arc<[std::ffi::OsString]>> {
    let key = dir.as_os_str().as_bytes();
    let mut guard = DIRS.lock().unwrap_or_else(|e| e.into_inner());
    let dirs = guard.get_or_insert_with(FastMap::default);
    match dirs.get(key) {
        Some(Listed::Kernel) => return list_fresh(dir).map(Into::into),
        Some(Listed::Ordinary(kept)) => {
            if kept.is_current() {
                return Ok(kept.names.clone());
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
    // Watched before it is listed: a change after the listing began is an
    // event.
    let watched = dirwatch::stamp(dir);
    let meta = file.metadata()?;
    let names: std::sync::Arc<[_]> = list_fresh(dir)?.into();
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
            let Source::Ordinary(_, stamp) = kept.source else {
                panic!("kept as ordinary")
            };
            kept.source = Source::Ordinary(long_ago, stamp);
        }
        assert_eq!(read(&link, false).unwrap(), b"b");
    }

    /// Without a watch: pretends the listing was taken long after the
    /// directory's last change.
    fn set_listed_long_ago(dir: &Path) {
        let mut guard = DIRS.lock().unwrap();
        let dirs = guard.as_mut().unwrap();
        let Some(Listed::Ordinary(kept)) = dirs.get_mut(dir.as_os_str().as_bytes()) else {
            panic!("{} not kept", dir.display())
        };
        if let Check::Stat { settled, .. } = &mut kept.check {
            *settled = true;
        }
    }

    /// Runs `f` with every stamp failing, as when no watch can be added.
    fn unwatched<R>(f: impl FnOnce() -> R) -> R {
        dirwatch::UNWATCHABLE.set(true);
        let r = f();
        dirwatch::UNWATCHABLE.set(false);
        r
    }

    fn is_watched(path: &Path) -> bool {
        let key = path.as_os_str().as_bytes();
        if let Some(kept) = KEPT.lock().unwrap().as_ref().and_then(|k| k.files.get(key)) {
            return matches!(kept.source, Source::Ordinary(_, Some(_)));
        }
        let guard = DIRS.lock().unwrap();
        match guard.as_ref().and_then(|d| d.get(key)) {
            Some(Listed::Ordinary(kept)) => matches!(kept.check, Check::Watched(_)),
            _ => panic!("{} not kept", path.display()),
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        list_dir(dir)
            .unwrap()
            .iter()
            .map(|n| n.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn an_unwatched_listing_follows_added_removed_and_renamed_entries() {
        unwatched(unwatched_listing_follows_changes);
    }

    fn unwatched_listing_follows_changes() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("b"), "").unwrap();
        std::fs::write(d.join("a"), "").unwrap();
        assert_eq!(names(d), ["a", "b"]);
        assert!(!is_watched(d));
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
    fn an_unwatched_listing_taken_right_after_a_change_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a"), "").unwrap();
        assert_eq!(unwatched(|| names(d)), ["a"]);
        let guard = DIRS.lock().unwrap();
        let Some(Listed::Ordinary(kept)) = guard.as_ref().unwrap().get(d.as_os_str().as_bytes())
        else {
            panic!("not kept")
        };
        assert!(matches!(kept.check, Check::Stat { settled: false, .. }));
    }

    #[test]
    fn a_replaced_directory_is_listed_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let (d, new) = (dir.path().join("d"), dir.path().join("new"));
        std::fs::create_dir(&d).unwrap();
        std::fs::create_dir(&new).unwrap();
        std::fs::write(new.join("x"), "").unwrap();
        assert!(names(&d).is_empty());
        assert!(is_watched(&d));
        std::fs::rename(&new, &d).unwrap();
        dirwatch::sync();
        assert_eq!(names(&d), ["x"]);
        std::fs::remove_dir_all(&d).unwrap();
        dirwatch::sync();
        assert_eq!(list_dir(&d).unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    /// What a read sees once the change is older than a drain interval.
    fn read_later(path: &Path) -> io::Result<Vec<u8>> {
        std::thread::sleep(dirwatch::DRAIN_EVERY * 2);
        read(path, false)
    }

    #[test]
    fn watched_files_see_every_change_on_the_next_read() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let p = d.join("x");
        std::fs::write(&p, "one").unwrap();
        assert_eq!(read(&p, false).unwrap(), b"one");
        assert!(is_kept(&p) && is_watched(&p));
        // Replaced by rename.
        std::fs::write(d.join("y"), "two").unwrap();
        std::fs::rename(d.join("y"), &p).unwrap();
        assert_eq!(read_later(&p).unwrap(), b"two");
        // Truncated and rewritten in place, shorter then longer.
        std::fs::write(&p, "2").unwrap();
        assert_eq!(read_later(&p).unwrap(), b"2");
        std::fs::write(&p, "twenty-two").unwrap();
        assert_eq!(read_later(&p).unwrap(), b"twenty-two");
        // Deleted and recreated.
        std::fs::remove_file(&p).unwrap();
        std::fs::write(&p, "three").unwrap();
        assert_eq!(read_later(&p).unwrap(), b"three");
        // Deleted.
        std::fs::remove_file(&p).unwrap();
        assert_eq!(read_later(&p).unwrap_err().kind(), io::ErrorKind::NotFound);
        assert!(!is_kept(&p));
    }

    #[test]
    fn an_absent_file_is_remembered_until_it_appears() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("later");
        assert_eq!(read(&p, false).unwrap_err().kind(), io::ErrorKind::NotFound);
        let key = p.as_os_str().as_bytes();
        let remembered = || {
            KEPT.lock()
                .unwrap()
                .as_ref()
                .unwrap()
                .absent
                .contains_key(key)
        };
        assert!(remembered());
        assert_eq!(read(&p, false).unwrap_err().kind(), io::ErrorKind::NotFound);
        std::fs::write(&p, "here").unwrap();
        assert_eq!(read_later(&p).unwrap(), b"here");
        assert!(!remembered());
        // A path under a directory that is not there is not remembered.
        let deeper = dir.path().join("no/such");
        assert!(read(&deeper, false).is_err());
        assert!(!KEPT
            .lock()
            .unwrap()
            .as_ref()
            .unwrap()
            .absent
            .contains_key(deeper.as_os_str().as_bytes()));
    }

    #[test]
    fn a_symlinked_file_is_checked_with_fstat() {
        let (here, there) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (link, target) = (here.path().join("os-release"), there.path().join("t"));
        std::fs::write(&target, "one").unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(read(&link, false).unwrap(), b"one");
        assert!(is_kept(&link) && !is_watched(&link));
        // The target replaced in its own directory: no event where the
        // link is, seen at once all the same.
        std::fs::write(there.path().join("u"), "two").unwrap();
        std::fs::rename(there.path().join("u"), &target).unwrap();
        assert_eq!(read(&link, false).unwrap(), b"two");
        // A dangling symlink is not remembered as absent.
        std::fs::remove_file(&target).unwrap();
        assert!(read(&link, false).is_err());
        std::fs::write(&target, "three").unwrap();
        assert_eq!(read(&link, false).unwrap(), b"three");
    }

    #[test]
    fn a_change_before_a_scrape_is_seen_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, "one").unwrap();
        assert_eq!(read(&p, false).unwrap(), b"one");
        std::fs::write(dir.path().join("y"), "two").unwrap();
        std::fs::rename(dir.path().join("y"), &p).unwrap();
        dirwatch::sync();
        assert_eq!(read(&p, false).unwrap(), b"two");
    }

    #[test]
    fn unwatched_files_are_checked_with_fstat() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let p = d.join("x");
        std::fs::write(&p, "one").unwrap();
        unwatched(|| {
            assert_eq!(read(&p, false).unwrap(), b"one");
            assert!(is_kept(&p) && !is_watched(&p));
            // Replaced: seen at once, with no drain between.
            std::fs::write(d.join("y"), "two").unwrap();
            std::fs::rename(d.join("y"), &p).unwrap();
            assert_eq!(read(&p, false).unwrap(), b"two");
            std::fs::remove_file(&p).unwrap();
            assert_eq!(read(&p, false).unwrap_err().kind(), io::ErrorKind::NotFound);
            // Not remembered as absent without a watch.
            std::fs::write(&p, "three").unwrap();
            assert_eq!(read(&p, false).unwrap(), b"three");
        });
    }

    #[test]
    fn a_watched_listing_follows_added_removed_and_renamed_entries() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("b"), "").unwrap();
        std::fs::write(d.join("a"), "").unwrap();
        assert_eq!(names(d), ["a", "b"]);
        assert!(is_watched(d));
        let later = |d: &Path| {
            std::thread::sleep(dirwatch::DRAIN_EVERY * 2);
            names(d)
        };
        // No clock tick needed between the change and the listing.
        std::fs::write(d.join("c"), "").unwrap();
        assert_eq!(later(d), ["a", "b", "c"]);
        std::fs::remove_file(d.join("a")).unwrap();
        assert_eq!(later(d), ["b", "c"]);
        std::fs::rename(d.join("b"), d.join("d")).unwrap();
        assert_eq!(later(d), ["c", "d"]);
        std::fs::create_dir(d.join("e")).unwrap();
        assert_eq!(later(d), ["c", "d", "e"]);
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
