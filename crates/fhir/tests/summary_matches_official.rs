//! The built-in summary table agrees with the official R4 StructureDefinitions
//! (`isSummary` or `min > 0` on top-level elements).

use std::path::PathBuf;

fn shared() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fhir/r4-core/structuredefinitions");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("FHIRDIR_REQUIRE_SHARED").as_deref() != Ok("1"),
        "FHIRDIR_REQUIRE_SHARED=1 but {} is missing",
        dir.display()
    );
    eprintln!("SKIPPED: {} is absent", dir.display());
    None
}

#[test]
fn summary_elements_match_official_structure_definitions() {
    let Some(dir) = shared() else { return };
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let sd: serde_json::Value =
            serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
        if sd["kind"] != "resource" || sd["abstract"] == true {
            continue;
        }
        let rtype = sd["type"].as_str().unwrap();
        let mut expected: Vec<String> = Vec::new();
        for e in sd["snapshot"]["element"].as_array().unwrap() {
            let path: Vec<&str> = e["path"].as_str().unwrap().split('.').collect();
            if path.len() != 2 || !(e["isSummary"] == true || e["min"].as_u64().unwrap_or(0) > 0) {
                continue;
            }
            let name = path[1]
                .strip_suffix("[x]")
                .map_or(path[1].to_owned(), |p| format!("{p}*"));
            if !expected.contains(&name) {
                expected.push(name);
            }
        }
        let ours = fhir::shape::summary_elements(rtype)
            .unwrap_or_else(|| panic!("no summary table for {rtype}"));
        assert_eq!(ours, expected.as_slice(), "summary elements of {rtype}");
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} resource definitions checked");
}
