//! `$match` for Organization and Practitioner (NDH "Organization & Practitioner Match"),
//! black-box, once per backend: a duplicate by NPI is `certain`, a variant spelling at the
//! same address `probable`, a similar name in the same city `possible`, an unrelated entity
//! and a restricted one absent; `onlyCertainMatches` and `count` honoured; the instance-level
//! spelling answers the same; a bad body is a 400 OperationOutcome.

mod common;

use reqwest::Method;
use serde_json::{json, Value};
use server::ServerConfig;

use common::{fhir_body, spawn_app, test_databases, TestApp};

const NPI: &str = "http://hl7.org/fhir/sid/us-npi";

async fn matched(app: &TestApp, path: &str, body: &Value) -> Value {
    app.send(fhir_body(app.request(Method::POST, path), body))
        .await
        .status(200)
        .json()
}

fn grades(bundle: &Value) -> Vec<(String, String, f64)> {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["resource"]["id"].as_str().unwrap().to_owned(),
                e["search"]["extension"][0]["valueCode"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                e["search"]["score"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn duplicates_are_found_and_graded_and_hidden_entities_stay_hidden() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        let place = json!([{"line": ["100 Main Street"], "city": "Hartford", "state": "CT", "postalCode": "06103"}]);
        for r in [
            json!({"resourceType": "Organization", "id": "a", "name": "Acme Health, Inc.",
                   "identifier": [{"system": NPI, "value": "1234567893"}], "address": place}),
            json!({"resourceType": "Organization", "id": "b", "name": "ACME HEALTH",
                   "address": [{"line": ["100 Main St."], "city": "Hartford", "postalCode": "06103"}]}),
            json!({"resourceType": "Organization", "id": "c", "name": "Acme Healthcare",
                   "address": [{"line": ["9 Elm Rd"], "city": "Hartford"}]}),
            json!({"resourceType": "Organization", "id": "d", "name": "Zenith Clinic",
                   "address": [{"line": ["100 Main St"], "city": "Hartford"}]}),
            json!({"resourceType": "Organization", "id": "hidden", "name": "Acme Health",
                   "identifier": [{"system": NPI, "value": "1234567893"}],
                   "meta": {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]}}),
            json!({"resourceType": "Practitioner", "id": "p1", "identifier": [{"system": NPI, "value": "1111111112"}],
                   "name": [{"family": "Smith", "given": ["Ann"]}]}),
            json!({"resourceType": "Practitioner", "id": "p2", "name": [{"family": "SMITH", "given": ["ann"]}],
                   "telecom": [{"system": "phone", "value": "(860) 555-0101"}]}),
            json!({"resourceType": "Practitioner", "id": "p3", "name": [{"family": "Jones", "given": ["Bob"]}]}),
        ] {
            app.put_resource(&r).await;
        }
        let wanted = json!({"resourceType": "Organization", "name": "Acme Health",
            "identifier": [{"system": NPI, "value": "1234567893"}],
            "address": [{"line": ["100 Main St"], "city": "Hartford", "postalCode": "06103-2211"}]});
        let params = |extra: Vec<Value>| {
            let mut p = vec![json!({"name": "resource", "resource": wanted})];
            p.extend(extra);
            json!({"resourceType": "Parameters", "parameter": p})
        };
        let bundle = matched(&app, "/fhir/default/Organization/$match", &params(vec![])).await;
        assert_eq!(bundle["type"], "searchset", "[{b}]");
        let got = grades(&bundle);
        let ids: Vec<(&str, &str)> = got
            .iter()
            .map(|(i, g, _)| (i.as_str(), g.as_str()))
            .collect();
        assert_eq!(
            ids,
            [("a", "certain"), ("b", "probable"), ("c", "possible")],
            "[{b}] {bundle}"
        );
        assert!(
            got[0].2 > got[1].2 && got[1].2 > got[2].2,
            "[{b}] ordered by score: {got:?}"
        );
        // onlyCertainMatches and count.
        let only = params(vec![
            json!({"name": "onlyCertainMatches", "valueBoolean": true}),
        ]);
        let only = matched(&app, "/fhir/default/Organization/$match", &only).await;
        assert_eq!(grades(&only).len(), 1, "[{b}] {only}");
        let two = params(vec![json!({"name": "count", "valueInteger": 2})]);
        let two = matched(&app, "/fhir/default/Organization/$match", &two).await;
        assert_eq!(grades(&two).len(), 2, "[{b}] {two}");
        // A bare resource, and the instance-level spelling (the id is ignored).
        let bare = matched(&app, "/fhir/default/Organization/$match", &wanted).await;
        assert_eq!(grades(&bare), got, "[{b}]");
        let inst = matched(
            &app,
            "/fhir/default/Organization/anything/$match",
            &params(vec![]),
        )
        .await;
        assert_eq!(grades(&inst), got, "[{b}]");

        // Practitioners: by NPI, and by name with the same phone.
        let who = json!({"resourceType": "Practitioner", "name": [{"family": "Smith", "given": ["Ann"]}],
            "identifier": [{"system": NPI, "value": "1111111112"}],
            "telecom": [{"system": "phone", "value": "860-555-0101"}]});
        let ps = matched(&app, "/fhir/default/Practitioner/$match", &who).await;
        let ids: Vec<(String, String)> = grades(&ps).into_iter().map(|(i, g, _)| (i, g)).collect();
        assert_eq!(
            ids,
            [
                ("p1".to_owned(), "certain".to_owned()),
                ("p2".to_owned(), "probable".to_owned())
            ],
            "[{b}] {ps}"
        );

        // Mistakes: 400 with what is wrong; a type without $match: 404.
        for (body, why) in [
            (
                json!({"resourceType": "Parameters", "parameter": [{"name": "nope", "valueString": "x"}]}),
                "no parameter",
            ),
            (
                json!({"resourceType": "Patient"}),
                "Parameters resource or a Organization",
            ),
            (
                params(vec![json!({"name": "count", "valueInteger": 0})]),
                "count",
            ),
            (
                json!({"resourceType": "Organization"}),
                "neither an identifier nor a name",
            ),
        ] {
            let resp = app
                .send(fhir_body(
                    app.request(Method::POST, "/fhir/default/Organization/$match"),
                    &body,
                ))
                .await;
            let text = resp.outcome(400, "invalid");
            assert!(text.contains(why), "[{b}] {why}: {text}");
        }
        let resp = app
            .send(fhir_body(
                app.request(Method::POST, "/fhir/default/Patient/$match"),
                &json!({"resourceType": "Patient"}),
            ))
            .await;
        assert_eq!(resp.code, 404, "[{b}] {}", resp.text());
    }
}
