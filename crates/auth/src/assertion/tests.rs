use super::*;

use serde_json::json;

use crate::jwks;
use crate::testing::{assertion_claims, unsigned_jwt, TestClientKey};

const CLIENT: &str = "client-1";
const TOKEN_URL: &str = "https://dir.example/t/acme/auth/token";
const JWKS_URI: &str = "https://client.example/jwks.json";
const NOW: i64 = 1_750_000_000;

mod key_selection;

fn claims() -> Value {
    assertion_claims(CLIENT, TOKEN_URL, NOW)
}

fn verify(jwt: &str, keys: &[&TestClientKey]) -> Result<AssertionClaims, AssertionError> {
    let set = jwks(&keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>());
    verify_client_assertion(jwt, &set, CLIENT, TOKEN_URL, Some(JWKS_URI), NOW)
}

/// The refusal's message, which must contain `needle`.
fn refused(result: Result<AssertionClaims, AssertionError>, needle: &str) {
    match result {
        Err(AssertionError(message)) => {
            assert!(message.contains(needle), "`{message}` lacks `{needle}`")
        }
        Ok(claims) => panic!("accepted {claims:?}; expected a refusal about `{needle}`"),
    }
}

fn with_claim(name: &str, value: Value) -> Value {
    let mut c = claims();
    c[name] = value;
    c
}

fn without_claim(name: &str) -> Value {
    let mut c = claims();
    c.as_object_mut().unwrap().remove(name);
    c
}

#[test]
fn accepts_each_supported_algorithm() {
    let rsa = TestClientKey::rsa("rsa-1");
    let cases = [
        (&rsa, Algorithm::RS256),
        (&rsa, Algorithm::RS384),
        (&rsa, Algorithm::RS512),
        (&TestClientKey::ec256("ec-256"), Algorithm::ES256),
        (&TestClientKey::ec384("ec-384"), Algorithm::ES384),
    ];
    for (key, alg) in cases {
        let c = claims();
        let accepted =
            verify(&key.sign(alg, |_| {}, &c), &[key]).unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(accepted.iss, CLIENT);
        assert_eq!(accepted.jti, c["jti"].as_str().unwrap());
        assert_eq!(accepted.exp, NOW + 240);
    }
}

#[test]
fn the_testing_helper_signs_a_valid_assertion() {
    for key in [
        TestClientKey::rsa("r"),
        TestClientKey::ec256("e"),
        TestClientKey::ec384("f"),
    ] {
        assert!(
            verify(&key.assertion(CLIENT, TOKEN_URL, NOW), &[&key]).is_ok(),
            "{:?}",
            key.default_alg()
        );
    }
}

#[test]
fn aud_may_be_a_one_element_array() {
    let key = TestClientKey::ec256("k");
    assert!(verify(
        &key.sign(
            Algorithm::ES256,
            |_| {},
            &with_claim("aud", json!([TOKEN_URL]))
        ),
        &[&key]
    )
    .is_ok());
}

#[test]
fn wrong_aud_is_refused() {
    let key = TestClientKey::ec256("k");
    let cases = [
        json!("https://dir.example/t/other/auth/token"),
        json!(format!("{TOKEN_URL}/")),
        json!([TOKEN_URL, "https://elsewhere.example/token"]),
        json!([]),
        json!(42),
    ];
    for aud in cases {
        refused(
            verify(
                &key.sign(Algorithm::ES256, |_| {}, &with_claim("aud", aud)),
                &[&key],
            ),
            "aud",
        );
    }
    refused(
        verify(
            &key.sign(Algorithm::ES256, |_| {}, &without_claim("aud")),
            &[&key],
        ),
        "aud is required",
    );
}

#[test]
fn wrong_iss_is_refused() {
    let key = TestClientKey::ec256("k");
    let mut c = with_claim("iss", json!("client-2"));
    c["sub"] = json!("client-2");
    refused(
        verify(&key.sign(Algorithm::ES256, |_| {}, &c), &[&key]),
        "iss `client-2` is not the client_id",
    );
    refused(
        verify(
            &key.sign(Algorithm::ES256, |_| {}, &without_claim("iss")),
            &[&key],
        ),
        "iss is required",
    );
}

#[test]
fn sub_other_than_iss_is_refused() {
    let key = TestClientKey::ec256("k");
    let jwt = key.sign(
        Algorithm::ES256,
        |_| {},
        &with_claim("sub", json!("someone-else")),
    );
    refused(verify(&jwt, &[&key]), "sub `someone-else` is not iss");
    refused(
        verify(
            &key.sign(Algorithm::ES256, |_| {}, &without_claim("sub")),
            &[&key],
        ),
        "sub is required",
    );
}

#[test]
fn expiry_is_checked_with_leeway() {
    let key = TestClientKey::ec256("k");
    let sign = |exp: i64| key.sign(Algorithm::ES256, |_| {}, &with_claim("exp", json!(exp)));
    assert!(
        verify(&sign(NOW - CLOCK_LEEWAY_SECS), &[&key]).is_ok(),
        "just within the leeway"
    );
    refused(
        verify(&sign(NOW - CLOCK_LEEWAY_SECS - 1), &[&key]),
        "expired",
    );
    refused(verify(&sign(NOW - 3600), &[&key]), "expired");
    refused(
        verify(
            &key.sign(Algorithm::ES256, |_| {}, &without_claim("exp")),
            &[&key],
        ),
        "exp is required",
    );
    refused(
        verify(
            &key.sign(Algorithm::ES256, |_| {}, &with_claim("exp", json!("soon"))),
            &[&key],
        ),
        "NumericDate",
    );
}

#[test]
fn exp_more_than_five_minutes_ahead_is_refused() {
    let key = TestClientKey::ec256("k");
    let sign = |exp: i64| key.sign(Algorithm::ES256, |_| {}, &with_claim("exp", json!(exp)));
    let limit = NOW + MAX_ASSERTION_LIFETIME_SECS + CLOCK_LEEWAY_SECS;
    assert!(verify(&sign(limit), &[&key]).is_ok());
    refused(verify(&sign(limit + 1), &[&key]), "more than five minutes");
    refused(
        verify(&sign(NOW + 86_400), &[&key]),
        "more than five minutes",
    );
}

#[test]
fn fractional_exp_is_read_as_seconds() {
    let key = TestClientKey::ec256("k");
    let jwt = key.sign(
        Algorithm::ES256,
        |_| {},
        &with_claim("exp", json!(NOW as f64 + 100.5)),
    );
    assert_eq!(verify(&jwt, &[&key]).unwrap().exp, NOW + 100);
}

#[test]
fn future_nbf_is_refused() {
    let key = TestClientKey::ec256("k");
    let jwt = key.sign(
        Algorithm::ES256,
        |_| {},
        &with_claim("nbf", json!(NOW + 120)),
    );
    refused(verify(&jwt, &[&key]), "not valid before");
}

#[test]
fn missing_or_empty_jti_is_refused() {
    let key = TestClientKey::ec256("k");
    for c in [
        without_claim("jti"),
        with_claim("jti", json!("")),
        with_claim("jti", json!(7)),
    ] {
        refused(
            verify(&key.sign(Algorithm::ES256, |_| {}, &c), &[&key]),
            "jti",
        );
    }
}

#[test]
fn tampered_claims_fail_the_signature() {
    let key = TestClientKey::rsa("k");
    let jwt = key.sign(Algorithm::RS384, |_| {}, &claims());
    let pieces: Vec<&str> = jwt.split('.').collect();
    let forged = crate::jose::b64(with_claim("exp", json!(NOW + 200)).to_string().as_bytes());
    refused(
        verify(&format!("{}.{forged}.{}", pieces[0], pieces[2]), &[&key]),
        "signature does not verify",
    );
}

#[test]
fn not_a_jwt_is_refused() {
    let key = TestClientKey::ec256("k");
    for jwt in ["", "abc", "a.b", "a.b.c", "e30.e30.e30.e30"] {
        refused(verify(jwt, &[&key]), "client_assertion");
    }
}

#[test]
fn unverified_issuer_reads_iss_then_sub() {
    let key = TestClientKey::ec256("k");
    assert_eq!(
        unverified_issuer(&key.sign(Algorithm::ES256, |_| {}, &claims())).as_deref(),
        Some(CLIENT)
    );
    let sub_only = unsigned_jwt(&json!({"alg": "none"}), &json!({"sub": "s"}));
    assert_eq!(unverified_issuer(&sub_only).as_deref(), Some("s"));
    assert_eq!(
        unverified_issuer(&unsigned_jwt(&json!({}), &json!({"iss": 3}))),
        None
    );
    assert_eq!(unverified_issuer("not a jwt"), None);
    assert_eq!(unverified_issuer("a.b.c"), None);
}
