//! `nfs`: the NFS client's RPC statistics from `/proc/net/rpc/nfs`
//! (`node_nfs_requests_total{proto,method}` for NFSv2, v3 and v4,
//! `node_nfs_packets_total{protocol}`, `node_nfs_connections_total`,
//! `node_nfs_rpcs_total`, `_rpc_retransmissions_total`,
//! `_rpc_authentication_refreshes_total`), as node_exporter 1.5 exports it.
//! Also owns the reader of the `name number…` lines both this file and
//! `/proc/net/rpc/nfsd` are made of, and the NFSv2/v3 procedure names.
//!
//! Decisions: a `procN` line must hold the count it announces (the kernel
//! writes it so); NFSv4 client lines shorter than the 59 operations
//! node_exporter knows are padded with zeros, as node_exporter does. No
//! file (no NFS client module) exports nothing.

use crate::exporter::collector::{read_or_no_data, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

/// NFSv2 procedures, in the kernel's order.
pub const V2: [&str; 18] = [
    "Null", "GetAttr", "SetAttr", "Root", "Lookup", "ReadLink", "Read", "WrCache", "Write",
    "Create", "Remove", "Rename", "Link", "SymLink", "MkDir", "RmDir", "ReadDir", "FsStat",
];

/// NFSv3 procedures, in the kernel's order.
pub const V3: [&str; 22] = [
    "Null",
    "GetAttr",
    "SetAttr",
    "Lookup",
    "Access",
    "ReadLink",
    "Read",
    "Write",
    "Create",
    "MkDir",
    "SymLink",
    "MkNod",
    "Remove",
    "RmDir",
    "Rename",
    "Link",
    "ReadDir",
    "ReadDirPlus",
    "FsStat",
    "FsInfo",
    "PathConf",
    "Commit",
];

/// NFSv4 client operations node_exporter names, in the kernel's order
/// (`include/linux/nfs4.h`: `LAYOUTGET` before `GETDEVICEINFO`).
const V4_CLIENT: [&str; 59] = [
    "Null",
    "Read",
    "Write",
    "Commit",
    "Open",
    "OpenConfirm",
    "OpenNoattr",
    "OpenDowngrade",
    "Close",
    "Setattr",
    "FsInfo",
    "Renew",
    "SetClientID",
    "SetClientIDConfirm",
    "Lock",
    "Lockt",
    "Locku",
    "Access",
    "Getattr",
    "Lookup",
    "LookupRoot",
    "Remove",
    "Rename",
    "Link",
    "Symlink",
    "Create",
    "Pathconf",
    "StatFs",
    "ReadLink",
    "ReadDir",
    "ServerCaps",
    "DelegReturn",
    "GetACL",
    "SetACL",
    "FsLocations",
    "ReleaseLockowner",
    "Secinfo",
    "FsidPresent",
    "ExchangeID",
    "CreateSession",
    "DestroySession",
    "Sequence",
    "GetLeaseTime",
    "ReclaimComplete",
    "LayoutGet",
    "GetDeviceInfo",
    "LayoutCommit",
    "LayoutReturn",
    "SecinfoNoName",
    "TestStateID",
    "FreeStateID",
    "GetDeviceList",
    "BindConnToSession",
    "DestroyClientID",
    "Seek",
    "Allocate",
    "DeAllocate",
    "LayoutStats",
    "Clone",
];

/// The lines of an RPC statistics file: name and values (the thread
/// histogram of `th` has fractions, so values are floats).
pub type Lines = Vec<(String, Vec<f64>)>;

pub fn parse_lines(what: &str, text: &str) -> Result<Lines, CollectError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut words = line.split_whitespace();
        let Some(name) = words.next() else { continue };
        let values = words
            .map(|w| w.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0))
            .collect::<Option<Vec<f64>>>()
            .ok_or_else(|| {
                CollectError::parse(what, format!("line {}: expected a name and numbers", n + 1))
            })?;
        out.push((name.to_owned(), values));
    }
    Ok(out)
}

/// The values of line `name`, at least `min` of them; `None` when absent.
pub fn line<'a>(
    what: &str,
    lines: &'a Lines,
    name: &str,
    min: usize,
) -> Result<Option<&'a [f64]>, CollectError> {
    match lines.iter().find(|(n, _)| n == name) {
        None => Ok(None),
        Some((_, v)) if v.len() >= min => Ok(Some(v)),
        Some(_) => Err(CollectError::parse(
            what,
            format!("too few values on the {name:?} line"),
        )),
    }
}

/// A `procN count v…` line's values, checked against its count and
/// `min`, as node_exporter checks them.
pub fn procedures<'a>(
    what: &str,
    lines: &'a Lines,
    name: &str,
    min: usize,
) -> Result<Option<&'a [f64]>, CollectError> {
    let Some(v) = line(what, lines, name, 1)? else {
        return Ok(None);
    };
    let count = v[0] as usize;
    if v.len() - 1 != count || count < min {
        return Err(CollectError::parse(
            what,
            format!(
                "the {name:?} line announces {count} values and holds {}",
                v.len() - 1
            ),
        ));
    }
    Ok(Some(&v[1..]))
}

/// `node_*_requests_total{proto,method}` for `names` read from `values`.
pub fn add_requests(
    family: &mut crate::exporter::metrics::Family,
    proto: &str,
    names: &[&str],
    values: &[f64],
    skip: &[&str],
) {
    for (name, v) in names.iter().zip(values) {
        if !skip.contains(name) {
            family.add(&[("method", name), ("proto", proto)], *v);
        }
    }
}

pub struct Nfs {
    paths: Paths,
}

impl Nfs {
    pub fn new(paths: Paths) -> Self {
        Nfs { paths }
    }
}

impl Collector for Nfs {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        const WHAT: &str = "/proc/net/rpc/nfs";
        let text = read_or_no_data(&self.paths.proc("net/rpc/nfs"), "/proc/net/rpc/nfs")?;
        let lines = parse_lines(WHAT, &text)?;
        let zeros = [0.0; 4];
        let net = line(WHAT, &lines, "net", 4)?.unwrap_or(&zeros);
        let rpc = line(WHAT, &lines, "rpc", 3)?.unwrap_or(&zeros);
        let v2 = procedures(WHAT, &lines, "proc2", 18)?;
        let v3 = procedures(WHAT, &lines, "proc3", 22)?;
        let mut v4 = procedures(WHAT, &lines, "proc4", 0)?
            .map(<[f64]>::to_vec)
            .unwrap_or_default();
        v4.resize(v4.len().max(V4_CLIENT.len()), 0.0);

        out.counter(
            "node_nfs_packets_total",
            "Total NFSd network packets (sent+received) by protocol type.",
        )
        .add(&[("protocol", "udp")], net[1])
        .add(&[("protocol", "tcp")], net[2]);
        out.counter(
            "node_nfs_connections_total",
            "Total number of NFSd TCP connections.",
        )
        .add(&[], net[3]);
        out.counter("node_nfs_rpcs_total", "Total number of RPCs performed.")
            .add(&[], rpc[0]);
        out.counter(
            "node_nfs_rpc_retransmissions_total",
            "Number of RPC transmissions performed.",
        )
        .add(&[], rpc[1]);
        out.counter(
            "node_nfs_rpc_authentication_refreshes_total",
            "Number of RPC authentication refreshes performed.",
        )
        .add(&[], rpc[2]);
        let requests = out.counter(
            "node_nfs_requests_total",
            "Number of NFS procedures invoked.",
        );
        add_requests(requests, "2", &V2, v2.unwrap_or(&[0.0; 18]), &[]);
        add_requests(requests, "3", &V3, v3.unwrap_or(&[0.0; 22]), &[]);
        add_requests(requests, "4", &V4_CLIENT, &v4, &[]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_and_checks_procedure_counts() {
        let text = "net 10 1 9 3\nrpc 100 2 101\nproc2 18 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 7\nproc4 3 1 2 3\n";
        let lines = parse_lines("t", text).unwrap();
        assert_eq!(line("t", &lines, "net", 4).unwrap().unwrap()[3], 3.0);
        assert_eq!(
            procedures("t", &lines, "proc2", 18).unwrap().unwrap()[17],
            7.0
        );
        assert_eq!(
            procedures("t", &lines, "proc4", 0).unwrap().unwrap(),
            [1.0, 2.0, 3.0]
        );
        assert!(procedures("t", &lines, "proc4", 18).is_err());
        assert!(line("t", &lines, "proc3", 1).unwrap().is_none());
        assert!(line("t", &lines, "rpc", 5).is_err());
        assert!(parse_lines("t", "malformed line\n").is_err());
        let bad = parse_lines("t", "proc3 22 1 2\n").unwrap();
        assert!(procedures("t", &bad, "proc3", 22).is_err());
        assert_eq!(
            parse_lines("t", "th 8 0 0.000 1.500\n").unwrap()[0].1[3],
            1.5
        );
    }
}
