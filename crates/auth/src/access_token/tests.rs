use super::*;

use serde_json::json;

use crate::jwks;
use crate::testing::{unsigned_jwt, TestClientKey};

const BASE: &str = "https://dir.example/t/acme/fhir";
const NOW: i64 = 1_750_000_000;

fn claims() -> AccessClaims {
    AccessClaims {
        iss: BASE.to_owned(),
        aud: BASE.to_owned(),
        sub: "client-1".to_owned(),
        exp: NOW + 300,
        iat: NOW,
        jti: "j1".to_owned(),
        scope: "system/Practitioner.read".to_owned(),
        organization: None,
        purpose_of_use: Vec::new(),
        see_restricted: false,
    }
}

fn verifier(key: &SigningKey) -> TokenVerifier {
    TokenVerifier::new(BASE.to_owned(), vec![key.public_jwk()]).unwrap()
}

fn invalid(result: Result<Arc<AccessClaims>, TokenError>) -> String {
    match result {
        Err(TokenError::Invalid(why)) => why,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn issued_token_verifies_with_its_claims() {
    let key = SigningKey::generate();
    let mut c = claims();
    c.organization = Some("Organization/o1".to_owned());
    c.purpose_of_use = vec!["TREAT".to_owned()];
    let token = issue(&key, &c).unwrap();
    assert_eq!(*verifier(&key).verify_at(&token, NOW).unwrap(), c);
}

#[test]
fn header_is_es256_with_the_kid_and_optional_claims_are_left_out() {
    let key = SigningKey::generate();
    let token = issue(&key, &claims()).unwrap();
    let parts = jose::parts(&token).unwrap();
    assert_eq!(parts.header["alg"], "ES256");
    assert_eq!(parts.header["kid"], key.kid());
    assert!(!parts.payload.contains_key("organization"));
    assert!(!parts.payload.contains_key("purpose_of_use"));
}

#[test]
fn verify_uses_the_clock() {
    let key = SigningKey::generate();
    let mut c = claims();
    c.exp = jose::now() + 60;
    assert!(verifier(&key).verify(&issue(&key, &c).unwrap()).is_ok());
    c.exp = jose::now() - 120;
    assert!(verifier(&key).verify(&issue(&key, &c).unwrap()).is_err());
}

#[test]
fn expiry_allows_the_leeway_and_no_more() {
    let key = SigningKey::generate();
    let token = issue(&key, &claims()).unwrap();
    let exp = claims().exp;
    assert!(verifier(&key)
        .verify_at(&token, exp + CLOCK_LEEWAY_SECS)
        .is_ok());
    let why = invalid(verifier(&key).verify_at(&token, exp + CLOCK_LEEWAY_SECS + 1));
    assert!(why.contains("expired"), "{why}");
}

#[test]
fn cached_tokens_are_rechecked_for_expiry() {
    let key = SigningKey::generate();
    let v = verifier(&key);
    let token = issue(&key, &claims()).unwrap();
    let first = v.verify_at(&token, NOW).unwrap();
    let second = v.verify_at(&token, NOW + 1).unwrap();
    assert!(
        Arc::ptr_eq(&first, &second),
        "the second verification is a cache hit"
    );
    let why = invalid(v.verify_at(&token, claims().exp + CLOCK_LEEWAY_SECS + 1));
    assert!(why.contains("expired"), "{why}");
}

#[test]
fn wrong_audience_is_refused() {
    let key = SigningKey::generate();
    let mut c = claims();
    c.aud = "https://dir.example/t/other/fhir".to_owned();
    let why = invalid(verifier(&key).verify_at(&issue(&key, &c).unwrap(), NOW));
    assert!(why.contains("wrong aud"), "{why}");
    // A prefix or a trailing slash is another audience.
    c.aud = format!("{BASE}/");
    assert!(verifier(&key)
        .verify_at(&issue(&key, &c).unwrap(), NOW)
        .is_err());
}

#[test]
fn audience_array_is_refused() {
    let key = SigningKey::generate();
    let mut claims = serde_json::to_value(claims()).unwrap();
    claims["aud"] = json!([BASE]);
    let token = jsonwebtoken::encode(&es256_header(&key), &claims, &key.encoding).unwrap();
    let why = invalid(verifier(&key).verify_at(&token, NOW));
    assert!(why.contains("malformed claims"), "{why}");
}

#[test]
fn missing_exp_is_refused() {
    let key = SigningKey::generate();
    let mut claims = serde_json::to_value(claims()).unwrap();
    claims.as_object_mut().unwrap().remove("exp");
    let token = jsonwebtoken::encode(&es256_header(&key), &claims, &key.encoding).unwrap();
    let why = invalid(verifier(&key).verify_at(&token, NOW));
    assert!(why.contains("exp"), "{why}");
}

fn es256_header(key: &SigningKey) -> Header {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid().to_owned());
    header
}

#[test]
fn alg_none_is_refused() {
    let key = SigningKey::generate();
    let token = unsigned_jwt(
        &json!({"alg": "none", "kid": key.kid()}),
        &serde_json::to_value(claims()).unwrap(),
    );
    let why = invalid(verifier(&key).verify_at(&token, NOW));
    assert_eq!(why, "alg `none` is not accepted; only ES256");
}

#[test]
fn hs256_signed_with_the_public_key_is_refused() {
    let key = SigningKey::generate();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key.kid().to_owned());
    let secret = public_key_as_secret(&key);
    let token = jsonwebtoken::encode(&header, &claims(), &secret).unwrap();
    let why = invalid(verifier(&key).verify_at(&token, NOW));
    assert_eq!(why, "alg `HS256` is not accepted; only ES256");
}

/// The key-confusion attack: the published public key used as an HMAC secret.
fn public_key_as_secret(key: &SigningKey) -> jsonwebtoken::EncodingKey {
    jsonwebtoken::EncodingKey::from_secret(key.public_jwk().to_string().as_bytes()).unwrap()
}

#[test]
fn es384_and_rs256_are_refused() {
    let key = SigningKey::generate();
    for (client_key, alg) in [
        (TestClientKey::ec384(key.kid()), Algorithm::ES384),
        (TestClientKey::rsa(key.kid()), Algorithm::RS256),
    ] {
        let token = client_key.sign(alg, |_| {}, &serde_json::to_value(claims()).unwrap());
        let why = invalid(verifier(&key).verify_at(&token, NOW));
        assert!(why.contains("only ES256"), "{why}");
    }
}

#[test]
fn another_key_with_the_same_kid_is_a_bad_signature() {
    let key = SigningKey::generate();
    let impostor = TestClientKey::ec256(key.kid());
    let token = impostor.sign(
        Algorithm::ES256,
        |_| {},
        &serde_json::to_value(claims()).unwrap(),
    );
    assert_eq!(
        invalid(verifier(&key).verify_at(&token, NOW)),
        "bad signature"
    );
}

#[test]
fn tampered_claims_are_a_bad_signature() {
    let key = SigningKey::generate();
    let token = issue(&key, &claims()).unwrap();
    let mut forged = claims();
    forged.scope = "system/*.cruds".to_owned();
    let forged_payload = jose::b64(serde_json::to_string(&forged).unwrap().as_bytes());
    let pieces: Vec<&str> = token.split('.').collect();
    let tampered = format!("{}.{}.{}", pieces[0], forged_payload, pieces[2]);
    assert_eq!(
        invalid(verifier(&key).verify_at(&tampered, NOW)),
        "bad signature"
    );
}

#[test]
fn unknown_or_missing_kid_asks_for_a_key_reload() {
    let (key, rotated) = (SigningKey::generate(), SigningKey::generate());
    let token = issue(&rotated, &claims()).unwrap();
    assert_eq!(
        verifier(&key).verify_at(&token, NOW).unwrap_err(),
        TokenError::UnknownKey {
            kid: Some(rotated.kid().to_owned())
        }
    );
    let reloaded = TokenVerifier::new(
        BASE.to_owned(),
        vec![key.public_jwk(), rotated.public_jwk()],
    )
    .unwrap();
    assert!(reloaded.verify_at(&token, NOW).is_ok());

    let no_kid =
        jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims(), &key.encoding).unwrap();
    assert_eq!(
        verifier(&key).verify_at(&no_kid, NOW).unwrap_err(),
        TokenError::UnknownKey { kid: None }
    );
}

#[test]
fn malformed_tokens_are_invalid() {
    let key = SigningKey::generate();
    for token in [
        "",
        "abc",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        "e30.e30.",
        "eyJhbGciOiJFUzI1NiJ9.e30",
    ] {
        assert!(
            matches!(
                verifier(&key).verify_at(token, NOW),
                Err(TokenError::Invalid(_))
            ),
            "{token:?}"
        );
    }
}

#[test]
fn cache_stays_within_its_limit() {
    let key = SigningKey::generate();
    let v = verifier(&key).with_cache_limit(3);
    let tokens: Vec<String> = (0..7)
        .map(|i| {
            let mut c = claims();
            c.jti = format!("j{i}");
            issue(&key, &c).unwrap()
        })
        .collect();
    for token in &tokens {
        v.verify_at(token, NOW).unwrap();
        assert!(v.cached() <= 3);
    }
    // Evicted tokens still verify, by signature again.
    for token in &tokens {
        v.verify_at(token, NOW).unwrap();
    }
}

#[test]
fn a_full_cache_drops_expired_tokens_first() {
    let key = SigningKey::generate();
    let v = verifier(&key).with_cache_limit(2);
    let mut short = claims();
    short.exp = NOW + 10;
    v.verify_at(&issue(&key, &short).unwrap(), NOW).unwrap();
    let live = issue(&key, &claims()).unwrap();
    v.verify_at(&live, NOW).unwrap();
    let mut third = claims();
    third.jti = "j3".to_owned();
    let later = NOW + 10 + CLOCK_LEEWAY_SECS + 1;
    v.verify_at(&issue(&key, &third).unwrap(), later).unwrap();
    assert_eq!(v.cached(), 2);
    assert!(
        v.cache.read().unwrap().contains_key(&live),
        "the live token was kept"
    );
}

#[test]
fn verifier_refuses_keys_it_cannot_use() {
    let good = SigningKey::generate().public_jwk();
    let mut no_kid = good.clone();
    no_kid.as_object_mut().unwrap().remove("kid");
    let mut wrong_alg = good.clone();
    wrong_alg["alg"] = json!("ES384");
    let mut off_curve = good.clone();
    off_curve["y"] = off_curve["x"].clone();
    let cases = [
        no_kid,
        wrong_alg,
        off_curve,
        TestClientKey::ec384("k").public_jwk(),
        TestClientKey::rsa("k").public_jwk(),
        json!({"kty": "oct", "k": "c2VjcmV0", "kid": "k"}),
    ];
    for jwk in cases {
        assert!(
            matches!(
                TokenVerifier::new(BASE.to_owned(), vec![jwk.clone()]),
                Err(AuthError::InvalidKey { .. })
            ),
            "{jwk}"
        );
    }
    assert!(TokenVerifier::new(
        BASE.to_owned(),
        jwks(&[good])["keys"].as_array().unwrap().clone()
    )
    .is_ok());
}

#[test]
fn verifier_is_shareable_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<TokenVerifier>();
    let key = SigningKey::generate();
    let v = Arc::new(verifier(&key));
    let token = issue(&key, &claims()).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (v, token) = (Arc::clone(&v), token.clone());
            std::thread::spawn(move || v.verify_at(&token, NOW).unwrap().sub.clone())
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().unwrap(), "client-1");
    }
}
