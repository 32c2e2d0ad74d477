//! Type functions (`is()`, `as()`, `ofType()`), date/time functions, and the FHIR-specific
//! additions of <http://hl7.org/fhir/R4/fhirpath.html#functions>: `extension()`,
//! `hasValue()`, `getValue()`, `resolve()`, `htmlChecks()`.
//!
//! `resolve()` has no store to read from: it answers the contained resource for `#id`,
//! the Bundle entry when evaluating a Bundle, and otherwise a stub
//! `{"resourceType": T, "id": id}` typed `T`, which is what `where(resolve() is T)` in
//! search expressions needs.

use super::{Call, Items, R};
use crate::eval::singleton;
use crate::node::{Loc, Node};
use crate::temporal::DateTime;
use crate::types::is_resource_type_name;
use crate::typing::{filter_type, is_type, type_info};
use crate::EvalError;
use serde_json::{json, Value};
use std::borrow::Cow;

pub(super) fn call<'a>(c: &Call<'_, 'a, '_>, input: &Items<'a>) -> Option<R<'a>> {
    Some(match c.name {
        "ofType" | "as" => c
            .arity(1, 1)
            .and_then(|_| filter_type(input.clone(), &c.type_arg(0)?)),
        "is" => c.arity(1, 1).and_then(|_| {
            let spec = c.type_arg(0)?;
            match singleton(input, "is")? {
                Some(n) => Ok(vec![Node::boolean(is_type(n, &spec)?)]),
                None => Ok(Vec::new()),
            }
        }),
        "type" => c
            .arity(0, 0)
            .map(|_| input.iter().filter_map(type_info).collect()),
        "extension" | "hasExtension" => c.arity(1, 1).and_then(|_| {
            let Some(url) = c.arg_string(0)? else {
                return Ok(Vec::new());
            };
            let mut exts = Vec::new();
            for item in input {
                item.children("extension", &mut exts);
            }
            exts.retain(|e| e.value.get("url").and_then(Value::as_str) == Some(url.as_str()));
            Ok(if c.name == "extension" {
                exts
            } else {
                vec![Node::boolean(!exts.is_empty())]
            })
        }),
        "hasValue" => c.arity(0, 0).map(|_| {
            let has = matches!(input.as_slice(), [one] if is_primitive(&one.value));
            vec![Node::boolean(has)]
        }),
        "getValue" => c.arity(0, 0).map(|_| match input.as_slice() {
            [one] if is_primitive(&one.value) => vec![Node {
                value: one.value.clone(),
                ty: one
                    .system_type()
                    .map(|t| (crate::node::TypeNs::System, Cow::Owned(t.to_string()))),
                ext: None,
                loc: one.loc.clone(),
            }],
            _ => Vec::new(),
        }),
        "resolve" => c.arity(0, 0).map(|_| {
            input
                .iter()
                .filter_map(|n| resolve(&c.ctx.root, n))
                .collect()
        }),
        // Narrative checks need an XHTML parser; accept, as most servers do.
        "htmlChecks" => c.arity(0, 0).map(|_| vec![Node::boolean(true)]),
        "today" => c.arity(0, 0).map(|_| {
            vec![Node::system(
                Value::String(DateTime::today().format()),
                "Date",
            )]
        }),
        "now" => c.arity(0, 0).map(|_| {
            vec![Node::system(
                Value::String(DateTime::now().format()),
                "DateTime",
            )]
        }),
        "timeOfDay" => c.arity(0, 0).map(|_| {
            vec![Node::system(
                Value::String(DateTime::time_of_day().format()),
                "Time",
            )]
        }),
        "memberOf" | "subsumes" | "subsumedBy" | "conformsTo" | "elementDefinition" | "slice"
        | "checkModifiers" => Err(EvalError::Unsupported(format!(
            "{}() needs terminology or profile services",
            c.name
        ))),
        _ => return None,
    })
}

fn is_primitive(v: &Value) -> bool {
    matches!(v, Value::Bool(_) | Value::Number(_) | Value::String(_))
}

/// Resolves one Reference (or a reference string) without a store.
fn resolve<'a>(root: &Node<'a>, n: &Node<'a>) -> Option<Node<'a>> {
    let reference = match n.value.as_ref() {
        Value::String(s) => Some(s.as_str()),
        Value::Object(o) => o.get("reference").and_then(Value::as_str),
        _ => None,
    };
    let declared_type = n.value.get("type").and_then(Value::as_str);
    let Some(reference) = reference else {
        // A logical reference (identifier only) still tells its type.
        return declared_type
            .filter(|t| is_resource_type_name(t))
            .map(|t| stub(t, None));
    };
    if let Some(local) = reference.strip_prefix('#') {
        if local.is_empty() {
            return Some(root.clone());
        }
        let index = root
            .value
            .get("contained")
            .and_then(Value::as_array)?
            .iter()
            .position(|x| x.get("id").and_then(Value::as_str) == Some(local))?;
        let mut found = find_borrowed(root, |r| r.get("contained")?.get(index))?;
        found.loc = root.loc.as_ref().map(|l| Loc::contained(l, index));
        return Some(found);
    }
    if let Some(found) = find_borrowed(root, |r| bundle_entry(r, reference)) {
        return Some(found);
    }
    let path = reference.split("/_history/").next().unwrap_or(reference);
    let mut parts = path.rsplit('/');
    let id = parts.next()?;
    match parts.next() {
        Some(t) if is_resource_type_name(t) && !id.is_empty() => Some(stub(t, Some(id))),
        _ => declared_type
            .filter(|t| is_resource_type_name(t))
            .map(|t| stub(t, None)),
    }
}

/// Runs `find` on the root resource, keeping the borrow when the root is borrowed.
fn find_borrowed<'a>(
    root: &Node<'a>,
    find: impl for<'v> Fn(&'v Value) -> Option<&'v Value>,
) -> Option<Node<'a>> {
    match &root.value {
        Cow::Borrowed(r) => find(r).map(Node::from_json),
        Cow::Owned(r) => find(r).map(|v| Node::from_json(v).into_owned()),
    }
}

/// The resource of the Bundle entry whose fullUrl (or `Type/id`) is `reference`.
fn bundle_entry<'v>(root: &'v Value, reference: &str) -> Option<&'v Value> {
    if root.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return None;
    }
    root.get("entry")?.as_array()?.iter().find_map(|e| {
        let res = e.get("resource")?;
        let full = e.get("fullUrl").and_then(Value::as_str);
        let relative = format!(
            "{}/{}",
            res.get("resourceType").and_then(Value::as_str)?,
            res.get("id").and_then(Value::as_str).unwrap_or_default()
        );
        (full == Some(reference)
            || relative == reference
            || full.is_some_and(|f| f.ends_with(&format!("/{reference}"))))
        .then_some(res)
    })
}

fn stub<'a>(ty: &str, id: Option<&str>) -> Node<'a> {
    let v = match id {
        Some(id) => json!({"resourceType": ty, "id": id}),
        None => json!({"resourceType": ty}),
    };
    Node::fhir_typed(Cow::Owned(v), Cow::Owned(ty.to_string()))
}
