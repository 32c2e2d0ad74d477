//! Composite parameters (<https://hl7.org/fhir/R4/search.html#composite>): index entries that
//! keep the component values of one element together.
//!
//! A composite such as `Group?characteristic-value=gender$female` matches only when both
//! components match *within the same element* the composite's expression selects (one
//! `Group.characteristic`), not anywhere in the resource. For every such element `k` and
//! component `i`, each value of the component becomes an ordinary index entry of the
//! component's type (token, reference, quantity, …) whose parameter code is
//! [`component_code`] `{code}${i}${k}`. The store answers a composite by finding rows of
//! component 0 with `param` starting [`component_prefix`] `{code}$0$` and, for every other
//! component `i`, a row of the same resource whose `param` is `{code}${i}$` followed by the
//! same element suffix — so each component keeps its own type, prefixes and system forms,
//! and no new table or migration is needed. (`$` never occurs in a parameter code.)
//!
//! Component expressions are evaluated relative to each element, as R4 defines. Some IGs
//! (NDH's `new-patient-and-from-network`) write them as absolute paths from the resource
//! instead (`PractitionerRole.extension.where(…).extension…`); those are evaluated on the
//! resource and each value is assigned to the element whose JSON location contains it.

use std::sync::Arc;

use conformance::{Registry, SearchParamDef, SearchParamType};
use fhirpath::{Env, Expression, Node};
use serde_json::Value;

use crate::extract::IndexEntry;
use crate::index::index_values;

/// The `param` column of the rows of component `component` of element `element`.
/// Whether `param` (a composite) can be indexed and searched: its components resolve in
/// `registry` and their expressions compile.
pub fn resolvable(param: &SearchParamDef, registry: &Registry) -> bool {
    Compiled::new(param, registry).is_ok()
}

pub fn component_code(code: &str, component: usize, element: usize) -> String {
    format!("{code}${component}${element}")
}

/// What every row of component `component` of composite `code` starts with.
pub fn component_prefix(code: &str, component: usize) -> String {
    format!("{code}${component}$")
}

/// A composite parameter with its expressions compiled.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    code: String,
    expression: Expression,
    components: Vec<Component>,
}

#[derive(Debug, Clone)]
struct Component {
    def: Arc<SearchParamDef>,
    expression: Expression,
    /// Written from the resource root (`Type.…`) rather than relative to the element.
    absolute: bool,
}

impl Compiled {
    /// Compiles `param`'s expressions. `Err` says why the parameter cannot be indexed (an
    /// expression that does not parse, a component the registry does not define).
    pub fn new(param: &SearchParamDef, registry: &Registry) -> Result<Compiled, String> {
        let Some(src) = &param.expression else {
            return Err("composite parameter without an expression".to_owned());
        };
        if param.component.is_empty() {
            return Err("composite parameter without components".to_owned());
        }
        let expression = Expression::parse(src).map_err(|e| e.to_string())?;
        let mut components = Vec::new();
        for c in &param.component {
            let def = registry
                .by_url(&c.definition)
                .ok_or_else(|| format!("component `{}` is not defined", c.definition))?;
            if matches!(
                def.kind,
                SearchParamType::Composite | SearchParamType::Special
            ) {
                return Err(format!(
                    "component `{}` is a {:?} parameter",
                    c.definition, def.kind
                ));
            }
            let src = c.expression.trim();
            let absolute = param.base.iter().any(|b| src.starts_with(&format!("{b}.")));
            components.push(Component {
                def: def.clone(),
                expression: Expression::parse(src).map_err(|e| e.to_string())?,
                absolute,
            });
        }
        Ok(Compiled {
            code: param.code.clone(),
            expression,
            components,
        })
    }

    /// Appends the component entries of every element of `resource`. Expressions that fail
    /// to evaluate contribute nothing, as for other parameters.
    pub fn extract(&self, resource: &Value, out: &mut Vec<IndexEntry>) {
        let env = Env::default();
        let Ok(elements) = self.expression.evaluate_located(resource, &env) else {
            return;
        };
        if elements.is_empty() {
            return;
        }
        let pointers: Vec<Option<String>> = elements.iter().map(Node::json_pointer).collect();
        for (i, component) in self.components.iter().enumerate() {
            // (element index, value node)
            let mut values: Vec<(usize, Node<'_>)> = Vec::new();
            if component.absolute {
                let Ok(nodes) = component.expression.evaluate_located(resource, &env) else {
                    continue;
                };
                for node in nodes {
                    if let Some(k) = node.json_pointer().and_then(|p| element_of(&pointers, &p)) {
                        values.push((k, node));
                    }
                }
            } else {
                for (k, element) in elements.iter().enumerate() {
                    if let Ok(nodes) = component.expression.evaluate_at(resource, element, &env) {
                        values.extend(nodes.into_iter().map(|n| (k, n)));
                    }
                }
            }
            let mut defs: Vec<Option<Arc<SearchParamDef>>> = vec![None; elements.len()];
            for (k, node) in values {
                let hint = if node.is_system_type() {
                    None
                } else {
                    node.type_name()
                };
                for value in index_values(component.def.kind, node.value(), hint) {
                    let param = defs[k]
                        .get_or_insert_with(|| {
                            Arc::new(SearchParamDef {
                                code: component_code(&self.code, i, k),
                                ..(*component.def).clone()
                            })
                        })
                        .clone();
                    out.push(IndexEntry { param, value });
                }
            }
        }
    }
}

/// The element whose location contains `pointer` (the deepest, should elements nest).
fn element_of(elements: &[Option<String>], pointer: &str) -> Option<usize> {
    elements
        .iter()
        .enumerate()
        .filter_map(|(k, p)| p.as_deref().map(|p| (k, p)))
        .filter(|(_, p)| {
            pointer == *p
                || (pointer.starts_with(p) && pointer.as_bytes().get(p.len()) == Some(&b'/'))
        })
        .max_by_key(|(_, p)| p.len())
        .map(|(k, _)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_belong_to_the_element_that_contains_them() {
        let elements = vec![
            Some("/extension/0".to_owned()),
            Some("/extension/1".to_owned()),
            None,
        ];
        let cases = [
            ("/extension/0/valueCodeableConcept", Some(0)),
            ("/extension/1/extension/0/valueReference", Some(1)),
            ("/extension/10/valueString", None),
            ("/extension/0", Some(0)),
            ("/name", None),
        ];
        for (pointer, want) in cases {
            assert_eq!(element_of(&elements, pointer), want, "{pointer}");
        }
    }

    #[test]
    fn component_codes_share_the_component_prefix() {
        let code = component_code("characteristic-value", 1, 12);
        assert_eq!(code, "characteristic-value$1$12");
        assert!(code.starts_with(&component_prefix("characteristic-value", 1)));
        assert!(!code.starts_with(&component_prefix("characteristic-value", 0)));
    }
}
