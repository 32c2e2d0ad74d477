//! Conformance of the output to Plan-Net 1.2.0: profiles, NPIs, mandatory, prohibited and
//! must-support elements (read from the official StructureDefinitions in the shared data),
//! extension shapes and invariants.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::Value;

use super::common;

const PLAN_NET: &str = "http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/";

/// The profile a resource must declare: by type, and for Organization by its OrgTypeCS code.
fn expected_profile(resource_type: &str, resource: &Value) -> String {
    let name = match resource_type {
        "Organization" if resource["type"][0]["coding"][0]["code"] == "ntwk" => "plannet-Network",
        other => return format!("{PLAN_NET}plannet-{other}"),
    };
    format!("{PLAN_NET}{name}")
}

#[test]
fn every_resource_has_type_id_and_its_plan_net_profile() {
    let resources = common::shared_run();
    for (resource_type, resource) in resources {
        assert_eq!(resource["resourceType"], resource_type.as_str());
        let id = resource["id"].as_str().expect("id is a string");
        // FHIR id syntax: [A-Za-z0-9\-\.]{1,64}
        assert!(
            !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'),
            "bad id {id}"
        );
        let profiles = resource["meta"]["profile"]
            .as_array()
            .expect("meta.profile");
        assert_eq!(
            profiles,
            &[Value::String(expected_profile(resource_type, resource))],
            "{resource_type}/{id}"
        );
        assert!(
            resource["meta"].get("lastUpdated").is_none(),
            "the server assigns meta.lastUpdated"
        );
    }
}

#[test]
fn every_npi_is_luhn_valid_and_unique() {
    let resources = common::shared_run();
    let mut npis = HashSet::new();
    for (_, resource) in resources {
        for ident in resource["identifier"].as_array().into_iter().flatten() {
            if ident["system"] == generate::npi::NPI_SYSTEM {
                let npi = ident["value"].as_str().expect("NPI value");
                assert!(generate::npi::is_valid(npi), "invalid NPI {npi}");
                assert!(npis.insert(npi.to_owned()), "duplicate NPI {npi}");
            }
        }
    }
    // Every practitioner, provider organisation and payer has one.
    let with_npi = resources
        .iter()
        .filter(|(t, r)| {
            t == "Practitioner"
                || (t == "Organization" && r["type"][0]["coding"][0]["code"] != "ntwk")
        })
        .count();
    assert_eq!(npis.len(), with_npi);
}

// ---------- StructureDefinition-driven checks ----------

/// JSON nodes at `path` (segments below the resource), flattening arrays. A segment ending in
/// `[x]` matches any `prefixType` key.
fn nodes_at<'a>(root: &'a Value, path: &[&str]) -> Vec<&'a Value> {
    let mut current = vec![root];
    for segment in path {
        let mut next = Vec::new();
        for node in current {
            let Value::Object(map) = node else { continue };
            let children: Vec<&Value> = match segment.strip_suffix("[x]") {
                Some(prefix) => map
                    .iter()
                    .filter(|(k, _)| {
                        k.strip_prefix(prefix)
                            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()))
                    })
                    .map(|(_, v)| v)
                    .collect(),
                None => map.get(*segment).into_iter().collect(),
            };
            for child in children {
                match child {
                    Value::Array(items) => next.extend(items),
                    other => next.push(other),
                }
            }
        }
        current = next;
    }
    current
}

/// Number of values of `element` under `parent` (0 when absent; array length when repeated).
fn cardinality(parent: &Value, element: &str) -> usize {
    let Value::Object(map) = parent else { return 0 };
    let values: Vec<&Value> = match element.strip_suffix("[x]") {
        Some(prefix) => map
            .iter()
            .filter(|(k, _)| {
                k.strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()))
            })
            .map(|(_, v)| v)
            .collect(),
        None => map.get(element).into_iter().collect(),
    };
    values
        .iter()
        .map(|v| match v {
            Value::Array(items) => items.len(),
            Value::Null => 0,
            _ => 1,
        })
        .sum()
}

/// A cardinality rule of a profile: `path` (below the resource) has `min..=max` values in each
/// instance of its parent.
struct Rule {
    id: String,
    parent: Vec<String>,
    element: String,
    min: u64,
    max: Option<u64>,
}

fn profile_rules(sd: &Value) -> Vec<Rule> {
    let mut rules = Vec::new();
    for e in sd["snapshot"]["element"].as_array().expect("snapshot") {
        let id = e["id"].as_str().expect("element id");
        // Slices constrain only the values that belong to them; those are checked through the
        // extension definitions below.
        if id.contains(':') {
            continue;
        }
        let mut segments: Vec<String> = id.split('.').skip(1).map(str::to_owned).collect();
        let Some(element) = segments.pop() else {
            continue;
        };
        let min = e["min"].as_u64().unwrap_or(0);
        let max = match e["max"].as_str() {
            Some("*") | None => None,
            Some(m) => m.parse().ok(),
        };
        if min >= 1 || max.is_some() {
            rules.push(Rule {
                id: id.to_owned(),
                parent: segments,
                element,
                min,
                max,
            });
        }
    }
    rules
}

fn check_rules(rules: &[Rule], resource: &Value, label: &str) -> Vec<String> {
    let mut errors = Vec::new();
    for rule in rules {
        let parent: Vec<&str> = rule.parent.iter().map(String::as_str).collect();
        for node in nodes_at(resource, &parent) {
            let n = cardinality(node, &rule.element) as u64;
            if n < rule.min || rule.max.is_some_and(|max| n > max) {
                errors.push(format!(
                    "{label}: {} has {n} values, allowed {}..{}",
                    rule.id,
                    rule.min,
                    rule.max.map_or("*".to_owned(), |m| m.to_string())
                ));
            }
        }
    }
    errors
}

fn load_plan_net_sds(shared: &Path) -> HashMap<String, Value> {
    let dir = shared.join("plan-net/1.2.0");
    let mut sds = HashMap::new();
    for entry in std::fs::read_dir(&dir).expect("plan-net dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with("StructureDefinition-") {
            let sd = common::read_json(&path);
            let url = sd["url"].as_str().expect("sd url").to_owned();
            sds.insert(url, sd);
        }
    }
    assert!(
        sds.len() >= 20,
        "expected the Plan-Net SDs, found {}",
        sds.len()
    );
    sds
}

#[test]
fn mandatory_and_prohibited_elements_follow_the_plan_net_profiles() {
    let Some(shared) = common::shared_fhir() else {
        return;
    };
    let sds = load_plan_net_sds(&shared);
    let rules: HashMap<&str, Vec<Rule>> = sds
        .iter()
        .filter(|(_, sd)| sd["type"] != "Extension")
        .map(|(url, sd)| (url.as_str(), profile_rules(sd)))
        .collect();
    // The rule set is real: e.g. Practitioner.identifier.system is mandatory and Network
    // Organization.telecom is prohibited.
    let practitioner = &rules[format!("{PLAN_NET}plannet-Practitioner").as_str()];
    assert!(practitioner
        .iter()
        .any(|r| r.id == "Practitioner.identifier.system" && r.min == 1));
    let network = &rules[format!("{PLAN_NET}plannet-Network").as_str()];
    assert!(network
        .iter()
        .any(|r| r.id == "Organization.telecom" && r.max == Some(0)));

    let resources = common::shared_run();
    let mut errors = Vec::new();
    for (resource_type, resource) in resources {
        let profile = resource["meta"]["profile"][0].as_str().expect("profile");
        let label = format!("{resource_type}/{}", resource["id"].as_str().unwrap_or("?"));
        errors.extend(check_rules(&rules[profile], resource, &label));
    }
    assert!(
        errors.is_empty(),
        "{} violations, e.g. {:#?}",
        errors.len(),
        &errors[..errors.len().min(20)]
    );
}

#[test]
fn the_rule_checker_rejects_missing_and_prohibited_elements() {
    let Some(shared) = common::shared_fhir() else {
        return;
    };
    let sds = load_plan_net_sds(&shared);
    let (resources, _) = common::collect(300, 2);
    let network = resources
        .iter()
        .map(|(_, r)| r)
        .find(|r| r["type"][0]["coding"][0]["code"] == "ntwk")
        .expect("a network")
        .clone();
    let rules = profile_rules(&sds[&format!("{PLAN_NET}plannet-Network")]);
    assert!(check_rules(&rules, &network, "ok").is_empty());

    let mut broken = network.clone();
    broken.as_object_mut().expect("object").remove("partOf");
    broken["telecom"] = serde_json::json!([{ "system": "phone", "value": "1" }]);
    let errors = check_rules(&rules, &broken, "broken");
    assert!(
        errors.iter().any(|e| e.contains("Organization.partOf")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("Organization.telecom")),
        "{errors:?}"
    );
}

/// Problems with the Plan-Net extensions in `resource` (unknown URL, value where the definition
/// prohibits one or lacks one where required, sub-extension cardinality, undeclared
/// sub-extensions). Records the extension URLs seen in `used`.
fn extension_errors(
    sds: &HashMap<String, Value>,
    label: &str,
    resource: &Value,
    used: &mut HashSet<String>,
) -> Vec<String> {
    let mut errors = Vec::new();
    common::walk_objects(resource, &mut |obj| {
        let Some(url) = obj.get("url").and_then(Value::as_str) else {
            return;
        };
        if !url.starts_with(PLAN_NET) {
            return;
        }
        used.insert(url.to_owned());
        let Some(sd) = sds.get(url) else {
            errors.push(format!("{label}: unknown extension {url}"));
            return;
        };
        let has_value = obj.keys().any(|k| k.starts_with("value"));
        let subs: Vec<&str> = obj
            .get("extension")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| e["url"].as_str())
            .collect();
        let mut slices = HashSet::new();
        for e in sd["snapshot"]["element"].as_array().expect("snapshot") {
            let id = e["id"].as_str().unwrap_or_default();
            if id == "Extension.value[x]" {
                if e["max"] == "0" && has_value {
                    errors.push(format!("{label}: {url} must not have a value"));
                }
                if e["min"].as_u64().unwrap_or(0) >= 1 && !has_value {
                    errors.push(format!("{label}: {url} needs a value"));
                }
            }
            let Some(slice) = id.strip_prefix("Extension.extension:") else {
                continue;
            };
            if slice.contains('.') {
                continue;
            }
            slices.insert(slice);
            let n = subs.iter().filter(|s| **s == slice).count() as u64;
            let min = e["min"].as_u64().unwrap_or(0);
            let max = e["max"].as_str().and_then(|m| m.parse::<u64>().ok());
            if n < min || max.is_some_and(|m| n > m) {
                errors.push(format!("{label}: {url} has {n} '{slice}'"));
            }
        }
        for sub in &subs {
            if !slices.contains(sub) {
                errors.push(format!("{label}: {url} has undeclared '{sub}'"));
            }
        }
    });
    errors
}

#[test]
fn plan_net_extensions_have_the_shape_their_definitions_require() {
    let Some(shared) = common::shared_fhir() else {
        return;
    };
    let sds = load_plan_net_sds(&shared);
    let resources = common::shared_run();
    let mut used: HashSet<String> = HashSet::new();
    let mut errors = Vec::new();
    for (resource_type, resource) in resources {
        errors.extend(extension_errors(&sds, resource_type, resource, &mut used));
    }
    assert!(errors.is_empty(), "{:#?}", &errors[..errors.len().min(20)]);
    for ext in [
        "newpatients",
        "network-reference",
        "delivery-method",
        "endpoint-usecase",
        "practitioner-qualification",
        "communication-proficiency",
        "qualification",
        "accessibility",
        "contactpoint-availabletime",
        "org-description",
        "practitioner-period",
    ] {
        assert!(
            used.contains(&format!("{PLAN_NET}{ext}")),
            "extension {ext} never used"
        );
    }
}

#[test]
fn the_extension_checker_rejects_malformed_extensions() {
    let Some(shared) = common::shared_fhir() else {
        return;
    };
    let sds = load_plan_net_sds(&shared);
    let mut used = HashSet::new();
    let good = serde_json::json!({ "extension": [{
        "url": format!("{PLAN_NET}newpatients"),
        "extension": [{ "url": "acceptingPatients", "valueCodeableConcept": { "text": "x" } }],
    }]});
    assert!(extension_errors(&sds, "good", &good, &mut used).is_empty());
    let bad = serde_json::json!({ "extension": [
        // missing its mandatory acceptingPatients, and a value on a complex extension
        { "url": format!("{PLAN_NET}newpatients"), "valueString": "yes" },
        // a simple extension without its value
        { "url": format!("{PLAN_NET}network-reference") },
        // an undeclared sub-extension
        { "url": format!("{PLAN_NET}delivery-method"), "extension": [
            { "url": "type", "valueCodeableConcept": { "text": "x" } },
            { "url": "colour", "valueString": "blue" },
        ] },
        { "url": format!("{PLAN_NET}no-such-extension"), "valueString": "x" },
    ]});
    let errors = extension_errors(&sds, "bad", &bad, &mut used);
    for expected in [
        "has 0 'acceptingPatients'",
        "must not have a value",
        "needs a value",
        "undeclared 'colour'",
        "unknown extension",
    ] {
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{expected}: {errors:#?}"
        );
    }
}

#[test]
fn plan_net_invariants_hold() {
    let resources = common::shared_run();
    for (resource_type, r) in resources {
        let id = r["id"].as_str().unwrap_or("?");
        match resource_type.as_str() {
            // practitioner-or-organization-or-healthcareservice-or-location
            "PractitionerRole" => assert!(
                r.get("practitioner").is_some() || r.get("organization").is_some(),
                "{id}"
            ),
            // organization-or-participatingOrganization
            "OrganizationAffiliation" => assert!(
                r.get("organization").is_some() || r.get("participatingOrganization").is_some(),
                "{id}"
            ),
            "InsurancePlan" => {
                // network-or-plan-Network
                assert!(
                    r.get("network").is_some() || r["plan"][0].get("network").is_some(),
                    "{id}"
                );
                // plan-type-is-distinct
                let types: Vec<&Value> = r["plan"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| &p["type"]["coding"][0]["code"])
                    .collect();
                let distinct: HashSet<String> = types.iter().map(|t| t.to_string()).collect();
                assert_eq!(distinct.len(), types.len(), "{id}");
            }
            _ => {}
        }
        // new-patients-characteristics: not accepting => no characteristics.
        for ext in r["extension"].as_array().into_iter().flatten() {
            if ext["url"] == format!("{PLAN_NET}newpatients") {
                let subs = ext["extension"].as_array().expect("sub-extensions");
                let not_accepting = subs.iter().any(|s| {
                    s["url"] == "acceptingPatients"
                        && s["valueCodeableConcept"]["coding"][0]["code"] == "nopt"
                });
                let has_characteristics = subs.iter().any(|s| s["url"] == "characteristics");
                assert!(
                    !(not_accepting && has_characteristics),
                    "{resource_type}/{id}"
                );
            }
        }
    }
}

/// Top-level must-support elements (and extension slices) deliberately not generated, with why.
const MUST_SUPPORT_NOT_GENERATED: [(&str, &str, &str); 5] = [
    // Would point forward (Organization precedes Endpoint); the link is Endpoint.managingOrganization.
    ("plannet-Organization", "endpoint", "dependency order"),
    ("plannet-Network", "endpoint", "dependency order"),
    // Would point forward (Organization precedes Location); the plans' coverageArea carries it.
    (
        "plannet-Network",
        "extension:location-reference",
        "dependency order",
    ),
    // Must-support but max 0 in the Network profile.
    ("plannet-Network", "telecom", "prohibited"),
    // A GeoJSON boundary attachment; sites are points.
    ("plannet-Location", "extension:region", "no boundaries"),
];

/// Must-support top-level elements and extension slices never populated in `resources` (or
/// populated although listed in [`MUST_SUPPORT_NOT_GENERATED`]).
fn must_support_problems(
    sds: &HashMap<String, Value>,
    resources: &[(String, Value)],
) -> Vec<String> {
    // profile -> top-level keys, plus "ext-url:<url>" for the extension URLs used.
    let mut present: HashMap<String, HashSet<String>> = HashMap::new();
    for (_, r) in resources {
        let profile = r["meta"]["profile"][0]
            .as_str()
            .expect("profile")
            .to_owned();
        let keys = present.entry(profile).or_default();
        keys.extend(r.as_object().expect("object").keys().cloned());
        for ext in r["extension"].as_array().into_iter().flatten() {
            keys.insert(format!(
                "ext-url:{}",
                ext["url"].as_str().unwrap_or_default()
            ));
        }
    }
    let mut problems = Vec::new();
    for (url, sd) in sds.iter().filter(|(_, sd)| sd["type"] != "Extension") {
        let profile = url.rsplit('/').next().unwrap_or_default();
        let Some(keys) = present.get(url) else {
            problems.push(format!("{profile}: no resources"));
            continue;
        };
        for e in sd["snapshot"]["element"].as_array().expect("snapshot") {
            let id = e["id"].as_str().unwrap_or_default();
            let parts: Vec<&str> = id.split('.').collect();
            if e["mustSupport"] != true || parts.len() != 2 {
                continue;
            }
            let element = parts[1];
            let found = match element.split_once(':') {
                Some(("extension", _)) => {
                    // The slice's extension URL is the profile of its type.
                    let ext_url = e["type"][0]["profile"][0].as_str().unwrap_or_default();
                    keys.contains(&format!("ext-url:{ext_url}"))
                }
                Some(_) => continue, // other slices (identifier:NPI...) are covered by their element
                None => keys.contains(element),
            };
            let excused = MUST_SUPPORT_NOT_GENERATED
                .iter()
                .any(|(p, el, _)| *p == profile && *el == element);
            if found == excused {
                problems.push(format!(
                    "{profile}.{element}: {}",
                    if found {
                        "generated but listed as not generated"
                    } else {
                        "never generated"
                    }
                ));
            }
        }
    }
    problems.sort();
    problems
}

#[test]
fn must_support_elements_are_populated_somewhere() {
    let Some(shared) = common::shared_fhir() else {
        return;
    };
    let sds = load_plan_net_sds(&shared);
    let mut resources = common::shared_run().to_vec();
    let problems = must_support_problems(&sds, &resources);
    assert!(problems.is_empty(), "{problems:#?}");

    // The check notices an element that disappears.
    for (t, r) in &mut resources {
        if t == "Location" {
            r.as_object_mut().expect("object").remove("alias");
        }
    }
    assert_eq!(
        must_support_problems(&sds, &resources),
        ["plannet-Location.alias: never generated"]
    );
}
