//! Batch and transaction Bundles over HTTP (<https://hl7.org/fhir/R4/http.html#transaction>):
//! atomicity, processing order, `fullUrl` and conditional reference rewriting, conditional
//! entries, the response Bundle's shape, limits, and garbage; once per backend. Every check
//! reads the resulting state back over HTTP (reads, `_history`, searches).

mod common;
#[path = "bundles/conditional.rs"]
mod conditional;
#[path = "bundles/references.rs"]
mod references;
#[path = "bundles/responses.rs"]
mod responses;

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
/// (in its diagnostic, and as the issue's location `Bundle.entry[index]`) and, when given,
/// its fullUrl.
#[track_caller]
fn assert_names_entry(r: &Resp, code: u16, issue: &str, index: usize, full_url: Option<&str>) {
    let diag = r.outcome(code, issue);
    assert!(
        diag.contains(&format!("entry {index}")),
        "{}: the diagnostic does not name entry {index}: {diag}",
        r.what
    );
    assert_eq!(
        r.json()["issue"][0]["expression"][0],
        format!("Bundle.entry[{index}]"),
        "{}: the issue is not located at its entry",
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
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
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
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
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
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
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
async fn a_failing_get_entry_does_not_misreport_a_committed_transaction() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
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
async fn absolute_urls_head_entries_and_an_empty_transaction_are_accepted() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        let r = post_bundle(&app, &tx(vec![])).await.status(200);
        response_entries(&r, "transaction-response", 0);
        let base = format!("{}/fhir/default", app.base);
        let r = post_bundle(
            &app,
            &tx(vec![
                entry(
                    "PUT",
                    &format!("{base}/Practitioner/abs"),
                    Some(&format!("{base}/Practitioner/abs")),
                    Some(practitioner(Some("abs"), "Absolute")),
                ),
                entry("HEAD", &format!("{base}/Practitioner/abs"), None, None),
                entry(
                    "GET",
                    &format!("{base}/Practitioner?family=Absolute"),
                    None,
                    None,
                ),
            ]),
        )
        .await
        .status(200);
        let es = response_entries(&r, "transaction-response", 3);
        assert_eq!(
            es[0]["response"]["location"],
            format!("{base}/Practitioner/abs/_history/1"),
            "[{b}]"
        );
        let head = &es[1];
        assert!(
            head["response"]["status"]
                .as_str()
                .unwrap_or_default()
                .starts_with("200"),
            "[{b}] {head}"
        );
        assert!(
            head.get("resource").is_none(),
            "[{b}] HEAD with a body: {head}"
        );
        assert_eq!(head["response"]["etag"], "W/\"1\"", "[{b}] {head}");
        assert_eq!(es[2]["resource"]["total"], 1, "[{b}] {}", es[2]);
        assert_eq!(read(&app, "Practitioner/abs").await.0, 1, "[{b}]");
    }
}
