//! The content walk: follows a structurally valid resource through the element model and
//! checks, at each value, what structure cannot: minimum (and finite maximum) cardinality,
//! `required` bindings, and the invariants of its element and of its type and the type's
//! bases (<https://hl7.org/fhir/R4/conformance-rules.html#constraints>).

use std::sync::OnceLock;

use conformance::{ElementDef, ElementModel};
use fhirpath::Env;
use rustc_hash::FxHashMap as HashMap;
use serde_json::{Map, Value};

use crate::core_table::{CoreTable, Invariant, ValueSet};
use crate::issue::at;
use crate::{Issue, IssueSeverity as Severity, IssueType};

/// Deepest base chain followed (`Age` -> `Quantity` -> `Element` is three).
const MAX_LINEAGE: usize = 16;

/// Where a value is: its FHIRPath location (`Practitioner.name[0].given`), rendered only
/// when an issue needs it (most values have none, and formatting every path was a fifth of
/// the walk's time).
#[derive(Clone, Copy)]
struct At<'a> {
    parent: Option<&'a At<'a>>,
    /// The element's JSON name (the resource type at the root).
    key: &'a str,
    index: Option<usize>,
}

impl At<'_> {
    fn render(&self) -> String {
        let mut chain = vec![self];
        while let Some(p) = chain[chain.len() - 1].parent {
            chain.push(p);
        }
        let mut out = String::new();
        for a in chain.into_iter().rev() {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(a.key);
            if let Some(i) = a.index {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
        out
    }
}

/// An element with a minimum of 1 or more, or a finite maximum over 1: its definition and
/// JSON name.
type Constrained = (&'static ElementDef, &'static str);

/// Context (type name or inline element path) -> its own [`Constrained`] elements.
fn constrained(model: &'static ElementModel) -> &'static HashMap<String, Vec<Constrained>> {
    static INDEX: OnceLock<HashMap<String, Vec<Constrained>>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut index: HashMap<String, Vec<Constrained>> = HashMap::default();
        for def in model.elements() {
            let finite_many = def.max.is_some_and(|m| m > 1);
            if def.min == 0 && !finite_many {
                continue;
            }
            if let Some((parent, _)) = def.path.rsplit_once('.') {
                index
                    .entry(parent.to_owned())
                    .or_default()
                    .push((def, def.name()));
            }
        }
        index
    })
}

/// Checks the content of `resource` (structurally valid), adding what is wrong to `issues`.
pub(crate) fn content(
    model: &'static ElementModel,
    table: &CoreTable,
    resource: &Value,
    issues: &mut Vec<Issue>,
) {
    let mut walk = Walk {
        model,
        table,
        constrained: constrained(model),
        env: Env::new(),
        issues,
    };
    if let Some(rt) = resource.get("resourceType").and_then(Value::as_str) {
        let root = At {
            parent: None,
            key: rt,
            index: None,
        };
        walk.object(resource, rt, &root, resource);
    }
}

struct Walk<'w> {
    model: &'static ElementModel,
    table: &'w CoreTable,
    constrained: &'static HashMap<String, Vec<Constrained>>,
    env: Env,
    issues: &'w mut Vec<Issue>,
}

impl Walk<'_> {
    fn issue(&mut self, severity: Severity, code: IssueType, path: &str, diagnostics: String) {
        self.issues.push(at(severity, code, path, diagnostics));
    }

    /// A value whose context is `ctx` (a type name or an inline element path), at `here`,
    /// in the resource `root` (for `%resource`).
    fn object(&mut self, value: &Value, ctx: &str, here: &At<'_>, root: &Value) {
        let Some(obj) = value.as_object() else {
            return;
        };
        let model = self.model;
        let lineage = std::iter::successors(Some(ctx), |c| model.base_of(c)).take(MAX_LINEAGE);
        for c in lineage {
            self.cardinality(obj, c, here);
            let table = self.table;
            for inv in table.invariants(c) {
                self.invariant(inv, value, here, root);
            }
        }
        for (key, v) in obj {
            if key == "resourceType" || key.starts_with('_') {
                continue;
            }
            let Some(child) = self.model.child(ctx, key) else {
                continue;
            };
            let binding = self.table.required_binding(&child.def.path);
            let (items, many) = match v {
                Value::Array(a) => (a.as_slice(), true),
                single => (std::slice::from_ref(single), false),
            };
            for (i, item) in items.iter().enumerate() {
                if item.is_null() {
                    continue;
                }
                let item_at = At {
                    parent: Some(here),
                    key,
                    index: many.then_some(i),
                };
                if let Some(vs) = binding {
                    self.binding(vs, child.type_code, item, &item_at);
                }
                if child.type_code == "Reference" {
                    self.reference(&child.def.path, item, &item_at);
                }
                if child.def.path != child.context {
                    let table = self.table;
                    for inv in table.invariants(&child.def.path) {
                        self.invariant(inv, item, &item_at, root);
                    }
                }
                if !item.is_object() {
                    continue;
                }
                if child.context == "Resource" {
                    // A contained resource is checked within its container (`%resource`,
                    // `ref-1`'s `%rootResource`); any other (a Bundle entry's, a
                    // Parameters value) is a resource of its own.
                    let Some(rt) = item.get("resourceType").and_then(Value::as_str) else {
                        continue;
                    };
                    let root = if key == "contained" { root } else { item };
                    self.object(item, rt, &item_at, root);
                } else {
                    self.object(item, child.context, &item_at, root);
                }
            }
        }
    }

    /// The minimum and finite maximum cardinalities of `ctx`'s own elements in `obj`.
    fn cardinality(&mut self, obj: &Map<String, Value>, ctx: &str, here: &At<'_>) {
        let Some(defs) = self.constrained.get(ctx) else {
            return;
        };
        for &(def, name) in defs {
            let count = match name.strip_suffix("[x]") {
                Some(stem) => obj
                    .keys()
                    .filter(|k| {
                        let k = k.strip_prefix('_').unwrap_or(k);
                        k.strip_prefix(stem)
                            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()))
                    })
                    .count()
                    .min(1),
                None => match obj.get(name).or_else(|| obj.get(&format!("_{name}"))) {
                    Some(Value::Array(a)) => a.len(),
                    Some(_) => 1,
                    None => 0,
                },
            };
            if (count as u32) < def.min {
                self.issue(
                    Severity::Error,
                    IssueType::Required,
                    &here.render(),
                    format!(
                        "missing required element `{name}` ({} has a minimum cardinality of {})",
                        def.path, def.min
                    ),
                );
            }
            if let Some(max) = def.max.filter(|&m| count as u32 > m) {
                self.issue(
                    Severity::Error,
                    IssueType::Required,
                    &format!("{}.{name}", here.render()),
                    format!("{} allows at most {max}, found {count}", def.path),
                );
            }
        }
    }

    /// A Reference whose literal URL names a resource type its element does not allow
    /// (`PractitionerRole.practitioner` pointing at an Organization).
    fn reference(&mut self, def_path: &str, item: &Value, here: &At<'_>) {
        let Some(allowed) = self.table.reference_targets(def_path) else {
            return;
        };
        let Some(rtype) = item
            .get("reference")
            .and_then(Value::as_str)
            .and_then(crate::references::literal_type)
        else {
            return;
        };
        if !allowed.iter().any(|t| t == rtype) {
            self.issue(
                Severity::Error,
                IssueType::Structure,
                &format!("{}.reference", here.render()),
                format!(
                    "a reference to a {rtype} is not allowed here: {def_path} points to {}",
                    allowed.join(" or ")
                ),
            );
        }
    }

    /// A `required` binding to `vs` on a value of type `type_code`.
    fn binding(&mut self, vs: &ValueSet, type_code: &str, item: &Value, here: &At<'_>) {
        let coding_ok = |c: &Value| {
            let code = c.get("code").and_then(Value::as_str)?;
            Some(match c.get("system").and_then(Value::as_str) {
                Some(system) => vs.has(system, code),
                None => vs.has_code(code),
            })
        };
        let bad = match type_code {
            "code" => item.as_str().filter(|c| !vs.has_code(c)).map(str::to_owned),
            "Coding" => match coding_ok(item) {
                Some(false) => Some(show_coding(item)),
                _ => None,
            },
            "CodeableConcept" => {
                let codings = item.get("coding").and_then(Value::as_array);
                let verdicts: Vec<bool> = codings
                    .into_iter()
                    .flatten()
                    .filter_map(coding_ok)
                    .collect();
                if !verdicts.is_empty() && !verdicts.contains(&true) {
                    let shown: Vec<String> =
                        codings.into_iter().flatten().map(show_coding).collect();
                    Some(shown.join(", "))
                } else {
                    None
                }
            }
            _ => None,
        };
        if let Some(bad) = bad {
            self.issue(
                Severity::Error,
                IssueType::CodeInvalid,
                &here.render(),
                format!(
                    "{bad} is not in the value set {} that this element requires",
                    vs.url
                ),
            );
        }
    }

    /// Evaluates `inv` with `value` (at `here` in `root`) as its focus.
    fn invariant(&mut self, inv: &Invariant, value: &Value, here: &At<'_>, root: &Value) {
        if let Some(i) = inv.check(root, value, &self.env, || here.render(), None) {
            self.issues.push(i);
        }
    }
}

/// `system|code` (or the code alone) of a Coding, for messages.
fn show_coding(c: &Value) -> String {
    let code = c.get("code").and_then(Value::as_str).unwrap_or("");
    match c.get("system").and_then(Value::as_str) {
        Some(s) => format!("`{s}|{code}`"),
        None => format!("`{code}`"),
    }
}
