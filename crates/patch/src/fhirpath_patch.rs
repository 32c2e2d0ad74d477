//! FHIRPath Patch (<https://hl7.org/fhir/R4/fhirpatch.html>): a `Parameters` resource whose
//! `operation` parameters each carry parts `type` (add | insert | delete | replace | move),
//! `path` (FHIRPath), and as the type requires `name`, `value`, `index`, `source`,
//! `destination`.
//!
//! Targets are found with [`fhirpath::Expression::evaluate_located`], which gives each
//! selected element's JSON Pointer; the R4 element model ([`conformance::ElementModel`])
//! says whether a child repeats, which JSON name a choice value takes (`valueString`) and
//! whether a value's type fits. Rules from the spec, and where fhirdir had to choose:
//! - add, replace: the path must select exactly one element (none or several is an error);
//!   delete: none is a no-op, several is an error ("only a single element can be deleted").
//! - insert, move: the path names a list (`Patient.identifier`, or just `identifier`);
//!   everything before its last segment must select exactly one element. Insert may
//!   create the list (index 0).
//! - add on a repeating element appends; on a single one it fails when a value is already
//!   there ("add can be used for non-repeating elements as long as they do not already
//!   exist").
//! - add of `extension` (or `id`) to a primitive (`Patient.birthDate`) goes to its `_name`
//!   companion (<https://hl7.org/fhir/R4/json.html#primitive>), created as needed.
//! - delete also removes the element's `_name` companion (its extensions), and then any
//!   array or object the deletion left empty, since FHIR JSON forbids empty ones; deleting
//!   a primitive's extensions keeps the primitive.
//! - replace of a choice element may change its type (`valueQuantity` -> `valueString`).
//! - paths selecting computed values (`'a'`, `1 + 1`) are refused.
//!
//! All operations apply to a copy that replaces the resource only when every one succeeds.

mod values;

use conformance::{validate_structure, ElementModel};
use fhirpath::{Env, Expression};
use serde_json::{Map, Value};

use crate::error::{op_error, OpFailure, PatchError};
use crate::pointer;
use values::{lookup, part_value, property_name, site};

/// Applies a FHIRPath Patch `Parameters` resource to `resource`. Atomic: on error
/// `resource` is unchanged, and the error names the failing operation (0-based index of its
/// `parameter`) and why it failed.
///
/// The result is not checked as a whole here; call [`crate::check_patched`] for that.
pub fn apply_fhirpath_patch(resource: &mut Value, parameters: &Value) -> Result<(), PatchError> {
    let model = ElementModel::r4();
    if parameters.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Err(PatchError::InvalidDocument(
            "a FHIRPath Patch must be a Parameters resource".to_string(),
        ));
    }
    let issues = validate_structure(parameters, model);
    if !issues.is_empty() {
        let text: Vec<String> = issues.iter().map(ToString::to_string).collect();
        return Err(PatchError::InvalidDocument(format!(
            "the Parameters resource is malformed: {}",
            text.join("; ")
        )));
    }
    let empty = Vec::new();
    let params = parameters
        .get("parameter")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let mut doc = resource.clone();
    for (index, param) in params.iter().enumerate() {
        let kind = part_string(param, "type").unwrap_or("?").to_string();
        let op = Operation::parse(param).map_err(|f| op_error(index, &kind, f))?;
        op.apply(model, &mut doc)
            .map_err(|f| op_error(index, &kind, f))?;
    }
    *resource = doc;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Add,
    Insert,
    Delete,
    Replace,
    Move,
}

/// One `operation` parameter, parsed.
struct Operation<'p> {
    kind: Kind,
    path: &'p str,
    name: Option<&'p str>,
    value: Option<&'p Map<String, Value>>,
    index: Option<usize>,
    source: Option<usize>,
    destination: Option<usize>,
}

/// The string value (`valueString`, `valueCode`, …) of the part named `name`.
fn part_string<'p>(param: &'p Value, name: &str) -> Option<&'p str> {
    param.get("part")?.as_array()?.iter().find_map(|p| {
        (p.get("name")?.as_str()? == name)
            .then(|| {
                p.as_object()?
                    .iter()
                    .find(|(k, _)| k.starts_with("value"))?
                    .1
                    .as_str()
            })
            .flatten()
    })
}

impl<'p> Operation<'p> {
    fn parse(param: &'p Value) -> Result<Operation<'p>, OpFailure> {
        let malformed = |m: String| OpFailure::Malformed(m);
        if param.get("name").and_then(Value::as_str) != Some("operation") {
            return Err(malformed(
                "each parameter must be named \"operation\"".to_string(),
            ));
        }
        let Some(parts) = param.get("part").and_then(Value::as_array) else {
            return Err(malformed("an operation needs parts".to_string()));
        };
        let mut kind = None;
        let (mut path, mut name, mut value) = (None, None, None);
        let (mut index, mut source, mut destination) = (None, None, None);
        for part in parts {
            let part = part
                .as_object()
                .ok_or_else(|| malformed("a part must be an object".into()))?;
            let part_name = part.get("name").and_then(Value::as_str).unwrap_or("");
            let string = || -> Result<&'p str, OpFailure> {
                part.iter()
                    .find(|(k, _)| k.starts_with("value"))
                    .and_then(|(_, v)| v.as_str())
                    .ok_or_else(|| {
                        OpFailure::Malformed(format!("part {part_name:?} needs a string value"))
                    })
            };
            let integer = || -> Result<usize, OpFailure> {
                part.iter()
                    .find(|(k, _)| k.starts_with("value"))
                    .and_then(|(_, v)| v.as_u64())
                    .and_then(|i| usize::try_from(i).ok())
                    .ok_or_else(|| {
                        OpFailure::Malformed(format!(
                            "part {part_name:?} needs a non-negative valueInteger"
                        ))
                    })
            };
            let slot_taken = match part_name {
                "type" => set(&mut kind, parse_kind(string()?)?),
                "path" => set(&mut path, string()?),
                "name" => set(&mut name, string()?),
                "value" => set(&mut value, part),
                "index" => set(&mut index, integer()?),
                "source" => set(&mut source, integer()?),
                "destination" => set(&mut destination, integer()?),
                other => return Err(malformed(format!("unknown part {other:?}"))),
            };
            if slot_taken {
                return Err(malformed(format!("part {part_name:?} is given twice")));
            }
        }
        let kind = kind.ok_or_else(|| malformed("missing part \"type\"".to_string()))?;
        let path = path.ok_or_else(|| malformed("missing part \"path\"".to_string()))?;
        let needs = |present: bool, what: &str| {
            if present {
                Ok(())
            } else {
                Err(OpFailure::Malformed(format!("missing part {what:?}")))
            }
        };
        match kind {
            Kind::Add => {
                needs(name.is_some(), "name")?;
                needs(value.is_some(), "value")?;
            }
            Kind::Insert => {
                needs(index.is_some(), "index")?;
                needs(value.is_some(), "value")?;
            }
            Kind::Replace => needs(value.is_some(), "value")?,
            Kind::Move => {
                needs(source.is_some(), "source")?;
                needs(destination.is_some(), "destination")?;
            }
            Kind::Delete => {}
        }
        Ok(Operation {
            kind,
            path,
            name,
            value,
            index,
            source,
            destination,
        })
    }

    fn apply(&self, model: &'static ElementModel, doc: &mut Value) -> Result<(), OpFailure> {
        match self.kind {
            Kind::Add => self.add(model, doc),
            Kind::Insert => self.insert(model, doc),
            Kind::Delete => self.delete(doc),
            Kind::Replace => self.replace(model, doc),
            Kind::Move => self.move_item(doc),
        }
    }

    fn add(&self, model: &'static ElementModel, doc: &mut Value) -> Result<(), OpFailure> {
        let name = self.name.unwrap_or_default();
        let mut parent = select_one(doc, self.path)?;
        let ctx = site(model, doc, &parent).ctx;
        let (child, ctx) = child_of(model, ctx.as_deref(), self.path, name)?;
        let (value, ty) = part_value(model, self.value_part()?, Some(&child), 0)?;
        let key = property_name(name, &child, ty.as_deref())?;
        if !matches!(pointer::get(doc, &parent), Ok(Value::Object(_))) {
            // A primitive's `id` and `extension` live in its `_name` companion.
            parent = companion_of(doc, &parent).ok_or_else(|| {
                OpFailure::Malformed(format!(
                    "{:?} selects a value that cannot have children",
                    self.path
                ))
            })?;
        }
        let obj = object_at(doc, &parent, self.path)?;
        if child.def.max_many {
            match obj.get_mut(&key) {
                Some(Value::Array(items)) => items.push(value),
                Some(_) => return Err(OpFailure::NotAList { element: key }),
                None => {
                    obj.insert(key, Value::Array(vec![value]));
                }
            }
            return Ok(());
        }
        // A choice element is "already there" under any of its concrete names.
        let taken = obj.keys().any(|k| {
            !k.starts_with('_')
                && model
                    .child(&ctx, k)
                    .is_some_and(|c| std::ptr::eq(c.def, child.def))
        });
        if taken {
            return Err(OpFailure::AlreadyExists {
                element: child.def.path.clone(),
            });
        }
        obj.insert(key, value);
        Ok(())
    }

    fn insert(&self, model: &'static ElementModel, doc: &mut Value) -> Result<(), OpFailure> {
        let (parent_path, name) = split_path(self.path)?;
        let parent = select_list_owner(doc, parent_path)?;
        let ctx = site(model, doc, &parent).ctx;
        let (child, _) = child_of(model, ctx.as_deref(), parent_path, name)?;
        if !child.def.max_many || child.def.is_choice() {
            return Err(OpFailure::NotAList {
                element: child.def.path.clone(),
            });
        }
        let (value, _) = part_value(model, self.value_part()?, Some(&child), 0)?;
        let index = self.index.unwrap_or_default();
        let obj = object_at(doc, &parent, parent_path)?;
        let len = match obj.get(name) {
            None => 0,
            Some(Value::Array(items)) => items.len(),
            Some(_) => {
                return Err(OpFailure::NotAList {
                    element: name.to_string(),
                })
            }
        };
        if index > len {
            return Err(OpFailure::IndexOutOfRange { index, len });
        }
        let list = obj
            .entry(name.to_string())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = list {
            items.insert(index, value);
        }
        // Keep a `_name` companion aligned with its primitive list.
        if let Some(Value::Array(companion)) = obj.get_mut(&format!("_{name}")) {
            if index <= companion.len() {
                companion.insert(index, Value::Null);
            }
        }
        Ok(())
    }

    fn delete(&self, doc: &mut Value) -> Result<(), OpFailure> {
        let targets = select(doc, self.path)?;
        match targets.len() {
            0 => Ok(()),
            1 => remove_element(doc, &targets[0]),
            count => Err(OpFailure::MultipleMatches {
                path: self.path.to_string(),
                count,
            }),
        }
    }

    fn replace(&self, model: &'static ElementModel, doc: &mut Value) -> Result<(), OpFailure> {
        let mut target = select_one(doc, self.path)?;
        if target.is_empty() {
            return Err(OpFailure::WholeResource("replaced"));
        }
        // A primitive that only has extensions is located at its `_name` companion; the
        // replacement value belongs to the primitive itself.
        let key_at = target.len()
            - if is_index(&target[target.len() - 1]) {
                2
            } else {
                1
            };
        if let Some(name) = target.get(key_at).and_then(|k| k.strip_prefix('_')) {
            target[key_at] = name.to_string();
        }
        let element = site(model, doc, &target[..=key_at]).element;
        let (value, ty) = part_value(model, self.value_part()?, element.as_ref(), 0)?;
        let Some(child) = element else {
            // Not in the model (the resource itself is off-model there): replace as asked
            // and leave the verdict to the structure check of the result.
            return set_at(doc, &target, value);
        };
        let new_key = property_name(&target[key_at], &child, ty.as_deref())?;
        if child.def.is_choice() && new_key != target[key_at] {
            // The choice changes type: `valueQuantity` becomes `valueString`.
            let obj = object_at(doc, &target[..key_at], self.path)?;
            obj.shift_remove(&target[key_at]);
            obj.shift_remove(&format!("_{}", target[key_at]));
            obj.insert(new_key, value);
            return Ok(());
        }
        set_at(doc, &target, value)
    }

    fn move_item(&self, doc: &mut Value) -> Result<(), OpFailure> {
        let (parent_path, name) = split_path(self.path)?;
        let parent = select_list_owner(doc, parent_path)?;
        let obj = object_at(doc, &parent, parent_path)?;
        let (source, destination) = (
            self.source.unwrap_or_default(),
            self.destination.unwrap_or_default(),
        );
        let Some(Value::Array(items)) = obj.get_mut(name) else {
            return Err(OpFailure::NotAList {
                element: self.path.to_string(),
            });
        };
        let len = items.len();
        for index in [source, destination] {
            if index >= len {
                return Err(OpFailure::IndexOutOfRange { index, len });
            }
        }
        let item = items.remove(source);
        items.insert(destination, item);
        if let Some(Value::Array(companion)) = obj.get_mut(&format!("_{name}")) {
            if companion.len() == len {
                let item = companion.remove(source);
                companion.insert(destination, item);
            }
        }
        Ok(())
    }

    /// The `value` part (`parse` made sure the operations needing one have it).
    fn value_part(&self) -> Result<&'p Map<String, Value>, OpFailure> {
        self.value
            .ok_or_else(|| OpFailure::Malformed("missing part \"value\"".to_string()))
    }
}

fn parse_kind(s: &str) -> Result<Kind, OpFailure> {
    Ok(match s {
        "add" => Kind::Add,
        "insert" => Kind::Insert,
        "delete" => Kind::Delete,
        "replace" => Kind::Replace,
        "move" => Kind::Move,
        other => return Err(OpFailure::UnknownOp(other.to_string())),
    })
}

/// Fills an empty slot; returns whether it was already taken.
fn set<T>(slot: &mut Option<T>, value: T) -> bool {
    let taken = slot.is_some();
    *slot = Some(value);
    taken
}

fn is_index(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit())
}

/// The element `name` of the value whose context is `ctx`, with that context.
fn child_of(
    model: &'static ElementModel,
    ctx: Option<&str>,
    path: &str,
    name: &str,
) -> Result<(conformance::elements::Child<'static>, String), OpFailure> {
    let ctx = ctx.ok_or_else(|| OpFailure::UnknownElement {
        context: path.to_string(),
        name: name.to_string(),
    })?;
    let child = lookup(model, ctx, name).ok_or_else(|| OpFailure::UnknownElement {
        context: ctx.to_string(),
        name: name.to_string(),
    })?;
    Ok((child, ctx.to_string()))
}

/// JSON Pointers (as tokens) of the elements `path` selects in `doc`.
fn select(doc: &Value, path: &str) -> Result<Vec<Vec<String>>, OpFailure> {
    let bad = |reason: String| OpFailure::BadPath {
        path: path.to_string(),
        reason,
    };
    let expr = Expression::parse(path).map_err(|e| bad(e.to_string()))?;
    let nodes = expr
        .evaluate_located(doc, &Env::default())
        .map_err(|e| bad(e.to_string()))?;
    nodes
        .iter()
        .map(|node| {
            let ptr = node.json_pointer().ok_or_else(|| OpFailure::NotAnElement {
                path: path.to_string(),
            })?;
            pointer::parse(&ptr)
        })
        .collect()
}

/// The one element `path` selects.
fn select_one(doc: &Value, path: &str) -> Result<Vec<String>, OpFailure> {
    let mut found = select(doc, path)?;
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(OpFailure::NoMatch {
            path: path.to_string(),
        }),
        count => Err(OpFailure::MultipleMatches {
            path: path.to_string(),
            count,
        }),
    }
}

/// The element owning the list of an insert or move: what `parent_path` selects, or the
/// resource itself when the path had no owner part.
fn select_list_owner(doc: &Value, parent_path: &str) -> Result<Vec<String>, OpFailure> {
    if parent_path.is_empty() {
        Ok(Vec::new())
    } else {
        select_one(doc, parent_path)
    }
}

/// Splits `Patient.contact.telecom` into `("Patient.contact", "telecom")`: the list's owner
/// and the list's element name (for insert and move). The last segment must be a plain
/// (or backtick-quoted) name.
fn split_path(path: &str) -> Result<(&str, &str), OpFailure> {
    let bad = || OpFailure::BadPath {
        path: path.to_string(),
        reason: "must end with the name of a list element (e.g. Patient.identifier)".to_string(),
    };
    let (mut depth, mut quote, mut last_dot) = (0i32, None, None);
    for (i, c) in path.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') => depth -= 1,
            (None, '.') if depth == 0 => last_dot = Some(i),
            _ => {}
        }
    }
    // Without a dot the list is a child of the resource itself (`identifier`).
    let (parent, name) = match last_dot {
        Some(0) => return Err(bad()),
        Some(dot) => (path[..dot].trim(), path[dot + 1..].trim()),
        None => ("", path.trim()),
    };
    let name = name
        .strip_prefix('`')
        .and_then(|n| n.strip_suffix('`'))
        .unwrap_or(name);
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if (parent.is_empty() && last_dot.is_some()) || !plain {
        return Err(bad());
    }
    Ok((parent, name))
}

/// Makes sure the primitive at `tokens` has a `_name` companion object (created empty, in a
/// list padded with `null`s to the primitive list's length) and returns its tokens.
fn companion_of(doc: &mut Value, tokens: &[String]) -> Option<Vec<String>> {
    let (last, before) = tokens.split_last()?;
    if is_index(last) {
        let (key, owner_tokens) = before.split_last()?;
        let i: usize = last.parse().ok()?;
        let owner = pointer::get_mut(doc, owner_tokens).ok()?.as_object_mut()?;
        let len = owner.get(key)?.as_array()?.len();
        let companion = owner
            .entry(format!("_{key}"))
            .or_insert_with(|| Value::Array(Vec::new()))
            .as_array_mut()?;
        if companion.len() < len {
            companion.resize(len, Value::Null);
        }
        let slot = companion.get_mut(i)?;
        if slot.is_null() {
            *slot = Value::Object(Map::new());
        }
        slot.is_object()
            .then(|| [owner_tokens, &[format!("_{key}"), last.clone()]].concat())
    } else {
        let owner = pointer::get_mut(doc, before).ok()?.as_object_mut()?;
        let companion = owner
            .entry(format!("_{last}"))
            .or_insert_with(|| Value::Object(Map::new()));
        companion
            .is_object()
            .then(|| [before, &[format!("_{last}")]].concat())
    }
}

/// The object at `tokens` (the element to add to / the list's owner).
fn object_at<'d>(
    doc: &'d mut Value,
    tokens: &[String],
    path: &str,
) -> Result<&'d mut Map<String, Value>, OpFailure> {
    match pointer::get_mut(doc, tokens) {
        Ok(Value::Object(obj)) => Ok(obj),
        _ => Err(OpFailure::Malformed(format!(
            "{path:?} must select an element with children, not a primitive value"
        ))),
    }
}

fn set_at(doc: &mut Value, tokens: &[String], value: Value) -> Result<(), OpFailure> {
    let Some((last, parent)) = tokens.split_last() else {
        return Err(OpFailure::WholeResource("replaced"));
    };
    match pointer::get_mut(doc, parent) {
        Ok(Value::Object(obj)) => {
            obj.insert(last.clone(), value);
            Ok(())
        }
        Ok(Value::Array(items)) => {
            let slot = last.parse::<usize>().ok().and_then(|i| items.get_mut(i));
            match slot {
                Some(slot) => {
                    *slot = value;
                    Ok(())
                }
                None => Err(OpFailure::NotFound {
                    pointer: pointer::format(tokens),
                    reason: "no such item".to_string(),
                }),
            }
        }
        _ => Err(OpFailure::NotFound {
            pointer: pointer::format(tokens),
            reason: "its parent is not an object or array".to_string(),
        }),
    }
}

/// Deletes the element at `tokens` with its `_name` companion, then prunes the arrays and
/// objects left empty (FHIR JSON has none), up to but excluding the resource itself.
/// Deleting a companion (`_name`, or an item of a `_name` list) keeps the primitive value.
fn remove_element(doc: &mut Value, tokens: &[String]) -> Result<(), OpFailure> {
    let Some((last, parent_tokens)) = tokens.split_last() else {
        return Err(OpFailure::WholeResource("deleted"));
    };
    let not_found = |reason: String| OpFailure::NotFound {
        pointer: pointer::format(tokens),
        reason,
    };
    match pointer::get_mut(doc, parent_tokens).map_err(not_found)? {
        Value::Object(obj) => match last.strip_prefix('_') {
            Some(primitive) => {
                obj.shift_remove(last);
                if obj.get(primitive).is_some_and(Value::is_null) {
                    obj.shift_remove(primitive);
                }
            }
            None => {
                obj.shift_remove(last);
                obj.shift_remove(&format!("_{last}"));
            }
        },
        Value::Array(items) => {
            let i: usize = last
                .parse()
                .map_err(|_| not_found("not an index".to_string()))?;
            if i >= items.len() {
                return Err(not_found("no such item".to_string()));
            }
            remove_list_item(doc, parent_tokens, i);
        }
        _ => {
            return Err(not_found(
                "its parent is not an object or array".to_string(),
            ))
        }
    }
    let emptied = match pointer::get(doc, parent_tokens) {
        Ok(Value::Object(o)) => o.is_empty(),
        Ok(Value::Array(a)) => a.is_empty(),
        _ => false,
    };
    if emptied && !parent_tokens.is_empty() {
        return remove_element(doc, parent_tokens);
    }
    Ok(())
}

/// Removes item `i` of the list at `list_tokens` and keeps the list and its companion
/// (`given` / `_given`) aligned: removing a primitive removes its companion item; removing a
/// companion item leaves a `null` unless the primitive item is `null` too. A companion list
/// left with only `null`s is dropped.
fn remove_list_item(doc: &mut Value, list_tokens: &[String], i: usize) {
    let Some((key, owner_tokens)) = list_tokens.split_last() else {
        return;
    };
    let Ok(Value::Object(owner)) = pointer::get_mut(doc, owner_tokens) else {
        return;
    };
    let (primitive_key, companion_key) = match key.strip_prefix('_') {
        Some(p) => (p.to_string(), key.clone()),
        None => (key.clone(), format!("_{key}")),
    };
    let primitive_is_null = owner
        .get(&primitive_key)
        .and_then(|v| v.get(i))
        .is_none_or(Value::is_null);
    let remove_both = !key.starts_with('_') || primitive_is_null;
    for list_key in [&primitive_key, &companion_key] {
        if let Some(Value::Array(list)) = owner.get_mut(list_key.as_str()) {
            if i < list.len() {
                if remove_both {
                    list.remove(i);
                } else {
                    list[i] = Value::Null;
                }
            }
        }
    }
    if let Some(Value::Array(companion)) = owner.get(&companion_key) {
        if companion.iter().all(Value::is_null) {
            owner.shift_remove(&companion_key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_paths_split_at_the_last_top_level_dot() {
        assert_eq!(
            split_path("Patient.identifier").unwrap(),
            ("Patient", "identifier")
        );
        assert_eq!(
            split_path("Patient.name.where(use = 'a.b').given").unwrap(),
            ("Patient.name.where(use = 'a.b')", "given")
        );
        assert_eq!(split_path("Patient.`name`").unwrap(), ("Patient", "name"));
        assert_eq!(split_path("identifier").unwrap(), ("", "identifier"));
        for bad in [
            "Patient.name[0]",
            ".name",
            "Patient.name.first()",
            "Patient.na-me",
        ] {
            assert!(split_path(bad).is_err(), "{bad}");
        }
    }
}
