//! Verification of a UDAP software statement at the registration endpoint (UDAP Dynamic Client
//! Registration §4; FAST Security STU2 §3.1 "Software Statement" and §3.2.3 "Request body").
//!
//! Checks here are those a statement carries in itself: signature by the `x5c` leaf, the chain's
//! trust in one of the tenant's communities, `iss`/`sub`/`aud`/lifetime/`jti`, and the client
//! metadata STU2 requires for `client_credentials` apps. Replay of `jti` and the meaning of
//! `grant_types` (exactly `["client_credentials"]`; empty cancels, STU2 §3.4) need the server's
//! state and are the caller's.

use serde_json::{Map, Value};

use crate::cert::CertInfo;
use crate::community::Community;
use crate::error::{RegistrationError, RegistrationErrorCode};
use crate::jws::{check_aud, check_lifetime, required_str, Jws};
use crate::trust;

/// A verified UDAP software statement.
#[derive(Debug, Clone)]
pub struct SoftwareStatement {
    /// `iss`: the app's unique URI, a SAN URI of the leaf certificate.
    pub iss: String,
    /// All claims, as sent.
    pub claims: Map<String, Value>,
    /// The leaf certificate (first of `x5c`), DER: the key later client assertions must use,
    /// or the SAN they must share.
    pub leaf_der: Vec<u8>,
    /// The URI of the community whose anchors validated the chain.
    pub community_uri: String,
    /// `client_name`.
    pub client_name: String,
    /// `grant_types` (possibly empty: a cancellation, STU2 §3.4).
    pub grant_types: Vec<String>,
    /// `scope`, if sent.
    pub scope: Option<String>,
    /// `token_endpoint_auth_method`: always `Some("private_key_jwt")` once verified.
    pub token_endpoint_auth_method: Option<String>,
    /// `contacts`, all of them (at least one is a `mailto:` URI).
    pub contacts: Vec<String>,
}

/// Verifies `jwt` for a registration at `registration_url`.
///
/// The header `x5c` chain must validate (at `now`; against the given DER `crls` for revocation)
/// to an anchor of one of `communities`, tried in order, the first that validates winning: a
/// caller with a preferred community (e.g. the one the client named at discovery) puts it
/// first. The signature must verify with the leaf key under RS256, RS384, ES256 or ES384
/// matching the key type. Claims: `iss` a SAN URI of the leaf, `sub` = `iss`, `aud` =
/// `registration_url` exactly, `exp` − `iat` ≤ 300 s and not expired (60 s leeway), `jti`,
/// `client_name`, `contacts` with a `mailto:` URI, `token_endpoint_auth_method` =
/// `private_key_jwt`, `grant_types` an array of strings, `scope` a string if present.
pub fn verify_software_statement(
    jwt: &str,
    communities: &[&Community],
    registration_url: &str,
    crls: &[Vec<u8>],
    now: i64,
) -> Result<SoftwareStatement, RegistrationError> {
    let invalid =
        |m: String| RegistrationError::new(RegistrationErrorCode::InvalidSoftwareStatement, m);
    let metadata =
        |m: String| RegistrationError::new(RegistrationErrorCode::InvalidClientMetadata, m);

    let jws = Jws::parse(jwt).map_err(|e| invalid(format!("software statement: {e}")))?;
    let leaf = CertInfo::parse(&jws.chain[0]).map_err(|e| {
        invalid(format!(
            "software statement x5c certificate does not parse: {e}"
        ))
    })?;
    jws.verify_signature(&leaf)
        .map_err(|e| invalid(format!("software statement: {e}")))?;
    let community = trusted_community(&jws.chain, communities, crls, now)?;

    let claims = &jws.claims;
    let iss = required_str(claims, "iss").map_err(invalid)?;
    if !leaf.san_uris.iter().any(|san| san == iss) {
        return Err(invalid(format!(
            "`iss` {iss} is not a subjectAltName URI of the x5c certificate (it has {:?})",
            leaf.san_uris
        )));
    }
    let sub = required_str(claims, "sub").map_err(invalid)?;
    if sub != iss {
        return Err(invalid(format!("`sub` {sub} is not `iss` {iss}")));
    }
    check_aud(claims, registration_url).map_err(invalid)?;
    check_lifetime(claims, now).map_err(invalid)?;
    required_str(claims, "jti").map_err(invalid)?;

    let client_name = required_str(claims, "client_name")
        .map_err(metadata)?
        .to_owned();
    let contacts = string_array(claims, "contacts").map_err(metadata)?;
    if !contacts.iter().any(|c| is_mailto(c)) {
        return Err(metadata(
            "`contacts` must include an email address as a mailto: URI".to_owned(),
        ));
    }
    let method = required_str(claims, "token_endpoint_auth_method").map_err(metadata)?;
    if method != "private_key_jwt" {
        return Err(metadata(format!(
            "`token_endpoint_auth_method` is {method}; UDAP requires private_key_jwt"
        )));
    }
    let grant_types = string_array(claims, "grant_types").map_err(metadata)?;
    let scope = match claims.get("scope") {
        None => None,
        Some(Value::String(scope)) => Some(scope.clone()),
        Some(_) => return Err(metadata("`scope` is not a string".to_owned())),
    };

    Ok(SoftwareStatement {
        iss: iss.to_owned(),
        leaf_der: jws.chain[0].clone(),
        community_uri: community.uri.clone(),
        client_name,
        grant_types,
        scope,
        token_endpoint_auth_method: Some(method.to_owned()),
        contacts,
        claims: jws.claims,
    })
}

/// The first community whose anchors validate `chain`. When none does: a chain that reaches no
/// anchor, or is revoked, is unapproved; one that fails otherwise (expired, malformed) is invalid.
fn trusted_community<'c>(
    chain: &[Vec<u8>],
    communities: &[&'c Community],
    crls: &[Vec<u8>],
    now: i64,
) -> Result<&'c Community, RegistrationError> {
    let mut worst: Option<webpki::Error> = None;
    for community in communities {
        match community.validate_client_chain(chain, crls, now) {
            Ok(()) => return Ok(community),
            Err(e) => {
                // Keep the most telling failure: anything beats "no path to an anchor".
                if worst
                    .as_ref()
                    .is_none_or(|w| matches!(w, webpki::Error::UnknownIssuer))
                {
                    worst = Some(e);
                }
            }
        }
    }
    let uris: Vec<&str> = communities.iter().map(|c| c.uri.as_str()).collect();
    match worst {
        None => Err(RegistrationError::new(
            RegistrationErrorCode::UnapprovedSoftwareStatement,
            "this server trusts no UDAP community",
        )),
        Some(e) => {
            let code = if trust::is_untrusted(&e) {
                RegistrationErrorCode::UnapprovedSoftwareStatement
            } else {
                RegistrationErrorCode::InvalidSoftwareStatement
            };
            Err(RegistrationError::new(
                code,
                format!(
                    "software statement x5c: {} (communities tried: {})",
                    trust::describe(&e),
                    uris.join(", ")
                ),
            ))
        }
    }
}

/// A required array of strings (it may be empty).
fn string_array(claims: &Map<String, Value>, name: &str) -> Result<Vec<String>, String> {
    let Some(value) = claims.get(name) else {
        return Err(format!("`{name}` is missing"));
    };
    value
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect()
        })
        .ok_or_else(|| format!("`{name}` is not an array of strings"))
}

/// A `mailto:` URI with an address (STU2 §3.1: "at least one valid email address using the
/// mailto scheme").
fn is_mailto(contact: &str) -> bool {
    let Some((scheme, address)) = contact.split_once(':') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("mailto")
        && address
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
}
