//! `SearchQuery::parse`: every parameter type, prefix and modifier, OR/AND, escaping, chains,
//! `_has`, result parameters, unknown parameters and malformed input.

mod describe;

use std::sync::OnceLock;

use conformance::Registry;
use search::{SearchError, SearchLimits, SearchQuery, Summary, Total};

fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(Registry::builtin)
}

fn pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((n, v)) => (percent_decode(n), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

fn parse(ty: &str, query: &str) -> Result<SearchQuery, SearchError> {
    SearchQuery::parse(ty, &pairs(query), registry())
}

/// The criteria of a successful parse, one rendering per criterion, joined by ` & `.
fn criteria(ty: &str, query: &str) -> String {
    match parse(ty, query) {
        Ok(q) => {
            let mut out: Vec<String> = q
                .criteria
                .iter()
                .map(|c| describe::filter(&c.filter))
                .collect();
            out.extend(
                q.unknown
                    .iter()
                    .map(|u| format!("UNKNOWN {}: {}", u.name, u.reason)),
            );
            out.join(" & ")
        }
        Err(e) => format!("ERROR {e}"),
    }
}

fn check(cases: &[(&str, &str, &str)]) {
    let mut failures = Vec::new();
    for (ty, query, want) in cases {
        let got = criteria(ty, query);
        if got != *want {
            failures.push(format!("{ty}?{query}\n   got:  {got}\n   want: {want}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn every_parameter_type_parses() {
    check(&[
        // string
        ("Practitioner", "name=Müller", "name=str(Müller~muller)"),
        ("Organization", "name=Acme%20", "name=str(Acme ~acme)"),
        // token, all system forms
        ("Practitioner", "identifier=http://hl7.org/fhir/sid/us-npi|1234567893", "identifier=tok(http://hl7.org/fhir/sid/us-npi|1234567893)"),
        ("Practitioner", "identifier=|abc", "identifier=tok(-|abc)"),
        ("Practitioner", "identifier=http://sys|", "identifier=tok(http://sys|*)"),
        ("Practitioner", "active=true", "active=tok(*|true)"),
        ("Organization", "_id=o1,o2", "_id=tok(*|o1),tok(*|o2)"),
        // reference, all forms
        ("PractitionerRole", "practitioner=Practitioner/p1", "practitioner=ref(Practitioner/p1)"),
        ("PractitionerRole", "practitioner=p1", "practitioner=ref(?/p1)"),
        ("PractitionerRole", "organization=Organization/o1/_history/2", "organization=ref(Organization/o1/_history/2)"),
        (
            "PractitionerRole",
            "organization=https://x.org/fhir/Organization/o1",
            "organization=ref(Organization/o1 @https://x.org/fhir/Organization/o1)",
        ),
        // date with prefixes
        ("Organization", "_lastUpdated=2020", "_lastUpdated=date(eq 2020-01-01T00:00:00Z..2021-01-01T00:00:00Z)"),
        ("Organization", "_lastUpdated=gt2020-03", "_lastUpdated=date(gt 2020-03-01T00:00:00Z..2020-04-01T00:00:00Z)"),
        (
            "Organization",
            "_lastUpdated=le2020-03-04T10:00:00+01:00",
            "_lastUpdated=date(le 2020-03-04T09:00:00Z..2020-03-04T09:00:01Z)",
        ),
        ("Practitioner", "period=sa2021-01-01", "period=date(sa 2021-01-01T00:00:00Z..2021-01-02T00:00:00Z)"),
        // number with implicit precision and every prefix
        ("InsurancePlan", "general-cost-groupsize=100", "general-cost-groupsize=num(eq 100 [99.5, 100.5))"),
        ("InsurancePlan", "general-cost-groupsize=ne100", "general-cost-groupsize=num(ne 100 [99.5, 100.5))"),
        ("InsurancePlan", "general-cost-groupsize=lt1e2", "general-cost-groupsize=num(lt 1e2 [50, 150))"),
        ("InsurancePlan", "general-cost-groupsize=ge2.50", "general-cost-groupsize=num(ge 2.50 [2.495, 2.505))"),
        ("InsurancePlan", "general-cost-groupsize=eb5", "general-cost-groupsize=num(eb 5 [4.5, 5.5))"),
        ("InsurancePlan", "general-cost-groupsize=ap5", "general-cost-groupsize=num(ap 5 [4.5, 5.5))"),
        // quantity
        (
            "InsurancePlan",
            "general-cost-value=gt5.4|urn:iso:std:iso:4217|USD",
            "general-cost-value=qty(gt 5.4|urn:iso:std:iso:4217|USD)",
        ),
        ("SearchParameter", "context-quantity=5||mg", "context-quantity=qty(eq 5|*|mg)"),
        // uri
        ("Organization", "_profile=http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/plannet-Organization",
            "_profile=uri(http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/plannet-Organization)"),
        ("SearchParameter", "url:below=http://hl7.org/fhir/us", "url:below=uri(http://hl7.org/fhir/us)"),
        // composite (token $ token), with escapes in a component
        ("Group", "characteristic-value=gender$female", "characteristic-value=comp(tok(*|gender) $ tok(*|female))"),
        ("Group", r"characteristic-value=a\$b$c", "characteristic-value=comp(tok(*|a$b) $ tok(*|c))"),
        // special
        ("Location", "near=42.25|-83.69|10|mi", "near=near(42.25,-83.69,Some(16.09344))"),
        ("Location", "near=42.25|-83.69", "near=near(42.25,-83.69,None)"),
        // composite with typed components: token $ quantity (with prefix), token $ reference
        ("SearchParameter", "context-type-quantity=focus$gt5||mg", "context-type-quantity=comp(tok(*|focus) $ qty(gt 5|*|mg))"),
        (
            "PractitionerRole",
            "new-patient-and-from-network=http://x|yes$Organization/o1,no$o2",
            "new-patient-and-from-network=comp(tok(http://x|yes) $ ref(Organization/o1)),comp(tok(*|no) $ ref(?/o2))",
        ),
        ("Group", "characteristic-value=gender", "ERROR parameter `characteristic-value`: invalid composite `gender`: expected 2 `$`-separated components, found 1"),
        ("Group", "characteristic-value=a$b$c", "ERROR parameter `characteristic-value`: invalid composite `a$b$c`: expected 2 `$`-separated components, found 3"),
        ("SearchParameter", "context-type-quantity=focus$xx5", "ERROR parameter `context-type-quantity`: invalid quantity `xx5`: unknown prefix `xx` (expected eq, ne, gt, lt, ge, le, sa, eb or ap)"),
        // `_text` and `_content` are string parameters without an expression in R4; the store
        // answers them from the narrative / whole resource as normalised free text.
        ("Organization", "_text=Cardiology  Clinic", "_text=text(cardiology clinic)"),
        ("Organization", "_content=x,Ünïon", "_content=text(x),text(union)"),
        ("Organization", "_content:exact=x", "ERROR parameter `_content:exact`: modifier `:exact` is not supported on _content parameters"),
        ("Organization", "_text=%20", "ERROR parameter `_text`: invalid text ` `: empty text"),
    ]);
}

#[test]
fn every_modifier_parses_on_the_types_it_applies_to() {
    check(&[
        ("Practitioner", "name:exact=Smith", "name:exact=str(Smith~smith)"),
        ("Practitioner", "name:contains=mit", "name:contains=str(mit~mit)"),
        ("Practitioner", "name:missing=true", "name:missing=missing(true)"),
        ("Organization", "_lastUpdated:missing=false", "_lastUpdated:missing=missing(false)"),
        ("PractitionerRole", "specialty:text=Family%20Médicine", "specialty:text=text(family medicine)"),
        ("PractitionerRole", "specialty:not=http://nucc.org/provider-taxonomy|207Q00000X", "specialty:not=tok(http://nucc.org/provider-taxonomy|207Q00000X)"),
        ("PractitionerRole", "specialty:above=http://snomed.info/sct|123", "specialty:above=hier(http://snomed.info/sct|123)"),
        ("PractitionerRole", "specialty:below=http://snomed.info/sct|123", "specialty:below=hier(http://snomed.info/sct|123)"),
        ("PractitionerRole", "specialty:below=123", "ERROR parameter `specialty:below`: invalid token `123`: `:above` / `:below` need `system|code`: the system names the CodeSystem whose hierarchy is searched"),
        ("PractitionerRole", "specialty:in=http://example.org/ValueSet/x", "specialty:in=valueset(http://example.org/ValueSet/x)"),
        ("PractitionerRole", "specialty:not-in=http://example.org/ValueSet/x|1.0", "specialty:not-in=valueset(http://example.org/ValueSet/x|1.0)"),
        ("PractitionerRole", "specialty:in=ValueSet/vs1", "specialty:in=valueset(ValueSet/vs1)"),
        ("PractitionerRole", "specialty:in=vs1", "ERROR parameter `specialty:in`: invalid ValueSet reference `vs1`: expected a ValueSet canonical URL (optionally |version) or ValueSet/id"),
        ("Practitioner", "name:in=http://example.org/ValueSet/x", "ERROR parameter `name:in`: modifier `:in` is not supported on string parameters"),
        (
            "Practitioner",
            "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|NPI|1234567893",
            "identifier:of-type=oftype(http://terminology.hl7.org/CodeSystem/v2-0203|NPI|1234567893)",
        ),
        ("PractitionerRole", "practitioner:identifier=http://hl7.org/fhir/sid/us-npi|123", "practitioner:identifier=ident(http://hl7.org/fhir/sid/us-npi|123)"),
        ("PractitionerRole", "practitioner:Practitioner=p1", "practitioner:Practitioner=ref(Practitioner/p1)"),
        ("Organization", "_profile:below=http://hl7.org/fhir/us", "_profile:below=uri(http://hl7.org/fhir/us)"),
        ("Organization", "_profile:above=http://hl7.org/fhir/us/a/b", "_profile:above=uri(http://hl7.org/fhir/us/a/b)"),
        ("Organization", "partof:below=Organization/o1", "partof:below=ref(Organization/o1)"),
    ]);
}

#[test]
fn comma_is_or_repetition_is_and_and_escapes_are_honoured() {
    check(&[
        ("Practitioner", "name=a,b", "name=str(a~a),str(b~b)"),
        ("Practitioner", "name=a&name=b", "name=str(a~a) & name=str(b~b)"),
        ("Practitioner", r"name=a\,b", "name=str(a,b~a,b)"),
        ("Practitioner", r"name=a\\,b", r"name=str(a\~a\),str(b~b)"),
        ("Practitioner", r"identifier=sys|a\|b", "identifier=tok(sys|a|b)"),
        ("Practitioner", r"identifier=a\,b,c", "identifier=tok(*|a,b),tok(*|c)"),
        ("Organization", "_lastUpdated=ge2020&_lastUpdated=lt2021", "_lastUpdated=date(ge 2020-01-01T00:00:00Z..2021-01-01T00:00:00Z) & _lastUpdated=date(lt 2021-01-01T00:00:00Z..2022-01-01T00:00:00Z)"),
    ]);
}

#[test]
fn chains_resolve_through_reference_targets_at_any_depth() {
    check(&[
        ("PractitionerRole", "practitioner.name=smith", "practitioner->[Practitioner:name=str(smith~smith)]"),
        ("PractitionerRole", "practitioner:Practitioner.name=smith", "practitioner->[Practitioner:name=str(smith~smith)]"),
        (
            "PractitionerRole",
            "location.organization.name=acme",
            "location->[Location:organization->[Organization:name=str(acme~acme)]]",
        ),
        (
            "OrganizationAffiliation",
            "participating-organization:Organization.partof:Organization.name:exact=Acme",
            "participating-organization->[Organization:partof->[Organization:name:exact=str(Acme~acme)]]",
        ),
        ("PractitionerRole", "location.address-city=Boston", "location->[Location:address-city=str(Boston~boston)]"),
        ("PractitionerRole", "practitioner.identifier=sys|1", "practitioner->[Practitioner:identifier=tok(sys|1)]"),
        // A chain ending in a parameter no target defines is unknown, not an error.
        ("PractitionerRole", "practitioner.nosuch=1", "UNKNOWN practitioner.nosuch: chained parameter `nosuch` is not defined on any target of `practitioner` (Practitioner)"),
        // Errors: chaining a non-reference, a non-type modifier before the dot, a wrong type.
        ("PractitionerRole", "specialty.name=x", "ERROR parameter `specialty.name`: `specialty` is a token parameter and cannot be chained"),
        ("PractitionerRole", "practitioner:exact.name=x", "ERROR parameter `practitioner:exact.name`: only a resource type modifier may precede a chain, found `:exact` on `practitioner`"),
        // Six links are fine, a seventh is refused rather than fanned out.
        (
            "Location",
            "partof.partof.partof.partof.partof.partof.name=x",
            "partof->[Location:partof->[Location:partof->[Location:partof->[Location:partof->[Location:partof->[Location:name=str(x~x)]]]]]]",
        ),
        (
            "Location",
            "partof.partof.partof.partof.partof.partof.partof.name=x",
            "ERROR parameter `partof.partof.partof.partof.partof.partof.partof.name`: chains and `_has` may nest at most 6 levels",
        ),
        (
            "VerificationResult",
            "target.target.target.target.target.target.target.target.target.target.target.target.target.target.target.target.target.target.target.target.target.target.target.target.target=x",
            "ERROR parameter `target.target.target.target.target.target.target.target.target.target.target.target.target.target.target.target.target.target.target.target.target.target.target.target.target`: chains and `_has` may nest at most 6 levels",
        ),
        ("PractitionerRole", "practitioner:Location.name=x", "ERROR parameter `practitioner:Location.name`: `practitioner` cannot refer to Location (targets: Practitioner)"),
    ]);
}

#[test]
fn has_parses_including_nested_has() {
    check(&[
        ("Practitioner", "_has:PractitionerRole:practitioner:specialty=sys|x", "has(PractitionerRole.practitioner: specialty=tok(sys|x))"),
        (
            "Practitioner",
            "_has:PractitionerRole:practitioner:location.address-state=MA",
            "has(PractitionerRole.practitioner: location->[Location:address-state=str(MA~ma)])",
        ),
        (
            "Practitioner",
            "_has:PractitionerRole:practitioner:_has:CareTeam:participant:status=active",
            "has(PractitionerRole.practitioner: has(CareTeam.participant: status=tok(*|active)))",
        ),
        ("Organization", "_has:PractitionerRole:organization:active=true", "has(PractitionerRole.organization: active=tok(*|true))"),
        ("Practitioner", "_has:PractitionerRole:nosuch:active=true", "UNKNOWN _has:PractitionerRole:nosuch:active: unknown search parameter `nosuch` on PractitionerRole"),
        ("Practitioner", "_has:PractitionerRole:practitioner:nosuch=1", "UNKNOWN _has:PractitionerRole:practitioner:nosuch: unknown search parameter `nosuch` on PractitionerRole"),
        ("Practitioner", "_has:PractitionerRole:practitioner=1", "ERROR parameter `_has:PractitionerRole:practitioner`: `_has:PractitionerRole:practitioner` must be `_has:Type:reference:parameter`"),
        ("Practitioner", "_has:practitionerRole:practitioner:active=1", "ERROR parameter `_has:practitionerRole:practitioner:active`: `_has:practitionerRole:practitioner:active` must be `_has:Type:reference:parameter`"),
        ("Practitioner", "_has:PractitionerRole:location:active=true", "ERROR parameter `_has:PractitionerRole:location:active`: `PractitionerRole.location` in `_has` cannot refer to Practitioner (targets: Location)"),
        ("Practitioner", "_has:PractitionerRole:specialty:active=true", "ERROR parameter `_has:PractitionerRole:specialty:active`: `PractitionerRole.specialty` in `_has` is not a reference parameter"),
    ]);
}

#[test]
fn malformed_values_and_modifiers_are_errors_that_say_what_is_wrong() {
    check(&[
        ("Organization", "_lastUpdated=2020-13", "ERROR parameter `_lastUpdated`: invalid date `2020-13`: month 13 is not between 01 and 12"),
        ("Organization", "_lastUpdated=xx2020", "ERROR parameter `_lastUpdated`: invalid date `xx2020`: unknown prefix `xx` (expected eq, ne, gt, lt, ge, le, sa, eb or ap)"),
        ("Organization", "_lastUpdated=gt", "ERROR parameter `_lastUpdated`: invalid date ``: empty date"),
        ("Organization", "_lastUpdated=2020,", "ERROR parameter `_lastUpdated`: invalid date ``: empty date"),
        ("InsurancePlan", "general-cost-groupsize=abc", "ERROR parameter `general-cost-groupsize`: invalid number `abc`: unknown prefix `ab` (expected eq, ne, gt, lt, ge, le, sa, eb or ap)"),
        ("InsurancePlan", "general-cost-groupsize=1x", "ERROR parameter `general-cost-groupsize`: invalid number `1x`: expected a number such as 12, -3.5 or 1e3"),
        ("InsurancePlan", "general-cost-groupsize=gt", "ERROR parameter `general-cost-groupsize`: invalid number ``: expected a number such as 12, -3.5 or 1e3"),
        ("InsurancePlan", "general-cost-value=5|x", "ERROR parameter `general-cost-value`: invalid quantity `5|x`: expected number, number|system|code or number||code"),
        ("Practitioner", "identifier=a|b|c", "ERROR parameter `identifier`: invalid token `a|b|c`: more than one unescaped `|` (escape a literal one as `\\|`)"),
        ("Practitioner", "identifier=|", "ERROR parameter `identifier`: invalid token `|`: neither a system nor a code around `|`"),
        ("Practitioner", "identifier=a,,b", "ERROR parameter `identifier`: invalid token ``: empty token"),
        ("Practitioner", r"name=a\x", r"ERROR parameter `name`: invalid escape in `a\x`: `\x` is not an escape (only \, \| \$ \\ are)"),
        ("Practitioner", r"name=a\", r"ERROR parameter `name`: invalid escape in `a\`: ends with a lone `\`"),
        ("Practitioner", "name=%20%20", "ERROR parameter `name`: invalid string `  `: empty string"),
        ("PractitionerRole", "practitioner=practitioner/1", "ERROR parameter `practitioner`: invalid reference `practitioner/1`: `practitioner` is not a resource type name"),
        ("PractitionerRole", "practitioner:Practitioner=Organization/1", "ERROR parameter `practitioner:Practitioner`: invalid reference `Organization/1`: type `Organization` contradicts the `:Practitioner` modifier"),
        ("PractitionerRole", "practitioner:Location=1", "ERROR parameter `practitioner:Location`: `practitioner` cannot refer to Location (targets: Practitioner)"),
        ("Practitioner", "name:missing=yes", "ERROR parameter `name:missing`: invalid :missing flag `yes`: expected true or false"),
        ("Practitioner", "name:text=x", "ERROR parameter `name:text`: modifier `:text` is not supported on string parameters"),
        ("Practitioner", "name:bogus=x", "ERROR parameter `name:bogus`: modifier `:bogus` is not supported on string parameters"),
        ("Organization", "_lastUpdated:exact=2020", "ERROR parameter `_lastUpdated:exact`: modifier `:exact` is not supported on date parameters"),
        ("Practitioner", "identifier:contains=x", "ERROR parameter `identifier:contains`: modifier `:contains` is not supported on token parameters"),
        ("Practitioner", "identifier:Practitioner=x", "ERROR parameter `identifier:Practitioner`: modifier `:Practitioner` is not supported on token parameters"),
        ("Practitioner", "identifier:of-type=a|b", "ERROR parameter `identifier:of-type`: invalid of-type token `a|b`: expected type-system|type-code|value, all three non-empty"),
        ("Location", "near=200|0", "ERROR parameter `near`: invalid near `200|0`: latitude 200 is outside -90..90"),
        ("Location", "near=1|2|3|furlongs", "ERROR parameter `near`: invalid near `1|2|3|furlongs`: unit `furlongs` is not km, mi or m"),
        ("Group", "characteristic-value=a", "ERROR parameter `characteristic-value`: invalid composite `a`: expected 2 `$`-separated components, found 1"),
        ("Group", "characteristic-value=a$|", "ERROR parameter `characteristic-value`: invalid token `|`: neither a system nor a code around `|`"),
    ]);
}

#[test]
fn unknown_and_unsupported_parameters_are_recorded_not_rejected() {
    check(&[
        (
            "Practitioner",
            "foo=bar",
            "UNKNOWN foo: unknown search parameter `foo` on Practitioner",
        ),
        (
            "Practitioner",
            "foo:exact=bar&name=x",
            "name=str(x~x) & UNKNOWN foo:exact: unknown search parameter `foo` on Practitioner",
        ),
        (
            "Practitioner",
            "_contained=true",
            "UNKNOWN _contained: `_contained` is not supported",
        ),
        (
            "Practitioner",
            "_filter=name eq x",
            "UNKNOWN _filter: `_filter` is not supported",
        ),
        ("Practitioner", "name=", "UNKNOWN name: empty value ignored"),
        (
            "Location",
            "contains=1",
            "UNKNOWN contains: special parameter `contains` is not supported",
        ),
        ("Practitioner", "_format=json&_pretty=true", ""),
    ]);
}

#[test]
fn strict_handling_names_every_unknown_parameter() {
    let q = parse("Practitioner", "foo=1&name=x&bar:exact=2");
    let got = q.map(|q| q.require_all_understood().map_err(|e| e.to_string()));
    assert_eq!(
        got,
        Ok(Err(
            "unknown or unsupported search parameters: foo, bar:exact".to_owned()
        ))
    );
    let ok = parse("Practitioner", "name=x").map(|q| q.require_all_understood());
    assert_eq!(ok, Ok(Ok(())));
}

#[test]
fn result_parameters_parse() {
    let q = parse(
        "PractitionerRole",
        "_count=10&_total=accurate&_summary=count&_elements=id,specialty&_sort=-_lastUpdated,specialty",
    );
    let Ok(q) = q else { panic!("{q:?}") };
    assert_eq!(q.count, 10);
    assert_eq!(q.total, Some(Total::Accurate));
    assert_eq!(q.summary, Some(Summary::Count));
    assert_eq!(q.elements, ["id", "specialty"]);
    let sort: Vec<(String, bool)> = q
        .sort
        .iter()
        .map(|k| (k.param.code.clone(), k.descending))
        .collect();
    assert_eq!(
        sort,
        [
            ("_lastUpdated".to_owned(), true),
            ("specialty".to_owned(), false)
        ]
    );

    for (summary, want) in [
        ("true", Summary::True),
        ("text", Summary::Text),
        ("data", Summary::Data),
        ("false", Summary::False),
    ] {
        assert_eq!(
            parse("Practitioner", &format!("_summary={summary}")).map(|q| q.summary),
            Ok(Some(want))
        );
    }
    for (total, want) in [("none", Total::None), ("estimate", Total::Estimate)] {
        assert_eq!(
            parse("Practitioner", &format!("_total={total}")).map(|q| q.total),
            Ok(Some(want))
        );
    }
}

#[test]
fn count_defaults_and_is_capped_by_the_limits() {
    let count = |query: &str, limits: SearchLimits| {
        SearchQuery::parse_with_limits("Practitioner", &pairs(query), registry(), limits)
            .map(|q| q.count)
    };
    let default = SearchLimits::default();
    assert_eq!((default.default_count, default.max_count), (50, 1000));
    assert_eq!(count("", default), Ok(50));
    assert_eq!(count("_count=0", default), Ok(0));
    assert_eq!(count("_count=1000", default), Ok(1000));
    assert_eq!(count("_count=5000", default), Ok(1000));
    let small = SearchLimits {
        default_count: 20,
        max_count: 100,
    };
    assert_eq!(count("", small), Ok(20));
    assert_eq!(count("_count=500", small), Ok(100));
}

#[test]
fn malformed_result_parameters_are_errors() {
    check(&[
        ("Practitioner", "_count=-1", "ERROR parameter `_count`: invalid _count `-1`: expected a whole number 0 or more"),
        ("Practitioner", "_count=ten", "ERROR parameter `_count`: invalid _count `ten`: expected a whole number 0 or more"),
        ("Practitioner", "_count=1&_count=2", "ERROR parameter `_count`: may appear only once"),
        ("Practitioner", "_count:exact=1", "ERROR parameter `_count:exact`: modifier `:exact` is not supported on _count parameters"),
        ("Practitioner", "_total=all", "ERROR parameter `_total`: invalid _total `all`: expected none, estimate or accurate"),
        ("Practitioner", "_summary=yes", "ERROR parameter `_summary`: invalid _summary `yes`: expected true, text, data, count or false"),
        ("Practitioner", "_elements=id,,name", "ERROR parameter `_elements`: invalid _elements `id,,name`: `` is not an element name"),
        ("Practitioner", "_elements=na-me", "ERROR parameter `_elements`: invalid _elements `na-me`: `na-me` is not an element name"),
        ("Practitioner", "_sort=name,", "ERROR parameter `_sort`: invalid _sort `name,`: empty sort key"),
        ("Practitioner", "_sort=nosuch", "UNKNOWN _sort: unknown search parameter `nosuch` on Practitioner"),
        ("Location", "_sort=near", "UNKNOWN _sort: cannot sort by special parameter `near`"),
        ("Location", "_sort=-_content", "UNKNOWN _sort: cannot sort by free-text parameter `_content`"),
        ("Group", "_sort=characteristic-value", "UNKNOWN _sort: cannot sort by composite parameter `characteristic-value`"),
    ]);
}

fn includes(ty: &str, query: &str) -> Result<Vec<String>, String> {
    let q = parse(ty, query).map_err(|e| e.to_string())?;
    let render = |kind: &str, i: &search::Include| {
        format!(
            "{kind}{} {}:{}:{}",
            if i.iterate { ":iterate" } else { "" },
            i.source_type.as_deref().unwrap_or("*"),
            i.param.as_ref().map_or("*", |p| p.code.as_str()),
            i.target_type.as_deref().unwrap_or("-")
        )
    };
    let mut out: Vec<String> = q.include.iter().map(|i| render("inc", i)).collect();
    out.extend(q.revinclude.iter().map(|i| render("rev", i)));
    out.extend(
        q.unknown
            .iter()
            .map(|u| format!("UNKNOWN {}={}: {}", u.name, u.value, u.reason)),
    );
    Ok(out)
}

/// (resource type, query, rendered includes or the error message).
type IncludeCase = (
    &'static str,
    &'static str,
    Result<&'static [&'static str], &'static str>,
);

#[test]
fn include_and_revinclude_parse_with_iterate_wildcards_and_targets() {
    let cases: &[IncludeCase] = &[
        ("PractitionerRole", "_include=PractitionerRole:practitioner", Ok(&["inc PractitionerRole:practitioner:-"])),
        ("PractitionerRole", "_include=PractitionerRole:location:Location", Ok(&["inc PractitionerRole:location:Location"])),
        ("PractitionerRole", "_include=*", Ok(&["inc *:*:-"])),
        ("PractitionerRole", "_include=PractitionerRole:*", Ok(&["inc PractitionerRole:*:-"])),
        ("PractitionerRole", "_include:iterate=Location:organization", Ok(&["inc:iterate Location:organization:-"])),
        ("PractitionerRole", "_include:recurse=Location:partof", Ok(&["inc:iterate Location:partof:-"])),
        ("Practitioner", "_revinclude=PractitionerRole:practitioner", Ok(&["rev PractitionerRole:practitioner:-"])),
        ("Practitioner", "_revinclude:iterate=CareTeam:participant", Ok(&["rev:iterate CareTeam:participant:-"])),
        ("Practitioner", "_revinclude=PractitionerRole:nosuch", Ok(&["UNKNOWN _revinclude=PractitionerRole:nosuch: unknown search parameter `nosuch` on PractitionerRole"])),
        ("PractitionerRole", "_include=practitioner", Err("parameter `_include`: invalid _include `practitioner`: expected *, Type:*, Type:parameter or Type:parameter:TargetType")),
        ("PractitionerRole", "_include=a:b:c:d", Err("parameter `_include`: invalid _include `a:b:c:d`: expected *, Type:*, Type:parameter or Type:parameter:TargetType")),
        ("PractitionerRole", "_include=PractitionerRole:specialty", Err("parameter `_include`: invalid _include `PractitionerRole:specialty`: `PractitionerRole.specialty` is not a reference parameter")),
        ("PractitionerRole", "_include=PractitionerRole:location:Organization", Err("parameter `_include`: invalid _include `PractitionerRole:location:Organization`: `PractitionerRole.location` cannot refer to Organization (targets: Location)")),
        ("PractitionerRole", "_include:deep=PractitionerRole:location", Err("parameter `_include:deep`: modifier `:deep` is not supported on _include parameters")),
    ];
    for (ty, query, want) in cases {
        let want = want
            .map(|w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .map_err(str::to_owned);
        assert_eq!(includes(ty, query), want, "{ty}?{query}");
    }
}

#[test]
fn canonical_query_keeps_understood_parameters_only_and_encodes_them() {
    let cases = [
        ("Practitioner", "name=smith&foo=bar", "name=smith&_count=50"),
        (
            "PractitionerRole",
            "specialty=http://nucc.org/provider-taxonomy|207Q00000X&_include=PractitionerRole:practitioner&_count=5000",
            "specialty=http://nucc.org/provider-taxonomy%7C207Q00000X&_include=PractitionerRole:practitioner&_count=1000",
        ),
        (
            "PractitionerRole",
            "_sort=-_lastUpdated&practitioner.name=a b&_include:iterate=Location:partof&_revinclude=OrganizationAffiliation:*&_total=accurate&_summary=data&_elements=id&_format=json",
            "practitioner.name=a%20b&_sort=-_lastUpdated&_include:iterate=Location:partof&_revinclude=OrganizationAffiliation:*&_total=accurate&_summary=data&_elements=id&_count=50",
        ),
        ("Practitioner", "name=a%26b=c", "name=a%26b%3Dc&_count=50"),
    ];
    for (ty, query, want) in cases {
        assert_eq!(
            parse(ty, query).map(|q| q.canonical_query()),
            Ok(want.to_owned()),
            "{ty}?{query}"
        );
    }
}

#[test]
fn parsing_a_canonical_query_again_gives_the_same_query() {
    let queries = [
        (
            "PractitionerRole",
            "specialty=sys|x&location.address-city=Boston&_sort=-_lastUpdated&_count=7",
        ),
        (
            "Practitioner",
            r"name=a\,b,c&_has:PractitionerRole:practitioner:active=true&_include=Practitioner:*",
        ),
    ];
    for (ty, query) in queries {
        let first = parse(ty, query).map_err(|e| e.to_string());
        let Ok(first) = first else {
            panic!("{first:?}")
        };
        let decoded: Vec<(String, String)> = first
            .canonical_query()
            .split('&')
            .map(|p| {
                let (n, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(n), percent_decode(v))
            })
            .collect();
        let second = SearchQuery::parse(ty, &decoded, registry()).map_err(|e| e.to_string());
        assert_eq!(
            second.as_ref().map(|q| q.canonical_query()),
            Ok(first.canonical_query())
        );
        assert_eq!(second.map(|q| q.criteria), Ok(first.criteria));
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() + 1 {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
