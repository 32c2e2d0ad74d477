//! Search parameters added at run time, and `$reindex`, through the HTTP API, on every
//! backend:
//! - a tenant's own `POST SearchParameter` extends that tenant's search, `/metadata` and
//!   indexing, and no other tenant's;
//! - until its reindex finishes, a search on it answers with a warning (`search.mode =
//!   outcome`); afterwards the results are exact and the warning is gone;
//! - invalid SearchParameters are refused with an OperationOutcome;
//! - `$reindex` runs as an asynchronous job with a status URL that reports progress;
//! - `profiles/` (a `.tgz` FHIR package built here) extends every tenant, and a server
//!   started with a changed profile reindexes existing resources by itself;
//! - `fhirdir serve --profiles` with a broken file fails at start, naming the file.
//!
//! The background jobs runner is driven deterministically: tests pause it
//! (`Jobs::pause`), let it run single batches (`step`), or resume it.

mod common;

use std::time::Duration;

use common::{fhir_body, raw_client, Resp};
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};
use server::{AppState, ServerConfig};
use testkit::TestDb;
use tokio::sync::oneshot;

/// An in-process server whose state the test keeps (to drive the reindex runner).
struct Server {
    base: String,
    client: reqwest::Client,
    backend: &'static str,
    state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn start(db: &TestDb, profiles: Vec<conformance::SearchParamDef>) -> Server {
    let store = store::Store::connect(&db.url, &store::StoreOptions::default())
        .await
        .unwrap_or_else(|e| panic!("[{}] connecting: {e}", db.backend));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    let state = server::app_state_with(
        store,
        ServerConfig::auth_off(),
        addr,
        profiles,
        Default::default(),
    );
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(server::serve_state(listener, state.clone(), async move {
        let _ = rx.await;
    }));
    Server {
        base: format!("http://{addr}"),
        client: raw_client(),
        backend: db.backend,
        state,
        shutdown: Some(tx),
    }
}

impl Server {
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        self.client.request(method, url)
    }

    async fn send(&self, req: RequestBuilder) -> Resp {
        let req = req.build().expect("request");
        let what = format!("[{}] {} {}", self.backend, req.method(), req.url());
        let resp = self
            .client
            .execute(req)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let r = Resp::read(what, resp).await;
        assert_ne!(r.code, 500, "{}: {}", r.what, r.text());
        r
    }

    async fn get(&self, path: &str) -> Resp {
        self.send(self.request(Method::GET, path)).await
    }

    async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(fhir_body(self.request(Method::POST, path), body))
            .await
    }

    async fn put(&self, path: &str, body: &Value) -> Resp {
        self.send(fhir_body(self.request(Method::PUT, path), body))
            .await
    }

    async fn create(&self, tenant: &str, body: &Value) -> String {
        let rtype = body["resourceType"].as_str().expect("resourceType");
        let r = self
            .post(&format!("/fhir/{tenant}/{rtype}"), body)
            .await
            .status(201);
        r.json()["id"].as_str().expect("id").to_owned()
    }

    async fn create_tenant(&self, name: &str) {
        let tenant = store::TenantName::parse(name).expect("tenant name");
        self.state
            .store
            .create_tenant(&tenant)
            .await
            .expect("create tenant");
    }

    /// A search's match ids (sorted) and the diagnostics of its outcome entry's issues.
    async fn search(&self, path: &str) -> (Vec<String>, Vec<String>) {
        let bundle = self.get(path).await.status(200).json();
        let mut ids = Vec::new();
        let mut issues = Vec::new();
        for e in bundle["entry"].as_array().into_iter().flatten() {
            match e["search"]["mode"].as_str() {
                Some("match") => ids.push(e["resource"]["id"].as_str().expect("id").to_owned()),
                Some("outcome") => {
                    for i in e["resource"]["issue"].as_array().into_iter().flatten() {
                        issues.push(format!(
                            "{} {}: {}",
                            i["severity"].as_str().unwrap_or_default(),
                            i["code"].as_str().unwrap_or_default(),
                            i["diagnostics"].as_str().unwrap_or_default()
                        ));
                    }
                }
                _ => {}
            }
        }
        ids.sort();
        (ids, issues)
    }

    /// The tenant's reindex jobs as (id, status, processed, total).
    async fn jobs(&self, tenant: &str) -> Vec<(String, String, i64, i64)> {
        let p = self
            .get(&format!("/fhir/{tenant}/$reindex"))
            .await
            .status(200)
            .json();
        p["parameter"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|job| {
                let parts = &job["part"];
                (
                    part(parts, "jobId")["valueString"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    part(parts, "status")["valueCode"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    part(parts, "processed")["valueInteger"]
                        .as_i64()
                        .unwrap_or(-1),
                    part(parts, "total")["valueInteger"].as_i64().unwrap_or(-1),
                )
            })
            .collect()
    }

    /// Polls a job's status URL until it has ended; returns the final Parameters.
    async fn wait_for_job(&self, status_url: &str) -> Value {
        for _ in 0..600 {
            let r = self.get(status_url).await;
            if r.code == 200 {
                return r.json();
            }
            r.status(202);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("[{}] {status_url} never finished", self.backend);
    }

    /// Waits until every job of `tenant` has ended.
    async fn wait_for_all_jobs(&self, tenant: &str) {
        for _ in 0..600 {
            let jobs = self.jobs(tenant).await;
            if jobs.iter().all(|j| j.1 != "queued" && j.1 != "running") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("[{}] the jobs of {tenant} never finished", self.backend);
    }

    /// The search parameter codes `/metadata` lists for `rtype`.
    async fn capability_codes(&self, tenant: &str, rtype: &str) -> Vec<String> {
        let cs = self
            .get(&format!("/fhir/{tenant}/metadata"))
            .await
            .status(200)
            .json();
        let resources = cs["rest"][0]["resource"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        resources
            .iter()
            .find(|r| r["type"] == rtype)
            .and_then(|r| r["searchParam"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect()
    }
}

/// The named part (or parameter) of a Parameters array.
fn part<'a>(parts: &'a Value, name: &str) -> &'a Value {
    parts
        .as_array()
        .and_then(|a| a.iter().find(|p| p["name"] == name))
        .unwrap_or(&Value::Null)
}

fn param_value(params: &Value, name: &str, key: &str) -> Value {
    part(&params["parameter"], name)[key].clone()
}

fn alias_param() -> Value {
    json!({
        "resourceType": "SearchParameter",
        "url": "http://example.org/fhir/SearchParameter/organization-alias",
        "name": "OrganizationAlias",
        "status": "active",
        "description": "An alias of the organization",
        "code": "alias",
        "base": ["Organization"],
        "type": "string",
        "expression": "Organization.alias"
    })
}

fn org(name: &str, aliases: &[&str]) -> Value {
    json!({"resourceType": "Organization", "name": name, "alias": aliases})
}

#[tokio::test]
async fn a_tenant_search_parameter_warns_until_reindexed_then_answers_exactly() {
    for db in testkit::test_databases().await {
        let app = start(&db, Vec::new()).await;
        let b = app.backend;
        app.create_tenant("other").await;
        let north = app.create("default", &org("North", &["Acme North"])).await;
        let south = app.create("default", &org("South", &["Acme South"])).await;
        app.create("default", &org("Zeta", &["Zeta Care"])).await;
        app.create("default", &org("Plain", &[])).await;
        app.create("other", &org("Other", &["Acme Other"])).await;

        // Before: `alias` is not an Organization parameter anywhere.
        let (_, issues) = app.search("/fhir/default/Organization?alias=acme").await;
        assert!(
            issues.iter().any(|i| i.contains("\"alias\" was ignored")),
            "[{b}] {issues:?}"
        );

        app.state.jobs.pause();
        let sp = app
            .post("/fhir/default/SearchParameter", &alias_param())
            .await
            .status(201);
        assert_eq!(sp.json()["code"], "alias", "[{b}]");

        // The job is queued and waits; searches on `alias` say the results may be partial.
        let jobs = app.jobs("default").await;
        assert_eq!(jobs.len(), 1, "[{b}] {jobs:?}");
        let (job, state, processed, total) = jobs[0].clone();
        assert_eq!(
            (state.as_str(), processed, total),
            ("queued", 0, 4),
            "[{b}] {jobs:?}"
        );
        let status_url = format!("/fhir/default/$reindex/{job}");
        let status = app.get(&status_url).await.status(202);
        assert!(
            status.must_header("x-progress").contains("0 of 4"),
            "[{b}] {:?}",
            status.header("x-progress")
        );
        let params = status.json();
        assert_eq!(params["resourceType"], "Parameters", "[{b}]");
        assert_eq!(
            param_value(&params, "searchParameter", "valueUri"),
            "http://example.org/fhir/SearchParameter/organization-alias",
            "[{b}] {params}"
        );
        assert_eq!(
            param_value(&params, "resourceType", "valueCode"),
            "Organization",
            "[{b}] {params}"
        );

        // A resource written now is indexed with the new parameter at once.
        let east = app.create("default", &org("East", &["Acme East"])).await;
        let (ids, issues) = app.search("/fhir/default/Organization?alias=acme").await;
        assert_eq!(
            ids,
            vec![east.clone()],
            "[{b}] only the new one is indexed yet"
        );
        assert_eq!(issues.len(), 1, "[{b}] {issues:?}");
        assert!(
            issues[0].starts_with("warning incomplete:")
                && issues[0].contains("\"alias\"")
                && issues[0].contains(&job),
            "[{b}] {issues:?}"
        );
        // ... also in a chain-free _summary=count, and not on other parameters.
        let count = app
            .get("/fhir/default/Organization?alias=acme&_summary=count")
            .await
            .status(200)
            .json();
        assert_eq!(
            count["entry"][0]["search"]["mode"], "outcome",
            "[{b}] {count}"
        );
        let (_, issues) = app.search("/fhir/default/Organization?name=north").await;
        assert!(issues.is_empty(), "[{b}] {issues:?}");

        // /metadata of this tenant lists it; the other tenant knows nothing of it.
        assert!(
            app.capability_codes("default", "Organization")
                .await
                .contains(&"alias".to_owned()),
            "[{b}]"
        );
        assert!(
            !app.capability_codes("other", "Organization")
                .await
                .contains(&"alias".to_owned()),
            "[{b}]"
        );
        let (ids, issues) = app.search("/fhir/other/Organization?alias=acme").await;
        assert!(
            issues.iter().any(|i| i.contains("\"alias\" was ignored")),
            "[{b}] {issues:?}"
        );
        assert_eq!(ids.len(), 1, "[{b}] an ignored parameter filters nothing");
        assert!(app.jobs("other").await.is_empty(), "[{b}]");
        let strict = app
            .send(
                app.request(Method::GET, "/fhir/other/Organization?alias=acme")
                    .header("prefer", "handling=strict"),
            )
            .await;
        assert_eq!(strict.code, 400, "[{b}] {}", strict.text());

        // After the job: exact results, no warning.
        app.state.jobs.resume();
        let done = app.wait_for_job(&status_url).await;
        assert_eq!(
            param_value(&done, "status", "valueCode"),
            "completed",
            "[{b}] {done}"
        );
        assert_eq!(
            param_value(&done, "processed", "valueInteger"),
            param_value(&done, "total", "valueInteger"),
            "[{b}] {done}"
        );
        let (ids, issues) = app.search("/fhir/default/Organization?alias=acme").await;
        let mut want = vec![north.clone(), south.clone(), east.clone()];
        want.sort();
        assert_eq!(ids, want, "[{b}]");
        assert!(issues.is_empty(), "[{b}] {issues:?}");
        let (ids, _) = app
            .search("/fhir/default/Organization?alias:exact=Acme%20North")
            .await;
        assert_eq!(ids, vec![north.clone()], "[{b}]");
        let (ids, _) = app
            .search("/fhir/default/Organization?alias:missing=true")
            .await;
        assert_eq!(ids.len(), 1, "[{b}] only Plain has no alias: {ids:?}");
    }
}

/// A tenant reference parameter `ep` on Organization (the same path as the built-in `endpoint`).
fn endpoint_ref_param() -> Value {
    json!({
        "resourceType": "SearchParameter",
        "url": "http://example.org/fhir/SearchParameter/organization-ep",
        "name": "OrganizationEp",
        "status": "active",
        "description": "The organization's endpoints",
        "code": "ep",
        "base": ["Organization"],
        "type": "reference",
        "expression": "Organization.endpoint",
        "target": ["Endpoint"]
    })
}

/// The ids of a search's `include` entries (sorted) and its outcome issues.
async fn included(app: &Server, path: &str) -> (Vec<String>, Vec<String>) {
    let bundle = app.get(path).await.status(200).json();
    let mut ids: Vec<String> = bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["search"]["mode"] == "include")
        .map(|e| e["resource"]["id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    let (_, issues) = app.search(path).await;
    (ids, issues)
}

#[tokio::test]
async fn includes_over_a_parameter_being_reindexed_warn_until_it_finishes() {
    for db in testkit::test_databases().await {
        let app = start(&db, Vec::new()).await;
        let b = app.backend;
        let ep = app
            .create(
                "default",
                &json!({"resourceType": "Endpoint", "status": "active",
                        "connectionType": {"code": "hl7-fhir-rest"},
                        "payloadType": [{"text": "any"}], "address": "https://e.example"}),
            )
            .await;
        let mut o = org("North", &[]);
        o["endpoint"] = json!([{"reference": format!("Endpoint/{ep}")}]);
        app.create("default", &o).await;

        app.state.jobs.pause();
        app.post("/fhir/default/SearchParameter", &endpoint_ref_param())
            .await
            .status(201);
        let pending = |issues: &[String]| {
            issues.len() == 1
                && issues[0].starts_with("warning incomplete:")
                && issues[0].contains("\"ep\"")
        };
        for path in [
            "/fhir/default/Organization?_include=Organization:ep",
            "/fhir/default/Organization?_include=Organization:*",
            "/fhir/default/Organization?_include=*",
        ] {
            let (ids, issues) = included(&app, path).await;
            assert!(pending(&issues), "[{b}] {path}: {issues:?}");
            if path.ends_with(":ep") {
                assert!(ids.is_empty(), "[{b}] not indexed yet: {ids:?}");
            }
        }
        let (_, issues) = app
            .search("/fhir/default/Endpoint?_revinclude=Organization:ep")
            .await;
        assert!(pending(&issues), "[{b}] {issues:?}");
        // Other parameters and other source types do not warn.
        for path in [
            "/fhir/default/Organization?_include=Organization:endpoint",
            "/fhir/default/Endpoint?_revinclude=PractitionerRole:*",
        ] {
            let (_, issues) = app.search(path).await;
            assert!(issues.is_empty(), "[{b}] {path}: {issues:?}");
        }

        app.state.jobs.resume();
        app.wait_for_all_jobs("default").await;
        let (ids, issues) =
            included(&app, "/fhir/default/Organization?_include=Organization:ep").await;
        assert_eq!(ids, vec![ep.clone()], "[{b}]");
        assert!(issues.is_empty(), "[{b}] {issues:?}");
    }
}

#[tokio::test]
async fn an_index_built_with_another_format_is_rebuilt_in_the_background() {
    for db in testkit::test_databases().await {
        let app = start(&db, Vec::new()).await;
        let b = app.backend;
        let tenant = store::TenantName::parse("default").expect("tenant");
        let smith = app
            .create(
                "default",
                &json!({"resourceType": "Practitioner", "name": [{"family": "Smith"}]}),
            )
            .await;
        let store = &app.state.store;
        let mut recorded = store.indexed_search_params(&tenant).await.expect("record");
        assert_eq!(
            recorded.get(search::INDEX_FORMAT_URL).map(String::as_str),
            Some(search::index_format()),
            "[{b}] the first load of a tenant records the format"
        );

        // What an older binary left: rows without the Soundex codes, and its own format.
        store
            .reindex_many(
                &tenant,
                &[store::IndexedResource {
                    resource_type: "Practitioner",
                    id: &smith,
                    entries: &[],
                    hidden: &store::NOT_HIDDEN,
                }],
            )
            .await
            .expect("old rows");
        recorded.insert(search::INDEX_FORMAT_URL.to_owned(), "1:0".to_owned());
        store
            .set_indexed_search_params(&tenant, &recorded)
            .await
            .expect("old format");
        app.state.jobs.pause();
        app.state.search_parameters_changed(&tenant).await;

        let jobs = app.jobs("default").await;
        assert_eq!(jobs.len(), 1, "[{b}] {jobs:?}");
        let (job, state, _, total) = jobs[0].clone();
        assert_eq!((state.as_str(), total), ("queued", 1), "[{b}] {jobs:?}");
        let (ids, issues) = app
            .search("/fhir/default/Practitioner?phonetic=Smyth")
            .await;
        assert!(ids.is_empty(), "[{b}] {ids:?}");
        assert!(
            issues.len() == 1 && issues[0].contains("being rebuilt") && issues[0].contains(&job),
            "[{b}] {issues:?}"
        );

        app.state.jobs.resume();
        app.wait_for_all_jobs("default").await;
        let (ids, issues) = app
            .search("/fhir/default/Practitioner?phonetic=Smyth")
            .await;
        assert_eq!(ids, vec![smith.clone()], "[{b}]");
        assert!(issues.is_empty(), "[{b}] {issues:?}");
        assert_eq!(
            store
                .indexed_search_params(&tenant)
                .await
                .expect("record")
                .get(search::INDEX_FORMAT_URL)
                .map(String::as_str),
            Some(search::index_format()),
            "[{b}]"
        );

        // A tenant loaded first while empty has nothing to rebuild.
        app.create_tenant("fresh").await;
        app.create(
            "fresh",
            &json!({"resourceType": "Practitioner", "name": [{"family": "Lee"}]}),
        )
        .await;
        assert!(app.jobs("fresh").await.is_empty(), "[{b}]");
    }
}

#[tokio::test]
async fn changing_and_deleting_a_search_parameter_reindexes_again() {
    for db in testkit::test_databases().await {
        let app = start(&db, Vec::new()).await;
        let b = app.backend;
        let north = app.create("default", &org("North", &["Acme North"])).await;
        let sp = app.create("default", &alias_param()).await;
        app.wait_for_all_jobs("default").await;
        let (ids, _) = app.search("/fhir/default/Organization?alias=acme").await;
        assert_eq!(ids, vec![north.clone()], "[{b}]");

        // The same code now indexes the name: a new job, and the old values are gone after it.
        app.state.jobs.pause();
        let mut changed = alias_param();
        changed["id"] = json!(sp);
        changed["expression"] = json!("Organization.name");
        app.put(&format!("/fhir/default/SearchParameter/{sp}"), &changed)
            .await
            .status(200);
        let (_, issues) = app.search("/fhir/default/Organization?alias=north").await;
        assert_eq!(issues.len(), 1, "[{b}] {issues:?}");
        app.state.jobs.resume();
        app.wait_for_all_jobs("default").await;
        assert_eq!(app.jobs("default").await.len(), 2, "[{b}]");
        let (ids, issues) = app.search("/fhir/default/Organization?alias=north").await;
        assert_eq!(ids, vec![north.clone()], "[{b}]");
        assert!(issues.is_empty(), "[{b}] {issues:?}");
        let (ids, _) = app.search("/fhir/default/Organization?alias=acme").await;
        assert!(
            ids.is_empty(),
            "[{b}] the alias values are no longer indexed: {ids:?}"
        );

        // Deleted: the parameter is unknown again.
        let r = app
            .send(app.request(
                Method::DELETE,
                &format!("/fhir/default/SearchParameter/{sp}"),
            ))
            .await;
        assert!(r.code == 200 || r.code == 204, "[{b}] {}", r.text());
        app.wait_for_all_jobs("default").await;
        let (_, issues) = app.search("/fhir/default/Organization?alias=north").await;
        assert!(
            issues.iter().any(|i| i.contains("\"alias\" was ignored")),
            "[{b}] {issues:?}"
        );
    }
}

#[tokio::test]
async fn a_search_parameter_in_a_transaction_extends_the_tenant() {
    for db in testkit::test_databases().await {
        let app = start(&db, Vec::new()).await;
        let b = app.backend;
        let bundle = json!({
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {"resource": alias_param(), "request": {"method": "POST", "url": "SearchParameter"}},
                {"resource": org("North", &["Acme North"]), "request": {"method": "POST", "url": "Organization"}}
            ]
        });
        app.post("/fhir/default", &bundle).await.status(200);
        app.wait_for_all_jobs("default").await;
        let (ids, issues) = app.search("/fhir/default/Organization?alias=acme").await;
        assert_eq!(ids.len(), 1, "[{b}] {issues:?}");
        assert!(issues.is_empty(), "[{b}] {issues:?}");
    }
}

#[tokio::test]
async fn invalid_search_parameters_are_refused_with_an_operation_outcome() {
    for db in testkit::test_databases().await {
        let app = start(&db, Vec::new()).await;
        let b = app.backend;
        let cases: Vec<(&str, &str, Value)> = vec![
            ("expression", "no expression", Value::Null),
            (
                "expression",
                "unparsable expression",
                json!("Organization.alias.where("),
            ),
            ("base", "unknown base", json!(["Organisation"])),
            ("type", "unknown type", json!("fuzzy")),
            ("code", "code with a dot", json!("a.b")),
            ("code", "reserved code", json!("_alias")),
            ("url", "no url", Value::Null),
        ];
        for (element, what, value) in cases {
            let mut sp = alias_param();
            if value.is_null() {
                sp.as_object_mut().expect("object").remove(element);
            } else {
                sp[element] = value;
            }
            let r = app.post("/fhir/default/SearchParameter", &sp).await;
            let diag = r.outcome(422, "processing");
            assert!(
                diag.contains(&format!("SearchParameter.{element}")),
                "[{b}] {what}: {diag}"
            );
            // PUT is checked the same way.
            sp["id"] = json!("bad");
            let r = app.put("/fhir/default/SearchParameter/bad", &sp).await;
            r.outcome(422, "processing");
        }
        let stored = app
            .get("/fhir/default/SearchParameter?_summary=count")
            .await
            .status(200)
            .json();
        assert_eq!(stored["total"], 0, "[{b}] nothing invalid was stored");
        assert!(app.jobs("default").await.is_empty(), "[{b}]");
    }
}

#[tokio::test]
async fn explicit_reindex_is_an_async_job_with_progress() {
    for db in testkit::test_databases().await {
        let app = start(&db, Vec::new()).await;
        let b = app.backend;
        for i in 0..5 {
            app.create(
                "default",
                &common::practitioner(None, &format!("Family{i}")),
            )
            .await;
        }
        app.create("default", &org("North", &[])).await;
        app.state.jobs.set_batch(2);
        app.state.jobs.pause();

        let r = app
            .send(app.request(Method::POST, "/fhir/default/$reindex?type=Practitioner"))
            .await
            .status(202);
        let status_url = r.must_header("content-location");
        assert!(
            status_url.starts_with(&format!("{}/fhir/default/$reindex/", app.base)),
            "[{b}] {status_url}"
        );
        assert_eq!(r.json()["resourceType"], "OperationOutcome", "[{b}]");
        let s = app.get(&status_url).await.status(202).json();
        assert_eq!(
            param_value(&s, "status", "valueCode"),
            "queued",
            "[{b}] {s}"
        );
        assert_eq!(param_value(&s, "total", "valueInteger"), 5, "[{b}] {s}");
        assert_eq!(param_value(&s, "processed", "valueInteger"), 0, "[{b}] {s}");

        // One batch of two: the job is running and reports 2 of 5.
        app.state.jobs.step(1);
        let mut seen = Value::Null;
        for _ in 0..200 {
            seen = app.get(&status_url).await.status(202).json();
            if param_value(&seen, "processed", "valueInteger") == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert_eq!(
            param_value(&seen, "status", "valueCode"),
            "running",
            "[{b}] {seen}"
        );
        assert_eq!(
            param_value(&seen, "processed", "valueInteger"),
            2,
            "[{b}] {seen}"
        );
        let r = app.get(&status_url).await.status(202);
        assert!(
            r.must_header("x-progress").contains("2 of 5"),
            "[{b}] {:?}",
            r.header("x-progress")
        );

        app.state.jobs.resume();
        let done = app.wait_for_job(&status_url).await;
        assert_eq!(
            param_value(&done, "status", "valueCode"),
            "completed",
            "[{b}] {done}"
        );
        assert_eq!(
            param_value(&done, "processed", "valueInteger"),
            5,
            "[{b}] {done}"
        );
        let (ids, _) = app
            .search("/fhir/default/Practitioner?family=family3")
            .await;
        assert_eq!(
            ids.len(),
            1,
            "[{b}] the rows are still right after a reindex"
        );

        // A Parameters body works too; a queued job can be cancelled.
        app.state.jobs.pause();
        let body = json!({"resourceType": "Parameters", "parameter": [
            {"name": "type", "valueCode": "Organization"}
        ]});
        let r = app.post("/fhir/default/$reindex", &body).await.status(202);
        let cancel_url = r.must_header("content-location");
        let s = app.get(&cancel_url).await.status(202).json();
        assert_eq!(param_value(&s, "total", "valueInteger"), 1, "[{b}] {s}");
        let c = app
            .send(app.request(Method::DELETE, &cancel_url))
            .await
            .status(200)
            .json();
        assert_eq!(
            param_value(&c, "status", "valueCode"),
            "cancelled",
            "[{b}] {c}"
        );
        app.state.jobs.resume();
        let s = app.get(&cancel_url).await.status(200).json();
        assert_eq!(
            param_value(&s, "status", "valueCode"),
            "cancelled",
            "[{b}] {s}"
        );

        // Errors.
        app.get("/fhir/default/$reindex/no-such-job")
            .await
            .outcome(404, "not-found");
        app.send(app.request(Method::POST, "/fhir/default/$reindex?type=Practitionr"))
            .await
            .outcome(400, "invalid");
        app.send(app.request(Method::POST, "/fhir/nosuch/$reindex"))
            .await
            .outcome(404, "not-found");
    }
}

/// A `.tgz` FHIR package with `params` under `package/`.
fn package_tgz(path: &std::path::Path, params: &[Value]) {
    let files: Vec<(String, Value)> = params
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("SearchParameter-{i}.json"), p.clone()))
        .collect();
    common::package_tgz(
        path,
        &json!({"name": "example.directory", "version": "1.0.0"}),
        &files,
    );
}

#[tokio::test]
async fn profiles_extend_every_tenant_and_a_changed_profile_reindexes_at_start() {
    for db in testkit::test_databases().await {
        let profiles = tempfile::tempdir().expect("tempdir");
        std::fs::write(profiles.path().join("README.md"), "# profiles").expect("readme");
        let north;
        let other;
        {
            // Data written before the profile exists.
            let app = start(&db, Vec::new()).await;
            app.create_tenant("other").await;
            north = app.create("default", &org("North", &["Acme North"])).await;
            other = app.create("other", &org("Other", &["Acme Other"])).await;
        }
        package_tgz(
            &profiles.path().join("example.directory-1.0.0.tgz"),
            &[alias_param()],
        );
        let loaded = conformance::package::load_dir(profiles.path()).expect("profiles load");
        assert_eq!(loaded.len(), 1);
        let app = start(&db, loaded.into_iter().map(|p| p.def).collect()).await;
        let b = app.backend;
        for tenant in ["default", "other"] {
            app.wait_for_all_jobs(tenant).await;
            let jobs = app.jobs(tenant).await;
            assert_eq!(jobs.len(), 1, "[{b}] {tenant}: one job at start: {jobs:?}");
            assert_eq!(jobs[0].1, "completed", "[{b}] {tenant}");
        }
        let (ids, issues) = app.search("/fhir/default/Organization?alias=acme").await;
        assert_eq!(ids, vec![north], "[{b}] {issues:?}");
        let (ids, _) = app.search("/fhir/other/Organization?alias=acme").await;
        assert_eq!(ids, vec![other], "[{b}]");
        assert!(
            app.capability_codes("other", "Organization")
                .await
                .contains(&"alias".to_owned()),
            "[{b}]"
        );
        drop(app);

        // The same profile again: nothing to reindex.
        let loaded = conformance::package::load_dir(profiles.path()).expect("profiles load");
        let app = start(&db, loaded.into_iter().map(|p| p.def).collect()).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(app.jobs("default").await.len(), 1, "[{b}] no new job");
    }
}

#[test]
fn serve_fails_at_start_naming_a_broken_profile_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profiles = dir.path().join("profiles");
    std::fs::create_dir_all(&profiles).expect("mkdir");
    let mut bad = alias_param();
    bad["expression"] = json!("Organization.alias.where(");
    std::fs::write(
        profiles.join("SearchParameter-broken.json"),
        serde_json::to_vec(&bad).expect("json"),
    )
    .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fhirdir"))
        .args(["serve", "--listen", "127.0.0.1:0", "--profiles"])
        .env("FHIRDIR_AUTH", "off")
        .arg(&profiles)
        .arg("--database")
        .arg(format!("sqlite://{}/db.sqlite", dir.path().display()))
        .output()
        .expect("running fhirdir");
    assert!(
        !out.status.success(),
        "fhirdir started with a broken profile"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("SearchParameter-broken.json") && stderr.contains("expression"),
        "stderr: {stderr}"
    );
}

#[tokio::test]
async fn a_queued_reindex_survives_a_restart() {
    for db in testkit::test_databases().await {
        let north;
        let job;
        {
            let app = start(&db, Vec::new()).await;
            north = app.create("default", &org("North", &["Acme North"])).await;
            app.state.jobs.pause();
            app.create("default", &alias_param()).await;
            let jobs = app.jobs("default").await;
            assert_eq!(jobs.len(), 1, "[{}] {jobs:?}", app.backend);
            job = jobs[0].0.clone();
        }
        // A new process finds the job in the database, runs it, and the warning goes away.
        let app = start(&db, Vec::new()).await;
        let b = app.backend;
        let done = app
            .wait_for_job(&format!("/fhir/default/$reindex/{job}"))
            .await;
        assert_eq!(
            param_value(&done, "status", "valueCode"),
            "completed",
            "[{b}] {done}"
        );
        let (ids, issues) = app.search("/fhir/default/Organization?alias=acme").await;
        assert_eq!(ids, vec![north.clone()], "[{b}]");
        assert!(issues.is_empty(), "[{b}] {issues:?}");
    }
}

/// `Some(dir)` when `../shared/fhir` exists ([`testkit::shared_fhir`]).
fn shared_fhir() -> Option<std::path::PathBuf> {
    testkit::shared_fhir()
}

#[tokio::test]
async fn the_official_plan_net_package_reindexes_only_what_differs_from_the_builtin_copy() {
    let Some(shared) = shared_fhir() else { return };
    let loaded = conformance::package::load_path(&shared.join("plan-net/1.2.0"))
        .expect("Plan-Net package loads");
    assert_eq!(loaded.len(), 55);
    // The built-in tables restate Plan-Net, with a few documented corrections
    // (crates/conformance/tests/builtin_matches_official.rs); only those are new here.
    let builtin = conformance::builtin();
    let mut differing: Vec<String> = loaded
        .iter()
        .filter(|p| !builtin.contains(&p.def))
        .map(|p| p.def.url.clone())
        .collect();
    differing.sort();
    assert!(differing.len() < 10, "{differing:?}");
    for db in testkit::test_databases().await {
        let app = start(&db, loaded.iter().map(|p| p.def.clone()).collect()).await;
        let b = app.backend;
        app.create("default", &org("North", &[])).await;
        app.wait_for_all_jobs("default").await;
        let jobs = app.jobs("default").await;
        if differing.is_empty() {
            assert!(jobs.is_empty(), "[{b}] {jobs:?}");
        } else {
            assert_eq!(jobs.len(), 1, "[{b}] {jobs:?}");
            let status = app
                .get(&format!("/fhir/default/$reindex/{}", jobs[0].0))
                .await
                .status(200)
                .json();
            let mut params: Vec<String> = status["parameter"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["name"] == "searchParameter")
                .filter_map(|p| p["valueUri"].as_str().map(str::to_owned))
                .collect();
            params.sort();
            assert_eq!(params, differing, "[{b}]");
        }
        let (ids, issues) = app.search("/fhir/default/Organization?name=north").await;
        assert_eq!(ids.len(), 1, "[{b}] {issues:?}");
    }
}

#[tokio::test]
async fn a_second_server_on_the_database_sees_the_parameter_and_the_finished_reindex() {
    for db in testkit::test_databases().await {
        let first = start(&db, Vec::new()).await;
        let second = start(&db, Vec::new()).await;
        let b = first.backend;
        for app in [&first, &second] {
            app.state.jobs.set_poll(Duration::from_millis(50));
        }
        // Only the first server runs jobs, so the second learns of the parameter and of the
        // finished job from the database alone.
        second.state.jobs.pause();
        let north = first
            .create("default", &org("North", &["Acme North"]))
            .await;
        // The second server loads the tenant before the parameter exists.
        let (_, issues) = second.search("/fhir/default/Organization?alias=acme").await;
        assert!(
            issues.iter().any(|i| i.contains("was ignored")),
            "[{b}] {issues:?}"
        );

        first.create("default", &alias_param()).await;
        first.wait_for_all_jobs("default").await;
        let mut last = (Vec::new(), Vec::new());
        for _ in 0..200 {
            last = second.search("/fhir/default/Organization?alias=acme").await;
            if last.0 == vec![north.clone()] && last.1.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(last.0, vec![north.clone()], "[{b}] {:?}", last.1);
        assert!(last.1.is_empty(), "[{b}] {:?}", last.1);
    }
}

/// NDH's search parameters load at start, and its `VerificationResult?target=` (whose target
/// type is `Resource`: any) finds what a VerificationResult verifies, of any type, by
/// reference and by chain.
#[tokio::test]
async fn the_ndh_search_parameters_load_and_a_resource_typed_target_answers() {
    let Some(shared) = shared_fhir() else { return };
    let loaded = conformance::package::load_dir(&shared.join("ndh/1.0.0-sushi-compiled"))
        .expect("NDH loads");
    for db in testkit::test_databases().await {
        let app = start(&db, loaded.iter().map(|p| p.def.clone()).collect()).await;
        let b = app.backend;
        app.wait_for_all_jobs("default").await;
        let pract = app
            .create(
                "default",
                &json!({"resourceType": "Practitioner", "name": [{"family": "Verified"}]}),
            )
            .await;
        let org = app.create("default", &org("Checked", &[])).await;
        let verification = |target: &str| {
            json!({"resourceType": "VerificationResult", "status": "validated",
                   "target": [{"reference": target}]})
        };
        let of_pract = app
            .create("default", &verification(&format!("Practitioner/{pract}")))
            .await;
        let of_org = app
            .create("default", &verification(&format!("Organization/{org}")))
            .await;
        let (ids, issues) = app
            .search(&format!(
                "/fhir/default/VerificationResult?target=Practitioner/{pract}"
            ))
            .await;
        assert_eq!(ids, vec![of_pract.clone()], "[{b}] {issues:?}");
        let (ids, _) = app
            .search(&format!(
                "/fhir/default/VerificationResult?target=Organization/{org}"
            ))
            .await;
        assert_eq!(ids, vec![of_org], "[{b}]");
        let (ids, issues) = app
            .search("/fhir/default/VerificationResult?target:Practitioner.family=verified")
            .await;
        assert_eq!(ids, vec![of_pract.clone()], "[{b}] {issues:?}");
        // Without the type the chain searches every type with a `family` parameter (R4
        // search, "Chained parameters").
        let (ids, issues) = app
            .search("/fhir/default/VerificationResult?target.family=verified")
            .await;
        assert_eq!(ids, vec![of_pract.clone()], "[{b}] {issues:?}");
        assert!(
            app.capability_codes("default", "VerificationResult")
                .await
                .contains(&"target".to_owned()),
            "[{b}]"
        );
    }
}
