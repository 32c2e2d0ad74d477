//! Subsetting resources for `_summary` and `_elements`
//! (<https://hl7.org/fhir/R4/search.html#summary>, <https://hl7.org/fhir/R4/search.html#elements>).
//! A subsetted resource is tagged `SUBSETTED` so that nobody mistakes it for the whole.

use serde_json::{json, Map, Value};

use crate::summary_table::SUMMARY_ELEMENTS;

/// Which subset of a resource to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryMode {
    /// Summary elements only (`_summary=true`).
    True,
    /// `text`, `id`, `meta` and mandatory elements (`_summary=text`).
    Text,
    /// Everything but `text` (`_summary=data`).
    Data,
}

/// Elements always kept, whatever the subset.
const ALWAYS: [&str; 3] = ["resourceType", "id", "meta"];

/// The summary elements of `resource_type`, `None` when fhirdir has no table for it.
pub fn summary_elements(resource_type: &str) -> Option<&'static [&'static str]> {
    SUMMARY_ELEMENTS
        .binary_search_by(|(t, _)| (*t).cmp(resource_type))
        .ok()
        .map(|i| SUMMARY_ELEMENTS[i].1)
}

fn listed(names: &[&str], key: &str) -> bool {
    names.iter().any(|n| match n.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix) && key.len() > prefix.len(),
        None => *n == key,
    })
}

fn tag_subsetted(resource: &mut Map<String, Value>) {
    let meta = resource.entry("meta").or_insert_with(|| json!({}));
    if let Value::Object(meta) = meta {
        let tags = meta.entry("tag").or_insert_with(|| json!([]));
        if let Value::Array(tags) = tags {
            tags.push(json!({
                "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                "code": "SUBSETTED",
                "display": "subsetted"
            }));
        }
    }
}

/// Applies `_summary` to a resource.
pub fn summarize(resource: &mut Map<String, Value>, mode: SummaryMode) {
    let rtype = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    match mode {
        SummaryMode::Data => {
            resource.remove("text");
        }
        SummaryMode::Text => {
            // Mandatory elements are in the summary table too, but text mode keeps only the
            // narrative and what identifies the resource.
            resource.retain(|k, _| ALWAYS.contains(&k.as_str()) || k == "text");
        }
        SummaryMode::True => match summary_elements(&rtype) {
            Some(names) => resource.retain(|k, _| ALWAYS.contains(&k.as_str()) || listed(names, k)),
            // Unknown table: dropping the narrative is the safe approximation.
            None => {
                resource.remove("text");
            }
        },
    }
    tag_subsetted(resource);
}

/// Applies `_elements`: keeps the named top-level elements plus `id` and `meta`. (The spec
/// also asks for mandatory elements; clients name what they need, so fhirdir keeps it literal.)
pub fn select_elements(resource: &mut Map<String, Value>, elements: &[String]) {
    let names: Vec<&str> = elements.iter().map(String::as_str).collect();
    resource.retain(|k, _| ALWAYS.contains(&k.as_str()) || names.contains(&k.as_str()));
    tag_subsetted(resource);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn practitioner() -> Map<String, Value> {
        json!({"resourceType": "Practitioner", "id": "p", "meta": {"versionId": "1"},
               "text": {"status": "generated", "div": "<div/>"}, "active": true,
               "name": [{"family": "Smith"}], "photo": [{"url": "x"}], "qualification": []})
        .as_object()
        .cloned()
        .unwrap()
    }

    #[test]
    fn summary_true_keeps_summary_elements_only() {
        let mut r = practitioner();
        summarize(&mut r, SummaryMode::True);
        let keys: Vec<&str> = r.keys().map(String::as_str).collect();
        assert_eq!(keys, ["resourceType", "id", "meta", "active", "name"]);
        assert_eq!(r["meta"]["tag"][0]["code"], "SUBSETTED");
    }

    #[test]
    fn summary_text_and_data() {
        let mut r = practitioner();
        summarize(&mut r, SummaryMode::Text);
        assert!(r.contains_key("text") && !r.contains_key("name"));
        let mut r = practitioner();
        summarize(&mut r, SummaryMode::Data);
        assert!(!r.contains_key("text") && r.contains_key("photo"));
    }

    #[test]
    fn elements_keep_named_plus_id_and_meta() {
        let mut r = practitioner();
        select_elements(&mut r, &["name".to_owned()]);
        let keys: Vec<&str> = r.keys().map(String::as_str).collect();
        assert_eq!(keys, ["resourceType", "id", "meta", "name"]);
    }

    #[test]
    fn choice_elements_match_their_typed_names() {
        assert!(listed(&["value*"], "valueQuantity"));
        assert!(!listed(&["value*"], "value"));
    }
}
