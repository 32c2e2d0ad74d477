//! [`Node`]: one item of a FHIRPath collection, and navigation over FHIR JSON
//! (http://hl7.org/fhir/R4/json.html): arrays flatten into collections, choice elements
//! (`value[x]`) are found from their base name, and primitive extensions (`_birthDate`)
//! travel with their primitive so `birthDate.extension` works.

use crate::types::{self, choice_suffix_type};
use serde_json::Value;
use std::borrow::Cow;

/// Which type system a known type name belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypeNs {
    Fhir,
    System,
}

/// One item of a result collection. Borrows from the evaluated resource when it can;
/// values computed by the expression (literals, arithmetic, strings) are owned.
#[derive(Debug, Clone, PartialEq)]
pub struct Node<'a> {
    pub(crate) value: Cow<'a, Value>,
    pub(crate) ty: Option<(TypeNs, Cow<'a, str>)>,
    /// The `_name` companion object of a FHIR primitive (its `id` and `extension`).
    pub(crate) ext: Option<Cow<'a, Value>>,
}

impl<'a> Node<'a> {
    /// The JSON of this item. For a FHIR primitive that only has extensions (`_name`
    /// without `name`) this is `null`.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// FHIR type name when known: from `resourceType`, a choice suffix (`valueQuantity` ->
    /// `Quantity`), `ofType()`/`as`, or `resolve()`. Values computed by the expression carry
    /// FHIRPath System type names (`String`, `Integer`, `Date`, …).
    pub fn type_name(&self) -> Option<&str> {
        self.ty.as_ref().map(|(_, n)| n.as_ref())
    }

    /// Whether [`Node::type_name`] is a FHIRPath System type rather than a FHIR type.
    pub fn is_system_type(&self) -> bool {
        matches!(self.ty, Some((TypeNs::System, _)))
    }

    /// The `_name` companion of a primitive (holding `id`/`extension`), if any.
    pub fn primitive_extension(&self) -> Option<&Value> {
        self.ext.as_deref()
    }

    /// Detaches the node from the resource it was evaluated on.
    pub fn into_owned(self) -> Node<'static> {
        Node {
            value: Cow::Owned(self.value.into_owned()),
            ty: self.ty.map(|(ns, n)| (ns, Cow::Owned(n.into_owned()))),
            ext: self.ext.map(|e| Cow::Owned(e.into_owned())),
        }
    }

    /// A node for a resource (or any JSON) borrowed from the caller; typed by `resourceType`.
    pub fn from_json(value: &'a Value) -> Node<'a> {
        Node {
            value: Cow::Borrowed(value),
            ty: resource_type(value).map(|t| (TypeNs::Fhir, Cow::Borrowed(t))),
            ext: None,
        }
    }

    pub(crate) fn system(value: Value, ty: &'static str) -> Node<'a> {
        Node {
            value: Cow::Owned(value),
            ty: Some((TypeNs::System, Cow::Borrowed(ty))),
            ext: None,
        }
    }

    pub(crate) fn string(s: impl Into<String>) -> Node<'a> {
        Self::system(Value::String(s.into()), "String")
    }

    pub(crate) fn boolean(b: bool) -> Node<'a> {
        Self::system(Value::Bool(b), "Boolean")
    }

    pub(crate) fn integer(i: i64) -> Node<'a> {
        Self::system(Value::from(i), "Integer")
    }

    /// A decimal; `None` for NaN/infinite results (which FHIRPath has no value for).
    pub(crate) fn decimal(f: f64) -> Option<Node<'a>> {
        serde_json::Number::from_f64(f).map(|n| Self::system(Value::Number(n), "Decimal"))
    }

    pub(crate) fn fhir_typed(value: Cow<'a, Value>, ty: Cow<'a, str>) -> Node<'a> {
        Node {
            value,
            ty: Some((TypeNs::Fhir, ty)),
            ext: None,
        }
    }

    /// The FHIR type, if this node has one (explicit or, for resources, `resourceType`).
    pub(crate) fn fhir_type(&self) -> Option<&str> {
        match &self.ty {
            Some((TypeNs::Fhir, n)) => Some(n),
            _ => None,
        }
    }

    /// The effective System type of a primitive value (`String`, `Integer`, `Date`, …).
    pub(crate) fn system_type(&self) -> Option<&str> {
        match &self.ty {
            Some((TypeNs::System, n)) => Some(n),
            Some((TypeNs::Fhir, n)) => types::system_type_of(n),
            None => match self.value.as_ref() {
                Value::Bool(_) => Some("Boolean"),
                Value::String(_) => Some("String"),
                Value::Number(n) if n.is_i64() || n.is_u64() => Some("Integer"),
                Value::Number(_) => Some("Decimal"),
                _ => None,
            },
        }
    }

    /// Children named `name`, in document order (FHIRPath member navigation).
    pub(crate) fn children(&self, name: &str, out: &mut Vec<Node<'a>>) {
        let Node { value, ext, .. } = self;
        // Navigating into a primitive reaches its `_name` companion (`id`, `extension`).
        if !value.is_object() {
            if let Some(ext) = ext {
                match ext {
                    Cow::Borrowed(e) => push_member(e, name, out),
                    Cow::Owned(e) => push_member_owned(e, name, out),
                }
            }
            return;
        }
        match value {
            Cow::Borrowed(v) => push_member(v, name, out),
            Cow::Owned(v) => push_member_owned(v, name, out),
        }
    }

    /// All direct children (FHIRPath `children()`), skipping `resourceType`.
    pub(crate) fn all_children(&self, out: &mut Vec<Node<'a>>) {
        let keys: Vec<String> = match self.value.as_ref() {
            Value::Object(m) => m
                .keys()
                .filter(|k| !k.starts_with('_') && k.as_str() != "resourceType")
                .cloned()
                .collect(),
            _ => match self.ext.as_deref() {
                Some(Value::Object(m)) => m.keys().cloned().collect(),
                _ => Vec::new(),
            },
        };
        let mut seen_underscore_only = Vec::new();
        if let Value::Object(m) = self.value.as_ref() {
            for k in m.keys() {
                if let Some(base) = k.strip_prefix('_') {
                    if !m.contains_key(base) {
                        seen_underscore_only.push(base.to_string());
                    }
                }
            }
        }
        for k in keys.iter().chain(seen_underscore_only.iter()) {
            let mut kids = Vec::new();
            self.children(k, &mut kids);
            // Choice lookups are for named access only; here keys are exact.
            out.extend(kids);
        }
    }
}

fn resource_type(v: &Value) -> Option<&str> {
    v.get("resourceType").and_then(Value::as_str)
}

/// Finds `name` in an object borrowed for `'a`, including choice and `_name` companions.
fn push_member<'a>(obj: &'a Value, name: &str, out: &mut Vec<Node<'a>>) {
    let Value::Object(map) = obj else { return };
    let ext_key = format!("_{name}");
    if map.contains_key(name) || map.contains_key(&ext_key) {
        push_values(map.get(name), map.get(&ext_key), None, out);
        return;
    }
    // Choice element: `value` finds `valueQuantity`, typed Quantity.
    for (k, v) in map {
        if let Some(suffix) = k.strip_prefix(name) {
            if let Some(ty) = choice_suffix_type(suffix) {
                push_values(Some(v), map.get(&format!("_{k}")), Some(ty), out);
                return;
            }
        }
    }
}

fn push_values<'a>(
    value: Option<&'a Value>,
    ext: Option<&'a Value>,
    ty: Option<String>,
    out: &mut Vec<Node<'a>>,
) {
    let make = |v: Option<&'a Value>, e: Option<&'a Value>| -> Option<Node<'a>> {
        let e = e.filter(|e| !e.is_null());
        let v = match v {
            Some(Value::Null) | None if e.is_none() => return None,
            Some(v) => v,
            None => &Value::Null,
        };
        let ty = match &ty {
            Some(t) => Some((TypeNs::Fhir, Cow::Owned(t.clone()))),
            None => resource_type(v).map(|t| (TypeNs::Fhir, Cow::Borrowed(t))),
        };
        Some(Node {
            value: Cow::Borrowed(v),
            ty,
            ext: e.map(Cow::Borrowed),
        })
    };
    match (value, ext) {
        (Some(Value::Array(items)), ext) => {
            let exts = ext.and_then(Value::as_array);
            for (i, item) in items.iter().enumerate() {
                out.extend(make(Some(item), exts.and_then(|e| e.get(i))));
            }
        }
        (None, Some(Value::Array(exts))) => {
            for e in exts {
                out.extend(make(None, Some(e)));
            }
        }
        (v, e) => out.extend(make(v, e)),
    }
}

/// Same as [`push_member`] for an owned (computed) object: children are cloned.
fn push_member_owned<'a>(obj: &Value, name: &str, out: &mut Vec<Node<'a>>) {
    let mut tmp: Vec<Node<'_>> = Vec::new();
    push_member(obj, name, &mut tmp);
    for n in tmp {
        let owned: Node<'static> = n.into_owned();
        out.push(owned);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(node: &Node<'_>, name: &str) -> Vec<(Value, Option<String>, bool)> {
        let mut out = Vec::new();
        node.children(name, &mut out);
        out.into_iter()
            .map(|n| {
                (
                    n.value().clone(),
                    n.type_name().map(str::to_string),
                    n.ext.is_some(),
                )
            })
            .collect()
    }

    #[test]
    fn navigates_arrays_choices_and_primitive_extensions() {
        let r = json!({
            "resourceType": "Observation",
            "valueQuantity": {"value": 1},
            "code": {"coding": [{"code": "a"}, {"code": "b"}]},
            "_status": {"extension": [{"url": "u"}]},
            "given": ["a", "b"],
            "_given": [null, {"id": "x"}],
            "contained": [{"resourceType": "Organization", "id": "o"}]
        });
        let root = Node::from_json(&r);
        assert_eq!(root.type_name(), Some("Observation"));
        assert_eq!(
            names(&root, "value"),
            vec![(json!({"value": 1}), Some("Quantity".into()), false)]
        );
        assert_eq!(
            names(&root, "status"),
            vec![(Value::Null, None, true)],
            "a primitive with only an extension still exists"
        );
        assert_eq!(
            names(&root, "given"),
            vec![(json!("a"), None, false), (json!("b"), None, true)]
        );
        assert_eq!(
            names(&root, "contained")[0].1.as_deref(),
            Some("Organization")
        );
        assert!(names(&root, "missing").is_empty());
        let mut status = Vec::new();
        root.children("status", &mut status);
        assert_eq!(names(&status[0], "extension").len(), 1);
    }
}
