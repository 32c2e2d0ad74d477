//! Software statements: the JWS algorithm and signature, and the `x5c` chain's trust in a
//! community, expiry and revocation (FAST Security STU2 §7.1.2, §7.1.3, §7.1.6).

use base64::Engine as _;
use jsonwebtoken::{EncodingKey, Header};

use super::{
    claims, community, refused, signed_by, verify, CLIENT_URI, COMMUNITY_URI, NOW, REGISTER,
};
use crate::testing::{self, TestKey};
use crate::{crl_urls, verify_software_statement, Community, RegistrationErrorCode};

const CRL_URL: &str = "http://ca.example.org/crl/test.crl";

#[test]
fn inferno_style_url_safe_x5c_is_read() {
    let cert = testing::client_cert(CLIENT_URI);
    let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
    header.x5c = Some(vec![
        base64::engine::general_purpose::URL_SAFE.encode(&cert.der)
    ]);
    let key = EncodingKey::from_rsa_pem(cert.key_pem.as_bytes()).expect("key");
    verify(&jsonwebtoken::encode(&header, &claims(), &key).expect("signed")).expect("valid");
}

#[test]
fn statement_signed_by_another_key_than_the_leaf_is_refused() {
    let cert = testing::client_cert(CLIENT_URI);
    let jwt = testing::sign_jwt(&claims(), "RS256", &cert.chain_pem, &TestKey::Rsa(6).pem());
    refused(
        &jwt,
        RegistrationErrorCode::InvalidSoftwareStatement,
        "signature does not verify",
    );
}

#[test]
fn chain_to_an_untrusted_anchor_is_unapproved() {
    let jwt = signed_by(
        &testing::untrusted_client_cert(CLIENT_URI),
        "RS256",
        &claims(),
    );
    refused(
        &jwt,
        RegistrationErrorCode::UnapprovedSoftwareStatement,
        "trust anchor",
    );
    let err = verify_software_statement(&jwt, &[], REGISTER, &[], NOW).expect_err("no community");
    assert_eq!(err.code, RegistrationErrorCode::UnapprovedSoftwareStatement);
}

#[test]
fn the_first_community_that_trusts_the_chain_wins() {
    let other_base = "https://fhir.example.org/t/other/fhir";
    let server = testing::issue(
        testing::untrusted_ca(),
        Some(other_base),
        TestKey::Rsa(5),
        false,
        None,
    );
    let other = Community::new(
        "udap://other.test/",
        &[testing::untrusted_ca().cert_pem.clone()],
        &server.chain_pem,
        &server.key_pem,
        other_base,
        NOW,
    )
    .expect("other community");
    let jwt = signed_by(&testing::client_cert(CLIENT_URI), "RS256", &claims());
    let ok =
        verify_software_statement(&jwt, &[&other, community()], REGISTER, &[], NOW).expect("valid");
    assert_eq!(ok.community_uri, COMMUNITY_URI);
    let jwt = signed_by(
        &testing::untrusted_client_cert(CLIENT_URI),
        "RS256",
        &claims(),
    );
    let ok =
        verify_software_statement(&jwt, &[community(), &other], REGISTER, &[], NOW).expect("valid");
    assert_eq!(ok.community_uri, "udap://other.test/");
}

#[test]
fn expired_client_certificate_is_refused() {
    let jwt = signed_by(
        &testing::expired_client_cert(CLIENT_URI),
        "RS256",
        &claims(),
    );
    refused(
        &jwt,
        RegistrationErrorCode::InvalidSoftwareStatement,
        "expired at 2002-01-01",
    );
}

#[test]
fn alg_none_is_refused() {
    let cert = testing::client_cert(CLIENT_URI);
    let jwt = testing::sign_jwt(&claims(), "none", &cert.chain_pem, "");
    refused(
        &jwt,
        RegistrationErrorCode::InvalidSoftwareStatement,
        "alg `none` is refused",
    );
}

#[test]
fn hs256_keyed_with_the_public_certificate_is_refused() {
    let cert = testing::client_cert(CLIENT_URI);
    let jwt = testing::sign_jwt(&claims(), "HS256", &cert.chain_pem, &cert.cert_pem);
    refused(
        &jwt,
        RegistrationErrorCode::InvalidSoftwareStatement,
        "alg `HS256` is refused",
    );
}

#[test]
fn alg_not_matching_the_leaf_key_is_refused() {
    let ec = testing::client_cert_ec(CLIENT_URI);
    let rsa = testing::client_cert(CLIENT_URI);
    // An RSA signature presented with the EC certificate: the key type decides, not the header.
    let jwt = testing::sign_jwt(&claims(), "RS256", &ec.chain_pem, &rsa.key_pem);
    refused(
        &jwt,
        RegistrationErrorCode::InvalidSoftwareStatement,
        "does not match the x5c certificate's EC P-256 key",
    );
}

#[test]
fn missing_x5c_is_refused() {
    let key = EncodingKey::from_rsa_pem(testing::client_cert(CLIENT_URI).key_pem.as_bytes())
        .expect("key");
    let jwt = jsonwebtoken::encode(
        &Header::new(jsonwebtoken::Algorithm::RS256),
        &claims(),
        &key,
    )
    .expect("signed");
    refused(
        &jwt,
        RegistrationErrorCode::InvalidSoftwareStatement,
        "no `x5c`",
    );
    refused(
        "not.a-jwt",
        RegistrationErrorCode::InvalidSoftwareStatement,
        "compact JWS",
    );
}

#[test]
fn certificate_revoked_by_its_crl_is_unapproved() {
    let (cert, crl) = testing::revoked_client_cert(CLIENT_URI, CRL_URL);
    let jwt = signed_by(&cert, "RS256", &claims());
    assert_eq!(crl_urls(&jwt), vec![CRL_URL.to_owned()]);
    let err = verify_software_statement(&jwt, &[community()], REGISTER, &[crl], NOW)
        .expect_err("revoked");
    assert_eq!(
        err.code,
        RegistrationErrorCode::UnapprovedSoftwareStatement,
        "{err}"
    );
    assert!(err.description.contains("revoked"), "{err}");
    // Without the CRL the status is unknown and the caller decides (soft-fail here).
    verify(&jwt).expect("no CRL given");
}

#[test]
fn certificate_absent_from_its_crl_is_accepted() {
    let cert = testing::client_cert_with_crl_url(CLIENT_URI, CRL_URL);
    let (_, other_crl) =
        testing::revoked_client_cert("https://client.example.org/apps/revoked", CRL_URL);
    let empty_crl = testing::crl(testing::trusted_ca(), &[]);
    let jwt = signed_by(&cert, "RS256", &claims());
    verify_software_statement(
        &jwt,
        &[community()],
        REGISTER,
        &[empty_crl, other_crl, b"junk".to_vec()],
        NOW,
    )
    .expect("not revoked");
}

#[test]
fn crl_urls_of_a_jwt_without_readable_x5c_are_empty() {
    assert!(crl_urls("garbage").is_empty());
    assert!(crl_urls(&signed_by(
        &testing::client_cert(CLIENT_URI),
        "RS256",
        &claims()
    ))
    .is_empty());
}

#[test]
fn crl_urls_are_deduplicated_and_capped() {
    let cert = testing::client_cert_with_crl_url(CLIENT_URI, CRL_URL);
    let many: Vec<String> = (0..12)
        .map(|i| {
            testing::client_cert_with_crl_url(CLIENT_URI, &format!("http://ca.example.org/{i}.crl"))
                .cert_pem
        })
        .collect();
    let chain = [vec![cert.cert_pem.clone(), cert.cert_pem.clone()], many].concat();
    let jwt = testing::sign_jwt(&claims(), "RS256", &chain, &cert.key_pem);
    let urls = crl_urls(&jwt);
    assert_eq!(urls.len(), crate::MAX_CRL_URLS);
    assert_eq!(urls[0], CRL_URL);
    assert_eq!(urls[1], "http://ca.example.org/0.crl");
}
