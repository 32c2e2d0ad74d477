//! The parser's accepted shapes, and every way it refuses a request (each refusal naming the
//! parameter at fault, since the message is the client's only clue).

use super::*;
use crate::centre::CentreFrom;

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

fn parse(list: &[(&str, &str)]) -> Result<FindQuery, QueryError> {
    FindQuery::parse(&pairs(list))
}

fn org(id: &str) -> Target {
    Target::Reference {
        resource_type: "Organization",
        id: id.to_owned(),
    }
}

#[test]
fn a_name_alone_takes_every_default() {
    let q = parse(&[("name", " Smith ")]).expect("query");
    assert_eq!(
        q,
        FindQuery {
            name: Some("Smith".into()),
            specialty: None,
            networks: vec![],
            plans: vec![],
            centre: None,
            radius_miles: DEFAULT_RADIUS_MILES,
            accepting_new_patients: None,
            languages: vec![],
            provider_type: None,
            sort: Sort::BestMatch,
            count: DEFAULT_COUNT,
            offset: 0,
        }
    );
    assert_eq!(q.bbox(), None);
}

#[test]
fn every_parameter_is_read() {
    let q = parse(&[
        ("specialty", "207RC0000X"),
        ("zip", "06103"),
        ("radius", "10mi"),
        ("network", "Organization/net-a"),
        ("plan", "InsurancePlan/gold"),
        ("accepting-new-patients", "true"),
        ("language", "es"),
        ("type", "individual"),
        ("sort", "distance"),
        ("_count", "50"),
        ("_offset", "100"),
        ("name", "Jones"),
    ])
    .expect("query");
    assert_eq!(
        q.specialty,
        Some(SpecialtyWanted::Code("207RC0000X".into()))
    );
    assert_eq!(
        q.centre.as_ref().map(|c| &c.from),
        Some(&CentreFrom::Zip { zip: "06103" })
    );
    assert_eq!(q.radius_miles, 10.0);
    assert_eq!(q.networks, [org("net-a")]);
    assert_eq!(
        q.plans.first().and_then(Target::reference).as_deref(),
        Some("InsurancePlan/gold")
    );
    assert_eq!(q.accepting_new_patients, Some(true));
    assert_eq!(q.languages, ["es"]);
    assert_eq!(q.provider_type, Some(ProviderType::Individual));
    assert_eq!((q.sort, q.count, q.offset), (Sort::Distance, 50, 100));
    assert!(q.bbox().is_some());
}

#[test]
fn lists_join_commas_and_repeats_without_duplicates() {
    let q = parse(&[
        ("network", "Organization/a, Organization/b"),
        ("network", "Organization/a"),
        ("network", "urn:ids|N-1"),
        ("language", "es,EN-us"),
        ("language", "es"),
    ])
    .expect("query");
    assert_eq!(
        q.networks,
        [
            org("a"),
            org("b"),
            Target::Identifier {
                system: "urn:ids".into(),
                value: "N-1".into()
            }
        ]
    );
    assert_eq!(q.languages, ["es", "en-US"]);
}

#[test]
fn radius_takes_miles_or_kilometres() {
    for (raw, miles) in [
        ("10", 10.0),
        ("10mi", 10.0),
        ("2.5 MI", 2.5),
        ("500", 500.0),
        ("40km", 40.0 / KM_PER_MILE),
    ] {
        let q = parse(&[("near", "41.7|-72.6"), ("radius", raw)]).expect(raw);
        assert!(
            (q.radius_miles - miles).abs() < 1e-12,
            "{raw}: {}",
            q.radius_miles
        );
    }
    let q = parse(&[("near", "41.7|-72.6")]).expect("default");
    assert_eq!(q.radius_miles, DEFAULT_RADIUS_MILES);
}

#[test]
fn format_and_pretty_pass_through_unread() {
    let q = parse(&[("_format", "json"), ("_pretty", "true"), ("name", "Lee")]).expect("query");
    assert_eq!(q.name.as_deref(), Some("Lee"));
}

#[test]
fn city_and_state_resolve_a_centre() {
    let q = parse(&[
        ("city", "Hartford"),
        ("state", "CT"),
        ("specialty", "cardiology"),
    ])
    .expect("query");
    let centre = q.centre.expect("centre");
    assert_eq!((centre.lat, centre.lon), (41.7658, -72.6734));
}

/// A request, the parameter its refusal must name (`None`: the request as a whole), and a
/// phrase of the message.
type Refusal<'a> = (Vec<(&'a str, &'a str)>, Option<&'a str>, &'a str);

/// Every refusal.
#[test]
fn every_malformed_request_is_refused_naming_the_parameter() {
    let many_networks: String = (0..=MAX_LIST_VALUES)
        .map(|i| format!("Organization/n{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let long_name = "a".repeat(MAX_TEXT_CHARS + 1);
    let cases: Vec<Refusal> = vec![
        (vec![("foo", "1")], Some("foo"), "unknown parameter"),
        (vec![("name:exact", "Lee")], Some("name:exact"), "modifiers"),
        (
            vec![("_cursor", "abc")],
            Some("_cursor"),
            "unknown parameter",
        ),
        (vec![("name", "  ")], Some("name"), "empty"),
        (
            vec![("name", "a"), ("name", "b")],
            Some("name"),
            "only once",
        ),
        (
            vec![("name", "a"), ("_count", "5"), ("_count", "5")],
            Some("_count"),
            "only once",
        ),
        (
            vec![("zip", "06103"), ("zip", "06103")],
            Some("zip"),
            "only once",
        ),
        (vec![("name", "!!!")], Some("name"), "no letter"),
        (
            vec![("name", long_name.as_str())],
            Some("name"),
            "longer than",
        ),
        (vec![("specialty", "12345")], Some("specialty"), "NUCC"),
        (
            vec![("network", "InsurancePlan/y")],
            Some("network"),
            "Organization",
        ),
        (
            vec![("plan", "Organization/x")],
            Some("plan"),
            "InsurancePlan",
        ),
        (vec![("network", "x")], Some("network"), "neither"),
        (
            vec![("network", "Organization/a,,Organization/b")],
            Some("network"),
            "empty",
        ),
        (
            vec![("network", many_networks.as_str())],
            Some("network"),
            "more than",
        ),
        (
            vec![("language", "english")],
            Some("language"),
            "not a language",
        ),
        (vec![("language", "es,")], Some("language"), "empty"),
        (vec![("near", "91|0")], Some("near"), "latitude"),
        (vec![("near", "41")], Some("near"), "latitude|longitude"),
        (vec![("zip", "abc")], Some("zip"), "not a US ZIP"),
        (
            vec![("zip", "99999")],
            Some("zip"),
            "not in the server's table",
        ),
        (vec![("city", "Hartford")], Some("city"), "`state`"),
        (
            vec![("state", "CT"), ("name", "Lee")],
            Some("state"),
            "`city`",
        ),
        (
            vec![("city", "Gotham"), ("state", "NY")],
            Some("city"),
            "not in the server's table",
        ),
        (
            vec![("near", "41|-72"), ("zip", "06103")],
            Some("zip"),
            "only one of",
        ),
        (
            vec![("zip", "06103"), ("city", "Hartford"), ("state", "CT")],
            Some("city"),
            "only one of",
        ),
        (
            vec![("near", "41|-72"), ("radius", "0")],
            Some("radius"),
            "out of range",
        ),
        (
            vec![("near", "41|-72"), ("radius", "-1")],
            Some("radius"),
            "out of range",
        ),
        (
            vec![("near", "41|-72"), ("radius", "501")],
            Some("radius"),
            "out of range",
        ),
        (
            vec![("near", "41|-72"), ("radius", "805km")],
            Some("radius"),
            "out of range",
        ),
        (
            vec![("near", "41|-72"), ("radius", "abc")],
            Some("radius"),
            "not a distance",
        ),
        (
            vec![("near", "41|-72"), ("radius", "10 miles")],
            Some("radius"),
            "not a distance",
        ),
        (
            vec![("near", "41|-72"), ("radius", "NaN")],
            Some("radius"),
            "not a distance",
        ),
        (
            vec![("name", "Lee"), ("radius", "10")],
            Some("radius"),
            "needs a centre",
        ),
        (
            vec![("name", "Lee"), ("accepting-new-patients", "yes")],
            Some("accepting-new-patients"),
            "`true` or `false`",
        ),
        (
            vec![("name", "Lee"), ("accepting-new-patients", "TRUE")],
            Some("accepting-new-patients"),
            "`true` or `false`",
        ),
        (
            vec![("name", "Lee"), ("type", "doctor")],
            Some("type"),
            "`individual`",
        ),
        (
            vec![("name", "Lee"), ("sort", "name")],
            Some("sort"),
            "`best_match`",
        ),
        (
            vec![("name", "Lee"), ("sort", "distance")],
            Some("sort"),
            "needs a centre",
        ),
        (
            vec![("name", "Lee"), ("_count", "0")],
            Some("_count"),
            "from 1 to 100",
        ),
        (
            vec![("name", "Lee"), ("_count", "101")],
            Some("_count"),
            "from 1 to 100",
        ),
        (
            vec![("name", "Lee"), ("_count", "1.5")],
            Some("_count"),
            "from 1 to 100",
        ),
        (
            vec![("name", "Lee"), ("_count", "+5")],
            Some("_count"),
            "from 1 to 100",
        ),
        (
            vec![("name", "Lee"), ("_offset", "-1")],
            Some("_offset"),
            "0 or more",
        ),
        (
            vec![("name", "Lee"), ("_offset", "4294967296")],
            Some("_offset"),
            "0 or more",
        ),
        (vec![], None, "say what to find"),
        (
            vec![("type", "individual"), ("language", "es")],
            None,
            "say what to find",
        ),
        (
            vec![("accepting-new-patients", "true")],
            None,
            "say what to find",
        ),
    ];
    for (list, param, phrase) in cases {
        let err = match parse(&list) {
            Ok(q) => panic!("{list:?} was accepted: {q:?}"),
            Err(e) => e,
        };
        assert_eq!(err.parameter(), param, "{list:?}: {err}");
        assert!(err.message().contains(phrase), "{list:?}: {err}");
        if let Some(param) = param {
            assert!(err.message().contains(param), "{list:?}: {err}");
        }
    }
}

#[test]
fn each_criterion_alone_is_enough() {
    for list in [
        vec![("name", "Lee")],
        vec![("specialty", "Cardiology")],
        vec![("near", "41|-72")],
        vec![("zip", "06103")],
        vec![("city", "Boston"), ("state", "MA")],
        vec![("network", "Organization/n")],
        vec![("plan", "InsurancePlan/p")],
    ] {
        assert!(parse(&list).is_ok(), "{list:?}");
    }
}

#[test]
fn link_pairs_parse_back_to_the_same_query_without_the_offset() {
    for list in [
        vec![("name", "Dr. José Smith"), ("_offset", "40")],
        vec![
            ("specialty", "207rc0000x"),
            ("near", "41.765|-72.673"),
            ("radius", "40km"),
            ("network", r"urn:x|a\,b,Organization/n"),
            ("plan", "InsurancePlan/p"),
            ("accepting-new-patients", "false"),
            ("language", "es,zh-hant"),
            ("type", "pharmacy"),
            ("sort", "distance"),
            ("_count", "5"),
        ],
        vec![
            ("city", "st louis"),
            ("state", "mo"),
            ("specialty", "Family Medicine"),
        ],
    ] {
        let q = parse(&list).expect("query");
        let links = q.link_pairs();
        assert!(links.iter().all(|(n, _)| n != "_offset"), "{links:?}");
        let back = FindQuery::parse(&links).expect("links parse");
        assert_eq!(back, FindQuery { offset: 0, ..q }, "{links:?}");
    }
}

#[test]
fn link_pairs_are_canonical() {
    let q = parse(&[("zip", "06103"), ("name", "Lee"), ("language", "ES")]).expect("query");
    assert_eq!(
        q.link_pairs(),
        pairs(&[
            ("name", "Lee"),
            ("zip", "06103"),
            ("radius", "25"),
            ("language", "es"),
            ("_count", "20"),
        ])
    );
}
