//! Index entries: what the store saves per (resource, search parameter), and the pure
//! conversion from the FHIR JSON values a parameter's expression selects to those entries
//! (<https://hl7.org/fhir/R4/search.html#ptypes> lists which datatypes each type indexes).
//!
//! Values that cannot be read (a malformed date, a reference to a contained resource) produce
//! no entry rather than an error: validation is another layer's job, and a resource must stay
//! storable.

use chrono::{DateTime, Utc};
use conformance::SearchParamType;
use serde_json::{Map, Value};

use crate::date::{parse_date, DateRange};
use crate::text::normalize_string;
use crate::value::{Decimal, ReferenceValue};

/// One indexed value of one search parameter.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum IndexValue {
    /// `normalized` by [`normalize_string`] for default and `:contains` search; `exact` as written.
    String {
        normalized: String,
        exact: String,
    },
    /// `display` is the [`normalize_string`]ed text `:text` searches (Coding.display,
    /// CodeableConcept.text, Identifier.type.text).
    Token {
        system: Option<String>,
        code: Option<String>,
        display: Option<String>,
    },
    /// An Identifier's type coding with its value, for `:of-type`.
    IdentifierOfType {
        type_system: Option<String>,
        type_code: String,
        value: String,
    },
    /// A literal reference (`target_type`/`target_id`, or `url` when absolute or canonical)
    /// and/or a logical one (`identifier_*`, for `:identifier`).
    Reference {
        target_type: Option<String>,
        target_id: Option<String>,
        version: Option<String>,
        url: Option<String>,
        identifier_system: Option<String>,
        identifier_value: Option<String>,
    },
    /// `[low, high)`; open Period ends use [`DateRange::min_bound`] / [`DateRange::max_bound`].
    Date {
        low: DateTime<Utc>,
        high: DateTime<Utc>,
    },
    /// `value` with its implicit precision range `[low, high)`.
    Number {
        value: f64,
        low: f64,
        high: f64,
    },
    /// A Quantity, Money (system `urn:iso:std:iso:4217`) or Range (low/high are its bounds,
    /// `value` is `None`).
    Quantity {
        system: Option<String>,
        code: Option<String>,
        unit: Option<String>,
        value: Option<f64>,
        low: f64,
        high: f64,
    },
    Uri(String),
    /// `Location.position`, for `near`.
    Geo {
        lat: f64,
        lon: f64,
    },
}

/// Converts one node selected by a parameter's expression into index entries. `type_hint` is
/// the node's FHIR type when known (`HumanName`, `dateTime`, …, as FHIRPath reports it);
/// without it the type is inferred from the JSON shape. Arrays are flattened; an Extension is
/// replaced by its `value[x]` (some IG expressions stop at the extension).
pub fn index_values(
    kind: SearchParamType,
    node: &Value,
    type_hint: Option<&str>,
) -> Vec<IndexValue> {
    let mut out = Vec::new();
    collect(kind, node, type_hint, &mut out);
    out
}

fn collect(
    kind: SearchParamType,
    node: &Value,
    type_hint: Option<&str>,
    out: &mut Vec<IndexValue>,
) {
    if let Value::Array(items) = node {
        for item in items {
            collect(kind, item, type_hint, out);
        }
        return;
    }
    if let Value::Object(obj) = node {
        if type_hint.is_none() || type_hint == Some("Extension") {
            if let Some((key, value)) = obj
                .iter()
                .find(|(k, _)| k.starts_with("value") && k.len() > 5)
            {
                if obj.contains_key("url") {
                    let ty = &key[5..];
                    // valueString -> string, valueCodeableConcept -> CodeableConcept.
                    let hint = if PRIMITIVES.contains(&ty) {
                        ty.to_ascii_lowercase()
                    } else {
                        ty.to_owned()
                    };
                    let hint = match hint.as_str() {
                        "datetime" => "dateTime".to_owned(),
                        "unsignedint" => "unsignedInt".to_owned(),
                        "positiveint" => "positiveInt".to_owned(),
                        _ => hint,
                    };
                    collect(kind, value, Some(&hint), out);
                    return;
                }
            }
        }
    }
    let ty = type_hint.map_or_else(|| infer_type(node), str::to_owned);
    match kind {
        SearchParamType::String => string_entries(node, &ty, out),
        SearchParamType::Token => token_entries(node, &ty, out),
        SearchParamType::Reference => reference_entries(node, out),
        SearchParamType::Date => date_entries(node, &ty, out),
        SearchParamType::Number => {
            if let Some(d) = number(node) {
                out.push(IndexValue::Number {
                    value: d.value,
                    low: d.low,
                    high: d.high,
                });
            }
        }
        SearchParamType::Quantity => quantity_entries(node, &ty, out),
        SearchParamType::Uri => {
            if let Some(s) = node.as_str() {
                out.push(IndexValue::Uri(s.to_owned()));
            }
        }
        SearchParamType::Special => {
            if let (Some(lat), Some(lon)) = (
                node.get("latitude").and_then(Value::as_f64),
                node.get("longitude").and_then(Value::as_f64),
            ) {
                out.push(IndexValue::Geo { lat, lon });
            }
        }
        // Composite entries pair component values of one node; they need the components'
        // FHIRPath, so the extractor builds them, not this function.
        SearchParamType::Composite => {}
    }
}

const PRIMITIVES: &[&str] = &[
    "String",
    "Code",
    "Id",
    "Uri",
    "Url",
    "Canonical",
    "Oid",
    "Uuid",
    "Markdown",
    "Boolean",
    "Integer",
    "Decimal",
    "Date",
    "DateTime",
    "Instant",
    "Time",
    "UnsignedInt",
    "PositiveInt",
    "Base64Binary",
];

const CONTACT_SYSTEMS: &[&str] = &["phone", "fax", "email", "pager", "url", "sms", "other"];

/// Guesses a node's FHIR type from its JSON shape (used when FHIRPath gave no type).
fn infer_type(node: &Value) -> String {
    let Value::Object(o) = node else {
        return match node {
            Value::Bool(_) => "boolean",
            Value::Number(_) => "decimal",
            _ => "string",
        }
        .to_owned();
    };
    let has = |k: &str| o.contains_key(k);
    let t = if has("coding") || (has("text") && o.len() == 1) {
        "CodeableConcept"
    } else if has("latitude") && has("longitude") {
        "LocationPosition"
    } else if has("family") || has("given") || has("prefix") || has("suffix") {
        "HumanName"
    } else if ["line", "city", "district", "state", "postalCode", "country"]
        .iter()
        .any(|k| has(k))
    {
        "Address"
    } else if has("reference")
        || (has("identifier") && !has("value"))
        || (has("display") && !has("code"))
    {
        "Reference"
    } else if has("start") || has("end") {
        "Period"
    } else if has("event") || has("repeat") {
        "Timing"
    } else if has("low") || has("high") {
        "Range"
    } else if has("currency") {
        "Money"
    } else if has("value")
        && (has("unit")
            || has("comparator")
            || (has("code") && o.get("value").is_some_and(Value::is_number)))
    {
        "Quantity"
    } else if has("value")
        && o.get("system")
            .and_then(Value::as_str)
            .is_some_and(|s| CONTACT_SYSTEMS.contains(&s))
    {
        "ContactPoint"
    } else if has("value") {
        "Identifier"
    } else if has("code") || has("system") {
        "Coding"
    } else {
        "Element"
    };
    t.to_owned()
}

fn str_field(o: &Map<String, Value>, key: &str) -> Option<String> {
    o.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn push_string(s: &str, out: &mut Vec<IndexValue>) {
    if !s.trim().is_empty() {
        out.push(IndexValue::String {
            normalized: normalize_string(s),
            exact: s.to_owned(),
        });
    }
}

fn string_entries(node: &Value, ty: &str, out: &mut Vec<IndexValue>) {
    let fields: &[&str] = match ty {
        "HumanName" => &["text", "family", "given", "prefix", "suffix"],
        "Address" => &[
            "text",
            "line",
            "city",
            "district",
            "state",
            "postalCode",
            "country",
        ],
        "CodeableConcept" => &["text"],
        "Coding" | "Reference" => &["display"],
        _ => {
            if let Some(s) = node.as_str() {
                push_string(s, out);
            }
            return;
        }
    };
    for field in fields {
        match node.get(field) {
            Some(Value::String(s)) => push_string(s, out),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .for_each(|s| push_string(s, out)),
            _ => {}
        }
    }
}

fn token(system: Option<String>, code: Option<String>, display: Option<&str>) -> IndexValue {
    IndexValue::Token {
        system,
        code,
        display: display.map(normalize_string).filter(|d| !d.is_empty()),
    }
}

fn token_entries(node: &Value, ty: &str, out: &mut Vec<IndexValue>) {
    match node {
        Value::String(s) => out.push(token(None, Some(s.clone()), None)),
        Value::Bool(b) => out.push(token(None, Some(b.to_string()), None)),
        Value::Number(n) => out.push(token(None, Some(n.to_string()), None)),
        Value::Object(o) => match ty {
            "CodeableConcept" => {
                let text = o.get("text").and_then(Value::as_str);
                let codings = o
                    .get("coding")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                for c in codings.iter().filter_map(Value::as_object) {
                    let display = c.get("display").and_then(Value::as_str).or(text);
                    out.push(token(str_field(c, "system"), str_field(c, "code"), display));
                }
                if codings.is_empty() && text.is_some() {
                    out.push(token(None, None, text));
                }
            }
            "Identifier" => {
                let value = str_field(o, "value");
                let type_cc = o.get("type").and_then(Value::as_object);
                let type_text = type_cc.and_then(|t| t.get("text")).and_then(Value::as_str);
                out.push(token(str_field(o, "system"), value.clone(), type_text));
                let type_codings = type_cc
                    .and_then(|t| t.get("coding"))
                    .and_then(Value::as_array);
                if let Some(value) = value {
                    for c in type_codings
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_object)
                    {
                        if let Some(type_code) = str_field(c, "code") {
                            out.push(IndexValue::IdentifierOfType {
                                type_system: str_field(c, "system"),
                                type_code,
                                value: value.clone(),
                            });
                        }
                    }
                }
            }
            // Token search on a ContactPoint matches its value; its system (phone, email…)
            // is kept as the token system so `telecom=email|x@y` works.
            "ContactPoint" => out.push(token(str_field(o, "system"), str_field(o, "value"), None)),
            "Quantity" => out.push(token(str_field(o, "system"), str_field(o, "code"), None)),
            _ => out.push(token(
                str_field(o, "system"),
                str_field(o, "code"),
                o.get("display").and_then(Value::as_str),
            )),
        },
        _ => {}
    }
}

fn reference_entries(node: &Value, out: &mut Vec<IndexValue>) {
    let empty = || IndexValue::Reference {
        target_type: None,
        target_id: None,
        version: None,
        url: None,
        identifier_system: None,
        identifier_value: None,
    };
    let literal = |s: &str| -> Option<ReferenceValue> {
        if s.starts_with('#') {
            return None; // contained resource: not searchable by reference
        }
        ReferenceValue::parse(s, None).ok().or_else(|| {
            Some(ReferenceValue {
                url: Some(s.to_owned()),
                ..ReferenceValue::default()
            })
        })
    };
    match node {
        // canonical / uri elements used as references
        Value::String(s) => {
            if let Some(r) = literal(s) {
                let mut e = empty();
                if let IndexValue::Reference {
                    target_type,
                    target_id,
                    version,
                    url,
                    ..
                } = &mut e
                {
                    (*target_type, *target_id, *version, *url) =
                        (r.resource_type, r.id, r.version, r.url);
                }
                out.push(e);
            }
        }
        Value::Object(o) => {
            let mut e = empty();
            let mut any = false;
            if let IndexValue::Reference {
                target_type,
                target_id,
                version,
                url,
                identifier_system,
                identifier_value,
            } = &mut e
            {
                if let Some(r) = o.get("reference").and_then(Value::as_str).and_then(literal) {
                    (*target_type, *target_id, *version, *url) =
                        (r.resource_type, r.id, r.version, r.url);
                    any = true;
                }
                if target_type.is_none() && target_id.is_some() {
                    *target_type = str_field(o, "type");
                }
                if let Some(ident) = o.get("identifier").and_then(Value::as_object) {
                    *identifier_system = str_field(ident, "system");
                    *identifier_value = str_field(ident, "value");
                    any |= identifier_value.is_some();
                }
            }
            if any {
                out.push(e);
            }
        }
        _ => {}
    }
}

fn date_range(s: &str) -> Option<DateRange> {
    parse_date(s).ok().map(|v| v.range)
}

fn date_entries(node: &Value, ty: &str, out: &mut Vec<IndexValue>) {
    let push = |r: DateRange, out: &mut Vec<IndexValue>| {
        out.push(IndexValue::Date {
            low: r.low,
            high: r.high,
        })
    };
    match node {
        Value::String(s) => {
            if let Some(r) = date_range(s) {
                push(r, out);
            }
        }
        Value::Object(o) if ty == "Timing" => {
            for e in o
                .get("event")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                date_entries(e, "dateTime", out);
            }
            if let Some(bounds) = o.get("repeat").and_then(|r| r.get("boundsPeriod")) {
                date_entries(bounds, "Period", out);
            }
        }
        Value::Object(o) => {
            let start = o.get("start").and_then(Value::as_str).and_then(date_range);
            let end = o.get("end").and_then(Value::as_str).and_then(date_range);
            if start.is_some() || end.is_some() {
                push(
                    DateRange {
                        low: start.map_or_else(DateRange::min_bound, |r| r.low),
                        high: end.map_or_else(DateRange::max_bound, |r| r.high),
                    },
                    out,
                );
            }
        }
        _ => {}
    }
}

fn number(node: &Value) -> Option<Decimal> {
    match node {
        Value::Number(n) => Decimal::parse("number", &n.to_string()).ok(),
        Value::String(s) => Decimal::parse("number", s).ok(),
        _ => None,
    }
}

fn quantity_entries(node: &Value, ty: &str, out: &mut Vec<IndexValue>) {
    let Value::Object(o) = node else {
        if let Some(d) = number(node) {
            out.push(IndexValue::Quantity {
                system: None,
                code: None,
                unit: None,
                value: Some(d.value),
                low: d.low,
                high: d.high,
            });
        }
        return;
    };
    match ty {
        "Range" => {
            let low = o.get("low").and_then(Value::as_object);
            let high = o.get("high").and_then(Value::as_object);
            let bound =
                |q: Option<&Map<String, Value>>| q.and_then(|q| q.get("value")).and_then(number);
            let (lo, hi) = (bound(low), bound(high));
            if lo.is_none() && hi.is_none() {
                return;
            }
            let unit_of = low.or(high);
            out.push(IndexValue::Quantity {
                system: unit_of.and_then(|q| str_field(q, "system")),
                code: unit_of.and_then(|q| str_field(q, "code")),
                unit: unit_of.and_then(|q| str_field(q, "unit")),
                value: None,
                low: lo.map_or(f64::MIN, |d| d.low),
                high: hi.map_or(f64::MAX, |d| d.high),
            });
        }
        "Money" => {
            if let Some(d) = o.get("value").and_then(number) {
                out.push(IndexValue::Quantity {
                    system: Some("urn:iso:std:iso:4217".to_owned()),
                    code: str_field(o, "currency"),
                    unit: None,
                    value: Some(d.value),
                    low: d.low,
                    high: d.high,
                });
            }
        }
        _ => {
            if let Some(d) = o.get("value").and_then(number) {
                out.push(IndexValue::Quantity {
                    system: str_field(o, "system"),
                    code: str_field(o, "code"),
                    unit: str_field(o, "unit"),
                    value: Some(d.value),
                    low: d.low,
                    high: d.high,
                });
            }
        }
    }
}
