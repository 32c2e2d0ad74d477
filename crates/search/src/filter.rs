//! One search criterion (`name=value`) parsed into a typed filter: modifiers, OR-ed values,
//! chains of any depth and (nested) `_has` (<https://hl7.org/fhir/R4/search.html>).
//!
//! Parameter names the registry does not know come back as [`Parsed::Unknown`] rather than an
//! error, so the caller can apply `Prefer: handling=lenient|strict`. Values that break the
//! grammar of a known parameter are always errors.

use std::sync::Arc;

use conformance::{Registry, SearchParamDef, SearchParamType};

use crate::date::{parse_date, DateValue};
use crate::hierarchy::{Direction, HierarchyRef};
use crate::text::{normalize_string, split_unescaped, unescape};
use crate::value::{
    is_type_name, Decimal, NearValue, OfTypeValue, Prefix, QuantityValue, ReferenceValue,
    TokenValue,
};
use crate::valueset::ValueSetRef;
use crate::SearchError;

/// A search modifier (<https://hl7.org/fhir/R4/search.html#modifiers>).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Modifier {
    Missing,
    Exact,
    Contains,
    Text,
    Not,
    Above,
    Below,
    In,
    NotIn,
    OfType,
    Identifier,
    /// `:[type]` on a reference parameter, e.g. `subject:Patient`.
    Type(String),
}

impl Modifier {
    fn parse(s: &str, kind: SearchParamType) -> Result<Modifier, SearchError> {
        use SearchParamType as T;
        let m = match s {
            "missing" => Modifier::Missing,
            "exact" => Modifier::Exact,
            "contains" => Modifier::Contains,
            "text" => Modifier::Text,
            "not" => Modifier::Not,
            "above" => Modifier::Above,
            "below" => Modifier::Below,
            "in" => Modifier::In,
            "not-in" => Modifier::NotIn,
            "of-type" => Modifier::OfType,
            "identifier" => Modifier::Identifier,
            t if is_type_name(t) => Modifier::Type(t.to_owned()),
            _ => return Err(unsupported(s, kind)),
        };
        let allowed = matches!(
            (&m, kind),
            (Modifier::Missing, _)
                | (Modifier::Exact | Modifier::Contains, T::String)
                | (
                    Modifier::Text
                        | Modifier::Not
                        | Modifier::In
                        | Modifier::NotIn
                        | Modifier::OfType,
                    T::Token
                )
                | (
                    Modifier::Above | Modifier::Below,
                    T::Token | T::Uri | T::Reference
                )
                | (Modifier::Identifier | Modifier::Type(_), T::Reference)
        );
        if allowed {
            Ok(m)
        } else {
            Err(unsupported(s, kind))
        }
    }

    /// The spelling after the colon.
    pub fn as_str(&self) -> &str {
        match self {
            Modifier::Missing => "missing",
            Modifier::Exact => "exact",
            Modifier::Contains => "contains",
            Modifier::Text => "text",
            Modifier::Not => "not",
            Modifier::Above => "above",
            Modifier::Below => "below",
            Modifier::In => "in",
            Modifier::NotIn => "not-in",
            Modifier::OfType => "of-type",
            Modifier::Identifier => "identifier",
            Modifier::Type(t) => t,
        }
    }
}

fn unsupported(modifier: &str, kind: SearchParamType) -> SearchError {
    SearchError::UnsupportedModifier {
        modifier: modifier.to_owned(),
        kind: kind_name(kind).to_owned(),
    }
}

/// The lowercase FHIR name of a parameter type.
pub fn kind_name(kind: SearchParamType) -> &'static str {
    match kind {
        SearchParamType::Number => "number",
        SearchParamType::Date => "date",
        SearchParamType::String => "string",
        SearchParamType::Token => "token",
        SearchParamType::Reference => "reference",
        SearchParamType::Composite => "composite",
        SearchParamType::Quantity => "quantity",
        SearchParamType::Uri => "uri",
        SearchParamType::Special => "special",
    }
}

/// One OR-alternative of a criterion, typed by the parameter and modifier.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum SearchValue {
    /// `:missing=true|false`.
    Missing(bool),
    /// A string value: as given (for `:exact`) and [`normalize_string`]ed (default, `:contains`).
    String {
        exact: String,
        normalized: String,
    },
    Token(TokenValue),
    /// `:of-type` on an Identifier token.
    OfType(OfTypeValue),
    /// Normalised free text: token `:text`, `_text`, `_content` (see [`is_text_search`]).
    Text(String),
    Reference(ReferenceValue),
    /// Reference `:identifier`.
    Identifier(TokenValue),
    Date {
        prefix: Prefix,
        value: DateValue,
    },
    Number {
        prefix: Prefix,
        value: Decimal,
    },
    Quantity(QuantityValue),
    /// A uri value.
    Uri(String),
    /// The ValueSet of token `:in` / `:not-in`; the store fills in its expansion.
    InValueSet(ValueSetRef),
    /// The `system|code` of token `:above` / `:below`; the store fills in its closure.
    Hierarchy(HierarchyRef),
    /// One value per component, in the definition's component order.
    Composite(Vec<SearchValue>),
    Near(NearValue),
}

/// A typed criterion on one resource type.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Filter {
    /// `param[:modifier]=v1,v2` — matches when any value matches.
    Param {
        #[serde(serialize_with = "ser_url")]
        param: Arc<SearchParamDef>,
        modifier: Option<Modifier>,
        values: Vec<SearchValue>,
    },
    /// `param[:Type].rest=…` — the resource's `param` references a resource of one of
    /// `targets` that matches that target's filter (any target may match).
    Chain {
        #[serde(serialize_with = "ser_url")]
        param: Arc<SearchParamDef>,
        targets: Vec<ChainTarget>,
    },
    /// `_has:Source:reference:rest=…` — some `Source` resource whose `reference` points at this
    /// resource matches `filter` (<https://hl7.org/fhir/R4/search.html#has>).
    Has {
        source_type: String,
        #[serde(serialize_with = "ser_url")]
        reference: Arc<SearchParamDef>,
        filter: Box<Filter>,
    },
}

impl Filter {
    /// The values this filter tests, its chain targets' and `_has` filters' included: the
    /// size that [`crate::query::MAX_VALUES_PER_CRITERION`] bounds.
    pub fn value_count(&self) -> usize {
        match self {
            Filter::Param { values, .. } => values.len(),
            Filter::Chain { targets, .. } => targets.iter().map(|t| t.filter.value_count()).sum(),
            Filter::Has { filter, .. } => filter.value_count(),
        }
    }
}

fn ser_url<S: serde::Serializer>(p: &Arc<SearchParamDef>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.url)
}

/// One candidate target type of a chain and the filter to apply to it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ChainTarget {
    pub resource_type: String,
    pub filter: Filter,
}

/// The result of parsing a criterion: a filter, or a reason the name is not understood.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Filter(Filter),
    Unknown(String),
}

/// How many chain links and `_has` levels one criterion may nest. The spec sets no limit, but
/// a reference whose targets are "any type" fans a chain out to every type defining the next
/// code, so an unbounded name would cost exponential work.
pub const MAX_NESTING: usize = 6;

/// Parses `name=value` as a criterion on `resource_type`.
pub fn parse_filter(
    resource_type: &str,
    name: &str,
    value: &str,
    registry: &Registry,
) -> Result<Parsed, SearchError> {
    parse_at(resource_type, name, value, registry, 0)
}

fn parse_at(
    resource_type: &str,
    name: &str,
    value: &str,
    registry: &Registry,
    depth: usize,
) -> Result<Parsed, SearchError> {
    if depth > MAX_NESTING {
        return Err(SearchError::name(format!(
            "chains and `_has` may nest at most {MAX_NESTING} levels"
        )));
    }
    if let Some(rest) = name.strip_prefix("_has:") {
        return parse_has(resource_type, rest, value, registry, depth);
    }
    let (head, chain) = match name.split_once('.') {
        Some((h, c)) => (h, Some(c)),
        None => (name, None),
    };
    let (code, modifier) = match head.split_once(':') {
        Some((c, m)) => (c, Some(m)),
        None => (head, None),
    };
    let Some(param) = registry.get(resource_type, code) else {
        return Ok(Parsed::Unknown(format!(
            "unknown search parameter `{code}` on {resource_type}"
        )));
    };
    match chain {
        Some(rest) => parse_chain(param, modifier, rest, value, registry, depth),
        None => parse_leaf(param, modifier, value, registry),
    }
}

fn parse_has(
    resource_type: &str,
    rest: &str,
    value: &str,
    registry: &Registry,
    depth: usize,
) -> Result<Parsed, SearchError> {
    let mut parts = rest.splitn(3, ':');
    let (Some(source), Some(reference), Some(inner)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(SearchError::name(format!(
            "`_has:{rest}` must be `_has:Type:reference:parameter`"
        )));
    };
    if !is_type_name(source) || inner.is_empty() {
        return Err(SearchError::name(format!(
            "`_has:{rest}` must be `_has:Type:reference:parameter`"
        )));
    }
    let Some(ref_param) = registry.get(source, reference) else {
        return Ok(Parsed::Unknown(format!(
            "unknown search parameter `{reference}` on {source}"
        )));
    };
    if ref_param.kind != SearchParamType::Reference {
        return Err(SearchError::name(format!(
            "`{source}.{reference}` in `_has` is not a reference parameter"
        )));
    }
    if !targets_allow(ref_param, resource_type) {
        return Err(SearchError::name(format!(
            "`{source}.{reference}` in `_has` cannot refer to {resource_type} (targets: {})",
            ref_param.target.join(", ")
        )));
    }
    Ok(match parse_at(source, inner, value, registry, depth + 1)? {
        Parsed::Filter(f) => Parsed::Filter(Filter::Has {
            source_type: source.to_owned(),
            reference: ref_param.clone(),
            filter: Box::new(f),
        }),
        unknown @ Parsed::Unknown(_) => unknown,
    })
}

/// A reference parameter without targets, or one targeting `Resource`, may point anywhere.
fn targets_allow(param: &SearchParamDef, resource_type: &str) -> bool {
    param.target.is_empty()
        || param
            .target
            .iter()
            .any(|t| t == resource_type || t == "Resource")
}

fn parse_chain(
    param: &Arc<SearchParamDef>,
    modifier: Option<&str>,
    rest: &str,
    value: &str,
    registry: &Registry,
    depth: usize,
) -> Result<Parsed, SearchError> {
    if param.kind != SearchParamType::Reference {
        return Err(SearchError::name(format!(
            "`{}` is a {} parameter and cannot be chained",
            param.code,
            kind_name(param.kind)
        )));
    }
    let candidates: Vec<String> = match modifier {
        Some(t) if is_type_name(t) => {
            if !targets_allow(param, t) {
                return Err(SearchError::name(format!(
                    "`{}` cannot refer to {t} (targets: {})",
                    param.code,
                    param.target.join(", ")
                )));
            }
            vec![t.to_owned()]
        }
        Some(m) => {
            return Err(SearchError::name(format!(
                "only a resource type modifier may precede a chain, found `:{m}` on `{}`",
                param.code
            )))
        }
        None if param.target.is_empty() || param.target.iter().any(|t| t == "Resource") => {
            registry.resource_types().map(str::to_owned).collect()
        }
        None => param.target.clone(),
    };
    let next_code = rest.split(['.', ':']).next().unwrap_or_default();
    let mut targets = Vec::new();
    let mut unknown = None;
    for candidate in candidates {
        if !next_code.starts_with("_has") && registry.get(&candidate, next_code).is_none() {
            continue;
        }
        match parse_at(&candidate, rest, value, registry, depth + 1)? {
            Parsed::Filter(filter) => targets.push(ChainTarget {
                resource_type: candidate,
                filter,
            }),
            Parsed::Unknown(reason) => unknown = Some(reason),
        }
    }
    if targets.is_empty() {
        return Ok(Parsed::Unknown(unknown.unwrap_or_else(|| {
            format!(
                "chained parameter `{next_code}` is not defined on any target of `{}` ({})",
                param.code,
                modifier.map_or_else(|| param.target.join(", "), str::to_owned)
            )
        })));
    }
    Ok(Parsed::Filter(Filter::Chain {
        param: param.clone(),
        targets,
    }))
}

fn parse_leaf(
    param: &Arc<SearchParamDef>,
    modifier: Option<&str>,
    value: &str,
    registry: &Registry,
) -> Result<Parsed, SearchError> {
    if is_text_search(param) {
        if let Some(m) = modifier {
            return Err(SearchError::UnsupportedModifier {
                modifier: m.to_owned(),
                kind: param.code.clone(),
            });
        }
        let values = split_unescaped(value, ',')
            .into_iter()
            .map(|alt| {
                let text = non_empty_text("text", alt)?;
                if text.split_whitespace().count() > MAX_TEXT_TERMS
                    || text.chars().count() > MAX_TEXT_CHARS
                {
                    return Err(SearchError::value(
                        "text",
                        &text,
                        format!(
                            "at most {MAX_TEXT_TERMS} words and {MAX_TEXT_CHARS} characters per value"
                        ),
                    ));
                }
                Ok(SearchValue::Text(text))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if values.len() > MAX_TEXT_TERMS {
            return Err(SearchError::value(
                "text",
                value,
                format!("at most {MAX_TEXT_TERMS} comma-separated values"),
            ));
        }
        return Ok(Parsed::Filter(Filter::Param {
            param: param.clone(),
            modifier: None,
            values,
        }));
    }
    let modifier = modifier
        .map(|m| Modifier::parse(m, param.kind))
        .transpose()?;
    if let Some(Modifier::Type(t)) = &modifier {
        if !targets_allow(param, t) {
            return Err(SearchError::name(format!(
                "`{}` cannot refer to {t} (targets: {})",
                param.code,
                param.target.join(", ")
            )));
        }
    }
    if modifier.is_none() || modifier != Some(Modifier::Missing) {
        if param.kind == SearchParamType::Special
            && !matches!(param.code.as_str(), "near" | "_text" | "_content")
        {
            return Ok(Parsed::Unknown(format!(
                "special parameter `{}` is not supported",
                param.code
            )));
        }
        if param.kind == SearchParamType::Composite && composite_parts(param, registry).is_none() {
            return Ok(Parsed::Unknown(format!(
                "composite parameter `{}` has components the server does not define",
                param.code
            )));
        }
    }
    let values = split_unescaped(value, ',')
        .into_iter()
        .map(|alt| parse_value(param, modifier.as_ref(), alt, registry))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Parsed::Filter(Filter::Param {
        param: param.clone(),
        modifier,
        values,
    }))
}

/// The most words one `_text` / `_content` value may hold (each is a scan of the resource
/// body), and the most comma-separated values.
pub const MAX_TEXT_TERMS: usize = 16;

/// The longest `_text` / `_content` value, in characters after normalisation.
pub const MAX_TEXT_CHARS: usize = 256;

/// Whether `param` is `_text` (the narrative) or `_content` (the whole resource): free-text
/// searches the store answers from the resource body, whatever type the definition declares
/// (R4 declares both `string`, without an expression). Their values are
/// [`SearchValue::Text`]; they take no modifiers.
pub fn is_text_search(param: &SearchParamDef) -> bool {
    matches!(param.code.as_str(), "_text" | "_content") && param.expression.is_none()
}

fn composite_parts<'a>(
    param: &SearchParamDef,
    registry: &'a Registry,
) -> Option<Vec<&'a Arc<SearchParamDef>>> {
    if param.component.is_empty() {
        return None;
    }
    param
        .component
        .iter()
        .map(|c| registry.by_url(&c.definition))
        .collect()
}

/// Parses one escaped OR-alternative.
fn parse_value(
    param: &SearchParamDef,
    modifier: Option<&Modifier>,
    raw: &str,
    registry: &Registry,
) -> Result<SearchValue, SearchError> {
    use SearchParamType as T;
    if modifier == Some(&Modifier::Missing) {
        return match raw {
            "true" => Ok(SearchValue::Missing(true)),
            "false" => Ok(SearchValue::Missing(false)),
            _ => Err(SearchError::value(
                ":missing flag",
                raw,
                "expected true or false",
            )),
        };
    }
    let kind = kind_name(param.kind);
    Ok(match param.kind {
        T::Number => {
            let v = unescape(raw)?;
            let (prefix, rest) = Prefix::split(kind, &v)?;
            SearchValue::Number {
                prefix,
                value: Decimal::parse(kind, rest)?,
            }
        }
        T::Date => {
            let v = unescape(raw)?;
            let (prefix, rest) = Prefix::split(kind, &v)?;
            SearchValue::Date {
                prefix,
                value: parse_date(rest)?,
            }
        }
        T::String => {
            let v = unescape(raw)?;
            if v.trim().is_empty() {
                return Err(SearchError::value(kind, &v, "empty string"));
            }
            if crate::phonetic::is_phonetic(param) {
                let code = crate::phonetic::soundex(&v).ok_or_else(|| {
                    SearchError::value(
                        "phonetic name",
                        &v,
                        "has no Latin letter to match by sound (Soundex)",
                    )
                })?;
                return Ok(SearchValue::String {
                    normalized: code.clone(),
                    exact: code,
                });
            }
            SearchValue::String {
                normalized: normalize_string(&v),
                exact: v,
            }
        }
        T::Token => match modifier {
            Some(Modifier::Text) => SearchValue::Text(non_empty_text(kind, raw)?),
            Some(Modifier::OfType) => SearchValue::OfType(OfTypeValue::parse(raw)?),
            Some(Modifier::In | Modifier::NotIn) => {
                SearchValue::InValueSet(ValueSetRef::parse(&non_empty(kind, raw)?)?)
            }
            Some(Modifier::Above) => {
                SearchValue::Hierarchy(HierarchyRef::parse(raw, Direction::Above)?)
            }
            Some(Modifier::Below) => {
                SearchValue::Hierarchy(HierarchyRef::parse(raw, Direction::Below)?)
            }
            _ => SearchValue::Token(TokenValue::parse(raw)?),
        },
        T::Reference => match modifier {
            Some(Modifier::Identifier) => SearchValue::Identifier(TokenValue::parse(raw)?),
            Some(Modifier::Type(t)) => {
                SearchValue::Reference(ReferenceValue::parse(&unescape(raw)?, Some(t))?)
            }
            _ => SearchValue::Reference(ReferenceValue::parse(&unescape(raw)?, None)?),
        },
        T::Quantity => SearchValue::Quantity(QuantityValue::parse(raw)?),
        T::Uri => SearchValue::Uri(non_empty(kind, raw)?),
        T::Composite => {
            let defs = composite_parts(param, registry).unwrap_or_default();
            let parts = split_unescaped(raw, '$');
            if parts.len() != defs.len() {
                return Err(SearchError::value(
                    kind,
                    &unescape(raw)?,
                    format!(
                        "expected {} `$`-separated components, found {}",
                        defs.len(),
                        parts.len()
                    ),
                ));
            }
            let values = defs
                .iter()
                .zip(parts)
                .map(|(def, part)| parse_value(def, None, part, registry))
                .collect::<Result<Vec<_>, _>>()?;
            SearchValue::Composite(values)
        }
        T::Special => match param.code.as_str() {
            "near" => SearchValue::Near(NearValue::parse(&unescape(raw)?)?),
            _ => SearchValue::Text(non_empty_text(kind, raw)?),
        },
    })
}

fn non_empty(kind: &'static str, raw: &str) -> Result<String, SearchError> {
    let v = unescape(raw)?;
    if v.is_empty() {
        return Err(SearchError::value(kind, &v, "empty value"));
    }
    Ok(v)
}

fn non_empty_text(kind: &'static str, raw: &str) -> Result<String, SearchError> {
    let v = normalize_string(&unescape(raw)?);
    if v.is_empty() {
        return Err(SearchError::value(kind, raw, "empty text"));
    }
    Ok(v)
}
