//! Search parameter definitions (<https://hl7.org/fhir/R4/searchparameter.html>) and the
//! per-tenant registry that answers "which parameter is `code` on resource type `T`".

use std::collections::HashMap;
use std::sync::Arc;

/// `SearchParameter.type` (<https://hl7.org/fhir/R4/valueset-search-param-type.html>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchParamType {
    Number,
    Date,
    String,
    Token,
    Reference,
    Composite,
    Quantity,
    Uri,
    Special,
}

/// One component of a composite parameter.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Component {
    /// Canonical URL of the component's SearchParameter.
    pub definition: String,
    /// FHIRPath evaluated relative to each node the composite's own expression selects.
    pub expression: String,
}

/// One search parameter, reduced to what the indexer and the query planner need.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SearchParamDef {
    /// Canonical URL (`SearchParameter.url`).
    pub url: String,
    /// The name used in query strings (`SearchParameter.code`).
    pub code: String,
    /// Resource types this parameter applies to (`Resource` for `_id`, `_lastUpdated`, ...).
    pub base: Vec<String>,
    #[serde(rename = "type")]
    pub kind: SearchParamType,
    /// FHIRPath expression selecting the indexed values; `None` for parameters the server
    /// implements specially (`_id`, `near`'s distance, `_text`, ...).
    pub expression: Option<String>,
    /// Allowed target resource types for reference parameters.
    #[serde(default)]
    pub target: Vec<String>,
    /// Modifiers the parameter supports, without the colon.
    #[serde(default)]
    pub modifier: Vec<String>,
    /// Chain names allowed from this parameter (`*` allows any).
    #[serde(default)]
    pub chain: Vec<String>,
    #[serde(default)]
    pub component: Vec<Component>,
}

/// An immutable set of search parameters, looked up by resource type and code.
///
/// Cheap to clone: tenants that add their own parameters get a new registry built from the
/// built-in one plus theirs.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    by_type: HashMap<String, HashMap<String, Arc<SearchParamDef>>>,
}

impl Registry {
    /// A registry holding `params`. A parameter whose base is `Resource` or
    /// `DomainResource` applies to every resource type.
    pub fn new(params: impl IntoIterator<Item = SearchParamDef>) -> Self {
        let mut registry = Self::default();
        for p in params {
            registry.insert(p);
        }
        registry
    }

    /// Adds or replaces a parameter (same base type and code).
    pub fn insert(&mut self, param: SearchParamDef) {
        let param = Arc::new(param);
        for base in &param.base {
            self.by_type
                .entry(base.clone())
                .or_default()
                .insert(param.code.clone(), param.clone());
        }
    }

    /// The parameter `code` on `resource_type`, including the `Resource`-level ones.
    pub fn get(&self, resource_type: &str, code: &str) -> Option<&Arc<SearchParamDef>> {
        self.by_type
            .get(resource_type)
            .and_then(|m| m.get(code))
            .or_else(|| self.by_type.get("DomainResource").and_then(|m| m.get(code)))
            .or_else(|| self.by_type.get("Resource").and_then(|m| m.get(code)))
    }

    /// Every parameter that applies to `resource_type`, the `Resource`-level ones included.
    pub fn for_type<'a>(&'a self, resource_type: &str) -> impl Iterator<Item = &'a Arc<SearchParamDef>> + 'a {
        let own = self.by_type.get(resource_type).into_iter().flat_map(|m| m.values());
        let shared = ["DomainResource", "Resource"]
            .into_iter()
            .filter_map(|b| self.by_type.get(b))
            .flat_map(|m| m.values());
        own.chain(shared)
    }
}
