//! What the authorization tests share: a server with authorization on and the admin API
//! enabled, clients registered through the admin API, and token requests.

use auth::testing::TestClientKey;
use reqwest::Method;
use serde_json::{json, Value};
use server::ServerConfig;
use testkit::TestDb;

use crate::common::{fhir_body, spawn_app, Resp, TestApp};

pub const ADMIN: &str = "auth-test-admin-token";
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A server with authorization on (the default), the admin API on, and outbound fetches
/// allowed to this machine's loopback (where tests serve JWK Sets and CRLs).
pub async fn spawn(db: &TestDb) -> TestApp {
    spawn_app(
        db,
        ServerConfig {
            admin_token: Some(ADMIN.into()),
            outbound_allow: vec!["127.0.0.1".into()],
            ..ServerConfig::default()
        },
    )
    .await
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn base(app: &TestApp, tenant: &str) -> String {
    app.url(&format!("/fhir/{tenant}"))
}

pub fn token_url(app: &TestApp, tenant: &str) -> String {
    format!("{}/auth/token", base(app, tenant))
}

pub async fn admin(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Resp {
    let mut req = app.request(method, path).bearer_auth(ADMIN);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    app.send(req).await
}

pub async fn create_tenant(app: &TestApp, name: &str) {
    admin(
        app,
        Method::POST,
        "/admin/tenants",
        Some(json!({ "name": name })),
    )
    .await
    .status(201);
}

/// Registers `key` as a SMART client of `tenant` allowed `scope`; answers its client_id.
pub async fn add_client(app: &TestApp, tenant: &str, key: &TestClientKey, scope: &str) -> String {
    let body = json!({"jwks": {"keys": [key.public_jwk()]}, "scope": scope, "name": "test"});
    let resp = admin(
        app,
        Method::POST,
        &format!("/admin/tenants/{tenant}/clients"),
        Some(body),
    )
    .await
    .status(201);
    resp.json()["client_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: no client_id: {}", resp.what, resp.text()))
        .to_owned()
}

/// POSTs a token request form.
pub async fn token_request(app: &TestApp, tenant: &str, form: &[(&str, &str)]) -> Resp {
    let req = app
        .request(Method::POST, &token_url(app, tenant))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).expect("form"));
    app.send(req).await
}

/// The form of a SMART Backend Services token request.
pub fn smart_form<'a>(assertion: &'a str, scope: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
        ("scope", scope),
    ]
}

/// Asserts an RFC 6749 error: status, `error` code, no-store; answers the description.
#[track_caller]
pub fn oauth_error(resp: &Resp, status: u16, error: &str) -> String {
    assert_eq!(resp.code, status, "{}: {}", resp.what, resp.text());
    let body = resp.json();
    assert_eq!(body["error"], error, "{}: {body}", resp.what);
    assert_eq!(
        resp.header("cache-control").as_deref(),
        Some("no-store"),
        "{}",
        resp.what
    );
    body["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A token for `client_id` (holding `key`) with `scope`.
pub async fn token(
    app: &TestApp,
    tenant: &str,
    key: &TestClientKey,
    client_id: &str,
    scope: &str,
) -> String {
    let assertion = key.assertion(client_id, &token_url(app, tenant), now());
    let resp = token_request(app, tenant, &smart_form(&assertion, scope))
        .await
        .status(200);
    resp.json()["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: no access_token: {}", resp.what, resp.text()))
        .to_owned()
}

/// A client of `tenant` with `scope` and a token for it.
pub async fn client_token(app: &TestApp, tenant: &str, scope: &str) -> String {
    let key = TestClientKey::ec256("k1");
    let id = add_client(app, tenant, &key, scope).await;
    token(app, tenant, &key, &id, scope).await
}

/// Sends `method path` with `token` (and a FHIR body when given).
pub async fn with_token(
    app: &TestApp,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Resp {
    let mut req = app.request(method, path);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = fhir_body(req, b);
    }
    app.send(req).await
}

/// The claims of a JWT, unverified (to look at what the server put in its tokens).
pub fn claims(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).expect("a JWT has a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON payload")
}
