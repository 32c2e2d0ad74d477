//! Element paths: which elements of a resource a rule restricts, from the resource root, and the
//! reading of NDH `base-ext-restrictFhirPath` expressions into them.
//!
//! NDH STU1 gives the expression as FHIRPath (`Location.address`, `HealthcareService.telecom`,
//! `Practitioner.address.where(use='home')`) and, in its stand-alone Restriction example, as
//! `Practitioner?address.use=home`: the `address` entries whose `use` is `home`. Those forms are
//! read; any other expression is [`Parsed::Unsupported`], and its Restriction then covers the
//! whole resource (fail closed: what cannot be read cannot be shown).

use std::fmt;

use serde::{Deserialize, Serialize};

/// An element of a resource, from its root: steps of element names, each optionally narrowed
/// to one entry of an array (an extension on that entry restricted it) or to the entries whose
/// child `sub` equals a value. `address.where(use='home')` is one step `address` with the
/// filter `use` = `home`; an extension on the second `telecom` gives one step `telecom[1]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ElementPath {
    steps: Vec<Step>,
}

/// One step of an [`ElementPath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Step {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    index: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    filter: Option<(String, String)>,
}

impl Step {
    pub(crate) fn named(name: &str) -> Self {
        Step {
            name: name.to_owned(),
            index: None,
            filter: None,
        }
    }

    pub(crate) fn entry(name: &str, index: usize) -> Self {
        Step {
            index: Some(index),
            ..Step::named(name)
        }
    }

    /// The element name (as in JSON: `address`, `telecom`, `extension`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Only this entry of the element's array.
    pub fn index(&self) -> Option<usize> {
        self.index
    }

    /// Only the entries whose child `sub` equals `value`: `(sub, value)`.
    pub fn filter(&self) -> Option<(&str, &str)> {
        self.filter.as_ref().map(|(s, v)| (s.as_str(), v.as_str()))
    }

    /// Whether `value` (one entry of this element) passes the step's filter. A child that is an
    /// array matches when any of its entries equals the value: more hidden, never less.
    pub(crate) fn admits(&self, value: &serde_json::Value) -> bool {
        let Some((sub, wanted)) = self.filter() else {
            return true;
        };
        let scalar_is = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s == wanted,
            serde_json::Value::Bool(b) => b.to_string() == wanted,
            serde_json::Value::Number(n) => n.to_string() == wanted,
            _ => false,
        };
        match value.get(sub) {
            Some(serde_json::Value::Array(items)) => items.iter().any(scalar_is),
            Some(v) => scalar_is(v),
            None => false,
        }
    }
}

impl ElementPath {
    pub(crate) fn new(steps: Vec<Step>) -> Self {
        debug_assert!(!steps.is_empty(), "an element path names an element");
        ElementPath { steps }
    }

    /// The top-level element (`address` for `address.where(use='home')`): the search indexer
    /// compares it with the first step of a search parameter's expression.
    pub fn root_element(&self) -> &str {
        self.steps.first().map_or("", |s| s.name.as_str())
    }

    /// The top-level step's filter, `(sub, value)`: `("use", "home")` for
    /// `address.where(use='home')`.
    pub fn filter(&self) -> Option<(&str, &str)> {
        self.steps.first().and_then(Step::filter)
    }

    /// The top-level step's entry, when an extension on one entry restricted it.
    pub fn index(&self) -> Option<usize> {
        self.steps.first().and_then(Step::index)
    }

    /// Whether every value of [`root_element`](Self::root_element) is hidden: one step, no
    /// filter, no index.
    pub fn is_entire_root_element(&self) -> bool {
        matches!(self.steps.as_slice(), [s] if s.index.is_none() && s.filter.is_none())
    }

    /// All steps, top-level first.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }
}

/// FHIRPath-like: `address`, `telecom[1]`, `address.where(use='home')`, `qualification.code`.
impl fmt::Display for ElementPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(&step.name)?;
            if let Some(index) = step.index {
                write!(f, "[{index}]")?;
            }
            if let Some((sub, value)) = step.filter() {
                write!(f, ".where({sub}='{value}')")?;
            }
        }
        Ok(())
    }
}

/// What a `restrictFhirPath` expression names in a resource of a given type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// The resource itself (`Practitioner`).
    Whole,
    /// Elements of it.
    Element(ElementPath),
    /// Elements of another resource type: a stored Restriction may serve several types.
    OtherType,
    /// Not one of the supported forms.
    Unsupported,
}

/// Root elements no expression may name: removing them would break the resource (`id`,
/// `meta`) or the Restrictions it carries (`contained`).
const UNRESTRICTABLE: &[&str] = &["resourceType", "id", "meta", "contained"];

/// Whether [`crate::redact`] can take the element at `steps` out: not the resource's identity
/// (`resourceType`, `id`, `meta`), and within `contained` only one entry (not a Restriction; the
/// caller has checked).
pub(crate) fn is_removable(steps: &[Step]) -> bool {
    match steps.first() {
        None => false,
        Some(first) if first.name == "contained" => first.index.is_some(),
        Some(first) => !UNRESTRICTABLE.contains(&first.name.as_str()),
    }
}

/// Reads a `restrictFhirPath` expression for a resource of type `resource_type`.
pub(crate) fn parse(expression: &str, resource_type: &str) -> Parsed {
    let text = expression.trim();
    let (head, rest) = split_identifier(text);
    if head.is_empty() {
        return Parsed::Unsupported;
    }
    let parsed = if head.starts_with(|c: char| c.is_ascii_uppercase()) {
        if head != resource_type {
            // Checked after the rest parses, so an unreadable expression for another type still
            // fails closed.
            return match parse_rest(rest) {
                Some(_) => Parsed::OtherType,
                None => Parsed::Unsupported,
            };
        }
        parse_rest(rest)
    } else {
        // FHIRPath evaluated on the resource may omit the type: `address.where(use='home')`.
        parse_rest(&format!(".{text}"))
    };
    match parsed {
        None => Parsed::Unsupported,
        Some(steps) if steps.is_empty() => Parsed::Whole,
        Some(steps) if UNRESTRICTABLE.contains(&steps[0].name.as_str()) => Parsed::Unsupported,
        Some(steps) => Parsed::Element(ElementPath::new(steps)),
    }
}

/// After the type: empty, `?path.sub=value` (NDH example form), or `.name` steps with
/// `.where(sub='value')` narrowing the step before.
fn parse_rest(rest: &str) -> Option<Vec<Step>> {
    if let Some(query) = rest.strip_prefix('?') {
        return parse_query_form(query);
    }
    let mut steps: Vec<Step> = Vec::new();
    let mut rest = rest;
    while !rest.is_empty() {
        rest = rest.strip_prefix('.')?;
        let (name, after) = split_identifier(rest);
        if name.is_empty() {
            return None;
        }
        if name == "where" {
            let (filter, after) = parse_where(after)?;
            let last = steps.last_mut()?;
            if last.filter.is_some() {
                return None;
            }
            last.filter = Some(filter);
            rest = after;
        } else {
            if after.starts_with('(') {
                // Any other function: not a supported form.
                return None;
            }
            steps.push(Step::named(name));
            rest = after;
        }
    }
    Some(steps)
}

/// `address.use=home`: the `address` entries whose `use` is `home`. The value may be quoted.
fn parse_query_form(query: &str) -> Option<Vec<Step>> {
    let (path, value) = query.split_once('=')?;
    let value = unquote(value.trim())?;
    let names: Vec<&str> = path.trim().split('.').collect();
    let (sub, path) = names.split_last()?;
    if path.is_empty() || !names.iter().all(|n| is_identifier(n)) {
        return None;
    }
    let mut steps: Vec<Step> = path.iter().map(|n| Step::named(n)).collect();
    if let Some(last) = steps.last_mut() {
        last.filter = Some(((*sub).to_owned(), value));
    }
    Some(steps)
}

/// `(sub = 'value')` and what follows the closing parenthesis.
fn parse_where(text: &str) -> Option<((String, String), &str)> {
    let inner = text.strip_prefix('(')?;
    let close = inner.find(')')?;
    let (condition, after) = (&inner[..close], &inner[close + 1..]);
    let (sub, value) = condition.split_once('=')?;
    let sub = sub.trim();
    if !is_identifier(sub) {
        return None;
    }
    let value = value.trim();
    // FHIRPath strings are quoted; a bare word here would be a path, not a value.
    if !(value.starts_with('\'') || value.starts_with('"')) {
        return None;
    }
    Some(((sub.to_owned(), unquote(value)?), after))
}

/// A value without its quotes (single or double); no escapes, no empty values.
fn unquote(value: &str) -> Option<String> {
    let inner = ['\'', '"']
        .iter()
        .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
        .unwrap_or(value);
    // Characters that would make the value an expression, or a query of several conditions.
    let plain = !inner.is_empty()
        && !inner.contains(['\'', '"', '\\', '(', ')', '&', '=', '|', ','])
        && inner.trim() == inner;
    plain.then(|| inner.to_owned())
}

/// The leading identifier of `text` and what follows it.
fn split_identifier(text: &str) -> (&str, &str) {
    let end = text
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && (c.is_ascii_digit() || c == '_'))))
        .map_or(text.len(), |(i, _)| i);
    text.split_at(end)
}

fn is_identifier(text: &str) -> bool {
    let (identifier, rest) = split_identifier(text);
    !identifier.is_empty() && rest.is_empty()
}
