//! Resource -> index entries: evaluates every applicable search parameter's FHIRPath
//! expression (<https://hl7.org/fhir/R4/searchparameter.html>) and converts the selected
//! nodes with [`index_values`]. Runs above the store, which saves what it is handed.
//!
//! Composite parameters get one entry per component value per element, keyed so the store
//! can pair components of the same element ([`crate::composite`]). Not indexed: special
//! parameters other than `near`, and parameters without an expression (`_text`, `_content`,
//! which the store answers from the resource body).

use std::collections::BTreeMap;
use std::sync::Arc;

use conformance::{Registry, SearchParamDef, SearchParamType};
use fhirpath::Expression;
use serde_json::Value;

use crate::composite;
use crate::index::{index_values, IndexValue};

/// One index row: the parameter and one of its values for the resource. For a composite
/// parameter, `param` is the component's definition renamed
/// [`composite::component_code`] (`{composite}${component}${element}`).
#[derive(Debug, Clone, PartialEq)]
pub struct IndexEntry {
    pub param: Arc<SearchParamDef>,
    pub value: IndexValue,
}

/// Compiles a registry's expressions once and extracts index entries from resources.
#[derive(Debug, Clone)]
pub struct Extractor {
    registry: Registry,
    compiled: BTreeMap<String, Expression>,
    composites: BTreeMap<String, composite::Compiled>,
    failed: Vec<(String, String)>,
}

impl Extractor {
    /// Compiles the expression of every parameter in `registry`. Expressions that do not
    /// parse are recorded in [`Extractor::failed`] (for a startup log line) and skipped.
    pub fn new(registry: Registry) -> Extractor {
        let mut compiled = BTreeMap::new();
        let mut composites = BTreeMap::new();
        let mut failed = Vec::new();
        let types: Vec<String> = registry.resource_types().map(str::to_owned).collect();
        for ty in types.iter().map(String::as_str).chain(["Resource"]) {
            for param in registry.for_type(ty) {
                if param.kind == SearchParamType::Composite && !composites.contains_key(&param.url)
                {
                    match composite::Compiled::new(param, &registry) {
                        Ok(c) => {
                            composites.insert(param.url.clone(), c);
                        }
                        Err(e) => {
                            if !failed.iter().any(|(u, _)| u == &param.url) {
                                failed.push((param.url.clone(), e));
                            }
                        }
                    }
                }
                if !indexable(param) || compiled.contains_key(&param.url) {
                    continue;
                }
                let Some(expr) = &param.expression else {
                    continue;
                };
                match Expression::parse(expr) {
                    Ok(e) => {
                        compiled.insert(param.url.clone(), e);
                    }
                    Err(e) => {
                        if !failed.iter().any(|(u, _)| u == &param.url) {
                            failed.push((param.url.clone(), e.to_string()));
                        }
                    }
                }
            }
        }
        Extractor {
            registry,
            compiled,
            composites,
            failed,
        }
    }

    /// Parameters whose expression did not compile: (url, parse error).
    pub fn failed(&self) -> &[(String, String)] {
        &self.failed
    }

    /// Every index entry of `resource` (typed by its `resourceType`), in parameter-code order.
    /// An expression that fails at evaluation time contributes nothing for that resource
    /// (reindex and import keep going); the API refuses such a write with
    /// [`Extractor::extract_all`] instead.
    pub fn extract(&self, resource: &Value) -> Vec<IndexEntry> {
        self.extract_with(resource, &mut |_, _| {})
    }

    /// Like [`Extractor::extract`], but an expression that fails at evaluation time (say, a
    /// collection over FHIRPath's size limit) is an error naming the parameter: such a
    /// resource would otherwise be stored and silently not found by that parameter.
    pub fn extract_all(&self, resource: &Value) -> Result<Vec<IndexEntry>, (String, String)> {
        let mut failure = None;
        let out = self.extract_with(resource, &mut |param, e| {
            failure.get_or_insert((param.code.clone(), e));
        });
        match failure {
            Some(f) => Err(f),
            None => Ok(out),
        }
    }

    fn extract_with(
        &self,
        resource: &Value,
        on_error: &mut dyn FnMut(&SearchParamDef, String),
    ) -> Vec<IndexEntry> {
        let Some(ty) = resource.get("resourceType").and_then(Value::as_str) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for param in self.registry.for_type(ty) {
            if let Some(c) = self.composites.get(&param.url) {
                c.extract(resource, &mut out);
                continue;
            }
            let Some(expr) = self.compiled.get(&param.url) else {
                continue;
            };
            let nodes = match expr.evaluate(resource) {
                Ok(nodes) => nodes,
                Err(e) => {
                    on_error(param, e.to_string());
                    continue;
                }
            };
            let phonetic = crate::phonetic::is_phonetic(param);
            for node in nodes {
                let hint = if node.is_system_type() {
                    None
                } else {
                    node.type_name()
                };
                let values = if phonetic {
                    crate::phonetic::phonetic_values(node.value(), hint)
                } else {
                    index_values(param.kind, node.value(), hint)
                };
                for value in values {
                    out.push(IndexEntry {
                        param: param.clone(),
                        value,
                    });
                }
            }
        }
        out
    }
}

fn indexable(param: &SearchParamDef) -> bool {
    match param.kind {
        SearchParamType::Composite => false,
        SearchParamType::Special => param.code == "near",
        _ => true,
    }
}

/// One-off extraction with a fresh [`Extractor`]; build an `Extractor` once when indexing
/// many resources.
pub fn extract(resource: &Value, registry: &Registry) -> Vec<IndexEntry> {
    Extractor::new(registry.clone()).extract(resource)
}
