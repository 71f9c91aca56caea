//! The filesystem collector's tests: mount table parsing, which mounts
//! are stat'ed in place, and the bounded wait on a hanging `statfs`.

use super::*;

#[test]
fn mount_table_parsing_decodes_escapes_and_ro() {
    let m = parse_mounts(
        "/dev/sda1 / ext4 rw,relatime 0 0\nserver:/x /mnt/my\\040share nfs4 ro,vers=4 0 0\n",
    )
    .unwrap();
    assert_eq!(m[1].mount_point, "/mnt/my share");
    assert!(m[1].read_only);
    assert!(!m[0].read_only);
    assert!(parse_mounts("garbage\n").is_err());
}

#[test]
fn default_excludes_match_node_exporter() {
    let o = Options::default();
    assert!(o.mount_points.ignored("/proc"));
    assert!(o.mount_points.ignored("/sys/fs/cgroup"));
    assert!(o.mount_points.ignored("/var/lib/docker/overlay2/x"));
    assert!(!o.mount_points.ignored("/"));
    assert!(!o.mount_points.ignored("/devices"));
    assert!(o.fs_types.ignored("cgroup2"));
    assert!(!o.fs_types.ignored("ext4"));
}

use std::sync::atomic::AtomicUsize;
use std::sync::Condvar;

/// Answers at once, except for paths containing "dead", which block
/// until released, counting how many calls are in flight at once.
struct HangingStat {
    released: Mutex<bool>,
    cv: Condvar,
    dead_in_flight: AtomicUsize,
    dead_max_in_flight: AtomicUsize,
    dead_calls: AtomicUsize,
}

impl HangingStat {
    fn new() -> Arc<Self> {
        Arc::new(HangingStat {
            released: Mutex::new(false),
            cv: Condvar::new(),
            dead_in_flight: AtomicUsize::new(0),
            dead_max_in_flight: AtomicUsize::new(0),
            dead_calls: AtomicUsize::new(0),
        })
    }
    fn release(&self) {
        *self.released.lock().unwrap() = true;
        self.cv.notify_all();
    }
}

impl StatFs for HangingStat {
    fn statfs(&self, path: &Path) -> io::Result<FsStats> {
        if path.to_string_lossy().contains("dead") {
            self.dead_calls.fetch_add(1, Ordering::SeqCst);
            let now = self.dead_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.dead_max_in_flight.fetch_max(now, Ordering::SeqCst);
            let mut r = self.released.lock().unwrap();
            while !*r {
                r = self.cv.wait(r).unwrap();
            }
            self.dead_in_flight.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(FsStats {
            size: 1000.0,
            free: 500.0,
            avail: 400.0,
            files: 10.0,
            files_free: 5.0,
        })
    }
}

fn value(m: &Metrics, name: &str, mountpoint: &str) -> Option<f64> {
    m.get(name)?
        .samples()
        .find(|s| s.label("mountpoint") == Some(mountpoint))
        .map(|s| s.value)
}

/// Counts the `statfs` calls running at once. Each call waits (up to
/// 300 ms) until `meet` calls run together, so the allowed number is
/// reached however slowly threads start.
#[derive(Default)]
struct CountingStat {
    meet: usize,
    now: AtomicUsize,
    max: AtomicUsize,
    calls: AtomicUsize,
}

impl StatFs for CountingStat {
    fn statfs(&self, _: &Path) -> io::Result<FsStats> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        let start = Instant::now();
        while self.max.load(Ordering::SeqCst) < self.meet
            && start.elapsed() < Duration::from_millis(300)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.now.fetch_sub(1, Ordering::SeqCst);
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(ONES)
    }
}

/// A procfs holding only `1/mounts` = `table`, and paths that read it.
fn proc_with_mounts(table: &str) -> (tempfile::TempDir, Paths) {
    let proc = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(proc.path().join("1")).unwrap();
    std::fs::write(proc.path().join("1/mounts"), table).unwrap();
    let paths = Paths {
        procfs: proc.path().into(),
        sysfs: "/nonexistent".into(),
        rootfs: "/".into(),
        udev_data: None,
    };
    (proc, paths)
}

#[test]
fn stat_workers_bound_the_calls_running_at_once() {
    let table: String = (0..9)
        .map(|i| format!("nfs:/{i} /srv/{i} nfs4 rw 0 0\n"))
        .collect();
    let (_proc, paths) = proc_with_mounts(&table);
    for (workers, want) in [(1, 1), (3, 3), (0, 9)] {
        let stat = Arc::new(CountingStat {
            meet: want,
            ..CountingStat::default()
        });
        let fs = Filesystem::with_statfs(
            paths.clone(),
            Options {
                stat_workers: workers,
                ..Options::default()
            },
            stat.clone(),
        );
        let mut m = Metrics::new();
        fs.update(&mut m).unwrap();
        assert_eq!(stat.calls.load(Ordering::SeqCst), 9);
        assert_eq!(m.get("node_filesystem_size_bytes").unwrap().len(), 9);
        assert_eq!(
            stat.max.load(Ordering::SeqCst),
            want,
            "--collector.filesystem.stat-workers={workers}"
        );
    }
}

/// What the stand-in `statfs`es answer: the tests count calls, not sizes.
const ONES: FsStats = FsStats {
    size: 1.0,
    free: 1.0,
    avail: 1.0,
    files: 1.0,
    files_free: 1.0,
};

/// Records which thread stat'ed each path.
#[derive(Default)]
struct ThreadStat {
    seen: Mutex<Vec<(String, std::thread::ThreadId)>>,
}

impl StatFs for ThreadStat {
    fn statfs(&self, path: &Path) -> io::Result<FsStats> {
        self.seen.lock().unwrap().push((
            path.to_string_lossy().into_owned(),
            std::thread::current().id(),
        ));
        Ok(ONES)
    }
}

#[test]
fn local_mounts_are_stated_in_place_and_network_ones_on_a_worker() {
    let (_proc, paths) = proc_with_mounts(
        "/dev/sda1 / ext4 rw 0 0\n\
         tmpfs /run tmpfs rw 0 0\n\
         srv:/x /mnt/nfs nfs4 rw 0 0\n\
         /dev/loop0 /mnt/nfs/image ext4 ro 0 0\n\
         //srv/share /mnt/smb cifs rw 0 0\n\
         sshfs#x /mnt/sshfs fuse.sshfs rw 0 0\n\
         /dev/sdb1 /mnt/nfsdata xfs rw 0 0\n\
         odd /mnt/odd someotherfs rw 0 0\n",
    );
    let stat = Arc::new(ThreadStat::default());
    let fs = Filesystem::with_statfs(paths, Options::default(), stat.clone());
    let mut m = Metrics::new();
    fs.update(&mut m).unwrap();
    let here = std::thread::current().id();
    let seen = stat.seen.lock().unwrap().clone();
    let in_place = |p: &str| {
        let (_, t) = seen.iter().find(|(s, _)| s == p).expect(p);
        *t == here
    };
    assert_eq!(seen.len(), 8);
    assert!(in_place("/"));
    assert!(in_place("/run"));
    // Beside an NFS mount, not below it: in place.
    assert!(in_place("/mnt/nfsdata"));
    assert!(!in_place("/mnt/nfs"));
    // Local, but reached through NFS.
    assert!(!in_place("/mnt/nfs/image"));
    assert!(!in_place("/mnt/smb"));
    assert!(!in_place("/mnt/sshfs"));
    assert!(!in_place("/mnt/odd"));
    assert_eq!(m.get("node_filesystem_size_bytes").unwrap().len(), 8);
}

#[test]
fn mount_point_ancestry() {
    assert!(is_at_or_below("/mnt/nfs/image", "/mnt/nfs"));
    assert!(is_at_or_below("/mnt/nfs", "/mnt/nfs"));
    assert!(is_at_or_below("/home", "/"));
    assert!(!is_at_or_below("/mnt/nfsdata", "/mnt/nfs"));
    assert!(!is_at_or_below("/mnt", "/mnt/nfs"));
    assert!(is_local_fs("ext4") && is_local_fs("tmpfs"));
    for t in [
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "ceph",
        "9p",
        "fuse.sshfs",
        "fuse",
        "autofs",
    ] {
        assert!(!is_local_fs(t), "{t}");
    }
}

#[test]
fn a_hanging_statfs_is_bounded_reported_and_never_piles_up() {
    let (_proc, paths) = proc_with_mounts(
        "/dev/sda1 / ext4 rw 0 0\nnfs:/x /mnt/dead nfs4 rw 0 0\n/dev/sda2 /home ext4 ro 0 0\n",
    );
    let timeout = Duration::from_millis(200);
    let stat = HangingStat::new();
    let fs = Filesystem::with_statfs(
        paths,
        Options {
            mount_timeout: timeout,
            ..Options::default()
        },
        stat.clone(),
    );

    for scrape in 0..5 {
        let started = Instant::now();
        let mut m = Metrics::new();
        fs.update(&mut m).unwrap();
        let took = started.elapsed();
        assert!(took < timeout * 2, "scrape {scrape} took {took:?}");
        assert_eq!(
            value(&m, "node_filesystem_device_error", "/mnt/dead"),
            Some(1.0)
        );
        assert_eq!(value(&m, "node_filesystem_size_bytes", "/mnt/dead"), None);
        // Healthy mounts on both sides of the stuck one are still reported.
        assert_eq!(value(&m, "node_filesystem_device_error", "/"), Some(0.0));
        assert_eq!(
            value(&m, "node_filesystem_device_error", "/home"),
            Some(0.0)
        );
        assert_eq!(
            value(&m, "node_filesystem_avail_bytes", "/home"),
            Some(400.0)
        );
        assert_eq!(value(&m, "node_filesystem_readonly", "/home"), Some(1.0));
        if scrape > 0 {
            // Later scrapes skip the stuck mount without waiting.
            assert!(
                took < timeout / 2,
                "scrape {scrape} waited on a stuck mount: {took:?}"
            );
        }
    }
    assert_eq!(
        stat.dead_calls.load(Ordering::SeqCst),
        1,
        "the stuck mount was stat'ed again"
    );
    assert_eq!(stat.dead_max_in_flight.load(Ordering::SeqCst), 1);

    // Once the call returns, the mount is reported normally again.
    stat.release();
    let ok = crate::exporter::collector::tests_support::wait_until(Duration::from_secs(2), || {
        let mut m = Metrics::new();
        fs.update(&mut m).unwrap();
        value(&m, "node_filesystem_device_error", "/mnt/dead") == Some(0.0)
    });
    assert!(ok, "the mount did not recover after its statfs returned");
}
