//! `$find-providers` black-box, per backend: a small directory built so that each rule of
//! the finder decides one case (networks, the radius edge, the closest address, name levels,
//! role specialty over qualification, new patients, language, stale networks, paging), and
//! the refusals of malformed requests.

mod common;

#[path = "finder/directory.rs"]
mod directory;

use std::time::Duration;

use serde_json::{json, Value};
use server::ServerConfig;

use common::{link, spawn_app, test_databases, TestApp};
use directory::{directory, role, CARDIOLOGY, CENTRE, FAMILY, RADIUS};

async fn app(db: &testkit::TestDb, config: ServerConfig) -> TestApp {
    let app = spawn_app(db, config).await;
    for r in directory() {
        app.put_resource(&r).await;
    }
    app
}

fn near() -> String {
    format!("near={}|{}&radius={RADIUS}", CENTRE.0, CENTRE.1)
}

async fn find(app: &TestApp, query: &str) -> Value {
    app.get(&format!("/fhir/default/$find-providers?{query}"))
        .await
        .status(200)
        .json()
}

/// The match entries' provider ids, in result order.
fn order(bundle: &Value) -> Vec<String> {
    matches(bundle)
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn matches(bundle: &Value) -> Vec<Value> {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["search"]["mode"] == "match")
        .cloned()
        .collect()
}

/// The match extension's parts named `url` of the entry for provider `id`.
fn parts(bundle: &Value, id: &str, url: &str) -> Vec<Value> {
    let entry = matches(bundle)
        .into_iter()
        .find(|e| e["resource"]["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {bundle}"));
    entry["search"]["extension"][0]["extension"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["url"] == url)
        .cloned()
        .collect()
}

fn sub<'a>(part: &'a Value, url: &str) -> Vec<&'a Value> {
    part["extension"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["url"] == url)
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn networks_radius_and_distance_decide_who_is_found() {
    for db in test_databases().await {
        let app = app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        // Networks: net-c's only provider is absent when a and b are asked; smithson is in
        // both and lists both.
        let bundle = find(
            &app,
            "network=Organization/net-a,Organization/net-b&_count=100",
        )
        .await;
        let found = sorted(order(&bundle));
        assert_eq!(
            found,
            ["edge-in", "edge-out", "jones", "smith", "smithson", "smitz", "smyth"],
            "[{b}]"
        );
        let nets: Vec<String> = parts(&bundle, "smithson", "inNetwork")
            .iter()
            .map(|n| {
                sub(n, "network")[0]["valueReference"]["reference"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(nets, ["Organization/net-a", "Organization/net-b"], "[{b}]");
        assert_eq!(bundle["total"], json!(7), "[{b}]");
        // A plan stands for its networks (its own and its options'); identifiers name them too.
        for query in ["plan=InsurancePlan/plan-b", "plan=urn:test:plans|plan-b"] {
            let found = sorted(order(&find(&app, query).await));
            assert_eq!(found, ["other-net", "smithson", "smitz"], "[{b}] {query}");
        }
        let by_id = find(&app, "network=urn:test:networks|net-c").await;
        assert_eq!(order(&by_id), ["other-net"], "[{b}]");
        // A network that does not exist finds nobody.
        let none = find(&app, "network=Organization/nope").await;
        assert_eq!(none["total"], json!(0), "[{b}]");
        // A site that is not a Location is neither a site nor an include.
        let bundle = find(&app, "name=wrongsite").await;
        assert_eq!(order(&bundle), ["wrongsite"], "[{b}]");
        assert!(
            parts(&bundle, "wrongsite", "site").is_empty(),
            "[{b}] {bundle}"
        );
        assert!(
            !bundle.to_string().contains("\"Organization\""),
            "[{b}] {bundle}"
        );
        // Without a network: every network of the roles, net-c included.
        let bundle = find(&app, "name=cee").await;
        let nets = parts(&bundle, "other-net", "inNetwork");
        assert_eq!(
            sub(&nets[0], "network")[0]["valueReference"]["reference"],
            "Organization/net-c",
            "[{b}]"
        );

        // Radius: 9.95 miles is in, 10.05 out; 40 miles out.
        let bundle = find(
            &app,
            &format!("{}&network=Organization/net-a&_count=100", near()),
        )
        .await;
        let found = sorted(order(&bundle));
        assert_eq!(
            found,
            ["edge-in", "jones", "smith", "smithson", "smyth"],
            "[{b}]"
        );
        // The closest qualifying site gives the distance (smyth: far, inside, centre -> 0).
        let d = parts(&bundle, "smyth", "distance");
        assert_eq!(d[0]["valueQuantity"]["value"], json!(0.0), "[{b}]");
        assert_eq!(d[0]["valueQuantity"]["code"], "[mi_i]", "[{b}]");
        // Only the sites inside the area are listed (far is not).
        let sites: Vec<String> = parts(&bundle, "smyth", "site")
            .iter()
            .map(|s| {
                sub(s, "location")[0]["valueReference"]["reference"]
                    .as_str()
                    .unwrap()[9..]
                    .to_owned()
            })
            .collect();
        assert_eq!(sites, ["centre", "inside"], "[{b}]");
        let edge = parts(&bundle, "edge-in", "distance")[0]["valueQuantity"]["value"]
            .as_f64()
            .unwrap();
        assert!((edge - 9.95).abs() < 0.011, "[{b}] {edge}");

        // sort=distance: strictly by distance.
        let bundle = find(&app, &format!("{}&sort=distance&_count=100", near())).await;
        let distances: Vec<f64> = order(&bundle)
            .iter()
            .map(|id| {
                parts(&bundle, id, "distance")[0]["valueQuantity"]["value"]
                    .as_f64()
                    .unwrap()
            })
            .collect();
        assert!(
            distances.windows(2).all(|w| w[0] <= w[1]),
            "[{b}] {distances:?}"
        );
        assert_eq!(distances.len(), 7, "[{b}] {distances:?}");
    }
}

#[tokio::test]
async fn names_rank_exact_prefix_phonetic_similar_and_specialty_by_role_first() {
    for db in test_databases().await {
        let app = app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        let bundle = find(&app, "name=smith").await;
        assert_eq!(
            order(&bundle),
            ["smith", "smithson", "smyth", "smitz"],
            "[{b}]"
        );
        let levels: Vec<String> = order(&bundle)
            .iter()
            .map(|id| {
                parts(&bundle, id, "nameMatch")[0]["valueCode"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(levels, ["exact", "prefix", "phonetic", "similar"], "[{b}]");
        let scores: Vec<f64> = matches(&bundle)
            .iter()
            .map(|e| e["search"]["score"].as_f64().unwrap())
            .collect();
        assert_eq!(scores, [1.0, 0.8, 0.6, 0.4], "[{b}]");

        // Cardiology: smithson through its role at the centre, smith only through a
        // qualification (5 miles out); jones (family medicine) is not found at all.
        let bundle = find(&app, &format!("specialty={CARDIOLOGY}&{}", near())).await;
        assert_eq!(order(&bundle), ["smithson", "smith"], "[{b}]");
        assert_eq!(
            parts(&bundle, "smithson", "specialtyMatch")[0]["valueCode"],
            "role",
            "[{b}]"
        );
        assert_eq!(
            parts(&bundle, "smith", "specialtyMatch")[0]["valueCode"],
            "qualification",
            "[{b}]"
        );
        // Include entries: the roles and sites used.
        let includes: Vec<String> = bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["search"]["mode"] == "include")
            .map(|e| {
                format!(
                    "{}/{}",
                    e["resource"]["resourceType"].as_str().unwrap(),
                    e["resource"]["id"].as_str().unwrap()
                )
            })
            .collect();
        for want in [
            "PractitionerRole/r-smithson-a",
            "PractitionerRole/r-smith",
            "Location/centre",
            "Location/mi5",
        ] {
            assert!(
                includes.contains(&want.to_owned()),
                "[{b}] {want} in {includes:?}"
            );
        }
    }
}

#[tokio::test]
async fn new_patients_and_language_filter_per_network() {
    for db in test_databases().await {
        let app = app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        // smithson accepts only in net-b (from-network); smyth only through net-c, which is not
        // one of its networks, so nowhere.
        let bundle = find(
            &app,
            "network=Organization/net-a,Organization/net-b&accepting-new-patients=true&_count=100",
        )
        .await;
        assert_eq!(
            sorted(order(&bundle)),
            ["edge-in", "edge-out", "jones", "smith", "smithson", "smitz"],
            "[{b}]"
        );
        let nets = parts(&bundle, "smithson", "inNetwork");
        assert_eq!(nets.len(), 1, "[{b}]");
        assert_eq!(
            sub(&nets[0], "network")[0]["valueReference"]["reference"],
            "Organization/net-b",
            "[{b}]"
        );
        for site in sub(&nets[0], "site") {
            assert_eq!(
                sub(site, "acceptingNewPatients")[0]["valueBoolean"],
                true,
                "[{b}]"
            );
        }
        // Without the filter, smithson's net-a site says it does not accept.
        let bundle = find(&app, "network=Organization/net-a&name=smithson").await;
        let nets = parts(&bundle, "smithson", "inNetwork");
        assert_eq!(
            sub(sub(&nets[0], "site")[0], "acceptingNewPatients")[0]["valueBoolean"],
            false,
            "[{b}]"
        );

        // Language: `es` finds the es-MX speaker only; `es-MX` too; `en` nobody.
        for (lang, want) in [
            ("es", vec!["smyth"]),
            ("es-MX", vec!["smyth"]),
            ("en", vec![]),
        ] {
            let bundle = find(&app, &format!("network=Organization/net-a&language={lang}")).await;
            assert_eq!(order(&bundle), want, "[{b}] {lang}");
        }
    }
}

#[tokio::test]
async fn pages_are_stable_and_links_page_through_everything() {
    for db in test_databases().await {
        let app = app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        let all = order(&find(&app, &format!("{}&_count=100", near())).await);
        assert_eq!(all.len(), 7, "[{b}]");
        let mut paged = Vec::new();
        let mut url = Some(app.url(&format!(
            "/fhir/default/$find-providers?{}&_count=3",
            near()
        )));
        let mut pages = 0;
        while let Some(u) = url {
            let page = app.send(app.client.get(&u)).await.status(200).json();
            assert_eq!(page["total"], json!(7), "[{b}]");
            paged.extend(order(&page));
            url = link(&page, "next");
            pages += 1;
            assert!(pages <= 3, "[{b}] too many pages");
        }
        assert_eq!(paged, all, "[{b}]");
        // previous of the second page is the first.
        let second = find(&app, &format!("{}&_count=3&_offset=3", near())).await;
        let previous = link(&second, "previous").expect("previous");
        let first = app.send(app.client.get(&previous)).await.status(200).json();
        assert_eq!(order(&first), all[..3].to_vec(), "[{b}]");
        // POST with a Parameters body answers the same.
        let body = json!({"resourceType": "Parameters", "parameter": [
            {"name": "near", "valueString": format!("{}|{}", CENTRE.0, CENTRE.1)},
            {"name": "radius", "valueString": "10"},
            {"name": "_count", "valueInteger": 100}]});
        let posted = app
            .post("/fhir/default/$find-providers", &body)
            .await
            .status(200)
            .json();
        assert_eq!(order(&posted), all, "[{b}]");
    }
}

#[tokio::test]
async fn malformed_requests_are_refused_with_the_parameter_named() {
    for db in test_databases().await {
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        for (query, param) in [
            ("speciality=cardiology", "speciality"),
            ("zip=99999", "zip"),
            ("near=91|0", "near"),
            ("near=41|-72&radius=-3", "radius"),
            ("name=smith&name=jones", "name"),
            ("name=smith&sort=nearest", "sort"),
            ("name=smith&_count=0", "_count"),
            ("name=smith&type=dentist", "type"),
            ("radius=10&name=x", "radius"),
        ] {
            let resp = app
                .get(&format!("/fhir/default/$find-providers?{query}"))
                .await;
            resp.outcome(400, "invalid");
            let oo = resp.json();
            assert_eq!(
                oo["issue"][0]["expression"][0], param,
                "[{b}] {query}: {oo}"
            );
        }
        // Nothing to look for at all.
        app.get("/fhir/default/$find-providers")
            .await
            .outcome(400, "invalid");
        // Unknown tenant.
        app.get("/fhir/nosuch/$find-providers?name=x")
            .await
            .outcome(404, "not-found");
        // The operation is published.
        let cs = app.get("/fhir/default/metadata").await.status(200).json();
        let ops = cs["rest"][0]["operation"].as_array().unwrap();
        let op = ops
            .iter()
            .find(|o| o["name"] == "find-providers")
            .expect("find-providers");
        assert_eq!(op["definition"], services::finder::DEFINITION_URL, "[{b}]");
        let def = app
            .get("/fhir/default/OperationDefinition/find-providers")
            .await
            .status(200)
            .json();
        assert_eq!(def["url"], services::finder::DEFINITION_URL, "[{b}]");
    }
}

#[tokio::test]
async fn a_network_not_written_for_longer_than_stale_after_is_flagged() {
    for db in test_databases().await {
        let config = ServerConfig {
            stale_after: Duration::from_secs(2),
            ..ServerConfig::auth_off()
        };
        let app = app(&db, config).await;
        let b = app.backend;
        tokio::time::sleep(Duration::from_millis(2200)).await;
        // net-b is written again (a role citing it): fresh; net-a is not: stale.
        app.put_resource(&role(
            "r-smitz",
            "smitz",
            &["net-b"],
            &["mi5"],
            FAMILY,
            ("newpt", Some("net-b")),
        ))
        .await;
        let bundle = find(
            &app,
            "network=Organization/net-a,Organization/net-b&name=smithson",
        )
        .await;
        let nets = parts(&bundle, "smithson", "inNetwork");
        let flags: Vec<(String, Value, bool)> = nets
            .iter()
            .map(|n| {
                (
                    sub(n, "network")[0]["valueReference"]["reference"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                    sub(n, "stale")[0]["valueBoolean"].clone(),
                    sub(n, "lastImported").len() == 1,
                )
            })
            .collect();
        assert_eq!(
            flags,
            [
                ("Organization/net-a".to_owned(), json!(true), true),
                ("Organization/net-b".to_owned(), json!(false), true)
            ],
            "[{b}]"
        );
    }
}
