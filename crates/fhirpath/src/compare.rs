//! Equality (`=`), equivalence (`~`) and ordering (`<` …) of single items
//! (<http://hl7.org/fhirpath/N1/#equality>, #comparison).
//!
//! Temporal values are recognised from their type, or — because we have no schema — from
//! a string that is compared with a typed temporal value (`birthDate > @2000`).

use crate::error::EvalError;
use crate::node::Node;
use crate::temporal::{DateTime, Time};
use serde_json::Value;
use std::cmp::Ordering;

/// JSON nesting beyond which deep comparisons give up (answering “not equal”).
const MAX_JSON_DEPTH: usize = 200;

/// What kind of temporal value a node declares itself to be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Temporal {
    Date,
    Time,
}

fn temporal_kind(n: &Node<'_>) -> Option<Temporal> {
    match n.system_type()? {
        "Date" | "DateTime" => Some(Temporal::Date),
        "Time" => Some(Temporal::Time),
        _ => None,
    }
}

/// Both values as temporals when at least one is declared temporal and both parse.
enum TemporalPair {
    Dates(DateTime, DateTime),
    Times(Time, Time),
}

/// A string from the resource (not computed) whose element type is unknown but which is
/// written like a FHIR date/dateTime (`2020`, `2020-01-02T10:00:00Z`).
fn untyped_date_text<'n>(n: &'n Node<'_>) -> Option<&'n str> {
    if n.ty.is_some() {
        return None;
    }
    let s = n.value.as_str()?;
    let b = s.as_bytes();
    let date_like =
        b.len() >= 4 && b[..4].iter().all(u8::is_ascii_digit) && (b.len() == 4 || b[4] == b'-');
    date_like.then_some(s)
}

fn temporal_pair(a: &Node<'_>, b: &Node<'_>) -> Option<TemporalPair> {
    let (sa, sb) = (a.value.as_str()?, b.value.as_str()?);
    let Some(kind) = temporal_kind(a).or_else(|| temporal_kind(b)) else {
        // Two date-looking elements of unknown type (`period.start <= period.end`) compare
        // as dates: as text, offsets and precision would be ignored.
        let (x, y) = (untyped_date_text(a)?, untyped_date_text(b)?);
        return Some(TemporalPair::Dates(
            DateTime::parse(x)?,
            DateTime::parse(y)?,
        ));
    };
    match kind {
        Temporal::Date => Some(TemporalPair::Dates(
            DateTime::parse(sa)?,
            DateTime::parse(sb)?,
        )),
        Temporal::Time => Some(TemporalPair::Times(Time::parse(sa)?, Time::parse(sb)?)),
    }
}

fn temporal_compare(p: &TemporalPair) -> Option<Ordering> {
    match p {
        TemporalPair::Dates(x, y) => x.compare(y),
        TemporalPair::Times(x, y) => x.compare(y),
    }
}

/// `=` on two items: `None` when the answer is unknown (empty result).
pub(crate) fn equals(a: &Node<'_>, b: &Node<'_>) -> Option<bool> {
    if a.value.is_null() || b.value.is_null() {
        return None;
    }
    if let Some(pair) = temporal_pair(a, b) {
        return temporal_compare(&pair).map(|o| o == Ordering::Equal);
    }
    if is_quantity(a) && is_quantity(b) {
        return crate::quantity::compare(&a.value, &b.value).map(|o| o == Ordering::Equal);
    }
    Some(json_eq(&a.value, &b.value, 0))
}

/// `~` on two items: never unknown.
pub(crate) fn equivalent(a: &Node<'_>, b: &Node<'_>) -> bool {
    if a.value.is_null() || b.value.is_null() {
        return a.value.is_null() && b.value.is_null();
    }
    if let Some(pair) = temporal_pair(a, b) {
        return temporal_compare(&pair) == Some(Ordering::Equal);
    }
    json_equiv(&a.value, &b.value, 0)
}

/// Deep JSON equality where numbers compare by value (`1` = `1.0`).
pub(crate) fn json_eq(a: &Value, b: &Value, depth: usize) -> bool {
    if depth > MAX_JSON_DEPTH {
        return false;
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => num_eq(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q, depth + 1))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w, depth + 1)))
        }
        _ => a == b,
    }
}

fn num_eq(x: &serde_json::Number, y: &serde_json::Number) -> bool {
    match (x.as_i64(), y.as_i64()) {
        (Some(p), Some(q)) => p == q,
        _ => x.as_f64() == y.as_f64(),
    }
}

/// Equivalence: strings case- and whitespace-insensitive, decimals at the least precision.
fn json_equiv(a: &Value, b: &Value, depth: usize) -> bool {
    if depth > MAX_JSON_DEPTH {
        return false;
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => normalize_ws(x) == normalize_ws(y),
        (Value::Number(x), Value::Number(y)) => {
            let (p, q) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            let digits = decimals(&x.to_string()).min(decimals(&y.to_string()));
            let scale = 10f64.powi(digits as i32);
            (p * scale).round() == (q * scale).round()
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equiv(p, q, depth + 1))
        }
        (Value::Object(x), Value::Object(y)) => {
            // Equivalence ignores `id` and `extension`-free differences of order only; keys
            // must still match.
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equiv(v, w, depth + 1)))
        }
        _ => a == b,
    }
}

fn decimals(text: &str) -> usize {
    text.split_once('.').map_or(0, |(_, f)| f.len())
}

fn normalize_ws(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

pub(crate) fn is_quantity(n: &Node<'_>) -> bool {
    n.system_type() == Some("Quantity") && n.value.is_object()
}

/// Ordering of two items for `<`, `>`, …: `Ok(None)` when unknown (precision), `Err` when
/// the types cannot be compared.
pub(crate) fn compare(a: &Node<'_>, b: &Node<'_>) -> Result<Option<Ordering>, EvalError> {
    if a.value.is_null() || b.value.is_null() {
        return Ok(None);
    }
    if let Some(pair) = temporal_pair(a, b) {
        return Ok(temporal_compare(&pair));
    }
    if is_quantity(a) && is_quantity(b) {
        return Ok(crate::quantity::compare(&a.value, &b.value));
    }
    match (a.value.as_ref(), b.value.as_ref()) {
        (Value::Number(x), Value::Number(y)) => Ok(match (x.as_i64(), y.as_i64()) {
            (Some(p), Some(q)) => Some(p.cmp(&q)),
            _ => x
                .as_f64()
                .zip(y.as_f64())
                .and_then(|(p, q)| p.partial_cmp(&q)),
        }),
        (Value::String(x), Value::String(y)) => Ok(Some(x.cmp(y))),
        _ => Err(EvalError::Type(format!(
            "cannot compare {} with {}",
            describe(a),
            describe(b)
        ))),
    }
}

/// Short description of an item's type for error messages.
pub(crate) fn describe(n: &Node<'_>) -> String {
    if let Some(t) = n.type_name() {
        return t.to_string();
    }
    match n.value.as_ref() {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::borrow::Cow;

    fn date(s: &str) -> Node<'static> {
        Node::system(json!(s), "DateTime")
    }

    fn plain(v: Value) -> Node<'static> {
        Node {
            value: Cow::Owned(v),
            ty: None,
            ext: None,
            loc: None,
        }
    }

    #[test]
    fn equality_table() {
        let cases = [
            (plain(json!(1)), plain(json!(1.0)), Some(true)),
            (plain(json!("a")), plain(json!("A")), Some(false)),
            (date("2020-01"), plain(json!("2020-01")), Some(true)),
            (date("2020-01"), date("2020-01-05"), None),
            (date("2020-01"), date("2020-02-05"), Some(false)),
            (
                plain(json!("2020-01-01T10:00:00Z")),
                plain(json!("2020-01-01T11:00:00+01:00")),
                Some(true),
            ),
            (plain(json!("2020")), plain(json!("2020-01-01")), None),
            (plain(json!("2020x")), plain(json!("2020x")), Some(true)),
            (
                plain(json!({"a": [1, 2]})),
                plain(json!({"a": [1, 2.0]})),
                Some(true),
            ),
            (plain(Value::Null), plain(json!(1)), None),
        ];
        for (a, b, want) in cases {
            assert_eq!(equals(&a, &b), want, "{:?} = {:?}", a.value, b.value);
        }
    }

    #[test]
    fn equivalence_table() {
        let cases = [
            (plain(json!("Ab  c")), plain(json!("ab c")), true),
            (plain(json!(1.21)), plain(json!(1.2)), true),
            (plain(json!(1.3)), plain(json!(1.2)), false),
            (date("2020-01"), date("2020-01-05"), false),
        ];
        for (a, b, want) in cases {
            assert_eq!(equivalent(&a, &b), want, "{:?} ~ {:?}", a.value, b.value);
        }
    }

    #[test]
    fn ordering_and_incomparable_types() {
        assert_eq!(
            compare(&plain(json!(2)), &plain(json!(10))),
            Ok(Some(Ordering::Less))
        );
        assert_eq!(
            compare(&plain(json!("b")), &plain(json!("a"))),
            Ok(Some(Ordering::Greater))
        );
        let q = |v: f64, u: &str| Node::system(json!({"value": v, "unit": u}), "Quantity");
        assert_eq!(
            compare(&q(1.0, "h"), &q(30.0, "min")),
            Ok(Some(Ordering::Greater))
        );
        assert_eq!(compare(&q(1.0, "mg"), &q(1.0, "s")), Ok(None));
        assert!(compare(&plain(json!("a")), &plain(json!(1))).is_err());
    }
}
