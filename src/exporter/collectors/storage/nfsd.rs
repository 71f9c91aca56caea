//! `nfsd`: the NFS server's statistics from `/proc/net/rpc/nfsd`
//! (`node_nfsd_*`: reply cache, stale file handles, bytes read and
//! written, threads, read-ahead cache, packets and connections, RPC counts
//! and errors, `node_nfsd_requests_total{proto,method}`), as node_exporter
//! 1.5 exports it; the line reader and procedure names are `nfs.rs`'s.
//!
//! Decisions: the NFSv2/v3 `Null` procedures and the NFSv4 operations
//! node_exporter leaves out (the unused ones, `PutPubFH`, `PutRootFH`,
//! `SetClientID`, `SetClientIDConfirm`) are left out here too; lines the
//! kernel adds that node_exporter does not read are ignored. No file (no
//! NFS server) exports nothing. Operations are numbered as the kernel
//! numbers them; node_exporter 1.5 skips `SETCLIENTID` and
//! `SETCLIENTID_CONFIRM` in its table and so reports ops 35–37 as
//! `Verify`, `Write` and `RelLockOwner`: those three differ from 1.5.

use crate::exporter::collector::{read_or_no_data, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;
use crate::exporter::nfs::{add_requests, line, parse_lines, procedures, V2, V3};

/// NFSv4 operations as `proc4ops` counts them (index 0 is the first value
/// after the count), up to `RELEASE_LOCKOWNER`.
const V4_OPS: [&str; 40] = [
    "Op0Unused",
    "Op1Unused",
    "Op2Future",
    "Access",
    "Close",
    "Commit",
    "Create",
    "DelegPurge",
    "DelegReturn",
    "GetAttr",
    "GetFH",
    "Link",
    "Lock",
    "Lockt",
    "Locku",
    "Lookup",
    "LookupRoot",
    "Nverify",
    "Open",
    "OpenAttr",
    "OpenConfirm",
    "OpenDgrd",
    "PutFH",
    "PutPubFH",
    "PutRootFH",
    "Read",
    "ReadDir",
    "ReadLink",
    "Remove",
    "Rename",
    "Renew",
    "RestoreFH",
    "SaveFH",
    "SecInfo",
    "SetAttr",
    "SetClientID",
    "SetClientIDConfirm",
    "Verify",
    "Write",
    "RelLockOwner",
];

/// The operations node_exporter does not export.
const V4_SKIPPED: [&str; 7] = [
    "Op0Unused",
    "Op1Unused",
    "Op2Future",
    "PutPubFH",
    "PutRootFH",
    "SetClientID",
    "SetClientIDConfirm",
];

pub struct Nfsd {
    paths: Paths,
}

impl Nfsd {
    pub fn new(paths: Paths) -> Self {
        Nfsd { paths }
    }
}

impl Collector for Nfsd {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        const WHAT: &str = "/proc/net/rpc/nfsd";
        let text = read_or_no_data(&self.paths.proc("net/rpc/nfsd"), "/proc/net/rpc/nfsd")?;
        let lines = parse_lines(WHAT, &text)?;
        let zeros = [0.0; 12];
        let get = |name: &str, min: usize| -> Result<&[f64], CollectError> {
            Ok(line(WHAT, &lines, name, min)?.unwrap_or(&zeros))
        };
        let (rc, fh, io, th, ra, net, rpc) = (
            get("rc", 3)?,
            get("fh", 5)?,
            get("io", 2)?,
            get("th", 2)?,
            get("ra", 12)?,
            get("net", 4)?,
            get("rpc", 5)?,
        );
        let v2 = procedures(WHAT, &lines, "proc2", 18)?;
        let v3 = procedures(WHAT, &lines, "proc3", 22)?;
        let mut v4 = procedures(WHAT, &lines, "proc4ops", 39)?
            .map(<[f64]>::to_vec)
            .unwrap_or_default();
        v4.resize(v4.len().max(V4_OPS.len()), 0.0);

        for (name, help, v) in [
            (
                "node_nfsd_reply_cache_hits_total",
                "Total number of NFSd Reply Cache hits (client lost server response).",
                rc[0],
            ),
            (
                "node_nfsd_reply_cache_misses_total",
                "Total number of NFSd Reply Cache an operation that requires caching (idempotent).",
                rc[1],
            ),
            (
                "node_nfsd_reply_cache_nocache_total",
                "Total number of NFSd Reply Cache non-idempotent operations (rename/delete/…).",
                rc[2],
            ),
            (
                "node_nfsd_file_handles_stale_total",
                "Total number of NFSd stale file handles",
                fh[0],
            ),
            (
                "node_nfsd_disk_bytes_read_total",
                "Total NFSd bytes read.",
                io[0],
            ),
            (
                "node_nfsd_disk_bytes_written_total",
                "Total NFSd bytes written.",
                io[1],
            ),
            (
                "node_nfsd_read_ahead_cache_not_found_total",
                "Total number of NFSd read ahead cache not found.",
                ra[11],
            ),
            (
                "node_nfsd_connections_total",
                "Total number of NFSd TCP connections.",
                net[3],
            ),
            (
                "node_nfsd_server_rpcs_total",
                "Total number of NFSd RPCs.",
                rpc[0],
            ),
        ] {
            out.counter(name, help).add(&[], v);
        }
        out.gauge(
            "node_nfsd_server_threads",
            "Total number of NFSd kernel threads that are running.",
        )
        .add(&[], th[0]);
        out.gauge(
            "node_nfsd_read_ahead_cache_size_blocks",
            "How large the read ahead cache is in blocks.",
        )
        .add(&[], ra[0]);
        out.counter(
            "node_nfsd_packets_total",
            "Total NFSd network packets (sent+received) by protocol type.",
        )
        .add(&[("proto", "udp")], net[1])
        .add(&[("proto", "tcp")], net[2]);
        out.counter(
            "node_nfsd_rpc_errors_total",
            "Total number of NFSd RPC errors by error type.",
        )
        .add(&[("error", "fmt")], rpc[2])
        .add(&[("error", "auth")], rpc[3])
        .add(&[("error", "cInt")], rpc[4]);
        let requests = out.counter(
            "node_nfsd_requests_total",
            "Total number NFSd Requests by method and protocol.",
        );
        add_requests(requests, "2", &V2, v2.unwrap_or(&[0.0; 18]), &["Null"]);
        add_requests(requests, "3", &V3, v3.unwrap_or(&[0.0; 22]), &["Null"]);
        add_requests(requests, "4", &V4_OPS, &v4, &V4_SKIPPED);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_v4_operations_by_position() {
        assert_eq!(V4_OPS[3], "Access");
        // The kernel's numbering (op N is value N after the count):
        // SETCLIENTID(_CONFIRM) sit between SETATTR and VERIFY.
        assert_eq!(V4_OPS[34], "SetAttr");
        assert_eq!(V4_OPS[37], "Verify");
        assert_eq!(V4_OPS[38], "Write");
        assert_eq!(V4_OPS[39], "RelLockOwner");
        let values: Vec<f64> = (0..40).map(f64::from).collect();
        let mut m = Metrics::new();
        add_requests(m.counter("r", "h"), "4", &V4_OPS, &values, &V4_SKIPPED);
        let fam = m.get("r").unwrap();
        assert_eq!(fam.len(), 33);
        let write = fam
            .samples()
            .find(|s| s.label("method") == Some("Write"))
            .unwrap();
        assert_eq!(write.value, 38.0);
        let lines = parse_lines("t", "proc4ops 2 0 0\n").unwrap();
        assert!(procedures("t", &lines, "proc4ops", 39).is_err());
    }
}
