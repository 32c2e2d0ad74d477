//! Software statement verification (FAST Security STU2 §3.1, §3.2.3): the claims and client
//! metadata here, the signature and certificate trust in `trust`.

mod trust;

use serde_json::{json, Value};

use super::{community, edited, signed_by, CLIENT_URI, COMMUNITY_URI, NOW, REGISTER};
use crate::testing;
use crate::{
    verify_software_statement, RegistrationError, RegistrationErrorCode, SoftwareStatement,
};

fn claims() -> Value {
    testing::software_statement_claims(CLIENT_URI, REGISTER, NOW)
}

fn verify(jwt: &str) -> Result<SoftwareStatement, RegistrationError> {
    verify_software_statement(jwt, &[community()], REGISTER, &[], NOW)
}

fn refused(jwt: &str, code: RegistrationErrorCode, needle: &str) {
    let err = verify(jwt).expect_err("refused");
    assert_eq!(err.code, code, "{err}");
    assert!(err.description.contains(needle), "{needle:?} not in: {err}");
}

fn statement_with(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    signed_by(
        &testing::client_cert(CLIENT_URI),
        "RS256",
        &edited(claims(), edit),
    )
}

#[test]
fn valid_rs256_statement_is_verified_with_its_metadata() {
    let cert = testing::client_cert(CLIENT_URI);
    let ok = verify(&signed_by(&cert, "RS256", &claims())).expect("valid");
    assert_eq!(ok.iss, CLIENT_URI);
    assert_eq!(ok.community_uri, COMMUNITY_URI);
    assert_eq!(ok.leaf_der, cert.der);
    assert_eq!(ok.client_name, "fhirdir test client");
    assert_eq!(ok.grant_types, vec!["client_credentials".to_owned()]);
    assert_eq!(ok.scope.as_deref(), Some("system/*.rs"));
    assert_eq!(
        ok.token_endpoint_auth_method.as_deref(),
        Some("private_key_jwt")
    );
    assert_eq!(ok.contacts, vec!["mailto:udap-test@example.org".to_owned()]);
    assert_eq!(ok.claims["aud"], REGISTER);
}

#[test]
fn valid_rs384_and_es256_statements_are_verified() {
    verify(&signed_by(
        &testing::client_cert(CLIENT_URI),
        "RS384",
        &claims(),
    ))
    .expect("RS384");
    let ec = testing::client_cert_ec(CLIENT_URI);
    assert_eq!(
        verify(&signed_by(&ec, "ES256", &claims()))
            .expect("ES256")
            .leaf_der,
        ec.der
    );
}

#[test]
fn empty_grant_types_verify_so_the_caller_can_cancel() {
    let ok = verify(&statement_with(|c| {
        c.insert("grant_types".into(), json!([]));
    }))
    .expect("valid");
    assert!(ok.grant_types.is_empty());
}

#[test]
fn wrong_aud_is_refused() {
    let jwt = statement_with(|c| {
        c.insert(
            "aud".into(),
            json!("https://fhir.example.org/t/other/fhir/udap/register"),
        );
    });
    refused(
        &jwt,
        RegistrationErrorCode::InvalidSoftwareStatement,
        "`aud`",
    );
}

#[test]
fn iss_not_a_san_uri_of_the_leaf_is_refused() {
    let jwt = statement_with(|c| {
        c.insert("iss".into(), json!("https://client.example.org/apps/other"));
        c.insert("sub".into(), json!("https://client.example.org/apps/other"));
    });
    refused(
        &jwt,
        RegistrationErrorCode::InvalidSoftwareStatement,
        "not a subjectAltName URI",
    );
}

#[test]
fn sub_other_than_iss_is_refused() {
    let jwt = statement_with(|c| {
        c.insert("sub".into(), json!("https://client.example.org/apps/other"));
    });
    refused(
        &jwt,
        RegistrationErrorCode::InvalidSoftwareStatement,
        "`sub`",
    );
}

#[test]
fn lifetime_over_300_seconds_is_refused() {
    let jwt = statement_with(|c| {
        c.insert("exp".into(), json!(NOW + 301));
    });
    refused(
        &jwt,
        RegistrationErrorCode::InvalidSoftwareStatement,
        "301 s after `iat`",
    );
    verify(&statement_with(|c| {
        c.insert("exp".into(), json!(NOW + 300));
    }))
    .expect("exactly 300 s is allowed");
}

#[test]
fn expired_statement_is_refused_after_the_leeway() {
    let jwt = signed_by(&testing::client_cert(CLIENT_URI), "RS256", &claims());
    let exp = NOW + 240;
    verify_software_statement(&jwt, &[community()], REGISTER, &[], exp + 60)
        .expect("within leeway");
    let err = verify_software_statement(&jwt, &[community()], REGISTER, &[], exp + 61)
        .expect_err("expired");
    assert_eq!(err.code, RegistrationErrorCode::InvalidSoftwareStatement);
    assert!(err.description.contains("expired"), "{err}");
}

#[test]
fn statement_issued_in_the_future_is_refused() {
    let jwt = statement_with(|c| {
        c.insert("iat".into(), json!(NOW + 120));
        c.insert("exp".into(), json!(NOW + 300));
    });
    refused(
        &jwt,
        RegistrationErrorCode::InvalidSoftwareStatement,
        "in the future",
    );
}

#[test]
fn contacts_without_a_mailto_uri_are_refused() {
    for contacts in [
        json!(["https://client.example.org/support"]),
        json!(["mailto:"]),
        json!([]),
    ] {
        let jwt = statement_with(|c| {
            c.insert("contacts".into(), contacts.clone());
        });
        refused(&jwt, RegistrationErrorCode::InvalidClientMetadata, "mailto");
    }
    let jwt = statement_with(|c| {
        c.remove("contacts");
    });
    refused(
        &jwt,
        RegistrationErrorCode::InvalidClientMetadata,
        "`contacts` is missing",
    );
}

#[test]
fn client_metadata_refusals_name_the_field() {
    let cases: [(&str, Option<Value>, &str); 5] = [
        ("client_name", None, "`client_name` is missing"),
        (
            "token_endpoint_auth_method",
            Some(json!("client_secret_basic")),
            "private_key_jwt",
        ),
        (
            "token_endpoint_auth_method",
            None,
            "`token_endpoint_auth_method` is missing",
        ),
        ("grant_types", None, "`grant_types` is missing"),
        (
            "grant_types",
            Some(json!("client_credentials")),
            "not an array of strings",
        ),
    ];
    for (field, value, needle) in cases {
        let jwt = statement_with(|c| match value {
            Some(v) => {
                c.insert(field.into(), v);
            }
            None => {
                c.remove(field);
            }
        });
        refused(&jwt, RegistrationErrorCode::InvalidClientMetadata, needle);
    }
    let jwt = statement_with(|c| {
        c.remove("jti");
    });
    refused(
        &jwt,
        RegistrationErrorCode::InvalidSoftwareStatement,
        "`jti` is missing",
    );
}
