//! Interfaces, protocols and the kernel's network tables. `rtnl.rs` and
//! `ethtool_ioctl.rs` are not collectors: they are the kernel edges
//! (rtnetlink and ethtool-genetlink dumps, the `SIOCETHTOOL` ioctl) that
//! netdev, arp, netclass and ethtool read through. `netclass_netlink.rs`
//! is netclass's `--collector.netclass.netlink` mode, `netclass_dump.rs`
//! its sysfs mode's reads from the link dump on the live `/sys`.

pub mod arp;
pub mod bonding;
pub mod conntrack;
pub mod ethtool;
pub mod ethtool_ioctl;
pub mod infiniband;
pub mod ipvs;
pub mod netclass;
pub mod netclass_dump;
pub mod netclass_netlink;
pub mod netdev;
pub mod netstat;
pub mod rtnl;
pub mod sockstat;
pub mod softnet;
pub mod tcpstat;
pub mod udp_queues;
