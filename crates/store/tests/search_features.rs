//! Composite parameters, token `:in` / `:not-in`, uri `:above` / `:below`, `_text` and
//! `_content` (<https://hl7.org/fhir/R4/search.html>): table-driven, each case with the exact
//! set of ids that must match (matching and non-matching), on every backend.

mod search_support;

use serde_json::{json, Value};
use store::{PageCursor, StoreError};

use search_support::{default_tenant, ids_of, set, stores, tenant, Ctx};

async fn check(c: &Ctx, rt: &str, cases: &[(&str, &[&str])]) {
    for (query, want) in cases {
        assert_eq!(c.ids(rt, query).await, set(want), "[{}] {rt}?{query}", c.be);
    }
}

/// Each query must be refused with a 400-class `UnsupportedSearch`, never answered.
async fn refused(c: &Ctx, rt: &str, queries: &[&str], says: &str) {
    for query in queries {
        let q = c.parse(rt, query);
        let got = c
            .store
            .search(&default_tenant(), &q, &c.registry, None)
            .await;
        match got {
            Err(StoreError::UnsupportedSearch(m)) => {
                assert!(m.contains(says), "[{}] {rt}?{query}: {m}", c.be)
            }
            other => panic!("[{}] {rt}?{query}: {other:?}", c.be),
        }
    }
}

const S: &str = "http://example.org/characteristic";

fn characteristic(code: &str, value: Value) -> Value {
    let mut c = json!({"code": {"coding": [{"system": S, "code": code}]}, "exclude": false});
    if let (Some(obj), Value::Object(v)) = (c.as_object_mut(), value) {
        obj.extend(v);
    }
    c
}

#[tokio::test]
async fn composite_components_must_match_within_one_element() {
    for c in stores().await {
        let concept = |code: &str| json!({"valueCodeableConcept": {"coding": [{"code": code}]}});
        c.put(
            json!({"resourceType": "Group", "id": "g1", "type": "person", "actual": true,
            "characteristic": [characteristic("gender", concept("female")),
                               characteristic("age", json!({"valueQuantity": {"value": 40}}))]}),
        )
        .await;
        // `female` appears, but under `status`, not `gender`.
        c.put(
            json!({"resourceType": "Group", "id": "g2", "type": "person", "actual": true,
            "characteristic": [characteristic("gender", concept("male")),
                               characteristic("status", concept("female"))]}),
        )
        .await;
        c.put(json!({"resourceType": "Group", "id": "g3", "type": "person", "actual": true}))
            .await;
        check(
            &c,
            "Group",
            &[
                ("characteristic-value=gender$female", &["g1"]),
                (&format!("characteristic-value={S}|gender$female"), &["g1"]),
                ("characteristic-value=http://other|gender$female", &[]),
                ("characteristic-value=gender$male", &["g2"]),
                ("characteristic-value=status$female", &["g2"]),
                ("characteristic-value=status$male", &[]),
                ("characteristic-value=age$female", &[]),
                (
                    "characteristic-value=gender$female,gender$male",
                    &["g1", "g2"],
                ),
                (
                    "characteristic-value=gender$male&characteristic-value=status$female",
                    &["g2"],
                ),
                (
                    "characteristic-value=gender$female&characteristic-value=status$female",
                    &[],
                ),
                ("characteristic-value:missing=true", &["g3"]),
                ("characteristic-value:missing=false", &["g1", "g2"]),
                (
                    "characteristic-value:missing=true,false",
                    &["g1", "g2", "g3"],
                ),
            ],
        )
        .await;

        // token $ quantity, with the quantity's prefixes and a Range.
        let use_context = |code: &str, value: Value| {
            let mut u = json!({"code": {"system": "http://terminology.hl7.org/CodeSystem/usage-context-type", "code": code}});
            if let (Some(obj), Value::Object(v)) = (u.as_object_mut(), value) {
                obj.extend(v);
            }
            u
        };
        c.put(json!({"resourceType": "SearchParameter", "id": "sp1", "url": "http://x/sp1",
            "useContext": [use_context("age", json!({"valueQuantity": {"value": 18, "unit": "a"}})),
                           use_context("focus", json!({"valueRange": {"low": {"value": 5}, "high": {"value": 10}}}))]}))
            .await;
        c.put(json!({"resourceType": "SearchParameter", "id": "sp2", "url": "http://x/sp2",
            "useContext": [use_context("age", json!({"valueQuantity": {"value": 65, "unit": "a"}}))]}))
            .await;
        check(
            &c,
            "SearchParameter",
            &[
                ("context-type-quantity=age$18", &["sp1"]),
                ("context-type-quantity=age$gt30", &["sp2"]),
                ("context-type-quantity=age$lt30", &["sp1"]),
                ("context-type-quantity=age$18||a", &["sp1"]),
                ("context-type-quantity=age$18||mg", &[]),
                ("context-type-quantity=focus$ge5", &["sp1"]),
                ("context-type-quantity=focus$gt100", &[]),
                ("context-type-quantity=age$7", &[]),
            ],
        )
        .await;
    }
}

const NEWPAT: &str = "http://hl7.org/fhir/us/ndh/StructureDefinition/base-ext-newpatients";

fn new_patients(accepting: &str, network: &str) -> Value {
    json!({"url": NEWPAT, "extension": [
        {"url": "acceptingPatients", "valueCodeableConcept": {"coding": [
            {"system": "http://hl7.org/fhir/us/ndh/CodeSystem/AcceptingPatientsCS", "code": accepting}]}},
        {"url": "fromNetwork", "valueReference": {"reference": network}}
    ]})
}

#[tokio::test]
async fn ndh_new_patient_and_from_network_pairs_each_extension() {
    for c in stores().await {
        for rt in ["PractitionerRole", "Location", "HealthcareService"] {
            c.put(json!({"resourceType": rt, "id": "r1", "extension": [
                new_patients("yes", "Organization/n1"),
                {"url": "http://example.org/unrelated", "valueString": "x"},
                new_patients("no", "Organization/n2")]}))
                .await;
            c.put(json!({"resourceType": rt, "id": "r2", "extension": [
                new_patients("yes", "Organization/n2")]}))
                .await;
            c.put(json!({"resourceType": rt, "id": "r3"})).await;
            check(
                &c,
                rt,
                &[
                    ("new-patient-and-from-network=yes$Organization/n1", &["r1"]),
                    ("new-patient-and-from-network=yes$Organization/n2", &["r2"]),
                    ("new-patient-and-from-network=no$Organization/n2", &["r1"]),
                    ("new-patient-and-from-network=no$Organization/n1", &[]),
                    ("new-patient-and-from-network=yes$n2", &["r2"]),
                    ("new-patient-and-from-network:missing=true", &["r3"]),
                    ("new-patient-and-from-network:missing=false", &["r1", "r2"]),
                    (
                        "new-patient-and-from-network=http://hl7.org/fhir/us/ndh/CodeSystem/AcceptingPatientsCS|yes$Organization/n1",
                        &["r1"],
                    ),
                    (
                        "new-patient-and-from-network=yes$Organization/n1,yes$Organization/n2",
                        &["r1", "r2"],
                    ),
                    // The component parameters alone do not pair values.
                    ("new-patient=yes&new-patient-from-network=Organization/n2", &["r1", "r2"]),
                ],
            )
            .await;
        }
    }
}

const NUCC: &str = "http://nucc.org/provider-taxonomy";
const SCT: &str = "http://snomed.info/sct";

async fn value_sets_and_roles(c: &Ctx) {
    let vs = |id: &str, body: Value| {
        let mut v = json!({"resourceType": "ValueSet", "id": id, "status": "active"});
        if let (Some(obj), Value::Object(b)) = (v.as_object_mut(), body) {
            obj.extend(b);
        }
        v
    };
    for v in [
        vs(
            "fam-v1",
            json!({"url": "http://ex.org/ValueSet/fam", "version": "1.0",
            "compose": {"include": [{"system": NUCC, "concept": [{"code": "207Q00000X"}, {"code": "208D00000X"}]}]}}),
        ),
        vs(
            "fam-v2",
            json!({"url": "http://ex.org/ValueSet/fam", "version": "2.0",
            "compose": {"include": [{"system": NUCC, "concept": [{"code": "207Q00000X"}]}]}}),
        ),
        vs(
            "all-nucc",
            json!({"url": "http://ex.org/ValueSet/all-nucc",
            "compose": {"include": [{"system": NUCC}], "exclude": [{"system": NUCC, "concept": [{"code": "363L00000X"}]}]}}),
        ),
        vs(
            "exp",
            json!({"url": "http://ex.org/ValueSet/exp",
            "compose": {"include": [{"system": "http://unused"}]},
            "expansion": {"timestamp": "2024-01-01", "contains": [{"system": SCT, "code": "1"}]}}),
        ),
        vs(
            "imp",
            json!({"url": "http://ex.org/ValueSet/imp",
            "compose": {"include": [{"valueSet": ["http://ex.org/ValueSet/exp"]},
                                    {"system": "http://local", "concept": [{"code": "x"}]}]}}),
        ),
        vs(
            "filtered",
            json!({"url": "http://ex.org/ValueSet/filtered",
            "compose": {"include": [{"system": SCT, "filter": [{"property": "concept", "op": "is-a", "value": "1"}]}]}}),
        ),
    ] {
        c.put(v).await;
    }
    // A ValueSet in another tenant is invisible here.
    let other = tenant("other");
    c.store.create_tenant(&other).await.expect("create tenant");
    c.put_in(
        &other,
        vs(
            "elsewhere",
            json!({"url": "http://ex.org/ValueSet/elsewhere",
            "compose": {"include": [{"system": NUCC}]}}),
        ),
    )
    .await;
    let role = |id: &str, system: Option<&str>, code: Option<&str>| {
        let mut r = json!({"resourceType": "PractitionerRole", "id": id});
        if let Some(code) = code {
            let mut coding = json!({"code": code});
            if let Some(s) = system {
                coding["system"] = json!(s);
            }
            r["specialty"] = json!([{"coding": [coding]}]);
        }
        r
    };
    for r in [
        role("pr1", Some(NUCC), Some("207Q00000X")),
        role("pr2", Some(NUCC), Some("208D00000X")),
        role("pr3", Some(NUCC), Some("363L00000X")),
        role("pr4", Some(SCT), Some("1")),
        role("pr5", Some("http://local"), Some("x")),
        role("pr6", None, None),
        role("pr7", None, Some("207Q00000X")),
    ] {
        c.put(r).await;
    }
}

#[tokio::test]
async fn in_and_not_in_expand_the_tenants_value_sets() {
    for c in stores().await {
        value_sets_and_roles(&c).await;
        check(
            &c,
            "PractitionerRole",
            &[
                (
                    "specialty:in=http://ex.org/ValueSet/fam|1.0",
                    &["pr1", "pr2"],
                ),
                // Without a version, the greatest version (2.0) is used.
                ("specialty:in=http://ex.org/ValueSet/fam", &["pr1"]),
                ("specialty:in=ValueSet/fam-v1", &["pr1", "pr2"]),
                (
                    "specialty:in=http://ex.org/ValueSet/all-nucc",
                    &["pr1", "pr2"],
                ),
                ("specialty:in=http://ex.org/ValueSet/exp", &["pr4"]),
                ("specialty:in=http://ex.org/ValueSet/imp", &["pr4", "pr5"]),
                (
                    "specialty:in=http://ex.org/ValueSet/exp,ValueSet/fam-v2",
                    &["pr1", "pr4"],
                ),
                (
                    "specialty:not-in=http://ex.org/ValueSet/fam|1.0",
                    &["pr3", "pr4", "pr5", "pr6", "pr7"],
                ),
                (
                    "specialty:not-in=http://ex.org/ValueSet/all-nucc",
                    &["pr3", "pr4", "pr5", "pr6", "pr7"],
                ),
                (
                    "specialty:in=http://ex.org/ValueSet/all-nucc&specialty:not-in=ValueSet/fam-v2",
                    &["pr2"],
                ),
            ],
        )
        .await;
        refused(
            &c,
            "PractitionerRole",
            &[
                "specialty:in=http://ex.org/ValueSet/nosuch",
                "specialty:in=http://ex.org/ValueSet/elsewhere",
                "specialty:not-in=ValueSet/nosuch",
                "specialty:in=http://ex.org/ValueSet/fam|9.9",
            ],
            "is not stored in this tenant",
        )
        .await;
        refused(
            &c,
            "PractitionerRole",
            &["specialty:in=http://ex.org/ValueSet/filtered"],
            "terminology server",
        )
        .await;
    }
}

#[tokio::test]
async fn above_and_below_follow_uri_paths() {
    for c in stores().await {
        for (id, url, derived) in [
            (
                "a",
                "http://ex.org/fhir/SearchParameter/a",
                Some("http://ex.org/fhir/SearchParameter/base"),
            ),
            ("b", "http://ex.org/fhir/other/b", None),
            (
                "c",
                "http://ex.org/fhirx/c",
                Some("http://ex.org/fhirx/SearchParameter/base"),
            ),
            ("d", "http://other.org/fhir/d", None),
        ] {
            let mut sp = json!({"resourceType": "SearchParameter", "id": id, "url": url});
            if let Some(d) = derived {
                sp["derivedFrom"] = json!(d);
            }
            c.put(sp).await;
        }
        check(
            &c,
            "SearchParameter",
            &[
                ("url:below=http://ex.org/fhir", &["a", "b"]),
                ("url:below=http://ex.org/fhir/", &["a", "b"]),
                ("url:below=http://ex.org/fhir/SearchParameter/a", &["a"]),
                ("url:below=http://ex.org", &["a", "b", "c"]),
                (
                    "url:above=http://ex.org/fhir/SearchParameter/a/child",
                    &["a"],
                ),
                ("url:above=http://ex.org/fhir/other/b", &["b"]),
                ("url:above=http://ex.org/fhir", &[]),
                ("url=http://ex.org/fhir", &[]),
                // Canonical references compare like uris.
                ("derived-from:below=http://ex.org/fhir", &["a"]),
                (
                    "derived-from:below=http://ex.org/fhirx/SearchParameter",
                    &["c"],
                ),
                (
                    "derived-from:above=http://ex.org/fhir/SearchParameter/base/v2",
                    &["a"],
                ),
                ("derived-from:below=http://nowhere.org", &[]),
            ],
        )
        .await;
        refused(
            &c,
            "SearchParameter",
            &[
                "derived-from:below=SearchParameter/a",
                "derived-from:above=a",
            ],
            "canonical",
        )
        .await;
        // Token `:above` / `:below` (CodeSystem hierarchies): tests/search_hierarchy.rs.
    }
}

async fn organizations(c: &Ctx) {
    const XHTML: &str = "http://www.w3.org/1999/xhtml";
    for org in [
        json!({"resourceType": "Organization", "id": "o1", "name": "Müller Cardiology Clinic",
            "text": {"status": "generated",
                     "div": format!("<div xmlns=\"{XHTML}\"><p>Accepting <b>new</b> patients &amp; referrals</p></div>")}}),
        json!({"resourceType": "Organization", "id": "o2", "name": "Smith & Sons",
            "alias": ["O'Neil Health"], "address": [{"city": "Ann Arbor", "state": "MI"}]}),
        json!({"resourceType": "Organization", "id": "o3", "name": "Blacksmith Partners",
            "telecom": [{"system": "email", "value": "info@blacksmith.example.org"}]}),
        json!({"resourceType": "Organization", "id": "o4", "name": "Other",
            "text": {"status": "generated", "div": format!("<div xmlns=\"{XHTML}\"><p>CLOSED until further notice</p></div>")}}),
    ] {
        c.put(org).await;
    }
    let other = tenant("other");
    c.store.create_tenant(&other).await.expect("create tenant");
    c.put_in(
        &other,
        json!({"resourceType": "Organization", "id": "x1", "name": "Müller Elsewhere"}),
    )
    .await;
}

#[tokio::test]
async fn text_and_content_match_words_case_and_accent_insensitively() {
    for c in stores().await {
        organizations(&c).await;
        check(
            &c,
            "Organization",
            &[
                ("_content=muller", &["o1"]),
                ("_content=MÜLLER", &["o1"]),
                ("_content=müll", &["o1"]),
                ("_content=cardio", &["o1"]),
                ("_content=ology", &[]),
                ("_content=smith", &["o2"]),
                ("_content=blacksmith", &["o3"]),
                ("_content=ann arbor", &["o2"]),
                ("_content=arbor ann", &["o2"]),
                ("_content=ann zzz", &[]),
                ("_content=o'neil", &["o2"]),
                ("_content=neil", &["o2"]),
                ("_content=mi", &["o2"]),
                ("_content=blacksmith.example", &["o3"]),
                ("_content=muller,blacksmith", &["o1", "o3"]),
                ("_content=100%", &[]),
                ("_content=a_b", &[]),
                ("_content=*", &[]),
                // The narrative is part of the content.
                ("_content=patients", &["o1"]),
                ("_text=patients", &["o1"]),
                ("_text=new patients", &["o1"]),
                ("_text=accepting new", &["o1"]),
                ("_text=closed", &["o4"]),
                ("_text=muller", &[]),
                ("_text=smith", &[]),
                // Markup never starts a word: element names and entities do not match.
                ("_text=div", &[]),
                ("_text=amp", &[]),
                ("_text=referrals", &["o1"]),
                // Combined with other criteria (AND) and repeated (AND).
                ("_content=smith&name=smith", &["o2"]),
                ("_content=muller&name=smith", &[]),
                ("_content=clinic&_text=patients", &["o1"]),
                ("_content=clinic&_content=zzz", &[]),
            ],
        )
        .await;
    }
}

#[tokio::test]
async fn content_search_pages_and_counts_exactly() {
    for c in stores().await {
        for i in 0..12 {
            c.put(json!({"resourceType": "Location", "id": format!("l{i:02}"),
                "name": format!("Riverside Clinic {i}")}))
                .await;
        }
        for i in 0..7 {
            c.put(json!({"resourceType": "Location", "id": format!("m{i:02}"),
                "name": format!("Hilltop Office {i}")}))
                .await;
        }
        let query = "_content=riverside&_count=5&_total=accurate";
        let mut seen = Vec::new();
        let mut cursor: Option<PageCursor> = None;
        loop {
            let page = c
                .search_in(&default_tenant(), "Location", query, cursor.as_ref())
                .await;
            assert_eq!(page.total, Some(12), "[{}] total", c.be);
            assert!(page.matches.len() <= 5, "[{}] page size", c.be);
            seen.extend(ids_of(&page.matches));
            assert!(seen.len() <= 12, "[{}] paging does not end", c.be);
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let want: Vec<String> = (0..12).map(|i| format!("l{i:02}")).collect();
        assert_eq!(seen, want, "[{}] every match once, in id order", c.be);
        let sorted = c
            .search("Location", "_content=riverside clinic&_sort=-name&_count=3")
            .await;
        assert_eq!(
            ids_of(&sorted.matches),
            ["l09", "l08", "l07"],
            "[{}] sorted by name descending",
            c.be
        );
    }
}

#[tokio::test]
async fn the_new_criteria_work_inside_chains_and_has() {
    for c in stores().await {
        value_sets_and_roles(&c).await;
        c.put(
            json!({"resourceType": "Practitioner", "id": "doc1", "name": [{"family": "Ångström"}]}),
        )
        .await;
        c.put(json!({"resourceType": "Practitioner", "id": "doc2", "name": [{"family": "Berg"}]}))
            .await;
        c.put(json!({"resourceType": "PractitionerRole", "id": "link1",
            "practitioner": {"reference": "Practitioner/doc1"},
            "specialty": [{"coding": [{"system": SCT, "code": "1"}]}],
            "extension": [new_patients("yes", "Organization/n1")]}))
            .await;
        c.put(json!({"resourceType": "PractitionerRole", "id": "link2",
            "practitioner": {"reference": "Practitioner/doc2"},
            "specialty": [{"coding": [{"system": NUCC, "code": "207Q00000X"}]}],
            "extension": [new_patients("no", "Organization/n1")]}))
            .await;
        check(
            &c,
            "PractitionerRole",
            &[
                ("practitioner._content=angstrom", &["link1"]),
                ("practitioner._content=berg", &["link2"]),
                ("practitioner._content=nobody", &[]),
            ],
        )
        .await;
        check(
            &c,
            "Practitioner",
            &[
                ("_has:PractitionerRole:practitioner:specialty:in=ValueSet/exp", &["doc1"]),
                ("_has:PractitionerRole:practitioner:specialty:in=ValueSet/fam-v2", &["doc2"]),
                (
                    "_has:PractitionerRole:practitioner:new-patient-and-from-network=no$Organization/n1",
                    &["doc2"],
                ),
                (
                    "_has:PractitionerRole:practitioner:new-patient-and-from-network=no$Organization/n9",
                    &[],
                ),
            ],
        )
        .await;
    }
}
