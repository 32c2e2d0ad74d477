//! Every reference resolves inside the generated set, to a resource emitted earlier.

use super::common;

use std::collections::HashSet;

#[test]
fn every_reference_resolves_to_an_earlier_resource() {
    for (size, seed) in [(3_000, 99), (120, 5), (10, 2), (1, 3)] {
        let (resources, _) = common::collect(size, seed);
        let mut seen: HashSet<String> = HashSet::new();
        let mut checked = 0;
        for (resource_type, resource) in &resources {
            let id = resource["id"].as_str().expect("id");
            common::walk_objects(resource, &mut |obj| {
                if let Some(reference) = obj.get("reference") {
                    let reference = reference.as_str().expect("reference is a string");
                    assert!(
                        seen.contains(reference),
                        "{resource_type}/{id} (size {size}) refers to {reference}, not emitted before it"
                    );
                    checked += 1;
                }
            });
            assert!(
                seen.insert(format!("{resource_type}/{id}")),
                "duplicate {resource_type}/{id}"
            );
        }
        // A directory has several references per resource.
        assert!(
            checked > resources.len() * 2,
            "only {checked} references at size {size}"
        );
    }
}

#[test]
fn the_checker_notices_a_dangling_reference() {
    // Guard against a vacuous closure test: a dangling reference must be found by the same walk.
    let resource = serde_json::json!({
        "resourceType": "PractitionerRole",
        "id": "x",
        "practitioner": { "reference": "Practitioner/nope" },
        "extension": [{ "valueReference": { "reference": "Organization/nope" } }],
    });
    let mut found = Vec::new();
    common::walk_objects(&resource, &mut |obj| {
        if let Some(r) = obj.get("reference").and_then(|r| r.as_str()) {
            found.push(r.to_owned());
        }
    });
    assert_eq!(found, ["Practitioner/nope", "Organization/nope"]);
}

#[test]
fn types_are_emitted_in_type_order_blocks() {
    let (resources, _) = common::collect(1_000, 3);
    let mut order: Vec<&str> = Vec::new();
    for (t, _) in &resources {
        if order.last() != Some(&t.as_str()) {
            order.push(t);
        }
    }
    assert_eq!(order, generate::TYPE_ORDER);
}
