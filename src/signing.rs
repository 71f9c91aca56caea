//! The one definition of a signed action request, used by both sides: the
//! agent verifies with [`PublicKey::verify`], the bridge and `outpost ask` sign with
//! [`Signer`]. Keys are Ed25519 (ring).
//!
//! The signed message is [`canonical`]: these lines, each ended by `\n`:
//!
//! ```text
//! outpost-action-v1
//! METHOD            e.g. POST
//! PATH              e.g. /actions/ports (no query string)
//! AGENT             the agent the request is addressed to
//! KEY_ID            the signing key's id in the agent's allow-list
//! TIMESTAMP         Unix seconds, decimal
//! NONCE             16–64 lowercase hex digits, fresh for each request
//! BODY_SHA256       lowercase hex SHA-256 of the request body
//! ```
//!
//! The request carries them in the headers named by the `*_HEADER`
//! constants, and the signature (lowercase hex of the 64 bytes) in
//! [`SIGNATURE_HEADER`]. Agent names and key ids are [`is_name`]s and
//! paths may not hold a newline, so no two different requests share a
//! canonical string.
//!
//! Decisions:
//! - Hex rather than base64 everywhere (keys, signatures): one tiny codec,
//!   no new dependency, and a public key stays one copyable word:
//!   `ed25519:` and 64 hex digits.
//! - The private key file holds the PKCS#8 document ring makes, as hex on
//!   one line; it is created with mode 0600 and never printed.

use std::path::Path;

use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use sha2::{Digest, Sha256};

pub const AGENT_HEADER: &str = "x-outpost-agent";
pub const KEY_ID_HEADER: &str = "x-outpost-key-id";
pub const TIMESTAMP_HEADER: &str = "x-outpost-timestamp";
pub const NONCE_HEADER: &str = "x-outpost-nonce";
pub const SIGNATURE_HEADER: &str = "x-outpost-signature";
/// The prefix of a public key's text form.
pub const PUBLIC_KEY_PREFIX: &str = "ed25519:";
const VERSION: &str = "outpost-action-v1";

/// What one request's signature covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub agent: &'a str,
    pub key_id: &'a str,
    pub timestamp: i64,
    pub nonce: &'a str,
    pub body: &'a [u8],
}

/// The exact bytes that are signed (see the module docs).
pub fn canonical(s: &Signed<'_>) -> Vec<u8> {
    let body_hash = hex(&Sha256::digest(s.body));
    format!(
        "{VERSION}\n{}\n{}\n{}\n{}\n{}\n{}\n{body_hash}\n",
        s.method, s.path, s.agent, s.key_id, s.timestamp, s.nonce
    )
    .into_bytes()
}

/// Agent names and key ids: 1–64 of `A-Z a-z 0-9 . _ -`.
pub fn is_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A nonce: 16–64 lowercase hex digits.
pub fn is_nonce(s: &str) -> bool {
    (16..=64).contains(&s.len()) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("public key must be `ed25519:` and 64 hex digits")]
    PublicFormat,
    #[error("reading private key {path}: {error}")]
    Read {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error("private key {path} is not an Ed25519 key made by `outpost keygen`")]
    PrivateFormat { path: std::path::PathBuf },
    #[error("writing {path}: {error}")]
    Write {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error("{path} exists: an existing key is never overwritten")]
    Exists { path: std::path::PathBuf },
    #[error("generating a key: the system random source failed")]
    Random,
}

/// A trusted public key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey([u8; 32]);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{PUBLIC_KEY_PREFIX}{}", hex(&self.0))
    }
}

impl std::str::FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        let bytes = s
            .trim()
            .strip_prefix(PUBLIC_KEY_PREFIX)
            .and_then(unhex)
            .ok_or(KeyError::PublicFormat)?;
        Ok(PublicKey(
            bytes.try_into().map_err(|_| KeyError::PublicFormat)?,
        ))
    }
}

impl PublicKey {
    /// Whether `signature` (hex) signs `signed` under this key.
    pub fn verify(&self, signed: &Signed<'_>, signature: &str) -> bool {
        let Some(sig) = unhex(signature) else {
            return false;
        };
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(&canonical(signed), &sig)
            .is_ok()
    }
}

/// A signing key. `Debug` shows only the public half.
pub struct Signer {
    pub key_id: String,
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .field("public", &self.public())
            .finish()
    }
}

/// The headers that make a request signed, in [`Signer::sign`]'s order.
pub type Headers = [(&'static str, String); 5];

impl Signer {
    /// Reads a private key file written by [`generate`].
    pub fn load(key_id: &str, path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|error| KeyError::Read {
            path: path.to_owned(),
            error,
        })?;
        let bad = || KeyError::PrivateFormat {
            path: path.to_owned(),
        };
        let der = unhex(text.trim()).ok_or_else(bad)?;
        let pair = Ed25519KeyPair::from_pkcs8(&der).map_err(|_| bad())?;
        Ok(Signer {
            key_id: key_id.to_owned(),
            pair,
        })
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(
            self.pair
                .public_key()
                .as_ref()
                .try_into()
                .expect("Ed25519 public keys are 32 bytes"),
        )
    }

    /// The signature (hex) of `signed`.
    pub fn signature(&self, signed: &Signed<'_>) -> String {
        hex(self.pair.sign(&canonical(signed)).as_ref())
    }

    /// Signs a request to `agent` at `now` (Unix seconds) with a fresh
    /// nonce; returns the headers to send with it.
    pub fn sign(&self, method: &str, path: &str, agent: &str, body: &[u8], now: i64) -> Headers {
        let nonce = fresh_nonce();
        let signed = Signed {
            method,
            path,
            agent,
            key_id: &self.key_id,
            timestamp: now,
            nonce: &nonce,
            body,
        };
        let signature = self.signature(&signed);
        [
            (AGENT_HEADER, agent.to_owned()),
            (KEY_ID_HEADER, self.key_id.clone()),
            (TIMESTAMP_HEADER, now.to_string()),
            (NONCE_HEADER, nonce),
            (SIGNATURE_HEADER, signature),
        ]
    }
}

/// 16 random bytes as 32 hex digits.
pub fn fresh_nonce() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("the system random source works");
    hex(&b)
}

/// Makes a key pair: the private key in `private` (created new, mode
/// 0600; an existing file is never overwritten), the public key returned.
pub fn generate(private: &Path) -> Result<PublicKey, KeyError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let rng = ring::rand::SystemRandom::new();
    let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Random)?;
    let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).map_err(|_| KeyError::Random)?;
    let werr = |error: std::io::Error| match error.kind() {
        std::io::ErrorKind::AlreadyExists => KeyError::Exists {
            path: private.to_owned(),
        },
        _ => KeyError::Write {
            path: private.to_owned(),
            error,
        },
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(private)
        .map_err(werr)?;
    f.write_all(format!("{}\n", hex(doc.as_ref())).as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(werr)?;
    Ok(PublicKey(
        pair.public_key()
            .as_ref()
            .try_into()
            .expect("Ed25519 public keys are 32 bytes"),
    ))
}

/// `outpost keygen`: writes `DIR/actions.key` (0600) and `DIR/actions.pub`,
/// and prints the line an agent's `keys:` takes. The private key is never
/// printed.
pub fn keygen(args: crate::cli::KeygenArgs) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !is_name(&args.key_id) {
        return Err(crate::UsageError(format!(
            "invalid --key-id {:?}: 1-64 of A-Z a-z 0-9 . _ -",
            args.key_id
        ))
        .into());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&args.out)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", args.out.display()))?;
    let private = args.out.join("actions.key");
    let public = generate(&private)?;
    let line = format!("{}: {public}\n", args.key_id);
    let pub_path = args.out.join("actions.pub");
    std::fs::write(&pub_path, &line)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", pub_path.display()))?;
    tracing::info!(private = %private.display(), public = %pub_path.display(), key_id = %args.key_id, "key pair written");
    print!("{line}");
    Ok(())
}

pub fn hex(bytes: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(D[(b >> 4) as usize] as char);
        s.push(D[(b & 15) as usize] as char);
    }
    s
}

pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.as_bytes()
        .chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(dir: &Path) -> Signer {
        let path = dir.join("k");
        generate(&path).unwrap();
        Signer::load("bridge", &path).unwrap()
    }

    #[test]
    fn canonical_string_is_fixed() {
        let s = Signed {
            method: "POST",
            path: "/actions/ports",
            agent: "web1",
            key_id: "bridge",
            timestamp: 1700000000,
            nonce: "00112233445566778899aabbccddeeff",
            body: b"",
        };
        assert_eq!(
            String::from_utf8(canonical(&s)).unwrap(),
            "outpost-action-v1\nPOST\n/actions/ports\nweb1\nbridge\n1700000000\n\
             00112233445566778899aabbccddeeff\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
        );
    }

    #[test]
    fn signatures_verify_only_what_was_signed() {
        let dir = tempfile::tempdir().unwrap();
        let k = signer(dir.path());
        let dir2 = tempfile::tempdir().unwrap();
        let other = signer(dir2.path());
        let s = Signed {
            method: "POST",
            path: "/actions/top",
            agent: "web1",
            key_id: "bridge",
            timestamp: 5,
            nonce: "00112233445566778899aabbccddeeff",
            body: b"{}",
        };
        let sig = k.signature(&s);
        assert!(k.public().verify(&s, &sig));
        assert!(!other.public().verify(&s, &sig), "another key's signature");
        for changed in [
            Signed {
                agent: "web2",
                ..s.clone()
            },
            Signed {
                path: "/actions/ports",
                ..s.clone()
            },
            Signed {
                timestamp: 6,
                ..s.clone()
            },
            Signed {
                body: b"{ }",
                ..s.clone()
            },
            Signed {
                nonce: "00112233445566778899aabbccddeef0",
                ..s.clone()
            },
        ] {
            assert!(!k.public().verify(&changed, &sig), "{changed:?}");
        }
        assert!(!k.public().verify(&s, "zz"));
    }

    #[test]
    fn keys_round_trip_and_private_file_is_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let public = generate(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(
            generate(&path).is_err(),
            "an existing key is never overwritten"
        );
        let k = Signer::load("bridge", &path).unwrap();
        assert_eq!(k.public(), public);
        assert_eq!(public.to_string().parse::<PublicKey>().unwrap(), public);
        assert!("ed25519:abcd".parse::<PublicKey>().is_err());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!format!("{k:?}").contains(text.trim()));
    }
}
