//! Search: a hidden resource never matches, counts, pages, is included, satisfies a chain or a
//! `_has`; a hidden element's values never match, sort, or lead to an include.

use reqwest::Method;
use serde_json::json;

use crate::common::{link, test_databases};
use crate::fixture::{fixture, ids, included, redacted, Fixture};

/// The match ids of `path` as `token`, with `total` and whether a `next` link exists.
async fn search(
    f: &Fixture,
    token: Option<&str>,
    path: &str,
) -> (Vec<String>, serde_json::Value, bool) {
    let b = f.get(token, path).await.status(200).json();
    (ids(&b), b["total"].clone(), link(&b, "next").is_some())
}

#[tokio::test]
async fn hidden_resources_take_no_place_in_results_totals_or_pages() {
    for db in test_databases().await {
        let Some(f) = fixture(&db).await else { return };
        for (who, token) in f.all() {
            let hidden_orgs: &[&str] = match who {
                "anonymous" => &["BlueNotGreen", "BlueOnly", "MilitaryHealthcareOrganization"],
                "stranger" => &["BlueNotGreen", "BlueOnly"],
                _ => &[],
            };
            let (all, total, _) =
                search(&f, token, "Organization?_total=accurate&_count=100").await;
            let mut expected = vec![
                "BlueNotGreen",
                "BlueNotGreenTwin",
                "BlueOnly",
                "BlueOnlyTwin",
                "MilitaryHealthcareOrganization",
                "MilitaryHealthcareOrganizationTwin",
            ];
            expected.retain(|id| !hidden_orgs.contains(id));
            assert_eq!(all, expected, "{who}");
            assert_eq!(total, json!(expected.len()), "{who}");
            // _summary=count agrees, and so does paging one by one.
            let count = f
                .get(token, "Organization?_summary=count")
                .await
                .status(200)
                .json();
            assert_eq!(count["total"], json!(expected.len()), "{who}");
            let mut seen = Vec::new();
            let mut next = Some(f.app.url(&f.path("Organization?_count=1")));
            while let Some(url) = next {
                let page = crate::support::with_token(&f.app, token, Method::GET, &url, None)
                    .await
                    .status(200)
                    .json();
                let page_ids = ids(&page);
                assert_eq!(
                    page_ids.len(),
                    1,
                    "{who}: a hidden resource took a place: {page}"
                );
                seen.extend(page_ids);
                next = link(&page, "next");
            }
            seen.sort();
            assert_eq!(seen, expected, "{who}: paging");
            // Military by name: the twin always, the original only when admitted.
            let (m, total, more) =
                search(&f, token, "Organization?name=Military&_total=accurate").await;
            let sees = !hidden_orgs.contains(&"MilitaryHealthcareOrganization");
            assert_eq!(m.len(), if sees { 2 } else { 1 }, "{who}: {m:?}");
            assert_eq!(total, json!(m.len()));
            assert!(!more);
            // By id, by _lastUpdated, by _id:not: the same rule.
            let (by_id, ..) = search(&f, token, "Organization?_id=BlueOnly,BlueOnlyTwin").await;
            let blue_sees = !hidden_orgs.contains(&"BlueOnly");
            assert_eq!(
                by_id.len(),
                if blue_sees { 2 } else { 1 },
                "{who}: {by_id:?}"
            );
            let (recent, ..) = search(
                &f,
                token,
                "Organization?_lastUpdated=gt2000-01-01&_count=100",
            )
            .await;
            assert_eq!(recent, expected, "{who}: _lastUpdated");
        }
    }
}

#[tokio::test]
async fn chains_has_and_includes_never_cross_a_hidden_resource() {
    for db in test_databases().await {
        let Some(f) = fixture(&db).await else { return };
        // Roles pointing at the military organization and at its twin; a role restricted by a
        // meta.security label (R: any client) pointing at a public practitioner.
        for (id, org) in [
            ("r-mil", "MilitaryHealthcareOrganization"),
            ("r-twin", "MilitaryHealthcareOrganizationTwin"),
        ] {
            let role = json!({"resourceType": "PractitionerRole", "id": id, "active": true,
                "organization": {"reference": format!("Organization/{org}")},
                "practitioner": {"reference": "Practitioner/JoeSmithTwin"}});
            f.put(&role).await.status(201);
        }
        let labelled = json!({"resourceType": "PractitionerRole", "id": "r-label", "active": true,
            "meta": {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]},
            "code": [{"coding": [{"system": "urn:test", "code": "secret-role"}]}],
            "practitioner": {"reference": "Practitioner/JoeSmith"}});
        f.put(&labelled).await.status(201);
        for (who, token) in f.all() {
            let anonymous = who == "anonymous";
            // Chain through the hidden organization.
            let (roles, ..) =
                search(&f, token, "PractitionerRole?organization.name=Military").await;
            let want: Vec<&str> = if anonymous {
                vec!["r-twin"]
            } else {
                vec!["r-mil", "r-twin"]
            };
            assert_eq!(roles, want, "{who}: chain");
            // _has through the labelled role.
            let (prs, ..) = search(
                &f,
                token,
                "Practitioner?_has:PractitionerRole:practitioner:role=urn:test|secret-role",
            )
            .await;
            let want: Vec<&str> = if anonymous { vec![] } else { vec!["JoeSmith"] };
            assert_eq!(prs, want, "{who}: _has");
            // _include of a hidden organization; _revinclude of a hidden role.
            let b = f
                .get(
                    token,
                    "PractitionerRole?_id=r-mil,r-twin&_include=PractitionerRole:organization",
                )
                .await
                .status(200)
                .json();
            let want: Vec<&str> = if anonymous {
                vec!["Organization/MilitaryHealthcareOrganizationTwin"]
            } else {
                vec![
                    "Organization/MilitaryHealthcareOrganization",
                    "Organization/MilitaryHealthcareOrganizationTwin",
                ]
            };
            assert_eq!(included(&b), want, "{who}: _include");
            let b = f
                .get(
                    token,
                    "Practitioner?_id=JoeSmith&_revinclude=PractitionerRole:practitioner",
                )
                .await
                .status(200)
                .json();
            let want: Vec<&str> = if anonymous {
                vec![]
            } else {
                vec!["PractitionerRole/r-label"]
            };
            assert_eq!(included(&b), want, "{who}: _revinclude");
            // :iterate from a visible role to the hidden organization.
            let b = f.get(token, "Practitioner?_id=JoeSmithTwin&_revinclude=PractitionerRole:practitioner&_include:iterate=PractitionerRole:organization").await.status(200).json();
            let has_mil =
                included(&b).contains(&"Organization/MilitaryHealthcareOrganization".to_owned());
            assert_eq!(has_mil, !anonymous, "{who}: :iterate {:?}", included(&b));
        }
    }
}

#[tokio::test]
async fn hidden_elements_neither_match_nor_sort_nor_lead_to_includes() {
    for db in test_databases().await {
        let Some(f) = fixture(&db).await else { return };
        for (who, token) in f.all() {
            let sees = who == "privileged";
            let both = |restricted: &str, twin: &str| -> Vec<String> {
                if sees {
                    vec![restricted.into(), twin.into()]
                } else {
                    vec![twin.into()]
                }
            };
            // The shelter's hidden address (LocationWomenShelterAll is hidden whole for all
            // but the privileged, and has the same address).
            let (by_city, total, _) = search(
                &f,
                token,
                "Location?address-city=Ann%20Arbor&_total=accurate",
            )
            .await;
            let mut want = both("LocationWomenShelter", "LocationWomenShelterTwin");
            if sees {
                want.insert(1, "LocationWomenShelterAll".into());
                want.push("LocationWomenShelterAllTwin".into());
            } else {
                want.insert(0, "LocationWomenShelterAllTwin".into());
            }
            want.sort();
            assert_eq!(by_city, want, "{who}: address-city");
            assert_eq!(total, json!(want.len()), "{who}");
            let (by_text, ..) = search(&f, token, "Location?_content=Washtenaw").await;
            assert_eq!(
                by_text.contains(&"LocationWomenShelter".to_owned()),
                sees,
                "{who}: _content"
            );
            assert!(
                by_text.contains(&"LocationWomenShelterTwin".to_owned()),
                "{who}"
            );
            // A visible element still matches.
            let (by_name, ..) = search(
                &f,
                token,
                "Location?name=The%20W&_id=LocationWomenShelter,LocationWomenShelterTwin",
            )
            .await;
            assert_eq!(
                by_name,
                vec!["LocationWomenShelter", "LocationWomenShelterTwin"],
                "{who}"
            );
            // Sorting by the hidden element: as if absent (missing values sort last).
            let b = f.get(token, "Location?_id=LocationWomenShelter,LocationWomenShelterTwin&_sort=address-postalcode").await.status(200).json();
            let order: Vec<&str> = b["entry"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| e["resource"]["id"].as_str().unwrap_or(""))
                .collect();
            let want = if sees {
                vec!["LocationWomenShelter", "LocationWomenShelterTwin"]
            } else {
                vec!["LocationWomenShelterTwin", "LocationWomenShelter"]
            };
            assert_eq!(order, want, "{who}: sort");
            let (missing, ..) = search(
                &f,
                token,
                "Location?_id=LocationWomenShelter&address-postalcode:missing=true",
            )
            .await;
            assert_eq!(missing.is_empty(), sees, "{who}: :missing");
            // The service's hidden location reference: no chain, no include, no revinclude.
            let (services, ..) = search(
                &f,
                token,
                "HealthcareService?location.address-city=Ann%20Arbor",
            )
            .await;
            assert_eq!(
                services,
                both(
                    "HealthcareServiceWomenShelter",
                    "HealthcareServiceWomenShelterTwin"
                ),
                "{who}: chain"
            );
            let b = f.get(token, "HealthcareService?_id=HealthcareServiceWomenShelter&_include=HealthcareService:location").await.status(200).json();
            assert_eq!(
                included(&b).is_empty(),
                !sees,
                "{who}: _include {:?}",
                included(&b)
            );
            let service = &b["entry"][0]["resource"];
            assert_eq!(redacted(service), !sees, "{who}");
            assert_eq!(service.get("location").is_some(), sees, "{who}");
            let b = f
                .get(
                    token,
                    "Location?_id=LocationWomenShelter&_revinclude=HealthcareService:location",
                )
                .await
                .status(200)
                .json();
            assert_eq!(included(&b).is_empty(), !sees, "{who}: _revinclude");
            let b = f
                .get(
                    token,
                    "Location?_id=LocationWomenShelterTwin&_revinclude=HealthcareService:location",
                )
                .await
                .status(200)
                .json();
            assert_eq!(
                included(&b),
                vec!["HealthcareService/HealthcareServiceWomenShelterTwin"],
                "{who}"
            );
            // The practitioner's home address and phone: its Restriction has no provision, so
            // only anonymous callers are refused them.
            let client = who != "anonymous";
            let want: Vec<&str> = if client {
                vec!["JoeSmith", "JoeSmithTwin"]
            } else {
                vec!["JoeSmithTwin"]
            };
            let (home, ..) = search(&f, token, "Practitioner?address-postalcode=06030").await;
            assert_eq!(home, want, "{who}: home address");
            let (phone, ..) = search(&f, token, "Practitioner?phone=555-123-6666").await;
            assert_eq!(phone, want, "{who}: home phone");
            // Search results are redacted like reads.
            let b = f
                .get(token, "Practitioner?_id=JoeSmith")
                .await
                .status(200)
                .json();
            assert_eq!(redacted(&b["entry"][0]["resource"]), !client, "{who}");
            let home_street = b.to_string().contains("263 Farmington");
            assert_eq!(home_street, client, "{who}: home street");
        }
    }
}

#[tokio::test]
async fn a_search_parameter_added_later_never_matches_hidden_elements() {
    for db in test_databases().await {
        let Some(f) = fixture(&db).await else { return };
        let privileged = Some(f.who.privileged.as_str());
        let sp = json!({"resourceType": "SearchParameter", "id": "location-street",
            "url": "http://example.org/SearchParameter/location-street", "name": "street",
            "status": "active", "code": "street", "base": ["Location"], "type": "string",
            "expression": "Location.address.line", "description": "street lines"});
        f.send(
            privileged,
            Method::PUT,
            "SearchParameter/location-street",
            &sp,
        )
        .await
        .status(201);
        // The reindex job runs in the background; wait until it has ended.
        for attempt in 0.. {
            let jobs = f.get(privileged, "$reindex").await.status(200).json();
            let running =
                jobs.to_string().contains("\"queued\"") || jobs.to_string().contains("\"running\"");
            if !running {
                break;
            }
            assert!(attempt < 600, "the reindex never finished: {jobs}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        for (who, token) in f.all() {
            let (found, ..) = search(&f, token, "Location?street=3300%20Washtenaw").await;
            let mut want = vec!["LocationWomenShelterAllTwin", "LocationWomenShelterTwin"];
            if who == "privileged" {
                want = vec![
                    "LocationWomenShelter",
                    "LocationWomenShelterAll",
                    "LocationWomenShelterAllTwin",
                    "LocationWomenShelterTwin",
                ];
            }
            assert_eq!(found, want, "{who}: the new parameter");
        }
    }
}
