//! Signing fhirdir's own client assertions, for when fhirdir is the client: a replica tenant
//! asking an upstream directory's token endpoint for a SMART Backend Services token (SMART
//! App Launch 2.2, "Authenticating to the token endpoint"). The algorithm follows the key:
//! RS384 for RSA, ES384 for EC P-384, ES256 for EC P-256.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::jose::random_url_safe;

/// Whether `pem` is a private key fhirdir can sign assertions with (RSA, EC P-256 or P-384).
pub fn check_private_key(pem: &str) -> Result<(), String> {
    sign(pem, "check", "https://check.invalid/token", 0).map(|_| ())
}

/// A client assertion for `client_id` at `token_url`, issued at `now` (seconds since the
/// epoch), valid four minutes, with a fresh `jti`, signed with `pem`.
pub fn sign(pem: &str, client_id: &str, token_url: &str, now: i64) -> Result<String, String> {
    let claims = json!({
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "iat": now,
        "exp": now + 240,
        "jti": random_url_safe(16).map_err(|e| e.to_string())?,
    });
    if let Ok(key) = EncodingKey::from_rsa_pem(pem.as_bytes()) {
        return jsonwebtoken::encode(&Header::new(Algorithm::RS384), &claims, &key)
            .map_err(|e| format!("the RSA private key cannot sign: {e}"));
    }
    let key = EncodingKey::from_ec_pem(pem.as_bytes())
        .map_err(|e| format!("private_key is not a PEM RSA or EC private key: {e}"))?;
    // The PEM does not say its curve to jsonwebtoken: P-384 signs ES384, P-256 only ES256.
    jsonwebtoken::encode(&Header::new(Algorithm::ES384), &claims, &key)
        .or_else(|_| jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &key))
        .map_err(|e| format!("the EC private key cannot sign (P-256 or P-384 only): {e}"))
}
