//! The collectors, grouped by what they watch. Each file is one
//! collector; the one list of names, flags and help is
//! [`super::collector::Name`], and `super` re-exports every collector
//! under its short path.

pub mod hardware;
pub mod kernel;
pub mod network;
pub mod storage;
pub mod system;
