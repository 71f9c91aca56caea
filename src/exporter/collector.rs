//! The collector contract and the one list of collectors.
//!
//! Every collector implements [`Collector`]; [`Name`] lists them all and
//! drives the `--collector.NAME` flags, the `collector` label and the docs.
//! [`Registry`] runs the enabled ones and wraps each with
//! `node_scrape_collector_success` / `node_scrape_collector_duration_seconds`.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::metrics::{Metrics, SortOrder};

/// Where the readers look. Every file a collector reads lives below one of
/// these, so tests point them at fixture trees.
#[derive(Debug, Clone)]
pub struct Paths {
    pub procfs: PathBuf,
    pub sysfs: PathBuf,
    pub rootfs: PathBuf,
    /// udev's database (`--path.udev.data`); `None`: `run/udev/data` under
    /// `rootfs`, which is node_exporter's `/run/udev/data` on a host and
    /// follows `--path.rootfs` in a container.
    pub udev_data: Option<PathBuf>,
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            procfs: "/proc".into(),
            sysfs: "/sys".into(),
            rootfs: "/".into(),
            udev_data: None,
        }
    }
}

impl Paths {
    pub fn proc(&self, rel: &str) -> PathBuf {
        self.procfs.join(rel)
    }
    pub fn sys(&self, rel: &str) -> PathBuf {
        self.sysfs.join(rel)
    }
    /// A path on the host's root filesystem (`/etc/os-release`, a mount point).
    pub fn root(&self, abs: &str) -> PathBuf {
        self.rootfs.join(abs.trim_start_matches('/'))
    }
    /// A file in udev's database (`b8:0` for block device 8:0).
    pub fn udev(&self, name: &str) -> PathBuf {
        match &self.udev_data {
            Some(dir) => dir.join(name),
            None => self.root("/run/udev/data").join(name),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing {what}: {reason}")]
    Parse { what: String, reason: String },
    #[error("{0}")]
    Other(String),
    /// The host lacks what the collector reads (no md arrays, no hwmon
    /// chips): nothing is exported and, as in node_exporter, the collector
    /// reports `node_scrape_collector_success 0` without logging an error.
    #[error("no data: {0} is absent")]
    NoData(&'static str),
}

impl CollectError {
    pub fn parse(what: impl Into<String>, reason: impl Into<String>) -> Self {
        CollectError::Parse {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

/// Reads a whole file, naming it in the error.
pub fn read(path: &Path) -> Result<String, CollectError> {
    read_text(path).map_err(|source| CollectError::Read {
        path: path.to_owned(),
        source,
    })
}

/// A number in a kernel table's text, checked to parse as an `f64` but
/// converted only when asked ([`Number::value`]): most counters of the big
/// tables (`/proc/vmstat`, `/proc/net/netstat`) are filtered out, and a
/// malformed one must still fail the collector, as in node_exporter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number<'a>(&'a str);

impl<'a> Number<'a> {
    /// `text` if it parses as an `f64`. Plain decimal digits (the kernel's
    /// counters), with an optional `-`, are taken without parsing.
    pub fn new(text: &'a str) -> Option<Self> {
        let digits = text.strip_prefix('-').unwrap_or(text);
        let plain = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
        (plain || text.parse::<f64>().is_ok()).then_some(Number(text))
    }

    pub fn value(self) -> f64 {
        // `new` checked that it parses.
        self.0.parse().unwrap_or(f64::NAN)
    }
}

/// Files read during one scrape, with their text.
type ScrapeReads = Vec<(PathBuf, Rc<str>)>;

thread_local! {
    /// Files read by [`read_shared`] during the scrape now running on this
    /// thread; `None` outside [`Registry::gather`].
    static SHARED: std::cell::RefCell<Option<ScrapeReads>> =
        const { std::cell::RefCell::new(None) };
}

/// Reads a whole file like [`read`], once per scrape: a file that several
/// collectors read (`/proc/stat`: cpu and stat) is read by the first of
/// them and shared with the others in the same [`Registry::gather`].
/// Outside a scrape (a collector's unit test) every call reads afresh.
///
/// Decisions: the collectors of a scrape run one after the other on one
/// thread, so the scrape's reads live in a thread-local list that
/// `gather` opens and drops; the next scrape reads afresh. Reading
/// `/proc/stat` makes the kernel sum every CPU's counters and every
/// interrupt's per-CPU counts.
pub fn read_shared(path: &Path) -> Result<Rc<str>, CollectError> {
    let hit = SHARED.with_borrow(|reads| {
        reads
            .as_ref()?
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, text)| text.clone())
    });
    if let Some(text) = hit {
        return Ok(text);
    }
    let text: Rc<str> = read(path)?.into();
    SHARED.with_borrow_mut(|reads| {
        if let Some(reads) = reads {
            reads.push((path.to_owned(), text.clone()));
        }
    });
    Ok(text)
}

/// Numbers the gathers: no two share one.
static SCRAPES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

thread_local! {
    /// The gather this thread is running, if any.
    static SCRAPE: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// The scrape this thread is gathering now (a number no other gather
/// has), `None` outside [`Registry::gather`]. A kernel answer that several
/// collectors read (rtnl.rs's link dump) is kept for this scrape only.
/// Collectors run one after another on the gathering thread; a collector
/// run on another thread sees `None` and asks afresh.
pub fn current_scrape() -> Option<u64> {
    SCRAPE.with(std::cell::Cell::get)
}

/// One scrape's scope on this thread, until dropped: its number
/// ([`current_scrape`]) and its shared reads ([`read_shared`]). Restores
/// what was there, so a registry gathered inside another's scrape gets its
/// own number and reads.
struct InScrape {
    outer: Option<u64>,
    outer_reads: Option<ScrapeReads>,
}

impl InScrape {
    fn enter() -> Self {
        let id = SCRAPES.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        InScrape {
            outer: SCRAPE.with(|s| s.replace(Some(id))),
            outer_reads: SHARED.with_borrow_mut(|reads| reads.replace(Vec::new())),
        }
    }
}

impl Drop for InScrape {
    fn drop(&mut self) {
        SCRAPE.with(|s| s.set(self.outer));
        let outer = self.outer_reads.take();
        SHARED.with_borrow_mut(|reads| *reads = outer);
    }
}

/// Reads a whole file like [`read`]; [`CollectError::NoData`] naming
/// `what` when it does not exist (a kernel feature the host lacks, for a
/// collector that node_exporter answers with "no data").
pub fn read_or_no_data(path: &Path, what: &'static str) -> Result<String, CollectError> {
    read_if_present(path)?.ok_or(CollectError::NoData(what))
}

/// Reads a whole file like [`read`]; `None` when it does not exist (a
/// kernel feature or device that is not there, which is no error).
pub fn read_if_present(path: &Path) -> Result<Option<String>, CollectError> {
    match read_text(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CollectError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// The names of the entries of `dir`, sorted; empty when `dir` does not
/// exist (a device class with no devices, a module not loaded).
pub fn entries(dir: &Path) -> Result<Vec<String>, CollectError> {
    names_where(dir, false, |_, _| true)
}

/// The names of `dir`'s entries that `keep` accepts, sorted, from
/// `openfiles`' listing; empty when `dir` does not exist (or, if
/// `not_a_dir_is_empty`, is no directory).
fn names_where(
    dir: &Path,
    not_a_dir_is_empty: bool,
    keep: impl Fn(&std::ffi::OsStr, super::openfiles::EntryKind) -> bool,
) -> Result<Vec<String>, CollectError> {
    let (names, kinds) = match super::openfiles::list_entries(dir) {
        Ok(listing) => listing,
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                || (not_a_dir_is_empty && e.raw_os_error() == Some(nix::libc::ENOTDIR)) =>
        {
            return Ok(Vec::new())
        }
        Err(source) => {
            return Err(CollectError::Read {
                path: dir.to_owned(),
                source,
            })
        }
    };
    let mut out: Vec<String> = names
        .iter()
        .zip(kinds.iter())
        .filter(|(name, kind)| keep(name, **kind))
        .map(|(name, _)| name.to_string_lossy().into_owned())
        .collect();
    // Already in byte order; a lossily converted name may sort elsewhere.
    if !out.is_sorted() {
        out.sort();
    }
    Ok(out)
}

/// The names of the entries of `dir` that are directories, sorted; empty
/// when `dir` is not a directory (a procfs or sysfs one that is not there
/// is remembered as [`super::openfiles::list_dir`] does).
///
/// Decisions:
/// - The kind comes from the listing itself (`d_type`, which sysfs and
///   local file systems fill), not from a `stat` of each entry's path:
///   btrfs's `allocation/<type>/` holds a dozen attribute files beside its
///   one or two layout directories, and the per-entry `stat` was 63 path
///   walks per scrape of the fixture tree (~5% of its CPU). A symlink, or
///   an entry whose kind the file system does not say, is `stat`ed.
/// - The listing is `openfiles`' (kept as [`super::openfiles::list_dir`]
///   keeps it, kinds included), not a fresh `read_dir`: that was an
///   `openat`, two `getdents64`, a `close` and glibc's 32 KiB directory
///   buffer per call, ~30 calls per scrape of the fixture tree (btrfs,
///   bcachefs, zfs).
pub fn subdirectories(dir: &Path) -> Result<Vec<String>, CollectError> {
    names_where(dir, true, |name, kind| kind.is_dir(dir, name))
}

/// Reads a procfs/sysfs file as text, keeping kernel files open between
/// scrapes (see `openfiles.rs`).
///
/// `std::fs::read_to_string` first asks the file's size (`statx`), which
/// procfs and sysfs answer with 0; a scrape reads over a hundred such
/// files, so that system call is skipped too.
pub fn read_text(path: impl AsRef<Path>) -> std::io::Result<String> {
    super::openfiles::read_with(path.as_ref(), false, |b| {
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    })?
}

/// Reads a small sysfs attribute, trimmed; `None` when absent or unreadable.
///
/// A sysfs attribute is at most one page and is produced by a single
/// `show()` call, so one read suffices.
pub fn read_attr(path: &Path) -> Option<String> {
    super::openfiles::read_with(path, true, |b| {
        std::str::from_utf8(b).ok().map(|s| s.trim().to_owned())
    })
    .ok()?
}

/// Reads a small sysfs attribute like [`read_attr`] and hands it, trimmed,
/// to `parse`, without making a `String` of it; `None` when absent,
/// unreadable or not parsed.
pub fn read_attr_with<T>(path: &Path, parse: impl FnOnce(&str) -> Option<T>) -> Option<T> {
    super::openfiles::read_with(path, true, |b| {
        std::str::from_utf8(b).ok().and_then(|s| parse(s.trim()))
    })
    .ok()?
}

/// A directory whose attributes are read one after another
/// (`/sys/class/net/eth0/{mtu,flags,…}`), through one path buffer.
///
/// Decisions: `read_attr(&dir.join(file))` allocated a `PathBuf` per
/// attribute: ~900 of a fixture-tree scrape's ~6,100 allocations were such
/// joins in netclass, powersupplyclass, infiniband, fibrechannel and hwmon.
pub struct AttrDir {
    buf: Vec<u8>,
    base: usize,
}

impl AttrDir {
    pub fn new(dir: &Path) -> Self {
        let mut buf = Vec::with_capacity(dir.as_os_str().len() + 48);
        buf.extend_from_slice(dir.as_os_str().as_bytes());
        AttrDir {
            base: buf.len(),
            buf,
        }
    }

    /// The path of `rel` (a file name, or `dir/file`) in the directory.
    pub fn path(&mut self, rel: &str) -> &Path {
        self.buf.truncate(self.base);
        self.buf.push(b'/');
        self.buf.extend_from_slice(rel.as_bytes());
        Path::new(std::ffi::OsStr::from_bytes(&self.buf))
    }

    /// [`read_attr`] of `rel`.
    pub fn read(&mut self, rel: &str) -> Option<String> {
        read_attr(self.path(rel))
    }

    /// [`read_attr_with`] of `rel`.
    pub fn read_with<T>(&mut self, rel: &str, parse: impl FnOnce(&str) -> Option<T>) -> Option<T> {
        read_attr_with(self.path(rel), parse)
    }
}

/// A sysfs attribute a collector cannot do without, trimmed; an error
/// naming the file when absent or unreadable.
pub fn require_attr(path: &Path) -> Result<String, CollectError> {
    read_attr(path).ok_or_else(|| CollectError::Read {
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "missing or unreadable"),
    })
}

/// A required sysfs attribute holding one integer (`-1`, `100000`).
pub fn require_int_attr(path: &Path) -> Result<f64, CollectError> {
    let text = require_attr(path)?;
    text.parse::<i64>().map(|v| v as f64).map_err(|_| {
        CollectError::parse(
            path.display().to_string(),
            format!("expected an integer, got {text:?}"),
        )
    })
}

/// The entries `PREFIX<n>` of `dir` (`thermal_zone0`, `mc1`) as `(n, path)`,
/// in number order; none when `dir` is absent.
pub fn numbered_entries(dir: &Path, prefix: &str) -> Vec<(String, PathBuf)> {
    let Ok(entries) = super::openfiles::list_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(u64, &str)> = entries
        .iter()
        .filter_map(|name| {
            let n = name.to_str()?.strip_prefix(prefix)?;
            Some((n.parse().ok()?, n))
        })
        .collect();
    found.sort();
    found
        .into_iter()
        .map(|(_, n)| (n.to_owned(), dir.join(format!("{prefix}{n}"))))
        .collect()
}

/// The entry names of a sysfs class directory (`/sys/class/nvme`), sorted;
/// [`CollectError::NoData`] naming `what` when the host has no such class.
pub fn class_entries(dir: &Path, what: &'static str) -> Result<Vec<String>, CollectError> {
    let entries = match super::openfiles::list_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CollectError::NoData(what))
        }
        Err(source) => {
            return Err(CollectError::Read {
                path: dir.to_owned(),
                source,
            })
        }
    };
    Ok(entries
        .iter()
        .filter_map(|n| n.to_str().map(str::to_owned))
        .collect())
}

/// One source of metrics. `update` reads and parses everything first and
/// only then adds to `out`; on error the registry discards `out`.
pub trait Collector: Send + Sync {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError>;
}

macro_rules! collectors {
    ($( $variant:ident => $name:literal, default $on:literal, $help:literal; )*) => {
        /// Every collector, by its flag name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Name { $($variant),* }

        impl Name {
            pub const ALL: &'static [Name] = &[$(Name::$variant),*];
            pub fn as_str(self) -> &'static str {
                match self { $(Name::$variant => $name),* }
            }
            pub fn enabled_by_default(self) -> bool {
                match self { $(Name::$variant => $on),* }
            }
            pub fn help(self) -> &'static str {
                match self { $(Name::$variant => $help),* }
            }
        }
    };
}

collectors! {
    Arp => "arp", default true, "ARP table entries per device, over netlink or from /proc/net/arp";
    Bonding => "bonding", default true, "configured and active slaves of bonding interfaces";
    Conntrack => "conntrack", default true, "netfilter connection-tracking table size and statistics";
    Cpu => "cpu", default true, "CPU seconds per mode, guest seconds, throttles";
    Cpufreq => "cpufreq", default true, "CPU frequencies and scaling governors from /sys/devices/system/cpu/cpu*/cpufreq";
    CpuBenchmark => "cpu_benchmark", default false, "duration of a fixed small CPU workload, run on its own thread (--collector.cpu_benchmark.interval)";
    Diskstats => "diskstats", default true, "block device I/O from /proc/diskstats";
    Dmi => "dmi", default true, "firmware identity (BIOS, board, product) from /sys/class/dmi/id";
    Edac => "edac", default true, "memory controller error counters from /sys/devices/system/edac";
    Entropy => "entropy", default true, "available kernel entropy";
    Fibrechannel => "fibrechannel", default true, "Fibre Channel host adapters from /sys/class/fc_host";
    Filefd => "filefd", default true, "allocated and maximum file descriptors";
    Filesystem => "filesystem", default true, "size, free and inode counts per mounted filesystem";
    Gpu => "gpu", default false, "NVIDIA GPUs through NVML, loaded at run time (nvidia_smi_* metrics)";
    Hwmon => "hwmon", default true, "hardware sensors (temperatures, fans, voltages, power) from /sys/class/hwmon";
    Infiniband => "infiniband", default true, "InfiniBand adapters, port states and counters from /sys/class/infiniband";
    Loadavg => "loadavg", default true, "1, 5 and 15 minute load averages";
    Logins => "logins", default false, "login sessions from utmp; new remote logins posted to Alertmanager";
    Mdadm => "mdadm", default true, "software RAID arrays from /proc/mdstat";
    Meminfo => "meminfo", default true, "memory statistics from /proc/meminfo";
    Netclass => "netclass", default true, "network interface attributes from /sys/class/net, or over netlink";
    Netdev => "netdev", default true, "network interface counters, over netlink or from /proc/net/dev";
    Netstat => "netstat", default true, "network protocol statistics from /proc/net/{netstat,snmp,snmp6}";
    Nvme => "nvme", default true, "NVMe controller information from /sys/class/nvme";
    Os => "os", default true, "operating system release from os-release";
    PowerSupplyClass => "powersupplyclass", default true, "power supplies and batteries from /sys/class/power_supply";
    Pressure => "pressure", default true, "pressure stall information from /proc/pressure";
    Sockstat => "sockstat", default true, "socket statistics from /proc/net/sockstat{,6}";
    Softnet => "softnet", default true, "softirq network statistics from /proc/net/softnet_stat";
    Stat => "stat", default true, "boot time, context switches, interrupts, forks, running and blocked processes";
    Textfile => "textfile", default true, "metrics from *.prom files in --collector.textfile.directory";
    ThermalZone => "thermal_zone", default true, "thermal zone temperatures and cooling device states from /sys/class/thermal";
    Time => "time", default true, "the system clock, time zone and clock sources";
    Timex => "timex", default true, "kernel clock discipline state (adjtimex)";
    UdpQueues => "udp_queues", default true, "UDP receive and transmit queue lengths";
    Uname => "uname", default true, "kernel and host names (uname)";
    Vmstat => "vmstat", default true, "virtual memory statistics from /proc/vmstat";
    Schedstat => "schedstat", default true, "per-CPU scheduler statistics from /proc/schedstat";
    Watchdog => "watchdog", default true, "hardware watchdogs from /sys/class/watchdog";
    KernelHung => "kernel_hung", default true, "hung tasks detected since boot";
    Selinux => "selinux", default true, "SELinux modes and access vector cache statistics";
    Rapl => "rapl", default true, "RAPL energy counters from /sys/class/powercap";
    Xfs => "xfs", default true, "XFS per-filesystem statistics from /sys/fs/xfs";
    Btrfs => "btrfs", default true, "Btrfs allocation and devices from /sys/fs/btrfs";
    Zfs => "zfs", default true, "ZFS kstats and pools from /proc/spl/kstat/zfs";
    Nfs => "nfs", default true, "NFS client RPC statistics from /proc/net/rpc/nfs";
    Nfsd => "nfsd", default true, "NFS server statistics from /proc/net/rpc/nfsd";
    Ipvs => "ipvs", default true, "IP Virtual Server totals and backends from /proc/net/ip_vs*";
    Bcache => "bcache", default true, "bcache cache sets from /sys/fs/bcache";
    Tapestats => "tapestats", default true, "SCSI tape drive statistics from /sys/class/scsi_tape";
    Dmmultipath => "dmmultipath", default true, "device-mapper multipath maps and path states from /sys/block";
    Tcpstat => "tcpstat", default false, "TCP sockets per connection state from /proc/net/tcp{,6}";
    Interrupts => "interrupts", default false, "interrupts per CPU from /proc/interrupts";
    Softirqs => "softirqs", default false, "softirqs per CPU from /proc/softirqs";
    MeminfoNuma => "meminfo_numa", default false, "memory per NUMA node from /sys/devices/system/node";
    Processes => "processes", default false, "processes and threads by state, and the PID and thread limits";
    CpuVulnerabilities => "cpu_vulnerabilities", default false, "CPU vulnerabilities and their mitigations from /sys/devices/system/cpu/vulnerabilities";
    Drm => "drm", default false, "AMD GPU (amdgpu) busy percent and memory from /sys/class/drm";
    Bcachefs => "bcachefs", default true, "bcachefs filesystems, their devices and counters from /sys/fs/bcachefs";
    Systemd => "systemd", default false, "systemd units by state, and the manager's state, over D-Bus (--collector.systemd.unit-include/-exclude)";
    Logind => "logind", default false, "sessions registered in systemd-logind, by seat, remote, type and class, over D-Bus";
    Mountstats => "mountstats", default false, "NFS client statistics per mount from /proc/self/mountstats";
    Ethtool => "ethtool", default false, "network driver statistics and driver information (ethtool), and link modes";
}

/// For collectors' unit tests: writes `text` to `path`, creating the
/// directories above it (a sysfs or procfs fixture file).
#[cfg(test)]
pub(crate) fn write_fixture(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("a file path")).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Held shared by every scrape and exclusively by work that must never
/// run during one (the CPU benchmark).
#[derive(Debug, Default)]
pub struct ScrapeGate(std::sync::RwLock<()>);

impl ScrapeGate {
    /// Held while a scrape runs.
    pub fn shared(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }
    /// Held while no scrape may run.
    pub fn exclusive(&self) -> std::sync::RwLockWriteGuard<'_, ()> {
        self.0.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// The enabled collectors, each ready to run.
pub struct Registry {
    collectors: Vec<(Name, Arc<dyn Collector>)>,
    gate: Arc<ScrapeGate>,
    /// How many families the last scrape had, to size the next one.
    families: std::sync::atomic::AtomicUsize,
    /// The order the last scrape's families sorted into.
    order: Arc<std::sync::Mutex<SortOrder>>,
}

impl Registry {
    pub fn new(collectors: Vec<(Name, Arc<dyn Collector>)>) -> Self {
        Self::with_gate(collectors, Arc::default())
    }

    /// A registry whose scrapes hold `gate`.
    pub fn with_gate(collectors: Vec<(Name, Arc<dyn Collector>)>, gate: Arc<ScrapeGate>) -> Self {
        Registry {
            collectors,
            gate,
            families: Default::default(),
            order: Arc::default(),
        }
    }

    pub fn names(&self) -> impl Iterator<Item = Name> + '_ {
        self.collectors.iter().map(|(n, _)| *n)
    }

    /// Runs every collector once. A failing collector reports
    /// `node_scrape_collector_success 0` and contributes nothing else.
    pub fn gather(&self) -> Metrics {
        use std::sync::atomic::Ordering::Relaxed;
        let _scraping = self.gate.shared();
        let _scrape = InScrape::enter();
        let mut all = Metrics::with_order(self.families.load(Relaxed), self.order.clone());
        let mut outcomes = Vec::with_capacity(self.collectors.len());
        for (name, collector) in &self.collectors {
            let started = Instant::now();
            all.begin_part();
            let result = collector.update(&mut all);
            let elapsed = started.elapsed();
            if result.is_err() {
                all.discard_part();
            }
            let ok = match result {
                Ok(()) => true,
                Err(err @ CollectError::NoData(_)) => {
                    tracing::debug!(collector = name.as_str(), reason = %err, "collector returned no data");
                    false
                }
                Err(err) => {
                    tracing::warn!(collector = name.as_str(), error = %err, "collector failed");
                    false
                }
            };
            outcomes.push((*name, ok, elapsed));
        }
        all.begin_part();
        record_outcomes(&mut all, &outcomes);
        self.families.store(all.len(), Relaxed);
        all
    }

    /// Hands back the families of a scrape's sorted set once encoded, for
    /// the next scrape to fill (see `metrics.rs`).
    pub fn recycle(&self, families: Vec<super::metrics::Family>) {
        Metrics::recycle(&self.order, families);
    }
}

fn record_outcomes(out: &mut Metrics, outcomes: &[(Name, bool, Duration)]) {
    let duration = out.gauge(
        "node_scrape_collector_duration_seconds",
        "node_exporter: Duration of a collector scrape.",
    );
    for (name, _, elapsed) in outcomes {
        duration.add(&[("collector", name.as_str())], elapsed.as_secs_f64());
    }
    let success = out.gauge(
        "node_scrape_collector_success",
        "node_exporter: Whether a collector succeeded.",
    );
    for (name, ok, _) in outcomes {
        success.add(&[("collector", name.as_str())], if *ok { 1.0 } else { 0.0 });
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use std::time::{Duration, Instant};

    /// Polls `f` every 10 ms until it holds or `timeout` passes.
    pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        f()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdirectories_are_the_directories_among_the_entries_and_symlinks_to_them() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("single")).unwrap();
        std::fs::create_dir(d.path().join("raid1")).unwrap();
        std::fs::write(d.path().join("bytes_used"), "1\n").unwrap();
        std::os::unix::fs::symlink("raid1", d.path().join("link_to_dir")).unwrap();
        std::os::unix::fs::symlink("bytes_used", d.path().join("link_to_file")).unwrap();
        assert_eq!(
            subdirectories(d.path()).unwrap(),
            ["link_to_dir", "raid1", "single"]
        );
        assert!(subdirectories(&d.path().join("missing"))
            .unwrap()
            .is_empty());
        assert!(subdirectories(&d.path().join("bytes_used"))
            .unwrap()
            .is_empty());
        // The listing and its kinds are kept; a change in the directory
        // (a directory replaced by a file, one added) is seen at once.
        std::fs::remove_dir(d.path().join("single")).unwrap();
        std::fs::write(d.path().join("single"), "").unwrap();
        std::fs::create_dir(d.path().join("raid0")).unwrap();
        assert_eq!(
            subdirectories(d.path()).unwrap(),
            ["link_to_dir", "raid0", "raid1"]
        );
    }

    #[test]
    fn a_number_is_checked_when_read_and_converted_when_asked() {
        for (text, value) in [
            ("0", 0.0),
            ("-12", -12.0),
            ("18446744073709551615", 1.8446744073709552e19),
            ("1.5", 1.5),
            ("1e3", 1000.0),
        ] {
            assert_eq!(Number::new(text).map(Number::value), Some(value), "{text}");
        }
        for bad in ["", "-", "12a", "two", "1.2.3", "--1"] {
            assert_eq!(Number::new(bad), None, "{bad:?}");
        }
    }

    struct Fails;
    impl Collector for Fails {
        fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
            out.gauge("node_half_written", "must not appear")
                .add(&[], 1.0);
            Err(CollectError::parse("test", "broken"))
        }
    }
    struct Works;
    impl Collector for Works {
        fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
            out.gauge("node_fine", "fine").add(&[], 2.0);
            Ok(())
        }
    }

    #[test]
    fn a_failing_collector_reports_zero_and_leaves_the_rest() {
        let reg = Registry::new(vec![
            (Name::Cpu, Arc::new(Fails)),
            (Name::Stat, Arc::new(Works)),
        ]);
        let m = reg.gather();
        assert!(m.get("node_half_written").is_none());
        assert_eq!(m.get("node_fine").unwrap().sample(0).value, 2.0);
        let success = m.get("node_scrape_collector_success").unwrap();
        let by = |c: &str| {
            success
                .samples()
                .find(|s| s.label("collector") == Some(c))
                .unwrap()
                .value
        };
        assert_eq!(by("cpu"), 0.0);
        assert_eq!(by("stat"), 1.0);
    }

    /// Reads a file with [`read_shared`], then overwrites it.
    struct ReadsThenWrites(PathBuf, &'static str);
    impl Collector for ReadsThenWrites {
        fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
            let text = read_shared(&self.0)?;
            std::fs::write(&self.0, self.1).unwrap();
            out.gauge("node_read", "read").add(&[("text", &text)], 1.0);
            Ok(())
        }
    }

    #[test]
    fn a_file_read_by_two_collectors_is_read_once_per_scrape() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stat");
        std::fs::write(&path, "first").unwrap();
        let reg = Registry::new(vec![
            (Name::Cpu, Arc::new(ReadsThenWrites(path.clone(), "second"))),
            (Name::Stat, Arc::new(ReadsThenWrites(path.clone(), "third"))),
        ]);
        let texts = |m: Metrics| -> Vec<String> {
            let sorted = m.into_sorted();
            let f = sorted.iter().find(|f| f.name == "node_read").unwrap();
            f.samples()
                .map(|s| s.label("text").unwrap().to_owned())
                .collect()
        };
        // Both collectors of one scrape see what the first one read...
        assert_eq!(texts(reg.gather()), ["first", "first"]);
        // ...and the next scrape reads afresh.
        assert_eq!(texts(reg.gather()), ["third", "third"]);
        // Outside a scrape every read is fresh.
        assert_eq!(&*read_shared(&path).unwrap(), "third");
        std::fs::write(&path, "fourth").unwrap();
        assert_eq!(&*read_shared(&path).unwrap(), "fourth");
    }

    /// Records the scrape each of its runs saw.
    struct Sees(std::sync::Mutex<Vec<Option<u64>>>);
    impl Collector for Sees {
        fn update(&self, _: &mut Metrics) -> Result<(), CollectError> {
            self.0.lock().unwrap().push(current_scrape());
            Ok(())
        }
    }

    #[test]
    fn collectors_of_one_gather_share_its_scrape_and_no_other_gather_does() {
        let sees = Arc::new(Sees(Default::default()));
        let reg = Registry::new(vec![(Name::Cpu, sees.clone()), (Name::Stat, sees.clone())]);
        assert_eq!(current_scrape(), None);
        reg.gather();
        reg.gather();
        assert_eq!(current_scrape(), None, "the scope ends with the gather");
        let seen = sees.0.lock().unwrap().clone();
        assert!(seen.iter().all(Option::is_some), "{seen:?}");
        assert_eq!(seen[0], seen[1], "one gather, one scrape");
        assert_eq!(seen[2], seen[3]);
        assert_ne!(seen[1], seen[2], "a new gather, a new scrape");
    }

    #[test]
    fn collector_names_are_unique_and_flag_safe() {
        let mut seen = std::collections::HashSet::new();
        for n in Name::ALL {
            assert!(seen.insert(n.as_str()));
            assert!(n
                .as_str()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_'));
        }
    }
}
