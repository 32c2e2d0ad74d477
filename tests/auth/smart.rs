//! SMART Backend Services: discovery, the token endpoint's rules (RFC 6749 errors, RFC 7523
//! assertions, SMART App Launch 2.2), bearer tokens at the FHIR API, key rotation, and
//! `--auth off`.

use auth::testing::{assertion_claims, unsigned_jwt, TestClientKey};
use jsonwebtoken::Algorithm;
use reqwest::Method;
use serde_json::{json, Value};
use server::ServerConfig;

use crate::common::{practitioner, spawn_app, test_databases};
use crate::support::*;

#[tokio::test]
async fn smart_configuration_names_the_token_endpoint_and_what_it_accepts() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        let b = base(&app, "default");
        let conf = app
            .get("/fhir/default/.well-known/smart-configuration")
            .await
            .status(200)
            .json();
        assert_eq!(
            conf["token_endpoint"],
            json!(format!("{b}/auth/token")),
            "[{}]",
            db.backend
        );
        assert_eq!(
            conf["registration_endpoint"],
            json!(format!("{b}/auth/register"))
        );
        assert_eq!(conf["jwks_uri"], json!(format!("{b}/auth/jwks")));
        assert_eq!(conf["grant_types_supported"], json!(["client_credentials"]));
        assert_eq!(
            conf["token_endpoint_auth_methods_supported"],
            json!(["private_key_jwt"])
        );
        for alg in ["RS384", "ES384", "RS256", "ES256"] {
            assert!(
                conf["token_endpoint_auth_signing_alg_values_supported"]
                    .as_array()
                    .unwrap()
                    .contains(&json!(alg)),
                "{alg}: {conf}"
            );
        }
        for cap in [
            "client-confidential-asymmetric",
            "permission-v1",
            "permission-v2",
        ] {
            assert!(
                conf["capabilities"]
                    .as_array()
                    .unwrap()
                    .contains(&json!(cap)),
                "{cap}"
            );
        }
        assert_eq!(conf["code_challenge_methods_supported"], json!(["S256"]));
        assert!(conf["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("system/*.rs")));

        // The JWK Set: public keys only.
        let jwks = app.get("/fhir/default/auth/jwks").await.status(200).json();
        let keys = jwks["keys"].as_array().expect("keys");
        assert!(!keys.is_empty(), "[{}] {jwks}", db.backend);
        for k in keys {
            assert_eq!(k["kty"], "EC");
            assert!(
                k.get("d").is_none(),
                "[{}] a private key is published: {k}",
                db.backend
            );
        }
        // An unknown tenant has none of it.
        app.get("/fhir/nope/.well-known/smart-configuration")
            .await
            .outcome(404, "not-found");
    }
}

#[tokio::test]
async fn a_write_without_a_token_is_401_and_says_where_to_get_one() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        let resp = with_token(
            &app,
            None,
            Method::POST,
            "/fhir/default/Practitioner",
            Some(&practitioner(None, "Nobody")),
        )
        .await;
        let why = resp.outcome(401, "login");
        assert_eq!(
            resp.header("www-authenticate").as_deref(),
            Some("Bearer"),
            "{}",
            resp.what
        );
        assert!(why.contains(&token_url(&app, "default")), "{why}");
        // Every kind of write, and nothing was written.
        for (method, path) in [
            (Method::PUT, "/fhir/default/Practitioner/p1"),
            (Method::DELETE, "/fhir/default/Practitioner/p1"),
            (Method::PATCH, "/fhir/default/Practitioner/p1"),
            (Method::DELETE, "/fhir/default/Practitioner?name=x"),
        ] {
            let body = practitioner(Some("p1"), "Nobody");
            with_token(&app, None, method, path, Some(&body))
                .await
                .outcome(401, "login");
        }
        with_token(&app, None, Method::POST, "/fhir/default/$reindex", None)
            .await
            .outcome(401, "login");
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [{
            "resource": practitioner(None, "Nobody"),
            "request": {"method": "POST", "url": "Practitioner"}}]});
        with_token(&app, None, Method::POST, "/fhir/default", Some(&bundle))
            .await
            .outcome(401, "login");
        // Public reads stay public.
        let found = app
            .get("/fhir/default/Practitioner")
            .await
            .status(200)
            .json();
        assert_eq!(
            found["total"], 0,
            "[{}] something was written: {found}",
            db.backend
        );
    }
}

#[tokio::test]
async fn each_assertion_algorithm_gets_a_token_that_writes() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        let url = token_url(&app, "default");
        for (key, alg) in [
            (TestClientKey::rsa("r"), Algorithm::RS256),
            (TestClientKey::rsa("r"), Algorithm::RS384),
            (TestClientKey::ec256("e"), Algorithm::ES256),
            (TestClientKey::ec384("e"), Algorithm::ES384),
        ] {
            let id = add_client(&app, "default", &key, "system/*.cruds").await;
            let assertion = key.sign(alg, |_| {}, &assertion_claims(&id, &url, now()));
            let resp = token_request(
                &app,
                "default",
                &smart_form(&assertion, "system/Practitioner.cu"),
            )
            .await
            .status(200);
            assert_eq!(
                resp.header("cache-control").as_deref(),
                Some("no-store"),
                "{alg:?}"
            );
            assert_eq!(
                resp.header("pragma").as_deref(),
                Some("no-cache"),
                "{alg:?}"
            );
            let body = resp.json();
            assert_eq!(body["token_type"], "bearer", "{alg:?}: {body}");
            let expires = body["expires_in"].as_i64().expect("expires_in");
            assert!((1..=300).contains(&expires), "{alg:?}: {body}");
            assert_eq!(body["scope"], "system/Practitioner.cu", "{alg:?}");
            let token = body["access_token"].as_str().unwrap();
            let c = claims(token);
            assert_eq!(c["aud"], json!(base(&app, "default")), "{c}");
            assert_eq!(c["sub"], json!(id));
            with_token(
                &app,
                Some(token),
                Method::POST,
                "/fhir/default/Practitioner",
                Some(&practitioner(None, "Written")),
            )
            .await
            .status(201);
        }
    }
}

#[tokio::test]
async fn the_token_endpoint_refuses_with_rfc6749_errors() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        let url = token_url(&app, "default");
        let key = TestClientKey::ec256("k");
        let id = add_client(&app, "default", &key, "system/*.rs").await;
        let good = key.assertion(&id, &url, now());
        let scope = "system/*.rs";

        let mut form = smart_form(&good, scope);
        form[0].1 = "authorization_code";
        oauth_error(
            &token_request(&app, "default", &form).await,
            400,
            "unsupported_grant_type",
        );
        let mut form = smart_form(&good, scope);
        form[1].1 = "urn:example:other";
        oauth_error(
            &token_request(&app, "default", &form).await,
            400,
            "invalid_request",
        );
        let form: Vec<_> = smart_form(&good, scope)
            .into_iter()
            .filter(|(k, _)| *k != "client_assertion")
            .collect();
        oauth_error(
            &token_request(&app, "default", &form).await,
            400,
            "invalid_request",
        );
        let mut form = smart_form(&good, scope);
        form.push(("scope", "system/*.rs"));
        oauth_error(
            &token_request(&app, "default", &form).await,
            400,
            "invalid_request",
        );
        // Not a form.
        let resp = app
            .send(
                app.request(Method::POST, &url)
                    .header("content-type", "application/json")
                    .body("{}"),
            )
            .await;
        oauth_error(&resp, 400, "invalid_request");

        // Assertions refused: each one a fresh jti so only the named rule can fail.
        let claims = |f: &dyn Fn(&mut Value)| {
            let mut c = assertion_claims(&id, &url, now());
            f(&mut c);
            c
        };
        let cases: Vec<(&str, String)> = vec![
            (
                "unknown client",
                key.sign(
                    Algorithm::ES256,
                    |_| {},
                    &claims(&|c| {
                        c["iss"] = json!("nobody");
                        c["sub"] = json!("nobody");
                    }),
                ),
            ),
            (
                "wrong aud",
                key.sign(
                    Algorithm::ES256,
                    |_| {},
                    &claims(&|c| c["aud"] = json!(format!("{url}x"))),
                ),
            ),
            (
                "sub is not iss",
                key.sign(
                    Algorithm::ES256,
                    |_| {},
                    &claims(&|c| c["sub"] = json!("other")),
                ),
            ),
            (
                "expired",
                key.sign(
                    Algorithm::ES256,
                    |_| {},
                    &claims(&|c| c["exp"] = json!(now() - 120)),
                ),
            ),
            (
                "exp too far",
                key.sign(
                    Algorithm::ES256,
                    |_| {},
                    &claims(&|c| c["exp"] = json!(now() + 3600)),
                ),
            ),
            (
                "no jti",
                key.sign(
                    Algorithm::ES256,
                    |_| {},
                    &claims(&|c| {
                        c.as_object_mut().unwrap().remove("jti");
                    }),
                ),
            ),
            (
                "alg none",
                unsigned_jwt(
                    &json!({"alg": "none", "typ": "JWT", "kid": "k"}),
                    &claims(&|_| {}),
                ),
            ),
            (
                "unknown kid",
                key.sign(
                    Algorithm::ES256,
                    |h| h.kid = Some("other".into()),
                    &claims(&|_| {}),
                ),
            ),
            (
                "signed by another key",
                TestClientKey::ec256("k").sign(Algorithm::ES256, |_| {}, &claims(&|_| {})),
            ),
            (
                "jku not registered",
                key.sign(
                    Algorithm::ES256,
                    |h| h.jku = Some("https://example.org/jwks".into()),
                    &claims(&|_| {}),
                ),
            ),
            ("not a JWT", "garbage".to_owned()),
        ];
        for (what, assertion) in &cases {
            let resp = token_request(&app, "default", &smart_form(assertion, scope)).await;
            let why = oauth_error(&resp, 401, "invalid_client");
            assert!(!why.is_empty(), "[{}] {what}: no description", db.backend);
        }

        // HS256 keyed with the client's public key (the classic algorithm confusion).
        let public = key.public_jwk().to_string();
        let hs = jsonwebtoken::encode(
            &jsonwebtoken::Header {
                kid: Some("k".into()),
                ..jsonwebtoken::Header::new(Algorithm::HS256)
            },
            &claims(&|_| {}),
            &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()).unwrap(),
        )
        .unwrap();
        oauth_error(
            &token_request(&app, "default", &smart_form(&hs, scope)).await,
            401,
            "invalid_client",
        );

        // A scope outside the registered one.
        let a = key.assertion(&id, &url, now());
        oauth_error(
            &token_request(&app, "default", &smart_form(&a, "system/*.cud")).await,
            400,
            "invalid_scope",
        );

        // The same assertion twice: the second is a replay.
        let a = key.assertion(&id, &url, now());
        token_request(&app, "default", &smart_form(&a, scope))
            .await
            .status(200);
        let why = oauth_error(
            &token_request(&app, "default", &smart_form(&a, scope)).await,
            401,
            "invalid_client",
        );
        assert!(why.contains("jti"), "{why}");

        // Every outcome is recorded.
        let events = admin(
            &app,
            Method::GET,
            "/admin/tenants/default/auth-events",
            None,
        )
        .await
        .status(200)
        .json();
        let tokens: Vec<&Value> = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["event"] == "token")
            .collect();
        assert!(tokens.iter().any(|e| e["outcome"] == "success"), "{events}");
        assert!(
            tokens.iter().filter(|e| e["outcome"] == "refused").count() >= cases.len(),
            "{events}"
        );
    }
}

#[tokio::test]
async fn tokens_that_are_not_this_tenants_are_401_invalid_token() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        create_tenant(&app, "other").await;
        let here = client_token(&app, "default", "system/*.cruds").await;
        let there = client_token(&app, "other", "system/*.cruds").await;
        let mut tampered = here.clone();
        tampered.truncate(here.len() - 4);
        tampered.push_str("AAAA");
        for (what, token) in [
            ("another tenant's", there.as_str()),
            ("tampered", &tampered),
            ("garbage", "not.a.token"),
        ] {
            let resp = with_token(
                &app,
                Some(token),
                Method::GET,
                "/fhir/default/Practitioner",
                None,
            )
            .await;
            resp.outcome(401, "login");
            let challenge = resp.must_header("www-authenticate");
            assert!(
                challenge.starts_with("Bearer error=\"invalid_token\""),
                "{what}: {challenge}"
            );
        }
        // `Bearer` with nothing after it.
        let resp = app
            .send(
                app.request(Method::GET, "/fhir/default/Practitioner")
                    .header("authorization", "Bearer "),
            )
            .await;
        resp.outcome(401, "login");
        // The right token works.
        with_token(
            &app,
            Some(&here),
            Method::GET,
            "/fhir/default/Practitioner",
            None,
        )
        .await
        .status(200);
    }
}

#[tokio::test]
async fn after_a_key_rotation_earlier_tokens_still_work() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        let before = client_token(&app, "default", "system/*.rs").await;
        let kid = admin(
            &app,
            Method::POST,
            "/admin/tenants/default/keys/rotate",
            None,
        )
        .await
        .status(200)
        .json();
        let jwks = app.get("/fhir/default/auth/jwks").await.status(200).json();
        let kids: Vec<&Value> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| &k["kid"])
            .collect();
        assert_eq!(
            kids.len(),
            2,
            "[{}] the old key left the JWK Set: {jwks}",
            db.backend
        );
        assert!(kids.contains(&&kid["kid"]), "{jwks}");
        with_token(
            &app,
            Some(&before),
            Method::GET,
            "/fhir/default/Practitioner",
            None,
        )
        .await
        .status(200);
        let after = client_token(&app, "default", "system/*.rs").await;
        let header: Value = {
            use base64::Engine;
            let h = after.split('.').next().unwrap();
            serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(h)
                    .unwrap(),
            )
            .unwrap()
        };
        assert_eq!(
            header["kid"], kid["kid"],
            "new tokens are signed with the new key"
        );
        with_token(
            &app,
            Some(&after),
            Method::GET,
            "/fhir/default/Practitioner",
            None,
        )
        .await
        .status(200);
    }
}

#[tokio::test]
async fn with_auth_off_everything_is_served_to_everyone() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        with_token(
            &app,
            None,
            Method::POST,
            "/fhir/default/Practitioner",
            Some(&practitioner(None, "Open")),
        )
        .await
        .status(201);
        with_token(&app, None, Method::POST, "/fhir/default/$reindex", None)
            .await
            .status(202);
        app.get("/fhir/default/Practitioner").await.status(200);
    }
}
