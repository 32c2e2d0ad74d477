//! Search parameter definitions (<https://hl7.org/fhir/R4/searchparameter.html>) and the
//! per-tenant registry that answers "which parameter is `code` on resource type `T`".

use std::collections::BTreeMap;
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
    by_type: BTreeMap<String, BTreeMap<String, Arc<SearchParamDef>>>,
    by_url: BTreeMap<String, Arc<SearchParamDef>>,
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
        self.by_url.insert(param.url.clone(), param.clone());
        for base in &param.base {
            self.by_type
                .entry(base.clone())
                .or_default()
                .insert(param.code.clone(), param.clone());
        }
    }

    /// A copy of this registry with `params` inserted after its own (so they win over a
    /// definition with the same base and code).
    pub fn extended<'a>(&self, params: impl IntoIterator<Item = &'a SearchParamDef>) -> Registry {
        let mut registry = self.clone();
        for p in params {
            registry.insert(p.clone());
        }
        registry
    }

    /// The parameter `code` on `resource_type`, including the `Resource`-level ones.
    pub fn get(&self, resource_type: &str, code: &str) -> Option<&Arc<SearchParamDef>> {
        self.by_type
            .get(resource_type)
            .and_then(|m| m.get(code))
            .or_else(|| self.by_type.get("DomainResource").and_then(|m| m.get(code)))
            .or_else(|| self.by_type.get("Resource").and_then(|m| m.get(code)))
    }

    /// Every parameter that applies to `resource_type`, the `Resource`-level ones included,
    /// ordered by code within each level (deterministic, for CapabilityStatements). A
    /// type-level parameter hides a `Resource`-level one with the same code, as in [`get`].
    ///
    /// [`get`]: Registry::get
    pub fn for_type<'a>(
        &'a self,
        resource_type: &str,
    ) -> impl Iterator<Item = &'a Arc<SearchParamDef>> + 'a {
        let own = self.by_type.get(resource_type);
        let domain = self.by_type.get("DomainResource");
        let own_params = own.into_iter().flat_map(|m| m.values());
        let domain_params = domain
            .into_iter()
            .flat_map(|m| m.values())
            .filter(move |p| !own.is_some_and(|m| m.contains_key(&p.code)));
        let resource_params = self
            .by_type
            .get("Resource")
            .into_iter()
            .flat_map(|m| m.values())
            .filter(move |p| {
                !own.is_some_and(|m| m.contains_key(&p.code))
                    && !domain.is_some_and(|m| m.contains_key(&p.code))
            });
        own_params.chain(domain_params).chain(resource_params)
    }

    /// The parameter with canonical URL `url` (composite components refer to theirs by URL).
    /// When several inserted parameters share a URL, the last one wins.
    pub fn by_url(&self, url: &str) -> Option<&Arc<SearchParamDef>> {
        self.by_url.get(url)
    }

    /// Resource types with at least one parameter of their own, in name order.
    pub fn resource_types(&self) -> impl Iterator<Item = &str> + '_ {
        self.by_type
            .keys()
            .map(String::as_str)
            .filter(|t| *t != "Resource" && *t != "DomainResource")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(url: &str, code: &str, base: &[&str]) -> SearchParamDef {
        SearchParamDef {
            url: url.to_owned(),
            code: code.to_owned(),
            base: base.iter().map(|b| (*b).to_owned()).collect(),
            kind: SearchParamType::Token,
            expression: None,
            target: Vec::new(),
            modifier: Vec::new(),
            chain: Vec::new(),
            component: Vec::new(),
        }
    }

    #[test]
    fn later_inserts_win_and_type_level_hides_resource_level() {
        let registry = Registry::new([
            def("u:res-id", "_id", &["Resource"]),
            def("u:text", "_text", &["DomainResource"]),
            def("u:a1", "a", &["Organization", "Location"]),
            def("u:a2", "a", &["Organization"]),
            def("u:org-id", "_id", &["Organization"]),
        ]);
        let url = |t: &str, c: &str| registry.get(t, c).map(|p| p.url.clone());
        assert_eq!(url("Organization", "a").as_deref(), Some("u:a2"));
        assert_eq!(url("Location", "a").as_deref(), Some("u:a1"));
        assert_eq!(url("Location", "_id").as_deref(), Some("u:res-id"));
        assert_eq!(url("Location", "_text").as_deref(), Some("u:text"));
        assert_eq!(url("Organization", "_id").as_deref(), Some("u:org-id"));
        assert_eq!(url("Location", "nosuch"), None);

        let codes: Vec<(String, String)> = registry
            .for_type("Organization")
            .map(|p| (p.code.clone(), p.url.clone()))
            .collect();
        let want = [("_id", "u:org-id"), ("a", "u:a2"), ("_text", "u:text")];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(c, u)| ((*c).to_owned(), (*u).to_owned()))
            .collect();
        assert_eq!(codes, want);

        assert_eq!(registry.by_url("u:a1").map(|p| p.code.as_str()), Some("a"));
        let types: Vec<&str> = registry.resource_types().collect();
        assert_eq!(types, ["Location", "Organization"]);
    }
}
