//! Table-driven evaluation tests: each row is an expression, the resource it runs on and
//! the expected result collection (as JSON values).

use crate::{Env, EvalError, Expression};
use serde_json::{json, Value};

fn patient() -> Value {
    json!({
        "resourceType": "Patient",
        "id": "p1",
        "active": true,
        "name": [
            {"use": "official", "family": "Chalmers", "given": ["Peter", "James"], "_given": [null, {"id": "g2"}]},
            {"use": "usual", "given": ["Jim"]}
        ],
        "gender": "male",
        "birthDate": "1974-12-25",
        "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": "1974-12-25T14:35:45-05:00"}]},
        "telecom": [
            {"system": "phone", "value": "555-1234", "use": "home"},
            {"system": "email", "value": "p@example.org"}
        ],
        "deceasedBoolean": false,
        "managingOrganization": {"reference": "Organization/1"},
        "generalPractitioner": [{"reference": "#pr1"}, {"reference": "http://x.org/fhir/Practitioner/9/_history/2"}],
        "contained": [{"resourceType": "Practitioner", "id": "pr1", "name": [{"family": "Who"}]}],
        "extension": [
            {"url": "http://e/a", "valueString": "A"},
            {"url": "http://e/b", "extension": [{"url": "inner", "valueCodeableConcept": {"text": "I"}}]}
        ]
    })
}

fn run(expr: &str, resource: &Value) -> Result<Vec<Value>, String> {
    let e = Expression::parse(expr).map_err(|e| e.to_string())?;
    e.evaluate(resource)
        .map(|nodes| nodes.iter().map(|n| n.value().clone()).collect())
        .map_err(|e| e.to_string())
}

fn check(cases: &[(&str, Value)]) {
    let p = patient();
    for (expr, want) in cases {
        let got = run(expr, &p).unwrap_or_else(|e| panic!("{expr}: {e}"));
        assert_eq!(&Value::Array(got), want, "{expr}");
    }
}

#[test]
fn paths_unions_and_filters() {
    check(&[
        ("Patient.name.given", json!(["Peter", "James", "Jim"])),
        ("name.given", json!(["Peter", "James", "Jim"])),
        ("Resource.id", json!(["p1"])),
        ("DomainResource.id", json!(["p1"])),
        ("Organization.name", json!([])),
        ("Patient.name.where(use = 'usual').given", json!(["Jim"])),
        ("Patient.name[0].given[1]", json!(["James"])),
        ("Patient.name[5]", json!([])),
        (
            "Patient.name.given | Patient.name.given.first()",
            json!(["Peter", "James", "Jim"]),
        ),
        (
            "Patient.telecom.where(system='email').value",
            json!(["p@example.org"]),
        ),
        ("Patient.deceased", json!([false])),
        (
            "Patient.deceased.exists() and Patient.deceased != false",
            json!([false]),
        ),
        ("Patient.name.family.exists()", json!([true])),
        ("Patient.photo.empty()", json!([true])),
        ("Patient.name.exists(given = 'Jim')", json!([true])),
        ("Patient.name.all(given.exists())", json!([true])),
        (
            "Patient.name.select(given.first())",
            json!(["Peter", "Jim"]),
        ),
        ("`Patient`.`name`.count()", json!([2])),
        ("Patient.name.given.skip(1).take(1)", json!(["James"])),
        ("Patient.name.given.last()", json!(["Jim"])),
        ("Patient.name.given.tail()", json!(["James", "Jim"])),
        ("Patient.name.last().given.single()", json!(["Jim"])),
        ("ValueSet.expansion.contains.code", json!([])),
    ]);
}

#[test]
fn extensions_choice_types_and_primitive_extensions() {
    check(&[
        ("Patient.extension('http://e/a').value", json!(["A"])),
        ("Patient.extension.where(url = 'http://e/a').value.ofType(string)", json!(["A"])),
        ("Patient.extension('http://e/a').value.ofType(Reference)", json!([])),
        (
            "Patient.extension('http://e/b').extension('inner').value.ofType(CodeableConcept).text",
            json!(["I"]),
        ),
        ("Patient.extension.value.ofType(CodeableConcept)", json!([])),
        ("Patient.hasExtension('http://e/a')", json!([true])),
        ("Patient.extension('http://e/a').value is string", json!([true])),
        ("Patient.extension('http://e/a').value is String", json!([false])),
        ("Patient.active is Boolean", json!([false])),
        ("Patient.active.type().name", json!(["boolean"])),
        ("Patient.name.ofType(HumanName).use", json!(["official", "usual"])),
        ("Patient.name.ofType(Address)", json!([])),
        ("(Patient.extension('http://e/a').value as string).length()", json!([1])),
        (
            "Patient.birthDate.extension('http://hl7.org/fhir/StructureDefinition/patient-birthTime').value",
            json!(["1974-12-25T14:35:45-05:00"]),
        ),
        ("Patient.birthDate.hasValue()", json!([true])),
        ("Patient.name.hasValue()", json!([false])),
        ("Patient.deceased is boolean", json!([true])),
        ("Patient.deceased.is(FHIR.boolean)", json!([true])),
        ("Patient.deceased.ofType(dateTime)", json!([])),
        ("Patient.gender is code", json!([true])),
        ("Patient.active is System.Boolean", json!([false])),
        ("Patient is DomainResource", json!([true])),
        ("Patient.children().count() > 5", json!([true])),
        ("Patient.descendants().where($this = 'Who').count()", json!([1])),
    ]);
}

#[test]
fn resolve_references() {
    check(&[
        (
            "Patient.managingOrganization.where(resolve() is Organization).reference",
            json!(["Organization/1"]),
        ),
        (
            "Patient.managingOrganization.where(resolve() is Practitioner)",
            json!([]),
        ),
        (
            "Patient.generalPractitioner.resolve().name.family",
            json!(["Who"]),
        ),
        (
            "Patient.generalPractitioner.resolve().id",
            json!(["pr1", "9"]),
        ),
        (
            "Patient.generalPractitioner.where(resolve() is Practitioner).count()",
            json!([2]),
        ),
        (
            "Patient.managingOrganization.resolve().ofType(Organization).id",
            json!(["1"]),
        ),
    ]);
    let bundle = json!({"resourceType": "Bundle", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient", "id": "a", "gender": "female",
            "link": [{"other": {"reference": "urn:uuid:2"}}]}},
        {"fullUrl": "urn:uuid:2", "resource": {"resourceType": "RelatedPerson", "id": "b"}}
    ]});
    assert_eq!(
        run("Bundle.entry.resource.link.other.resolve().id", &bundle),
        Ok(vec![json!("b")])
    );
}

#[test]
fn operators() {
    check(&[
        ("1 + 2 * 3", json!([7])),
        ("(1 + 2) * 3", json!([9])),
        ("7 div 2", json!([3])),
        ("7 mod 2", json!([1])),
        ("7 / 2", json!([3.5])),
        ("1 / 0", json!([])),
        ("-(3 - 5)", json!([2])),
        ("1.5 + 1", json!([2.5])),
        ("'a' + 'b'", json!(["ab"])),
        ("'a' & {} & 'c'", json!(["ac"])),
        ("'a' + {}", json!([])),
        ("2 > 1 and 'b' >= 'a'", json!([true])),
        ("{} = 1", json!([])),
        ("1 = 1.0", json!([true])),
        ("'ABC' ~ 'abc'", json!([true])),
        ("'ABC' != 'abc'", json!([true])),
        ("{} ~ {}", json!([true])),
        ("(1 | 2 | 3) = (1 | 2 | 3)", json!([true])),
        ("2 in (1 | 2)", json!([true])),
        ("(1 | 2) contains 3", json!([false])),
        ("true and {}", json!([])),
        ("false and {}", json!([false])),
        ("true or {}", json!([true])),
        ("{} implies false", json!([])),
        ("false implies {}", json!([true])),
        ("true xor true", json!([false])),
        ("(1 | 1 | 2).count()", json!([2])),
        ("(1).combine(1).count()", json!([2])),
        ("1 '1' = 1 '1'", json!([true])),
        ("1 'h' > 59 'min'", json!([true])),
        (
            "4 'mg' + 1 'mg'",
            json!([{"value": 5, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}]),
        ),
    ]);
}

#[test]
fn dates_and_times() {
    check(&[
        ("@2020-01-01 < @2020-02", json!([true])),
        ("@2020-01 = @2020-01-15", json!([])),
        ("@2020 < @2021-05-01", json!([true])),
        ("Patient.birthDate < @1980", json!([true])),
        ("Patient.birthDate = @1974-12-25", json!([true])),
        (
            "@2020-01-01T10:00:00Z = @2020-01-01T11:00:00+01:00",
            json!([true]),
        ),
        ("@T10:00 < @T10:30", json!([true])),
        ("@2020-01-31 + 1 month", json!(["2020-02-29"])),
        (
            "@2020-01-01T00:00:00Z - 1 'h'",
            json!(["2019-12-31T23:00:00Z"]),
        ),
        ("Patient.birthDate + 1 year", json!(["1975-12-25"])),
        ("@T23:30 + 1 hour", json!(["00:30"])),
        ("today() > @2020-01-01", json!([true])),
        ("now() > @2020-01-01T00:00:00Z", json!([true])),
        ("(today() - 1 day) < today()", json!([true])),
        ("'2020-05-01'.toDate() is Date", json!([true])),
        (
            "'2020-05-01T10:00:00Z'.toDateTime() > @2020-05-01T09:00:00Z",
            json!([true]),
        ),
        ("'10:00'.toTime() < @T11:00", json!([true])),
    ]);
}

#[test]
fn strings_and_conversions() {
    check(&[
        ("'abcdef'.substring(2, 3)", json!(["cde"])),
        ("'abcdef'.substring(2)", json!(["cdef"])),
        ("'abcdef'.substring(10)", json!([])),
        ("'abc'.indexOf('c')", json!([2])),
        (
            "'abc'.startsWith('ab') and 'abc'.endsWith('bc') and 'abc'.contains('b')",
            json!([true]),
        ),
        ("'AbC'.upper() + 'AbC'.lower()", json!(["ABCabc"])),
        ("'  x '.trim().length()", json!([1])),
        ("'a,b,c'.split(',')", json!(["a", "b", "c"])),
        ("'a,b,c'.split(',').join('|')", json!(["a|b|c"])),
        ("'abc'.replace('b', 'XX')", json!(["aXXc"])),
        ("'abc'.toChars().count()", json!([3])),
        ("'555-1234'.matches('^[0-9]{3}-[0-9]{4}$')", json!([true])),
        (
            "'2019-01-01'.replaceMatches('(\\\\d+)-(\\\\d+)-(\\\\d+)', '$3/$2/$1')",
            json!(["01/01/2019"]),
        ),
        ("Patient.name.given.first().length()", json!([5])),
        ("'42'.toInteger() + 1", json!([43])),
        ("'4.5'.toDecimal()", json!([4.5])),
        ("'x'.toInteger()", json!([])),
        ("'x'.convertsToInteger()", json!([false])),
        ("1.toString() + 'a'", json!(["1a"])),
        ("true.toString()", json!(["true"])),
        ("'yes'.toBoolean()", json!([true])),
        ("'5 \\'mg\\''.toQuantity() = 5 'mg'", json!([true])),
        ("'5 mg'.toQuantity()", json!([])),
        ("(2).power(10)", json!([1024])),
        ("(-2.5).abs()", json!([2.5])),
        ("3.7.floor() + 3.2.ceiling()", json!([7])),
        ("2.71828.round(2)", json!([2.72])),
        ("16.sqrt()", json!([4.0])),
        ("iif(Patient.active, 'yes', 'no')", json!(["yes"])),
        ("iif({}, 'yes')", json!([])),
        ("Patient.active.not()", json!([false])),
    ]);
}

#[test]
fn aggregates_and_variables() {
    check(&[
        ("(1 | 2 | 3).aggregate($this + $total, 0)", json!([6])),
        ("(1 | 2 | 3).select($index)", json!([0, 1, 2])),
        (
            "Patient.name.given.where($this.startsWith('J'))",
            json!(["James", "Jim"]),
        ),
        ("%resource.id", json!(["p1"])),
        ("%context.gender", json!(["male"])),
        ("%ucum", json!(["http://unitsofmeasure.org"])),
        (
            "%`vs-administrative-gender`",
            json!(["http://hl7.org/fhir/ValueSet/administrative-gender"]),
        ),
        (
            "Patient.name.where(given contains %resource.name.first().given.first()).use",
            json!(["official"]),
        ),
        (
            "(1 | 2).subsetOf(1 | 2 | 3) and (1 | 2 | 3).supersetOf(2)",
            json!([true]),
        ),
        ("(1 | 2 | 3).intersect(2 | 4)", json!([2])),
        ("(1 | 2 | 3).exclude(2)", json!([1, 3])),
        (
            "(true | false).anyTrue() and (true).allTrue() and (false).allFalse()",
            json!([true]),
        ),
        ("(1 | 2).union(2 | 3)", json!([1, 2, 3])),
        ("(1 | 2 | 2).isDistinct()", json!([true])),
        ("Patient.name.given.distinct().count()", json!([3])),
        ("Patient.contained.repeat(name).family", json!(["Who"])),
    ]);
    let env = Env::new().with_var("who", json!("Jim"));
    let e = Expression::parse("Patient.name.where(given = %who).use").expect("parse");
    let got: Vec<Value> = e
        .evaluate_with(&patient(), &env)
        .expect("eval")
        .iter()
        .map(|n| n.value().clone())
        .collect();
    assert_eq!(got, vec![json!("usual")]);
}

/// Cases from the HL7 FHIRPath R4 test suite (tests-fhir-r4.xml) that need no input file.
#[test]
fn official_suite_samples() {
    check(&[
        ("2 + 2 // comment + 4", json!([4])),
        ("2 + 2 /* comment */\n+2", json!([6])),
        ("2 + /* inline $@%^+ * */ 2 = 4", json!([true])),
        ("2 // comment\n/ 2", json!([1.0])),
        ("(-1).convertsToInteger()", json!([true])),
        ("@2015T.is(DateTime) and @2015-02.is(Date) and @T14:34:28.123.is(Time)", json!([true])),
        ("10.1 'mg'.convertsToQuantity() and 4 days.convertsToQuantity()", json!([true])),
        ("'1 wk'.convertsToQuantity()", json!([false])),
        ("'1 \\'wk\\''.toQuantity() = 1 week", json!([true])),
        ("'1 day'.toQuantity() = 1 'd'", json!([true])),
        ("'1 \\'mo\\''.toQuantity() = 1 month", json!([])),
        ("'1 \\'a\\''.toQuantity() = 1 year", json!([])),
        ("1 week.toString()", json!(["1 week"])),
        ("1 'wk'.toString()", json!(["1 'wk'"])),
        ("1.0.toString()", json!(["1.0"])),
        ("1.is(Decimal).not() and 1.0.is(Decimal) and '1'.is(Integer).not()", json!([true])),
        ("4.0000 'g' = 4000.0 'mg'", json!([true])),
        ("7 days = 1 week and 6 days < 1 week", json!([true])),
        ("iif({} | true, true, false) and iif(true, true, 1/0)", json!([true])),
        ("('context').iif($this = 'context', 'true-result', 'false-result')", json!(["true-result"])),
        ("{}.iif(true, 'true-result', 'false-result')", json!(["true-result"])),
        ("(1|2|3|4|5|6|7|8|9).aggregate(iif($total.empty(), $this, iif($this < $total, $this, $total)))", json!([1])),
        ("(1 | 1) = (1 | 2 | {})", json!([false])),
        ("1.10 = 1.1 and 0.0 = 0", json!([true])),
        ("@2012-04-15T15:30:31 = @2012-04-15T15:30:31.0", json!([true])),
        ("@2012-04-15T15:00:00Z = @2012-04-15T10:00:00", json!([])),
        ("@2012-04-15T15:00:00+02:00 = @2012-04-15T16:00:00+03:00", json!([true])),
        ("@2017-11-05T01:30:00.0-04:00 > @2017-11-05T01:15:00.0-05:00", json!([false])),
        ("1.2 / 1.8 ~ 0.67", json!([true])),
        ("(1.2 / 1.8).round(2) = 0.67", json!([true])),
        ("@2012-04-15 ~ @2012-04-15T10:00:00", json!([false])),
        ("@T10:30 < @T10:30:00", json!([])),
        ("@2018-03-01T10:30:00 < @2018-03-01T10:30:00.0", json!([false])),
        ("1.8 - 1.2 = 0.6 and 1.2 * 1.8 = 2.16 and 1.2 + 1.8 = 3.0", json!([true])),
        ("2.2 mod 1.8 = 0.4 and 2.2 div 1.8 = 1", json!([true])),
        ("@1973-12-25 + 7.7 days", json!(["1974-01-01"])),
        ("@1973-12-25T00:00:00.000+10:00 + 0.1 's'", json!(["1973-12-25T00:00:00.000+10:00"])),
        ("@1974-12-25 - 1 'month'", json!(["1974-11-25"])),
        ("'abc'.replaceMatches('', 'x')", json!(["abc"])),
        ("'abc'.replace('', 'x')", json!(["xaxbxcx"])),
        ("'A\n\t\t\tB'.matches('A.*B')", json!([true])),
        ("'http://fhir.org/guides/cqf/common/Library/FHIR-ModelInfo|4.0.1'.matchesFull('Library')", json!([false])),
        ("'http://fhir.org/guides/cqf/common/Library/FHIR-ModelInfo|4.0.1'.matches('Library')", json!([true])),
        ("'[stop]ONE[stop][stop]TWO[stop][stop][stop]THREE[stop][stop]'.split('[stop]').count()", json!([9])),
        ("'LogicalModel-Person'.indexOf('')", json!([0])),
        ("(true and 'foo').empty()", json!([false])),
        ("(-5.5 'mg').abs() = 5.5 'mg'", json!([true])),
        ("(-0.0).exp() = 1 and 16.log(2) = 4.0 and 100.0.log(10.0) = 2.0", json!([true])),
        ("(-1).power(0.5)", json!([])),
        ("1.combine(1).intersect(1).count() = 1 and 1.combine(1).exclude(2).count() = 2", json!([true])),
        ("1.type().namespace + '.' + 1.type().name", json!(["System.Integer"])),
        ("Patient.is(FHIR.`Patient`) and Patient.is(System.Patient).not()", json!([true])),
        ("Patient.birthDate.extension(%`ext-patient-birthTime`).exists()", json!([true])),
    ]);
    for (expr, why) in [
        ("-1.convertsToInteger()", "unary minus on a boolean"),
        ("(1|2).not() = false", "not() on two items"),
        ("iif(1 | 2 | 3, true, false)", "criterion with three items"),
        (
            "('item1' | 'item2').iif(true, 'true-result', 'false-result')",
            "iif on two items",
        ),
        ("(true | 'foo').allTrue()", "allTrue on a string"),
        ("@1973-12-25 + 1 'mo'", "UCUM month has no calendar meaning"),
        ("@1974-12-25 + 7", "date plus integer"),
        ("'a' - 'b'", "string minus"),
        ("Patient.gender.as(string1)", "unknown type"),
        ("Patient.name.single().exists()", "single() on two items"),
    ] {
        let result = run(expr, &patient());
        assert!(
            result.is_err(),
            "{expr} ({why}) should fail, got {result:?}"
        );
    }
}

#[test]
fn node_types_are_reported() {
    let p = patient();
    let types = |expr: &str| -> Vec<Option<String>> {
        Expression::parse(expr)
            .expect("parse")
            .evaluate(&p)
            .expect("eval")
            .iter()
            .map(|n| n.type_name().map(str::to_string))
            .collect()
    };
    assert_eq!(types("Patient"), vec![Some("Patient".into())]);
    assert_eq!(types("Patient.deceased"), vec![Some("boolean".into())]);
    assert_eq!(
        types("Patient.managingOrganization.resolve()"),
        vec![Some("Organization".into())]
    );
    // Without a schema, ordinary complex elements are typed by their shape.
    assert_eq!(
        types("Patient.name.first().ofType(HumanName)"),
        vec![Some("HumanName".into())]
    );
    assert_eq!(
        types("Patient.extension('http://e/b').extension('inner').value"),
        vec![Some("CodeableConcept".into())]
    );
    assert_eq!(types("'x'"), vec![Some("String".into())]);
    assert_eq!(types("Patient.gender"), vec![None]);
}

#[test]
fn errors_instead_of_panics() {
    let p = patient();
    type Expect = fn(&EvalError) -> bool;
    let cases: &[(&str, Expect)] = &[
        ("true and Patient.name.given", |e| {
            matches!(e, EvalError::NotSingleton { .. })
        }),
        ("%nope", |e| matches!(e, EvalError::UndefinedVariable(_))),
        ("'a' < 1", |e| matches!(e, EvalError::Type(_))),
        ("Patient.name.substring(1)", |e| matches!(e, EvalError::NotSingleton { .. })),
        ("'a'.matches('(')", |e| matches!(e, EvalError::BadArgument { .. })),
        ("Patient.gender.memberOf('x')", |e| matches!(e, EvalError::Unsupported(_))),
        ("(1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10).repeat($this + 1)", |e| {
            matches!(e, EvalError::Limit(_))
        }),
        (
            "'aaaaaaaaaaaaaaaa'.replace('', 'aaaaaaaaaaaaaaaa').replace('', 'aaaaaaaaaaaaaaaa').replace('', 'aaaaaaaaaaaaaaaa').replace('', 'aaaaaaaaaaaaaaaa').replace('', 'aaaaaaaaaaaaaaaa')",
            |e| matches!(e, EvalError::Limit(_)),
        ),
    ];
    for (expr, is_expected) in cases {
        let e = Expression::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        match e.evaluate(&p) {
            Err(err) => assert!(is_expected(&err), "{expr}: unexpected error {err}"),
            Ok(v) => panic!("{expr}: expected an error, got {} items", v.len()),
        }
    }
}

#[test]
fn evaluate_bool_follows_singleton_rules() {
    let p = patient();
    let b = |s: &str| Expression::parse(s).expect("parse").evaluate_bool(&p);
    assert_eq!(b("Patient.active"), Ok(Some(true)));
    assert_eq!(b("Patient.gender"), Ok(Some(true)));
    assert_eq!(b("Patient.photo"), Ok(None));
    assert!(b("Patient.name").is_err());
}

#[test]
fn located_nodes_carry_json_pointers_into_the_resource() {
    let p = patient();
    let pointers = |expr: &str| -> Vec<Option<String>> {
        Expression::parse(expr)
            .expect("parse")
            .evaluate_located(&p, &Env::default())
            .expect("eval")
            .iter()
            .map(|n| n.json_pointer())
            .collect()
    };
    let some = |v: &[&str]| v.iter().map(|s| Some(s.to_string())).collect::<Vec<_>>();
    assert_eq!(pointers("Patient"), some(&[""]));
    assert_eq!(
        pointers("Patient.name.given"),
        some(&["/name/0/given/0", "/name/0/given/1", "/name/1/given/0"])
    );
    assert_eq!(pointers("Patient.deceased"), some(&["/deceasedBoolean"]));
    assert_eq!(
        pointers("Patient.birthDate.extension.value"),
        some(&["/_birthDate/extension/0/valueDateTime"])
    );
    assert_eq!(
        pointers("Patient.name.given[1].id"),
        some(&["/name/0/_given/1/id"])
    );
    assert_eq!(
        pointers("Patient.generalPractitioner.resolve().name.family"),
        some(&["/contained/0/name/0/family"])
    );
    assert_eq!(pointers("'x' | Patient.id"), vec![None, Some("/id".into())]);
    // Without evaluate_located nothing is tracked.
    let plain = Expression::parse("Patient.id").expect("parse");
    assert_eq!(plain.evaluate(&p).expect("eval")[0].json_pointer(), None);

    // Every descendant's pointer leads back to its value (or, for extension-only
    // primitives, to their `_name` companion).
    let all = Expression::parse("Patient.descendants()")
        .expect("parse")
        .evaluate_located(&p, &Env::default())
        .expect("eval");
    assert!(all.len() > 30);
    for n in &all {
        let ptr = n.json_pointer().expect("located");
        let target = p.pointer(&ptr).unwrap_or_else(|| panic!("{ptr} resolves"));
        let want = if n.value().is_null() {
            n.primitive_extension().expect("companion")
        } else {
            n.value()
        };
        assert_eq!(target, want, "{ptr}");
    }
    let ext_only = json!({"resourceType": "Patient", "_gender": {"extension": [{"url": "u"}]}, "a/b": {"c~d": 1}});
    let e = Expression::parse("gender | `a/b`.`c~d`").expect("parse");
    let got: Vec<Option<String>> = e
        .evaluate_located(&ext_only, &Env::default())
        .expect("eval")
        .iter()
        .map(|n| n.json_pointer())
        .collect();
    assert_eq!(got, some(&["/_gender", "/a~1b/c~0d"]));
}

#[test]
fn untyped_date_elements_compare_as_dates() {
    let per_1 = "period.all(start.hasValue().not() or end.hasValue().not() or (start <= end))";
    let cases = [
        // As text "2020-01-01T10:00:00+01:00" > "2020-01-01T09:30:00Z"; as instants it is earlier.
        (
            json!({"period": {"start": "2020-01-01T10:00:00+01:00", "end": "2020-01-01T09:30:00Z"}}),
            json!([true]),
        ),
        (
            json!({"period": {"start": "2021-01-01", "end": "2020-12-31"}}),
            json!([false]),
        ),
        (
            json!({"period": {"start": "2020", "end": "2020-06-01"}}),
            json!([false]),
        ),
        (json!({"period": {"end": "2020-06-01"}}), json!([true])),
    ];
    for (r, want) in cases {
        assert_eq!(Value::Array(run(per_1, &r).expect("eval")), want, "{r}");
    }
}

#[test]
fn evaluate_at_sets_focus_and_context_but_keeps_resource() {
    let p = patient();
    let env = Env::default();
    let names = Expression::parse("Patient.name")
        .expect("parse")
        .evaluate_located(&p, &env)
        .expect("eval");
    let e = Expression::parse(
        "given.first() & '/' & %context.use & '/' & %resource.id & '/' & $this.family",
    )
    .expect("parse");
    let got: Vec<Value> = e
        .evaluate_at(&p, &names[0], &env)
        .expect("eval")
        .iter()
        .map(|n| n.value().clone())
        .collect();
    assert_eq!(got, vec![json!("Peter/official/p1/Chalmers")]);
    let ptr = Expression::parse("given[1]")
        .expect("parse")
        .evaluate_at(&p, &names[0], &env)
        .expect("eval")[0]
        .json_pointer();
    assert_eq!(ptr.as_deref(), Some("/name/0/given/1"));
}

#[test]
fn quadratic_expressions_run_out_of_work_budget() {
    let wide = json!({"resourceType": "Basic", "a": (0..2_000).collect::<Vec<_>>()});
    let e = Expression::parse("descendants().where(%resource.descendants().count() > 0).count()")
        .expect("parse");
    let small = Env::new().with_work_limit(1_000_000);
    assert!(matches!(
        e.evaluate_with(&wide, &small),
        Err(EvalError::Limit(_))
    ));
    // The same expression on a small resource fits in the default budget.
    let narrow = json!({"resourceType": "Basic", "a": [1, 2, 3]});
    assert_eq!(
        run(
            "descendants().where(%resource.descendants().count() > 0).count()",
            &narrow
        ),
        Ok(vec![json!(3)])
    );
}
