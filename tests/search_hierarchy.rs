//! Black-box token `:above` / `:below` over HTTP, per backend: a tenant stores a CodeSystem
//! with a small NUCC-like hierarchy (Internal Medicine > Cardiovascular Disease >
//! Interventional Cardiology) and PractitionerRoles with those specialties; searches return
//! exactly the descendants or ancestors, also combined with other criteria and paged, and a
//! system or code the tenant holds no hierarchy for is a 400 OperationOutcome that names it,
//! in lenient handling too (<https://hl7.org/fhir/R4/search.html#token>).

mod common;

use reqwest::Method;
use serde_json::{json, Value};
use server::ServerConfig;

use common::{entries, link, spawn_app, test_databases, TestApp};

/// `PUT` of `resource` at its own id; 200 or 201.
async fn put(app: &TestApp, resource: Value) {
    app.put_resource(&resource).await;
}

const NUCC: &str = "http://nucc.org/provider-taxonomy";

/// `|` percent-encoded, as a client sends it.
fn enc(query: &str) -> String {
    query.replace('|', "%7C")
}

fn ids_of(bundle: &Value) -> Vec<String> {
    entries(bundle)
        .iter()
        .filter(|e| e["search"]["mode"] == "match")
        .map(|e| e["resource"]["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Follows `next` links from the first page; returns every page's match ids in order and
/// checks `total` on each page that has one (against `total`, or the matches of a single page).
async fn search_all(app: &TestApp, query: &str, total: Option<usize>) -> Vec<Vec<String>> {
    let mut path = format!("/fhir/default/PractitionerRole?{}", enc(query));
    let mut pages = Vec::new();
    for _ in 0..10 {
        let resp = app.get(&path).await.status(200);
        resp.assert_fhir_json();
        let bundle = resp.json();
        assert_eq!(bundle["type"], "searchset", "[{}] {path}", app.backend);
        if let Some(t) = bundle["total"].as_u64() {
            assert_eq!(
                usize::try_from(t).ok(),
                Some(total.unwrap_or(ids_of(&bundle).len())),
                "[{}] {path}: total",
                app.backend
            );
        }
        pages.push(ids_of(&bundle));
        match link(&bundle, "next") {
            Some(next) => path = next,
            None => return pages,
        }
    }
    panic!("[{}] {query}: more than 10 pages", app.backend);
}

async fn ids(app: &TestApp, query: &str) -> Vec<String> {
    let mut out: Vec<String> = search_all(app, query, None).await.concat();
    out.sort();
    out
}

async fn tenant_with_taxonomy(app: &TestApp) {
    put(
        app,
        json!({"resourceType": "CodeSystem", "id": "nucc", "url": NUCC, "version": "24.0",
        "status": "active", "content": "fragment", "hierarchyMeaning": "is-a",
        "concept": [
            {"code": "207R00000X", "display": "Internal Medicine", "concept": [
                {"code": "207RC0000X", "display": "Cardiovascular Disease", "concept": [
                    {"code": "207RI0011X", "display": "Interventional Cardiology"}]}]},
            {"code": "207Q00000X", "display": "Family Medicine"}]}),
    )
    .await;
    for (id, code, active) in [
        ("internal", "207R00000X", true),
        ("cardio", "207RC0000X", true),
        ("interventional", "207RI0011X", false),
        ("family", "207Q00000X", true),
    ] {
        put(
            app,
            json!({"resourceType": "PractitionerRole", "id": id, "active": active,
            "specialty": [{"coding": [{"system": NUCC, "code": code}]}]}),
        )
        .await;
    }
    // The same code in another system is not under the NUCC hierarchy.
    put(
        app,
        json!({"resourceType": "PractitionerRole", "id": "local", "active": true,
        "specialty": [{"coding": [{"system": "http://ex.org/local", "code": "207RC0000X"}]}]}),
    )
    .await;
}

#[tokio::test]
async fn below_and_above_return_exactly_the_descendants_and_ancestors() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        tenant_with_taxonomy(&app).await;
        let cases: [(String, &[&str]); 7] = [
            (
                format!("specialty:below={NUCC}|207R00000X"),
                &["cardio", "internal", "interventional"],
            ),
            (
                format!("specialty:below={NUCC}|207RC0000X"),
                &["cardio", "interventional"],
            ),
            (
                format!("specialty:above={NUCC}|207RI0011X"),
                &["cardio", "internal", "interventional"],
            ),
            (format!("specialty:above={NUCC}|207R00000X"), &["internal"]),
            (
                format!("specialty:below={NUCC}|207R00000X&active=true"),
                &["cardio", "internal"],
            ),
            (
                format!("specialty:below={NUCC}|207RC0000X,{NUCC}|207Q00000X"),
                &["cardio", "family", "interventional"],
            ),
            // The plain token search is unchanged: the code alone.
            (format!("specialty={NUCC}|207R00000X"), &["internal"]),
        ];
        for (query, want) in cases {
            assert_eq!(ids(&app, &query).await, want, "[{}] {query}", app.backend);
        }
    }
}

#[tokio::test]
async fn below_pages_with_count_and_counts_every_match() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        tenant_with_taxonomy(&app).await;
        let pages = search_all(
            &app,
            &format!("specialty:below={NUCC}|207R00000X&_count=2&_sort=_id&_total=accurate"),
            Some(3),
        )
        .await;
        assert_eq!(
            pages,
            [vec!["cardio", "internal"], vec!["interventional"]],
            "[{}]",
            app.backend
        );
    }
}

#[tokio::test]
async fn no_hierarchy_to_search_is_a_400_that_names_the_system_and_code() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        tenant_with_taxonomy(&app).await;
        let cases: [(&str, &str, &[&str]); 4] = [
            (
                "specialty:below=http://ex.org/nosuch|207R00000X",
                "not-supported",
                &["http://ex.org/nosuch|207R00000X", "no CodeSystem"],
            ),
            (
                "specialty:above=http://nucc.org/provider-taxonomy|999",
                "not-supported",
                &["provider-taxonomy|999", "not defined"],
            ),
            // Without a system there is no hierarchy to pick.
            ("specialty:below=207R00000X", "invalid", &["system|code"]),
            ("specialty:above=|207R00000X", "invalid", &["system|code"]),
        ];
        for (query, issue, says) in cases {
            for prefer in ["handling=strict", "handling=lenient"] {
                let path = format!("/fhir/default/PractitionerRole?{}", enc(query));
                let req = app.request(Method::GET, &path).header("Prefer", prefer);
                let diag = app.send(req).await.outcome(400, issue);
                for s in says {
                    assert!(
                        diag.contains(s),
                        "[{}] {path} ({prefer}): {diag:?} lacks {s:?}",
                        app.backend
                    );
                }
            }
        }
    }
}
