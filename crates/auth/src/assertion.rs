//! `private_key_jwt` client authentication: the signed JWT a backend client sends as `client_assertion` to the
//! token endpoint (RFC 7523 §3 and RFC 7521 §4.2; SMART App Launch 2.2 Backend Services, "Authenticating to the
//! token endpoint": <https://hl7.org/fhir/smart-app-launch/STU2.2/backend-services.html>).
//!
//! Rules, each refused with a message the token endpoint returns as `invalid_client`'s `error_description`:
//! - `iss` and `sub` both equal the client_id (SMART: "iss ... sub: the service's client_id").
//! - `aud` is the token endpoint URL exactly: a string, or a one-element array holding it (RFC 7519 §4.1.3).
//! - `exp` is present, not past (with [`crate::CLOCK_LEEWAY_SECS`]), and at most five minutes ahead (SMART: "no
//!   more than five minutes in the future"); `jti` is present and non-empty. Replay of a `jti` is for the caller,
//!   which has the store, to refuse.
//! - The header's `kid` picks the key from the client's JWK Set; without a `kid` only a one-key set will do. A
//!   `jku` header must be exactly the registered `jwks_uri` (SMART: the server "SHALL" check it).
//! - The algorithm follows from the chosen key, never from the header (RFC 8725 §3.1): a key's own `alg`, when it
//!   has one, must equal the header's; otherwise RSA keys take RS256/RS384/RS512 and EC keys the algorithm of
//!   their curve (P-256 ES256, P-384 ES384). `alg: none`, HMAC (a public key used as a shared secret) and
//!   an algorithm of another family are refused.

use std::str::FromStr as _;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::jose::{self, string_member};
use crate::CLOCK_LEEWAY_SECS;

/// The longest a client assertion may live: SMART Backend Services asks for an `exp` "no more than five minutes
/// in the future".
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 300;

/// What the token endpoint needs from a verified assertion: who it is, and the `jti`/`exp` pair to refuse a
/// replay until the assertion would have expired anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionClaims {
    /// The client_id.
    pub iss: String,
    /// The assertion's unique id.
    pub jti: String,
    /// Its expiry, Unix seconds.
    pub exp: i64,
}

/// Why a client assertion was refused; `Display` says exactly what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AssertionError(pub String);

fn refuse<T>(message: impl Into<String>) -> Result<T, AssertionError> {
    Err(AssertionError(message.into()))
}

/// Reads `iss` (or, without one, `sub`) from a JWT without verifying anything, to look up the client whose keys
/// will verify it. `None` when the text is not a JWT or names no issuer.
pub fn unverified_issuer(jwt: &str) -> Option<String> {
    let parts = jose::parts(jwt).ok()?;
    let member = |name| string_member(&parts.payload, name).ok().flatten();
    member("iss").or_else(|| member("sub")).map(str::to_owned)
}

/// Verifies `jwt`, a client assertion, against the client's registered JWK Set (`{"keys": [...]}`) as of `now`
/// (Unix seconds): the client is `client_id`, the token endpoint is `token_url`, and `registered_jwks_uri` is
/// the client's registered `jwks_uri`, if any. See the module documentation for the rules.
pub fn verify_client_assertion(
    jwt: &str,
    jwks: &Value,
    client_id: &str,
    token_url: &str,
    registered_jwks_uri: Option<&str>,
    now: i64,
) -> Result<AssertionClaims, AssertionError> {
    let parts = jose::parts(jwt).map_err(|e| AssertionError(format!("client_assertion: {e}")))?;
    let header = &parts.header;
    let member =
        |name| string_member(header, name).map_err(|e| AssertionError(format!("JOSE header: {e}")));
    let alg = match member("alg")? {
        None => return refuse("the JOSE header has no alg"),
        Some("none") => return refuse("alg `none` is not accepted: the assertion must be signed"),
        Some(alg) => alg,
    };
    if let Some(jku) = member("jku")? {
        match registered_jwks_uri {
            None => {
                return refuse(format!(
                    "header jku `{jku}` given, but the client registered no jwks_uri"
                ))
            }
            Some(registered) if registered != jku => {
                return refuse(format!(
                    "header jku `{jku}` is not the registered jwks_uri `{registered}`"
                ))
            }
            Some(_) => {}
        }
    }
    let Some(keys) = jwks.get("keys").and_then(Value::as_array) else {
        return refuse("the client's registered JWK Set has no `keys` array");
    };
    let jwk = select_key(keys, member("kid")?)?;
    let (algorithm, key) = key_for(jwk, alg)?;
    verify_signature(jwt, &key, algorithm, jwk)?;
    check_claims(&parts.payload, client_id, token_url, now)
}

/// The key the header's `kid` names; without a `kid`, the only key of a one-key set.
fn select_key<'a>(keys: &'a [Value], kid: Option<&str>) -> Result<&'a Value, AssertionError> {
    match kid {
        Some(kid) => match keys.iter().find(|k| k.get("kid").and_then(Value::as_str) == Some(kid)) {
            Some(key) => Ok(key),
            None => refuse(format!("no key with kid `{kid}` in the client's JWK Set")),
        },
        None => match keys {
            [only] => Ok(only),
            [] => refuse("the client's JWK Set has no keys"),
            _ => refuse(format!(
                "the JOSE header has no kid and the client's JWK Set has {} keys: name one with kid",
                keys.len()
            )),
        },
    }
}

/// The algorithm the key allows (checked against the header's `alg`) and the key itself.
fn key_for(jwk: &Value, header_alg: &str) -> Result<(Algorithm, DecodingKey), AssertionError> {
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    let kid = member("kid").unwrap_or("(no kid)");
    if let Some(usage) = member("use").filter(|u| *u != "sig") {
        return refuse(format!("key `{kid}` has use `{usage}`, not sig"));
    }
    let (family, accepted): (&str, &[&str]) = match (member("kty"), member("crv")) {
        (Some("RSA"), _) => ("RSA", &["RS256", "RS384", "RS512"]),
        (Some("EC"), Some("P-256")) => ("EC P-256", &["ES256"]),
        (Some("EC"), Some("P-384")) => ("EC P-384", &["ES384"]),
        (Some("EC"), crv) => {
            return refuse(format!(
                "key `{kid}`: EC curve {crv:?} is not accepted (P-256, P-384)"
            ))
        }
        (Some(kty), _) => {
            return refuse(format!(
                "key `{kid}`: key type `{kty}` is not accepted (RSA, EC)"
            ))
        }
        (None, _) => return refuse(format!("key `{kid}` has no kty")),
    };
    match member("alg") {
        Some(key_alg) if !accepted.contains(&key_alg) => {
            return refuse(format!(
                "key `{kid}` declares alg `{key_alg}`, not accepted for an {family} key"
            ))
        }
        Some(key_alg) if key_alg != header_alg => {
            return refuse(format!(
                "header alg `{header_alg}` does not match key `{kid}`'s alg `{key_alg}`"
            ))
        }
        _ if !accepted.contains(&header_alg) => {
            return refuse(format!(
                "header alg `{header_alg}` is not accepted for key `{kid}` ({family}: {})",
                accepted.join(", ")
            ))
        }
        _ => {}
    }
    let algorithm = Algorithm::from_str(header_alg).map_err(|e| AssertionError(e.to_string()))?;
    let component = |name: &str| {
        member(name).ok_or_else(|| AssertionError(format!("key `{kid}` has no `{name}`")))
    };
    let key = if family == "RSA" {
        let n = component("n")?;
        // RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used with these algorithms."
        let modulus = jose::unb64(n).map_err(|e| AssertionError(format!("key `{kid}` n: {e}")))?;
        let bits = modulus.iter().skip_while(|b| **b == 0).count() * 8;
        if bits < 2048 {
            return refuse(format!(
                "key `{kid}`: an RSA modulus of about {bits} bits is under 2048"
            ));
        }
        DecodingKey::from_rsa_components(n, component("e")?)
    } else {
        let size = if algorithm == Algorithm::ES256 {
            32
        } else {
            48
        };
        let (x, y) = (component("x")?, component("y")?);
        for (name, value) in [("x", x), ("y", y)] {
            let bytes = jose::unb64(value)
                .map_err(|e| AssertionError(format!("key `{kid}` {name}: {e}")))?;
            if bytes.len() != size {
                return refuse(format!("key `{kid}`: {name} is not {size} bytes"));
            }
        }
        DecodingKey::from_ec_components(x, y)
    };
    let key = key.map_err(|e| AssertionError(format!("key `{kid}` is not usable: {e}")))?;
    Ok((algorithm, key))
}

fn verify_signature(
    jwt: &str,
    key: &DecodingKey,
    algorithm: Algorithm,
    jwk: &Value,
) -> Result<(), AssertionError> {
    let kid = jwk.get("kid").and_then(Value::as_str).unwrap_or("(no kid)");
    let mut validation = Validation::new(algorithm);
    // The claims are checked by `check_claims` against the caller's `now`; jsonwebtoken checks only the signature.
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation.leeway = 0;
    match jsonwebtoken::decode::<Value>(jwt, key, &validation) {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {
            refuse(format!("the signature does not verify with key `{kid}`"))
        }
        Err(e) => refuse(format!(
            "client_assertion could not be verified with key `{kid}`: {e}"
        )),
    }
}

fn check_claims(
    claims: &Map<String, Value>,
    client_id: &str,
    token_url: &str,
    now: i64,
) -> Result<AssertionClaims, AssertionError> {
    let member = |name| string_member(claims, name).map_err(AssertionError);
    let Some(iss) = member("iss")? else {
        return refuse("iss is required (the client_id)");
    };
    if iss != client_id {
        return refuse(format!("iss `{iss}` is not the client_id `{client_id}`"));
    }
    match member("sub")? {
        None => return refuse("sub is required (the client_id)"),
        Some(sub) if sub != iss => return refuse(format!("sub `{sub}` is not iss `{iss}`")),
        Some(_) => {}
    }
    let aud_ok = match claims.get("aud") {
        None => {
            return refuse(format!(
                "aud is required (the token endpoint `{token_url}`)"
            ))
        }
        Some(Value::String(aud)) => aud == token_url,
        Some(Value::Array(auds)) => {
            matches!(auds.as_slice(), [Value::String(aud)] if aud == token_url)
        }
        Some(_) => false,
    };
    if !aud_ok {
        return refuse(format!(
            "aud {} is not the token endpoint `{token_url}`",
            claims["aud"]
        ));
    }
    let Some(exp) = numeric_date(claims, "exp")? else {
        return refuse("exp is required");
    };
    if now > exp.saturating_add(CLOCK_LEEWAY_SECS) {
        return refuse(format!("the assertion expired at {exp} (now {now})"));
    }
    if exp > now.saturating_add(MAX_ASSERTION_LIFETIME_SECS + CLOCK_LEEWAY_SECS) {
        return refuse(format!(
            "exp {exp} is more than five minutes after now ({now})"
        ));
    }
    if let Some(nbf) = numeric_date(claims, "nbf")? {
        if nbf > now.saturating_add(CLOCK_LEEWAY_SECS) {
            return refuse(format!(
                "the assertion is not valid before {nbf} (now {now})"
            ));
        }
    }
    let jti = match member("jti")? {
        Some(jti) if !jti.is_empty() => jti,
        _ => return refuse("jti is required and must not be empty"),
    };
    Ok(AssertionClaims {
        iss: iss.to_owned(),
        jti: jti.to_owned(),
        exp,
    })
}

/// A NumericDate claim (RFC 7519 §2: seconds, possibly fractional), truncated to whole seconds.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, AssertionError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
        {
            Some(seconds) => Ok(Some(seconds)),
            None => refuse(format!("{name} is not a NumericDate")),
        },
        Some(_) => refuse(format!("{name} is not a NumericDate")),
    }
}

#[cfg(test)]
mod tests;
