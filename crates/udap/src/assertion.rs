//! Verification of a UDAP client assertion at the token endpoint (UDAP JWT-Based Client
//! Authentication §6; FAST Security STU2 §5.2.1 "Constructing Authentication Token", §5.2.1.1
//! "B2B Authorization Extension Object" and §5.2.3 "Server processing of token requests").
//!
//! The `x5c` leaf is the registered certificate, or a newer one from the same community with the
//! same SAN URI (an app may renew its certificate without registering again). Replay of `jti` is
//! the caller's: it holds the state.

use serde_json::{Map, Value};

use crate::cert::CertInfo;
use crate::community::Community;
use crate::error::AssertionError;
use crate::jws::{check_aud, check_lifetime, required_str, Jws};
use crate::trust;

/// A verified UDAP client assertion: what the token endpoint needs from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdapAssertion {
    /// `jti`, for the caller's replay check.
    pub jti: String,
    /// `exp`: how long the caller must remember `jti`.
    pub exp: i64,
    /// `extensions.hl7-b2b.organization_id`.
    pub organization_id: String,
    /// `extensions.hl7-b2b.organization_name`, if sent.
    pub organization_name: Option<String>,
    /// `extensions.hl7-b2b.purpose_of_use`: codes as sent (`SYSDEV` or `system#code`).
    pub purpose_of_use: Vec<String>,
}

/// Verifies `jwt` as the client assertion of the registered client `client_id`.
///
/// The header `x5c` leaf must equal `registered_leaf_der`, or carry the registered SAN URI
/// `client_iss`; either way the chain must validate to `community` at `now` (revocation against
/// `crls`). The signature must verify with the leaf key (RS256, RS384, ES256 or ES384, matching
/// the key). Claims: `iss` = `sub` = `client_id`, `aud` = `token_url` exactly, `exp` − `iat` ≤
/// 300 s and not expired, `jti`, and `extensions.hl7-b2b` with `version` "1", a string
/// `organization_id` and a non-empty array of strings `purpose_of_use`; other `hl7-b2b` members
/// (`organization_name` aside) are not examined.
#[expect(
    clippy::too_many_arguments,
    reason = "each input is distinct state the caller holds: registration, community, endpoint URL, fetched CRLs, clock"
)]
pub fn verify_udap_assertion(
    jwt: &str,
    client_id: &str,
    client_iss: &str,
    registered_leaf_der: &[u8],
    community: &Community,
    token_url: &str,
    crls: &[Vec<u8>],
    now: i64,
) -> Result<UdapAssertion, AssertionError> {
    let refuse = |m: String| AssertionError(format!("client assertion: {m}"));

    let jws = Jws::parse(jwt).map_err(refuse)?;
    let leaf = CertInfo::parse(&jws.chain[0])
        .map_err(|e| refuse(format!("x5c certificate does not parse: {e}")))?;
    if jws.chain[0] != registered_leaf_der && !leaf.san_uris.iter().any(|san| san == client_iss) {
        return Err(refuse(format!(
            "the x5c certificate is not the registered one and its subjectAltName URIs {:?} do \
             not include the registered {client_iss}",
            leaf.san_uris
        )));
    }
    jws.verify_signature(&leaf).map_err(refuse)?;
    community
        .validate_client_chain(&jws.chain, crls, now)
        .map_err(|e| {
            refuse(format!(
                "x5c: {} (community {})",
                trust::describe(&e),
                community.uri
            ))
        })?;

    let claims = &jws.claims;
    for name in ["iss", "sub"] {
        let value = required_str(claims, name).map_err(refuse)?;
        if value != client_id {
            return Err(refuse(format!(
                "`{name}` {value} is not the client_id {client_id}"
            )));
        }
    }
    check_aud(claims, token_url).map_err(refuse)?;
    let exp = check_lifetime(claims, now).map_err(refuse)?;
    let jti = required_str(claims, "jti").map_err(refuse)?.to_owned();
    let b2b = b2b_extension(claims).map_err(refuse)?;
    Ok(UdapAssertion {
        jti,
        exp,
        organization_id: b2b.organization_id,
        organization_name: b2b.organization_name,
        purpose_of_use: b2b.purpose_of_use,
    })
}

/// The members of `extensions.hl7-b2b` the token endpoint uses.
struct B2b {
    organization_id: String,
    organization_name: Option<String>,
    purpose_of_use: Vec<String>,
}

/// Reads `extensions.hl7-b2b` (STU2 §5.2.1.1).
fn b2b_extension(claims: &Map<String, Value>) -> Result<B2b, String> {
    let Some(extensions) = claims.get("extensions") else {
        return Err("`extensions` with `hl7-b2b` is required for client_credentials".to_owned());
    };
    let Some(extensions) = extensions.as_object() else {
        return Err("`extensions` is not a JSON object".to_owned());
    };
    let Some(b2b) = extensions.get("hl7-b2b") else {
        return Err("`extensions.hl7-b2b` is required for client_credentials".to_owned());
    };
    let Some(b2b) = b2b.as_object() else {
        return Err("`extensions.hl7-b2b` is not a JSON object".to_owned());
    };
    match b2b.get("version") {
        Some(Value::String(v)) if v == "1" => {}
        Some(other) => {
            return Err(format!(
                "`extensions.hl7-b2b.version` is {other}; it must be \"1\""
            ))
        }
        None => return Err("`extensions.hl7-b2b.version` is missing; it must be \"1\"".to_owned()),
    }
    let organization_id = required_str(b2b, "organization_id")
        .map_err(|e| format!("extensions.hl7-b2b: {e}"))?
        .to_owned();
    let organization_name = match b2b.get("organization_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name.clone()),
        Some(_) => return Err("`extensions.hl7-b2b.organization_name` is not a string".to_owned()),
    };
    let purpose_of_use = b2b
        .get("purpose_of_use")
        .and_then(Value::as_array)
        .and_then(|items| {
            items
                .iter()
                .map(|i| i.as_str().filter(|s| !s.is_empty()).map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .filter(|codes| !codes.is_empty())
        .ok_or_else(|| {
            "`extensions.hl7-b2b.purpose_of_use` must be a non-empty array of codes".to_owned()
        })?;
    Ok(B2b {
        organization_id,
        organization_name,
        purpose_of_use,
    })
}
