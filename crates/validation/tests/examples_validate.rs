//! Every official and implementation-guide example in the shared reference folder, and the
//! 5,215 Plan-Net sample resources, are valid FHIR R4 by core validation: no error issue.
//! An example the published package gets wrong is listed in `KNOWN` with the rule it
//! breaks, and must still give exactly that error (so the list cannot go stale silently).
//!
//! Skips visibly when `<repo>/../shared/fhir` is absent, unless `FHIRDIR_REQUIRE_SHARED=1`.

mod support;

use std::collections::BTreeMap;

use validation::{describe, IssueSeverity as Severity, Validator};

/// Errors of the published files themselves, each a real breach of R4: (file name
/// prefix, issue expression, a part of the diagnostics, why).
const KNOWN: &[(&str, &str, &str, &str)] = &[
    (
        "Organization.ndjson.gz:",
        "Organization.identifier[0].value",
        "string must be a string, found a number",
        "the Plan-Net RI's NPPES data writes some NPIs as JSON numbers; Identifier.value is a \
         string (https://hl7.org/fhir/R4/json.html#primitive)",
    ),
    (
        "Practitioner.ndjson.gz:",
        "Practitioner.",
        "string must be a string, found a number",
        "the same, for practitioners' NPIs and licence numbers",
    ),
    (
        "validation-oo.json",
        "Bundle.entry[",
        "invalid id",
        "Plan-Net's build report holds 66-character ids; ids are at most 64 \
         (https://hl7.org/fhir/R4/datatypes.html#id)",
    ),
    (
        "StructureDefinition-ndh-HealthcareService.json",
        "StructureDefinition.differential.element[17].slicing.description",
        "strings must not be empty",
        "NDH's compiled profile has `\"description\": \"\"`; a JSON string value is never \
         empty (https://hl7.org/fhir/R4/json.html#primitive)",
    ),
    (
        "ig-r4.json",
        "ImplementationGuide.definition.parameter[",
        "guide-parameter-code",
        "the IG Publisher's parameters (`path-liquid`, `releaselabel`, ...) are outside the \
         R4 required binding of ImplementationGuide.definition.parameter.code (R5 relaxed it)",
    ),
    (
        "ImplementationGuide-hl7.fhir.us.ndh.json",
        "ImplementationGuide.definition.parameter[",
        "guide-parameter-code",
        "the same, in NDH's ImplementationGuide",
    ),
];

#[test]
fn every_shared_example_and_sample_resource_is_valid_r4() {
    let Some(shared) = testkit::shared_fhir() else {
        return;
    };
    let mut all = Vec::new();
    for dir in [
        "r4-core/examples",
        "plan-net/1.1.0",
        "plan-net/1.2.0",
        "ndh/1.0.0-sushi-compiled",
        "vhdir",
        "sample-data/plan-net-ri-test-data",
    ] {
        all.extend(support::json_files(&shared.join(dir)));
    }
    let examples = all.len();
    all.extend(support::ndjson_gz(
        &shared.join("sample-data/plan-net-ri-nppes"),
    ));
    assert!(
        all.len() - examples >= 5215,
        "the sample resources are there"
    );
    let validator = Validator::core();
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut known_seen = vec![false; KNOWN.len()];
    for (name, resource) in &all {
        for issue in validator.validate(resource) {
            if issue.severity > Severity::Error {
                continue;
            }
            match KNOWN.iter().position(|(f, at, says, _)| {
                name.starts_with(f)
                    && issue.expression.iter().any(|e| e.starts_with(at))
                    && issue.diagnostics.contains(says)
            }) {
                Some(k) => known_seen[k] = true,
                None => errors
                    .entry(name.clone())
                    .or_default()
                    .push(describe(&issue)),
            }
        }
    }
    let shown: Vec<String> = errors
        .iter()
        .take(40)
        .map(|(f, is)| format!("{f}: {}", is.join("; ")))
        .collect();
    assert!(
        errors.is_empty(),
        "{} of {} resources have errors:\n{}",
        errors.len(),
        all.len(),
        shown.join("\n")
    );
    for (k, seen) in known_seen.iter().enumerate() {
        assert!(seen, "KNOWN[{k}] {:?} no longer fails", KNOWN[k]);
    }
}
