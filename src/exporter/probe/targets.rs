//! The exporter-side target list: `--probe.target NAME=HOST:PORT[,tls]`
//! flags and the `--probe.targets-file`, parsed into [`Entry`]s, merged with
//! unique names, and the file re-read when it changes ([`TargetsFile`]).
//!
//! File format, like agents.txt: one target per line, `NAME HOST:PORT`,
//! optionally followed by the token `tls` (handshake and certificate
//! expiry); `#` starts a comment; blank lines are ignored. Names are 1–128
//! letters, digits, `_`, `.` or `-`, and unique across flags and file.
//! Every error names the file and line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::target::{Target, TargetError};

/// One named target of the background prober.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub target: Target,
    pub tls: bool,
}

/// What is wrong with one line or flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("invalid name {0:?}: use 1-128 letters, digits, '_', '.' or '-'")]
    Name(String),
    #[error("expected NAME HOST:PORT [tls]")]
    Shape,
    #[error("unknown option {0:?} after the target (only `tls` is known)")]
    Option(String),
    #[error(transparent)]
    Target(#[from] TargetError),
}

/// Why a target list could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("reading targets file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {problem}")]
    Line {
        path: PathBuf,
        line: usize,
        problem: EntryError,
    },
    #[error("{where_}: duplicate target name {name:?} (first defined at {first})")]
    Duplicate {
        where_: String,
        name: String,
        first: String,
    },
    #[error("--probe.target {flag:?}: {problem}")]
    Flag { flag: String, problem: EntryError },
}

fn check_name(name: &str) -> Result<(), EntryError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(EntryError::Name(name.to_owned()))
    }
}

fn entry(name: &str, target: &str, option: Option<&str>) -> Result<Entry, EntryError> {
    check_name(name)?;
    let target = Target::parse(target)?;
    let tls = match option {
        None => false,
        Some("tls") => true,
        Some(other) => return Err(EntryError::Option(other.to_owned())),
    };
    Ok(Entry {
        name: name.to_owned(),
        target,
        tls,
    })
}

/// Parses one `--probe.target` value: `NAME=HOST:PORT` or `NAME=HOST:PORT,tls`.
pub fn parse_flag(flag: &str) -> Result<Entry, ListError> {
    let fail = |problem| ListError::Flag {
        flag: flag.to_owned(),
        problem,
    };
    let (name, rest) = flag
        .split_once('=')
        .ok_or_else(|| fail(EntryError::Shape))?;
    let (target, option) = match rest.split_once(',') {
        Some((t, o)) => (t, Some(o)),
        None => (rest, None),
    };
    entry(name, target, option).map_err(fail)
}

/// Parses a targets file's text; `path` is only for messages.
pub fn parse_file(text: &str, path: &Path) -> Result<Vec<Entry>, ListError> {
    let mut out = Vec::new();
    let mut first_line: HashMap<String, usize> = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.split_once('#').map_or(raw, |(before, _)| before);
        let mut words = content.split_whitespace();
        let Some(name) = words.next() else { continue };
        let fail = |problem| ListError::Line {
            path: path.to_owned(),
            line,
            problem,
        };
        let target = words.next().ok_or_else(|| fail(EntryError::Shape))?;
        let option = words.next();
        if words.next().is_some() {
            return Err(fail(EntryError::Shape));
        }
        let e = entry(name, target, option).map_err(fail)?;
        if let Some(first) = first_line.get(&e.name) {
            return Err(ListError::Duplicate {
                where_: format!("{}:{line}", path.display()),
                name: e.name,
                first: format!("line {first}"),
            });
        }
        first_line.insert(e.name.clone(), line);
        out.push(e);
    }
    Ok(out)
}

/// Flag targets followed by file targets, refusing a name used by both.
pub fn merge(flags: &[Entry], file: Vec<Entry>, path: &Path) -> Result<Vec<Entry>, ListError> {
    for e in &file {
        if flags.iter().any(|f| f.name == e.name) {
            return Err(ListError::Duplicate {
                where_: path.display().to_string(),
                name: e.name.clone(),
                first: "--probe.target".into(),
            });
        }
    }
    let mut all = flags.to_vec();
    all.extend(file);
    Ok(all)
}

/// Checks that flag targets have unique names.
pub fn check_flags(flags: &[Entry]) -> Result<(), ListError> {
    for (i, e) in flags.iter().enumerate() {
        if flags[..i].iter().any(|f| f.name == e.name) {
            return Err(ListError::Duplicate {
                where_: "--probe.target".into(),
                name: e.name.clone(),
                first: "an earlier --probe.target".into(),
            });
        }
    }
    Ok(())
}

/// A targets file watched by modification time and size.
#[derive(Debug)]
pub struct TargetsFile {
    path: PathBuf,
    seen: Option<(SystemTime, u64)>,
}

impl TargetsFile {
    pub fn new(path: PathBuf) -> Self {
        TargetsFile { path, seen: None }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Re-reads the file when its mtime or size changed since the last
    /// successful read (`Ok(None)`: unchanged). A failed read is retried on
    /// every call until it succeeds.
    pub async fn reload_if_changed(&mut self) -> Result<Option<Vec<Entry>>, ListError> {
        let read_err = |source| ListError::Read {
            path: self.path.clone(),
            source,
        };
        let meta = tokio::fs::metadata(&self.path).await.map_err(read_err)?;
        let stamp = (meta.modified().map_err(read_err)?, meta.len());
        if self.seen == Some(stamp) {
            return Ok(None);
        }
        let text = tokio::fs::read_to_string(&self.path)
            .await
            .map_err(read_err)?;
        let entries = parse_file(&text, &self.path)?;
        self.seen = Some(stamp);
        Ok(Some(entries))
    }

    /// Forgets the last read, so the next call re-reads (after a rejected list).
    pub fn forget(&mut self) {
        self.seen = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("targets.txt")
    }

    #[test]
    fn parses_names_targets_comments_and_tls() {
        let text = "# databases\n\ndb1 10.0.0.5:5432\n  web  example.com:443 tls # cert too\nv6 [::1]:22\n";
        let got = parse_file(text, p()).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].name, "db1");
        assert_eq!(got[0].target.to_string(), "10.0.0.5:5432");
        assert!(!got[0].tls);
        assert!(got[1].tls);
        assert_eq!(got[2].target.to_string(), "[::1]:22");
    }

    #[test]
    fn errors_name_file_and_line() {
        let err = parse_file("ok 127.0.0.1:1\n\nbad 127.0.0.1:70000\n", p()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("targets.txt:3: port \"70000\""), "{msg}");

        let err = parse_file("a 127.0.0.1:1\nb\n", p()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "targets.txt:2: expected NAME HOST:PORT [tls]"
        );

        let err = parse_file("a http://x:1\n", p()).unwrap_err();
        assert!(err
            .to_string()
            .contains("targets.txt:1: target must be HOST:PORT, not a URL"));

        let err = parse_file("a x.com:1 ssl\n", p()).unwrap_err();
        assert!(err.to_string().contains("unknown option \"ssl\""));

        let err = parse_file("a x.com:1 tls extra\n", p()).unwrap_err();
        assert!(matches!(err, ListError::Line { line: 1, .. }));

        let err = parse_file("b@d x.com:1\n", p()).unwrap_err();
        assert!(err.to_string().contains("invalid name"));
    }

    #[test]
    fn duplicate_names_are_errors() {
        let err = parse_file("a x.com:1\nb x.com:2\na y.com:3\n", p()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "targets.txt:3: duplicate target name \"a\" (first defined at line 1)"
        );
        let flags = vec![parse_flag("a=x.com:1").unwrap()];
        let file = parse_file("a y.com:1\n", p()).unwrap();
        assert!(merge(&flags, file, p()).is_err());
        let twice = vec![
            parse_flag("a=x.com:1").unwrap(),
            parse_flag("a=x.com:2").unwrap(),
        ];
        assert!(check_flags(&twice).is_err());
    }

    #[test]
    fn flags_parse() {
        let e = parse_flag("web=example.com:443,tls").unwrap();
        assert_eq!((e.name.as_str(), e.tls), ("web", true));
        assert!(!parse_flag("db=[::1]:5432").unwrap().tls);
        for bad in [
            "db",
            "=x.com:1",
            "db=x.com:0",
            "db=x.com:1,ssl",
            "db=http://x.com:1",
        ] {
            let err = parse_flag(bad).unwrap_err();
            assert!(
                err.to_string().starts_with("--probe.target"),
                "{bad}: {err}"
            );
        }
    }

    #[tokio::test]
    async fn file_is_reread_only_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.txt");
        std::fs::write(&path, "a 127.0.0.1:1\n").unwrap();
        let mut f = TargetsFile::new(path.clone());
        assert_eq!(f.reload_if_changed().await.unwrap().unwrap().len(), 1);
        assert!(f.reload_if_changed().await.unwrap().is_none());
        std::fs::write(&path, "a 127.0.0.1:1\nb 127.0.0.1:2\n").unwrap();
        assert_eq!(f.reload_if_changed().await.unwrap().unwrap().len(), 2);
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(
            f.reload_if_changed().await,
            Err(ListError::Read { .. })
        ));
    }
}
