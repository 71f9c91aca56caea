//! The one integration-test binary. Each module covers one part; `support`
//! holds what they share (locating the real upstream programs, ports).

mod exporter_golden;
mod exporter_textfile;
mod support;
