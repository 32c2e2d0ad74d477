//! Topic-based Subscriptions (R4 Backport STU 1.1), black-box, once per backend: a subscriber
//! on loopback receives the handshake and then every change of its topic in order, numbered
//! without gaps, exactly once in effect through failures; filters see a resource leave them;
//! events never cross tenants nor carry what the owner may not read; what is not supported
//! is refused with 422 naming it.

mod common;

#[path = "auth/support.rs"]
#[allow(dead_code, reason = "shared with the authorization tests")]
mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth::testing::TestClientKey;
use axum::http::{HeaderMap, StatusCode};
use reqwest::Method;
use serde_json::{json, Value};
use server::ServerConfig;

use common::{practitioner, spawn_app, test_databases, Resp, TestApp};
use support::{add_client, admin, create_tenant, token, with_token, ADMIN};

const BACKPORT: &str = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/";
const TOPIC: &str = "http://fhirdir.org/topic/practitioner-create-update-delete";

/// What the subscriber received: every request's headers and body, and how many of the
/// next event notifications it will refuse with a 500.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
    refuse: Arc<Mutex<usize>>,
}

impl Receiver {
    /// Serves on loopback; answers the URL to subscribe.
    async fn start(&self) -> String {
        let me = self.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let me = me.clone();
                async move {
                    let value: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    let is_event = kind(&value) == "event-notification";
                    let mut refuse = me.refuse.lock().unwrap();
                    if is_event && *refuse > 0 {
                        *refuse -= 1;
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    me.got.lock().unwrap().push((headers, value));
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/hook")
    }

    fn accepted(&self) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn events(&self) -> Vec<Value> {
        self.accepted()
            .into_iter()
            .filter(|b| kind(b) == "event-notification")
            .collect()
    }

    /// Waits until `enough` holds of what was accepted (at most 20 s).
    async fn wait_for(&self, what: &str, enough: impl Fn(&[Value]) -> bool) {
        let start = Instant::now();
        while !enough(&self.accepted()) {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "timed out waiting for {what}; got {:#?}",
                self.accepted()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The notification type of a notification Bundle.
fn kind(bundle: &Value) -> String {
    param(&bundle["entry"][0]["resource"], "type")
}

fn param(status: &Value, name: &str) -> String {
    status["parameter"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == name)
        .and_then(|p| {
            p.as_object()?
                .iter()
                .find(|(k, _)| k.starts_with("value"))
                .map(|(_, v)| v.as_str().unwrap_or_default().to_owned())
        })
        .unwrap_or_default()
}

/// (event number, focus) of each event of the accepted notifications, in order.
fn numbered(bundles: &[Value]) -> Vec<(i64, String)> {
    bundles
        .iter()
        .flat_map(|b| {
            b["entry"][0]["resource"]["parameter"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|p| p["name"] == "notification-event")
        .map(|p| {
            let n = p["part"][0]["valueString"]
                .as_str()
                .unwrap_or("0")
                .parse()
                .unwrap_or(0);
            let focus = p["part"][2]["valueReference"]["reference"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            (n, focus)
        })
        .collect()
}

fn subscription(endpoint: &str, topic: &str, filter: Option<&str>, payload: &str) -> Value {
    let mut s = json!({
        "resourceType": "Subscription",
        "status": "active",
        "reason": "test",
        "criteria": topic,
        "channel": {
            "type": "rest-hook",
            "endpoint": endpoint,
            "payload": "application/fhir+json",
            "_payload": {"extension": [{"url": format!("{BACKPORT}backport-payload-content"), "valueCode": payload}]},
            "header": ["X-Token: s3cret"]
        }
    });
    if let Some(f) = filter {
        s["_criteria"] = json!({"extension": [{"url": format!("{BACKPORT}backport-filter-criteria"), "valueString": f}]});
    }
    s
}

/// A change made to a valid Subscription.
type Change = Box<dyn Fn(&mut Value)>;

/// A server whose outbound requests may reach loopback, with `give_up` seconds.
async fn server(db: &testkit::TestDb, give_up: u64) -> TestApp {
    spawn_app(
        db,
        ServerConfig {
            admin_token: Some(ADMIN.into()),
            outbound_allow: vec!["127.0.0.1".into()],
            subscription_give_up: Duration::from_secs(give_up),
            ..ServerConfig::default()
        },
    )
    .await
}

/// A client of `tenant` with `scope`: (client id, token).
async fn client(app: &TestApp, tenant: &str, scope: &str) -> (String, String) {
    let key = TestClientKey::ec256("k1");
    let id = add_client(app, tenant, &key, scope).await;
    let t = token(app, tenant, &key, &id, scope).await;
    (id, t)
}

async fn call(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Resp {
    with_token(app, Some(token), method, path, body).await
}

/// Reads the Subscription at `path` until its status is `status` (at most 20 s); answers it.
async fn until_status(app: &TestApp, token: &str, path: &str, status: &str) -> Value {
    let start = Instant::now();
    loop {
        let s = call(app, token, Method::GET, path, None)
            .await
            .status(200)
            .json();
        if s["status"] == status {
            return s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{path} never became {status}: {s}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `$status` of the Subscription at `path` once it counts `since` events (at most 10 s): the
/// server records what it sent once the subscriber has answered, so the count follows the
/// receipt by a moment.
async fn status_counting(app: &TestApp, token: &str, path: &str, since: &str) -> Value {
    let started = Instant::now();
    loop {
        let status = call(app, token, Method::GET, &format!("{path}/$status"), None)
            .await
            .status(200)
            .json();
        let counted = param(
            &status["entry"][0]["resource"],
            "events-since-subscription-start",
        );
        if counted == since || started.elapsed() > Duration::from_secs(10) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A server (subscribers failing for `give_up` seconds are set to error), a client of tenant
/// `default` allowed everything, and a subscriber on loopback.
struct World {
    app: TestApp,
    t: String,
    rx: Receiver,
    hook: String,
}

async fn world(db: &testkit::TestDb, give_up: u64) -> World {
    let app = server(db, give_up).await;
    let (_, t) = client(&app, "default", "system/*.cruds").await;
    let rx = Receiver::default();
    let hook = rx.start().await;
    World { app, t, rx, hook }
}

/// [`subscribe`] in `default` to every Practitioner change, id-only.
async fn subscribe_plain(app: &TestApp, t: &str, rx: &Receiver, hook: &str) -> String {
    let body = subscription(hook, TOPIC, None, "id-only");
    subscribe(app, "default", t, rx, &body).await
}

/// Creates the Subscription and waits until it is active; answers its id.
async fn subscribe(
    app: &TestApp,
    tenant: &str,
    token: &str,
    rx: &Receiver,
    body: &Value,
) -> String {
    let resp = call(
        app,
        token,
        Method::POST,
        &format!("/fhir/{tenant}/Subscription"),
        Some(body),
    )
    .await;
    let created = resp.status(201).json();
    assert_eq!(
        created["status"], "requested",
        "a posted active is taken as requested"
    );
    let id = created["id"].as_str().expect("id").to_owned();
    rx.wait_for("the handshake", |got| {
        got.iter().any(|b| kind(b) == "handshake")
    })
    .await;
    let path = format!("/fhir/{tenant}/Subscription/{id}");
    until_status(app, token, &path, "active").await;
    id
}

async fn put(app: &TestApp, tenant: &str, token: &str, r: &Value) {
    let path = format!(
        "/fhir/{tenant}/{}/{}",
        r["resourceType"].as_str().unwrap(),
        r["id"].as_str().unwrap()
    );
    let resp = call(app, token, Method::PUT, &path, Some(r)).await;
    assert!(
        matches!(resp.code, 200 | 201),
        "{}: {}",
        resp.what,
        resp.text()
    );
}

#[tokio::test]
async fn a_subscriber_gets_the_handshake_then_each_change_in_order() {
    for db in test_databases().await {
        let be = db.backend;
        let app = server(&db, 3600).await;
        create_tenant(&app, "nat").await;
        let (_, t) = client(&app, "nat", "system/*.cruds").await;
        let rx = Receiver::default();
        let hook = rx.start().await;
        let id = subscribe(
            &app,
            "nat",
            &t,
            &rx,
            &subscription(&hook, TOPIC, None, "full-resource"),
        )
        .await;
        let (headers, handshake) = rx.got.lock().unwrap()[0].clone();
        assert_eq!(handshake["type"], "history", "[{be}]");
        assert_eq!(
            headers.get("x-token").and_then(|v| v.to_str().ok()),
            Some("s3cret"),
            "[{be}]"
        );

        put(&app, "nat", &t, &practitioner(Some("p1"), "Ada")).await;
        put(&app, "nat", &t, &practitioner(Some("p1"), "Bea")).await;
        put(
            &app,
            "nat",
            &t,
            &json!({"resourceType": "Organization", "id": "o1", "name": "Not this topic"}),
        )
        .await;
        call(&app, &t, Method::DELETE, "/fhir/nat/Practitioner/p1", None)
            .await
            .status(200);
        rx.wait_for("three events", |got| {
            numbered(
                &got.iter()
                    .filter(|b| kind(b) == "event-notification")
                    .cloned()
                    .collect::<Vec<_>>(),
            )
            .len()
                >= 3
        })
        .await;
        let events = rx.events();
        let base = support::base(&app, "nat");
        assert_eq!(
            numbered(&events),
            [
                (1, format!("{base}/Practitioner/p1/_history/1")),
                (2, format!("{base}/Practitioner/p1/_history/2")),
                (3, format!("{base}/Practitioner/p1/_history/3")),
            ],
            "[{be}]"
        );
        let entries: Vec<Value> = events
            .iter()
            .flat_map(|b| {
                b["entry"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .skip(1)
            })
            .collect();
        let methods: Vec<&str> = entries
            .iter()
            .map(|e| e["request"]["method"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(methods, ["POST", "PUT", "DELETE"], "[{be}]");
        assert_eq!(
            entries[1]["resource"]["name"][0]["family"], "Bea",
            "[{be}] full-resource"
        );
        assert!(
            entries[2].get("resource").is_none(),
            "[{be}] a delete carries no body"
        );

        // $status and $events report the same.
        let status = status_counting(&app, &t, &format!("/fhir/nat/Subscription/{id}"), "3").await;
        let s = &status["entry"][0]["resource"];
        assert_eq!(param(s, "status"), "active", "[{be}] {status}");
        assert_eq!(param(s, "events-since-subscription-start"), "3", "[{be}]");
        assert_eq!(param(s, "type"), "query-status", "[{be}]");
        let all = call(
            &app,
            &t,
            Method::GET,
            "/fhir/nat/Subscription/$status",
            None,
        )
        .await
        .status(200)
        .json();
        assert_eq!(all["total"], 1, "[{be}] {all}");
        let replay = call(
            &app,
            &t,
            Method::GET,
            &format!("/fhir/nat/Subscription/{id}/$events?eventsSinceNumber=2&content=id-only"),
            None,
        )
        .await
        .status(200)
        .json();
        assert_eq!(
            param(&replay["entry"][0]["resource"], "type"),
            "query-event",
            "[{be}]"
        );
        assert_eq!(
            numbered(std::slice::from_ref(&replay))
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>(),
            [2, 3],
            "[{be}]"
        );
        assert!(
            replay["entry"][1].get("resource").is_none(),
            "[{be}] id-only"
        );
        call(
            &app,
            &t,
            Method::GET,
            "/fhir/nat/Subscription/nope/$status",
            None,
        )
        .await
        .status(404);
        call(
            &app,
            &t,
            Method::GET,
            &format!("/fhir/nat/Subscription/{id}/$nothing"),
            None,
        )
        .await
        .status(404);
        call(
            &app,
            &t,
            Method::GET,
            &format!("/fhir/nat/Subscription/{id}/$events?eventsSinceNumber=x"),
            None,
        )
        .await
        .outcome(400, "invalid");
    }
}

#[tokio::test]
async fn a_failing_subscriber_gets_every_event_once_it_recovers() {
    for db in test_databases().await {
        let be = db.backend;
        let World { app, t, rx, hook } = world(&db, 3600).await;
        let id = subscribe_plain(&app, &t, &rx, &hook).await;
        *rx.refuse.lock().unwrap() = 2;
        for i in 0..3 {
            put(
                &app,
                "default",
                &t,
                &practitioner(Some(&format!("f{i}")), "Fail"),
            )
            .await;
        }
        rx.wait_for("three events", |got| numbered(got).len() >= 3)
            .await;
        let got = numbered(&rx.events());
        assert_eq!(
            got.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            [1, 2, 3],
            "[{be}] {got:?}"
        );
        assert_eq!(
            *rx.refuse.lock().unwrap(),
            0,
            "[{be}] the refusals happened"
        );
        let status =
            status_counting(&app, &t, &format!("/fhir/default/Subscription/{id}"), "3").await;
        assert_eq!(
            param(
                &status["entry"][0]["resource"],
                "events-since-subscription-start"
            ),
            "3",
            "[{be}]"
        );
    }
}

#[tokio::test]
async fn a_subscriber_failing_past_the_give_up_time_is_set_to_error_and_resumes_when_requested() {
    for db in test_databases().await {
        let be = db.backend;
        let World { app, t, rx, hook } = world(&db, 1).await;
        let id = subscribe_plain(&app, &t, &rx, &hook).await;
        *rx.refuse.lock().unwrap() = usize::MAX;
        put(&app, "default", &t, &practitioner(Some("g1"), "Gone")).await;
        let path = format!("/fhir/default/Subscription/{id}");
        let errored = until_status(&app, &t, &path, "error").await;
        assert!(
            errored["error"].as_str().unwrap_or("").contains("500"),
            "[{be}] {errored}"
        );
        let status = call(&app, &t, Method::GET, &format!("{path}/$status"), None)
            .await
            .status(200)
            .json();
        assert_eq!(
            param(&status["entry"][0]["resource"], "status"),
            "error",
            "[{be}]"
        );
        assert!(rx.events().is_empty(), "[{be}]");
        // The subscriber recovers; the client asks again: a new handshake, then the event
        // that was never delivered, numbered 1.
        *rx.refuse.lock().unwrap() = 0;
        let mut again = errored.clone();
        again["status"] = json!("requested");
        call(&app, &t, Method::PUT, &path, Some(&again))
            .await
            .status(200);
        rx.wait_for("the missed event", |got| !numbered(got).is_empty())
            .await;
        assert_eq!(numbered(&rx.events())[0].0, 1, "[{be}]");
        assert!(
            numbered(&rx.events())[0]
                .1
                .ends_with("Practitioner/g1/_history/1"),
            "[{be}]"
        );
    }
}

#[tokio::test]
async fn a_filter_sees_a_resource_enter_and_leave_it() {
    for db in test_databases().await {
        let be = db.backend;
        let World { app, t, rx, hook } = world(&db, 3600).await;
        let sub = subscription(&hook, TOPIC, Some("Practitioner?family=smith"), "id-only");
        subscribe(&app, "default", &t, &rx, &sub).await;
        put(&app, "default", &t, &practitioner(Some("a"), "Jones")).await;
        put(&app, "default", &t, &practitioner(Some("b"), "Smith")).await;
        put(&app, "default", &t, &practitioner(Some("b"), "Brown")).await;
        put(&app, "default", &t, &practitioner(Some("b"), "Green")).await;
        put(&app, "default", &t, &practitioner(Some("a"), "Smithers")).await;
        rx.wait_for("three events", |got| numbered(got).len() >= 3)
            .await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        let focus: Vec<String> = numbered(&rx.events())
            .into_iter()
            .map(|(n, f)| format!("{n} {}", f.rsplit("/Practitioner/").next().unwrap_or("")))
            .collect();
        assert_eq!(
            focus,
            ["1 b/_history/1", "2 b/_history/2", "3 a/_history/2"],
            "[{be}]"
        );
    }
}

#[tokio::test]
async fn events_never_cross_tenants_nor_carry_what_the_owner_may_not_read() {
    for db in test_databases().await {
        let be = db.backend;
        let app = server(&db, 3600).await;
        create_tenant(&app, "other").await;
        let (_, writer) = client(&app, "default", "system/*.cruds").await;
        let (_, other) = client(&app, "other", "system/*.cruds").await;
        let (_, owner) = client(
            &app,
            "default",
            "system/Practitioner.rs system/Subscription.cruds",
        )
        .await;
        let rx = Receiver::default();
        let hook = rx.start().await;
        subscribe(
            &app,
            "default",
            &owner,
            &rx,
            &subscription(&hook, TOPIC, None, "full-resource"),
        )
        .await;
        // Another tenant's write, and a Practitioner only `see_restricted` clients may see.
        put(
            &app,
            "other",
            &other,
            &practitioner(Some("x1"), "Elsewhere"),
        )
        .await;
        let mut secret = practitioner(Some("v1"), "Secret");
        secret["meta"] = json!({"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "V"}]});
        put(&app, "default", &writer, &secret).await;
        put(
            &app,
            "default",
            &writer,
            &practitioner(Some("p1"), "Public"),
        )
        .await;
        rx.wait_for("the public write", |got| !numbered(got).is_empty())
            .await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        let got = numbered(&rx.events());
        assert_eq!(got.len(), 1, "[{be}] {got:?}");
        assert_eq!(got[0].0, 1, "[{be}] the hidden event took no number");
        assert!(
            got[0]
                .1
                .ends_with("/fhir/default/Practitioner/p1/_history/1"),
            "[{be}] {got:?}"
        );
        let text = serde_json::to_string(&rx.accepted()).unwrap();
        assert!(
            !text.contains("Secret") && !text.contains("Elsewhere"),
            "[{be}] {text}"
        );
    }
}

#[tokio::test]
async fn what_is_not_supported_is_refused_and_only_clients_with_scopes_subscribe() {
    for db in test_databases().await {
        let be = db.backend;
        let app = server(&db, 3600).await;
        let (_, t) = client(&app, "default", "system/*.cruds").await;
        let good = subscription("https://example.org/hook", TOPIC, None, "id-only");
        let cases: Vec<(Change, &str)> = vec![
            (
                Box::new(|s| s["criteria"] = json!("http://example.org/no-topic")),
                "no-topic",
            ),
            (
                Box::new(|s| s["channel"]["type"] = json!("websocket")),
                "websocket",
            ),
            (
                Box::new(|s| s["channel"]["_payload"]["extension"][0]["valueCode"] = json!("all")),
                "all",
            ),
            (
                Box::new(|s| s["channel"]["payload"] = json!("application/fhir+xml")),
                "xml",
            ),
            (Box::new(|s| s["status"] = json!("error")), "error"),
            (
                Box::new(
                    |s| s["_criteria"] = json!({"extension": [{"url": format!("{BACKPORT}backport-filter-criteria"), "valueString": "Practitioner?_has:PractitionerRole:practitioner:specialty=x"}]}),
                ),
                "_has",
            ),
            (
                Box::new(|s| s["channel"]["endpoint"] = json!("ftp://example.org/x")),
                "ftp",
            ),
        ];
        for (change, says) in cases {
            let mut s = good.clone();
            change(&mut s);
            let why = call(
                &app,
                &t,
                Method::POST,
                "/fhir/default/Subscription",
                Some(&s),
            )
            .await
            .outcome(422, "processing");
            assert!(why.contains(says), "[{be}] {says}: {why}");
        }
        // Who may subscribe: a token with a write scope on Subscription.
        let resp = with_token(
            &app,
            None,
            Method::POST,
            "/fhir/default/Subscription",
            Some(&good),
        )
        .await;
        assert_eq!(resp.code, 401, "[{be}]");
        let (_, reader) = client(&app, "default", "system/*.rs").await;
        call(
            &app,
            &reader,
            Method::POST,
            "/fhir/default/Subscription",
            Some(&good),
        )
        .await
        .outcome(403, "forbidden");
        // An endpoint the outbound rules refuse (loopback, not allow-listed; plain http) is
        // accepted, then set to error by the handshake, with the reason.
        let rx = Receiver::default();
        let mut s = good.clone();
        s["channel"]["endpoint"] = json!("http://127.0.0.2:9/hook");
        let created = call(
            &app,
            &t,
            Method::POST,
            "/fhir/default/Subscription",
            Some(&s),
        )
        .await
        .status(201)
        .json();
        let path = format!(
            "/fhir/default/Subscription/{}",
            created["id"].as_str().unwrap()
        );
        let s = until_status(&app, &t, &path, "error").await;
        assert!(
            s["error"].as_str().unwrap_or("").contains("handshake"),
            "[{be}] {s}"
        );
        assert!(rx.accepted().is_empty());
        // The CapabilityStatement lists the topics and the operations.
        let cs = app.get("/fhir/default/metadata").await.status(200).json();
        let sub = cs["rest"][0]["resource"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["type"] == "Subscription")
            .cloned()
            .unwrap();
        let topics: Vec<&str> = sub["extension"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["valueCanonical"].as_str())
            .collect();
        assert!(
            topics.contains(&TOPIC)
                && topics.contains(&"http://ndh.org/topic/practitioner-create-or-delete"),
            "[{be}] {topics:?}"
        );
        // ... and each topic is readable as an R4 Basic (the backport's SubscriptionTopic).
        let basics = app
            .get("/fhir/default/Basic?code=SubscriptionTopic")
            .await
            .status(200)
            .json();
        assert_eq!(
            basics["total"].as_u64(),
            Some(topics.len() as u64),
            "[{be}]"
        );
        let ndh = app
            .get("/fhir/default/Basic/ndh-practitioner-create-or-delete")
            .await
            .status(200)
            .json();
        assert_eq!(
            ndh["extension"][0]["valueUri"], "http://ndh.org/topic/practitioner-create-or-delete",
            "[{be}] {ndh}"
        );
        app.get("/fhir/default/Basic/ndh-no-such-topic")
            .await
            .status(404);
    }
}

#[tokio::test]
async fn a_quiet_subscription_sends_heartbeats() {
    for db in test_databases().await {
        let be = db.backend;
        let World { app, t, rx, hook } = world(&db, 3600).await;
        let mut s = subscription(&hook, TOPIC, None, "empty");
        s["channel"]["extension"] =
            json!([{"url": format!("{BACKPORT}backport-heartbeat-period"), "valueUnsignedInt": 1}]);
        subscribe(&app, "default", &t, &rx, &s).await;
        rx.wait_for("two heartbeats", |got| {
            got.iter().filter(|b| kind(b) == "heartbeat").count() >= 2
        })
        .await;
        let beat = rx
            .accepted()
            .into_iter()
            .find(|b| kind(b) == "heartbeat")
            .unwrap();
        assert_eq!(
            param(&beat["entry"][0]["resource"], "status"),
            "active",
            "[{be}]"
        );
        assert_eq!(
            beat["entry"].as_array().map(Vec::len),
            Some(1),
            "[{be}] status only"
        );
    }
}

#[tokio::test]
async fn a_subscription_set_off_receives_nothing_until_requested_again() {
    for db in test_databases().await {
        let be = db.backend;
        let World { app, t, rx, hook } = world(&db, 3600).await;
        let id = subscribe_plain(&app, &t, &rx, &hook).await;
        let path = format!("/fhir/default/Subscription/{id}");
        let mut off = call(&app, &t, Method::GET, &path, None)
            .await
            .status(200)
            .json();
        off["status"] = json!("off");
        call(&app, &t, Method::PUT, &path, Some(&off))
            .await
            .status(200);
        put(&app, "default", &t, &practitioner(Some("q1"), "Quiet")).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert!(rx.events().is_empty(), "[{be}] {:?}", rx.events());
        let status = call(&app, &t, Method::GET, &format!("{path}/$status"), None)
            .await
            .status(200)
            .json();
        assert_eq!(
            param(&status["entry"][0]["resource"], "status"),
            "off",
            "[{be}]"
        );
        assert_eq!(
            call(&app, &t, Method::GET, &path, None)
                .await
                .status(200)
                .json()["status"],
            "off"
        );
        // Asked again: the change made while it was off is delivered.
        off["status"] = json!("requested");
        call(&app, &t, Method::PUT, &path, Some(&off))
            .await
            .status(200);
        rx.wait_for("the change made while off", |got| !numbered(got).is_empty())
            .await;
        assert!(
            numbered(&rx.events())[0]
                .1
                .ends_with("Practitioner/q1/_history/1"),
            "[{be}]"
        );
    }
}

#[tokio::test]
async fn only_its_owner_changes_a_subscription_and_events_need_the_topic_s_read_scope() {
    for db in test_databases().await {
        let be = db.backend;
        let app = server(&db, 3600).await;
        let (_, owner) = client(&app, "default", "system/*.cruds").await;
        let (_, other) = client(&app, "default", "system/*.cruds").await;
        let rx = Receiver::default();
        let hook = rx.start().await;
        let id = subscribe(
            &app,
            "default",
            &owner,
            &rx,
            &subscription(&hook, TOPIC, None, "id-only"),
        )
        .await;
        let path = format!("/fhir/default/Subscription/{id}");
        // Another client may not point it elsewhere, switch it off, patch or delete it.
        let mut stolen = subscription(
            "https://attacker.example/hook",
            TOPIC,
            None,
            "full-resource",
        );
        stolen["id"] = json!(id);
        let why = call(&app, &other, Method::PUT, &path, Some(&stolen))
            .await
            .outcome(403, "forbidden");
        assert!(why.contains("owner"), "[{be}] {why}");
        let patch = app
            .request(Method::PATCH, &path)
            .bearer_auth(&other)
            .header("content-type", "application/json-patch+json")
            .body(r#"[{"op": "replace", "path": "/status", "value": "off"}]"#);
        app.send(patch).await.outcome(403, "forbidden");
        call(&app, &other, Method::DELETE, &path, None)
            .await
            .outcome(403, "forbidden");
        let kept = call(&app, &owner, Method::GET, &path, None)
            .await
            .status(200)
            .json();
        assert_eq!(kept["channel"]["endpoint"], hook.as_str(), "[{be}]");
        assert_eq!(kept["status"], "active", "[{be}]");
        // $events returns the topic's resources: Subscription read alone is not enough.
        let (_, subs_only) = client(&app, "default", "system/Subscription.rs").await;
        call(
            &app,
            &subs_only,
            Method::GET,
            &format!("{path}/$events"),
            None,
        )
        .await
        .outcome(403, "forbidden");
        // The owner may change and delete it.
        call(&app, &owner, Method::DELETE, &path, None)
            .await
            .status(200);
    }
}

#[tokio::test]
async fn a_subscription_made_without_a_token_stops_when_anonymous_reads_stop() {
    for db in test_databases().await {
        let be = db.backend;
        let rx = Receiver::default();
        let hook = rx.start().await;
        // Made anonymously while authorization was off...
        let open = spawn_app(
            &db,
            ServerConfig {
                outbound_allow: vec!["127.0.0.1".into()],
                ..ServerConfig::auth_off()
            },
        )
        .await;
        let s = subscription(&hook, TOPIC, None, "id-only");
        let created = open
            .post("/fhir/default/Subscription", &s)
            .await
            .status(201)
            .json();
        let id = created["id"].as_str().expect("id").to_owned();
        rx.wait_for("the handshake", |got| {
            got.iter().any(|b| kind(b) == "handshake")
        })
        .await;
        drop(open);
        // ...then the server runs with authorization on, and the tenant closes anonymous reads.
        let app = server(&db, 3600).await;
        admin(
            &app,
            Method::PUT,
            "/admin/tenants/default/access",
            Some(json!({"anonymous_read": false})),
        )
        .await
        .status(200);
        let (_, t) = client(&app, "default", "system/*.cruds").await;
        put(&app, "default", &t, &practitioner(Some("z1"), "Private")).await;
        let path = format!("/fhir/default/Subscription/{id}");
        let s = until_status(&app, &t, &path, "error").await;
        assert!(
            s["error"].as_str().unwrap_or("").contains("anonymous"),
            "[{be}] {s}"
        );
        assert!(rx.events().is_empty(), "[{be}] {:?}", rx.events());
    }
}

#[tokio::test]
async fn channel_headers_are_write_only_and_kept_when_the_owner_changes_the_subscription() {
    for db in test_databases().await {
        let be = db.backend;
        let World { app, t, rx, hook } = world(&db, 3600).await;
        let id = subscribe_plain(&app, &t, &rx, &hook).await;
        let path = format!("/fhir/default/Subscription/{id}");
        // Not even the owner reads its credentials back, by read, search or history.
        for p in [
            path.clone(),
            format!("/fhir/default/Subscription?_id={id}"),
            format!("{path}/_history"),
        ] {
            let seen = call(&app, &t, Method::GET, &p, None)
                .await
                .status(200)
                .json();
            let text = seen.to_string();
            assert!(text.contains(&id), "[{be}] {p}: {text}");
            assert!(!text.contains("s3cret"), "[{be}] {p}: {text}");
        }
        // The owner switches it off and on again by PATCH, without restating the header.
        for status in ["off", "requested"] {
            let patch = app
                .request(Method::PATCH, &path)
                .bearer_auth(&t)
                .header("content-type", "application/json-patch+json")
                .body(format!(
                    r#"[{{"op": "replace", "path": "/status", "value": "{status}"}}]"#
                ));
            app.send(patch).await.status(200);
        }
        until_status(&app, &t, &path, "active").await;
        put(&app, "default", &t, &practitioner(Some("h1"), "Headed")).await;
        rx.wait_for("the event", |got| !numbered(got).is_empty())
            .await;
        let got = rx.got.lock().unwrap().clone();
        let (headers, _) = got
            .iter()
            .find(|(_, b)| kind(b) == "event-notification")
            .expect("an event notification");
        assert_eq!(
            headers.get("x-token").and_then(|v| v.to_str().ok()),
            Some("s3cret"),
            "[{be}] the stored header is still sent"
        );
    }
}

#[tokio::test]
async fn a_silent_endpoint_delays_only_its_own_subscription() {
    for db in test_databases().await {
        let be = db.backend;
        let World { app, t, rx, hook } = world(&db, 3600).await;
        // An endpoint that accepts connections and never answers.
        let tarpit = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent = format!("http://{}/hook", tarpit.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = tarpit.accept().await {
                held.push(socket);
            }
        });
        let mut slow = subscription(&silent, TOPIC, None, "id-only");
        slow["channel"]["extension"] = json!([
            {"url": format!("{BACKPORT}backport-timeout"), "valueUnsignedInt": 30}
        ]);
        call(
            &app,
            &t,
            Method::POST,
            "/fhir/default/Subscription",
            Some(&slow),
        )
        .await
        .status(201);
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Made after the silent one, served beside it: its handshake and its events come
        // at once, while the silent one's requests wait out their 30 s.
        let started = Instant::now();
        subscribe_plain(&app, &t, &rx, &hook).await;
        put(&app, "default", &t, &practitioner(Some("s1"), "Served")).await;
        rx.wait_for("the event", |got| !numbered(got).is_empty())
            .await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "[{be}] took {:?}",
            started.elapsed()
        );
    }
}
