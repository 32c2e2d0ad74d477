//! The CLI faces of authorization: `fhirdir client add|list|remove` on the database a server
//! runs on, and `fhirdir udap dev-pki`, whose output configures a tenant and registers a
//! client end to end.

use auth::testing::TestClientKey;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::test_databases;
use crate::support::*;

/// Runs `fhirdir ARGS`; answers (success, stdout, stderr).
async fn cli(args: &[&str]) -> (bool, String, String) {
    crate::common::fhirdir_cli(args).await
}

#[tokio::test]
async fn clients_added_with_the_cli_get_tokens_from_a_running_server() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        let dir = tempfile::tempdir().unwrap();
        let key = TestClientKey::ec256("cli");
        let jwks = dir.path().join("jwks.json");
        std::fs::write(&jwks, json!({"keys": [key.public_jwk()]}).to_string()).unwrap();
        let jwks = jwks.to_str().unwrap();
        let (ok, out, err) = cli(&[
            "client",
            "add",
            "--jwks",
            jwks,
            "--scope",
            "system/*.rs",
            "--name",
            "from the CLI",
            "--database",
            &db.url,
        ])
        .await;
        assert!(ok, "[{}] client add: {err}", db.backend);
        let added: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        let id = added["client_id"].as_str().unwrap().to_owned();
        assert!(
            added.get("see_restricted").is_none(),
            "[{}] {added}",
            db.backend
        );
        // The operator's own tool: sees restricted content; its tokens say so.
        let (ok, out, err) = cli(&[
            "client",
            "add",
            "--jwks",
            jwks,
            "--scope",
            "system/*.rs",
            "--see-restricted",
            "--database",
            &db.url,
        ])
        .await;
        assert!(ok, "[{}] client add --see-restricted: {err}", db.backend);
        let ops: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert_eq!(ops["see_restricted"], true, "[{}] {ops}", db.backend);
        let ops_id = ops["client_id"].as_str().unwrap().to_owned();
        let ops_token = token(&app, "default", &key, &ops_id, "system/*.rs").await;
        assert_eq!(claims(&ops_token)["see_restricted"], true);

        let (ok, out, _) = cli(&["client", "list", "--database", &db.url]).await;
        assert!(
            ok && out.contains(&id) && out.contains("from the CLI"),
            "[{}] {out}",
            db.backend
        );
        token(&app, "default", &key, &id, "system/*.rs").await;

        let (ok, _, err) = cli(&[
            "client",
            "add",
            "--jwks",
            jwks,
            "--scope",
            "patient/*.rs",
            "--database",
            &db.url,
        ])
        .await;
        assert!(
            !ok && err.contains("scope"),
            "[{}] a patient scope was accepted: {err}",
            db.backend
        );
        let (ok, _, err) = cli(&[
            "client",
            "add",
            "--jwks",
            jwks,
            "--scope",
            "system/*.rs",
            "--tenant",
            "nope",
            "--database",
            &db.url,
        ])
        .await;
        assert!(!ok && err.contains("nope"), "[{}] {err}", db.backend);

        let (ok, _, err) = cli(&["client", "remove", &id, "--database", &db.url]).await;
        assert!(ok, "[{}] {err}", db.backend);
        let a = key.assertion(&id, &token_url(&app, "default"), now());
        oauth_error(
            &token_request(&app, "default", &smart_form(&a, "system/*.rs")).await,
            401,
            "invalid_client",
        );
        let (ok, _, _) = cli(&["client", "remove", &id, "--database", &db.url]).await;
        assert!(!ok, "[{}] removing an unknown client succeeded", db.backend);
    }
}

#[tokio::test]
async fn dev_pki_configures_a_tenant_that_registers_its_client() {
    let db = testkit::sqlite_db();
    let app = spawn(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("pki");
    let (ok, out, err) = cli(&[
        "udap",
        "dev-pki",
        "--base-url",
        &app.base,
        "--out",
        out_dir.to_str().unwrap(),
    ])
    .await;
    assert!(ok, "dev-pki: {err}");
    assert!(
        out.contains("/admin/tenants/default/udap/communities/"),
        "{out}"
    );
    let community: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("community.json")).unwrap())
            .unwrap();
    admin(
        &app,
        Method::PUT,
        "/admin/tenants/default/udap/communities/dev",
        Some(community),
    )
    .await
    .status(201);
    app.get("/fhir/default/.well-known/udap").await.status(200);

    let client_pem = std::fs::read_to_string(out_dir.join("client.pem")).unwrap();
    let client_key = std::fs::read_to_string(out_dir.join("client.key.pem")).unwrap();
    let registration = format!("{}/auth/register", base(&app, "default"));
    let claims = udap::testing::software_statement_claims(
        "https://client.example.org/fhirdir-dev",
        &registration,
        now(),
    );
    let statement = udap::testing::sign_jwt(&claims, "RS256", &[client_pem], &client_key);
    let req = app
        .request(Method::POST, &registration)
        .header("content-type", "application/json")
        .body(json!({"software_statement": statement, "udap": "1"}).to_string());
    app.send(req).await.status(201);
}
