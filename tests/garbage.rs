//! Garbage in: malformed ids, versions, parameters, bodies and bytes. Every answer must be
//! a 4xx OperationOutcome (never a 5xx, a hang or a plain-text error), and the server must
//! keep serving; once per backend.

mod common;

use common::{admin_config, raw_request, spawn_app, test_databases, Resp, TestApp};
use reqwest::Method;

/// A request built from raw parts (reqwest percent-encodes nothing already encoded).
struct Junk {
    name: &'static str,
    method: Method,
    path: String,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Option<Vec<u8>>,
}

fn get(name: &'static str, path: impl Into<String>) -> Junk {
    Junk {
        name,
        method: Method::GET,
        path: path.into(),
        headers: vec![],
        body: None,
    }
}

fn with_body(name: &'static str, method: Method, path: impl Into<String>, body: &[u8]) -> Junk {
    Junk {
        name,
        method,
        path: path.into(),
        headers: vec![("content-type", b"application/fhir+json".to_vec())],
        body: Some(body.to_vec()),
    }
}

impl Junk {
    fn header(mut self, name: &'static str, value: &[u8]) -> Junk {
        self.headers.push((name, value.to_vec()));
        self
    }

    async fn send(&self, app: &TestApp) -> Resp {
        let mut req = app.request(self.method.clone(), &self.path);
        for (k, v) in &self.headers {
            let value = reqwest::header::HeaderValue::from_bytes(v).expect("header bytes");
            req = req.header(*k, value);
        }
        if let Some(b) = &self.body {
            req = req.body(b.clone());
        }
        let mut r = app.send(req).await;
        r.what = format!("{} ({})", r.what, self.name);
        r
    }
}

/// Asserts a 4xx answered with an OperationOutcome carrying an error issue.
#[track_caller]
fn assert_client_error_outcome(r: &Resp) {
    assert!(
        (400..500).contains(&r.code),
        "{}: expected a 4xx, got {}: {}",
        r.what,
        r.code,
        r.text()
    );
    r.assert_fhir_json();
    let oo = r.json();
    assert_eq!(oo["resourceType"], "OperationOutcome", "{}: {oo}", r.what);
    assert_eq!(oo["issue"][0]["severity"], "error", "{}: {oo}", r.what);
    assert!(oo["issue"][0]["code"].is_string(), "{}: {oo}", r.what);
    let diag = oo["issue"][0]["diagnostics"].as_str().unwrap_or_default();
    assert!(!diag.is_empty(), "{}: no diagnostic: {oo}", r.what);
}

fn nested(depth: usize) -> Vec<u8> {
    let mut s = String::from("{\"resourceType\":\"Practitioner\",\"id\":\"n\",\"x\":");
    s.push_str(&"[".repeat(depth));
    s.push_str(&"]".repeat(depth));
    s.push('}');
    s.into_bytes()
}

fn cases() -> Vec<Junk> {
    let p = "/fhir/default/Practitioner";
    let long_id = "a".repeat(65);
    let huge_id = "b".repeat(10_000);
    let mut v = vec![
        // ids
        get("space in id", format!("{p}/a%20b")),
        get("slash-encoded id", format!("{p}/a%2Fb")),
        get("65-char id", format!("{p}/{long_id}")),
        get("10k-char id", format!("{p}/{huge_id}")),
        get("non-ascii id", format!("{p}/%C3%A9t%C3%A9")),
        get("invalid utf-8 id", format!("{p}/%FF%FE")),
        get("underscore id", format!("{p}/a_b")),
        get("quote id", format!("{p}/%22%3Cscript%3E")),
        with_body(
            "PUT 65-char id",
            Method::PUT,
            format!("{p}/{long_id}"),
            format!("{{\"resourceType\":\"Practitioner\",\"id\":\"{long_id}\"}}").as_bytes(),
        ),
        with_body(
            "PUT invalid id matching body",
            Method::PUT,
            format!("{p}/a%20b"),
            b"{\"resourceType\":\"Practitioner\",\"id\":\"a b\"}",
        ),
        get("DELETE-style id in history", format!("{p}/%00/_history")),
        // versions
        get("version abc", format!("{p}/x/_history/abc")),
        get("version 0", format!("{p}/x/_history/0")),
        get("version -1", format!("{p}/x/_history/-1")),
        get("version 1.5", format!("{p}/x/_history/1.5")),
        get(
            "version overflow",
            format!("{p}/x/_history/99999999999999999999999"),
        ),
        get("version W/1", format!("{p}/x/_history/W%2F%221%22")),
        // history parameters
        get("_count=-1", "/fhir/default/_history?_count=-1"),
        get("_count=abc", "/fhir/default/_history?_count=abc"),
        get("_count=1e3", "/fhir/default/_history?_count=1e3"),
        get(
            "_count overflow",
            "/fhir/default/_history?_count=99999999999",
        ),
        get("_since=garbage", "/fhir/default/_history?_since=garbage"),
        get(
            "_since without zone",
            "/fhir/default/Practitioner/_history?_since=2026-01-01T10:00:00",
        ),
        get(
            "_since month 13",
            "/fhir/default/_history?_since=2026-13-01",
        ),
        get(
            "_at=garbage",
            "/fhir/default/Practitioner/x/_history?_at=garbage",
        ),
        get("_cursor=abc", "/fhir/default/_history?_cursor=abc"),
        get("_cursor=-5", "/fhir/default/_history?_cursor=-5"),
        get("unknown history parameter", "/fhir/default/_history?_foo=1"),
        get(
            "invalid utf-8 parameter",
            "/fhir/default/_history?_count=%FF",
        ),
        // bodies
        with_body("empty body", Method::POST, p, b""),
        with_body("whitespace body", Method::POST, p, b"   \n"),
        with_body("string body", Method::POST, p, b"\"Practitioner\""),
        with_body("number body", Method::PUT, format!("{p}/x"), b"42"),
        with_body("null body", Method::PUT, format!("{p}/x"), b"null"),
        with_body("true body", Method::POST, p, b"true"),
        with_body("empty object", Method::POST, p, b"{}"),
        with_body(
            "null resourceType",
            Method::POST,
            p,
            b"{\"resourceType\":null}",
        ),
        with_body(
            "object resourceType",
            Method::POST,
            p,
            b"{\"resourceType\":{\"a\":1}}",
        ),
        with_body(
            "two documents",
            Method::POST,
            p,
            b"{\"resourceType\":\"Practitioner\"}{}",
        ),
        with_body(
            "trailing comma",
            Method::POST,
            p,
            b"{\"resourceType\":\"Practitioner\",}",
        ),
        with_body(
            "invalid utf-8",
            Method::POST,
            p,
            b"{\"resourceType\":\"Practitioner\",\"x\":\"\xff\xfe\"}",
        ),
        with_body(
            "lone surrogate escape",
            Method::POST,
            p,
            b"{\"resourceType\":\"Practitioner\",\"x\":\"\\ud800\"}",
        ),
        with_body(
            "nested 100k deep",
            Method::PUT,
            format!("{p}/n"),
            &nested(100_000),
        ),
        with_body(
            "unterminated",
            Method::POST,
            p,
            b"{\"resourceType\":\"Practitioner\",\"name\":[{",
        ),
        with_body(
            "NaN",
            Method::POST,
            p,
            b"{\"resourceType\":\"Practitioner\",\"x\":NaN}",
        ),
        with_body(
            "huge number id",
            Method::PUT,
            format!("{p}/x"),
            b"{\"resourceType\":\"Practitioner\",\"id\":1e999}",
        ),
        with_body(
            "resourceType Bundle at type",
            Method::POST,
            p,
            b"{\"resourceType\":\"Bundle\"}",
        ),
        with_body(
            "unknown type in body and url",
            Method::POST,
            "/fhir/default/Nope",
            b"{\"resourceType\":\"Nope\"}",
        ),
        // headers
        get("If-None-Match junk", format!("{p}/x")).header("if-none-match", b"not-an-etag"),
        get("If-Match bytes", format!("{p}/x")).header("if-match", b"W/\"\xff\""),
        with_body(
            "If-Match junk on PUT",
            Method::PUT,
            format!("{p}/x"),
            b"{\"resourceType\":\"Practitioner\",\"id\":\"x\"}",
        )
        .header("if-match", b"\"x\""),
        with_body("content-type junk", Method::POST, p, b"{}").header("content-type", b"\xff/\xfe"),
        get("Accept only xml", format!("{p}/x"))
            .header("accept", b"application/fhir+xml;q=1, */*;q=0"),
        get("_format junk", format!("{p}/x?_format=%FF")),
    ];
    for (name, path) in [
        (
            "tenant too long",
            format!("/fhir/{}/Practitioner/x", "t".repeat(100)),
        ),
        ("tenant with dot", "/fhir/a.b/metadata".to_owned()),
        ("tenant invalid utf-8", "/fhir/%FF/metadata".to_owned()),
        ("type invalid utf-8", "/fhir/default/%FF/x".to_owned()),
    ] {
        v.push(get(name, path));
    }
    v
}

#[tokio::test]
async fn garbage_requests_get_4xx_operation_outcomes_and_the_server_keeps_serving() {
    for db in test_databases().await {
        let app = spawn_app(&db, admin_config("tok")).await;
        app.put(
            "/fhir/default/Practitioner/x",
            &common::practitioner(Some("x"), "F"),
        )
        .await
        .status(201);
        for junk in cases() {
            let r = junk.send(&app).await;
            assert_client_error_outcome(&r);
        }
        // None of it was stored, and the server still answers.
        let h = app.get("/fhir/default/_history").await.status(200).json();
        assert_eq!(h["total"], 1, "[{}] garbage was stored: {h}", app.backend);
        app.get("/readyz").await.status(200);
    }
}

#[tokio::test]
async fn garbage_to_the_admin_api_gets_4xx_operation_outcomes() {
    for db in test_databases().await {
        let app = spawn_app(&db, admin_config("tok")).await;
        let bodies: [&[u8]; 8] = [
            b"",
            b"not json",
            b"[]",
            b"{\"name\":5}",
            b"{\"name\":null}",
            b"{}",
            b"{\"name\":\"\xff\"}",
            b"{\"name\":\"a\",\"extra\":",
        ];
        for body in bodies {
            let req = app
                .request(Method::POST, "/admin/tenants")
                .bearer_auth("tok")
                .header("content-type", "application/json")
                .body(body.to_vec());
            assert_client_error_outcome(&app.send(req).await);
        }
        for path in [
            "/admin/tenants/%20",
            "/admin/tenants/UPPER",
            "/admin/tenants/default-",
        ] {
            let r = app
                .send(app.request(Method::DELETE, path).bearer_auth("tok"))
                .await;
            assert_client_error_outcome(&r);
        }
        let r = app
            .send(
                app.request(Method::GET, "/admin/tenants")
                    .header("authorization", b"Bearer \xff".as_slice()),
            )
            .await;
        assert_client_error_outcome(&r);
    }
}

#[tokio::test]
async fn admin_delete_with_an_undecodable_name_gets_an_operation_outcome() {
    for db in test_databases().await {
        let app = spawn_app(&db, admin_config("tok")).await;
        let r = app
            .send(
                app.request(Method::DELETE, "/admin/tenants/%FF")
                    .bearer_auth("tok"),
            )
            .await;
        assert_client_error_outcome(&r);
    }
}

#[tokio::test]
async fn malformed_http_is_rejected_without_a_server_error() {
    for db in test_databases().await {
        let app = spawn_app(&db, common::admin_config("tok")).await;
        let requests: [&[u8]; 3] = [
            // Declared length shorter than the JSON that follows.
            b"PUT /fhir/default/Practitioner/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{\"resourceType\":\"Practitioner\",\"id\":\"x\"}",
            // A chunked body whose JSON is cut off.
            b"POST /fhir/default/Practitioner HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\n{\"res\r\n0\r\n\r\n",
            // A raw space in the path.
            b"GET /fhir/default/Practitioner/a b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ];
        for (i, raw) in requests.iter().enumerate() {
            let what = format!("[{}] raw request {i}", app.backend);
            let r = raw_request(&what, &app.base, raw).await;
            assert!(
                (400..500).contains(&r.code),
                "{what}: got {}: {}",
                r.code,
                r.text()
            );
        }
        app.get("/healthz").await.status(200);
    }
}
