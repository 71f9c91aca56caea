//! Structured logging to stderr with `tracing`.
//!
//! The filter is `tracing_subscriber`'s `Targets` (`info`,
//! `outpost=debug,hyper=warn`) rather than `EnvFilter`: the same directives
//! people use, without pulling a regex engine into every process.

use std::io::IsTerminal;
use std::str::FromStr;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// Installs the global subscriber. `RUST_LOG` wins over `--log.level`.
pub fn init(level: &str, format: &str) {
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| level.to_owned());
    let filter = Targets::from_str(&directives)
        .or_else(|_| Targets::from_str(level))
        .unwrap_or_else(|_| Targets::new().with_default(tracing::Level::INFO));
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if format == "json" {
        registry.with(fmt.json()).try_init()
    } else {
        registry.with(fmt).try_init()
    };
}
