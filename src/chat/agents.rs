//! The agents the chat knows: a minimal reader of `agents.txt` (`NAME
//! HOST:PORT` per line, `#` comments, blank lines) and the lookup of an agent
//! by name or address. The engine only sees [`Agents`]; the generator's
//! richer inventory parser can replace [`parse`] by building an [`Agents`]
//! from its own records with [`Agents::new`].

use std::path::{Path, PathBuf};

/// One monitored host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// The `agent` label value, e.g. `web1`.
    pub name: String,
    /// `HOST:PORT` of its exporter, the `instance` label without relabelling.
    pub address: String,
}

/// Every known agent, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Agents {
    list: Vec<Agent>,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {problem}")]
    Parse {
        path: PathBuf,
        line: usize,
        problem: String,
    },
}

impl Agents {
    pub fn new(list: Vec<Agent>) -> Self {
        Agents { list }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Agent> {
        self.list.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The agent called `word` by name or by address (exact match; names are
    /// compared case-insensitively, as people type them on phones).
    pub fn resolve(&self, word: &str) -> Option<&Agent> {
        self.list
            .iter()
            .find(|a| a.name == word)
            .or_else(|| self.list.iter().find(|a| a.address == word))
            .or_else(|| self.list.iter().find(|a| a.name.eq_ignore_ascii_case(word)))
    }

    /// The agent a Prometheus series belongs to: its `agent` label, else an
    /// `instance` label equal to an agent's address.
    pub fn of_series(&self, agent: Option<&str>, instance: Option<&str>) -> Option<&Agent> {
        agent
            .and_then(|n| self.list.iter().find(|a| a.name == n))
            .or_else(|| instance.and_then(|i| self.list.iter().find(|a| a.address == i)))
    }

    /// Comma-separated names, for "unknown agent" replies.
    pub fn names(&self) -> Vec<&str> {
        self.list.iter().map(|a| a.name.as_str()).collect()
    }
}

/// Reads and parses `agents.txt`.
pub fn read(path: &Path) -> Result<Agents, AgentsError> {
    let text = std::fs::read_to_string(path).map_err(|source| AgentsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|(line, problem)| AgentsError::Parse {
        path: path.to_path_buf(),
        line,
        problem,
    })
}

/// Parses `agents.txt` text; the error is (1-based line, problem).
pub fn parse(text: &str) -> Result<Agents, (usize, String)> {
    let mut list: Vec<Agent> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(name), Some(address)) = (words.next(), words.next()) else {
            return Err((line_no, "expected `NAME HOST:PORT`".into()));
        };
        if !valid_name(name) {
            return Err((
                line_no,
                format!("agent name {name:?} may only use letters, digits, `.`, `_` and `-`"),
            ));
        }
        if !valid_address(address) {
            return Err((line_no, format!("address {address:?} is not HOST:PORT")));
        }
        if list.iter().any(|a| a.name == name) {
            return Err((line_no, format!("agent {name:?} is listed twice")));
        }
        list.push(Agent {
            name: name.to_string(),
            address: address.to_string(),
        });
    }
    Ok(Agents { list })
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn valid_address(addr: &str) -> bool {
    let Some((host, port)) = addr.rsplit_once(':') else {
        return false;
    };
    let host_ok = if let Some(inner) = host.strip_prefix('[') {
        inner
            .strip_suffix(']')
            .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    };
    host_ok && port.parse::<u16>().is_ok_and(|p| p > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_addresses_comments() {
        let a = parse(
            "# fleet\nweb1 10.0.0.1:9100\n\n db-1  db.example.com:9100 # primary\nv6 [::1]:9100\n",
        )
        .unwrap();
        assert_eq!(a.names(), vec!["web1", "db-1", "v6"]);
        assert_eq!(a.resolve("db.example.com:9100").unwrap().name, "db-1");
        assert_eq!(a.resolve("WEB1").unwrap().name, "web1");
        assert!(a.resolve(r#"web1"}"#).is_none());
        assert_eq!(a.of_series(None, Some("[::1]:9100")).unwrap().name, "v6");
        assert_eq!(a.of_series(Some("web1"), Some("x:1")).unwrap().name, "web1");
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(parse("web1 10.0.0.1:9100\nweb2\n").unwrap_err().0, 2);
        assert_eq!(parse("we\"b 10.0.0.1:9100").unwrap_err().0, 1);
        assert_eq!(parse("web1 10.0.0.1").unwrap_err().0, 1);
        assert_eq!(parse("web1 h:1\nweb1 h:2").unwrap_err().0, 2);
        assert_eq!(parse("web1 [zz]:1").unwrap_err().0, 1);
    }
}
