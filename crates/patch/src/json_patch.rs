//! JSON Patch (RFC 6902, <https://www.rfc-editor.org/rfc/rfc6902>), the
//! `application/json-patch+json` form of FHIR's patch interaction
//! (<https://hl7.org/fhir/R4/http.html#patch>).
//!
//! Operations apply in order to a copy of the resource, which replaces the original only when
//! all of them succeed (RFC 6902 section 5: the whole patch fails if one operation fails).
//! Unknown members of an operation object are ignored, as the RFC requires.

use serde_json::{Map, Value};

use crate::error::{op_error, OpFailure, PatchError};
use crate::pointer;

/// Applies a JSON Patch document (an array of operation objects: `add`, `remove`, `replace`,
/// `move`, `copy`, `test`) to `resource`. Atomic: on error `resource` is unchanged and the
/// error names the failing operation's index and the reason.
///
/// The result is not checked as FHIR here; call [`crate::check_patched`] for that.
pub fn apply_json_patch(resource: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let Some(ops) = patch.as_array() else {
        return Err(PatchError::InvalidDocument(
            "a JSON Patch document must be a JSON array of operations".to_string(),
        ));
    };
    let mut doc = resource.clone();
    for (index, op) in ops.iter().enumerate() {
        let name = op
            .get("op")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        apply_one(&mut doc, op).map_err(|failure| op_error(index, &name, failure))?;
    }
    *resource = doc;
    Ok(())
}

fn apply_one(doc: &mut Value, op: &Value) -> Result<(), OpFailure> {
    let Some(op) = op.as_object() else {
        return Err(OpFailure::Malformed(
            "an operation must be a JSON object".to_string(),
        ));
    };
    let kind = string_member(op, "op")?;
    let path = string_member(op, "path")?;
    let tokens = pointer::parse(path)?;
    match kind {
        "add" => add(doc, path, &tokens, value_member(op)?.clone()),
        "remove" => remove(doc, path, &tokens).map(drop),
        "replace" => {
            let value = value_member(op)?.clone();
            let target =
                pointer::get_mut(doc, &tokens).map_err(|reason| not_found(path, reason))?;
            *target = value;
            Ok(())
        }
        "move" => {
            let from = string_member(op, "from")?;
            let from_tokens = pointer::parse(from)?;
            if from_tokens == tokens {
                // Moving a value onto itself changes nothing, but it must exist.
                pointer::get(doc, &from_tokens).map_err(|reason| not_found(from, reason))?;
                return Ok(());
            }
            if tokens.starts_with(&from_tokens) {
                return Err(OpFailure::MoveIntoChild {
                    from: from.to_string(),
                    path: path.to_string(),
                });
            }
            let value = remove(doc, from, &from_tokens)?;
            add(doc, path, &tokens, value)
        }
        "copy" => {
            let from = string_member(op, "from")?;
            let from_tokens = pointer::parse(from)?;
            let value = pointer::get(doc, &from_tokens)
                .map_err(|reason| not_found(from, reason))?
                .clone();
            add(doc, path, &tokens, value)
        }
        "test" => {
            let expected = value_member(op)?;
            let actual = pointer::get(doc, &tokens).map_err(|reason| not_found(path, reason))?;
            if json_equal(actual, expected) {
                Ok(())
            } else {
                Err(OpFailure::TestFailed {
                    pointer: path.to_string(),
                    expected: Box::new(expected.clone()),
                    actual: Box::new(actual.clone()),
                })
            }
        }
        other => Err(OpFailure::UnknownOp(other.to_string())),
    }
}

fn string_member<'a>(op: &'a Map<String, Value>, name: &str) -> Result<&'a str, OpFailure> {
    match op.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(OpFailure::Malformed(format!("{name:?} must be a string"))),
        None => Err(OpFailure::Malformed(format!("missing {name:?}"))),
    }
}

fn value_member(op: &Map<String, Value>) -> Result<&Value, OpFailure> {
    op.get("value")
        .ok_or_else(|| OpFailure::Malformed("missing \"value\"".to_string()))
}

fn not_found(pointer: &str, reason: String) -> OpFailure {
    OpFailure::NotFound {
        pointer: pointer.to_string(),
        reason,
    }
}

/// RFC 6902 section 4.1 `add`: into an object member (replacing it), or into an array at an
/// index (shifting later items) or at `-` (appending); the empty pointer replaces the whole
/// document.
fn add(doc: &mut Value, path: &str, tokens: &[String], value: Value) -> Result<(), OpFailure> {
    let Some((last, parent_tokens)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    let parent = pointer::get_mut(doc, parent_tokens).map_err(|reason| not_found(path, reason))?;
    match parent {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(items) => {
            let len = items.len();
            let i =
                pointer::array_index(last, len, true).map_err(|reason| OpFailure::BadPointer {
                    pointer: path.to_string(),
                    reason,
                })?;
            if i > len {
                return Err(OpFailure::IndexOutOfRange { index: i, len });
            }
            items.insert(i, value);
            Ok(())
        }
        _ => Err(not_found(
            path,
            format!(
                "{} is not an object or array",
                pointer::format(parent_tokens)
            ),
        )),
    }
}

/// RFC 6902 section 4.2 `remove`; returns the removed value (for `move`).
fn remove(doc: &mut Value, path: &str, tokens: &[String]) -> Result<Value, OpFailure> {
    let Some((last, parent_tokens)) = tokens.split_last() else {
        return Err(OpFailure::WholeResource("removed"));
    };
    let parent = pointer::get_mut(doc, parent_tokens).map_err(|reason| not_found(path, reason))?;
    match parent {
        Value::Object(map) => map
            .shift_remove(last)
            .ok_or_else(|| not_found(path, format!("no member {last:?}"))),
        Value::Array(items) => {
            let len = items.len();
            let i =
                pointer::array_index(last, len, false).map_err(|reason| not_found(path, reason))?;
            if i >= len {
                return Err(OpFailure::IndexOutOfRange { index: i, len });
            }
            Ok(items.remove(i))
        }
        _ => Err(not_found(
            path,
            format!(
                "{} is not an object or array",
                pointer::format(parent_tokens)
            ),
        )),
    }
}

/// JSON equality as RFC 6902 section 4.6 defines it for `test`: numbers compare by value
/// (`1` equals `1.0`), objects regardless of member order.
pub(crate) fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(i), Some(j)) => i == j,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}
