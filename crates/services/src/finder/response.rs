//! The `searchset` Bundle of `$find-providers`: one `match` entry per provider with its score,
//! and what matched described in one complex extension on `entry.search` (documented in the
//! OperationDefinition, [`super::definition`]); `include` entries for the roles and sites
//! used.
//!
//! `Bundle.entry.search` is an element, so it may carry extensions
//! (<https://hl7.org/fhir/R4/bundle-definitions.html#Bundle.entry.search>); putting them there
//! keeps each provider resource exactly as stored.

use std::collections::{BTreeMap, BTreeSet};

use fhir::BundleEntry;
use finder::{Found, Ranked, Site};
use serde_json::{json, Value};

use super::describe::Described;
use super::networks::Freshness;
use crate::error::{Error, Result};

/// The extension on `Bundle.entry.search` describing a provider's match.
pub const MATCH_EXTENSION: &str = "urn:fhirdir:find-providers:match";

/// UCUM's international mile, the unit of every distance.
fn miles(d: f64) -> Value {
    json!({
        "value": (d * 100.0).round() / 100.0,
        "unit": "mi",
        "system": "http://unitsofmeasure.org",
        "code": "[mi_i]",
    })
}

fn reference(r: &str, display: Option<&str>) -> Value {
    match display {
        Some(d) => json!({"reference": r, "display": d}),
        None => json!({"reference": r}),
    }
}

fn site_extension(site: &Site, location: Option<&Value>, with_accepting: bool) -> Value {
    let name = location.and_then(|l| l.get("name")).and_then(Value::as_str);
    let mut parts =
        vec![json!({"url": "location", "valueReference": reference(&site.location, name)})];
    if let Some(address) = location.and_then(|l| l.get("address")) {
        parts.push(json!({"url": "address", "valueAddress": address}));
    }
    if let Some(d) = site.distance_miles {
        parts.push(json!({"url": "distance", "valueQuantity": miles(d)}));
    }
    if with_accepting {
        parts.push(json!({"url": "acceptingNewPatients", "valueBoolean": site.accepting}));
    }
    json!({"url": "site", "extension": parts})
}

/// The match extension of one provider.
pub(crate) fn match_extension(
    found: &Found,
    resources: &finder::Resources,
    freshness: &BTreeMap<String, Freshness>,
) -> Value {
    let mut parts = Vec::new();
    if let Some(d) = found.distance_miles {
        parts.push(json!({"url": "distance", "valueQuantity": miles(d)}));
    }
    if let Some(level) = found.name_match {
        parts.push(json!({"url": "nameMatch", "valueCode": code(&level)}));
    }
    if let Some(level) = found.specialty_match {
        parts.push(json!({"url": "specialtyMatch", "valueCode": code(&level)}));
    }
    for (network, n) in &found.networks {
        let mut sub = vec![
            json!({"url": "network", "valueReference": reference(network, n.display.as_deref())}),
        ];
        let fresh = freshness.get(network);
        if let Some(t) = fresh.and_then(|f| f.last_imported) {
            sub.push(json!({"url": "lastImported", "valueInstant": fhir::meta::format_instant(t)}));
        }
        sub.push(json!({"url": "stale", "valueBoolean": fresh.is_none_or(|f| f.stale)}));
        for site in n.sites.values() {
            sub.push(site_extension(site, resources.get(&site.location), true));
        }
        parts.push(json!({"url": "inNetwork", "extension": sub}));
    }
    for site in found.sites.values() {
        parts.push(site_extension(site, resources.get(&site.location), true));
    }
    json!({"url": MATCH_EXTENSION, "extension": parts})
}

/// A serde enum's snake_case name (the `valueCode`s).
fn code(level: &impl serde::Serialize) -> String {
    serde_json::to_value(level)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The entries of one page: each provider as a match, then the roles and sites used. A
/// provider the description left out (its roles changed between the two reads) is skipped.
pub(crate) fn entries(
    base: &str,
    page: &[Ranked],
    described: &Described,
    freshness: &BTreeMap<String, Freshness>,
) -> Result<Vec<BundleEntry>> {
    let resources = &described.resources;
    let mut out = Vec::with_capacity(page.len() * 3);
    let mut included = BTreeSet::new();
    let mut includes = Vec::new();
    for r in page {
        let key = &r.candidate.provider_ref;
        let (Some(f), Some(body)) = (described.found.get(key), resources.get(key)) else {
            continue;
        };
        let search = json!({
            "extension": [match_extension(f, resources, freshness)],
            "mode": "match",
            "score": r.score,
        });
        out.push(entry(base, key, body, search)?);
        for used in f.roles.iter().chain(f.sites.keys()) {
            if included.insert(used.clone()) {
                if let Some(body) = resources.get(used) {
                    includes.push(entry(base, used, body, json!({"mode": "include"}))?);
                }
            }
        }
    }
    out.extend(includes);
    Ok(out)
}

fn entry(base: &str, key: &str, body: &Value, search: Value) -> Result<BundleEntry> {
    let resource = serde_json::value::RawValue::from_string(body.to_string())
        .map_err(|e| Error::internal(format!("{key} cannot be serialized: {e}")))?;
    Ok(BundleEntry {
        full_url: Some(format!("{base}/{key}")),
        resource: Some(resource),
        request: None,
        response: None,
        search: Some(search),
    })
}
