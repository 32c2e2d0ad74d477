//! Harvesting other directories (`/admin/tenants/{t}/sources`), black-box, once per backend:
//! a fhirdir tenant as a payer's Plan-Net API and a fake payer serving each real-world quirk
//! (429 with `Retry-After`, transient 5xx, duplicate ids across pages, endless `next` loops,
//! a 50 MB page, garbage, a `next` link to another origin), both on loopback. Every resource
//! arrives once under a source-prefixed id with its references rewritten; dangling
//! references are listed; a full pass after changes at the source applies exactly its
//! creates, updates and deletes; two sources with the same ids do not collide; a pass whose
//! server stopped is resumed by another; the admin API refuses strangers and bad settings.

mod common;

#[path = "auth/support.rs"]
#[allow(dead_code, reason = "shared with the authorization tests")]
mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use reqwest::Method;
use serde_json::{json, Value};
use server::ServerConfig;

use common::{entries, spawn_app, spawn_app_state, test_databases, TestApp};
use support::{admin, create_tenant, ADMIN};

const TENANT: &str = "default";

fn config() -> ServerConfig {
    ServerConfig {
        admin_token: Some(ADMIN.into()),
        outbound_allow: vec!["127.0.0.1".into()],
        ..ServerConfig::auth_off()
    }
}

fn sources(name: &str) -> String {
    format!("/admin/tenants/{TENANT}/sources/{name}")
}

async fn put_source(app: &TestApp, name: &str, body: Value) -> Value {
    admin(app, Method::PUT, &sources(name), Some(body))
        .await
        .status(200)
        .json()
}

async fn source(app: &TestApp, name: &str) -> Value {
    admin(app, Method::GET, &sources(name), None)
        .await
        .status(200)
        .json()
}

/// Starts a pass (`full` or not) and waits for it to end; answers the source's state.
async fn pass(app: &TestApp, name: &str, full: bool) -> Value {
    let body = json!({ "full": full });
    let started = admin(
        app,
        Method::POST,
        &format!("{}/$run", sources(name)),
        Some(body),
    )
    .await
    .status(202)
    .json();
    let job = started["last_run"]["job"].as_str().unwrap().to_owned();
    finished(app, name, &job).await
}

/// Waits until pass `job` of `name` has ended.
async fn finished(app: &TestApp, name: &str, job: &str) -> Value {
    let t0 = Instant::now();
    loop {
        let s = source(app, name).await;
        let run = &s["last_run"];
        if run["job"] == job && (run["status"] == "ok" || run["status"] == "error") {
            return s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "[{}] pass {job} of {name} did not end: {s}",
            app.backend
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn counts(s: &Value) -> [u64; 5] {
    let c = &s["counts"];
    ["seen", "created", "updated", "deleted", "unchanged"].map(|k| c[k].as_u64().unwrap())
}

/// The ids of every `rtype` in `tenant` (all pages).
async fn ids(app: &TestApp, tenant: &str, rtype: &str) -> Vec<String> {
    let body = app
        .get(&format!("/fhir/{tenant}/{rtype}?_count=1000&_elements=id"))
        .await
        .status(200)
        .json();
    let mut out: Vec<String> = entries(&body)
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

/// A small Plan-Net-shaped payer: practitioners, an organization, locations and roles (one
/// of them citing a Location the payer never serves).
async fn load_payer(app: &TestApp, tenant: &str, n: usize) {
    let put = |r: Value| async move {
        let path = format!(
            "/fhir/{tenant}/{}/{}",
            r["resourceType"].as_str().unwrap(),
            r["id"].as_str().unwrap()
        );
        let resp = app.put(&path, &r).await;
        assert!(resp.code == 200 || resp.code == 201, "{}", resp.text());
    };
    put(json!({"resourceType": "Organization", "id": "net", "name": "Acme Network",
               "type": [{"coding": [{"system": "http://hl7.org/fhir/us/davinci-pdex-plan-net/CodeSystem/OrgTypeCS", "code": "ntwk"}]}]}))
    .await;
    put(json!({"resourceType": "Location", "id": "loc", "name": "Main St clinic"})).await;
    for i in 0..n {
        put(
            json!({"resourceType": "Practitioner", "id": format!("p{i}"), "active": true,
                   "name": [{"family": format!("Family{i}")}]}),
        )
        .await;
        let location = if i == 0 {
            "Location/never-served"
        } else {
            "Location/loc"
        };
        put(
            json!({"resourceType": "PractitionerRole", "id": format!("r{i}"), "active": true,
                   "practitioner": {"reference": format!("Practitioner/p{i}")},
                   "organization": {"reference": "Organization/net"},
                   "network": [{"reference": "Organization/net"}],
                   "location": [{"reference": location}]}),
        )
        .await;
    }
}

fn payer_source(app: &TestApp, tenant: &str) -> Value {
    json!({
        "url": format!("{}/fhir/{tenant}", app.base),
        "kind": "harvest",
        "types": ["Organization", "Location", "Practitioner", "PractitionerRole"],
        "page_size": 7,
    })
}

#[tokio::test]
async fn a_payer_api_is_harvested_once_then_a_full_pass_applies_exactly_its_changes() {
    for db in test_databases().await {
        let app = spawn_app(&db, config()).await;
        let b = app.backend;
        create_tenant(&app, "payer").await;
        create_tenant(&app, "payer2").await;
        load_payer(&app, "payer", 20).await;
        load_payer(&app, "payer2", 3).await;
        put_source(&app, "acme", payer_source(&app, "payer")).await;

        let s = pass(&app, "acme", false).await;
        assert_eq!(s["last_run"]["status"], "ok", "[{b}] {s}");
        assert_eq!(s["last_run"]["full"], true, "[{b}] the first pass is full");
        // 1 organization, 1 location, 20 practitioners, 20 roles.
        assert_eq!(counts(&s), [42, 42, 0, 0, 0], "[{b}] {s}");
        assert_eq!(
            s["dangling"],
            json!(["Location/acme-never-served"]),
            "[{b}] {s}"
        );
        assert!(s["lag_seconds"].as_f64().unwrap() < 60.0, "[{b}] {s}");
        let practitioners = ids(&app, TENANT, "Practitioner").await;
        assert_eq!(practitioners.len(), 20, "[{b}] every resource once");
        assert!(
            practitioners.iter().all(|id| id.starts_with("acme-p")),
            "[{b}] {practitioners:?}"
        );
        let role = app
            .get(&format!("/fhir/{TENANT}/PractitionerRole/acme-r3"))
            .await
            .status(200)
            .json();
        assert_eq!(
            role["practitioner"]["reference"], "Practitioner/acme-p3",
            "[{b}]"
        );
        assert_eq!(
            role["network"][0]["reference"], "Organization/acme-net",
            "[{b}]"
        );
        assert_eq!(
            role["meta"]["source"],
            format!("{}/fhir/payer/PractitionerRole/r3", app.base),
            "[{b}] the original is recorded"
        );
        // References resolve: a chained search through the rewritten reference finds it.
        let chained = app
            .get(&format!(
                "/fhir/{TENANT}/PractitionerRole?practitioner.family=Family3"
            ))
            .await
            .status(200)
            .json();
        assert_eq!(entries(&chained).len(), 1, "[{b}] {chained}");

        // The source changes: one created, one updated, one deleted.
        app.put(
            "/fhir/payer/Practitioner/p100",
            &json!({"resourceType": "Practitioner", "id": "p100", "name": [{"family": "New"}]}),
        )
        .await
        .status(201);
        app.put(
            "/fhir/payer/Practitioner/p1",
            &json!({"resourceType": "Practitioner", "id": "p1", "name": [{"family": "Renamed"}]}),
        )
        .await
        .status(200);
        app.delete("/fhir/payer/Practitioner/p2").await;
        let before = app
            .instance_versions(TENANT, "Practitioner", "acme-p5")
            .await;
        let s = pass(&app, "acme", true).await;
        assert_eq!(s["last_run"]["status"], "ok", "[{b}] {s}");
        assert_eq!(
            counts(&s),
            [42, 1, 1, 1, 40],
            "[{b}] exactly the changes: {s}"
        );
        let renamed = app
            .get(&format!("/fhir/{TENANT}/Practitioner/acme-p1"))
            .await
            .status(200)
            .json();
        assert_eq!(renamed["name"][0]["family"], "Renamed", "[{b}]");
        app.get(&format!("/fhir/{TENANT}/Practitioner/acme-p2"))
            .await
            .outcome(410, "deleted");
        app.get(&format!("/fhir/{TENANT}/Practitioner/acme-p100"))
            .await
            .status(200);
        assert_eq!(
            app.instance_versions(TENANT, "Practitioner", "acme-p5")
                .await,
            before,
            "[{b}] an unchanged resource gets no new version"
        );

        // An incremental pass asks the source only for what changed (fhirdir offers
        // `_lastUpdated`), finds no deletions and changes nothing.
        let s = pass(&app, "acme", false).await;
        assert_eq!(s["last_run"]["full"], false, "[{b}] {s}");
        let [_, created, updated, deleted, _] = counts(&s);
        assert_eq!([created, updated, deleted], [0, 0, 0], "[{b}] {s}");

        // A second source with the same ids does not collide with the first.
        // (Its rate limit, 2 requests a second, spaces its 4 pages by half a second.)
        let mut other = payer_source(&app, "payer2");
        other["rate_limit"] = json!(2);
        put_source(&app, "other", other).await;
        let t0 = Instant::now();
        let s2 = pass(&app, "other", false).await;
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(1400),
            "[{b}] rate limit ignored: {took:?}"
        );
        assert_eq!(counts(&s2), [8, 8, 0, 0, 0], "[{b}] {s2}");
        let all = ids(&app, TENANT, "Practitioner").await;
        assert!(
            all.contains(&"acme-p0".to_owned()) && all.contains(&"other-p0".to_owned()),
            "[{b}] {all:?}"
        );
        assert_eq!(all.len(), 20 + 3, "[{b}] {all:?}");
        // The sources list shows both.
        let list = admin(
            &app,
            Method::GET,
            &format!("/admin/tenants/{TENANT}/sources"),
            None,
        )
        .await
        .status(200)
        .json();
        assert_eq!(list["sources"].as_array().unwrap().len(), 2, "[{b}] {list}");
    }
}

/// The fake payer's script: per path and query, what to answer the n-th time.
#[derive(Default)]
struct Fake {
    calls: HashMap<String, usize>,
    /// Every request, as `path?query`.
    log: Vec<String>,
}

type Shared = Arc<Mutex<Fake>>;

fn bundle(base: &str, resources: Vec<Value>, next: Option<&str>) -> Value {
    let mut b = json!({
        "resourceType": "Bundle", "type": "searchset",
        "entry": resources.into_iter().map(|r| json!({"resource": r, "search": {"mode": "match"}})).collect::<Vec<_>>(),
    });
    if let Some(n) = next {
        b["link"] = json!([{"relation": "next", "url": format!("{base}{n}")}]);
    }
    b
}

fn prac(id: &str) -> Value {
    json!({"resourceType": "Practitioner", "id": id, "name": [{"family": id}]})
}

async fn fake_page(
    State((shared, base)): State<(Shared, String)>,
    axum::extract::Path(rtype): axum::extract::Path<String>,
    Query(q): Query<HashMap<String, String>>,
    _headers: HeaderMap,
) -> Response {
    let page = q.get("page").cloned().unwrap_or_else(|| "1".into());
    let key = format!("{rtype}/{page}");
    let n = {
        let mut f = shared.lock().unwrap();
        f.log.push(format!(
            "{rtype}?{}",
            serde_urlencoded::to_string(&q).unwrap()
        ));
        let n = f.calls.entry(key).or_default();
        *n += 1;
        *n
    };
    let json = |v: Value| {
        (
            StatusCode::OK,
            [("content-type", "application/fhir+json")],
            v.to_string(),
        )
            .into_response()
    };
    match (rtype.as_str(), page.as_str()) {
        // 429 with Retry-After the first time, then a page with a transient 503 after it.
        ("Practitioner", "1") if n == 1 => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "2")],
            "slow down",
        )
            .into_response(),
        ("Practitioner", "1") => json(bundle(
            &base,
            vec![prac("a"), prac("b"), prac("c")],
            Some("/Practitioner?page=2"),
        )),
        ("Practitioner", "2") if n == 1 => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        // `c` again (the pages shifted), and `d`; the last page.
        ("Practitioner", "2") => json(bundle(&base, vec![prac("c"), prac("d")], None)),
        // An endless loop: 1 -> 2 -> 1.
        ("Organization", "1") => json(bundle(
            &base,
            vec![json!({"resourceType": "Organization", "id": "o1", "name": "O"})],
            Some("/Organization?page=2"),
        )),
        ("Organization", _) => json(bundle(&base, vec![], Some("/Organization?page=1"))),
        // A 50 MB page.
        ("Location", _) => {
            let big = "x".repeat(50 * 1024 * 1024);
            json(bundle(
                &base,
                vec![json!({"resourceType": "Location", "id": "l", "name": big})],
                None,
            ))
        }
        // Garbage.
        ("Endpoint", _) => (StatusCode::OK, "<html>not FHIR</html>").into_response(),
        // A next link to another origin (it would take the credentials elsewhere).
        ("HealthcareService", _) => json(bundle(
            "http://127.0.0.2:9",
            vec![json!({"resourceType": "HealthcareService", "id": "h1"})],
            Some("/HealthcareService?page=2"),
        )),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn start_fake() -> (String, Shared) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/fhir", listener.local_addr().unwrap());
    let shared: Shared = Arc::default();
    let app = axum::Router::new()
        .route("/fhir/{rtype}", axum::routing::get(fake_page))
        .with_state((shared.clone(), base.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, shared)
}

#[tokio::test]
async fn a_payer_with_every_quirk_is_survived_and_each_fault_is_recorded() {
    for db in test_databases().await {
        let app = spawn_app(&db, config()).await;
        let b = app.backend;
        let (base, fake) = start_fake().await;
        put_source(
            &app,
            "quirky",
            json!({"url": base, "kind": "harvest",
                   "types": ["Practitioner", "Organization", "Location", "Endpoint", "HealthcareService"]}),
        )
        .await;
        let t0 = Instant::now();
        let s = pass(&app, "quirky", false).await;
        let took = t0.elapsed();
        // 429 honoured: the source asked for 2 s.
        assert!(took >= Duration::from_secs(2), "[{b}] waited only {took:?}");
        assert_eq!(s["last_run"]["status"], "error", "[{b}] {s}");
        let errors = s["errors"].to_string();
        for why in [
            "Organization: the next link",
            "loops back",
            "Location: ",
            "exceeds",
            "Endpoint: the page is not a FHIR resource",
            "HealthcareService: next link",
            "leaves the source's origin",
        ] {
            assert!(errors.contains(why), "[{b}] {why:?} missing from {errors}");
        }
        // The Practitioner chain survived the 429, the 503 and the duplicate: each once.
        assert_eq!(
            ids(&app, TENANT, "Practitioner").await,
            ["quirky-a", "quirky-b", "quirky-c", "quirky-d"],
            "[{b}]"
        );
        assert_eq!(
            app.instance_versions(TENANT, "Practitioner", "quirky-c")
                .await
                .len(),
            1
        );
        // The loop's first page was applied (pages are whole), the huge page was not.
        assert_eq!(
            ids(&app, TENANT, "Organization").await,
            ["quirky-o1"],
            "[{b}]"
        );
        assert!(ids(&app, TENANT, "Location").await.is_empty(), "[{b}]");
        let log = fake.lock().unwrap().log.clone();
        assert_eq!(
            log.iter()
                .filter(|l| l.starts_with("Practitioner?") && !l.contains("page"))
                .count(),
            2,
            "[{b}] the 429'd page was asked twice: {log:?}"
        );
        // A failed pass deletes nothing, even when it was full.
        let s = pass(&app, "quirky", true).await;
        assert_eq!(counts(&s)[3], 0, "[{b}] {s}");
        assert_eq!(ids(&app, TENANT, "Practitioner").await.len(), 4, "[{b}]");
    }
}

#[tokio::test]
async fn a_pass_whose_server_stopped_is_resumed_by_another_with_the_same_result() {
    for db in test_databases().await {
        // The payer is another server on the same database, whose runner never runs.
        let (payer, payer_state) = spawn_app_state(&db, config()).await;
        payer_state.jobs.pause();
        let (first, state) = spawn_app_state(&db, config()).await;
        let b = first.backend;
        create_tenant(&payer, "payer").await;
        load_payer(&payer, "payer", 50).await;
        // Pages of one: the 50 practitioners take several steps of 10 pages (two such
        // batches a step on Postgres, one on SQLite), so the pass stops in the middle of a
        // chain.
        let mut setting = payer_source(&payer, "payer");
        setting["page_size"] = json!(1);
        put_source(&first, "acme", setting).await;
        state.jobs.set_lease(Duration::from_millis(300));
        state.jobs.pause();
        let run = admin(
            &first,
            Method::POST,
            &format!("{}/$run", sources("acme")),
            None,
        )
        .await
        .status(202)
        .json();
        let job = run["last_run"]["job"].as_str().unwrap().to_owned();
        // The first step numbers the pass; the next three read the location, the
        // organization and the first practitioners.
        state.jobs.step(4);
        let t0 = Instant::now();
        loop {
            let s = source(&first, "acme").await;
            if s["progress"]["type"] == "Practitioner" {
                let pages = s["progress"]["pages"].as_u64().unwrap();
                assert!((10..50).contains(&pages), "[{b}] stopped mid-chain: {s}");
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "[{b}] no progress: {s}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The pass stops between two steps: the four allowed have run and recorded where they
        // stand (a step whose progress is not recorded would be read again, and counted as
        // unchanged, by the pass that resumes).
        while state.jobs.steps_left() != Some(0) {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "[{b}] steps still running"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(first); // its runner stays paused: it does nothing more

        let (second, _state2) = spawn_app_state(&db, config()).await;
        let s = finished(&second, "acme", &job).await;
        assert_eq!(s["last_run"]["status"], "ok", "[{b}] {s}");
        assert_eq!(counts(&s), [102, 102, 0, 0, 0], "[{b}] {s}");
        let practitioners = ids(&second, TENANT, "Practitioner").await;
        assert_eq!(practitioners.len(), 50, "[{b}]");
        for id in ["acme-net", "acme-loc"] {
            let rtype = if id == "acme-net" {
                "Organization"
            } else {
                "Location"
            };
            assert_eq!(
                second.instance_versions(TENANT, rtype, id).await.len(),
                1,
                "[{b}] {rtype}/{id} applied once"
            );
        }
    }
}

#[tokio::test]
async fn only_the_operator_manages_sources_and_bad_settings_are_refused() {
    for db in test_databases().await {
        let app = spawn_app(&db, config()).await;
        let b = app.backend;
        let good = json!({"url": "http://127.0.0.1:9/fhir", "kind": "harvest",
                          "auth": {"token": "s3cret-token"}});
        // No admin token (401) or a wrong one (403): nothing stored.
        let resp = app
            .send(
                app.request(Method::PUT, &sources("x"))
                    .header("content-type", "application/json")
                    .body(good.to_string()),
            )
            .await;
        assert_eq!(resp.code, 401, "[{b}] {}", resp.text());
        let resp = app
            .send(app.request(Method::GET, &sources("x")).bearer_auth("wrong"))
            .await;
        assert_eq!(resp.code, 403, "[{b}] {}", resp.text());
        admin(&app, Method::GET, &sources("x"), None)
            .await
            .status(404);
        // Bad settings: each refused with what is wrong.
        for (body, why) in [
            (
                json!({"url": "http://10.1.2.3/fhir", "kind": "harvest"}),
                "outbound-allow",
            ),
            (
                json!({"url": "ftp://127.0.0.1/fhir", "kind": "harvest"}),
                "http(s)",
            ),
            (
                json!({"url": "http://127.0.0.1/fhir", "kind": "mirror"}),
                "kind",
            ),
            (
                json!({"url": "http://127.0.0.1/fhir", "kind": "harvest", "types": ["Nope"]}),
                "types",
            ),
            (
                json!({"url": "http://127.0.0.1/fhir", "kind": "harvest", "schedule": "6"}),
                "schedule",
            ),
            (
                json!({"url": "http://127.0.0.1/fhir", "kind": "harvest", "page_size": 0}),
                "page_size",
            ),
            (
                json!({"url": "http://127.0.0.1/fhir", "kind": "harvest", "auth": {"client_id": "c"}}),
                "auth",
            ),
            (
                json!({"url": "http://127.0.0.1/fhir", "kind": "harvest", "surprise": 1}),
                "unknown field",
            ),
        ] {
            let resp = admin(&app, Method::PUT, &sources("x"), Some(body.clone())).await;
            assert_eq!(resp.code, 400, "[{b}] {body}: {}", resp.text());
            assert!(resp.text().contains(why), "[{b}] {why}: {}", resp.text());
        }
        let resp = admin(&app, Method::PUT, &sources("bad_name!"), Some(good.clone())).await;
        assert_eq!(resp.code, 400, "[{b}] {}", resp.text());
        // A good one: the token is never shown back.
        let shown = put_source(&app, "x", good.clone()).await;
        assert_eq!(shown["auth"], json!({"token_set": true}), "[{b}] {shown}");
        assert!(!shown.to_string().contains("s3cret"), "[{b}] {shown}");
        assert!(
            !source(&app, "x").await.to_string().contains("s3cret"),
            "[{b}]"
        );
        // A primary source is not harvested; an unknown source is 404.
        put_source(
            &app,
            "board",
            json!({"url": "http://127.0.0.1:9/fhir", "kind": "primary-source"}),
        )
        .await;
        admin(
            &app,
            Method::POST,
            &format!("{}/$run", sources("board")),
            None,
        )
        .await
        .status(400);
        admin(
            &app,
            Method::POST,
            &format!("{}/$run", sources("nope")),
            None,
        )
        .await
        .status(404);
        admin(
            &app,
            Method::POST,
            &format!("{}/$run", sources("x")),
            Some(json!({"full": "yes"})),
        )
        .await
        .status(400);
        // Removing it: 204, then 404.
        admin(&app, Method::DELETE, &sources("x"), None)
            .await
            .status(204);
        admin(&app, Method::DELETE, &sources("x"), None)
            .await
            .status(404);
    }
}

#[tokio::test]
async fn a_source_that_wants_a_token_gets_the_configured_one_and_refuses_without() {
    for db in test_databases().await {
        let app = spawn_app(&db, config()).await;
        let b = app.backend;
        // A payer that answers only with the right bearer token.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/fhir", listener.local_addr().unwrap());
        let router = axum::Router::new().route(
            "/fhir/Practitioner",
            axum::routing::get(|headers: HeaderMap| async move {
                if headers.get("authorization").and_then(|v| v.to_str().ok())
                    != Some("Bearer payer-token")
                {
                    return (StatusCode::UNAUTHORIZED, "token needed").into_response();
                }
                let page = bundle("", vec![prac("t1")], None);
                (
                    [("content-type", "application/fhir+json")],
                    page.to_string(),
                )
                    .into_response()
            }),
        );
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let mut setting = json!({"url": base, "kind": "harvest", "types": ["Practitioner"]});
        put_source(&app, "locked", setting.clone()).await;
        let s = pass(&app, "locked", false).await;
        assert_eq!(s["last_run"]["status"], "error", "[{b}] {s}");
        assert!(s["errors"].to_string().contains("HTTP 401"), "[{b}] {s}");
        setting["auth"] = json!({"token": "payer-token"});
        put_source(&app, "locked", setting).await;
        let s = pass(&app, "locked", false).await;
        assert_eq!(s["last_run"]["status"], "ok", "[{b}] {s}");
        assert_eq!(
            ids(&app, TENANT, "Practitioner").await,
            ["locked-t1"],
            "[{b}]"
        );
    }
}

#[tokio::test]
async fn the_cli_runs_a_pass_and_a_schedule_runs_full_passes_that_mark_what_the_source_dropped() {
    for db in test_databases().await {
        let app = spawn_app(&db, config()).await;
        let b = app.backend;
        create_tenant(&app, "payer").await;
        load_payer(&app, "payer", 5).await;
        let mut setting = payer_source(&app, "payer");
        setting["page_size"] = json!(2);
        setting["on_missing"] = json!("mark");
        put_source(&app, "acme", setting.clone()).await;
        let dir = tempfile::tempdir().unwrap();
        let config_file = dir.path().join("fhirdir.toml");
        std::fs::write(&config_file, "outbound_allow = [\"127.0.0.1\"]\n").unwrap();
        let cfg = config_file.to_string_lossy();
        let run = |args: Vec<&'static str>| {
            let mut all: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
            all.extend([
                "--database".into(),
                db.url.clone(),
                "--config".into(),
                cfg.to_string(),
            ]);
            async move {
                let refs: Vec<&str> = all.iter().map(String::as_str).collect();
                common::fhirdir_cli(&refs).await
            }
        };
        let (ok, out, err) = run(vec!["harvest", "--source", "nope"]).await;
        assert!(!ok && err.contains("no source"), "[{b}] {out} {err}");
        let (ok, out, err) = run(vec!["harvest", "--source", "acme"]).await;
        assert!(ok, "[{b}] {out} {err}");
        let shown: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(shown["last_run"]["status"], "ok", "[{b}] {shown}");
        // 1 organization, 1 location, 5 practitioners, 5 roles.
        assert_eq!(counts(&shown), [12, 12, 0, 0, 0], "[{b}] {shown}");
        assert_eq!(ids(&app, TENANT, "Practitioner").await.len(), 5, "[{b}]");

        // The source drops a practitioner; a schedule of 1 s with every pass full finds it.
        app.delete("/fhir/payer/Practitioner/p2").await;
        setting["schedule"] = json!("1s");
        setting["full_every"] = json!(1);
        put_source(&app, "acme", setting).await;
        let first_job = shown["last_run"]["job"].clone();
        let t0 = Instant::now();
        let s = loop {
            let s = source(&app, "acme").await;
            if s["last_run"]["job"] != first_job && s["last_run"]["status"] == "ok" {
                break s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "[{b}] no scheduled pass: {s}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(s["last_run"]["full"], true, "[{b}] {s}");
        assert_eq!(counts(&s)[3], 1, "[{b}] one marked: {s}");
        // Marked, not deleted: still readable, and found by its tag.
        let marked = app
            .get(&format!(
                "/fhir/{TENANT}/Practitioner?_tag=urn:fhirdir:harvest|missing"
            ))
            .await
            .status(200)
            .json();
        let marked: Vec<String> = entries(&marked)
            .iter()
            .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(marked, ["acme-p2"], "[{b}]");
        // The schedule goes on: another pass follows by itself, and marks nothing twice.
        let job = s["last_run"]["job"].clone();
        let t0 = Instant::now();
        let s = loop {
            let s = source(&app, "acme").await;
            if s["last_run"]["job"] != job && s["last_run"]["status"] == "ok" {
                break s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "[{b}] no second scheduled pass: {s}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(counts(&s)[3], 0, "[{b}] {s}");
        assert_eq!(
            app.instance_versions(TENANT, "Practitioner", "acme-p2")
                .await
                .len(),
            2,
            "[{b}] marked once"
        );
    }
}
