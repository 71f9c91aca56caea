//! Kernel files kept open between scrapes.
//!
//! A scrape reads over a hundred procfs and sysfs files. Opening one costs a
//! path walk and, for sysfs, allocating the kernel's per-open state; closing
//! it frees that again. Both file systems regenerate a file's content when
//! it is read again from offset 0, so the exporter opens each once and
//! re-reads it with `pread(…, 0)` on later scrapes.
//!
//! Only files on procfs or sysfs are kept (checked with `fstatfs` at first
//! open): an ordinary file may be replaced by a new one under the same name
//! (a rename), which a kept descriptor would not see. A descriptor whose
//! read fails because its object went away (an interface removed: `ENODEV`)
//! is closed and the path opened afresh once; one whose attribute merely has
//! no value right now (`EINVAL`, `EOPNOTSUPP`: the speed of a virtual
//! interface) is kept, so it is not reopened on every scrape.
//!
//! Reads go into one scratch buffer that lives as long as the process, so a
//! read allocates nothing but its result.

use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

use super::fasthash::FastMap;

/// At most this many descriptors are kept (the rest are opened per read).
const MAX_KEPT: usize = 512;

/// The scratch buffer's starting size, and the size it is cut back to after
/// an unusually large file (a busy host's `/proc/net/udp`).
const SCRATCH: usize = 16 * 1024;
const SCRATCH_KEEP: usize = 256 * 1024;

#[derive(Default)]
struct Kept {
    files: FastMap<Box<[u8]>, File>,
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

/// Reads `f` from offset 0 to the end into `buf`, which stays initialised
/// at its full length; returns how many bytes are the file's.
fn read_all_at(f: &File, buf: &mut Vec<u8>, single: bool) -> io::Result<usize> {
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
                if single {
                    return Ok(len);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
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
    if let Some(file) = files.get(key) {
        match read_all_at(file, scratch, single) {
            Ok(n) => return Ok(f(&scratch[..n])),
            Err(e) if attribute_unavailable(&e) => return Err(e),
            Err(_) => {
                files.remove(key);
            }
        }
    }
    let file = File::open(path)?;
    let result = read_all_at(&file, scratch, single);
    let keep = match &result {
        Ok(_) => true,
        Err(e) => attribute_unavailable(e),
    };
    if keep && files.len() < MAX_KEPT && is_kernel_fs(&file) {
        files.insert(key.into(), file);
    }
    let n = result?;
    Ok(f(&scratch[..n]))
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
    fn ordinary_files_are_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, "one").unwrap();
        assert_eq!(read(&p, false).unwrap(), b"one");
        // Replaced under the same name: the new content is read.
        std::fs::write(dir.path().join("y"), "two").unwrap();
        std::fs::rename(dir.path().join("y"), &p).unwrap();
        assert_eq!(read(&p, false).unwrap(), b"two");
        assert!(!is_kept(&p));
    }
}
