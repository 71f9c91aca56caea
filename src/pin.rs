//! The pinned TLS certificate of an agent's actions listener: the one
//! definition of the fingerprint (SHA-256 of the certificate's DER, as
//! `openssl x509 -noout -fingerprint -sha256` prints it), its text form in
//! `agents.txt` (`actions_sha256=…`), and `outpost actions fingerprint
//! CERT.pem`, which prints the line an operator pastes. The bridge checks
//! a listener's certificate with [`CertSha256::matches`].
//!
//! Decisions:
//! - The pin is the whole leaf certificate's hash, not its public key's:
//!   what operators can compute with stock tools and compare by eye.
//!   Renewing the certificate means updating `agents.txt`.
//! - Lowercase hex without separators is the written form; colons and
//!   uppercase (openssl's output) are accepted on reading, so a pasted
//!   openssl line works too.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::signing::{hex, unhex};

/// The key of the pin on an `agents.txt` agent line.
pub const PIN_KEY: &str = "actions_sha256";

/// SHA-256 of a DER-encoded X.509 certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CertSha256(pub [u8; 32]);

impl CertSha256 {
    /// The fingerprint of a DER certificate.
    pub fn of_der(der: &[u8]) -> Self {
        CertSha256(Sha256::digest(der).into())
    }

    /// Whether `der` is the pinned certificate.
    pub fn matches(&self, der: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(Self::of_der(der).0.ct_eq(&self.0))
    }
}

impl fmt::Display for CertSha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

/// Why a fingerprint's text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected the certificate's SHA-256: 64 hex digits, optionally in colon-separated pairs (`outpost actions fingerprint CERT.pem` prints it)")]
pub struct BadPin;

impl FromStr for CertSha256 {
    type Err = BadPin;

    fn from_str(s: &str) -> Result<Self, BadPin> {
        let compact: String = if s.contains(':') {
            let pairs: Vec<&str> = s.split(':').collect();
            if pairs.iter().any(|p| p.len() != 2) {
                return Err(BadPin);
            }
            pairs.concat()
        } else {
            s.to_owned()
        };
        let bytes = unhex(&compact.to_ascii_lowercase()).ok_or(BadPin)?;
        bytes.try_into().map(CertSha256).map_err(|_| BadPin)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PemError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it")]
    NoCertificate { path: PathBuf },
}

/// The fingerprint of the first certificate in a PEM file (the leaf, in a
/// chain file as TLS servers are given one).
pub fn of_pem_file(path: &Path) -> Result<CertSha256, PemError> {
    let text = std::fs::read(path).map_err(|source| PemError::Read {
        path: path.to_owned(),
        source,
    })?;
    let der = rustls_pemfile::certs(&mut text.as_slice())
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| PemError::NoCertificate {
            path: path.to_owned(),
        })?;
    Ok(CertSha256::of_der(&der))
}

/// `outpost actions fingerprint CERT.pem`: prints `actions_sha256=…`.
pub fn fingerprint(args: crate::cli::FingerprintArgs) -> anyhow::Result<()> {
    let pin = of_pem_file(&args.cert)?;
    println!("{PIN_KEY}={pin}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_read_in_both_forms_and_print_as_lowercase_hex() {
        let pin = CertSha256::of_der(b"not really DER");
        let text = pin.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<CertSha256>().unwrap(), pin);
        let openssl: Vec<String> = pin.0.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(openssl.join(":").parse::<CertSha256>().unwrap(), pin);
        assert!(pin.matches(b"not really DER"));
        assert!(!pin.matches(b"not really DER!"));
        for bad in [
            "",
            "abc",
            &text[1..],
            &format!("{text}00"),
            &text.replace('a', "g"),
            "A:BC",
        ] {
            assert_eq!(bad.parse::<CertSha256>(), Err(BadPin), "{bad}");
        }
    }
}
