//! Operational endpoints and server-wide behaviour: `/healthz`, `/readyz`, `/metrics`, the
//! CapabilityStatement at `[base]/metadata`, and panics becoming 500 OperationOutcomes; once
//! per backend.

mod common;

use std::collections::BTreeMap;

use common::{admin_config, practitioner, spawn_app, test_databases};
use serde_json::Value;
use server::ServerConfig;

#[tokio::test]
async fn healthz_and_readyz_answer_200() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        for path in ["/healthz", "/readyz"] {
            let r = app.get(path).await.status(200);
            assert!(!r.body.is_empty(), "{}: empty body", r.what);
        }
    }
}

/// Parses Prometheus text: `name{labels}` -> value, checking each sample line's shape.
fn samples(backend: &str, text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (key, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("[{backend}] metrics line without a value: {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("[{backend}] metrics value is not a number: {line:?}"));
        let name_end = key.find('{').unwrap_or(key.len());
        let name = &key[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "[{backend}] bad metric name in {line:?}"
        );
        if name_end < key.len() {
            assert!(
                key.ends_with('}'),
                "[{backend}] unterminated labels in {line:?}"
            );
        }
        assert!(
            out.insert(key.to_owned(), value).is_none(),
            "[{backend}] duplicate series {key}"
        );
    }
    out
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_with_latency_and_pool_gauges() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        app.put(
            "/fhir/default/Practitioner/m1",
            &practitioner(Some("m1"), "M"),
        )
        .await
        .status(201);
        for _ in 0..3 {
            app.get("/fhir/default/Practitioner/m1").await.status(200);
        }
        for _ in 0..2 {
            app.get("/fhir/default/Practitioner/missing")
                .await
                .status(404);
        }
        app.get("/no/such/route").await.status(404);

        let r = app.get("/metrics").await.status(200);
        let ct = r.must_header("content-type");
        assert!(
            ct.starts_with("text/plain"),
            "{}: content-type {ct}",
            r.what
        );
        let text = r.text();
        let s = samples(app.backend, &text);
        let route = "/fhir/{tenant}/{type}/{id}";
        let get = |k: String| {
            *s.get(&k)
                .unwrap_or_else(|| panic!("[{}] no series {k} in:\n{text}", app.backend))
        };
        assert_eq!(
            get(format!(
                "fhirdir_http_requests_total{{route=\"{route}\",method=\"GET\",status=\"200\"}}"
            )),
            3.0
        );
        assert_eq!(
            get(format!(
                "fhirdir_http_requests_total{{route=\"{route}\",method=\"GET\",status=\"404\"}}"
            )),
            2.0
        );
        assert_eq!(
            get(format!(
                "fhirdir_http_requests_total{{route=\"{route}\",method=\"PUT\",status=\"201\"}}"
            )),
            1.0
        );
        assert!(
            s.keys()
                .any(|k| k.starts_with("fhirdir_http_requests_total")
                    && k.contains("status=\"404\"")
                    && !k.contains(route)),
            "[{}] the unknown route's 404 is not counted:\n{text}",
            app.backend
        );
        assert!(
            !text.contains("/Practitioner/m1"),
            "[{}] raw paths leak into labels:\n{text}",
            app.backend
        );

        // The latency histogram of the route: cumulative buckets ending in +Inf == count.
        let prefix = format!("fhirdir_http_request_duration_seconds_bucket{{route=\"{route}\",le=");
        let buckets: Vec<f64> = text
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .map(|l| {
                l.rsplit_once(' ')
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(-1.0)
            })
            .collect();
        assert!(
            buckets.len() >= 2,
            "[{}] no histogram for {route}:\n{text}",
            app.backend
        );
        assert!(
            buckets.windows(2).all(|w| w[0] <= w[1]),
            "[{}] buckets not cumulative: {buckets:?}",
            app.backend
        );
        let count = get(format!(
            "fhirdir_http_request_duration_seconds_count{{route=\"{route}\"}}"
        ));
        assert_eq!(count, 6.0, "[{}] histogram count", app.backend);
        assert_eq!(
            buckets.last().copied(),
            Some(count),
            "[{}] +Inf bucket",
            app.backend
        );
        let sum = get(format!(
            "fhirdir_http_request_duration_seconds_sum{{route=\"{route}\"}}"
        ));
        assert!(sum > 0.0, "[{}] latency sum {sum}", app.backend);

        let pool = get(format!(
            "fhirdir_db_pool_connections{{backend=\"{}\"}}",
            app.backend
        ));
        let idle = get(format!(
            "fhirdir_db_pool_idle_connections{{backend=\"{}\"}}",
            app.backend
        ));
        assert!(
            pool >= 1.0 && idle <= pool,
            "[{}] pool gauges {pool} / idle {idle}",
            app.backend
        );
    }
}

fn interactions(v: &Value) -> Vec<String> {
    v["interaction"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn capability_statement_is_r4_and_lists_the_core_interactions_per_tenant() {
    for db in test_databases().await {
        let app = spawn_app(&db, admin_config("tok")).await;
        let req = app
            .request(reqwest::Method::POST, "/admin/tenants")
            .bearer_auth("tok")
            .body("{\"name\":\"other\"}");
        app.send(req).await.status(201);
        for tenant in ["default", "other"] {
            let r = app
                .get(&format!("/fhir/{tenant}/metadata"))
                .await
                .status(200);
            r.assert_fhir_json();
            let cs = r.json();
            let w = &r.what;
            assert_eq!(cs["resourceType"], "CapabilityStatement", "{w}");
            assert_eq!(cs["fhirVersion"], "4.0.1", "{w}");
            assert_eq!(cs["status"], "active", "{w}");
            assert!(
                ["instance", "capability"].contains(&cs["kind"].as_str().unwrap_or_default()),
                "{w}: kind"
            );
            assert!(cs["date"].is_string(), "{w}: date is required");
            let formats = cs["format"].to_string();
            assert!(
                formats.contains("json") && !formats.contains("xml"),
                "{w}: format {formats}"
            );
            assert_eq!(
                cs["implementation"]["url"],
                format!("{}/fhir/{tenant}", app.base),
                "{w}"
            );

            let rest = &cs["rest"][0];
            assert_eq!(rest["mode"], "server", "{w}");
            let system = interactions(rest);
            assert!(
                system.contains(&"history-system".to_owned()),
                "{w}: {system:?}"
            );
            let resources = rest["resource"].as_array().cloned().unwrap_or_default();
            for t in [
                "Practitioner",
                "Organization",
                "Location",
                "PractitionerRole",
                "Endpoint",
            ] {
                let res = resources
                    .iter()
                    .find(|r| r["type"] == t)
                    .unwrap_or_else(|| panic!("{w}: no entry for {t}"));
                let got = interactions(res);
                for needed in [
                    "read",
                    "vread",
                    "create",
                    "update",
                    "delete",
                    "history-instance",
                    "history-type",
                ] {
                    assert!(
                        got.contains(&needed.to_owned()),
                        "{w}: {t} lacks {needed}: {got:?}"
                    );
                }
            }
        }
    }
}

async fn boom() -> &'static str {
    panic!("secret internal detail")
}

#[tokio::test]
async fn a_panicking_handler_becomes_a_500_operation_outcome_and_the_server_keeps_serving() {
    // No request can make a real handler panic, so a panicking route is merged into the real
    // router *before* its layers (`server::router_with`): it runs under exactly the stack a
    // production handler does.
    use axum::routing::get;
    for db in test_databases().await {
        let store = store::Store::connect(&db.url, &store::StoreOptions::default())
            .await
            .expect("store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = server::app_state(store, ServerConfig::auth_off(), addr);
        let router = server::router_with(state, axum::Router::new().route("/boom", get(boom)));
        tokio::spawn(async move { axum::serve(listener, router).await });
        let base = format!("http://{addr}");
        let client = common::raw_client();

        for _ in 0..3 {
            let r = client
                .get(format!("{base}/boom"))
                .send()
                .await
                .expect("request");
            assert_eq!(r.status().as_u16(), 500, "[{}]", db.backend);
            assert!(
                r.headers().contains_key("x-request-id"),
                "[{}] the panic response went through the middleware",
                db.backend
            );
            let ct = r.headers()["content-type"]
                .to_str()
                .unwrap_or_default()
                .to_owned();
            assert!(ct.starts_with("application/fhir+json"), "content-type {ct}");
            let oo: Value = r.json().await.expect("JSON body");
            assert_eq!(oo["resourceType"], "OperationOutcome", "{oo}");
            assert_eq!(oo["issue"][0]["code"], "exception", "{oo}");
            assert!(
                !oo.to_string().contains("secret internal detail"),
                "panic detail leaked: {oo}"
            );
            for path in ["/healthz", "/fhir/default/metadata"] {
                let ok = client
                    .get(format!("{base}{path}"))
                    .send()
                    .await
                    .expect("request");
                assert_eq!(
                    ok.status().as_u16(),
                    200,
                    "[{}] the server stopped serving {path} after a panic",
                    db.backend
                );
            }
        }
        let metrics = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("text");
        assert!(
            metrics.contains("route=\"/boom\",method=\"GET\",status=\"500\"} 3"),
            "[{}] the three 500s are not in the metrics:\n{metrics}",
            db.backend
        );
    }
}

/// What a client gets when it tries `interaction` on tenant `default`: true when the server
/// does it (any answer but 501 Not Implemented or 405 Method Not Allowed).
async fn works(app: &common::TestApp, interaction: &str) -> bool {
    use reqwest::Method;
    let bundle = |t: &str| serde_json::json!({"resourceType": "Bundle", "type": t, "entry": []});
    let r = match interaction {
        "search-type" => app.get("/fhir/default/Practitioner?family=x").await,
        "search-system" => app.get("/fhir/default?_type=Practitioner").await,
        "batch" => app.post("/fhir/default", &bundle("batch")).await,
        "transaction" => app.post("/fhir/default", &bundle("transaction")).await,
        "patch" => {
            let req = app
                .request(Method::PATCH, "/fhir/default/Practitioner/cs")
                .header("content-type", "application/json-patch+json")
                .body("[{\"op\":\"replace\",\"path\":\"/active\",\"value\":false}]");
            app.send(req).await
        }
        other => panic!("no probe for {other}"),
    };
    ![405, 501].contains(&r.code)
}

#[tokio::test]
async fn capability_statement_claims_exactly_the_interactions_that_work() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        app.put(
            "/fhir/default/Practitioner/cs",
            &practitioner(Some("cs"), "Cap"),
        )
        .await
        .status(201);
        let cs = app.get("/fhir/default/metadata").await.status(200).json();
        let rest = &cs["rest"][0];
        let system = interactions(rest);
        let practitioner_entry = rest["resource"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["type"] == "Practitioner").cloned())
            .unwrap_or_default();
        let per_type = interactions(&practitioner_entry);
        for (interaction, claimed) in [
            ("batch", system.contains(&"batch".to_owned())),
            ("transaction", system.contains(&"transaction".to_owned())),
            (
                "search-system",
                system.contains(&"search-system".to_owned()),
            ),
            ("search-type", per_type.contains(&"search-type".to_owned())),
            ("patch", per_type.contains(&"patch".to_owned())),
        ] {
            assert_eq!(
                claimed,
                works(&app, interaction).await,
                "[{}] the CapabilityStatement {} {interaction}, but the server {}",
                app.backend,
                if claimed { "claims" } else { "does not claim" },
                if claimed { "refuses it" } else { "does it" },
            );
        }
    }
}
