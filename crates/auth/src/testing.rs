//! Test helpers, for tests only (feature `testing`): client key pairs that publish a JWK and sign client
//! assertions, as a backend client would (SMART App Launch 2.2 Backend Services, "Authenticating to the token
//! endpoint"), and a valid set of assertion claims. Not for production: keys live in memory, `sign` panics on
//! misuse, and [`TestClientKey::rsa`] reuses one key per process.

use std::sync::OnceLock;

use jsonwebtoken::{Algorithm, AlgorithmFamily, EncodingKey, Header};
use serde_json::{json, Value};

use crate::jose::{b64, random_url_safe};

/// A client's key pair for tests: RSA 2048, EC P-256 or EC P-384.
pub struct TestClientKey {
    kid: String,
    private_der: Vec<u8>,
    encoding: EncodingKey,
    public_jwk: Value,
    default_alg: Algorithm,
}

/// One RSA-2048 key per process, as PKCS#1 DER with its modulus and exponent: generating one takes a noticeable
/// time, and tests rarely need two different RSA keys.
fn shared_rsa() -> &'static (Vec<u8>, Vec<u8>, Vec<u8>) {
    static KEY: OnceLock<(Vec<u8>, Vec<u8>, Vec<u8>)> = OnceLock::new();
    KEY.get_or_init(|| {
        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        use rsa::traits::PublicKeyParts as _;
        let key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).expect("RSA key generation");
        let der = key
            .to_pkcs1_der()
            .expect("PKCS#1 encoding")
            .as_bytes()
            .to_vec();
        (der, key.n_bytes().into_vec(), key.e_bytes().into_vec())
    })
}

impl TestClientKey {
    /// An RSA-2048 key (the same key material for every call in a process) published with `kid`; signs RS384 by
    /// default.
    pub fn rsa(kid: &str) -> TestClientKey {
        let (der, n, e) = shared_rsa();
        TestClientKey {
            kid: kid.to_owned(),
            private_der: der.clone(),
            encoding: EncodingKey::from_rsa_der(der),
            public_jwk: json!({"kty": "RSA", "n": b64(n), "e": b64(e), "kid": kid}),
            default_alg: Algorithm::RS384,
        }
    }

    /// A fresh EC P-256 key published with `kid`; signs ES256.
    pub fn ec256(kid: &str) -> TestClientKey {
        use p256::elliptic_curve::Generate as _;
        use p256::pkcs8::EncodePrivateKey as _;
        let key = p256::ecdsa::SigningKey::try_generate().expect("P-256 key generation");
        let der = key
            .to_pkcs8_der()
            .expect("PKCS#8 encoding")
            .as_bytes()
            .to_vec();
        let point = key.verifying_key().to_sec1_point(false);
        TestClientKey::ec(kid, der, point.as_bytes(), "P-256", Algorithm::ES256)
    }

    /// A fresh EC P-384 key published with `kid`; signs ES384.
    pub fn ec384(kid: &str) -> TestClientKey {
        use p384::elliptic_curve::Generate as _;
        use p384::pkcs8::EncodePrivateKey as _;
        let key = p384::ecdsa::SigningKey::try_generate().expect("P-384 key generation");
        let der = key
            .to_pkcs8_der()
            .expect("PKCS#8 encoding")
            .as_bytes()
            .to_vec();
        let point = key.verifying_key().to_sec1_point(false);
        TestClientKey::ec(kid, der, point.as_bytes(), "P-384", Algorithm::ES384)
    }

    fn ec(
        kid: &str,
        der: Vec<u8>,
        point: &[u8],
        crv: &str,
        default_alg: Algorithm,
    ) -> TestClientKey {
        // An uncompressed SEC1 point: 0x04 || x || y.
        let (x, y) = point[1..].split_at((point.len() - 1) / 2);
        TestClientKey {
            kid: kid.to_owned(),
            encoding: EncodingKey::from_ec_der(&der),
            private_der: der,
            public_jwk: json!({"kty": "EC", "crv": crv, "x": b64(x), "y": b64(y), "kid": kid}),
            default_alg,
        }
    }

    /// The `kid` the key is published and signs with.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK (`kty`, `kid` and the key members; no `alg`, so the key's type decides).
    pub fn public_jwk(&self) -> Value {
        self.public_jwk.clone()
    }

    /// The private key: PKCS#1 DER for RSA, PKCS#8 DER for EC.
    pub fn private_der(&self) -> &[u8] {
        &self.private_der
    }

    /// The algorithm a client with this key would use: RS384, ES256 or ES384.
    pub fn default_alg(&self) -> Algorithm {
        self.default_alg
    }

    /// Signs `claims` with `alg`, the header carrying this key's `kid` and then whatever `header_extra` changes.
    /// An HMAC `alg` signs with the public JWK's JSON text as the shared secret, as a key-confusion attacker
    /// would.
    ///
    /// # Panics
    /// When `alg` is of another family than the key (RSA vs EC), or the key refuses it (ES384 on a P-256 key).
    pub fn sign(
        &self,
        alg: Algorithm,
        header_extra: impl FnOnce(&mut Header),
        claims: &Value,
    ) -> String {
        let mut header = Header::new(alg);
        header.kid = Some(self.kid.clone());
        header_extra(&mut header);
        let hmac;
        let key = if alg.family() == AlgorithmFamily::Hmac {
            hmac = EncodingKey::from_secret(self.public_jwk.to_string().as_bytes())
                .expect("a non-empty secret");
            &hmac
        } else {
            &self.encoding
        };
        jsonwebtoken::encode(&header, claims, key)
            .expect("a test key signs with its own family only")
    }

    /// A valid client assertion for `client_id` at `token_url`, signed with [`TestClientKey::default_alg`].
    pub fn assertion(&self, client_id: &str, token_url: &str, now: i64) -> String {
        self.sign(
            self.default_alg,
            |_| {},
            &assertion_claims(client_id, token_url, now),
        )
    }
}

/// Valid client assertion claims: `iss` = `sub` = `client_id`, `aud` = `token_url`, `iat` = `now`,
/// `exp` = `now` + 240, a random `jti`.
pub fn assertion_claims(client_id: &str, token_url: &str, now: i64) -> Value {
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "exp": now + 240,
        "iat": now,
        "jti": random_url_safe(16).expect("the operating system's random source failed"),
    })
}

/// An unsigned JWT (`alg: none`, RFC 7519 §6): `header` and `claims` encoded, with an empty signature.
pub fn unsigned_jwt(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}
