//! Identity in a transaction: server ids for POSTed entries, and every reference to an
//! entry's `fullUrl` (`urn:uuid:`, `urn:oid:` or absolute) rewritten to `Type/id`, however
//! deep it sits in the resources (extensions and contained resources included).
//! (<https://hl7.org/fhir/R4/bundle.html#references>)

use std::collections::HashMap;

use serde_json::Value;

use super::entry::{Entry, EntryMethod, Target};
use crate::error::{AppError, AppResult};

/// The ids fhirdir assigns: `fullUrl` -> `Type/id`, and each POST entry's new id.
#[derive(Debug, Default)]
pub struct Identities {
    pub by_full_url: HashMap<String, String>,
    /// New ids of POST entries, by entry index.
    pub new_ids: HashMap<usize, String>,
}

impl Identities {
    /// Assigns ids to the POST entries and records which `fullUrl` names which resource.
    /// Two entries with the same `fullUrl` are an error.
    pub fn assign(entries: &[Entry]) -> AppResult<Identities> {
        let mut ids = Identities::default();
        for e in entries {
            let reference = match (&e.method, &e.target) {
                (EntryMethod::Post, Target::Type(t)) => {
                    let id = fhir::new_id();
                    ids.new_ids.insert(e.index, id.clone());
                    Some(format!("{t}/{id}"))
                }
                (EntryMethod::Put, Target::Instance(t, id)) => Some(format!("{t}/{id}")),
                _ => None,
            };
            if let (Some(full_url), Some(reference)) = (&e.full_url, reference) {
                if ids
                    .by_full_url
                    .insert(full_url.clone(), reference)
                    .is_some()
                {
                    return Err(AppError::invalid(format!(
                        "{}: another entry has the same fullUrl",
                        e.label()
                    )));
                }
            }
        }
        Ok(ids)
    }
}

/// Calls `f` on every `reference` string anywhere in `value`.
pub fn for_each_reference(
    value: &mut Value,
    f: &mut dyn FnMut(&mut String) -> AppResult<()>,
) -> AppResult<()> {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                match v {
                    Value::String(s) if k == "reference" => f(s)?,
                    other => for_each_reference(other, f)?,
                }
            }
            Ok(())
        }
        Value::Array(items) => items.iter_mut().try_for_each(|v| for_each_reference(v, f)),
        _ => Ok(()),
    }
}

/// True for a conditional reference such as `Organization?identifier=...`.
pub fn is_conditional(reference: &str) -> bool {
    reference
        .split_once('?')
        .is_some_and(|(t, _)| fhir::is_resource_type(t))
}

/// Rewrites references to entries' `fullUrl`s; a `urn:` reference that no entry defines is
/// an error (it could never resolve).
pub fn rewrite(value: &mut Value, ids: &Identities) -> AppResult<()> {
    for_each_reference(value, &mut |r| {
        if let Some(new) = ids.by_full_url.get(r.as_str()) {
            *r = new.clone();
        } else if r.starts_with("urn:uuid:") || r.starts_with("urn:oid:") {
            return Err(AppError::invalid(format!(
                "reference {r:?} names no entry of this Bundle"
            )));
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rewrites_nested_references_and_rejects_dangling_urns() {
        let mut ids = Identities::default();
        ids.by_full_url
            .insert("urn:uuid:1".into(), "Organization/abc".into());
        let mut v = json!({"managingOrganization": {"reference": "urn:uuid:1"},
            "extension": [{"url": "x", "valueReference": {"reference": "urn:uuid:1"}}],
            "contained": [{"resourceType": "Location", "managingOrganization": {"reference": "urn:uuid:1"}}],
            "other": {"reference": "Practitioner/keep"}});
        rewrite(&mut v, &ids).unwrap();
        assert_eq!(v["managingOrganization"]["reference"], "Organization/abc");
        assert_eq!(
            v["extension"][0]["valueReference"]["reference"],
            "Organization/abc"
        );
        assert_eq!(
            v["contained"][0]["managingOrganization"]["reference"],
            "Organization/abc"
        );
        assert_eq!(v["other"]["reference"], "Practitioner/keep");
        let mut bad = json!({"a": {"reference": "urn:uuid:2"}});
        assert!(rewrite(&mut bad, &ids).is_err());
    }

    #[test]
    fn conditional_references() {
        assert!(is_conditional(
            "Organization?identifier=http://hl7.org/fhir/sid/us-npi|1234567893"
        ));
        assert!(!is_conditional("Organization/1"));
        assert!(!is_conditional("Foo?x=1"));
    }
}
