//! `sockstat`: socket usage from `/proc/net/sockstat` and
//! `/proc/net/sockstat6` (`node_sockstat_<PROTO>_<field>`), with `mem` also
//! given in bytes (`node_sockstat_TCP_mem_bytes`) as node_exporter does.
//! `sockstat6` is absent when IPv6 is disabled; that is not an error.

use crate::exporter::collector::{read_if_present, CollectError, Collector, Paths};
use crate::exporter::intern;
use crate::exporter::metrics::Metrics;

/// One `PROTO: key value key value` line, or the `sockets: used N` line
/// (protocol `sockets`).
#[derive(Debug, PartialEq)]
pub struct Line {
    pub protocol: String,
    pub fields: Vec<(String, f64)>,
}

pub fn parse(what: &str, text: &str) -> Result<Vec<Line>, CollectError> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (protocol, rest) = line
            .split_once(':')
            .ok_or_else(|| CollectError::parse(what, format!("malformed line {line:?}")))?;
        let parts: Vec<&str> = rest.split_whitespace().collect();
        if parts.is_empty() || parts.len() % 2 != 0 {
            return Err(CollectError::parse(
                what,
                format!("odd key/value pairs in {line:?}"),
            ));
        }
        let fields = parts
            .chunks(2)
            .map(|kv| {
                kv[1]
                    .parse::<u64>()
                    .map(|v| (kv[0].to_owned(), v as f64))
                    .map_err(|_| CollectError::parse(what, format!("bad value in {line:?}")))
            })
            .collect::<Result<_, _>>()?;
        out.push(Line {
            protocol: protocol.trim().to_owned(),
            fields,
        });
    }
    Ok(out)
}

/// Adds the metrics of one parsed file; `mem` is in pages of `page_size`.
pub fn encode(lines: &[Line], page_size: f64, out: &mut Metrics) {
    for line in lines {
        if line.protocol == "sockets" {
            for (key, value) in &line.fields {
                if key == "used" {
                    out.gauge(
                        "node_sockstat_sockets_used",
                        "Number of IPv4 sockets in use.",
                    )
                    .add(&[], *value);
                }
            }
            continue;
        }
        for (key, value) in &line.fields {
            let p = &line.protocol;
            out.gauge(
                intern::concat(&["node_sockstat_", p, "_", key]),
                intern::concat(&["Number of ", p, " sockets in state ", key, "."]),
            )
            .add(&[], *value);
            if key == "mem" {
                out.gauge(
                    intern::concat(&["node_sockstat_", p, "_mem_bytes"]),
                    intern::concat(&["Number of ", p, " sockets in state mem_bytes."]),
                )
                .add(&[], value * page_size);
            }
        }
    }
}

pub struct Sockstat {
    paths: Paths,
    /// The page size, asked once: it cannot change while the process runs.
    page_size: f64,
}

impl Sockstat {
    pub fn new(paths: Paths) -> Self {
        Sockstat {
            paths,
            page_size: page_size(),
        }
    }
}

fn page_size() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096.0, |v| v as f64)
}

impl Collector for Sockstat {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        // Either file may be absent (no IPv4 or IPv6 stack): that table is
        // skipped, and the collector still succeeds, as in node_exporter.
        let v4 = match read_if_present(&self.paths.proc("net/sockstat"))? {
            Some(text) => parse("/proc/net/sockstat", &text)?,
            None => Vec::new(),
        };
        let v6 = match read_if_present(&self.paths.proc("net/sockstat6"))? {
            Some(text) => parse("/proc/net/sockstat6", &text)?,
            None => Vec::new(),
        };
        let page = self.page_size;
        encode(&v4, page, out);
        encode(&v6, page, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "sockets: used 15\nTCP: inuse 3 orphan 0 tw 1 alloc 3 mem 100\nUDP: inuse 0 mem 2\nFRAG: inuse 0 memory 0\n";

    #[test]
    fn names_and_bytes() {
        let lines = parse("x", TEXT).unwrap();
        let mut m = Metrics::new();
        encode(&lines, 4096.0, &mut m);
        assert_eq!(
            m.get("node_sockstat_sockets_used").unwrap().sample(0).value,
            15.0
        );
        assert_eq!(
            m.get("node_sockstat_TCP_mem").unwrap().sample(0).value,
            100.0
        );
        assert_eq!(
            m.get("node_sockstat_TCP_mem_bytes")
                .unwrap()
                .sample(0)
                .value,
            409600.0
        );
        assert_eq!(
            m.get("node_sockstat_UDP_mem_bytes")
                .unwrap()
                .sample(0)
                .value,
            8192.0
        );
        assert!(m.get("node_sockstat_FRAG_memory").is_some());
        assert!(m.get("node_sockstat_FRAG_memory_bytes").is_none());
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(parse("x", "TCP inuse 3\n").is_err());
        assert!(parse("x", "TCP: inuse\n").is_err());
        assert!(parse("x", "TCP: inuse three\n").is_err());
    }
}
