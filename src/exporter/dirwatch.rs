//! Ordinary directories watched with inotify, so that files and listings
//! kept open by `openfiles.rs` need no `fstat` per read to stay current.
//!
//! A kept ordinary file, directory listing or known-absent path holds a
//! [`Stamp`]: the watched directory it depends on and that directory's
//! generation when the stamp was taken. Any event in the directory (an
//! entry created, deleted, renamed in or out, its attributes or link count
//! changed, the directory itself deleted or moved) starts a new generation,
//! which makes every older stamp on it stale.
//!
//! Decisions:
//! - One inotify descriptor (non-blocking, close-on-exec) and one watch per
//!   directory, shared by everything kept in it. Events are drained when a
//!   stamp is checked and the last drain is at least [`DRAIN_EVERY`] old,
//!   and always at the start of a scrape ([`sync`]): a scrape sees every
//!   change made before it began, and a change during it within 1 ms (as
//!   fresh as the read itself being 1 ms earlier). Measured on the fixture
//!   tree (strace): 731 `statx` per scrape become 107 (the collectors' own
//!   `stat`s of paths, not this module's) and 24 empty `read`s.
//! - Content written in place needs no event: readers of ordinary files
//!   read to the end every time (a short read is the end).
//! - Only directories on ordinary file systems are watched (`statfs` when
//!   the watch is added): procfs and sysfs send no events.
//! - An overflowed queue (`IN_Q_OVERFLOW`) makes every stamp stale. A
//!   directory whose watch went away (deleted, unmounted: `IN_IGNORED`) is
//!   watched afresh on its next use.
//! - No inotify (`inotify_init1` failed), a watch that cannot be added
//!   (`fs.inotify.max_user_watches` reached) or more than [`MAX_WATCHES`]
//!   directories: [`stamp`] says `None` and the caller checks with `fstat`
//!   as before.
//! - A path's watch is added again after [`super::openfiles::ORDINARY_FOR`]
//!   (inotify follows symlinks once, when the watch is added): a symlink on
//!   the path re-pointed at another directory is followed within that time,
//!   as kept files are. Changes the watch cannot see (an ancestor of the
//!   directory replaced) are bounded by the same time.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::inotify::{AddWatchFlags, InitFlags, WatchDescriptor};

use super::fasthash::FastMap;
use super::openfiles::ORDINARY_FOR;

/// Events are read at most this often (besides [`sync`]).
#[cfg(not(test))]
pub const DRAIN_EVERY: Duration = Duration::from_millis(1);
/// Unit tests change a file and read it back at once, with no scrape in
/// between to [`sync`]: there every check reads the events first.
#[cfg(test)]
pub const DRAIN_EVERY: Duration = Duration::ZERO;

/// At most this many directories are watched.
pub const MAX_WATCHES: usize = 1024;

/// A watched directory's generation when something was kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    slot: u32,
    generation: u64,
}

/// A watch descriptor (`inotify_add_watch`'s result).
type Wd = WatchDescriptor;

/// The inotify descriptor (nix's safe wrapper).
struct Inotify(nix::sys::inotify::Inotify);

impl Inotify {
    fn init() -> Option<Self> {
        nix::sys::inotify::Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .ok()
            .map(Inotify)
    }

    fn add_watch(&self, dir: &Path, mask: AddWatchFlags) -> io::Result<Wd> {
        Ok(self.0.add_watch(dir, mask)?)
    }

    fn rm_watch(&self, wd: Wd) {
        // A watch the kernel already removed is EINVAL: nothing to do.
        let _ = self.0.rm_watch(wd);
    }

    /// Calls `f(wd, mask)` for every queued event.
    fn drain(&self, mut f: impl FnMut(Wd, AddWatchFlags)) {
        // Non-blocking: an empty queue is EAGAIN.
        while let Ok(events) = self.0.read_events() {
            if events.is_empty() {
                break;
            }
            for e in events {
                f(e.wd, e.mask);
            }
        }
    }
}

struct Slot {
    wd: Option<Wd>,
    generation: u64,
}

/// What is known of a directory path.
#[derive(Clone, Copy)]
enum Known {
    /// Watched in this slot since this time.
    Watched(u32, Instant),
    /// On procfs or sysfs, or not watchable (not there, no watches left)
    /// when last asked: no stamps.
    Unwatched(Instant),
}

struct Watches {
    inotify: Option<Inotify>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    by_wd: FastMap<Wd, u32>,
    by_path: FastMap<Box<[u8]>, Known>,
    next_generation: u64,
    drained: Instant,
}

static WATCHES: Mutex<Option<Watches>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut Watches) -> R) -> R {
    let mut guard = WATCHES.lock().unwrap_or_else(|e| e.into_inner());
    let w = guard.get_or_insert_with(|| Watches {
        inotify: Inotify::init(),
        slots: Vec::new(),
        free: Vec::new(),
        by_wd: FastMap::default(),
        by_path: FastMap::default(),
        next_generation: 0,
        drained: Instant::now(),
    });
    f(w)
}

/// Every event that can change what a path in the directory names, or the
/// directory's listing (not `IN_MODIFY`: content is read fresh anyway).
const MASK: AddWatchFlags = AddWatchFlags::IN_CREATE
    .union(AddWatchFlags::IN_DELETE)
    .union(AddWatchFlags::IN_MOVED_FROM)
    .union(AddWatchFlags::IN_MOVED_TO)
    .union(AddWatchFlags::IN_ATTRIB)
    .union(AddWatchFlags::IN_DELETE_SELF)
    .union(AddWatchFlags::IN_MOVE_SELF)
    .union(AddWatchFlags::IN_ONLYDIR);

impl Watches {
    fn bump(&mut self, slot: u32) {
        self.next_generation += 1;
        self.slots[slot as usize].generation = self.next_generation;
    }

    fn drain(&mut self) {
        self.drained = Instant::now();
        let Some(inotify) = self.inotify.take() else {
            return;
        };
        inotify.drain(|wd, mask| {
            if mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                self.overflowed();
            } else {
                self.event(wd, mask);
            }
        });
        self.inotify = Some(inotify);
    }

    /// Events were lost: every stamp is stale.
    fn overflowed(&mut self) {
        for slot in 0..self.slots.len() as u32 {
            self.bump(slot);
        }
    }

    fn event(&mut self, wd: Wd, mask: AddWatchFlags) {
        let Some(&slot) = self.by_wd.get(&wd) else {
            return;
        };
        self.bump(slot);
        if mask.contains(AddWatchFlags::IN_IGNORED) {
            self.by_wd.remove(&wd);
            self.by_path
                .retain(|_, k| !matches!(k, Known::Watched(s, _) if *s == slot));
            self.slots[slot as usize].wd = None;
            self.free.push(slot);
        }
    }

    /// The slot of a new or existing watch on `dir`; `None` on procfs or
    /// sysfs, or when it cannot be watched (not there, no watches left).
    fn add(&mut self, dir: &Path) -> Option<u32> {
        use nix::sys::statfs::{statfs, PROC_SUPER_MAGIC, SYSFS_MAGIC};
        let inotify = self.inotify.as_ref()?;
        let fs = statfs(dir).ok()?.filesystem_type();
        if fs == PROC_SUPER_MAGIC || fs == SYSFS_MAGIC {
            return None;
        }
        let wd = inotify.add_watch(dir, MASK).ok()?;
        if let Some(&slot) = self.by_wd.get(&wd) {
            return Some(slot);
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None if self.slots.len() < MAX_WATCHES => {
                self.slots.push(Slot {
                    wd: None,
                    generation: 0,
                });
                (self.slots.len() - 1) as u32
            }
            None => {
                inotify.rm_watch(wd);
                return None;
            }
        };
        self.slots[slot as usize].wd = Some(wd);
        self.bump(slot);
        self.by_wd.insert(wd, slot);
        Some(slot)
    }

    fn stamp(&mut self, dir: &Path) -> Option<Stamp> {
        let key = dir.as_os_str().as_bytes();
        let known = match self.by_path.get(key) {
            Some(&Known::Watched(slot, at)) if at.elapsed() < ORDINARY_FOR => Some(slot),
            Some(&Known::Unwatched(at)) if at.elapsed() < ORDINARY_FOR => return None,
            _ => {
                // Not watchable is remembered too (for the same time), even
                // for a directory that is not there yet: `None` only costs
                // the caller its `fstat` (or its open), where asking again
                // would cost a `statfs` on every read (7 per scrape on
                // this host, which made it slower than before).
                let now = Instant::now();
                let slot = self.add(dir);
                let entry = slot.map_or(Known::Unwatched(now), |s| Known::Watched(s, now));
                if self.by_path.len() < 4 * MAX_WATCHES || self.by_path.contains_key(key) {
                    self.by_path.insert(key.into(), entry);
                }
                slot
            }
        };
        known.map(|slot| Stamp {
            slot,
            generation: self.slots[slot as usize].generation,
        })
    }
}

/// A stamp on `dir` (watched from now on if it was not), or `None` where
/// it cannot be watched (procfs, sysfs, no inotify, no watches left).
/// Take it before reading what it is to vouch for.
pub fn stamp(dir: &Path) -> Option<Stamp> {
    #[cfg(test)]
    if UNWATCHABLE.get() {
        return None;
    }
    with(|w| w.stamp(dir))
}

#[cfg(test)]
thread_local! {
    /// Makes this thread's [`stamp`]s fail, as when no watch can be added.
    pub static UNWATCHABLE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether nothing happened in the stamp's directory since it was taken
/// (as of the last drain, at most [`DRAIN_EVERY`] ago).
pub fn is_current(stamp: Stamp) -> bool {
    is_current_at(stamp, Instant::now())
}

/// [`is_current`], with the time now already read by the caller (one
/// clock read per kept file read instead of two).
pub fn is_current_at(stamp: Stamp, now: Instant) -> bool {
    with(|w| {
        if now.saturating_duration_since(w.drained) >= DRAIN_EVERY {
            w.drain();
        }
        w.slots[stamp.slot as usize].generation == stamp.generation
    })
}

/// Reads every queued event now (at the start of each scrape).
pub fn sync() {
    with(Watches::drain);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_in_the_directory_makes_its_stamps_stale() {
        let dir = tempfile::tempdir().unwrap();
        let s = stamp(dir.path()).expect("a tempdir can be watched");
        sync();
        assert!(is_current(s));
        assert_eq!(stamp(dir.path()), Some(s));
        std::fs::write(dir.path().join("x"), "").unwrap();
        sync();
        assert!(!is_current(s));
        let again = stamp(dir.path()).unwrap();
        assert!(is_current(again));
    }

    #[test]
    fn a_deleted_directory_is_watched_afresh_when_recreated() {
        let top = tempfile::tempdir().unwrap();
        let d = top.path().join("d");
        std::fs::create_dir(&d).unwrap();
        let s = stamp(&d).unwrap();
        std::fs::remove_dir(&d).unwrap();
        sync();
        assert!(!is_current(s));
        std::fs::create_dir(&d).unwrap();
        let s = stamp(&d).unwrap();
        std::fs::write(d.join("x"), "").unwrap();
        sync();
        assert!(!is_current(s), "the new directory's watch sees its events");
    }

    #[test]
    fn an_overflowed_queue_makes_every_stamp_stale() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (sa, sb) = (stamp(a.path()).unwrap(), stamp(b.path()).unwrap());
        // What the kernel's IN_Q_OVERFLOW event makes drain() do.
        with(|w| w.overflowed());
        assert!(!is_current(sa) && !is_current(sb));
    }

    #[test]
    fn kernel_directories_are_not_watched() {
        assert_eq!(stamp(Path::new("/proc/self")), None);
        assert_eq!(stamp(Path::new("/sys/class")), None);
    }
}
