//! Searches across references: chains (<https://hl7.org/fhir/R4/search.html#chaining>),
//! `_has` (<https://hl7.org/fhir/R4/search.html#has>) and `_include` / `_revinclude`
//! (<https://hl7.org/fhir/R4/search.html#include>), on every backend.

mod search_support;

use serde_json::json;

use search_support::{keys_of, set, stores, Ctx};

/// o1 <- l1 <- r1 -> p1 ; o2 <- l2 <- r2 -> p2 ; l3 partOf l1 ; r3 -> o3 (deleted)
async fn directory(c: &Ctx) {
    let puts = [
        json!({"resourceType": "Organization", "id": "o1", "name": "Acme Health"}),
        json!({"resourceType": "Organization", "id": "o2", "name": "Blue Clinic"}),
        json!({"resourceType": "Organization", "id": "o3", "name": "Acme Closed"}),
        json!({"resourceType": "Location", "id": "l1", "address": {"city": "Ann Arbor"},
            "managingOrganization": {"reference": "Organization/o1"}}),
        json!({"resourceType": "Location", "id": "l2", "address": {"city": "Detroit"},
            "managingOrganization": {"reference": "Organization/o2"}}),
        json!({"resourceType": "Location", "id": "l3", "address": {"city": "Ypsilanti"},
            "partOf": {"reference": "Location/l1"}}),
        json!({"resourceType": "Practitioner", "id": "p1", "gender": "female",
            "name": [{"family": "Jones"}]}),
        json!({"resourceType": "Practitioner", "id": "p2", "gender": "male",
            "name": [{"family": "Smith"}]}),
        json!({"resourceType": "PractitionerRole", "id": "r1",
            "practitioner": {"reference": "Practitioner/p1"},
            "organization": {"reference": "Organization/o1"},
            "location": [{"reference": "Location/l1"}]}),
        json!({"resourceType": "PractitionerRole", "id": "r2",
            "practitioner": {"reference": "Practitioner/p2"},
            "location": [{"reference": "Location/l2"}]}),
        json!({"resourceType": "PractitionerRole", "id": "r3",
            "organization": {"reference": "Organization/o3"}}),
    ];
    for r in puts {
        c.put(r).await;
    }
    c.delete("Organization", "o3").await;
}

async fn check(c: &Ctx, rt: &str, cases: &[(&str, &[&str])]) {
    for (query, want) in cases {
        assert_eq!(c.ids(rt, query).await, set(want), "[{}] {rt}?{query}", c.be);
    }
}

#[tokio::test]
async fn chains_follow_references_one_and_two_levels_deep() {
    for c in stores().await {
        directory(&c).await;
        check(
            &c,
            "PractitionerRole",
            &[
                ("location.address-city=ann arbor", &["r1"]),
                ("location.address-city=detroit,ann", &["r1", "r2"]),
                ("location:Location.address-city=det", &["r2"]),
                ("practitioner.family=smith", &["r2"]),
                ("practitioner.gender=female", &["r1"]),
                ("location.organization.name=acme", &["r1"]),
                ("location.organization.name=blue", &["r2"]),
                (
                    "location.organization.name=acme&practitioner.gender=male",
                    &[],
                ),
                // A deleted target matches nothing, not even a negative criterion.
                ("organization.name=acme", &["r1"]),
                ("organization.name:missing=false", &["r1"]),
                ("organization._id:not=o1", &[]),
            ],
        )
        .await;
        check(
            &c,
            "Location",
            &[
                ("partof.address-city=ann", &["l3"]),
                ("organization.name=blue", &["l2"]),
            ],
        )
        .await;
        // Deleting a link's target breaks the chain.
        c.delete("Location", "l2").await;
        check(
            &c,
            "PractitionerRole",
            &[("location.address-city=detroit", &[])],
        )
        .await;
    }
}

#[tokio::test]
async fn has_finds_resources_referenced_by_matching_ones_nested() {
    for c in stores().await {
        directory(&c).await;
        check(
            &c,
            "Practitioner",
            &[
                (
                    "_has:PractitionerRole:practitioner:location=Location/l1",
                    &["p1"],
                ),
                (
                    "_has:PractitionerRole:practitioner:_id=r1,r2",
                    &["p1", "p2"],
                ),
                (
                    "_has:PractitionerRole:practitioner:location.address-city=detroit",
                    &["p2"],
                ),
            ],
        )
        .await;
        check(
            &c,
            "Organization",
            &[
                (
                    "_has:Location:organization:_has:PractitionerRole:location:practitioner=Practitioner/p1",
                    &["o1"],
                ),
                ("_has:Location:organization:address-city=detroit", &["o2"]),
                // o3 is referenced by r3 but deleted.
                ("_has:PractitionerRole:organization:_id=r3", &[]),
            ],
        )
        .await;
        // A deleted source no longer counts.
        c.delete("PractitionerRole", "r1").await;
        check(
            &c,
            "Practitioner",
            &[(
                "_has:PractitionerRole:practitioner:location=Location/l1",
                &[],
            )],
        )
        .await;
    }
}

async fn included(c: &Ctx, rt: &str, query: &str) -> (Vec<String>, Vec<String>) {
    let page = c.search(rt, query).await;
    (keys_of(&page.matches), keys_of(&page.included))
}

#[tokio::test]
async fn includes_and_revincludes_with_iterate_and_wildcards() {
    for c in stores().await {
        directory(&c).await;
        let cases: &[(&str, &str, &[&str], &[&str])] = &[
            (
                "PractitionerRole",
                "_id=r1&_include=PractitionerRole:practitioner",
                &["PractitionerRole/r1"],
                &["Practitioner/p1"],
            ),
            (
                "PractitionerRole",
                "_id=r1&_include=PractitionerRole:*",
                &["PractitionerRole/r1"],
                &["Location/l1", "Organization/o1", "Practitioner/p1"],
            ),
            (
                "PractitionerRole",
                "_id=r1&_include=PractitionerRole:location:Location",
                &["PractitionerRole/r1"],
                &["Location/l1"],
            ),
            // Without :iterate, Location:organization applies to matches only (no Locations).
            (
                "PractitionerRole",
                "_id=r1&_include=PractitionerRole:location&_include=Location:organization",
                &["PractitionerRole/r1"],
                &["Location/l1"],
            ),
            (
                "PractitionerRole",
                "_id=r1&_include=PractitionerRole:location&_include:iterate=Location:organization",
                &["PractitionerRole/r1"],
                &["Location/l1", "Organization/o1"],
            ),
            // Deleted targets are never included.
            (
                "PractitionerRole",
                "_id=r3&_include=PractitionerRole:organization",
                &["PractitionerRole/r3"],
                &[],
            ),
            // Each included resource once, and never one that is already a match.
            (
                "PractitionerRole",
                "_include=PractitionerRole:practitioner&_include=PractitionerRole:location",
                &["PractitionerRole/r1", "PractitionerRole/r2", "PractitionerRole/r3"],
                &["Location/l1", "Location/l2", "Practitioner/p1", "Practitioner/p2"],
            ),
            (
                "Location",
                "_id=l1,l3&_include=Location:partof",
                &["Location/l1", "Location/l3"],
                &[],
            ),
            (
                "Practitioner",
                "_id=p1&_revinclude=PractitionerRole:practitioner",
                &["Practitioner/p1"],
                &["PractitionerRole/r1"],
            ),
            (
                "Organization",
                "_id=o1&_revinclude=Location:organization&_revinclude:iterate=PractitionerRole:location",
                &["Organization/o1"],
                &["Location/l1", "PractitionerRole/r1"],
            ),
            (
                "Organization",
                "_id=o1&_revinclude=Location:organization&_revinclude:iterate=Location:partof",
                &["Organization/o1"],
                &["Location/l1", "Location/l3"],
            ),
            (
                "Location",
                "_id=l1&_revinclude=PractitionerRole:*",
                &["Location/l1"],
                &["PractitionerRole/r1"],
            ),
            (
                "Organization",
                "name=blue&_revinclude=Location:organization&_include=Organization:partof",
                &["Organization/o2"],
                &["Location/l2"],
            ),
        ];
        for (rt, query, matches, incl) in cases {
            let (m, i) = included(&c, rt, query).await;
            assert_eq!(m, set(matches), "[{}] matches of {rt}?{query}", c.be);
            assert_eq!(i, set(incl), "[{}] included by {rt}?{query}", c.be);
        }
    }
}

#[tokio::test]
async fn chains_and_includes_stay_inside_the_tenant() {
    for c in stores().await {
        directory(&c).await;
        let other = search_support::tenant("other");
        c.store.create_tenant(&other).await.expect("create tenant");
        // Same ids, no Practitioner p1 and no Location l1 in the other tenant.
        c.put_in(
            &other,
            json!({"resourceType": "PractitionerRole", "id": "r1",
                "practitioner": {"reference": "Practitioner/p1"},
                "location": [{"reference": "Location/l1"}]}),
        )
        .await;
        let page = c
            .search_in(
                &other,
                "PractitionerRole",
                "_include=PractitionerRole:*&_revinclude=PractitionerRole:location",
                None,
            )
            .await;
        assert_eq!(
            keys_of(&page.matches),
            set(&["PractitionerRole/r1"]),
            "[{}]",
            c.be
        );
        assert!(page.included.is_empty(), "[{}] {:?}", c.be, page.included);
        for query in [
            "location.address-city=ann",
            "practitioner.gender=female",
            "practitioner=Practitioner/p1&practitioner._id=p1",
        ] {
            let page = c.search_in(&other, "PractitionerRole", query, None).await;
            assert!(
                page.matches.is_empty(),
                "[{}] other?{query}: {:?}",
                c.be,
                page.matches
            );
        }
        let page = c
            .search_in(
                &other,
                "Practitioner",
                "_has:PractitionerRole:practitioner:_id=r1",
                None,
            )
            .await;
        assert!(page.matches.is_empty(), "[{}] {:?}", c.be, page.matches);
        // And the default tenant still sees its own.
        assert_eq!(
            c.ids("PractitionerRole", "location.address-city=ann").await,
            set(&["r1"]),
            "[{}]",
            c.be
        );
    }
}
