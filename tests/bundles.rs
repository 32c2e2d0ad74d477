//! Batch and transaction Bundles over HTTP (<https://hl7.org/fhir/R4/http.html#transaction>):
//! atomicity, processing order, `fullUrl` and conditional reference rewriting, conditional
//! entries, the response Bundle's shape, limits, and garbage; once per backend. Every check
//! reads the resulting state back over HTTP (reads, `_history`, searches).

mod common;

use common::{entries, etag_version, practitioner, spawn_app, test_databases, Resp, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use server::ServerConfig;

const NPI: &str = "http://hl7.org/fhir/sid/us-npi";

fn bundle(kind: &str, entries: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": kind, "entry": entries})
}

fn tx(entries: Vec<Value>) -> Value {
    bundle("transaction", entries)
}

fn entry(method: &str, url: &str, full_url: Option<&str>, resource: Option<Value>) -> Value {
    let mut e = json!({"request": {"method": method, "url": url}});
    if let Some(u) = full_url {
        e["fullUrl"] = json!(u);
    }
    if let Some(r) = resource {
        e["resource"] = r;
    }
    e
}

/// Sets `request.<key>` of an entry.
fn with(mut e: Value, key: &str, value: &str) -> Value {
    e["request"][key] = json!(value);
    e
}

fn org(npi: &str, name: &str) -> Value {
    json!({"resourceType": "Organization", "name": name,
           "identifier": [{"system": NPI, "value": npi}]})
}

async fn post_bundle(app: &TestApp, b: &Value) -> Resp {
    app.post("/fhir/default", b).await
}

/// `total` of `GET /fhir/default/{query}&_summary=count`.
async fn count(app: &TestApp, query: &str) -> u64 {
    let sep = if query.contains('?') { '&' } else { '?' };
    let r = app
        .get(&format!("/fhir/default/{query}{sep}_summary=count"))
        .await
        .status(200);
    r.json()["total"]
        .as_u64()
        .unwrap_or_else(|| panic!("{}: no total in {}", r.what, r.text()))
}

/// Number of entries in the tenant's system history.
async fn history_len(app: &TestApp) -> usize {
    app.history_pages("/fhir/default/_history?_count=1000")
        .await
        .iter()
        .map(|p| entries(p).len())
        .sum()
}

/// The response entries of a `*-response` Bundle, asserting its type and entry count.
#[track_caller]
fn response_entries(r: &Resp, kind: &str, n: usize) -> Vec<Value> {
    r.assert_fhir_json();
    let b = r.json();
    assert_eq!(b["resourceType"], "Bundle", "{}: {b}", r.what);
    assert_eq!(b["type"], kind, "{}: {b}", r.what);
    let es = entries(&b);
    assert_eq!(
        es.len(),
        n,
        "{}: one response entry per request entry: {b}",
        r.what
    );
    es
}

/// `Type/id` of an absolute versioned location `.../Type/id/_history/n`.
#[track_caller]
fn type_id(what: &str, location: &Value) -> String {
    let l = location.as_str().unwrap_or_default();
    let parts: Vec<&str> = l.split('/').collect();
    let n = parts.len();
    assert!(
        n >= 4 && parts[n - 2] == "_history",
        "{what}: location {l:?} is not .../Type/id/_history/n"
    );
    format!("{}/{}", parts[n - 4], parts[n - 3])
}

/// Asserts a failed transaction's OperationOutcome (status `code`) names entry `index`
/// and, when given, its fullUrl.
#[track_caller]
fn assert_names_entry(r: &Resp, code: u16, issue: &str, index: usize, full_url: Option<&str>) {
    let diag = r.outcome(code, issue);
    assert!(
        diag.contains(&format!("entry {index}")),
        "{}: the diagnostic does not name entry {index}: {diag}",
        r.what
    );
    if let Some(u) = full_url {
        assert!(
            diag.contains(u),
            "{}: the diagnostic does not name {u}: {diag}",
            r.what
        );
    }
}

/// Reads `path` and returns `(version, body)`.
async fn read(app: &TestApp, path: &str) -> (i64, Value) {
    let r = app.get(&format!("/fhir/default/{path}")).await.status(200);
    (r.etag_version(), r.json())
}

#[tokio::test]
async fn transaction_whose_last_entry_fails_stores_nothing_and_names_the_entry() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::default()).await;
        let b = app.backend;
        app.put(
            "/fhir/default/Practitioner/existing",
            &practitioner(Some("existing"), "Before"),
        )
        .await
        .status(201);
        let before = history_len(&app).await;
        // Two ways for the last entry to fail: a stale ifMatch (found while writing) and an
        // id that disagrees with the URL (found when the entry is prepared).
        let stale = with(
            entry(
                "PUT",
                "Practitioner/existing",
                Some("urn:uuid:7f000000-0000-4000-8000-000000000004"),
                Some(practitioner(Some("existing"), "TxOnlyFamily")),
            ),
            "ifMatch",
            "W/\"9\"",
        );
        let wrong_id = entry(
            "PUT",
            "Practitioner/existing",
            Some("urn:uuid:7f000000-0000-4000-8000-000000000004"),
            Some(practitioner(Some("other-id"), "TxOnlyFamily")),
        );
        for (last, code, issue) in [(stale, 412, "conflict"), (wrong_id, 400, "invalid")] {
            let bundle = tx(vec![
                entry(
                    "POST",
                    "Organization",
                    Some("urn:uuid:7f000000-0000-4000-8000-000000000001"),
                    Some(org("9999999991", "TxOnlyOrg")),
                ),
                entry(
                    "POST",
                    "Practitioner",
                    Some("urn:uuid:7f000000-0000-4000-8000-000000000002"),
                    Some(practitioner(None, "TxOnlyFamily")),
                ),
                entry(
                    "PUT",
                    "Practitioner/tx-new",
                    Some("urn:uuid:7f000000-0000-4000-8000-000000000003"),
                    Some(practitioner(Some("tx-new"), "TxOnlyFamily")),
                ),
                last,
            ]);
            let r = post_bundle(&app, &bundle).await;
            assert_names_entry(
                &r,
                code,
                issue,
                3,
                Some("urn:uuid:7f000000-0000-4000-8000-000000000004"),
            );
            assert_eq!(
                count(&app, "Practitioner?family=TxOnlyFamily").await,
                0,
                "[{b}] {code}: a Practitioner of the failed transaction is searchable"
            );
            assert_eq!(
                count(&app, &format!("Organization?identifier={NPI}|9999999991")).await,
                0,
                "[{b}] {code}: the Organization of the failed transaction is searchable"
            );
            assert_eq!(
                count(&app, "Organization?name=TxOnlyOrg").await,
                0,
                "[{b}] {code}: the Organization's name is indexed"
            );
            app.get("/fhir/default/Practitioner/tx-new")
                .await
                .status(404);
            assert_eq!(
                history_len(&app).await,
                before,
                "[{b}] {code}: the failed transaction left history entries"
            );
            let (v, body) = read(&app, "Practitioner/existing").await;
            assert_eq!(v, 1, "[{b}] {code}: the existing resource changed");
            assert_eq!(body["name"][0]["family"], "Before", "[{b}] {code}");
        }
    }
}

#[tokio::test]
async fn transaction_failing_in_the_middle_rolls_back_deletes_posts_and_puts() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::default()).await;
        let b = app.backend;
        for id in ["doomed", "kept"] {
            app.put(
                &format!("/fhir/default/Practitioner/{id}"),
                &practitioner(Some(id), "Original"),
            )
            .await
            .status(201);
        }
        let before = history_len(&app).await;
        let bundle = tx(vec![
            entry("DELETE", "Practitioner/doomed", None, None),
            with(
                entry(
                    "PUT",
                    "Practitioner/kept",
                    Some("http://example.org/fhir/Practitioner/kept"),
                    Some(practitioner(Some("kept"), "MidChanged")),
                ),
                "ifMatch",
                "W/\"2\"",
            ),
            entry(
                "POST",
                "Practitioner",
                Some("urn:uuid:7f000000-0000-4000-8000-0000000000a1"),
                Some(practitioner(None, "MidChanged")),
            ),
            entry(
                "PUT",
                "Practitioner/mid-new",
                None,
                Some(practitioner(Some("mid-new"), "MidChanged")),
            ),
        ]);
        let r = post_bundle(&app, &bundle).await;
        assert_names_entry(
            &r,
            412,
            "conflict",
            1,
            Some("http://example.org/fhir/Practitioner/kept"),
        );
        // The DELETE ran first inside the transaction: it is rolled back too.
        let (v, _) = read(&app, "Practitioner/doomed").await;
        assert_eq!(v, 1, "[{b}] the DELETE of a failed transaction stuck");
        let (v, body) = read(&app, "Practitioner/kept").await;
        assert_eq!(v, 1, "[{b}] kept changed");
        assert_eq!(body["name"][0]["family"], "Original", "[{b}]");
        app.get("/fhir/default/Practitioner/mid-new")
            .await
            .status(404);
        assert_eq!(
            count(&app, "Practitioner?family=MidChanged").await,
            0,
            "[{b}]"
        );
        assert_eq!(count(&app, "Practitioner").await, 2, "[{b}]");
        assert_eq!(history_len(&app).await, before, "[{b}] history grew");

        // The same Bundle with the right version commits every entry.
        let mut good = bundle.clone();
        good["entry"][1]["request"]["ifMatch"] = json!("W/\"1\"");
        let r = post_bundle(&app, &good).await.status(200);
        let es = response_entries(&r, "transaction-response", 4);
        let statuses: Vec<&str> = es
            .iter()
            .map(|e| e["response"]["status"].as_str().unwrap_or_default())
            .collect();
        assert!(
            statuses[0].starts_with("204") || statuses[0].starts_with("200"),
            "[{b}] {statuses:?}"
        );
        assert!(statuses[1].starts_with("200"), "[{b}] {statuses:?}");
        assert!(statuses[2].starts_with("201"), "[{b}] {statuses:?}");
        assert!(statuses[3].starts_with("201"), "[{b}] {statuses:?}");
        app.get("/fhir/default/Practitioner/doomed")
            .await
            .status(410);
        assert_eq!(
            count(&app, "Practitioner?family=MidChanged").await,
            3,
            "[{b}]"
        );
        assert_eq!(history_len(&app).await, before + 4, "[{b}]");
    }
}

#[tokio::test]
async fn transaction_answers_get_entries_with_the_state_after_its_writes_in_request_order() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::default()).await;
        let b = app.backend;
        for id in ["p1", "p2"] {
            app.put(
                &format!("/fhir/default/Practitioner/{id}"),
                &practitioner(Some(id), "OrderOld"),
            )
            .await
            .status(201);
        }
        // Listed in the reverse of the processing order.
        let bundle = tx(vec![
            entry("GET", "Practitioner/p1", None, None),
            entry("GET", "Practitioner?family=OrderNew", None, None),
            entry("GET", "Practitioner/p2/_history/1", None, None),
            entry(
                "PUT",
                "Practitioner/p1",
                None,
                Some(practitioner(Some("p1"), "OrderNew")),
            ),
            entry(
                "POST",
                "Practitioner",
                Some("urn:uuid:7f000000-0000-4000-8000-0000000000b1"),
                Some(practitioner(None, "OrderNew")),
            ),
            entry("DELETE", "Practitioner/p2", None, None),
        ]);
        let r = post_bundle(&app, &bundle).await.status(200);
        let es = response_entries(&r, "transaction-response", 6);
        // Responses come in request order.
        let status = |i: usize| es[i]["response"]["status"].as_str().unwrap_or_default();
        assert!(status(0).starts_with("200"), "[{b}] {}", es[0]);
        assert!(status(3).starts_with("200"), "[{b}] PUT of p1: {}", es[3]);
        assert!(status(4).starts_with("201"), "[{b}] POST: {}", es[4]);
        assert!(status(5).starts_with("20"), "[{b}] DELETE: {}", es[5]);
        // The read sees the update (processed before it although listed after).
        let read_p1 = &es[0]["resource"];
        assert_eq!(read_p1["id"], "p1", "[{b}] {}", es[0]);
        assert_eq!(
            read_p1["name"][0]["family"], "OrderNew",
            "[{b}] GET ran before the PUT"
        );
        assert_eq!(read_p1["meta"]["versionId"], "2", "[{b}] {}", es[0]);
        assert_eq!(
            etag_version(es[0]["response"]["etag"].as_str().unwrap_or_default()),
            2
        );
        // The search sees the update and the create.
        let found = &es[1]["resource"];
        assert_eq!(found["resourceType"], "Bundle", "[{b}] {}", es[1]);
        assert_eq!(found["type"], "searchset", "[{b}] {}", es[1]);
        let new_ref = type_id(b, &es[4]["response"]["location"]);
        let mut ids: Vec<String> = entries(found)
            .iter()
            .map(|e| {
                format!(
                    "Practitioner/{}",
                    e["resource"]["id"].as_str().unwrap_or_default()
                )
            })
            .collect();
        ids.sort();
        let mut expected = vec!["Practitioner/p1".to_owned(), new_ref.clone()];
        expected.sort();
        assert_eq!(
            ids, expected,
            "[{b}] search inside the transaction: {found}"
        );
        // The vread of p2's first version still answers after its delete.
        assert_eq!(
            es[2]["resource"]["name"][0]["family"], "OrderOld",
            "[{b}] {}",
            es[2]
        );
        app.get("/fhir/default/Practitioner/p2").await.status(410);
        // The writes happened DELETE, POST, PUT: the system history (newest first) lists
        // them in the reverse order, whatever their order in the Bundle.
        let history = app
            .get("/fhir/default/_history?_count=3")
            .await
            .status(200)
            .json();
        let newest: Vec<String> = entries(&history)
            .iter()
            .map(|e| {
                let url = e["fullUrl"].as_str().unwrap_or_default();
                url.rsplit('/').take(2).collect::<Vec<_>>().join("<")
            })
            .collect();
        let new_id = new_ref.trim_start_matches("Practitioner/");
        assert_eq!(
            newest,
            vec![
                "p1<Practitioner".to_owned(),
                format!("{new_id}<Practitioner"),
                "p2<Practitioner".to_owned()
            ],
            "[{b}] processing order is not DELETE, POST, PUT: {history}"
        );
    }
}

#[tokio::test]
async fn transaction_rewrites_urn_uuid_and_urn_oid_full_urls_everywhere() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::default()).await;
        let b = app.backend;
        let org_url = "urn:uuid:7f000000-0000-4000-8000-0000000000c1";
        let loc_url = "urn:oid:1.2.840.113619.6.197";
        let role = json!({
            "resourceType": "PractitionerRole",
            "active": true,
            "practitioner": {"reference": "urn:uuid:7f000000-0000-4000-8000-0000000000c3"},
            "organization": {"reference": org_url},
            "location": [{"reference": loc_url}],
            "extension": [{
                "url": "http://example.org/network",
                "extension": [{"url": "inner", "valueReference": {"reference": org_url}}]
            }, {
                "url": "http://example.org/site", "valueReference": {"reference": loc_url}
            }],
            "contained": [{
                "resourceType": "HealthcareService", "id": "hs1",
                "providedBy": {"reference": org_url},
                "location": [{"reference": loc_url}]
            }],
            "healthcareService": [{"reference": "#hs1"}]
        });
        let bundle = tx(vec![
            entry("POST", "PractitionerRole", None, Some(role)),
            entry(
                "POST",
                "Organization",
                Some(org_url),
                Some(org("1111111112", "Rewritten Org")),
            ),
            entry(
                "POST",
                "Location",
                Some(loc_url),
                Some(json!({"resourceType": "Location", "name": "L",
                            "managingOrganization": {"reference": org_url}})),
            ),
            entry(
                "PUT",
                "Practitioner/pr-c3",
                Some("urn:uuid:7f000000-0000-4000-8000-0000000000c3"),
                Some(practitioner(Some("pr-c3"), "Rewrite")),
            ),
        ]);
        let r = post_bundle(&app, &bundle).await.status(200);
        let es = response_entries(&r, "transaction-response", 4);
        let role_ref = type_id(b, &es[0]["response"]["location"]);
        let org_ref = type_id(b, &es[1]["response"]["location"]);
        let loc_ref = type_id(b, &es[2]["response"]["location"]);
        assert!(org_ref.starts_with("Organization/"), "[{b}] {org_ref}");
        assert!(loc_ref.starts_with("Location/"), "[{b}] {loc_ref}");
        assert_eq!(
            type_id(b, &es[3]["response"]["location"]),
            "Practitioner/pr-c3"
        );

        let (_, stored) = read(&app, &role_ref).await;
        let text = stored.to_string();
        assert!(!text.contains("urn:"), "[{b}] a urn survived: {stored}");
        assert_eq!(stored["organization"]["reference"], org_ref, "[{b}]");
        assert_eq!(
            stored["practitioner"]["reference"], "Practitioner/pr-c3",
            "[{b}]"
        );
        assert_eq!(stored["location"][0]["reference"], loc_ref, "[{b}]");
        assert_eq!(
            stored["extension"][0]["extension"][0]["valueReference"]["reference"], org_ref,
            "[{b}] nested extension"
        );
        assert_eq!(
            stored["extension"][1]["valueReference"]["reference"], loc_ref,
            "[{b}]"
        );
        assert_eq!(
            stored["contained"][0]["providedBy"]["reference"], org_ref,
            "[{b}]"
        );
        assert_eq!(
            stored["contained"][0]["location"][0]["reference"], loc_ref,
            "[{b}]"
        );
        assert_eq!(stored["healthcareService"][0]["reference"], "#hs1", "[{b}]");
        let (_, loc) = read(&app, &loc_ref).await;
        assert_eq!(loc["managingOrganization"]["reference"], org_ref, "[{b}]");

        // The index holds the rewritten references.
        assert_eq!(
            count(&app, &format!("PractitionerRole?organization={org_ref}")).await,
            1
        );
        assert_eq!(
            count(&app, &format!("PractitionerRole?location={loc_ref}")).await,
            1
        );
        assert_eq!(
            count(&app, &format!("Location?organization={org_ref}")).await,
            1
        );

        // A urn that names no entry cannot resolve: the transaction fails, nothing stored.
        let before = history_len(&app).await;
        let dangling = tx(vec![
            entry(
                "POST",
                "Organization",
                None,
                Some(org("1111111113", "Dangling")),
            ),
            entry(
                "POST",
                "PractitionerRole",
                Some("urn:uuid:7f000000-0000-4000-8000-0000000000c9"),
                Some(json!({"resourceType": "PractitionerRole",
                            "organization": {"reference": "urn:uuid:7f000000-0000-4000-8000-00000000dead"}})),
            ),
        ]);
        let r = post_bundle(&app, &dangling).await;
        assert_names_entry(&r, 400, "invalid", 1, None);
        assert_eq!(history_len(&app).await, before, "[{b}]");
    }
}

#[tokio::test]
async fn conditional_references_resolve_one_match_and_fail_on_none_or_several() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::default()).await;
        let b = app.backend;
        let org_id = app.create("default", &org("1234567893", "Acme")).await;
        for _ in 0..2 {
            app.create("default", &org("2222222220", "Twin")).await;
        }
        let role = |reference: &str| {
            tx(vec![entry(
                "POST",
                "PractitionerRole",
                Some("urn:uuid:7f000000-0000-4000-8000-0000000000d1"),
                Some(json!({"resourceType": "PractitionerRole", "active": true,
                    "organization": {"reference": reference},
                    "extension": [{"url": "http://example.org/x",
                                   "valueReference": {"reference": reference}}]})),
            )])
        };
        let r = post_bundle(
            &app,
            &role(&format!("Organization?identifier={NPI}|1234567893")),
        )
        .await
        .status(200);
        let es = response_entries(&r, "transaction-response", 1);
        let (_, stored) = read(&app, &type_id(b, &es[0]["response"]["location"])).await;
        let expected = format!("Organization/{org_id}");
        assert_eq!(
            stored["organization"]["reference"], expected,
            "[{b}] {stored}"
        );
        assert_eq!(
            stored["extension"][0]["valueReference"]["reference"], expected,
            "[{b}] {stored}"
        );
        assert_eq!(
            count(&app, &format!("PractitionerRole?organization={expected}")).await,
            1
        );

        let before = history_len(&app).await;
        for (what, npi) in [("no match", "0000000000"), ("two matches", "2222222220")] {
            let r = post_bundle(&app, &role(&format!("Organization?identifier={NPI}|{npi}"))).await;
            assert!(
                (400..500).contains(&r.code),
                "{}: {what}: expected a 4xx, got {}: {}",
                r.what,
                r.code,
                r.text()
            );
            let code = r.code;
            let issue = r.json()["issue"][0]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let diag = r.outcome(code, &issue);
            assert!(diag.contains("entry 0"), "[{b}] {what}: {diag}");
            assert!(
                diag.contains(npi),
                "[{b}] {what}: the diagnostic names no criteria: {diag}"
            );
        }
        assert_eq!(
            history_len(&app).await,
            before,
            "[{b}] a failed transaction wrote"
        );
        assert_eq!(count(&app, "PractitionerRole").await, 1, "[{b}]");
    }
}

#[tokio::test]
async fn if_none_exist_makes_a_transaction_idempotent_and_several_matches_fail_it() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::default()).await;
        let b = app.backend;
        let org_url = "urn:uuid:7f000000-0000-4000-8000-0000000000e1";
        let bundle = tx(vec![
            with(
                entry(
                    "POST",
                    "Organization",
                    Some(org_url),
                    Some(org("3333333331", "Once")),
                ),
                "ifNoneExist",
                &format!("identifier={NPI}|3333333331"),
            ),
            with(
                entry(
                    "POST",
                    "PractitionerRole",
                    None,
                    Some(json!({"resourceType": "PractitionerRole",
                        "identifier": [{"system": "http://example.org/roles", "value": "r1"}],
                        "organization": {"reference": org_url}})),
                ),
                "ifNoneExist",
                "identifier=http://example.org/roles|r1",
            ),
        ]);
        let first = post_bundle(&app, &bundle).await.status(200);
        let first = response_entries(&first, "transaction-response", 2);
        for e in &first {
            assert!(
                e["response"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("201"),
                "[{b}] first time: {e}"
            );
        }
        let after_first = history_len(&app).await;
        assert_eq!(after_first, 2, "[{b}]");

        let second = post_bundle(&app, &bundle).await.status(200);
        let second = response_entries(&second, "transaction-response", 2);
        for (one, two) in first.iter().zip(&second) {
            assert!(
                two["response"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("200"),
                "[{b}] second time: {two}"
            );
            assert_eq!(
                two["response"]["location"], one["response"]["location"],
                "[{b}] the second answer must point at the existing resource"
            );
            assert_eq!(two["response"]["etag"], "W/\"1\"", "[{b}] {two}");
        }
        assert_eq!(
            history_len(&app).await,
            after_first,
            "[{b}] the second post wrote"
        );
        assert_eq!(
            count(&app, &format!("Organization?identifier={NPI}|3333333331")).await,
            1
        );
        assert_eq!(count(&app, "PractitionerRole").await, 1, "[{b}]");
        let org_ref = type_id(b, &first[0]["response"]["location"]);
        let (_, role) = read(&app, &type_id(b, &first[1]["response"]["location"])).await;
        assert_eq!(role["organization"]["reference"], org_ref, "[{b}]");

        // A matched ifNoneExist still gives its fullUrl to the other entries.
        let again = tx(vec![
            with(
                entry(
                    "POST",
                    "Organization",
                    Some(org_url),
                    Some(org("3333333331", "Once")),
                ),
                "ifNoneExist",
                &format!("identifier={NPI}|3333333331"),
            ),
            entry(
                "POST",
                "PractitionerRole",
                None,
                Some(json!({"resourceType": "PractitionerRole",
                    "organization": {"reference": org_url}})),
            ),
        ]);
        let r = post_bundle(&app, &again).await.status(200);
        let es = response_entries(&r, "transaction-response", 2);
        let (_, role2) = read(&app, &type_id(b, &es[1]["response"]["location"])).await;
        assert_eq!(role2["organization"]["reference"], org_ref, "[{b}]");

        // Several matches: 412, nothing stored.
        app.create("default", &org("4444444440", "Dup")).await;
        app.create("default", &org("4444444440", "Dup")).await;
        let before = history_len(&app).await;
        let dup = tx(vec![
            entry(
                "POST",
                "Practitioner",
                None,
                Some(practitioner(None, "DupSide")),
            ),
            with(
                entry(
                    "POST",
                    "Organization",
                    Some("urn:uuid:7f000000-0000-4000-8000-0000000000e9"),
                    Some(org("4444444440", "Dup")),
                ),
                "ifNoneExist",
                &format!("identifier={NPI}|4444444440"),
            ),
        ]);
        let r = post_bundle(&app, &dup).await;
        assert_names_entry(
            &r,
            412,
            "conflict",
            1,
            Some("urn:uuid:7f000000-0000-4000-8000-0000000000e9"),
        );
        assert_eq!(history_len(&app).await, before, "[{b}]");
        assert_eq!(count(&app, "Practitioner?family=DupSide").await, 0, "[{b}]");
    }
}

#[tokio::test]
async fn entry_preconditions_if_match_if_none_match_if_modified_since() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::default()).await;
        let b = app.backend;
        app.put(
            "/fhir/default/Practitioner/c1",
            &practitioner(Some("c1"), "Cond"),
        )
        .await
        .status(201);
        // ifMatch with the current version updates.
        let r = post_bundle(
            &app,
            &tx(vec![with(
                entry(
                    "PUT",
                    "Practitioner/c1",
                    None,
                    Some(practitioner(Some("c1"), "Cond2")),
                ),
                "ifMatch",
                "W/\"1\"",
            )]),
        )
        .await
        .status(200);
        let es = response_entries(&r, "transaction-response", 1);
        assert_eq!(es[0]["response"]["etag"], "W/\"2\"", "[{b}] {}", es[0]);

        // ifMatch on a DELETE with a stale version: 412, still there.
        let r = post_bundle(
            &app,
            &tx(vec![with(
                entry("DELETE", "Practitioner/c1", None, None),
                "ifMatch",
                "W/\"1\"",
            )]),
        )
        .await;
        assert_names_entry(&r, 412, "conflict", 0, None);
        assert_eq!(read(&app, "Practitioner/c1").await.0, 2, "[{b}]");

        let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
        let past = "2000-01-01T00:00:00Z";
        let r = post_bundle(
            &app,
            &tx(vec![
                with(
                    entry("GET", "Practitioner/c1", None, None),
                    "ifNoneMatch",
                    "W/\"2\"",
                ),
                with(
                    entry("GET", "Practitioner/c1", None, None),
                    "ifNoneMatch",
                    "W/\"1\"",
                ),
                with(
                    entry("GET", "Practitioner/c1", None, None),
                    "ifModifiedSince",
                    &future,
                ),
                with(
                    entry("GET", "Practitioner/c1", None, None),
                    "ifModifiedSince",
                    past,
                ),
            ]),
        )
        .await
        .status(200);
        let es = response_entries(&r, "transaction-response", 4);
        let st = |i: usize| {
            es[i]["response"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        assert!(
            st(0).starts_with("304"),
            "[{b}] ifNoneMatch current: {}",
            es[0]
        );
        assert!(
            es[0].get("resource").is_none(),
            "[{b}] 304 with a body: {}",
            es[0]
        );
        assert!(
            st(1).starts_with("200"),
            "[{b}] ifNoneMatch stale: {}",
            es[1]
        );
        assert_eq!(es[1]["resource"]["name"][0]["family"], "Cond2", "[{b}]");
        assert!(
            st(2).starts_with("304"),
            "[{b}] ifModifiedSince future: {}",
            es[2]
        );
        assert!(
            st(3).starts_with("200"),
            "[{b}] ifModifiedSince past: {}",
            es[3]
        );
        assert_eq!(es[3]["resource"]["id"], "c1", "[{b}]");

        // Two entries changing the same resource: 400, nothing done.
        let before = history_len(&app).await;
        for second in [
            entry("DELETE", "Practitioner/c1", None, None),
            entry(
                "PUT",
                "Practitioner/c1",
                None,
                Some(practitioner(Some("c1"), "Twice")),
            ),
            entry(
                "PUT",
                "Practitioner?_id=c1",
                None,
                Some(practitioner(Some("c1"), "Twice")),
            ),
        ] {
            let r = post_bundle(
                &app,
                &tx(vec![
                    entry(
                        "PUT",
                        "Practitioner/c1",
                        None,
                        Some(practitioner(Some("c1"), "Once")),
                    ),
                    second.clone(),
                ]),
            )
            .await;
            let diag = r.outcome(400, "invalid");
            assert!(diag.contains("Practitioner/c1"), "[{b}] {second}: {diag}");
        }
        assert_eq!(history_len(&app).await, before, "[{b}]");
        let (v, body) = read(&app, "Practitioner/c1").await;
        assert_eq!(
            (v, body["name"][0]["family"].clone()),
            (2, json!("Cond2")),
            "[{b}]"
        );
    }
}

#[tokio::test]
async fn batch_entries_succeed_or_fail_on_their_own() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::default()).await;
        let b = app.backend;
        app.put(
            "/fhir/default/Practitioner/bx",
            &practitioner(Some("bx"), "BatchOld"),
        )
        .await
        .status(201);
        let bundle = bundle(
            "batch",
            vec![
                entry(
                    "POST",
                    "Practitioner",
                    None,
                    Some(practitioner(None, "BatchGood")),
                ),
                with(
                    entry(
                        "PUT",
                        "Practitioner/bx",
                        None,
                        Some(practitioner(Some("bx"), "BatchBad")),
                    ),
                    "ifMatch",
                    "W/\"7\"",
                ),
                entry(
                    "POST",
                    "Practitioner",
                    None,
                    Some(org("5555555550", "WrongType")),
                ),
                entry("GET", "Practitioner/missing", None, None),
                json!({"resource": practitioner(None, "BatchBad")}),
                entry(
                    "PUT",
                    "Practitioner/b2",
                    None,
                    Some(practitioner(Some("b2"), "BatchGood")),
                ),
                entry("FETCH", "Practitioner/bx", None, None),
                entry("GET", "Practitioner/bx", None, None),
            ],
        );
        let r = post_bundle(&app, &bundle).await.status(200);
        let es = response_entries(&r, "batch-response", 8);
        let expect = ["201", "412", "400", "404", "400", "201", "400", "200"];
        for (i, (e, code)) in es.iter().zip(expect).enumerate() {
            let status = e["response"]["status"].as_str().unwrap_or_default();
            assert!(
                status.starts_with(code),
                "[{b}] entry {i}: expected {code}: {e}"
            );
            if code.starts_with('4') {
                let oo = &e["response"]["outcome"];
                assert_eq!(
                    oo["resourceType"], "OperationOutcome",
                    "[{b}] entry {i}: {e}"
                );
                assert!(
                    oo["issue"][0]["diagnostics"]
                        .as_str()
                        .is_some_and(|d| d.len() >= 10),
                    "[{b}] entry {i}: no diagnostic: {e}"
                );
                assert!(
                    e["response"].get("location").is_none(),
                    "[{b}] entry {i}: {e}"
                );
            }
        }
        // The good ones are stored, the bad ones are not.
        assert_eq!(
            count(&app, "Practitioner?family=BatchGood").await,
            2,
            "[{b}]"
        );
        assert_eq!(
            count(&app, "Practitioner?family=BatchBad").await,
            0,
            "[{b}]"
        );
        assert_eq!(count(&app, "Organization").await, 0, "[{b}]");
        let (v, body) = read(&app, "Practitioner/bx").await;
        assert_eq!(
            (v, body["name"][0]["family"].clone()),
            (1, json!("BatchOld")),
            "[{b}]"
        );
        assert_eq!(es[7]["resource"]["name"][0]["family"], "BatchOld", "[{b}]");
        let (v, _) = read(&app, &type_id(b, &es[0]["response"]["location"])).await;
        assert_eq!(v, 1, "[{b}]");
        // In a batch, entries may not refer to each other by fullUrl.
        let r = post_bundle(&app, &bundle_pair_referring_by_urn("batch"))
            .await
            .status(200);
        let es = response_entries(&r, "batch-response", 2);
        assert!(es[0]["response"]["status"]
            .as_str()
            .unwrap_or_default()
            .starts_with("201"));
        assert!(
            es[1]["response"]["status"]
                .as_str()
                .unwrap_or_default()
                .starts_with("400"),
            "[{b}] a batch entry resolved another entry's fullUrl: {}",
            es[1]
        );
    }
}

fn bundle_pair_referring_by_urn(kind: &str) -> Value {
    let u = "urn:uuid:7f000000-0000-4000-8000-0000000000f1";
    bundle(
        kind,
        vec![
            entry(
                "POST",
                "Organization",
                Some(u),
                Some(org("6666666660", "Pair")),
            ),
            entry(
                "POST",
                "PractitionerRole",
                None,
                Some(json!({"resourceType": "PractitionerRole", "organization": {"reference": u}})),
            ),
        ],
    )
}

#[tokio::test]
async fn response_entries_carry_status_location_etag_last_modified_and_representation() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::default()).await;
        let b = app.backend;
        app.put(
            "/fhir/default/Practitioner/upd",
            &practitioner(Some("upd"), "Shape"),
        )
        .await
        .status(201);
        app.put(
            "/fhir/default/Practitioner/del",
            &practitioner(Some("del"), "Shape"),
        )
        .await
        .status(201);
        let base = format!("{}/fhir/default", app.base);
        for kind in ["transaction", "batch"] {
            for prefer in [None, Some("return=minimal"), Some("return=representation")] {
                // Without a preference the resources come back, as for a single write.
                let representation = prefer != Some("return=minimal");
                let new_id = format!("new-{kind}-{}", prefer.map_or(0, str::len));
                let body = bundle(
                    kind,
                    vec![
                        entry(
                            "POST",
                            "Practitioner",
                            None,
                            Some(practitioner(None, "Shape")),
                        ),
                        entry(
                            "PUT",
                            &format!("Practitioner/{new_id}"),
                            None,
                            Some(practitioner(Some(&new_id), "Shape")),
                        ),
                        entry(
                            "PUT",
                            "Practitioner/upd",
                            None,
                            Some(practitioner(Some("upd"), "Shape")),
                        ),
                    ],
                );
                let mut req = common::fhir_body(app.request(Method::POST, "/fhir/default"), &body);
                if let Some(p) = prefer {
                    req = req.header("prefer", p);
                }
                let r = app.send(req).await.status(200);
                let es = response_entries(&r, &format!("{kind}-response"), 3);
                let bundle_ts = r.json()["timestamp"].clone();
                assert!(bundle_ts.is_string(), "[{b}] no timestamp: {}", r.text());
                for (i, (e, status)) in es.iter().zip(["201", "201", "200"]).enumerate() {
                    let what = format!("[{b}] {kind} prefer={prefer:?} entry {i}");
                    let resp = &e["response"];
                    assert!(
                        resp["status"]
                            .as_str()
                            .unwrap_or_default()
                            .starts_with(status),
                        "{what}: {e}"
                    );
                    let location = resp["location"].as_str().unwrap_or_default();
                    assert!(
                        location.starts_with(&base) && location.contains("/_history/"),
                        "{what}: location {location:?} is not absolute and versioned"
                    );
                    let version = etag_version(resp["etag"].as_str().unwrap_or_default());
                    assert!(
                        location.ends_with(&format!("/_history/{version}")),
                        "{what}: {e}"
                    );
                    let rel = location.trim_start_matches(&format!("{base}/"));
                    let got = app
                        .get(&format!("/fhir/default/{rel}"))
                        .await
                        .status(200)
                        .json();
                    assert_eq!(
                        resp["lastModified"], got["meta"]["lastUpdated"],
                        "{what}: lastModified disagrees with the stored resource"
                    );
                    if representation {
                        assert_eq!(e["resource"], got, "{what}: the returned resource");
                    } else {
                        assert!(
                            e.get("resource").is_none(),
                            "{what}: body without Prefer: {e}"
                        );
                    }
                }
            }
        }
        // A DELETE entry.
        let r = post_bundle(
            &app,
            &tx(vec![entry("DELETE", "Practitioner/del", None, None)]),
        )
        .await
        .status(200);
        let es = response_entries(&r, "transaction-response", 1);
        let status = es[0]["response"]["status"].as_str().unwrap_or_default();
        assert!(
            status.starts_with("204") || status.starts_with("200"),
            "[{b}] {}",
            es[0]
        );
        app.get("/fhir/default/Practitioner/del").await.status(410);
    }
}

#[tokio::test]
async fn too_many_entries_or_bytes_are_refused_and_nothing_is_stored() {
    for db in test_databases().await {
        let config = ServerConfig {
            max_bundle_entries: 3,
            max_body_bytes: 4000,
            ..ServerConfig::default()
        };
        let app = spawn_app(&db, config).await;
        let b = app.backend;
        for kind in ["transaction", "batch"] {
            let four = bundle(
                kind,
                (0..4)
                    .map(|_| {
                        entry(
                            "POST",
                            "Practitioner",
                            None,
                            Some(practitioner(None, "Limit")),
                        )
                    })
                    .collect(),
            );
            let r = post_bundle(&app, &four).await;
            assert!(
                r.code == 400 || r.code == 413,
                "{}: {kind}: too many entries answered {}: {}",
                r.what,
                r.code,
                r.text()
            );
            let diag = r.outcome(r.code, "too-costly");
            assert!(
                diag.contains('4') && diag.contains('3'),
                "[{b}] {kind}: {diag}"
            );
            let three = bundle(
                kind,
                vec![entry(
                    "POST",
                    "Practitioner",
                    None,
                    Some(json!({"resourceType": "Practitioner",
                                "name": [{"family": "Limit", "text": "x".repeat(5000)}]})),
                )],
            );
            let r = post_bundle(&app, &three).await;
            let diag = r.outcome(413, "too-long");
            assert!(
                diag.contains("4000"),
                "[{b}] {kind}: the limit is not named: {diag}"
            );
        }
        assert_eq!(count(&app, "Practitioner").await, 0, "[{b}]");
        assert_eq!(history_len(&app).await, 0, "[{b}]");
        // At the limit it works.
        let ok = tx((0..3)
            .map(|_| {
                entry(
                    "POST",
                    "Practitioner",
                    None,
                    Some(practitioner(None, "Limit")),
                )
            })
            .collect());
        post_bundle(&app, &ok).await.status(200);
        assert_eq!(count(&app, "Practitioner").await, 3, "[{b}]");
    }
}

#[tokio::test]
async fn garbage_bundles_get_4xx_operation_outcomes_and_store_nothing() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not JSON", b"{\"resourceType\": \"Bundle\", ".to_vec()),
        ("an array", b"[1, 2]".to_vec()),
        (
            "wrong resourceType",
            br#"{"resourceType":"Patient","type":"transaction"}"#.to_vec(),
        ),
        (
            "no type",
            br#"{"resourceType":"Bundle","entry":[]}"#.to_vec(),
        ),
        (
            "collection",
            br#"{"resourceType":"Bundle","type":"collection","entry":[]}"#.to_vec(),
        ),
        (
            "type not a string",
            br#"{"resourceType":"Bundle","type":7}"#.to_vec(),
        ),
        (
            "entry not an array",
            br#"{"resourceType":"Bundle","type":"transaction","entry":{}}"#.to_vec(),
        ),
    ];
    let bad_entries: Vec<(&str, Value)> = vec![
        (
            "entry without request",
            json!({"resource": practitioner(None, "G")}),
        ),
        ("entry not an object", json!(42)),
        (
            "request not an object",
            json!({"request": "POST Practitioner"}),
        ),
        ("unknown method", entry("FETCH", "Practitioner", None, None)),
        (
            "method not a string",
            json!({"request": {"method": 1, "url": "Practitioner"}}),
        ),
        ("no url", json!({"request": {"method": "GET"}})),
        ("unknown type in url", entry("GET", "Foo/1", None, None)),
        (
            "bad id in url",
            entry("GET", "Practitioner/a b", None, None),
        ),
        ("empty url", entry("GET", "", None, None)),
        (
            "too many segments",
            entry("GET", "Practitioner/a/b/c/d", None, None),
        ),
        (
            "bad version",
            entry("GET", "Practitioner/a/_history/x", None, None),
        ),
        (
            "url on another server",
            entry(
                "GET",
                "http://elsewhere.example/fhir/Practitioner/a",
                None,
                None,
            ),
        ),
        (
            "POST to an instance",
            entry(
                "POST",
                "Practitioner/a",
                None,
                Some(practitioner(None, "G")),
            ),
        ),
        (
            "PUT without resource",
            entry("PUT", "Practitioner/a", None, None),
        ),
        (
            "resource not an object",
            json!({"request": {"method": "POST", "url": "Practitioner"}, "resource": "x"}),
        ),
        (
            "type mismatch",
            entry("POST", "Practitioner", None, Some(org("7", "G"))),
        ),
        (
            "bad ifMatch",
            with(
                entry(
                    "PUT",
                    "Practitioner/a",
                    None,
                    Some(practitioner(Some("a"), "G")),
                ),
                "ifMatch",
                "yesterday",
            ),
        ),
        (
            "bad ifModifiedSince",
            with(
                entry("GET", "Practitioner/a", None, None),
                "ifModifiedSince",
                "yesterday",
            ),
        ),
        (
            "PATCH with a Practitioner",
            entry(
                "PATCH",
                "Practitioner/a",
                None,
                Some(practitioner(None, "G")),
            ),
        ),
        (
            "PATCH Binary not base64",
            entry(
                "PATCH",
                "Practitioner/a",
                None,
                Some(
                    json!({"resourceType": "Binary", "contentType": "application/json-patch+json", "data": "%%%"}),
                ),
            ),
        ),
    ];
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::default()).await;
        let b = app.backend;
        app.put(
            "/fhir/default/Practitioner/a",
            &practitioner(Some("a"), "Keep"),
        )
        .await
        .status(201);
        for (name, raw) in &cases {
            let req = app
                .request(Method::POST, "/fhir/default")
                .header("content-type", common::FHIR_JSON)
                .body(raw.clone());
            let r = app.send(req).await;
            assert!(
                (400..500).contains(&r.code),
                "[{b}] {name}: {} {}",
                r.code,
                r.text()
            );
            let issue = r.json()["issue"][0]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            r.outcome(r.code, &issue);
        }
        for (name, bad) in &bad_entries {
            // In a transaction the whole Bundle fails and names the entry.
            let good = entry(
                "POST",
                "Practitioner",
                None,
                Some(practitioner(None, "GarbageSide")),
            );
            let r = post_bundle(&app, &tx(vec![good.clone(), bad.clone()])).await;
            assert!(
                (400..500).contains(&r.code),
                "[{b}] {name}: {} {}",
                r.code,
                r.text()
            );
            let issue = r.json()["issue"][0]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let diag = r.outcome(r.code, &issue);
            assert!(
                diag.contains("entry 1"),
                "[{b}] {name}: the entry is not named: {diag}"
            );
            // In a batch only that entry fails.
            let r = post_bundle(&app, &bundle("batch", vec![bad.clone(), good]))
                .await
                .status(200);
            let es = response_entries(&r, "batch-response", 2);
            let status = es[0]["response"]["status"].as_str().unwrap_or_default();
            assert!(status.starts_with('4'), "[{b}] batch {name}: {}", es[0]);
            assert_eq!(
                es[0]["response"]["outcome"]["resourceType"], "OperationOutcome",
                "[{b}] {name}"
            );
            assert!(es[1]["response"]["status"]
                .as_str()
                .unwrap_or_default()
                .starts_with("201"));
        }
        assert_eq!(
            count(&app, "Practitioner?family=GarbageSide").await,
            bad_entries.len() as u64,
            "[{b}] only the batches' good entries are stored"
        );
        let (v, _) = read(&app, "Practitioner/a").await;
        assert_eq!(v, 1, "[{b}]");
    }
}

#[tokio::test]
async fn a_failing_get_entry_does_not_misreport_a_committed_transaction() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::default()).await;
        let b = app.backend;
        let r = post_bundle(
            &app,
            &tx(vec![
                entry(
                    "POST",
                    "Practitioner",
                    None,
                    Some(practitioner(None, "ReadFails")),
                ),
                entry("GET", "Practitioner/does-not-exist", None, None),
                entry(
                    "GET",
                    "Practitioner?unknown-parameter=1&_count=nope",
                    None,
                    None,
                ),
            ]),
        )
        .await;
        let stored = count(&app, "Practitioner?family=ReadFails").await;
        // Either the transaction failed and stored nothing, or it succeeded and the GETs
        // carry their own statuses; never an error answer over committed writes.
        if r.code == 200 {
            let es = response_entries(&r, "transaction-response", 3);
            assert_eq!(stored, 1, "[{b}] 200 but nothing stored");
            assert!(es[0]["response"]["status"]
                .as_str()
                .unwrap_or_default()
                .starts_with("201"));
            assert!(
                es[1]["response"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("404"),
                "[{b}] {}",
                es[1]
            );
            assert_eq!(
                es[1]["response"]["outcome"]["resourceType"],
                "OperationOutcome"
            );
            assert!(
                es[2]["response"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with('4'),
                "[{b}] {}",
                es[2]
            );
        } else {
            assert_eq!(
                stored,
                0,
                "[{b}] the transaction answered {} but its writes were committed: {}",
                r.code,
                r.text()
            );
        }
    }
}

#[tokio::test]
async fn transaction_rewrites_full_urls_in_uri_elements_and_narrative_links() {
    // http.html#trules: "Servers SHALL replace all matching links in the bundle, whether
    // they are found in the resource ids, resource references, elements of type uri, url,
    // oid, uuid, and <a href="" & <img src="" in the narrative."
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::default()).await;
        let b = app.backend;
        let org_url = "urn:uuid:7f000000-0000-4000-8000-0000000000aa";
        let photo_url = "urn:oid:1.2.3.4.5.6";
        let practitioner_with_links = json!({
            "resourceType": "Practitioner",
            "text": {"status": "generated", "div": format!(
                "<div xmlns=\"http://www.w3.org/1999/xhtml\">Works at <a href=\"{org_url}\">Acme</a> \
                 <img src='{photo_url}'/> <a href=\"urn:uuid:7f000000-0000-4000-8000-0000000000ff\">kept</a></div>")},
            "identifier": [{"system": "urn:ietf:rfc:3986", "value": org_url}],
            "photo": [{"contentType": "image/png", "url": photo_url}],
            "extension": [
                {"url": "http://example.org/uri", "valueUri": org_url},
                {"url": "http://example.org/url", "valueUrl": photo_url},
                {"url": "http://example.org/string", "valueString": org_url}
            ],
            "name": [{"family": "Links"}]
        });
        let bundle = tx(vec![
            entry("POST", "Practitioner", None, Some(practitioner_with_links)),
            entry(
                "POST",
                "Organization",
                Some(org_url),
                Some(org("1212121212", "Linked")),
            ),
            entry(
                "POST",
                "Binary",
                Some(photo_url),
                Some(json!({"resourceType": "Binary", "contentType": "image/png", "data": "AAAA"})),
            ),
        ]);
        let r = post_bundle(&app, &bundle).await.status(200);
        let es = response_entries(&r, "transaction-response", 3);
        let org_ref = type_id(b, &es[1]["response"]["location"]);
        let photo_ref = type_id(b, &es[2]["response"]["location"]);
        let (_, stored) = read(&app, &type_id(b, &es[0]["response"]["location"])).await;
        let div = stored["text"]["div"].as_str().unwrap_or_default();
        assert!(
            div.contains(&format!("href=\"{org_ref}\"")),
            "[{b}] narrative a href: {div}"
        );
        assert!(
            div.contains(&format!("src='{photo_ref}'")),
            "[{b}] narrative img src: {div}"
        );
        assert!(
            div.contains("href=\"urn:uuid:7f000000-0000-4000-8000-0000000000ff\""),
            "[{b}] a link to no entry must stay: {div}"
        );
        assert_eq!(
            stored["photo"][0]["url"], photo_ref,
            "[{b}] Attachment.url (url)"
        );
        assert_eq!(
            stored["extension"][0]["valueUri"], org_ref,
            "[{b}] valueUri"
        );
        assert_eq!(
            stored["extension"][1]["valueUrl"], photo_ref,
            "[{b}] valueUrl"
        );
        // Strings are not links: an identifier or a valueString keeps its text.
        assert_eq!(
            stored["identifier"][0]["value"], org_url,
            "[{b}] Identifier.value is a string"
        );
        assert_eq!(
            stored["extension"][2]["valueString"], org_url,
            "[{b}] valueString"
        );
    }
}
