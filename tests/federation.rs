//! Directory-to-directory federation, black-box, once per backend: two fhirdir servers on
//! loopback, a national one and a state one whose tenant is made its replica
//! (`PUT /admin/tenants/{t}/upstream`). Writes on the national (create, update, PATCH,
//! transaction, delete) appear on the replica in event order, one replica version per
//! national version and bodies equal apart from `meta`; a replica stopped for 30 s while
//! writes go on catches up without losing or duplicating anything; the receiving endpoint
//! and the admin API refuse strangers; an upstream that wants a token is followed with the
//! setting's SMART Backend Services credentials, and refuses a replica without them.

mod common;

#[path = "auth/support.rs"]
#[allow(dead_code, reason = "shared with the authorization tests")]
mod support;

use std::future::Future;
use std::time::{Duration, Instant};

use auth::testing::TestClientKey;
use reqwest::Method;
use serde_json::{json, Value};
use server::ServerConfig;

use common::{entries, spawn_app_listening, test_databases, TestApp};
use support::{add_client, admin, ADMIN};

const TENANT: &str = "default";

/// A server that may call loopback (the other server), with the admin API; `auth` on or off.
fn config(auth: bool) -> ServerConfig {
    ServerConfig {
        admin_token: Some(ADMIN.into()),
        outbound_allow: vec!["127.0.0.1".into()],
        export: services::bulk::ExportSettings {
            dir: std::env::temp_dir().join("fhirdir-federation-test-exports"),
            ..Default::default()
        },
        ..if auth {
            ServerConfig::default()
        } else {
            ServerConfig::auth_off()
        }
    }
}

async fn start(url: &str, backend: &'static str, auth: bool) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding 127.0.0.1:0");
    spawn_app_listening(url, backend, config(auth), Default::default(), listener).await
}

/// Starts a server again on `base`'s port (the old one is shutting down: wait for the port).
async fn restart(base: &str, url: &str, backend: &'static str) -> TestApp {
    let addr = base.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let listener = loop {
        match tokio::net::TcpListener::bind(&addr).await {
            Ok(l) => break l,
            Err(e) => {
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "[{backend}] {addr} stays busy: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    spawn_app_listening(url, backend, config(false), Default::default(), listener).await
}

/// Another fresh database of `backend`'s kind (the second server's).
async fn second_db(backend: &str) -> testkit::TestDb {
    match backend {
        "sqlite" => testkit::sqlite_db(),
        _ => testkit::postgres_db()
            .await
            .expect("a second Postgres database"),
    }
}

/// Runs `test` on every test database at once (a run mostly waits for deliveries), with a
/// second fresh database of the same kind for the replica; fails when any run fails.
async fn on_each_backend_at_once<F, Fut>(test: F)
where
    F: Fn(testkit::TestDb, testkit::TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut runs = tokio::task::JoinSet::new();
    for db in test_databases().await {
        let state_db = second_db(db.backend).await;
        runs.spawn(test(db, state_db));
    }
    while let Some(run) = runs.join_next().await {
        run.expect("a backend's run");
    }
}

/// Polls `check` until it answers `Some` (at most `secs` seconds).
async fn until<T, F: Future<Output = Option<T>>>(
    what: &str,
    secs: u64,
    check: impl Fn() -> F,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn national_base(national: &TestApp) -> String {
    format!("{}/fhir/{TENANT}", national.base)
}

/// Makes the state server's tenant a replica of the national one; answers the setting.
async fn follow(state: &TestApp, national: &TestApp, extra: Value) -> Value {
    let mut body = json!({"url": national_base(national)});
    for (k, v) in extra.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    admin(
        state,
        Method::PUT,
        &format!("/admin/tenants/{TENANT}/upstream"),
        Some(body),
    )
    .await
    .status(200)
    .json()
}

async fn setting(state: &TestApp) -> Value {
    admin(
        state,
        Method::GET,
        &format!("/admin/tenants/{TENANT}/upstream"),
        None,
    )
    .await
    .status(200)
    .json()
}

/// Waits until the replica follows with nothing left to apply.
async fn caught_up(state: &TestApp) -> Value {
    until(
        &format!("[{}] the replica to follow", state.backend),
        60,
        || async {
            let s = setting(state).await;
            (s["phase"] == "follow" && s["lag"]["events"] == 0).then_some(s)
        },
    )
    .await
}

/// A resource as read, without `meta`; `None` when gone.
async fn body(app: &TestApp, path: &str) -> Option<Value> {
    let resp = app.get(&format!("/fhir/{TENANT}/{path}")).await;
    match resp.code {
        200 => {
            let mut v = resp.json();
            v.as_object_mut().map(|o| o.remove("meta"));
            Some(v)
        }
        404 | 410 => None,
        other => panic!("{}: unexpected {other}", resp.what),
    }
}

/// Waits until the replica's `path` reads as the national's.
async fn same(state: &TestApp, national: &TestApp, path: &str) {
    let want = body(national, path).await;
    until(
        &format!(
            "[{}] {path} on the replica as on the national",
            state.backend
        ),
        30,
        || async { (body(state, path).await == want).then_some(()) },
    )
    .await;
}

async fn versions(app: &TestApp, rtype: &str, id: &str) -> usize {
    app.instance_versions(TENANT, rtype, id).await.len()
}

/// One replica version per national version, for each of the Practitioners `ids`.
async fn same_history(state: &TestApp, national: &TestApp, b: &str, ids: &[impl AsRef<str>]) {
    for id in ids {
        let id = id.as_ref();
        assert_eq!(
            versions(state, "Practitioner", id).await,
            versions(national, "Practitioner", id).await,
            "[{b}] Practitioner/{id}: one replica version per national version"
        );
    }
}

fn practitioner(id: &str, family: &str) -> Value {
    json!({"resourceType": "Practitioner", "id": id, "active": true, "name": [{"family": family}]})
}

#[tokio::test]
async fn a_replica_seeds_then_follows_every_kind_of_write_in_order() {
    for db in test_databases().await {
        let state_db = second_db(db.backend).await;
        let national = start(&db.url, db.backend, false).await;
        let state = start(&state_db.url, db.backend, false).await;
        // Before the replica exists: copied by the seed.
        national
            .put_resource(&practitioner("seeded", "Before"))
            .await;
        national
            .put_resource(&practitioner("seeded", "Before2"))
            .await;
        national
            .put_resource(&json!({"resourceType": "Organization", "id": "org", "name": "Acme"}))
            .await;
        let shown = follow(&state, &national, json!({})).await;
        assert_eq!(shown["url"], national_base(&national));
        assert_eq!(shown["private_key_set"], false);
        assert!(shown["types"]
            .as_array()
            .unwrap()
            .contains(&json!("Practitioner")));
        caught_up(&state).await;
        same(&state, &national, "Practitioner/seeded").await;
        same(&state, &national, "Organization/org").await;
        // The upstream offers $export (fhirdir does): the seed came from it, not from searches.
        let metrics = national.get("/metrics").await.status(200).text();
        let kicked = "fhirdir_http_requests_total{route=\"/fhir/{tenant}/$export\",method=\"GET\",status=\"202\"}";
        assert!(metrics.contains(kicked), "[{}] {metrics}", db.backend);
        assert!(
            !metrics.contains("route=\"/fhir/{tenant}/{type}\",method=\"GET\""),
            "[{}] no search seed: {metrics}",
            db.backend
        );
        assert_eq!(
            versions(&state, "Practitioner", "seeded").await,
            1,
            "[{}] a seed copies the current version once",
            db.backend
        );

        // Followed: create, update, PATCH, a transaction, a delete.
        let p = national.create(TENANT, &practitioner("x", "Created")).await;
        national.put_resource(&practitioner(&p, "Updated")).await;
        let patch = json!([{"op": "replace", "path": "/name/0/family", "value": "Patched"}]);
        national
            .send(
                national
                    .request(Method::PATCH, &format!("/fhir/{TENANT}/Practitioner/{p}"))
                    .header("content-type", "application/json-patch+json")
                    .body(patch.to_string()),
            )
            .await
            .status(200);
        let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": {"resourceType": "Location", "id": "loc", "name": "Main St"},
             "request": {"method": "PUT", "url": "Location/loc"}},
            {"resource": practitioner("t1", "InTransaction"),
             "request": {"method": "PUT", "url": "Practitioner/t1"}}
        ]});
        national
            .post(&format!("/fhir/{TENANT}"), &tx)
            .await
            .status(200);
        national
            .delete(&format!("/fhir/{TENANT}/Location/loc"))
            .await
            .status(200);
        national
            .delete(&format!("/fhir/{TENANT}/Organization/org"))
            .await
            .status(200);

        for path in [
            format!("Practitioner/{p}"),
            "Practitioner/t1".to_owned(),
            "Location/loc".to_owned(),
            "Organization/org".to_owned(),
        ] {
            same(&state, &national, &path).await;
        }
        let s = caught_up(&state).await;
        let b = db.backend;
        // One replica version per national version applied, never two.
        assert_eq!(
            versions(&state, "Practitioner", &p).await,
            3,
            "[{b}] create, update, patch"
        );
        assert_eq!(
            versions(&state, "Location", "loc").await,
            2,
            "[{b}] create, delete"
        );
        state
            .get(&format!("/fhir/{TENANT}/Location/loc"))
            .await
            .status(410);
        // The source of each copy: the national version.
        let copy = state
            .get(&format!("/fhir/{TENANT}/Practitioner/{p}"))
            .await
            .status(200)
            .json();
        assert_eq!(
            copy["meta"]["source"],
            format!("{}/Practitioner/{p}/_history/3", national_base(&national)),
            "[{b}]"
        );
        // In event order: the replica's own AuditEvents of the resource, oldest first.
        let audit = state
            .get(&format!(
                "/fhir/{TENANT}/AuditEvent?entity=Practitioner/{p}&_sort=date"
            ))
            .await
            .status(200)
            .json();
        let actions: Vec<String> = entries(&audit)
            .iter()
            .map(|e| {
                e["resource"]["action"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        assert_eq!(actions, ["C", "U", "U"], "[{b}] {audit}");
        let feeds = s["feeds"].as_array().unwrap();
        let practitioners = feeds.iter().find(|f| f["type"] == "Practitioner").unwrap();
        assert!(practitioners["applied"].as_i64().unwrap() >= 4, "[{b}] {s}");
        // Lag at /metrics.
        let metrics = state.get("/metrics").await.status(200).text();
        assert!(
            metrics.contains(&format!(
                "fhirdir_upstream_lag_events{{tenant=\"{TENANT}\"}} 0"
            )),
            "[{b}] {metrics}"
        );

        // Removing the setting deletes our Subscriptions on the national.
        admin(
            &state,
            Method::DELETE,
            &format!("/admin/tenants/{TENANT}/upstream"),
            None,
        )
        .await
        .status(204);
        admin(
            &state,
            Method::GET,
            &format!("/admin/tenants/{TENANT}/upstream"),
            None,
        )
        .await
        .status(404);
        let subs = national
            .get(&format!("/fhir/{TENANT}/Subscription?_summary=count"))
            .await
            .status(200)
            .json();
        assert_eq!(subs["total"], 0, "[{b}] {subs}");
        drop(state_db);
    }
}

#[tokio::test]
async fn a_replica_down_for_30_seconds_catches_up_without_loss_or_duplicates() {
    on_each_backend_at_once(|db, state_db| async move {
        let b = db.backend;
        let national = start(&db.url, b, false).await;
        let state = start(&state_db.url, b, false).await;
        follow(&state, &national, json!({"types": ["Practitioner"]})).await;
        caught_up(&state).await;
        national
            .put_resource(&practitioner("before", "Before"))
            .await;
        same(&state, &national, "Practitioner/before").await;

        let base = state.base.clone();
        drop(state);
        // 30 s of writes while the replica is down: creates, updates, deletes.
        let started = Instant::now();
        let mut i = 0;
        while started.elapsed() < Duration::from_secs(30) {
            let id = format!("p{i}");
            national.put_resource(&practitioner(&id, "One")).await;
            if i % 2 == 0 {
                national.put_resource(&practitioner(&id, "Two")).await;
            }
            if i % 5 == 0 {
                national
                    .delete(&format!("/fhir/{TENANT}/Practitioner/{id}"))
                    .await
                    .status(200);
            }
            i += 1;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let state = restart(&base, &state_db.url, b).await;
        for n in 0..i {
            same(&state, &national, &format!("Practitioner/p{n}")).await;
        }
        caught_up(&state).await;
        let ids: Vec<String> = (0..i).map(|n| format!("p{n}")).collect();
        same_history(&state, &national, b, &ids).await;
        drop(state_db);
    })
    .await;
}

/// The replica is away longer than the upstream keeps its events: they are trimmed before
/// they are delivered, so no notification and no `$events` can bring them. The replica
/// catches up from the upstream's history all the same (an update, a delete, a create), one
/// replica version per upstream version.
#[tokio::test]
async fn a_replica_catches_up_from_history_when_the_upstream_trimmed_the_events_it_missed() {
    on_each_backend_at_once(|db, state_db| async move {
        let b = db.backend;
        let national = start(&db.url, b, false).await;
        let state = start(&state_db.url, b, false).await;
        follow(&state, &national, json!({"types": ["Practitioner"]})).await;
        caught_up(&state).await;
        for (id, family) in [("kept", "Kept"), ("gone", "Gone")] {
            national.put_resource(&practitioner(id, family)).await;
        }
        same(&state, &national, "Practitioner/gone").await;
        same(&state, &national, "Practitioner/kept").await;

        let base = state.base.clone();
        drop(state);
        national
            .put_resource(&practitioner("kept", "Changed"))
            .await;
        national
            .delete(&format!("/fhir/{TENANT}/Practitioner/gone"))
            .await
            .status(200);
        national.put_resource(&practitioner("new", "New")).await;
        // The national forgets every event (as its retention would, much later).
        let store = store::Store::connect(&db.url, &store::StoreOptions::default())
            .await
            .unwrap();
        let tenant = store::TenantName::parse(TENANT).unwrap();
        let mut tx = store.begin(&tenant).await.unwrap();
        let trimmed = tx
            .trim_events(chrono::Utc::now() + chrono::Duration::days(36_600))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(trimmed >= 3, "[{b}] {trimmed} events trimmed");
        store.close().await;

        let state = restart(&base, &state_db.url, b).await;
        for id in ["kept", "gone", "new"] {
            same(&state, &national, &format!("Practitioner/{id}")).await;
        }
        assert_eq!(body(&state, "Practitioner/gone").await, None, "[{b}]");
        same_history(&state, &national, b, &["kept", "new"]).await;
        drop(state_db);
    })
    .await;
}

/// A loopback proxy in front of `upstream` (an origin) that passes everything through, its
/// own origin written for the upstream's in headers and bodies, except that its
/// CapabilityStatement offers NDH's topics only (as an NDH national directory other than
/// fhirdir would). Answers the proxy's origin.
async fn ndh_only_proxy(upstream: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let me = format!("http://{}", listener.local_addr().unwrap());
    let client = common::raw_client();
    let (up, own) = (upstream.clone(), me.clone());
    let handler = move |req: axum::extract::Request| {
        let (client, up, own) = (client.clone(), up.clone(), own.clone());
        async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let body = String::from_utf8_lossy(&body).replace(&own, &up);
            let target = format!("{up}{}", parts.uri.path_and_query().unwrap());
            let mut forward = client.request(parts.method.clone(), &target);
            for (k, v) in &parts.headers {
                // Plain bodies, so that they can be rewritten.
                if k != "host" && k != "content-length" && k != "accept-encoding" {
                    forward = forward.header(k, v);
                }
            }
            let answer = forward.body(body).send().await.unwrap();
            let status = answer.status();
            let mut builder = axum::http::Response::builder().status(status);
            for (k, v) in answer.headers() {
                if k == "content-length" || k == "transfer-encoding" {
                    continue;
                }
                let v = v.to_str().unwrap_or_default().replace(&up, &own);
                builder = builder.header(k, v);
            }
            let mut text = answer.text().await.unwrap().replace(&up, &own);
            if parts.uri.path().ends_with("/metadata") {
                let mut cs: Value = serde_json::from_str(&text).unwrap();
                for r in cs["rest"][0]["resource"].as_array_mut().unwrap() {
                    if let Some(ext) = r["extension"].as_array_mut() {
                        ext.retain(|e| {
                            !e["valueCanonical"]
                                .as_str()
                                .is_some_and(|c| c.starts_with("http://fhirdir.org/topic/"))
                        });
                    }
                }
                text = cs.to_string();
            }
            builder.body(axum::body::Body::from(text)).unwrap()
        }
    };
    let router = axum::Router::new().fallback(handler);
    tokio::spawn(async move { axum::serve(listener, router).await });
    me
}

/// An upstream that offers NDH's topics only (`practitioner-create-or-delete`): the replica
/// follows creates and deletes by its events and the updates by its history.
#[tokio::test]
async fn a_replica_follows_an_upstream_that_offers_ndh_s_topics_only() {
    on_each_backend_at_once(|db, state_db| async move {
        let b = db.backend;
        let national = start(&db.url, b, false).await;
        let state = start(&state_db.url, b, false).await;
        national
            .put_resource(&practitioner("seeded", "Seeded"))
            .await;
        let proxy = ndh_only_proxy(national.base.clone()).await;
        let url = format!("{proxy}/fhir/{TENANT}");
        admin(
            &state,
            Method::PUT,
            &format!("/admin/tenants/{TENANT}/upstream"),
            Some(json!({"url": url, "types": ["Practitioner"]})),
        )
        .await
        .status(200);
        caught_up(&state).await;
        same(&state, &national, "Practitioner/seeded").await;
        // Our Subscription on the national is to NDH's topic.
        let subs = national
            .get(&format!("/fhir/{TENANT}/Subscription"))
            .await
            .status(200)
            .json();
        assert_eq!(
            subs["entry"][0]["resource"]["criteria"],
            "http://ndh.org/topic/practitioner-create-or-delete",
            "[{b}] {subs}"
        );
        // A create and a delete come as events; an update from the history (read at the
        // next check, within a minute).
        national
            .put_resource(&practitioner("created", "Created"))
            .await;
        same(&state, &national, "Practitioner/created").await;
        national
            .put_resource(&practitioner("seeded", "Updated"))
            .await;
        until(
            &format!("[{b}] the update, from the history"),
            90,
            || async {
                (body(&state, "Practitioner/seeded").await
                    == body(&national, "Practitioner/seeded").await)
                    .then_some(())
            },
        )
        .await;
        national
            .delete(&format!("/fhir/{TENANT}/Practitioner/created"))
            .await
            .status(200);
        same(&state, &national, "Practitioner/created").await;
        same_history(&state, &national, b, &["seeded"]).await;
        drop(state_db);
    })
    .await;
}

#[tokio::test]
async fn the_receiving_endpoint_and_the_setting_refuse_strangers_and_bad_input() {
    for db in test_databases().await {
        let b = db.backend;
        let national = start(&db.url, b, false).await;
        let notify = format!("/fhir/{TENANT}/upstream/notify");
        let forged = json!({"resourceType": "Bundle", "type": "history", "entry": []});
        // Not a replica: the same 401 as a wrong secret.
        national.post(&notify, &forged).await.status(401);
        national
            .post("/fhir/no-such-tenant/upstream/notify", &forged)
            .await
            .status(401);

        let state_db = second_db(b).await;
        let state = start(&state_db.url, b, false).await;
        let path = format!("/admin/tenants/{TENANT}/upstream");
        // The admin API: a token, the right one.
        let body = json!({"url": national_base(&national)});
        state
            .send(state.request(Method::PUT, &path).json(&body))
            .await
            .status(401);
        state
            .send(state.request(Method::GET, &path).bearer_auth("wrong"))
            .await
            .status(403);
        admin(&state, Method::GET, &path, None).await.status(404);
        for (bad, why) in [
            (json!({"url": "not a url"}), "absolute URL"),
            (json!({"url": "ftp://x/fhir"}), "http(s)"),
            (json!({"url": "http://example.com/fhir"}), "outbound-allow"),
            (json!({"url": "https://10.1.2.3/fhir"}), "outbound-allow"),
            (
                json!({"url": national_base(&national), "types": ["Patient"]}),
                "directory resource type",
            ),
            (
                json!({"url": national_base(&national), "types": []}),
                "at least one",
            ),
            (
                json!({"url": national_base(&national), "client_id": "c"}),
                "go together",
            ),
            (
                json!({"url": national_base(&national), "client_id": "c", "private_key": "nope"}),
                "private_key",
            ),
            (
                json!({"url": national_base(&national), "extra": 1}),
                "unknown field",
            ),
            (
                json!({"url": format!("{}/fhir/{TENANT}", state.base)}),
                "its own upstream",
            ),
        ] {
            let resp = admin(&state, Method::PUT, &path, Some(bad.clone())).await;
            let text = resp.outcome(400, "invalid");
            assert!(text.contains(why), "[{b}] {bad}: {text}");
        }
        follow(&state, &national, json!({"types": ["Organization"]})).await;
        caught_up(&state).await;
        // A replica's endpoint: without the secret, or with another, 401; nothing applied.
        let org = json!({"resourceType": "Organization", "id": "forged", "name": "Forged"});
        let subscription = setting(&state).await["feeds"][0]["subscription"]
            .as_str()
            .unwrap()
            .to_owned();
        let notification = json!({"resourceType": "Bundle", "type": "history", "entry": [
            {"resource": {"resourceType": "Parameters", "parameter": [
                {"name": "subscription", "valueReference": {"reference": subscription}},
                {"name": "status", "valueCode": "active"},
                {"name": "type", "valueCode": "event-notification"},
                {"name": "events-since-subscription-start", "valueString": "1"},
                {"name": "notification-event", "part": [
                    {"name": "event-number", "valueString": "1"},
                    {"name": "focus", "valueReference": {"reference": format!("{}/Organization/forged/_history/1", national_base(&national))}}
                ]}
            ]}},
            {"resource": org, "request": {"method": "POST", "url": "Organization"}}
        ]});
        state.post(&notify, &notification).await.status(401);
        let wrong = state
            .send(
                state
                    .request(Method::POST, &notify)
                    .header("X-Fhirdir-Upstream-Secret", "guess")
                    .json(&notification),
            )
            .await;
        wrong.outcome(401, "login");
        state
            .get(&format!("/fhir/{TENANT}/Organization/forged"))
            .await
            .status(404);
        // The secret is never shown by the admin API.
        assert!(
            !setting(&state).await.to_string().contains("secret"),
            "[{b}]"
        );
        drop(state_db);
    }
}

#[tokio::test]
async fn an_upstream_that_wants_a_token_is_followed_with_the_settings_credentials() {
    for db in test_databases().await {
        let b = db.backend;
        let national = start(&db.url, b, true).await;
        let state_db = second_db(b).await;
        let state = start(&state_db.url, b, false).await;
        let key = TestClientKey::ec256("replica");
        let client = add_client(
            &national,
            TENANT,
            &key,
            "system/*.rs system/Subscription.cruds",
        )
        .await;
        admin(
            &national,
            Method::PUT,
            &format!("/admin/tenants/{TENANT}/access"),
            Some(json!({"anonymous_read": false})),
        )
        .await
        .status(200);
        let writer_key = TestClientKey::ec256("writer");
        let writer = add_client(&national, TENANT, &writer_key, "system/*.cruds").await;
        let t = support::token(&national, TENANT, &writer_key, &writer, "system/*.cruds").await;
        support::with_token(
            &national,
            Some(&t),
            Method::PUT,
            &format!("/fhir/{TENANT}/Practitioner/a"),
            Some(&practitioner("a", "Authed")),
        )
        .await
        .status(201);

        // Without credentials the upstream refuses: the setting says why.
        follow(&state, &national, json!({"types": ["Practitioner"]})).await;
        let refused = until(&format!("[{b}] the refusal in the setting"), 30, || async {
            let s = setting(&state).await;
            s["error"]
                .as_str()
                .filter(|e| e.contains("401"))
                .map(str::to_owned)
        })
        .await;
        assert_eq!(
            setting(&state).await["phase"],
            "subscribe",
            "[{b}] {refused}"
        );

        // With them: subscribed, seeded, followed.
        let pem = pkcs8_pem(key.private_der());
        let shown = follow(
            &state,
            &national,
            json!({"types": ["Practitioner"], "client_id": client, "private_key": pem}),
        )
        .await;
        assert_eq!(shown["private_key_set"], true);
        assert!(
            !shown.to_string().contains("PRIVATE KEY"),
            "[{b}] the key is never shown"
        );
        caught_up(&state).await;
        assert!(
            body(&state, "Practitioner/a").await.is_some(),
            "[{b}] seeded"
        );
        // Another reader of the national's Subscriptions never sees our secret header: not
        // by read, search or history.
        let sub = setting(&state).await["feeds"][0]["subscription"]
            .as_str()
            .unwrap()
            .to_owned();
        let id = sub.rsplit('/').next().unwrap().to_owned();
        let secret_free = |what: &str, v: &Value| {
            let text = v.to_string();
            assert!(
                text.contains(&id),
                "[{b}] {what} shows the Subscription: {text}"
            );
            assert!(
                !text.contains("X-Fhirdir-Upstream-Secret"),
                "[{b}] {what}: {text}"
            );
        };
        for path in [
            format!("/fhir/{TENANT}/Subscription/{id}"),
            format!("/fhir/{TENANT}/Subscription?_id={id}"),
            format!("/fhir/{TENANT}/Subscription/{id}/_history"),
        ] {
            let seen = support::with_token(&national, Some(&t), Method::GET, &path, None)
                .await
                .status(200)
                .json();
            secret_free(&path, &seen);
        }
        support::with_token(
            &national,
            Some(&t),
            Method::PUT,
            &format!("/fhir/{TENANT}/Practitioner/a"),
            Some(&practitioner("a", "Changed")),
        )
        .await
        .status(200);
        until(&format!("[{b}] the change followed"), 30, || async {
            let v = body(&state, "Practitioner/a").await?;
            (v["name"][0]["family"] == "Changed").then_some(())
        })
        .await;
        drop(state_db);
    }
}

/// PKCS#8 DER as PEM.
fn pkcs8_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

/// Runs the `fhirdir` binary with `args` on `db_url` and `config`: (success, stdout, stderr).
async fn cli(args: &[&str], db_url: &str, config: &std::path::Path) -> (bool, String, String) {
    let config = config.to_string_lossy();
    let rest = ["--database", db_url, "--config", &config];
    let args: Vec<&str> = args.iter().copied().chain(rest).collect();
    common::fhirdir_cli(&args).await
}

#[tokio::test]
async fn the_cli_writes_the_setting_that_the_running_server_carries_out() {
    for db in test_databases().await {
        let b = db.backend;
        let national = start(&db.url, b, false).await;
        national.put_resource(&practitioner("by-cli", "Cli")).await;
        let state_db = second_db(b).await;
        let state = start(&state_db.url, b, false).await;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("fhirdir.toml");
        std::fs::write(&config, "outbound_allow = [\"127.0.0.1\"]\n").unwrap();
        let url = national_base(&national);
        let (ok, _, err) = cli(
            &[
                "upstream",
                "set",
                "--url",
                &url,
                "--types",
                "Practitioner,Nope",
            ],
            &state_db.url,
            &config,
        )
        .await;
        assert!(!ok && err.contains("Nope"), "[{b}] {err}");
        let (ok, out, err) = cli(
            &["upstream", "set", "--url", &url, "--types", "Practitioner"],
            &state_db.url,
            &config,
        )
        .await;
        assert!(ok, "[{b}] {err}");
        assert!(out.contains("\"phase\": \"subscribe\""), "[{b}] {out}");
        // The running server picks it up.
        caught_up(&state).await;
        same(&state, &national, "Practitioner/by-cli").await;
        let (ok, out, _) = cli(&["upstream", "show"], &state_db.url, &config).await;
        assert!(ok && out.contains("\"phase\": \"follow\""), "[{b}] {out}");
        let (ok, out, err) = cli(&["upstream", "remove"], &state_db.url, &config).await;
        assert!(ok, "[{b}] {err}");
        assert!(out.contains("no longer a replica"), "[{b}] {out}");
        let (ok, _, err) = cli(&["upstream", "show"], &state_db.url, &config).await;
        assert!(!ok && err.contains("no upstream"), "[{b}] {err}");
        drop(state_db);
    }
}

#[tokio::test]
async fn a_replica_follows_its_upstream_across_the_upstream_s_restart() {
    for db in test_databases().await {
        let b = db.backend;
        let state_db = second_db(b).await;
        let national = start(&db.url, b, false).await;
        let state = start(&state_db.url, b, false).await;
        follow(&state, &national, json!({"types": ["Practitioner"]})).await;
        caught_up(&state).await;
        national.put_resource(&practitioner("r1", "Before")).await;
        same(&state, &national, "Practitioner/r1").await;

        // The national stops and starts again where it was: its Subscriptions, kept in its
        // database, go on delivering the writes made after.
        let base = national.base.clone();
        drop(national);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let national = restart(&base, &db.url, b).await;
        national.put_resource(&practitioner("r1", "After")).await;
        national.put_resource(&practitioner("r2", "New")).await;
        national
            .delete(&format!("/fhir/{TENANT}/Practitioner/r1"))
            .await
            .status(200);
        same(&state, &national, "Practitioner/r1").await;
        same(&state, &national, "Practitioner/r2").await;
        caught_up(&state).await;
        same_history(&state, &national, b, &["r1", "r2"]).await;
        drop(state_db);
    }
}

#[tokio::test]
async fn a_replica_seeds_by_search_when_the_upstreams_export_fails() {
    for db in test_databases().await {
        let state_db = second_db(db.backend).await;
        // The national server's export folder is a file: every export job it runs fails.
        let blocked = tempfile::NamedTempFile::new().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let national_config = ServerConfig {
            export: services::bulk::ExportSettings {
                dir: blocked.path().to_owned(),
                ..Default::default()
            },
            ..config(false)
        };
        let national = spawn_app_listening(
            &db.url,
            db.backend,
            national_config,
            Default::default(),
            listener,
        )
        .await;
        let state = start(&state_db.url, db.backend, false).await;
        national.put_resource(&practitioner("p", "Seeded")).await;
        follow(&state, &national, json!({})).await;
        caught_up(&state).await;
        same(&state, &national, "Practitioner/p").await;
        let metrics = national.get("/metrics").await.status(200).text();
        assert!(
            metrics.contains("route=\"/fhir/{tenant}/$export\",method=\"GET\",status=\"202\""),
            "[{}] the export was tried: {metrics}",
            db.backend
        );
        assert!(
            metrics.contains("route=\"/fhir/{tenant}/{type}\",method=\"GET\",status=\"200\""),
            "[{}] then searches: {metrics}",
            db.backend
        );
    }
}
