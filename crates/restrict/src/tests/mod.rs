//! Unit tests: each refusal is checked as carefully as each success. Most resources are written
//! inline; `ndh_examples` reads the NDH STU1 examples from the shared FHIR folder (never copied
//! into the repository).

mod extract;
mod gate;
mod ndh_examples;
mod path;
mod redact;
mod visibility;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::path::{parse, ElementPath, Parsed};
use crate::{Restrictions, Settings, Viewer, NDH_RESTRICT_FHIR_PATH};

/// The tenant's FHIR base URL.
const BASE: &str = "https://fhir.example.org/t/acme/fhir";

/// The NDH STU1 examples folder, or None (with a loud message) when it is absent; absent under
/// `FHIRDIR_REQUIRE_SHARED=1` is a failure.
fn ndh_dir() -> Option<PathBuf> {
    testkit::shared_fhir().map(|dir| dir.join("ndh/1.0.0-sushi-compiled"))
}

/// One NDH example, e.g. `Location-LocationWomenShelter`.
fn ndh_example(dir: &Path, name: &str) -> Value {
    let file = dir.join(format!("{name}.json"));
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// A resolver that knows no stored Restriction.
fn no_store(_: &str) -> Option<Value> {
    None
}

/// The policy of `resource` with default settings and no stored Restrictions.
fn policy(resource: &Value) -> Restrictions {
    crate::extract(resource, &Settings::default(), &no_store)
}

/// An element path written the way a typeless FHIRPath expression would be.
fn path(expression: &str) -> ElementPath {
    match parse(expression, "") {
        Parsed::Element(path) => path,
        other => panic!("{expression:?} is not an element path: {other:?}"),
    }
}

/// An ndh-Restriction with `status` "active", the given `restrictFhirPath` expressions and,
/// when not null, `provision`.
fn restriction(id: &str, expressions: &[&str], provision: Value) -> Value {
    let mut consent = json!({
        "resourceType": "Consent",
        "id": id,
        "meta": {"profile": ["http://hl7.org/fhir/us/ndh/StructureDefinition/ndh-Restriction"]},
        "status": "active",
        "scope": {"coding": [{
            "system": "http://hl7.org/fhir/us/ndh/CodeSystem/ConsentScopeNdhCS",
            "code": "directory-privacy"
        }]},
        "category": [{"coding": [{
            "system": "http://hl7.org/fhir/us/ndh/CodeSystem/ConsentCategoryNdhCS",
            "code": "DRC"
        }]}]
    });
    if !expressions.is_empty() {
        consent["extension"] = expressions
            .iter()
            .map(|e| {
                json!({
                    "url": NDH_RESTRICT_FHIR_PATH,
                    "valueExpression": {"language": "text/fhirpath", "expression": e}
                })
            })
            .collect();
    }
    if !provision.is_null() {
        consent["provision"] = provision;
    }
    consent
}

/// A usage-restriction extension (NDH) referencing `reference`.
fn usage_restriction(reference: &str) -> Value {
    json!({
        "url": crate::NDH_USAGE_RESTRICTION,
        "valueReference": {"reference": reference}
    })
}

/// A provision of `kind` ("permit"/"deny") for the actor references and purpose codes given.
fn provision(kind: &str, actors: &[&str], purposes: &[&str]) -> Value {
    let mut p = json!({
        "type": kind,
        "actor": actors.iter().map(|a| json!({
            "role": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                "code": "IRCP"
            }]},
            "reference": {"reference": a}
        })).collect::<Vec<_>>()
    });
    if !purposes.is_empty() {
        p["purpose"] = purposes
            .iter()
            .map(|c| {
                json!({"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": c})
            })
            .collect();
    }
    p
}

/// A Practitioner with home and work addresses and phones, restricted by the `contained`
/// Restrictions listed in its root extension.
fn practitioner(contained: Vec<Value>) -> Value {
    let extension: Vec<Value> = contained
        .iter()
        .map(|c| usage_restriction(&format!("#{}", c["id"].as_str().expect("id"))))
        .collect();
    json!({
        "resourceType": "Practitioner",
        "id": "p1",
        "meta": {"versionId": "3", "lastUpdated": "2024-01-02T03:04:05Z"},
        "extension": extension,
        "contained": contained,
        "active": true,
        "name": [{"family": "Smith", "given": ["Joe"]}],
        "address": [
            {"use": "home", "city": "Farmington", "line": ["263 Farmington Ave"]},
            {"use": "work", "city": "Farmington", "line": ["400 Lee Rd"]}
        ],
        "telecom": [
            {"system": "phone", "value": "555-123-6666", "use": "home"},
            {"system": "phone", "value": "555-123-1234", "use": "work"}
        ]
    })
}

/// A client acting for `organization` with the purposes of use given.
/// The policy of a Practitioner restricted as a whole by Restrictions with these provisions
/// (null: none).
fn whole_restricted(provisions: &[Value]) -> Restrictions {
    let contained = provisions
        .iter()
        .enumerate()
        .map(|(i, p)| restriction(&format!("r{i}"), &[], p.clone()))
        .collect();
    policy(&practitioner(contained))
}

fn client<'a>(organization: Option<&'a str>, purposes: &'a [String]) -> Viewer<'a> {
    Viewer::Client {
        organization,
        purpose_of_use: purposes,
        see_restricted: false,
        tenant_base: BASE,
    }
}
