//! Batches, the shape of `*-response` Bundles, limits, and garbage Bundles.

use super::*;

#[tokio::test]
async fn batch_entries_succeed_or_fail_on_their_own() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        app.put(
            "/fhir/default/Practitioner/bx",
            &practitioner(Some("bx"), "BatchOld"),
        )
        .await
        .status(201);
        let bundle = bundle(
            "batch",
            vec![
                entry(
                    "POST",
                    "Practitioner",
                    None,
                    Some(practitioner(None, "BatchGood")),
                ),
                with(
                    entry(
                        "PUT",
                        "Practitioner/bx",
                        None,
                        Some(practitioner(Some("bx"), "BatchBad")),
                    ),
                    "ifMatch",
                    "W/\"7\"",
                ),
                entry(
                    "POST",
                    "Practitioner",
                    None,
                    Some(org("5555555550", "WrongType")),
                ),
                entry("GET", "Practitioner/missing", None, None),
                json!({"resource": practitioner(None, "BatchBad")}),
                entry(
                    "PUT",
                    "Practitioner/b2",
                    None,
                    Some(practitioner(Some("b2"), "BatchGood")),
                ),
                entry("FETCH", "Practitioner/bx", None, None),
                entry("GET", "Practitioner/bx", None, None),
            ],
        );
        let r = post_bundle(&app, &bundle).await.status(200);
        let es = response_entries(&r, "batch-response", 8);
        let expect = ["201", "412", "400", "404", "400", "201", "400", "200"];
        for (i, (e, code)) in es.iter().zip(expect).enumerate() {
            let status = e["response"]["status"].as_str().unwrap_or_default();
            assert!(
                status.starts_with(code),
                "[{b}] entry {i}: expected {code}: {e}"
            );
            if code.starts_with('4') {
                let oo = &e["response"]["outcome"];
                assert_eq!(
                    oo["resourceType"], "OperationOutcome",
                    "[{b}] entry {i}: {e}"
                );
                assert!(
                    oo["issue"][0]["diagnostics"]
                        .as_str()
                        .is_some_and(|d| d.len() >= 10),
                    "[{b}] entry {i}: no diagnostic: {e}"
                );
                assert!(
                    e["response"].get("location").is_none(),
                    "[{b}] entry {i}: {e}"
                );
            }
        }
        // The good ones are stored, the bad ones are not.
        assert_eq!(
            count(&app, "Practitioner?family=BatchGood").await,
            2,
            "[{b}]"
        );
        assert_eq!(
            count(&app, "Practitioner?family=BatchBad").await,
            0,
            "[{b}]"
        );
        assert_eq!(count(&app, "Organization").await, 0, "[{b}]");
        let (v, body) = read(&app, "Practitioner/bx").await;
        assert_eq!(
            (v, body["name"][0]["family"].clone()),
            (1, json!("BatchOld")),
            "[{b}]"
        );
        assert_eq!(es[7]["resource"]["name"][0]["family"], "BatchOld", "[{b}]");
        let (v, _) = read(&app, &type_id(b, &es[0]["response"]["location"])).await;
        assert_eq!(v, 1, "[{b}]");
        // In a batch, entries may not refer to each other by fullUrl.
        let r = post_bundle(&app, &bundle_pair_referring_by_urn("batch"))
            .await
            .status(200);
        let es = response_entries(&r, "batch-response", 2);
        assert!(es[0]["response"]["status"]
            .as_str()
            .unwrap_or_default()
            .starts_with("201"));
        assert!(
            es[1]["response"]["status"]
                .as_str()
                .unwrap_or_default()
                .starts_with("400"),
            "[{b}] a batch entry resolved another entry's fullUrl: {}",
            es[1]
        );
    }
}

fn bundle_pair_referring_by_urn(kind: &str) -> Value {
    let u = "urn:uuid:7f000000-0000-4000-8000-0000000000f1";
    bundle(
        kind,
        vec![
            entry(
                "POST",
                "Organization",
                Some(u),
                Some(org("6666666660", "Pair")),
            ),
            entry(
                "POST",
                "PractitionerRole",
                None,
                Some(json!({"resourceType": "PractitionerRole", "organization": {"reference": u}})),
            ),
        ],
    )
}

#[tokio::test]
async fn response_entries_carry_status_location_etag_last_modified_and_representation() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        app.put(
            "/fhir/default/Practitioner/upd",
            &practitioner(Some("upd"), "Shape"),
        )
        .await
        .status(201);
        app.put(
            "/fhir/default/Practitioner/del",
            &practitioner(Some("del"), "Shape"),
        )
        .await
        .status(201);
        let base = format!("{}/fhir/default", app.base);
        for kind in ["transaction", "batch"] {
            for prefer in [None, Some("return=minimal"), Some("return=representation")] {
                // Without a preference the resources come back, as for a single write.
                let representation = prefer != Some("return=minimal");
                let new_id = format!("new-{kind}-{}", prefer.map_or(0, str::len));
                let body = bundle(
                    kind,
                    vec![
                        entry(
                            "POST",
                            "Practitioner",
                            None,
                            Some(practitioner(None, "Shape")),
                        ),
                        entry(
                            "PUT",
                            &format!("Practitioner/{new_id}"),
                            None,
                            Some(practitioner(Some(&new_id), "Shape")),
                        ),
                        entry(
                            "PUT",
                            "Practitioner/upd",
                            None,
                            Some(practitioner(Some("upd"), "Shape")),
                        ),
                    ],
                );
                let mut req = common::fhir_body(app.request(Method::POST, "/fhir/default"), &body);
                if let Some(p) = prefer {
                    req = req.header("prefer", p);
                }
                let r = app.send(req).await.status(200);
                let es = response_entries(&r, &format!("{kind}-response"), 3);
                let bundle_ts = r.json()["timestamp"].clone();
                assert!(bundle_ts.is_string(), "[{b}] no timestamp: {}", r.text());
                for (i, (e, status)) in es.iter().zip(["201", "201", "200"]).enumerate() {
                    let what = format!("[{b}] {kind} prefer={prefer:?} entry {i}");
                    let resp = &e["response"];
                    assert!(
                        resp["status"]
                            .as_str()
                            .unwrap_or_default()
                            .starts_with(status),
                        "{what}: {e}"
                    );
                    let location = resp["location"].as_str().unwrap_or_default();
                    assert!(
                        location.starts_with(&base) && location.contains("/_history/"),
                        "{what}: location {location:?} is not absolute and versioned"
                    );
                    let version = etag_version(resp["etag"].as_str().unwrap_or_default());
                    assert!(
                        location.ends_with(&format!("/_history/{version}")),
                        "{what}: {e}"
                    );
                    let rel = location.trim_start_matches(&format!("{base}/"));
                    let got = app
                        .get(&format!("/fhir/default/{rel}"))
                        .await
                        .status(200)
                        .json();
                    assert_eq!(
                        resp["lastModified"], got["meta"]["lastUpdated"],
                        "{what}: lastModified disagrees with the stored resource"
                    );
                    if representation {
                        assert_eq!(e["resource"], got, "{what}: the returned resource");
                    } else {
                        assert!(
                            e.get("resource").is_none(),
                            "{what}: body without Prefer: {e}"
                        );
                    }
                }
            }
        }
        // A DELETE entry.
        let r = post_bundle(
            &app,
            &tx(vec![entry("DELETE", "Practitioner/del", None, None)]),
        )
        .await
        .status(200);
        let es = response_entries(&r, "transaction-response", 1);
        let status = es[0]["response"]["status"].as_str().unwrap_or_default();
        assert!(
            status.starts_with("204") || status.starts_with("200"),
            "[{b}] {}",
            es[0]
        );
        app.get("/fhir/default/Practitioner/del").await.status(410);
    }
}

#[tokio::test]
async fn too_many_entries_or_bytes_are_refused_and_nothing_is_stored() {
    for db in test_databases().await {
        let config = ServerConfig {
            max_bundle_entries: 3,
            max_body_bytes: 4000,
            ..ServerConfig::auth_off()
        };
        let app = spawn_app(&db, config).await;
        let b = app.backend;
        for kind in ["transaction", "batch"] {
            let four = bundle(
                kind,
                (0..4)
                    .map(|_| {
                        entry(
                            "POST",
                            "Practitioner",
                            None,
                            Some(practitioner(None, "Limit")),
                        )
                    })
                    .collect(),
            );
            let r = post_bundle(&app, &four).await;
            assert!(
                r.code == 400 || r.code == 413,
                "{}: {kind}: too many entries answered {}: {}",
                r.what,
                r.code,
                r.text()
            );
            let diag = r.outcome(r.code, "too-costly");
            assert!(
                diag.contains('4') && diag.contains('3'),
                "[{b}] {kind}: {diag}"
            );
            let three = bundle(
                kind,
                vec![entry(
                    "POST",
                    "Practitioner",
                    None,
                    Some(json!({"resourceType": "Practitioner",
                                "name": [{"family": "Limit", "text": "x".repeat(5000)}]})),
                )],
            );
            let r = post_bundle(&app, &three).await;
            let diag = r.outcome(413, "too-long");
            assert!(
                diag.contains("4000"),
                "[{b}] {kind}: the limit is not named: {diag}"
            );
        }
        assert_eq!(count(&app, "Practitioner").await, 0, "[{b}]");
        assert_eq!(history_len(&app).await, 0, "[{b}]");
        // At the limit it works.
        let ok = tx((0..3)
            .map(|_| {
                entry(
                    "POST",
                    "Practitioner",
                    None,
                    Some(practitioner(None, "Limit")),
                )
            })
            .collect());
        post_bundle(&app, &ok).await.status(200);
        assert_eq!(count(&app, "Practitioner").await, 3, "[{b}]");
    }
}

#[tokio::test]
async fn garbage_bundles_get_4xx_operation_outcomes_and_store_nothing() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not JSON", b"{\"resourceType\": \"Bundle\", ".to_vec()),
        ("an array", b"[1, 2]".to_vec()),
        (
            "wrong resourceType",
            br#"{"resourceType":"Patient","type":"transaction"}"#.to_vec(),
        ),
        (
            "no type",
            br#"{"resourceType":"Bundle","entry":[]}"#.to_vec(),
        ),
        (
            "collection",
            br#"{"resourceType":"Bundle","type":"collection","entry":[]}"#.to_vec(),
        ),
        (
            "type not a string",
            br#"{"resourceType":"Bundle","type":7}"#.to_vec(),
        ),
        (
            "entry not an array",
            br#"{"resourceType":"Bundle","type":"transaction","entry":{}}"#.to_vec(),
        ),
    ];
    let bad_entries: Vec<(&str, Value)> = vec![
        (
            "entry without request",
            json!({"resource": practitioner(None, "G")}),
        ),
        ("entry not an object", json!(42)),
        (
            "request not an object",
            json!({"request": "POST Practitioner"}),
        ),
        ("unknown method", entry("FETCH", "Practitioner", None, None)),
        (
            "method not a string",
            json!({"request": {"method": 1, "url": "Practitioner"}}),
        ),
        ("no url", json!({"request": {"method": "GET"}})),
        ("unknown type in url", entry("GET", "Foo/1", None, None)),
        (
            "bad id in url",
            entry("GET", "Practitioner/a b", None, None),
        ),
        ("empty url", entry("GET", "", None, None)),
        (
            "too many segments",
            entry("GET", "Practitioner/a/b/c/d", None, None),
        ),
        (
            "bad version",
            entry("GET", "Practitioner/a/_history/x", None, None),
        ),
        (
            "url on another server",
            entry(
                "GET",
                "http://elsewhere.example/fhir/Practitioner/a",
                None,
                None,
            ),
        ),
        (
            "POST to an instance",
            entry(
                "POST",
                "Practitioner/a",
                None,
                Some(practitioner(None, "G")),
            ),
        ),
        (
            "PUT without resource",
            entry("PUT", "Practitioner/a", None, None),
        ),
        (
            "resource not an object",
            json!({"request": {"method": "POST", "url": "Practitioner"}, "resource": "x"}),
        ),
        (
            "type mismatch",
            entry("POST", "Practitioner", None, Some(org("7", "G"))),
        ),
        (
            "bad ifMatch",
            with(
                entry(
                    "PUT",
                    "Practitioner/a",
                    None,
                    Some(practitioner(Some("a"), "G")),
                ),
                "ifMatch",
                "yesterday",
            ),
        ),
        (
            "bad ifModifiedSince",
            with(
                entry("GET", "Practitioner/a", None, None),
                "ifModifiedSince",
                "yesterday",
            ),
        ),
        (
            "PATCH with a Practitioner",
            entry(
                "PATCH",
                "Practitioner/a",
                None,
                Some(practitioner(None, "G")),
            ),
        ),
        (
            "PATCH Binary not base64",
            entry(
                "PATCH",
                "Practitioner/a",
                None,
                Some(
                    json!({"resourceType": "Binary", "contentType": "application/json-patch+json", "data": "%%%"}),
                ),
            ),
        ),
    ];
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        app.put(
            "/fhir/default/Practitioner/a",
            &practitioner(Some("a"), "Keep"),
        )
        .await
        .status(201);
        // A good Bundle with the wrong media type, or to a tenant that does not exist.
        let good = tx(vec![entry(
            "POST",
            "Practitioner",
            None,
            Some(practitioner(None, "G")),
        )]);
        let req = app
            .request(Method::POST, "/fhir/default")
            .header("content-type", "text/plain")
            .body(good.to_string());
        app.send(req).await.outcome(415, "not-supported");
        app.post("/fhir/no-such-tenant", &good)
            .await
            .outcome(404, "not-found");
        for (name, raw) in &cases {
            let req = app
                .request(Method::POST, "/fhir/default")
                .header("content-type", common::FHIR_JSON)
                .body(raw.clone());
            let r = app.send(req).await;
            assert!(
                (400..500).contains(&r.code),
                "[{b}] {name}: {} {}",
                r.code,
                r.text()
            );
            let issue = r.json()["issue"][0]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            r.outcome(r.code, &issue);
        }
        for (name, bad) in &bad_entries {
            // In a transaction the whole Bundle fails and names the entry.
            let good = entry(
                "POST",
                "Practitioner",
                None,
                Some(practitioner(None, "GarbageSide")),
            );
            let r = post_bundle(&app, &tx(vec![good.clone(), bad.clone()])).await;
            assert!(
                (400..500).contains(&r.code),
                "[{b}] {name}: {} {}",
                r.code,
                r.text()
            );
            let issue = r.json()["issue"][0]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let diag = r.outcome(r.code, &issue);
            assert!(
                diag.contains("entry 1"),
                "[{b}] {name}: the entry is not named: {diag}"
            );
            // In a batch only that entry fails.
            let r = post_bundle(&app, &bundle("batch", vec![bad.clone(), good]))
                .await
                .status(200);
            let es = response_entries(&r, "batch-response", 2);
            let status = es[0]["response"]["status"].as_str().unwrap_or_default();
            assert!(status.starts_with('4'), "[{b}] batch {name}: {}", es[0]);
            assert_eq!(
                es[0]["response"]["outcome"]["resourceType"], "OperationOutcome",
                "[{b}] {name}"
            );
            assert!(es[1]["response"]["status"]
                .as_str()
                .unwrap_or_default()
                .starts_with("201"));
        }
        assert_eq!(
            count(&app, "Practitioner?family=GarbageSide").await,
            bad_entries.len() as u64,
            "[{b}] only the batches' good entries are stored"
        );
        let (v, _) = read(&app, "Practitioner/a").await;
        assert_eq!(v, 1, "[{b}]");
    }
}
