//! Token `:above` / `:below` over the hierarchy of the tenant's own CodeSystems
//! (<https://hl7.org/fhir/R4/search.html#token>): the exact set of matches for descendants
//! and ancestors, combined with other criteria, through `_has`, paged, inside a transaction,
//! and a 400-class refusal naming the system and code when there is no hierarchy to use; on
//! every backend.

mod search_support;

use serde_json::{json, Value};
use store::{Precondition, StoreError};

use search_support::{all_pages, default_tenant, ids_of, set, stores, tenant, Ctx};

const NUCC: &str = "http://nucc.org/provider-taxonomy";

async fn check(c: &Ctx, rt: &str, cases: &[(&str, &[&str])]) {
    for (query, want) in cases {
        assert_eq!(c.ids(rt, query).await, set(want), "[{}] {rt}?{query}", c.be);
    }
}

/// Each query must be refused with `UnsupportedSearch` whose message contains every `says`.
async fn refused(c: &Ctx, rt: &str, cases: &[(&str, &[&str])]) {
    for (query, says) in cases {
        let q = c.parse(rt, query);
        match c
            .store
            .search(&default_tenant(), &q, &c.registry, None)
            .await
        {
            Err(StoreError::UnsupportedSearch(m)) => {
                for s in *says {
                    assert!(m.contains(s), "[{}] {rt}?{query}: {m:?} lacks {s:?}", c.be);
                }
            }
            other => panic!("[{}] {rt}?{query}: {other:?}", c.be),
        }
    }
}

fn role(id: &str, practitioner: &str, active: bool, codings: &[(&str, &str)]) -> Value {
    let coding: Vec<Value> = codings
        .iter()
        .map(|(s, c)| json!({"system": s, "code": c}))
        .collect();
    json!({"resourceType": "PractitionerRole", "id": id, "active": active,
        "practitioner": {"reference": format!("Practitioner/{practitioner}")},
        "specialty": [{"coding": coding}]})
}

/// Internal Medicine (207R00000X) > Cardiovascular Disease (207RC0000X) > Interventional
/// Cardiology (207RI0011X), nested in version 2 of the CodeSystem; version 1 (older) knows
/// only the root. Family Medicine (207Q00000X) hangs off nothing. Roles: one per code, one
/// with the code in another system, one with no system.
async fn taxonomy_and_roles(c: &Ctx) {
    c.put(
        json!({"resourceType": "CodeSystem", "id": "nucc-1", "url": NUCC, "version": "1",
        "status": "active", "content": "fragment", "concept": [{"code": "207R00000X"}]}),
    )
    .await;
    c.put(
        json!({"resourceType": "CodeSystem", "id": "nucc-2", "url": NUCC, "version": "2",
        "status": "active", "content": "fragment",
        "concept": [
            {"code": "207R00000X", "display": "Internal Medicine", "concept": [
                {"code": "207RC0000X", "display": "Cardiovascular Disease", "concept": [
                    {"code": "207RI0011X", "display": "Interventional Cardiology"}]}]},
            {"code": "207Q00000X", "display": "Family Medicine"}]}),
    )
    .await;
    c.put(json!({"resourceType": "CodeSystem", "id": "flat", "url": "http://ex.org/flat",
        "status": "active", "content": "complete",
        "concept": [{"code": "a"}, {"code": "b", "property": [{"code": "parent", "valueCode": "a"}]}]}))
    .await;
    c.put(
        json!({"resourceType": "CodeSystem", "id": "empty", "url": "http://ex.org/empty",
        "status": "active", "content": "not-present"}),
    )
    .await;
    for r in [
        role("im", "p1", true, &[(NUCC, "207R00000X")]),
        role("cv", "p2", true, &[(NUCC, "207RC0000X")]),
        role("ic", "p3", false, &[(NUCC, "207RI0011X")]),
        role("fm", "p4", true, &[(NUCC, "207Q00000X")]),
        role(
            "other-sys",
            "p5",
            true,
            &[("http://ex.org/local", "207RC0000X")],
        ),
        role("flat-b", "p6", true, &[("http://ex.org/flat", "b")]),
    ] {
        c.put(r).await;
    }
    let mut no_system = role("no-sys", "p7", true, &[]);
    no_system["specialty"] = json!([{"coding": [{"code": "207RC0000X"}]}]);
    c.put(no_system).await;
    for p in ["p1", "p2", "p3", "p4", "p5", "p6", "p7"] {
        c.put(json!({"resourceType": "Practitioner", "id": p}))
            .await;
    }
}

#[tokio::test]
async fn below_finds_descendants_and_above_finds_ancestors() {
    for c in stores().await {
        taxonomy_and_roles(&c).await;
        let q = |m: &str, code: &str| format!("specialty:{m}={NUCC}|{code}");
        let cases: Vec<(String, &[&str])> = vec![
            (q("below", "207R00000X"), &["im", "cv", "ic"]),
            (q("below", "207RC0000X"), &["cv", "ic"]),
            (q("below", "207RI0011X"), &["ic"]),
            (q("above", "207RI0011X"), &["im", "cv", "ic"]),
            (q("above", "207RC0000X"), &["im", "cv"]),
            (q("above", "207R00000X"), &["im"]),
            (q("below", "207Q00000X"), &["fm"]),
            // OR over values, and the flat CodeSystem linked by `parent` properties.
            (
                format!("{},http://ex.org/flat|a", q("below", "207RC0000X")),
                &["cv", "ic", "flat-b"],
            ),
            (
                "specialty:above=http://ex.org/flat|b".to_owned(),
                &["flat-b"],
            ),
            // Combined with another criterion (AND).
            (
                format!("{}&active=true", q("below", "207R00000X")),
                &["im", "cv"],
            ),
            (
                format!("{}&active=false", q("above", "207RI0011X")),
                &["ic"],
            ),
        ];
        let cases: Vec<(&str, &[&str])> = cases.iter().map(|(q, w)| (q.as_str(), *w)).collect();
        check(&c, "PractitionerRole", &cases).await;
        check(
            &c,
            "Practitioner",
            &[(
                &format!("_has:PractitionerRole:practitioner:specialty:below={NUCC}|207RC0000X"),
                &["p2", "p3"],
            )],
        )
        .await;
        assert_eq!(
            all_pages(
                &c,
                "PractitionerRole",
                &format!("specialty:below={NUCC}|207R00000X&_count=1&_sort=_id")
            )
            .await,
            ["cv", "ic", "im"],
            "[{}] paged",
            c.be
        );
    }
}

#[tokio::test]
async fn a_missing_code_system_or_code_is_refused_with_the_reason() {
    for c in stores().await {
        taxonomy_and_roles(&c).await;
        // A CodeSystem in another tenant is invisible here.
        let other = tenant("other");
        c.store.create_tenant(&other).await.expect("create tenant");
        c.put_in(
            &other,
            json!({"resourceType": "CodeSystem", "id": "x", "url": "http://ex.org/elsewhere",
                "status": "active", "content": "complete", "concept": [{"code": "a"}]}),
        )
        .await;
        refused(
            &c,
            "PractitionerRole",
            &[
                (
                    "specialty:below=http://ex.org/nosuch|a",
                    &["`:below` on `http://ex.org/nosuch|a`", "no CodeSystem"],
                ),
                (
                    "specialty:above=http://ex.org/elsewhere|a",
                    &["http://ex.org/elsewhere|a", "no CodeSystem"],
                ),
                (
                    &format!("specialty:below={NUCC}|207X00000X"),
                    &["207X00000X", "not defined"],
                ),
                (
                    "specialty:below=http://ex.org/empty|a",
                    &["http://ex.org/empty|a", "no concepts"],
                ),
            ],
        )
        .await;
        // A deleted CodeSystem no longer counts.
        c.store
            .delete(&default_tenant(), "CodeSystem", "flat", Precondition::None)
            .await
            .expect("delete");
        refused(
            &c,
            "PractitionerRole",
            &[("specialty:below=http://ex.org/flat|a", &["no CodeSystem"])],
        )
        .await;
    }
}

#[tokio::test]
async fn a_transaction_search_reads_the_hierarchy_on_its_own_connection() {
    for c in stores().await {
        taxonomy_and_roles(&c).await;
        let mut tx = c.store.begin(&default_tenant()).await.expect("begin");
        let q = c.parse(
            "PractitionerRole",
            &format!("specialty:below={NUCC}|207RC0000X"),
        );
        let page = tx.search(&store::Viewer::System, &q, &c.registry).await;
        let mut ids = page.map(|p| ids_of(&p.matches)).unwrap_or_else(|e| {
            panic!("[{}] tx search: {e}", c.be);
        });
        ids.sort();
        assert_eq!(ids, ["cv", "ic"], "[{}]", c.be);
        tx.rollback().await.expect("rollback");
    }
}
