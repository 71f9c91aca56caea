//! `uname`: `node_uname_info{sysname,release,version,machine,nodename,domainname}`
//! from uname(2), with the NIS domain name read from
//! `/proc/sys/kernel/domainname` (through `--path.procfs`).

use crate::exporter::collector::{read_attr, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

#[derive(Debug, Clone, PartialEq)]
pub struct Uname {
    pub sysname: String,
    pub release: String,
    pub version: String,
    pub machine: String,
    pub nodename: String,
    pub domainname: String,
}

pub fn encode(u: &Uname, out: &mut Metrics) {
    out.gauge(
        "node_uname_info",
        "Labeled system information as provided by the uname system call.",
    )
    .add(
        &[
            ("sysname", &u.sysname),
            ("release", &u.release),
            ("version", &u.version),
            ("machine", &u.machine),
            ("nodename", &u.nodename),
            ("domainname", &u.domainname),
        ],
        1.0,
    );
}

pub struct UnameCollector {
    paths: Paths,
}

impl UnameCollector {
    pub fn new(paths: Paths) -> Self {
        UnameCollector { paths }
    }
}

impl Collector for UnameCollector {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let u =
            nix::sys::utsname::uname().map_err(|e| CollectError::Other(format!("uname: {e}")))?;
        let s = |v: &std::ffi::OsStr| v.to_string_lossy().into_owned();
        let info = Uname {
            sysname: s(u.sysname()),
            release: s(u.release()),
            version: s(u.version()),
            machine: s(u.machine()),
            nodename: s(u.nodename()),
            // uname(2) has the domain name too, but reading it through
            // procfs keeps --path.procfs authoritative; "(none)" is what the
            // kernel reports when unset.
            domainname: read_attr(&self.paths.proc("sys/kernel/domainname"))
                .unwrap_or_else(|| "(none)".to_owned()),
        };
        encode(&info, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_the_running_kernel() {
        let mut m = Metrics::new();
        UnameCollector::new(Paths::default())
            .update(&mut m)
            .unwrap();
        let s = &m.get("node_uname_info").unwrap().sample(0);
        let get = |k: &str| s.label(k).unwrap().to_owned();
        assert_eq!(get("sysname"), "Linux");
        assert_eq!(s.labels().len(), 6);
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        assert_eq!(get("release"), release.trim());
    }
}
