//! Interfaces, protocols and the kernel's network tables. `rtnl.rs` and
//! `ethtool_ioctl.rs` are not collectors: they are the kernel edges
//! (rtnetlink dumps, the `SIOCETHTOOL` ioctl) that netdev, arp and
//! ethtool read through.

pub mod arp;
pub mod bonding;
pub mod conntrack;
pub mod ethtool;
pub mod ethtool_ioctl;
pub mod infiniband;
pub mod ipvs;
pub mod netclass;
pub mod netdev;
pub mod netstat;
pub mod rtnl;
pub mod sockstat;
pub mod softnet;
pub mod tcpstat;
pub mod udp_queues;
