//! The crate's error type for keys and scopes. Token verification and client assertions have their own
//! small error types ([`crate::TokenError`], [`crate::AssertionError`]) because their callers answer them
//! differently (401 with a reload of the keys; `invalid_client` with a description).

/// A key or scope the crate could not use.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// A scope item is not a SMART system scope (`system/<Type|*>.<permissions>`).
    #[error("invalid scope `{scope}`: {reason}")]
    InvalidScope {
        /// The offending space-separated item, as written.
        scope: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A key (PKCS#8 DER or JWK) could not be read or is not of the expected kind.
    #[error("invalid key{}: {reason}", kid.as_deref().map(|k| format!(" `{k}`")).unwrap_or_default())]
    InvalidKey {
        /// The key's id, when known.
        kid: Option<String>,
        /// What is wrong with it.
        reason: String,
    },
    /// Signing a token failed (a key the backend refused).
    #[error("signing failed: {0}")]
    Signing(String),
    /// The system's random number source failed.
    #[error("random number source failed: {0}")]
    Random(String),
}
