//! SMART Backend Services machinery for fhirdir: everything about who may call the server that can be decided
//! without a database or an HTTP stack. The services crate stores keys and clients and serves the endpoints; this
//! crate only parses, signs and verifies.
//!
//! Modules:
//! - [`scopes`]: SMART v1 and v2 *system* scopes: parsing an operator's registration strictly and a client's
//!   request leniently, intersection, and the checks a request needs (SMART App Launch 2.2, "Scopes for requesting
//!   FHIR resources").
//! - [`keys`]: the tenant's own ES256 (P-256) token-signing key and its public JWK / JWK Set (RFC 7517, RFC 7518
//!   §3.4 and §6.2).
//! - [`access_token`]: the server's access tokens: JWTs it issues and the cached verifier that checks them on every
//!   request (RFC 7519; SMART App Launch 2.2 Backend Services, "Issuing an access token").
//! - [`assertion`]: `private_key_jwt` client authentication at the token endpoint (RFC 7523 §3; SMART App Launch
//!   2.2 Backend Services, "Authenticating to the token endpoint").
//! - `testing` (feature `testing`): client keys and assertions for other crates' tests.
//!
//! Specs: <https://hl7.org/fhir/smart-app-launch/STU2.2/backend-services.html>,
//! <https://hl7.org/fhir/smart-app-launch/STU2.2/scopes-and-launch-context.html>,
//! <https://www.rfc-editor.org/rfc/rfc7519>, <https://www.rfc-editor.org/rfc/rfc7523>.

pub mod access_token;
pub mod assertion;
pub mod client_assertion;
mod error;
mod jose;
pub mod keys;
pub mod scopes;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use access_token::{issue, AccessClaims, TokenError, TokenVerifier};
pub use assertion::{unverified_issuer, verify_client_assertion, AssertionClaims, AssertionError};
pub use error::AuthError;
pub use keys::{jwks, SigningKey};
pub use scopes::{Interaction, Scopes};

/// Clock skew tolerated when checking `exp` (and `nbf`) of any JWT, in seconds. SMART Backend Services bounds
/// client assertions to five minutes, so a tolerance well under a minute keeps that bound meaningful.
pub const CLOCK_LEEWAY_SECS: i64 = 30;

/// Compares two secrets in time independent of where the first difference is (a bearer admin
/// token, a replica's notification secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
