//! AuditEvent: one per version written or deleted, found at once with `entity=`, read only by
//! clients whose scopes grant it, written by no one; a tenant's events retention.

use auth::testing::TestClientKey;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{entries, fhir_body, link, practitioner, test_databases, Resp, TestApp};
use crate::support::*;

const T: &str = "audit";

/// The tenant, a writer (its client id and token) and a reader of the audit trail.
struct Setup {
    app: TestApp,
    writer_id: String,
    writer: String,
    reader: String,
}

async fn setup(db: &testkit::TestDb) -> Setup {
    let app = spawn(db).await;
    create_tenant(&app, T).await;
    let key = TestClientKey::ec256("k1");
    let writer_id = add_client(&app, T, &key, "system/*.cruds").await;
    let writer = token(&app, T, &key, &writer_id, "system/*.cruds").await;
    // The audit trail and the types it names here.
    let reader = client_token(
        &app,
        T,
        "system/AuditEvent.rs system/Practitioner.rs system/Provenance.rs",
    )
    .await;
    Setup {
        app,
        writer_id,
        writer,
        reader,
    }
}

impl Setup {
    async fn get(&self, token: Option<&str>, path: &str) -> Resp {
        with_token(
            &self.app,
            token,
            Method::GET,
            &format!("/fhir/{T}/{path}"),
            None,
        )
        .await
    }

    async fn write(&self, method: Method, path: &str, body: Option<&Value>) -> Resp {
        let path = if path.is_empty() {
            format!("/fhir/{T}")
        } else {
            format!("/fhir/{T}/{path}")
        };
        with_token(&self.app, Some(&self.writer), method, &path, body).await
    }

    /// The AuditEvents a search answers (as the reader), in answer order.
    async fn audit(&self, query: &str) -> Vec<Value> {
        let resp = self
            .get(Some(&self.reader), &format!("AuditEvent?{query}"))
            .await;
        entries(&resp.status(200).json())
            .into_iter()
            .map(|e| e["resource"].clone())
            .collect()
    }
}

/// (action, subtype, entity reference) of each event.
fn summary(events: &[Value]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or("?").to_owned(),
                e["subtype"][0]["code"].as_str().unwrap_or("?").to_owned(),
                e["entity"][0]["what"]["reference"]
                    .as_str()
                    .unwrap_or("?")
                    .to_owned(),
            )
        })
        .collect()
}

fn s(action: &str, subtype: &str, what: &str) -> (String, String, String) {
    (action.into(), subtype.into(), what.into())
}

/// Creates, updates, patches and deletes `Practitioner/p1`, and creates `Practitioner/p2` in a
/// transaction.
async fn write_some(x: &Setup) {
    x.write(
        Method::PUT,
        "Practitioner/p1",
        Some(&practitioner(Some("p1"), "Ada")),
    )
    .await
    .status(201);
    x.write(
        Method::PUT,
        "Practitioner/p1",
        Some(&practitioner(Some("p1"), "Bea")),
    )
    .await
    .status(200);
    let patch = json!([{"op": "replace", "path": "/active", "value": false}]);
    let req = x
        .app
        .request(Method::PATCH, &format!("/fhir/{T}/Practitioner/p1"))
        .bearer_auth(&x.writer)
        .header("content-type", "application/json-patch+json")
        .body(patch.to_string());
    x.app.send(req).await.status(200);
    x.write(Method::DELETE, "Practitioner/p1", None)
        .await
        .status(200);
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": practitioner(Some("p2"), "Cy"), "request": {"method": "PUT", "url": "Practitioner/p2"}}]});
    x.write(Method::POST, "", Some(&bundle)).await.status(200);
}

#[tokio::test]
async fn each_write_is_an_audit_event_found_by_entity_newest_first() {
    for db in test_databases().await {
        let be = db.backend;
        let x = setup(&db).await;
        write_some(&x).await;

        let p1 = x.audit("entity=Practitioner/p1").await;
        assert_eq!(
            summary(&p1),
            [
                s("D", "delete", "Practitioner/p1/_history/4"),
                s("U", "patch", "Practitioner/p1/_history/3"),
                s("U", "update", "Practitioner/p1/_history/2"),
                s("C", "create", "Practitioner/p1/_history/1"),
            ],
            "[{be}]"
        );
        for e in &p1 {
            assert_eq!(e["resourceType"], "AuditEvent", "[{be}]");
            assert_eq!(e["type"]["code"], "rest", "[{be}] {e}");
            assert_eq!(e["outcome"], "0", "[{be}] {e}");
            assert_eq!(e["agent"][0]["requestor"], true, "[{be}] {e}");
            assert_eq!(
                e["agent"][0]["who"]["identifier"]["value"], x.writer_id,
                "[{be}] {e}"
            );
        }
        // `recorded` is the version's lastUpdated.
        let v1 = x
            .get(Some(&x.writer), "Practitioner/p1/_history/1")
            .await
            .status(200)
            .json();
        assert_eq!(p1[3]["recorded"], v1["meta"]["lastUpdated"], "[{be}]");

        // A version, an absolute reference, several entities.
        let v2 = x.audit("entity=Practitioner/p1/_history/2").await;
        assert_eq!(
            summary(&v2),
            [s("U", "update", "Practitioner/p1/_history/2")]
        );
        let base = base(&x.app, T);
        let p2 = x.audit(&format!("entity={base}/Practitioner/p2")).await;
        assert_eq!(
            summary(&p2),
            [s("C", "create", "Practitioner/p2/_history/1")]
        );
        let both = x
            .audit("entity=Practitioner/p2,Practitioner/p1/_history/1")
            .await;
        assert_eq!(both.len(), 2, "[{be}]");

        // The other parameters.
        let xr = &x;
        let count = |q: &'static str| async move { xr.audit(q).await.len() };
        assert_eq!(count("action=C").await, 2, "[{be}]");
        assert_eq!(
            count("action=http://hl7.org/fhir/audit-event-action|D").await,
            1
        );
        assert_eq!(count("action=R").await, 0, "[{be}]");
        assert_eq!(count("subtype=patch,delete").await, 2, "[{be}]");
        assert_eq!(count("type=rest").await, 5, "[{be}]");
        assert_eq!(count("type=110114").await, 0, "[{be}]");
        assert_eq!(count("outcome=0").await, 5, "[{be}]");
        assert_eq!(count("outcome=8").await, 0, "[{be}]");
        assert_eq!(count("date=ge2000-01-01&date=lt3000").await, 5, "[{be}]");
        assert_eq!(count("date=ge3000-01-01").await, 0, "[{be}]");
        assert_eq!(count("date=lt2000").await, 0, "[{be}]");
        let by_client = x.audit(&format!("agent:identifier={}", x.writer_id)).await;
        assert_eq!(by_client.len(), 5, "[{be}]");
        assert_eq!(x.audit(&format!("altid={}", x.writer_id)).await.len(), 5);
        assert_eq!(count("altid=someone-else").await, 0, "[{be}]");
        let oldest = x.audit("_sort=date&_count=1").await;
        assert_eq!(
            summary(&oldest),
            [s("C", "create", "Practitioner/p1/_history/1")]
        );

        // Read and vread of one event; ids that are no event answer 404.
        let id = p1[0]["id"].as_str().expect("id");
        let one = x
            .get(Some(&x.reader), &format!("AuditEvent/{id}"))
            .await
            .status(200);
        assert_eq!(one.json(), p1[0], "[{be}]");
        x.get(Some(&x.reader), &format!("AuditEvent/{id}/_history/1"))
            .await
            .status(200);
        for missing in [
            format!("AuditEvent/{id}/_history/2"),
            "AuditEvent/change-9999".into(),
            "AuditEvent/change-0".into(),
            "AuditEvent/anything".into(),
        ] {
            x.get(Some(&x.reader), &missing)
                .await
                .outcome(404, "not-found");
        }

        // Paging: two by two, every event once, newest first; totals on request.
        let mut path = format!("/fhir/{T}/AuditEvent?_count=2&_total=accurate");
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let page = with_token(&x.app, Some(&x.reader), Method::GET, &path, None)
                .await
                .status(200)
                .json();
            assert_eq!(page["total"], 5, "[{be}]");
            pages += 1;
            for e in entries(&page) {
                seen.push(e["resource"]["id"].as_str().unwrap_or("").to_owned());
            }
            match link(&page, "next") {
                Some(next) => path = next,
                None => break,
            }
        }
        assert_eq!(pages, 3, "[{be}]");
        let numbers: Vec<i64> = seen
            .iter()
            .map(|id| id.trim_start_matches("change-").parse().expect("number"))
            .collect();
        assert_eq!(numbers, [5, 4, 3, 2, 1], "[{be}]");
        let counted = x
            .get(Some(&x.reader), "AuditEvent?_summary=count")
            .await
            .status(200)
            .json();
        assert_eq!(counted["total"], 5, "[{be}]");
        assert!(entries(&counted).is_empty(), "[{be}]");

        // Bad input is a 400 that says what was wrong.
        for (q, says) in [
            ("entity=Nope/1", "entity"),
            ("entity=Practitioner/p1/_history/x", "entity"),
            ("date=ne2020", "ne"),
            ("date=2020-13", "month"),
            ("_sort=name", "_sort"),
            ("_count=many", "_count"),
        ] {
            let resp = x.get(Some(&x.reader), &format!("AuditEvent?{q}")).await;
            let why = resp.outcome(
                400,
                if q.starts_with("date=ne") {
                    "not-supported"
                } else {
                    "invalid"
                },
            );
            assert!(why.contains(says), "[{be}] {q}: {why}");
        }
        let strict = x
            .app
            .request(Method::GET, &format!("/fhir/{T}/AuditEvent?bogus=1"))
            .bearer_auth(&x.reader)
            .header("prefer", "handling=strict");
        let why = x.app.send(strict).await.outcome(400, "not-supported");
        assert!(why.contains("bogus"), "[{be}] {why}");
        // Lenient (the default): an unknown parameter is ignored and left out of the links.
        let lenient = x
            .get(Some(&x.reader), "AuditEvent?bogus=1&_count=1")
            .await
            .status(200)
            .json();
        let next = link(&lenient, "next").expect("next");
        assert!(!next.contains("bogus"), "[{be}] {next}");
    }
}

#[tokio::test]
async fn the_audit_trail_is_read_by_permitted_clients_only_and_written_by_no_one() {
    for db in test_databases().await {
        let be = db.backend;
        let x = setup(&db).await;
        write_some(&x).await;

        // Anonymous callers may read the directory here, but not its audit trail.
        x.get(None, "Practitioner/p2").await.status(200);
        for path in [
            "AuditEvent",
            "AuditEvent?entity=Practitioner/p2",
            "AuditEvent/change-1",
        ] {
            let resp = x.get(None, path).await;
            let why = resp.outcome(401, "login");
            assert!(why.contains("audit trail"), "[{be}] {why}");
        }
        // A client whose scopes do not name AuditEvent: 403.
        let practitioners = client_token(&x.app, T, "system/Practitioner.rs").await;
        for path in ["AuditEvent", "AuditEvent/change-1"] {
            x.get(Some(&practitioners), path)
                .await
                .outcome(403, "forbidden");
        }

        // Nobody writes AuditEvents: 405 with `Allow: GET`, in Bundles too.
        let forged = json!({"resourceType": "AuditEvent", "id": "forged",
            "type": {"code": "rest"}, "recorded": "2020-01-01T00:00:00Z",
            "agent": [{"requestor": true}], "source": {"observer": {"display": "x"}}});
        for (method, path) in [
            (Method::POST, "AuditEvent"),
            (Method::PUT, "AuditEvent/forged"),
            (Method::PUT, "AuditEvent/change-1"),
            (Method::DELETE, "AuditEvent/change-1"),
            (Method::DELETE, "AuditEvent?entity=Practitioner/p2"),
        ] {
            let body = (method != Method::DELETE).then_some(&forged);
            let resp = x.write(method.clone(), path, body).await;
            resp.outcome(405, "not-supported");
            assert_eq!(
                resp.header("allow").as_deref(),
                Some("GET"),
                "[{be}] {method} {path}"
            );
        }
        let patch = x
            .app
            .request(Method::PATCH, &format!("/fhir/{T}/AuditEvent/change-1"))
            .bearer_auth(&x.writer)
            .header("content-type", "application/json-patch+json")
            .body(r#"[{"op": "replace", "path": "/outcome", "value": "8"}]"#);
        x.app.send(patch).await.outcome(405, "not-supported");
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": practitioner(Some("p3"), "Di"), "request": {"method": "PUT", "url": "Practitioner/p3"}},
            {"resource": forged, "request": {"method": "POST", "url": "AuditEvent"}}]});
        let resp = x.write(Method::POST, "", Some(&bundle)).await;
        assert_eq!(resp.code, 405, "[{be}] {}", resp.text());
        // Nothing of the refused writes happened: the same five events, the first unchanged.
        assert_eq!(x.audit("_count=100").await.len(), 5, "[{be}]");
        let first = x.audit("_sort=date&_count=1").await;
        assert_eq!(first[0]["outcome"], "0", "[{be}]");
        x.get(Some(&x.writer), "Practitioner/p3").await.status(404);

        // Events never cross tenants: another tenant numbers and shows its own.
        create_tenant(&x.app, "elsewhere").await;
        let other = client_token(&x.app, "elsewhere", "system/*.cruds").await;
        let path = "/fhir/elsewhere/Practitioner/q1";
        with_token(
            &x.app,
            Some(&other),
            Method::PUT,
            path,
            Some(&practitioner(Some("q1"), "Ed")),
        )
        .await
        .status(201);
        let theirs = with_token(
            &x.app,
            Some(&other),
            Method::GET,
            "/fhir/elsewhere/AuditEvent",
            None,
        )
        .await
        .status(200)
        .json();
        // Its own change, and its own two security events (its client added, its token),
        // none of this tenant's.
        assert_eq!(
            summary(
                &entries(&theirs)
                    .into_iter()
                    .map(|e| e["resource"].clone())
                    .collect::<Vec<_>>()
            ),
            [
                s("C", "create", "Practitioner/q1/_history/1"),
                s("E", "token", "?"),
                s("E", "client-added", "?")
            ],
            "[{be}]"
        );
        assert!(x.audit("entity=Practitioner/q1").await.is_empty(), "[{be}]");
        // A token of one tenant reads nothing of another's trail.
        let resp = with_token(
            &x.app,
            Some(&other),
            Method::GET,
            &format!("/fhir/{T}/AuditEvent"),
            None,
        )
        .await;
        assert_eq!(resp.code, 401, "[{be}] {}", resp.text());

        // The CapabilityStatement says what AuditEvent supports.
        let cs = x.get(None, "metadata").await.status(200).json();
        let entry = cs["rest"][0]["resource"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["type"] == "AuditEvent"))
            .cloned()
            .expect("AuditEvent in the CapabilityStatement");
        let interactions: Vec<&str> = entry["interaction"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["code"].as_str())
            .collect();
        assert_eq!(interactions, ["read", "vread", "search-type"], "[{be}]");
    }
}

#[tokio::test]
async fn a_tenant_sets_how_long_it_keeps_its_events() {
    for db in test_databases().await {
        let be = db.backend;
        let app = spawn(&db).await;
        create_tenant(&app, T).await;
        let path = format!("/admin/tenants/{T}/events");
        let got = admin(&app, Method::GET, &path, None)
            .await
            .status(200)
            .json();
        assert_eq!(got, json!({"retention_days": 30}), "[{be}]");
        admin(&app, Method::PUT, &path, Some(json!({"retention_days": 7})))
            .await
            .status(200);
        let got = admin(&app, Method::GET, &path, None)
            .await
            .status(200)
            .json();
        assert_eq!(got, json!({"retention_days": 7}), "[{be}]");
        for bad in [
            json!({"retention_days": 0}),
            json!({"retention_days": 40000}),
            json!({"retention_days": "7"}),
            json!({"days": 7}),
        ] {
            let why = admin(&app, Method::PUT, &path, Some(bad.clone()))
                .await
                .outcome(400, "invalid");
            assert!(why.contains("retention_days"), "[{be}] {bad}: {why}");
        }
        // The setting is the operator's: no admin token, no answer.
        let resp = app.send(app.request(Method::GET, &path)).await;
        assert_eq!(resp.code, 401, "[{be}]");
        let req = fhir_body(
            app.request(Method::PUT, &path),
            &json!({"retention_days": 1}),
        );
        assert_eq!(app.send(req).await.code, 401, "[{be}]");
        admin(&app, Method::GET, "/admin/tenants/nope/events", None)
            .await
            .status(404);
        let got = admin(&app, Method::GET, &path, None)
            .await
            .status(200)
            .json();
        assert_eq!(got, json!({"retention_days": 7}), "[{be}]");
    }
}

#[tokio::test]
async fn provenance_written_with_a_change_is_stored_and_found_by_target_agent_and_recorded() {
    for db in test_databases().await {
        let be = db.backend;
        let x = setup(&db).await;
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": "urn:uuid:8a4c3a2e-0d3f-4a43-9d0e-0f6f1f8f2a11",
             "resource": practitioner(None, "Attested"),
             "request": {"method": "POST", "url": "Practitioner"}},
            {"resource": {"resourceType": "Provenance",
                "target": [{"reference": "urn:uuid:8a4c3a2e-0d3f-4a43-9d0e-0f6f1f8f2a11"}],
                "recorded": "2026-01-02T03:04:05Z",
                "agent": [{"who": {"reference": "Organization/attester"}}]},
             "request": {"method": "POST", "url": "Provenance"}}]});
        let out = x
            .write(Method::POST, "", Some(&bundle))
            .await
            .status(200)
            .json();
        let location = out["entry"][0]["response"]["location"]
            .as_str()
            .expect("location");
        let target = location.split("/_history").next().unwrap_or(location);
        let target = &target[target.find("Practitioner/").expect("Practitioner")..];
        for q in [
            format!("target={target}"),
            "agent=Organization/attester".to_owned(),
            "recorded=ge2026-01-02".to_owned(),
        ] {
            let found = x
                .get(Some(&x.writer), &format!("Provenance?{q}"))
                .await
                .status(200)
                .json();
            assert_eq!(found["total"], 1, "[{be}] {q}: {found}");
            assert_eq!(
                found["entry"][0]["resource"]["target"][0]["reference"], target,
                "[{be}] the urn:uuid became the Practitioner's reference"
            );
        }
        let none = x
            .get(
                Some(&x.writer),
                "Provenance?agent=Organization/someone-else",
            )
            .await
            .status(200)
            .json();
        assert_eq!(none["total"], 0, "[{be}]");
        // Both writes are AuditEvents.
        assert_eq!(x.audit("type=rest").await.len(), 2, "[{be}]");
    }
}

#[tokio::test]
async fn a_client_reads_only_the_audit_events_of_types_its_scopes_reach() {
    for db in test_databases().await {
        let be = db.backend;
        let x = setup(&db).await;
        write_some(&x).await;
        let org = json!({"resourceType": "Organization", "id": "o1", "name": "Acme"});
        x.write(Method::PUT, "Organization/o1", Some(&org))
            .await
            .status(201);
        let narrow = client_token(&x.app, T, "system/AuditEvent.rs system/Organization.rs").await;
        let page = x
            .get(Some(&narrow), "AuditEvent?_total=accurate")
            .await
            .status(200)
            .json();
        let got: Vec<Value> = entries(&page)
            .into_iter()
            .map(|e| e["resource"].clone())
            .collect();
        assert_eq!(
            summary(&got),
            [s("C", "create", "Organization/o1/_history/1")],
            "[{be}]"
        );
        assert_eq!(page["total"], 1, "[{be}] the total counts only those");
        let none = x
            .get(Some(&narrow), "AuditEvent?entity=Practitioner/p1")
            .await
            .status(200)
            .json();
        assert!(entries(&none).is_empty(), "[{be}] {none}");
        // An event of a type it may not read is not found, as a missing one.
        let all = x.audit("entity=Practitioner/p1").await;
        let id = all[0]["id"].as_str().expect("id");
        x.get(Some(&narrow), &format!("AuditEvent/{id}"))
            .await
            .outcome(404, "not-found");
    }
}

/// The ids of every AuditEvent `query` answers, following `next` links with `token`.
async fn all_pages(x: &Setup, token: &str, query: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut path = format!("/fhir/{T}/AuditEvent?{query}");
    loop {
        let page = with_token(&x.app, Some(token), Method::GET, &path, None)
            .await
            .status(200)
            .json();
        ids.extend(
            entries(&page)
                .iter()
                .map(|e| e["resource"]["id"].as_str().unwrap_or_default().to_owned()),
        );
        match link(&page, "next") {
            Some(next) => path = next.trim_start_matches(&x.app.base).to_owned(),
            None => return ids,
        }
    }
}

#[tokio::test]
async fn security_events_are_audit_events_for_clients_that_read_everything() {
    for db in test_databases().await {
        let be = db.backend;
        let x = setup(&db).await;
        write_some(&x).await;
        // A client added and issued a token; a token refused; an access denied.
        let key = TestClientKey::ec256("k9");
        let narrow_id = add_client(&x.app, T, &key, "system/Organization.rs").await;
        let narrow = token(&x.app, T, &key, &narrow_id, "system/Organization.rs").await;
        let refused = token_request(&x.app, T, &smart_form("not.a.jwt", "system/*.rs")).await;
        assert_eq!(refused.code, 401, "[{be}] {}", refused.text());
        x.get(Some(&narrow), "Practitioner/p2").await.status(403);
        let auditor = client_token(&x.app, T, "system/*.rs").await;

        // The access denial is recorded without delaying its answer: wait for it.
        let mut alerts = Vec::new();
        for _ in 0..50 {
            alerts = all_pages(&x, &auditor, "type=110113").await;
            if !alerts.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(alerts.len(), 1, "[{be}] one access denied: {alerts:?}");
        let alert = x
            .get(Some(&auditor), &format!("AuditEvent/{}", alerts[0]))
            .await
            .status(200)
            .json();
        assert_eq!(alert["type"]["code"], "110113", "[{be}] {alert}");
        assert_eq!(alert["action"], "E", "[{be}]");
        assert_eq!(alert["outcome"], "4", "[{be}]");
        assert_eq!(alert["agent"][0]["altId"], narrow_id.as_str(), "[{be}]");
        assert!(alert["outcomeDesc"].as_str().is_some(), "[{be}] {alert}");
        assert!(alert.get("entity").is_none(), "[{be}]");

        // By kind, client and outcome; never by entity.
        let kinds = |events: &[Value]| -> Vec<String> {
            events
                .iter()
                .map(|e| {
                    e["subtype"][0]["code"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect()
        };
        let auth_events = |q: String| {
            let (x, auditor) = (&x, &auditor);
            async move {
                let page = x
                    .get(
                        Some(auditor),
                        &format!("AuditEvent?{q}&_count=100&_sort=date"),
                    )
                    .await
                    .status(200)
                    .json();
                entries(&page)
                    .into_iter()
                    .map(|e| e["resource"].clone())
                    .collect::<Vec<Value>>()
            }
        };
        let mine = auth_events(format!("agent:identifier={narrow_id}")).await;
        assert_eq!(kinds(&mine), ["client-added", "token", "access"], "[{be}]");
        let failures = auth_events("outcome=4".into()).await;
        assert!(
            failures
                .iter()
                .all(|e| e["outcome"] == "4" && e["action"] == "E"),
            "[{be}] {failures:?}"
        );
        assert!(kinds(&failures).contains(&"token".to_owned()), "[{be}]");
        let logins = auth_events("type=110114&subtype=token&outcome=0".into()).await;
        assert!(
            logins.len() >= 2,
            "[{be}] the writer's, the narrow client's, the auditor's"
        );
        let about_p1 = auth_events("entity=Practitioner/p1".into()).await;
        assert!(
            about_p1.iter().all(|e| e["type"]["code"] == "rest"),
            "[{be}]"
        );
        assert_eq!(about_p1.len(), 4, "[{be}]");

        // Both kinds in one trail, paged without loss or repetition.
        let whole = all_pages(&x, &auditor, "_count=100").await;
        assert!(whole.iter().any(|id| id.starts_with("change-")), "[{be}]");
        assert!(whole.iter().any(|id| id.starts_with("security-")), "[{be}]");
        assert_eq!(all_pages(&x, &auditor, "_count=2").await, whole, "[{be}]");
        let oldest = all_pages(&x, &auditor, "_count=3&_sort=date").await;
        let mut reversed = whole.clone();
        reversed.reverse();
        assert_eq!(oldest, reversed, "[{be}]");
        let total = x
            .get(Some(&auditor), "AuditEvent?_summary=count")
            .await
            .status(200)
            .json();
        assert_eq!(total["total"], whole.len(), "[{be}]");

        // A client whose scopes do not reach every type sees no security event, not even by id.
        assert!(
            all_pages(&x, &x.reader, "_count=100")
                .await
                .iter()
                .all(|id| id.starts_with("change-")),
            "[{be}]"
        );
        x.get(Some(&x.reader), &format!("AuditEvent/{}", alerts[0]))
            .await
            .status(404);
        x.get(None, &format!("AuditEvent/{}", alerts[0]))
            .await
            .status(401);
    }
}
