//! UDAP (FAST Security STU2): trust communities, signed metadata, dynamic client
//! registration and B2B tokens; each refusal a statement or assertion that breaks one rule.

use reqwest::Method;
use serde_json::{json, Value};
use udap::testing::{
    b2b_assertion_claims, client_cert, client_cert_ec, expired_client_cert, server_cert,
    server_cert_ec, sign_jwt, software_statement_claims, trusted_ca, untrusted_ca,
    untrusted_client_cert, TestCert,
};

use crate::common::{practitioner, test_databases, Resp, TestApp};
use crate::support::*;

const COMMUNITY_A: &str = "urn:example:community-a";
const COMMUNITY_B: &str = "urn:example:community-b";
const CLIENT: &str = "https://client.example.org/app";

fn community(uri: &str, anchors: Vec<String>, server: &TestCert, default: bool) -> Value {
    json!({"uri": uri, "anchors": anchors, "server_certificate_chain": server.chain_pem,
           "server_private_key": server.key_pem, "default": default})
}

/// Configures community A; answers the server certificate it signs metadata with.
async fn configure_a(app: &TestApp) -> TestCert {
    let server = server_cert(&base(app, "default"));
    let body = community(
        COMMUNITY_A,
        vec![trusted_ca().cert_pem.clone()],
        &server,
        true,
    );
    admin(
        app,
        Method::PUT,
        "/admin/tenants/default/udap/communities/a",
        Some(body),
    )
    .await
    .status(201);
    server
}

fn registration_url(app: &TestApp) -> String {
    format!("{}/auth/register", base(app, "default"))
}

async fn register(app: &TestApp, statement: &str) -> Resp {
    let body = json!({"software_statement": statement, "udap": "1"});
    let req = app
        .request(Method::POST, &registration_url(app))
        .header("content-type", "application/json")
        .body(body.to_string());
    app.send(req).await
}

/// A statement from `cert` (RS256 unless the key is EC) with `edit` applied to its claims.
fn statement(app: &TestApp, cert: &TestCert, alg: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut claims = software_statement_claims(CLIENT, &registration_url(app), now());
    edit(&mut claims);
    sign_jwt(&claims, alg, &cert.chain_pem, &cert.key_pem)
}

/// The RS256 signature of signed metadata, checked with its `x5c` leaf; answers its claims.
fn verify_signed_metadata(jwt: &str, expected_leaf: &[u8]) -> Value {
    use base64::Engine;
    let header = jsonwebtoken::decode_header(jwt).expect("a JWS header");
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let x5c = header.x5c.expect("x5c");
    let leaf = base64::engine::general_purpose::STANDARD
        .decode(&x5c[0])
        .expect("base64 DER");
    assert_eq!(leaf, expected_leaf, "x5c[0] is the server certificate");
    let (_, cert) = x509_parser::parse_x509_certificate(&leaf).expect("a certificate");
    let key = jsonwebtoken::DecodingKey::from_rsa_der(&cert.public_key().subject_public_key.data);
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    jsonwebtoken::decode::<Value>(jwt, &key, &validation)
        .expect("signed metadata verifies with its leaf")
        .claims
}

#[tokio::test]
async fn udap_metadata_is_signed_with_the_community_certificate() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        let b = base(&app, "default");
        app.get("/fhir/default/.well-known/udap")
            .await
            .outcome(404, "not-found");
        let server = configure_a(&app).await;

        let listed = admin(
            &app,
            Method::GET,
            "/admin/tenants/default/udap/communities",
            None,
        )
        .await
        .status(200);
        assert!(
            !listed.text().contains("PRIVATE KEY"),
            "[{}] the key is shown: {}",
            db.backend,
            listed.text()
        );
        assert_eq!(listed.json()["communities"][0]["uri"], COMMUNITY_A);

        let doc = app
            .get("/fhir/default/.well-known/udap")
            .await
            .status(200)
            .json();
        assert_eq!(
            doc["udap_versions_supported"],
            json!(["1"]),
            "[{}] {doc}",
            db.backend
        );
        for profile in ["udap_dcr", "udap_authn", "udap_authz"] {
            assert!(
                doc["udap_profiles_supported"]
                    .as_array()
                    .unwrap()
                    .contains(&json!(profile)),
                "{profile}"
            );
        }
        assert_eq!(
            doc["udap_authorization_extensions_supported"],
            json!(["hl7-b2b"])
        );
        assert_eq!(
            doc["udap_authorization_extensions_required"],
            json!(["hl7-b2b"])
        );
        assert!(doc["udap_certifications_supported"].is_array());
        assert_eq!(doc["grant_types_supported"], json!(["client_credentials"]));
        assert_eq!(doc["token_endpoint"], json!(format!("{b}/auth/token")));
        assert_eq!(
            doc["registration_endpoint"],
            json!(format!("{b}/auth/register"))
        );
        assert_eq!(
            doc["token_endpoint_auth_methods_supported"],
            json!(["private_key_jwt"])
        );
        assert_eq!(
            doc["token_endpoint_auth_signing_alg_values_supported"][0],
            "RS256"
        );
        assert!(doc["registration_endpoint_jwt_signing_alg_values_supported"].is_array());
        assert!(doc["scopes_supported"].is_array());
        let claims = verify_signed_metadata(doc["signed_metadata"].as_str().unwrap(), &server.der);
        assert_eq!(claims["iss"], json!(b));
        assert_eq!(claims["sub"], json!(b));
        assert!(claims["jti"].is_string(), "{claims}");
        let life = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
        assert!(life > 0 && life <= 365 * 86_400, "{claims}");
        assert_eq!(claims["token_endpoint"], doc["token_endpoint"]);
        assert_eq!(
            claims["registration_endpoint"],
            doc["registration_endpoint"]
        );

        app.get(&format!(
            "/fhir/default/.well-known/udap?community={COMMUNITY_A}"
        ))
        .await
        .status(200);
        let other = app
            .get("/fhir/default/.well-known/udap?community=urn:example:elsewhere")
            .await;
        assert_eq!(other.code, 204, "{}", other.text());

        // Stays public when the tenant requires tokens for reads.
        admin(
            &app,
            Method::PUT,
            "/admin/tenants/default/access",
            Some(json!({"anonymous_read": false})),
        )
        .await
        .status(200);
        app.get("/fhir/default/.well-known/udap").await.status(200);
    }
}

#[tokio::test]
async fn a_community_whose_server_certificate_would_not_verify_is_refused() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        let b = base(&app, "default");
        let anchors = vec![trusted_ca().cert_pem.clone()];
        let cases = [
            (
                "an EC server key",
                community(COMMUNITY_A, anchors.clone(), &server_cert_ec(&b), true),
            ),
            (
                "a SAN for another base",
                community(
                    COMMUNITY_A,
                    anchors.clone(),
                    &server_cert("https://elsewhere.example.org/fhir/default"),
                    true,
                ),
            ),
            (
                "a chain to no anchor",
                community(
                    COMMUNITY_A,
                    vec![untrusted_ca().cert_pem.clone()],
                    &server_cert(&b),
                    true,
                ),
            ),
        ];
        for (what, body) in cases {
            let resp = admin(
                &app,
                Method::PUT,
                "/admin/tenants/default/udap/communities/a",
                Some(body),
            )
            .await;
            assert_eq!(resp.code, 400, "[{}] {what}: {}", db.backend, resp.text());
        }
        let mut mismatched = community(COMMUNITY_A, anchors, &server_cert(&b), true);
        mismatched["server_private_key"] = json!(client_cert_ec(CLIENT).key_pem);
        admin(
            &app,
            Method::PUT,
            "/admin/tenants/default/udap/communities/a",
            Some(mismatched),
        )
        .await
        .outcome(400, "invalid");
        app.get("/fhir/default/.well-known/udap")
            .await
            .outcome(404, "not-found");
        // A configured community can be removed, once.
        configure_a(&app).await;
        app.get("/fhir/default/.well-known/udap").await.status(200);
        admin(
            &app,
            Method::DELETE,
            "/admin/tenants/default/udap/communities/a",
            None,
        )
        .await
        .status(204);
        admin(
            &app,
            Method::DELETE,
            "/admin/tenants/default/udap/communities/a",
            None,
        )
        .await
        .outcome(404, "not-found");
        app.get("/fhir/default/.well-known/udap")
            .await
            .outcome(404, "not-found");
        // Only the admin configures communities.
        let resp = app
            .send(app.request(Method::GET, "/admin/tenants/default/udap/communities"))
            .await;
        resp.outcome(401, "login");
    }
}

#[tokio::test]
async fn registration_creates_replaces_cancels_and_is_per_community() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        configure_a(&app).await;
        // B trusts the untrusted CA too, so that CA's clients register there only.
        let server = server_cert(&base(&app, "default"));
        let anchors = vec![
            untrusted_ca().cert_pem.clone(),
            trusted_ca().cert_pem.clone(),
        ];
        admin(
            &app,
            Method::PUT,
            "/admin/tenants/default/udap/communities/b",
            Some(community(COMMUNITY_B, anchors, &server, false)),
        )
        .await
        .status(201);

        let cert = client_cert(CLIENT);
        let s1 = statement(&app, &cert, "RS256", |_| {});
        let first = register(&app, &s1).await.status(201);
        let body = first.json();
        let id = body["client_id"].as_str().expect("client_id").to_owned();
        assert_eq!(
            body["software_statement"],
            json!(s1),
            "[{}] the statement is echoed exactly",
            db.backend
        );
        assert_eq!(body["grant_types"], json!(["client_credentials"]));
        assert_eq!(body["token_endpoint_auth_method"], "private_key_jwt");
        assert!(
            body["client_name"].is_string() && body["scope"].is_string(),
            "{body}"
        );

        let again = register(&app, &statement(&app, &cert, "RS256", |_| {}))
            .await
            .status(200)
            .json();
        assert_eq!(
            again["client_id"],
            json!(id),
            "same issuer, same community: same client"
        );

        let elsewhere = register(
            &app,
            &statement(&app, &untrusted_client_cert(CLIENT), "RS256", |_| {}),
        )
        .await
        .status(201)
        .json();
        assert_ne!(
            elsewhere["client_id"],
            json!(id),
            "another community: another client"
        );

        // An empty grant_types cancels; the client then gets no token.
        register(
            &app,
            &statement(&app, &cert, "RS256", |c| c["grant_types"] = json!([])),
        )
        .await
        .status(200);
        let listed = admin(&app, Method::GET, "/admin/tenants/default/clients", None)
            .await
            .status(200)
            .json();
        assert!(
            !listed.to_string().contains(&id),
            "cancelled registration kept: {listed}"
        );

        // JSON only.
        let req = app
            .request(Method::POST, &registration_url(&app))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("software_statement=x");
        assert_eq!(app.send(req).await.code, 415);
    }
}

#[tokio::test]
async fn a_statement_breaking_any_rule_is_refused() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        configure_a(&app).await;
        let cert = client_cert(CLIENT);
        let ec = client_cert_ec(CLIENT);
        let url = registration_url(&app);
        let replayed = statement(&app, &cert, "RS256", |_| {});
        register(&app, &replayed).await.status(201);
        let cases: Vec<(&str, String, &str)> = vec![
            (
                "wrong aud",
                statement(&app, &cert, "RS256", |c| {
                    c["aud"] = json!(format!("{url}/x"))
                }),
                "invalid_software_statement",
            ),
            (
                "iss not a SAN",
                statement(&app, &cert, "RS256", |c| {
                    c["iss"] = json!("https://other.example.org");
                    c["sub"] = json!("https://other.example.org");
                }),
                "invalid_software_statement",
            ),
            (
                "sub not iss",
                statement(&app, &cert, "RS256", |c| {
                    c["sub"] = json!("https://other.example.org")
                }),
                "invalid_software_statement",
            ),
            (
                "signed by another key",
                sign_jwt(
                    &software_statement_claims(CLIENT, &url, now()),
                    "ES256",
                    &cert.chain_pem,
                    &ec.key_pem,
                ),
                "invalid_software_statement",
            ),
            (
                "untrusted anchor",
                statement(&app, &untrusted_client_cert(CLIENT), "RS256", |_| {}),
                "unapproved_software_statement",
            ),
            (
                "exp - iat over 300",
                statement(&app, &cert, "RS256", |c| c["exp"] = json!(now() + 600)),
                "invalid_software_statement",
            ),
            (
                "expired statement",
                statement(&app, &cert, "RS256", |c| {
                    c["iat"] = json!(now() - 400);
                    c["exp"] = json!(now() - 200);
                }),
                "invalid_software_statement",
            ),
            (
                "replayed jti",
                replayed.clone(),
                "invalid_software_statement",
            ),
            (
                "alg none",
                sign_jwt(
                    &software_statement_claims(CLIENT, &url, now()),
                    "none",
                    &cert.chain_pem,
                    &cert.key_pem,
                ),
                "invalid_software_statement",
            ),
            (
                "HS256 with the public key",
                sign_jwt(
                    &software_statement_claims(CLIENT, &url, now()),
                    "HS256",
                    &cert.chain_pem,
                    &cert.cert_pem,
                ),
                "invalid_software_statement",
            ),
            (
                "no mailto contact",
                statement(&app, &cert, "RS256", |c| {
                    c["contacts"] = json!(["https://example.org"])
                }),
                "invalid_client_metadata",
            ),
            (
                "authorization_code",
                statement(&app, &cert, "RS256", |c| {
                    c["grant_types"] = json!(["authorization_code"])
                }),
                "invalid_client_metadata",
            ),
        ];
        for (what, s, code) in &cases {
            let resp = register(&app, s).await;
            assert_eq!(resp.code, 400, "[{}] {what}: {}", db.backend, resp.text());
            let body = resp.json();
            assert_eq!(
                body["error"],
                json!(code),
                "[{}] {what}: {body}",
                db.backend
            );
        }
        // An expired certificate: refused, whichever of the two codes names it.
        let resp = register(
            &app,
            &statement(&app, &expired_client_cert(CLIENT), "RS256", |_| {}),
        )
        .await;
        assert_eq!(resp.code, 400, "{}", resp.text());
        let code = resp.json()["error"].clone();
        assert!(
            code == "invalid_software_statement" || code == "unapproved_software_statement",
            "{code}"
        );
        // An ES256 client key registers too.
        let es = register(&app, &statement(&app, &ec, "ES256", |_| {})).await;
        assert!(es.code == 200 || es.code == 201, "{}", es.text());
    }
}

#[tokio::test]
async fn a_b2b_token_carries_the_organization_and_purpose_of_use() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        configure_a(&app).await;
        let cert = client_cert(CLIENT);
        let reg = register(
            &app,
            &statement(&app, &cert, "RS256", |c| c["scope"] = json!("system/*.rs")),
        )
        .await
        .status(201)
        .json();
        let id = reg["client_id"].as_str().unwrap().to_owned();
        let url = token_url(&app, "default");
        let form = |assertion: &str| {
            let mut f = smart_form(assertion, "system/*.rs");
            f.push(("udap", "1"));
            f.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        let send = |f: Vec<(String, String)>| {
            let app = &app;
            async move {
                let pairs: Vec<(&str, &str)> =
                    f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                token_request(app, "default", &pairs).await
            }
        };
        let good = sign_jwt(
            &b2b_assertion_claims(&id, &url, now()),
            "RS256",
            &cert.chain_pem,
            &cert.key_pem,
        );
        let body = send(form(&good)).await.status(200).json();
        let token = body["access_token"].as_str().unwrap();
        let c = claims(token);
        let expected_org = b2b_assertion_claims(&id, &url, now())["extensions"]["hl7-b2b"]
            ["organization_id"]
            .clone();
        assert_eq!(c["organization"], expected_org, "[{}] {c}", db.backend);
        assert_eq!(c["purpose_of_use"], json!(["SYSDEV"]), "{c}");
        with_token(
            &app,
            Some(token),
            Method::GET,
            "/fhir/default/Practitioner",
            None,
        )
        .await
        .status(200);
        with_token(
            &app,
            Some(token),
            Method::POST,
            "/fhir/default/Practitioner",
            Some(&practitioner(None, "X")),
        )
        .await
        .outcome(403, "forbidden");

        // Without hl7-b2b; without udap=1; with another client's certificate.
        let mut no_b2b = b2b_assertion_claims(&id, &url, now());
        no_b2b.as_object_mut().unwrap().remove("extensions");
        let s = sign_jwt(&no_b2b, "RS256", &cert.chain_pem, &cert.key_pem);
        oauth_error(&send(form(&s)).await, 401, "invalid_client");
        let s = sign_jwt(
            &b2b_assertion_claims(&id, &url, now()),
            "RS256",
            &cert.chain_pem,
            &cert.key_pem,
        );
        oauth_error(
            &token_request(&app, "default", &smart_form(&s, "system/*.rs")).await,
            401,
            "invalid_client",
        );
        let stranger = client_cert("https://stranger.example.org");
        let s = sign_jwt(
            &b2b_assertion_claims(&id, &url, now()),
            "RS256",
            &stranger.chain_pem,
            &stranger.key_pem,
        );
        oauth_error(&send(form(&s)).await, 401, "invalid_client");
        let mut long = b2b_assertion_claims(&id, &url, now());
        long["exp"] = json!(now() + 900);
        let s = sign_jwt(&long, "RS256", &cert.chain_pem, &cert.key_pem);
        oauth_error(&send(form(&s)).await, 401, "invalid_client");
    }
}
