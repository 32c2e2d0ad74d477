//! Chains and `_has` take one of three page queries by how many index rows the inner value
//! has (`store::search::plan`): below `WALK_FROM` = 200 the set of all matches; from there the
//! reference rows in id order, each tested against the inner value's set; for `_has` on
//! Postgres from `SCALAR_WALK_FROM` = 12,000 the target type in id order, each resource tested.
//! All must give the same answers: every page, to the end, equal to the set computed here
//! from the data, with deleted targets, dangling references and deleted sources left out, and
//! further criteria applied.

mod search_support;

use std::collections::BTreeSet;

use serde_json::{json, Value};

use search_support::{all_pages, stores, Ctx};

const PRACTITIONERS: usize = 300;
const ROLES: usize = 13_000;

fn practitioner(i: usize) -> Value {
    json!({"resourceType": "Practitioner", "id": format!("p{i:04}"),
           "gender": if i.is_multiple_of(3) { "female" } else { "male" }})
}

/// Role `i`: practitioner `p(i * 7 % 330)` (30 of those ids never exist), specialty `rare`
/// for every 500th role (26 roles: the set), `medium` for every other 20th (624: the row
/// walk), else `common` (12,350: the scalar walk on Postgres, the walk with a lookup per row
/// on SQLite).
fn role(i: usize) -> Value {
    let specialty = if i.is_multiple_of(500) {
        "rare"
    } else if i.is_multiple_of(20) {
        "medium"
    } else {
        "common"
    };
    json!({"resourceType": "PractitionerRole", "id": format!("r{i:05}"),
           "practitioner": {"reference": format!("Practitioner/p{:04}", i * 7 % 330)},
           "specialty": [{"coding": [{"system": "http://nucc.org/provider-taxonomy", "code": specialty}]}]})
}

/// Every page of `rt?query` with `count` per page, followed to the end, holds each resource
/// once, in id order, and together exactly `want`; `_total=accurate` counts `want`.
async fn assert_every_page(c: &Ctx, rt: &str, query: &str, count: u32, want: &BTreeSet<String>) {
    let be = c.be;
    let got = all_pages(c, rt, &format!("{query}&_count={count}")).await;
    let got_set: BTreeSet<String> = got.iter().cloned().collect();
    assert_eq!(
        got.len(),
        got_set.len(),
        "[{be}] {query}: a resource on two pages"
    );
    assert_eq!(&got_set, want, "[{be}] {query}");
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "[{be}] {query}: pages in id order"
    );
    let total = c
        .search(rt, &format!("{query}&_total=accurate&_count=5"))
        .await
        .total;
    assert_eq!(total, Some(want.len() as u64), "[{be}] {query}: _total");
}

#[tokio::test]
async fn has_walks_common_values_and_collects_rare_ones_with_the_same_answers() {
    for c in stores().await {
        let be = c.be;
        c.put_many((0..PRACTITIONERS).map(practitioner).collect())
            .await;
        c.put_many((0..ROLES).map(role).collect()).await;
        // As autovacuum or `fhirdir import` would: without statistics Postgres plans the set
        // queries of 13,000 rows as nested scans (30 s each), which is not what this tests.
        c.store.analyze_search_index().await.expect("analyze");
        // A deleted practitioner is never a match; a deleted role no longer counts.
        c.delete("Practitioner", "p0007").await;
        c.delete("PractitionerRole", "r00003").await;
        let deleted_role = 3;

        for (query, specialty, female_only) in [
            (
                "_has:PractitionerRole:practitioner:specialty=common",
                "common",
                false,
            ),
            (
                "_has:PractitionerRole:practitioner:specialty=rare",
                "rare",
                false,
            ),
            (
                "_has:PractitionerRole:practitioner:specialty=medium",
                "medium",
                false,
            ),
            (
                "_has:PractitionerRole:practitioner:specialty=medium&gender=female",
                "medium",
                true,
            ),
            (
                "_has:PractitionerRole:practitioner:specialty=common&gender=female",
                "common",
                true,
            ),
        ] {
            let want: BTreeSet<String> = (0..ROLES)
                .filter(|&i| i != deleted_role)
                .map(role)
                .filter(|r| r["specialty"][0]["coding"][0]["code"] == specialty)
                .map(|r| r["practitioner"]["reference"].as_str().unwrap_or("")[13..].to_owned())
                .filter(|p| {
                    let n: usize = p[1..].parse().unwrap_or(usize::MAX);
                    n < PRACTITIONERS && p != "p0007" && (!female_only || n.is_multiple_of(3))
                })
                .collect();
            assert!(want.len() > 5, "[{be}] {query}: the data must give matches");
            assert_every_page(&c, "Practitioner", query, 40, &want).await;
        }
    }
}

/// `_has` whose inner value has 9,000 roles (from `LOOKUP_WALK_FROM` = 8,000 SQLite walks the
/// reference rows and looks each row's role up in the value's rows; Postgres takes the scalar
/// walk from 12,000 and the row walk below) held by the even Practitioners only, while 400
/// roles of another value belong to the odd ones: exactly the even ones match, a deleted one
/// and one whose every role was deleted left out.
#[tokio::test]
async fn has_over_a_big_inner_value_finds_exactly_the_resources_it_references() {
    for c in stores().await {
        let be = c.be;
        c.put_many((0..400).map(practitioner).collect()).await;
        let role = |i: usize, specialty: &str, p: usize| {
            json!({"resourceType": "PractitionerRole", "id": format!("r{i:05}"),
                   "practitioner": {"reference": format!("Practitioner/p{p:04}")},
                   "specialty": [{"coding": [{"system": "http://nucc.org/provider-taxonomy", "code": specialty}]}]})
        };
        let mut roles: Vec<Value> = (0..9_000).map(|i| role(i, "big", 2 * (i % 200))).collect();
        roles.extend((9_000..9_400).map(|i| role(i, "small", 2 * (i % 200) + 1)));
        c.put_many(roles).await;
        c.store.analyze_search_index().await.expect("analyze");
        c.delete("Practitioner", "p0004").await;
        // p0006's roles are r00003, r00203, ..., r08803.
        for i in (3..9_000).step_by(200) {
            c.delete("PractitionerRole", &format!("r{i:05}")).await;
        }
        let evens: BTreeSet<String> = (0..200)
            .map(|k| format!("p{:04}", 2 * k))
            .filter(|p| p != "p0004" && p != "p0006")
            .collect();
        let odds: BTreeSet<String> = (0..200).map(|k| format!("p{:04}", 2 * k + 1)).collect();
        assert!(evens.len() == 198 && odds.len() == 200, "[{be}] the data");
        let query = "_has:PractitionerRole:practitioner:specialty=big";
        assert_every_page(&c, "Practitioner", query, 40, &evens).await;
        let query = "_has:PractitionerRole:practitioner:specialty=small";
        assert_every_page(&c, "Practitioner", query, 40, &odds).await;
    }
}

/// `PractitionerRole?practitioner.gender=male` has 200 matching Practitioners (the row walk),
/// `female` 99 (the set): the same answers, to the last page, forwards and with `_total`.
#[tokio::test]
async fn chains_walk_common_targets_and_collect_rare_ones_with_the_same_answers() {
    for c in stores().await {
        let be = c.be;
        c.put_many((0..PRACTITIONERS).map(practitioner).collect())
            .await;
        let roles = 3_000;
        c.put_many((0..roles).map(role).collect()).await;
        c.store.analyze_search_index().await.expect("analyze");
        // A female one: `male` keeps its 200 index rows, exactly `WALK_FROM`.
        c.delete("Practitioner", "p0003").await;
        c.delete("PractitionerRole", "r00010").await;
        for (gender, female) in [("male", false), ("female", true)] {
            for extra in ["", "&specialty=medium"] {
                let query = format!("practitioner.gender={gender}{extra}");
                let want: BTreeSet<String> = (0..roles)
                    .filter(|&i| i != 10)
                    .filter(|&i| extra.is_empty() || (i % 20 == 0 && i % 500 != 0))
                    .filter(|&i| {
                        let p = i * 7 % 330;
                        p < PRACTITIONERS && p != 3 && p.is_multiple_of(3) == female
                    })
                    .map(|i| format!("r{i:05}"))
                    .collect();
                assert!(want.len() > 5, "[{be}] {query}: the data must give matches");
                assert_every_page(&c, "PractitionerRole", &query, 40, &want).await;
            }
        }
    }
}

/// `Practitioner?name=mar` over 6,000 Practitioners, 5,400 of them named Mary Marsh (about
/// 16,200 `name` rows with the prefix: the walk of the string rows in id order, from
/// `STRING_WALK_FROM` = 8,000 on Postgres and `SQLITE_STRING_WALK_FROM` = 16,000 on SQLite),
/// and `name=zed` over the other 600 (the set): every page, to
/// the end, equals the set computed here, with a deleted match left out, another criterion
/// applied and `_total` counted.
#[tokio::test]
async fn string_prefixes_walk_common_values_and_collect_rare_ones_with_the_same_answers() {
    let n = 6_000;
    let person = |i: usize| {
        let (given, family) = if i.is_multiple_of(10) {
            ("Zed", "Zedd")
        } else {
            ("Mary", "Marsh")
        };
        json!({"resourceType": "Practitioner", "id": format!("p{i:05}"),
               "gender": if i.is_multiple_of(4) { "female" } else { "male" },
               "name": [{"family": family, "given": [given], "text": format!("{given} {family}")}]})
    };
    for c in stores().await {
        c.put_many((0..n).map(person).collect()).await;
        c.delete("Practitioner", "p00007").await;
        c.store.analyze_search_index().await.expect("analyze");
        for (query, common, female_only) in [
            ("name=mar", true, false),
            ("name=MAR&gender=female", true, true),
            ("name=zed", false, false),
        ] {
            let want: BTreeSet<String> = (0..n)
                .filter(|&i| {
                    i != 7
                        && i.is_multiple_of(10) != common
                        && (!female_only || i.is_multiple_of(4))
                })
                .map(|i| format!("p{i:05}"))
                .collect();
            assert_every_page(&c, "Practitioner", query, 200, &want).await;
        }
    }
}

/// A probe's answer is reused for a while (`store::search::probe_cache`), so a search may run
/// the plan chosen for an earlier count of its value. The answers must be the current rows
/// anyway: after the value grows past `WALK_FROM` (200) and after it shrinks back below it,
/// each within the reuse time of the previous count.
#[tokio::test]
async fn a_reused_probe_answer_changes_the_plan_never_the_answers() {
    const ROLES: usize = 400;
    let role = |i: usize, code: &str| {
        json!({"resourceType": "PractitionerRole", "id": format!("g{i:04}"),
               "practitioner": {"reference": format!("Practitioner/p{:04}", i % PRACTITIONERS)},
               "specialty": [{"coding": [{"system": "http://nucc.org/provider-taxonomy", "code": code}]}]})
    };
    let query = "_has:PractitionerRole:practitioner:specialty=grow&_count=100";
    for c in stores().await {
        let be = c.be;
        c.put_many((0..PRACTITIONERS).map(practitioner).collect())
            .await;
        for (growing, step) in [(10, "rare"), (ROLES, "grown"), (10, "shrunk back")] {
            c.put_many(
                (0..ROLES)
                    .map(|i| role(i, if i < growing { "grow" } else { "other" }))
                    .collect(),
            )
            .await;
            let want: BTreeSet<String> = (0..growing)
                .map(|i| format!("p{:04}", i % PRACTITIONERS))
                .collect();
            let got = all_pages(&c, "Practitioner", query).await;
            assert_eq!(got.len(), want.len(), "[{be}] {step}: one on two pages");
            let got: BTreeSet<String> = got.into_iter().collect();
            assert_eq!(got, want, "[{be}] {step}");
        }
    }
}
