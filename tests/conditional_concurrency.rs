//! Concurrent identical conditional creates over REST
//! (<https://hl7.org/fhir/R4/http.html#ccreate>, <https://hl7.org/fhir/R4/http.html#cond-update>):
//! the search and the create run in one store transaction under a lock on the criteria, so
//! exactly one request creates and every other one finds that resource; once per backend.

mod common;

use std::collections::BTreeSet;

use common::{fhir_body, spawn_app, test_databases, Resp, TestApp};
use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};
use server::ServerConfig;

const NPI: &str = "http://hl7.org/fhir/sid/us-npi";
const WRITERS: usize = 8;

fn org(npi: &str, name: &str) -> Value {
    json!({"resourceType": "Organization", "name": name,
           "identifier": [{"system": NPI, "value": npi}]})
}

/// `total` of `Organization?identifier=NPI|npi`.
async fn count(app: &TestApp, npi: &str) -> u64 {
    let r = app
        .get(&format!(
            "/fhir/default/Organization?identifier={NPI}|{npi}&_summary=count"
        ))
        .await
        .status(200);
    r.json()["total"].as_u64().expect("total")
}

/// Asserts exactly one 201 among `answers`, every other one 200, all naming one id; returns
/// it.
#[track_caller]
fn one_created(what: &str, answers: &[Resp]) -> String {
    let mut created = 0;
    let mut ids = BTreeSet::new();
    for r in answers {
        match r.code {
            201 => created += 1,
            200 => {}
            other => panic!("{}: status {other}: {}", r.what, r.text()),
        }
        ids.insert(r.json()["id"].as_str().expect("id").to_owned());
    }
    assert_eq!(created, 1, "{what}: exactly one request creates");
    assert_eq!(
        ids.len(),
        1,
        "{what}: every answer names one resource: {ids:?}"
    );
    ids.pop_first().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_identical_if_none_exist_posts_create_one_resource() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        let npi = "7777777770";
        let answers = join_all((0..WRITERS).map(|i| {
            let req = fhir_body(
                app.request(Method::POST, "/fhir/default/Organization"),
                &org(npi, &format!("Racer{i}")),
            )
            .header("if-none-exist", format!("identifier={NPI}|{npi}"))
            .header("prefer", "return=representation");
            app.send(req)
        }))
        .await;
        one_created(&format!("[{b}] POST If-None-Exist"), &answers);
        assert_eq!(count(&app, npi).await, 1, "[{b}] duplicates were created");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_identical_conditional_updates_create_one_resource() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        let npi = "7777777771";
        let path = format!("/fhir/default/Organization?identifier={NPI}|{npi}");
        let answers = join_all((0..WRITERS).map(|i| {
            let req = fhir_body(
                app.request(Method::PUT, &path),
                &org(npi, &format!("Racer{i}")),
            )
            .header("prefer", "return=representation");
            app.send(req)
        }))
        .await;
        let id = one_created(&format!("[{b}] conditional PUT"), &answers);
        assert_eq!(count(&app, npi).await, 1, "[{b}] duplicates were created");
        // Every request wrote: the creator version 1, each other one a new version.
        let history = app
            .get(&format!(
                "/fhir/default/Organization/{id}/_history?_count=100"
            ))
            .await
            .status(200);
        assert_eq!(
            history.json()["entry"].as_array().map(Vec::len),
            Some(WRITERS),
            "[{b}] one version per request"
        );
    }
}
