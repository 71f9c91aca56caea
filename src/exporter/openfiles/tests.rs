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
    let Some(Listed::Ordinary(kept)) = guard.as_ref().unwrap().get(d.as_os_str().as_bytes()) else {
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
            .get(key)
            .is_some_and(|a| !matches!(a, Absent::Unknown))
    };
    assert!(remembered());
    assert_eq!(read(&p, false).unwrap_err().kind(), io::ErrorKind::NotFound);
    std::fs::write(&p, "here").unwrap();
    assert_eq!(read_later(&p).unwrap(), b"here");
    assert!(!remembered());
    // A path under a directory that is not there is not remembered.
    let deeper = dir.path().join("no/such");
    assert!(read(&deeper, false).is_err());
    assert!(matches!(
        KEPT.lock()
            .unwrap()
            .as_ref()
            .unwrap()
            .absent
            .get(deeper.as_os_str().as_bytes()),
        None | Some(Absent::Unknown)
    ));
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
    // procfs: listed by path every time, nothing kept open.
    assert!(matches!(listed, Some(Listed::Kernel(None))));
}

#[test]
fn a_sysfs_directory_is_listed_again_through_its_kept_descriptor() {
    let d = Path::new("/sys/devices/system/cpu");
    let direct = || {
        let mut n: Vec<String> = std::fs::read_dir(d)
            .expect("sysfs is mounted")
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        n.sort();
        n
    };
    let first = names(d);
    assert!(first.iter().any(|n| n == "cpu0"), "{first:?}");
    assert_eq!(first, direct());
    {
        let guard = DIRS.lock().unwrap();
        let listed = guard.as_ref().unwrap().get(d.as_os_str().as_bytes());
        assert!(matches!(listed, Some(Listed::Kernel(Some(_)))));
    }
    // Rewound, not read on from where the last listing ended.
    assert_eq!(names(d), first);
    assert_eq!(names(d), first);
}

#[test]
fn a_kept_directory_that_lists_nothing_is_listed_afresh_by_path() {
    // What a kept sysfs descriptor does once its device went away (lists
    // nothing, no error), shown with an ordinary directory removed and
    // made again under the same name.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("class");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("old"), "").unwrap();
    let mut kept = None;
    let names = list_and_keep(File::open(&d).unwrap(), true, &mut kept).unwrap();
    assert_eq!(names, [("old".into(), EntryKind::Other)]);
    assert!(kept.is_some());
    std::fs::remove_dir_all(&d).unwrap();
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("new"), "").unwrap();
    assert_eq!(
        list_kernel(&d, &mut kept).unwrap(),
        [("new".into(), EntryKind::Other)]
    );
    // The old descriptor is gone; the new one is kept only on sysfs.
    assert!(kept.is_none());
    // A directory that was empty when opened is kept and trusted to be
    // empty for a while (as a path that is not there is), while an entry
    // that appears in it is listed at once.
    std::fs::remove_file(d.join("new")).unwrap();
    let mut empty = None;
    assert!(list_and_keep(File::open(&d).unwrap(), true, &mut empty)
        .unwrap()
        .is_empty());
    assert!(empty.as_ref().is_some_and(|o| o.empty));
    std::fs::remove_dir(&d).unwrap();
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("later"), "").unwrap();
    assert!(
        list_kernel(&d, &mut empty).unwrap().is_empty(),
        "trusted empty"
    );
    empty.as_mut().unwrap().opened -= KERNEL_ABSENT_FOR;
    assert_eq!(
        list_kernel(&d, &mut empty).unwrap(),
        [("later".into(), EntryKind::Other)]
    );
    let mut live = None;
    std::fs::remove_file(d.join("later")).unwrap();
    list_and_keep(File::open(&d).unwrap(), true, &mut live).unwrap();
    std::fs::write(d.join("appeared"), "").unwrap();
    assert_eq!(
        list_kernel(&d, &mut live).unwrap(),
        [("appeared".into(), EntryKind::Other)]
    );
}

#[test]
fn a_records_read_ends_only_where_seq_file_proves_the_end() {
    let udp = Stop::Records(256);
    // Room for one more 256-byte record in a 4 KiB page: the table ended.
    assert!(udp.ends(128, 16384));
    assert!(udp.ends(4096 - 256, 16384));
    // A fuller page may have stopped because the next record did not fit.
    assert!(!udp.ends(4096 - 255, 16384));
    assert!(!udp.ends(4096, 16384));
    // A read that filled the caller's buffer proves nothing.
    assert!(!udp.ends(1024, 1024));
    assert!(!Stop::End.ends(1, 16384));
}

#[test]
fn a_udp_table_longer_than_a_page_is_read_whole() {
    // 64 bound sockets make /proc/net/udp about 8 KiB: several reads, each
    // of which must go on until the one that proves the end.
    let sockets: Vec<std::net::UdpSocket> = (0..64)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let path = Path::new("/proc/net/udp");
    for _ in 0..2 {
        let text =
            read_records_with(path, 256, |b| String::from_utf8(b.to_vec()).unwrap()).unwrap();
        assert!(text.len() > 2 * 4096, "{} bytes", text.len());
        for s in &sockets {
            let port = format!("0100007F:{:04X} ", s.local_addr().unwrap().port());
            assert!(text.contains(&port), "port {port} missing");
        }
    }
}

#[test]
fn an_absent_kernel_path_is_remembered_for_a_while() {
    let file = Path::new("/proc/outpost-no-such-file");
    let dir = Path::new("/sys/class/outpost-no-such-class");
    let remembered = |p: &Path| {
        KEPT.lock()
            .unwrap()
            .as_ref()
            .and_then(|k| k.absent.get(p.as_os_str().as_bytes()).copied())
    };
    for _ in 0..2 {
        let e = read(file, false).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(matches!(remembered(file), Some(Absent::Kernel(_))));
        let e = list_dir(dir).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        let listed = DIRS.lock().unwrap();
        let entry = listed.as_ref().unwrap().get(dir.as_os_str().as_bytes());
        assert!(matches!(entry, Some(Listed::KernelAbsent(_))));
    }
    // A check whether it is a directory knows it too.
    let class = Path::new("/sys/class/outpost-no-such-class-either");
    for _ in 0..2 {
        assert!(!is_dir(class));
        let listed = DIRS.lock().unwrap();
        let entry = listed.as_ref().unwrap().get(class.as_os_str().as_bytes());
        assert!(matches!(entry, Some(Listed::KernelAbsent(_))));
    }
    assert!(is_dir(Path::new("/sys/class")));
    // Below a missing directory of sysfs, too; never on other file systems.
    assert!(below_kernel_fs(Path::new(
        "/sys/class/outpost-none/device/x"
    )));
    let tmp = tempfile::tempdir().unwrap();
    let ordinary = tmp.path().join("none/x");
    assert!(!below_kernel_fs(&ordinary));
    // An ordinary path under a missing (so unwatched) directory is tried
    // every time, and is seen as soon as it appears.
    for _ in 0..2 {
        assert!(read(&ordinary, false).is_err());
        assert!(matches!(remembered(&ordinary), Some(Absent::Unknown)));
    }
    std::fs::create_dir(tmp.path().join("none")).unwrap();
    std::fs::write(&ordinary, "here").unwrap();
    assert_eq!(read(&ordinary, false).unwrap(), b"here");
    // An ordinary directory that appears is seen at once, listed or checked.
    let later = tmp.path().join("later");
    assert!(!is_dir(&later));
    assert!(list_dir(&later).is_err());
    let listed = DIRS.lock().unwrap();
    let entry = listed.as_ref().unwrap().get(later.as_os_str().as_bytes());
    assert!(matches!(entry, Some(Listed::Absent)));
    drop(listed);
    std::fs::create_dir(&later).unwrap();
    std::fs::write(later.join("f"), "").unwrap();
    assert!(is_dir(&later));
    assert_eq!(list_dir(&later).unwrap().len(), 1);
}

#[test]
fn a_sysctl_is_read_with_one_small_read_and_a_longer_one_whole() {
    assert!(is_sysctl(Path::new("/proc/sys/fs/file-nr")));
    assert!(is_sysctl(Path::new(
        "/host/proc/sys/kernel/random/poolsize"
    )));
    assert!(!is_sysctl(Path::new("/proc/stat")));
    assert!(!is_sysctl(Path::new("/proc/net/snmp")));
    // A read that returns less than asked is the end; one that fills the
    // small read is read again, whole.
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("value");
    std::fs::write(&f, "1024\t0\t9223372036854775807\n").unwrap();
    let file = File::open(&f).unwrap();
    let mut buf = Vec::new();
    for ask in [4, 29, 30, 512] {
        let n = read_all_at(&file, &mut buf, Stop::Small(ask)).unwrap();
        assert_eq!(&buf[..n], b"1024\t0\t9223372036854775807\n", "ask {ask}");
    }
    // A real sysctl, through the kept descriptor.
    let p = Path::new("/proc/sys/kernel/ostype");
    let direct = std::fs::read_to_string(p).expect("procfs is mounted");
    for _ in 0..2 {
        let got = read_with(p, false, |b| String::from_utf8(b.to_vec()).unwrap()).unwrap();
        assert_eq!(got, direct);
    }
    let guard = KEPT.lock().unwrap();
    let kept = guard.as_ref().unwrap().files.get(p.as_os_str().as_bytes());
    assert!(matches!(
        kept.map(|k| &k.source),
        Some(Source::Kernel { sysctl: true })
    ));
}

#[test]
fn files_are_read_without_touching_their_access_time() {
    let tmp = tempfile::tempdir().unwrap();
    let long_ago = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    // A file whose access time is long before its modification time, which
    // any ordinary read updates (also under `relatime`).
    let file = |name: &str| {
        let f = tmp.path().join(name);
        std::fs::write(&f, "x 1\n").unwrap();
        File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_times(std::fs::FileTimes::new().set_accessed(long_ago))
            .unwrap();
        f
    };
    let accessed = |f: &Path| std::fs::metadata(f).unwrap().accessed().unwrap();
    let ours = file("app.prom");
    assert_eq!(read_with(&ours, false, |b| b.to_vec()).unwrap(), b"x 1\n");
    assert_eq!(accessed(&ours), long_ago);
    // The control: a plain read of the same kind of file moves it, unless
    // the temporary directory is mounted `noatime`.
    let plain = file("plain.prom");
    std::fs::read(&plain).unwrap();
    let mounted_noatime = accessed(&plain) == long_ago;
    eprintln!(
        "a plain read updates the access time here: {}",
        !mounted_noatime
    );
}
