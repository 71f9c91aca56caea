//! Block devices, RAID, filesystems and network filesystems.

pub mod bcache;
pub mod bcachefs;
pub mod btrfs;
pub mod diskstats;
pub mod dmmultipath;
pub mod fibrechannel;
pub mod filesystem;
pub mod mdadm;
pub mod mountstats;
pub mod nfs;
pub mod nfsd;
pub mod nvme;
pub mod tapestats;
pub mod xfs;
pub mod zfs;
