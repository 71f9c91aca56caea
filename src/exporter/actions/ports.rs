//! `ports`: listening TCP and UDP sockets with the processes that own
//! them, from `/proc/net/{tcp,tcp6,udp,udp6}` and the `socket:[INODE]`
//! links under `/proc/PID/fd`. Also finds who listens on one port for
//! `kill-port`.
//!
//! Decisions:
//! - A listening TCP socket is state `0A` (LISTEN); a UDP socket counts
//!   when it is unconnected (state `07`), as `ss -lu` shows it.
//! - Processes whose `fd` folder cannot be read (another user's, when the
//!   exporter is not root) leave their sockets with no owner rather than
//!   failing the answer.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

/// One process, as `ports` and `top` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub pid: u32,
    pub comm: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    pub protocol: Protocol,
    pub address: IpAddr,
    pub port: u16,
    pub inode: u64,
    pub owners: Vec<Owner>,
}

/// A socket from one line of `/proc/net/*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    pub address: IpAddr,
    pub port: u16,
    pub state: u8,
    pub inode: u64,
}

/// Parses `/proc/net/tcp`-format text (tcp, tcp6, udp, udp6 share it).
pub fn parse_net(text: &str) -> Vec<Socket> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (addr, port) = f.get(1)?.split_once(':')?;
            Some(Socket {
                address: parse_addr(addr)?,
                port: u16::from_str_radix(port, 16).ok()?,
                state: u8::from_str_radix(f.get(3)?, 16).ok()?,
                inode: f.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// The kernel prints addresses as 32-bit words in host (little-endian) order.
fn parse_addr(hex: &str) -> Option<IpAddr> {
    let words: Option<Vec<u32>> = (0..hex.len() / 8)
        .map(|i| u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16).ok())
        .collect();
    let bytes: Vec<u8> = words?.iter().flat_map(|w| w.to_le_bytes()).collect();
    match bytes.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(
            bytes[0], bytes[1], bytes[2], bytes[3],
        ))),
        16 => Some(IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(bytes).ok()?,
        ))),
        _ => None,
    }
}

const TCP_LISTEN: u8 = 0x0A;
const UDP_UNCONNECTED: u8 = 0x07;

/// Socket inode → the processes holding it, from `/proc/PID/fd`.
pub fn socket_owners(procfs: &Path) -> HashMap<u64, Vec<Owner>> {
    let mut owners: HashMap<u64, Vec<Owner>> = HashMap::new();
    for pid in pids(procfs) {
        let Ok(fds) = std::fs::read_dir(procfs.join(pid.to_string()).join("fd")) else {
            continue;
        };
        let mut comm = None;
        for fd in fds.flatten() {
            let Ok(link) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let Some(inode) = link
                .to_str()
                .and_then(|l| l.strip_prefix("socket:["))
                .and_then(|l| l.strip_suffix(']'))
                .and_then(|l| l.parse::<u64>().ok())
            else {
                continue;
            };
            let comm = comm.get_or_insert_with(|| read_comm(procfs, pid)).clone();
            let list = owners.entry(inode).or_default();
            if !list.iter().any(|o| o.pid == pid) {
                list.push(Owner { pid, comm });
            }
        }
    }
    owners
}

/// The numeric entries of `/proc`.
pub fn pids(procfs: &Path) -> Vec<u32> {
    let mut pids: Vec<u32> = std::fs::read_dir(procfs)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids
}

pub fn read_comm(procfs: &Path, pid: u32) -> String {
    std::fs::read_to_string(procfs.join(pid.to_string()).join("comm"))
        .map(|s| s.trim_end().to_owned())
        .unwrap_or_default()
}

/// Every listening socket with its owners, sorted by protocol, port, address.
pub fn listeners(procfs: &Path) -> std::io::Result<Vec<Listener>> {
    let mut found = Vec::new();
    for (file, protocol, state) in [
        ("tcp", Protocol::Tcp, TCP_LISTEN),
        ("tcp6", Protocol::Tcp, TCP_LISTEN),
        ("udp", Protocol::Udp, UDP_UNCONNECTED),
        ("udp6", Protocol::Udp, UDP_UNCONNECTED),
    ] {
        let text = match std::fs::read_to_string(procfs.join("net").join(file)) {
            Ok(t) => t,
            // No IPv6 on this host.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && file.ends_with('6') => continue,
            Err(e) => return Err(e),
        };
        found.extend(
            parse_net(&text)
                .into_iter()
                .filter(|s| s.state == state)
                .map(|s| (protocol, s)),
        );
    }
    let owners = socket_owners(procfs);
    let mut out: Vec<Listener> = found
        .into_iter()
        .map(|(protocol, s)| Listener {
            protocol,
            address: s.address,
            port: s.port,
            inode: s.inode,
            owners: owners.get(&s.inode).cloned().unwrap_or_default(),
        })
        .collect();
    out.sort_by(|a, b| {
        (a.protocol as u8, a.port, a.address).cmp(&(b.protocol as u8, b.port, b.address))
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_socket_lines() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 41235 1 0000000000000000 100 0 0 10 0\n\
   1: 0100007F:8B2C 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 41299 1 0000000000000000 20 4 30 10 -1\n";
        let s = parse_net(tcp);
        assert_eq!(
            s[0],
            Socket {
                address: "127.0.0.1".parse().unwrap(),
                port: 8080,
                state: 0x0A,
                inode: 41235
            }
        );
        assert_eq!(s[1].state, 1);
        let tcp6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0000000000000000 100 0 0 10 0\n";
        let s = parse_net(tcp6);
        assert_eq!(s[0].address, "::1".parse::<IpAddr>().unwrap());
        assert_eq!((s[0].port, s[0].inode), (22, 1234));
    }

    #[test]
    fn owners_come_from_fd_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("net")).unwrap();
        std::fs::write(
            root.join("net/tcp"),
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0\n",
        )
        .unwrap();
        std::fs::write(root.join("net/udp"), "  sl  local_address\n").unwrap();
        std::fs::create_dir_all(root.join("42/fd")).unwrap();
        std::fs::write(root.join("42/comm"), "nginx\n").unwrap();
        std::os::unix::fs::symlink("socket:[777]", root.join("42/fd/3")).unwrap();
        std::os::unix::fs::symlink("/dev/null", root.join("42/fd/0")).unwrap();
        let l = listeners(root).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!((l[0].protocol, l[0].port), (Protocol::Tcp, 80));
        assert_eq!(
            l[0].owners,
            vec![Owner {
                pid: 42,
                comm: "nginx".into()
            }]
        );
    }
}
