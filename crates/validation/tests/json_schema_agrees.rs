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

use std::io::BufRead;
use std::path::Path;

use conformance::ElementModel;
use serde_json::{json, Value};

fn resources(dir: &Path, out: &mut Vec<(String, Value)>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            resources(&p, out);
        } else if name.ends_with(".json") {
            let Ok(v) = serde_json::from_str::<Value>(&std::fs::read_to_string(&p).unwrap()) else {
                continue;
            };
            if v.get("resourceType").is_some() {
                out.push((name, v));
            }
        } else if name.ends_with(".ndjson.gz") {
            let f = flate2::read::GzDecoder::new(std::fs::File::open(&p).unwrap());
            for (n, line) in std::io::BufReader::new(f).lines().enumerate() {
                out.push((
                    format!("{name}:{}", n + 1),
                    serde_json::from_str(&line.unwrap()).unwrap(),
                ));
            }
        }
    }
}

/// Where the two disagree because the schema cannot say it: (what the structural pass
/// reports, why the schema accepts it).
const SCHEMA_CANNOT: &[(&str, &str)] = &[];

#[test]
fn the_official_json_schema_agrees_with_the_structural_pass() {
    let Some(shared) = testkit::shared_fhir() else {
        return;
    };
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(shared.join("r4-core/fhir.schema.json")).unwrap(),
    )
    .unwrap();
    let oracle = jsonschema::draft6::new(&schema).expect("the R4 schema compiles");
    let model = ElementModel::r4();
    let mut all = Vec::new();
    for dir in [
        "r4-core/examples",
        "plan-net",
        "ndh/1.0.0-sushi-compiled",
        "vhdir/ig-resources",
        "sample-data",
    ] {
        resources(&shared.join(dir), &mut all);
    }
    assert!(all.len() > 6000, "{} resources", all.len());
    let mut disagree = Vec::new();
    for (name, r) in &all {
        let ours = conformance::validate_structure(r, model);
        let theirs = oracle.is_valid(r);
        if ours.is_empty() != theirs {
            let excused = ours.iter().all(|i| {
                SCHEMA_CANNOT
                    .iter()
                    .any(|(says, _)| i.message.contains(says))
            });
            if ours.is_empty() || !excused {
                disagree.push(format!(
                    "{name}: schema {}, ours {:?}",
                    if theirs { "valid" } else { "invalid" },
                    ours.iter()
                        .map(|i| format!("{}: {}", i.path, i.message))
                        .collect::<Vec<_>>()
                ));
            }
        }
    }
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
