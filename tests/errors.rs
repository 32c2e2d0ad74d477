//! Error answers (<https://hl7.org/fhir/R4/http.html#2.21.0.7>): every failure is an
//! OperationOutcome with the right status, issue code and a diagnostic a person can act on;
//! once per backend.

mod common;

use common::{practitioner, raw_request, spawn_app, test_databases, Resp, TestApp};
use reqwest::Method;
use serde_json::json;
use server::ServerConfig;

/// One request of a table: method, path, content type, body.
struct Case {
    name: &'static str,
    method: Method,
    path: &'static str,
    content_type: Option<&'static str>,
    accept: Option<&'static str>,
    body: Option<Vec<u8>>,
}

impl Case {
    fn new(name: &'static str, method: Method, path: &'static str) -> Case {
        Case {
            name,
            method,
            path,
            content_type: None,
            accept: None,
            body: None,
        }
    }
    fn json(mut self, body: serde_json::Value) -> Case {
        self.content_type = Some("application/fhir+json");
        self.body = Some(body.to_string().into_bytes());
        self
    }
    fn raw(mut self, content_type: &'static str, body: &[u8]) -> Case {
        self.content_type = Some(content_type);
        self.body = Some(body.to_vec());
        self
    }
    fn accept(mut self, accept: &'static str) -> Case {
        self.accept = Some(accept);
        self
    }
    async fn send(&self, app: &TestApp) -> Resp {
        let mut req = app.request(self.method.clone(), self.path);
        if let Some(ct) = self.content_type {
            req = req.header("content-type", ct);
        }
        if let Some(a) = self.accept {
            req = req.header("accept", a);
        }
        if let Some(b) = &self.body {
            req = req.body(b.clone());
        }
        let mut r = app.send(req).await;
        r.what = format!("{} ({})", r.what, self.name);
        r
    }
}

#[tokio::test]
async fn malformed_json_returns_400_with_line_and_column() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let body = b"{\n  \"resourceType\": \"Practitioner\",\n  \"active\": tru,\n  \"x\": 1\n}";
        for (method, path) in [
            (Method::POST, "/fhir/default/Practitioner"),
            (Method::PUT, "/fhir/default/Practitioner/x"),
        ] {
            let r = Case::new("malformed", method, path)
                .raw("application/fhir+json", body)
                .send(&app)
                .await;
            let diag = r.outcome(400, "structure");
            assert!(
                diag.contains("line 3"),
                "{}: diagnostic lacks the line: {diag}",
                r.what
            );
            assert!(
                diag.contains("column"),
                "{}: diagnostic lacks the column: {diag}",
                r.what
            );
        }
    }
}

#[tokio::test]
async fn resource_content_errors_return_400_and_write_nothing() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let org = json!({"resourceType": "Organization", "id": "x", "name": "O"});
        let cases = [
            (
                Case::new(
                    "type mismatch on POST",
                    Method::POST,
                    "/fhir/default/Practitioner",
                )
                .json(org.clone()),
                "invalid",
                "Organization",
            ),
            (
                Case::new(
                    "type mismatch on PUT",
                    Method::PUT,
                    "/fhir/default/Practitioner/x",
                )
                .json(org),
                "invalid",
                "Organization",
            ),
            (
                Case::new("id mismatch", Method::PUT, "/fhir/default/Practitioner/x")
                    .json(practitioner(Some("y"), "F")),
                "invalid",
                "\"y\"",
            ),
            (
                Case::new("missing id", Method::PUT, "/fhir/default/Practitioner/x")
                    .json(practitioner(None, "F")),
                "invalid",
                "id",
            ),
            (
                Case::new("numeric id", Method::PUT, "/fhir/default/Practitioner/x")
                    .json(json!({"resourceType": "Practitioner", "id": 5})),
                "invalid",
                "id",
            ),
            (
                Case::new(
                    "no resourceType",
                    Method::POST,
                    "/fhir/default/Practitioner",
                )
                .json(json!({"id": "x"})),
                "required",
                "resourceType",
            ),
            (
                Case::new(
                    "numeric resourceType",
                    Method::POST,
                    "/fhir/default/Practitioner",
                )
                .json(json!({"resourceType": 5})),
                "structure",
                "resourceType",
            ),
            (
                Case::new("array body", Method::POST, "/fhir/default/Practitioner")
                    .json(json!([{"resourceType": "Practitioner"}])),
                "structure",
                "object",
            ),
        ];
        for (case, code, mentions) in cases {
            let r = case.send(&app).await;
            let diag = r.outcome(400, code);
            assert!(
                diag.contains(mentions),
                "{}: diagnostic {diag:?} does not mention {mentions}",
                r.what
            );
        }
        app.get("/fhir/default/Practitioner/x")
            .await
            .outcome(404, "not-found");
        let h = app.get("/fhir/default/_history").await.status(200).json();
        assert_eq!(
            h["total"], 0,
            "[{}] a rejected write was stored: {h}",
            app.backend
        );
    }
}

#[tokio::test]
async fn unknown_resource_type_returns_404_not_supported() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let foo = json!({"resourceType": "Foo", "id": "1"});
        let cases = [
            Case::new("read", Method::GET, "/fhir/default/Foo/1"),
            Case::new("vread", Method::GET, "/fhir/default/Foo/1/_history/1"),
            Case::new("create", Method::POST, "/fhir/default/Foo").json(foo.clone()),
            Case::new("update", Method::PUT, "/fhir/default/Foo/1").json(foo),
            Case::new("delete", Method::DELETE, "/fhir/default/Foo/1"),
            Case::new("type history", Method::GET, "/fhir/default/Foo/_history"),
            Case::new(
                "instance history",
                Method::GET,
                "/fhir/default/Foo/1/_history",
            ),
            Case::new("lower case", Method::GET, "/fhir/default/practitioner/1"),
        ];
        for case in cases {
            let r = case.send(&app).await;
            let diag = r.outcome(404, "not-supported");
            assert!(
                diag.to_lowercase().contains("resource type"),
                "{}: {diag}",
                r.what
            );
        }
    }
}

#[tokio::test]
async fn non_json_request_bodies_return_415() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let xml = b"<Practitioner xmlns=\"http://hl7.org/fhir\"><id value=\"x\"/></Practitioner>";
        let json = practitioner(Some("x"), "F").to_string();
        let cases = [
            Case::new("fhir+xml", Method::PUT, "/fhir/default/Practitioner/x")
                .raw("application/fhir+xml", xml),
            Case::new("xml", Method::POST, "/fhir/default/Practitioner")
                .raw("application/xml", xml),
            Case::new(
                "text/plain json",
                Method::PUT,
                "/fhir/default/Practitioner/x",
            )
            .raw("text/plain", json.as_bytes()),
            Case::new("form", Method::POST, "/fhir/default/Practitioner")
                .raw("application/x-www-form-urlencoded", b"a=b"),
            Case {
                body: Some(json.clone().into_bytes()),
                ..Case::new(
                    "no content type",
                    Method::PUT,
                    "/fhir/default/Practitioner/x",
                )
            },
        ];
        for case in cases {
            case.send(&app).await.outcome(415, "not-supported");
        }
        app.get("/fhir/default/Practitioner/x")
            .await
            .outcome(404, "not-found");
    }
}

#[tokio::test]
async fn xml_responses_requested_return_406() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        app.put(
            "/fhir/default/Practitioner/x",
            &practitioner(Some("x"), "F"),
        )
        .await
        .status(201);
        let cases = [
            Case::new(
                "Accept fhir+xml",
                Method::GET,
                "/fhir/default/Practitioner/x",
            )
            .accept("application/fhir+xml"),
            Case::new("Accept xml", Method::GET, "/fhir/default/metadata")
                .accept("application/xml, text/xml"),
            Case::new(
                "_format=xml",
                Method::GET,
                "/fhir/default/Practitioner/x?_format=xml",
            ),
            Case::new(
                "_format=fhir+xml",
                Method::GET,
                "/fhir/default/_history?_format=application/fhir%2Bxml",
            ),
            Case::new(
                "_format beats Accept",
                Method::GET,
                "/fhir/default/Practitioner/x?_format=xml",
            )
            .accept("application/fhir+json"),
            Case::new(
                "POST with Accept xml",
                Method::POST,
                "/fhir/default/Practitioner",
            )
            .json(practitioner(None, "F"))
            .accept("application/fhir+xml"),
        ];
        for case in cases {
            case.send(&app).await.outcome(406, "not-supported");
        }
        // A 406 on a write means nothing was written.
        let h = app
            .get("/fhir/default/Practitioner/_history")
            .await
            .status(200)
            .json();
        assert_eq!(h["total"], 1, "[{}] {h}", app.backend);
    }
}

#[tokio::test]
async fn bodies_over_the_limit_return_413_and_write_nothing() {
    for db in test_databases().await {
        let config = ServerConfig {
            max_body_bytes: 1000,
            ..ServerConfig::auth_off()
        };
        let app = spawn_app(&db, config).await;
        let mut big = practitioner(Some("big"), "F");
        big["text"] = json!({"status": "generated", "div": "x".repeat(2000)});
        app.put("/fhir/default/Practitioner/big", &big)
            .await
            .outcome(413, "too-long");
        app.post("/fhir/default/Practitioner", &big)
            .await
            .outcome(413, "too-long");

        // Without Content-Length (chunked), the limit still holds.
        let body = big.to_string();
        let chunked = format!(
            "PUT /fhir/default/Practitioner/big HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        );
        let what = format!("[{}] chunked PUT over the limit", app.backend);
        raw_request(&what, &app.base, chunked.as_bytes())
            .await
            .outcome(413, "too-long");

        app.get("/fhir/default/Practitioner/big")
            .await
            .outcome(404, "not-found");
        // Just under the limit is fine.
        app.put(
            "/fhir/default/Practitioner/small",
            &practitioner(Some("small"), "F"),
        )
        .await
        .status(201);
    }
}

#[tokio::test]
async fn wrong_method_on_a_known_route_returns_405() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let cases = [
            Case::new("PATCH metadata", Method::PATCH, "/fhir/default/metadata"),
            Case::new(
                "POST instance",
                Method::POST,
                "/fhir/default/Practitioner/x",
            ),
            Case::new("DELETE metadata", Method::DELETE, "/fhir/default/metadata"),
            Case::new("PUT system history", Method::PUT, "/fhir/default/_history"),
            Case::new(
                "POST history",
                Method::POST,
                "/fhir/default/Practitioner/_history",
            ),
            Case::new(
                "DELETE vread",
                Method::DELETE,
                "/fhir/default/Practitioner/x/_history/1",
            ),
            Case::new("POST healthz", Method::POST, "/healthz"),
            Case::new("PUT admin", Method::PUT, "/admin/tenants"),
        ];
        for case in cases {
            let r = case.send(&app).await;
            let diag = r.outcome(405, "not-supported");
            assert!(diag.contains(case.method.as_str()), "{}: {diag}", r.what);
        }
    }
}

#[tokio::test]
async fn wrong_method_answer_lists_the_allowed_methods() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let r = app
            .send(app.request(Method::DELETE, "/fhir/default/Practitioner/x/_history"))
            .await
            .status(405);
        let allow = r.must_header("allow");
        assert!(
            allow.contains("GET"),
            "{}: Allow {allow:?} lacks GET",
            r.what
        );
    }
}

#[tokio::test]
async fn unknown_routes_return_404_not_found() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        // `/` is the find-a-doctor page (tests/find_page.rs).
        for path in [
            "/nothing",
            "/fhir",
            "/fhir/default/Practitioner/x/_history/1/extra",
            "/fhir/default/Practitioner/x/extra",
            "/admin",
            "/admin/tenants/a/b",
        ] {
            let r = app.get(path).await;
            let diag = r.outcome(404, "not-found");
            assert!(
                diag.contains("route") || diag.contains(path),
                "{}: {diag}",
                r.what
            );
        }
    }
}

#[tokio::test]
async fn unknown_tenant_returns_404_for_every_interaction() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let body = practitioner(Some("x"), "F");
        for tenant in ["nosuch", "UPPER", "-bad", "a_b"] {
            let base = format!("/fhir/{tenant}");
            let cases: Vec<(Method, String, bool)> = vec![
                (Method::GET, format!("{base}/metadata"), false),
                (Method::GET, format!("{base}/Practitioner/x"), false),
                (
                    Method::GET,
                    format!("{base}/Practitioner/x/_history/1"),
                    false,
                ),
                (Method::PUT, format!("{base}/Practitioner/x"), true),
                (Method::POST, format!("{base}/Practitioner"), true),
                (Method::DELETE, format!("{base}/Practitioner/x"), false),
                (
                    Method::GET,
                    format!("{base}/Practitioner/x/_history"),
                    false,
                ),
                (Method::GET, format!("{base}/Practitioner/_history"), false),
                (Method::GET, format!("{base}/_history"), false),
            ];
            for (method, path, with_body) in cases {
                let mut req = app.request(method, &path);
                if with_body {
                    req = common::fhir_body(req, &body);
                }
                let r = app.send(req).await;
                let diag = r.outcome(404, "not-found");
                assert!(
                    diag.contains(tenant),
                    "{}: diagnostic does not name the tenant: {diag}",
                    r.what
                );
            }
        }
        let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": [{
            "resource": practitioner(Some("b"), "B"),
            "request": {"method": "PUT", "url": "Practitioner/b"}
        }]});
        app.post("/fhir/nosuch", &bundle)
            .await
            .outcome(404, "not-found");
        let h = app.get("/fhir/default/_history").await.status(200).json();
        assert_eq!(
            h["total"], 0,
            "[{}] a write to an unknown tenant landed in default",
            app.backend
        );
    }
}

#[tokio::test]
async fn conditional_create_never_silently_duplicates() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let mut body = practitioner(None, "Once");
        body["identifier"] =
            json!([{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567890"}]);
        let mut created = 0;
        for attempt in 0..2 {
            let req = common::fhir_body(
                app.request(Method::POST, "/fhir/default/Practitioner"),
                &body,
            )
            .header(
                "if-none-exist",
                "identifier=http://hl7.org/fhir/sid/us-npi|1234567890",
            );
            let r = app.send(req).await;
            match r.code {
                // Not supported (yet): refused, nothing written.
                501 => {
                    r.outcome(501, "not-supported");
                }
                201 => created += 1,
                // The second attempt finds the first.
                200 => assert_eq!(attempt, 1, "{}: 200 before any create", r.what),
                other => panic!("{}: unexpected {other}: {}", r.what, r.text()),
            }
        }
        assert!(created <= 1, "[{}] created {created} times", app.backend);
        let h = app
            .get("/fhir/default/Practitioner/_history")
            .await
            .status(200)
            .json();
        assert_eq!(h["total"], created, "[{}] {h}", app.backend);
    }
}
