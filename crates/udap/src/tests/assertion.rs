//! Client assertion verification (FAST Security STU2 §5.2.1, §5.2.1.1, §5.2.3).

use serde_json::{json, Map, Value};

use super::{community, edited, signed_by, CLIENT_URI, NOW, TOKEN};
use crate::testing::{self, TestCert};
use crate::{verify_udap_assertion, AssertionError, UdapAssertion};

const CLIENT_ID: &str = "c-3f9a2b";

fn claims() -> Value {
    testing::b2b_assertion_claims(CLIENT_ID, TOKEN, NOW)
}

/// Verifies `jwt` for the client registered with `registered`.
fn verify_for(
    jwt: &str,
    registered: &TestCert,
    crls: &[Vec<u8>],
) -> Result<UdapAssertion, AssertionError> {
    verify_udap_assertion(
        jwt,
        CLIENT_ID,
        CLIENT_URI,
        &registered.der,
        community(),
        TOKEN,
        crls,
        NOW,
    )
}

fn refused_with(edit: impl FnOnce(&mut Map<String, Value>), needle: &str) {
    let cert = testing::client_cert(CLIENT_URI);
    let jwt = signed_by(&cert, "RS256", &edited(claims(), edit));
    let err = verify_for(&jwt, &cert, &[]).expect_err("refused");
    assert!(err.0.contains(needle), "{needle:?} not in: {err}");
}

fn b2b(edit: impl FnOnce(&mut Map<String, Value>)) -> impl FnOnce(&mut Map<String, Value>) {
    move |claims| {
        let b2b = claims["extensions"]["hl7-b2b"]
            .as_object_mut()
            .expect("hl7-b2b");
        edit(b2b);
    }
}

#[test]
fn valid_assertion_yields_the_b2b_context() {
    let cert = testing::client_cert(CLIENT_URI);
    let ok = verify_for(&signed_by(&cert, "RS256", &claims()), &cert, &[]).expect("valid");
    assert_eq!(ok.exp, NOW + 240);
    assert!(!ok.jti.is_empty());
    assert_eq!(
        ok.organization_id,
        "https://example.org/fhirdir-test-organization"
    );
    assert_eq!(
        ok.organization_name.as_deref(),
        Some("fhirdir test organization")
    );
    assert_eq!(ok.purpose_of_use, vec!["SYSDEV".to_owned()]);
}

#[test]
fn system_hash_code_purposes_and_extra_members_are_accepted() {
    let cert = testing::client_cert_ec(CLIENT_URI);
    let claims = edited(
        claims(),
        b2b(|b| {
            b.insert(
                "purpose_of_use".into(),
                json!(["urn:oid:2.16.840.1.113883.5.8#TREAT", "SYSDEV"]),
            );
            b.insert(
                "subject_id".into(),
                json!("urn:oid:2.16.840.1.113883.4.6#1234567890"),
            );
            b.remove("organization_name");
        }),
    );
    let ok = verify_for(&signed_by(&cert, "ES256", &claims), &cert, &[]).expect("valid");
    assert_eq!(ok.purpose_of_use.len(), 2);
    assert_eq!(ok.organization_name, None);
}

#[test]
fn renewed_certificate_with_the_same_san_in_the_community_is_accepted() {
    let registered = testing::client_cert(CLIENT_URI);
    let renewed = testing::client_cert_ec(CLIENT_URI);
    assert_ne!(registered.der, renewed.der);
    verify_for(&signed_by(&renewed, "ES256", &claims()), &registered, &[])
        .expect("same SAN, same community");
}

#[test]
fn certificate_with_another_san_is_refused() {
    let registered = testing::client_cert(CLIENT_URI);
    let other = testing::client_cert("https://client.example.org/apps/other");
    let err = verify_for(&signed_by(&other, "RS256", &claims()), &registered, &[])
        .expect_err("other SAN");
    assert!(err.0.contains("not the registered one"), "{err}");
}

#[test]
fn registered_certificate_is_still_checked_for_trust_and_revocation() {
    let untrusted = testing::untrusted_client_cert(CLIENT_URI);
    let err = verify_for(&signed_by(&untrusted, "RS256", &claims()), &untrusted, &[])
        .expect_err("untrusted");
    assert!(err.0.contains("trust anchor"), "{err}");
    let (revoked, crl) =
        testing::revoked_client_cert(CLIENT_URI, "http://ca.example.org/crl/test.crl");
    let err = verify_for(&signed_by(&revoked, "RS256", &claims()), &revoked, &[crl])
        .expect_err("revoked");
    assert!(err.0.contains("revoked"), "{err}");
}

#[test]
fn missing_hl7_b2b_is_refused() {
    refused_with(
        |c| {
            c.remove("extensions");
        },
        "`extensions` with `hl7-b2b` is required",
    );
    refused_with(
        |c| {
            c.insert("extensions".into(), json!({"other": {}}));
        },
        "`extensions.hl7-b2b` is required",
    );
}

#[test]
fn hl7_b2b_version_other_than_string_1_is_refused() {
    for version in [json!("2"), json!(1)] {
        refused_with(
            b2b(|b| {
                b.insert("version".into(), version);
            }),
            "must be \"1\"",
        );
    }
    refused_with(
        b2b(|b| {
            b.remove("version");
        }),
        "`extensions.hl7-b2b.version` is missing",
    );
}

#[test]
fn missing_organization_id_is_refused() {
    refused_with(
        b2b(|b| {
            b.remove("organization_id");
        }),
        "`organization_id` is missing",
    );
}

#[test]
fn empty_or_malformed_purpose_of_use_is_refused() {
    for purposes in [json!([]), json!("SYSDEV"), json!([""]), json!([7])] {
        refused_with(
            b2b(|b| {
                b.insert("purpose_of_use".into(), purposes);
            }),
            "purpose_of_use",
        );
    }
}

#[test]
fn wrong_aud_is_refused() {
    refused_with(
        |c| {
            c.insert("aud".into(), json!(format!("{TOKEN}/")));
        },
        "`aud`",
    );
}

#[test]
fn iss_or_sub_other_than_the_client_id_is_refused() {
    refused_with(
        |c| {
            c.insert("iss".into(), json!(CLIENT_URI));
        },
        "`iss`",
    );
    refused_with(
        |c| {
            c.insert("sub".into(), json!("c-other"));
        },
        "`sub`",
    );
}

#[test]
fn lifetime_over_300_seconds_is_refused() {
    refused_with(
        |c| {
            c.insert("exp".into(), json!(NOW + 600));
        },
        "600 s after `iat`",
    );
}

#[test]
fn expired_assertion_or_missing_jti_is_refused() {
    refused_with(
        |c| {
            c.insert("iat".into(), json!(NOW - 400));
            c.insert("exp".into(), json!(NOW - 100));
        },
        "expired",
    );
    refused_with(
        |c| {
            c.remove("jti");
        },
        "`jti` is missing",
    );
}

#[test]
fn signature_by_another_key_or_alg_none_is_refused() {
    let cert = testing::client_cert(CLIENT_URI);
    let forged = testing::sign_jwt(
        &claims(),
        "RS256",
        &cert.chain_pem,
        &testing::TestKey::Rsa(6).pem(),
    );
    let err = verify_for(&forged, &cert, &[]).expect_err("forged");
    assert!(err.0.contains("signature does not verify"), "{err}");
    let none = testing::sign_jwt(&claims(), "none", &cert.chain_pem, "");
    let err = verify_for(&none, &cert, &[]).expect_err("none");
    assert!(err.0.contains("`none`"), "{err}");
}
