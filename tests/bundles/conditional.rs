//! Conditional entries: `ifNoneExist`, `ifMatch`, `ifNoneMatch`, `ifModifiedSince`, and
//! two entries for one resource.

use super::*;

#[tokio::test]
async fn if_none_exist_makes_a_transaction_idempotent_and_several_matches_fail_it() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        let org_url = "urn:uuid:7f000000-0000-4000-8000-0000000000e1";
        let bundle = tx(vec![
            with(
                entry(
                    "POST",
                    "Organization",
                    Some(org_url),
                    Some(org("3333333331", "Once")),
                ),
                "ifNoneExist",
                &format!("identifier={NPI}|3333333331"),
            ),
            with(
                entry(
                    "POST",
                    "PractitionerRole",
                    None,
                    Some(json!({"resourceType": "PractitionerRole",
                        "identifier": [{"system": "http://example.org/roles", "value": "r1"}],
                        "organization": {"reference": org_url}})),
                ),
                "ifNoneExist",
                "identifier=http://example.org/roles|r1",
            ),
        ]);
        let first = post_bundle(&app, &bundle).await.status(200);
        let first = response_entries(&first, "transaction-response", 2);
        for e in &first {
            assert!(
                e["response"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("201"),
                "[{b}] first time: {e}"
            );
        }
        let after_first = history_len(&app).await;
        assert_eq!(after_first, 2, "[{b}]");

        let second = post_bundle(&app, &bundle).await.status(200);
        let second = response_entries(&second, "transaction-response", 2);
        for (one, two) in first.iter().zip(&second) {
            assert!(
                two["response"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("200"),
                "[{b}] second time: {two}"
            );
            assert_eq!(
                two["response"]["location"], one["response"]["location"],
                "[{b}] the second answer must point at the existing resource"
            );
            assert_eq!(two["response"]["etag"], "W/\"1\"", "[{b}] {two}");
        }
        assert_eq!(
            history_len(&app).await,
            after_first,
            "[{b}] the second post wrote"
        );
        assert_eq!(
            count(&app, &format!("Organization?identifier={NPI}|3333333331")).await,
            1
        );
        assert_eq!(count(&app, "PractitionerRole").await, 1, "[{b}]");
        let org_ref = type_id(b, &first[0]["response"]["location"]);
        let (_, role) = read(&app, &type_id(b, &first[1]["response"]["location"])).await;
        assert_eq!(role["organization"]["reference"], org_ref, "[{b}]");

        // A matched ifNoneExist still gives its fullUrl to the other entries.
        let again = tx(vec![
            with(
                entry(
                    "POST",
                    "Organization",
                    Some(org_url),
                    Some(org("3333333331", "Once")),
                ),
                "ifNoneExist",
                &format!("identifier={NPI}|3333333331"),
            ),
            entry(
                "POST",
                "PractitionerRole",
                None,
                Some(json!({"resourceType": "PractitionerRole",
                    "organization": {"reference": org_url}})),
            ),
        ]);
        let r = post_bundle(&app, &again).await.status(200);
        let es = response_entries(&r, "transaction-response", 2);
        let (_, role2) = read(&app, &type_id(b, &es[1]["response"]["location"])).await;
        assert_eq!(role2["organization"]["reference"], org_ref, "[{b}]");

        // Several matches: 412, nothing stored.
        app.create("default", &org("4444444440", "Dup")).await;
        app.create("default", &org("4444444440", "Dup")).await;
        let before = history_len(&app).await;
        let dup = tx(vec![
            entry(
                "POST",
                "Practitioner",
                None,
                Some(practitioner(None, "DupSide")),
            ),
            with(
                entry(
                    "POST",
                    "Organization",
                    Some("urn:uuid:7f000000-0000-4000-8000-0000000000e9"),
                    Some(org("4444444440", "Dup")),
                ),
                "ifNoneExist",
                &format!("identifier={NPI}|4444444440"),
            ),
        ]);
        let r = post_bundle(&app, &dup).await;
        assert_names_entry(
            &r,
            412,
            "conflict",
            1,
            Some("urn:uuid:7f000000-0000-4000-8000-0000000000e9"),
        );
        assert_eq!(history_len(&app).await, before, "[{b}]");
        assert_eq!(count(&app, "Practitioner?family=DupSide").await, 0, "[{b}]");
    }
}

#[tokio::test]
async fn entry_preconditions_if_match_if_none_match_if_modified_since() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        app.put(
            "/fhir/default/Practitioner/c1",
            &practitioner(Some("c1"), "Cond"),
        )
        .await
        .status(201);
        // ifMatch with the current version updates.
        let r = post_bundle(
            &app,
            &tx(vec![with(
                entry(
                    "PUT",
                    "Practitioner/c1",
                    None,
                    Some(practitioner(Some("c1"), "Cond2")),
                ),
                "ifMatch",
                "W/\"1\"",
            )]),
        )
        .await
        .status(200);
        let es = response_entries(&r, "transaction-response", 1);
        assert_eq!(es[0]["response"]["etag"], "W/\"2\"", "[{b}] {}", es[0]);

        // ifMatch on a DELETE with a stale version: 412, still there.
        let r = post_bundle(
            &app,
            &tx(vec![with(
                entry("DELETE", "Practitioner/c1", None, None),
                "ifMatch",
                "W/\"1\"",
            )]),
        )
        .await;
        assert_names_entry(&r, 412, "conflict", 0, None);
        assert_eq!(read(&app, "Practitioner/c1").await.0, 2, "[{b}]");

        let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
        let past = "2000-01-01T00:00:00Z";
        let r = post_bundle(
            &app,
            &tx(vec![
                with(
                    entry("GET", "Practitioner/c1", None, None),
                    "ifNoneMatch",
                    "W/\"2\"",
                ),
                with(
                    entry("GET", "Practitioner/c1", None, None),
                    "ifNoneMatch",
                    "W/\"1\"",
                ),
                with(
                    entry("GET", "Practitioner/c1", None, None),
                    "ifModifiedSince",
                    &future,
                ),
                with(
                    entry("GET", "Practitioner/c1", None, None),
                    "ifModifiedSince",
                    past,
                ),
            ]),
        )
        .await
        .status(200);
        let es = response_entries(&r, "transaction-response", 4);
        let st = |i: usize| {
            es[i]["response"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        assert!(
            st(0).starts_with("304"),
            "[{b}] ifNoneMatch current: {}",
            es[0]
        );
        assert!(
            es[0].get("resource").is_none(),
            "[{b}] 304 with a body: {}",
            es[0]
        );
        assert!(
            st(1).starts_with("200"),
            "[{b}] ifNoneMatch stale: {}",
            es[1]
        );
        assert_eq!(es[1]["resource"]["name"][0]["family"], "Cond2", "[{b}]");
        assert!(
            st(2).starts_with("304"),
            "[{b}] ifModifiedSince future: {}",
            es[2]
        );
        assert!(
            st(3).starts_with("200"),
            "[{b}] ifModifiedSince past: {}",
            es[3]
        );
        assert_eq!(es[3]["resource"]["id"], "c1", "[{b}]");

        // Two entries changing the same resource: 400, nothing done.
        let before = history_len(&app).await;
        for second in [
            entry("DELETE", "Practitioner/c1", None, None),
            entry(
                "PUT",
                "Practitioner/c1",
                None,
                Some(practitioner(Some("c1"), "Twice")),
            ),
            entry(
                "PUT",
                "Practitioner?_id=c1",
                None,
                Some(practitioner(Some("c1"), "Twice")),
            ),
        ] {
            let r = post_bundle(
                &app,
                &tx(vec![
                    entry(
                        "PUT",
                        "Practitioner/c1",
                        None,
                        Some(practitioner(Some("c1"), "Once")),
                    ),
                    second.clone(),
                ]),
            )
            .await;
            let diag = r.outcome(400, "invalid");
            assert!(diag.contains("Practitioner/c1"), "[{b}] {second}: {diag}");
        }
        assert_eq!(history_len(&app).await, before, "[{b}]");
        let (v, body) = read(&app, "Practitioner/c1").await;
        assert_eq!(
            (v, body["name"][0]["family"].clone()),
            (2, json!("Cond2")),
            "[{b}]"
        );
    }
}

/// Concurrent identical Bundles with the same `ifNoneExist`: the check and the create run in
/// one store transaction under a lock on the criteria, so exactly one creates (201) and every
/// other finds that resource (200, same location), in transactions and batches alike.
#[tokio::test]
async fn concurrent_identical_if_none_exist_transactions_create_one_resource() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        for (kind, npi) in [("transaction", "8888888880"), ("batch", "8888888881")] {
            let bundle = bundle(
                kind,
                vec![with(
                    entry("POST", "Organization", None, Some(org(npi, "Racer"))),
                    "ifNoneExist",
                    &format!("identifier={NPI}|{npi}"),
                )],
            );
            let answers =
                futures::future::join_all((0..8).map(|_| post_bundle(&app, &bundle))).await;
            let mut created = 0;
            let mut named = std::collections::BTreeSet::new();
            for r in answers {
                let r = r.status(200);
                let e = &response_entries(&r, &format!("{kind}-response"), 1)[0];
                let status = e["response"]["status"].as_str().unwrap_or_default();
                match &status[..3.min(status.len())] {
                    "201" => created += 1,
                    "200" => {}
                    _ => panic!("[{b}] {kind}: entry status {status}: {e}"),
                }
                named.insert(type_id(
                    &format!("[{b}] {kind}"),
                    &e["response"]["location"],
                ));
            }
            assert_eq!(created, 1, "[{b}] {kind}: exactly one entry creates");
            assert_eq!(
                named.len(),
                1,
                "[{b}] {kind}: every entry names the same resource: {named:?}"
            );
            assert_eq!(
                count(&app, &format!("Organization?identifier={NPI}|{npi}")).await,
                1,
                "[{b}] {kind}: concurrent ifNoneExist created duplicates"
            );
        }
    }
}

/// Concurrent transactions whose `ifNoneExist` Organization all but one find inside their
/// store transaction: every entry that refers to that Organization's `fullUrl` must then
/// refer to, and be found by, the Organization that exists (the references are rewritten and
/// indexed after the condition is resolved, never from an earlier guess).
#[tokio::test]
async fn references_to_an_if_none_exist_entry_name_the_resource_found_under_concurrency() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        let npi = "8888888898";
        let org_url = "urn:uuid:7f000000-0000-4000-8000-0000000000c1";
        let bundle = tx(vec![
            with(
                entry(
                    "POST",
                    "Organization",
                    Some(org_url),
                    Some(org(npi, "Racer")),
                ),
                "ifNoneExist",
                &format!("identifier={NPI}|{npi}"),
            ),
            entry(
                "POST",
                "Location",
                Some("urn:uuid:7f000000-0000-4000-8000-0000000000c2"),
                Some(json!({"resourceType": "Location", "name": "Racer site",
                            "managingOrganization": {"reference": org_url}})),
            ),
        ]);
        let answers = futures::future::join_all((0..8).map(|_| post_bundle(&app, &bundle))).await;
        let mut orgs = std::collections::BTreeSet::new();
        let mut locations = Vec::new();
        for r in answers {
            let es = response_entries(&r.status(200), "transaction-response", 2);
            orgs.insert(type_id(b, &es[0]["response"]["location"]));
            locations.push(type_id(b, &es[1]["response"]["location"]));
        }
        assert_eq!(orgs.len(), 1, "[{b}] one Organization: {orgs:?}");
        let org_ref = orgs.pop_first().unwrap_or_default();
        for l in &locations {
            let (_, body) = read(&app, l).await;
            assert_eq!(
                body["managingOrganization"]["reference"], org_ref,
                "[{b}] {l} refers to the Organization that exists"
            );
        }
        // The index rows are those of the stored bodies.
        assert_eq!(
            count(&app, &format!("Location?organization={org_ref}")).await,
            8,
            "[{b}] every Location is found by its Organization"
        );
        assert_eq!(
            count(
                &app,
                &format!("Location?organization.identifier={NPI}|{npi}")
            )
            .await,
            8,
            "[{b}]"
        );
    }
}

#[tokio::test]
async fn put_entries_need_the_url_id_unless_conditional() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        // http.html#update: a body without the URL's id is a 400, in a Bundle as alone.
        let r = post_bundle(
            &app,
            &tx(vec![entry(
                "PUT",
                "Practitioner/noid",
                Some("urn:uuid:7f000000-0000-4000-8000-00000000ab01"),
                Some(practitioner(None, "NoId")),
            )]),
        )
        .await;
        assert_names_entry(
            &r,
            400,
            "invalid",
            0,
            Some("urn:uuid:7f000000-0000-4000-8000-00000000ab01"),
        );
        app.get("/fhir/default/Practitioner/noid").await.status(404);
        // A conditional update may leave the id out: it is the matched one, or a new one.
        let identified = |family: &str| {
            let mut p = practitioner(None, family);
            p["identifier"] = json!([{"system": NPI, "value": "1234567893"}]);
            p
        };
        let url = format!("Practitioner?identifier={NPI}|1234567893");
        let r = post_bundle(
            &app,
            &tx(vec![entry("PUT", &url, None, Some(identified("Created")))]),
        )
        .await
        .status(200);
        let es = response_entries(&r, "transaction-response", 1);
        assert!(
            es[0]["response"]["status"]
                .as_str()
                .unwrap_or_default()
                .starts_with("201"),
            "[{b}] {}",
            es[0]
        );
        let created = type_id(b, &es[0]["response"]["location"]);
        let r = post_bundle(
            &app,
            &tx(vec![entry("PUT", &url, None, Some(identified("Updated")))]),
        )
        .await
        .status(200);
        let es = response_entries(&r, "transaction-response", 1);
        assert_eq!(type_id(b, &es[0]["response"]["location"]), created, "[{b}]");
        let (v, body) = read(&app, &created).await;
        assert_eq!(
            (v, &body["name"][0]["family"]),
            (2, &json!("Updated")),
            "[{b}]"
        );
        assert_eq!(count(&app, "Practitioner").await, 1, "[{b}]");
    }
}
