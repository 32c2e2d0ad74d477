//! Every example of Plan-Net 1.1.0 and 1.2.0, NDH and VHDir in the shared reference folder,
//! and the 5,215 Plan-Net sample resources, validated against the profiles they declare
//! with the package that defines them loaded: no error, except those listed in `KNOWN`
//! with the reason (each must still happen, so the list cannot go stale silently).
//!
//! Skips visibly when `<repo>/../shared/fhir` is absent, unless `FHIRDIR_REQUIRE_SHARED=1`.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use conformance::package::load_definitions;
use serde_json::Value;
use validation::{describe, IssueSeverity as Severity, ProfileSet};

fn set_of(path: &Path) -> ProfileSet {
    let packages = load_definitions(path).expect("the package loads");
    ProfileSet::new(&packages)
}

/// Errors of the published files or of what the shared folder lacks: (package folder, file
/// name prefix, issue expression prefix, a part of the diagnostics, why).
const KNOWN: &[(&str, &str, &str, &str, &str)] = &[
    (
        "plan-net/1.2.0",
        "Organization.ndjson.gz:",
        "Organization.identifier[",
        "string must be a string, found a number",
        "the Plan-Net RI's NPPES data writes some NPIs as JSON numbers (R4 core)",
    ),
    (
        "plan-net/1.2.0",
        "Practitioner.ndjson.gz:",
        "Practitioner.",
        "string must be a string, found a number",
        "the same, for practitioners' NPIs and licence numbers",
    ),
    (
        "plan-net/1.2.0",
        "Practitioner.ndjson.gz:",
        "Practitioner.identifier[",
        "us-core-17 failed",
        "the RI's generated practitioners carry NPIs whose check digit is wrong (1,785 of \
         2,000); US Core's us-core-17 (Luhn check), an error in Plan-Net's snapshot, refuses them",
    ),
    (
        "plan-net/1.2.0",
        "Organization.ndjson.gz:",
        "Organization.identifier[",
        "us-core-17 failed",
        "the same, for 44 organisations",
    ),
    (
        "ndh/1.0.0-sushi-compiled",
        "",
        "",
        "is not loaded",
        "NDH's Organization, Network, Practitioner, PractitionerRole and Location profiles \
         derive from US Core 6.1.0 (and name its race and ethnicity extensions), which the \
         shared folder does not hold: every validation against them says so",
    ),
    (
        "ndh/1.0.0-sushi-compiled",
        "",
        "",
        "have no slicing (no discriminator) in any layer",
        "the slicing of Organization.identifier is US Core's (not loaded)",
    ),
    (
        "vhdir/ig-resources",
        "Organization.ndjson.gz:75",
        "Organization.",
        "missing required element `value`",
        "a 2018 generated organisation has a telecom without a value (VHDir requires one)",
    ),
    (
        "vhdir/ig-resources",
        "PractitionerRole.ndjson.gz:36",
        "PractitionerRole.telecom[0]",
        "missing required element `value`",
        "the same, in a practitioner role",
    ),
];

#[test]
fn every_example_meets_its_declared_profiles() {
    let Some(shared) = testkit::shared_fhir() else {
        return;
    };
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("plan-net/1.1.0", vec!["plan-net/1.1.0/example"]),
        (
            "plan-net/1.2.0",
            vec![
                "plan-net/1.2.0/example",
                "sample-data/plan-net-ri-nppes",
                "sample-data/plan-net-ri-test-data",
            ],
        ),
        ("ndh/1.0.0-sushi-compiled", vec!["ndh/1.0.0-sushi-compiled"]),
        (
            "vhdir/ig-resources",
            vec!["vhdir/ig-resources", "vhdir/generated-examples-20181206"],
        ),
    ];
    let mut used = vec![0usize; KNOWN.len()];
    let mut unexpected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (pkg, dirs) in cases {
        let set = set_of(&shared.join(pkg));
        assert!(set.profiles().count() >= 9, "{pkg}: its profiles load");
        let mut all = Vec::new();
        for d in dirs {
            let d = shared.join(d);
            // The examples that declare a profile, and the samples.
            all.extend(
                support::json_files(&d)
                    .into_iter()
                    .filter(|(_, r)| r.pointer("/meta/profile").is_some()),
            );
            all.extend(support::ndjson_gz(&d));
        }
        let checked = all
            .iter()
            .filter(|(_, r)| {
                r.pointer("/meta/profile/0")
                    .and_then(Value::as_str)
                    .is_some_and(|p| set.has_profile(p))
            })
            .count();
        // Most of them are checked against a profile of the package, not merely core.
        assert!(
            checked >= 40 && checked * 2 >= all.len(),
            "{pkg}: {checked} of {} declare a profile of the package",
            all.len()
        );
        for (name, r) in &all {
            for i in set.validate(r, &[]) {
                if i.severity > Severity::Error {
                    continue;
                }
                let at = i.expression.join(" ");
                let known = KNOWN.iter().position(|(p, file, expr, text, _)| {
                    *p == pkg
                        && name.starts_with(file)
                        && at.starts_with(expr)
                        && i.diagnostics.contains(text)
                });
                match known {
                    Some(k) => used[k] += 1,
                    None => unexpected
                        .entry(format!("{pkg}: {}", describe(&i)))
                        .or_default()
                        .push(name.clone()),
                }
            }
        }
    }
    let shown: Vec<String> = unexpected
        .iter()
        .map(|(k, names)| format!("{k} ({} resources, first {})", names.len(), names[0]))
        .collect();
    assert!(shown.is_empty(), "unexpected errors:\n{}", shown.join("\n"));
    for (k, n) in KNOWN.iter().zip(&used) {
        assert!(*n > 0, "a known error no longer happens (remove it): {k:?}");
    }
}
