//! `interrupts` (off by default): interrupts per CPU from `/proc/interrupts`:
//! `node_interrupts_total{cpu,type,info,devices}`.
//!
//! The header names one column per CPU. A numbered interrupt's line gives
//! its controller (`info`) after the counts and then its devices; a named
//! one (`NMI`, `LOC`) a description. Lines with fewer counts than CPUs
//! (`ERR`, `MIS`, a single total) are skipped, as node_exporter does.
//!
//! `--collector.interrupts.name-include|exclude` filter on the interrupt's
//! name (the `type` label: `NMI`, `11`); `--no-collector.interrupts.include-zeros`
//! leaves out counts of zero (node_exporter 1.12's flags).
//!
//! Decisions: by default every count is reported, zeros included (node_exporter 1.5;
//! 1.12's default). A name listed twice keeps its last line, as
//! node_exporter's map does. A count that is not a number fails the
//! collector, naming the line; so does a line with no `name:` (the kernel
//! writes none; node_exporter skips it).

use crate::exporter::collector::{read, CollectError, Collector, Paths};
use crate::exporter::matcher::DeviceFilter;
use crate::exporter::metrics::Metrics;

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

/// The interrupts collector's flags.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--collector.interrupts.name-include|exclude`.
    pub names: DeviceFilter,
    /// `--collector.interrupts.include-zeros` (default on).
    pub include_zeros: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            names: DeviceFilter::default(),
            include_zeros: true,
        }
    }
}

pub struct Interrupts {
    paths: Paths,
    options: Options,
}

impl Interrupts {
    pub fn new(paths: Paths, options: Options) -> Self {
        Interrupts { paths, options }
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
        for irq in table.iter().filter(|i| !self.options.names.ignored(i.name)) {
            for (cpu, count) in cpus.iter().zip(&irq.counts) {
                if *count == 0.0 && !self.options.include_zeros {
                    continue;
                }
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

    fn gather(options: Options) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        crate::exporter::collector::write_fixture(&dir.path().join("interrupts"), TEXT);
        let paths = Paths {
            procfs: dir.path().into(),
            ..Paths::default()
        };
        let mut m = Metrics::new();
        Interrupts::new(paths, options).update(&mut m).unwrap();
        let f = m.get("node_interrupts_total").unwrap();
        f.samples()
            .map(|s| format!("{}/{}", s.label("type").unwrap(), s.label("cpu").unwrap()))
            .collect()
    }

    #[test]
    fn name_filters_and_zeros_follow_the_flags() {
        assert_eq!(
            gather(Options::default()),
            ["11/0", "11/1", "NMI/0", "NMI/1"]
        );
        let re = |p: &str| Some(crate::exporter::matcher::Matcher::new(p).unwrap());
        let names = |include, exclude| DeviceFilter { include, exclude };
        let only_nmi = Options {
            names: names(re("^NMI$"), None),
            ..Options::default()
        };
        assert_eq!(gather(only_nmi), ["NMI/0", "NMI/1"]);
        let no_nmi = Options {
            names: names(None, re("^NMI$")),
            include_zeros: false,
        };
        assert_eq!(gather(no_nmi), ["11/1"]);
    }
}
