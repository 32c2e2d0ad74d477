//! `$find-providers` filters restricted content exactly as search does: a hidden provider is
//! not found, a hidden site's restricted address is not shown, and a permitted caller sees
//! both.

use serde_json::{json, Value};

use crate::common::test_databases;
use crate::fixture::{fixture, ids};

fn affiliation(id: &str, organization: &str, location: &str) -> Value {
    json!({"resourceType": "OrganizationAffiliation", "id": id, "active": true,
        "participatingOrganization": {"reference": format!("Organization/{organization}")},
        "network": [{"reference": "Organization/net-r"}],
        "location": [{"reference": format!("Location/{location}")}]})
}

/// The `address` parts of the match extension's sites for `id`.
fn site_addresses(bundle: &Value, id: &str) -> Vec<Value> {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["search"]["mode"] == "match" && e["resource"]["id"] == id)
        .flat_map(|e| {
            e["search"]["extension"][0]["extension"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|p| p["url"] == "site")
        .flat_map(|s| s["extension"].as_array().cloned().unwrap_or_default())
        .filter(|p| p["url"] == "address")
        .collect()
}

#[tokio::test]
async fn the_finder_neither_finds_hidden_providers_nor_shows_hidden_addresses() {
    for db in test_databases().await {
        let Some(f) = fixture(&db).await else { return };
        for r in [
            json!({"resourceType": "Organization", "id": "net-r", "active": true, "name": "Net R"}),
            // The military organization is restricted whole (from anonymous callers); its twin
            // is not.
            affiliation(
                "aff-mil",
                "MilitaryHealthcareOrganization",
                "LocationWomenShelterTwin",
            ),
            affiliation(
                "aff-mil-twin",
                "MilitaryHealthcareOrganizationTwin",
                "LocationWomenShelterTwin",
            ),
            // A visible organization at the shelter whose address is restricted.
            affiliation("aff-shelter", "BlueOnlyTwin", "LocationWomenShelter"),
        ] {
            f.put(&r).await.status(201);
        }
        let path = "$find-providers?network=Organization/net-r&type=facility";
        for (who, token) in f.all() {
            let bundle = f.get(token, path).await.status(200).json();
            // The military organization is hidden from anonymous callers only (its Restriction
            // admits any authenticated client).
            let sees_military = who != "anonymous";
            let mut want = vec!["BlueOnlyTwin", "MilitaryHealthcareOrganizationTwin"];
            if sees_military {
                want.push("MilitaryHealthcareOrganization");
            }
            want.sort_unstable();
            assert_eq!(ids(&bundle), want, "{who}");
            assert_eq!(bundle["total"], json!(want.len()), "{who}");
            // The shelter's address is restricted to see_restricted clients here (the NDH
            // example's Restriction has no provision admitting anyone else).
            let addresses = site_addresses(&bundle, "BlueOnlyTwin");
            if who == "privileged" {
                assert_eq!(addresses.len(), 1, "{who}: {bundle}");
            } else {
                assert!(addresses.is_empty(), "{who}: {bundle}");
                let shelter = bundle["entry"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|e| e["resource"]["id"] == "LocationWomenShelter")
                    .expect("the shelter is included");
                assert!(
                    shelter["resource"].get("address").is_none(),
                    "{who}: {shelter}"
                );
            }
        }
    }
}
