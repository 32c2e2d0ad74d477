//! The official R4 JSON schema, run by the `jsonschema` crate, as an oracle for the
//! structural pass (`conformance::validate_structure`, the first walk of every validation):
//! on every shared example and sample resource, and on broken variants, the two agree on
//! whether a resource is structurally valid, except where the schema cannot express an R4
//! rule (listed with the reason).
//!
//! Why the schema is an oracle here and not the validator: the server's structural pass
//! walks the element model the binary carries (the schema is test data, `../shared/fhir`),
//! locates each issue as a FHIRPath expression (`Practitioner.identifier[0].system`) where
//! the schema's errors point into `oneOf` branches, and costs one walk, where the schema's
//! `ResourceList` tries every resource type.
//!
//! Skips visibly when `<repo>/../shared/fhir` is absent, unless `FHIRDIR_REQUIRE_SHARED=1`.

mod support;

use conformance::ElementModel;
use serde_json::{json, Value};

/// The schema, compiled per resource type. Its `ResourceList` (any resource: contained
/// ones, Bundle entries) is left open, a JSON object: compiled whole, the recursion through it
/// took the `jsonschema` crate over 20 GB. Contained resources are the structural pass's
/// alone here.
struct Oracle {
    schema: Value,
    compiled: std::collections::HashMap<String, jsonschema::Validator>,
}

impl Oracle {
    fn new(mut schema: Value) -> Oracle {
        schema["definitions"]["ResourceList"] = json!({"type": "object"});
        Oracle {
            schema,
            compiled: Default::default(),
        }
    }

    fn is_valid(&mut self, r: &Value) -> bool {
        let rt = r["resourceType"].as_str().unwrap_or_default().to_owned();
        let schema = &self.schema;
        let v = self.compiled.entry(rt.clone()).or_insert_with(|| {
            let mut one = schema.clone();
            let root = one.as_object_mut().unwrap();
            root.remove("oneOf");
            root.remove("discriminator");
            root.insert("$ref".into(), json!(format!("#/definitions/{rt}")));
            jsonschema::draft6::new(&one).expect("the R4 schema compiles")
        });
        v.is_valid(r)
    }

    /// The schema's first errors on `r` (it has been checked before).
    fn errors(&self, r: &Value) -> Vec<String> {
        let v = &self.compiled[r["resourceType"].as_str().unwrap_or_default()];
        v.iter_errors(r)
            .take(3)
            .map(|e| format!("{}: {e}", e.instance_path))
            .collect()
    }
}

/// What the R4 schema gets wrong: (a part of its error, why it is not an error).
const SCHEMA_WRONG: &[(&str, &str)] = &[
    (
        "'_supportedProfile' was unexpected",
        "the R4 schema gives no `_` element (id, extensions) to arrays of canonicals; R4 JSON \
         allows one for every primitive (https://hl7.org/fhir/R4/json.html#primitive)",
    ),
    (
        "null is not of type",
        "R4 JSON writes null for an item of a repeating primitive that has only extensions \
         (NDH's Organization-Acme `alias`, with `_alias`); the schema allows no null",
    ),
];

/// Whether a structural issue lies where the oracle does not look: inside a Bundle entry's
/// or a contained resource (its `ResourceList` is left open).
fn beyond_the_oracle(path: &str) -> bool {
    path.contains(".resource.") || path.contains(".contained[")
}

#[test]
fn the_official_json_schema_agrees_with_the_structural_pass() {
    let Some(shared) = testkit::shared_fhir() else {
        return;
    };
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(shared.join("r4-core/fhir.schema.json")).unwrap(),
    )
    .unwrap();
    let mut oracle = Oracle::new(schema);
    let model = ElementModel::r4();
    let mut all = Vec::new();
    for dir in [
        "r4-core/examples",
        "plan-net",
        "ndh/1.0.0-sushi-compiled",
        "vhdir/ig-resources",
        "sample-data",
    ] {
        all.extend(support::json_files(&shared.join(dir)));
        all.extend(support::ndjson_gz(&shared.join(dir)));
    }
    assert!(all.len() > 6000, "{} resources", all.len());
    let mut disagree = Vec::new();
    let mut refused = 0;
    for (name, r) in &all {
        let structure = conformance::validate_structure(r, model);
        let theirs = oracle.is_valid(r);
        // The schema refuses: so does our validation (its required bindings are the schema's
        // enums, checked by the content walk), unless the schema is wrong.
        if !theirs {
            refused += 1;
            let ours = validation::Validator::core().validate(r);
            let excused = oracle
                .errors(r)
                .iter()
                .all(|e| SCHEMA_WRONG.iter().any(|(says, _)| e.contains(says)));
            if !validation::has_errors(&ours) && !excused {
                disagree.push(format!(
                    "{name}: only the schema refuses it: {:?}",
                    oracle.errors(r)
                ));
            }
        }
        // Our structural pass refuses: so does the schema, where it looks.
        if theirs && structure.iter().any(|i| !beyond_the_oracle(&i.path)) {
            disagree.push(format!(
                "{name}: only the structural pass refuses it: {:?}",
                structure
                    .iter()
                    .map(|i| format!("{}: {}", i.path, i.message))
                    .collect::<Vec<_>>()
            ));
        }
    }
    // The comparison has teeth: the shared data holds resources the schema refuses.
    assert!(refused > 100, "{refused} refused by the schema");
    assert!(
        disagree.is_empty(),
        "{} disagreements, first: {:#?}",
        disagree.len(),
        &disagree[..disagree.len().min(10)]
    );
    // Broken variants: both refuse each.
    let base = json!({"resourceType": "Practitioner", "id": "p", "active": true,
                      "name": [{"family": "Osler"}], "birthDate": "1849-07-12"});
    assert!(oracle.is_valid(&base));
    let broken: Vec<(&str, Value)> = vec![
        ("an unknown element", json!({"colour": "blue"})),
        ("a wrong JSON kind", json!({"active": "yes"})),
        (
            "a single value where the element repeats",
            json!({"name": {"family": "Osler"}}),
        ),
        ("a bad date", json!({"birthDate": "12/07/1849"})),
        ("a bad id", json!({"id": "no spaces allowed"})),
        ("an empty string", json!({"gender": ""})),
    ];
    for (what, change) in broken {
        let mut r = base.clone();
        r.as_object_mut()
            .unwrap()
            .extend(change.as_object().unwrap().clone());
        assert!(!oracle.is_valid(&r), "{what}: the schema refuses it");
        assert!(
            !conformance::validate_structure(&r, model).is_empty(),
            "{what}: the structural pass refuses it"
        );
    }
}
