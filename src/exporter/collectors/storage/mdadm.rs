//! `mdadm`: Linux software RAID arrays from `/proc/mdstat`
//! (`node_md_state{state}`, `node_md_disks{state}`, `node_md_disks_required`,
//! `node_md_blocks`, `node_md_blocks_synced`).
//!
//! Decisions: the file is read as node_exporter's reader (prometheus/procfs)
//! reads it, so that the same odd cases give the same numbers: a `raid0` or
//! `linear` array counts its members from the `[n]` marks of its device line,
//! an inactive array reports zero disks, a sync line that says `PENDING` or
//! `DELAYED` reports zero blocks synced, and a `reshape` leaves the array
//! `active`. A host without md (no `/proc/mdstat`) exports nothing and reports
//! [`CollectError::NoData`], as node_exporter does.

use crate::exporter::collector::{read_text, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

const WHAT: &str = "/proc/mdstat";

/// What an array is doing, as node_exporter's `state` label names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    Active,
    Inactive,
    Recovering,
    Resync,
    Check,
    /// A device-line state node_exporter has no label value for.
    Other,
}

impl Activity {
    /// The `state` label values node_exporter always writes, in its order.
    const LABELS: [(Activity, &'static str); 5] = [
        (Activity::Active, "active"),
        (Activity::Inactive, "inactive"),
        (Activity::Recovering, "recovering"),
        (Activity::Resync, "resync"),
        (Activity::Check, "check"),
    ];
}

/// One array of `/proc/mdstat`.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub name: String,
    pub activity: Activity,
    pub disks_active: u64,
    pub disks_required: u64,
    pub disks_failed: u64,
    pub disks_spare: u64,
    pub blocks: u64,
    pub blocks_synced: u64,
}

fn err(reason: String) -> CollectError {
    CollectError::parse(WHAT, reason)
}

/// Parses the whole of `/proc/mdstat`.
pub fn parse(text: &str) -> Result<Vec<Array>, CollectError> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut arrays = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty()
            || line.starts_with(' ')
            || line.starts_with("Personalities")
            || line.starts_with("unused")
        {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 3 {
            return Err(err(format!(
                "line {}: expected \"mdN : STATE ...\", got {line:?}",
                i + 1
            )));
        }
        let name = fields[0];
        if lines.len() <= i + 3 {
            return Err(err(format!("line {}: too few lines for {name}", i + 1)));
        }
        let (disks_active, disks_required, blocks) =
            status(line, lines[i + 1]).ok_or_else(|| {
                err(format!(
                    "line {}: malformed status line {:?}",
                    i + 2,
                    lines[i + 1]
                ))
            })?;
        let mut activity = match fields[2] {
            "active" => Activity::Active,
            "inactive" => Activity::Inactive,
            _ => Activity::Other,
        };
        let sync_at = if lines[i + 2].contains("bitmap") {
            i + 3
        } else {
            i + 2
        };
        let sync = lines[sync_at];
        let mut blocks_synced = blocks;
        let (recovery, resync, check) = (
            sync.contains("recovery"),
            sync.contains("resync"),
            sync.contains("check"),
        );
        if recovery || resync || check {
            activity = if recovery {
                Activity::Recovering
            } else if check {
                Activity::Check
            } else {
                Activity::Resync
            };
            blocks_synced = if sync.contains("PENDING") || sync.contains("DELAYED") {
                0
            } else {
                synced(sync).ok_or_else(|| {
                    err(format!(
                        "line {}: malformed sync line {sync:?}",
                        sync_at + 1
                    ))
                })?
            };
        }
        arrays.push(Array {
            name: name.to_owned(),
            activity,
            disks_active,
            disks_required,
            disks_failed: line.matches("(F)").count() as u64,
            disks_spare: line.matches("(S)").count() as u64,
            blocks,
            blocks_synced,
        });
    }
    Ok(arrays)
}

/// `(active, required, blocks)` from an array's device and status lines.
fn status(device: &str, status: &str) -> Option<(u64, u64, u64)> {
    let blocks: u64 = status.split_whitespace().next()?.parse().ok()?;
    if device.contains("raid0") || device.contains("linear") {
        let members = device.matches('[').count() as u64;
        return Some((members, members, blocks));
    }
    if device.contains("inactive") {
        return Some((0, 0, blocks));
    }
    // `... N blocks ... [required/active] [UU_]`: the last such pair.
    let after_blocks = &status[status.find(" blocks ")?..];
    let (head, tail) = after_blocks.rsplit_once("] [")?;
    let marks = tail.strip_suffix(']').or_else(|| tail.split(']').next())?;
    if marks.is_empty() || !marks.bytes().all(|b| b == b'U' || b == b'_') {
        return None;
    }
    let counts = &head[head.rfind('[')? + 1..];
    let (required, active) = counts.split_once('/')?;
    Some((active.parse().ok()?, required.parse().ok()?, blocks))
}

/// Blocks done from a sync line (`... = 18.7% (548012672/2930135040)
/// finish=251.3min speed=157967K/sec`). Like node_exporter, a line whose
/// percentage, finish time or speed does not parse is an error.
fn synced(line: &str) -> Option<u64> {
    let open = line.find('(')?;
    let (done, _) = line[open + 1..].split_once(')')?.0.split_once('/')?;
    let done = done.parse().ok()?;
    let pct = line.split_once("= ")?.1.split_once('%')?.0;
    pct.trim().parse::<f64>().ok()?;
    let finish = line.split_once("finish=")?.1.split_once("min")?.0;
    finish.parse::<f64>().ok()?;
    let speed = line.split_once("speed=")?.1;
    let upper = speed.rfind(|c: char| c.is_ascii_uppercase())?;
    speed[..upper].parse::<f64>().ok()?;
    Some(done)
}

pub struct Mdadm {
    paths: Paths,
}

impl Mdadm {
    pub fn new(paths: Paths) -> Self {
        Mdadm { paths }
    }
}

impl Collector for Mdadm {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let path = self.paths.proc("mdstat");
        let text = match read_text(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CollectError::NoData(WHAT))
            }
            Err(source) => return Err(CollectError::Read { path, source }),
        };
        let arrays = parse(&text)?;
        encode(&arrays, out);
        Ok(())
    }
}

fn encode(arrays: &[Array], out: &mut Metrics) {
    let gauge = |v: u64| v as f64;
    for a in arrays {
        let dev = a.name.as_str();
        out.gauge("node_md_disks_required", "Total number of disks of device.")
            .add(&[("device", dev)], gauge(a.disks_required));
        let disks = out.gauge(
            "node_md_disks",
            "Number of active/failed/spare disks of device.",
        );
        for (state, n) in [
            ("active", a.disks_active),
            ("failed", a.disks_failed),
            ("spare", a.disks_spare),
        ] {
            disks.add(&[("device", dev), ("state", state)], gauge(n));
        }
        let state = out.gauge("node_md_state", "Indicates the state of md-device.");
        for (activity, label) in Activity::LABELS {
            let on = if a.activity == activity { 1.0 } else { 0.0 };
            state.add(&[("device", dev), ("state", label)], on);
        }
        out.gauge("node_md_blocks", "Total number of blocks on device.")
            .add(&[("device", dev)], gauge(a.blocks));
        out.gauge(
            "node_md_blocks_synced",
            "Number of blocks synced on device.",
        )
        .add(&[("device", dev)], gauge(a.blocks_synced));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MDSTAT: &str = "\
Personalities : [raid1] [raid6] [raid5] [raid4] [raid0]
md2 : active raid6 sdh1[3] sdg1[2] sdf1[1] sde1[0]
      5860270080 blocks super 1.2 level 6, 512k chunk, algorithm 2 [4/4] [UUUU]
      [===>.................]  resync = 18.7% (548012672/2930135040) finish=251.3min speed=157967K/sec
      bitmap: 18/22 pages [72KB], 65536KB chunk

md1 : active raid5 sdd1[3](F) sdc1[1] sdb1[0] sde1[4](S)
      1953260544 blocks super 1.2 level 5, 512k chunk, algorithm 2 [3/2] [UU_]
      bitmap: 2/8 pages [8KB], 65536KB chunk

md4 : active raid0 sdp1[1] sdo1[0]
      1953260544 blocks super 1.2 512k chunks
      
md6 : active raid1 sdt1[2] sds1[0]
      976630464 blocks super 1.2 [2/1] [U_]
      \tresync=DELAYED
      
md127 : inactive sdn1[0](S)
      976630488 blocks super 1.2
       
unused devices: <none>
";

    #[test]
    fn parses_resyncing_degraded_raid0_delayed_and_inactive_arrays() {
        let a = parse(MDSTAT).unwrap();
        let by = |n: &str| a.iter().find(|a| a.name == n).unwrap().clone();
        let md2 = by("md2");
        assert_eq!(md2.activity, Activity::Resync);
        assert_eq!((md2.disks_active, md2.disks_required), (4, 4));
        assert_eq!((md2.blocks, md2.blocks_synced), (5860270080, 548012672));
        let md1 = by("md1");
        assert_eq!(md1.activity, Activity::Active);
        assert_eq!(
            (
                md1.disks_active,
                md1.disks_required,
                md1.disks_failed,
                md1.disks_spare
            ),
            (2, 3, 1, 1)
        );
        assert_eq!(md1.blocks_synced, md1.blocks);
        let md4 = by("md4");
        assert_eq!((md4.disks_active, md4.disks_required), (2, 2));
        let md6 = by("md6");
        assert_eq!((md6.activity, md6.blocks_synced), (Activity::Resync, 0));
        let md127 = by("md127");
        assert_eq!(md127.activity, Activity::Inactive);
        assert_eq!((md127.disks_active, md127.disks_spare), (0, 1));
        assert_eq!(a.len(), 5);
    }

    #[test]
    fn malformed_input_is_an_error_naming_the_line() {
        let e = parse("md0 : active raid1 sda1[0]\n      blocks [2/2] [UU]\n\n\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/proc/mdstat") && e.contains("line 2"), "{e}");
        assert!(parse("md0 : active\n").is_err());
        assert!(parse("md0 active\n\n\n\n").is_err());
        assert!(parse(
            "md0 : active raid1 sda1[0]\n      10 blocks [2/2] [UU]\n      recovery = x% (1/10)\n\n"
        )
        .is_err());
        assert_eq!(
            parse("Personalities : \nunused devices: <none>\n").unwrap(),
            []
        );
    }
}
