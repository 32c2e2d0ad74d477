//! The built-in element model (`src/builtin/elements_r4.tsv`) agrees with the official FHIR
//! R4 4.0.1 StructureDefinitions in `<repo>/../shared/fhir`, and [`validate_structure`]
//! accepts every official and IG example there while flagging deliberately broken ones.
//!
//! Skips visibly when the shared folder is absent, unless `FHIRDIR_REQUIRE_SHARED=1`.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use conformance::{validate_structure, ElementModel};
use serde_json::{json, Value};

const FHIR_TYPE_EXT: &str = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type";

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // Some IG files (the Plan-Net OpenAPI document) start with a byte order mark.
    let text = text.trim_start_matches('\u{feff}');
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read_ndjson_gz(path: &Path) -> Vec<Value> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    BufReader::new(flate2::read::GzDecoder::new(file))
        .lines()
        .map(|l| serde_json::from_str(&l.expect("readable line")).expect("one JSON per line"))
        .collect()
}

/// The official specializations (resources and datatypes, no profiles), by type name.
fn official_types(shared: &Path) -> HashMap<String, Value> {
    let mut out = HashMap::new();
    let types = read_json(&shared.join("r4-core/profiles-types.json"));
    let core = read_ndjson_gz(&shared.join("r4-core/hl7.fhir.r4.core-4.0.1.conformance.ndjson.gz"));
    let from_bundle = types["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"].clone());
    for sd in from_bundle.chain(core) {
        let is_sd = sd["resourceType"] == "StructureDefinition";
        let kind = sd["kind"].as_str().unwrap_or("");
        let specialization = sd.get("derivation").is_none_or(|d| d == "specialization");
        if is_sd && specialization && matches!(kind, "resource" | "complex-type" | "primitive-type")
        {
            let name = sd["type"].as_str().unwrap().to_string();
            out.entry(name).or_insert(sd);
        }
    }
    out
}

fn type_code(t: &Value) -> String {
    let ext = t["extension"].as_array().into_iter().flatten();
    for e in ext {
        if e["url"] == FHIR_TYPE_EXT {
            return e["valueUrl"].as_str().unwrap().to_string();
        }
    }
    match t["code"].as_str().unwrap() {
        // `xhtml.id` is the one element whose System.String type lacks the fhir-type
        // extension; every other `id` says `string`, which is what it is.
        "http://hl7.org/fhirpath/System.String" => "string".to_string(),
        code => code.to_string(),
    }
}

#[test]
fn every_official_element_is_in_the_model_with_the_same_cardinality_and_types() {
    let Some(shared) = testkit::shared_fhir() else {
        return;
    };
    let model = ElementModel::r4();
    let official = official_types(&shared);
    assert_eq!(
        official.len(),
        209,
        "R4 has 146 resources + 63 datatypes (less 2 profiles) + Resource/DomainResource"
    );
    let mut checked = 0;
    let mut official_paths = BTreeSet::new();
    for (name, sd) in &official {
        let def = model
            .type_def(name)
            .unwrap_or_else(|| panic!("type {name} missing"));
        let base = sd["baseDefinition"]
            .as_str()
            .and_then(|b| b.rsplit('/').next());
        assert_eq!(def.base.as_deref(), base, "{name} base");
        assert_eq!(def.is_abstract, sd["abstract"] == true, "{name} abstract");
        for el in sd["snapshot"]["element"].as_array().unwrap().iter().skip(1) {
            let path = el["path"].as_str().unwrap();
            let rel = &path[name.len() + 1..];
            if def.kind == conformance::elements::TypeKind::Primitive && rel == "value" {
                continue; // the JSON primitive itself
            }
            let got = model
                .element(name, rel)
                .unwrap_or_else(|| panic!("{path} missing from the model"));
            official_paths.insert(el["base"]["path"].as_str().unwrap().to_string());
            official_paths.insert(path.to_string());
            assert_eq!(
                u64::from(got.min),
                el["min"].as_u64().unwrap(),
                "{path} min"
            );
            let max = match got.max {
                None => "*".to_string(),
                Some(m) => m.to_string(),
            };
            assert_eq!(max, el["max"].as_str().unwrap(), "{path} max");
            match el["contentReference"].as_str() {
                Some(target) => assert_eq!(
                    got.content_reference.as_deref(),
                    Some(target.trim_start_matches('#')),
                    "{path} contentReference"
                ),
                None => {
                    let types: Vec<String> = el["type"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(type_code)
                        .collect();
                    assert_eq!(got.types, types, "{path} types");
                }
            }
            checked += 1;
        }
    }
    // And nothing in the table that is not official.
    for def in model.elements() {
        assert!(
            official_paths.contains(&def.path),
            "{} is not an official element",
            def.path
        );
    }
    assert!(checked > 7000, "only {checked} elements checked");
    eprintln!("{checked} official elements agree with the model");
}

/// Every resource file under `dir` (recursively), as (file name, resource).
fn resources_under(dir: &Path, out: &mut Vec<(String, Value)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    paths.sort();
    for path in paths {
        let name = path.display().to_string();
        if path.is_dir() {
            resources_under(&path, out);
        } else if name.ends_with(".ndjson.gz") {
            out.extend(read_ndjson_gz(&path).into_iter().map(|r| (name.clone(), r)));
        } else if name.ends_with(".json") {
            let v = read_json(&path);
            // Skip non-resource JSON (package.json, .index.json, openapi, validation output).
            if v.get("resourceType").is_some() {
                out.push((name, v));
            }
        }
    }
}

/// Defects in the shared data itself, each found by the validator and excused here:
/// (file name contains, issue contains, why it is the data and not the validator).
const KNOWN_DATA_DEFECTS: &[(&str, &str, &str)] = &[
    (
        "plan-net-ri-nppes/",
        ".identifier[0].value: string must be a string, found a number",
        "the Plan-Net RI's NPPES-generated data writes some NPIs as JSON numbers",
    ),
    (
        "hl7.fhir.r4.core-4.0.1.conformance",
        "invalid id \"questionnaireresponse-extensions-QuestionnaireResponse-item-subject\"",
        "a 66-character id in the core package (ids are at most 64)",
    ),
    (
        "/other/validation-oo.json",
        "invalid id \"SearchParameter-organizationaffiliation-participating-organization\"",
        "the IG publisher's QA output quotes a Plan-Net resource with a 67-character id",
    ),
    (
        "ndh/1.0.0-sushi-compiled/StructureDefinition-ndh-HealthcareService.json",
        "slicing.description: strings must not be empty",
        "our local SUSHI build of NDH emits an empty slicing description",
    ),
];

#[test]
fn official_and_ig_examples_are_structurally_valid() {
    let Some(shared) = testkit::shared_fhir() else {
        return;
    };
    let model = ElementModel::r4();
    let mut resources = Vec::new();
    // The VHDir examples are pre-4.0.1 ballot data (see SOURCES.md) and are expected to drift.
    for sub in ["r4-core", "plan-net", "ndh", "sample-data"] {
        resources_under(&shared.join(sub), &mut resources);
    }
    let mut failures = Vec::new();
    let mut excused = vec![0usize; KNOWN_DATA_DEFECTS.len()];
    for (file, resource) in &resources {
        for issue in validate_structure(resource, model) {
            let text = issue.to_string();
            let known = KNOWN_DATA_DEFECTS
                .iter()
                .position(|(f, i, _)| file.contains(f) && text.contains(i));
            match known {
                Some(k) => excused[k] += 1,
                None => failures.push(format!(
                    "{file} {}/{}: {text}",
                    resource["resourceType"], resource["id"]
                )),
            }
        }
    }
    assert!(
        resources.len() > 10_000,
        "only {} resources found",
        resources.len()
    );
    assert!(
        failures.is_empty(),
        "{} issues in {} resources:\n{}",
        failures.len(),
        resources.len(),
        failures
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    for ((file, issue, why), n) in KNOWN_DATA_DEFECTS.iter().zip(&excused) {
        assert!(
            *n > 0,
            "known defect no longer found, remove it: {file} {issue} ({why})"
        );
    }
    eprintln!(
        "{} official and IG resources are structurally valid ({} known data defects excused)",
        resources.len(),
        excused.iter().sum::<usize>()
    );
}

#[test]
fn broken_official_examples_are_flagged() {
    let Some(shared) = testkit::shared_fhir() else {
        return;
    };
    let model = ElementModel::r4();
    let mut examples = Vec::new();
    resources_under(&shared.join("plan-net/1.2.0/example"), &mut examples);
    assert!(!examples.is_empty());
    type Breaker = fn(&mut serde_json::Map<String, Value>);
    let breakers: [(&str, Breaker); 6] = [
        ("unknown element", |r| {
            r.insert("notAnElement".into(), json!(1));
        }),
        ("missing resourceType", |r| {
            r.remove("resourceType");
        }),
        ("invalid id", |r| {
            r.insert("id".into(), json!("has space"));
        }),
        ("must not be an array", |r| {
            r.insert("language".into(), json!(["en"]));
        }),
        ("must be a string", |r| {
            r.insert("language".into(), json!(7));
        }),
        ("must be an array", |r| {
            let ext = json!({"url": "http://example.org/x", "valueString": "s"});
            r.insert("extension".into(), ext);
        }),
    ];
    for (file, example) in &examples {
        for (expected, breaker) in &breakers {
            let mut broken = example.clone();
            breaker(broken.as_object_mut().unwrap());
            let issues = validate_structure(&broken, model);
            assert!(
                issues.iter().any(|i| i.message.contains(expected)),
                "{file} broken by {expected:?} was not flagged: {issues:?}"
            );
        }
        // Also break something nested: the first array of objects gets an unknown child.
        let mut broken = example.clone();
        let nested = broken
            .as_object_mut()
            .unwrap()
            .values_mut()
            .filter_map(|v| v.as_array_mut())
            .find_map(|a| a.first_mut().and_then(|f| f.as_object_mut()));
        if let Some(obj) = nested {
            obj.insert("bogusChild".into(), json!("x"));
            let issues = validate_structure(&broken, model);
            assert!(
                issues.iter().any(|i| i.message.contains("bogusChild")),
                "{file}: nested unknown element not flagged: {issues:?}"
            );
        }
    }
}
