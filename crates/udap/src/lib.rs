//! UDAP trust for fhirdir, per HL7 FAST Security STU2 ("Security for Scalable Registration,
//! Authentication, and Authorization") and the udap.org profiles it builds on: UDAP Server
//! Metadata, UDAP Dynamic Client Registration, UDAP JWT-Based Client Authentication and the B2B
//! authorization extension `hl7-b2b`.
//!
//! Only the pure parts live here — no database, no HTTP: a tenant's configured trust
//! [`Community`] and its `signed_metadata`, verification of software statements
//! ([`verify_software_statement`]) and client assertions ([`verify_udap_assertion`]), the CRL
//! URLs a caller must fetch first ([`crl_urls`]), and a throwaway PKI ([`dev_pki`]). The server
//! holds the state these checks leave to it: `jti` replay, registrations, CRL fetching.
//!
//! Crypto is not hand-rolled: certificate paths and CRLs by `rustls-webpki`, certificate fields
//! by `x509-parser`, JWS by `jsonwebtoken`, certificates by `rcgen`, RSA keys by `rsa`.

// The RSA 0.9 line under its usual name (see the workspace manifest for why 0.9).
extern crate rsa09 as rsa;

mod assertion;
mod cert;
mod community;
mod dev_pki;
mod error;
mod issue;
mod jws;
mod registration;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod trust;

#[cfg(test)]
mod tests;

pub use assertion::{verify_udap_assertion, UdapAssertion};
pub use community::{Community, SIGNED_METADATA_LIFETIME_SECS};
pub use dev_pki::{dev_pki, dev_pki_with_crl, DevPki};
pub use error::{AssertionError, RegistrationError, RegistrationErrorCode, UdapError};
pub use registration::{verify_software_statement, SoftwareStatement};

/// At most this many URLs come out of [`crl_urls`]: a real chain names one or two, and the JWT
/// is not verified yet, so its sender must not be able to make the server fetch dozens.
pub const MAX_CRL_URLS: usize = 8;

/// Unverified peek: the CRL distribution-point URLs named by the certificates in a JWT's `x5c`
/// header (leaf first, without duplicates, at most [`MAX_CRL_URLS`]), so the caller can fetch
/// them through its guarded HTTP client before verifying. Nothing here is trusted yet: the
/// caller must treat the URLs as attacker-chosen. A JWT without a readable `x5c` names none.
pub fn crl_urls(jwt: &str) -> Vec<String> {
    let mut urls: Vec<String> = Vec::new();
    for der in jws::peek_x5c(jwt).unwrap_or_default() {
        let Ok(info) = cert::CertInfo::parse(&der) else {
            continue;
        };
        for url in info.crl_urls {
            if urls.len() == MAX_CRL_URLS {
                return urls;
            }
            if !urls.contains(&url) {
                urls.push(url);
            }
        }
    }
    urls
}
