//! `index_values`: each FHIR datatype a search parameter type can index.

use chrono::{DateTime, Utc};
use conformance::SearchParamType as T;
use search::date::format_instant;
use search::{index_values, DateRange, IndexValue};
use serde_json::{json, Value};

fn render(v: &IndexValue) -> String {
    let o = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".to_owned());
    let d = |t: &DateTime<Utc>| {
        if *t == DateRange::min_bound() {
            "MIN".to_owned()
        } else if *t == DateRange::max_bound() {
            "MAX".to_owned()
        } else {
            format_instant(*t)
        }
    };
    match v {
        IndexValue::String { normalized, exact } => format!("str({exact}~{normalized})"),
        IndexValue::Token {
            system,
            code,
            display,
        } => format!("tok({}|{} '{}')", o(system), o(code), o(display)),
        IndexValue::IdentifierOfType {
            type_system,
            type_code,
            value,
        } => {
            format!("oftype({}|{type_code}|{value})", o(type_system))
        }
        IndexValue::Reference {
            target_type,
            target_id,
            version,
            url,
            identifier_system,
            identifier_value,
        } => format!(
            "ref({}/{}/{} @{} #{}|{})",
            o(target_type),
            o(target_id),
            o(version),
            o(url),
            o(identifier_system),
            o(identifier_value)
        ),
        IndexValue::Date { low, high } => format!("date({}..{})", d(low), d(high)),
        IndexValue::Number { value, low, high } => format!("num({value} [{low}, {high}))"),
        IndexValue::Quantity {
            system,
            code,
            unit,
            value,
            low,
            high,
        } => {
            let bound = |x: f64| {
                if x == f64::MIN {
                    "MIN".to_owned()
                } else if x == f64::MAX {
                    "MAX".to_owned()
                } else {
                    x.to_string()
                }
            };
            format!(
                "qty({value:?} {}|{} '{}' [{}, {}))",
                o(system),
                o(code),
                o(unit),
                bound(*low),
                bound(*high)
            )
        }
        IndexValue::Uri(u) => format!("uri({u})"),
        IndexValue::Geo { lat, lon } => format!("geo({lat},{lon})"),
    }
}

fn check(cases: &[(T, Value, Option<&str>, &[&str])]) {
    let mut failures = Vec::new();
    for (kind, node, hint, want) in cases {
        let got: Vec<String> = index_values(*kind, node, *hint)
            .iter()
            .map(render)
            .collect();
        if got != *want {
            failures.push(format!(
                "{kind:?} {node} hint {hint:?}\n   got:  {got:?}\n   want: {want:?}"
            ));
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
fn strings_index_every_part_of_names_and_addresses() {
    check(&[
        (
            T::String,
            json!("Dr. José  Smith"),
            None,
            &["str(Dr. José  Smith~dr. jose smith)"],
        ),
        (
            T::String,
            json!({"family": "Müller", "given": ["Anna", "Maria"], "prefix": ["Dr."], "text": "Dr. Anna Müller"}),
            Some("HumanName"),
            &[
                "str(Dr. Anna Müller~dr. anna muller)",
                "str(Müller~muller)",
                "str(Anna~anna)",
                "str(Maria~maria)",
                "str(Dr.~dr.)",
            ],
        ),
        (
            T::String,
            json!({"line": ["1 Main St", "Suite 2"], "city": "Boston", "state": "MA", "postalCode": "02115", "country": "US"}),
            None,
            &[
                "str(1 Main St~1 main st)",
                "str(Suite 2~suite 2)",
                "str(Boston~boston)",
                "str(MA~ma)",
                "str(02115~02115)",
                "str(US~us)",
            ],
        ),
        (
            T::String,
            json!(["a", "b"]),
            None,
            &["str(a~a)", "str(b~b)"],
        ),
        (T::String, json!("   "), None, &[]),
        (
            T::String,
            json!({"url": "http://x/alias", "valueString": "Acme"}),
            None,
            &["str(Acme~acme)"],
        ),
    ]);
}

#[test]
fn tokens_index_codings_identifiers_contact_points_and_primitives() {
    check(&[
        (
            T::Token,
            json!("active"),
            Some("code"),
            &["tok(-|active '-')"],
        ),
        (T::Token, json!(true), None, &["tok(-|true '-')"]),
        (
            T::Token,
            json!({"system": "http://s", "code": "c", "display": "Cardiology"}),
            None,
            &["tok(http://s|c 'cardiology')"],
        ),
        (
            T::Token,
            json!({"coding": [{"system": "http://nucc.org/provider-taxonomy", "code": "207Q00000X"}, {"code": "x", "display": "X-ray"}], "text": "Family Médicine"}),
            None,
            &[
                "tok(http://nucc.org/provider-taxonomy|207Q00000X 'family medicine')",
                "tok(-|x 'x-ray')",
            ],
        ),
        (
            T::Token,
            json!({"text": "Only text"}),
            None,
            &["tok(-|- 'only text')"],
        ),
        (
            T::Token,
            json!({"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893",
                   "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NPI"}], "text": "NPI"}}),
            None,
            &[
                "tok(http://hl7.org/fhir/sid/us-npi|1234567893 'npi')",
                "oftype(http://terminology.hl7.org/CodeSystem/v2-0203|NPI|1234567893)",
            ],
        ),
        (
            T::Token,
            json!({"system": "phone", "value": "555-1234", "use": "work"}),
            None,
            &["tok(phone|555-1234 '-')"],
        ),
        (
            T::Token,
            json!({"system": "email", "value": "a@b.org"}),
            Some("ContactPoint"),
            &["tok(email|a@b.org '-')"],
        ),
        (
            T::Token,
            json!({"url": "http://x/newpatients", "valueCodeableConcept": {"coding": [{"code": "newpt"}]}}),
            None,
            &["tok(-|newpt '-')"],
        ),
        (
            T::Token,
            json!({"url": "http://x/flag", "valueBoolean": false}),
            Some("Extension"),
            &["tok(-|false '-')"],
        ),
    ]);
}

#[test]
fn references_index_literal_absolute_typed_and_logical_forms() {
    check(&[
        (
            T::Reference,
            json!({"reference": "Organization/o1"}),
            None,
            &["ref(Organization/o1/- @- #-|-)"],
        ),
        (
            T::Reference,
            json!({"reference": "Organization/o1/_history/3"}),
            None,
            &["ref(Organization/o1/3 @- #-|-)"],
        ),
        (
            T::Reference,
            json!({"reference": "o1", "type": "Organization"}),
            None,
            &["ref(Organization/o1/- @- #-|-)"],
        ),
        (
            T::Reference,
            json!({"reference": "http://x.org/fhir/Location/l1"}),
            None,
            &["ref(Location/l1/- @http://x.org/fhir/Location/l1 #-|-)"],
        ),
        (
            T::Reference,
            json!({"reference": "urn:uuid:abc"}),
            None,
            &["ref(-/-/- @urn:uuid:abc #-|-)"],
        ),
        (
            T::Reference,
            json!({"identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": "123"}, "display": "Dr X"}),
            None,
            &["ref(-/-/- @- #http://hl7.org/fhir/sid/us-npi|123)"],
        ),
        (T::Reference, json!({"reference": "#contained"}), None, &[]),
        (T::Reference, json!({"display": "just a name"}), None, &[]),
        (
            T::Reference,
            json!({"url": "http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/network-reference", "valueReference": {"reference": "Organization/net1"}}),
            None,
            &["ref(Organization/net1/- @- #-|-)"],
        ),
        (
            T::Reference,
            json!("http://hl7.org/fhir/ValueSet/x"),
            Some("canonical"),
            &["ref(ValueSet/x/- @http://hl7.org/fhir/ValueSet/x #-|-)"],
        ),
    ]);
}

#[test]
fn dates_index_as_precision_ranges_and_periods_as_spans() {
    check(&[
        (
            T::Date,
            json!("2020"),
            Some("date"),
            &["date(2020-01-01T00:00:00Z..2021-01-01T00:00:00Z)"],
        ),
        (
            T::Date,
            json!("2020-02-03"),
            None,
            &["date(2020-02-03T00:00:00Z..2020-02-04T00:00:00Z)"],
        ),
        (
            T::Date,
            json!("2020-02-03T10:00:00.123+02:00"),
            Some("instant"),
            &["date(2020-02-03T08:00:00.123000Z..2020-02-03T08:00:00.124000Z)"],
        ),
        (
            T::Date,
            json!({"start": "2020-01-01", "end": "2020-12-31"}),
            None,
            &["date(2020-01-01T00:00:00Z..2021-01-01T00:00:00Z)"],
        ),
        (
            T::Date,
            json!({"start": "2020-01-01"}),
            Some("Period"),
            &["date(2020-01-01T00:00:00Z..MAX)"],
        ),
        (
            T::Date,
            json!({"end": "2020-01-01"}),
            Some("Period"),
            &["date(MIN..2020-01-02T00:00:00Z)"],
        ),
        (
            T::Date,
            json!({"event": ["2021-05-01"], "repeat": {"boundsPeriod": {"start": "2021-01-01", "end": "2021-06"}}}),
            Some("Timing"),
            &[
                "date(2021-05-01T00:00:00Z..2021-05-02T00:00:00Z)",
                "date(2021-01-01T00:00:00Z..2021-07-01T00:00:00Z)",
            ],
        ),
        (T::Date, json!("not a date"), None, &[]),
        (
            T::Date,
            json!({"url": "http://x/period", "valuePeriod": {"start": "2019"}}),
            None,
            &["date(2019-01-01T00:00:00Z..MAX)"],
        ),
    ]);
}

#[test]
fn numbers_quantities_uris_and_positions_index() {
    check(&[
        (T::Number, json!(100), None, &["num(100 [99.5, 100.5))"]),
        (T::Number, json!(2.5), None, &["num(2.5 [2.45, 2.55))"]),
        (T::Number, json!("x"), None, &[]),
        (
            T::Quantity,
            json!({"value": 5.4, "system": "http://unitsofmeasure.org", "code": "mg", "unit": "milligram"}),
            None,
            &["qty(Some(5.4) http://unitsofmeasure.org|mg 'milligram' [5.3500000000000005, 5.45))"],
        ),
        (
            T::Quantity,
            json!({"value": 20, "currency": "USD"}),
            Some("Money"),
            &["qty(Some(20.0) urn:iso:std:iso:4217|USD '-' [19.5, 20.5))"],
        ),
        (
            T::Quantity,
            json!({"low": {"value": 1, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a"}, "high": {"value": 5}}),
            None,
            &["qty(None http://unitsofmeasure.org|a 'a' [0.5, 5.5))"],
        ),
        (T::Quantity, json!({"low": {"value": 18}}), Some("Range"), &["qty(None -|- '-' [17.5, MAX))"]),
        (T::Uri, json!("http://example.org/profile"), None, &["uri(http://example.org/profile)"]),
        (T::Uri, json!(12), None, &[]),
        (T::Special, json!({"latitude": 42.36, "longitude": -71.06}), None, &["geo(42.36,-71.06)"]),
        (T::Special, json!({"latitude": 42.36}), None, &[]),
        (T::Composite, json!({"code": "x"}), None, &[]),
    ]);
}
