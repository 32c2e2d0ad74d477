//! The element-model side of FHIRPath Patch: what element sits at a JSON Pointer, turning a
//! `value` part (a typed `value[x]`, a `resource`, or nested `part`s) into the JSON to store,
//! and whether a value's type fits an element
//! (<https://hl7.org/fhir/R4/fhirpatch.html>: "the type of the value must be correct").

use conformance::elements::{Child, TypeKind};
use conformance::ElementModel;
use serde_json::{Map, Value};

use crate::error::OpFailure;

/// Nested `part` lists deeper than this are refused (the Parameters check already bounds
/// nesting; this keeps the builder safe on its own).
const MAX_PART_DEPTH: usize = 64;

/// What the model knows about the value at a pointer.
pub(super) struct Site {
    /// Context for looking up the value's children (see `conformance::elements`).
    pub(super) ctx: Option<String>,
    /// The element the value (or, for an array item, the array) belongs to.
    pub(super) element: Option<Child<'static>>,
}

/// Walks `tokens` from the resource root through the model. Contained and nested
/// resources switch context by their own `resourceType`.
pub(super) fn site(model: &'static ElementModel, doc: &Value, tokens: &[String]) -> Site {
    let mut ctx = doc
        .get("resourceType")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut element = None;
    let mut cur = doc;
    for token in tokens {
        match cur {
            Value::Array(items) => {
                // Items share their array's element and context.
                let Some(item) = token.parse::<usize>().ok().and_then(|i| items.get(i)) else {
                    return Site { ctx: None, element };
                };
                cur = item;
            }
            Value::Object(map) => {
                let Some(next) = map.get(token) else {
                    return Site { ctx: None, element };
                };
                cur = next;
                let child = match token.strip_prefix('_') {
                    Some(name) => ctx.as_deref().and_then(|c| model.child(c, name)),
                    None => ctx.as_deref().and_then(|c| lookup(model, c, token)),
                };
                element = child;
                ctx = match (token.starts_with('_'), child) {
                    // A primitive's `_name` companion is an Element (id, extension).
                    (true, Some(_)) => Some("Element".to_string()),
                    (false, Some(c)) => Some(c.context.to_string()),
                    (_, None) => None,
                };
            }
            _ => return Site { ctx: None, element },
        }
        if ctx.as_deref() == Some("Resource") {
            if let Some(rt) = cur.get("resourceType").and_then(Value::as_str) {
                ctx = Some(rt.to_string());
            }
        }
    }
    Site { ctx, element }
}

/// The child `name` of `ctx`, also by a choice element's base name (`value` for
/// `value[x]`), as patch `name` parts and nested parts may use it.
pub(super) fn lookup(
    model: &'static ElementModel,
    ctx: &str,
    name: &str,
) -> Option<Child<'static>> {
    model
        .child(ctx, name)
        .or_else(|| model.child(ctx, &format!("{name}[x]")))
}

/// The JSON property name for a value of type `ty` in element `child` named `name`:
/// `valueString` for a choice, `name` otherwise.
pub(super) fn property_name(
    name: &str,
    child: &Child<'_>,
    ty: Option<&str>,
) -> Result<String, OpFailure> {
    if !child.def.is_choice() {
        return Ok(name.to_string());
    }
    let Some(ty) = ty else {
        return Err(OpFailure::Malformed(format!(
            "{} is a choice element: give its value as a typed value[x]",
            child.def.path
        )));
    };
    let stem = child.def.name().trim_end_matches("[x]");
    Ok(format!("{stem}{}", upper_first(ty)))
}

/// A `value` part's content and its FHIR type when typed: `valueX` (X's type), `resource`
/// (its `resourceType`) or nested `part`s (a complex value built for the element; untyped).
/// When the target element is known, the value's type is checked against it first (so
/// that parts aimed at a primitive fail as a type mismatch, not as unknown children).
pub(super) fn part_value(
    model: &'static ElementModel,
    part: &Map<String, Value>,
    child: Option<&Child<'static>>,
    depth: usize,
) -> Result<(Value, Option<String>), OpFailure> {
    let typed: Vec<(&String, &Value)> = part.iter().filter(|(k, _)| is_value_key(k)).collect();
    let forms = typed.len()
        + usize::from(part.contains_key("resource"))
        + usize::from(part.contains_key("part"));
    let name = part.get("name").and_then(Value::as_str).unwrap_or("value");
    if forms != 1 {
        return Err(OpFailure::Malformed(format!(
            "part {name:?} needs exactly one of value[x], resource or part"
        )));
    }
    let resource = part.get("resource");
    let ty = match (typed.first(), resource) {
        (Some((key, _)), _) => Some(value_type(model, &key[5..])),
        (None, Some(r)) => Some(
            r.get("resourceType")
                .and_then(Value::as_str)
                .unwrap_or("(no resourceType)")
                .to_string(),
        ),
        (None, None) => None,
    };
    if let Some(child) = child {
        check_type(model, child, ty.as_deref())?;
    }
    if let Some((_, value)) = typed.first() {
        return Ok(((*value).clone(), ty));
    }
    if let Some(resource) = resource {
        return Ok((resource.clone(), ty));
    }
    let parts = part.get("part").unwrap_or(&Value::Null);
    let ctx = child.map(|c| c.context);
    Ok((build_complex(model, parts, ctx, depth + 1)?, None))
}

/// A complex value from nested parts: each part names a child element and gives its value;
/// repeated names, and names of repeating elements, become arrays.
fn build_complex(
    model: &'static ElementModel,
    parts: &Value,
    ctx: Option<&str>,
    depth: usize,
) -> Result<Value, OpFailure> {
    if depth > MAX_PART_DEPTH {
        return Err(OpFailure::Malformed(
            "parts are nested too deeply".to_string(),
        ));
    }
    let Some(parts) = parts.as_array() else {
        return Err(OpFailure::Malformed(
            "\"part\" must be an array".to_string(),
        ));
    };
    let mut obj = Map::new();
    for part in parts {
        let Some(part) = part.as_object() else {
            return Err(OpFailure::Malformed(
                "each part must be an object".to_string(),
            ));
        };
        let Some(name) = part.get("name").and_then(Value::as_str) else {
            return Err(OpFailure::Malformed(
                "each part needs a \"name\"".to_string(),
            ));
        };
        let child = match ctx {
            Some(c) => Some(
                lookup(model, c, name).ok_or_else(|| OpFailure::UnknownElement {
                    context: c.to_string(),
                    name: name.to_string(),
                })?,
            ),
            None => None,
        };
        let (value, ty) = part_value(model, part, child.as_ref(), depth)?;
        let key = match &child {
            Some(c) => property_name(name, c, ty.as_deref())?,
            None => name.to_string(),
        };
        let many = child.map(|c| c.def.max_many);
        match obj.get_mut(&key) {
            Some(_) if many == Some(false) => {
                return Err(OpFailure::Malformed(format!(
                    "part {name:?} given twice, but the element takes one value"
                )))
            }
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None if many == Some(true) => {
                obj.insert(key, Value::Array(vec![value]));
            }
            None => {
                obj.insert(key, value);
            }
        }
    }
    Ok(Value::Object(obj))
}

/// Whether a value of type `ty` (`None`: built from parts) may be stored in `child`.
/// Primitives are accepted by JSON kind (a `valueString` may fill a `code` or `date`;
/// their formats are not checked here), complex values by type or specialization (`Age`
/// fills a `Quantity`), resources wherever `Resource` is allowed; a choice element takes
/// exactly its listed types.
pub(super) fn check_type(
    model: &ElementModel,
    child: &Child<'_>,
    ty: Option<&str>,
) -> Result<(), OpFailure> {
    let def = child.def;
    let expected: Vec<String> = if def.types.is_empty() {
        vec![child.type_code.to_string()]
    } else {
        def.types.clone()
    };
    let ok = match ty {
        None => !expected
            .iter()
            .all(|t| model.is_primitive(t) || t == "Resource"),
        Some(ty) if def.is_choice() => expected.iter().any(|e| e == ty),
        Some(ty) => expected.iter().any(|e| compatible(model, ty, e)),
    };
    if ok {
        Ok(())
    } else {
        Err(OpFailure::TypeMismatch {
            element: def.path.clone(),
            expected,
            found: ty.unwrap_or("complex value (parts)").to_string(),
        })
    }
}

fn compatible(model: &ElementModel, ty: &str, expected: &str) -> bool {
    if ty == expected || (expected == "Resource" && model.is_resource_type(ty)) {
        return true;
    }
    if model.is_primitive(ty) && model.is_primitive(expected) {
        return json_class(ty) == json_class(expected);
    }
    // A specialization fits its base (Age, Duration, … are Quantities).
    let mut cur = model.type_def(ty);
    for _ in 0..8 {
        match cur.and_then(|t| t.base.as_deref()) {
            Some(base) if base == expected => return true,
            Some(base) => cur = model.type_def(base),
            None => return false,
        }
    }
    false
}

/// The JSON kind a FHIR primitive takes (<https://hl7.org/fhir/R4/json.html#primitive>).
fn json_class(primitive: &str) -> u8 {
    match primitive {
        "boolean" => 0,
        "integer" | "positiveInt" | "unsignedInt" | "decimal" => 1,
        _ => 2,
    }
}

/// `valueString` and friends: `value` followed by a type name.
fn is_value_key(key: &str) -> bool {
    key.strip_prefix("value")
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()))
}

/// The FHIR type of a `value[x]` suffix: `String` -> `string`, `HumanName` -> `HumanName`.
fn value_type(model: &ElementModel, suffix: &str) -> String {
    let lower = lower_first(suffix);
    match model.type_def(&lower) {
        Some(t) if t.kind == TypeKind::Primitive => lower,
        _ => suffix.to_string(),
    }
}

fn upper_first(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_lowercase().chain(chars).collect())
        .unwrap_or_default()
}
