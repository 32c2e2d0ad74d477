//! Fuzz targets (proptest) for both patch formats: JSON Patch documents (every op, JSON
//! Pointers with escapes, array indexes such as `-`, `01` and 2^64, any value) and FHIRPath
//! Patch `Parameters` (every operation type, FHIRPath paths good and bad, values of every
//! shape, nested parts, extreme `index`/`source`/`destination`), applied to a Practitioner
//! and to random resources.
//!
//! The property is "returns `Ok` or `Err`, never panics, finishes quickly, and a failed patch
//! leaves the resource exactly as it was" (both appliers promise atomicity); a patched
//! resource is then checked with `check_patched`, which must not panic either. Cases per
//! property: `FHIRDIR_FUZZ_CASES` (default small enough for CI); seed: `FHIRDIR_FUZZ_SEED`
//! (default fixed, so a CI failure reproduces). See FUZZING.md.

use std::time::Duration;

use patch::{apply_fhirpath_patch, apply_json_patch, check_patched};
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
// Resources and values.

fn practitioner() -> Value {
    json!({
        "resourceType": "Practitioner", "id": "p1",
        "meta": {"profile": ["http://x/y"]},
        "identifier": [{"system": "http://a", "value": "1"}],
        "active": true,
        "name": [{"family": "Smith", "given": ["A", "B"], "_given": [null, {"extension": [{"url": "http://x", "valueString": "b"}]}]}],
        "telecom": [{"system": "phone", "value": "1"}, {"system": "email", "value": "a@b"}],
        "birthDate": "1970", "_birthDate": {"id": "b"},
        "qualification": [{"code": {"coding": [{"code": "MD"}]}}],
        "extension": [{"url": "http://e", "valueQuantity": {"value": 1.5, "unit": "mg"}}],
        "contained": [{"resourceType": "Organization", "id": "o", "name": "Org"}]
    })
}

/// Keys FHIR resources (and this Practitioner) use, and a few they do not.
const KEYS: &[&str] = &[
    "resourceType",
    "id",
    "meta",
    "identifier",
    "active",
    "name",
    "family",
    "given",
    "_given",
    "telecom",
    "system",
    "value",
    "birthDate",
    "_birthDate",
    "qualification",
    "code",
    "coding",
    "extension",
    "url",
    "valueString",
    "valueQuantity",
    "contained",
    "gender",
    "nope",
    "",
    "a/b",
    "~",
    "é",
];

/// Random JSON: every kind of value, FHIR-ish keys, nesting, extreme numbers.
fn json_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        select(
            &[
                "",
                "x",
                "Practitioner",
                "Organization",
                "1970",
                "phone",
                "\u{0}",
                "🦀",
                "#o"
            ][..]
        )
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((select(KEYS), inner), 0..5).prop_map(|kv| {
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

/// The resource to patch: the Practitioner, or a random one (keeping its type and id).
fn resource() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => Just(practitioner()),
        1 => prop::collection::vec((select(KEYS), json_value()), 0..6).prop_map(|kv| {
            let mut map: Map<String, Value> =
                kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            map.insert("resourceType".into(), json!("Practitioner"));
            map.insert("id".into(), json!("p1"));
            Value::Object(map)
        }),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------------
// JSON Patch.

/// Pointers that resolve in (or next to) the Practitioner.
const REAL_POINTERS: &[&str] = &[
    "/id",
    "/active",
    "/gender",
    "/name",
    "/name/0",
    "/name/-",
    "/name/0/family",
    "/name/0/given",
    "/name/0/given/0",
    "/name/0/given/1",
    "/name/0/given/-",
    "/name/0/_given/1/extension/0/url",
    "/telecom/1",
    "/telecom/0/value",
    "/identifier/0",
    "/birthDate",
    "/_birthDate",
    "/_birthDate/id",
    "/qualification/0/code/coding/0/code",
    "/extension/0/valueQuantity/value",
    "/contained/0",
    "/contained/0/name",
    "/meta/profile/0",
];

/// A JSON Pointer: segments from the resource's keys, array indexes good and bad, escapes.
fn pointer() -> BoxedStrategy<String> {
    let segment = prop_oneof![
        6 => select(KEYS).prop_map(str::to_owned),
        3 => select(&["0", "1", "2", "-", "01", "-1", "+1", " 1", "1e0",
            "18446744073709551616", "99999999999999999999999"][..]).prop_map(str::to_owned),
        1 => select(&["~0", "~1", "~01", "~10", "~2", "~", "a~", "%2F", "\u{0}"][..])
            .prop_map(str::to_owned),
    ];
    prop_oneof![
        8 => select(REAL_POINTERS).prop_map(str::to_owned),
        6 => prop::collection::vec(segment, 0..6).prop_map(|s| {
            s.into_iter().map(|s| format!("/{s}")).collect::<String>()
        }),
        1 => select(&["", "/", "//", "name", "#/name", "/name/"][..]).prop_map(str::to_owned),
    ]
    .boxed()
}

fn json_patch_op() -> BoxedStrategy<Value> {
    let op = prop_oneof![
        40 => select(&["add", "remove", "replace", "move", "copy", "test"][..]),
        1 => select(&["bogus", "", "ADD"][..]),
    ];
    (
        op,
        prop::option::weighted(0.95, pointer()),
        prop::option::weighted(0.9, json_value()),
        prop::option::weighted(0.9, pointer()),
        prop::option::weighted(0.05, json_value()),
    )
        .prop_map(|(op, path, value, from, extra)| {
            let mut m = Map::new();
            m.insert("op".into(), json!(op));
            if let Some(p) = path {
                m.insert("path".into(), json!(p));
            }
            if let Some(v) = value {
                m.insert("value".into(), v);
            }
            if let Some(f) = from {
                m.insert("from".into(), json!(f));
            }
            if let Some(x) = extra {
                m.insert("op".into(), x);
            }
            Value::Object(m)
        })
        .boxed()
}

fn json_patch() -> BoxedStrategy<Value> {
    prop_oneof![
        12 => prop::collection::vec(json_patch_op(), 1..5).prop_map(Value::Array),
        1 => Just(json!([])),
        1 => json_value(),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------------
// FHIRPath Patch.

const PATHS: &[&str] = &[
    "Practitioner",
    "Practitioner.name",
    "Practitioner.name[0]",
    "Practitioner.name[99999999]",
    "Practitioner.name.given",
    "Practitioner.name[0].given",
    "Practitioner.name.given[1]",
    "Practitioner.name.given.last()",
    "Practitioner.telecom",
    "Practitioner.telecom.where(system = 'phone')",
    "Practitioner.telecom.where(system = 'phone').value",
    "Practitioner.active",
    "Practitioner.identifier",
    "Practitioner.qualification.code",
    "Practitioner.qualification.code.coding",
    "Practitioner.contained",
    "Practitioner.contained.ofType(Organization)",
    "Practitioner.contained[0].name",
    "Practitioner.birthDate",
    "Practitioner.extension",
    "Practitioner.extension.value",
    "Practitioner.extension.value.ofType(Quantity).value",
    "Practitioner.meta",
    "Practitioner.meta.profile",
    "Practitioner.descendants()",
    "Practitioner.children()",
    "Practitioner.name.given.extension",
    "Practitioner.`name`",
    "Practitioner.nope",
    "Organization.name",
    "name",
    "identifier",
    "'x'",
    "1 + 1",
    "%resource",
    "$this",
    "Practitioner.name.where(",
    "..",
    " ",
];

const NAMES: &[&str] = &[
    "name",
    "given",
    "family",
    "active",
    "telecom",
    "identifier",
    "extension",
    "modifierExtension",
    "deceased",
    "value",
    "url",
    "id",
    "resourceType",
    "contained",
    "gender",
    "birthDate",
    "nope",
];

/// A value of the FHIR type a `value[x]` key names, mostly well-formed.
fn typed_value() -> BoxedStrategy<(&'static str, Value)> {
    let text = || select(&["x", "Jo", "phone", "http://e", "\u{0}", "🦀", "1970-01-01"][..]);
    prop_oneof![
        text().prop_map(|s| ("valueString", json!(s))),
        any::<i32>().prop_map(|i| ("valueInteger", json!(i))),
        any::<bool>().prop_map(|b| ("valueBoolean", json!(b))),
        select(&["female", "phone", "x", "a b"][..]).prop_map(|c| ("valueCode", json!(c))),
        select(&["1970", "1970-01", "2020-02-29"][..])
            .prop_map(|d| ("valueDate", json!(d))),
        select(&["2020-01-01T10:00:00Z", "2020", "2020-01-01T10:00:00+14:00"][..])
            .prop_map(|d| ("valueDateTime", json!(d))),
        any::<f64>().prop_map(|f| ("valueDecimal", serde_json::Number::from_f64(f).map_or(json!(0), Value::Number))),
        (text(), prop::collection::vec(text(), 1..3))
            .prop_map(|(f, g)| ("valueHumanName", json!({"family": f, "given": g}))),
        (select(&["phone", "email", "nope"][..]), text())
            .prop_map(|(s, v)| ("valueContactPoint", json!({"system": s, "value": v}))),
        text().prop_map(|v| ("valueIdentifier", json!({"system": "http://a", "value": v}))),
        any::<f64>().prop_map(|f| ("valueQuantity", json!({"value": serde_json::Number::from_f64(f).map_or(json!(1), Value::Number), "unit": "mg"}))),
        select(&["#o", "Organization/1", "#nope", "http://e/Organization/1"][..])
            .prop_map(|r| ("valueReference", json!({"reference": r}))),
    ]
    .boxed()
}

/// A `value` part: a typed value (now and then of the wrong shape), a resource, or nested
/// parts.
fn value_part() -> BoxedStrategy<Value> {
    let typed = typed_value().prop_map(|(key, v)| json!({"name": "value", key: v}));
    let wrong = (
        select(
            &[
                "valueString",
                "valueInteger",
                "valueHumanName",
                "valueNope",
                "value",
            ][..],
        ),
        json_value(),
    )
        .prop_map(|(key, v)| json!({"name": "value", key: v}));
    let resource = select(&["Organization", "Location", "Practitioner"][..])
        .prop_map(|t| json!({"name": "value", "resource": {"resourceType": t, "id": "r"}}));
    let leaf = prop_oneof![30 => typed, 1 => wrong, 3 => resource];
    leaf.prop_recursive(4, 16, 3, |inner| {
        (prop::collection::vec((select(NAMES), inner), 1..4)).prop_map(|parts| {
            let parts: Vec<Value> = parts
                .into_iter()
                .map(|(name, mut p)| {
                    p["name"] = json!(name);
                    p
                })
                .collect();
            json!({"name": "value", "part": parts})
        })
    })
    .boxed()
}

/// An `index`, `source` or `destination` part, often with an extreme or wrong-typed value.
fn integer_part(name: &'static str) -> BoxedStrategy<Value> {
    prop_oneof![
        200 => (0u64..4).prop_map(Value::from),
        10 => select(&[i32::MAX as u64, 99_999_999][..]).prop_map(Value::from),
        1 => select(&[u64::MAX, 1 << 32, 1 << 63][..]).prop_map(Value::from),
        1 => (-3i64..0).prop_map(Value::from),
        1 => Just(json!(1.5)),
        1 => Just(json!("1")),
    ]
    .prop_map(move |v| json!({"name": name, "valueInteger": v}))
    .boxed()
}

/// One `operation` parameter. The parts its type needs are usually there (each is left
/// out now and then), the others now and then; `junk` is an extra malformed part.
fn operation() -> BoxedStrategy<Value> {
    let kind = prop_oneof![
        30 => select(&["add", "insert", "delete", "replace", "move"][..]),
        1 => select(&["bogus", "ADD"][..]),
    ];
    let present = || prop::bool::weighted(0.93);
    let extra = || prop::bool::weighted(0.1);
    (
        kind,
        (select(PATHS), select(NAMES), value_part()),
        (
            integer_part("index"),
            integer_part("source"),
            integer_part("destination"),
        ),
        (present(), present(), present(), present(), present()),
        (extra(), extra(), extra()),
        prop::option::weighted(0.01, json_value()),
    )
        .prop_map(
            |(kind, (path, name, value), (index, source, destination), keep, add, junk)| {
                let needs = |part: &str| {
                    matches!(
                        (kind, part),
                        (_, "path")
                            | ("add", "name" | "value")
                            | ("insert", "value" | "index")
                            | ("replace", "value")
                            | ("move", "source" | "destination")
                    )
                };
                let mut parts = vec![json!({"name": "type", "valueCode": kind})];
                let candidates = [
                    (
                        "path",
                        json!({"name": "path", "valueString": path}),
                        keep.0,
                        add.0,
                    ),
                    (
                        "name",
                        json!({"name": "name", "valueString": name}),
                        keep.1,
                        add.1,
                    ),
                    ("value", value, keep.2, add.2),
                    ("index", index, keep.3, add.0),
                    ("source", source, keep.4, add.1),
                    ("destination", destination, keep.4, add.2),
                ];
                for (part, v, keep, add) in candidates {
                    if (needs(part) && keep) || (!needs(part) && add) {
                        parts.push(v);
                    }
                }
                parts.extend(junk);
                json!({"name": "operation", "part": parts})
            },
        )
        .boxed()
}

fn fhirpath_patch() -> BoxedStrategy<Value> {
    prop_oneof![
        40 => prop::collection::vec(operation(), 1..4)
            .prop_map(|ops| json!({"resourceType": "Parameters", "parameter": ops})),
        1 => json_value(),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------------
// Properties.

/// Applies `patch` with `apply`; on failure the resource must be unchanged, on success the
/// result is checked (which must not panic either).
fn check_atomic(
    before: &Value,
    patch: &Value,
    apply: fn(&mut Value, &Value) -> Result<(), patch::PatchError>,
) -> Result<(), TestCaseError> {
    let mut doc = before.clone();
    let label = patch.to_string();
    let outcome = timed(&label, || apply(&mut doc, patch))?;
    match outcome {
        Ok(()) => {
            timed(&label, || {
                check_patched(before, &doc, conformance::ElementModel::r4())
            })?
            .ok();
        }
        Err(e) => {
            prop_assert!(!e.to_string().is_empty());
            prop_assert_eq!(&doc, before, "failed patch {} changed the resource", label);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn json_patches_never_panic_and_fail_atomically(before in resource(), patch in json_patch()) {
        check_atomic(&before, &patch, apply_json_patch)?;
    }

    #[test]
    fn fhirpath_patches_never_panic_and_fail_atomically(
        before in resource(),
        patch in fhirpath_patch(),
    ) {
        check_atomic(&before, &patch, apply_fhirpath_patch)?;
    }
}
