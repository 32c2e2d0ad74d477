//! Every extension of a resource against its definition, whichever profile (if any) asks
//! for it (<https://hl7.org/fhir/R4/extensibility.html>): the definition must be known, the
//! extension must be used where its `context` allows, and its value and nested extensions
//! must be what the definition says (checked as a profile on `Extension`).

use conformance::ElementModel;
use serde_json::Value;

use super::check::Checker;
use crate::{IssueSeverity as Severity, IssueType};

/// Deepest base chain followed for a context.
const MAX_LINEAGE: usize = 16;

/// Checks the extensions anywhere in `resource` (of type `rt`).
pub(crate) fn check(c: &mut Checker<'_>, resource: &Value, rt: &str) {
    walk(c, resource, rt, rt, rt, None);
}

/// Where an object is: its type or inline context (`ctx`), the path of the element that
/// holds it (`def_path`, as defined: `Organization.address`), its location, and the URL of
/// the extension it is part of.
fn walk(
    c: &mut Checker<'_>,
    value: &Value,
    ctx: &str,
    def_path: &str,
    loc: &str,
    ext_url: Option<&str>,
) {
    let Some(obj) = value.as_object() else {
        return;
    };
    let model = ElementModel::r4();
    for (key, v) in obj {
        if key == "resourceType" {
            continue;
        }
        let items: Vec<(Option<usize>, &Value)> = match v {
            Value::Array(a) => a.iter().enumerate().map(|(i, x)| (Some(i), x)).collect(),
            one => vec![(None, one)],
        };
        let at = |i: Option<usize>| match i {
            Some(i) => format!("{loc}.{key}[{i}]"),
            None => format!("{loc}.{key}"),
        };
        if key == "extension" || key == "modifierExtension" {
            for (i, item) in items {
                let item_loc = at(i);
                let url = item.get("url").and_then(Value::as_str);
                if let Some(url) = url.filter(|u| u.contains(':')) {
                    extension(c, item, url, ctx, def_path, ext_url, &item_loc);
                }
                walk(c, item, "Extension", "Extension", &item_loc, url);
            }
            continue;
        }
        if let Some(name) = key.strip_prefix('_') {
            // A primitive's id and extensions: its context is the primitive element.
            let path = model.child(ctx, name).map(|ch| ch.def.path.clone());
            let path = path.unwrap_or_else(|| format!("{def_path}.{name}"));
            for (i, item) in items {
                walk(c, item, "Element", &path, &at(i), None);
            }
            continue;
        }
        let Some(child) = model.child(ctx, key) else {
            continue;
        };
        for (i, item) in items {
            if !item.is_object() {
                continue;
            }
            if child.context == "Resource" {
                if let Some(rt) = item.get("resourceType").and_then(Value::as_str) {
                    walk(c, item, rt, rt, &at(i), None);
                }
            } else {
                walk(c, item, child.context, &child.def.path, &at(i), None);
            }
        }
    }
}

fn extension(
    c: &mut Checker<'_>,
    item: &Value,
    url: &str,
    ctx: &str,
    def_path: &str,
    ext_url: Option<&str>,
    loc: &str,
) {
    let Some(sd) = c.set.structure(url) else {
        c.issue(
            Severity::Warning,
            IssueType::NotFound,
            loc,
            format!("extension {url} is not defined by any loaded package, so it was not checked"),
        );
        return;
    };
    if sd.get("type").and_then(Value::as_str) != Some("Extension") {
        c.issue(
            Severity::Error,
            IssueType::Structure,
            loc,
            format!("{url} is not an extension definition"),
        );
        return;
    }
    let profile = c.set.profile(url);
    if !profile.contexts.is_empty() && !allowed(&profile.contexts, ctx, def_path, ext_url) {
        let shown: Vec<&str> = profile.contexts.iter().map(|(_, e)| e.as_str()).collect();
        c.issue(
            Severity::Error,
            IssueType::Structure,
            loc,
            format!(
                "extension {url} is not allowed on {def_path}: its contexts are {}",
                shown.join(", ")
            ),
        );
    }
    c.conforms(&profile, item, loc);
}

/// Whether an extension with these contexts may sit on an element at `def_path` (of type
/// or context `ctx`), inside the extension `ext_url`.
fn allowed(
    contexts: &[(String, String)],
    ctx: &str,
    def_path: &str,
    ext_url: Option<&str>,
) -> bool {
    let model = ElementModel::r4();
    contexts.iter().any(|(kind, expr)| match kind.as_str() {
        "element" => {
            expr == def_path
                || expr == "Element"
                || std::iter::successors(Some(ctx), |t| model.base_of(t))
                    .take(MAX_LINEAGE)
                    .any(|t| t == expr)
        }
        "extension" => ext_url == Some(expr.as_str()),
        // A FHIRPath context cannot be decided from the path alone: allowed.
        _ => true,
    })
}
