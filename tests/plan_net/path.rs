//! A deliberately small FHIRPath subset, written for this suite so that expectations never
//! come from fhirdir's own `fhirpath`/`search` crates: `|` unions of dotted paths whose first
//! step may be the resource type, with `where(url='…')`, `extension('…')`, `ofType(T)`,
//! `as(T)` and the polymorphic `value` (`value[x]`). Arrays flatten at every step, as in
//! FHIRPath. Anything else panics, so a new IG expression cannot be evaluated silently wrong.

use serde_json::Value;

/// The nodes `expression` selects in `resource`.
pub fn eval<'a>(resource: &'a Value, expression: &str) -> Vec<&'a Value> {
    let rtype = resource["resourceType"].as_str().unwrap_or_default();
    let mut out = Vec::new();
    for branch in expression.split('|') {
        let steps = split_steps(branch.trim());
        let mut nodes = vec![resource];
        let mut rest = steps.as_slice();
        if let Some(first) = steps.first() {
            if first.starts_with(|c: char| c.is_ascii_uppercase()) {
                if first != rtype && first != "Resource" && first != "DomainResource" {
                    continue;
                }
                rest = &steps[1..];
            }
        }
        for step in rest {
            nodes = apply(nodes, step, expression);
        }
        out.extend(nodes);
    }
    out
}

/// Splits `a.b.where(url='x.y').c` on the dots outside parentheses and quotes.
fn split_steps(path: &str) -> Vec<String> {
    let (mut steps, mut cur, mut depth, mut quoted) = (Vec::new(), String::new(), 0, false);
    for c in path.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            '.' if !quoted && depth == 0 => {
                steps.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    steps.push(cur);
    steps
}

/// The argument of `fn(arg)`, unquoted.
fn arg<'s>(step: &'s str, func: &str) -> Option<&'s str> {
    let inner = step
        .strip_prefix(func)?
        .strip_prefix('(')?
        .strip_suffix(')')?;
    Some(inner.trim().trim_matches('\''))
}

fn flatten(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn apply<'a>(nodes: Vec<&'a Value>, step: &str, expression: &str) -> Vec<&'a Value> {
    if let Some(cond) = arg(step, "where") {
        let url = cond
            .strip_prefix("url")
            .map(str::trim_start)
            .and_then(|c| c.strip_prefix('='))
            .map(|u| u.trim().trim_matches('\''))
            .unwrap_or_else(|| panic!("unsupported where() in {expression:?}"));
        return nodes.into_iter().filter(|n| n["url"] == url).collect();
    }
    if let Some(url) = arg(step, "extension") {
        return nodes
            .into_iter()
            .flat_map(|n| flatten(&n["extension"]))
            .filter(|e| e["url"] == url)
            .collect();
    }
    if arg(step, "ofType").or_else(|| arg(step, "as")).is_some() {
        // Not used by the Plan-Net expressions on polymorphic data; a type filter is a no-op
        // on the already-typed JSON nodes the suite sees.
        return nodes;
    }
    assert!(
        step.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "unsupported FHIRPath step {step:?} in {expression:?}"
    );
    let mut out = Vec::new();
    for n in nodes {
        let Some(obj) = n.as_object() else { continue };
        if let Some(v) = obj.get(step) {
            out.extend(flatten(v));
        } else if step == "value" {
            // value[x]: the one `valueSomething` key.
            for (k, v) in obj {
                if k.len() > 5 && k.starts_with("value") && k[5..].starts_with(char::is_uppercase) {
                    out.extend(flatten(v));
                }
            }
        }
    }
    out
}

/// An Extension selected by an expression stands for its value (how search parameters over
/// extensions are meant, e.g. `PractitionerRole.extension.where(url='…network-reference')`).
pub fn unwrap_extension(node: &Value) -> &Value {
    if let Some(obj) = node.as_object() {
        if obj.contains_key("url") {
            if let Some((_, v)) = obj.iter().find(|(k, _)| {
                k.len() > 5 && k.starts_with("value") && k[5..].starts_with(char::is_uppercase)
            }) {
                return v;
            }
        }
    }
    node
}
