//! `not()` and the conversion functions `toX()` / `convertsToX()`
//! (<http://hl7.org/fhirpath/N1/#conversion>).

use super::{Call, Items, R};
use crate::compare::is_quantity;
use crate::eval::{singleton, singleton_bool};
use crate::node::Node;
use crate::ops::{number, Num};
use crate::quantity;
use crate::temporal::{DateTime, Time};
use serde_json::Value;

pub(super) fn call<'a>(c: &Call<'_, 'a, '_>, input: &Items<'a>) -> Option<R<'a>> {
    let target = match c.name {
        "not" => {
            return Some(c.arity(0, 0).and_then(|_| {
                Ok(singleton_bool(input, "not")?
                    .map(|v| Node::boolean(!v))
                    .into_iter()
                    .collect())
            }))
        }
        n => n,
    };
    let (checking, kind) = if let Some(k) = target.strip_prefix("convertsTo") {
        (true, k)
    } else if let Some(k) = target.strip_prefix("to") {
        (false, k)
    } else {
        return None;
    };
    if !matches!(
        kind,
        "Boolean" | "Integer" | "Decimal" | "String" | "Date" | "DateTime" | "Time" | "Quantity"
    ) {
        return None;
    }
    Some((|| {
        c.arity(0, usize::from(kind == "Quantity"))?;
        let Some(item) = singleton(input, c.name)? else {
            return Ok(Vec::new());
        };
        let converted = convert(item, kind)?;
        Ok(if checking {
            vec![Node::boolean(converted.is_some())]
        } else {
            converted.into_iter().collect()
        })
    })())
}

/// Converts one item to System type `kind`; `None` when not convertible.
fn convert<'a>(n: &Node<'a>, kind: &str) -> Result<Option<Node<'a>>, crate::EvalError> {
    let v = n.value.as_ref();
    let text = v.as_str();
    Ok(match kind {
        "Boolean" => match v {
            Value::Bool(b) => Some(*b),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "t" | "yes" | "y" | "1" | "1.0" => Some(true),
                "false" | "f" | "no" | "n" | "0" | "0.0" => Some(false),
                _ => None,
            },
            Value::Number(_) => match number(n) {
                Some(Num::Int(1)) => Some(true),
                Some(Num::Int(0)) => Some(false),
                Some(Num::Dec(1.0)) => Some(true),
                Some(Num::Dec(0.0)) => Some(false),
                _ => None,
            },
            _ => None,
        }
        .map(Node::boolean),
        "Integer" => match v {
            Value::Bool(b) => Some(Node::integer(i64::from(*b))),
            Value::Number(_) => match number(n) {
                Some(Num::Int(i)) => Some(Node::integer(i)),
                _ => None,
            },
            Value::String(s) => parse_integer(s).map(Node::integer),
            _ => None,
        },
        "Decimal" => match v {
            Value::Bool(b) => Node::decimal(if *b { 1.0 } else { 0.0 }),
            Value::Number(x) => x.as_f64().and_then(Node::decimal),
            Value::String(s) if is_decimal_text(s) => s.parse().ok().and_then(Node::decimal),
            _ => None,
        },
        "String" => to_string(n).map(Node::string),
        "Date" | "DateTime" => text
            .and_then(DateTime::parse)
            .filter(|_| !(kind == "Date" && n.system_type() == Some("Time")))
            .map(|d| {
                let out = if kind == "Date" && !d.is_date_only() {
                    // toDate() drops the time part.
                    d.format().split('T').next().unwrap_or_default().to_string()
                } else {
                    d.format()
                };
                Node::system(
                    Value::String(out),
                    if kind == "Date" { "Date" } else { "DateTime" },
                )
            }),
        "Time" => text
            .map(|s| s.strip_prefix('T').unwrap_or(s))
            .and_then(Time::parse)
            .map(|t| Node::system(Value::String(t.format()), "Time")),
        _ => match v {
            _ if is_quantity(n) => Some(n.clone()),
            Value::Number(x) => match x.as_f64() {
                Some(f) => Some(quantity::make(f, "1")?),
                None => None,
            },
            Value::String(s) => parse_quantity(s)?,
            _ => None,
        },
    })
}

fn parse_integer(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn is_decimal_text(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (int, frac) = body.split_once('.').unwrap_or((body, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// `'5 mg'`, `"4 'mg'"`, `'3 days'` -> Quantity. Unquoted units must be calendar keywords.
fn parse_quantity<'a>(s: &str) -> Result<Option<Node<'a>>, crate::EvalError> {
    let s = s.trim();
    let (num, unit) = match s.split_once(' ') {
        Some((n, u)) => (n, u.trim()),
        None => (s, "'1'"),
    };
    if !is_decimal_text(num) && parse_integer(num).is_none() {
        return Ok(None);
    }
    let Ok(value) = num.parse::<f64>() else {
        return Ok(None);
    };
    let unit = match unit.strip_prefix('\'').and_then(|u| u.strip_suffix('\'')) {
        Some(quoted) if !quoted.is_empty() => quoted,
        None if quantity::is_calendar_keyword(unit) => unit,
        _ => return Ok(None),
    };
    quantity::make(value, unit).map(Some)
}

/// FHIRPath string form of a primitive (or quantity); `None` for other complex values.
pub(crate) fn to_string(n: &Node<'_>) -> Option<String> {
    match n.value.as_ref() {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(x) => Some(x.to_string()),
        Value::Object(_) if is_quantity(n) => quantity::to_string(&n.value),
        _ => None,
    }
}
