//! `os`: `node_os_info` and `node_os_version` from the host's os-release
//! file (`<rootfs>/etc/os-release`, else `<rootfs>/usr/lib/os-release`).

use std::collections::HashMap;

use crate::exporter::collector::{read, read_or_no_data, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

/// `node_os_info`'s labels and the os-release keys they come from.
const INFO_LABELS: [(&str, &str); 12] = [
    ("build_id", "BUILD_ID"),
    ("id", "ID"),
    ("id_like", "ID_LIKE"),
    ("image_id", "IMAGE_ID"),
    ("image_version", "IMAGE_VERSION"),
    ("name", "NAME"),
    ("pretty_name", "PRETTY_NAME"),
    ("variant", "VARIANT"),
    ("variant_id", "VARIANT_ID"),
    ("version", "VERSION"),
    ("version_codename", "VERSION_CODENAME"),
    ("version_id", "VERSION_ID"),
];

/// Parses os-release's shell-like `KEY=value` lines: values may be bare,
/// single-quoted, or double-quoted with backslash escapes.
pub fn parse(text: &str) -> Result<HashMap<String, String>, CollectError> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, raw) = line
            .split_once('=')
            .ok_or_else(|| CollectError::parse("os-release", format!("malformed line {line:?}")))?;
        let bad = || CollectError::parse("os-release", format!("bad quoting in {line:?}"));
        let value = if let Some(inner) = raw.strip_prefix('"') {
            let inner = inner.strip_suffix('"').ok_or_else(bad)?;
            let mut v = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    v.push(chars.next().ok_or_else(bad)?);
                } else {
                    v.push(c);
                }
            }
            v
        } else if let Some(inner) = raw.strip_prefix('\'') {
            inner.strip_suffix('\'').ok_or_else(bad)?.to_owned()
        } else {
            raw.to_owned()
        };
        out.insert(key.trim().to_owned(), value);
    }
    Ok(out)
}

/// The `major.minor` part of `VERSION_ID` as a number (`22.04.3` → 22.04),
/// 0 when it does not start with a number.
pub fn version_number(version_id: &str) -> f64 {
    let mut end = version_id
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(version_id.len());
    if version_id[end..].starts_with('.') {
        let frac = &version_id[end + 1..];
        end += 1 + frac
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(frac.len());
    }
    version_id[..end]
        .trim_end_matches('.')
        .parse()
        .unwrap_or(0.0)
}

pub struct Os {
    paths: Paths,
}

impl Os {
    pub fn new(paths: Paths) -> Self {
        Os { paths }
    }
}

impl Collector for Os {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let primary = self.paths.root("/etc/os-release");
        let text = match read(&primary) {
            Ok(t) => t,
            Err(_) => read_or_no_data(&self.paths.root("/usr/lib/os-release"), "os-release")?,
        };
        let rel = parse(&text)?;
        let get = |k: &str| rel.get(k).map(String::as_str).unwrap_or("");
        let labels: Vec<(&'static str, &str)> =
            INFO_LABELS.iter().map(|(l, k)| (*l, get(k))).collect();
        out.gauge(
            "node_os_info",
            "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, name, pretty_name, variant, variant_id, version, version_codename, version_id.",
        )
        .add(&labels, 1.0);
        // As in node_exporter, no version series when VERSION_ID has no number.
        let version = version_number(get("VERSION_ID"));
        if version > 0.0 {
            out.gauge(
                "node_os_version",
                "Metric containing the major.minor part of the OS version.",
            )
            .add(
                &[
                    ("id", get("ID")),
                    ("id_like", get("ID_LIKE")),
                    ("name", get("NAME")),
                ],
                version,
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quotes_and_escapes() {
        let r = parse("# c\nNAME=\"Debian GNU/Linux\"\nID=debian\nX='a b'\nY=\"say \\\"hi\\\"\"\n")
            .unwrap();
        assert_eq!(r["NAME"], "Debian GNU/Linux");
        assert_eq!(r["ID"], "debian");
        assert_eq!(r["X"], "a b");
        assert_eq!(r["Y"], "say \"hi\"");
    }

    #[test]
    fn versions() {
        assert_eq!(version_number("12"), 12.0);
        assert_eq!(version_number("22.04"), 22.04);
        assert_eq!(version_number("22.04.3"), 22.04);
        assert_eq!(version_number(""), 0.0);
        assert_eq!(version_number("rolling"), 0.0);
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(parse("NAME\n").is_err());
        assert!(parse("NAME=\"open\n").is_err());
    }

    #[test]
    fn falls_back_to_usr_lib() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("usr/lib")).unwrap();
        std::fs::write(
            dir.path().join("usr/lib/os-release"),
            "ID=arch\nNAME=\"Arch Linux\"\n",
        )
        .unwrap();
        let paths = Paths {
            procfs: dir.path().into(),
            sysfs: dir.path().into(),
            rootfs: dir.path().into(),
            udev_data: None,
        };
        let mut m = Metrics::new();
        Os::new(paths).update(&mut m).unwrap();
        assert!(m.get("node_os_version").is_none());
        let s = &m.get("node_os_info").unwrap().sample(0);
        assert_eq!(s.label("name"), Some("Arch Linux"));
        assert_eq!(s.labels().len(), 12);
    }
}
