//! `cpu_vulnerabilities` (off by default; node_exporter 1.7+): the kernel's
//! verdict on each CPU vulnerability, from
//! `/sys/devices/system/cpu/vulnerabilities/<codename>`:
//! `node_cpu_vulnerabilities_info{codename,state,mitigation} 1`.
//!
//! A file reads `Not affected`, `Vulnerable[: how]`, `Mitigation: how` or
//! (kernel 6.5+) `Unknown: why`; the state label is the lower-cased word
//! and the mitigation label the rest.
//!
//! Decisions: as node_exporter (through procfs), any other text fails the
//! collector, naming the file, and so does a second line (the kernel
//! writes one; procfs would read the first); the `Unknown` state follows newer procfs
//! releases (`unknown`). No directory exports nothing.

use crate::exporter::collector::{entries, read, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

/// A vulnerability file's verdict: the state label and the mitigation.
pub fn parse(text: &str) -> Option<(&'static str, &str)> {
    let text = text.trim();
    if text.contains('\n') {
        return None;
    }
    if text == "Not affected" {
        return Some(("not affected", ""));
    }
    for (word, state) in [
        ("Vulnerable", "vulnerable"),
        ("Mitigation", "mitigation"),
        ("Unknown", "unknown"),
    ] {
        if let Some(rest) = text.strip_prefix(word) {
            return Some((state, rest.strip_prefix(": ").unwrap_or(rest)));
        }
    }
    None
}

pub struct CpuVulnerabilities {
    paths: Paths,
}

impl CpuVulnerabilities {
    pub fn new(paths: Paths) -> Self {
        CpuVulnerabilities { paths }
    }
}

impl Collector for CpuVulnerabilities {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let dir = self.paths.sys("devices/system/cpu/vulnerabilities");
        let mut found = Vec::new();
        for name in entries(&dir)? {
            let path = dir.join(&name);
            let text = read(&path)?;
            if parse(&text).is_none() {
                return Err(CollectError::parse(
                    path.display().to_string(),
                    format!("unknown vulnerability state {:?}", text.trim()),
                ));
            }
            found.push((name, text));
        }
        let f = out.gauge(
            "node_cpu_vulnerabilities_info",
            "Details of each CPU vulnerability reported by sysfs. The value of the series is an int encoded state of the vulnerability. The same state is stored as a string in the label",
        );
        for (name, text) in &found {
            if let Some((state, mitigation)) = parse(text) {
                f.add(
                    &[
                        ("codename", name),
                        ("state", state),
                        ("mitigation", mitigation),
                    ],
                    1.0,
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_mitigations() {
        assert_eq!(parse("Not affected\n"), Some(("not affected", "")));
        assert_eq!(parse("Vulnerable\n"), Some(("vulnerable", "")));
        assert_eq!(
            parse("Vulnerable: Clear CPU buffers attempted, no microcode\n"),
            Some(("vulnerable", "Clear CPU buffers attempted, no microcode"))
        );
        assert_eq!(parse("Mitigation: PTI\n"), Some(("mitigation", "PTI")));
        assert_eq!(
            parse("Unknown: Dependent on hypervisor status"),
            Some(("unknown", "Dependent on hypervisor status"))
        );
    }

    #[test]
    fn other_text_is_not_a_state() {
        assert_eq!(parse("malformed line"), None);
        assert_eq!(parse("Mitigation: PTI\nmalformed line\n"), None);
    }
}
