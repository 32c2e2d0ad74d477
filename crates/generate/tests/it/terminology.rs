//! Terminology of the output: codes checked against the official Plan-Net and core CodeSystems
//! and against the NUCC provider taxonomy CSV in the shared data.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::common;

fn concepts_of(cs: &Value, out: &mut HashMap<String, String>) {
    for c in cs["concept"].as_array().into_iter().flatten() {
        let code = c["code"].as_str().unwrap_or_default().to_owned();
        out.insert(code, c["display"].as_str().unwrap_or_default().to_owned());
        concepts_of(c, out);
    }
}

/// url -> (code -> display) for the complete CodeSystems in the given directories.
fn load_code_systems(dirs: &[std::path::PathBuf]) -> HashMap<String, HashMap<String, String>> {
    let mut systems = HashMap::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if !name.starts_with("CodeSystem-") || !name.ends_with(".json") {
                continue;
            }
            let cs = common::read_json(&path);
            if cs["content"] != "complete" {
                continue;
            }
            let mut codes = HashMap::new();
            concepts_of(&cs, &mut codes);
            systems.insert(cs["url"].as_str().unwrap_or_default().to_owned(), codes);
        }
    }
    systems
}

const PLAN_NET_CS: &str = "http://hl7.org/fhir/us/davinci-pdex-plan-net/CodeSystem/";

type CodeSystems = HashMap<String, HashMap<String, String>>;

/// Codings in `resource` whose code is not in their (known, complete) CodeSystem, or whose display
/// differs from it. Plan-Net displays must match exactly; core ones may differ in case. Records
/// the systems checked in `checked`.
fn coding_errors(
    systems: &CodeSystems,
    label: &str,
    resource: &Value,
    checked: &mut HashSet<String>,
) -> Vec<String> {
    let mut errors = Vec::new();
    common::walk_objects(resource, &mut |obj| {
        let (Some(system), Some(code)) = (
            obj.get("system").and_then(Value::as_str),
            obj.get("code").and_then(Value::as_str),
        ) else {
            return;
        };
        let Some(codes) = systems.get(system) else {
            return;
        };
        checked.insert(system.to_owned());
        let Some(display) = codes.get(code) else {
            errors.push(format!("{label}: {system}|{code} does not exist"));
            return;
        };
        let ours = obj
            .get("display")
            .and_then(Value::as_str)
            .unwrap_or(display);
        let same = if system.starts_with(PLAN_NET_CS) {
            ours == display
        } else {
            ours.eq_ignore_ascii_case(display)
        };
        if !same {
            errors.push(format!(
                "{label}: {system}|{code} display '{ours}' != '{display}'"
            ));
        }
    });
    errors
}

fn shared_code_systems() -> Option<CodeSystems> {
    let shared = common::shared_fhir()?;
    let systems = load_code_systems(&[
        shared.join("plan-net/1.2.0"),
        shared.join("r4-core/terminology"),
    ]);
    assert!(systems.contains_key(&format!("{PLAN_NET_CS}OrgTypeCS")));
    Some(systems)
}

#[test]
fn codes_exist_in_their_code_systems() {
    let Some(systems) = shared_code_systems() else {
        return;
    };
    let resources = common::shared_run();
    let mut checked = HashSet::new();
    let mut errors = Vec::new();
    for (resource_type, resource) in resources {
        errors.extend(coding_errors(
            &systems,
            resource_type,
            resource,
            &mut checked,
        ));
    }
    errors.sort();
    errors.dedup();
    assert!(errors.is_empty(), "{errors:#?}");
    // Both the Plan-Net code systems and core ones were actually exercised.
    for cs in [
        "OrgTypeCS",
        "ProviderRoleCS",
        "AcceptingPatientsCS",
        "HealthcareServiceCategoryCS",
    ] {
        assert!(
            checked.contains(&format!("{PLAN_NET_CS}{cs}")),
            "{cs} unchecked"
        );
    }
    assert!(checked.contains("http://terminology.hl7.org/CodeSystem/v2-0203"));
    assert!(checked.len() >= 15, "{checked:?}");
}

#[test]
fn the_coding_checker_rejects_unknown_codes_and_wrong_displays() {
    let Some(systems) = shared_code_systems() else {
        return;
    };
    let resource = serde_json::json!({ "type": [
        { "coding": [{ "system": format!("{PLAN_NET_CS}OrgTypeCS"), "code": "prvgrp", "display": "Provider Group" }] },
        { "coding": [{ "system": format!("{PLAN_NET_CS}OrgTypeCS"), "code": "nope" }] },
        { "coding": [{ "system": format!("{PLAN_NET_CS}OrgTypeCS"), "code": "fac", "display": "facility" }] },
    ]});
    let errors = coding_errors(&systems, "x", &resource, &mut HashSet::new());
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[0].contains("nope does not exist"));
    assert!(errors[1].contains("display 'facility'"));
}

/// Minimal RFC 4180 CSV reader (quoted fields may contain commas, quotes and newlines).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\r') => {}
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

#[test]
fn nucc_codes_and_displays_are_real() {
    let Some(shared) = common::shared_fhir() else {
        return;
    };
    let path = shared.join("sample-data/pdex-plan-net-sample-data-csv/nucc_provider_taxonomy.csv");
    let text = std::fs::read_to_string(&path).expect("NUCC csv");
    let rows = parse_csv(text.trim_start_matches('\u{feff}'));
    let header = &rows[0];
    let code_col = header
        .iter()
        .position(|h| h == "Code")
        .expect("Code column");
    let display_col = header
        .iter()
        .position(|h| h == "Display Name")
        .expect("Display Name column");
    let nucc: HashMap<&str, &str> = rows[1..]
        .iter()
        .filter(|r| r.len() > display_col)
        .map(|r| (r[code_col].as_str(), r[display_col].as_str()))
        .collect();
    assert!(nucc.len() > 800, "{} NUCC codes", nucc.len());

    for spec in generate::taxonomy::SPECIALTIES {
        assert_eq!(
            nucc.get(spec.code).copied(),
            Some(spec.display),
            "{}",
            spec.code
        );
    }
    let resources = common::shared_run();
    let mut seen = 0;
    for (_, resource) in resources {
        common::walk_objects(resource, &mut |obj| {
            if obj.get("system").and_then(Value::as_str) == Some(generate::taxonomy::NUCC_SYSTEM) {
                let code = obj["code"].as_str().expect("code");
                assert_eq!(nucc.get(code).copied(), obj["display"].as_str(), "{code}");
                seen += 1;
            }
        });
    }
    assert!(seen > 700, "{seen} NUCC codings");
}
