//! The exporter-toolkit web configuration (`--web.config.file`): TLS with
//! rustls, HTTP basic auth with bcrypt hashes and extra response headers,
//! applied around the router served by [`crate::server`].
//!
//! Basic auth compares in constant time with respect to user names: an
//! unknown user is checked against a dummy hash of the same cost, so a wrong
//! password and an unknown user take the same time.
//!
//! Decisions:
//! - Credentials that passed bcrypt are remembered (as digests) and checked
//!   on the async side before any blocking work, so a scraper with the
//!   right password is served at once even while a flood of wrong
//!   passwords keeps bcrypt busy.
//! - At most [`BCRYPT_SLOTS`] bcrypt checks run at once; a request past
//!   that is answered 429 at once instead of queueing for blocking
//!   threads. A right password not yet remembered may meet a 429 while a
//!   flood lasts; the next scrape tries again.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde::Deserialize;
use tokio::net::TcpListener;

#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    #[error("reading web config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing web config {path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("web config {path}: invalid bcrypt hash for user {user:?}")]
    BadHash { path: PathBuf, user: String },
    #[error("web config {path}: {reason}")]
    Tls { path: PathBuf, reason: String },
    #[error("web config {path}: http_server_config.headers: {reason}")]
    Header { path: PathBuf, reason: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
    http_server_config: Option<RawHttp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
    curve_preferences: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[allow(dead_code)] // accepted for compatibility; HTTP/2 is not served
    http2: Option<bool>,
}

/// A loaded, validated web config.
#[derive(Clone)]
pub struct WebConfig {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub users: Arc<Users>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.hashes.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl WebConfig {
    pub fn load(path: &Path) -> Result<Self, WebConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| WebConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses the YAML text; relative file names are relative to `path`'s folder.
    pub fn parse(text: &str, path: &Path) -> Result<Self, WebConfigError> {
        let raw: RawWebConfig = if text.trim().is_empty() {
            RawWebConfig {
                tls_server_config: None,
                basic_auth_users: BTreeMap::new(),
                http_server_config: None,
            }
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| WebConfigError::Parse {
                path: path.to_owned(),
                reason: e.to_string(),
            })?
        };
        for (user, hash) in &raw.basic_auth_users {
            if hash.parse::<bcrypt::HashParts>().is_err() {
                return Err(WebConfigError::BadHash {
                    path: path.to_owned(),
                    user: user.clone(),
                });
            }
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let tls = raw
            .tls_server_config
            .map(|t| build_tls(t, dir, path))
            .transpose()?;
        let headers = raw
            .http_server_config
            .map(|h| parse_headers(h.headers, path))
            .transpose()?
            .unwrap_or_default();
        // The dummy hash has the users' cost, so an unknown user costs as much
        // time as a wrong password.
        let cost = raw
            .basic_auth_users
            .values()
            .filter_map(|h| h.parse::<bcrypt::HashParts>().ok())
            .map(|p| p.get_cost())
            .max()
            .unwrap_or(bcrypt::DEFAULT_COST);
        let dummy = if raw.basic_auth_users.is_empty() {
            String::new()
        } else {
            bcrypt::hash("outpost-dummy-password", cost).map_err(|e| WebConfigError::Parse {
                path: path.to_owned(),
                reason: e.to_string(),
            })?
        };
        Ok(WebConfig {
            tls,
            users: Arc::new(Users {
                hashes: raw.basic_auth_users,
                dummy,
                verified: Default::default(),
                bcrypt_slots: tokio::sync::Semaphore::new(BCRYPT_SLOTS),
            }),
            headers,
        })
    }
}

/// Each header must be a valid HTTP field name and value (no spaces in
/// names, no CR, LF or other control characters in values): a header that
/// cannot be sent is a startup error, not silently left out.
fn parse_headers(
    raw: BTreeMap<String, String>,
    path: &Path,
) -> Result<Vec<(HeaderName, HeaderValue)>, WebConfigError> {
    let err = |reason: String| WebConfigError::Header {
        path: path.to_owned(),
        reason,
    };
    raw.into_iter()
        .map(|(name, value)| {
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| err(format!("{name:?} is not a valid header name")))?;
            let v = HeaderValue::from_str(&value).map_err(|_| {
                err(format!(
                    "the value of {name:?} is not a valid header value (control characters such as CR or LF?)"
                ))
            })?;
            Ok((n, v))
        })
        .collect()
}

fn build_tls(
    t: RawTls,
    dir: &Path,
    cfg_path: &Path,
) -> Result<Arc<rustls::ServerConfig>, WebConfigError> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let _ = (
        &t.cipher_suites,
        t.prefer_server_cipher_suites,
        &t.curve_preferences,
    );
    let err = |reason: String| WebConfigError::Tls {
        path: cfg_path.to_owned(),
        reason,
    };
    let resolve = |p: &Path| {
        if p.is_absolute() {
            p.to_owned()
        } else {
            dir.join(p)
        }
    };
    let cert_file = t
        .cert_file
        .as_deref()
        .map(resolve)
        .ok_or_else(|| err("tls_server_config needs cert_file".into()))?;
    let key_file = t
        .key_file
        .as_deref()
        .map(resolve)
        .ok_or_else(|| err("tls_server_config needs key_file".into()))?;
    let read =
        |p: &Path| std::fs::read(p).map_err(|e| err(format!("reading {}: {e}", p.display())));
    let certs: Vec<CertificateDer<'static>> =
        rustls_pemfile::certs(&mut read(&cert_file)?.as_slice())
            .collect::<Result<_, _>>()
            .map_err(|e| err(format!("parsing {}: {e}", cert_file.display())))?;
    if certs.is_empty() {
        return Err(err(format!("no certificate in {}", cert_file.display())));
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut read(&key_file)?.as_slice())
        .map_err(|e| err(format!("parsing {}: {e}", key_file.display())))?
        .ok_or_else(|| err(format!("no private key in {}", key_file.display())))?;

    let versions: Vec<&'static rustls::SupportedProtocolVersion> = {
        let rank = |v: &str| match v {
            "TLS10" | "TLS11" | "TLS12" => Ok(12),
            "TLS13" => Ok(13),
            other => Err(err(format!("unknown TLS version {other:?}"))),
        };
        let min = t
            .min_version
            .as_deref()
            .map(rank)
            .transpose()?
            .unwrap_or(12);
        let max = t
            .max_version
            .as_deref()
            .map(rank)
            .transpose()?
            .unwrap_or(13);
        let mut v = Vec::new();
        if min <= 12 && max >= 12 {
            v.push(&rustls::version::TLS12);
        }
        if max >= 13 {
            v.push(&rustls::version::TLS13);
        }
        if v.is_empty() {
            return Err(err("min_version is above max_version".into()));
        }
        v
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| err(e.to_string()))?;
    let auth = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let builder = match auth {
        "NoClientCert" | "RequestClientCert" => builder.with_no_client_auth(),
        "RequireAnyClientCert" | "VerifyClientCertIfGiven" | "RequireAndVerifyClientCert" => {
            let ca = t
                .client_ca_file
                .as_deref()
                .map(resolve)
                .ok_or_else(|| err(format!("client_auth_type {auth} needs client_ca_file")))?;
            let mut roots = rustls::RootCertStore::empty();
            for c in rustls_pemfile::certs(&mut read(&ca)?.as_slice()) {
                let c = c.map_err(|e| err(format!("parsing {}: {e}", ca.display())))?;
                roots
                    .add(c)
                    .map_err(|e| err(format!("client CA {}: {e}", ca.display())))?;
            }
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            let v = if auth == "VerifyClientCertIfGiven" {
                v.allow_unauthenticated()
            } else {
                v
            };
            builder.with_client_cert_verifier(v.build().map_err(|e| err(e.to_string()))?)
        }
        other => return Err(err(format!("unknown client_auth_type {other:?}"))),
    };
    let mut cfg = builder
        .with_single_cert(certs, key)
        .map_err(|e| err(format!("certificate and key: {e}")))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The basic-auth users and their bcrypt hashes.
pub struct Users {
    pub hashes: BTreeMap<String, String>,
    /// Checked for unknown users so timing does not reveal which names exist.
    dummy: String,
    /// SHA-256 digests of `user:password` pairs that passed bcrypt, so a
    /// scraper authenticating every 15 s pays for bcrypt once, not per scrape.
    /// Only digests are kept, never passwords; failures are never cached.
    verified: std::sync::Mutex<std::collections::HashSet<[u8; 32]>>,
    /// Bounds the bcrypt checks running at once.
    bcrypt_slots: tokio::sync::Semaphore,
}

/// Most bcrypt checks at once: a few blocking threads, so that a flood of
/// wrong passwords neither fills the blocking pool nor takes every core.
pub const BCRYPT_SLOTS: usize = 4;

/// `user:password` from an `Authorization: Basic` header, and its digest.
pub struct Credentials {
    text: String,
    colon: usize,
    digest: [u8; 32],
}

impl Credentials {
    pub fn from_header(authorization: Option<&str>) -> Option<Self> {
        let text = authorization
            .and_then(|h| h.strip_prefix("Basic "))
            .and_then(|b| base64_decode::decode(b.trim()))?;
        let colon = text.find(':')?;
        let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
            .as_ref()
            .try_into()
            .expect("SHA-256 is 32 bytes");
        Some(Credentials {
            text,
            colon,
            digest,
        })
    }
}

impl Users {
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Whether these credentials already passed bcrypt (cheap: a lookup).
    pub fn is_verified(&self, creds: &Credentials) -> bool {
        self.verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&creds.digest)
    }

    /// The bcrypt check (blocking: tens of milliseconds); remembers success.
    pub fn verify(&self, creds: &Credentials) -> bool {
        let (user, password) = (&creds.text[..creds.colon], &creds.text[creds.colon + 1..]);
        match self.hashes.get(user) {
            Some(hash) => {
                let ok = bcrypt::verify(password, hash).unwrap_or(false);
                if ok {
                    let mut cache = self.verified.lock().unwrap_or_else(|p| p.into_inner());
                    if cache.len() >= 1024 {
                        cache.clear();
                    }
                    cache.insert(creds.digest);
                }
                ok
            }
            None => {
                let _ = bcrypt::verify(password, &self.dummy);
                false
            }
        }
    }
}

/// Checks `Authorization: Basic` against the configured users (blocking).
pub fn check_basic_auth(users: &Users, authorization: Option<&str>) -> bool {
    Credentials::from_header(authorization)
        .is_some_and(|c| users.is_verified(&c) || users.verify(&c))
}

/// Base64 decoding for one header; a dependency for twelve lines is not worth it.
mod base64_decode {
    pub fn decode(s: &str) -> Option<String> {
        let val = |c: u8| -> Option<u32> {
            Some(match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => return None,
            } as u32)
        };
        let s = s.trim_end_matches('=');
        let mut out = Vec::with_capacity(s.len() * 3 / 4);
        let mut acc = 0u32;
        let mut bits = 0;
        for &c in s.as_bytes() {
            acc = (acc << 6) | val(c)?;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
        String::from_utf8(out).ok()
    }
}

async fn basic_auth(users: Arc<Users>, req: Request, next: Next) -> Response {
    let creds = Credentials::from_header(
        req.headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    );
    let ok = match creds {
        None => false,
        Some(c) if users.is_verified(&c) => true,
        Some(c) => {
            let Ok(slot) = users.bcrypt_slots.try_acquire() else {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, "1")],
                    "too many password checks at once, retry later\n",
                )
                    .into_response();
            };
            let users = Arc::clone(&users);
            let ok = tokio::task::spawn_blocking(move || users.verify(&c))
                .await
                .unwrap_or(false);
            drop(slot);
            ok
        }
    };
    if ok {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic")],
            "Unauthorized\n",
        )
            .into_response()
    }
}

/// Applies the web config's auth and headers to `app`.
pub fn secure(app: Router, web: Option<&WebConfig>) -> Router {
    let Some(web) = web else { return app };
    let mut app = app;
    if !web.users.is_empty() {
        let users = Arc::clone(&web.users);
        app = app.layer(middleware::from_fn(move |req: Request, next: Next| {
            basic_auth(Arc::clone(&users), req, next)
        }));
    }
    if !web.headers.is_empty() {
        let headers = Arc::new(web.headers.clone());
        app = app.layer(middleware::from_fn(move |req: Request, next: Next| {
            let headers = Arc::clone(&headers);
            async move {
                let mut resp = next.run(req).await;
                for (k, v) in headers.iter() {
                    resp.headers_mut().insert(k.clone(), v.clone());
                }
                resp
            }
        }));
    }
    app
}

/// Serves `app` on `listener`, with TLS and auth from `web`, within
/// `limits`, until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    web: Option<WebConfig>,
    limits: crate::server::Limits,
    stats: Arc<crate::server::Stats>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let app = secure(app, web.as_ref());
    let tls = web.and_then(|w| w.tls);
    crate::server::serve(listener, app, tls, limits, stats, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_credentials() {
        assert_eq!(
            base64_decode::decode("dXNlcjpwYXNz").as_deref(),
            Some("user:pass")
        );
        assert_eq!(base64_decode::decode("YQ==").as_deref(), Some("a"));
        assert_eq!(base64_decode::decode("!!"), None);
    }

    #[test]
    fn unknown_keys_and_bad_hashes_are_errors() {
        let p = Path::new("web.yml");
        assert!(matches!(
            WebConfig::parse("nope: 1\n", p),
            Err(WebConfigError::Parse { .. })
        ));
        assert!(matches!(
            WebConfig::parse("basic_auth_users:\n  alice: notahash\n", p),
            Err(WebConfigError::BadHash { .. })
        ));
        let hash = bcrypt::hash("secret", 4).unwrap();
        let ok = WebConfig::parse(&format!("basic_auth_users:\n  alice: '{hash}'\n"), p).unwrap();
        assert!(ok.tls.is_none());
        assert_eq!(ok.users.hashes.len(), 1);
        assert_eq!(
            ok.users
                .dummy
                .parse::<bcrypt::HashParts>()
                .unwrap()
                .get_cost(),
            4
        );
        let header = |s: &str| format!("Basic {}", b64(s));
        assert!(check_basic_auth(&ok.users, Some(&header("alice:secret"))));
        assert!(!check_basic_auth(&ok.users, Some(&header("alice:wrong"))));
        assert!(!check_basic_auth(&ok.users, Some(&header("bob:secret"))));
        assert!(!check_basic_auth(&ok.users, None));
    }

    #[test]
    fn headers_that_cannot_be_sent_are_errors() {
        let p = Path::new("web.yml");
        let ok = WebConfig::parse(
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
            p,
        )
        .unwrap();
        assert_eq!(ok.headers.len(), 1);
        for (yaml, needle) in [
            (
                "    'X Frame': deny\n",
                "\"X Frame\" is not a valid header name",
            ),
            (
                "    X-Frame-Options: \"deny\\r\\nSet-Cookie: a=b\"\n",
                "value of \"X-Frame-Options\"",
            ),
        ] {
            let err = WebConfig::parse(&format!("http_server_config:\n  headers:\n{yaml}"), p)
                .unwrap_err();
            assert!(matches!(err, WebConfigError::Header { .. }), "{err}");
            assert!(err.to_string().contains(needle), "{err}");
            assert!(err.to_string().contains("web.yml"), "{err}");
        }
    }

    fn b64(s: &str) -> String {
        const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let b = s.as_bytes();
        let mut out = String::new();
        for chunk in b.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, &c)| acc | (c as u32) << (16 - 8 * i));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}
