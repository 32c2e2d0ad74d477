//! The built-in search parameter tables agree with the official packages in
//! `<repo>/../shared/fhir`, except for the differences listed (with reasons) below.
//!
//! Skips visibly when the shared folder is absent, unless `FHIRDIR_REQUIRE_SHARED=1`.

use std::collections::BTreeMap;
use std::path::Path;

use conformance::builtin::KEPT_CORE_BASES;
use conformance::{BuiltinSource, Registry, SearchParamDef};
use serde_json::Value;

/// Core parameters whose `base` and `expression` are intentionally reduced to the resource
/// types fhirdir keeps: the official parameter is shared by many resource types (`A.x | B.y`)
/// and shipping the other types' branches would index resource types we do not serve.
const REDUCED_MULTI_BASE: &[(&str, &str)] = &[
    (
        "clinical-date",
        "shared by 17 clinical types; kept for CareTeam and Consent",
    ),
    (
        "clinical-identifier",
        "shared by 30 clinical types; kept for CareTeam and Consent",
    ),
    (
        "clinical-patient",
        "shared by 32 clinical types; kept for CareTeam and Consent",
    ),
    (
        "conformance-context",
        "shared by 14 canonical types; kept for SearchParameter",
    ),
    (
        "conformance-context-quantity",
        "shared by 14 canonical types; kept for SearchParameter",
    ),
    (
        "conformance-context-type",
        "shared by 14 canonical types; kept for SearchParameter",
    ),
    (
        "conformance-context-type-quantity",
        "shared by 14 canonical types; kept for SearchParameter",
    ),
    (
        "conformance-context-type-value",
        "shared by 14 canonical types; kept for SearchParameter",
    ),
    (
        "conformance-date",
        "shared by 14 canonical types; kept for SearchParameter",
    ),
    (
        "conformance-description",
        "shared by 14 canonical types; kept for SearchParameter",
    ),
    (
        "conformance-jurisdiction",
        "shared by 13 canonical types; kept for SearchParameter",
    ),
    (
        "conformance-name",
        "shared by 14 canonical types; kept for SearchParameter",
    ),
    (
        "conformance-publisher",
        "shared by 14 canonical types; kept for SearchParameter",
    ),
    (
        "conformance-status",
        "shared by 14 canonical types; kept for SearchParameter",
    ),
    (
        "conformance-url",
        "shared by 13 canonical types; kept for SearchParameter",
    ),
    (
        "conformance-version",
        "shared by 13 canonical types; kept for SearchParameter",
    ),
    (
        "individual-address",
        "shared with Patient, Person, RelatedPerson; kept for Practitioner",
    ),
    (
        "individual-address-city",
        "shared with Patient, Person, RelatedPerson; kept for Practitioner",
    ),
    (
        "individual-address-country",
        "shared with Patient, Person, RelatedPerson; kept for Practitioner",
    ),
    (
        "individual-address-postalcode",
        "shared with Patient, Person, RelatedPerson; kept for Practitioner",
    ),
    (
        "individual-address-state",
        "shared with Patient, Person, RelatedPerson; kept for Practitioner",
    ),
    (
        "individual-address-use",
        "shared with Patient, Person, RelatedPerson; kept for Practitioner",
    ),
    (
        "individual-email",
        "shared with Patient, Person, RelatedPerson; kept for Practitioner(Role)",
    ),
    (
        "individual-family",
        "shared with Patient; kept for Practitioner",
    ),
    (
        "individual-gender",
        "shared with Patient, Person, RelatedPerson; kept for Practitioner",
    ),
    (
        "individual-given",
        "shared with Patient; kept for Practitioner",
    ),
    (
        "individual-phone",
        "shared with Patient, Person, RelatedPerson; kept for Practitioner(Role)",
    ),
    (
        "individual-phonetic",
        "shared with Patient, Person, RelatedPerson; kept for Practitioner",
    ),
    (
        "individual-telecom",
        "shared with Patient, Person, RelatedPerson; kept for Practitioner(Role)",
    ),
];

/// Field-level corrections of official definitions: (url, field, reason). Mirrors `OVERRIDES`
/// in `tools/derive_tables.py`.
const INTENDED_DIFFERENCES: &[(&str, &str, &str)] = &[(
    "http://hl7.org/fhir/us/davinci-pdex-plan-net/SearchParameter/insuranceplan-network",
    "target",
    "Plan-Net 1.2.0 omits the target although InsurancePlan.network is Reference(Organization); \
     without it `network.name` would fan out to every resource type with a `name`",
)];

/// Official parameters deliberately not built in.
const LEFT_OUT: &[(&str, &str)] = &[(
    "http://hl7.org/fhir/SearchParameter/Resource-query",
    "`_query` runs a named query; fhirdir defines none",
)];

const CORE_PREFIX: &str = "http://hl7.org/fhir/SearchParameter/";

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// SearchParameters of a folder whose file names start with `prefix`, by URL.
fn folder_params(dir: &Path, prefix: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("readable directory entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with(prefix) && name.ends_with(".json") {
            let sp = read_json(&path);
            if sp["resourceType"] == "SearchParameter" {
                out.insert(sp["url"].as_str().expect("url").to_owned(), sp);
            }
        }
    }
    assert!(!out.is_empty(), "no SearchParameters in {}", dir.display());
    out
}

fn core_params(shared: &Path) -> BTreeMap<String, Value> {
    let bundle = read_json(&shared.join("r4-core/search-parameters.json"));
    bundle["entry"]
        .as_array()
        .expect("entry")
        .iter()
        .map(|e| {
            (
                e["resource"]["url"].as_str().expect("url").to_owned(),
                e["resource"].clone(),
            )
        })
        .collect()
}

fn official_for(shared: &Path, source: BuiltinSource) -> BTreeMap<String, Value> {
    match source {
        BuiltinSource::R4Core => core_params(shared),
        BuiltinSource::PlanNet => folder_params(&shared.join("plan-net/1.2.0"), "SearchParameter-"),
        BuiltinSource::Ndh => {
            folder_params(&shared.join("ndh/1.0.0-sushi-compiled"), "SearchParameter-")
        }
        BuiltinSource::Vhdir => {
            folder_params(&shared.join("vhdir/ig-resources"), "searchparameter-")
        }
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Splits a FHIRPath union at `|` outside parentheses and string literals.
fn union_members(expr: &str) -> Vec<String> {
    let (mut parts, mut cur, mut depth, mut quote) = (Vec::new(), String::new(), 0i32, None);
    for ch in expr.chars() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(ch),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, '|') if depth == 0 => {
                parts.push(cur.trim().to_owned());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    parts.push(cur.trim().to_owned());
    parts
}

fn reduce(expr: &str, bases: &[String]) -> String {
    union_members(expr)
        .into_iter()
        .filter(|m| {
            let head = m
                .trim_start_matches('(')
                .split(['.', ' '])
                .next()
                .unwrap_or_default();
            bases.iter().any(|b| b == head)
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Every field difference between a built-in definition and the official resource.
fn differences(p: &SearchParamDef, official: &Value) -> Vec<String> {
    let mut diffs = Vec::new();
    let mut check = |field: &str, ours: Value, theirs: &Value| {
        let theirs = if theirs.is_null() && ours.as_array().is_some_and(|a| a.is_empty()) {
            Value::Array(Vec::new())
        } else {
            theirs.clone()
        };
        if ours != theirs {
            diffs.push(format!("{field}: ours {ours} official {theirs}"));
        }
    };
    check("code", Value::from(p.code.clone()), &official["code"]);
    check("base", Value::from(p.base.clone()), &official["base"]);
    check(
        "type",
        serde_json::to_value(p.kind).expect("type serialises"),
        &official["type"],
    );
    check(
        "expression",
        p.expression.clone().map(Value::from).unwrap_or(Value::Null),
        &official["expression"],
    );
    check("target", Value::from(p.target.clone()), &official["target"]);
    check(
        "modifier",
        Value::from(p.modifier.clone()),
        &official["modifier"],
    );
    check("chain", Value::from(p.chain.clone()), &official["chain"]);
    check(
        "component",
        serde_json::to_value(&p.component).expect("component serialises"),
        &official["component"],
    );
    diffs
}

#[test]
fn every_builtin_parameter_equals_the_official_one_or_is_a_listed_reduction() {
    let Some(shared) = testkit::shared_fhir() else {
        return;
    };
    let mut failures = Vec::new();
    let mut reduced_seen = Vec::new();
    for source in BuiltinSource::BY_PRECEDENCE {
        let official = official_for(&shared, source);
        for p in source.params() {
            let Some(off) = official.get(&p.url) else {
                failures.push(format!(
                    "{}: {} is not in the official package",
                    source.table_name(),
                    p.url
                ));
                continue;
            };
            let diffs = differences(p, off);
            let reduction = p
                .url
                .strip_prefix(CORE_PREFIX)
                .and_then(|id| REDUCED_MULTI_BASE.iter().find(|(r, _)| *r == id));
            let intended: Vec<&str> = INTENDED_DIFFERENCES
                .iter()
                .filter(|(u, _, _)| *u == p.url)
                .map(|(_, field, _)| *field)
                .collect();
            let (expected, diffs): (Vec<String>, Vec<String>) = diffs
                .into_iter()
                .partition(|d| intended.iter().any(|f| d.starts_with(&format!("{f}:"))));
            for field in &intended {
                if !expected.iter().any(|d| d.starts_with(&format!("{field}:"))) {
                    failures.push(format!(
                        "{}: intended difference in `{field}` no longer exists",
                        p.url
                    ));
                }
            }
            match reduction {
                None if diffs.is_empty() => {}
                None => failures.push(format!("{}: {}", p.url, diffs.join("; "))),
                Some((id, _)) => {
                    reduced_seen.push(*id);
                    let kept: Vec<String> = strings(&off["base"])
                        .into_iter()
                        .filter(|b| KEPT_CORE_BASES.contains(&b.as_str()))
                        .collect();
                    let want_expr = reduce(off["expression"].as_str().unwrap_or_default(), &kept);
                    if p.base != kept || p.expression.as_deref() != Some(want_expr.as_str()) {
                        failures.push(format!(
                            "{}: reduction wrong: base {:?} want {kept:?}; expression {:?} want {want_expr:?}",
                            p.url, p.base, p.expression
                        ));
                    }
                    let other: Vec<&String> = diffs
                        .iter()
                        .filter(|d| !d.starts_with("base:") && !d.starts_with("expression:"))
                        .collect();
                    if !other.is_empty() || diffs.is_empty() {
                        failures.push(format!(
                            "{}: listed as reduced but differs in {other:?} / not at all",
                            p.url
                        ));
                    }
                }
            }
        }
        // Completeness: every official parameter in scope is built in.
        let ours: Vec<&str> = source.params().iter().map(|p| p.url.as_str()).collect();
        for (url, off) in &official {
            let in_scope = source != BuiltinSource::R4Core
                || strings(&off["base"])
                    .iter()
                    .any(|b| KEPT_CORE_BASES.contains(&b.as_str()));
            let left_out = LEFT_OUT.iter().any(|(u, _)| u == url);
            if in_scope && !left_out && !ours.contains(&url.as_str()) {
                failures.push(format!(
                    "{}: official {url} is missing",
                    source.table_name()
                ));
            }
            if left_out && ours.contains(&url.as_str()) {
                failures.push(format!("{url} is listed in LEFT_OUT but built in"));
            }
        }
    }
    for (id, _) in REDUCED_MULTI_BASE {
        if !reduced_seen.contains(id) {
            failures.push(format!("{id} is listed as reduced but not built in"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn plan_net_1_1_0_parameters_equal_the_builtin_1_2_0_ones() {
    let Some(shared) = testkit::shared_fhir() else {
        return;
    };
    let old = folder_params(&shared.join("plan-net/1.1.0"), "SearchParameter-");
    assert_eq!(old.len(), 51);
    let mut failures = Vec::new();
    for (url, off) in &old {
        match BuiltinSource::PlanNet
            .params()
            .iter()
            .find(|p| &p.url == url)
        {
            None => failures.push(format!("{url} is missing")),
            Some(p) => {
                let diffs = differences(p, off);
                if !diffs.is_empty() {
                    failures.push(format!("{url}: {}", diffs.join("; ")));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn plan_net_capability_statement_parameters_resolve_to_their_definitions() {
    let Some(shared) = testkit::shared_fhir() else {
        return;
    };
    let registry = Registry::builtin();
    for version in ["1.1.0", "1.2.0"] {
        let cs = read_json(&shared.join(format!(
            "plan-net/{version}/CapabilityStatement-plan-net.json"
        )));
        let mut checked = 0;
        let mut failures = Vec::new();
        for rest in cs["rest"].as_array().expect("rest") {
            for resource in rest["resource"].as_array().expect("resource") {
                let ty = resource["type"].as_str().expect("type");
                for sp in resource["searchParam"].as_array().into_iter().flatten() {
                    let (name, definition) = (
                        sp["name"].as_str().expect("name"),
                        sp["definition"].as_str().expect("definition"),
                    );
                    checked += 1;
                    match registry.get(ty, name) {
                        None => failures.push(format!("{ty}?{name} is not in the registry")),
                        Some(p) if p.url != definition => {
                            failures.push(format!(
                                "{ty}?{name} resolves to {} instead of {definition}",
                                p.url
                            ));
                        }
                        Some(_) => {}
                    }
                }
            }
        }
        assert_eq!(
            checked, 65,
            "Plan-Net {version} CapabilityStatement changed"
        );
        assert!(
            failures.is_empty(),
            "Plan-Net {version}:\n{}",
            failures.join("\n")
        );
    }
}
