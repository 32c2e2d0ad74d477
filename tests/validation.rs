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
                "not available yet",
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
        // A profile asked for is never passed in silence.
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
                && i.1 == "not-supported"
                && i.3.contains("ndh-Practitioner")),
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
