//! Validation at the door, black-box, once per backend: the tenant's setting (the
//! operator's), `enforce` refusing invalid resources through every API write path (create,
//! update, PATCH, transaction, batch) with what is wrong and where, `warn` storing them and
//! saying so, `off`, and `$validate` (type and instance level), with who may call each.

mod common;

#[path = "auth/support.rs"]
#[allow(dead_code, reason = "shared with the authorization tests")]
mod support;

use reqwest::Method;
use serde_json::{json, Value};

use common::{fhir_body, test_databases, Resp, TestApp};
use support::{admin, client_token, create_tenant, spawn, token};

const T: &str = "attest";

fn setting_path() -> String {
    format!("/admin/tenants/{T}/validation")
}

async fn set_mode(app: &TestApp, mode: &str) {
    admin(
        app,
        Method::PUT,
        &setting_path(),
        Some(json!({"mode": mode})),
    )
    .await
    .status(200);
}

fn practitioner(id: &str) -> Value {
    json!({"resourceType": "Practitioner", "id": id, "active": true,
           "name": [{"family": "Osler", "given": ["William"]}], "gender": "male"})
}

async fn send(app: &TestApp, token: &str, method: Method, path: &str, body: &Value) -> Resp {
    let req = app
        .request(method, &format!("/fhir/{T}{path}"))
        .bearer_auth(token);
    app.send(fhir_body(req, body)).await
}

/// The issues of an OperationOutcome as (severity, code, expressions joined, diagnostics).
fn issues(oo: &Value) -> Vec<(String, String, String, String)> {
    assert_eq!(oo["resourceType"], "OperationOutcome", "{oo}");
    oo["issue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let exprs: Vec<&str> = i["expression"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            (
                i["severity"].as_str().unwrap().to_owned(),
                i["code"].as_str().unwrap().to_owned(),
                exprs.join(" "),
                i["diagnostics"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn count(app: &TestApp, token: &str, query: &str) -> u64 {
    let req = app
        .request(Method::GET, &format!("/fhir/{T}/{query}"))
        .bearer_auth(token);
    app.send(req).await.status(200).json()["total"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn only_the_operator_sets_validation_and_bad_settings_are_refused() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        let b = app.backend;
        create_tenant(&app, T).await;
        // The default: warn, core rules.
        let got = admin(&app, Method::GET, &setting_path(), None)
            .await
            .status(200)
            .json();
        assert_eq!(got["mode"], "warn", "[{b}] {got}");
        assert_eq!(got["referential_integrity"], false, "[{b}]");
        // No admin token, a wrong one, a client's token: refused, nothing changed.
        let body = json!({"mode": "off"}).to_string();
        let resp = app
            .send(
                app.request(Method::PUT, &setting_path())
                    .header("content-type", "application/json")
                    .body(body.clone()),
            )
            .await;
        assert_eq!(resp.code, 401, "[{b}] {}", resp.text());
        let client = client_token(&app, T, "system/*.cruds").await;
        for token in ["wrong", client.as_str()] {
            let resp = app
                .send(
                    app.request(Method::PUT, &setting_path())
                        .bearer_auth(token)
                        .body(body.clone()),
                )
                .await;
            assert_eq!(resp.code, 403, "[{b}] {}", resp.text());
        }
        let got = admin(&app, Method::GET, &setting_path(), None)
            .await
            .status(200)
            .json();
        assert_eq!(got["mode"], "warn", "[{b}] unchanged");
        // Bad settings, each a 400 saying what is wrong.
        for (bad, says) in [
            (json!({"mode": "strict"}), "unknown variant"),
            (json!({"mode": "enforce", "colour": 1}), "unknown field"),
            (
                json!({"packages": ["hl7.fhir.us.ndh#1.0.0"]}),
                "package hl7.fhir.us.ndh#1.0.0 is not available on this server",
            ),
            (
                json!({"require_profiles": {"Practitioner": ["http://example.org/nothing"]}}),
                "http://example.org/nothing is not a profile of Practitioner",
            ),
            (
                json!({"require_profiles": {"Doctor": []}}),
                "Doctor is not a resource type",
            ),
        ] {
            let resp = admin(&app, Method::PUT, &setting_path(), Some(bad.clone())).await;
            assert_eq!(resp.code, 400, "[{b}] {bad}: {}", resp.text());
            let why = &issues(&resp.json())[0].3;
            assert!(why.contains(says), "[{b}] {bad}: {why}");
        }
        let resp = admin(&app, Method::GET, "/admin/tenants/nowhere/validation", None).await;
        assert_eq!(resp.code, 404, "[{b}]");
        set_mode(&app, "enforce").await;
        let got = admin(&app, Method::GET, &setting_path(), None)
            .await
            .status(200)
            .json();
        assert_eq!(got["mode"], "enforce", "[{b}] {got}");
    }
}

#[tokio::test]
async fn enforce_refuses_invalid_writes_on_every_path_and_writes_nothing() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        let b = app.backend;
        create_tenant(&app, T).await;
        set_mode(&app, "enforce").await;
        let token = client_token(&app, T, "system/*.cruds").await;
        // Valid writes go through.
        send(
            &app,
            &token,
            Method::PUT,
            "/Practitioner/p1",
            &practitioner("p1"),
        )
        .await
        .status(201);
        // Create with a code outside a required binding: 422, where and what.
        let mut bad = practitioner("x");
        bad["gender"] = json!("robot");
        let resp = send(&app, &token, Method::POST, "/Practitioner", &bad).await;
        assert_eq!(resp.code, 422, "[{b}] {}", resp.text());
        let found = issues(&resp.json());
        assert_eq!(found[0].0, "error", "[{b}] {found:?}");
        assert_eq!(found[0].1, "code-invalid", "[{b}] {found:?}");
        assert_eq!(found[0].2, "Practitioner.gender", "[{b}] {found:?}");
        assert!(found[0].3.contains("robot"), "[{b}] {found:?}");
        // Update: a missing required element is reported at its parent, naming it.
        let mut bad = practitioner("p2");
        bad["extension"] = json!([{"valueString": "no url"}]);
        let resp = send(&app, &token, Method::PUT, "/Practitioner/p2", &bad).await;
        assert_eq!(resp.code, 422, "[{b}] {}", resp.text());
        let found = issues(&resp.json());
        assert_eq!(
            (found[0].1.as_str(), found[0].2.as_str()),
            ("required", "Practitioner.extension[0]"),
            "[{b}]"
        );
        assert!(found[0].3.contains("`url`"), "[{b}] {found:?}");
        assert_eq!(
            count(&app, &token, "Practitioner?_total=accurate").await,
            1,
            "[{b}] nothing stored"
        );
        // A PATCH that would make the resource invalid is refused; the resource is unchanged.
        let patch = json!([{"op": "replace", "path": "/gender", "value": "robot"}]);
        let req = app
            .request(Method::PATCH, &format!("/fhir/{T}/Practitioner/p1"))
            .bearer_auth(&token)
            .header("content-type", "application/json-patch+json")
            .body(patch.to_string());
        let resp = app.send(req).await;
        assert_eq!(resp.code, 422, "[{b}] {}", resp.text());
        assert_eq!(issues(&resp.json())[0].2, "Practitioner.gender", "[{b}]");
        let req = app
            .request(Method::GET, &format!("/fhir/{T}/Practitioner/p1"))
            .bearer_auth(&token);
        let now = app.send(req).await.status(200).json();
        assert_eq!(
            (now["gender"].as_str(), now["meta"]["versionId"].as_str()),
            (Some("male"), Some("1")),
            "[{b}]"
        );
        // A transaction with one invalid entry writes nothing and names the entry.
        let mut broken = practitioner("t2");
        broken["name"][0]["use"] = json!("nickname-ish");
        let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000001", "resource": practitioner("t1"),
             "request": {"method": "PUT", "url": "Practitioner/t1"}},
            {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000002", "resource": broken,
             "request": {"method": "PUT", "url": "Practitioner/t2"}}]});
        let resp = send(&app, &token, Method::POST, "", &tx).await;
        assert_eq!(resp.code, 422, "[{b}] {}", resp.text());
        let found = issues(&resp.json());
        assert_eq!(
            found[0].2, "Bundle.entry[1] Practitioner.name[0].use",
            "[{b}] {found:?}"
        );
        assert!(
            found[0]
                .3
                .contains("urn:uuid:00000000-0000-4000-8000-000000000002"),
            "[{b}] {found:?}"
        );
        assert_eq!(
            count(&app, &token, "Practitioner?_total=accurate").await,
            1,
            "[{b}] the transaction wrote nothing"
        );
        // A batch: the invalid entry alone fails.
        let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
            {"resource": practitioner("b1"), "request": {"method": "PUT", "url": "Practitioner/b1"}},
            {"resource": bad, "request": {"method": "PUT", "url": "Practitioner/p2"}}]});
        let out = send(&app, &token, Method::POST, "", &batch)
            .await
            .status(200)
            .json();
        assert_eq!(
            out["entry"][0]["response"]["status"], "201 Created",
            "[{b}] {out}"
        );
        assert!(
            out["entry"][1]["response"]["status"]
                .as_str()
                .unwrap()
                .starts_with("422"),
            "[{b}] {out}"
        );
        assert_eq!(
            out["entry"][1]["response"]["outcome"]["issue"][0]["code"], "required",
            "[{b}] {out}"
        );
        assert_eq!(
            count(&app, &token, "Practitioner?_total=accurate").await,
            2,
            "[{b}]"
        );
    }
}

#[tokio::test]
async fn warn_stores_and_says_what_is_wrong_and_off_says_nothing() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        let b = app.backend;
        create_tenant(&app, T).await;
        let token = client_token(&app, T, "system/*.cruds").await;
        let mut bad = practitioner("w1");
        bad["gender"] = json!("robot");
        // The default (warn): stored; Prefer: return=OperationOutcome shows the finding as a
        // warning.
        let req = app
            .request(Method::PUT, &format!("/fhir/{T}/Practitioner/w1"))
            .bearer_auth(&token)
            .header("prefer", "return=OperationOutcome");
        let resp = app.send(fhir_body(req, &bad)).await.status(201);
        let found = issues(&resp.json());
        assert!(
            found
                .iter()
                .any(|i| i.0 == "warning" && i.1 == "code-invalid" && i.2 == "Practitioner.gender"),
            "[{b}] {found:?}"
        );
        assert!(
            !found.iter().any(|i| i.0 == "error"),
            "[{b}] a stored resource has no error: {found:?}"
        );
        // ...and in a transaction entry's response.outcome.
        let mut bad2 = bad.clone();
        bad2["id"] = json!("w2");
        let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": bad2, "request": {"method": "PUT", "url": "Practitioner/w2"}}]});
        let out = send(&app, &token, Method::POST, "", &tx)
            .await
            .status(200)
            .json();
        let outcome = &out["entry"][0]["response"]["outcome"];
        assert_eq!(outcome["issue"][0]["severity"], "warning", "[{b}] {out}");
        assert_eq!(
            outcome["issue"][0]["expression"][0], "Practitioner.gender",
            "[{b}] {out}"
        );
        assert_eq!(
            count(&app, &token, "Practitioner?_total=accurate").await,
            2,
            "[{b}]"
        );
        // Off: nothing said.
        set_mode(&app, "off").await;
        let mut bad3 = bad.clone();
        bad3["id"] = json!("w3");
        let req = app
            .request(Method::PUT, &format!("/fhir/{T}/Practitioner/w3"))
            .bearer_auth(&token)
            .header("prefer", "return=OperationOutcome");
        let found = issues(&app.send(fhir_body(req, &bad3)).await.status(201).json());
        assert_eq!(found.len(), 1, "[{b}] only the write's own note: {found:?}");
        assert_eq!(found[0].0, "information", "[{b}]");
    }
}

#[tokio::test]
async fn validate_answers_the_verdict_stores_nothing_and_asks_who_calls() {
    for db in test_databases().await {
        let app = spawn(&db).await;
        let b = app.backend;
        create_tenant(&app, T).await;
        let writer = client_token(&app, T, "system/Practitioner.cu").await;
        let reader = client_token(&app, T, "system/Practitioner.rs").await;
        let full = client_token(&app, T, "system/*.cruds").await;
        let path = "/Practitioner/$validate";
        // A valid resource, bare: 200, information.
        let oo = send(&app, &writer, Method::POST, path, &practitioner("v"))
            .await
            .status(200)
            .json();
        let found = issues(&oo);
        assert!(found.iter().all(|i| i.0 != "error"), "[{b}] {found:?}");
        // An invalid one in Parameters: still 200, the errors with their locations.
        let mut bad = practitioner("v");
        bad["birthDate"] = json!("1849-13-45");
        bad["gender"] = json!("robot");
        let params = json!({"resourceType": "Parameters", "parameter": [
            {"name": "resource", "resource": bad}, {"name": "mode", "valueCode": "create"}]});
        let found = issues(
            &send(&app, &writer, Method::POST, path, &params)
                .await
                .status(200)
                .json(),
        );
        let errors: Vec<(&str, &str)> = found
            .iter()
            .filter(|i| i.0 == "error")
            .map(|i| (i.1.as_str(), i.2.as_str()))
            .collect();
        assert_eq!(
            errors,
            [("value", "Practitioner.birthDate")],
            "[{b}] structure first: {found:?}"
        );
        // A profile asked for that the tenant's packages do not hold is never passed in
        // silence.
        let params = json!({"resourceType": "Parameters", "parameter": [
            {"name": "resource", "resource": practitioner("v")},
            {"name": "profile", "valueUri": "http://hl7.org/fhir/us/ndh/StructureDefinition/ndh-Practitioner"}]});
        let found = issues(
            &send(&app, &writer, Method::POST, path, &params)
                .await
                .status(200)
                .json(),
        );
        assert!(
            found.iter().any(|i| i.0 == "error"
                && i.1 == "not-found"
                && i.3.contains("ndh-Practitioner")
                && i.3.contains("not loaded")),
            "[{b}] {found:?}"
        );
        // Instance level (update): the id must be the URL's.
        let found = issues(
            &send(
                &app,
                &writer,
                Method::POST,
                "/Practitioner/other/$validate",
                &practitioner("v"),
            )
            .await
            .status(200)
            .json(),
        );
        assert!(
            found
                .iter()
                .any(|i| i.0 == "error" && i.2 == "Practitioner.id"),
            "[{b}] {found:?}"
        );
        // Nothing was stored by any of it.
        assert_eq!(
            count(&app, &full, "Practitioner?_total=accurate").await,
            0,
            "[{b}]"
        );
        // Malformed requests are 400s.
        for (body, says) in [
            (
                json!({"resourceType": "Organization", "name": "x"}),
                "not a Organization",
            ),
            (
                json!({"resourceType": "Parameters", "parameter": [{"name": "colour"}]}),
                "no parameter",
            ),
            (
                json!({"resourceType": "Parameters", "parameter": [{"name": "mode", "valueCode": "sideways"}]}),
                "mode",
            ),
            (
                json!({"resourceType": "Parameters", "parameter": []}),
                "needs the Practitioner",
            ),
        ] {
            let resp = send(&app, &writer, Method::POST, path, &body).await;
            assert_eq!(resp.code, 400, "[{b}] {body}: {}", resp.text());
            assert!(
                issues(&resp.json())[0].3.contains(says),
                "[{b}] {body}: {}",
                resp.text()
            );
        }
        // Delete mode asks about a stored resource, as the caller may see it.
        send(
            &app,
            &full,
            Method::PUT,
            "/Practitioner/d1",
            &practitioner("d1"),
        )
        .await
        .status(201);
        let delete = json!({"resourceType": "Parameters", "parameter": [{"name": "mode", "valueCode": "delete"}]});
        let found = issues(
            &send(
                &app,
                &full,
                Method::POST,
                "/Practitioner/d1/$validate",
                &delete,
            )
            .await
            .status(200)
            .json(),
        );
        assert_eq!(found[0].0, "information", "[{b}] {found:?}");
        send(
            &app,
            &full,
            Method::POST,
            "/Practitioner/none/$validate",
            &delete,
        )
        .await
        .status(404);
        // Who may ask: a writer of the type; not a reader, not an anonymous caller.
        send(&app, &reader, Method::POST, path, &practitioner("v"))
            .await
            .status(403);
        let resp = app
            .send(fhir_body(
                app.request(Method::POST, &format!("/fhir/{T}{path}")),
                &practitioner("v"),
            ))
            .await;
        assert_eq!(resp.code, 401, "[{b}] {}", resp.text());
        send(
            &app,
            &writer,
            Method::POST,
            "/Practitioner/d1/$validate",
            &delete,
        )
        .await
        .status(403);
    }
}

/// A client of the tenant that sees restricted content, and a token for it.
async fn seer(app: &TestApp) -> String {
    let key = auth::testing::TestClientKey::ec256("k1");
    let scope = "system/*.cruds";
    let body = json!({"jwks": {"keys": [key.public_jwk()]}, "scope": scope,
                      "see_restricted": true});
    let resp = admin(
        app,
        Method::POST,
        &format!("/admin/tenants/{T}/clients"),
        Some(body),
    )
    .await
    .status(201);
    let id = resp.json()["client_id"].as_str().unwrap().to_owned();
    token(app, T, &key, &id, scope).await
}

fn role(id: &str, practitioner: &str) -> Value {
    json!({"resourceType": "PractitionerRole", "id": id, "active": true,
           "practitioner": {"reference": practitioner}})
}

#[tokio::test]
async fn referential_integrity_resolves_references_and_guards_deletes_without_revealing_hidden_ones(
) {
    for db in test_databases().await {
        let app = spawn(&db).await;
        let b = app.backend;
        create_tenant(&app, T).await;
        admin(
            &app,
            Method::PUT,
            &setting_path(),
            Some(json!({"mode": "enforce", "referential_integrity": true})),
        )
        .await
        .status(200);
        let token = client_token(&app, T, "system/*.cruds").await;
        let all = seer(&app).await;
        // A reference to nothing: 422 at the reference.
        let resp = send(
            &app,
            &token,
            Method::PUT,
            "/PractitionerRole/r1",
            &role("r1", "Practitioner/p1"),
        )
        .await;
        assert_eq!(resp.code, 422, "[{b}] {}", resp.text());
        let found = issues(&resp.json());
        assert_eq!(
            (found[0].1.as_str(), found[0].2.as_str()),
            ("not-found", "PractitionerRole.practitioner"),
            "[{b}]"
        );
        // A reference to a type the element does not allow (the validator's rule).
        let resp = send(
            &app,
            &token,
            Method::PUT,
            "/PractitionerRole/r1",
            &role("r1", "Organization/o1"),
        )
        .await;
        assert_eq!(resp.code, 422, "[{b}] {}", resp.text());
        let found = issues(&resp.json());
        assert_eq!(
            (found[0].1.as_str(), found[0].2.as_str()),
            ("structure", "PractitionerRole.practitioner.reference"),
            "[{b}] {found:?}"
        );
        // Once the practitioner exists, the role is accepted (relative or absolute under the
        // tenant's base).
        send(
            &app,
            &token,
            Method::PUT,
            "/Practitioner/p1",
            &practitioner("p1"),
        )
        .await
        .status(201);
        send(
            &app,
            &token,
            Method::PUT,
            "/PractitionerRole/r1",
            &role("r1", "Practitioner/p1"),
        )
        .await
        .status(201);
        let absolute = app.url(&format!("/fhir/{T}/Practitioner/p1"));
        send(
            &app,
            &token,
            Method::PUT,
            "/PractitionerRole/r2",
            &role("r2", &absolute),
        )
        .await
        .status(201);
        // In a transaction the order of entries does not matter.
        let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": role("r3", "Practitioner/p3"), "request": {"method": "PUT", "url": "PractitionerRole/r3"}},
            {"resource": practitioner("p3"), "request": {"method": "PUT", "url": "Practitioner/p3"}}]});
        send(&app, &token, Method::POST, "", &tx).await.status(200);
        // A referenced resource is not deleted: 409 naming who references it.
        let resp = app
            .send(
                app.request(Method::DELETE, &format!("/fhir/{T}/Practitioner/p1"))
                    .bearer_auth(&token),
            )
            .await;
        assert_eq!(resp.code, 409, "[{b}] {}", resp.text());
        let why = &issues(&resp.json())[0].3;
        assert!(
            why.contains("PractitionerRole/r1") && why.contains("PractitionerRole/r2"),
            "[{b}] {why}"
        );
        // $validate mode=delete says the same, as an error issue of a 200.
        let params = json!({"resourceType": "Parameters", "parameter": [
            {"name": "mode", "valueCode": "delete"}]});
        let found = issues(
            &send(
                &app,
                &token,
                Method::POST,
                "/Practitioner/p1/$validate",
                &params,
            )
            .await
            .status(200)
            .json(),
        );
        assert!(
            found.iter().any(|(s, c, _, why)| s == "error"
                && c == "conflict"
                && why.contains("PractitionerRole/r1")),
            "[{b}] {found:?}"
        );
        // A hidden resource is as absent as a missing one: referring to it is refused with the
        // same answer, and its referrers are not named to who cannot see them.
        let hidden = json!({"resourceType": "Practitioner", "id": "ph", "name": [{"family": "Hidden"}],
            "meta": {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "V"}]}});
        send(&app, &all, Method::PUT, "/Practitioner/ph", &hidden)
            .await
            .status(201);
        let resp = send(
            &app,
            &token,
            Method::PUT,
            "/PractitionerRole/r4",
            &role("r4", "Practitioner/ph"),
        )
        .await;
        assert_eq!(resp.code, 422, "[{b}] {}", resp.text());
        assert!(
            issues(&resp.json())[0]
                .3
                .starts_with("Practitioner/ph does not exist"),
            "[{b}]"
        );
        send(
            &app,
            &all,
            Method::PUT,
            "/PractitionerRole/r5",
            &role("r5", "Practitioner/p3"),
        )
        .await
        .status(201);
        let hidden_role = json!({"resourceType": "PractitionerRole", "id": "r6", "practitioner": {"reference": "Practitioner/p3"},
            "meta": {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "V"}]}});
        send(
            &app,
            &all,
            Method::PUT,
            "/PractitionerRole/r6",
            &hidden_role,
        )
        .await
        .status(201);
        let resp = app
            .send(
                app.request(Method::DELETE, &format!("/fhir/{T}/Practitioner/p3"))
                    .bearer_auth(&token),
            )
            .await;
        assert_eq!(resp.code, 409, "[{b}] {}", resp.text());
        let why = &issues(&resp.json())[0].3;
        assert!(
            why.contains("PractitionerRole/r3") && !why.contains("r6"),
            "[{b}] {why}"
        );
        // Deleting the hidden practitioner as a caller who cannot see it: no 409 giving it away.
        let resp = app
            .send(
                app.request(Method::DELETE, &format!("/fhir/{T}/Practitioner/ph"))
                    .bearer_auth(&token),
            )
            .await;
        assert_ne!(resp.code, 409, "[{b}] {}", resp.text());
        // The tenant may allow deleting referenced resources.
        admin(&app, Method::PUT, &setting_path(),
              Some(json!({"mode": "enforce", "referential_integrity": true, "delete_referenced": true}))).await.status(200);
        let resp = app
            .send(
                app.request(Method::DELETE, &format!("/fhir/{T}/Practitioner/p1"))
                    .bearer_auth(&token),
            )
            .await;
        assert!(
            resp.code == 200 || resp.code == 204,
            "[{b}] {}",
            resp.text()
        );
    }
}

/// The Plan-Net 1.2.0 package (loaded at start) and a package of the cache, as a server
/// given `--profiles` and a package cache has them.
fn library(shared: &std::path::Path, cache: &std::path::Path) -> services::validation::Library {
    let plan_net = conformance::package::load_definitions(&shared.join("plan-net/1.2.0"))
        .expect("Plan-Net loads");
    // A package of the cache, read only when a tenant activates it: a profile requiring
    // Practitioner.gender, and meta.lastUpdated (as NDH's do: the server sets it, so a
    // resource sent without one meets it).
    let tgz = cache.join("local.tgz");
    let profile = json!({
        "resourceType": "StructureDefinition", "url": GENDER_PROFILE, "name": "WithGender",
        "status": "active", "kind": "resource", "abstract": false, "type": "Practitioner",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Practitioner",
        "derivation": "constraint",
        "differential": {"element": [
            {"id": "Practitioner.meta.lastUpdated", "path": "Practitioner.meta.lastUpdated", "min": 1},
            {"id": "Practitioner.gender", "path": "Practitioner.gender", "min": 1}
        ]}
    });
    common::package_tgz(
        &tgz,
        &json!({"name": "example.directory", "version": "1.0.0"}),
        &[("StructureDefinition-with-gender.json".to_owned(), profile)],
    );
    let cache = packages::PackageCache::new(cache.join("packages"));
    cache
        .install_tgz(&std::fs::read(&tgz).unwrap(), "local.tgz")
        .expect("installs");
    services::validation::Library::new(plan_net, Some(cache))
}

const GENDER_PROFILE: &str = "http://example.org/fhir/StructureDefinition/with-gender";
const PLAN_NET: &str = "hl7.fhir.us.davinci-pdex-plan-net#1.2.0";
const PN_ROLE: &str =
    "http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/plannet-PractitionerRole";

#[tokio::test]
async fn the_tenants_packages_profiles_are_enforced_and_required_profiles_apply_to_every_resource()
{
    let Some(shared) = testkit::shared_fhir() else {
        return;
    };
    let example: Value = serde_json::from_str(
        &std::fs::read_to_string(
            shared.join("plan-net/1.2.0/example/PractitionerRole-HansSoloRole1.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for db in test_databases().await {
        let dir = tempfile::tempdir().unwrap();
        let config = server::ServerConfig {
            admin_token: Some(support::ADMIN.into()),
            ..server::ServerConfig::default()
        };
        let (app, _state) =
            common::spawn_app_profiles(&db, config, library(&shared, dir.path())).await;
        let b = app.backend;
        create_tenant(&app, T).await;
        let writer = client_token(&app, T, "system/*.cruds").await;
        // Its references dangle: referential integrity is off (the default).
        let mut role = example.clone();
        role.as_object_mut().unwrap().remove("id");
        let mut inactive = role.clone();
        inactive["active"] = json!(false);
        inactive["id"] = json!("inactive");

        // Enforcing without the package: the declared profile is named as not checked, the
        // resource is stored.
        set_mode(&app, "enforce").await;
        let resp = send(
            &app,
            &writer,
            Method::PUT,
            "/PractitionerRole/inactive",
            &inactive,
        )
        .await;
        assert_eq!(resp.code, 201, "[{b}] {}", resp.text());

        // With Plan-Net active, its pattern (active = true) is enforced at the element.
        admin(
            &app,
            Method::PUT,
            &setting_path(),
            Some(json!({"mode": "enforce", "packages": [PLAN_NET]})),
        )
        .await
        .status(200);
        let got = admin(&app, Method::GET, &setting_path(), None)
            .await
            .status(200)
            .json();
        assert_eq!(got["packages"], json!([PLAN_NET]), "[{b}] {got}");
        let resp = send(
            &app,
            &writer,
            Method::PUT,
            "/PractitionerRole/inactive",
            &inactive,
        )
        .await;
        assert_eq!(resp.code, 422, "[{b}] {}", resp.text());
        let found = issues(&resp.json());
        assert!(
            found.iter().any(|(s, c, at, why)| s == "error"
                && c == "value"
                && at == "PractitionerRole.active"
                && why.contains("pattern")
                && why.contains(PN_ROLE)),
            "[{b}] {found:?}"
        );
        // A required element missing, reported at its parent with its name.
        let mut missing = role.clone();
        missing.as_object_mut().unwrap().remove("active");
        let resp = send(&app, &writer, Method::POST, "/PractitionerRole", &missing).await;
        assert_eq!(resp.code, 422, "[{b}] {}", resp.text());
        assert!(
            issues(&resp.json())
                .iter()
                .any(|(_, c, at, why)| c == "required"
                    && at == "PractitionerRole"
                    && why.contains("`active`")),
            "[{b}] {}",
            resp.text()
        );
        // A code outside the profile's required binding.
        let mut bad_code = role.clone();
        bad_code["code"] =
            json!([{"coding": [{"system": "http://example.org/roles", "code": "wizard"}]}]);
        let resp = send(&app, &writer, Method::POST, "/PractitionerRole", &bad_code).await;
        assert_eq!(resp.code, 422, "[{b}] {}", resp.text());
        assert!(
            issues(&resp.json())
                .iter()
                .any(|(_, c, at, why)| c == "code-invalid"
                    && at == "PractitionerRole.code[0]"
                    && why.contains("wizard")),
            "[{b}] {}",
            resp.text()
        );
        // The valid example is stored; a PATCH that breaks the profile is refused.
        let resp = send(&app, &writer, Method::POST, "/PractitionerRole", &role).await;
        assert_eq!(resp.code, 201, "[{b}] {}", resp.text());
        let location = resp.must_header("location");
        let id = location
            .split("/PractitionerRole/")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap();
        let patch = app
            .request(Method::PATCH, &format!("/fhir/{T}/PractitionerRole/{id}"))
            .bearer_auth(&writer)
            .header("content-type", "application/json-patch+json")
            .body(json!([{"op": "replace", "path": "/active", "value": false}]).to_string());
        let resp = app.send(patch).await;
        assert_eq!(resp.code, 422, "[{b}] {}", resp.text());
        assert!(
            issues(&resp.json())
                .iter()
                .any(|(_, _, at, why)| at == "PractitionerRole.active" && why.contains(PN_ROLE)),
            "[{b}] {}",
            resp.text()
        );
        let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": "urn:uuid:1", "resource": role, "request": {"method": "POST", "url": "PractitionerRole"}},
            {"fullUrl": "urn:uuid:2", "resource": inactive, "request": {"method": "POST", "url": "PractitionerRole"}}
        ]});
        let resp = send(&app, &writer, Method::POST, "", &tx).await;
        assert_eq!(resp.code, 422, "[{b}] {}", resp.text());
        assert!(
            issues(&resp.json())
                .iter()
                .any(|(_, _, at, _)| at == "Bundle.entry[1].resource.active"
                    || at.starts_with("Bundle.entry[1]")),
            "[{b}] {}",
            resp.text()
        );

        // A required profile applies whether the resource declares it or not; its package
        // comes from the package cache.
        admin(
            &app,
            Method::PUT,
            &setting_path(),
            Some(
                json!({"mode": "enforce", "packages": ["example.directory#1.0.0"],
                        "require_profiles": {"Practitioner": [GENDER_PROFILE]}}),
            ),
        )
        .await
        .status(200);
        // The CapabilityStatement lists the profiles the tenant validates against.
        let cs = app
            .send(app.request(Method::GET, &format!("/fhir/{T}/metadata")))
            .await
            .status(200)
            .json();
        let supported = |t: &str| -> Vec<String> {
            cs["rest"][0]["resource"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["type"] == t)
                .map(|r| {
                    r["supportedProfile"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        assert!(
            supported("Practitioner").contains(&GENDER_PROFILE.to_owned()),
            "[{b}]"
        );
        assert!(
            !supported("Organization").contains(&GENDER_PROFILE.to_owned()),
            "[{b}]"
        );
        let mut genderless = practitioner("genderless");
        genderless.as_object_mut().unwrap().remove("gender");
        let resp = send(
            &app,
            &writer,
            Method::PUT,
            "/Practitioner/genderless",
            &genderless,
        )
        .await;
        assert_eq!(resp.code, 422, "[{b}] {}", resp.text());
        assert!(
            issues(&resp.json())
                .iter()
                .any(|(_, c, at, why)| c == "required"
                    && at == "Practitioner"
                    && why.contains("`gender`")
                    && why.contains(GENDER_PROFILE)),
            "[{b}] {}",
            resp.text()
        );
        let resp = send(
            &app,
            &writer,
            Method::PUT,
            "/Practitioner/gendered",
            &practitioner("gendered"),
        )
        .await;
        assert_eq!(resp.code, 201, "[{b}] {}", resp.text());
        // Other types are not concerned; Plan-Net is no longer active, so the inactive role
        // is stored (its declared profile named as not checked, with return=OperationOutcome).
        let req = app
            .request(Method::PUT, &format!("/fhir/{T}/PractitionerRole/inactive"))
            .bearer_auth(&writer)
            .header("prefer", "return=OperationOutcome");
        let resp = app.send(fhir_body(req, &inactive)).await;
        assert_eq!(resp.code, 200, "[{b}] {}", resp.text());
        assert!(
            issues(&resp.json())
                .iter()
                .any(|(s, c, _, why)| s == "warning"
                    && c == "not-found"
                    && why.contains(PN_ROLE)
                    && why.contains("not checked")),
            "[{b}] {}",
            resp.text()
        );

        // $validate against a profile of the tenant's packages, and one that is not loaded:
        // 200 either way, the verdict in the OperationOutcome; nothing stored.
        let params = |profile: &str| {
            json!({"resourceType": "Parameters", "parameter": [
                {"name": "resource", "resource": genderless},
                {"name": "profile", "valueUri": profile}
            ]})
        };
        admin(
            &app,
            Method::PUT,
            &setting_path(),
            Some(json!({"mode": "warn", "packages": ["example.directory#1.0.0"]})),
        )
        .await
        .status(200);
        let resp = send(
            &app,
            &writer,
            Method::POST,
            "/Practitioner/$validate",
            &params(GENDER_PROFILE),
        )
        .await;
        assert_eq!(resp.code, 200, "[{b}] {}", resp.text());
        assert!(
            issues(&resp.json())
                .iter()
                .any(|(s, _, at, why)| s == "error"
                    && at == "Practitioner"
                    && why.contains("`gender`")),
            "[{b}] {}",
            resp.text()
        );
        let resp = send(
            &app,
            &writer,
            Method::POST,
            "/Practitioner/$validate",
            &params("http://example.org/absent"),
        )
        .await;
        assert_eq!(resp.code, 200, "[{b}] {}", resp.text());
        assert!(
            issues(&resp.json())
                .iter()
                .any(|(s, c, _, why)| s == "error"
                    && c == "not-found"
                    && why.contains("http://example.org/absent")),
            "[{b}] {}",
            resp.text()
        );
        let resp = app
            .send(
                app.request(Method::GET, &format!("/fhir/{T}/Practitioner/genderless"))
                    .bearer_auth(&writer),
            )
            .await;
        assert_eq!(resp.code, 404, "[{b}] $validate stored nothing");
        // `profile` (and `mode`) may be given in the query, as primitive operation parameters.
        let resp = send(
            &app,
            &writer,
            Method::POST,
            &format!("/Practitioner/$validate?profile={GENDER_PROFILE}&mode=create"),
            &genderless,
        )
        .await;
        assert_eq!(resp.code, 200, "[{b}] {}", resp.text());
        assert!(
            issues(&resp.json())
                .iter()
                .any(|(s, _, _, why)| s == "error" && why.contains("`gender`")),
            "[{b}] {}",
            resp.text()
        );
        let resp = send(
            &app,
            &writer,
            Method::POST,
            "/Practitioner/$validate?colour=blue",
            &genderless,
        )
        .await;
        assert_eq!(resp.code, 400, "[{b}] {}", resp.text());
        // Without credentials: refused, and the answer says nothing of the profiles.
        let resp = app
            .send(fhir_body(
                app.request(Method::POST, &format!("/fhir/{T}/Practitioner/$validate")),
                &params(GENDER_PROFILE),
            ))
            .await;
        assert_eq!(resp.code, 401, "[{b}] {}", resp.text());
        assert!(!resp.text().contains("gender"), "[{b}] {}", resp.text());
    }
}

/// A reference and the delete of what it names, racing: whichever commits first, the other
/// is refused (422 for the reference, 409 for the delete), and no reference to a deleted
/// resource is ever stored (both run in the write's transaction, under a lock on the
/// referenced resource).
#[tokio::test]
async fn a_reference_and_the_delete_of_its_target_never_both_commit() {
    const PAIRS: usize = 24;
    for db in test_databases().await {
        let app = spawn(&db).await;
        let b = app.backend;
        create_tenant(&app, T).await;
        admin(
            &app,
            Method::PUT,
            &setting_path(),
            Some(json!({"mode": "warn", "referential_integrity": true})),
        )
        .await
        .status(200);
        let token = client_token(&app, T, "system/*.cruds").await;
        for i in 0..PAIRS {
            let path = format!("/Practitioner/race{i}");
            send(
                &app,
                &token,
                Method::PUT,
                &path,
                &practitioner(&format!("race{i}")),
            )
            .await
            .status(201);
        }
        let races = (0..PAIRS).map(|i| {
            let (app, token) = (&app, &token);
            async move {
                let reference = async {
                    let r = role(&format!("role{i}"), &format!("Practitioner/race{i}"));
                    send(
                        app,
                        token,
                        Method::PUT,
                        &format!("/PractitionerRole/role{i}"),
                        &r,
                    )
                    .await
                    .code
                };
                let delete = async {
                    let req = app
                        .request(Method::DELETE, &format!("/fhir/{T}/Practitioner/race{i}"))
                        .bearer_auth(token);
                    app.send(req).await.code
                };
                futures::join!(reference, delete)
            }
        });
        let outcomes = futures::future::join_all(races).await;
        for (i, (put, delete)) in outcomes.into_iter().enumerate() {
            assert!(
                matches!((put, delete), (201, 409) | (422, 200 | 204)),
                "[{b}] pair {i}: reference {put}, delete {delete}"
            );
            let role = app
                .send(
                    app.request(Method::GET, &format!("/fhir/{T}/PractitionerRole/role{i}"))
                        .bearer_auth(&token),
                )
                .await
                .code;
            let target = app
                .send(
                    app.request(Method::GET, &format!("/fhir/{T}/Practitioner/race{i}"))
                        .bearer_auth(&token),
                )
                .await
                .code;
            assert!(
                !(role == 200 && target == 410),
                "[{b}] pair {i}: a stored reference to a deleted practitioner"
            );
        }
    }
}
