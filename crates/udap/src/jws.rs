//! Compact JWS as UDAP uses it: the header's `x5c` carries the signer's certificate chain and
//! the signature must verify with the first certificate's key (FAST Security STU2 §7.1.3 "JWT
//! headers"). Only RS256, RS384, ES256 and ES384 (STU2 §7.1.2) are accepted, and
//! only with a key of the matching type: `none` and HMAC algorithms are refused outright, so a
//! public key can never be used as an HMAC secret.
//!
//! Claim checks shared by software statements and client assertions live here too: lifetimes of
//! at most 300 s (STU2 §3.1 for software statements, §5.2.1 for authentication tokens) and a
//! 60 s clock leeway.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

use crate::cert::{decode_x5c_entry, CertInfo, Curve, PublicKey};

/// The longest lifetime (`exp` − `iat`) UDAP allows for software statements and assertions.
pub(crate) const MAX_LIFETIME_SECS: i64 = 300;
/// Clock skew tolerated on `exp` and `iat`.
pub(crate) const LEEWAY_SECS: i64 = 60;

/// A parsed, not yet verified, compact JWS with an `x5c` header.
#[derive(Debug)]
pub(crate) struct Jws<'a> {
    pub alg: Algorithm,
    /// `x5c` as DER, leaf first; never empty.
    pub chain: Vec<Vec<u8>>,
    pub claims: Map<String, Value>,
    signing_input: &'a str,
    signature: &'a str,
}

impl<'a> Jws<'a> {
    /// Splits and decodes `jwt`, refusing algorithms UDAP does not allow.
    pub(crate) fn parse(jwt: &'a str) -> Result<Self, String> {
        let jwt = jwt.trim();
        let (header, claims, signature) = split(jwt)?;
        let header = decode_object(header).map_err(|e| format!("JWT header: {e}"))?;
        let alg = match header.get("alg") {
            Some(Value::String(alg)) => allowed_alg(alg)?,
            Some(_) => return Err("JWT header `alg` is not a string".to_owned()),
            None => return Err("JWT header has no `alg`".to_owned()),
        };
        if header.contains_key("crit") {
            // RFC 7515 §4.1.11: a recipient that does not understand a critical extension refuses.
            return Err(
                "JWT header `crit` names extensions this server does not support".to_owned(),
            );
        }
        let chain = x5c(&header)?;
        let claims = decode_object(claims).map_err(|e| format!("JWT claims: {e}"))?;
        let signing_input = &jwt[..jwt.rfind('.').unwrap_or(0)];
        Ok(Self {
            alg,
            chain,
            claims,
            signing_input,
            signature,
        })
    }

    /// Verifies the signature with the key of `leaf` (the first `x5c` certificate).
    pub(crate) fn verify_signature(&self, leaf: &CertInfo) -> Result<(), String> {
        let key = match (&self.alg, &leaf.key) {
            (Algorithm::RS256 | Algorithm::RS384, PublicKey::Rsa { pkcs1, bits }) => {
                if *bits < 2048 {
                    return Err(format!(
                        "the x5c certificate's RSA key has {bits} bits; at least 2048 are required"
                    ));
                }
                DecodingKey::from_rsa_der(pkcs1)
            }
            (
                Algorithm::ES256,
                PublicKey::Ec {
                    curve: Curve::P256,
                    point,
                },
            )
            | (
                Algorithm::ES384,
                PublicKey::Ec {
                    curve: Curve::P384,
                    point,
                },
            ) => DecodingKey::from_ec_der(point),
            (alg, key) => {
                return Err(format!(
                    "JWT alg {alg:?} does not match the x5c certificate's {} key",
                    key.describe()
                ))
            }
        };
        match jsonwebtoken::crypto::verify(
            self.signature,
            self.signing_input.as_bytes(),
            &key,
            self.alg,
        ) {
            Ok(true) => Ok(()),
            Ok(false) | Err(_) => Err(
                "the JWT signature does not verify with the key of the x5c certificate".to_owned(),
            ),
        }
    }
}

/// The `x5c` DER certificates of `jwt`'s header, without any check of the signature or `alg`.
pub(crate) fn peek_x5c(jwt: &str) -> Option<Vec<Vec<u8>>> {
    let (header, _, _) = split(jwt.trim()).ok()?;
    x5c(&decode_object(header).ok()?).ok()
}

fn split(jwt: &str) -> Result<(&str, &str, &str), String> {
    let mut parts = jwt.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(c), Some(s), None) => Ok((h, c, s)),
        _ => Err("not a compact JWS (three base64url parts separated by dots)".to_owned()),
    }
}

fn decode_object(part: &str) -> Result<Map<String, Value>, String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| "not base64url".to_owned())?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("not a JSON object".to_owned()),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

fn allowed_alg(alg: &str) -> Result<Algorithm, String> {
    match alg {
        "RS256" => Ok(Algorithm::RS256),
        "RS384" => Ok(Algorithm::RS384),
        "ES256" => Ok(Algorithm::ES256),
        "ES384" => Ok(Algorithm::ES384),
        "none" => Err("JWT alg `none` is refused: UDAP JWTs are signed".to_owned()),
        other => Err(format!(
            "JWT alg `{other}` is refused: UDAP JWTs are signed with the x5c certificate's private \
             key using RS256, RS384, ES256 or ES384"
        )),
    }
}

fn x5c(header: &Map<String, Value>) -> Result<Vec<Vec<u8>>, String> {
    let Some(x5c) = header.get("x5c") else {
        return Err("JWT header has no `x5c` certificate chain".to_owned());
    };
    let Some(entries) = x5c.as_array().filter(|a| !a.is_empty()) else {
        return Err("JWT header `x5c` is not a non-empty array".to_owned());
    };
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            entry
                .as_str()
                .and_then(decode_x5c_entry)
                .ok_or_else(|| format!("JWT header `x5c`[{i}] is not a base64 certificate"))
        })
        .collect()
}

/// A required, non-empty string claim.
pub(crate) fn required_str<'m>(
    claims: &'m Map<String, Value>,
    name: &str,
) -> Result<&'m str, String> {
    match claims.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => Err(format!("`{name}` is empty")),
        Some(_) => Err(format!("`{name}` is not a string")),
        None => Err(format!("`{name}` is missing")),
    }
}

/// `aud` is `expected` exactly: a string, or an array holding only that string (RFC 7519 §4.1.3).
pub(crate) fn check_aud(claims: &Map<String, Value>, expected: &str) -> Result<(), String> {
    let ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == expected,
        Some(Value::Array(auds)) => auds.len() == 1 && auds[0].as_str() == Some(expected),
        None => return Err(format!("`aud` is missing; it must be {expected}")),
        Some(_) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("`aud` {} is not {expected}", claims["aud"]))
    }
}

/// Checks `iat` and `exp` at `now`; returns `exp`.
pub(crate) fn check_lifetime(claims: &Map<String, Value>, now: i64) -> Result<i64, String> {
    let iat = numeric_date(claims, "iat")?;
    let exp = numeric_date(claims, "exp")?;
    if exp <= iat {
        return Err(format!("`exp` ({exp}) is not after `iat` ({iat})"));
    }
    if exp - iat > MAX_LIFETIME_SECS {
        return Err(format!(
            "`exp` is {} s after `iat`; at most {MAX_LIFETIME_SECS} s (5 minutes) is allowed",
            exp - iat
        ));
    }
    if now > exp + LEEWAY_SECS {
        return Err(format!("the JWT expired at {exp} (now {now})"));
    }
    if iat > now + LEEWAY_SECS {
        return Err(format!("`iat` ({iat}) is in the future (now {now})"));
    }
    Ok(exp)
}

fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<i64, String> {
    let value = claims
        .get(name)
        .ok_or_else(|| format!("`{name}` is missing"))?;
    value
        .as_i64()
        .or_else(|| {
            value
                .as_f64()
                .filter(|f| f.is_finite())
                .map(|f| f.floor() as i64)
        })
        .ok_or_else(|| format!("`{name}` is not a NumericDate (seconds since the epoch)"))
}
