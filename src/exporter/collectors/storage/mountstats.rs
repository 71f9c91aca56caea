//! `mountstats` (off by default): NFS client statistics per mount from
//! `/proc/self/mountstats`, under node_exporter's `node_mountstats_nfs_*`
//! names, labelled by `export` (the device), `protocol` (the transport's)
//! and `mountaddr` (the server address from `/proc/self/mountinfo`'s
//! `addr=` super option).
//!
//! Decisions, all node_exporter's:
//! - mountinfo's entries are taken in the same order as mountstats' (the
//!   kernel walks the mount table once for each), so the n-th mount's
//!   address is the n-th mountinfo line's.
//! - One mount exported twice (same export, protocol and address, another
//!   mount point) is exported once; `node_mountstats_nfs_mountpoint_info`
//!   still names each mount point.
//! - Counters that can pass 2^53 (idle time, per-operation times and
//!   errors) wrap there, so the float value stays exact.
//! - Only NFS mounts carry statistics; another file system with a
//!   statistics block, an unknown transport or a short line fails the
//!   collector, naming the line. Lines outside a mount's block are skipped.

use std::collections::HashSet;

use crate::exporter::collector::{read, read_if_present, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

/// 2^53: past it a float64 no longer holds every integer.
const MANTISSA: u64 = 1 << 53;

/// The 8 counters of a `bytes:` line, in the kernel's order.
pub const BYTES: [(&str, &str); 8] = [
    (
        "read_bytes_total",
        "Number of bytes read using the read() syscall.",
    ),
    (
        "write_bytes_total",
        "Number of bytes written using the write() syscall.",
    ),
    (
        "direct_read_bytes_total",
        "Number of bytes read using the read() syscall in O_DIRECT mode.",
    ),
    (
        "direct_write_bytes_total",
        "Number of bytes written using the write() syscall in O_DIRECT mode.",
    ),
    (
        "total_read_bytes_total",
        "Number of bytes read from the NFS server, in total.",
    ),
    (
        "total_write_bytes_total",
        "Number of bytes written to the NFS server, in total.",
    ),
    (
        "read_pages_total",
        "Number of pages read directly via mmap()'d files.",
    ),
    (
        "write_pages_total",
        "Number of pages written directly via mmap()'d files.",
    ),
];

/// The 27 counters of an `events:` line, in the kernel's order; `None`
/// for the one node_exporter does not export (congestion waits). The help
/// texts are node_exporter's, repeated ones included.
pub const EVENTS: [Option<(&str, &str)>; 27] = [
    Some((
        "event_inode_revalidate_total",
        "Number of times cached inode attributes are re-validated from the server.",
    )),
    Some((
        "event_dnode_revalidate_total",
        "Number of times cached dentry nodes are re-validated from the server.",
    )),
    Some((
        "event_data_invalidate_total",
        "Number of times an inode cache is cleared.",
    )),
    Some((
        "event_attribute_invalidate_total",
        "Number of times cached inode attributes are invalidated.",
    )),
    Some((
        "event_vfs_open_total",
        "Number of times cached inode attributes are invalidated.",
    )),
    Some((
        "event_vfs_lookup_total",
        "Number of times a directory lookup has occurred.",
    )),
    Some((
        "event_vfs_access_total",
        "Number of times permissions have been checked.",
    )),
    Some((
        "event_vfs_update_page_total",
        "Number of updates (and potential writes) to pages.",
    )),
    Some((
        "event_vfs_read_page_total",
        "Number of pages read directly via mmap()'d files.",
    )),
    Some((
        "event_vfs_read_pages_total",
        "Number of times a group of pages have been read.",
    )),
    Some((
        "event_vfs_write_page_total",
        "Number of pages written directly via mmap()'d files.",
    )),
    Some((
        "event_vfs_write_pages_total",
        "Number of times a group of pages have been written.",
    )),
    Some((
        "event_vfs_getdents_total",
        "Number of times directory entries have been read with getdents().",
    )),
    Some((
        "event_vfs_setattr_total",
        "Number of times directory entries have been read with getdents().",
    )),
    Some((
        "event_vfs_flush_total",
        "Number of pending writes that have been forcefully flushed to the server.",
    )),
    Some((
        "event_vfs_fsync_total",
        "Number of times fsync() has been called on directories and files.",
    )),
    Some((
        "event_vfs_lock_total",
        "Number of times locking has been attempted on a file.",
    )),
    Some((
        "event_vfs_file_release_total",
        "Number of times files have been closed and released.",
    )),
    None,
    Some((
        "event_truncation_total",
        "Number of times files have been truncated.",
    )),
    Some((
        "event_write_extension_total",
        "Number of times a file has been grown due to writes beyond its existing end.",
    )),
    Some((
        "event_silly_rename_total",
        "Number of times a file was removed while still open by another process.",
    )),
    Some((
        "event_short_read_total",
        "Number of times the NFS server gave less data than expected while reading.",
    )),
    Some((
        "event_short_write_total",
        "Number of times the NFS server wrote less data than expected while writing.",
    )),
    Some((
        "event_jukebox_delay_total",
        "Number of times the NFS server indicated EJUKEBOX; retrieving data from offline storage.",
    )),
    Some(("event_pnfs_read_total", "Number of NFS v4.1+ pNFS reads.")),
    Some(("event_pnfs_write_total", "Number of NFS v4.1+ pNFS writes.")),
];

/// One `xprt:` line, the fields node_exporter exports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transport {
    pub protocol: String,
    pub bind: u64,
    pub connect: u64,
    pub idle_seconds: u64,
    pub sends: u64,
    pub receives: u64,
    pub bad_xids: u64,
    pub backlog: u64,
    pub max_slots: u64,
    pub sending_queue: u64,
    pub pending_queue: u64,
}

/// One per-operation line (`READ: 1 2 …`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Operation {
    pub name: String,
    pub requests: u64,
    pub transmissions: u64,
    pub major_timeouts: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub queue_ms: u64,
    pub response_ms: u64,
    pub request_ms: u64,
    pub errors: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct NfsStats {
    pub age_seconds: u64,
    pub bytes: [u64; 8],
    pub events: [u64; 27],
    pub transports: Vec<Transport>,
    pub operations: Vec<Operation>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub device: String,
    pub mount_point: String,
    pub fstype: String,
    pub nfs: Option<NfsStats>,
}

fn bad(line: usize, reason: impl Into<String>) -> CollectError {
    CollectError::parse(format!("/proc/self/mountstats line {line}"), reason)
}

fn numbers<const N: usize>(fields: &[&str], line: usize) -> Result<[u64; N], CollectError> {
    if fields.len() != N {
        return Err(bad(
            line,
            format!("expected {N} counters, got {}", fields.len()),
        ));
    }
    let mut out = [0; N];
    for (o, f) in out.iter_mut().zip(fields) {
        *o = f
            .parse()
            .map_err(|_| bad(line, format!("{f:?} is not a counter")))?;
    }
    Ok(out)
}

/// Parses an `xprt:` line's fields after `xprt:` for stats version `vers`.
fn transport(fields: &[&str], vers: &str, line: usize) -> Result<Transport, CollectError> {
    let (protocol, rest) = fields
        .split_first()
        .ok_or_else(|| bad(line, "xprt without a protocol"))?;
    let lengths_ok = match (vers, *protocol) {
        ("1.0", "tcp") => rest.len() == 10,
        ("1.0", "udp") => rest.len() == 7,
        ("1.1", "tcp") => rest.len() == 13,
        ("1.1", "udp") => rest.len() == 10,
        ("1.1", "rdma") => rest.len() >= 20,
        _ => {
            return Err(bad(
                line,
                format!("transport {protocol:?} in stats version {vers:?}"),
            ))
        }
    };
    if !lengths_ok {
        return Err(bad(
            line,
            format!("{} fields for {protocol} stats {vers}", rest.len()),
        ));
    }
    let mut n = Vec::with_capacity(13);
    for f in rest {
        n.push(
            f.parse::<u64>()
                .map_err(|_| bad(line, format!("{f:?} is not a counter")))?,
        );
    }
    match *protocol {
        // udp has no connect count, connect time or idle time.
        "udp" => {
            n.splice(2..2, [0, 0, 0]);
        }
        // rdma has no slot or queue counters after the first ten.
        "rdma" => {
            n.splice(10..10, [0, 0, 0]);
        }
        _ => {}
    }
    n.resize(n.len().max(13), 0);
    Ok(Transport {
        protocol: (*protocol).to_owned(),
        bind: n[1],
        connect: n[2],
        idle_seconds: n[4],
        sends: n[5],
        receives: n[6],
        bad_xids: n[7],
        backlog: n[9],
        max_slots: n[10],
        sending_queue: n[11],
        pending_queue: n[12],
    })
}

fn operation(fields: &[&str], line: usize) -> Result<Operation, CollectError> {
    if fields.len() < 9 {
        return Err(bad(
            line,
            "a per-operation line needs a name and 8 counters",
        ));
    }
    let mut n = Vec::with_capacity(fields.len() - 1);
    for f in &fields[1..] {
        n.push(
            f.parse::<u64>()
                .map_err(|_| bad(line, format!("{f:?} is not a counter")))?,
        );
    }
    Ok(Operation {
        name: fields[0].trim_end_matches(':').to_owned(),
        requests: n[0],
        transmissions: n[1],
        major_timeouts: n[2],
        bytes_sent: n[3],
        bytes_received: n[4],
        queue_ms: n[5],
        response_ms: n[6],
        request_ms: n[7],
        errors: n.get(8).copied().unwrap_or(0),
    })
}

/// Parses `/proc/self/mountstats`.
pub fn parse(text: &str) -> Result<Vec<Mount>, CollectError> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l)).peekable();
    let mut mounts = Vec::new();
    while let Some((no, line)) = lines.next() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.first() != Some(&"device") {
            continue;
        }
        // device DEV mounted on MOUNT with fstype TYPE [statvers=V]
        if f.len() < 8 || f[2] != "mounted" || f[3] != "on" || f[5] != "with" || f[6] != "fstype" {
            return Err(bad(no, "expected \"device D mounted on M with fstype T\""));
        }
        let mut mount = Mount {
            device: f[1].to_owned(),
            mount_point: f[4].to_owned(),
            fstype: f[7].to_owned(),
            nfs: None,
        };
        if f.len() > 8 {
            if !matches!(f[7], "nfs" | "nfs4") {
                return Err(bad(no, format!("statistics for fstype {:?}", f[7])));
            }
            let vers = f[8].trim_start_matches("statvers=");
            let mut stats = NfsStats::default();
            // The header lines, up to "per-op statistics".
            for (no, line) in lines.by_ref() {
                let f: Vec<&str> = line.split_whitespace().collect();
                match f.first() {
                    None => break,
                    Some(&"age:") => {
                        stats.age_seconds = numbers::<1>(&f[1..], no)?[0];
                    }
                    Some(&"bytes:") => stats.bytes = numbers(&f[1..], no)?,
                    Some(&"events:") => stats.events = numbers(&f[1..], no)?,
                    Some(&"xprt:") => stats.transports.push(transport(&f[1..], vers, no)?),
                    Some(&"per-op") => break,
                    Some(_) => {}
                }
            }
            // Per-operation lines, up to the blank line ending the block.
            while let Some(&(no, line)) = lines.peek() {
                let f: Vec<&str> = line.split_whitespace().collect();
                if f.is_empty() || f[0] == "device" {
                    break;
                }
                lines.next();
                stats.operations.push(operation(&f, no)?);
            }
            mount.nfs = Some(stats);
        }
        mounts.push(mount);
    }
    Ok(mounts)
}

/// The `addr=` super option of each `/proc/self/mountinfo` line, in order.
pub fn parse_addresses(mountinfo: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let after = line.split(" - ").nth(1).unwrap_or("");
            // FSTYPE SOURCE SUPER_OPTIONS
            let options = after.split_whitespace().nth(2).unwrap_or("");
            options
                .split(',')
                .find_map(|o| o.strip_prefix("addr="))
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

pub struct Mountstats {
    paths: Paths,
}

impl Mountstats {
    pub fn new(paths: Paths) -> Self {
        Mountstats { paths }
    }
}

impl Collector for Mountstats {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let Some(text) = read_if_present(&self.paths.proc("self/mountstats"))? else {
            return Err(CollectError::NoData("/proc/self/mountstats"));
        };
        let mounts = parse(&text)?;
        let addresses = parse_addresses(&read(&self.paths.proc("self/mountinfo"))?);
        encode(&mounts, &addresses, out);
        Ok(())
    }
}

fn encode(mounts: &[Mount], addresses: &[String], out: &mut Metrics) {
    let mut seen_points = HashSet::new();
    let mut seen = HashSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let Some(s) = &m.nfs else { continue };
        let addr = addresses.get(i).map(String::as_str).unwrap_or("");
        for t in &s.transports {
            let id = (m.device.as_str(), t.protocol.as_str(), addr);
            if seen_points.insert((id, m.mount_point.as_str())) {
                out.gauge(
                    "node_mountstats_nfs_mountpoint_info",
                    "Info metric for an NFS mountpoint.",
                )
                .add(
                    &[
                        ("export", &m.device),
                        ("protocol", &t.protocol),
                        ("mountaddr", addr),
                        ("mountpoint", &m.mount_point),
                    ],
                    1.0,
                );
            }
            if !seen.insert(id) {
                break;
            }
            encode_stats(s, &m.device, &t.protocol, addr, out);
        }
    }
}

fn encode_stats(s: &NfsStats, export: &str, protocol: &str, addr: &str, out: &mut Metrics) {
    let labels = [
        ("export", export),
        ("protocol", protocol),
        ("mountaddr", addr),
    ];
    let name = |n: &str| format!("node_mountstats_nfs_{n}");
    out.counter(
        name("age_seconds_total"),
        "The age of the NFS mount in seconds.",
    )
    .add(&labels, s.age_seconds as f64);
    for ((n, help), v) in BYTES.iter().zip(s.bytes) {
        out.counter(name(n), *help).add(&labels, v as f64);
    }
    type Field = fn(&Transport) -> u64;
    let transport: [(&str, &str, bool, Field); 10] = [
        ("transport_bind_total", "Number of times the client has had to establish a connection from scratch to the NFS server.", true, |t| t.bind),
        ("transport_connect_total", "Number of times the client has made a TCP connection to the NFS server.", true, |t| t.connect),
        ("transport_idle_time_seconds", "Duration since the NFS mount last saw any RPC traffic, in seconds.", false, |t| t.idle_seconds % MANTISSA),
        ("transport_sends_total", "Number of RPC requests for this mount sent to the NFS server.", true, |t| t.sends),
        ("transport_receives_total", "Number of RPC responses for this mount received from the NFS server.", true, |t| t.receives),
        ("transport_bad_transaction_ids_total", "Number of times the NFS server sent a response with a transaction ID unknown to this client.", true, |t| t.bad_xids),
        ("transport_backlog_queue_total", "Total number of items added to the RPC backlog queue.", true, |t| t.backlog),
        ("transport_maximum_rpc_slots", "Maximum number of simultaneously active RPC requests ever used.", false, |t| t.max_slots),
        ("transport_sending_queue_total", "Total number of items added to the RPC transmission sending queue.", true, |t| t.sending_queue),
        ("transport_pending_queue_total", "Total number of items added to the RPC transmission pending queue.", true, |t| t.pending_queue),
    ];
    for (i, t) in s.transports.iter().enumerate() {
        let index = i.to_string();
        let with = [
            labels[0],
            labels[1],
            labels[2],
            ("transport", index.as_str()),
        ];
        for (n, help, counter, field) in &transport {
            let f = if *counter {
                out.counter(name(n), *help)
            } else {
                out.gauge(name(n), *help)
            };
            f.add(&with, field(t) as f64);
        }
    }
    type OpField = fn(&Operation) -> f64;
    let operations: [(&str, &str, OpField); 9] = [
        ("operations_requests_total", "Number of requests performed for a given operation.", |o| o.requests as f64),
        ("operations_transmissions_total", "Number of times an actual RPC request has been transmitted for a given operation.", |o| o.transmissions as f64),
        ("operations_major_timeouts_total", "Number of times a request has had a major timeout for a given operation.", |o| o.major_timeouts as f64),
        ("operations_sent_bytes_total", "Number of bytes sent for a given operation, including RPC headers and payload.", |o| o.bytes_sent as f64),
        ("operations_received_bytes_total", "Number of bytes received for a given operation, including RPC headers and payload.", |o| o.bytes_received as f64),
        ("operations_queue_time_seconds_total", "Duration all requests spent queued for transmission for a given operation before they were sent, in seconds.", |o| (o.queue_ms % MANTISSA) as f64 / 1000.0),
        ("operations_response_time_seconds_total", "Duration all requests took to get a reply back after a request for a given operation was transmitted, in seconds.", |o| (o.response_ms % MANTISSA) as f64 / 1000.0),
        ("operations_request_time_seconds_total", "Duration all requests took from when a request was enqueued to when it was completely handled for a given operation, in seconds.", |o| (o.request_ms % MANTISSA) as f64 / 1000.0),
        ("operations_errors_total", "Number of errors for a given operation", |o| (o.errors % MANTISSA) as f64),
    ];
    for o in &s.operations {
        let with = [
            labels[0],
            labels[1],
            labels[2],
            ("operation", o.name.as_str()),
        ];
        for (n, help, field) in &operations {
            out.counter(name(n), *help).add(&with, field(o));
        }
    }
    for (spec, v) in EVENTS.iter().zip(s.events) {
        if let Some((n, help)) = spec {
            out.counter(name(n), *help).add(&labels, v as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NFS4: &str = "device proc mounted on /proc with fstype proc
device srv1:/export/home mounted on /home with fstype nfs4 statvers=1.1
\topts:\trw,vers=4.2,rsize=1048576,wsize=1048576,proto=tcp,addr=192.0.2.10
\tage:\t86400
\tcaps:\tcaps=0x3fffffff,wtmult=512,dtsize=1048576,bsize=0,namlen=255
\tsec:\tflavor=1,pseudoflavor=1
\tevents:\t10 20 30 40 50 60 70 80 90 100 110 120 130 140 150 160 170 180 190 200 210 220 230 240 250 260 270
\tbytes:\t1000 2000 3000 4000 5000 6000 7 8
\tRPC iostats version: 1.1  p/v: 100003/4 (nfs)
\txprt:\ttcp 871 1 2 0 11 300 299 1 6000 12 64 500 40
\tper-op statistics
\t        NULL: 0 0 0 0 0 0 0 0
\t        READ: 100 101 2 20000 400000 1500 9000 10600 3

device srv2:/data mounted on /data with fstype nfs statvers=1.1
\tage:\t60
\tevents:\t0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
\tbytes:\t0 0 0 0 0 0 0 0
\txprt:\tudp 900 3 50 49 0 7 0 10 4 9
\tper-op statistics
\t     GETATTR: 5 5 0 600 700 1 2 3

";

    #[test]
    fn parses_nfs_mounts_in_the_kernels_format() {
        let mounts = parse(NFS4).unwrap();
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[0].nfs, None);
        let home = mounts[1].nfs.as_ref().unwrap();
        assert_eq!(mounts[1].device, "srv1:/export/home");
        assert_eq!(home.age_seconds, 86400);
        assert_eq!(home.bytes, [1000, 2000, 3000, 4000, 5000, 6000, 7, 8]);
        assert_eq!(home.events[26], 270);
        let t = &home.transports[0];
        assert_eq!(
            (t.bind, t.connect, t.idle_seconds, t.sends),
            (1, 2, 11, 300)
        );
        assert_eq!((t.backlog, t.max_slots, t.pending_queue), (12, 64, 40));
        assert_eq!(home.operations.len(), 2);
        let read = &home.operations[1];
        assert_eq!(
            (read.name.as_str(), read.request_ms, read.errors),
            ("READ", 10600, 3)
        );
        // udp: no connect count, connect time or idle time.
        let data = mounts[2].nfs.as_ref().unwrap();
        let t = &data.transports[0];
        assert_eq!(
            (t.bind, t.connect, t.idle_seconds, t.sends, t.receives),
            (3, 0, 0, 50, 49)
        );
        assert_eq!((t.backlog, t.max_slots, t.pending_queue), (0, 10, 9));
        assert_eq!(data.operations[0].errors, 0);
    }

    #[test]
    fn a_short_line_fails_naming_it() {
        let broken = NFS4.replace("\tbytes:\t0 0 0 0 0 0 0 0\n", "\tbytes:\t0 0 0\n");
        let e = parse(&broken).unwrap_err().to_string();
        assert!(e.contains("mountstats line 18"), "{e}");
        let e = parse("device a mounted at /b with fstype nfs\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn reads_the_server_address_from_mountinfo() {
        let info = "22 1 0:21 / /proc rw,nosuid - proc proc rw
40 1 0:45 / /home rw,relatime shared:80 - nfs4 srv1:/export/home rw,vers=4.2,proto=tcp,addr=192.0.2.10,local_lock=none
";
        assert_eq!(parse_addresses(info), ["", "192.0.2.10"]);
    }
}
