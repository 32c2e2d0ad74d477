//! PATCH over HTTP (<https://hl7.org/fhir/R4/http.html#patch>): JSON Patch
//! (`application/json-patch+json`) and FHIRPath Patch (`Parameters`,
//! <https://hl7.org/fhir/R4/fhirpatch.html>) on an instance, conditionally, and inside a
//! transaction; preconditions and failures, after which the resource is unchanged. Once per
//! backend; every check reads the result back over HTTP.

#[path = "patch/bundles.rs"]
mod bundles;
mod common;

use common::{spawn_app, test_databases, Resp, TestApp, FHIR_JSON};
use reqwest::Method;
use serde_json::{json, Value};
use server::ServerConfig;

const JSON_PATCH: &str = "application/json-patch+json";
const NPI: &str = "http://hl7.org/fhir/sid/us-npi";

/// The resource every test patches.
fn curie(id: &str) -> Value {
    json!({
        "resourceType": "Practitioner",
        "id": id,
        "active": true,
        "gender": "female",
        "name": [{"family": "Curie", "given": ["Marie"]}],
        "telecom": [
            {"system": "phone", "value": "111"},
            {"system": "email", "value": "m@example.org"}
        ]
    })
}

async fn put_curie(app: &TestApp, id: &str) {
    app.put(&format!("/fhir/default/Practitioner/{id}"), &curie(id))
        .await
        .status(201);
}

/// `PATCH path` with `body` as `content_type` (none when `None`) and optional `If-Match`.
async fn patch(
    app: &TestApp,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
    if_match: Option<&str>,
) -> Resp {
    let mut req = app
        .request(Method::PATCH, &format!("/fhir/default/{path}"))
        .body(body.to_vec());
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if let Some(m) = if_match {
        req = req.header("if-match", m);
    }
    app.send(req).await
}

async fn json_patch(app: &TestApp, path: &str, ops: &Value) -> Resp {
    patch(
        app,
        path,
        Some(JSON_PATCH),
        ops.to_string().as_bytes(),
        None,
    )
    .await
}

async fn fhirpath_patch(app: &TestApp, path: &str, params: &Value) -> Resp {
    patch(
        app,
        path,
        Some(FHIR_JSON),
        params.to_string().as_bytes(),
        None,
    )
    .await
}

/// A FHIRPath Patch `operation` parameter from `(part name, part)` pairs; `type` first.
fn op(kind: &str, parts: Vec<Value>) -> Value {
    let mut all = vec![json!({"name": "type", "valueCode": kind})];
    all.extend(parts);
    json!({"name": "operation", "part": all})
}

fn part(name: &str, value_key: &str, value: Value) -> Value {
    let mut p = json!({ "name": name });
    p[value_key] = value;
    p
}

fn path(p: &str) -> Value {
    part("path", "valueString", json!(p))
}

fn parameters(ops: Vec<Value>) -> Value {
    json!({"resourceType": "Parameters", "parameter": ops})
}

/// The resource without `meta` (which every write changes).
fn content(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.remove("meta");
    }
    v
}

/// Reads `Practitioner/{id}`: `(version, body)`.
async fn read(app: &TestApp, id: &str) -> (i64, Value) {
    let r = app
        .get(&format!("/fhir/default/Practitioner/{id}"))
        .await
        .status(200);
    (r.etag_version(), r.json())
}

/// Asserts `Practitioner/{id}` is still version 1, `curie(id)`, with one history entry.
async fn assert_unchanged(app: &TestApp, id: &str, what: &str) {
    let (v, body) = read(app, id).await;
    assert_eq!(v, 1, "[{}] {what}: the version moved", app.backend);
    assert_eq!(
        content(body),
        curie(id),
        "[{}] {what}: the body changed",
        app.backend
    );
    assert_eq!(
        app.instance_versions("default", "Practitioner", id).await,
        vec![1],
        "[{}] {what}: history grew",
        app.backend
    );
}

#[tokio::test]
async fn json_patch_applies_every_operation_in_order_as_one_new_version() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        put_curie(&app, "p").await;
        let ops = json!([
            {"op": "test", "path": "/gender", "value": "female"},
            {"op": "replace", "path": "/name/0/family", "value": "Sklodowska"},
            {"op": "add", "path": "/name/0/given/-", "value": "Salomea"},
            {"op": "remove", "path": "/telecom/1"},
            {"op": "add", "path": "/birthDate", "value": "1867-11-07"},
            {"op": "add", "path": "/name/-", "value": {"family": "Curie"}},
            {"op": "move", "from": "/name/1", "path": "/name/0"},
            {"op": "copy", "from": "/telecom/0", "path": "/telecom/-"},
            {"op": "add", "path": "/identifier", "value": [{"system": NPI, "value": "1234567893"}]}
        ]);
        let r = json_patch(&app, "Practitioner/p", &ops).await.status(200);
        r.assert_fhir_json();
        assert_eq!(r.etag_version(), 2, "{}", r.what);
        let returned = r.json();
        let expected = json!({
            "resourceType": "Practitioner",
            "id": "p",
            "active": true,
            "gender": "female",
            "name": [{"family": "Curie"}, {"family": "Sklodowska", "given": ["Marie", "Salomea"]}],
            "telecom": [{"system": "phone", "value": "111"}, {"system": "phone", "value": "111"}],
            "birthDate": "1867-11-07",
            "identifier": [{"system": NPI, "value": "1234567893"}]
        });
        assert_eq!(content(returned.clone()), expected, "[{b}] patched body");
        assert_eq!(returned["meta"]["versionId"], "2", "[{b}]");
        let (v, stored) = read(&app, "p").await;
        assert_eq!((v, &stored), (2, &returned), "[{b}] read after the patch");
        assert_eq!(
            app.instance_versions("default", "Practitioner", "p").await,
            vec![2, 1],
            "[{b}]"
        );
        let v1 = app
            .get("/fhir/default/Practitioner/p/_history/1")
            .await
            .status(200)
            .json();
        assert_eq!(
            content(v1),
            curie("p"),
            "[{b}] version 1 must stay as it was"
        );
        // The search index follows the patch.
        let found = app
            .get(&format!(
                "/fhir/default/Practitioner?identifier={NPI}|1234567893"
            ))
            .await
            .status(200)
            .json();
        assert_eq!(
            found["total"], 1,
            "[{b}] patched identifier not indexed: {found}"
        );
        let gone = app
            .get("/fhir/default/Practitioner?email=m@example.org")
            .await
            .status(200)
            .json();
        assert_eq!(
            gone["total"], 0,
            "[{b}] removed telecom still indexed: {gone}"
        );
    }
}

#[tokio::test]
async fn fhirpath_patch_add_insert_delete_replace_move() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        put_curie(&app, "f").await;
        let doc = parameters(vec![
            op(
                "replace",
                vec![
                    path("Practitioner.name[0].family"),
                    part("value", "valueString", json!("Sklodowska")),
                ],
            ),
            op(
                "add",
                vec![
                    path("Practitioner"),
                    part("name", "valueString", json!("birthDate")),
                    part("value", "valueDate", json!("1867-11-07")),
                ],
            ),
            op(
                "add",
                vec![
                    path("Practitioner"),
                    part("name", "valueString", json!("identifier")),
                    json!({"name": "value", "part": [
                        {"name": "system", "valueUri": NPI},
                        {"name": "value", "valueString": "1234567893"}
                    ]}),
                ],
            ),
            op(
                "insert",
                vec![
                    path("Practitioner.name[0].given"),
                    part("index", "valueInteger", json!(0)),
                    part("value", "valueString", json!("Maria")),
                ],
            ),
            op(
                "delete",
                vec![path("Practitioner.telecom.where(system = 'email')")],
            ),
            op(
                "move",
                vec![
                    path("Practitioner.name[0].given"),
                    part("source", "valueInteger", json!(1)),
                    part("destination", "valueInteger", json!(0)),
                ],
            ),
        ]);
        let r = fhirpath_patch(&app, "Practitioner/f", &doc)
            .await
            .status(200);
        assert_eq!(r.etag_version(), 2, "{}", r.what);
        let expected = json!({
            "resourceType": "Practitioner",
            "id": "f",
            "active": true,
            "gender": "female",
            "name": [{"family": "Sklodowska", "given": ["Marie", "Maria"]}],
            "telecom": [{"system": "phone", "value": "111"}],
            "birthDate": "1867-11-07",
            "identifier": [{"system": NPI, "value": "1234567893"}]
        });
        assert_eq!(content(r.json()), expected, "[{b}] patched body");
        let (v, stored) = read(&app, "f").await;
        assert_eq!((v, content(stored)), (2, expected), "[{b}] read back");
        let found = app
            .get(&format!(
                "/fhir/default/Practitioner?identifier={NPI}|1234567893"
            ))
            .await
            .status(200)
            .json();
        assert_eq!(found["total"], 1, "[{b}] {found}");
    }
}

#[tokio::test]
async fn patch_honours_if_match() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        put_curie(&app, "m").await;
        let ops = json!([{"op": "replace", "path": "/gender", "value": "other"}]);
        let doc = parameters(vec![op(
            "replace",
            vec![
                path("Practitioner.gender"),
                part("value", "valueCode", json!("other")),
            ],
        )]);
        for (ct, body) in [(JSON_PATCH, ops.to_string()), (FHIR_JSON, doc.to_string())] {
            let r = patch(
                &app,
                "Practitioner/m",
                Some(ct),
                body.as_bytes(),
                Some("W/\"2\""),
            )
            .await;
            r.outcome(412, "conflict");
            assert_unchanged(&app, "m", &format!("{ct} with a stale If-Match")).await;
        }
        let r = patch(
            &app,
            "Practitioner/m",
            Some(JSON_PATCH),
            ops.to_string().as_bytes(),
            Some("W/\"1\""),
        )
        .await
        .status(200);
        assert_eq!(r.etag_version(), 2, "{}", r.what);
        assert_eq!(read(&app, "m").await.1["gender"], "other", "[{b}]");
    }
}

#[tokio::test]
async fn failed_patches_answer_4xx_and_leave_the_resource_unchanged() {
    let invalid_params = json!({"resourceType": "Parameters", "parameter": [
        {"name": "operation", "part": [{"name": "type", "valueCode": "replace"}]}]});
    // (what, content type, body, status, issue code)
    let cases: Vec<(&str, Option<&str>, String, u16, &str)> = vec![
        (
            "JSON Patch not JSON",
            Some(JSON_PATCH),
            "[{\"op\":".into(),
            400,
            "structure",
        ),
        (
            "JSON Patch not an array",
            Some(JSON_PATCH),
            json!({"op": "remove", "path": "/gender"}).to_string(),
            400,
            "invalid",
        ),
        (
            "FHIRPath Patch not JSON",
            Some(FHIR_JSON),
            "{\"resourceType\":".into(),
            400,
            "structure",
        ),
        (
            "FHIRPath Patch not Parameters",
            Some(FHIR_JSON),
            curie("x").to_string(),
            400,
            "invalid",
        ),
        (
            "test fails",
            Some(JSON_PATCH),
            json!([
            {"op": "replace", "path": "/gender", "value": "male"},
            {"op": "test", "path": "/active", "value": false}])
            .to_string(),
            422,
            "processing",
        ),
        (
            "remove a missing path",
            Some(JSON_PATCH),
            json!([{"op": "remove", "path": "/birthDate"}]).to_string(),
            422,
            "processing",
        ),
        (
            "replace a missing path",
            Some(JSON_PATCH),
            json!([{"op": "replace", "path": "/name/5/family", "value": "X"}]).to_string(),
            422,
            "processing",
        ),
        (
            "bad pointer",
            Some(JSON_PATCH),
            json!([{"op": "remove", "path": "gender"}]).to_string(),
            422,
            "processing",
        ),
        (
            "unknown element",
            Some(JSON_PATCH),
            json!([{"op": "add", "path": "/favouriteColour", "value": "blue"}]).to_string(),
            422,
            "processing",
        ),
        (
            "wrong type of value",
            Some(JSON_PATCH),
            json!([{"op": "replace", "path": "/active", "value": "yes"}]).to_string(),
            422,
            "processing",
        ),
        (
            "change resourceType",
            Some(JSON_PATCH),
            json!([{"op": "replace", "path": "/resourceType", "value": "Organization"}])
                .to_string(),
            422,
            "processing",
        ),
        (
            "change id",
            Some(JSON_PATCH),
            json!([{"op": "replace", "path": "/id", "value": "other"}]).to_string(),
            422,
            "processing",
        ),
        (
            "remove id",
            Some(JSON_PATCH),
            json!([{"op": "remove", "path": "/id"}]).to_string(),
            422,
            "processing",
        ),
        (
            "FHIRPath operation without path",
            Some(FHIR_JSON),
            invalid_params.to_string(),
            422,
            "processing",
        ),
        (
            "FHIRPath replace matching nothing",
            Some(FHIR_JSON),
            parameters(vec![op(
                "replace",
                vec![
                    path("Practitioner.birthDate"),
                    part("value", "valueDate", json!("1900-01-01")),
                ],
            )])
            .to_string(),
            422,
            "processing",
        ),
        (
            "FHIRPath add of an unknown element",
            Some(FHIR_JSON),
            parameters(vec![op(
                "add",
                vec![
                    path("Practitioner"),
                    part("name", "valueString", json!("favouriteColour")),
                    part("value", "valueString", json!("blue")),
                ],
            )])
            .to_string(),
            422,
            "processing",
        ),
        (
            "FHIRPath replace of the id",
            Some(FHIR_JSON),
            parameters(vec![op(
                "replace",
                vec![
                    path("Practitioner.id"),
                    part("value", "valueId", json!("other")),
                ],
            )])
            .to_string(),
            422,
            "processing",
        ),
        (
            "FHIRPath delete of several",
            Some(FHIR_JSON),
            parameters(vec![op("delete", vec![path("Practitioner.telecom")])]).to_string(),
            422,
            "processing",
        ),
        (
            "FHIRPath insert out of range",
            Some(FHIR_JSON),
            parameters(vec![op(
                "insert",
                vec![
                    path("Practitioner.name"),
                    part("index", "valueInteger", json!(5)),
                    json!({"name": "value", "part": [{"name": "family", "valueString": "X"}]}),
                ],
            )])
            .to_string(),
            422,
            "processing",
        ),
        (
            "FHIRPath move out of range",
            Some(FHIR_JSON),
            parameters(vec![op(
                "move",
                vec![
                    path("Practitioner.telecom"),
                    part("source", "valueInteger", json!(7)),
                    part("destination", "valueInteger", json!(0)),
                ],
            )])
            .to_string(),
            422,
            "processing",
        ),
        (
            "FHIRPath expression that does not parse",
            Some(FHIR_JSON),
            parameters(vec![op("delete", vec![path("Practitioner.name[")])]).to_string(),
            422,
            "processing",
        ),
        (
            "FHIRPath replace with a value of the wrong type",
            Some(FHIR_JSON),
            parameters(vec![op(
                "replace",
                vec![
                    path("Practitioner.active"),
                    part("value", "valueString", json!("yes")),
                ],
            )])
            .to_string(),
            422,
            "processing",
        ),
        (
            "text/plain",
            Some("text/plain"),
            json!([]).to_string(),
            415,
            "not-supported",
        ),
        (
            "application/xml",
            Some("application/fhir+xml"),
            "<Parameters/>".into(),
            415,
            "not-supported",
        ),
        (
            "no content type",
            None,
            json!([]).to_string(),
            415,
            "not-supported",
        ),
    ];
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        put_curie(&app, "e").await;
        for (what, ct, body, status, issue) in &cases {
            let r = patch(&app, "Practitioner/e", *ct, body.as_bytes(), None).await;
            let diag = r.outcome(*status, issue);
            assert!(!diag.is_empty(), "[{b}] {what}");
            assert_unchanged(&app, "e", what).await;
        }
        // Unknown and deleted targets.
        let ops = json!([{"op": "replace", "path": "/gender", "value": "male"}]).to_string();
        patch(
            &app,
            "Practitioner/nope",
            Some(JSON_PATCH),
            ops.as_bytes(),
            None,
        )
        .await
        .outcome(404, "not-found");
        app.get("/fhir/default/Practitioner/nope").await.status(404);
        let r = patch(&app, "Foo/e", Some(JSON_PATCH), ops.as_bytes(), None).await;
        assert_eq!(r.code, 404, "{}: {}", r.what, r.text());
        app.delete("/fhir/default/Practitioner/e").await;
        patch(
            &app,
            "Practitioner/e",
            Some(JSON_PATCH),
            ops.as_bytes(),
            None,
        )
        .await
        .outcome(410, "deleted");
        assert_eq!(
            app.instance_versions("default", "Practitioner", "e").await,
            vec![2, 1],
            "[{b}] a patch of a deleted resource wrote"
        );
    }
}

#[tokio::test]
async fn conditional_patch_applies_to_the_one_match() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        put_curie(&app, "c1").await;
        put_curie(&app, "c2").await;
        let ops = json!([{"op": "replace", "path": "/gender", "value": "other"}]);
        let r = json_patch(&app, "Practitioner?_id=c1", &ops)
            .await
            .status(200);
        assert_eq!(r.json()["id"], "c1", "{}", r.what);
        assert_eq!(read(&app, "c1").await, (2, r.json()), "[{b}]");
        json_patch(&app, "Practitioner?_id=none", &ops)
            .await
            .outcome(404, "not-found");
        json_patch(&app, "Practitioner?family=Curie", &ops)
            .await
            .outcome(412, "conflict");
        assert_unchanged(&app, "c2", "conditional patch").await;
    }
}

#[tokio::test]
async fn patch_cannot_forge_meta_and_honours_prefer_and_bad_if_match() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        put_curie(&app, "g").await;
        // The server owns meta.versionId and meta.lastUpdated.
        let ops = json!([
            {"op": "add", "path": "/meta", "value": {"versionId": "99", "lastUpdated": "2001-01-01T00:00:00Z"}},
            {"op": "replace", "path": "/gender", "value": "other"}
        ]);
        let r = json_patch(&app, "Practitioner/g", &ops).await.status(200);
        let (v, stored) = read(&app, "g").await;
        assert_eq!(v, 2, "[{b}] {}", r.text());
        assert_eq!(
            stored["meta"]["versionId"], "2",
            "[{b}] forged versionId: {stored}"
        );
        assert_ne!(
            stored["meta"]["lastUpdated"], "2001-01-01T00:00:00Z",
            "[{b}] forged lastUpdated"
        );
        // Prefer: return=minimal: no body, but the version headers.
        let req = app
            .request(Method::PATCH, "/fhir/default/Practitioner/g")
            .header("content-type", JSON_PATCH)
            .header("prefer", "return=minimal")
            .body(json!([{"op": "replace", "path": "/gender", "value": "male"}]).to_string());
        let r = app.send(req).await;
        assert!(r.code == 200 || r.code == 204, "{}: {}", r.what, r.code);
        assert!(
            r.body.is_empty(),
            "{}: a body with return=minimal: {}",
            r.what,
            r.text()
        );
        assert_eq!(r.etag_version(), 3, "{}", r.what);
        // An If-Match that is not an ETag is a client error, and changes nothing.
        let r = patch(
            &app,
            "Practitioner/g",
            Some(JSON_PATCH),
            ops.to_string().as_bytes(),
            Some("yesterday"),
        )
        .await;
        assert!(
            (400..500).contains(&r.code),
            "{}: {} {}",
            r.what,
            r.code,
            r.text()
        );
        assert_eq!(read(&app, "g").await.0, 3, "[{b}]");
        // An operation JSON Patch does not define.
        let r = json_patch(
            &app,
            "Practitioner/g",
            &json!([{"op": "frobnicate", "path": "/gender", "value": "x"}]),
        )
        .await;
        assert!(
            r.code == 400 || r.code == 422,
            "{}: {} {}",
            r.what,
            r.code,
            r.text()
        );
        let issue = r.json()["issue"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let diag = r.outcome(r.code, &issue);
        assert!(diag.contains("frobnicate"), "{}: {diag}", r.what);
        assert_eq!(read(&app, "g").await.0, 3, "[{b}]");
    }
}

#[tokio::test]
async fn a_patch_larger_than_the_body_limit_is_refused_with_413() {
    for db in test_databases().await {
        let config = ServerConfig {
            max_body_bytes: 2000,
            ..ServerConfig::auth_off()
        };
        let app = spawn_app(&db, config).await;
        put_curie(&app, "big").await;
        let big = json!([{"op": "add", "path": "/name/0/text", "value": "x".repeat(5000)}]);
        for (ct, body) in [
            (JSON_PATCH, big.to_string()),
            (
                FHIR_JSON,
                parameters(vec![op(
                    "add",
                    vec![
                        path("Practitioner.name[0]"),
                        part("name", "valueString", json!("text")),
                        part("value", "valueString", json!("x".repeat(5000))),
                    ],
                )])
                .to_string(),
            ),
        ] {
            let r = patch(&app, "Practitioner/big", Some(ct), body.as_bytes(), None).await;
            let diag = r.outcome(413, "too-long");
            assert!(
                diag.contains("2000"),
                "{}: the limit is not named: {diag}",
                r.what
            );
            assert_unchanged(&app, "big", ct).await;
        }
    }
}

#[tokio::test]
async fn a_patch_within_the_body_limit_is_not_cut_by_a_smaller_default() {
    // The default limit is 32 MiB; a 3 MiB patch is within it.
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        put_curie(&app, "large").await;
        let text = "x".repeat(3 * 1024 * 1024);
        let ops = json!([{"op": "add", "path": "/name/0/text", "value": text}]);
        let r = json_patch(&app, "Practitioner/large", &ops)
            .await
            .status(200);
        assert_eq!(r.etag_version(), 2, "{}", r.what);
    }
}
