//! Structural validation against the element model: does this JSON have the shape of a FHIR
//! R4 resource (<https://hl7.org/fhir/R4/json.html>)? Checks element names, arrays versus
//! single values, the JSON kind of primitives, `_name` primitive companions, `resourceType`
//! and the logical id, recursing into contained and nested resources (`Bundle.entry.resource`,
//! `Parameters.parameter.resource`) by their own `resourceType`.
//!
//! Cardinality minimums, invariants, terminology bindings and profiles are deliberately not
//! checked here: this is the "is it still a well-formed resource" test a PATCH result must
//! pass; profile validation is a separate, later layer.

use serde_json::{Map, Value};

use super::{primitives, Child, ElementModel, TypeKind};

/// Nesting deeper than this is reported instead of followed, so that hostile input cannot
/// exhaust the stack.
const MAX_DEPTH: usize = 96;

/// One structural problem, located by a FHIRPath-like path with indexes
/// (`Practitioner.name[0].given`), suitable for `OperationOutcome.issue.expression`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructureIssue {
    /// Where the problem is.
    pub path: String,
    /// Whether it is a primitive's value (its lexical form or JSON kind) rather than the
    /// shape of the resource.
    pub is_value: bool,
    /// What is wrong, in words.
    pub message: String,
}

impl std::fmt::Display for StructureIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Checks that `resource` is structurally a FHIR R4 resource according to `model`: known
/// `resourceType`, valid `id` (<https://hl7.org/fhir/R4/datatypes.html#id>), only known
/// elements, arrays exactly where the element repeats, primitives of the right JSON kind
/// (booleans, numbers for integer/decimal types, strings otherwise) with the lexical form of
/// their type (dates, codes, ids, …; see `primitives`), no `null` except as an
/// array placeholder matched by a `_name` companion, no empty objects, arrays or strings.
/// Returns every issue found (empty when the resource is well formed).
pub fn validate_structure(resource: &Value, model: &ElementModel) -> Vec<StructureIssue> {
    let mut walker = Walker {
        model,
        issues: Vec::new(),
    };
    walker.resource(resource, "", 0);
    walker.issues
}

struct Walker<'m> {
    model: &'m ElementModel,
    issues: Vec<StructureIssue>,
}

impl Walker<'_> {
    fn issue(&mut self, path: &str, message: impl Into<String>) {
        self.issues.push(StructureIssue {
            path: path.to_string(),
            is_value: false,
            message: message.into(),
        });
    }

    /// An issue with a primitive's value.
    fn value_issue(&mut self, path: &str, message: impl Into<String>) {
        self.issues.push(StructureIssue {
            path: path.to_string(),
            is_value: true,
            message: message.into(),
        });
    }

    /// A resource at `path` (empty for the root, whose path becomes its type name).
    fn resource(&mut self, value: &Value, path: &str, depth: usize) {
        let Some(obj) = value.as_object() else {
            self.issue(path, "a resource must be a JSON object");
            return;
        };
        let resource_type = match obj.get("resourceType") {
            Some(Value::String(rt)) if self.model.is_resource_type(rt) => rt.as_str(),
            Some(Value::String(rt)) => {
                self.issue(path, format!("unknown resource type {rt:?}"));
                return;
            }
            Some(_) => {
                self.issue(path, "resourceType must be a string");
                return;
            }
            None => {
                self.issue(path, "missing resourceType");
                return;
            }
        };
        let path = if path.is_empty() {
            resource_type.to_string()
        } else {
            path.to_string()
        };
        if let Some(Value::String(id)) = obj.get("id") {
            if !is_valid_id(id) {
                self.value_issue(
                    &format!("{path}.id"),
                    format!("invalid id {id:?}: 1 to 64 of A-Z a-z 0-9 - ."),
                );
            }
        }
        self.object(obj, resource_type, &path, depth, true);
    }

    /// The properties of an object whose context (type name or inline element path) is
    /// `ctx`.
    fn object(
        &mut self,
        obj: &Map<String, Value>,
        ctx: &str,
        path: &str,
        depth: usize,
        is_resource: bool,
    ) {
        if depth > MAX_DEPTH {
            self.issue(path, "nested too deeply");
            return;
        }
        for (key, value) in obj {
            if is_resource && key == "resourceType" {
                continue;
            }
            let child_path = format!("{path}.{key}");
            if let Some(name) = key.strip_prefix('_') {
                self.companion(obj, ctx, name, value, &child_path, depth);
                continue;
            }
            let child = match self.model.child(ctx, key) {
                // `value[x]` is a definition name, never a JSON property name.
                Some(child) if !key.ends_with("[x]") => child,
                _ => {
                    self.issue(&child_path, format!("unknown element {key:?}"));
                    continue;
                }
            };
            let has_companion = obj.contains_key(&format!("_{key}"));
            match value {
                Value::Array(items) if child.def.max_many => {
                    if items.is_empty() {
                        self.issue(&child_path, "arrays must not be empty");
                    }
                    for (i, item) in items.iter().enumerate() {
                        let item_path = format!("{child_path}[{i}]");
                        if item.is_null() {
                            // A null keeps the place of a value that only has extensions.
                            if !has_companion {
                                self.issue(&item_path, "null is only allowed as a placeholder matched by a `_` companion");
                            }
                            continue;
                        }
                        self.value(item, child, &item_path, depth);
                    }
                }
                Value::Array(_) => self.issue(
                    &child_path,
                    format!(
                        "{} has at most one value: must not be an array",
                        child.def.path
                    ),
                ),
                _ if child.def.max_many => {
                    self.issue(
                        &child_path,
                        format!("{} repeats: its value must be an array", child.def.path),
                    );
                    self.value(value, child, &child_path, depth);
                }
                Value::Null if has_companion => {}
                Value::Null => self.issue(&child_path, "null is not a value"),
                _ => self.value(value, child, &child_path, depth),
            }
        }
    }

    /// One (non-array) value of element `child`.
    fn value(&mut self, value: &Value, child: Child<'_>, path: &str, depth: usize) {
        let kind = self.model.type_def(child.type_code).map(|t| t.kind);
        match kind {
            Some(TypeKind::Resource) => self.resource(value, path, depth + 1),
            Some(TypeKind::Primitive) => self.primitive(value, child.type_code, path),
            _ => match value.as_object() {
                Some(obj) if obj.is_empty() => self.issue(path, "objects must not be empty"),
                Some(obj) => self.object(obj, child.context, path, depth + 1, false),
                None => self.issue(
                    path,
                    format!(
                        "{} is a {}: expected a JSON object, found {}",
                        child.def.path,
                        child.type_code,
                        json_kind(value)
                    ),
                ),
            },
        }
    }

    /// A primitive's JSON value (<https://hl7.org/fhir/R4/json.html#primitive>).
    fn primitive(&mut self, value: &Value, type_code: &str, path: &str) {
        let ok = match type_code {
            "boolean" => value.is_boolean(),
            "integer" => value.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
            "positiveInt" => value
                .as_i64()
                .is_some_and(|i| (1..=i32::MAX as i64).contains(&i)),
            "unsignedInt" => value
                .as_i64()
                .is_some_and(|i| (0..=i32::MAX as i64).contains(&i)),
            "decimal" => value.is_number(),
            _ => match value.as_str() {
                Some("") => {
                    self.issue(path, "strings must not be empty");
                    return;
                }
                Some(s) => {
                    if let Err(expected) = primitives::check(type_code, s) {
                        let shown: String = s.chars().take(40).collect();
                        let more = if shown.len() < s.len() { "…" } else { "" };
                        self.value_issue(
                            path,
                            format!("{type_code} must be {expected}, found {shown:?}{more}"),
                        );
                    }
                    return;
                }
                None => false,
            },
        };
        if !ok {
            let expected = match type_code {
                "boolean" => "true or false",
                "integer" => "a 32-bit integer number",
                "positiveInt" => "an integer number from 1",
                "unsignedInt" => "an integer number from 0",
                "decimal" => "a number",
                _ => "a string",
            };
            self.value_issue(
                path,
                format!("{type_code} must be {expected}, found {}", json_kind(value)),
            );
        }
    }

    /// A `_name` companion holding a primitive's `id` and `extension`
    /// (<https://hl7.org/fhir/R4/json.html#primitive>).
    fn companion(
        &mut self,
        obj: &Map<String, Value>,
        ctx: &str,
        name: &str,
        value: &Value,
        path: &str,
        depth: usize,
    ) {
        let child = match self.model.child(ctx, name) {
            Some(child) if self.model.is_primitive(child.type_code) && !name.ends_with("[x]") => {
                child
            }
            Some(_) => {
                self.issue(
                    path,
                    format!("`_{name}` is only allowed for primitive elements"),
                );
                return;
            }
            None => {
                self.issue(path, format!("unknown element {name:?}"));
                return;
            }
        };
        match (child.def.max_many, value) {
            (true, Value::Array(items)) => {
                if let Some(Value::Array(values)) = obj.get(name) {
                    if values.len() != items.len() {
                        self.issue(
                            path,
                            format!(
                                "`_{name}` has {} items but `{name}` has {}",
                                items.len(),
                                values.len()
                            ),
                        );
                    }
                }
                for (i, item) in items.iter().enumerate() {
                    self.companion_object(item, &format!("{path}[{i}]"), depth, true);
                }
            }
            (true, _) => self.issue(path, format!("`_{name}` must be an array like `{name}`")),
            (false, Value::Array(_)) => {
                self.issue(path, format!("`_{name}` must not be an array"));
            }
            (false, item) => self.companion_object(item, path, depth, false),
        }
    }

    fn companion_object(&mut self, item: &Value, path: &str, depth: usize, null_ok: bool) {
        match item {
            Value::Null if null_ok => {}
            Value::Object(o) if o.is_empty() => self.issue(path, "objects must not be empty"),
            // The companion is an Element: only `id` and `extension`.
            Value::Object(o) => self.object(o, "Element", path, depth + 1, false),
            other => self.issue(
                path,
                format!(
                    "a `_` companion must be an object, found {}",
                    json_kind(other)
                ),
            ),
        }
    }
}

/// FHIR logical id rule (<https://hl7.org/fhir/R4/datatypes.html#id>); the same rule as
/// `fhir::is_valid_id`, repeated to keep this crate free of that dependency.
fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn issues(v: Value) -> Vec<String> {
        validate_structure(&v, ElementModel::r4())
            .into_iter()
            .map(|i| i.to_string())
            .collect()
    }

    #[test]
    fn a_well_formed_practitioner_has_no_issues() {
        let p = json!({
            "resourceType": "Practitioner", "id": "p-1",
            "meta": {"versionId": "1", "profile": ["http://x/y"]},
            "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
            "extension": [{"url": "http://x", "valueCodeableConcept": {"text": "t"}}],
            "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1"}],
            "active": true,
            "name": [{"family": "Smith", "given": ["A", null], "_given": [null, {"extension": [{"url": "u", "valueString": "x"}]}]}],
            "_gender": {"extension": [{"url": "u", "valueBoolean": true}]},
            "qualification": [{"code": {"text": "MD"}, "period": {"start": "2000"}}],
            "contained": [{"resourceType": "Organization", "id": "o", "name": "Org"}]
        });
        assert_eq!(issues(p), Vec::<String>::new());
    }

    #[test]
    fn broken_resources_are_flagged() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({"id": "x"}), "missing resourceType"),
            (json!({"resourceType": "Nope"}), "unknown resource type"),
            (
                json!({"resourceType": "DomainResource"}),
                "unknown resource type",
            ),
            (json!({"resourceType": 3}), "resourceType must be a string"),
            (json!([1]), "must be a JSON object"),
            (
                json!({"resourceType": "Practitioner", "id": "a b"}),
                "Practitioner.id: invalid id",
            ),
            (
                json!({"resourceType": "Practitioner", "foo": 1}),
                "Practitioner.foo: unknown element",
            ),
            (
                json!({"resourceType": "Practitioner", "name": {"family": "x"}}),
                "repeats",
            ),
            (
                json!({"resourceType": "Practitioner", "active": [true]}),
                "must not be an array",
            ),
            (
                json!({"resourceType": "Practitioner", "active": "yes"}),
                "boolean must be true or false, found a string",
            ),
            (
                json!({"resourceType": "Practitioner", "name": [{"family": 3}]}),
                "name[0].family: string must be a string",
            ),
            (
                json!({"resourceType": "Practitioner", "name": ["Smith"]}),
                "expected a JSON object",
            ),
            (
                json!({"resourceType": "Practitioner", "name": []}),
                "arrays must not be empty",
            ),
            (
                json!({"resourceType": "Practitioner", "name": [{}]}),
                "objects must not be empty",
            ),
            (
                json!({"resourceType": "Practitioner", "active": null}),
                "null is not a value",
            ),
            (
                json!({"resourceType": "Practitioner", "name": [{"given": [null]}]}),
                "placeholder",
            ),
            (
                json!({"resourceType": "Practitioner", "_name": {}}),
                "only allowed for primitive",
            ),
            (
                json!({"resourceType": "Practitioner", "_active": 1}),
                "must be an object",
            ),
            (
                json!({"resourceType": "Practitioner", "name": [{"given": ["a"], "_given": [null, null]}]}),
                "has 2 items",
            ),
            (
                json!({"resourceType": "Practitioner", "gender": ""}),
                "must not be empty",
            ),
            (
                json!({"resourceType": "Practitioner", "birthDate": "yesterday"}),
                "Practitioner.birthDate: date must be a date: YYYY, YYYY-MM or YYYY-MM-DD, found \"yesterday\"",
            ),
            (
                json!({"resourceType": "Practitioner", "meta": {"lastUpdated": "2020-01-01"}}),
                "instant must be an instant",
            ),
            (
                json!({"resourceType": "Practitioner", "gender": " male"}),
                "code must be a code",
            ),
            (
                json!({"resourceType": "Location", "position": {"longitude": "1", "latitude": 2}}),
                "decimal must be a number",
            ),
            (
                json!({"resourceType": "Group", "type": "person", "actual": true, "quantity": -1}),
                "unsignedInt",
            ),
            (
                json!({"resourceType": "Organization", "contained": [{"resourceType": "Practitioner", "bogus": 1}]}),
                "Organization.contained[0].bogus: unknown element",
            ),
            (
                json!({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"id": "x"}}]}),
                "Bundle.entry[0].resource: missing resourceType",
            ),
            (
                json!({"resourceType": "Practitioner", "extension": [{"url": "u", "valueNope": 1}]}),
                "unknown element \"valueNope\"",
            ),
            (
                json!({"resourceType": "Practitioner", "extension": [{"url": "u", "value[x]": 1}]}),
                "unknown element",
            ),
        ];
        for (resource, expected) in cases {
            let found = issues(resource.clone());
            assert!(
                found.iter().any(|i| i.contains(expected)),
                "{resource}: expected an issue containing {expected:?}, got {found:?}"
            );
        }
    }

    #[test]
    fn hostile_nesting_is_reported_not_followed() {
        let mut v = json!({"resourceType": "Basic", "code": {"text": "x"}});
        for _ in 0..300 {
            v = json!({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": v}]});
        }
        let found = issues(v);
        assert!(found.iter().any(|i| i.contains("nested too deeply")));
    }
}
