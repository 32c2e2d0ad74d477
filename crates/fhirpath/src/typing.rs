//! Type tests on items: `is` (subtype-aware), `as`/`ofType()` (exact for FHIR primitives,
//! as the official R4 test suite expects), and `type()` reflection
//! (<http://hl7.org/fhirpath/N1/#types-and-reflection>).
//!
//! Items reached through ordinary element names carry no FHIR type (there is no schema
//! here), so for them the type is inferred: primitives from the JSON kind, objects from
//! their keys (an object whose keys all belong to HumanName “is” a HumanName).

use crate::ast::TypeSpec;
use crate::error::EvalError;
use crate::node::{Node, TypeNs};
use crate::temporal::{DateTime, Time};
use crate::types::{self, Namespace, PRIMITIVES};
use serde_json::{json, Value};
use std::borrow::Cow;

/// Characteristic keys of common complex types, for typing objects of unknown type.
/// Subtypes of Quantity (Age, Duration…) are left out: their shape is Quantity's.
const SHAPES: &[(&str, &[&str])] = &[
    (
        "Address",
        &[
            "use",
            "type",
            "text",
            "line",
            "city",
            "district",
            "state",
            "postalCode",
            "country",
            "period",
        ],
    ),
    (
        "Annotation",
        &["authorReference", "authorString", "time", "text"],
    ),
    (
        "Attachment",
        &[
            "contentType",
            "language",
            "data",
            "url",
            "size",
            "hash",
            "title",
            "creation",
        ],
    ),
    ("CodeableConcept", &["coding", "text"]),
    (
        "Coding",
        &["system", "version", "code", "display", "userSelected"],
    ),
    (
        "ContactPoint",
        &["system", "value", "use", "rank", "period"],
    ),
    ("Extension", &["url"]),
    (
        "HumanName",
        &[
            "use", "text", "family", "given", "prefix", "suffix", "period",
        ],
    ),
    (
        "Identifier",
        &["use", "type", "system", "value", "period", "assigner"],
    ),
    (
        "Meta",
        &[
            "versionId",
            "lastUpdated",
            "source",
            "profile",
            "security",
            "tag",
        ],
    ),
    ("Money", &["value", "currency"]),
    ("Narrative", &["status", "div"]),
    ("Period", &["start", "end"]),
    (
        "Quantity",
        &["value", "comparator", "unit", "system", "code"],
    ),
    ("Range", &["low", "high"]),
    ("Ratio", &["numerator", "denominator"]),
    ("Reference", &["reference", "type", "identifier", "display"]),
];

/// Whether an object of unknown type has the shape of `name`.
fn has_shape(obj: &serde_json::Map<String, Value>, name: &str) -> bool {
    let Some((_, keys)) = SHAPES.iter().find(|(n, _)| *n == name) else {
        return false;
    };
    let mut own = obj
        .keys()
        .filter(|k| !k.starts_with('_') && *k != "id" && *k != "extension")
        .peekable();
    // Extension is recognised by its mandatory url plus one value[x].
    if name == "Extension" {
        return obj.contains_key("url")
            && obj.keys().all(|k| {
                matches!(k.as_str(), "url" | "id" | "extension") || k.starts_with("value")
            });
    }
    own.peek().is_some() && own.all(|k| keys.contains(&k.as_str()))
}

fn check_known(spec: &TypeSpec) -> Result<(), EvalError> {
    let name = spec.name.as_str();
    let lower = name.starts_with(|c: char| c.is_ascii_lowercase());
    if lower && spec.namespace_kind() != Namespace::System && !PRIMITIVES.contains(&name) {
        return Err(EvalError::Type(format!("unknown type '{name}'")));
    }
    Ok(())
}

/// `is`: `n` is of type `spec` or a subtype of it.
pub(crate) fn is_type(n: &Node<'_>, spec: &TypeSpec) -> Result<bool, EvalError> {
    check_known(spec)?;
    Ok(matches(n, spec, false))
}

fn matches(n: &Node<'_>, spec: &TypeSpec, exact_primitives: bool) -> bool {
    let ns = spec.namespace_kind();
    let name = spec.name.as_str();
    if n.is_system_type() {
        return ns != Namespace::Fhir && n.type_name() == Some(name);
    }
    // Everything else comes from the resource, so it has a FHIR type.
    if ns == Namespace::System {
        return false;
    }
    if let Some(fhir) = n.fhir_type() {
        if exact_primitives && PRIMITIVES.contains(&fhir) {
            return fhir == name;
        }
        return types::fhir_is_a(fhir, name);
    }
    match n.value.as_ref() {
        Value::Bool(_) => name == "boolean",
        Value::Number(num) => {
            name == "decimal"
                || (num.is_i64() || num.is_u64())
                    && matches!(name, "integer" | "positiveInt" | "unsignedInt")
        }
        Value::String(s) => match name {
            "date" => DateTime::parse(s).is_some_and(|d| d.is_date_only()),
            "dateTime" | "instant" => DateTime::parse(s).is_some(),
            "time" => Time::parse(s).is_some(),
            other => types::system_type_of(other) == Some("String"),
        },
        Value::Object(o) => {
            has_shape(o, name) || (name == "Element" && !o.contains_key("resourceType"))
        }
        _ => false,
    }
}

/// `as` / `ofType()`: keeps the items of type `spec`, typing those whose type was unknown.
/// `as` is applied as a filter rather than with N1's singleton rule: R4 search expressions
/// use it on collections (`Group.characteristic.value as CodeableConcept`).
pub(crate) fn filter_type<'a>(
    items: Vec<Node<'a>>,
    spec: &TypeSpec,
) -> Result<Vec<Node<'a>>, EvalError> {
    check_known(spec)?;
    Ok(items
        .into_iter()
        .filter(|n| matches(n, spec, true))
        .map(|mut n| {
            if n.ty.is_none() && spec.namespace_kind() != Namespace::System {
                n.ty = Some((TypeNs::Fhir, Cow::Owned(spec.name.clone())));
            }
            n
        })
        .collect())
}

/// `type()`: `{namespace, name}` of an item, when it can be told.
pub(crate) fn type_info<'a>(n: &Node<'_>) -> Option<Node<'a>> {
    let (ns, name): (&str, String) = match &n.ty {
        Some((TypeNs::System, t)) => ("System", t.to_string()),
        Some((TypeNs::Fhir, t)) => ("FHIR", t.to_string()),
        None => match n.value.as_ref() {
            Value::Bool(_) => ("FHIR", "boolean".into()),
            Value::Number(x) if x.is_i64() || x.is_u64() => ("FHIR", "integer".into()),
            Value::Number(_) => ("FHIR", "decimal".into()),
            Value::String(_) => ("FHIR", "string".into()),
            Value::Object(o) => (
                "FHIR",
                SHAPES.iter().find(|(t, _)| has_shape(o, t))?.0.to_string(),
            ),
            _ => return None,
        },
    };
    Some(Node {
        value: Cow::Owned(json!({"namespace": ns, "name": name})),
        ty: None,
        ext: None,
        loc: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(ns: Option<&str>, name: &str) -> TypeSpec {
        TypeSpec {
            namespace: ns.map(str::to_string),
            name: name.to_string(),
        }
    }

    fn untyped(v: Value) -> Node<'static> {
        Node {
            value: Cow::Owned(v),
            ty: None,
            ext: None,
            loc: None,
        }
    }

    #[test]
    fn shapes_type_unknown_objects() {
        let name = untyped(json!({"family": "X", "given": ["A"], "use": "official"}));
        assert!(matches(&name, &spec(None, "HumanName"), false));
        assert!(!matches(&name, &spec(None, "Address"), false));
        let reference = untyped(json!({"reference": "Patient/1", "display": "P"}));
        assert!(matches(&reference, &spec(Some("FHIR"), "Reference"), false));
        assert!(!matches(
            &untyped(json!({})),
            &spec(None, "Reference"),
            false
        ));
    }

    #[test]
    fn fhir_and_system_types_are_kept_apart() {
        let fhir_bool = untyped(json!(true));
        assert!(matches(&fhir_bool, &spec(None, "boolean"), false));
        assert!(!matches(&fhir_bool, &spec(None, "Boolean"), false));
        assert!(!matches(
            &fhir_bool,
            &spec(Some("System"), "Boolean"),
            false
        ));
        let sys = Node::boolean(true);
        assert!(matches(&sys, &spec(None, "Boolean"), false));
        assert!(!matches(&sys, &spec(None, "boolean"), false));
    }

    #[test]
    fn exactness_for_primitives_in_of_type() {
        let code = Node::fhir_typed(Cow::Owned(json!("male")), Cow::Borrowed("code"));
        assert!(is_type(&code, &spec(None, "string")).expect("known"));
        assert!(filter_type(vec![code.clone()], &spec(None, "string"))
            .expect("known")
            .is_empty());
        assert_eq!(
            filter_type(vec![code], &spec(None, "code"))
                .expect("known")
                .len(),
            1
        );
        assert!(is_type(&Node::boolean(true), &spec(None, "string1")).is_err());
    }
}
