//! The scope matrix: SMART v1/v2 system scopes checked on every interaction (read, search,
//! `_include`, history, writes, every Bundle entry, `$reindex`).

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{entries, practitioner, test_databases, TestApp};
use crate::support::*;

fn organization(id: &str) -> Value {
    json!({"resourceType": "Organization", "id": id, "name": "Acme"})
}

fn role(id: &str, org: &str, prac: &str) -> Value {
    json!({"resourceType": "PractitionerRole", "id": id,
           "organization": {"reference": format!("Organization/{org}")},
           "practitioner": {"reference": format!("Practitioner/{prac}")}})
}

/// Writes a little directory with an all-powerful token.
async fn seed(app: &TestApp) {
    let root = client_token(app, "default", "system/*.cruds").await;
    for r in [
        organization("o1"),
        practitioner(Some("p1"), "Lovelace"),
        role("r1", "o1", "p1"),
    ] {
        let path = format!(
            "/fhir/default/{}/{}",
            r["resourceType"].as_str().unwrap(),
            r["id"].as_str().unwrap()
        );
        with_token(app, Some(&root), Method::PUT, &path, Some(&r))
            .await
            .status(201);
    }
}

#[tokio::test]
async fn a_read_search_token_cannot_write() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        seed(&app).await;
        let rs = client_token(&app, "default", "system/*.rs").await;
        with_token(
            &app,
            Some(&rs),
            Method::GET,
            "/fhir/default/Practitioner/p1",
            None,
        )
        .await
        .status(200);
        with_token(
            &app,
            Some(&rs),
            Method::GET,
            "/fhir/default/Practitioner?name=Lovelace",
            None,
        )
        .await
        .status(200);
        with_token(
            &app,
            Some(&rs),
            Method::GET,
            "/fhir/default/Practitioner/p1/_history",
            None,
        )
        .await
        .status(200);
        let p = practitioner(Some("p1"), "Changed");
        for (method, path) in [
            (Method::POST, "/fhir/default/Practitioner"),
            (Method::PUT, "/fhir/default/Practitioner/p1"),
            (Method::DELETE, "/fhir/default/Practitioner/p1"),
            (Method::PUT, "/fhir/default/Practitioner?name=Lovelace"),
        ] {
            let resp = with_token(&app, Some(&rs), method, path, Some(&p)).await;
            let why = resp.outcome(403, "forbidden");
            assert!(why.contains("system/*.rs"), "{}: {why}", resp.what);
        }
        let unchanged = with_token(
            &app,
            None,
            Method::GET,
            "/fhir/default/Practitioner/p1",
            None,
        )
        .await
        .status(200)
        .json();
        assert_eq!(
            unchanged["name"][0]["family"], "Lovelace",
            "[{}] a refused write changed data",
            db.backend
        );
    }
}

#[tokio::test]
async fn a_practitioner_scope_reads_no_organization() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        seed(&app).await;
        let t = client_token(&app, "default", "system/Practitioner.rs").await;
        with_token(
            &app,
            Some(&t),
            Method::GET,
            "/fhir/default/Practitioner/p1",
            None,
        )
        .await
        .status(200);
        for path in [
            "/fhir/default/Organization/o1",
            "/fhir/default/Organization?name=Acme",
            "/fhir/default/Organization/_history",
            "/fhir/default/_history",
        ] {
            with_token(&app, Some(&t), Method::GET, path, None)
                .await
                .outcome(403, "forbidden");
        }
        // v1 form of the same.
        let v1 = client_token(&app, "default", "system/Practitioner.read").await;
        with_token(
            &app,
            Some(&v1),
            Method::GET,
            "/fhir/default/Practitioner/p1",
            None,
        )
        .await
        .status(200);
        with_token(
            &app,
            Some(&v1),
            Method::GET,
            "/fhir/default/Organization/o1",
            None,
        )
        .await
        .outcome(403, "forbidden");
    }
}

#[tokio::test]
async fn chains_and_has_need_search_access_to_the_types_they_cross() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        seed(&app).await;
        let roles = client_token(&app, "default", "system/PractitionerRole.rs").await;
        for path in [
            "/fhir/default/PractitionerRole?practitioner.name=Lovelace",
            "/fhir/default/PractitionerRole?organization.name=Acme",
        ] {
            let resp = with_token(&app, Some(&roles), Method::GET, path, None).await;
            let why = resp.outcome(403, "forbidden");
            assert!(!why.contains("Lovelace"), "{why}");
        }
        let people = client_token(&app, "default", "system/Practitioner.rs").await;
        let has = "/fhir/default/Practitioner?_has:PractitionerRole:practitioner:organization=Organization/o1";
        with_token(&app, Some(&people), Method::GET, has, None)
            .await
            .outcome(403, "forbidden");
        let both = client_token(
            &app,
            "default",
            "system/PractitionerRole.rs system/Practitioner.rs",
        )
        .await;
        let found = with_token(
            &app,
            Some(&both),
            Method::GET,
            "/fhir/default/PractitionerRole?practitioner.name=Lovelace",
            None,
        )
        .await
        .status(200)
        .json();
        assert_eq!(found["total"], 1, "[{}] {found}", db.backend);
        let found = with_token(&app, Some(&both), Method::GET, has, None)
            .await
            .status(200)
            .json();
        assert_eq!(found["total"], 1, "[{}] {found}", db.backend);
    }
}

#[tokio::test]
async fn included_resources_outside_the_scope_are_left_out_with_a_warning() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        seed(&app).await;
        let t = client_token(
            &app,
            "default",
            "system/PractitionerRole.rs system/Practitioner.rs",
        )
        .await;
        let path = "/fhir/default/PractitionerRole?_include=PractitionerRole:organization&_include=PractitionerRole:practitioner";
        let bundle = with_token(&app, Some(&t), Method::GET, path, None)
            .await
            .status(200)
            .json();
        let types: Vec<String> = entries(&bundle)
            .iter()
            .filter_map(|e| e["resource"]["resourceType"].as_str().map(str::to_owned))
            .collect();
        assert!(
            types.contains(&"Practitioner".to_owned()),
            "[{}] {types:?}",
            db.backend
        );
        assert!(
            !types.contains(&"Organization".to_owned()),
            "[{}] an out-of-scope include leaked: {types:?}",
            db.backend
        );
        let outcome = entries(&bundle)
            .into_iter()
            .find(|e| e["search"]["mode"] == "outcome")
            .unwrap_or_else(|| panic!("[{}] no outcome entry: {bundle}", db.backend));
        let text = outcome["resource"].to_string();
        assert!(
            text.contains("suppressed") && text.contains("Organization"),
            "{text}"
        );
        // With the scope, the Organization is included.
        let all = client_token(&app, "default", "system/*.rs").await;
        let bundle = with_token(&app, Some(&all), Method::GET, path, None)
            .await
            .status(200)
            .json();
        assert!(bundle.to_string().contains("\"Organization\""), "{bundle}");
    }
}

#[tokio::test]
async fn a_transaction_with_one_entry_out_of_scope_writes_nothing() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        let t = client_token(&app, "default", "system/Practitioner.cruds").await;
        let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": practitioner(None, "InScope"), "request": {"method": "POST", "url": "Practitioner"}},
            {"resource": organization("o9"), "request": {"method": "PUT", "url": "Organization/o9"}},
        ]});
        let resp = with_token(&app, Some(&t), Method::POST, "/fhir/default", Some(&tx)).await;
        let why = resp.outcome(403, "forbidden");
        assert!(why.contains("entry 1"), "{why}");
        let found = with_token(
            &app,
            Some(&t),
            Method::GET,
            "/fhir/default/Practitioner?name=InScope",
            None,
        )
        .await
        .status(200)
        .json();
        assert_eq!(
            found["total"], 0,
            "[{}] a refused transaction wrote: {found}",
            db.backend
        );

        // A batch answers each entry on its own.
        let mut batch = tx.clone();
        batch["type"] = json!("batch");
        let out = with_token(&app, Some(&t), Method::POST, "/fhir/default", Some(&batch))
            .await
            .status(200)
            .json();
        let out = entries(&out);
        let statuses: Vec<&str> = out
            .iter()
            .map(|e| e["response"]["status"].as_str().unwrap_or_default())
            .collect();
        assert!(statuses[0].starts_with("201"), "{statuses:?}");
        assert!(statuses[1].starts_with("403"), "{statuses:?}");
    }
}

#[tokio::test]
async fn reindex_and_search_parameters_need_their_scopes() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        let typed = client_token(&app, "default", "system/Practitioner.cruds").await;
        with_token(
            &app,
            Some(&typed),
            Method::POST,
            "/fhir/default/$reindex",
            None,
        )
        .await
        .outcome(403, "forbidden");
        with_token(
            &app,
            Some(&typed),
            Method::GET,
            "/fhir/default/$reindex",
            None,
        )
        .await
        .outcome(403, "forbidden");
        let sp = json!({"resourceType": "SearchParameter", "url": "http://example.org/sp", "name": "x",
            "status": "active", "code": "x", "base": ["Practitioner"], "type": "string",
            "expression": "Practitioner.name.family", "description": "x"});
        with_token(
            &app,
            Some(&typed),
            Method::POST,
            "/fhir/default/SearchParameter",
            Some(&sp),
        )
        .await
        .outcome(403, "forbidden");
        let all = client_token(&app, "default", "system/*.cruds").await;
        with_token(
            &app,
            Some(&all),
            Method::POST,
            "/fhir/default/$reindex",
            None,
        )
        .await
        .status(202);
        with_token(
            &app,
            Some(&all),
            Method::POST,
            "/fhir/default/SearchParameter",
            Some(&sp),
        )
        .await
        .status(201);
    }
}
