//! Keeping the exporter's resident code small.
//!
//! Startup (flag parsing, config, TLS setup) touches code a scrape never runs
//! again, and the kernel's fault-around maps 64 KiB of the executable around
//! every page touched. Once the server is listening, the executable's and
//! shared libraries' code mappings are marked `MADV_RANDOM` (no fault-around)
//! and their pages dropped (`MADV_DONTNEED`; they are clean file pages, read
//! back from the page cache on demand). What stays resident is what scrapes
//! actually run. The process lives on every host; its footprint matters.

/// Applies the above to every executable file mapping of this process.
/// Best effort: failures are logged at debug level and ignored.
pub fn shed_startup_code() {
    #[cfg(target_os = "linux")]
    {
        let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
            return;
        };
        for line in maps.lines() {
            let mut f = line.split_whitespace();
            let (Some(range), Some(perms)) = (f.next(), f.next()) else {
                continue;
            };
            // Only clean, private, executable file mappings: code.
            let path = f.nth(3).unwrap_or("");
            if perms != "r-xp" || !path.starts_with('/') {
                continue;
            }
            let Some((start, end)) = range.split_once('-') else {
                continue;
            };
            let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            ) else {
                continue;
            };
            advise(start, end - start);
        }
    }
}

#[cfg(target_os = "linux")]
fn advise(start: usize, len: usize) {
    use nix::sys::mman::{madvise, MmapAdvise};
    let Some(addr) = std::ptr::NonNull::new(start as *mut std::ffi::c_void) else {
        return;
    };
    for advice in [MmapAdvise::MADV_RANDOM, MmapAdvise::MADV_DONTNEED] {
        // SAFETY: the range is a read-only, executable, file-backed private
        // mapping of this process, taken from /proc/self/maps. MADV_RANDOM
        // only changes read-ahead; MADV_DONTNEED on such a mapping drops
        // clean page-table entries that refault from the unchanged file, so
        // no memory the program can observe changes.
        #[allow(unsafe_code)]
        let r = unsafe { madvise(addr, len, advice) };
        if let Err(err) = r {
            tracing::debug!(error = %err, "madvise on code mapping failed");
        }
    }
}
