//! Identity in a transaction: server ids for POSTed entries, and every link to an entry's
//! `fullUrl` (`urn:uuid:`, `urn:oid:` or absolute) rewritten to `Type/id`, however deep it
//! sits in the resources (extensions and contained resources included): references,
//! elements of type uri/url/oid/uuid, and narrative `<a href>` / `<img src>`.
//! (<https://hl7.org/fhir/R4/bundle.html#references>)

use std::collections::HashMap;

use conformance::ElementModel;
use serde_json::Value;

use super::entry::{Entry, EntryMethod, Target};
use crate::error::{Error, Result};

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
    pub fn assign(entries: &[Entry]) -> Result<Identities> {
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
                    return Err(Error::invalid(format!(
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
    f: &mut dyn FnMut(&mut String) -> Result<()>,
) -> Result<()> {
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

/// Rewrites links to entries' `fullUrl`s in a resource: every `reference`, every element of
/// type uri, url, oid or uuid, and `<a href>` / `<img src>` in narratives
/// (<https://hl7.org/fhir/R4/http.html#trules>). A `urn:` reference that no entry defines is
/// an error (it could never resolve); other links to no entry are kept as they are.
pub fn rewrite(value: &mut Value, ids: &Identities) -> Result<()> {
    for_each_reference(value, &mut |r| {
        if let Some(new) = ids.by_full_url.get(r.as_str()) {
            *r = new.clone();
        } else if r.starts_with("urn:uuid:") || r.starts_with("urn:oid:") {
            return Err(Error::invalid(format!(
                "reference {r:?} names no entry of this Bundle"
            )));
        }
        Ok(())
    })?;
    if !ids.by_full_url.is_empty() {
        if let Some(rtype) = value.get("resourceType").and_then(Value::as_str) {
            let rtype = rtype.to_owned();
            rewrite_links(value, &rtype, ids, ElementModel::r4());
        }
    }
    Ok(())
}

/// The typed part of [`rewrite`]: walks `value` (whose element context is `context`) with
/// the R4 element model, so that only links are touched (an `Identifier.value` or a
/// `valueString` that happens to equal a `fullUrl` is text, not a link).
fn rewrite_links(value: &mut Value, context: &str, ids: &Identities, model: &ElementModel) {
    let Value::Object(map) = value else {
        return;
    };
    for (key, v) in map.iter_mut() {
        let Some(child) = model.child(context, key) else {
            continue;
        };
        let items: Vec<&mut Value> = match v {
            Value::Array(a) => a.iter_mut().collect(),
            other => vec![other],
        };
        for item in items {
            match (child.type_code, item) {
                ("uri" | "url" | "oid" | "uuid", Value::String(s)) => {
                    if let Some(new) = ids.by_full_url.get(s.as_str()) {
                        *s = new.clone();
                    }
                }
                ("xhtml", Value::String(div)) => rewrite_narrative(div, ids),
                (_, item) if child.context == "Resource" => {
                    if let Some(t) = item.get("resourceType").and_then(Value::as_str) {
                        let t = t.to_owned();
                        rewrite_links(item, &t, ids, model);
                    }
                }
                (_, item) => rewrite_links(item, child.context, ids, model),
            }
        }
    }
}

/// Rewrites `href="..."` and `src="..."` (either quote) naming an entry's `fullUrl`.
fn rewrite_narrative(div: &mut String, ids: &Identities) {
    const OPENERS: [&str; 4] = ["href=\"", "href='", "src=\"", "src='"];
    let mut out = String::with_capacity(div.len());
    let mut rest = div.as_str();
    while let Some((at, opener)) = OPENERS
        .iter()
        .filter_map(|o| rest.find(o).map(|i| (i, *o)))
        .min_by_key(|(i, _)| *i)
    {
        let start = at + opener.len();
        let quote = if opener.ends_with('"') { '"' } else { '\'' };
        let Some(len) = rest[start..].find(quote) else {
            break;
        };
        let link = &rest[start..start + len];
        out.push_str(&rest[..start]);
        out.push_str(ids.by_full_url.get(link).map_or(link, String::as_str));
        rest = &rest[start + len..];
    }
    out.push_str(rest);
    *div = out;
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
    fn rewrites_uri_elements_and_narrative_links_but_not_strings() {
        let mut ids = Identities::default();
        ids.by_full_url
            .insert("urn:uuid:1".into(), "Organization/abc".into());
        let mut v = json!({"resourceType": "Practitioner",
            "text": {"status": "generated",
                     "div": "<div><a href=\"urn:uuid:1\">a</a><img src='urn:uuid:1'/><a href=\"urn:uuid:2\">b</a><a href=\"x"}
            ,
            "photo": [{"url": "urn:uuid:1"}],
            "identifier": [{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:1"}],
            "extension": [{"url": "x", "valueUri": "urn:uuid:1"},
                          {"url": "y", "valueString": "urn:uuid:1"}],
            "contained": [{"resourceType": "Endpoint", "address": "urn:uuid:1"}]});
        rewrite(&mut v, &ids).unwrap();
        assert_eq!(
            v["text"]["div"],
            "<div><a href=\"Organization/abc\">a</a><img src='Organization/abc'/><a href=\"urn:uuid:2\">b</a><a href=\"x"
        );
        assert_eq!(v["photo"][0]["url"], "Organization/abc");
        assert_eq!(v["extension"][0]["valueUri"], "Organization/abc");
        assert_eq!(v["contained"][0]["address"], "Organization/abc");
        assert_eq!(v["identifier"][0]["value"], "urn:uuid:1");
        assert_eq!(v["extension"][1]["valueString"], "urn:uuid:1");
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
