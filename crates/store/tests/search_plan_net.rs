//! Plan-Net searches over the reference implementation's NPPES sample data
//! (`<repo>/../shared/fhir/sample-data/plan-net-ri-nppes`, about 5,000 resources), loaded
//! through the bulk write path, on every backend. Every expected result set is computed
//! directly from the resources' JSON, not from the index.
//!
//! Skips visibly when the shared folder is absent, unless `FHIRDIR_REQUIRE_SHARED=1`.

mod search_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;

use search::normalize_string;
use serde_json::Value;
use store::{BatchWrite, Method, OnUnchanged, Precondition, WriteRequest};

use search_support::{default_tenant, ids_of, keys_of, stores, Ctx};

const TYPES: &[&str] = &[
    "Endpoint",
    "HealthcareService",
    "InsurancePlan",
    "Location",
    "Organization",
    "OrganizationAffiliation",
    "Practitioner",
    "PractitionerRole",
];

/// Every sample resource, by type, then id.
fn read_all(dir: &Path) -> BTreeMap<&'static str, BTreeMap<String, Value>> {
    let mut out = BTreeMap::new();
    for ty in TYPES {
        let path = dir.join(format!("{ty}.ndjson.gz"));
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut by_id = BTreeMap::new();
        for line in BufReader::new(flate2::read::GzDecoder::new(file)).lines() {
            let mut r: Value =
                serde_json::from_str(&line.expect("readable line")).expect("one resource a line");
            // The RI files omit resourceType; the file name says it.
            r["resourceType"] = Value::String((*ty).to_owned());
            let id = r["id"].as_str().expect("id").to_owned();
            by_id.insert(id, r);
        }
        out.insert(*ty, by_id);
    }
    out
}

/// The sample's writes with their index entries (extracted once, for every backend).
fn batch(data: &BTreeMap<&'static str, BTreeMap<String, Value>>) -> Vec<BatchWrite> {
    let extractor = search::Extractor::new(conformance::Registry::builtin());
    data.iter()
        .flat_map(|(ty, by_id)| by_id.iter().map(move |(id, r)| (ty, id, r)))
        .map(|(ty, id, r)| BatchWrite {
            request: WriteRequest {
                resource_type: (*ty).to_owned(),
                id: id.clone(),
                resource: r.as_object().cloned().unwrap_or_default(),
                precondition: Precondition::None,
                method: Method::Put,
            },
            index: extractor.extract(r),
            restriction: None,
            hidden: Default::default(),
        })
        .collect()
}

async fn load(c: &Ctx, writes: Vec<BatchWrite>) {
    let mut tx = c.store.begin(&default_tenant()).await.expect("begin");
    tx.write_batch(writes, OnUnchanged::NewVersion)
        .await
        .unwrap_or_else(|e| panic!("[{}] load: {e}", c.be));
    tx.commit().await.expect("commit");
    c.store.analyze_search_index().await.expect("analyze");
}

/// Every match of a search, following `next` to the end.
async fn all_ids(c: &Ctx, rt: &str, query: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut cursor = None;
    loop {
        let page = c
            .search_in(&default_tenant(), rt, query, cursor.as_ref())
            .await;
        let n = out.len();
        out.extend(ids_of(&page.matches));
        assert_eq!(out.len(), n + page.matches.len(), "[{}] repeated ids", c.be);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
}

fn refs(r: &Value, field: &str) -> Vec<String> {
    let v = &r[field];
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => vec![],
        other => vec![other],
    };
    items
        .iter()
        .filter_map(|x| x["reference"].as_str().map(str::to_owned))
        .collect()
}

fn codes(r: &Value, field: &str) -> Vec<(String, String)> {
    r[field]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|cc| cc["coding"].as_array().into_iter().flatten())
        .map(|c| {
            (
                c["system"].as_str().unwrap_or_default().to_owned(),
                c["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn haversine(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1, la2, lo2) = (
        a.0.to_radians(),
        a.1.to_radians(),
        b.0.to_radians(),
        b.1.to_radians(),
    );
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6371.0088 * h.sqrt().asin()
}

#[tokio::test]
async fn plan_net_searches_agree_with_the_sample_data() {
    let Some(dir) = testkit::shared_fhir_at("sample-data/plan-net-ri-nppes") else {
        return;
    };
    let data = read_all(&dir);
    let roles = &data["PractitionerRole"];
    let locations = &data["Location"];
    let practitioners = &data["Practitioner"];
    let exists = |reference: &str| {
        reference
            .split_once('/')
            .is_some_and(|(t, id)| data.get(t).is_some_and(|m| m.contains_key(id)))
    };

    // The most common specialty, so the case is not trivially small.
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in roles.values() {
        for sc in codes(r, "specialty").into_iter().collect::<BTreeSet<_>>() {
            *counts.entry(sc).or_default() += 1;
        }
    }
    let ((system, code), _) = counts
        .iter()
        .max_by_key(|(k, n)| (**n, std::cmp::Reverse((*k).clone())))
        .expect("roles with specialties");
    let with_specialty: BTreeSet<String> = roles
        .iter()
        .filter(|(_, r)| codes(r, "specialty").contains(&(system.clone(), code.clone())))
        .map(|(id, _)| id.clone())
        .collect();

    // The city with the most roles at its locations (by city prefix, as string search).
    let city_of = |l: &Value| l["address"]["city"].as_str().map(normalize_string);
    let roles_in = |city: &str| -> BTreeSet<String> {
        let in_city: BTreeSet<String> = locations
            .iter()
            .filter(|(_, l)| city_of(l).is_some_and(|c| c.starts_with(city)))
            .map(|(id, _)| format!("Location/{id}"))
            .collect();
        roles
            .iter()
            .filter(|(_, r)| refs(r, "location").iter().any(|l| in_city.contains(l)))
            .map(|(id, _)| id.clone())
            .collect()
    };
    let cities: BTreeSet<String> = locations.values().filter_map(city_of).collect();
    let (city, roles_in_city) = cities
        .iter()
        .map(|c| (c.clone(), roles_in(c)))
        .max_by_key(|(c, r)| (r.len(), std::cmp::Reverse(c.clone())))
        .expect("locations with cities");

    // Practitioners with a role of that specialty (`_has`).
    let practitioners_with_specialty: BTreeSet<String> = roles
        .iter()
        .filter(|(id, _)| with_specialty.contains(*id))
        .flat_map(|(_, r)| refs(r, "practitioner"))
        .filter(|p| exists(p))
        .filter_map(|p| p.strip_prefix("Practitioner/").map(str::to_owned))
        .collect();

    // A family name prefix, chained from roles.
    let family_of = |p: &Value| -> Vec<String> {
        p["name"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["family"].as_str().map(normalize_string))
            .collect()
    };
    let some_family = practitioners
        .values()
        .flat_map(family_of)
        .next()
        .expect("a family name");
    let prefix: String = some_family.chars().take(3).collect();
    let roles_by_family: BTreeSet<String> = roles
        .iter()
        .filter(|(_, r)| {
            refs(r, "practitioner").iter().any(|p| {
                p.strip_prefix("Practitioner/")
                    .and_then(|id| practitioners.get(id))
                    .is_some_and(|p| family_of(p).iter().any(|f| f.starts_with(&prefix)))
            })
        })
        .map(|(id, _)| id.clone())
        .collect();

    // Locations near the first positioned one, away from the radius boundary.
    let position = |l: &Value| -> Option<(f64, f64)> {
        Some((
            l["position"]["latitude"].as_f64()?,
            l["position"]["longitude"].as_f64()?,
        ))
    };
    let centre = locations
        .values()
        .find_map(position)
        .expect("a positioned location");
    let radius = 25.0;
    let near: BTreeSet<String> = locations
        .iter()
        .filter_map(|(id, l)| Some((id, haversine(centre, position(l)?))))
        .filter(|(id, d)| {
            assert!(
                (d - radius).abs() > radius * 0.02,
                "{id} at {d} km sits on the radius; pick another"
            );
            *d <= radius
        })
        .map(|(id, _)| id.clone())
        .collect();

    let included_locations: BTreeSet<String> = roles
        .iter()
        .filter(|(id, _)| with_specialty.contains(*id))
        .flat_map(|(_, r)| refs(r, "location"))
        .filter(|l| exists(l))
        .collect();

    let writes = batch(&data);
    for c in stores().await {
        load(&c, writes.clone()).await;
        let specialty = format!("specialty={system}|{code}");
        let cases: Vec<(&str, String, &BTreeSet<String>)> = vec![
            ("PractitionerRole", specialty.clone(), &with_specialty),
            (
                "PractitionerRole",
                format!("location.address-city={city}"),
                &roles_in_city,
            ),
            (
                "Practitioner",
                format!("_has:PractitionerRole:practitioner:{specialty}"),
                &practitioners_with_specialty,
            ),
            (
                "PractitionerRole",
                format!("practitioner.family={prefix}"),
                &roles_by_family,
            ),
            (
                "Location",
                format!("near={}|{}|{radius}|km", centre.0, centre.1),
                &near,
            ),
        ];
        for (rt, query, want) in &cases {
            assert!(!want.is_empty(), "a case that cannot fail: {rt}?{query}");
            let got = all_ids(&c, rt, &format!("{query}&_count=37")).await;
            assert_eq!(&got, *want, "[{}] {rt}?{query}", c.be);
        }
        // Everything, paged, with the accurate total.
        let page = c
            .search("PractitionerRole", "_total=accurate&_count=100")
            .await;
        assert_eq!(page.total, Some(roles.len() as u64), "[{}] total", c.be);
        let all: BTreeSet<String> = roles.keys().cloned().collect();
        assert_eq!(
            all_ids(&c, "PractitionerRole", "_count=250").await,
            all,
            "[{}] all roles",
            c.be
        );
        // _include of the specialty's locations (one page holding every match).
        let page = c
            .search(
                "PractitionerRole",
                &format!("{specialty}&_include=PractitionerRole:location&_count=1000"),
            )
            .await;
        let got: BTreeSet<String> = keys_of(&page.included)
            .into_iter()
            .filter(|k| k.starts_with("Location/"))
            .collect();
        assert_eq!(got, included_locations, "[{}] included locations", c.be);
    }
}
