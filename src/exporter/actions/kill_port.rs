//! `kill-port PORT`: signals the processes listening on a port, within
//! the configured range, never PID 1 nor the exporter itself (refused
//! before anything is signalled).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{config, ports, Args, ExecError};

pub(super) fn arg(
    args: &BTreeMap<String, serde_json::Value>,
    kp: &config::KillPort,
) -> Result<u16, ExecError> {
    let mut a = Args::new(args);
    let range = u64::from(*kp.ports.start())..=u64::from(*kp.ports.end());
    let port = a
        .int("port", range)?
        .ok_or_else(|| ExecError::Args("missing parameter \"port\"".into()))?;
    a.finish()?;
    Ok(port as u16)
}

/// What `kill-port` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Killed {
    pub port: u16,
    pub signal: &'static str,
    pub signalled: Vec<ports::Owner>,
}

pub(super) fn kill(
    procfs: &std::path::Path,
    port: u16,
    signal: config::KillSignal,
) -> Result<Killed, ExecError> {
    let listeners =
        ports::listeners(procfs).map_err(|e| ExecError::Failed(format!("reading sockets: {e}")))?;
    let mut owners: Vec<ports::Owner> = listeners
        .into_iter()
        .filter(|l| l.port == port)
        .flat_map(|l| l.owners)
        .collect();
    owners.sort_by_key(|o| o.pid);
    owners.dedup_by_key(|o| o.pid);
    if owners.is_empty() {
        return Err(ExecError::Failed(format!(
            "no process this agent can see listens on port {port}"
        )));
    }
    let me = std::process::id();
    if let Some(o) = owners.iter().find(|o| o.pid == 1 || o.pid == me) {
        return Err(ExecError::Args(format!(
            "port {port} belongs to PID {} ({}), which kill-port never signals",
            o.pid, o.comm
        )));
    }
    let (sig, name) = match signal {
        config::KillSignal::Term => (nix::sys::signal::Signal::SIGTERM, "TERM"),
        config::KillSignal::Kill => (nix::sys::signal::Signal::SIGKILL, "KILL"),
        config::KillSignal::Int => (nix::sys::signal::Signal::SIGINT, "INT"),
    };
    for o in &owners {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(o.pid as i32), sig)
            .map_err(|e| ExecError::Failed(format!("signalling PID {}: {e}", o.pid)))?;
    }
    Ok(Killed {
        port,
        signal: name,
        signalled: owners,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_port_never_signals_pid_1_or_the_exporter() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("net")).unwrap();
        let line = |port: u16, inode: u32| {
            format!("   0: 00000000:{port:04X} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 {inode} 1 0 100 0 0 10 0\n")
        };
        std::fs::write(
            root.join("net/tcp"),
            format!("  sl  local_address\n{}{}", line(80, 11), line(81, 12)),
        )
        .unwrap();
        std::fs::write(root.join("net/udp"), "  sl\n").unwrap();
        for (pid, inode) in [(1, 11), (std::process::id(), 12)] {
            std::fs::create_dir_all(root.join(format!("{pid}/fd"))).unwrap();
            std::os::unix::fs::symlink(
                format!("socket:[{inode}]"),
                root.join(format!("{pid}/fd/3")),
            )
            .unwrap();
        }
        for port in [80, 81] {
            match kill(root, port, config::KillSignal::Kill) {
                Err(ExecError::Args(reason)) => {
                    assert!(reason.contains("never signals"), "{reason}")
                }
                _ => panic!("port {port} was not refused"),
            }
        }
        assert!(matches!(
            kill(root, 82, config::KillSignal::Kill),
            Err(ExecError::Failed(_))
        ));
    }
}
