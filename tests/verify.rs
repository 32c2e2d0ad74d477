//! Primary-source verification (`$verify`), black-box, once per backend: a fake state
//! licensing board and a fake postal service on loopback (FHIR search APIs that can be taken
//! down). A matching licence is `validated`, a mismatched one `val-fail` with the reasons; a
//! source that is down leaves `in-process` and is asked again until it answers; the target's
//! NDH `verification-status` is searchable right after; verification on attestation and
//! revalidation run by themselves; strangers, readers and clients from whom the target is
//! hidden are refused, and a restricted target's result is not public.

mod common;

#[path = "auth/support.rs"]
#[allow(dead_code, reason = "shared with the authorization tests")]
mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use auth::testing::TestClientKey;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use reqwest::Method;
use serde_json::{json, Value};
use server::ServerConfig;

use common::{entries, spawn_app, test_databases, TestApp};
use support::{admin, client_token, token, with_token, ADMIN};

const T: &str = "default";
const MD: &str = "http://terminology.hl7.org/CodeSystem/v2-0360";

fn config() -> ServerConfig {
    ServerConfig {
        admin_token: Some(ADMIN.into()),
        outbound_allow: vec!["127.0.0.1".into()],
        ..ServerConfig::default()
    }
}

/// A fake primary source: its resources, and whether it is up.
struct Fake {
    resources: Vec<Value>,
    up: AtomicBool,
}

fn matches(r: &Value, key: &str, want: &str) -> bool {
    let want = want.to_lowercase();
    match key {
        "family" => r["name"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|n| n["family"].as_str().unwrap_or_default().to_lowercase() == want),
        "address-postalcode" => r["address"]["postalCode"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&want),
        "identifier" => {
            let value = want.rsplit('|').next().unwrap_or_default().to_owned();
            r["identifier"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|i| i["value"].as_str().unwrap_or_default().to_lowercase() == value)
        }
        "name" => r["name"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase()
            .contains(&want),
        _ => true,
    }
}

async fn serve_search(
    State(fake): State<Arc<Fake>>,
    axum::extract::Path(rtype): axum::extract::Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !fake.up.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance").into_response();
    }
    let found: Vec<Value> = fake
        .resources
        .iter()
        .filter(|r| r["resourceType"] == rtype.as_str())
        .filter(|r| {
            q.iter()
                .all(|(k, v)| k.starts_with('_') || matches(r, k, v))
        })
        .map(|r| json!({"resource": r, "search": {"mode": "match"}}))
        .collect();
    let bundle = json!({"resourceType": "Bundle", "type": "searchset", "entry": found});
    (
        [("content-type", "application/fhir+json")],
        bundle.to_string(),
    )
        .into_response()
}

async fn start_fake(resources: Vec<Value>) -> (String, Arc<Fake>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/fhir", listener.local_addr().unwrap());
    let fake = Arc::new(Fake {
        resources,
        up: AtomicBool::new(true),
    });
    let app = axum::Router::new()
        .route("/fhir/{rtype}", axum::routing::get(serve_search))
        .with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, fake)
}

fn licence(number: &str, issuer: &str, end: &str) -> Value {
    json!({"identifier": [{"value": number}], "code": {"coding": [{"system": MD, "code": "MD"}]},
           "issuer": {"display": issuer}, "period": {"start": "2015-01-01", "end": end}})
}

fn doctor(id: &str, family: &str, lic: Value) -> Value {
    json!({"resourceType": "Practitioner", "id": id, "name": [{"family": family, "given": ["Ann"]}],
           "qualification": [lic]})
}

fn clinic(id: &str, line: &str) -> Value {
    json!({"resourceType": "Location", "id": id, "name": "Clinic",
           "address": {"line": [line], "city": "Hartford", "state": "CT", "postalCode": "06103"}})
}

/// The licensing board and the postal service, as primary sources of the tenant.
async fn sources(app: &TestApp) -> Arc<Fake> {
    let (board, _) = start_fake(vec![
        doctor(
            "b1",
            "Good",
            licence("MD-1", "Connecticut Medical Board", "2031-12-31"),
        ),
        doctor(
            "b2",
            "Lapsed",
            licence("MD-2", "New York Medical Board", "2020-01-01"),
        ),
    ])
    .await;
    let (postal, postal_fake) = start_fake(vec![
        clinic("z1", "100 Main Street"),
        clinic("z2", "7 Elm Road"),
    ])
    .await;
    for (name, url, rtype) in [
        ("board", board, "Practitioner"),
        ("postal", postal, "Location"),
    ] {
        admin(
            app,
            Method::PUT,
            &format!("/admin/tenants/{T}/sources/{name}"),
            Some(json!({"url": url, "kind": "primary-source", "types": [rtype]})),
        )
        .await
        .status(200);
    }
    postal_fake
}

async fn set_verification(app: &TestApp, body: Value) {
    admin(
        app,
        Method::PUT,
        &format!("/admin/tenants/{T}/verification"),
        Some(body),
    )
    .await
    .status(200);
}

async fn verify(app: &TestApp, token: Option<&str>, path: &str) -> common::Resp {
    with_token(
        app,
        token,
        Method::POST,
        &format!("/fhir/{T}/{path}/$verify"),
        None,
    )
    .await
}

async fn ids(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let body = with_token(
        app,
        Some(token),
        Method::GET,
        &format!("/fhir/{T}/{query}"),
        None,
    )
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

/// The VerificationResult of `target`, once `check` holds for it (at most 20 s).
async fn result_when(
    app: &TestApp,
    token: &str,
    target: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let t0 = Instant::now();
    loop {
        let body = with_token(
            app,
            Some(token),
            Method::GET,
            &format!("/fhir/{T}/VerificationResult?target={target}"),
            None,
        )
        .await
        .status(200)
        .json();
        if let Some(vr) = entries(&body).first().map(|e| e["resource"].clone()) {
            if check(&vr) {
                return vr;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "[{}] {target}: {body}",
            app.backend
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn licences_and_addresses_are_verified_and_the_outcome_is_searchable_at_once() {
    for db in test_databases().await {
        let app = spawn_app(&db, config()).await;
        let b = app.backend;
        let postal = sources(&app).await;
        set_verification(&app, json!({"retry_after": "1s"})).await;
        let writer = client_token(&app, T, "system/*.cruds").await;
        for r in [
            doctor(
                "good",
                "Good",
                licence("MD-1", "Connecticut Medical Board", "2031-12-31"),
            ),
            doctor(
                "bad",
                "Lapsed",
                licence("MD-2", "Connecticut Medical Board", "2031-12-31"),
            ),
            doctor(
                "unknown",
                "Nobody",
                licence("MD-9", "Connecticut Medical Board", "2031-12-31"),
            ),
            clinic("main", "100 Main St."),
        ] {
            let path = format!(
                "/fhir/{T}/{}/{}",
                r["resourceType"].as_str().unwrap(),
                r["id"].as_str().unwrap()
            );
            let resp = with_token(&app, Some(&writer), Method::PUT, &path, Some(&r)).await;
            assert_eq!(resp.code, 201, "[{b}] {}", resp.text());
        }

        // A licence the board holds as attested: validated.
        let vr = verify(&app, Some(&writer), "Practitioner/good")
            .await
            .status(200)
            .json();
        assert_eq!(vr["resourceType"], "VerificationResult", "[{b}] {vr}");
        assert_eq!(vr["status"], "validated", "[{b}] {vr}");
        assert_eq!(
            vr["target"],
            json!([{"reference": "Practitioner/good"}]),
            "[{b}]"
        );
        assert_eq!(
            vr["targetLocation"],
            json!(["Practitioner.qualification[0]"]),
            "[{b}]"
        );
        assert_eq!(
            vr["primarySource"][0]["validationStatus"]["coding"][0]["code"], "successful",
            "[{b}] {vr}"
        );
        assert_eq!(
            vr["primarySource"][0]["type"][0]["coding"][0]["code"], "lic-board",
            "[{b}]"
        );
        assert!(vr["nextScheduled"].is_string(), "[{b}] {vr}");
        assert_eq!(
            vr["meta"]["profile"],
            json!(["http://hl7.org/fhir/us/ndh/StructureDefinition/ndh-Verification"]),
            "[{b}]"
        );
        // A licence the board holds otherwise: val-fail, with each reason.
        let vr = verify(&app, Some(&writer), "Practitioner/bad")
            .await
            .status(200)
            .json();
        assert_eq!(vr["status"], "val-fail", "[{b}] {vr}");
        let why = vr["primarySource"][0]["validationStatus"]["text"]
            .as_str()
            .unwrap();
        for reason in [
            "issuer differs",
            "New York Medical Board",
            "expired at the source on 2020-01-01",
        ] {
            assert!(why.contains(reason), "[{b}] {reason:?} not in {why}");
            assert!(
                vr["text"]["div"].as_str().unwrap().contains(reason),
                "[{b}] {vr}"
            );
        }
        let vr = verify(&app, Some(&writer), "Practitioner/unknown")
            .await
            .status(200)
            .json();
        assert_eq!(vr["status"], "val-fail", "[{b}] {vr}");
        assert!(
            vr["text"]["div"]
                .as_str()
                .unwrap()
                .contains("no licence MD-9"),
            "[{b}] {vr}"
        );
        // The targets' verification-status, searchable right after.
        assert_eq!(
            ids(&app, &writer, "Practitioner?verification-status=complete").await,
            ["good"],
            "[{b}]"
        );
        assert_eq!(
            ids(&app, &writer, "Practitioner?verification-status=incomplete").await,
            ["bad", "unknown"],
            "[{b}]"
        );

        // The postal service is down: in-process; asked again until it answers.
        postal.up.store(false, Ordering::SeqCst);
        let vr = verify(&app, Some(&writer), "Location/main")
            .await
            .status(200)
            .json();
        assert_eq!(vr["status"], "in-process", "[{b}] {vr}");
        assert!(
            vr["text"]["div"].as_str().unwrap().contains("503"),
            "[{b}] {vr}"
        );
        assert_eq!(
            ids(&app, &writer, "Location?verification-status=incomplete").await,
            ["main"]
        );
        postal.up.store(true, Ordering::SeqCst);
        let vr = result_when(&app, &writer, "Location/main", |vr| {
            vr["status"] != "in-process"
        })
        .await;
        assert_eq!(vr["status"], "validated", "[{b}] {vr}");
        assert_eq!(
            vr["need"]["coding"][0]["code"], "periodic",
            "[{b}] a retry: {vr}"
        );
        assert_eq!(
            ids(&app, &writer, "Location?verification-status=complete").await,
            ["main"]
        );
        // One VerificationResult per target, whatever the number of verifications.
        assert_eq!(
            ids(&app, &writer, "VerificationResult?target=Location/main")
                .await
                .len(),
            1
        );
    }
}

#[tokio::test]
async fn attestations_are_verified_by_themselves_and_results_expire_into_req_revalid() {
    for db in test_databases().await {
        let app = spawn_app(&db, config()).await;
        let b = app.backend;
        sources(&app).await;
        set_verification(
            &app,
            json!({"on_attestation": true, "revalidate_after": "3s"}),
        )
        .await;
        let writer = client_token(&app, T, "system/*.cruds").await;
        let r = doctor(
            "att",
            "Good",
            licence("MD-1", "Connecticut Medical Board", "2031-12-31"),
        );
        with_token(
            &app,
            Some(&writer),
            Method::PUT,
            &format!("/fhir/{T}/Practitioner/att"),
            Some(&r),
        )
        .await
        .status(201);
        let vr = result_when(&app, &writer, "Practitioner/att", |vr| {
            vr["status"] == "validated"
        })
        .await;
        let attester = vr["attestation"]["who"]["display"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(attester.starts_with("attested by client "), "[{b}] {vr}");
        assert_eq!(
            ids(&app, &writer, "Practitioner?verification-status=complete").await,
            ["att"]
        );
        // An attestation in a transaction Bundle is verified too.
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": doctor("viatx", "Good", licence("MD-1", "Connecticut Medical Board", "2031-12-31")),
             "request": {"method": "PUT", "url": "Practitioner/viatx"}}]});
        with_token(
            &app,
            Some(&writer),
            Method::POST,
            &format!("/fhir/{T}"),
            Some(&bundle),
        )
        .await
        .status(200);
        result_when(&app, &writer, "Practitioner/viatx", |vr| {
            vr["status"] == "validated"
        })
        .await;
        // Its result expires: req-revalid, the practitioner incomplete.
        result_when(&app, &writer, "Practitioner/att", |vr| {
            vr["status"] == "req-revalid"
        })
        .await;
        let incomplete = ids(&app, &writer, "Practitioner?verification-status=incomplete").await;
        assert!(
            incomplete.contains(&"att".to_owned()),
            "[{b}] {incomplete:?}"
        );
        // The server's own writes (the status extension) attest nothing: no new verification.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let vr = result_when(&app, &writer, "Practitioner/att", |_| true).await;
        assert_eq!(vr["status"], "req-revalid", "[{b}] {vr}");
    }
}

#[tokio::test]
async fn only_writers_who_see_the_whole_target_may_verify_and_restricted_results_stay_hidden() {
    for db in test_databases().await {
        let app = spawn_app(&db, config()).await;
        let b = app.backend;
        sources(&app).await;
        let writer = client_token(&app, T, "system/*.cruds").await;
        let reader = client_token(&app, T, "system/*.rs").await;
        let good = doctor(
            "good",
            "Good",
            licence("MD-1", "Connecticut Medical Board", "2031-12-31"),
        );
        with_token(
            &app,
            Some(&writer),
            Method::PUT,
            &format!("/fhir/{T}/Practitioner/good"),
            Some(&good),
        )
        .await
        .status(201);
        // No token: 401; a reader: 403; nothing recorded.
        assert_eq!(
            verify(&app, None, "Practitioner/good").await.code,
            401,
            "[{b}]"
        );
        verify(&app, Some(&reader), "Practitioner/good")
            .await
            .outcome(403, "forbidden");
        assert!(
            ids(&app, &writer, "VerificationResult").await.is_empty(),
            "[{b}]"
        );
        // Unknown instance, unverifiable type, type without a primary source.
        verify(&app, Some(&writer), "Practitioner/nope")
            .await
            .outcome(404, "not-found");
        let resp = verify(&app, Some(&writer), "Patient/good").await;
        assert_eq!(resp.code, 404, "[{b}] {}", resp.text());
        with_token(
            &app,
            Some(&writer),
            Method::PUT,
            &format!("/fhir/{T}/Organization/o"),
            Some(&json!({"resourceType": "Organization", "id": "o", "name": "Acme"})),
        )
        .await
        .status(201);
        let why = verify(&app, Some(&writer), "Organization/o")
            .await
            .outcome(422, "processing");
        assert!(
            why.contains("no primary source for Organization"),
            "[{b}] {why}"
        );

        // A clinic restricted to privileged clients: hidden from the writer (404, as if it did
        // not exist).
        let operator_key = TestClientKey::ec256("op");
        let resp = admin(
            &app,
            Method::POST,
            &format!("/admin/tenants/{T}/clients"),
            Some(
                json!({"jwks": {"keys": [operator_key.public_jwk()]}, "scope": "system/*.cruds",
                        "see_restricted": true}),
            ),
        )
        .await
        .status(201);
        let operator_id = resp.json()["client_id"].as_str().unwrap().to_owned();
        let operator = token(&app, T, &operator_key, &operator_id, "system/*.cruds").await;
        let mut shelter = clinic("shelter", "7 Elm Road");
        shelter["meta"] = json!({"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "V"}]});
        with_token(
            &app,
            Some(&operator),
            Method::PUT,
            &format!("/fhir/{T}/Location/shelter"),
            Some(&shelter),
        )
        .await
        .status(201);
        verify(&app, Some(&writer), "Location/shelter")
            .await
            .outcome(404, "not-found");
        // The operator may; the result is restricted like its target.
        let vr = verify(&app, Some(&operator), "Location/shelter")
            .await
            .status(200)
            .json();
        assert_eq!(vr["status"], "validated", "[{b}] {vr}");
        assert_eq!(vr["meta"]["security"][0]["code"], "V", "[{b}] {vr}");
        assert!(
            ids(&app, &writer, "VerificationResult?target=Location/shelter")
                .await
                .is_empty(),
            "[{b}] the writer cannot learn of the shelter through its result"
        );
        let anonymous = app
            .get(&format!(
                "/fhir/{T}/VerificationResult?target=Location/shelter"
            ))
            .await;
        if anonymous.code == 200 {
            assert!(
                entries(&anonymous.json()).is_empty(),
                "[{b}] {}",
                anonymous.text()
            );
        }
        assert_eq!(
            ids(
                &app,
                &operator,
                "VerificationResult?target=Location/shelter"
            )
            .await
            .len(),
            1
        );
    }
}
