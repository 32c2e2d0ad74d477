//! `Community::new` refusals and signed metadata (FAST Security STU2 §2.3).

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::pkcs8::DecodePrivateKey as _;
use serde_json::{json, Map, Value};

use super::{community, BASE, COMMUNITY_URI, NOW, REGISTER, TOKEN};
use crate::cert::{decode_x5c_entry, CertInfo, PublicKey};
use crate::testing::{self, TestCert, TestKey};
use crate::{Community, UdapError};

fn anchors() -> Vec<String> {
    vec![testing::trusted_ca().cert_pem.clone()]
}

fn build(server: &TestCert, key_pem: &str) -> Result<Community, UdapError> {
    Community::new(
        COMMUNITY_URI,
        &anchors(),
        &server.chain_pem,
        key_pem,
        BASE,
        NOW,
    )
}

#[test]
fn valid_configuration_builds_and_lists_certificates_but_never_the_key() {
    let community = community();
    assert_eq!(community.uri, COMMUNITY_URI);
    assert_eq!(community.anchors_pem(), anchors());
    let chain = community.server_chain_pem();
    assert_eq!(chain.len(), 1);
    let leaf = pem::parse(&chain[0]).expect("PEM certificate");
    assert_eq!(
        CertInfo::parse(leaf.contents()).expect("leaf").san_uris,
        vec![BASE.to_owned()]
    );
    let debug = format!("{community:?}");
    assert!(
        !debug.contains("PRIVATE") && !debug.contains("server_key"),
        "{debug}"
    );
}

#[test]
fn pkcs1_server_key_is_accepted_like_pkcs8() {
    let server = testing::server_cert(BASE);
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(&server.key_pem).expect("PKCS#8 test key");
    let pkcs1 = key
        .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .expect("PKCS#1 PEM");
    build(&server, &pkcs1).expect("a PKCS#1 key is accepted");
}

#[test]
fn server_certificate_with_ec_key_is_refused() {
    let server = testing::server_cert_ec(BASE);
    let err = build(&server, &server.key_pem).unwrap_err();
    assert!(
        matches!(err, UdapError::ServerKeyNotRsa { ref found } if found == "EC P-256"),
        "{err}"
    );
    assert!(err.to_string().contains("RS256"), "{err}");
}

#[test]
fn server_certificate_without_san_uri_is_refused() {
    let server = testing::issue(testing::trusted_ca(), None, TestKey::Rsa(2), false, None);
    let err = build(&server, &server.key_pem).unwrap_err();
    assert!(
        matches!(err, UdapError::ServerSanMissing { ref expected } if expected == BASE),
        "{err}"
    );
}

#[test]
fn server_san_uri_must_equal_the_base_url_exactly() {
    for other in [
        format!("{BASE}/"),
        BASE.to_uppercase(),
        "https://other.example.org/fhir".to_owned(),
    ] {
        let server = testing::server_cert(&other);
        let err = build(&server, &server.key_pem).unwrap_err();
        assert!(
            matches!(err, UdapError::ServerSanMismatch { ref found, .. } if found == &vec![other.clone()]),
            "{other}: {err}"
        );
    }
}

#[test]
fn server_key_not_matching_the_certificate_is_refused() {
    let server = testing::server_cert(BASE);
    let err = build(&server, &TestKey::Rsa(6).pem()).unwrap_err();
    assert!(matches!(err, UdapError::ServerKeyMismatch), "{err}");
}

#[test]
fn server_key_that_is_not_rsa_or_not_a_key_is_refused() {
    let server = testing::server_cert(BASE);
    let err = build(&server, &TestKey::EcP256(1).pem()).unwrap_err();
    assert!(
        matches!(err, UdapError::ServerKey(ref m) if m.contains("PKCS#8")),
        "{err}"
    );
    let err = build(&server, &server.cert_pem).unwrap_err();
    assert!(
        matches!(err, UdapError::ServerKey(ref m) if m.contains("exactly one")),
        "{err}"
    );
}

#[test]
fn server_chain_not_leading_to_an_anchor_is_refused() {
    let server = testing::issue(
        testing::untrusted_ca(),
        Some(BASE),
        TestKey::Rsa(2),
        false,
        None,
    );
    let err = build(&server, &server.key_pem).unwrap_err();
    assert!(
        matches!(err, UdapError::ServerChainUntrusted(ref m) if m.contains("trust anchor")),
        "{err}"
    );
}

#[test]
fn expired_server_certificate_is_refused() {
    let server = testing::issue(
        testing::trusted_ca(),
        Some(BASE),
        TestKey::Rsa(2),
        true,
        None,
    );
    let err = build(&server, &server.key_pem).unwrap_err();
    assert!(
        matches!(err, UdapError::ServerChainUntrusted(ref m) if m.contains("expired")),
        "{err}"
    );
}

#[test]
fn empty_or_malformed_inputs_are_refused_by_name() {
    let server = testing::server_cert(BASE);
    let err = Community::new(
        COMMUNITY_URI,
        &[],
        &server.chain_pem,
        &server.key_pem,
        BASE,
        NOW,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            UdapError::NoCertificate {
                what: "trust anchors"
            }
        ),
        "{err}"
    );
    let err = Community::new(
        COMMUNITY_URI,
        &anchors(),
        std::slice::from_ref(&server.key_pem),
        &server.key_pem,
        BASE,
        NOW,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            UdapError::Pem {
                what: "server certificate chain",
                ..
            }
        ),
        "{err}"
    );
    let bad = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_owned();
    let err = Community::new(
        COMMUNITY_URI,
        &[bad],
        &server.chain_pem,
        &server.key_pem,
        BASE,
        NOW,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            UdapError::Certificate {
                what: "trust anchors",
                index: 0,
                ..
            }
        ),
        "{err}"
    );
    let err = Community::new(
        " ",
        &anchors(),
        &server.chain_pem,
        &server.key_pem,
        BASE,
        NOW,
    )
    .unwrap_err();
    assert!(matches!(err, UdapError::EmptyCommunityUri), "{err}");
}

fn endpoints() -> Map<String, Value> {
    let Value::Object(map) = json!({"token_endpoint": TOKEN, "registration_endpoint": REGISTER})
    else {
        unreachable!()
    };
    map
}

/// Verifies `jwt` with the key of its own `x5c` leaf, as a client does (UDAP Server Metadata §3).
fn verify_with_leaf(jwt: &str) -> (jsonwebtoken::Header, Map<String, Value>) {
    let header = jsonwebtoken::decode_header(jwt).expect("header");
    let leaf = decode_x5c_entry(&header.x5c.as_ref().expect("x5c")[0]).expect("x5c base64");
    let PublicKey::Rsa { pkcs1, .. } = CertInfo::parse(&leaf).expect("leaf").key else {
        panic!("RSA leaf")
    };
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_required_spec_claims(&["iss", "sub", "exp", "iat", "jti"]);
    validation.validate_aud = false;
    validation.leeway = 0;
    validation.reject_tokens_expiring_in_less_than = 0;
    let data = jsonwebtoken::decode::<Map<String, Value>>(
        jwt,
        &DecodingKey::from_rsa_der(&pkcs1),
        &validation,
    )
    .expect("signed metadata verifies with its x5c leaf");
    (header, data.claims)
}

#[test]
fn signed_metadata_verifies_with_the_chain_leaf_and_has_the_required_claims() {
    // jsonwebtoken checks `exp` against the wall clock.
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs(),
    )
    .expect("seconds");
    let community = testing::community(COMMUNITY_URI, BASE, now);
    let jwt = community
        .signed_metadata(&endpoints(), now)
        .expect("signed");
    let (header, claims) = verify_with_leaf(&jwt);
    assert_eq!(header.alg, Algorithm::RS256);
    let x5c = header.x5c.expect("x5c");
    assert_eq!(x5c.len(), community.server_chain_pem().len());
    assert_eq!(claims["iss"], BASE);
    assert_eq!(claims["sub"], BASE);
    assert_eq!(claims["iat"], now);
    let lifetime = claims["exp"].as_i64().expect("exp") - now;
    assert!(lifetime > 0 && lifetime <= 365 * 24 * 3600, "{lifetime}");
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
    assert_eq!(claims["token_endpoint"], TOKEN);
    assert_eq!(claims["registration_endpoint"], REGISTER);
    assert!(!claims.contains_key("authorization_endpoint"));
}

#[test]
fn signed_metadata_extra_claims_cannot_override_the_registered_ones() {
    let mut extra = endpoints();
    extra.insert("iss".to_owned(), json!("https://evil.example.org"));
    extra.insert("exp".to_owned(), json!(i64::MAX));
    let first = community().signed_metadata(&extra, NOW).expect("signed");
    let second = community().signed_metadata(&extra, NOW).expect("signed");
    let claims = |jwt: &str| crate::jws::Jws::parse(jwt).expect("parses").claims;
    let (a, b) = (claims(&first), claims(&second));
    assert_eq!(a["iss"], BASE);
    assert_eq!(a["exp"], NOW + crate::SIGNED_METADATA_LIFETIME_SECS);
    assert_ne!(a["jti"], b["jti"], "each signed metadata has its own jti");
}

#[test]
fn signed_metadata_is_refused_once_the_server_certificate_has_expired() {
    let err = community()
        .signed_metadata(&endpoints(), testing::VALID_UNTIL + 1)
        .unwrap_err();
    assert!(
        matches!(err, UdapError::ServerCertificateExpired(ref at) if at.starts_with("2099-12-31")),
        "{err}"
    );
}
