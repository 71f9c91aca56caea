//! The one integration-test binary. Each module covers one part; `support`
//! holds what they share (locating the real upstream programs, ports).

mod probe;
mod support;
