//! Redaction: a resource without the elements a viewer may not see, marked as such.
//!
//! The mark is the `meta.security` label `REDACTED` of v3 ObservationValue
//! (<http://hl7.org/fhir/R4/security-labels.html>: "this information has been redacted"). It is
//! added whenever paths are given, whether or not the resource has content at them, so the label
//! does not tell a viewer that a hidden home address exists. The narrative (`text`) goes too: it
//! may repeat the hidden elements in prose and cannot be redacted element by element.
//!
//! What stays whatever the paths say: `resourceType`, `id`, `meta` (its `versionId` keeps the
//! resource's ETag), and contained Restrictions (the policy is not secret; a reader needs it to
//! know why content is missing).

use serde_json::{json, Map, Value};

use crate::path::{ElementPath, Step};
use crate::OBSERVATION_VALUE_SYSTEM;

/// Removes the hidden elements in place, keeps contained Restrictions, and adds the
/// `meta.security` label REDACTED (system v3-ObservationValue) once; leaves `meta.versionId`
/// alone. Does nothing when `paths` is empty.
pub fn redact(resource: &mut Value, paths: &[ElementPath]) {
    if paths.is_empty() || !resource.is_object() {
        return;
    }
    let mut targets: Vec<Vec<Seg>> = paths.iter().flat_map(|p| locate(resource, p)).collect();
    targets.sort();
    targets.dedup();
    // An element inside another going is gone with it; removing it first could empty (and so
    // prune) its container and shift the entry the other path names.
    let inner: Vec<bool> = targets
        .iter()
        .map(|t| {
            targets
                .iter()
                .any(|o| o.len() < t.len() && t.starts_with(o))
        })
        .collect();
    let mut inner = inner.into_iter();
    targets.retain(|_| !inner.next().unwrap_or(false));
    // Last first: removing an array entry leaves the positions of the earlier ones (and of
    // shorter paths before it) unchanged.
    for target in targets.iter().rev() {
        remove(resource, target);
        prune(resource, target);
    }
    if let Some(object) = resource.as_object_mut() {
        object.remove("text");
    }
    add_redacted_label(resource);
}

/// One step into JSON: an object member or an array entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Seg {
    Key(String),
    Index(usize),
}

/// Never removed, whatever a path says.
const KEPT: &[&str] = &["resourceType", "id", "meta"];

/// The JSON locations of the elements `path` names in `root`.
fn locate(root: &Value, path: &ElementPath) -> Vec<Vec<Seg>> {
    if KEPT.contains(&path.root_element()) {
        return Vec::new();
    }
    let mut current: Vec<(Vec<Seg>, &Value)> = vec![(Vec::new(), root)];
    for step in path.steps() {
        let mut next = Vec::new();
        for (segs, node) in current {
            let Some(object) = node.as_object() else {
                continue;
            };
            for (seg, value) in entries(object, step) {
                let in_contained = segs.is_empty() && step.name() == "contained";
                let is_restriction = value.get("resourceType").is_some_and(|t| t == "Consent");
                if in_contained && is_restriction {
                    continue;
                }
                let mut at = segs.clone();
                at.push(Seg::Key(step.name().to_owned()));
                at.extend(seg);
                next.push((at, value));
            }
        }
        current = next;
    }
    current.into_iter().map(|(segs, _)| segs).collect()
}

/// The values of `object`'s element `step` that the step admits, each with its array index
/// (None for a single value). A primitive present only as `_name` (extensions, no value) counts.
fn entries<'v>(object: &'v Map<String, Value>, step: &Step) -> Vec<(Option<Seg>, &'v Value)> {
    let name = step.name();
    let Some(value) = object.get(name).or_else(|| object.get(&format!("_{name}"))) else {
        return Vec::new();
    };
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .filter(|&(i, item)| step.index().is_none_or(|want| want == i) && step.admits(item))
            .map(|(i, item)| (Some(Seg::Index(i)), item))
            .collect(),
        single if step.index().is_none() && step.admits(single) => vec![(None, single)],
        _ => Vec::new(),
    }
}

/// Removes the element at `segs` and its primitive shadow (`_name`, or the same entry of it).
fn remove(root: &mut Value, segs: &[Seg]) {
    match segs {
        [parent @ .., Seg::Key(name)] => {
            if let Some(object) = at_mut(root, parent).and_then(Value::as_object_mut) {
                object.remove(name);
                object.remove(&format!("_{name}"));
            }
        }
        [parent @ .., Seg::Key(name), Seg::Index(i)] => {
            let Some(object) = at_mut(root, parent).and_then(Value::as_object_mut) else {
                return;
            };
            for key in [name.clone(), format!("_{name}")] {
                let Some(Value::Array(items)) = object.get_mut(&key) else {
                    continue;
                };
                if *i < items.len() {
                    items.remove(*i);
                }
                // FHIR JSON has no empty arrays, and a shadow of nulls says nothing.
                if items.iter().all(Value::is_null) {
                    object.remove(&key);
                }
            }
        }
        _ => {}
    }
}

/// Removes the containers along `segs` that removing its end left empty (FHIR JSON has no empty
/// objects or arrays), up to but not including the root.
fn prune(root: &mut Value, segs: &[Seg]) {
    for end in (1..segs.len()).rev() {
        let prefix = &segs[..end];
        let empty = match at_mut(root, prefix) {
            // Already gone: `remove` takes an array it emptied with its key.
            None => continue,
            Some(Value::Object(o)) => o.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            Some(_) => false,
        };
        if !empty {
            return;
        }
        // `remove` takes an entry with its key before it; a bare key it takes alone.
        remove(root, prefix);
    }
}

fn at_mut<'v>(root: &'v mut Value, segs: &[Seg]) -> Option<&'v mut Value> {
    segs.iter().try_fold(root, |node, seg| match seg {
        Seg::Key(k) => node.get_mut(k.as_str()),
        Seg::Index(i) => node.get_mut(*i),
    })
}

/// Adds `meta.security` REDACTED unless it is there already.
fn add_redacted_label(resource: &mut Value) {
    let Some(object) = resource.as_object_mut() else {
        return;
    };
    let meta = object.entry("meta").or_insert_with(|| json!({}));
    let Some(meta) = meta.as_object_mut() else {
        return;
    };
    let security = meta.entry("security").or_insert_with(|| json!([]));
    let Some(labels) = security.as_array_mut() else {
        return;
    };
    let present = labels.iter().any(|l| {
        l.get("system").and_then(Value::as_str) == Some(OBSERVATION_VALUE_SYSTEM)
            && l.get("code").and_then(Value::as_str) == Some("REDACTED")
    });
    if !present {
        labels.push(json!({
            "system": OBSERVATION_VALUE_SYSTEM,
            "code": "REDACTED",
            "display": "redacted",
        }));
    }
}
