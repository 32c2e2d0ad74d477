//! Hostile or clumsy input that used to end in a 500 or in silently wrong answers: numbers
//! and characters no store can hold, searches too large for SQLite's parser or too costly for
//! Postgres, compressed bodies read as plain bytes, an unusable composite expression. Each
//! answer must be the 4xx OperationOutcome that says what was wrong; once per backend.

mod common;

use std::io::Write;

use common::{spawn_app, test_databases, FHIR_JSON};
use reqwest::Method;
use serde_json::{json, Value};
use server::ServerConfig;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

fn observation_with(value: &str) -> String {
    format!(
        r#"{{"resourceType":"Observation","status":"final","code":{{"text":"x"}},"valueQuantity":{{"value":{value}}}}}"#
    )
}

#[tokio::test]
async fn numbers_no_store_can_hold_and_nul_characters_are_400_naming_the_element() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        for value in ["1e999999", "-1e999999", "1e-999999"] {
            let r = app
                .send(
                    app.request(Method::POST, "/fhir/default/Observation")
                        .header("content-type", FHIR_JSON)
                        .body(observation_with(value)),
                )
                .await;
            let diag = r.outcome(400, "value");
            assert!(
                diag.contains("Observation.valueQuantity.value"),
                "[{}] {value}: {diag}",
                db.backend
            );
        }
        // An ordinary decimal still goes in, and keeps its precision.
        let r = app
            .send(
                app.request(Method::POST, "/fhir/default/Observation")
                    .header("content-type", FHIR_JSON)
                    .body(observation_with("1.50")),
            )
            .await
            .status(201);
        assert!(r.text().contains("1.50"), "[{}] {}", db.backend, r.text());

        let nul = r#"{"resourceType":"Organization","name":"bad\u0000name"}"#;
        let diag = app
            .send(
                app.request(Method::POST, "/fhir/default/Organization")
                    .header("content-type", FHIR_JSON)
                    .body(nul),
            )
            .await
            .outcome(400, "value");
        assert!(
            diag.contains("Organization.name"),
            "[{}] {diag}",
            db.backend
        );

        // The same in a transaction entry, and through PATCH (the patched result is checked).
        let bundle = format!(
            r#"{{"resourceType":"Bundle","type":"transaction","entry":[{{"resource":{},"request":{{"method":"POST","url":"Observation"}}}}]}}"#,
            observation_with("1e999999")
        );
        app.send(
            app.request(Method::POST, "/fhir/default")
                .header("content-type", FHIR_JSON)
                .body(bundle),
        )
        .await
        .outcome(400, "value");
        app.put(
            "/fhir/default/Organization/o1",
            &json!({"resourceType": "Organization", "id": "o1", "name": "Acme"}),
        )
        .await
        .status(201);
        app.send(
            app.request(Method::PATCH, "/fhir/default/Organization/o1")
                .header("content-type", "application/json-patch+json")
                .body(r#"[{"op":"replace","path":"/name","value":"a\u0000b"}]"#),
        )
        .await
        .outcome(422, "processing");
        let name = app
            .get("/fhir/default/Organization/o1")
            .await
            .status(200)
            .json()["name"]
            .clone();
        assert_eq!(
            name, "Acme",
            "[{}] the refused patch left nothing",
            db.backend
        );

        // A job id that cannot exist is a 404 without asking the database.
        app.get("/fhir/default/$reindex/%00")
            .await
            .outcome(404, "not-found");
    }
}

/// `name=a0,a1,…` with `n` values.
fn alternatives(prefix: &str, n: usize) -> String {
    (0..n)
        .map(|i| format!("{prefix}{i}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[tokio::test]
async fn searches_over_the_size_limits_are_400_too_costly_and_those_at_the_limits_run() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let practitioner = json!({"resourceType": "Practitioner", "id": "p1",
            "name": [{"family": "a7"}], "identifier": [{"system": "urn:npi", "value": "v7"}]});
        app.put("/fhir/default/Practitioner/p1", &practitioner)
            .await
            .status(201);

        let too_many_values = [
            format!(
                "/fhir/default/Practitioner?name={}",
                alternatives("a", 2000)
            ),
            format!(
                "/fhir/default/Practitioner?name:contains={}",
                alternatives("a", 2000)
            ),
            format!("/fhir/default/Practitioner?name={}", alternatives("a", 101)),
        ];
        for path in &too_many_values {
            let diag = app.get(path).await.outcome(400, "too-costly");
            assert!(diag.contains("at most 100"), "[{}] {diag}", db.backend);
        }
        let many_ids: String = (0..1000).map(|i| format!("_id=x{i}&")).collect();
        let diag = app
            .get(&format!("/fhir/default/Practitioner?{many_ids}"))
            .await
            .outcome(400, "too-costly");
        assert!(diag.contains("at most 32"), "[{}] {diag}", db.backend);
        let names: String = (0..200).map(|_| "name=a&").collect();
        app.get(&format!("/fhir/default/Practitioner?{names}"))
            .await
            .outcome(400, "too-costly");
        // POST _search with 2,000 ORed identifiers.
        let form = format!("identifier={}", alternatives("urn:npi|v", 2000));
        app.send(
            app.request(Method::POST, "/fhir/default/Practitioner/_search")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.replace('|', "%7C")),
        )
        .await
        .outcome(400, "too-costly");
        // Conditional create with 2,000 identifier terms.
        let condition: String = (0..2000)
            .map(|i| format!("identifier=urn:npi%7Cv{i}"))
            .collect::<Vec<_>>()
            .join("&");
        app.send(
            app.request(Method::POST, "/fhir/default/Practitioner")
                .header("content-type", FHIR_JSON)
                .header("if-none-exist", condition)
                .body(practitioner.to_string()),
        )
        .await
        .outcome(400, "too-costly");

        // At the limits, on every backend: the heaviest shapes still answer exactly.
        let at_limit = [
            format!("name={}", alternatives("a", 100)),
            format!("name:contains={}", alternatives("a", 100)),
            format!("identifier={}", alternatives("urn:npi%7Cv", 100)),
            format!("_id={}", alternatives("p", 100)),
            // 10 criteria of 100 values: the 1,000 values in all (p1 is `a7`).
            (0..10)
                .map(|_| format!("name={}", alternatives("a", 100)))
                .collect::<Vec<_>>()
                .join("&"),
            (0..32)
                .map(|i| format!("name:contains={}", alternatives("a", 8 + i % 20)))
                .collect::<Vec<_>>()
                .join("&"),
        ];
        for query in &at_limit {
            let bundle = app
                .get(&format!("/fhir/default/Practitioner?{query}"))
                .await
                .status(200)
                .json();
            let ids: Vec<&str> = bundle["entry"]
                .as_array()
                .map(|e| {
                    e.iter()
                        .filter_map(|e| e["resource"]["id"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(ids, vec!["p1"], "[{}] {}…", db.backend, &query[..40]);
        }
    }
}

#[tokio::test]
async fn compressed_request_bodies_are_decoded_or_refused() {
    for db in test_databases().await {
        let app = spawn_app(
            &db,
            ServerConfig {
                max_body_bytes: 64 * 1024,
                ..ServerConfig::auth_off()
            },
        )
        .await;
        app.put(
            "/fhir/default/Practitioner/p1",
            &json!({"resourceType": "Practitioner", "id": "p1", "name": [{"family": "Smith"}]}),
        )
        .await
        .status(201);
        app.put(
            "/fhir/default/Practitioner/p2",
            &json!({"resourceType": "Practitioner", "id": "p2", "name": [{"family": "Jones"}]}),
        )
        .await
        .status(201);
        // POST _search with a gzip form: the form is read, not the compressed bytes.
        let r = app
            .send(
                app.request(Method::POST, "/fhir/default/Practitioner/_search")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("content-encoding", "gzip")
                    .body(gzip(b"name=smith")),
            )
            .await
            .status(200)
            .json();
        assert_eq!(r["total"], json!(1), "[{}] {r}", db.backend);
        assert_eq!(
            r["entry"][0]["resource"]["id"], "p1",
            "[{}] {r}",
            db.backend
        );
        // A gzip resource body is created.
        let body = json!({"resourceType": "Organization", "name": "Zipped"}).to_string();
        app.send(
            app.request(Method::POST, "/fhir/default/Organization")
                .header("content-type", FHIR_JSON)
                .header("content-encoding", "gzip")
                .body(gzip(body.as_bytes())),
        )
        .await
        .status(201);
        // An encoding the server does not speak.
        app.send(
            app.request(Method::POST, "/fhir/default/Practitioner/_search")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("content-encoding", "br")
                .body("name=smith"),
        )
        .await
        .outcome(415, "not-supported");
        // Bytes that are not gzip.
        app.send(
            app.request(Method::POST, "/fhir/default/Organization")
                .header("content-type", FHIR_JSON)
                .header("content-encoding", "gzip")
                .body(body.clone()),
        )
        .await
        .outcome(400, "invalid");
        // 40 KiB that decompress to 40 MiB: 413 at the limit, not 40 MiB in memory.
        let bomb = gzip(&vec![b' '; 40 * 1024 * 1024]);
        assert!(bomb.len() < 64 * 1024, "the bomb fits under the limit");
        app.send(
            app.request(Method::POST, "/fhir/default/Organization")
                .header("content-type", FHIR_JSON)
                .header("content-encoding", "gzip")
                .body(bomb),
        )
        .await
        .outcome(413, "too-long");
    }
}

#[tokio::test]
async fn a_composite_search_parameter_with_an_unusable_component_expression_is_422() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let sp: Value = json!({
            "resourceType": "SearchParameter", "url": "http://example.org/sp/bad-composite",
            "name": "badcomposite", "status": "active", "description": "x",
            "code": "badcomposite", "base": ["Organization"], "type": "composite",
            "expression": "Organization",
            "component": [
                {"definition": "http://hl7.org/fhir/SearchParameter/Organization-name", "expression": "name"},
                {"definition": "http://hl7.org/fhir/SearchParameter/Organization-type", "expression": "("}
            ]
        });
        let diag = app
            .post("/fhir/default/SearchParameter", &sp)
            .await
            .outcome(422, "processing");
        assert!(diag.contains("component[1]"), "[{}] {diag}", db.backend);
    }
}
