//! Reading the parts of a compact JWS (RFC 7515 §7.1) without verifying it, and random url-safe strings.
//! The verifiers read the header themselves, before handing the token to `jsonwebtoken`, so that a refusal can
//! say exactly what was wrong (`alg: none`, an unknown `kid`, a `jku`), which that crate's typed header cannot.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};

/// The decoded JSON header and payload of a compact JWS.
pub(crate) struct Parts {
    pub header: Map<String, Value>,
    pub payload: Map<String, Value>,
}

/// Splits `jwt` into its three dot-separated parts and decodes the header and payload as JSON objects.
/// The error says which part is malformed.
pub(crate) fn parts(jwt: &str) -> Result<Parts, String> {
    let mut it = jwt.split('.');
    let (Some(header), Some(payload), Some(_signature), None) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return Err("not a compact JWS (three dot-separated parts)".to_owned());
    };
    Ok(Parts {
        header: object(header).map_err(|e| format!("malformed JOSE header: {e}"))?,
        payload: object(payload).map_err(|e| format!("malformed claims: {e}"))?,
    })
}

fn object(part: &str) -> Result<Map<String, Value>, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| format!("not base64url: {e}"))?;
    match serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))? {
        Value::Object(map) => Ok(map),
        _ => Err("not a JSON object".to_owned()),
    }
}

/// `header[name]` as a string: `Ok(None)` when absent, an error when present but not a string.
pub(crate) fn string_member<'a>(
    map: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, String> {
    match map.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("`{name}` is not a string")),
    }
}

/// `n` random bytes from the operating system, base64url without padding.
pub(crate) fn random_url_safe(n: usize) -> Result<String, crate::AuthError> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| crate::AuthError::Random(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Base64url without padding, as JWK members are written (RFC 7518 §6.2.1.2).
pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes a base64url member (padding-free, as JWKs write them).
pub(crate) fn unb64(text: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| format!("not base64url: {e}"))
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
