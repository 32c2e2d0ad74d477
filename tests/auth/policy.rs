//! A tenant's access policy: anonymous reads by default, a token for reads when the tenant
//! asks for it; discovery always public; the admin API guards the setting.

use reqwest::Method;
use serde_json::json;

use crate::common::{practitioner, test_databases};
use crate::support::*;

#[tokio::test]
async fn a_tenant_can_require_a_token_for_reads() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        create_tenant(&app, "private").await;
        let token = client_token(&app, "private", "system/*.cruds").await;
        with_token(
            &app,
            Some(&token),
            Method::PUT,
            "/fhir/private/Practitioner/p1",
            Some(&practitioner(Some("p1"), "Hidden")),
        )
        .await
        .status(201);
        let policy = admin(&app, Method::GET, "/admin/tenants/private/access", None)
            .await
            .status(200)
            .json();
        assert_eq!(policy, json!({"anonymous_read": true}), "[{}]", db.backend);
        app.get("/fhir/private/Practitioner/p1").await.status(200);

        admin(
            &app,
            Method::PUT,
            "/admin/tenants/private/access",
            Some(json!({"anonymous_read": false})),
        )
        .await
        .status(200);
        let policy = admin(&app, Method::GET, "/admin/tenants/private/access", None)
            .await
            .status(200)
            .json();
        assert_eq!(policy, json!({"anonymous_read": false}));
        for path in [
            "/fhir/private/Practitioner/p1",
            "/fhir/private/Practitioner?name=Hidden",
            "/fhir/private/Practitioner/p1/_history",
        ] {
            let resp = app.get(path).await;
            let why = resp.outcome(401, "login");
            assert!(!why.contains("Hidden"), "{why}");
            assert_eq!(resp.header("www-authenticate").as_deref(), Some("Bearer"));
        }
        with_token(
            &app,
            Some(&token),
            Method::GET,
            "/fhir/private/Practitioner/p1",
            None,
        )
        .await
        .status(200);
        // Discovery stays public; other tenants keep their own policy.
        app.get("/fhir/private/.well-known/smart-configuration")
            .await
            .status(200);
        app.get("/fhir/private/auth/jwks").await.status(200);
        app.get("/fhir/private/metadata").await.status(200);
        app.get("/fhir/default/Practitioner").await.status(200);

        // Only the admin token changes it.
        let resp = app
            .send(
                app.request(Method::PUT, "/admin/tenants/private/access")
                    .header("content-type", "application/json")
                    .body(r#"{"anonymous_read": true}"#),
            )
            .await;
        resp.outcome(401, "login");
        let resp = app
            .send(
                app.request(Method::PUT, "/admin/tenants/private/access")
                    .bearer_auth(&token)
                    .body(r#"{"anonymous_read": true}"#),
            )
            .await;
        resp.outcome(403, "forbidden");
        admin(
            &app,
            Method::PUT,
            "/admin/tenants/private/access",
            Some(json!({"anonymous_read": "yes"})),
        )
        .await
        .outcome(400, "invalid");
        admin(
            &app,
            Method::PUT,
            "/admin/tenants/nope/access",
            Some(json!({"anonymous_read": true})),
        )
        .await
        .outcome(404, "not-found");
    }
}
