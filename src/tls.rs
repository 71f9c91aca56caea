//! TLS client configurations whose certificate check is Outpost's own
//! rather than a CA's: the TCP probe accepts whatever chain a server
//! presents (it reports expiry, it does not judge trust), and the actions
//! client accepts exactly one pinned certificate. Both still verify the
//! handshake's signatures against the presented certificate, with ring's
//! algorithms; that half lives here once.
//!
//! Decisions: the leaf decision is a small trait ([`LeafCheck`]) rather
//! than a closure so each verifier stays `Debug` (rustls requires it) and
//! names what it accepts.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// What a verifier accepts as the server's leaf certificate. Names, dates
/// and intermediates are the implementor's to judge (or to ignore).
pub trait LeafCheck: fmt::Debug + Send + Sync + 'static {
    fn check(&self, end_entity: &CertificateDer<'_>) -> Result<(), rustls::Error>;
}

/// A client configuration (ring, rustls' safe default versions, no client
/// certificate) whose server check is `leaf` plus the handshake
/// signatures.
pub fn client_config(leaf: impl LeafCheck) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(Verifier {
        leaf,
        algorithms: provider.signature_verification_algorithms,
    });
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports rustls' default TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth()
}

#[derive(Debug)]
struct Verifier<L> {
    leaf: L,
    algorithms: WebPkiSupportedAlgorithms,
}

impl<L: LeafCheck> ServerCertVerifier for Verifier<L> {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.leaf.check(end_entity)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
