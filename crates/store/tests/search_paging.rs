//! Result order and paging (<https://hl7.org/fhir/R4/search.html#sort>,
//! <https://hl7.org/fhir/R4/search.html#count>, `_total`, `_summary=count`), keyset cursors
//! under concurrent writes, `near` (<https://hl7.org/fhir/R4/location.html#positional>) and
//! tenant isolation, on every backend.

mod search_support;

use std::collections::BTreeMap;

use serde_json::{json, Value};
use store::{PageCursor, StoreError, DEFAULT_NEAR_KM};

use search_support::{all_pages, default_tenant, ids_of, set, stores, tenant, Ctx};

/// Family names (one or two per resource, or none) and gender of `p00`..`p24`.
fn practitioner(i: usize) -> (String, Vec<&'static str>, Option<&'static str>) {
    const FAMILIES: [&[&str]; 9] = [
        &["Smith"],
        &["jones"],
        &["Ávila"],
        &["smith"],
        &["Young", "Adams"],
        &[],
        &["Brown"],
        &["avila"],
        &["Zed"],
    ];
    const GENDERS: [Option<&str>; 3] = [Some("male"), Some("female"), None];
    (
        format!("p{i:02}"),
        FAMILIES[i % FAMILIES.len()].to_vec(),
        GENDERS[i % GENDERS.len()],
    )
}

fn practitioner_json(id: &str, families: &[&str], gender: Option<&str>) -> Value {
    let mut r = json!({"resourceType": "Practitioner", "id": id,
        "name": families.iter().map(|f| json!({"family": f})).collect::<Vec<_>>()});
    if let Some(g) = gender {
        r["gender"] = json!(g);
    }
    r
}

/// Writes the 25 practitioners; returns their lastUpdated (epoch µs) by id.
async fn load(c: &Ctx) -> BTreeMap<String, i64> {
    let mut lu = BTreeMap::new();
    for i in 0..25 {
        let (id, families, gender) = practitioner(i);
        let rec = c.put(practitioner_json(&id, &families, gender)).await;
        lu.insert(id, rec.last_updated.timestamp_micros());
    }
    lu
}

fn norm(s: &str) -> String {
    search::normalize_string(s)
}

#[tokio::test]
async fn sort_by_several_keys_pages_through_everything_in_order() {
    for c in stores().await {
        let last_updated = load(&c).await;
        let rows: Vec<(String, Vec<&str>, Option<&str>)> = (0..25).map(practitioner).collect();
        // Expected orders, computed from the data: min (asc) / max (desc) of the folded
        // values, resources without a value last, then id.
        let key = |fams: &[&str], desc: bool| -> Option<String> {
            let it = fams.iter().map(|f| norm(f));
            if desc {
                it.max()
            } else {
                it.min()
            }
        };
        let order = |desc: bool| -> Vec<String> {
            let mut v: Vec<(Option<String>, String)> = rows
                .iter()
                .map(|(id, f, _)| (key(f, desc), id.clone()))
                .collect();
            v.sort_by(|a, b| {
                let null = a.0.is_none().cmp(&b.0.is_none());
                let k = if desc { b.0.cmp(&a.0) } else { a.0.cmp(&b.0) };
                null.then(k).then(a.1.cmp(&b.1))
            });
            v.into_iter().map(|(_, id)| id).collect()
        };
        assert_eq!(
            all_pages(&c, "Practitioner", "_sort=family&_count=7").await,
            order(false),
            "[{}] _sort=family",
            c.be
        );
        assert_eq!(
            all_pages(&c, "Practitioner", "_sort=-family&_count=4").await,
            order(true),
            "[{}] _sort=-family",
            c.be
        );
        // gender ascending (missing last), then family descending, then id.
        let mut multi: Vec<(Option<&str>, Option<String>, String)> = rows
            .iter()
            .map(|(id, f, g)| (*g, key(f, true), id.clone()))
            .collect();
        multi.sort_by(|a, b| {
            (a.0.is_none().cmp(&b.0.is_none()))
                .then(a.0.cmp(&b.0))
                .then(a.1.is_none().cmp(&b.1.is_none()))
                .then(b.1.cmp(&a.1))
                .then(a.2.cmp(&b.2))
        });
        let want: Vec<String> = multi.into_iter().map(|(_, _, id)| id).collect();
        assert_eq!(
            all_pages(&c, "Practitioner", "_sort=gender,-family&_count=3").await,
            want,
            "[{}] _sort=gender,-family",
            c.be
        );
        // Default order is by id; _lastUpdated sorts by the stored instant.
        let by_id: Vec<String> = rows.iter().map(|(id, _, _)| id.clone()).collect();
        assert_eq!(
            all_pages(&c, "Practitioner", "_count=10").await,
            by_id,
            "[{}] default order",
            c.be
        );
        let mut by_lu: Vec<(i64, String)> = last_updated
            .iter()
            .map(|(id, t)| (*t, id.clone()))
            .collect();
        by_lu.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        assert_eq!(
            all_pages(&c, "Practitioner", "_sort=-_lastUpdated&_count=6").await,
            by_lu.into_iter().map(|(_, id)| id).collect::<Vec<_>>(),
            "[{}] _sort=-_lastUpdated",
            c.be
        );
    }
}

/// A page without `_sort` over one plain criterion takes its ids from the index in id order,
/// with the cursor and the page's limit inside the `DISTINCT` (plan::push_page_inside): every
/// page forward, and each page's `previous`, hold exactly the right ids.
#[tokio::test]
async fn a_plain_criterion_pages_forward_and_back_through_every_match() {
    for c in stores().await {
        load(&c).await;
        for (query, gender) in [("gender=female", "female"), ("gender=male", "male")] {
            let want: Vec<String> = (0..25)
                .map(practitioner)
                .filter(|(_, _, g)| *g == Some(gender))
                .map(|(id, _, _)| id)
                .collect();
            for count in [1, 2, 3] {
                let got = all_pages(&c, "Practitioner", &format!("{query}&_count={count}")).await;
                assert_eq!(got, want, "[{}] {query}&_count={count}", c.be);
            }
        }
    }
}

#[tokio::test]
async fn keyset_paging_never_skips_or_repeats_under_concurrent_writes() {
    for c in stores().await {
        load(&c).await;
        let query = "_sort=family&_count=5";
        let first = c.search("Practitioner", query).await;
        let mut seen = ids_of(&first.matches);
        let mut cursor = first.next.clone();
        let mut round = 0;
        while let Some(at) = cursor {
            // Between pages, others write: new resources sorting before, at and after the
            // cursor position, and a deleted one.
            round += 1;
            for (suffix, family) in [("a", "Aaron"), ("m", "Smith"), ("z", "Zzyzx")] {
                let id = format!("new{round}{suffix}");
                c.put(practitioner_json(&id, &[family], None)).await;
            }
            let page = c
                .search_in(&default_tenant(), "Practitioner", query, Some(&at))
                .await;
            seen.extend(ids_of(&page.matches));
            cursor = page.next;
            assert!(round < 50, "[{}] paging does not end", c.be);
        }
        let originals: Vec<String> = (0..25).map(|i| practitioner(i).0).collect();
        for id in &originals {
            let n = seen.iter().filter(|s| *s == id).count();
            assert_eq!(n, 1, "[{}] {id} seen {n} times in {seen:?}", c.be);
        }
        let mut dedup = seen.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), seen.len(), "[{}] duplicates in {seen:?}", c.be);
        // Resources written after the cursor passed their place are not seen; the ones that
        // sort last are.
        assert!(!seen.contains(&"new1a".to_owned()), "[{}] {seen:?}", c.be);
        assert!(seen.contains(&"new1z".to_owned()), "[{}] {seen:?}", c.be);
    }
}

#[tokio::test]
async fn total_and_summary_count() {
    for c in stores().await {
        load(&c).await;
        let males = (0..25).filter(|i| i % 3 == 0).count() as u64;
        let cases: &[(&str, usize, Option<u64>)] = &[
            ("_total=accurate&_count=5", 5, Some(25)),
            ("_total=estimate&_count=5", 5, Some(25)),
            ("_count=5", 5, None),
            ("_count=100", 25, Some(25)),
            ("_total=none&_count=100", 25, None),
            ("_summary=count", 0, Some(25)),
            ("_count=0", 0, Some(25)),
            ("gender=male&_total=accurate&_count=2", 2, Some(males)),
            ("gender=male&_summary=count", 0, Some(males)),
        ];
        for (query, len, total) in cases {
            let page = c.search("Practitioner", query).await;
            assert_eq!(page.matches.len(), *len, "[{}] {query} matches", c.be);
            assert_eq!(page.total, *total, "[{}] {query} total", c.be);
        }
        // A deleted resource leaves the count.
        c.delete("Practitioner", "p00").await;
        let page = c.search("Practitioner", "_summary=count").await;
        assert_eq!(page.total, Some(24), "[{}] after delete", c.be);
    }
}

#[tokio::test]
async fn cursors_that_do_not_fit_the_query_are_rejected() {
    for c in stores().await {
        load(&c).await;
        let page = c.search("Practitioner", "_sort=family&_count=2").await;
        let cursor = page.next.expect("a next page");
        let q = c.parse("Practitioner", "_sort=family,gender&_count=2");
        let got = c
            .store
            .search(&default_tenant(), &q, &c.registry, Some(&cursor))
            .await;
        assert!(
            matches!(got, Err(StoreError::InvalidCursor(_))),
            "[{}] {got:?}",
            c.be
        );
        let q = c.parse("Practitioner", "_sort=_lastUpdated&_count=2");
        let got = c
            .store
            .search(&default_tenant(), &q, &c.registry, Some(&cursor))
            .await;
        assert!(
            matches!(got, Err(StoreError::InvalidCursor(_))),
            "[{}] {got:?}",
            c.be
        );
        assert!(PageCursor::decode("not json").is_err());
    }
}

#[tokio::test]
async fn search_sees_only_its_own_tenant() {
    for c in stores().await {
        load(&c).await;
        let other = tenant("other");
        c.store.create_tenant(&other).await.expect("create tenant");
        c.put_in(
            &other,
            practitioner_json("p00", &["Otherton"], Some("male")),
        )
        .await;
        let page = c
            .search_in(&other, "Practitioner", "_total=accurate", None)
            .await;
        assert_eq!(ids_of(&page.matches), vec!["p00"], "[{}]", c.be);
        assert_eq!(page.total, Some(1), "[{}]", c.be);
        assert!(
            page.matches[0]
                .body
                .as_deref()
                .unwrap_or("")
                .contains("Otherton"),
            "[{}] body from the wrong tenant",
            c.be
        );
        assert!(
            c.search_in(&other, "Practitioner", "family=smith", None)
                .await
                .matches
                .is_empty(),
            "[{}]",
            c.be
        );
        assert_eq!(
            c.ids("Practitioner", "family=otherton").await,
            Vec::<String>::new(),
            "[{}]",
            c.be
        );
        let q = c.parse("Practitioner", "family=smith");
        let got = c
            .store
            .search(&tenant("nobody"), &q, &c.registry, None)
            .await;
        assert!(
            matches!(got, Err(StoreError::UnknownTenant(_))),
            "[{}] {got:?}",
            c.be
        );
    }
}

/// Great-circle distance in km (mean Earth radius).
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

const CITIES: [(&str, f64, f64); 7] = [
    ("annarbor", 42.2808, -83.7430),
    ("detroit", 42.3314, -83.0458),
    ("toledo", 41.6528, -83.5379),
    ("lansing", 42.7325, -84.5555),
    ("chicago", 41.8781, -87.6298),
    ("fiji-w", -17.0, 179.8),
    ("fiji-e", -17.0, -179.8),
];

#[tokio::test]
async fn near_matches_within_the_distance_nearest_first() {
    for c in stores().await {
        for (id, lat, lon) in CITIES {
            c.put(json!({"resourceType": "Location", "id": id,
                "position": {"latitude": lat, "longitude": lon}}))
                .await;
        }
        c.put(json!({"resourceType": "Location", "id": "nowhere", "name": "no position"}))
            .await;
        // (centre, radius in km, query distance and unit): radii are at least 5% away from
        // every city's distance, so the approximation cannot flip a case.
        let cases: &[((f64, f64), f64, &str)] = &[
            ((42.2808, -83.7430), 65.0, "65|km"),
            ((42.2808, -83.7430), 80.0, "80000|m"),
            ((42.2808, -83.7430), 100.0, "100"),
            ((42.2808, -83.7430), 300.0 * 1.609_344, "300|mi"),
            ((42.2808, -83.7430), DEFAULT_NEAR_KM, ""),
            ((-17.0, 179.9), 50.0, "50|km"),
            ((-17.0, -179.9), 15.0, "15|km"),
        ];
        for (centre, radius, dist) in cases {
            let mut want: Vec<(f64, &str)> = CITIES
                .iter()
                .map(|(id, lat, lon)| (haversine(*centre, (*lat, *lon)), *id))
                .filter(|(d, _)| d <= radius)
                .collect();
            for (d, id) in &want {
                assert!(
                    *d < radius * 0.95,
                    "{id} at {d} km is too close to {radius}"
                );
            }
            want.sort_by(|a, b| a.0.total_cmp(&b.0));
            let want: Vec<String> = want.into_iter().map(|(_, id)| id.to_owned()).collect();
            let value = if dist.is_empty() {
                format!("{}|{}", centre.0, centre.1)
            } else {
                format!("{}|{}|{dist}", centre.0, centre.1)
            };
            let query = format!("near={value}");
            let page = c.search("Location", &query).await;
            assert_eq!(ids_of(&page.matches), want, "[{}] {query}", c.be);
            assert!(!want.is_empty(), "a case that cannot fail: {query}");
            // The same order, one page at a time.
            assert_eq!(
                all_pages(&c, "Location", &format!("{query}&_count=2")).await,
                want,
                "[{}] {query} paged",
                c.be
            );
        }
        // With another criterion, which the distance page applies to the rows it sorts.
        assert_eq!(
            ids_of(
                &c.search(
                    "Location",
                    "near=42.2808|-83.7430|100|km&_id=chicago,toledo,detroit"
                )
                .await
                .matches
            ),
            ["detroit", "toledo"],
            "[{}] near and _id",
            c.be
        );
        assert_eq!(
            c.ids("Location", "near:missing=true").await,
            set(&["nowhere"]),
            "[{}]",
            c.be
        );
    }
}

#[tokio::test]
async fn sort_by_date_reference_and_number_keys_with_missing_values_last() {
    for c in stores().await {
        for (id, created) in [
            ("b1", Some("2020-01-15")),
            ("b2", Some("2020-03")),
            ("b3", Some("2021-06-30")),
            ("b4", None),
        ] {
            let mut r = json!({"resourceType": "Basic", "id": id, "code": {"text": "x"}});
            if let Some(d) = created {
                r["created"] = json!(d);
            }
            c.put(r).await;
        }
        for (id, practitioner) in [("r1", Some("p2")), ("r2", Some("p1")), ("r3", None)] {
            let mut r = json!({"resourceType": "PractitionerRole", "id": id});
            if let Some(p) = practitioner {
                r["practitioner"] = json!({"reference": format!("Practitioner/{p}")});
            }
            c.put(r).await;
        }
        for (id, size) in [("ip1", Some(100)), ("ip2", Some(250)), ("ip3", None)] {
            let mut r = json!({"resourceType": "InsurancePlan", "id": id});
            if let Some(n) = size {
                r["plan"] = json!([{"generalCost": [{"groupSize": n}]}]);
            }
            c.put(r).await;
        }
        let cases: &[(&str, &str, &[&str])] = &[
            // Ascending by the lower bound, descending by the upper bound.
            ("Basic", "_sort=created", &["b1", "b2", "b3", "b4"]),
            ("Basic", "_sort=-created", &["b3", "b2", "b1", "b4"]),
            ("Basic", "_sort=-created,_id", &["b3", "b2", "b1", "b4"]),
            (
                "PractitionerRole",
                "_sort=practitioner",
                &["r2", "r1", "r3"],
            ),
            (
                "PractitionerRole",
                "_sort=-practitioner",
                &["r1", "r2", "r3"],
            ),
            (
                "InsurancePlan",
                "_sort=general-cost-groupsize",
                &["ip1", "ip2", "ip3"],
            ),
            (
                "InsurancePlan",
                "_sort=-general-cost-groupsize",
                &["ip2", "ip1", "ip3"],
            ),
        ];
        for (rt, query, want) in cases {
            let want: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
            assert_eq!(
                all_pages(&c, rt, &format!("{query}&_count=1")).await,
                want,
                "[{}] {rt}?{query}",
                c.be
            );
        }
    }
}
