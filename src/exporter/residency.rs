//! Keeping the exporter's resident memory small.
//!
//! Most of the exporter's resident set is not data but clean pages of code
//! and read-only data mapped from the executable and shared libraries: the
//! binary also carries the generator, the bridge and the chart renderer,
//! and the kernel's fault-around maps 64 KiB of file around every page a
//! scrape touches. Between scrapes none of it is needed. After startup, and
//! whenever the exporter has been idle for a second after a scrape, those
//! mappings' page-table entries are dropped with `MADV_DONTNEED`; the pages
//! stay in the page cache and the next scrape maps back what it uses (minor
//! faults costing under a millisecond, measured in BENCHMARKS.md).
//!
//! Only mappings that are read-only or read-execute, backed by a file, and
//! have no anonymous (copied-on-write) pages are touched: dropping those can
//! never lose data, because they are re-read unchanged from the page cache
//! or the file.

use std::sync::OnceLock;

/// Address ranges of clean file-backed code and read-only data.
#[derive(Debug, Default)]
pub struct CleanMappings {
    ranges: Vec<(usize, usize)>,
}

/// Parses `/proc/self/smaps`: every mapping with a file path, permissions
/// `r-xp` or `r--p`, and `Anonymous: 0 kB` and `Swap: 0 kB`.
pub fn parse_smaps(text: &str) -> CleanMappings {
    let mut ranges = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    let mut clean = true;
    let mut flush = |current: &mut Option<(usize, usize)>, clean: bool| {
        if let Some(r) = current.take() {
            if clean {
                ranges.push(r);
            }
        }
    };
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((start, end)) = first.split_once('-') {
            if let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            ) {
                flush(&mut current, clean);
                let mut f = line.split_whitespace();
                let perms = f.nth(1).unwrap_or("");
                let path = f.nth(3).unwrap_or("");
                clean = true;
                current = ((perms == "r-xp" || perms == "r--p") && path.starts_with('/'))
                    .then_some((start, end - start));
                continue;
            }
        }
        // A private file page that was ever written (relocations, RELRO) is
        // copied into an anonymous page: those must stay. `Private_Dirty`
        // is not the test: it also counts page-cache pages not yet written
        // back (a freshly built binary), which the cache still holds.
        for key in ["Anonymous:", "Swap:"] {
            if let Some(rest) = line.strip_prefix(key) {
                if rest.trim() != "0 kB" {
                    clean = false;
                }
            }
        }
    }
    flush(&mut current, clean);
    CleanMappings { ranges }
}

static MAPPINGS: OnceLock<CleanMappings> = OnceLock::new();

/// Finds the clean mappings (once, after startup) and drops their pages.
pub fn shed_startup_code() {
    #[cfg(target_os = "linux")]
    {
        let mappings = MAPPINGS.get_or_init(|| {
            std::fs::read_to_string("/proc/self/smaps")
                .map(|t| parse_smaps(&t))
                .unwrap_or_default()
        });
        shed(mappings);
    }
}

/// Drops the pages of the mappings found at startup (no-op before that).
/// Called by the scrape thread once it has been idle for a while.
pub fn shed_after_scrape() {
    if let Some(m) = MAPPINGS.get() {
        shed(m);
    }
}

#[cfg(target_os = "linux")]
fn shed(mappings: &CleanMappings) {
    use nix::sys::mman::{madvise, MmapAdvise};
    for &(start, len) in &mappings.ranges {
        let Some(addr) = std::ptr::NonNull::new(start as *mut std::ffi::c_void) else {
            continue;
        };
        // SAFETY: the range is a read-only (or read-execute), file-backed
        // private mapping of this process with no dirty or anonymous pages,
        // as read from /proc/self/smaps; it cannot be written. Dropping its
        // page-table entries makes later accesses re-read the same bytes
        // from the unchanged file, so no memory the program can observe
        // changes.
        #[allow(unsafe_code)]
        let r = unsafe { madvise(addr, len, MmapAdvise::MADV_DONTNEED) };
        if let Err(err) = r {
            tracing::debug!(error = %err, "madvise on a clean mapping failed");
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn shed(_: &CleanMappings) {}

/// Keeps every thread on glibc's main malloc arena. By default glibc gives
/// a thread that allocates while another holds the main arena's lock an
/// arena of its own (up to eight per core), and the scrape thread's kept
/// about 1 MB resident after back-to-back scrapes beside the main heap's
/// 0.4 MB: two heaps each holding their own free space. The exporter's
/// threads seldom allocate at the same moment (the runtime thread parses a
/// request while the scrape thread works), so one arena costs no measurable
/// lock contention. Call before the exporter starts its threads; later
/// threads inherit the limit. The one thread that ran before it (`main.rs`
/// parses flags on a short-lived thread) left a second arena, which the
/// scrape thread then reuses: measured, that is still 40 kB less private
/// memory than parsing on the main thread (1,656 against 1,696 kB).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn one_malloc_arena() {
    // SAFETY: mallopt(3) only sets one of glibc's malloc tunables (an int)
    // under the allocator's own lock; it takes no pointers and is safe to
    // call at any time, from any thread. A zero return (refused) leaves
    // the default, which is merely larger.
    #[allow(unsafe_code)]
    let ok = unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    if ok == 0 {
        tracing::debug!("mallopt(M_ARENA_MAX, 1) refused");
    }
}

/// Other C libraries (musl) have one heap already.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn one_malloc_arena() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_clean_read_only_file_mappings_are_chosen() {
        let smaps = "\
55a445d01000-55a44601d000 r--p 00000000 fd:00 123 /usr/bin/outpost
Rss:                1660 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
55a44601d000-55a4465f8000 r-xp 0031c000 fd:00 123 /usr/bin/outpost
Private_Dirty:      2668 kB
Anonymous:             0 kB
55a4465f8000-55a446717000 r--p 008f7000 fd:00 123 /usr/bin/outpost
Private_Dirty:        44 kB
Anonymous:            44 kB
55a446717000-55a446720000 rw-p 00a16000 fd:00 123 /usr/bin/outpost
Private_Dirty:        36 kB
7f1500000000-7f1500115000 rw-p 00000000 00:00 0
Private_Dirty:      1096 kB
7ffd0000000-7ffd0021000 r-xp 00000000 00:00 0                          [vdso]
Private_Dirty:         0 kB
";
        let m = parse_smaps(smaps);
        assert_eq!(
            m.ranges,
            vec![
                (0x55a445d01000, 0x55a44601d000 - 0x55a445d01000),
                (0x55a44601d000, 0x55a4465f8000 - 0x55a44601d000)
            ]
        );
    }
}
