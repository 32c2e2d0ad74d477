//! A trust community as the operator configures it for a tenant: its anchors, the server's
//! certificate chain and RSA key, and the signed metadata made with them (UDAP Server Metadata;
//! FAST Security STU2 §2.2 "Required UDAP Metadata", §2.3 "Signed metadata elements").
//!
//! Everything is checked once, at configuration time, so a bad certificate or key is refused
//! with a precise reason before any client sees the server.

use std::fmt;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::{DecodeRsaPrivateKey as _, DecodeRsaPublicKey as _, EncodeRsaPrivateKey as _};
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::rand_core::{OsRng, RngCore as _};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Map, Value};

use crate::cert::{certificates_from_pem, encode_x5c_entry, to_pem, CertInfo, PublicKey};
use crate::error::UdapError;
use crate::trust::{self, Anchors, Usage};

/// How long signed metadata stays valid. STU2 §2.3 allows up to a year; a day keeps a rotated
/// key or certificate from lingering in caches.
pub const SIGNED_METADATA_LIFETIME_SECS: i64 = 24 * 60 * 60;

/// A trust community configured by the operator for a tenant (parsed and validated at
/// configuration time by [`Community::new`]).
#[derive(Clone)]
pub struct Community {
    /// The community's URI (the `community` parameter of UDAP metadata discovery).
    pub uri: String,
    anchors_der: Vec<Vec<u8>>,
    anchors: Anchors,
    /// The tenant base URL: `iss` and `sub` of signed metadata, a SAN URI of the server leaf.
    base_url: String,
    server_chain: Vec<Vec<u8>>,
    server_not_after: i64,
    /// PKCS#1 DER of the server's RSA private key.
    server_key: Vec<u8>,
}

impl fmt::Debug for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the key.
        f.debug_struct("Community")
            .field("uri", &self.uri)
            .field("anchors", &self.anchors_der.len())
            .field("server_chain", &self.server_chain.len())
            .finish_non_exhaustive()
    }
}

impl Community {
    /// Validates the operator's configuration: anchors are PEM certificates; the server chain
    /// (leaf first) parses, the leaf has an RSA key (signed metadata is RS256, STU2 §2.3) and a
    /// SAN URI equal to `tenant_base_url` exactly (STU2 §2.3: `iss` is the base URL and a SAN
    /// URI of the signing certificate), the private key (PEM, PKCS#1 or PKCS#8) matches the
    /// leaf's public key, and the chain validates to one of the anchors at `now`.
    pub fn new(
        uri: &str,
        anchors_pem: &[String],
        server_chain_pem: &[String],
        server_key_pem: &str,
        tenant_base_url: &str,
        now: i64,
    ) -> Result<Community, UdapError> {
        if uri.trim().is_empty() {
            return Err(UdapError::EmptyCommunityUri);
        }
        let anchors_der = certificates_from_pem("trust anchors", anchors_pem)?;
        let anchors =
            Anchors::from_der(&anchors_der).map_err(|(index, reason)| UdapError::Certificate {
                what: "trust anchors",
                index,
                reason,
            })?;
        let server_chain = certificates_from_pem("server certificate chain", server_chain_pem)?;
        let leaf = CertInfo::parse(&server_chain[0]).map_err(|reason| UdapError::Certificate {
            what: "server certificate chain",
            index: 0,
            reason,
        })?;
        let PublicKey::Rsa {
            pkcs1: leaf_key, ..
        } = &leaf.key
        else {
            return Err(UdapError::ServerKeyNotRsa {
                found: leaf.key.describe(),
            });
        };
        if leaf.san_uris.is_empty() {
            return Err(UdapError::ServerSanMissing {
                expected: tenant_base_url.to_owned(),
            });
        }
        if !leaf.san_uris.iter().any(|san| san == tenant_base_url) {
            return Err(UdapError::ServerSanMismatch {
                expected: tenant_base_url.to_owned(),
                found: leaf.san_uris.clone(),
            });
        }
        let key = read_rsa_private_key(server_key_pem)?;
        let leaf_public = RsaPublicKey::from_pkcs1_der(leaf_key).map_err(|e| {
            UdapError::ServerKey(format!("the certificate's RSA key does not parse: {e}"))
        })?;
        if key.to_public_key() != leaf_public {
            return Err(UdapError::ServerKeyMismatch);
        }
        trust::validate(&server_chain, &anchors, &[], now, Usage::Server)
            .map_err(|e| UdapError::ServerChainUntrusted(trust::describe(&e)))?;
        let server_key = key
            .to_pkcs1_der()
            .map_err(|e| UdapError::ServerKey(e.to_string()))?
            .as_bytes()
            .to_vec();
        Ok(Community {
            uri: uri.to_owned(),
            anchors_der,
            anchors,
            base_url: tenant_base_url.to_owned(),
            server_chain,
            server_not_after: leaf.not_after,
            server_key,
        })
    }

    /// Signed metadata (UDAP Server Metadata `signed_metadata`; STU2 §2.3): an RS256 JWT whose
    /// header `x5c` is the server chain (leaf first) and whose claims are `iss` = `sub` = the
    /// tenant base URL (the leaf's SAN URI checked by [`Community::new`]), `iat` = `now`, `exp`
    /// = `now` + [`SIGNED_METADATA_LIFETIME_SECS`], a random `jti`, plus `extra` (the caller's
    /// `token_endpoint`, `registration_endpoint` and, if any, `authorization_endpoint`). The
    /// registered claims are set last, so `extra` cannot override them.
    pub fn signed_metadata(
        &self,
        extra: &Map<String, Value>,
        now: i64,
    ) -> Result<String, UdapError> {
        if now >= self.server_not_after {
            return Err(UdapError::ServerCertificateExpired(trust::rfc3339(
                self.server_not_after.max(0).unsigned_abs(),
            )));
        }
        let iss = self.base_url.clone();
        let mut claims = extra.clone();
        claims.insert("iss".to_owned(), Value::String(iss.clone()));
        claims.insert("sub".to_owned(), Value::String(iss));
        claims.insert("iat".to_owned(), Value::from(now));
        claims.insert(
            "exp".to_owned(),
            Value::from(now + SIGNED_METADATA_LIFETIME_SECS),
        );
        claims.insert("jti".to_owned(), Value::String(random_jti()));
        let mut header = Header::new(Algorithm::RS256);
        header.x5c = Some(
            self.server_chain
                .iter()
                .map(|der| encode_x5c_entry(der))
                .collect(),
        );
        jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_rsa_der(&self.server_key),
        )
        .map_err(|e| UdapError::Signing(e.to_string()))
    }

    /// The trust anchors as PEM, for listing.
    pub fn anchors_pem(&self) -> Vec<String> {
        to_pem(&self.anchors_der)
    }

    /// The server chain (leaf first) as PEM, for listing. The key is never given out.
    pub fn server_chain_pem(&self) -> Vec<String> {
        to_pem(&self.server_chain)
    }

    /// Validates a client's `x5c` chain to this community's anchors.
    pub(crate) fn validate_client_chain(
        &self,
        chain: &[Vec<u8>],
        crls: &[Vec<u8>],
        now: i64,
    ) -> Result<(), webpki::Error> {
        trust::validate(chain, &self.anchors, crls, now, Usage::Client)
    }
}

/// Reads an unencrypted RSA private key from PEM (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`).
fn read_rsa_private_key(key_pem: &str) -> Result<RsaPrivateKey, UdapError> {
    let blocks =
        pem::parse_many(key_pem).map_err(|e| UdapError::ServerKey(format!("not PEM: {e}")))?;
    let mut keys = blocks.iter().filter(|b| b.tag().ends_with("PRIVATE KEY"));
    let (Some(block), None) = (keys.next(), keys.next()) else {
        return Err(UdapError::ServerKey(
            "expected exactly one PEM private key block".to_owned(),
        ));
    };
    match block.tag() {
        "RSA PRIVATE KEY" => RsaPrivateKey::from_pkcs1_der(block.contents())
            .map_err(|e| UdapError::ServerKey(format!("PKCS#1 RSA key does not parse: {e}"))),
        "PRIVATE KEY" => RsaPrivateKey::from_pkcs8_der(block.contents()).map_err(|e| {
            UdapError::ServerKey(format!("PKCS#8 key is not a readable RSA key: {e}"))
        }),
        "ENCRYPTED PRIVATE KEY" => Err(UdapError::ServerKey(
            "the key is encrypted; give it unencrypted (PKCS#1 or PKCS#8)".to_owned(),
        )),
        other => Err(UdapError::ServerKey(format!(
            "a {other} block; the key must be RSA (PKCS#1 RSA PRIVATE KEY or PKCS#8 PRIVATE KEY)"
        ))),
    }
}

/// 16 random bytes, base64url: a `jti` no one can guess or repeat by chance.
pub(crate) fn random_jti() -> String {
    use base64::Engine as _;
    let mut bytes = [0_u8; 16];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
