//! How a source's resource becomes the tenant's: its local id, its references, its `meta`.
//!
//! - Local id: `{source}-{id}`. When that would exceed FHIR's 64 characters, `{source}-h`
//!   and the first hex digits of the SHA-256 of the id, so two sources (or two long ids)
//!   never collide and the same remote id always maps to the same local one.
//! - References (`reference` members anywhere in the resource) to the source's resources,
//!   relative (`Practitioner/1`) or absolute under the source's base, become references to
//!   the local ids (`Practitioner/{source}-1`; a version is dropped: the source's version
//!   numbers mean nothing here). Contained (`#x`), other servers' and conditional references
//!   stay as they are.
//! - `meta`: `versionId` and `lastUpdated` are the tenant's own; `meta.source` records the
//!   original (`{base}/{type}/{id}`); a source with a `network_tag` adds it as a tag
//!   ([`TAG_SYSTEM`]); profiles, other tags and security labels stay.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::setting::Setting;

/// The system of the tags harvests add (`network_tag`, and `missing` for what a source no
/// longer has).
pub const TAG_SYSTEM: &str = "urn:fhirdir:harvest";

/// Longest FHIR id.
const MAX_ID: usize = 64;

/// The local id of the source's `id`.
pub fn local_id(source: &str, id: &str) -> String {
    let plain = format!("{source}-{id}");
    if plain.len() <= MAX_ID {
        return plain;
    }
    let digest = Sha256::digest(id.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let mut out = format!("{source}-h{hex}");
    out.truncate(MAX_ID);
    out
}

/// A resource of the source as the tenant will hold it.
#[derive(Debug, Clone)]
pub struct Localised {
    pub resource_type: String,
    pub id: String,
    /// The source's id.
    pub remote_id: String,
    pub body: Map<String, Value>,
    /// Hex SHA-256 of the body as applied.
    pub hash: String,
    /// Local references (`Type/id`) to the source's resources, distinct.
    pub refs: Vec<String>,
}

/// Localises `resource` (of the source's `resource_type` and with an `id`; the caller has
/// checked both).
pub fn localise(s: &Setting, resource_type: &str, mut resource: Map<String, Value>) -> Localised {
    let remote_id = resource
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let id = local_id(&s.name, &remote_id);
    let mut refs = Vec::new();
    for (key, value) in resource.iter_mut() {
        if key != "meta" && key != "id" {
            rewrite(s, value, &mut refs);
        }
    }
    refs.sort();
    refs.dedup();
    resource.insert("id".into(), Value::String(id.clone()));
    let mut meta = match resource.remove("meta") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    meta.remove("versionId");
    meta.remove("lastUpdated");
    meta.insert(
        "source".into(),
        Value::String(format!("{}/{resource_type}/{remote_id}", s.url)),
    );
    if let Some(tag) = &s.network_tag {
        let tags = meta
            .entry("tag")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = tags {
            list.push(serde_json::json!({"system": TAG_SYSTEM, "code": tag}));
        }
    }
    resource.insert("meta".into(), Value::Object(meta));
    let hash = hash(&resource);
    Localised {
        resource_type: resource_type.to_owned(),
        id,
        remote_id,
        body: resource,
        hash,
        refs,
    }
}

/// Hex SHA-256 of `body`'s JSON (members in the order the source sent them: the same source
/// sends the same text for the same content).
pub fn hash(body: &Map<String, Value>) -> String {
    let text = serde_json::to_vec(body).unwrap_or_default();
    Sha256::digest(&text)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn rewrite(s: &Setting, value: &mut Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "reference" {
                    if let Value::String(text) = v {
                        if let Some(local) = local_reference(s, text) {
                            refs.push(local.clone());
                            *text = local;
                        }
                        continue;
                    }
                }
                rewrite(s, v, refs);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite(s, v, refs)),
        _ => {}
    }
}

/// The local form of `reference` when it points at one of the source's resources.
fn local_reference(s: &Setting, reference: &str) -> Option<String> {
    let relative = match reference.strip_prefix(s.url.as_str()) {
        Some(rest) => rest.strip_prefix('/')?,
        None if reference.contains(':') || reference.starts_with('#') => return None,
        None => reference,
    };
    if relative.contains('?') {
        return None;
    }
    let mut parts = relative.split('/');
    let (rtype, id) = (parts.next()?, parts.next()?);
    match (parts.next(), parts.next(), parts.next()) {
        (None, ..) | (Some("_history"), Some(_), None) => {}
        _ => return None,
    }
    if !fhir::is_resource_type(rtype) || !fhir::id::is_valid_id(id) {
        return None;
    }
    Some(format!("{rtype}/{}", local_id(&s.name, id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harvest::setting::{build, Body};
    use serde_json::json;

    fn setting(tag: Option<&str>) -> Setting {
        let body: Body = serde_json::from_value(json!({
            "url": "https://payer.example/fhir", "kind": "harvest", "network_tag": tag,
        }))
        .unwrap();
        build("acme", body, 0).unwrap()
    }

    #[test]
    fn ids_are_prefixed_and_long_ones_hashed_within_64_characters() {
        assert_eq!(local_id("acme", "p1"), "acme-p1");
        let long = "x".repeat(64);
        let a = local_id("acme", &long);
        assert!(a.len() == 64 && a.starts_with("acme-h"), "{a}");
        assert_ne!(a, local_id("acme", &"y".repeat(64)));
        assert_ne!(a, local_id("other", &long));
    }

    #[test]
    fn references_to_the_source_are_rewritten_and_others_kept() {
        let s = setting(Some("acme-net"));
        let r = json!({
            "resourceType": "PractitionerRole", "id": "r1",
            "meta": {"versionId": "7", "lastUpdated": "2020-01-01T00:00:00Z", "profile": ["p"]},
            "practitioner": {"reference": "Practitioner/p1"},
            "organization": {"reference": "https://payer.example/fhir/Organization/o1/_history/3"},
            "location": [{"reference": "#loc"}, {"reference": "https://other.example/Location/l"}],
            "network": [{"reference": "Organization?identifier=x"}, {"reference": "Practitioner/p1"}],
        });
        let l = localise(&s, "PractitionerRole", r.as_object().unwrap().clone());
        let b = Value::Object(l.body);
        assert_eq!(l.id, "acme-r1");
        assert_eq!(b["id"], "acme-r1");
        assert_eq!(b["practitioner"]["reference"], "Practitioner/acme-p1");
        assert_eq!(b["organization"]["reference"], "Organization/acme-o1");
        assert_eq!(b["location"][0]["reference"], "#loc");
        assert_eq!(
            b["location"][1]["reference"],
            "https://other.example/Location/l"
        );
        assert_eq!(b["network"][0]["reference"], "Organization?identifier=x");
        assert_eq!(
            b["meta"]["source"],
            "https://payer.example/fhir/PractitionerRole/r1"
        );
        assert!(b["meta"].get("versionId").is_none() && b["meta"].get("lastUpdated").is_none());
        assert_eq!(b["meta"]["profile"], json!(["p"]));
        assert_eq!(
            b["meta"]["tag"],
            json!([{"system": TAG_SYSTEM, "code": "acme-net"}])
        );
        assert_eq!(l.refs, vec!["Organization/acme-o1", "Practitioner/acme-p1"]);
    }

    #[test]
    fn the_hash_follows_the_content() {
        let s = setting(None);
        let a = json!({"resourceType": "Location", "id": "1", "name": "A"});
        let b = json!({"resourceType": "Location", "id": "1", "name": "B",
                        "meta": {"versionId": "2"}});
        let la = localise(&s, "Location", a.as_object().unwrap().clone());
        let la2 = localise(&s, "Location", a.as_object().unwrap().clone());
        let lb = localise(&s, "Location", b.as_object().unwrap().clone());
        assert_eq!(la.hash, la2.hash);
        assert_ne!(la.hash, lb.hash);
    }
}
