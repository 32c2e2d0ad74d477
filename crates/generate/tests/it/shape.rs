//! The directory has the intended size, resource mix, organisation mix and geography.

use std::collections::HashMap;

use generate::geography::{distance_km, CITIES, JITTER_KM};
use serde_json::Value;

use super::common;

#[test]
fn total_is_within_one_percent_of_size() {
    for size in [100, 1_000, 4_321] {
        let mut n = 0u64;
        let summary = generate::generate(&generate::GenerateOptions { size, seed: 1 }, |_, _| {
            n += 1;
            Ok(())
        })
        .expect("generate");
        assert_eq!(summary.total(), n);
        let off = n.abs_diff(size) as f64 / size as f64;
        assert!(off <= 0.01, "size {size}: generated {n}");
    }
}

/// Intended share of each type, modelled on the Plan-Net reference directory
/// (`plan-net-ri-nppes`: 38% Practitioner, 38% PractitionerRole, 12% Location, 3.5% Organization,
/// 3% HealthcareService, 3% OrganizationAffiliation, 0.8% Endpoint, 0.6% InsurancePlan), with
/// 1.25 roles per practitioner instead of exactly one, as real directories list several.
const INTENDED: [(&str, f64); 8] = [
    ("Practitioner", 0.35),
    ("PractitionerRole", 0.435),
    ("Location", 0.097),
    ("Organization", 0.035),
    ("HealthcareService", 0.03),
    ("OrganizationAffiliation", 0.03),
    ("Endpoint", 0.016),
    ("InsurancePlan", 0.006),
];

/// Counts per type a layout implies (checked against real runs below).
fn layout_counts(l: &generate::Layout) -> HashMap<&'static str, u64> {
    HashMap::from([
        ("Practitioner", l.practitioners),
        ("PractitionerRole", l.roles()),
        ("Location", l.locations()),
        ("Organization", l.organizations()),
        ("HealthcareService", l.orgs),
        ("OrganizationAffiliation", l.orgs),
        ("Endpoint", l.endpoints()),
        ("InsurancePlan", l.plans()),
    ])
}

#[test]
fn resource_mix_matches_the_intended_ratios() {
    // A real run has exactly the counts of its layout...
    for size in [1_000, 3_333] {
        let summary = common::collect(size, 5).1;
        let layout = layout_counts(&generate::Layout::for_size(size));
        for (resource_type, _) in INTENDED {
            assert_eq!(
                summary.count(resource_type),
                layout[resource_type],
                "{resource_type}"
            );
        }
    }
    // ...so the layout tells the mix at benchmark sizes without generating them.
    for size in [1_000, 3_333, 100_000, 1_000_000] {
        let counts = layout_counts(&generate::Layout::for_size(size));
        let total: u64 = counts.values().sum();
        for (resource_type, share) in INTENDED {
            let actual = counts[resource_type] as f64 / total as f64;
            // Within 20% of the intended share (small types are rounded to whole payers).
            assert!(
                (actual - share).abs() <= share * 0.2,
                "size {size}: {resource_type} is {actual:.4} of the directory, intended {share}"
            );
        }
    }
}

#[test]
fn organization_mix_has_payers_networks_groups_and_facilities() {
    let (resources, summary) = common::collect(1_000, 5);
    let mut by_type: HashMap<String, u64> = HashMap::new();
    let mut with_parent = 0;
    for (t, r) in &resources {
        if t == "Organization" {
            let code = r["type"][0]["coding"][0]["code"]
                .as_str()
                .expect("org type");
            *by_type.entry(code.to_owned()).or_default() += 1;
            if r.get("partOf").is_some() && code != "ntwk" {
                with_parent += 1;
            }
        }
    }
    assert_eq!(by_type["payer"], 1);
    assert_eq!(by_type["ntwk"], 4);
    assert_eq!(by_type["prvgrp"], 12);
    assert_eq!(by_type["fac"], 18);
    assert_eq!(by_type.values().sum::<u64>(), summary.count("Organization"));
    assert!(
        with_parent >= 6,
        "{with_parent} provider organisations with partOf"
    );
    // Every practitioner has 1 or 2 roles, 1.25 on average.
    let mut roles: HashMap<&str, u64> = HashMap::new();
    for (t, r) in &resources {
        if t == "PractitionerRole" {
            *roles
                .entry(r["practitioner"]["reference"].as_str().expect("ref"))
                .or_default() += 1;
        }
    }
    assert_eq!(roles.len() as u64, summary.count("Practitioner"));
    assert!(roles.values().all(|n| (1..=2).contains(n)));
}

#[test]
fn sites_are_in_real_cities_within_the_jitter_radius() {
    let resources = common::shared_run();
    let mut sites = 0;
    for (t, r) in resources {
        if t != "Location" {
            continue;
        }
        let lat = r["position"]["latitude"].as_f64().expect("latitude");
        let lon = r["position"]["longitude"].as_f64().expect("longitude");
        let address = &r["address"];
        let Some(zip) = address["postalCode"].as_str() else {
            continue; // service areas have a state only
        };
        let city = CITIES
            .iter()
            .find(|c| c.zip == zip && address["city"] == c.name && address["state"] == c.state)
            .unwrap_or_else(|| panic!("{address} is not a built-in city"));
        let d = distance_km(city.lat, city.lon, lat, lon);
        assert!(
            d <= JITTER_KM + 0.01,
            "{} is {d:.1} km from {}",
            r["id"],
            city.name
        );
        sites += 1;
    }
    assert!(sites > 150);
}

#[test]
fn practitioners_speak_english_and_some_another_language() {
    let resources = common::shared_run();
    let practitioners: Vec<&Value> = resources
        .iter()
        .filter(|(t, _)| t == "Practitioner")
        .map(|(_, r)| r)
        .collect();
    let bilingual = practitioners
        .iter()
        .filter(|p| p["communication"].as_array().map_or(0, Vec::len) == 2)
        .count();
    assert!(practitioners
        .iter()
        .all(|p| p["communication"][0]["coding"][0]["code"] == "en"));
    let share = bilingual as f64 / practitioners.len() as f64;
    assert!((0.2..0.4).contains(&share), "{share}");
    let female = practitioners
        .iter()
        .filter(|p| p["gender"] == "female")
        .count();
    let share = female as f64 / practitioners.len() as f64;
    assert!((0.38..0.58).contains(&share), "{share}");
}
