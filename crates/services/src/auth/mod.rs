//! Authorization (SMART App Launch 2.2 Backend Services; HL7 FAST Security STU2, UDAP):
//! who the caller is, what a tenant lets them do, and the endpoints that hand out tokens.
//!
//! - [`access`]: the rule every interaction passes ([`RequestCtx::authorize`]): anonymous
//!   callers read when the tenant allows it and never write; a client does what its token's
//!   scopes grant; fhirdir's own work does anything.
//! - [`keys`]: each tenant's token-signing keys and access policy, cached so that checking a
//!   bearer token costs no database round trip ([`App::authenticate`]).
//! - [`token`]: the token endpoint (`client_credentials` with a `private_key_jwt` assertion,
//!   SMART or UDAP B2B).
//! - [`registration`]: UDAP dynamic client registration.
//! - [`clients`], [`communities`], [`policy`]: what the operator configures.
//! - [`discovery`]: `.well-known/smart-configuration`, `.well-known/udap`, the JWK Set.
//! - [`events`]: the record of registrations, tokens and refusals.
//! - [`oauth`]: the RFC 6749 error those endpoints answer with.
//!
//! The cryptography lives in the `auth` (scopes, access tokens, client assertions) and
//! `udap` (certificates, software statements) crates; this module applies it to a tenant.

pub mod access;
pub mod clients;
pub mod communities;
pub mod discovery;
pub mod events;
pub mod keys;
pub mod oauth;
pub mod policy;
pub mod registration;
pub mod token;

pub use ::auth::constant_time_eq;

#[expect(unused_imports, reason = "named by the documentation")]
use crate::{App, RequestCtx};

/// Lifetime of an access token: SMART Backend Services recommends at most five minutes.
pub const TOKEN_LIFETIME_SECS: i64 = 300;

/// Clock skew allowed on assertions and tokens (at most 60 s, FAST Security STU2).
pub const LEEWAY_SECS: i64 = 30;

/// The scopes a tenant offers: every SMART v1 and v2 system scope.
pub const SCOPES_SUPPORTED: &[&str] = &[
    "system/*.cruds",
    "system/*.rs",
    "system/*.read",
    "system/*.write",
    "system/*.*",
];

/// Where a tenant's authorization endpoints are, under its FHIR base.
pub fn token_url(base: &str) -> String {
    format!("{base}/auth/token")
}

pub fn registration_url(base: &str) -> String {
    format!("{base}/auth/register")
}

pub fn jwks_url(base: &str) -> String {
    format!("{base}/auth/jwks")
}

/// Seconds since the epoch.
pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
