//! `_has` over a common value reads the target type in id order and tests each resource (the
//! walk, chosen when the inner value has at least `WALK_FROM` = 4,000 index rows); over a rare
//! one it builds the set of matches. Both must give the same answers: every page, to the end,
//! equal to the set computed here from the data, with deleted targets, dangling references
//! and deleted sources left out, and further criteria applied.

mod search_support;

use std::collections::BTreeSet;

use serde_json::{json, Value};

use search_support::{all_pages, stores};

const PRACTITIONERS: usize = 300;
const ROLES: usize = 4_500;

fn practitioner(i: usize) -> Value {
    json!({"resourceType": "Practitioner", "id": format!("p{i:04}"),
           "gender": if i.is_multiple_of(3) { "female" } else { "male" }})
}

/// Role `i`: practitioner `p(i * 7 % 330)` (30 of those ids never exist), specialty `rare`
/// for every 500th role, else `common`.
fn role(i: usize) -> Value {
    let specialty = if i.is_multiple_of(500) {
        "rare"
    } else {
        "common"
    };
    json!({"resourceType": "PractitionerRole", "id": format!("r{i:05}"),
           "practitioner": {"reference": format!("Practitioner/p{:04}", i * 7 % 330)},
           "specialty": [{"coding": [{"system": "http://nucc.org/provider-taxonomy", "code": specialty}]}]})
}

#[tokio::test]
async fn has_walks_common_values_and_collects_rare_ones_with_the_same_answers() {
    for c in stores().await {
        let be = c.be;
        c.put_many((0..PRACTITIONERS).map(practitioner).collect())
            .await;
        c.put_many((0..ROLES).map(role).collect()).await;
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
            let got = all_pages(&c, "Practitioner", &format!("{query}&_count=40")).await;
            let got_set: BTreeSet<String> = got.iter().cloned().collect();
            assert_eq!(
                got.len(),
                got_set.len(),
                "[{be}] {query}: a resource on two pages"
            );
            assert_eq!(got_set, want, "[{be}] {query}");
            assert!(
                got.windows(2).all(|w| w[0] < w[1]),
                "[{be}] {query}: pages in id order"
            );
            let total = c
                .search("Practitioner", &format!("{query}&_total=accurate&_count=5"))
                .await
                .total;
            assert_eq!(total, Some(want.len() as u64), "[{be}] {query}: _total");
        }
    }
}
