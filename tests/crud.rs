//! Instance interactions over HTTP (<https://hl7.org/fhir/R4/http.html>): create, read,
//! vread, update (and create-on-update), delete, HEAD; once per database backend.

mod common;

use chrono::{DateTime, Utc};
use common::{practitioner, spawn_app, test_databases, Resp, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use server::ServerConfig;

/// `meta.lastUpdated` of a resource as an instant.
fn last_updated(what: &str, resource: &Value) -> DateTime<Utc> {
    let raw = resource["meta"]["lastUpdated"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no meta.lastUpdated in {resource}"));
    DateTime::parse_from_rfc3339(raw)
        .unwrap_or_else(|e| panic!("{what}: meta.lastUpdated {raw:?} is not an instant: {e}"))
        .to_utc()
}

/// Asserts `Last-Modified` is an HTTP date equal, to the second, to `meta.lastUpdated`.
#[track_caller]
fn assert_last_modified_matches(r: &Resp, resource: &Value) {
    let lm = r.must_header("last-modified");
    let parsed = DateTime::parse_from_rfc2822(&lm)
        .unwrap_or_else(|e| panic!("{}: Last-Modified {lm:?} is not an HTTP date: {e}", r.what));
    assert_eq!(
        parsed.timestamp(),
        last_updated(&r.what, resource).timestamp(),
        "{}: Last-Modified {lm} disagrees with meta.lastUpdated {}",
        r.what,
        resource["meta"]["lastUpdated"]
    );
}

/// Asserts `Location` and `Content-Location` are both the absolute versioned URL.
#[track_caller]
fn assert_locations(app: &TestApp, r: &Resp, rtype: &str, id: &str, version: i64) {
    let expected = format!("{}/fhir/default/{rtype}/{id}/_history/{version}", app.base);
    assert_eq!(r.must_header("location"), expected, "{}: Location", r.what);
    assert_eq!(
        r.must_header("content-location"),
        expected,
        "{}: Content-Location",
        r.what
    );
}

#[tokio::test]
async fn create_assigns_server_id_and_returns_201_with_versioned_location() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let before = Utc::now() - chrono::Duration::seconds(1);
        let mut body = practitioner(Some("client-chosen"), "Hopper");
        body["meta"] = json!({"versionId": "9", "lastUpdated": "2001-01-01T00:00:00Z"});

        let r = app
            .post("/fhir/default/Practitioner", &body)
            .await
            .status(201);
        r.assert_fhir_json();
        let created = r.json();
        let id = created["id"].as_str().unwrap_or_default().to_owned();
        assert!(!id.is_empty(), "{}: no id in {created}", r.what);
        assert_ne!(
            id, "client-chosen",
            "{}: the body id must be ignored",
            r.what
        );
        assert_eq!(created["meta"]["versionId"], "1", "{}: {created}", r.what);
        let lu = last_updated(&r.what, &created);
        assert!(
            lu >= before && lu <= Utc::now() + chrono::Duration::seconds(1),
            "{}: meta.lastUpdated {lu} is not the time of the write",
            r.what
        );
        assert_eq!(created["name"], body["name"], "{}: content changed", r.what);
        assert_eq!(r.etag_version(), 1, "{}", r.what);
        assert_eq!(r.must_header("etag"), "W/\"1\"", "{}", r.what);
        assert_locations(&app, &r, "Practitioner", &id, 1);
        assert_last_modified_matches(&r, &created);

        // The same body again makes a second, different resource.
        let r2 = app
            .post("/fhir/default/Practitioner", &body)
            .await
            .status(201);
        assert_ne!(
            r2.json()["id"],
            created["id"],
            "{}: ids must be unique",
            r2.what
        );
    }
}

#[tokio::test]
async fn read_returns_the_stored_resource_with_etag_and_last_modified() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let created = app
            .post(
                "/fhir/default/Practitioner",
                &practitioner(None, "Lovelace"),
            )
            .await
            .status(201)
            .json();
        let id = created["id"].as_str().expect("id");

        let r = app
            .get(&format!("/fhir/default/Practitioner/{id}"))
            .await
            .status(200);
        r.assert_fhir_json();
        assert_eq!(
            r.json(),
            created,
            "{}: read differs from the create response",
            r.what
        );
        assert_eq!(r.etag_version(), 1, "{}", r.what);
        assert_last_modified_matches(&r, &created);
    }
}

#[tokio::test]
async fn read_of_unknown_id_returns_404_not_found() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let diag = app
            .get("/fhir/default/Practitioner/never-created")
            .await
            .outcome(404, "not-found");
        assert!(
            diag.contains("never-created"),
            "[{}] diagnostic: {diag}",
            app.backend
        );
    }
}

#[tokio::test]
async fn update_increments_version_and_server_assigns_meta() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let id = app.create("default", &practitioner(None, "Curie")).await;
        let path = format!("/fhir/default/Practitioner/{id}");
        let v1 = app.get(&path).await.status(200).json();

        let mut body = practitioner(Some(&id), "Sklodowska-Curie");
        body["meta"] = json!({"versionId": "99", "lastUpdated": "2001-01-01T00:00:00Z"});
        let r = app.put(&path, &body).await.status(200);
        let v2 = r.json();
        assert_eq!(v2["meta"]["versionId"], "2", "{}: {v2}", r.what);
        assert!(
            last_updated(&r.what, &v2) >= last_updated(&r.what, &v1),
            "{}: lastUpdated went backwards: {v1} then {v2}",
            r.what
        );
        assert_eq!(v2["name"][0]["family"], "Sklodowska-Curie", "{}", r.what);
        assert_eq!(r.etag_version(), 2, "{}", r.what);
        assert_locations(&app, &r, "Practitioner", &id, 2);
        assert_last_modified_matches(&r, &v2);

        let read = app.get(&path).await.status(200);
        assert_eq!(read.json(), v2, "{}: read after update", read.what);
        assert_eq!(read.etag_version(), 2, "{}", read.what);
    }
}

#[tokio::test]
async fn update_of_unknown_id_creates_it_with_201() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let path = "/fhir/default/Practitioner/client-id-1";
        let r = app
            .put(path, &practitioner(Some("client-id-1"), "Noether"))
            .await
            .status(201);
        let body = r.json();
        assert_eq!(body["id"], "client-id-1", "{}: {body}", r.what);
        assert_eq!(body["meta"]["versionId"], "1", "{}: {body}", r.what);
        assert_eq!(r.etag_version(), 1, "{}", r.what);
        assert_locations(&app, &r, "Practitioner", "client-id-1", 1);

        let read = app.get(path).await.status(200);
        assert_eq!(read.json(), body, "{}", read.what);
    }
}

#[tokio::test]
async fn vread_returns_each_version_as_it_was() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let path = "/fhir/default/Practitioner/v";
        let families = ["One", "Two", "Three"];
        let mut written = Vec::new();
        for f in families {
            let r = app.put(path, &practitioner(Some("v"), f)).await;
            assert!(r.code == 200 || r.code == 201, "{}: {}", r.what, r.code);
            written.push(r.json());
        }
        for (i, expected) in written.iter().enumerate() {
            let v = i + 1;
            let r = app.get(&format!("{path}/_history/{v}")).await.status(200);
            r.assert_fhir_json();
            assert_eq!(&r.json(), expected, "{}: version {v}", r.what);
            assert_eq!(r.etag_version(), v as i64, "{}", r.what);
            assert_last_modified_matches(&r, expected);
        }
        app.get(&format!("{path}/_history/4"))
            .await
            .outcome(404, "not-found");
        app.get("/fhir/default/Practitioner/nobody/_history/1")
            .await
            .outcome(404, "not-found");
    }
}

#[tokio::test]
async fn delete_leaves_a_tombstone_that_read_and_vread_answer_with_410() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let path = "/fhir/default/Practitioner/gone";
        app.put(path, &practitioner(Some("gone"), "Before"))
            .await
            .status(201);

        let r = app.delete(path).await;
        assert!(
            r.code == 200 || r.code == 204,
            "{}: delete gave {}",
            r.what,
            r.code
        );
        assert_eq!(
            r.etag_version(),
            2,
            "{}: the tombstone is version 2",
            r.what
        );

        app.get(path).await.outcome(410, "deleted");
        app.get(&format!("{path}/_history/2"))
            .await
            .outcome(410, "deleted");
        let v1 = app
            .get(&format!("{path}/_history/1"))
            .await
            .status(200)
            .json();
        assert_eq!(
            v1["name"][0]["family"], "Before",
            "[{}] vread 1 after delete",
            app.backend
        );

        let history = app
            .get(&format!("{path}/_history"))
            .await
            .status(200)
            .json();
        assert_eq!(history["total"], 2, "[{}] history: {history}", app.backend);
        let newest = &history["entry"][0];
        assert_eq!(
            newest["request"]["method"], "DELETE",
            "[{}] {history}",
            app.backend
        );
        assert!(
            newest.get("resource").is_none(),
            "[{}] a delete has no resource: {newest}",
            app.backend
        );
        assert_eq!(
            newest["response"]["etag"], "W/\"2\"",
            "[{}] {newest}",
            app.backend
        );
    }
}

#[tokio::test]
async fn put_after_delete_revives_the_resource_with_the_next_version_and_201() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let path = "/fhir/default/Practitioner/phoenix";
        app.put(path, &practitioner(Some("phoenix"), "Ash"))
            .await
            .status(201);
        app.delete(path).await;

        let r = app
            .put(path, &practitioner(Some("phoenix"), "Reborn"))
            .await
            .status(201);
        assert_eq!(r.etag_version(), 3, "{}", r.what);
        assert_eq!(r.json()["meta"]["versionId"], "3", "{}", r.what);
        let read = app.get(path).await.status(200);
        assert_eq!(read.json()["name"][0]["family"], "Reborn", "{}", read.what);
        assert_eq!(
            app.instance_versions("default", "Practitioner", "phoenix")
                .await,
            vec![3, 2, 1],
            "[{}] versions after revival",
            app.backend
        );
    }
}

#[tokio::test]
async fn delete_of_unknown_or_already_deleted_resource_writes_nothing() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        // The spec allows 200, 204 or 404 for a resource that does not exist.
        let r = app.delete("/fhir/default/Practitioner/nobody").await;
        assert!(
            [200, 204, 404].contains(&r.code),
            "{}: {} {}",
            r.what,
            r.code,
            r.text()
        );
        app.get("/fhir/default/Practitioner/nobody")
            .await
            .outcome(404, "not-found");
        let h = app
            .get("/fhir/default/Practitioner/nobody/_history")
            .await
            .status(200)
            .json();
        assert_eq!(
            h["total"], 0,
            "[{}] deleting nothing made history: {h}",
            app.backend
        );

        let path = "/fhir/default/Practitioner/twice";
        app.put(path, &practitioner(Some("twice"), "X"))
            .await
            .status(201);
        app.delete(path).await;
        let again = app.delete(path).await;
        assert!(
            [200, 204, 404].contains(&again.code),
            "{}: {}",
            again.what,
            again.code
        );
        assert_eq!(
            app.instance_versions("default", "Practitioner", "twice")
                .await,
            vec![2, 1],
            "[{}] a second delete must not add a version",
            app.backend
        );
    }
}

#[tokio::test]
async fn head_on_read_returns_the_headers_of_get_without_a_body() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let path = "/fhir/default/Practitioner/h";
        app.put(path, &practitioner(Some("h"), "Head"))
            .await
            .status(201);
        let get = app.get(path).await.status(200);

        let head = app.send(app.request(Method::HEAD, path)).await.status(200);
        assert!(head.body.is_empty(), "{}: HEAD returned a body", head.what);
        for h in ["etag", "last-modified", "content-type"] {
            assert_eq!(head.header(h), get.header(h), "{}: header {h}", head.what);
        }

        let missing = app
            .send(app.request(Method::HEAD, "/fhir/default/Practitioner/none"))
            .await
            .status(404);
        assert!(
            missing.body.is_empty(),
            "{}: HEAD returned a body",
            missing.what
        );
    }
}

#[tokio::test]
async fn resources_of_different_types_with_the_same_id_are_independent() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        app.put(
            "/fhir/default/Practitioner/same",
            &practitioner(Some("same"), "P"),
        )
        .await
        .status(201);
        let org = json!({"resourceType": "Organization", "id": "same", "name": "Org"});
        app.put("/fhir/default/Organization/same", &org)
            .await
            .status(201);
        app.delete("/fhir/default/Organization/same").await;

        let p = app.get("/fhir/default/Practitioner/same").await.status(200);
        assert_eq!(p.etag_version(), 1, "{}", p.what);
        app.get("/fhir/default/Organization/same")
            .await
            .outcome(410, "deleted");
    }
}

#[tokio::test]
async fn ids_at_the_edges_of_the_id_rules_are_accepted() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let longest = "Z".repeat(64);
        for id in [
            "A",
            "0",
            "a.b",
            "a-b",
            "-",
            "...",
            "MiXeD-Case.09",
            longest.as_str(),
        ] {
            let path = format!("/fhir/default/Practitioner/{id}");
            let r = app
                .put(&path, &practitioner(Some(id), "Edge"))
                .await
                .status(201);
            assert_eq!(r.json()["id"], id, "{}", r.what);
            let read = app.get(&path).await.status(200);
            assert_eq!(read.json()["id"], id, "{}", read.what);
        }
        // Ids are case-sensitive: "A" and "a" are different resources.
        app.get("/fhir/default/Practitioner/a")
            .await
            .outcome(404, "not-found");
    }
}
