//! Who may use the provider finder and its page, with authorization on, per backend: anyone on
//! a tenant anonymous callers may read; on a tenant that requires a token, nobody without one
//! (401 for the operation; the page and the tenant list neither show nor name it); a client
//! whose scopes do not cover every type the finder reads is refused (403), one whose scopes do
//! is answered.

mod common;

#[path = "auth/support.rs"]
#[allow(dead_code, reason = "shared with the authorization tests")]
mod support;

use reqwest::Method;
use serde_json::json;

use common::test_databases;
use support::{admin, client_token, create_tenant, spawn, with_token};

const QUERY: &str = "$find-providers?name=hidden";

#[tokio::test]
async fn only_callers_who_may_search_every_type_read_are_answered() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        let b = app.backend;
        create_tenant(&app, "private").await;
        let full = client_token(&app, "private", "system/*.rs").await;
        let narrow = client_token(&app, "private", "system/Practitioner.rs").await;
        let p = json!({"resourceType": "Practitioner", "id": "p1", "name": [{"family": "Hidden"}]});
        let writer = client_token(&app, "private", "system/*.cruds").await;
        with_token(
            &app,
            Some(&writer),
            Method::PUT,
            "/fhir/private/Practitioner/p1",
            Some(&p),
        )
        .await
        .status(201);
        let role = json!({"resourceType": "PractitionerRole", "id": "r1", "active": true,
            "practitioner": {"reference": "Practitioner/p1"}});
        with_token(
            &app,
            Some(&writer),
            Method::PUT,
            "/fhir/private/PractitionerRole/r1",
            Some(&role),
        )
        .await
        .status(201);

        // Public tenant: anonymous callers are answered.
        app.get(&format!("/fhir/default/{QUERY}")).await.status(200);
        let page = app.get("/").await.status(200).text();
        assert!(
            page.contains("/find/private"),
            "[{b}] both tenants are offered: {page}"
        );

        // A tenant that requires a token.
        admin(
            &app,
            Method::PUT,
            "/admin/tenants/private/access",
            Some(json!({"anonymous_read": false})),
        )
        .await
        .status(200);
        let resp = app.get(&format!("/fhir/private/{QUERY}")).await;
        let why = resp.outcome(401, "login");
        assert!(!why.contains("Hidden"), "[{b}] {why}");
        let page = app.get("/").await.status(200).text();
        assert!(
            !page.contains("private"),
            "[{b}] a private tenant is not named: {page}"
        );
        assert!(page.contains("Find a doctor"), "[{b}] {page}");
        app.get("/find/private").await.status(404);
        app.get("/find/nosuch").await.status(404);

        // Scopes: Practitioner alone does not cover the roles and sites the finder reads.
        let resp = with_token(
            &app,
            Some(&narrow),
            Method::GET,
            &format!("/fhir/private/{QUERY}"),
            None,
        )
        .await;
        resp.outcome(403, "forbidden");
        let bundle = with_token(
            &app,
            Some(&full),
            Method::GET,
            &format!("/fhir/private/{QUERY}"),
            None,
        )
        .await
        .status(200)
        .json();
        assert_eq!(bundle["total"], 1, "[{b}] {bundle}");
        assert_eq!(bundle["entry"][0]["resource"]["id"], "p1", "[{b}] {bundle}");
    }
}
