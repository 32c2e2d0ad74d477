//! Links between entries: `urn:uuid:` / `urn:oid:` / absolute `fullUrl`s rewritten in
//! references, uri elements and narratives, and conditional references resolved.

use super::*;

#[tokio::test]
async fn transaction_rewrites_urn_uuid_and_urn_oid_full_urls_everywhere() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        let org_url = "urn:uuid:7f000000-0000-4000-8000-0000000000c1";
        let loc_url = "urn:oid:1.2.840.113619.6.197";
        let role = json!({
            "resourceType": "PractitionerRole",
            "active": true,
            "practitioner": {"reference": "urn:uuid:7f000000-0000-4000-8000-0000000000c3"},
            "organization": {"reference": org_url},
            "location": [{"reference": loc_url}],
            "extension": [{
                "url": "http://example.org/network",
                "extension": [{"url": "inner", "valueReference": {"reference": org_url}}]
            }, {
                "url": "http://example.org/site", "valueReference": {"reference": loc_url}
            }],
            "contained": [{
                "resourceType": "HealthcareService", "id": "hs1",
                "providedBy": {"reference": org_url},
                "location": [{"reference": loc_url}]
            }],
            "healthcareService": [{"reference": "#hs1"}]
        });
        let bundle = tx(vec![
            entry("POST", "PractitionerRole", None, Some(role)),
            entry(
                "POST",
                "Organization",
                Some(org_url),
                Some(org("1111111112", "Rewritten Org")),
            ),
            entry(
                "POST",
                "Location",
                Some(loc_url),
                Some(json!({"resourceType": "Location", "name": "L",
                            "managingOrganization": {"reference": org_url}})),
            ),
            entry(
                "PUT",
                "Practitioner/pr-c3",
                Some("urn:uuid:7f000000-0000-4000-8000-0000000000c3"),
                Some(practitioner(Some("pr-c3"), "Rewrite")),
            ),
        ]);
        let r = post_bundle(&app, &bundle).await.status(200);
        let es = response_entries(&r, "transaction-response", 4);
        let role_ref = type_id(b, &es[0]["response"]["location"]);
        let org_ref = type_id(b, &es[1]["response"]["location"]);
        let loc_ref = type_id(b, &es[2]["response"]["location"]);
        assert!(org_ref.starts_with("Organization/"), "[{b}] {org_ref}");
        assert!(loc_ref.starts_with("Location/"), "[{b}] {loc_ref}");
        assert_eq!(
            type_id(b, &es[3]["response"]["location"]),
            "Practitioner/pr-c3"
        );

        let (_, stored) = read(&app, &role_ref).await;
        let text = stored.to_string();
        assert!(!text.contains("urn:"), "[{b}] a urn survived: {stored}");
        assert_eq!(stored["organization"]["reference"], org_ref, "[{b}]");
        assert_eq!(
            stored["practitioner"]["reference"], "Practitioner/pr-c3",
            "[{b}]"
        );
        assert_eq!(stored["location"][0]["reference"], loc_ref, "[{b}]");
        assert_eq!(
            stored["extension"][0]["extension"][0]["valueReference"]["reference"], org_ref,
            "[{b}] nested extension"
        );
        assert_eq!(
            stored["extension"][1]["valueReference"]["reference"], loc_ref,
            "[{b}]"
        );
        assert_eq!(
            stored["contained"][0]["providedBy"]["reference"], org_ref,
            "[{b}]"
        );
        assert_eq!(
            stored["contained"][0]["location"][0]["reference"], loc_ref,
            "[{b}]"
        );
        assert_eq!(stored["healthcareService"][0]["reference"], "#hs1", "[{b}]");
        let (_, loc) = read(&app, &loc_ref).await;
        assert_eq!(loc["managingOrganization"]["reference"], org_ref, "[{b}]");

        // The index holds the rewritten references.
        assert_eq!(
            count(&app, &format!("PractitionerRole?organization={org_ref}")).await,
            1
        );
        assert_eq!(
            count(&app, &format!("PractitionerRole?location={loc_ref}")).await,
            1
        );
        assert_eq!(
            count(&app, &format!("Location?organization={org_ref}")).await,
            1
        );

        // A urn that names no entry cannot resolve: the transaction fails, nothing stored.
        let before = history_len(&app).await;
        let dangling = tx(vec![
            entry(
                "POST",
                "Organization",
                None,
                Some(org("1111111113", "Dangling")),
            ),
            entry(
                "POST",
                "PractitionerRole",
                Some("urn:uuid:7f000000-0000-4000-8000-0000000000c9"),
                Some(json!({"resourceType": "PractitionerRole",
                            "organization": {"reference": "urn:uuid:7f000000-0000-4000-8000-00000000dead"}})),
            ),
        ]);
        let r = post_bundle(&app, &dangling).await;
        assert_names_entry(&r, 400, "invalid", 1, None);
        assert_eq!(history_len(&app).await, before, "[{b}]");

        // Two entries with one fullUrl: which one a reference names is unknowable.
        let twice = "urn:uuid:7f000000-0000-4000-8000-0000000000c8";
        let r = post_bundle(
            &app,
            &tx(vec![
                entry(
                    "POST",
                    "Organization",
                    Some(twice),
                    Some(org("1111111114", "A")),
                ),
                entry(
                    "POST",
                    "Organization",
                    Some(twice),
                    Some(org("1111111115", "B")),
                ),
            ]),
        )
        .await;
        let diag = r.outcome(400, "invalid");
        assert!(
            diag.contains(twice),
            "[{b}] the fullUrl is not named: {diag}"
        );
        assert_eq!(history_len(&app).await, before, "[{b}]");
    }
}

#[tokio::test]
async fn transaction_rewrites_full_urls_in_uri_elements_and_narrative_links() {
    // http.html#trules: "Servers SHALL replace all matching links in the bundle, whether
    // they are found in the resource ids, resource references, elements of type uri, url,
    // oid, uuid, and <a href="" & <img src="" in the narrative."
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        let org_url = "urn:uuid:7f000000-0000-4000-8000-0000000000aa";
        let photo_url = "urn:oid:1.2.3.4.5.6";
        let practitioner_with_links = json!({
            "resourceType": "Practitioner",
            "text": {"status": "generated", "div": format!(
                "<div xmlns=\"http://www.w3.org/1999/xhtml\">Works at <a href=\"{org_url}\">Acme</a> \
                 <img src='{photo_url}'/> <a href=\"urn:uuid:7f000000-0000-4000-8000-0000000000ff\">kept</a></div>")},
            "identifier": [{"system": "urn:ietf:rfc:3986", "value": org_url}],
            "photo": [{"contentType": "image/png", "url": photo_url}],
            "extension": [
                {"url": "http://example.org/uri", "valueUri": org_url},
                {"url": "http://example.org/url", "valueUrl": photo_url},
                {"url": "http://example.org/string", "valueString": org_url}
            ],
            "name": [{"family": "Links"}]
        });
        let bundle = tx(vec![
            entry("POST", "Practitioner", None, Some(practitioner_with_links)),
            entry(
                "POST",
                "Organization",
                Some(org_url),
                Some(org("1212121212", "Linked")),
            ),
            entry(
                "POST",
                "Binary",
                Some(photo_url),
                Some(json!({"resourceType": "Binary", "contentType": "image/png", "data": "AAAA"})),
            ),
        ]);
        let r = post_bundle(&app, &bundle).await.status(200);
        let es = response_entries(&r, "transaction-response", 3);
        let org_ref = type_id(b, &es[1]["response"]["location"]);
        let photo_ref = type_id(b, &es[2]["response"]["location"]);
        let (_, stored) = read(&app, &type_id(b, &es[0]["response"]["location"])).await;
        let div = stored["text"]["div"].as_str().unwrap_or_default();
        assert!(
            div.contains(&format!("href=\"{org_ref}\"")),
            "[{b}] narrative a href: {div}"
        );
        assert!(
            div.contains(&format!("src='{photo_ref}'")),
            "[{b}] narrative img src: {div}"
        );
        assert!(
            div.contains("href=\"urn:uuid:7f000000-0000-4000-8000-0000000000ff\""),
            "[{b}] a link to no entry must stay: {div}"
        );
        assert_eq!(
            stored["photo"][0]["url"], photo_ref,
            "[{b}] Attachment.url (url)"
        );
        assert_eq!(
            stored["extension"][0]["valueUri"], org_ref,
            "[{b}] valueUri"
        );
        assert_eq!(
            stored["extension"][1]["valueUrl"], photo_ref,
            "[{b}] valueUrl"
        );
        // Strings are not links: an identifier or a valueString keeps its text.
        assert_eq!(
            stored["identifier"][0]["value"], org_url,
            "[{b}] Identifier.value is a string"
        );
        assert_eq!(
            stored["extension"][2]["valueString"], org_url,
            "[{b}] valueString"
        );
    }
}

#[tokio::test]
async fn conditional_references_resolve_one_match_and_fail_on_none_or_several() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        let org_id = app.create("default", &org("1234567893", "Acme")).await;
        for _ in 0..2 {
            app.create("default", &org("2222222220", "Twin")).await;
        }
        let role = |reference: &str| {
            tx(vec![entry(
                "POST",
                "PractitionerRole",
                Some("urn:uuid:7f000000-0000-4000-8000-0000000000d1"),
                Some(json!({"resourceType": "PractitionerRole", "active": true,
                    "organization": {"reference": reference},
                    "extension": [{"url": "http://example.org/x",
                                   "valueReference": {"reference": reference}}]})),
            )])
        };
        let r = post_bundle(
            &app,
            &role(&format!("Organization?identifier={NPI}|1234567893")),
        )
        .await
        .status(200);
        let es = response_entries(&r, "transaction-response", 1);
        let (_, stored) = read(&app, &type_id(b, &es[0]["response"]["location"])).await;
        let expected = format!("Organization/{org_id}");
        assert_eq!(
            stored["organization"]["reference"], expected,
            "[{b}] {stored}"
        );
        assert_eq!(
            stored["extension"][0]["valueReference"]["reference"], expected,
            "[{b}] {stored}"
        );
        assert_eq!(
            count(&app, &format!("PractitionerRole?organization={expected}")).await,
            1
        );

        let before = history_len(&app).await;
        for (what, npi) in [("no match", "0000000000"), ("two matches", "2222222220")] {
            let r = post_bundle(&app, &role(&format!("Organization?identifier={NPI}|{npi}"))).await;
            assert!(
                (400..500).contains(&r.code),
                "{}: {what}: expected a 4xx, got {}: {}",
                r.what,
                r.code,
                r.text()
            );
            let code = r.code;
            let issue = r.json()["issue"][0]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let diag = r.outcome(code, &issue);
            assert!(diag.contains("entry 0"), "[{b}] {what}: {diag}");
            assert!(
                diag.contains(npi),
                "[{b}] {what}: the diagnostic names no criteria: {diag}"
            );
        }
        assert_eq!(
            history_len(&app).await,
            before,
            "[{b}] a failed transaction wrote"
        );
        // Criteria the server cannot evaluate must not widen the match to "everything":
        // with one Acme, `Organization?name=Acme&frobnicate=1` must not resolve to it.
        for reference in ["Organization?name=Acme&frobnicate=1", "Organization?"] {
            let r = post_bundle(&app, &role(reference)).await;
            let diag = r.outcome(400, r.json()["issue"][0]["code"].as_str().unwrap_or("?"));
            assert!(diag.contains("entry 0"), "[{b}] {reference}: {diag}");
        }
        let r = post_bundle(
            &app,
            &tx(vec![with(
                entry(
                    "POST",
                    "Organization",
                    None,
                    Some(org("1234567893", "Acme")),
                ),
                "ifNoneExist",
                "name=Acme&frobnicate=1",
            )]),
        )
        .await;
        r.outcome(400, r.json()["issue"][0]["code"].as_str().unwrap_or("?"));
        assert_eq!(
            history_len(&app).await,
            before,
            "[{b}] a failed transaction wrote"
        );
        assert_eq!(count(&app, "PractitionerRole").await, 1, "[{b}]");
    }
}
