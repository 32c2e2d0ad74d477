//! The built-in core table (`src/builtin/core_r4.tsv`) agrees with the official R4
//! definitions of the directory's resources: every required binding whose value set can be
//! enumerated, with the same value set and its codes, and every invariant, with the same
//! expression. (The table is derived by `tools/derive_core.py`; this catches a hand edit or a
//! stale table.)
//!
//! Skips visibly when `<repo>/../shared/fhir` is absent, unless `FHIRDIR_REQUIRE_SHARED=1`.

use serde_json::Value;
use validation::CoreTable;

/// Value sets the core table cannot enumerate (external systems or filters).
const NOT_ENUMERABLE: &[&str] = &[
    "http://hl7.org/fhir/ValueSet/mimetypes",
    "http://hl7.org/fhir/ValueSet/ucum-units",
    "http://hl7.org/fhir/ValueSet/currencies",
    "http://loinc.org/vs/LL379-9",
];

#[test]
fn bindings_and_invariants_match_the_official_snapshots() {
    let Some(dir) = testkit::shared_fhir_at("r4-core/structuredefinitions") else {
        return;
    };
    let table = CoreTable::r4();
    let (mut bindings, mut invariants) = (0, 0);
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let sd: Value = serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
        for el in sd["snapshot"]["element"].as_array().unwrap() {
            let base = el["base"]["path"].as_str().unwrap();
            let b = &el["binding"];
            if b["strength"] == "required" && base.contains('.') {
                let url = b["valueSet"].as_str().unwrap().split('|').next().unwrap();
                match table.required_binding(base) {
                    Some(vs) => {
                        assert_eq!(vs.url, url, "{base}");
                        bindings += 1;
                    }
                    None => assert!(NOT_ENUMERABLE.contains(&url), "{base} -> {url} missing"),
                }
            }
            for c in el["constraint"].as_array().into_iter().flatten() {
                let key = c["key"].as_str().unwrap();
                if key == "ele-1" {
                    continue;
                }
                let expr: String = c["expression"]
                    .as_str()
                    .unwrap()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                let found = table
                    .all_invariants()
                    .any(|(_, i)| i.key == key && i.source == expr);
                assert!(found, "{key} ({base}) is not in the table as {expr:?}");
                invariants += 1;
            }
        }
    }
    assert!(bindings > 40 && invariants > 100, "{bindings} {invariants}");
    // The codes of a value set: contact-point-system, all seven.
    let vs = table.required_binding("ContactPoint.system").unwrap();
    for code in ["phone", "fax", "email", "pager", "url", "sms", "other"] {
        assert!(
            vs.has("http://hl7.org/fhir/contact-point-system", code),
            "{code}"
        );
    }
}
