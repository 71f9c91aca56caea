//! The ethtool collector's [`Source`] on a real host: the kernel's
//! `SIOCETHTOOL` ioctl (include/uapi/linux/ethtool.h), as node_exporter's
//! ethtool library (safchain/ethtool) calls it: `ETHTOOL_GDRVINFO` for the
//! driver, `ETHTOOL_GSET` for link modes, and the driver statistics by
//! `ETHTOOL_GSSET_INFO` (how many), `ETHTOOL_GSTRINGS` (their names) and
//! `ETHTOOL_GSTATS` (their values). This file holds the crate's third
//! reviewed `unsafe` block (see lib.rs): [`call`], the ioctl itself.
//!
//! Decisions:
//! - The commands' structs are built and read as byte buffers by pure
//!   functions (`*_request`, `parse_*`, unit-tested on bytes laid out as
//!   the kernel's headers say), so the only code that touches raw memory
//!   is [`call`]. No crate wraps these ioctls safely: the `ethtool`
//!   netlink crate has no driver statistics (they have no netlink form),
//!   and nix's `ioctl_*_bad!` macros only generate an `unsafe fn` around
//!   the same `libc::ioctl` call, so they would not shrink the unsafe
//!   code; nix is used for the socket and the mapping calls.
//! - The kernel sizes `GSTRINGS`/`GSTATS` answers by the driver's count
//!   at the moment of the call, not by the length the caller passes, so a
//!   count that grows between `GSSET_INFO` and `GSTATS` (channels changed
//!   with `ethtool -L`) would write past a plain buffer. [`call`] places
//!   every buffer so that it ends exactly at an inaccessible guard page:
//!   a longer answer faults there, and the kernel returns `EFAULT`
//!   instead of writing into our memory. A count that changed is then
//!   reported as an error for that scrape (the lengths the kernel writes
//!   back are checked).
//! - Link modes come from `ETHTOOL_GSET`, not `ETHTOOL_GLINKSETTINGS`:
//!   node_exporter 1.12 reads `ETHTOOL_GSET` (safchain's `CmdGet`), whose
//!   masks are 32 bits, so modes above bit 31 never appear there; reading
//!   the wider masks would export series node_exporter does not. Every
//!   driver with link settings answers `ETHTOOL_GSET` (the kernel converts
//!   from its link settings).

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::mman::{mmap_anonymous, mprotect, munmap, MapFlags, ProtFlags};
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

use crate::exporter::ethtool::{DriverInfo, LinkInfo, Source, SourceError};

const ETHTOOL_GSET: u32 = 0x01;
const ETHTOOL_GDRVINFO: u32 = 0x03;
const ETHTOOL_GSTRINGS: u32 = 0x1b;
const ETHTOOL_GSTATS: u32 = 0x1d;
const ETHTOOL_GSSET_INFO: u32 = 0x37;
/// The string set of driver statistics (`enum ethtool_stringset`).
const ETH_SS_STATS: u32 = 1;
const ETH_GSTRING_LEN: usize = 32;
/// `sizeof(struct ethtool_drvinfo)`: cmd, five 32-byte strings, 12
/// reserved bytes, five u32 counts.
const DRVINFO_LEN: usize = 4 + 5 * 32 + 12 + 5 * 4;
/// `sizeof(struct ethtool_cmd)`.
const CMD_LEN: usize = 44;
/// `struct ethtool_sset_info` with room for one count.
const SSET_INFO_LEN: usize = 16 + 4;
const GSTRINGS_HEADER: usize = 12;
const GSTATS_HEADER: usize = 8;
/// More statistics than any driver has; a count above it is refused
/// rather than allocated (safchain refuses above its own cap too).
const MAX_STATS: usize = 1 << 16;

/// Asks the kernel through an `AF_INET` datagram socket, as ethtool(8)
/// and node_exporter do (no privileges needed for these reads).
pub struct IoctlSource {
    socket: Result<OwnedFd, Errno>,
}

impl IoctlSource {
    pub fn new() -> Self {
        IoctlSource {
            socket: socket(
                AddressFamily::Inet,
                SockType::Datagram,
                SockFlag::SOCK_CLOEXEC,
                None,
            ),
        }
    }

    fn run(&self, device: &str, what: &str, request: Vec<u8>) -> Result<Vec<u8>, SourceError> {
        let socket = self
            .socket
            .as_ref()
            .map_err(|e| SourceError::Failed(format!("ethtool socket: {e}")))?;
        let name = ifname(device)?;
        call(socket, &name, request).map_err(|e| match e {
            Errno::EOPNOTSUPP => SourceError::Unsupported,
            e => SourceError::Failed(format!("{what}: {e}")),
        })
    }
}

impl Default for IoctlSource {
    fn default() -> Self {
        Self::new()
    }
}

impl Source for IoctlSource {
    fn driver_info(&self, device: &str) -> Result<DriverInfo, SourceError> {
        let answer = self.run(
            device,
            "ETHTOOL_GDRVINFO",
            command(ETHTOOL_GDRVINFO, DRVINFO_LEN),
        )?;
        Ok(parse_drvinfo(&answer))
    }

    fn stats(&self, device: &str) -> Result<BTreeMap<String, u64>, SourceError> {
        let info = self.run(device, "ETHTOOL_GSSET_INFO", sset_info_request())?;
        let count = parse_sset_info(&info)?;
        if count == 0 {
            return Ok(BTreeMap::new());
        }
        let strings = self.run(device, "ETHTOOL_GSTRINGS", gstrings_request(count))?;
        let names = parse_gstrings(&strings, count)?;
        let values = self.run(device, "ETHTOOL_GSTATS", gstats_request(count))?;
        let values = parse_gstats(&values, count)?;
        Ok(stats_map(names, values))
    }

    fn link_info(&self, device: &str) -> Result<LinkInfo, SourceError> {
        let answer = self.run(device, "ETHTOOL_GSET", command(ETHTOOL_GSET, CMD_LEN))?;
        Ok(parse_cmd(&answer))
    }
}

/// `ifr_name`: the device name, NUL-terminated, at most `IFNAMSIZ - 1`
/// bytes.
fn ifname(device: &str) -> Result<[libc::c_char; libc::IFNAMSIZ], SourceError> {
    let bytes = device.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(SourceError::Failed(format!(
            "{device:?} is not a network device name"
        )));
    }
    let mut name = [0 as libc::c_char; libc::IFNAMSIZ];
    for (to, from) in name.iter_mut().zip(bytes) {
        *to = *from as libc::c_char;
    }
    Ok(name)
}

/// Runs one `SIOCETHTOOL` command on the device `name`: `request` is the
/// command's struct as bytes; the answer is the same bytes as the kernel
/// left them.
fn call(
    socket: &OwnedFd,
    name: &[libc::c_char; libc::IFNAMSIZ],
    request: Vec<u8>,
) -> Result<Vec<u8>, Errno> {
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)?
        .and_then(|p| usize::try_from(p).ok())
        .unwrap_or(4096);
    let len = request.len();
    let writable = len.div_ceil(page).max(1) * page;
    let total = NonZeroUsize::new(writable + page).ok_or(Errno::EINVAL)?;
    let offset = writable - len;
    // SAFETY: the mapping is private and anonymous, `total` bytes long,
    // owned by this block alone and unmapped before it ends; nothing
    // outside it holds a pointer into it. Its last page is made
    // inaccessible before the ioctl, and the buffer handed to the kernel
    // is its `len` bytes just below that page (`offset + len ==
    // writable`), so the reads and writes the kernel makes for the
    // command (the struct, then its variable-length data, in order) stay
    // in the buffer or fault at the guard page, which the kernel reports
    // as EFAULT rather than writing on. `ifreq` is a plain C struct for
    // which all-zero bytes are valid; its name is NUL-terminated
    // (`ifname`) and its data pointer is the buffer; it lives on this
    // stack across the call. The copies stay within the `len` bytes from
    // `offset`, which the mapping holds.
    #[allow(unsafe_code)]
    unsafe {
        let map = mmap_anonymous(
            None,
            total,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_PRIVATE,
        )?;
        let guard = map.byte_add(writable);
        let answer = mprotect(guard, page, ProtFlags::PROT_NONE).and_then(|()| {
            let buf = map.as_ptr().cast::<u8>().add(offset);
            std::ptr::copy_nonoverlapping(request.as_ptr(), buf, len);
            let mut ifr: libc::ifreq = std::mem::zeroed();
            ifr.ifr_name = *name;
            ifr.ifr_ifru.ifru_data = buf.cast();
            Errno::result(libc::ioctl(
                socket.as_raw_fd(),
                libc::SIOCETHTOOL as _,
                &mut ifr,
            ))?;
            Ok(std::slice::from_raw_parts(buf, len).to_vec())
        });
        // Nothing else refers to the mapping; failing to unmap only leaks it.
        let _ = munmap(map, total.get());
        answer
    }
}

/// A fixed-size command's struct: `cmd` and zeros.
fn command(cmd: u32, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    put_u32(&mut buf, 0, cmd);
    buf
}

fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    let mut b = [0; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    u32::from_ne_bytes(b)
}

fn u64_at(buf: &[u8], at: usize) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_ne_bytes(b)
}

/// A C string in a fixed field: up to its first NUL.
fn c_string(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// `struct ethtool_drvinfo` as the kernel filled it.
fn parse_drvinfo(buf: &[u8]) -> DriverInfo {
    let field = |i: usize| c_string(&buf[4 + 32 * i..4 + 32 * (i + 1)]);
    DriverInfo {
        driver: field(0),
        version: field(1),
        firmware_version: field(2),
        bus_info: field(3),
        expansion_rom_version: field(4),
    }
}

/// `struct ethtool_cmd`: supported and advertised modes, autonegotiation.
fn parse_cmd(buf: &[u8]) -> LinkInfo {
    LinkInfo {
        supported: u32_at(buf, 4),
        advertising: u32_at(buf, 8),
        autoneg: buf[18] != 0,
    }
}

/// `ETHTOOL_GSSET_INFO` asking for the count of the statistics set.
fn sset_info_request() -> Vec<u8> {
    let mut buf = command(ETHTOOL_GSSET_INFO, SSET_INFO_LEN);
    buf[8..16].copy_from_slice(&(1u64 << ETH_SS_STATS).to_ne_bytes());
    buf
}

/// The number of statistics; a driver without the set has none to give.
fn parse_sset_info(buf: &[u8]) -> Result<usize, SourceError> {
    if u64_at(buf, 8) & (1 << ETH_SS_STATS) == 0 {
        return Err(SourceError::Unsupported);
    }
    let count = u32_at(buf, 16) as usize;
    if count > MAX_STATS {
        return Err(SourceError::Failed(format!(
            "driver reports {count} statistics, more than {MAX_STATS}"
        )));
    }
    Ok(count)
}

fn gstrings_request(count: usize) -> Vec<u8> {
    let mut buf = command(ETHTOOL_GSTRINGS, GSTRINGS_HEADER + count * ETH_GSTRING_LEN);
    put_u32(&mut buf, 4, ETH_SS_STATS);
    put_u32(&mut buf, 8, count as u32);
    buf
}

/// The kernel writes back how many it gave; another count means the
/// driver's set changed since `GSSET_INFO`.
fn check_count(what: &str, got: u32, want: usize) -> Result<(), SourceError> {
    if got as usize == want {
        Ok(())
    } else {
        Err(SourceError::Failed(format!(
            "{what}: the driver's statistics changed while reading ({want} then {got})"
        )))
    }
}

fn parse_gstrings(buf: &[u8], count: usize) -> Result<Vec<String>, SourceError> {
    check_count("ETHTOOL_GSTRINGS", u32_at(buf, 8), count)?;
    Ok(buf[GSTRINGS_HEADER..]
        .chunks_exact(ETH_GSTRING_LEN)
        .map(c_string)
        .collect())
}

fn gstats_request(count: usize) -> Vec<u8> {
    let mut buf = command(ETHTOOL_GSTATS, GSTATS_HEADER + count * 8);
    put_u32(&mut buf, 4, count as u32);
    buf
}

fn parse_gstats(buf: &[u8], count: usize) -> Result<Vec<u64>, SourceError> {
    check_count("ETHTOOL_GSTATS", u32_at(buf, 4), count)?;
    Ok(buf[GSTATS_HEADER..]
        .chunks_exact(8)
        .map(|c| u64_at(c, 0))
        .collect())
}

/// Names paired with values as safchain pairs them: empty names are
/// skipped, and a name given twice keeps its last value.
fn stats_map(names: Vec<String>, values: Vec<u64>) -> BTreeMap<String, u64> {
    names
        .into_iter()
        .zip(values)
        .filter(|(name, _)| !name.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string_field(s: &str) -> [u8; 32] {
        let mut f = [0; 32];
        f[..s.len()].copy_from_slice(s.as_bytes());
        f
    }

    #[test]
    fn reads_the_driver_info_struct() {
        let mut buf = command(ETHTOOL_GDRVINFO, DRVINFO_LEN);
        for (i, s) in ["ixgbe", "6.1.0", "0x800008ea", "0000:03:00.1", "rom 2"]
            .iter()
            .enumerate()
        {
            buf[4 + 32 * i..4 + 32 * (i + 1)].copy_from_slice(&string_field(s));
        }
        assert_eq!(
            parse_drvinfo(&buf),
            DriverInfo {
                driver: "ixgbe".into(),
                version: "6.1.0".into(),
                firmware_version: "0x800008ea".into(),
                bus_info: "0000:03:00.1".into(),
                expansion_rom_version: "rom 2".into(),
            }
        );
        // A field the driver filled to the last byte has no NUL.
        buf[4..36].copy_from_slice(&[b'a'; 32]);
        assert_eq!(parse_drvinfo(&buf).driver, "a".repeat(32));
    }

    #[test]
    fn reads_the_link_modes_of_ethtool_cmd() {
        let mut buf = command(ETHTOOL_GSET, CMD_LEN);
        put_u32(&mut buf, 4, 0x8000_20ef);
        put_u32(&mut buf, 8, 0x20);
        buf[18] = 1;
        assert_eq!(
            parse_cmd(&buf),
            LinkInfo {
                supported: 0x8000_20ef,
                advertising: 0x20,
                autoneg: true,
            }
        );
        buf[18] = 0;
        assert!(!parse_cmd(&buf).autoneg);
    }

    #[test]
    fn asks_for_the_statistics_set_and_reads_its_count() {
        let req = sset_info_request();
        assert_eq!(req.len(), 20);
        assert_eq!(u32_at(&req, 0), ETHTOOL_GSSET_INFO);
        assert_eq!(u64_at(&req, 8), 0b10);
        let mut answer = req.clone();
        put_u32(&mut answer, 16, 42);
        assert_eq!(parse_sset_info(&answer), Ok(42));
        // The kernel clears the bit of a set the driver lacks.
        answer[8..16].copy_from_slice(&0u64.to_ne_bytes());
        assert_eq!(parse_sset_info(&answer), Err(SourceError::Unsupported));
        answer[8..16].copy_from_slice(&2u64.to_ne_bytes());
        put_u32(&mut answer, 16, (MAX_STATS + 1) as u32);
        assert!(matches!(
            parse_sset_info(&answer),
            Err(SourceError::Failed(_))
        ));
    }

    #[test]
    fn pairs_names_and_values_and_notices_a_changed_count() {
        let mut strings = gstrings_request(4);
        assert_eq!(strings.len(), 12 + 4 * 32);
        assert_eq!(
            (
                u32_at(&strings, 0),
                u32_at(&strings, 4),
                u32_at(&strings, 8)
            ),
            (ETHTOOL_GSTRINGS, ETH_SS_STATS, 4)
        );
        for (i, s) in ["rx_queue_0_packets", "", "tx-0.tx_bytes", "tx-0.tx_bytes"]
            .iter()
            .enumerate()
        {
            strings[12 + 32 * i..12 + 32 * (i + 1)].copy_from_slice(&string_field(s));
        }
        let names = parse_gstrings(&strings, 4).unwrap();
        let mut stats = gstats_request(4);
        assert_eq!((u32_at(&stats, 0), u32_at(&stats, 4)), (ETHTOOL_GSTATS, 4));
        for (i, v) in [77u64, 1, u64::MAX, 9].iter().enumerate() {
            stats[8 + 8 * i..16 + 8 * i].copy_from_slice(&v.to_ne_bytes());
        }
        let values = parse_gstats(&stats, 4).unwrap();
        let map = stats_map(names, values);
        assert_eq!(
            map.into_iter().collect::<Vec<_>>(),
            [
                ("rx_queue_0_packets".to_owned(), 77),
                ("tx-0.tx_bytes".to_owned(), 9),
            ]
        );
        // The kernel wrote back a different count: refused.
        put_u32(&mut stats, 4, 5);
        assert!(matches!(
            parse_gstats(&stats, 4),
            Err(SourceError::Failed(e)) if e.contains("changed")
        ));
        put_u32(&mut strings, 8, 3);
        assert!(parse_gstrings(&strings, 4).is_err());
    }

    #[test]
    fn refuses_names_the_kernel_cannot_take() {
        assert!(ifname("eth0").is_ok());
        assert!(ifname("").is_err());
        assert!(ifname("a-name-of-16-chr").is_err());
        assert!(ifname("nul\0").is_err());
    }

    #[test]
    fn the_loopback_device_has_no_driver_answers() {
        // lo has no ethtool driver info or statistics on any kernel:
        // EOPNOTSUPP, which the collector treats as "none".
        let source = IoctlSource::new();
        assert_eq!(source.driver_info("lo"), Err(SourceError::Unsupported));
        assert_eq!(source.stats("lo"), Err(SourceError::Unsupported));
        assert!(matches!(
            source.stats("no-such-dev0"),
            Err(SourceError::Failed(e)) if e.contains("ETHTOOL_GSSET_INFO")
        ));
    }
}
