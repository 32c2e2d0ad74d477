//! The server's own access tokens: JWTs (RFC 7519) signed ES256 with the tenant's [`SigningKey`], whose `kid`
//! header names the key, issued by the token endpoint (SMART App Launch 2.2 Backend Services, "Issuing an access
//! token": <https://hl7.org/fhir/smart-app-launch/STU2.2/backend-services.html>) and checked on every FHIR
//! request by a [`TokenVerifier`].
//!
//! Verification rules: the algorithm is ES256 because that is the only kind of key the server signs with; the
//! header's `alg` is compared against it and never chooses it (RFC 8725 §3.1: `none`, `HS256` with the public key
//! as secret, and every other substitution are refused). `aud` must equal the tenant's base URL exactly, so a
//! token is good only at the tenant that issued it; `exp` is required and checked with
//! [`crate::CLOCK_LEEWAY_SECS`] of leeway, again on every cache hit.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::jose::{self, string_member};
use crate::keys::SigningKey;
use crate::{AuthError, CLOCK_LEEWAY_SECS};

/// How many verified tokens a [`TokenVerifier`] remembers by default.
pub const DEFAULT_CACHE_LIMIT: usize = 100_000;

/// The claims of an access token this server issues.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AccessClaims {
    /// The tenant's FHIR base URL.
    pub iss: String,
    /// The tenant's FHIR base URL: a token is valid only at the tenant that issued it.
    pub aud: String,
    /// The client_id the token was issued to.
    pub sub: String,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issue time, Unix seconds.
    pub iat: i64,
    /// Unique token id.
    pub jti: String,
    /// The granted scopes, space-separated (a [`crate::Scopes`] printed).
    pub scope: String,
    /// The organization the client acts for, when its registration names one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub organization: Option<String>,
    /// Purposes of use the client registered, when any.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub purpose_of_use: Vec<String>,
    /// The client may see all restricted content (an operator's grant at registration).
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub see_restricted: bool,
}

/// Signs `claims` as an ES256 JWT with `key`, its `kid` in the header.
pub fn issue(key: &SigningKey, claims: &AccessClaims) -> Result<String, AuthError> {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid().to_owned());
    jsonwebtoken::encode(&header, claims, &key.encoding)
        .map_err(|e| AuthError::Signing(e.to_string()))
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The header names no key this verifier holds (or none at all): the caller may reload the tenant's keys
    /// after a rotation and try once more.
    #[error("token signed with an unknown key (kid {kid:?})")]
    UnknownKey {
        /// The header's `kid`, when it had one.
        kid: Option<String>,
    },
    /// The token is not one of ours or no longer good; the text says why (expired, wrong aud, bad signature,
    /// malformed, alg not ES256, ...).
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// Verifies the server's tokens against a tenant's public keys (by `kid`) and remembers the tokens it has
/// verified, keyed by their text until their `exp`, so a repeated bearer token costs a hash lookup rather than a
/// signature check. At most [`DEFAULT_CACHE_LIMIT`] tokens are remembered: when full, expired entries go first,
/// then arbitrary ones. Thread-safe; share it in an `Arc`.
pub struct TokenVerifier {
    expected_aud: String,
    keys: HashMap<String, DecodingKey>,
    validation: Validation,
    cache: RwLock<HashMap<String, Arc<AccessClaims>>>,
    cache_limit: usize,
}

impl TokenVerifier {
    /// A verifier for tokens whose `aud` is `expected_aud` (the tenant's FHIR base URL), signed by one of `keys`:
    /// public JWKs as [`SigningKey::public_jwk`] writes them. Refuses a key that is not an ES256 P-256 key with a
    /// `kid`.
    pub fn new(expected_aud: String, keys: Vec<Value>) -> Result<TokenVerifier, AuthError> {
        let keys = keys
            .iter()
            .map(p256_public_key)
            .collect::<Result<HashMap<_, _>, _>>()?;
        let mut validation = Validation::new(Algorithm::ES256);
        // exp and aud are checked here, with this crate's leeway and an exact aud; jsonwebtoken only verifies
        // the signature and that the header's alg is ES256.
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        validation.leeway = 0;
        Ok(TokenVerifier {
            expected_aud,
            keys,
            validation,
            cache: RwLock::new(HashMap::new()),
            cache_limit: DEFAULT_CACHE_LIMIT,
        })
    }

    /// The same verifier remembering at most `limit` tokens (at least one).
    pub fn with_cache_limit(mut self, limit: usize) -> TokenVerifier {
        self.cache_limit = limit.max(1);
        self
    }

    /// Verifies a bearer token now.
    pub fn verify(&self, token: &str) -> Result<Arc<AccessClaims>, TokenError> {
        self.verify_at(token, jose::now())
    }

    /// Verifies a bearer token as of `now` (Unix seconds).
    pub(crate) fn verify_at(&self, token: &str, now: i64) -> Result<Arc<AccessClaims>, TokenError> {
        let hit = self
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token)
            .cloned();
        if let Some(claims) = hit {
            check_exp(claims.exp, now)?;
            return Ok(claims);
        }
        let claims = Arc::new(self.verify_uncached(token, now)?);
        self.remember(token, Arc::clone(&claims), now);
        Ok(claims)
    }

    fn verify_uncached(&self, token: &str, now: i64) -> Result<AccessClaims, TokenError> {
        let parts = jose::parts(token).map_err(TokenError::Invalid)?;
        match string_member(&parts.header, "alg").map_err(TokenError::Invalid)? {
            Some("ES256") => {}
            Some(other) => {
                return Err(TokenError::Invalid(format!(
                    "alg `{other}` is not accepted; only ES256"
                )))
            }
            None => return Err(TokenError::Invalid("the header has no alg".to_owned())),
        }
        let kid = string_member(&parts.header, "kid").map_err(TokenError::Invalid)?;
        let Some(key) = kid.and_then(|k| self.keys.get(k)) else {
            return Err(TokenError::UnknownKey {
                kid: kid.map(str::to_owned),
            });
        };
        let claims = jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation)
            .map_err(|e| {
                TokenError::Invalid(match e.kind() {
                    ErrorKind::InvalidSignature => "bad signature".to_owned(),
                    ErrorKind::Json(e) => format!("malformed claims: {e}"),
                    _ => format!("malformed: {e}"),
                })
            })?
            .claims;
        if claims.aud != self.expected_aud {
            return Err(TokenError::Invalid(format!(
                "wrong aud `{}`: this server is `{}`",
                claims.aud, self.expected_aud
            )));
        }
        check_exp(claims.exp, now)?;
        Ok(claims)
    }

    fn remember(&self, token: &str, claims: Arc<AccessClaims>, now: i64) {
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= self.cache_limit {
            cache.retain(|_, c| check_exp(c.exp, now).is_ok());
        }
        if cache.len() >= self.cache_limit {
            // Still full of live tokens: drop a tenth, arbitrarily, so the next inserts do not each pay for a
            // scan of the whole map.
            let excess = cache.len() + 1 - self.cache_limit;
            let drop = excess.max(self.cache_limit / 10);
            let victims: Vec<String> = cache.keys().take(drop).cloned().collect();
            for victim in victims {
                cache.remove(&victim);
            }
        }
        cache.insert(token.to_owned(), claims);
    }

    #[cfg(test)]
    fn cached(&self) -> usize {
        self.cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

fn check_exp(exp: i64, now: i64) -> Result<(), TokenError> {
    if now > exp.saturating_add(CLOCK_LEEWAY_SECS) {
        Err(TokenError::Invalid(format!("expired at {exp}")))
    } else {
        Ok(())
    }
}

/// Reads one of the tenant's public JWKs: an EC P-256 key with a `kid` (and `alg` ES256 when it says).
fn p256_public_key(jwk: &Value) -> Result<(String, DecodingKey), AuthError> {
    let kid = jwk.get("kid").and_then(Value::as_str);
    let invalid = |reason: &str| AuthError::InvalidKey {
        kid: kid.map(str::to_owned),
        reason: reason.to_owned(),
    };
    let kid = kid.ok_or_else(|| invalid("a token-signing JWK needs a kid"))?;
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    if member("kty") != Some("EC") || member("crv") != Some("P-256") {
        return Err(invalid("a token-signing JWK must be EC P-256"));
    }
    if member("alg").is_some_and(|alg| alg != "ES256") {
        return Err(invalid("a token-signing JWK must have alg ES256"));
    }
    let (Some(x), Some(y)) = (member("x"), member("y")) else {
        return Err(invalid("an EC JWK needs x and y"));
    };
    for coordinate in [x, y] {
        if jose::unb64(coordinate).map_err(|e| invalid(&e))?.len() != 32 {
            return Err(invalid("a P-256 coordinate is 32 bytes"));
        }
    }
    // Refuse a point off the curve now rather than on every verification.
    let mut sec1 = vec![4u8];
    sec1.extend(jose::unb64(x).map_err(|e| invalid(&e))?);
    sec1.extend(jose::unb64(y).map_err(|e| invalid(&e))?);
    p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
        .map_err(|_| invalid("not a point on P-256"))?;
    let key = DecodingKey::from_ec_components(x, y).map_err(|e| invalid(&e.to_string()))?;
    Ok((kid.to_owned(), key))
}

#[cfg(test)]
mod tests;
