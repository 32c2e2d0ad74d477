//! The operator's client registry (`/admin/tenants/{t}/clients`): what it accepts, what it
//! refuses, what it shows, and who may use it.

use auth::testing::TestClientKey;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::test_databases;
use crate::support::*;

#[tokio::test]
async fn clients_are_added_listed_read_and_removed_by_the_admin_only() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        let key = TestClientKey::ec256("k");
        let body = json!({"jwks": {"keys": [key.public_jwk()]}, "scope": "system/*.rs",
            "organization": "Organization/acme", "name": "Acme sync"});
        let created = admin(
            &app,
            Method::POST,
            "/admin/tenants/default/clients",
            Some(body.clone()),
        )
        .await
        .status(201)
        .json();
        let id = created["client_id"].as_str().expect("client_id").to_owned();
        assert_eq!(
            created["scope"], "system/*.rs",
            "[{}] {created}",
            db.backend
        );
        assert_eq!(created["organization"], "Organization/acme");
        let listed = admin(&app, Method::GET, "/admin/tenants/default/clients", None)
            .await
            .status(200)
            .json();
        let ids: Vec<&Value> = listed["clients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["client_id"])
            .collect();
        assert_eq!(ids, vec![&json!(id)], "{listed}");
        admin(
            &app,
            Method::GET,
            &format!("/admin/tenants/default/clients/{id}"),
            None,
        )
        .await
        .status(200);

        // A token carries the registered organization.
        let token = token(&app, "default", &key, &id, "system/*.rs").await;
        assert_eq!(claims(&token)["organization"], "Organization/acme");

        // Not without the admin token.
        let resp = app
            .send(app.request(Method::GET, "/admin/tenants/default/clients"))
            .await;
        resp.outcome(401, "login");
        let resp = app
            .send(
                app.request(Method::POST, "/admin/tenants/default/clients")
                    .bearer_auth(&token)
                    .body(body.to_string()),
            )
            .await;
        resp.outcome(403, "forbidden");

        admin(
            &app,
            Method::DELETE,
            &format!("/admin/tenants/default/clients/{id}"),
            None,
        )
        .await
        .status(204);
        admin(
            &app,
            Method::DELETE,
            &format!("/admin/tenants/default/clients/{id}"),
            None,
        )
        .await
        .outcome(404, "not-found");
        // A removed client gets no more tokens.
        let a = key.assertion(&id, &token_url(&app, "default"), now());
        oauth_error(
            &token_request(&app, "default", &smart_form(&a, "system/*.rs")).await,
            401,
            "invalid_client",
        );
        admin(&app, Method::GET, "/admin/tenants/nope/clients", None)
            .await
            .outcome(404, "not-found");
    }
}

#[tokio::test]
async fn a_client_registration_is_checked_before_it_is_kept() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        let public = TestClientKey::ec256("k").public_jwk();
        let mut private = public.clone();
        private["d"] = json!("c2VjcmV0");
        let cases = [
            (
                "private key material",
                json!({"jwks": {"keys": [private]}, "scope": "system/*.rs"}),
            ),
            (
                "empty key set",
                json!({"jwks": {"keys": []}, "scope": "system/*.rs"}),
            ),
            (
                "both jwks and jwks_uri",
                json!({"jwks": {"keys": [public]}, "jwks_uri": "https://example.org/j", "scope": "system/*.rs"}),
            ),
            ("neither", json!({"scope": "system/*.rs"})),
            (
                "plain http to a host not allowed",
                json!({"jwks_uri": "http://example.org/jwks", "scope": "system/*.rs"}),
            ),
            (
                "a metadata address",
                json!({"jwks_uri": "https://169.254.169.254/jwks", "scope": "system/*.rs"}),
            ),
            (
                "a patient scope",
                json!({"jwks": {"keys": [public]}, "scope": "patient/*.rs"}),
            ),
            (
                "an unknown type",
                json!({"jwks": {"keys": [public]}, "scope": "system/Nonsense.rs"}),
            ),
            (
                "a bad organization",
                json!({"jwks": {"keys": [public]}, "scope": "system/*.rs", "organization": "Practitioner/1"}),
            ),
            (
                "an unknown field",
                json!({"jwks": {"keys": [public]}, "scope": "system/*.rs", "secret": "x"}),
            ),
        ];
        for (what, body) in cases {
            let resp = admin(
                &app,
                Method::POST,
                "/admin/tenants/default/clients",
                Some(body),
            )
            .await;
            assert_eq!(resp.code, 400, "[{}] {what}: {}", db.backend, resp.text());
        }
        let listed = admin(&app, Method::GET, "/admin/tenants/default/clients", None)
            .await
            .status(200)
            .json();
        assert_eq!(
            listed["clients"],
            json!([]),
            "[{}] a refused client was kept",
            db.backend
        );
    }
}

#[tokio::test]
async fn a_client_with_a_jwks_uri_is_checked_with_the_keys_fetched_from_it() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        let key = TestClientKey::rsa("remote");
        let jwks = json!({"keys": [key.public_jwk()]});
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || async move { axum::Json(jwks) }),
        );
        tokio::spawn(async move { axum::serve(listener, served).await });
        let jwks_uri = format!("http://{addr}/jwks");
        let created = admin(
            &app,
            Method::POST,
            "/admin/tenants/default/clients",
            Some(json!({"jwks_uri": jwks_uri, "scope": "system/*.rs"})),
        )
        .await
        .status(201)
        .json();
        let id = created["client_id"].as_str().unwrap();
        token(&app, "default", &key, id, "system/*.rs").await;
        // `jku` naming the registered URI is accepted; another one is not.
        let url = token_url(&app, "default");
        let claims = auth::testing::assertion_claims(id, &url, now());
        let good = key.sign(
            jsonwebtoken::Algorithm::RS256,
            |h| h.jku = Some(jwks_uri.clone()),
            &claims,
        );
        token_request(&app, "default", &smart_form(&good, "system/*.rs"))
            .await
            .status(200);
        let claims = auth::testing::assertion_claims(id, &url, now());
        let bad = key.sign(
            jsonwebtoken::Algorithm::RS256,
            |h| h.jku = Some(format!("{jwks_uri}?x")),
            &claims,
        );
        oauth_error(
            &token_request(&app, "default", &smart_form(&bad, "system/*.rs")).await,
            401,
            "invalid_client",
        );
    }
}
