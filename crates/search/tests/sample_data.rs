//! Extraction over the Plan-Net reference implementation's NPPES data
//! (`<repo>/../shared/fhir/sample-data/plan-net-ri-nppes`): the entries FHIRPath produces
//! agree with expectations computed directly from each resource's JSON.
//!
//! Skips visibly when the shared folder is absent, unless `FHIRDIR_REQUIRE_SHARED=1`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;

use conformance::Registry;
use search::{normalize_string, Extractor, IndexEntry, IndexValue};
use serde_json::Value;

fn load(dir: &Path, ty: &str) -> Vec<Value> {
    let path = dir.join(format!("{ty}.ndjson.gz"));
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    BufReader::new(flate2::read::GzDecoder::new(file))
        .lines()
        .map(|l| {
            serde_json::from_str(&l.expect("readable line")).expect("one JSON resource per line")
        })
        .collect()
}

fn refs(entries: &[IndexEntry], code: &str) -> BTreeSet<String> {
    entries
        .iter()
        .filter(|e| e.param.code == code)
        .filter_map(|e| match &e.value {
            IndexValue::Reference {
                target_type: Some(t),
                target_id: Some(i),
                ..
            } => Some(format!("{t}/{i}")),
            _ => None,
        })
        .collect()
}

fn tokens(entries: &[IndexEntry], code: &str) -> BTreeSet<(String, String)> {
    entries
        .iter()
        .filter(|e| e.param.code == code)
        .filter_map(|e| match &e.value {
            IndexValue::Token {
                system: Some(s),
                code: Some(c),
                ..
            } => Some((s.clone(), c.clone())),
            _ => None,
        })
        .collect()
}

fn strings(entries: &[IndexEntry], code: &str) -> BTreeSet<String> {
    entries
        .iter()
        .filter(|e| e.param.code == code)
        .filter_map(|e| match &e.value {
            IndexValue::String { normalized, .. } => Some(normalized.clone()),
            _ => None,
        })
        .collect()
}

fn array<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

fn codings(v: &Value, key: &str) -> BTreeSet<(String, String)> {
    array(v, key)
        .flat_map(|cc| array(cc, "coding"))
        .filter_map(|c| {
            Some((
                c.get("system")?.as_str()?.to_owned(),
                c.get("code")?.as_str()?.to_owned(),
            ))
        })
        .collect()
}

#[test]
fn practitioner_role_entries_match_the_data() {
    let Some(dir) = testkit::shared_fhir_at("sample-data/plan-net-ri-nppes") else {
        return;
    };
    let extractor = Extractor::new(Registry::builtin());
    let roles = load(&dir, "PractitionerRole");
    assert_eq!(roles.len(), 2000);
    let mut networks = 0;
    for role in &roles {
        let id = role["id"].as_str().unwrap_or_default();
        let entries = extractor.extract(role);
        let want_practitioner: BTreeSet<String> = role["practitioner"]["reference"]
            .as_str()
            .map(str::to_owned)
            .into_iter()
            .collect();
        assert_eq!(
            refs(&entries, "practitioner"),
            want_practitioner,
            "{id} practitioner"
        );
        let want_locations: BTreeSet<String> = array(role, "location")
            .filter_map(|l| l["reference"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(refs(&entries, "location"), want_locations, "{id} location");
        let want_networks: BTreeSet<String> = array(role, "extension")
            .filter(|e| e["url"] == "http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/network-reference")
            .filter_map(|e| e["valueReference"]["reference"].as_str().map(str::to_owned))
            .collect();
        networks += want_networks.len();
        assert_eq!(refs(&entries, "network"), want_networks, "{id} network");
        assert_eq!(
            tokens(&entries, "specialty"),
            codings(role, "specialty"),
            "{id} specialty"
        );
        assert_eq!(tokens(&entries, "role"), codings(role, "code"), "{id} role");
        let ids: Vec<&IndexEntry> = entries.iter().filter(|e| e.param.code == "_id").collect();
        assert_eq!(ids.len(), 1, "{id} _id");
    }
    // The data must exercise the extension path, or the network check proves nothing.
    assert!(
        networks > 1000,
        "only {networks} network references in the sample"
    );
}

#[test]
fn location_and_practitioner_entries_match_the_data() {
    let Some(dir) = testkit::shared_fhir_at("sample-data/plan-net-ri-nppes") else {
        return;
    };
    let extractor = Extractor::new(Registry::builtin());
    let locations = load(&dir, "Location");
    assert_eq!(locations.len(), 649);
    for loc in &locations {
        let id = loc["id"].as_str().unwrap_or_default();
        let entries = extractor.extract(loc);
        let geo: Vec<(f64, f64)> = entries
            .iter()
            .filter_map(|e| match e.value {
                IndexValue::Geo { lat, lon } if e.param.code == "near" => Some((lat, lon)),
                _ => None,
            })
            .collect();
        let position = &loc["position"];
        assert_eq!(
            geo,
            [(
                position["latitude"].as_f64().unwrap_or(f64::NAN),
                position["longitude"].as_f64().unwrap_or(f64::NAN)
            )],
            "{id} near"
        );
        let city: BTreeSet<String> = loc["address"]["city"]
            .as_str()
            .map(normalize_string)
            .into_iter()
            .collect();
        assert_eq!(strings(&entries, "address-city"), city, "{id} address-city");
        let last_updated = entries
            .iter()
            .find(|e| e.param.code == "_lastUpdated")
            .map(|e| e.value.clone());
        let want = loc["meta"]["lastUpdated"]
            .as_str()
            .and_then(|s| search::parse_date(s).ok());
        assert_eq!(
            last_updated,
            want.map(|d| IndexValue::Date {
                low: d.range.low,
                high: d.range.high
            }),
            "{id} _lastUpdated"
        );
    }
    for p in load(&dir, "Practitioner") {
        let id = p["id"].as_str().unwrap_or_default();
        let entries = extractor.extract(&p);
        let families: BTreeSet<String> = array(&p, "name")
            .filter_map(|n| n["family"].as_str().map(normalize_string))
            .collect();
        assert!(!families.is_empty(), "{id} has no family name");
        assert_eq!(strings(&entries, "family"), families, "{id} family");
        let names = strings(&entries, "name");
        assert!(
            families.is_subset(&names),
            "{id}: name entries {names:?} lack {families:?}"
        );
    }
}
