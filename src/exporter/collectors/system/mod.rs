//! The host as its operator sees it: OS release, logins, logind, systemd units, textfiles.

pub mod logind;
pub mod logins;
pub mod os;
pub mod systemd;
pub mod textfile;
