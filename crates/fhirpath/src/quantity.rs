//! Quantities (<http://hl7.org/fhirpath/N1/#quantity>): construction, the unit they compare
//! by, conversion between common UCUM units, and their string form.
//!
//! Full UCUM is out of scope; conversions cover time, mass, length and volume with the
//! usual metric prefixes plus a few customary units. Calendar durations `year`/`month` are
//! kept apart from UCUM `a`/`mo`, as FHIRPath requires (`1 year = 1 'a'` is empty).

use crate::error::EvalError;
use crate::node::Node;
use serde_json::{json, Value};
use std::cmp::Ordering;

/// Calendar duration keywords, singular and plural.
pub(crate) fn is_calendar_keyword(unit: &str) -> bool {
    matches!(
        unit.strip_suffix('s').unwrap_or(unit),
        "year" | "month" | "week" | "day" | "hour" | "minute" | "second" | "millisecond"
    )
}

/// A quantity item. Integral values are stored as JSON integers so that `1 'mg'` prints
/// as written.
pub(crate) fn make<'a>(value: f64, unit: &str) -> Result<Node<'a>, EvalError> {
    let number = if value.fract() == 0.0 && value.abs() < 9.0e15 {
        serde_json::Number::from(value as i64)
    } else {
        serde_json::Number::from_f64(value)
            .ok_or_else(|| EvalError::Type("quantity value out of range".into()))?
    };
    let v = if is_calendar_keyword(unit) {
        json!({"value": number, "unit": unit})
    } else {
        json!({"value": number, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit})
    };
    Ok(Node::system(v, "Quantity"))
}

/// The unit a quantity compares by: its code when present, else its unit text; the
/// calendar keywords of fixed length map to UCUM (`days` = `d`), `year`/`month` stay.
pub(crate) fn unit_of(v: &Value) -> String {
    let unit = v
        .get("code")
        .or_else(|| v.get("unit"))
        .and_then(Value::as_str)
        .unwrap_or("1");
    match unit {
        "year" | "years" => "year",
        "month" | "months" => "month",
        "week" | "weeks" => "wk",
        "day" | "days" => "d",
        "hour" | "hours" => "h",
        "minute" | "minutes" => "min",
        "second" | "seconds" => "s",
        "millisecond" | "milliseconds" => "ms",
        u => u,
    }
    .to_string()
}

pub(crate) fn value_of(v: &Value) -> f64 {
    v.get("value").and_then(Value::as_f64).unwrap_or(0.0)
}

/// Dimension and factor to that dimension's base unit.
fn scale(unit: &str) -> Option<(&'static str, f64)> {
    let fixed = match unit {
        "ms" => Some(("s", 1e-3)),
        "s" => Some(("s", 1.0)),
        "min" => Some(("s", 60.0)),
        "h" => Some(("s", 3600.0)),
        "d" => Some(("s", 86_400.0)),
        "wk" => Some(("s", 604_800.0)),
        "[lb_av]" => Some(("g", 453.592_37)),
        "[oz_av]" => Some(("g", 28.349_523_125)),
        "[in_i]" => Some(("m", 0.0254)),
        "[ft_i]" => Some(("m", 0.3048)),
        "l" => Some(("L", 1.0)),
        _ => None,
    };
    if fixed.is_some() {
        return fixed;
    }
    for base in ["g", "m", "L"] {
        if let Some(prefix) = unit.strip_suffix(base) {
            let factor = match prefix {
                "" => 1.0,
                "k" => 1e3,
                "d" => 1e-1,
                "c" => 1e-2,
                "m" => 1e-3,
                "u" => 1e-6,
                "n" => 1e-9,
                _ => continue,
            };
            return Some((base, factor));
        }
    }
    None
}

/// Ordering of two quantities; `None` when their units are not comparable.
pub(crate) fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    let (va, vb) = (value_of(a), value_of(b));
    let (ua, ub) = (unit_of(a), unit_of(b));
    if ua == ub {
        return va.partial_cmp(&vb);
    }
    let ((da, fa), (db, fb)) = (scale(&ua)?, scale(&ub)?);
    if da != db {
        return None;
    }
    let (x, y) = (va * fa, vb * fb);
    // Conversions are inexact in binary; tolerate rounding noise.
    if (x - y).abs() <= 1e-9 * x.abs().max(y.abs()) {
        return Some(Ordering::Equal);
    }
    x.partial_cmp(&y)
}

/// FHIRPath string form: `4 'mg'`, calendar durations unquoted (`1 week`).
pub(crate) fn to_string(v: &Value) -> Option<String> {
    let number = v.get("value")?;
    let code = v.get("code").and_then(Value::as_str);
    let unit = v.get("unit").and_then(Value::as_str);
    Some(match (code, unit) {
        (None, Some(u)) if is_calendar_keyword(u) => format!("{number} {u}"),
        (Some(c), _) | (None, Some(c)) => format!("{number} '{c}'"),
        (None, None) => format!("{number} '1'"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(v: f64, u: &str) -> Value {
        make(v, u).expect("quantity").value.into_owned()
    }

    #[test]
    fn comparisons_convert_units_of_one_dimension() {
        let cases = [
            (q(4.0, "g"), q(4000.0, "mg"), Some(Ordering::Equal)),
            (q(7.0, "days"), q(1.0, "week"), Some(Ordering::Equal)),
            (q(7.0, "days"), q(1.0, "wk"), Some(Ordering::Equal)),
            (q(6.0, "days"), q(1.0, "week"), Some(Ordering::Less)),
            (q(1.0, "year"), q(1.0, "a"), None),
            (q(1.0, "month"), q(1.0, "mo"), None),
            (q(1.0, "cm"), q(1.0, "s"), None),
            (q(185.0, "[lb_av]"), q(80.0, "kg"), Some(Ordering::Greater)),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare(&a, &b), want, "{a} vs {b}");
        }
    }

    #[test]
    fn string_forms() {
        assert_eq!(to_string(&q(1.0, "wk")).as_deref(), Some("1 'wk'"));
        assert_eq!(to_string(&q(1.0, "week")).as_deref(), Some("1 week"));
        assert_eq!(to_string(&q(2.5, "mg")).as_deref(), Some("2.5 'mg'"));
    }
}
