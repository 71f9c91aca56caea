//! The agents the chat knows and the lookup of an agent by name or address.
//! `agents.txt` is parsed by the generator's inventory parser
//! ([`crate::generate::inventory`]), so the chat accepts exactly the file
//! `outpost generate` does (agent labels, `check` lines); the engine only
//! sees [`Agents`].

use std::path::{Path, PathBuf};

use super::actions::Endpoint;
use crate::generate::inventory;

/// One monitored host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// The `agent` label value, e.g. `web1`.
    pub name: String,
    /// `HOST:PORT` of its exporter, the `instance` label without relabelling.
    pub address: String,
    /// Where it serves signed actions (`actions=` and `actions_sha256=`);
    /// `None`: it accepts none.
    pub actions: Option<Endpoint>,
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
    #[error(transparent)]
    Parse(#[from] inventory::ParseError),
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
    parse(&path.display().to_string(), &text)
}

/// Parses `agents.txt` text (`file` names it in errors).
pub fn parse(file: &str, text: &str) -> Result<Agents, AgentsError> {
    Ok(Agents::of(&inventory::parse(file, text)?))
}

impl Agents {
    /// The agents of a parsed inventory (after a config change).
    pub fn of(inv: &inventory::Inventory) -> Agents {
        Agents::new(
            inv.agents
                .iter()
                .map(|a| Agent {
                    actions: endpoint(a),
                    name: a.name.clone(),
                    address: a.address.to_string(),
                })
                .collect(),
        )
    }
}

/// An agent's actions listener and pin, from agents.txt's `actions=` and
/// `actions_sha256=` (parsed by the inventory).
fn endpoint(a: &inventory::Agent) -> Option<Endpoint> {
    let e = a.actions.as_ref()?;
    Some(Endpoint {
        address: e.address.to_string(),
        cert_sha256: e.cert_sha256.0,
    })
}

/// The agents that accept actions, in file order.
impl Agents {
    pub fn with_actions(&self) -> impl Iterator<Item = &Agent> {
        self.list.iter().filter(|a| a.actions.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_by_name_or_address_checks_ignored() {
        let a = parse(
            "agents.txt",
            "# fleet\nweb1 10.0.0.1:9100 role=web\n\n db-1  db.example.com:9100 # primary\nv6 [::1]:9100\ncheck pg db.example.com:5432 from web1\n",
        )
        .unwrap();
        assert_eq!(a.names(), vec!["web1", "db-1", "v6"]);
        assert_eq!(a.resolve("db.example.com:9100").unwrap().name, "db-1");
        assert_eq!(a.resolve("WEB1").unwrap().name, "web1");
        assert!(a.resolve(r#"web1"}"#).is_none());
        assert!(a.resolve("pg").is_none());
        assert_eq!(a.of_series(None, Some("[::1]:9100")).unwrap().name, "v6");
        assert_eq!(a.of_series(Some("web1"), Some("x:1")).unwrap().name, "web1");
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let e = parse("agents.txt", "web1 10.0.0.1:9100\nweb2\n").unwrap_err();
        assert!(e.to_string().starts_with("agents.txt:2:"), "{e}");
        assert!(parse("a", "we\"b 10.0.0.1:9100").is_err());
        assert!(parse("a", "web1 h:1\nweb1 h:2").is_err());
    }
}
