//! The whole search request: criteria (AND of OR-lists) plus the result parameters `_sort`,
//! `_count`, `_total`, `_summary`, `_elements`, `_include` and `_revinclude`
//! (<https://hl7.org/fhir/R4/search.html#return>), and the canonical query string for the
//! Bundle's `self` and `next` links.

use std::sync::Arc;

use conformance::{Registry, SearchParamDef, SearchParamType};

use crate::filter::{parse_filter, Filter, Parsed};
use crate::text::percent_encode;
use crate::value::is_type_name;
use crate::SearchError;

/// Most criteria (parameters ANDed together, each chain and `_has` counting once) in one
/// search. Every criterion is a join or subquery, and Postgres has spent 31 s on 200 ANDed
/// `name=a`; directory searches use a handful.
pub const MAX_CRITERIA: usize = 32;

/// Most comma-separated values (alternatives) in one criterion, its chain or `_has` inner
/// criteria included. SQLite refuses an expression nested over 1,000 deep, and each
/// alternative is one more `OR`; 2,000 alternatives failed there.
pub const MAX_VALUES_PER_CRITERION: usize = 100;

/// Most values in one whole search, every criterion's alternatives added up: bounds the
/// statement's size and its bound values (SQLite takes at most 32,766).
pub const MAX_VALUES: usize = 1000;

/// Paging limits, configurable per deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchLimits {
    /// Page size when the request has no `_count`.
    pub default_count: u32,
    /// Largest page size served; a larger `_count` is lowered to it (the spec lets the server
    /// return fewer than asked).
    pub max_count: u32,
}

impl Default for SearchLimits {
    fn default() -> Self {
        SearchLimits {
            default_count: 50,
            max_count: 1000,
        }
    }
}

/// `_total` (<https://hl7.org/fhir/R4/search.html#total>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Total {
    None,
    Estimate,
    Accurate,
}

/// `_summary` (<https://hl7.org/fhir/R4/search.html#summary>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Summary {
    True,
    Text,
    Data,
    Count,
    False,
}

/// One `_include` or `_revinclude` (<https://hl7.org/fhir/R4/search.html#include>).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Include {
    /// The resource type holding the reference; `None` for a bare `*`.
    pub source_type: Option<String>,
    /// The reference parameter; `None` for `*` (every reference parameter of the source).
    #[serde(serialize_with = "ser_opt_url")]
    pub param: Option<Arc<SearchParamDef>>,
    /// Only follow references to this type.
    pub target_type: Option<String>,
    /// `:iterate` (or the STU3 spelling `:recurse`).
    pub iterate: bool,
}

fn ser_opt_url<S: serde::Serializer>(
    p: &Option<Arc<SearchParamDef>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => s.serialize_str(&p.url),
        None => s.serialize_none(),
    }
}

impl Include {
    fn render_value(&self) -> String {
        let mut out = match (&self.source_type, &self.param) {
            (None, _) => "*".to_owned(),
            (Some(t), None) => format!("{t}:*"),
            (Some(t), Some(p)) => format!("{t}:{}", p.code),
        };
        if let Some(t) = &self.target_type {
            out.push(':');
            out.push_str(t);
        }
        out
    }
}

/// One `_sort` key.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SortKey {
    #[serde(serialize_with = "ser_url")]
    pub param: Arc<SearchParamDef>,
    pub descending: bool,
}

fn ser_url<S: serde::Serializer>(p: &Arc<SearchParamDef>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.url)
}

/// One criterion: the name and value as given, and what they mean.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Criterion {
    pub name: String,
    pub value: String,
    pub filter: Filter,
}

/// A query parameter the server did not understand (or does not support), with the reason.
/// Lenient handling reports these in an OperationOutcome and leaves them out of the `self`
/// link; strict handling answers 400 (see [`SearchQuery::require_all_understood`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnknownParam {
    pub name: String,
    pub value: String,
    pub reason: String,
}

/// A parsed FHIR search (<https://hl7.org/fhir/R4/search.html>).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SearchQuery {
    pub resource_type: String,
    /// Every criterion must match (repeated parameters AND); within one, any value may match.
    pub criteria: Vec<Criterion>,
    pub sort: Vec<SortKey>,
    pub include: Vec<Include>,
    pub revinclude: Vec<Include>,
    /// Page size after applying [`SearchLimits`].
    pub count: u32,
    pub total: Option<Total>,
    pub summary: Option<Summary>,
    /// `_elements`, in the order given.
    pub elements: Vec<String>,
    pub unknown: Vec<UnknownParam>,
}

/// Parameters the server accepts and handles itself, outside the query (content negotiation).
const PASSED_THROUGH: &[&str] = &["_format", "_pretty"];

/// Standard parameters fhirdir does not implement; reported like unknown ones.
const NOT_SUPPORTED: &[&str] = &[
    "_contained",
    "_containedType",
    "_query",
    "_filter",
    "_list",
    "_score",
];

impl SearchQuery {
    /// Parses URL-decoded query pairs for a search on `resource_type`, with default limits.
    pub fn parse(
        resource_type: &str,
        pairs: &[(String, String)],
        registry: &Registry,
    ) -> Result<SearchQuery, SearchError> {
        Self::parse_with_limits(resource_type, pairs, registry, SearchLimits::default())
    }

    /// Like [`SearchQuery::parse`] with explicit paging limits.
    pub fn parse_with_limits(
        resource_type: &str,
        pairs: &[(String, String)],
        registry: &Registry,
        limits: SearchLimits,
    ) -> Result<SearchQuery, SearchError> {
        let mut q = SearchQuery {
            resource_type: resource_type.to_owned(),
            criteria: Vec::new(),
            sort: Vec::new(),
            include: Vec::new(),
            revinclude: Vec::new(),
            count: limits.default_count.min(limits.max_count),
            total: None,
            summary: None,
            elements: Vec::new(),
            unknown: Vec::new(),
        };
        let mut seen_once: Vec<&str> = Vec::new();
        for (name, value) in pairs {
            q.parse_pair(name, value, registry, limits, &mut seen_once)
                .map_err(|e| e.in_param(name))?;
        }
        q.check_size()?;
        Ok(q)
    }

    /// Refuses a search over [`MAX_CRITERIA`], [`MAX_VALUES_PER_CRITERION`] or [`MAX_VALUES`],
    /// the same on both backends, before any SQL is built.
    fn check_size(&self) -> Result<(), SearchError> {
        let too_complex = |reason: String| Err(SearchError::TooComplex { reason });
        if self.criteria.len() > MAX_CRITERIA {
            return too_complex(format!(
                "{} criteria; at most {MAX_CRITERIA} are accepted",
                self.criteria.len()
            ));
        }
        let mut total = 0;
        for c in &self.criteria {
            let n = c.filter.value_count();
            if n > MAX_VALUES_PER_CRITERION {
                return too_complex(format!(
                    "parameter `{}` has {n} values; at most {MAX_VALUES_PER_CRITERION} are accepted",
                    c.name
                ));
            }
            total += n;
        }
        if total > MAX_VALUES {
            return too_complex(format!(
                "{total} values in all; at most {MAX_VALUES} are accepted"
            ));
        }
        Ok(())
    }

    fn unknown(&mut self, name: &str, value: &str, reason: impl Into<String>) {
        self.unknown.push(UnknownParam {
            name: name.to_owned(),
            value: value.to_owned(),
            reason: reason.into(),
        });
    }

    fn parse_pair<'n>(
        &mut self,
        name: &'n str,
        value: &str,
        registry: &Registry,
        limits: SearchLimits,
        seen_once: &mut Vec<&'n str>,
    ) -> Result<(), SearchError> {
        let base = name.split(':').next().unwrap_or(name);
        if matches!(
            base,
            "_count" | "_total" | "_summary" | "_elements" | "_sort"
        ) {
            if seen_once.contains(&base) {
                return Err(SearchError::Repeated);
            }
            seen_once.push(base);
            if base != name {
                let modifier = &name[base.len() + 1..];
                return Err(SearchError::UnsupportedModifier {
                    modifier: modifier.to_owned(),
                    kind: base.to_owned(),
                });
            }
        }
        match base {
            "_count" => {
                let n: u32 = value.parse().map_err(|_| {
                    SearchError::value("_count", value, "expected a whole number 0 or more")
                })?;
                self.count = n.min(limits.max_count);
            }
            "_total" => {
                self.total = Some(match value {
                    "none" => Total::None,
                    "estimate" => Total::Estimate,
                    "accurate" => Total::Accurate,
                    _ => {
                        return Err(SearchError::value(
                            "_total",
                            value,
                            "expected none, estimate or accurate",
                        ))
                    }
                });
            }
            "_summary" => {
                self.summary = Some(match value {
                    "true" => Summary::True,
                    "text" => Summary::Text,
                    "data" => Summary::Data,
                    "count" => Summary::Count,
                    "false" => Summary::False,
                    _ => {
                        return Err(SearchError::value(
                            "_summary",
                            value,
                            "expected true, text, data, count or false",
                        ))
                    }
                });
            }
            "_elements" => {
                for element in value.split(',').map(str::trim) {
                    let ok = element.split('.').all(|part| {
                        part.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    });
                    if !ok {
                        return Err(SearchError::value(
                            "_elements",
                            value,
                            format!("`{element}` is not an element name"),
                        ));
                    }
                    self.elements.push(element.to_owned());
                }
            }
            "_sort" => self.parse_sort(value, registry)?,
            "_include" | "_revinclude" => {
                let iterate = match &name[base.len()..] {
                    "" => false,
                    ":iterate" | ":recurse" => true,
                    other => {
                        return Err(SearchError::UnsupportedModifier {
                            modifier: other.trim_start_matches(':').to_owned(),
                            kind: base.to_owned(),
                        })
                    }
                };
                let which = if base == "_include" {
                    "_include"
                } else {
                    "_revinclude"
                };
                if let Some(include) = self.parse_include(which, value, iterate, registry)? {
                    if base == "_include" {
                        self.include.push(include);
                    } else {
                        self.revinclude.push(include);
                    }
                }
            }
            _ if PASSED_THROUGH.contains(&base) => {}
            _ if NOT_SUPPORTED.contains(&base) => {
                self.unknown(name, value, format!("`{base}` is not supported"))
            }
            _ if value.is_empty() => self.unknown(name, value, "empty value ignored"),
            _ => match parse_filter(&self.resource_type, name, value, registry)? {
                Parsed::Filter(filter) => self.criteria.push(Criterion {
                    name: name.to_owned(),
                    value: value.to_owned(),
                    filter,
                }),
                Parsed::Unknown(reason) => self.unknown(name, value, reason),
            },
        }
        Ok(())
    }

    fn parse_sort(&mut self, value: &str, registry: &Registry) -> Result<(), SearchError> {
        for key in value.split(',') {
            let (descending, code) = match key.strip_prefix('-') {
                Some(c) => (true, c),
                None => (false, key),
            };
            if code.is_empty() {
                return Err(SearchError::value("_sort", value, "empty sort key"));
            }
            match registry.get(&self.resource_type, code) {
                Some(p)
                    if matches!(
                        p.kind,
                        SearchParamType::Composite | SearchParamType::Special
                    ) || crate::filter::is_text_search(p) =>
                {
                    let kind = if crate::filter::is_text_search(p) {
                        "free-text"
                    } else {
                        crate::filter::kind_name(p.kind)
                    };
                    self.unknown(
                        "_sort",
                        key,
                        format!("cannot sort by {kind} parameter `{code}`"),
                    );
                }
                Some(p) => self.sort.push(SortKey {
                    param: p.clone(),
                    descending,
                }),
                None => self.unknown(
                    "_sort",
                    key,
                    format!(
                        "unknown search parameter `{code}` on {}",
                        self.resource_type
                    ),
                ),
            }
        }
        Ok(())
    }

    fn parse_include(
        &mut self,
        which: &'static str,
        value: &str,
        iterate: bool,
        registry: &Registry,
    ) -> Result<Option<Include>, SearchError> {
        let syntax = || {
            SearchError::value(
                which,
                value,
                "expected *, Type:*, Type:parameter or Type:parameter:TargetType",
            )
        };
        let parts: Vec<&str> = value.split(':').collect();
        let (source, code, target) = match parts[..] {
            ["*"] => {
                return Ok(Some(Include {
                    source_type: None,
                    param: None,
                    target_type: None,
                    iterate,
                }))
            }
            [s, c] => (s, c, None),
            [s, c, t] => (s, c, Some(t)),
            _ => return Err(syntax()),
        };
        if !is_type_name(source) || code.is_empty() || target.is_some_and(|t| !is_type_name(t)) {
            return Err(syntax());
        }
        let param = if code == "*" {
            None
        } else {
            match registry.get(source, code) {
                None => {
                    self.unknown(
                        which,
                        value,
                        format!("unknown search parameter `{code}` on {source}"),
                    );
                    return Ok(None);
                }
                Some(p) if p.kind != SearchParamType::Reference => {
                    return Err(SearchError::value(
                        which,
                        value,
                        format!("`{source}.{code}` is not a reference parameter"),
                    ));
                }
                Some(p) => {
                    if let Some(t) = target {
                        if !p.target.is_empty()
                            && !p.target.iter().any(|x| x == t || x == "Resource")
                        {
                            return Err(SearchError::value(
                                which,
                                value,
                                format!(
                                    "`{source}.{code}` cannot refer to {t} (targets: {})",
                                    p.target.join(", ")
                                ),
                            ));
                        }
                    }
                    Some(p.clone())
                }
            }
        };
        Ok(Some(Include {
            source_type: Some(source.to_owned()),
            param,
            target_type: target.map(str::to_owned),
            iterate,
        }))
    }

    /// Under `Prefer: handling=strict`: an error naming every parameter that was not understood.
    pub fn require_all_understood(&self) -> Result<(), SearchError> {
        if self.unknown.is_empty() {
            return Ok(());
        }
        Err(SearchError::Unknown {
            names: self.unknown.iter().map(|u| u.name.clone()).collect(),
        })
    }

    /// The canonical, percent-encoded query string (without `?`) of everything understood:
    /// criteria in request order, then `_sort`, `_include`, `_revinclude`, `_total`, `_summary`,
    /// `_elements`, and always `_count`. Paging cursors are added by the caller.
    pub fn canonical_query(&self) -> String {
        let mut pairs: Vec<(String, String)> = self
            .criteria
            .iter()
            .map(|c| (c.name.clone(), c.value.clone()))
            .collect();
        if !self.sort.is_empty() {
            let keys: Vec<String> = self
                .sort
                .iter()
                .map(|k| format!("{}{}", if k.descending { "-" } else { "" }, k.param.code))
                .collect();
            pairs.push(("_sort".to_owned(), keys.join(",")));
        }
        for (name, list) in [
            ("_include", &self.include),
            ("_revinclude", &self.revinclude),
        ] {
            for inc in list {
                let name = if inc.iterate {
                    format!("{name}:iterate")
                } else {
                    name.to_owned()
                };
                pairs.push((name, inc.render_value()));
            }
        }
        if let Some(total) = self.total {
            let v = match total {
                Total::None => "none",
                Total::Estimate => "estimate",
                Total::Accurate => "accurate",
            };
            pairs.push(("_total".to_owned(), v.to_owned()));
        }
        if let Some(summary) = self.summary {
            let v = match summary {
                Summary::True => "true",
                Summary::Text => "text",
                Summary::Data => "data",
                Summary::Count => "count",
                Summary::False => "false",
            };
            pairs.push(("_summary".to_owned(), v.to_owned()));
        }
        if !self.elements.is_empty() {
            pairs.push(("_elements".to_owned(), self.elements.join(",")));
        }
        pairs.push(("_count".to_owned(), self.count.to_string()));
        pairs
            .iter()
            .map(|(n, v)| format!("{}={}", percent_encode(n), percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}
