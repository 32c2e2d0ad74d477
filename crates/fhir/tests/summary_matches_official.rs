//! The built-in summary table agrees with the official R4 StructureDefinitions
//! (`isSummary` or `min > 0` on top-level elements).

#[test]
fn summary_elements_match_official_structure_definitions() {
    let Some(dir) = testkit::shared_fhir_at("r4-core/structuredefinitions") else {
        return;
    };
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
