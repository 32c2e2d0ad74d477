//! [`Node`]: one item of a FHIRPath collection, and navigation over FHIR JSON
//! (<http://hl7.org/fhir/R4/json.html>): arrays flatten into collections, choice elements
//! (`value[x]`) are found from their base name, and primitive extensions (`_birthDate`)
//! travel with their primitive so `birthDate.extension` works.

use crate::types::{self, choice_suffix_type};
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;

/// Where a node sits in the evaluated resource, as a parent chain (shared, so a child
/// costs one small allocation). Only tracked when evaluation starts from a located root.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Loc {
    parent: Option<Arc<Loc>>,
    seg: Seg,
}

#[derive(Debug, PartialEq, Eq)]
enum Seg {
    Root,
    Key(String),
    Index(usize),
}

impl Loc {
    pub(crate) fn root() -> Arc<Loc> {
        Arc::new(Loc {
            parent: None,
            seg: Seg::Root,
        })
    }

    fn key(parent: &Arc<Loc>, key: &str) -> Arc<Loc> {
        Arc::new(Loc {
            parent: Some(Arc::clone(parent)),
            seg: Seg::Key(key.to_string()),
        })
    }

    fn index(parent: &Arc<Loc>, i: usize) -> Arc<Loc> {
        Arc::new(Loc {
            parent: Some(Arc::clone(parent)),
            seg: Seg::Index(i),
        })
    }

    /// Location of `contained[index]` under a resource.
    pub(crate) fn contained(resource: &Arc<Loc>, index: usize) -> Arc<Loc> {
        Loc::index(&Loc::key(resource, "contained"), index)
    }

    /// Location of the `_name` companion of the primitive at `self`.
    fn companion(self: &Arc<Loc>) -> Option<Arc<Loc>> {
        match &self.seg {
            Seg::Key(k) => Some(Loc::key(self.parent.as_ref()?, &format!("_{k}"))),
            Seg::Index(i) => {
                let array = self.parent.as_ref()?;
                let Seg::Key(k) = &array.seg else { return None };
                let companion_array = Loc::key(array.parent.as_ref()?, &format!("_{k}"));
                Some(Loc::index(&companion_array, *i))
            }
            Seg::Root => None,
        }
    }

    /// RFC 6901 JSON Pointer (`/name/0/given/1`).
    fn pointer(&self) -> String {
        let mut segs = Vec::new();
        let mut cur = Some(self);
        while let Some(l) = cur {
            match &l.seg {
                Seg::Root => {}
                Seg::Key(k) => segs.push(k.replace('~', "~0").replace('/', "~1")),
                Seg::Index(i) => segs.push(i.to_string()),
            }
            cur = l.parent.as_deref();
        }
        segs.iter()
            .rev()
            .fold(String::new(), |acc, s| acc + "/" + s)
    }
}

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
    /// Position in the resource, when evaluation tracks locations.
    pub(crate) loc: Option<Arc<Loc>>,
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

    /// RFC 6901 JSON Pointer to this item inside the evaluated resource (`/name/0/given/1`;
    /// `""` for the resource itself), for items taken from the resource when evaluating
    /// with [`crate::Expression::evaluate_located`]. A primitive that only has extensions
    /// points at its `_name` companion. `None` for computed values.
    pub fn json_pointer(&self) -> Option<String> {
        let loc = self.loc.as_ref()?;
        if self.value.is_null() && self.ext.is_some() {
            return loc.companion().map(|c| c.pointer());
        }
        Some(loc.pointer())
    }

    /// Detaches the node from the resource it was evaluated on.
    pub fn into_owned(self) -> Node<'static> {
        Node {
            value: Cow::Owned(self.value.into_owned()),
            ty: self.ty.map(|(ns, n)| (ns, Cow::Owned(n.into_owned()))),
            ext: self.ext.map(|e| Cow::Owned(e.into_owned())),
            loc: self.loc,
        }
    }

    /// A node for a resource (or any JSON) borrowed from the caller; typed by `resourceType`.
    pub fn from_json(value: &'a Value) -> Node<'a> {
        Node {
            value: Cow::Borrowed(value),
            ty: resource_type(value).map(|t| (TypeNs::Fhir, Cow::Borrowed(t))),
            ext: None,
            loc: None,
        }
    }

    pub(crate) fn system(value: Value, ty: &'static str) -> Node<'a> {
        Node {
            value: Cow::Owned(value),
            ty: Some((TypeNs::System, Cow::Borrowed(ty))),
            ext: None,
            loc: None,
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
            loc: None,
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
        let Node {
            value, ext, loc, ..
        } = self;
        // Navigating into a primitive reaches its `_name` companion (`id`, `extension`).
        if !value.is_object() {
            if let Some(ext) = ext {
                let at = loc.as_ref().and_then(Loc::companion);
                match ext {
                    Cow::Borrowed(e) => push_member(e, name, at.as_ref(), out),
                    Cow::Owned(e) => push_member_owned(e, name, at.as_ref(), out),
                }
            }
            return;
        }
        match value {
            Cow::Borrowed(v) => push_member(v, name, loc.as_ref(), out),
            Cow::Owned(v) => push_member_owned(v, name, loc.as_ref(), out),
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
fn push_member<'a>(obj: &'a Value, name: &str, at: Option<&Arc<Loc>>, out: &mut Vec<Node<'a>>) {
    let Value::Object(map) = obj else { return };
    let ext_key = format!("_{name}");
    if map.contains_key(name) || map.contains_key(&ext_key) {
        let field = Field {
            value: map.get(name),
            ext: map.get(&ext_key),
            ty: None,
            key: name,
        };
        push_values(field, at, out);
        return;
    }
    // Choice element: `value` finds `valueQuantity`, typed Quantity.
    if crate::types::CHOICE_STEMS.binary_search(&name).is_err() {
        return;
    }
    for (k, v) in map {
        if let Some(suffix) = k.strip_prefix(name) {
            if let Some(ty) = choice_suffix_type(suffix) {
                let field = Field {
                    value: Some(v),
                    ext: map.get(&format!("_{k}")),
                    ty: Some(ty),
                    key: k,
                };
                push_values(field, at, out);
                return;
            }
        }
    }
}

/// One JSON property of an element, with its `_name` companion.
struct Field<'a, 'k> {
    value: Option<&'a Value>,
    ext: Option<&'a Value>,
    ty: Option<String>,
    /// The property name as written (`valueQuantity` for a choice).
    key: &'k str,
}

fn push_values<'a>(field: Field<'a, '_>, at: Option<&Arc<Loc>>, out: &mut Vec<Node<'a>>) {
    let Field {
        value,
        ext,
        ty,
        key,
    } = field;
    // Extension-only primitives are located at their value key too; `json_pointer` maps
    // them to the companion.
    let field_loc = at.map(|p| Loc::key(p, key));
    let make =
        |v: Option<&'a Value>, e: Option<&'a Value>, loc: Option<Arc<Loc>>| -> Option<Node<'a>> {
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
                loc,
            })
        };
    let item_loc = |i: usize| field_loc.as_ref().map(|l| Loc::index(l, i));
    match (value, ext) {
        (Some(Value::Array(items)), ext) => {
            let exts = ext.and_then(Value::as_array);
            for (i, item) in items.iter().enumerate() {
                out.extend(make(Some(item), exts.and_then(|e| e.get(i)), item_loc(i)));
            }
        }
        (None, Some(Value::Array(exts))) => {
            for (i, e) in exts.iter().enumerate() {
                out.extend(make(None, Some(e), item_loc(i)));
            }
        }
        (v, e) => out.extend(make(v, e, field_loc.clone())),
    }
}

/// Same as [`push_member`] for an owned (computed) object: children are cloned.
fn push_member_owned<'a>(obj: &Value, name: &str, at: Option<&Arc<Loc>>, out: &mut Vec<Node<'a>>) {
    let mut tmp: Vec<Node<'_>> = Vec::new();
    push_member(obj, name, at, &mut tmp);
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
