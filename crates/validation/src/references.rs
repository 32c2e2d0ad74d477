//! Literal references (<https://hl7.org/fhir/R4/references.html#literal>): what type a
//! reference URL names, and which references of a resource point into the server's own
//! store, for referential integrity (the services check those against the store).

use conformance::ElementModel;
use serde_json::Value;

/// A reference to a resource of the same server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReference {
    /// Where it is (`PractitionerRole.practitioner`, `Practitioner.qualification[0].issuer`).
    pub expression: String,
    pub resource_type: String,
    pub id: String,
}

/// `[base/]Type/id[/_history/vid]` -> (`Type`, `id`, the base before it, if any); `None` for
/// a contained (`#id`) or `urn:` reference and anything else that does not end that way.
fn split(reference: &str) -> Option<(&str, &str, &str)> {
    if reference.starts_with('#') || reference.starts_with("urn:") {
        return None;
    }
    let path = reference.split(['?', '#']).next()?;
    let segments: Vec<&str> = path.split('/').collect();
    let n = segments.len();
    let at = if n >= 4 && segments[n - 2] == "_history" {
        n - 4
    } else {
        n.checked_sub(2)?
    };
    let (rtype, id) = (segments[at], segments[at + 1]);
    if !fhir::is_resource_type(rtype) || !fhir::is_valid_id(id) {
        return None;
    }
    let base_len = segments[..at].iter().map(|s| s.len() + 1).sum::<usize>();
    Some((rtype, id, &path[..base_len.saturating_sub(1)]))
}

/// The resource type a literal reference names (`Practitioner` for `Practitioner/1` or
/// `https://x/fhir/Practitioner/1/_history/2`).
pub fn literal_type(reference: &str) -> Option<&str> {
    split(reference).map(|(t, _, _)| t)
}

/// The references of `resource` to resources of the server whose FHIR base is `base`:
/// relative ones (`Type/id`) and absolute ones under `base`. Contained (`#id`), `urn:` and
/// other servers' references are not included; nor are those of contained resources'
/// own children resources (a Bundle's entries are resources of their own).
pub fn local_references(resource: &Value, base: &str) -> Vec<LocalReference> {
    let mut out = Vec::new();
    let (Some(rt), Some(obj)) = (
        resource.get("resourceType").and_then(Value::as_str),
        resource.as_object(),
    ) else {
        return out;
    };
    let model = ElementModel::r4();
    walk(model, obj, rt, rt, base.trim_end_matches('/'), &mut out, 0);
    out
}

fn walk(
    model: &ElementModel,
    obj: &serde_json::Map<String, Value>,
    ctx: &str,
    path: &str,
    base: &str,
    out: &mut Vec<LocalReference>,
    depth: usize,
) {
    if depth > 64 {
        return;
    }
    for (key, v) in obj {
        let Some(child) = model.child(ctx, key) else {
            continue;
        };
        if child.context == "Resource" && key != "contained" {
            continue;
        }
        let items: Vec<(String, &Value)> = match v {
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, item)| (format!("{path}.{key}[{i}]"), item))
                .collect(),
            single => vec![(format!("{path}.{key}"), single)],
        };
        for (item_path, item) in items {
            let Some(o) = item.as_object() else {
                continue;
            };
            if child.type_code == "Reference" {
                let Some(reference) = o.get("reference").and_then(Value::as_str) else {
                    continue;
                };
                match split(reference) {
                    Some((rtype, id, at)) if at.is_empty() || at == base => {
                        out.push(LocalReference {
                            expression: item_path,
                            resource_type: rtype.to_owned(),
                            id: id.to_owned(),
                        })
                    }
                    _ => {}
                }
                continue;
            }
            let next = if child.context == "Resource" {
                o.get("resourceType").and_then(Value::as_str).unwrap_or("")
            } else {
                child.context
            };
            walk(model, o, next, &item_path, base, out, depth + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn literal_types_and_local_references() {
        assert_eq!(literal_type("Practitioner/p1"), Some("Practitioner"));
        assert_eq!(
            literal_type("https://x.org/fhir/t/Organization/o1/_history/3"),
            Some("Organization")
        );
        assert_eq!(literal_type("#loc"), None);
        assert_eq!(literal_type("urn:uuid:1234"), None);
        assert_eq!(literal_type("Doctor/1"), None);
        let role = json!({"resourceType": "PractitionerRole",
            "practitioner": {"reference": "Practitioner/p1"},
            "organization": {"reference": "https://x.org/fhir/t/Organization/o1"},
            "location": [{"reference": "https://elsewhere.org/fhir/Location/l1"},
                         {"reference": "#c"}, {"reference": "Location/l2/_history/4"}],
            "identifier": [{"assigner": {"reference": "Organization/o2"}}],
            "contained": [{"resourceType": "Location", "id": "c",
                           "managingOrganization": {"reference": "Organization/o3"}}]});
        let got: Vec<(String, String)> = local_references(&role, "https://x.org/fhir/t/")
            .into_iter()
            .map(|r| (r.expression, format!("{}/{}", r.resource_type, r.id)))
            .collect();
        let want = [
            (
                "PractitionerRole.contained[0].managingOrganization",
                "Organization/o3",
            ),
            ("PractitionerRole.identifier[0].assigner", "Organization/o2"),
            ("PractitionerRole.location[2]", "Location/l2"),
            ("PractitionerRole.organization", "Organization/o1"),
            ("PractitionerRole.practitioner", "Practitioner/p1"),
        ];
        let mut got = got;
        got.sort();
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, want);
    }
}
