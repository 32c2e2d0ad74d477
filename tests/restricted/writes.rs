//! Writes: a caller cannot change what it cannot see (hidden: the missing-id answer; hidden
//! elements: 403), conditional writes resolve as the caller sees the tenant, an authorised
//! writer can add and remove restrictions (effective at once), and a stored Restriction
//! changes every resource citing it.

use reqwest::Method;
use serde_json::json;

use crate::common::test_databases;
use crate::fixture::{fixture, ids, restriction, Fixture, USAGE};

const SHELTER_ALL: &str = "Location/LocationWomenShelterAll";

async fn privileged_body(f: &Fixture, path: &str) -> serde_json::Value {
    f.get(Some(&f.who.privileged), path)
        .await
        .status(200)
        .json()
}

/// The ids anonymous callers find by the citers' home city.
async fn home(f: &Fixture) -> Vec<String> {
    let path = "Practitioner?address-city=Hometown";
    ids(&f.get(None, path).await.status(200).json())
}

#[tokio::test]
async fn a_caller_cannot_write_what_it_cannot_see() {
    for db in test_databases().await {
        let Some(f) = fixture(&db).await else { return };
        let stranger = Some(f.who.stranger.as_str());
        let before = privileged_body(&f, SHELTER_ALL).await;
        let mut changed = before.clone();
        changed["name"] = json!("overwritten");
        // PUT: 404 with the words of a missing id, never an overwrite.
        let put = f.send(stranger, Method::PUT, SHELTER_ALL, &changed).await;
        let why = put.outcome(404, "not-found");
        assert_eq!(why, "Location/LocationWomenShelterAll is not known");
        // PATCH: the same answer as for a missing id.
        let patch = json!([{"op": "replace", "path": "/name", "value": "patched"}]);
        let req = f
            .app
            .request(Method::PATCH, &f.app.url(&f.path(SHELTER_ALL)))
            .bearer_auth(&f.who.stranger)
            .header("content-type", "application/json-patch+json")
            .body(patch.to_string());
        let hidden = f.app.send(req).await;
        let req = f
            .app
            .request(Method::PATCH, &f.app.url(&f.path("Location/Nope")))
            .bearer_auth(&f.who.stranger)
            .header("content-type", "application/json-patch+json")
            .body(patch.to_string());
        let missing = f.app.send(req).await;
        assert_eq!(hidden.code, missing.code, "{}", hidden.text());
        assert_eq!(
            hidden
                .outcome(404, "not-found")
                .replace("LocationWomenShelterAll", "X"),
            missing.outcome(404, "not-found").replace("Nope", "X")
        );
        // DELETE: the missing-id answer, and nothing deleted.
        let del = f
            .send(stranger, Method::DELETE, SHELTER_ALL, &json!({}))
            .await;
        let del_missing = f
            .send(stranger, Method::DELETE, "Location/Nope", &json!({}))
            .await;
        assert_eq!(del.code, del_missing.code, "{}", del.text());
        assert_eq!(del.header("etag"), del_missing.header("etag"));
        // A transaction entry: refused the same way, nothing written.
        let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": changed, "request": {"method": "PUT", "url": SHELTER_ALL}}]});
        let resp = f.send(stranger, Method::POST, "", &tx).await;
        assert!(
            resp.outcome(404, "not-found").contains("is not known"),
            "{}",
            resp.text()
        );
        assert_eq!(privileged_body(&f, SHELTER_ALL).await, before, "untouched");
        // Hidden elements: the resource is visible, but writing it back would drop them.
        let shelter = f
            .get(stranger, "Location/LocationWomenShelter")
            .await
            .status(200)
            .json();
        let put = f
            .send(
                stranger,
                Method::PUT,
                "Location/LocationWomenShelter",
                &shelter,
            )
            .await;
        assert!(put
            .outcome(403, "forbidden")
            .contains("restricted elements"));
        let full = privileged_body(&f, "Location/LocationWomenShelter").await;
        assert_eq!(
            full["address"]["city"], "Ann Arbor",
            "the hidden address survives"
        );
        assert_eq!(full["meta"]["versionId"], "1");
        // The unrestricted twin is writable by the same caller.
        let mut twin = f
            .get(stranger, "Location/LocationWomenShelterAllTwin")
            .await
            .json();
        twin["name"] = json!("renamed");
        f.send(
            stranger,
            Method::PUT,
            "Location/LocationWomenShelterAllTwin",
            &twin,
        )
        .await
        .status(200);
    }
}

#[tokio::test]
async fn conditional_writes_resolve_as_the_caller_sees_the_tenant() {
    for db in test_databases().await {
        let Some(f) = fixture(&db).await else { return };
        let stranger = Some(f.who.stranger.as_str());
        // A hidden clinic and its public twin share an identifier.
        let mut hidden = crate::fixture::organization(
            "Hidden",
            "Hidden Clinic",
            vec![restriction(
                "r",
                &[],
                json!({"type": "permit", "actor": [{"reference": {"reference": "Organization/blue"}}]}),
            )],
        );
        hidden["identifier"] = json!([{"system": "urn:ids", "value": "shared"}]);
        f.put(&hidden).await.status(201);
        let mut public = crate::fixture::twin(&hidden);
        public["id"] = json!("Public");
        f.put(&public).await.status(201);
        // If-None-Exist: one match (the public one), not "several" (412).
        let new = json!({"resourceType": "Organization", "name": "x", "identifier": [{"system": "urn:ids", "value": "shared"}]});
        let req = f
            .app
            .request(Method::POST, &f.app.url(&f.path("Organization")))
            .bearer_auth(&f.who.stranger)
            .header("if-none-exist", "identifier=urn:ids|shared")
            .header("content-type", "application/fhir+json")
            .body(new.to_string());
        let r = f.app.send(req).await.status(200);
        assert_eq!(r.json()["id"], "Public");
        // Conditional update: the public one is updated, not a 412.
        let mut upd = public.clone();
        upd["name"] = json!("Public Clinic (updated)");
        let r = f
            .send(
                stranger,
                Method::PUT,
                "Organization?identifier=urn:ids|shared",
                &upd,
            )
            .await
            .status(200);
        assert_eq!(r.json()["id"], "Public");
        // Blue sees both: the same requests are ambiguous for it.
        let r = f
            .send(
                Some(&f.who.blue),
                Method::PUT,
                "Organization?identifier=urn:ids|shared",
                &upd,
            )
            .await;
        r.outcome(412, "conflict");
        // Conditional delete by a caller who sees only the public one deletes only that.
        let r = f
            .send(
                stranger,
                Method::DELETE,
                "Organization?identifier=urn:ids|shared",
                &json!({}),
            )
            .await;
        assert!(r.code == 200 || r.code == 204, "{}", r.text());
        f.get(Some(&f.who.blue), "Organization/Hidden")
            .await
            .status(200);
        f.get(Some(&f.who.blue), "Organization/Public")
            .await
            .status(410);
    }
}

#[tokio::test]
async fn restrictions_take_effect_and_lift_at_once_and_stored_ones_apply_to_every_citer() {
    for db in test_databases().await {
        let Some(f) = fixture(&db).await else { return };
        let dir = testkit::shared_fhir().expect("fixture read it");
        // Lifting: the privileged client removes the military organization's restriction.
        let mut military = privileged_body(&f, "Organization/MilitaryHealthcareOrganization").await;
        f.get(None, "Organization/MilitaryHealthcareOrganization")
            .await
            .status(404);
        military
            .as_object_mut()
            .expect("object")
            .remove("contained");
        military["extension"]
            .as_array_mut()
            .expect("extensions")
            .retain(|e| e["url"] != USAGE);
        f.put(&military).await.status(200);
        f.get(None, "Organization/MilitaryHealthcareOrganization")
            .await
            .status(200);
        let found = f
            .get(None, "Organization?name=Military")
            .await
            .status(200)
            .json();
        assert_eq!(ids(&found).len(), 2);
        // Adding: a plain client restricts a practitioner it wrote; anonymous loses it at once.
        let blue = Some(f.who.blue.as_str());
        let p =
            json!({"resourceType": "Practitioner", "id": "Later", "name": [{"family": "Later"}]});
        f.send(blue, Method::PUT, "Practitioner/Later", &p)
            .await
            .status(201);
        f.get(None, "Practitioner/Later").await.status(200);
        let mut restricted = p.clone();
        restricted["extension"] = json!([{"url": USAGE, "valueReference": {"reference": "#r"}}]);
        restricted["contained"] = json!([restriction("r", &[], serde_json::Value::Null)]);
        f.send(blue, Method::PUT, "Practitioner/Later", &restricted)
            .await
            .status(200);
        f.get(None, "Practitioner/Later").await.status(404);
        assert!(ids(&f.get(None, "Practitioner?family=Later").await.json()).is_empty());
        // A stored Restriction (NDH's stand-alone example: home address and phone) cited by two.
        let consent = crate::fixture::example(&dir, "Consent-PractitionerRestrict");
        f.put(&consent).await.status(201);
        for id in ["Cites1", "Cites2"] {
            let p = json!({"resourceType": "Practitioner", "id": id,
                "extension": [{"url": USAGE, "valueReference": {"reference": "Consent/PractitionerRestrict"}}],
                "name": [{"family": "Citer"}],
                "address": [{"use": "home", "city": "Hometown"}, {"use": "work", "city": "Worktown"}]});
            f.put(&p).await.status(201);
        }
        assert!(home(&f).await.is_empty(), "home addresses hidden");
        let r = f.get(None, "Practitioner/Cites1").await.status(200).json();
        assert!(
            !r.to_string().contains("Hometown") && r.to_string().contains("Worktown"),
            "{r}"
        );
        // The Restriction becomes inactive: both citers show their home address at once.
        let mut inactive = consent.clone();
        inactive["status"] = json!("inactive");
        f.put(&inactive).await.status(200);
        assert_eq!(home(&f).await, vec!["Cites1", "Cites2"]);
        // Active again, now without paths: both citers are hidden whole from anonymous callers.
        let mut whole = consent.clone();
        whole.as_object_mut().expect("object").remove("extension");
        f.put(&whole).await.status(200);
        for id in ["Cites1", "Cites2"] {
            f.get(None, &format!("Practitioner/{id}")).await.status(404);
            f.get(Some(&f.who.stranger), &format!("Practitioner/{id}"))
                .await
                .status(200);
        }
        // ... and in searches, by any of their values: none for anonymous callers, both for
        // a client (their index rows moved with the Restriction, without a write of theirs).
        for path in [
            "Practitioner?family=Citer",
            "Practitioner?address-city=Worktown",
        ] {
            assert!(ids(&f.get(None, path).await.status(200).json()).is_empty());
            let seen = f.get(Some(&f.who.stranger), path).await.status(200).json();
            assert_eq!(ids(&seen), vec!["Cites1", "Cites2"], "{path}");
        }
        // A Restriction deleted: its citers fail closed (see_restricted clients only).
        f.send(
            Some(&f.who.privileged),
            Method::DELETE,
            "Consent/PractitionerRestrict",
            &json!({}),
        )
        .await;
        f.get(Some(&f.who.stranger), "Practitioner/Cites1")
            .await
            .status(404);
        f.get(Some(&f.who.privileged), "Practitioner/Cites1")
            .await
            .status(200);
        let path = "Practitioner?family=Citer";
        assert!(ids(&f.get(Some(&f.who.stranger), path).await.json()).is_empty());
        let seen = f
            .get(Some(&f.who.privileged), path)
            .await
            .status(200)
            .json();
        assert_eq!(ids(&seen), vec!["Cites1", "Cites2"]);
    }
}

#[tokio::test]
async fn a_bundle_writing_a_restriction_and_its_citer_hides_the_citer_from_searches() {
    for db in test_databases().await {
        let Some(f) = fixture(&db).await else { return };
        let dir = testkit::shared_fhir().expect("fixture read it");
        // The citer comes first: when it is written, the Restriction it cites is not stored
        // yet, and the Restriction's write then recomputes it.
        let mut consent = crate::fixture::example(&dir, "Consent-PractitionerRestrict");
        consent["id"] = json!("Bundled");
        let citer = json!({"resourceType": "Practitioner", "id": "BundledCiter",
            "extension": [{"url": USAGE, "valueReference": {"reference": "Consent/Bundled"}}],
            "name": [{"family": "Bundledciter"}],
            "address": [{"use": "home", "city": "Bundlehome"}, {"use": "work", "city": "Bundlework"}]});
        let entry = |r: &serde_json::Value| {
            let url = format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap_or_default(),
                r["id"].as_str().unwrap_or_default()
            );
            json!({"resource": r, "request": {"method": "PUT", "url": url}})
        };
        let bundle = json!({"resourceType": "Bundle", "type": "transaction",
            "entry": [entry(&citer), entry(&consent)]});
        f.send(Some(&f.who.privileged), Method::POST, "", &bundle)
            .await
            .status(200);
        // The stored example restricts home addresses only: the city parameter (fed by the
        // home and the work address) no longer matches for anonymous callers, the name does.
        for city in ["Bundlehome", "Bundlework"] {
            let path = format!("Practitioner?address-city={city}");
            assert!(ids(&f.get(None, &path).await.status(200).json()).is_empty());
            let seen = f.get(Some(&f.who.privileged), &path).await.status(200);
            assert_eq!(ids(&seen.json()), vec!["BundledCiter"]);
        }
        let path = "Practitioner?family=Bundledciter";
        assert_eq!(ids(&f.get(None, path).await.json()), vec!["BundledCiter"]);
    }
}

#[tokio::test]
async fn see_restricted_is_an_operator_grant_shown_on_the_client() {
    for db in test_databases().await {
        let Some(f) = fixture(&db).await else { return };
        let list = crate::support::admin(
            &f.app,
            Method::GET,
            &format!("/admin/tenants/{}/clients", crate::fixture::T),
            None,
        )
        .await
        .status(200)
        .json();
        let granted: Vec<&serde_json::Value> = list["clients"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["see_restricted"] == true)
            .collect();
        assert_eq!(granted.len(), 1, "{list}");
        assert_eq!(granted[0]["organization"], "Organization/ops");
        // The token says so; no client can claim it in its token request.
        let claims = crate::support::claims(&f.who.privileged);
        assert_eq!(claims["see_restricted"], true);
        assert!(crate::support::claims(&f.who.stranger)
            .get("see_restricted")
            .is_none());
    }
}

#[tokio::test]
async fn the_restricting_labels_are_a_tenant_setting_applied_at_once() {
    for db in test_databases().await {
        let Some(f) = fixture(&db).await else { return };
        let path = format!("/admin/tenants/{}/restrictions", crate::fixture::T);
        let normal = json!({"resourceType": "Practitioner", "id": "Normal",
            "meta": {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"}]},
            "name": [{"family": "Normal"}]});
        f.put(&normal).await.status(201);
        f.get(None, "Practitioner/Normal").await.status(200);
        let got = crate::support::admin(&f.app, Method::GET, &path, None)
            .await
            .status(200)
            .json();
        assert_eq!(got, json!({"restricting_labels": ["R", "V"]}));
        // Only the admin token may change it, and only to v3 Confidentiality codes.
        let anon = f.app.request(Method::PUT, &f.app.url(&path)).body("{}");
        assert_eq!(f.app.send(anon).await.code, 401);
        let bad = json!({"restricting_labels": ["X"]});
        let r = crate::support::admin(&f.app, Method::PUT, &path, Some(bad)).await;
        assert!(r.outcome(400, "invalid").contains("\"X\""));
        // N now restricts: the labelled practitioner is hidden from anonymous callers at once.
        let set = json!({"restricting_labels": ["V", "R", "N"]});
        let r = crate::support::admin(&f.app, Method::PUT, &path, Some(set))
            .await
            .status(200)
            .json();
        assert_eq!(r["restricting_labels"], json!(["N", "R", "V"]));
        assert_eq!(r["recomputed"], 1, "{r}");
        f.get(None, "Practitioner/Normal").await.status(404);
        let search = "Practitioner?family=Normal&_total=accurate";
        let found = f.get(None, search).await.status(200).json();
        assert!(ids(&found).is_empty());
        assert_eq!(found["total"], 0, "{found}");
        f.get(Some(&f.who.stranger), "Practitioner/Normal")
            .await
            .status(200);
        let seen = f
            .get(Some(&f.who.stranger), search)
            .await
            .status(200)
            .json();
        assert_eq!(ids(&seen), vec!["Normal"]);
        assert_eq!(seen["total"], 1, "{seen}");
        // A later write keeps to the tenant's setting.
        let mut again = normal.clone();
        again["id"] = json!("Normal2");
        f.put(&again).await.status(201);
        f.get(None, "Practitioner/Normal2").await.status(404);
    }
}

/// A batch that writes one restricted resource twice ends as its last entry says, restriction
/// rows included (the two writes reach the store in one batch).
#[tokio::test]
async fn a_bundle_writing_one_restricted_resource_twice_keeps_the_last() {
    for db in test_databases().await {
        let Some(f) = fixture(&db).await else { return };
        let privileged = Some(f.who.privileged.as_str());
        let first = privileged_body(&f, SHELTER_ALL).await;
        let mut second = first.clone();
        second["name"] = json!("renamed twice");
        let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
            {"resource": first, "request": {"method": "PUT", "url": SHELTER_ALL}},
            {"resource": second, "request": {"method": "PUT", "url": SHELTER_ALL}}]});
        let resp = f
            .send(privileged, Method::POST, "", &batch)
            .await
            .status(200);
        let statuses: Vec<String> = resp.json()["entry"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| e["response"]["status"].as_str().unwrap_or("").to_owned())
            .collect();
        assert_eq!(statuses, ["200 OK", "200 OK"], "{}", resp.text());
        let now = privileged_body(&f, SHELTER_ALL).await;
        assert_eq!(now["name"], "renamed twice");
        // Still restricted as a whole: anonymous gets the missing-id answer.
        f.get(None, SHELTER_ALL).await.status(404);
        let found = f
            .get(None, "Location?name=renamed")
            .await
            .status(200)
            .json();
        assert!(ids(&found).is_empty(), "{found}");
    }
}
