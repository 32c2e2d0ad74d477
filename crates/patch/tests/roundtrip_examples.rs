//! Every top-level element of every Plan-Net and NDH example, removed and then added back
//! with FHIRPath Patch `add` operations (typed values where Parameters allows the type,
//! nested parts otherwise), gives back the original resource. This exercises part-built
//! values, choice names, repeating elements and contained resources on real data.
//!
//! Skips visibly when `<repo>/../shared/fhir` is absent, unless `FHIRDIR_REQUIRE_SHARED=1`.

use std::path::PathBuf;

use conformance::elements::{Child, TypeKind};
use conformance::ElementModel;
use patch::{apply_fhirpath_patch, check_patched};
use serde_json::{json, Map, Value};

fn shared_dirs() -> Option<Vec<PathBuf>> {
    let shared = testkit::shared_fhir()?;
    Some(vec![
        shared.join("plan-net/1.2.0/example"),
        shared.join("ndh/1.0.0-sushi-compiled"),
    ])
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Encodes `value` (an item of element `child`, JSON property `name`) as a patch part.
fn encode(model: &'static ElementModel, name: &str, child: Child<'static>, value: &Value) -> Value {
    let parameter_types = &model
        .element("Parameters", "parameter.value[x]")
        .unwrap()
        .types;
    let inline = matches!(child.type_code, "BackboneElement" | "Element");
    let kind = model.type_def(child.type_code).map(|t| t.kind);
    if kind == Some(TypeKind::Resource) {
        return json!({"name": name, "resource": value});
    }
    let typed = if !inline && parameter_types.iter().any(|t| t == child.type_code) {
        Some(child.type_code)
    } else if kind == Some(TypeKind::Primitive) {
        // xhtml (Narrative.div) travels as a string, as in the spec's test cases.
        Some("string")
    } else {
        None
    };
    if let Some(ty) = typed {
        let mut part = Map::new();
        part.insert("name".into(), json!(name));
        part.insert(format!("value{}", upper_first(ty)), value.clone());
        return Value::Object(part);
    }
    // Anonymous elements and types Parameters cannot carry (Narrative, Extension): parts.
    let mut parts = Vec::new();
    for (key, v) in value.as_object().expect("complex values are objects") {
        let grandchild = model
            .child(child.context, key)
            .unwrap_or_else(|| panic!("{} has no {key}", child.context));
        for item in v.as_array().cloned().unwrap_or_else(|| vec![v.clone()]) {
            parts.push(encode(model, key, grandchild, &item));
        }
    }
    json!({"name": name, "part": parts})
}

/// Whether any object under `v` has a `_name` primitive companion (not expressible in parts).
fn has_companion(v: &Value) -> bool {
    match v {
        Value::Object(o) => o
            .iter()
            .any(|(k, v)| k.starts_with('_') || has_companion(v)),
        Value::Array(a) => a.iter().any(has_companion),
        _ => false,
    }
}

#[test]
fn removing_and_re_adding_every_element_of_the_examples_round_trips() {
    let Some(dirs) = shared_dirs() else { return };
    let model = ElementModel::r4();
    let (mut resources, mut elements) = (0, 0);
    for dir in dirs {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        paths.sort();
        for path in paths
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
        {
            let original: Value =
                serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            let Some(rt) = original["resourceType"].as_str() else {
                continue;
            };
            // The few known defects in the data (see conformance's elements_match_official).
            if !conformance::validate_structure(&original, model).is_empty() {
                continue;
            }
            let mut stripped = original.clone();
            let mut operations = Vec::new();
            for (key, value) in original.as_object().unwrap() {
                if matches!(key.as_str(), "resourceType" | "id")
                    || key.starts_with('_')
                    || has_companion(value)
                {
                    continue;
                }
                if original.get(format!("_{key}")).is_some() {
                    continue;
                }
                let child = model
                    .child(rt, key)
                    .unwrap_or_else(|| panic!("{}: {rt} has no {key}", path.display()));
                stripped.as_object_mut().unwrap().remove(key);
                for item in value
                    .as_array()
                    .cloned()
                    .unwrap_or_else(|| vec![value.clone()])
                {
                    operations.push(json!({"name": "operation", "part": [
                        {"name": "type", "valueCode": "add"},
                        {"name": "path", "valueString": rt},
                        {"name": "name", "valueString": key},
                        encode(model, "value", child, &item)
                    ]}));
                }
                elements += 1;
            }
            let mut rebuilt = stripped.clone();
            let p = json!({"resourceType": "Parameters", "parameter": operations});
            apply_fhirpath_patch(&mut rebuilt, &p)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(rebuilt, original, "{}", path.display());
            check_patched(&stripped, &rebuilt, model)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            resources += 1;
        }
    }
    assert!(
        resources > 200 && elements > 1500,
        "{resources} resources, {elements} elements"
    );
    eprintln!("{resources} resources, {elements} top-level elements round-tripped through FHIRPath Patch add");
}
