//! Fuzz targets (proptest) for FHIRPath: generated expressions (grammar-shaped trees of
//! literals, paths, operators and every known function, with extreme numbers, odd dates and
//! times, escapes, quantities), the same expressions with random damage, and deep nesting are
//! parsed and, when they parse, evaluated over a small FHIR resource and over random JSON.
//!
//! The property is "returns `Ok` or `Err`, never panics, and finishes quickly". Cases per
//! property: `FHIRDIR_FUZZ_CASES` (default small enough for CI); seed: `FHIRDIR_FUZZ_SEED`
//! (default fixed, so a CI failure reproduces). See FUZZING.md.

use std::sync::OnceLock;
use std::time::Duration;

use fhirpath::{Env, Expression};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Map, Value};

// ---------------------------------------------------------------------------------------
// Harness: case count and seed from the environment, and a watchdog for hangs.

/// Cases per property when `FHIRDIR_FUZZ_CASES` is not set.
const DEFAULT_CASES: u32 = 1024;

/// One case taking longer than this fails the property (debug build, shared machine).
const SLOW: Duration = Duration::from_secs(5);

/// One case running longer than this aborts the process, printing the input: a hang.
const HUNG: Duration = Duration::from_secs(60);

fn config() -> ProptestConfig {
    fuzzkit::config(DEFAULT_CASES)
}

fn timed<T>(input: &str, f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    fuzzkit::timed(SLOW, HUNG, input, f)
}

// ---------------------------------------------------------------------------------------
// Expression generator.

const INTEGERS: &[&str] = &[
    "0",
    "1",
    "2",
    "7",
    "-1",
    "2147483647",
    "2147483648",
    "-2147483648",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "99999999999999999999999999",
];

const DECIMALS: &[&str] = &[
    "0.0",
    "1.5",
    "0.1",
    "-2.5",
    "3.14159265358979323846264338327950288",
    "1.7976931348623157",
    "0.000000000000000000000000000000000000000000000001",
    "1e3",
    "1.e2",
];

const STRINGS: &[&str] = &[
    "''",
    "'x'",
    "'J'",
    "'Jo'",
    "'a.b'",
    "'é中🦀'",
    "'\\u0000'",
    "'\\uD800'",
    "'\\uDFFF\\uD800'",
    "'\\u12'",
    "'\\u'",
    "'\\q'",
    "'\\''",
    "'\\\\'",
    "'\\n\\t\\r\\f\\\"\\`\\/'",
    "'[a-z]+'",
    "'(a*)*b'",
    "'((((((((((x))))))))))'",
    "'.*.*.*.*.*=.*'",
    "'[^'",
    "'\\\\d{2,}'",
    "'a{99999}'",
    "'a{2147483648}'",
    "'(?i)x'",
    "'http://e/a'",
    "'#o'",
    "'Organization/o'",
    "'2020-01-01'",
    "'10:00'",
    "'1 mg'",
    "'true'",
    "'unterminated",
];

const TEMPORALS: &[&str] = &[
    "@2020",
    "@2020-01",
    "@2020-01-01",
    "@2020-02-30",
    "@2020-13",
    "@0000",
    "@0001-01-01",
    "@9999-12-31",
    "@9999-12-31T23:59:59.999+14:00",
    "@2020-01-01T",
    "@2020-01-01T10",
    "@2020-01-01T10:00",
    "@2020-01-01T10:00:00.1234567890123Z",
    "@2020-01-01T10:00:00-14:59",
    "@2020-01-01T24:00:00",
    "@T10",
    "@T10:00",
    "@T23:59:59.999",
    "@T25:61",
    "@T",
    "@",
];

const QUANTITIES: &[&str] = &[
    "1 'mg'",
    "1 'g'",
    "1.5 'kg'",
    "5 days",
    "1 year",
    "2 weeks",
    "3 'wk'",
    "1 'a'",
    "99999999999 years",
    "9223372036854775807 days",
    "1 'ms'",
    "1 millisecond",
    "1 '[in_i]'",
    "1 'L'",
    "1 '[lb_av]'",
    "1 ''",
    "1 'x'",
    "1 '1'",
];

const SPECIALS: &[&str] = &[
    "true",
    "false",
    "{}",
    "$this",
    "$index",
    "$total",
    "%resource",
    "%rootResource",
    "%context",
    "%ucum",
    "%sct",
    "%loinc",
    "%`vs-x`",
    "%'vs-y'",
    "%`ext-z`",
    "%nope",
    "%var",
    "%big",
];

const PATHS: &[&str] = &[
    "Practitioner",
    "name",
    "given",
    "family",
    "telecom",
    "value",
    "system",
    "active",
    "birthDate",
    "extension",
    "url",
    "id",
    "meta",
    "qualification",
    "code",
    "coding",
    "period",
    "start",
    "end",
    "contained",
    "managingOrganization",
    "reference",
    "n",
    "big",
    "deep",
    "`div`",
    "`given`",
    "resourceType",
    "Nope",
];

const TYPES: &[&str] = &[
    "String",
    "Integer",
    "Decimal",
    "Boolean",
    "Date",
    "DateTime",
    "Time",
    "Quantity",
    "System.String",
    "System.Integer",
    "FHIR.string",
    "FHIR.Quantity",
    "string",
    "integer",
    "decimal",
    "date",
    "dateTime",
    "code",
    "HumanName",
    "Period",
    "Reference",
    "CodeableConcept",
    "Organization",
    "Practitioner",
    "Resource",
    "Nope",
];

const BINARY: &[&str] = &[
    " | ",
    " = ",
    " != ",
    " ~ ",
    " !~ ",
    " < ",
    " <= ",
    " > ",
    " >= ",
    " + ",
    " - ",
    " * ",
    " / ",
    " div ",
    " mod ",
    " & ",
    " and ",
    " or ",
    " xor ",
    " implies ",
    " in ",
    " contains ",
];

/// Every function the crate knows, with its (min, max) arity.
const FUNCTIONS: &[(&str, usize, usize)] = &[
    ("empty", 0, 0),
    ("allTrue", 0, 0),
    ("anyTrue", 0, 0),
    ("allFalse", 0, 0),
    ("anyFalse", 0, 0),
    ("count", 0, 0),
    ("distinct", 0, 0),
    ("isDistinct", 0, 0),
    ("single", 0, 0),
    ("first", 0, 0),
    ("last", 0, 0),
    ("tail", 0, 0),
    ("children", 0, 0),
    ("descendants", 0, 0),
    ("not", 0, 0),
    ("upper", 0, 0),
    ("lower", 0, 0),
    ("length", 0, 0),
    ("toChars", 0, 0),
    ("trim", 0, 0),
    ("abs", 0, 0),
    ("ceiling", 0, 0),
    ("exp", 0, 0),
    ("floor", 0, 0),
    ("ln", 0, 0),
    ("sqrt", 0, 0),
    ("truncate", 0, 0),
    ("type", 0, 0),
    ("hasValue", 0, 0),
    ("getValue", 0, 0),
    ("resolve", 0, 0),
    ("htmlChecks", 0, 0),
    ("today", 0, 0),
    ("now", 0, 0),
    ("timeOfDay", 0, 0),
    ("elementDefinition", 0, 0),
    ("toBoolean", 0, 0),
    ("convertsToBoolean", 0, 0),
    ("toInteger", 0, 0),
    ("convertsToInteger", 0, 0),
    ("toDecimal", 0, 0),
    ("convertsToDecimal", 0, 0),
    ("toString", 0, 0),
    ("convertsToString", 0, 0),
    ("toDate", 0, 0),
    ("convertsToDate", 0, 0),
    ("toDateTime", 0, 0),
    ("convertsToDateTime", 0, 0),
    ("toTime", 0, 0),
    ("convertsToTime", 0, 0),
    ("toQuantity", 0, 1),
    ("convertsToQuantity", 0, 1),
    ("exists", 0, 1),
    ("join", 0, 1),
    ("round", 0, 1),
    ("all", 1, 1),
    ("subsetOf", 1, 1),
    ("supersetOf", 1, 1),
    ("where", 1, 1),
    ("select", 1, 1),
    ("repeat", 1, 1),
    ("skip", 1, 1),
    ("take", 1, 1),
    ("intersect", 1, 1),
    ("exclude", 1, 1),
    ("union", 1, 1),
    ("combine", 1, 1),
    ("indexOf", 1, 1),
    ("startsWith", 1, 1),
    ("endsWith", 1, 1),
    ("contains", 1, 1),
    ("matches", 1, 1),
    ("matchesFull", 1, 1),
    ("split", 1, 1),
    ("log", 1, 1),
    ("power", 1, 1),
    ("ofType", 1, 1),
    ("as", 1, 1),
    ("is", 1, 1),
    ("extension", 1, 1),
    ("hasExtension", 1, 1),
    ("memberOf", 1, 1),
    ("subsumes", 1, 1),
    ("subsumedBy", 1, 1),
    ("conformsTo", 1, 1),
    ("checkModifiers", 1, 1),
    ("aggregate", 1, 2),
    ("trace", 1, 2),
    ("substring", 1, 2),
    ("replace", 2, 2),
    ("replaceMatches", 2, 2),
    ("slice", 2, 2),
    ("iif", 2, 3),
    ("nope", 0, 2),
];

fn owned(list: &'static [&'static str]) -> BoxedStrategy<String> {
    select(list).prop_map(str::to_owned).boxed()
}

fn leaf() -> BoxedStrategy<String> {
    prop_oneof![
        3 => owned(INTEGERS),
        2 => owned(DECIMALS),
        1 => "[0-9]{1,20}(\\.[0-9]{1,400})?",
        1 => "[0-9]{300,400}\\.[0-9]",
        2 => owned(STRINGS),
        2 => owned(TEMPORALS),
        2 => owned(QUANTITIES),
        3 => owned(SPECIALS),
        6 => owned(PATHS),
        1 => owned(TYPES),
    ]
    .boxed()
}

/// Grammar-shaped expressions: paths, operators, calls with the right (or wrong) number of
/// arguments, indexers, type operators, parentheses, polarity.
fn expression() -> BoxedStrategy<String> {
    leaf()
        .prop_recursive(6, 48, 3, |inner| {
            let call = (
                inner.clone(),
                select(FUNCTIONS),
                prop::collection::vec(inner.clone(), 0..4),
                prop::bool::weighted(0.9),
            )
                .prop_map(|(focus, (name, min, max), args, right_arity)| {
                    let args = if right_arity {
                        let n = args.len().clamp(min, max);
                        let mut args = args;
                        while args.len() < n {
                            args.push("1".to_owned());
                        }
                        args.truncate(n);
                        args
                    } else {
                        args
                    };
                    format!("{focus}.{name}({})", args.join(", "))
                });
            let typed = (inner.clone(), select(&[" is ", " as "][..]), owned(TYPES))
                .prop_map(|(e, op, t)| format!("{e}{op}{t}"));
            prop_oneof![
                4 => (inner.clone(), owned(PATHS)).prop_map(|(e, p)| format!("{e}.{p}")),
                4 => call,
                4 => (inner.clone(), select(BINARY), inner.clone())
                    .prop_map(|(a, op, b)| format!("{a}{op}{b}")),
                1 => (inner.clone(), inner.clone()).prop_map(|(a, i)| format!("{a}[{i}]")),
                1 => typed,
                1 => inner.clone().prop_map(|e| format!("({e})")),
                1 => (select(&["-", "+", "- -"][..]), inner).prop_map(|(s, e)| format!("{s}{e}")),
            ]
        })
        .boxed()
}

/// Fragments that break the grammar.
const DAMAGE: &[&str] = &[
    "(", ")", "[", "]", "'", "`", ".", ",", "@", "%", "$", "\\", "/*", "//", "\n", "\u{0}", "é",
    "🦀", " ", "-", "|", "{", "}", "=", "!",
];

/// A generated expression with up to three random insertions or deletions.
fn damaged() -> BoxedStrategy<String> {
    (
        expression(),
        prop::collection::vec((any::<usize>(), prop::option::of(select(DAMAGE))), 1..4),
    )
        .prop_map(|(src, edits)| {
            let mut chars: Vec<char> = src.chars().collect();
            for (at, insert) in edits {
                let at = at % (chars.len() + 1);
                match insert {
                    Some(s) => {
                        for (k, c) in s.chars().enumerate() {
                            chars.insert(at + k, c);
                        }
                    }
                    None if at < chars.len() => {
                        chars.remove(at);
                    }
                    None => {}
                }
            }
            chars.into_iter().collect()
        })
        .boxed()
}

/// Nesting far past any real expression: parentheses, member chains, calls, unary signs,
/// operator chains, comments and long strings.
fn deep() -> BoxedStrategy<String> {
    (0..8usize, 1..3_000usize)
        .prop_map(|(shape, n)| match shape {
            0 => format!("{}1{}", "(".repeat(n), ")".repeat(n)),
            1 => format!("Practitioner{}", ".name".repeat(n)),
            2 => format!("{}true{}", "not(".repeat(n), ")".repeat(n)),
            3 => format!("{}{}", "name.where(".repeat(n), ")".repeat(n)),
            4 => format!("1{}", " + 1".repeat(n)),
            5 => format!("{}1", "-".repeat(n)),
            6 => format!("'{}'", "a".repeat(n * 20)),
            _ => format!("{}x", "(".repeat(n)),
        })
        .boxed()
}

// ---------------------------------------------------------------------------------------
// Resources.

/// A Practitioner with a bit of everything FHIRPath navigates: choice types, primitive
/// extensions, contained resources, references, quantities and extreme numbers.
fn practitioner() -> &'static Value {
    static R: OnceLock<Value> = OnceLock::new();
    R.get_or_init(|| {
        json!({
            "resourceType": "Practitioner",
            "id": "p1",
            "meta": {"profile": ["http://x/y"], "lastUpdated": "2020-01-01T10:00:00Z"},
            "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
            "extension": [
                {"url": "http://e/a", "valueQuantity": {"value": 1.5, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}},
                {"url": "http://e/b", "valueString": "s"},
                {"url": "x", "extension": [{"url": "y", "valueInteger": 9223372036854775807_i64}]}
            ],
            "active": true,
            "name": [
                {"family": "Smith", "given": ["Jo", "Al"], "_given": [null, {"extension": [{"url": "http://e/c", "valueCode": "x"}]}]},
                {"given": ["Bo"], "period": {"start": "2020", "end": "2019-12-31T23:59:59+14:00"}}
            ],
            "telecom": [{"system": "phone", "value": "555"}, {"system": "email", "value": "a@b"}],
            "birthDate": "1970-01", "_birthDate": {"id": "b"},
            "qualification": [{"code": {"coding": [{"system": "http://s", "code": "MD"}]}}],
            "contained": [{"resourceType": "Organization", "id": "o", "name": "Org"}],
            "managingOrganization": {"reference": "#o"},
            "n": [0, -1, 1e308, -1e308, 5e-324, 9007199254740993_u64, -9223372036854775808_i64],
            "big": "99999999999999999999999999999999",
            "deep": {"deep": {"deep": {"deep": {"deep": [1, "2", true, null, {}]}}}}
        })
    })
}

/// An environment with caller variables of awkward types.
fn env() -> Env {
    Env::new()
        .with_var("var", json!([1, "x", null]))
        .with_var("big", json!(1.7976931348623157e308))
}

/// Random JSON with FHIR-ish keys in odd shapes.
fn json_value() -> BoxedStrategy<Value> {
    const KEYS: &[&str] = &[
        "resourceType",
        "id",
        "name",
        "given",
        "_given",
        "value",
        "valueString",
        "_valueString",
        "valueQuantity",
        "valueInteger",
        "extension",
        "url",
        "reference",
        "contained",
        "start",
        "end",
        "code",
        "unit",
        "system",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        owned(&[
            "",
            "x",
            "Patient",
            "Organization",
            "2020-01-01",
            "2020-13-45T99:99",
            "#o",
            "#",
            "Patient/1",
            "10:00",
            "http://e/a",
            "1 mg",
            "mg",
            "\u{0}",
            "🦀",
        ])
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((select(KEYS), inner), 0..6).prop_map(|kv| {
                Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<String, Value>>(),
                )
            }),
        ]
    })
    .boxed()
}

/// Parses `src` and, when it parses, evaluates it every way the crate offers.
fn exercise(src: &str, resource: &Value) -> Result<(), TestCaseError> {
    timed(src, || {
        let parsed = Expression::parse(src);
        if let Ok(e) = parsed {
            let env = env();
            let _ = e.evaluate(resource);
            let _ = e.evaluate_bool(resource);
            if let Ok(items) = e.evaluate_located(resource, &env) {
                for item in items.iter().take(3) {
                    let _ = item.json_pointer();
                    let _ = e.evaluate_at(resource, item, &env);
                }
            }
        }
    })
}

proptest! {
    #![proptest_config(config())]

    /// Generated expressions parse or fail, and evaluate or fail, over a Practitioner.
    #[test]
    fn generated_expressions_never_panic(src in expression()) {
        exercise(&src, practitioner())?;
    }

    /// Damaged expressions: syntax errors in every position.
    #[test]
    fn damaged_expressions_never_panic(src in damaged()) {
        exercise(&src, practitioner())?;
    }

    /// Deep nesting is refused or evaluated, without overflowing a 2 MiB stack.
    #[test]
    fn deep_expressions_never_overflow(src in deep()) {
        let handle = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || exercise(&src, practitioner()))
            .expect("spawning the evaluation thread");
        handle.join().map_err(|_| TestCaseError::fail("the evaluation thread panicked"))??;
    }

    /// Expressions over random JSON: wrong shapes where FHIR types are expected.
    #[test]
    fn expressions_over_random_json_never_panic(src in expression(), resource in json_value()) {
        exercise(&src, &resource)?;
    }
}
