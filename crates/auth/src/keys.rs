//! The tenant's token-signing key: an ES256 key pair (ECDSA on P-256 with SHA-256, RFC 7518 §3.4) that the
//! server generates itself, stores as PKCS#8 DER, and publishes as a JWK (RFC 7517; EC members per RFC 7518
//! §6.2) in the JWK Set its SMART configuration points to (SMART App Launch 2.2, "Conformance").
//!
//! The private key never leaves this type except as [`SigningKey::pkcs8_der`] for the store; `Debug` shows only
//! the `kid`.

use std::fmt;

use jsonwebtoken::EncodingKey;
use p256::ecdsa::SigningKey as P256Key;
use p256::elliptic_curve::Generate as _;
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use serde_json::{json, Value};

use crate::jose::{b64, random_url_safe};
use crate::AuthError;

/// A tenant's ES256 signing key and its key id.
pub struct SigningKey {
    kid: String,
    pkcs8: Vec<u8>,
    pub(crate) encoding: EncodingKey,
    public_jwk: Value,
}

impl SigningKey {
    /// Generates a new P-256 key from the operating system's random source, with a random `kid` (16 bytes,
    /// base64url).
    ///
    /// # Panics
    /// When the operating system's random source fails, which leaves nothing safe to do.
    pub fn generate() -> SigningKey {
        let key = P256Key::try_generate().expect("the operating system's random source failed");
        let kid = random_url_safe(16).expect("the operating system's random source failed");
        let pkcs8 = key
            .to_pkcs8_der()
            .expect("a fresh P-256 key encodes as PKCS#8")
            .as_bytes()
            .to_vec();
        SigningKey::from_parts(kid, &key, pkcs8)
    }

    /// Loads a stored key: `pkcs8_der` as [`SigningKey::pkcs8_der`] wrote it. Refuses anything but a P-256 key.
    pub fn from_pkcs8(kid: &str, pkcs8_der: &[u8]) -> Result<SigningKey, AuthError> {
        let key = P256Key::from_pkcs8_der(pkcs8_der).map_err(|e| AuthError::InvalidKey {
            kid: Some(kid.to_owned()),
            reason: format!("not a PKCS#8 P-256 private key: {e}"),
        })?;
        Ok(SigningKey::from_parts(
            kid.to_owned(),
            &key,
            pkcs8_der.to_vec(),
        ))
    }

    fn from_parts(kid: String, key: &P256Key, pkcs8: Vec<u8>) -> SigningKey {
        let point = key.verifying_key().to_sec1_point(false);
        // An uncompressed SEC1 point is 0x04 || x || y, 32 bytes each on P-256.
        let bytes = point.as_bytes();
        let (x, y) = bytes[1..].split_at(32);
        let public_jwk = json!({
            "kty": "EC",
            "crv": "P-256",
            "x": b64(x),
            "y": b64(y),
            "kid": kid,
            "alg": "ES256",
            "use": "sig",
        });
        let encoding = EncodingKey::from_ec_der(&pkcs8);
        SigningKey {
            kid,
            pkcs8,
            encoding,
            public_jwk,
        }
    }

    /// The private key as PKCS#8 DER, for the store. Never log it.
    pub fn pkcs8_der(&self) -> Vec<u8> {
        self.pkcs8.clone()
    }

    /// The key id, carried in the `kid` header of every token this key signs.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK: `{"kty":"EC","crv":"P-256","x","y","kid","alg":"ES256","use":"sig"}`.
    pub fn public_jwk(&self) -> Value {
        self.public_jwk.clone()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A JWK Set (RFC 7517 §5): `{"keys": [...]}`.
pub fn jwks(keys: &[Value]) -> Value {
    json!({ "keys": keys })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_round_trips_through_pkcs8() {
        let key = SigningKey::generate();
        let again = SigningKey::from_pkcs8(key.kid(), &key.pkcs8_der()).unwrap();
        assert_eq!(again.kid(), key.kid());
        assert_eq!(again.public_jwk(), key.public_jwk());
    }

    #[test]
    fn public_jwk_has_the_ec_members() {
        let key = SigningKey::generate();
        let jwk = key.public_jwk();
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], "P-256");
        assert_eq!(jwk["alg"], "ES256");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kid"], key.kid());
        for member in ["x", "y"] {
            let text = jwk[member].as_str().unwrap();
            assert_eq!(crate::jose::unb64(text).unwrap().len(), 32, "{member}");
        }
        assert!(
            jwk.get("d").is_none(),
            "the private scalar is never published"
        );
    }

    #[test]
    fn kids_are_random_and_url_safe() {
        let (a, b) = (SigningKey::generate(), SigningKey::generate());
        assert_ne!(a.kid(), b.kid());
        assert_eq!(a.kid().len(), 22);
        assert!(a
            .kid()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn debug_shows_only_the_kid() {
        let key = SigningKey::generate();
        let text = format!("{key:?}");
        assert_eq!(text, format!("SigningKey {{ kid: {:?}, .. }}", key.kid()));
    }

    #[test]
    fn from_pkcs8_refuses_garbage_and_other_curves() {
        let err = SigningKey::from_pkcs8("k", b"not a key").unwrap_err();
        assert!(
            matches!(err, AuthError::InvalidKey { kid: Some(ref k), .. } if k == "k"),
            "{err}"
        );
        let p384 = crate::testing::TestClientKey::ec384("k384");
        assert!(SigningKey::from_pkcs8("k", p384.private_der()).is_err());
    }

    #[test]
    fn jwks_wraps_the_keys() {
        let key = SigningKey::generate();
        assert_eq!(
            jwks(&[key.public_jwk()]),
            json!({"keys": [key.public_jwk()]})
        );
        assert_eq!(jwks(&[]), json!({"keys": []}));
    }
}
