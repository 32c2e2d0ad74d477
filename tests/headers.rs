//! HTTP headers (<https://hl7.org/fhir/R4/http.html#concurrency>, RFC 9110): ETag and
//! If-Match, If-None-Match, If-Modified-Since, Prefer, X-Request-Id, gzip and CORS; once per
//! backend.

mod common;

use std::io::Read;

use common::{fhir_body, practitioner, spawn_app, test_databases, TestApp};
use reqwest::Method;
use server::ServerConfig;

const PATH: &str = "/fhir/default/Practitioner/hdr";

/// Puts `hdr` twice, so its current version is 2.
async fn two_versions(app: &TestApp) {
    app.put(PATH, &practitioner(Some("hdr"), "One"))
        .await
        .status(201);
    app.put(PATH, &practitioner(Some("hdr"), "Two"))
        .await
        .status(200);
}

/// A PUT of `hdr` carrying `If-Match: value`.
async fn put_if_match(app: &TestApp, value: &str, family: &str) -> common::Resp {
    let req = fhir_body(
        app.request(Method::PUT, PATH),
        &practitioner(Some("hdr"), family),
    )
    .header("if-match", value);
    app.send(req).await
}

#[tokio::test]
async fn update_with_current_if_match_returns_200_and_the_next_version() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        two_versions(&app).await;
        for (tag, next) in [("W/\"2\"", 3), ("\"3\"", 4)] {
            let r = put_if_match(&app, tag, "Matched").await.status(200);
            assert_eq!(r.etag_version(), next, "{}: If-Match {tag}", r.what);
        }
    }
}

#[tokio::test]
async fn update_with_stale_if_match_returns_412_and_writes_nothing() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        two_versions(&app).await;
        for tag in ["W/\"1\"", "W/\"3\"", "W/\"99\""] {
            put_if_match(&app, tag, "Stale")
                .await
                .outcome(412, "conflict");
        }
        let r = app.get(PATH).await.status(200);
        assert_eq!(r.etag_version(), 2, "{}: a failed If-Match wrote", r.what);
        assert_eq!(r.json()["name"][0]["family"], "Two", "{}", r.what);
    }
}

#[tokio::test]
async fn update_with_malformed_if_match_returns_400() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        two_versions(&app).await;
        for tag in ["garbage", "W/\"abc\"", "W/\"0\"", "W/\"-2\"", "W/", "\"\""] {
            put_if_match(&app, tag, "Bad").await.outcome(400, "invalid");
        }
        assert_eq!(
            app.get(PATH).await.status(200).etag_version(),
            2,
            "[{}]",
            app.backend
        );
    }
}

#[tokio::test]
async fn if_match_on_a_missing_or_deleted_resource_returns_412() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        // Create-on-update cannot match a version that does not exist.
        put_if_match(&app, "W/\"1\"", "New")
            .await
            .outcome(412, "conflict");
        app.get(PATH).await.outcome(404, "not-found");

        let delete_missing = app
            .request(Method::DELETE, PATH)
            .header("if-match", "W/\"1\"");
        app.send(delete_missing).await.outcome(412, "conflict");

        two_versions(&app).await;
        app.delete(PATH).await;
        put_if_match(&app, "W/\"3\"", "Zombie")
            .await
            .outcome(412, "conflict");
        app.get(PATH).await.outcome(410, "deleted");
    }
}

#[tokio::test]
async fn delete_honours_if_match() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        two_versions(&app).await;
        let stale = app
            .request(Method::DELETE, PATH)
            .header("if-match", "W/\"1\"");
        app.send(stale).await.outcome(412, "conflict");
        app.get(PATH).await.status(200);

        let current = app
            .request(Method::DELETE, PATH)
            .header("if-match", "W/\"2\"");
        let r = app.send(current).await;
        assert!(r.code == 200 || r.code == 204, "{}: {}", r.what, r.code);
        app.get(PATH).await.outcome(410, "deleted");
    }
}

#[tokio::test]
async fn read_with_if_none_match_returns_304_without_body_only_when_current() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        two_versions(&app).await;
        let cases = [
            ("W/\"2\"", 304),
            ("\"2\"", 304),
            ("*", 304),
            ("W/\"1\", W/\"2\"", 304),
            ("W/\"1\"", 200),
            ("W/\"3\"", 200),
        ];
        for (tag, expected) in cases {
            let r = app
                .send(app.request(Method::GET, PATH).header("if-none-match", tag))
                .await;
            let r = r.status(expected);
            assert_eq!(r.etag_version(), 2, "{}: If-None-Match {tag}", r.what);
            if expected == 304 {
                assert!(
                    r.body.is_empty(),
                    "{}: 304 with a body: {}",
                    r.what,
                    r.text()
                );
            } else {
                assert_eq!(r.json()["meta"]["versionId"], "2", "{}", r.what);
            }
        }
        // An ETag on vread names that version.
        let vread = app.request(Method::GET, &format!("{PATH}/_history/1"));
        let r = app
            .send(vread.header("if-none-match", "W/\"1\""))
            .await
            .status(304);
        assert!(r.body.is_empty(), "{}", r.what);
    }
}

#[tokio::test]
async fn read_with_if_modified_since_returns_304_unless_changed_after() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        two_versions(&app).await;
        let lm = app.get(PATH).await.status(200).must_header("last-modified");
        let t = chrono::DateTime::parse_from_rfc2822(&lm).expect("HTTP date");
        let http = |d: chrono::DateTime<chrono::FixedOffset>| {
            d.to_utc().format("%a, %d %b %Y %H:%M:%S GMT").to_string()
        };
        let cases = [
            (lm.clone(), 304),
            (http(t + chrono::Duration::days(1)), 304),
            (http(t - chrono::Duration::seconds(1)), 200),
            (http(t - chrono::Duration::days(400)), 200),
        ];
        for (since, expected) in cases {
            let req = app
                .request(Method::GET, PATH)
                .header("if-modified-since", &since);
            let r = app.send(req).await.status(expected);
            if expected == 304 {
                assert!(r.body.is_empty(), "{}: If-Modified-Since {since}", r.what);
            } else {
                assert_eq!(
                    r.json()["id"],
                    "hdr",
                    "{}: If-Modified-Since {since}",
                    r.what
                );
            }
        }
    }
}

#[tokio::test]
async fn malformed_if_modified_since_is_ignored() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        two_versions(&app).await;
        let req = app
            .request(Method::GET, PATH)
            .header("if-modified-since", "yesterday");
        app.send(req).await.status(200);
    }
}

#[tokio::test]
async fn prefer_return_shapes_the_write_response_body() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let post = |prefer: &'static str| {
            let req = app
                .request(Method::POST, "/fhir/default/Practitioner")
                .header("prefer", prefer);
            fhir_body(req, &practitioner(None, "Pref"))
        };

        let r = app.send(post("return=minimal")).await.status(201);
        assert!(
            r.body.is_empty(),
            "{}: minimal returned {}",
            r.what,
            r.text()
        );
        assert_eq!(r.etag_version(), 1, "{}", r.what);
        let location = r.must_header("location");
        app.get(&location).await.status(200);

        let r = app.send(post("return=representation")).await.status(201);
        assert_eq!(r.json()["resourceType"], "Practitioner", "{}", r.what);
        assert_eq!(r.json()["meta"]["versionId"], "1", "{}", r.what);

        let r = app.send(post("return=OperationOutcome")).await.status(201);
        r.assert_fhir_json();
        assert_eq!(
            r.json()["resourceType"],
            "OperationOutcome",
            "{}: {}",
            r.what,
            r.text()
        );
        r.must_header("location");

        // Update and delete honour the preference too.
        app.put(PATH, &practitioner(Some("hdr"), "One"))
            .await
            .status(201);
        let put = app
            .request(Method::PUT, PATH)
            .header("prefer", "return=minimal");
        let r = app
            .send(fhir_body(put, &practitioner(Some("hdr"), "Two")))
            .await
            .status(200);
        assert!(r.body.is_empty(), "{}: {}", r.what, r.text());
        assert_eq!(r.etag_version(), 2, "{}", r.what);
        let del = app
            .request(Method::DELETE, PATH)
            .header("prefer", "return=minimal");
        let r = app.send(del).await;
        assert!(
            r.body.is_empty() && (r.code == 204 || r.code == 200),
            "{}: {} {}",
            r.what,
            r.code,
            r.text()
        );
    }
}

#[tokio::test]
async fn every_response_carries_an_x_request_id_and_echoes_the_clients() {
    for db in test_databases().await {
        let app = spawn_app(&db, common::admin_config("tok")).await;
        two_versions(&app).await;
        let requests = [
            (Method::GET, PATH),
            (Method::GET, "/fhir/default/Practitioner/none"),
            (Method::GET, "/fhir/default/metadata"),
            (Method::GET, "/fhir/default/_history"),
            (Method::GET, "/fhir/nosuch/Practitioner/x"),
            (Method::PATCH, "/fhir/default/metadata"),
            (Method::GET, "/no/such/route"),
            (Method::GET, "/healthz"),
            (Method::GET, "/readyz"),
            (Method::GET, "/metrics"),
            (Method::GET, "/admin/tenants"),
            (Method::POST, "/fhir/default/Practitioner"),
        ];
        let mut seen = std::collections::HashSet::new();
        for (method, path) in &requests {
            let r = app.send(app.request(method.clone(), path)).await;
            let id = r.must_header("x-request-id");
            assert!(id.len() >= 8, "{}: x-request-id {id:?}", r.what);
            assert!(
                seen.insert(id.clone()),
                "{}: x-request-id {id} reused",
                r.what
            );

            let mine = format!("test-{}-{}", seen.len(), app.backend);
            let r = app
                .send(
                    app.request(method.clone(), path)
                        .header("x-request-id", &mine),
                )
                .await;
            assert_eq!(
                r.header("x-request-id"),
                Some(mine),
                "{}: not echoed",
                r.what
            );
        }
    }
}

#[tokio::test]
async fn gzip_is_used_when_the_client_accepts_it() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        for i in 0..20 {
            app.put(PATH, &practitioner(Some("hdr"), &format!("Family{i}")))
                .await;
        }
        for path in [
            PATH,
            "/fhir/default/Practitioner/hdr/_history",
            "/fhir/default/metadata",
        ] {
            let plain = app.get(path).await.status(200);
            assert_eq!(
                plain.header("content-encoding"),
                None,
                "{}: compressed unasked",
                plain.what
            );

            let req = app
                .request(Method::GET, path)
                .header("accept-encoding", "gzip");
            let gz = app.send(req).await.status(200);
            assert_eq!(
                gz.header("content-encoding").as_deref(),
                Some("gzip"),
                "{}",
                gz.what
            );
            let mut text = String::new();
            flate2::read::GzDecoder::new(gz.body.as_slice())
                .read_to_string(&mut text)
                .unwrap_or_else(|e| panic!("{}: not gzip: {e}", gz.what));
            let unzipped: serde_json::Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: gunzipped body is not JSON: {e}", gz.what));
            let mut expected = plain.json();
            let mut unzipped = unzipped;
            // Bundles and the CapabilityStatement carry per-response ids and timestamps.
            for v in [&mut expected, &mut unzipped] {
                if v["resourceType"] == "Bundle" {
                    v["id"] = serde_json::Value::Null;
                    v["timestamp"] = serde_json::Value::Null;
                }
            }
            assert_eq!(unzipped, expected, "{}: gzip body differs", gz.what);
        }
    }
}

#[tokio::test]
async fn cors_allows_any_origin_by_default_and_exposes_fhir_headers() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        two_versions(&app).await;
        let req = app
            .request(Method::GET, PATH)
            .header("origin", "https://app.example");
        let r = app.send(req).await.status(200);
        assert_eq!(
            r.header("access-control-allow-origin").as_deref(),
            Some("*"),
            "{}",
            r.what
        );
        let exposed = r
            .must_header("access-control-expose-headers")
            .to_ascii_lowercase();
        for h in ["etag", "location", "last-modified", "x-request-id"] {
            assert!(
                exposed.contains(h),
                "{}: {h} not exposed: {exposed}",
                r.what
            );
        }

        let preflight = app
            .request(Method::OPTIONS, PATH)
            .header("origin", "https://app.example")
            .header("access-control-request-method", "PUT")
            .header("access-control-request-headers", "content-type, if-match");
        let r = app.send(preflight).await;
        assert!(
            r.code == 200 || r.code == 204,
            "{}: preflight {}",
            r.what,
            r.code
        );
        let methods = r.must_header("access-control-allow-methods");
        assert!(
            methods.contains("PUT") && methods.contains("DELETE"),
            "{}: {methods}",
            r.what
        );
        assert!(
            r.header("access-control-allow-headers").is_some(),
            "{}",
            r.what
        );
    }
}

#[tokio::test]
async fn cors_with_an_origin_list_allows_only_those_origins() {
    for db in test_databases().await {
        let config = ServerConfig {
            cors_origins: vec!["https://good.example".to_owned()],
            ..ServerConfig::auth_off()
        };
        let app = spawn_app(&db, config).await;
        two_versions(&app).await;
        let good = app
            .request(Method::GET, PATH)
            .header("origin", "https://good.example");
        let r = app.send(good).await.status(200);
        assert_eq!(
            r.header("access-control-allow-origin").as_deref(),
            Some("https://good.example"),
            "{}",
            r.what
        );
        let evil = app
            .request(Method::GET, PATH)
            .header("origin", "https://evil.example");
        let r = app.send(evil).await.status(200);
        assert_eq!(r.header("access-control-allow-origin"), None, "{}", r.what);
    }
}

#[tokio::test]
async fn json_format_requests_are_served() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        two_versions(&app).await;
        let accepts = [
            "application/fhir+json",
            "application/json",
            "application/fhir+json;q=0.9, application/fhir+xml;q=0.1",
            "*/*",
        ];
        for accept in accepts {
            let r = app
                .send(app.request(Method::GET, PATH).header("accept", accept))
                .await;
            r.status(200).assert_fhir_json();
        }
        for format in ["json", "application/fhir%2Bjson", "application/json"] {
            app.get(&format!("{PATH}?_format={format}"))
                .await
                .status(200)
                .assert_fhir_json();
        }
    }
}

#[tokio::test]
async fn put_with_if_none_match_star_creates_only_when_absent() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let put = |family: &str| {
            fhir_body(
                app.request(Method::PUT, PATH),
                &practitioner(Some("hdr"), family),
            )
            .header("if-none-match", "*")
        };
        // RFC 9110 13.1.2: with "*", the method runs only if no current representation exists.
        let first = app.send(put("First")).await;
        if first.code == 412 {
            // Refusing the precondition outright would also be safe; overwriting is not.
            app.get(PATH).await.outcome(404, "not-found");
            continue;
        }
        first.status(201);
        let again = app.send(put("Overwrite")).await;
        again.outcome(412, "conflict");
        let read = app.get(PATH).await.status(200);
        assert_eq!(
            read.json()["name"][0]["family"],
            "First",
            "{}: If-None-Match: * let an update overwrite",
            read.what
        );
    }
}
