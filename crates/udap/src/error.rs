//! The crate's errors: [`UdapError`] for the operator's configuration, signing and certificate
//! generation; [`RegistrationError`] and [`AssertionError`] for refusals told to a client.
//!
//! Refusals carry the exact reason in words because they become the OAuth `error_description`
//! (RFC 7591 §3.2.2 for registration, RFC 6749 §5.2 for the token endpoint).

/// Why the operator's UDAP configuration was refused, or why signing or generating failed.
#[derive(Debug, thiserror::Error)]
pub enum UdapError {
    /// The community URI is empty.
    #[error("the trust community URI is empty")]
    EmptyCommunityUri,
    /// A PEM input (anchors, server chain, key) could not be read as PEM.
    #[error("{what}: not PEM: {reason}")]
    Pem {
        /// Which input.
        what: &'static str,
        /// The PEM parser's reason.
        reason: String,
    },
    /// A PEM input held no `CERTIFICATE` block.
    #[error("{what}: no PEM CERTIFICATE block found")]
    NoCertificate {
        /// Which input.
        what: &'static str,
    },
    /// A certificate does not parse as X.509 (or is refused as a trust anchor).
    #[error("{what}: certificate {index} (0-based) is not a usable X.509 certificate: {reason}")]
    Certificate {
        /// Which input.
        what: &'static str,
        /// Its position in that input.
        index: usize,
        /// The parser's reason.
        reason: String,
    },
    /// The server certificate's key is not RSA; signed metadata is RS256.
    #[error(
        "the server certificate (first of the chain) has a {found} key; signed metadata is RS256 \
         (FAST Security STU2 §2.3), so the server certificate must have an RSA key"
    )]
    ServerKeyNotRsa {
        /// The key type found.
        found: String,
    },
    /// The server certificate has no SAN URI at all.
    #[error(
        "the server certificate (first of the chain) has no subjectAltName URI; it must carry the \
         tenant base URL {expected} as a uniformResourceIdentifier"
    )]
    ServerSanMissing {
        /// The tenant base URL.
        expected: String,
    },
    /// The server certificate's SAN URIs do not include the tenant base URL.
    #[error(
        "the server certificate's subjectAltName URIs {found:?} do not include the tenant base URL \
         {expected} (compared exactly)"
    )]
    ServerSanMismatch {
        /// The tenant base URL.
        expected: String,
        /// The SAN URIs of the certificate.
        found: Vec<String>,
    },
    /// The server private key could not be read as an unencrypted RSA key.
    #[error("the server private key: {0}")]
    ServerKey(String),
    /// The server private key is not the key of the server certificate.
    #[error("the server private key does not match the public key of the server certificate (first of the chain)")]
    ServerKeyMismatch,
    /// The server chain does not validate to any anchor of the community.
    #[error("the server certificate chain does not validate to an anchor of the community: {0}")]
    ServerChainUntrusted(String),
    /// The server certificate has expired, so signed metadata would not verify.
    #[error("the server certificate expired at {0}; clients would refuse the signed metadata")]
    ServerCertificateExpired(String),
    /// Signing a JWT failed.
    #[error("signing failed: {0}")]
    Signing(String),
    /// Generating keys or certificates failed.
    #[error("certificate generation failed: {0}")]
    Generation(String),
}

/// The `error` code of a refused registration (UDAP Dynamic Client Registration §5.2; RFC 7591 §3.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationErrorCode {
    /// The software statement is malformed, badly signed, expired or its claims are wrong.
    InvalidSoftwareStatement,
    /// The certificate chain is trusted by none of the communities (or is revoked).
    UnapprovedSoftwareStatement,
    /// A client metadata value (client_name, contacts, grant_types, ...) is invalid.
    InvalidClientMetadata,
}

impl RegistrationErrorCode {
    /// The code as sent in the `error` member of the response.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::InvalidSoftwareStatement => "invalid_software_statement",
            Self::UnapprovedSoftwareStatement => "unapproved_software_statement",
            Self::InvalidClientMetadata => "invalid_client_metadata",
        }
    }
}

/// A refused registration: the response's `error` and `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct RegistrationError {
    /// The `error` code.
    pub code: RegistrationErrorCode,
    /// The exact reason, for `error_description`.
    pub description: String,
}

impl RegistrationError {
    pub(crate) fn new(code: RegistrationErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
}

/// A refused client assertion; its text is the exact reason (the `invalid_client` response's
/// `error_description`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AssertionError(pub String);
