//! Garbage in, error out: random and mutated patch documents of both formats never panic,
//! and a failed patch leaves the resource exactly as it was. Deterministic (fixed seeds).

use patch::{apply_fhirpath_patch, apply_json_patch, check_patched};
use serde_json::{json, Map, Value};

/// xorshift64*: small, deterministic, good enough to shake inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const POINTERS: &[&str] = &[
    "",
    "/",
    "/id",
    "/name",
    "/name/0",
    "/name/-",
    "/name/0/given",
    "/name/0/given/1",
    "/name/0/given/-",
    "/name/9",
    "/name/01",
    "/telecom/0/value",
    "/active",
    "/~",
    "/~0",
    "/~1",
    "/a~2b",
    "name",
    "/resourceType",
    "/meta/profile/0",
    "/qualification/0/code/coding/0",
    "/contained/0/name",
    "/_birthDate/extension/0",
];

const PATHS: &[&str] = &[
    "Practitioner",
    "Practitioner.name",
    "Practitioner.name[0]",
    "Practitioner.name.given",
    "Practitioner.name[0].given",
    "Practitioner.name.given[1]",
    "Practitioner.telecom",
    "Practitioner.telecom.where(system = 'phone')",
    "Practitioner.active",
    "Practitioner.identifier",
    "Practitioner.qualification.code",
    "Practitioner.contained",
    "Practitioner.contained.ofType(Organization)",
    "Practitioner.birthDate",
    "Practitioner.extension",
    "Practitioner.meta",
    "'x'",
    "1 + 1",
    "Practitioner.name.where(",
    "%resource",
    "$this",
    "Practitioner.name.first()",
    "Practitioner.descendants()",
    "Practitioner.`name`",
    "",
    "..",
    "Practitioner.nope",
];

const NAMES: &[&str] = &[
    "name",
    "given",
    "family",
    "active",
    "telecom",
    "extension",
    "deceased",
    "value",
    "url",
    "nope",
    "id",
    "resourceType",
    "contained",
    "",
];

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
        "contained": [{"resourceType": "Organization", "id": "o", "name": "Org"}]
    })
}

fn random_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 3 { 6 } else { 9 }) {
        0 => Value::Null,
        1 => json!(rng.below(2) == 0),
        2 => json!(rng.below(100) as i64 - 50),
        3 => json!(1.5),
        4 => json!(*rng.pick(NAMES)),
        5 => json!(*rng.pick(PATHS)),
        6 | 7 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let mut m = Map::new();
            for _ in 0..rng.below(4) {
                let key = (*rng.pick(&[
                    "op",
                    "path",
                    "from",
                    "value",
                    "name",
                    "part",
                    "valueString",
                    "valueInteger",
                    "resourceType",
                    "x",
                ]))
                .to_string();
                m.insert(key, random_value(rng, depth + 1));
            }
            Value::Object(m)
        }
    }
}

fn random_json_patch(rng: &mut Rng) -> Value {
    let ops = ["add", "remove", "replace", "move", "copy", "test", "bogus"];
    Value::Array(
        (0..1 + rng.below(4))
            .map(|_| {
                let mut op = json!({"op": *rng.pick(&ops), "path": *rng.pick(POINTERS)});
                if rng.below(4) > 0 {
                    op["value"] = random_value(rng, 0);
                }
                if rng.below(2) == 0 {
                    op["from"] = json!(*rng.pick(POINTERS));
                }
                op
            })
            .collect(),
    )
}

fn random_value_part(rng: &mut Rng, depth: usize) -> Value {
    let keys = [
        "valueString",
        "valueInteger",
        "valueBoolean",
        "valueHumanName",
        "valueCode",
        "valueContactPoint",
        "valueDate",
    ];
    match rng.below(if depth > 2 { 2 } else { 4 }) {
        0 => {
            let mut part = json!({"name": "value"});
            let key = *rng.pick(&keys);
            part[key] = match key {
                "valueInteger" => json!(rng.below(5)),
                "valueBoolean" => json!(true),
                "valueHumanName" => json!({"family": "X"}),
                "valueContactPoint" => json!({"system": "phone", "value": "9"}),
                _ => json!("v"),
            };
            part
        }
        1 => {
            json!({"name": "value", "resource": {"resourceType": *rng.pick(&["Organization", "Location", "Nope"]), "id": "r"}})
        }
        _ => {
            let parts: Vec<Value> = (0..1 + rng.below(3))
                .map(|_| {
                    let mut p = random_value_part(rng, depth + 1);
                    p["name"] = json!(*rng.pick(NAMES));
                    p
                })
                .collect();
            json!({"name": "value", "part": parts})
        }
    }
}

fn random_fhirpath_patch(rng: &mut Rng) -> Value {
    let types = ["add", "insert", "delete", "replace", "move", "bogus"];
    let params: Vec<Value> = (0..1 + rng.below(3))
        .map(|_| {
            let mut parts = vec![json!({"name": "type", "valueCode": *rng.pick(&types)})];
            if rng.below(8) > 0 {
                parts.push(json!({"name": "path", "valueString": *rng.pick(PATHS)}));
            }
            if rng.below(2) == 0 {
                parts.push(json!({"name": "name", "valueString": *rng.pick(NAMES)}));
            }
            if rng.below(3) > 0 {
                parts.push(random_value_part(rng, 0));
            }
            for n in ["index", "source", "destination"] {
                if rng.below(3) == 0 {
                    parts.push(json!({"name": n, "valueInteger": rng.below(4)}));
                }
            }
            json!({"name": "operation", "part": parts})
        })
        .collect();
    json!({"resourceType": "Parameters", "parameter": params})
}

/// Replaces one random node of `doc` with a random value.
fn mutate(rng: &mut Rng, doc: &mut Value) {
    let stop = rng.below(4) == 0;
    match doc {
        Value::Array(items) if !items.is_empty() && !stop => {
            let i = rng.below(items.len());
            mutate(rng, &mut items[i]);
        }
        Value::Object(map) if !map.is_empty() && !stop => {
            let i = rng.below(map.len());
            if let Some(child) = map.values_mut().nth(i) {
                mutate(rng, child);
            }
        }
        _ => *doc = random_value(rng, 2),
    }
}

#[test]
fn random_json_patches_never_panic_and_fail_atomically() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..4000 {
        let patch = if rng.below(3) == 0 {
            random_value(&mut rng, 0)
        } else {
            random_json_patch(&mut rng)
        };
        let before = practitioner();
        let mut doc = before.clone();
        match apply_json_patch(&mut doc, &patch) {
            Ok(()) => {
                ok += 1;
                let _ = check_patched(&before, &doc, conformance::ElementModel::r4());
            }
            Err(e) => {
                failed += 1;
                assert!(!e.to_string().is_empty());
                assert_eq!(doc, before, "failed patch {patch} changed the resource");
            }
        }
    }
    assert!(
        ok > 100 && failed > 100,
        "ok {ok}, failed {failed}: the generator should exercise both"
    );
}

#[test]
fn random_and_mutated_fhirpath_patches_never_panic_and_fail_atomically() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let (mut ok, mut failed) = (0, 0);
    for round in 0..4000 {
        let mut patch = random_fhirpath_patch(&mut rng);
        if round % 3 == 0 {
            mutate(&mut rng, &mut patch);
        }
        if round % 11 == 0 {
            patch = random_value(&mut rng, 0);
        }
        let before = practitioner();
        let mut doc = before.clone();
        match apply_fhirpath_patch(&mut doc, &patch) {
            Ok(()) => {
                ok += 1;
                let _ = check_patched(&before, &doc, conformance::ElementModel::r4());
            }
            Err(e) => {
                failed += 1;
                assert!(!e.to_string().is_empty());
                assert_eq!(doc, before, "failed patch {patch} changed the resource");
            }
        }
    }
    assert!(
        ok > 20 && failed > 100,
        "ok {ok}, failed {failed}: the generator should exercise both"
    );
}

#[test]
fn deeply_nested_parts_are_refused_not_followed() {
    let mut value = json!({"name": "value", "valueString": "x"});
    for _ in 0..200 {
        value = json!({"name": "value", "part": [value]});
    }
    let p = json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
        {"name": "type", "valueCode": "add"}, {"name": "path", "valueString": "Practitioner"},
        {"name": "name", "valueString": "extension"}, value]}]});
    let mut doc = practitioner();
    assert!(apply_fhirpath_patch(&mut doc, &p).is_err());
    assert_eq!(doc, practitioner());
}
