//! Which key verifies an assertion, and with which algorithm: `kid`, `jku`, the key's own `alg`, its type and
//! curve; `alg: none` and key confusion refused.

use super::*;

#[test]
fn kid_selects_the_key() {
    let (a, b) = (TestClientKey::ec256("a"), TestClientKey::ec384("b"));
    assert!(verify(&b.sign(Algorithm::ES384, |_| {}, &claims()), &[&a, &b]).is_ok());
    assert!(verify(&a.sign(Algorithm::ES256, |_| {}, &claims()), &[&a, &b]).is_ok());
}

#[test]
fn unknown_kid_is_refused() {
    let (a, stranger) = (TestClientKey::ec256("a"), TestClientKey::ec256("stranger"));
    refused(
        verify(&stranger.sign(Algorithm::ES256, |_| {}, &claims()), &[&a]),
        "no key with kid `stranger` in the client's JWK Set",
    );
}

#[test]
fn missing_kid_uses_the_only_key_and_refuses_a_choice() {
    let (a, b) = (TestClientKey::ec256("a"), TestClientKey::ec256("b"));
    let jwt = a.sign(Algorithm::ES256, |h| h.kid = None, &claims());
    assert!(verify(&jwt, &[&a]).is_ok());
    refused(
        verify(&jwt, &[&a, &b]),
        "no kid and the client's JWK Set has 2 keys",
    );
    refused(verify(&jwt, &[]), "no keys");
}

#[test]
fn a_kid_naming_another_key_is_a_bad_signature() {
    let (a, b) = (TestClientKey::ec256("a"), TestClientKey::ec256("b"));
    let jwt = a.sign(
        Algorithm::ES256,
        |h| h.kid = Some("b".to_owned()),
        &claims(),
    );
    refused(
        verify(&jwt, &[&a, &b]),
        "the signature does not verify with key `b`",
    );
}

#[test]
fn jku_must_be_the_registered_jwks_uri() {
    let key = TestClientKey::ec256("k");
    let set = jwks(&[key.public_jwk()]);
    let with_jku = |jku: &str| {
        key.sign(
            Algorithm::ES256,
            |h| h.jku = Some(jku.to_owned()),
            &claims(),
        )
    };
    let check = |jwt: &str, registered| {
        verify_client_assertion(jwt, &set, CLIENT, TOKEN_URL, registered, NOW)
    };
    assert!(check(&with_jku(JWKS_URI), Some(JWKS_URI)).is_ok());
    refused(
        check(
            &with_jku("https://attacker.example/jwks.json"),
            Some(JWKS_URI),
        ),
        "is not the registered jwks_uri",
    );
    refused(
        check(&with_jku(&format!("{JWKS_URI}?x")), Some(JWKS_URI)),
        "is not the registered jwks_uri",
    );
    refused(
        check(&with_jku(JWKS_URI), None),
        "the client registered no jwks_uri",
    );
    assert!(
        check(&key.sign(Algorithm::ES256, |_| {}, &claims()), None).is_ok(),
        "no jku, no jwks_uri"
    );
}

#[test]
fn alg_none_is_refused() {
    let key = TestClientKey::rsa("k");
    let jwt = unsigned_jwt(&json!({"alg": "none", "kid": "k"}), &claims());
    refused(verify(&jwt, &[&key]), "alg `none` is not accepted");
    let no_alg = unsigned_jwt(&json!({"kid": "k"}), &claims());
    refused(verify(&no_alg, &[&key]), "no alg");
}

#[test]
fn hmac_signed_with_the_public_key_is_refused() {
    for key in [TestClientKey::rsa("k"), TestClientKey::ec256("k")] {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            refused(
                verify(&key.sign(alg, |_| {}, &claims()), &[&key]),
                &format!("header alg `{alg:?}`"),
            );
        }
    }
}

#[test]
fn an_algorithm_of_another_family_is_refused() {
    let rsa = TestClientKey::rsa("k");
    let ec = TestClientKey::ec256("k");
    // An ES256 signature whose kid names the client's RSA key.
    refused(
        verify(&ec.sign(Algorithm::ES256, |_| {}, &claims()), &[&rsa]),
        "header alg `ES256` is not accepted",
    );
    refused(
        verify(&rsa.sign(Algorithm::RS256, |_| {}, &claims()), &[&ec]),
        "header alg `RS256` is not accepted",
    );
    // PS256 is RSA but not one SMART names.
    refused(
        verify(&rsa.sign(Algorithm::PS256, |_| {}, &claims()), &[&rsa]),
        "header alg `PS256` is not accepted",
    );
}

#[test]
fn curve_decides_the_ec_algorithm() {
    let p384 = TestClientKey::ec384("k");
    let es384 = p384.sign(Algorithm::ES384, |_| {}, &claims());
    // The same key published as P-256: its algorithm is ES256, so an ES384 header does not fit it.
    let mut as_p256 = p384.public_jwk();
    as_p256["crv"] = json!("P-256");
    let result = verify_client_assertion(&es384, &jwks(&[as_p256]), CLIENT, TOKEN_URL, None, NOW);
    refused(result, "header alg `ES384` is not accepted");
    // An ES256 header on a P-384 key.
    let es256_header = unsigned_jwt(&json!({"alg": "ES256", "kid": "k"}), &claims()) + "c2ln";
    refused(
        verify(&es256_header, &[&p384]),
        "header alg `ES256` is not accepted",
    );
}

#[test]
fn the_keys_own_alg_must_match_the_header() {
    let key = TestClientKey::rsa("k");
    let with_alg = |alg: &str| {
        let mut jwk = key.public_jwk();
        jwk["alg"] = json!(alg);
        jwks(&[jwk])
    };
    let rs256 = key.sign(Algorithm::RS256, |_| {}, &claims());
    let check = |set: &Value| verify_client_assertion(&rs256, set, CLIENT, TOKEN_URL, None, NOW);
    assert!(check(&with_alg("RS256")).is_ok());
    refused(
        check(&with_alg("RS384")),
        "does not match key `k`'s alg `RS384`",
    );
    refused(check(&with_alg("HS256")), "declares alg `HS256`");
}

#[test]
fn unusable_keys_are_refused() {
    let rsa = TestClientKey::rsa("k");
    let jwt = rsa.sign(Algorithm::RS256, |_| {}, &claims());
    let check =
        |jwk: Value| verify_client_assertion(&jwt, &jwks(&[jwk]), CLIENT, TOKEN_URL, None, NOW);
    refused(
        check(json!({"kty": "oct", "k": "c2VjcmV0", "kid": "k"})),
        "key type `oct` is not accepted",
    );
    refused(check(json!({"kid": "k"})), "has no kty");
    let mut enc = rsa.public_jwk();
    enc["use"] = json!("enc");
    refused(check(enc), "use `enc`");
    let mut short = rsa.public_jwk();
    short["n"] = json!(crate::jose::b64(&[0xC5; 128]));
    refused(check(short), "under 2048");
    let mut no_n = rsa.public_jwk();
    no_n.as_object_mut().unwrap().remove("n");
    refused(check(no_n), "has no `n`");
    let mut p521 = TestClientKey::ec256("k").public_jwk();
    p521["crv"] = json!("P-521");
    refused(check(p521), "P-521");
    refused(
        verify_client_assertion(&jwt, &json!({}), CLIENT, TOKEN_URL, None, NOW),
        "no `keys` array",
    );
}
