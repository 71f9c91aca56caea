//! `interrupts` (off by default): interrupts per CPU from `/proc/interrupts`:
//! `node_interrupts_total{cpu,type,info,devices}`.
//!
//! The header names one column per CPU. A numbered interrupt's line gives
//! its controller (`info`) after the counts and then its devices; a named
//! one (`NMI`, `LOC`) a description. Lines with fewer counts than CPUs
//! (`ERR`, `MIS`, a single total) are skipped, as node_exporter does.
//!
//! Decisions: every count is reported, zeros included (node_exporter 1.5;
//! 1.12's default). A name listed twice keeps its last line, as
//! node_exporter's map does. A count that is not a number fails the
//! collector, naming the line; so does a line with no `name:` (the kernel
//! writes none; node_exporter skips it).

use super::collector::{read, CollectError, Collector, Paths};
use super::metrics::Metrics;

/// One line of the table, borrowing the file's text.
#[derive(Debug, PartialEq)]
pub struct Interrupt<'a> {
    pub name: &'a str,
    pub info: String,
    pub devices: String,
    pub counts: Vec<f64>,
}

/// Parses `/proc/interrupts`.
pub fn parse(text: &str) -> Result<Vec<Interrupt<'_>>, CollectError> {
    const WHAT: &str = "/proc/interrupts";
    let mut lines = text.lines();
    let cpus = lines
        .next()
        .ok_or_else(|| CollectError::parse(WHAT, "empty file"))?
        .split_whitespace()
        .count();
    let mut out: Vec<Interrupt> = Vec::new();
    for (n, line) in lines.enumerate() {
        // aarch64 may print no space between the name's colon and the counts.
        if line.trim().is_empty() {
            continue;
        }
        let Some((name, rest)) = line.split_once(':') else {
            return Err(CollectError::parse(
                format!("{WHAT} line {}", n + 2),
                format!("no `name:` in {line:?}"),
            ));
        };
        let parts: Vec<&str> = rest.split_whitespace().collect();
        if parts.len() < cpus + 1 {
            continue;
        }
        let counts = parts[..cpus]
            .iter()
            .map(|c| c.parse::<f64>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                CollectError::parse(
                    format!("{WHAT} line {}", n + 2),
                    format!("bad count in {line:?}"),
                )
            })?;
        let name = name.trim_start_matches(' ');
        let (info, devices) = if name.parse::<i64>().is_ok() {
            (parts[cpus].to_owned(), parts[cpus + 1..].join(" "))
        } else {
            (parts[cpus..].join(" "), String::new())
        };
        let irq = Interrupt {
            name,
            info,
            devices,
            counts,
        };
        match out.iter_mut().find(|i| i.name == name) {
            Some(old) => *old = irq,
            None => out.push(irq),
        }
    }
    Ok(out)
}

pub struct Interrupts {
    paths: Paths,
}

impl Interrupts {
    pub fn new(paths: Paths) -> Self {
        Interrupts { paths }
    }
}

impl Collector for Interrupts {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let text = read(&self.paths.proc("interrupts"))?;
        let table = parse(&text)?;
        let cpus: Vec<String> = (0..table.first().map_or(0, |i| i.counts.len()))
            .map(|c| c.to_string())
            .collect();
        let f = out.counter("node_interrupts_total", "Interrupt details.");
        for irq in &table {
            for (cpu, count) in cpus.iter().zip(&irq.counts) {
                f.add(
                    &[
                        ("cpu", cpu),
                        ("type", irq.name),
                        ("info", &irq.info),
                        ("devices", &irq.devices),
                    ],
                    *count,
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "           CPU0       CPU1
 11:          0         37   IO-APIC  11-fasteoi   virtio3, uhci_hcd:usb1
NMI:          4          0   Non-maskable interrupts
ERR:          0
";

    #[test]
    fn numbered_and_named_interrupts() {
        let t = parse(TEXT).unwrap();
        assert_eq!(t.len(), 2, "ERR has one column and is skipped");
        assert_eq!(
            t[0],
            Interrupt {
                name: "11",
                info: "IO-APIC".into(),
                devices: "11-fasteoi virtio3, uhci_hcd:usb1".into(),
                counts: vec![0.0, 37.0],
            }
        );
        assert_eq!(t[1].name, "NMI");
        assert_eq!(t[1].info, "Non-maskable interrupts");
        assert_eq!(t[1].devices, "");
        assert_eq!(t[1].counts, [4.0, 0.0]);
    }

    #[test]
    fn no_space_after_the_colon() {
        let t = parse("CPU0 CPU1\n 3:12 13 GICv3 27 Level arch_timer\n").unwrap();
        assert_eq!(t[0].counts, [12.0, 13.0]);
        assert_eq!(t[0].info, "GICv3");
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(parse("").is_err());
        let err = parse("CPU0 CPU1\nNMI: 1 x Non-maskable\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(parse("CPU0\nmalformed line\n").is_err());
    }
}
