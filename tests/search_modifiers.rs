//! Black-box search features over HTTP, per backend: composite parameters, token `:in` /
//! `:not-in`, uri `:above` / `:below` (token ones: `search_hierarchy.rs`), `_text` and
//! `_content` — status, Bundle body and the exact result set, and a 400 OperationOutcome
//! (never a 500) for what cannot be answered.

mod common;

use serde_json::{json, Value};
use server::ServerConfig;

use common::{entries, link, spawn_app, test_databases, TestApp};

/// `PUT` of `resource` at its own id; 200 or 201.
async fn put(app: &TestApp, resource: Value) {
    app.put_resource(&resource).await;
}

/// Percent-encodes the characters of FHIR search syntax a URL would otherwise mangle.
fn enc(query: &str) -> String {
    query
        .replace('%', "%25")
        .replace('|', "%7C")
        .replace('$', "%24")
        .replace(' ', "%20")
        .replace('#', "%23")
        .replace('\\', "%5C")
}

/// The sorted ids of a searchset's `match` entries; checks the Bundle's shape and total.
async fn ids(app: &TestApp, rtype: &str, query: &str) -> Vec<String> {
    let path = format!("/fhir/default/{rtype}?{}", enc(query));
    let resp = app.get(&path).await.status(200);
    resp.assert_fhir_json();
    let bundle = resp.json();
    assert_eq!(bundle["resourceType"], "Bundle", "[{}] {path}", app.backend);
    assert_eq!(bundle["type"], "searchset", "[{}] {path}", app.backend);
    let mut out: Vec<String> = entries(&bundle)
        .iter()
        .filter(|e| e["search"]["mode"] == "match")
        .map(|e| e["resource"]["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    if let Some(total) = bundle["total"].as_u64() {
        assert_eq!(
            usize::try_from(total).ok(),
            Some(out.len()),
            "[{}] {path}: total",
            app.backend
        );
    }
    out.sort();
    out
}

async fn check(app: &TestApp, rtype: &str, cases: &[(&str, &[&str])]) {
    for (query, want) in cases {
        let want: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(
            ids(app, rtype, query).await,
            want,
            "[{}] {rtype}?{query}",
            app.backend
        );
    }
}

/// A 400 OperationOutcome with `issue_code` whose diagnostic mentions `says`.
async fn bad_request(app: &TestApp, rtype: &str, query: &str, issue_code: &str, says: &str) {
    let path = format!("/fhir/default/{rtype}?{}", enc(query));
    let diag = app.get(&path).await.outcome(400, issue_code);
    assert!(
        diag.contains(says),
        "[{}] {path}: diagnostic {diag:?} does not mention {says:?}",
        app.backend
    );
}

#[tokio::test]
async fn composite_search_pairs_components_of_one_element() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let ch = |code: &str, value: &str| {
            json!({"code": {"coding": [{"system": "http://ex.org/ch", "code": code}]},
                   "valueCodeableConcept": {"coding": [{"code": value}]}, "exclude": false})
        };
        put(
            &app,
            json!({"resourceType": "Group", "id": "g1", "type": "person", "actual": true,
            "characteristic": [ch("gender", "female"), ch("status", "male")]}),
        )
        .await;
        put(
            &app,
            json!({"resourceType": "Group", "id": "g2", "type": "person", "actual": true,
            "characteristic": [ch("gender", "male"), ch("status", "female")]}),
        )
        .await;
        check(
            &app,
            "Group",
            &[
                ("characteristic-value=gender$female", &["g1"]),
                ("characteristic-value=gender$male", &["g2"]),
                (
                    "characteristic-value=http://ex.org/ch|status$female",
                    &["g2"],
                ),
                ("characteristic-value=other$female", &[]),
                (
                    "characteristic-value=gender$female,gender$male",
                    &["g1", "g2"],
                ),
                ("characteristic-value:missing=false", &["g1", "g2"]),
                ("characteristic-value:missing=true", &[]),
            ],
        )
        .await;
        const NEWPAT: &str = "http://hl7.org/fhir/us/ndh/StructureDefinition/base-ext-newpatients";
        let np = |accepting: &str, network: &str| {
            json!({"url": NEWPAT, "extension": [
                {"url": "acceptingPatients", "valueCodeableConcept": {"coding": [{"code": accepting}]}},
                {"url": "fromNetwork", "valueReference": {"reference": network}}]})
        };
        put(
            &app,
            json!({"resourceType": "PractitionerRole", "id": "r1",
            "extension": [np("yes", "Organization/n1"), np("no", "Organization/n2")]}),
        )
        .await;
        check(
            &app,
            "PractitionerRole",
            &[
                ("new-patient-and-from-network=yes$Organization/n1", &["r1"]),
                ("new-patient-and-from-network=yes$Organization/n2", &[]),
            ],
        )
        .await;
        bad_request(
            &app,
            "Group",
            "characteristic-value=gender$female$x",
            "invalid",
            "expected 2 `$`-separated components",
        )
        .await;
        bad_request(
            &app,
            "Group",
            r"characteristic-value=gender\x$female",
            "invalid",
            "not an escape",
        )
        .await;
    }
}

#[tokio::test]
async fn in_and_not_in_use_value_sets_stored_in_the_tenant() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        const NUCC: &str = "http://nucc.org/provider-taxonomy";
        put(&app, json!({"resourceType": "ValueSet", "id": "primary-care", "status": "active",
            "url": "http://ex.org/ValueSet/primary-care",
            "compose": {"include": [{"system": NUCC, "concept": [{"code": "207Q00000X"}, {"code": "208D00000X"}]}]}}))
        .await;
        for (id, code) in [
            ("a", "207Q00000X"),
            ("b", "208D00000X"),
            ("c", "363L00000X"),
        ] {
            put(
                &app,
                json!({"resourceType": "PractitionerRole", "id": id,
                "specialty": [{"coding": [{"system": NUCC, "code": code}]}]}),
            )
            .await;
        }
        put(&app, json!({"resourceType": "PractitionerRole", "id": "d"})).await;
        check(
            &app,
            "PractitionerRole",
            &[
                (
                    "specialty:in=http://ex.org/ValueSet/primary-care",
                    &["a", "b"],
                ),
                ("specialty:in=ValueSet/primary-care", &["a", "b"]),
                (
                    "specialty:not-in=http://ex.org/ValueSet/primary-care",
                    &["c", "d"],
                ),
                (
                    "specialty:in=http://ex.org/ValueSet/primary-care&specialty=208D00000X",
                    &["b"],
                ),
            ],
        )
        .await;
        bad_request(
            &app,
            "PractitionerRole",
            "specialty:in=http://ex.org/ValueSet/unknown",
            "not-supported",
            "is not stored in this tenant",
        )
        .await;
        // Lenient handling does not turn an unknown ValueSet into an empty result.
        let resp = app
            .send(
                app.request(
                    reqwest::Method::GET,
                    &format!(
                        "/fhir/default/PractitionerRole?{}",
                        enc("specialty:not-in=http://ex.org/ValueSet/unknown")
                    ),
                )
                .header("Prefer", "handling=lenient"),
            )
            .await;
        resp.outcome(400, "not-supported");
        bad_request(
            &app,
            "PractitionerRole",
            "specialty:in=primary-care",
            "invalid",
            "ValueSet canonical URL",
        )
        .await;
    }
}

#[tokio::test]
async fn above_and_below_on_uris_and_a_clear_400_without_a_stored_code_system() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        for (id, profile) in [
            ("o1", "http://ex.org/fhir/StructureDefinition/org"),
            ("o2", "http://ex.org/fhir/StructureDefinition/org/v2"),
            ("o3", "http://ex.org/fhirx/StructureDefinition/org"),
        ] {
            put(
                &app,
                json!({"resourceType": "Organization", "id": id, "name": id,
                "meta": {"profile": [profile]}}),
            )
            .await;
        }
        check(
            &app,
            "Organization",
            &[
                ("_profile:below=http://ex.org/fhir", &["o1", "o2"]),
                (
                    "_profile:below=http://ex.org/fhir/StructureDefinition/org",
                    &["o1", "o2"],
                ),
                ("_profile:below=http://ex.org", &["o1", "o2", "o3"]),
                (
                    "_profile:above=http://ex.org/fhir/StructureDefinition/org/v2",
                    &["o1", "o2"],
                ),
                ("_profile:above=http://ex.org/fhir/StructureDefinition", &[]),
            ],
        )
        .await;
        bad_request(
            &app,
            "PractitionerRole",
            "specialty:below=http://nucc.org/provider-taxonomy|207Q00000X",
            "not-supported",
            "no CodeSystem",
        )
        .await;
        bad_request(
            &app,
            "Organization",
            "partof:below=Organization/o1",
            "not-supported",
            "canonical",
        )
        .await;
    }
}

#[tokio::test]
async fn text_and_content_search_words_and_page_correctly() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        put(&app, json!({"resourceType": "Organization", "id": "x1", "name": "Müller Cardiology",
            "text": {"status": "generated",
                     "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Accepting <b>new</b> patients</p></div>"}}))
        .await;
        put(
            &app,
            json!({"resourceType": "Organization", "id": "x2", "name": "Blacksmith & Co",
            "address": [{"city": "Ann Arbor"}]}),
        )
        .await;
        check(
            &app,
            "Organization",
            &[
                ("_content=MULLER", &["x1"]),
                ("_content=arbor", &["x2"]),
                ("_content=smith", &[]),
                ("_content=cardiology,ann", &["x1", "x2"]),
                ("_text=new patients", &["x1"]),
                ("_text=muller", &[]),
                ("_content=patients&name=blacksmith", &[]),
            ],
        )
        .await;
        bad_request(
            &app,
            "Organization",
            "_content:exact=x",
            "invalid",
            "not supported",
        )
        .await;

        for i in 0..5 {
            put(
                &app,
                json!({"resourceType": "Location", "id": format!("l{i}"),
                "name": format!("Lakeside Site {i}")}),
            )
            .await;
        }
        put(
            &app,
            json!({"resourceType": "Location", "id": "m0", "name": "Elsewhere"}),
        )
        .await;
        let mut url =
            "/fhir/default/Location?_content=lakeside&_count=2&_total=accurate".to_owned();
        let mut seen = Vec::new();
        for _ in 0..10 {
            let bundle = app.get(&url).await.status(200).json();
            assert_eq!(bundle["total"], 5, "[{}] {url}", app.backend);
            seen.extend(
                entries(&bundle)
                    .iter()
                    .map(|e| e["resource"]["id"].as_str().unwrap_or_default().to_owned()),
            );
            match link(&bundle, "next") {
                Some(next) => url = next,
                None => break,
            }
        }
        assert_eq!(seen, ["l0", "l1", "l2", "l3", "l4"], "[{}]", app.backend);
    }
}

#[tokio::test]
async fn hostile_values_get_400_or_an_answer_never_a_500() {
    let long_word = "a".repeat(300);
    let many_words = vec!["w"; 17].join("%20");
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let cases: Vec<(String, u16)> = vec![
            ("/fhir/default/Organization?_content=%00".into(), 400),
            ("/fhir/default/Organization?_text=a%00b".into(), 400),
            ("/fhir/default/Organization?name=%00".into(), 400),
            (
                "/fhir/default/Group?characteristic-value=%00%24%00".into(),
                400,
            ),
            (
                "/fhir/default/PractitionerRole?specialty:in=http://x/%00".into(),
                400,
            ),
            (
                "/fhir/default/Organization?_profile:below=http://x/%00".into(),
                400,
            ),
            (
                format!("/fhir/default/Organization?_content={long_word}"),
                400,
            ),
            (
                format!("/fhir/default/Organization?_content={many_words}"),
                400,
            ),
            (
                "/fhir/default/Organization?_content=%5B%5E%5D*%3F(%7C%5C%5C".into(),
                200,
            ),
            (
                "/fhir/default/Organization?_text=%E2%80%AE%F0%9F%92%A9%CC%81".into(),
                200,
            ),
            ("/fhir/default/Group?characteristic-value=%24".into(), 400),
            (
                "/fhir/default/Group?characteristic-value:missing=maybe".into(),
                400,
            ),
            (
                "/fhir/default/Group?characteristic-value:not=a%24b".into(),
                400,
            ),
            ("/fhir/default/PractitionerRole?specialty:in=".into(), 200),
            (
                "/fhir/default/PractitionerRole?specialty:not-in=ValueSet/%20".into(),
                400,
            ),
        ];
        for (path, want) in cases {
            let r = app.get(&path).await;
            assert_eq!(r.code, want, "{}: {}", r.what, r.text());
            if want == 400 {
                r.outcome(
                    400,
                    if r.text().contains("not-supported") {
                        "not-supported"
                    } else {
                        "invalid"
                    },
                );
            }
        }
    }
}

/// `/metadata` lists the composite parameters the server can search (their components
/// resolve), such as Group `characteristic-value`, alongside the others.
#[tokio::test]
async fn capability_statement_lists_searchable_composites() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let cs = app.get("/fhir/default/metadata").await.status(200).json();
        let resources = cs["rest"][0]["resource"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let group = resources
            .iter()
            .find(|r| r["type"] == "Group")
            .unwrap_or_else(|| panic!("[{}] no Group in the CapabilityStatement", app.backend));
        let composite: Vec<&str> = group["searchParam"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["type"] == "composite")
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(composite, ["characteristic-value"], "[{}]", app.backend);
    }
}
