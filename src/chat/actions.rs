//! The client of agents' signed actions (`outpost exporter
//! --actions.config`): signs each request with the bridge's (or the
//! operator's) private key through [`crate::signing`], talks TLS to the
//! agent's actions listener and accepts only the certificate pinned in
//! agents.txt, within a time limit. Results are typed where the chat reads
//! them ([`Answer`]), failures are an [`ActionError`].
//!
//! Decisions:
//! - The pin is checked by a rustls verifier of our own ([`Pinned`]): the
//!   leaf certificate's SHA-256 must equal the pin, whatever its issuer,
//!   names or dates (agents use self-signed certificates); the handshake's
//!   signatures are still verified with ring, so only the holder of the
//!   certificate's key can answer. Without a pin there is no connection.
//! - One HTTP client per agent (its pin is part of its TLS config), made on
//!   first use and kept.
//! - The private key file must not be readable by group or others (mode
//!   0600 or stricter), else the key is refused before it is read; the key
//!   never reaches a log, an error or the audit.
//! - Answers larger than [`MAX_ANSWER`] are refused: the agent caps its own
//!   output well below that.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;

use crate::signing::{self, KeyError, Signer};

/// Time to open the TCP connection and finish the TLS handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest answer body read from an agent.
pub const MAX_ANSWER: usize = 1024 * 1024;
/// What a pinned-certificate mismatch says (the test and the reply look for it).
pub const PIN_MISMATCH: &str = "certificate does not match the pinned actions_sha256";

/// Where an agent serves actions: `actions=HOST:PORT` and the SHA-256 of
/// its certificate (`actions_sha256=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub address: String,
    pub cert_sha256: [u8; 32],
}

/// Action arguments, as the agent's `{"args": {…}}` takes them.
pub type Args = BTreeMap<String, serde_json::Value>;

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("actions are off in this bridge: no --actions-key")]
    NoKey,
    #[error("agent {0} accepts no actions (no actions= in agents.txt)")]
    NotServing(String),
    #[error("agent {agent} at {address}: {reason}")]
    Connect {
        agent: String,
        address: String,
        reason: String,
    },
    #[error("agent {agent} did not answer within {}s", .limit.as_secs())]
    Timeout { agent: String, limit: Duration },
    #[error("agent {agent} refused ({status} {error}): {reason}")]
    Refused {
        agent: String,
        status: u16,
        /// The agent's outcome word (`bad_request`, `not_allowed`, `failed` …).
        error: String,
        /// The agent's reason, as it said it (escape before HTML).
        reason: String,
    },
    #[error("agent {agent} answered something unreadable: {reason}")]
    BadAnswer { agent: String, reason: String },
}

impl ActionError {
    /// Whether the agent saw the request and refused it (as opposed to a
    /// connection that never carried it).
    pub fn was_refused(&self) -> bool {
        matches!(self, ActionError::Refused { .. })
    }
}

/// One action's answer and how long it took.
#[derive(Debug, Clone)]
pub struct Answer {
    pub value: serde_json::Value,
    pub duration: Duration,
}

impl Answer {
    /// The answer as `T` (the agent's own result types).
    pub fn typed<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        T::deserialize(&self.value).ok()
    }
}

/// Reads the private key at `path` after checking that only its owner can
/// read it.
pub fn load_key(key_id: &str, path: &Path) -> Result<Signer, KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|error| KeyError::Read {
        path: path.to_owned(),
        error,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Read {
            path: path.to_owned(),
            error: std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "mode {mode:o}: a private key must be readable by its owner only (chmod 600)"
                ),
            ),
        });
    }
    Signer::load(key_id, path)
}

/// The actions client: one signer, one HTTP client per agent.
pub struct Client {
    signer: Option<Arc<Signer>>,
    timeout: Duration,
    http: Mutex<HashMap<String, reqwest::Client>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("signer", &self.signer)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Client {
    /// A client signing with `signer` (`None`: every call is
    /// [`ActionError::NoKey`]); each call ends within `timeout`.
    pub fn new(signer: Option<Arc<Signer>>, timeout: Duration) -> Self {
        Client {
            signer,
            timeout,
            http: Mutex::default(),
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn http_for(&self, endpoint: &Endpoint) -> Result<reqwest::Client, String> {
        let mut map = self.http.lock().unwrap_or_else(|p| p.into_inner());
        let key = format!(
            "{}#{}",
            endpoint.address,
            signing::hex(&endpoint.cert_sha256)
        );
        if let Some(c) = map.get(&key) {
            return Ok(c.clone());
        }
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls_config(endpoint.cert_sha256))
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        map.insert(key, client.clone());
        Ok(client)
    }

    /// Runs `action` with `args` on `agent` (its agents.txt name) at
    /// `endpoint`.
    pub async fn call(
        &self,
        agent: &str,
        endpoint: Option<&Endpoint>,
        action: &str,
        args: &Args,
    ) -> Result<Answer, ActionError> {
        let signer = self.signer.as_ref().ok_or(ActionError::NoKey)?;
        let endpoint = endpoint.ok_or_else(|| ActionError::NotServing(agent.to_owned()))?;
        let connect = |reason: String| ActionError::Connect {
            agent: agent.to_owned(),
            address: endpoint.address.clone(),
            reason,
        };
        let http = self.http_for(endpoint).map_err(connect)?;
        let path = format!("{}{action}", crate::exporter::actions::PATH_PREFIX);
        let body = serde_json::to_vec(&serde_json::json!({ "args": args }))
            .map_err(|e| connect(e.to_string()))?;
        let now = jiff::Timestamp::now().as_second();
        let headers = signer.sign("POST", &path, agent, &body, now);
        let mut request = http
            .post(format!("https://{}{path}", endpoint.address))
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            request = request.header(k, v);
        }
        let started = Instant::now();
        let timeout = |_| ActionError::Timeout {
            agent: agent.to_owned(),
            limit: self.timeout,
        };
        let send = async {
            let response = request.send().await.map_err(|e| classify(&e))?;
            let status = response.status().as_u16();
            let bytes = read_capped(response).await?;
            Ok::<_, String>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(self.timeout, send)
            .await
            .map_err(timeout)?
            .map_err(connect)?;
        let duration = started.elapsed();
        let bad = |reason: String| ActionError::BadAnswer {
            agent: agent.to_owned(),
            reason,
        };
        if status == 200 {
            let value = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
            return Ok(Answer { value, duration });
        }
        #[derive(serde::Deserialize)]
        struct Refusal {
            error: String,
            reason: String,
        }
        let r: Refusal = serde_json::from_slice(&bytes)
            .map_err(|_| bad(format!("HTTP {status} without the agent's refusal body")))?;
        Err(ActionError::Refused {
            agent: agent.to_owned(),
            status,
            error: r.error,
            reason: r.reason,
        })
    }
}

async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| classify(&e))? {
        if out.len() + chunk.len() > MAX_ANSWER {
            return Err(format!("answer over {MAX_ANSWER} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// A transport error's cause in words, naming a pin mismatch plainly.
fn classify(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    let mut deepest = e.to_string();
    while let Some(s) = source {
        let text = s.to_string();
        if text.contains(PIN_MISMATCH) {
            return PIN_MISMATCH.to_string();
        }
        deepest = text;
        source = s.source();
    }
    if e.is_timeout() {
        return "timed out".into();
    }
    deepest
}

/// TLS that accepts only the certificate whose SHA-256 is `pin`.
fn tls_config(pin: [u8; 32]) -> rustls::ClientConfig {
    crate::tls::client_config(Pinned(crate::pin::CertSha256(pin)))
}

/// Accepts exactly one certificate (see the module docs).
#[derive(Debug)]
struct Pinned(crate::pin::CertSha256);

impl crate::tls::LeafCheck for Pinned {
    fn check(&self, end_entity: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        // The one definition of the pin (SHA-256 of the DER, compared in
        // constant time) is the inventory's.
        if self.0.matches(end_entity.as_ref()) {
            Ok(())
        } else {
            Err(rustls::Error::General(PIN_MISMATCH.into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_readable_by_others_is_refused_unread() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        signing::generate(&path).unwrap();
        assert!(load_key("bridge", &path).is_ok());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load_key("bridge", &path).unwrap_err().to_string();
        assert!(e.contains("mode 644") && e.contains("chmod 600"), "{e}");
        let key = std::fs::read_to_string(&path).unwrap();
        assert!(!e.contains(key.trim()));
    }

    #[tokio::test]
    async fn no_key_or_no_endpoint_never_connects() {
        let c = Client::new(None, Duration::from_secs(1));
        let e = c.call("web1", None, "ports", &Args::new()).await;
        assert!(matches!(e, Err(ActionError::NoKey)));
        let dir = tempfile::tempdir().unwrap();
        signing::generate(&dir.path().join("k")).unwrap();
        let s = Arc::new(load_key("bridge", &dir.path().join("k")).unwrap());
        let c = Client::new(Some(s), Duration::from_secs(1));
        let e = c.call("web1", None, "ports", &Args::new()).await;
        assert!(matches!(e, Err(ActionError::NotServing(_))));
    }
}
