//! `$find-providers` over a generated Plan-Net directory (`fhirdir generate`, imported with the
//! import path), per backend: for the busiest (specialty, network, city) of the data, the
//! providers found and their order must equal what this test computes from the NDJSON itself
//! with the documented rule and weights (a role in the network at a site within 25 miles of
//! the city's centre, with the specialty on the role or on the practitioner's qualification;
//! score = (0.25 × specialty + 0.15 × (1 − d/25)) / 0.40, ties by distance then reference).
//! The import also dates the network: `lastImported` is present and not stale.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::Value;
use server::ServerConfig;

use common::{spawn_app, test_databases};

const NETWORK_REFERENCE: &str =
    "http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/network-reference";
const RADIUS: f64 = 25.0;

fn read(dir: &Path, ty: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join(format!("{ty}.ndjson"))).expect("ndjson");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

/// Haversine miles, written out here rather than taken from the finder (mean Earth radius
/// 6371 km).
fn miles(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (p1, p2) = (a.0.to_radians(), b.0.to_radians());
    let (dp, dl) = ((b.0 - a.0).to_radians(), (b.1 - a.1).to_radians());
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * (6371.0 / 1.609_344) * h.sqrt().asin()
}

fn codes(concepts: &Value) -> Vec<String> {
    concepts
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["coding"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["code"].as_str().map(str::to_owned))
        .collect()
}

fn role_networks(role: &Value) -> Vec<String> {
    role["extension"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["url"] == NETWORK_REFERENCE)
        .filter_map(|e| e["valueReference"]["reference"].as_str().map(str::to_owned))
        .collect()
}

struct Expected {
    query: String,
    /// Provider references in expected order.
    order: Vec<String>,
    network: String,
}

/// The busiest case of the data and its expected answer.
fn expected(dir: &Path) -> Expected {
    let locations: HashMap<String, Value> = read(dir, "Location")
        .into_iter()
        .map(|l| (format!("Location/{}", l["id"].as_str().unwrap()), l))
        .collect();
    let qualifications: HashMap<String, Vec<String>> = read(dir, "Practitioner")
        .into_iter()
        .map(|p| {
            let q: Vec<String> = p["qualification"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|q| codes(&serde_json::json!([q["code"]])))
                .collect();
            (format!("Practitioner/{}", p["id"].as_str().unwrap()), q)
        })
        .collect();
    let roles = read(dir, "PractitionerRole");
    // The busiest (specialty, network, city) by roles.
    let mut tally: BTreeMap<(String, String, String, String), usize> = BTreeMap::new();
    for r in &roles {
        let Some(loc) = r["location"][0]["reference"]
            .as_str()
            .and_then(|l| locations.get(l))
        else {
            continue;
        };
        let (Some(city), Some(state)) = (
            loc["address"]["city"].as_str(),
            loc["address"]["state"].as_str(),
        ) else {
            continue;
        };
        for s in codes(&r["specialty"]) {
            for n in role_networks(r) {
                *tally
                    .entry((s.clone(), n, city.to_owned(), state.to_owned()))
                    .or_default() += 1;
            }
        }
    }
    let ((specialty, network, city, state), _) = tally
        .into_iter()
        .filter(|((_, _, c, s), _)| {
            generate::geography::CITIES
                .iter()
                .any(|x| x.name == c && x.state == s)
        })
        .max_by_key(|(k, n)| (*n, std::cmp::Reverse(k.clone())))
        .expect("a case");
    let centre = generate::geography::CITIES
        .iter()
        .find(|x| x.name == city && x.state == state)
        .map(|x| (x.lat, x.lon))
        .unwrap();

    // provider -> (best specialty closeness, closest distance)
    let mut found: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for r in &roles {
        if r["active"] == false || !role_networks(r).contains(&network) {
            continue;
        }
        let provider = r["practitioner"]["reference"].as_str().unwrap().to_owned();
        let closeness = if codes(&r["specialty"]).contains(&specialty) {
            1.0
        } else if qualifications
            .get(&provider)
            .is_some_and(|q| q.contains(&specialty))
        {
            0.5
        } else {
            continue;
        };
        let distance = r["location"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| locations.get(l["reference"].as_str()?))
            .filter_map(|l| {
                Some((
                    l["position"]["latitude"].as_f64()?,
                    l["position"]["longitude"].as_f64()?,
                ))
            })
            .map(|p| miles(centre, p))
            .filter(|d| *d <= RADIUS)
            .fold(f64::INFINITY, f64::min);
        if distance.is_infinite() {
            continue;
        }
        let e = found.entry(provider).or_insert((0.0, f64::INFINITY));
        e.0 = e.0.max(closeness);
        e.1 = e.1.min(distance);
    }
    let score = |(s, d): (f64, f64)| {
        let v = (0.25 * s + 0.15 * (1.0 - d / RADIUS).clamp(0.0, 1.0)) / 0.40;
        (v * 10_000.0).round() / 10_000.0
    };
    let mut order: Vec<(String, f64, f64)> = found
        .into_iter()
        .map(|(p, sd)| (p, score(sd), sd.1))
        .collect();
    order.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then(a.2.total_cmp(&b.2))
            .then(a.0.cmp(&b.0))
    });
    Expected {
        query: format!(
            "specialty={specialty}&city={}&state={state}&network={network}&type=individual&_count=100",
            city.replace(' ', "%20")
        ),
        order: order.into_iter().map(|(p, _, _)| p).collect(),
        network,
    }
}

#[tokio::test]
async fn generated_directory_answers_as_computed_from_its_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    generate::write_ndjson_dir(
        &generate::GenerateOptions {
            size: 4000,
            seed: 7,
        },
        dir.path(),
    )
    .expect("generate");
    let want = expected(dir.path());
    assert!(
        want.order.len() >= 3,
        "the busiest case finds a few providers: {}",
        want.order.len()
    );
    eprintln!("{} -> {} providers", want.query, want.order.len());
    let files: Vec<_> = generate::TYPE_ORDER
        .iter()
        .map(|t| dir.path().join(format!("{t}.ndjson")))
        .collect();
    for db in test_databases().await {
        let store = store::Store::connect(&db.url, &store::StoreOptions::default())
            .await
            .expect("connect");
        ingest::import_files(
            &store,
            &store::TenantName::default_tenant(),
            &files,
            &ingest::ImportOptions::default(),
            |_| {},
        )
        .await
        .expect("import");
        store.close().await;
        let app = spawn_app(&db, ServerConfig::auth_off()).await;
        let b = app.backend;
        let bundle = app
            .get(&format!("/fhir/default/$find-providers?{}", want.query))
            .await
            .status(200)
            .json();
        let matches: Vec<&Value> = bundle["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["search"]["mode"] == "match")
            .collect();
        let got: Vec<String> = matches
            .iter()
            .map(|e| format!("Practitioner/{}", e["resource"]["id"].as_str().unwrap()))
            .collect();
        // One page of at most 100; the total counts them all.
        let page = &want.order[..want.order.len().min(100)];
        assert_eq!(got, page, "[{b}] {}", want.query);
        assert_eq!(bundle["total"], want.order.len(), "[{b}]");
        // Every entry names the requested network, dated by the import, not stale.
        for m in &matches {
            let parts = m["search"]["extension"][0]["extension"].as_array().unwrap();
            let nets: Vec<&Value> = parts.iter().filter(|p| p["url"] == "inNetwork").collect();
            assert_eq!(nets.len(), 1, "[{b}] {m}");
            let sub = |url: &str| {
                nets[0]["extension"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["url"] == url)
                    .cloned()
            };
            assert_eq!(
                sub("network").unwrap()["valueReference"]["reference"],
                want.network.as_str(),
                "[{b}]"
            );
            assert!(sub("lastImported").is_some(), "[{b}] {m}");
            assert_eq!(sub("stale").unwrap()["valueBoolean"], false, "[{b}]");
        }
    }
}
