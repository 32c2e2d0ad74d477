//! The FHIR R4 invariants (`constraint.expression`) of the directory resources'
//! StructureDefinitions, evaluated on every element they constrain in the official and
//! IG example instances (read from `../shared/fhir`, never copied here). Official
//! examples are valid, so every error-severity invariant must hold; a failure points at
//! the evaluator unless it is listed below with its reason.
//!
//! Skips (with a message) when the shared folder is absent, unless
//! `FHIRDIR_REQUIRE_SHARED=1`.

use fhirpath::{to_boolean, Env, Expression};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// (invariant key, example file name) pairs that legitimately evaluate to false.
const KNOWN_FALSE: &[(&str, &str, &str)] = &[];

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn read(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

struct Invariant {
    key: String,
    error: bool,
    path: String,
    expression: Expression,
}

#[test]
fn core_invariants_hold_on_the_examples() {
    let Some(fhir) = testkit::shared_fhir() else {
        return;
    };
    let mut by_type: BTreeMap<String, Vec<Invariant>> = BTreeMap::new();
    for f in json_files(&fhir.join("r4-core/structuredefinitions")) {
        let sd = read(&f);
        if sd["kind"] != "resource" {
            continue;
        }
        let ty = sd["type"].as_str().unwrap_or_default().to_string();
        for e in sd["snapshot"]["element"].as_array().into_iter().flatten() {
            for c in e["constraint"].as_array().into_iter().flatten() {
                let Some(src) = c["expression"].as_str() else {
                    continue;
                };
                let expression = Expression::parse(src)
                    .unwrap_or_else(|err| panic!("{} {}: {err}", c["key"], src));
                by_type.entry(ty.clone()).or_default().push(Invariant {
                    key: c["key"].as_str().unwrap_or_default().to_string(),
                    error: c["severity"] == "error",
                    path: e["path"].as_str().unwrap_or_default().replace("[x]", ""),
                    expression,
                });
            }
        }
    }
    let mut examples = Vec::new();
    for dir in [
        "r4-core/examples",
        "plan-net/1.2.0/example",
        "ndh/1.0.0-sushi-compiled",
    ] {
        for f in json_files(&fhir.join(dir)) {
            let v = read(&f);
            let name = f
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            examples.push((name, v));
        }
    }

    // The check must be able to fail: broken instances violate their invariants.
    let broken = serde_json::json!({
        "resourceType": "Organization",
        "contact": [{}],
        "contained": [{"resourceType": "Organization", "id": "x", "contained": [{"resourceType": "Basic"}]}],
        "telecom": [{"system": "phone", "use": "home"}]
    });
    let mut violated = Vec::new();
    for inv in &by_type["Organization"] {
        let path = Expression::parse(&inv.path).expect("path");
        for ctx in path
            .evaluate_located(&broken, &Env::default())
            .expect("contexts")
        {
            let out = inv
                .expression
                .evaluate_at(&broken, &ctx, &Env::default())
                .expect("eval");
            if to_boolean(&out) == Ok(Some(false)) {
                violated.push(inv.key.as_str());
            }
        }
    }
    violated.sort_unstable();
    violated.dedup();
    for key in ["dom-2", "dom-3", "ele-1", "org-1", "org-3"] {
        assert!(
            violated.contains(&key),
            "{key} not detected; violated: {violated:?}"
        );
    }

    let env = Env::default();
    let mut evaluations = 0usize;
    let mut failures = Vec::new();
    let mut false_results = Vec::new();
    for (name, resource) in &examples {
        let Some(invariants) = resource["resourceType"]
            .as_str()
            .and_then(|t| by_type.get(t))
        else {
            continue;
        };
        for inv in invariants {
            let path = Expression::parse(&inv.path).unwrap_or_else(|e| panic!("{}: {e}", inv.path));
            let contexts = path.evaluate_located(resource, &env).expect("element path");
            for ctx in &contexts {
                evaluations += 1;
                match inv.expression.evaluate_at(resource, ctx, &env) {
                    Err(e) => failures.push(format!(
                        "{name} {} at {:?}: {e}",
                        inv.key,
                        ctx.json_pointer()
                    )),
                    Ok(out) => {
                        let is_false = to_boolean(&out) == Ok(Some(false));
                        let known = KNOWN_FALSE
                            .iter()
                            .any(|(k, n, _)| *k == inv.key && *n == name);
                        if is_false && inv.error && !known {
                            false_results.push(format!(
                                "{name} {} at {:?}: `{}`",
                                inv.key,
                                ctx.json_pointer(),
                                inv.expression.source()
                            ));
                        }
                    }
                }
            }
        }
    }
    eprintln!(
        "{evaluations} invariant evaluations over {} examples",
        examples.len()
    );
    assert!(
        failures.is_empty(),
        "evaluation errors:\n{}",
        failures.join("\n")
    );
    assert!(
        false_results.is_empty(),
        "invariants false on valid examples:\n{}",
        false_results.join("\n")
    );
    assert!(evaluations > 10_000, "only {evaluations} evaluations");
}

/// Context path of a profile element; `None` for slices other than the NPI identifier.
fn profile_context(element: &Value) -> Option<String> {
    let id = element["id"].as_str()?;
    let path = element["path"].as_str()?.replace("[x]", "");
    match id.split_once(':') {
        None => Some(path),
        Some((_, slice)) if slice == "NPI" && path.ends_with(".identifier") => Some(format!(
            "{path}.where(system = 'http://hl7.org/fhir/sid/us-npi')"
        )),
        Some(_) => None,
    }
}

#[test]
fn plan_net_profile_invariants_hold_on_its_examples() {
    let Some(fhir) = testkit::shared_fhir() else {
        return;
    };
    let dir = fhir.join("plan-net/1.2.0");
    let mut profiles: BTreeMap<String, Vec<(Invariant, String)>> = BTreeMap::new();
    let mut npi_check = None;
    for f in json_files(&dir) {
        let sd = read(&f);
        if sd["resourceType"] != "StructureDefinition" || sd["kind"] != "resource" {
            continue;
        }
        let url = sd["url"].as_str().unwrap_or_default().to_string();
        for e in sd["snapshot"]["element"].as_array().into_iter().flatten() {
            let Some(context) = profile_context(e) else {
                continue;
            };
            for c in e["constraint"].as_array().into_iter().flatten() {
                let Some(src) = c["expression"].as_str() else {
                    continue;
                };
                let expression = Expression::parse(src)
                    .unwrap_or_else(|err| panic!("{} {}: {err}", c["key"], src));
                if c["key"] == "us-core-17" {
                    npi_check = Some(expression.clone());
                }
                let inv = Invariant {
                    key: c["key"].as_str().unwrap_or_default().to_string(),
                    error: c["severity"] == "error",
                    path: context.clone(),
                    expression,
                };
                profiles
                    .entry(url.clone())
                    .or_default()
                    .push((inv, context.clone()));
            }
        }
    }
    let env = Env::default();
    let mut evaluations = 0usize;
    let mut npi_evaluations = 0usize;
    let mut problems = Vec::new();
    for f in json_files(&dir.join("example")) {
        let resource = read(&f);
        let name = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        for profile in resource["meta"]["profile"].as_array().into_iter().flatten() {
            for (inv, context) in profile
                .as_str()
                .and_then(|p| profiles.get(p))
                .into_iter()
                .flatten()
            {
                let path = Expression::parse(context).expect("context path");
                for ctx in path.evaluate_located(&resource, &env).expect("contexts") {
                    evaluations += 1;
                    npi_evaluations += usize::from(inv.key == "us-core-17");
                    match inv.expression.evaluate_at(&resource, &ctx, &env) {
                        Err(e) => problems.push(format!("{name} {}: {e}", inv.key)),
                        Ok(out) if inv.error && to_boolean(&out) == Ok(Some(false)) => {
                            problems.push(format!(
                                "{name} {} false at {:?}",
                                inv.key,
                                ctx.json_pointer()
                            ));
                        }
                        Ok(_) => {}
                    }
                }
            }
        }
    }
    eprintln!(
        "{evaluations} Plan-Net profile invariant evaluations ({npi_evaluations} NPI checks)"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(evaluations > 500 && npi_evaluations > 0);

    // The NPI check digit (Luhn with the 80840 prefix) is really computed.
    let npi = npi_check.expect("us-core-17 present");
    for (value, valid) in [("1234567893", true), ("1234567890", false)] {
        let id = serde_json::json!({"system": "http://hl7.org/fhir/sid/us-npi", "value": value});
        let got = npi.evaluate_bool(&id).expect("eval");
        assert_eq!(got, Some(valid), "{value}");
    }
}
