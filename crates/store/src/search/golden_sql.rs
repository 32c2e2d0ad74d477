//! Golden files for the generated search SQL (`golden/*.sql`), so a change to the SQL shape
//! shows up in review. Bound values are listed after the statement; none appear in its text.
//! Regenerate with `UPDATE_GOLDEN=1 cargo test -p store --lib golden`.

use chrono::{TimeZone, Utc};
use conformance::Registry;
use search::SearchQuery;

use super::plan::Plan;

const CASES: &[(&str, &str, &str)] = &[
    (
        "string_sort",
        "Practitioner",
        "family=smith&_sort=-family&_count=10",
    ),
    (
        "chain",
        "PractitionerRole",
        "location.address-city=ann&practitioner.gender=female",
    ),
    (
        "has_nested",
        "Organization",
        "_has:Location:organization:_has:PractitionerRole:location:practitioner=Practitioner/p1",
    ),
    (
        "not_missing_total",
        "Practitioner",
        "gender:not=male&name:missing=false&_total=accurate",
    ),
    (
        "has_walk",
        "Practitioner",
        "_has:PractitionerRole:practitioner:specialty=207Q00000X&gender=female",
    ),
    (
        "chain_walk",
        "PractitionerRole",
        "location.address-city=ann&active=true&_count=20",
    ),
    ("near", "Location", "near=42.28|-83.74|10|km"),
    ("string_walk", "Practitioner", "name=mar,smi&gender=female"),
    (
        "token_from_index",
        "PractitionerRole",
        "specialty=207Q00000X&active=true&_count=20&_total=accurate",
    ),
    (
        "date_prefixes",
        "Basic",
        "created=ge2020&created=lt2021-06,sa2022",
    ),
    // As an anonymous caller, who sees no restricted content.
    (
        "restricted_anonymous",
        "Practitioner",
        "_has:PractitionerRole:practitioner:specialty=207Q00000X&_count=20",
    ),
    (
        "restricted_anonymous_string",
        "Practitioner",
        "name=mor&_count=20",
    ),
    (
        "restricted_anonymous_chain",
        "PractitionerRole",
        "location.address-city=Omaha&_count=20",
    ),
    (
        "restricted_anonymous_near",
        "Location",
        "near=41.2565|-95.9345|10|km&_count=20",
    ),
    (
        "restricted_anonymous_total",
        "Practitioner",
        "gender=female&_total=accurate&_count=20",
    ),
    (
        "restricted_anonymous_token",
        "PractitionerRole",
        "specialty=207Q00000X&_count=20",
    ),
    // As a client restricted content may refuse (organization and purpose of use given).
    (
        "restricted_client",
        "PractitionerRole",
        "location.address-city=ann&_include=PractitionerRole:location",
    ),
];

/// How the case is rendered: in a tenant without restricted content, except the
/// restricted-content cases (in a tenant with some, for the viewer [`seer`] names).
fn sight(name: &str) -> crate::restricted::Sight {
    crate::restricted::Sight::new(seer(name), name.starts_with("restricted"))
}

/// Who the case is rendered for: fhirdir itself, except the restricted-content cases.
fn seer(name: &str) -> restrict::Seer {
    if name.starts_with("restricted_anonymous") {
        restrict::Seer::Nothing
    } else if name.starts_with("restricted") {
        restrict::Seer::Client {
            organizations: vec![
                "Organization/o".into(),
                "https://h/fhir/t/Organization/o".into(),
            ],
            purposes: vec!["TREAT".into()],
        }
    } else {
        restrict::Seer::Everything
    }
}

fn render(name: &str, rt: &str, query: &str) -> String {
    let registry = Registry::builtin();
    let pairs: Vec<(String, String)> = query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    let q = SearchQuery::parse(rt, &pairs, &registry).expect("query parses");
    let now = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid instant");
    let plan = Plan::new("default", &sight(name), &q, None, now).expect("plan");
    let mut out = format!("-- {rt}?{query}\n");
    let probe = plan.walk.as_ref().map(|w| &w.probe);
    let rows = plan.walk.as_ref().map(|w| &w.rows);
    let lookup = plan.walk.as_ref().and_then(|w| w.lookup.as_ref());
    let scalar = plan.walk.as_ref().and_then(|w| w.scalar.as_ref());
    for (what, sql) in [
        ("page", plan.page.as_ref()),
        ("walk probe", probe),
        ("row walk page", rows),
        ("lookup walk page", lookup),
        ("scalar walk page", scalar),
        ("count", plan.count.as_ref()),
    ] {
        if let Some(sql) = sql {
            let (text, args) = sql.debug();
            out.push_str(&format!("-- {what}\n{text}\n-- binds: {args:?}\n"));
        }
    }
    out
}

/// Compares `got` with `golden/{name}.sql`, or writes it there under `UPDATE_GOLDEN=1`.
pub(crate) fn check_golden(name: &str, got: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/search/golden");
    let path = dir.join(format!("{name}.sql"));
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&path, got).expect("write golden file");
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        got,
        want,
        "{} differs; run with UPDATE_GOLDEN=1 to accept",
        path.display()
    );
}

#[test]
fn generated_sql_matches_the_golden_files() {
    for (name, rt, query) in CASES {
        check_golden(name, &render(name, rt, query));
    }
}
