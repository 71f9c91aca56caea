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
//! read fails (an interface that went away: `ENODEV`) is closed and the path
//! opened afresh once.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// At most this many descriptors are kept (the rest are opened per read).
const MAX_KEPT: usize = 512;

static KEPT: Mutex<Option<HashMap<PathBuf, File>>> = Mutex::new(None);

fn is_kernel_fs(f: &File) -> bool {
    use nix::sys::statfs::{fstatfs, PROC_SUPER_MAGIC, SYSFS_MAGIC};
    match fstatfs(f) {
        Ok(st) => st.filesystem_type() == PROC_SUPER_MAGIC || st.filesystem_type() == SYSFS_MAGIC,
        Err(_) => false,
    }
}

/// Reads `f` from offset 0 to the end into `buf`.
fn read_all_at(f: &File, buf: &mut Vec<u8>, max: Option<usize>) -> io::Result<()> {
    buf.clear();
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity().max(4096));
        }
        let len = buf.len();
        buf.resize(buf.capacity(), 0);
        match f.read_at(&mut buf[len..], len as u64) {
            Ok(0) => {
                buf.truncate(len);
                return Ok(());
            }
            Ok(n) => {
                buf.truncate(len + n);
                if max.is_some_and(|m| buf.len() >= m) {
                    return Ok(());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => buf.truncate(len),
            Err(e) => {
                buf.truncate(len);
                return Err(e);
            }
        }
    }
}

/// The bytes of `path`, through a kept descriptor where possible. `single`
/// reads once (a sysfs attribute is produced by one `show()` call).
pub fn read(path: &Path, single: bool) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(if single { 4096 } else { 8192 });
    let max = single.then_some(1);
    {
        let mut kept = KEPT.lock().expect("open files lock");
        let map = kept.get_or_insert_with(HashMap::new);
        if let Some(f) = map.get(path) {
            match read_all_at(f, &mut buf, max) {
                Ok(()) => return Ok(buf),
                Err(_) => {
                    map.remove(path);
                }
            }
        }
    }
    let f = File::open(path)?;
    read_all_at(&f, &mut buf, max)?;
    if is_kernel_fs(&f) {
        let mut kept = KEPT.lock().expect("open files lock");
        let map = kept.get_or_insert_with(HashMap::new);
        if map.len() < MAX_KEPT {
            map.insert(path.to_owned(), f);
        }
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn procfs_files_are_kept_and_reread_fresh() {
        let path = Path::new("/proc/self/stat");
        let a = read(path, false).unwrap();
        let b = read(path, false).unwrap();
        assert!(KEPT.lock().unwrap().as_ref().unwrap().contains_key(path));
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
        assert!(!KEPT
            .lock()
            .unwrap()
            .as_ref()
            .is_some_and(|m| m.contains_key(&p)));
    }
}
