//! Boolean logic, arithmetic and string concatenation operators
//! (<http://hl7.org/fhirpath/N1/#boolean-logic>, #math-1).
//!
//! Overflow and division by zero give an empty result, as the specification asks.

use crate::ast::BinOp;
use crate::compare::{describe, is_quantity};
use crate::error::EvalError;
use crate::eval::singleton;
use crate::node::Node;
use crate::quantity::{self, unit_of, value_of};
use crate::temporal::{DateTime, Time};
use serde_json::Value;

/// Longest string an evaluation may build.
pub(crate) const MAX_STRING: usize = 8 * 1024 * 1024;

/// Three-valued `and`/`or`/`xor`/`implies` (`None` is “empty”).
pub(crate) fn logic(op: BinOp, a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match op {
        BinOp::And => match (a, b) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        BinOp::Or => match (a, b) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        BinOp::Xor => Some(a? != b?),
        _ => match (a, b) {
            (Some(false), _) | (_, Some(true)) => Some(true),
            (Some(true), Some(false)) => Some(false),
            _ => None,
        },
    }
}

/// A numeric operand.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Num {
    Int(i64),
    Dec(f64),
}

impl Num {
    pub(crate) fn f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Dec(d) => d,
        }
    }
}

/// The number in a node, honouring a declared Decimal type for integral JSON numbers.
pub(crate) fn number(n: &Node<'_>) -> Option<Num> {
    let Value::Number(x) = n.value.as_ref() else {
        return None;
    };
    let decimal = n.system_type() == Some("Decimal");
    match x.as_i64() {
        Some(i) if !decimal => Some(Num::Int(i)),
        _ => x.as_f64().map(Num::Dec),
    }
}

pub(crate) fn num_node<'a>(n: Num) -> Option<Node<'a>> {
    match n {
        Num::Int(i) => Some(Node::integer(i)),
        Num::Dec(d) => Node::decimal(d),
    }
}

pub(crate) fn negate<'a>(n: &Node<'a>) -> Result<Option<Node<'a>>, EvalError> {
    if is_quantity(n) {
        return quantity::make(-value_of(&n.value), &unit_of(&n.value)).map(Some);
    }
    match number(n) {
        Some(Num::Int(i)) => Ok(i.checked_neg().map(Node::integer)),
        Some(Num::Dec(d)) => Ok(Node::decimal(-d)),
        None => Err(EvalError::Type(format!("cannot negate {}", describe(n)))),
    }
}

fn type_error(op: BinOp, a: &Node<'_>, b: &Node<'_>) -> EvalError {
    EvalError::Type(format!(
        "operator {op:?} cannot combine {} and {}",
        describe(a),
        describe(b)
    ))
}

pub(crate) fn check_string_len(s: &str) -> Result<(), EvalError> {
    if s.len() > MAX_STRING {
        return Err(EvalError::Limit(format!(
            "string longer than {MAX_STRING} bytes"
        )));
    }
    Ok(())
}

pub(crate) fn arithmetic<'a>(
    op: BinOp,
    lv: &[Node<'a>],
    rv: &[Node<'a>],
) -> Result<Vec<Node<'a>>, EvalError> {
    let a = singleton(lv, "arithmetic operand")?;
    let b = singleton(rv, "arithmetic operand")?;
    if op == BinOp::Concat {
        let text = |n: Option<&Node<'_>>| -> Result<String, EvalError> {
            match n.map(|n| n.value.as_ref()) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(EvalError::Type("'&' needs strings".into())),
            }
        };
        let s = text(a)? + &text(b)?;
        check_string_len(&s)?;
        return Ok(vec![Node::string(s)]);
    }
    let (Some(a), Some(b)) = (a, b) else {
        return Ok(Vec::new());
    };
    if a.value.is_null() || b.value.is_null() {
        return Ok(Vec::new());
    }
    if let (Some(x), Some(y)) = (number(a), number(b)) {
        return Ok(numeric(op, x, y).into_iter().collect());
    }
    if op == BinOp::Add {
        if let (Value::String(x), Value::String(y)) = (a.value.as_ref(), b.value.as_ref()) {
            if a.system_type() == Some("String") && b.system_type() == Some("String") {
                let s = format!("{x}{y}");
                check_string_len(&s)?;
                return Ok(vec![Node::string(s)]);
            }
        }
    }
    if matches!(op, BinOp::Add | BinOp::Sub) && is_quantity(b) {
        let amount = value_of(&b.value);
        let amount = if op == BinOp::Sub { -amount } else { amount };
        let unit = unit_of(&b.value);
        if is_quantity(a) {
            if unit_of(&a.value) != unit {
                return Ok(Vec::new());
            }
            return quantity::make(value_of(&a.value) + amount, &unit).map(|q| vec![q]);
        }
        if a.value.is_string() {
            // UCUM `a` and `mo` have no calendar meaning: adding them to a date is an error.
            return match date_add(a, amount, &unit) {
                Some(d) => Ok(vec![d]),
                None => Err(type_error(op, a, b)),
            };
        }
    }
    if matches!(op, BinOp::Mul | BinOp::Div) {
        // Quantity scaled by a number.
        if let (true, Some(k)) = (is_quantity(a), number(b)) {
            let k = k.f64();
            let v = value_of(&a.value);
            let r = if op == BinOp::Mul { v * k } else { v / k };
            if !r.is_finite() {
                return Ok(Vec::new());
            }
            return quantity::make(r, &unit_of(&a.value)).map(|q| vec![q]);
        }
    }
    Err(type_error(op, a, b))
}

/// Date/DateTime/Time plus a (signed) calendar duration; empty when not computable.
fn date_add<'a>(a: &Node<'a>, amount: f64, unit: &str) -> Option<Node<'a>> {
    let s = a.value.as_str()?;
    match a.system_type()? {
        "Time" => {
            // Times wrap around midnight: shift a fixed date and keep the clock.
            let t = Time::parse(s)?;
            let dt = DateTime::parse(&format!("2000-01-01T{}", t.format()))?;
            let shifted = dt.add(amount, unit)?.format();
            let clock = shifted.split_once('T')?.1.to_string();
            Some(Node::system(Value::String(clock), "Time"))
        }
        ty @ ("Date" | "DateTime" | "String") => {
            let d = DateTime::parse(s)?.add(amount, unit)?;
            let ty = if d.is_date_only() && ty != "DateTime" {
                "Date"
            } else {
                "DateTime"
            };
            Some(Node::system(Value::String(d.format()), ty))
        }
        _ => None,
    }
}

/// Digits after the point in the shortest text of a number (0 for integers); `None` when
/// that text is in exponent form.
fn decimals(n: Num) -> Option<u32> {
    match n {
        Num::Int(_) => Some(0),
        Num::Dec(d) => {
            let text = d.to_string();
            if text.contains(['e', 'E']) {
                return None;
            }
            Some(text.split_once('.').map_or(0, |(_, f)| f.len() as u32))
        }
    }
}

/// Decimal arithmetic done in binary floating point leaves noise (`1.8 - 1.2` =
/// 0.6000000000000001); rounding to the operands' decimal places gives the decimal answer.
fn round_to(v: f64, places: Option<u32>) -> f64 {
    match places {
        Some(p) if p <= 15 && v.is_finite() => {
            let scale = 10f64.powi(p as i32);
            let r = (v * scale).round() / scale;
            if r.is_finite() {
                r
            } else {
                v
            }
        }
        _ => v,
    }
}

fn numeric<'a>(op: BinOp, x: Num, y: Num) -> Option<Node<'a>> {
    if let (Num::Int(p), Num::Int(q)) = (x, y) {
        let r = match op {
            BinOp::Add => p.checked_add(q),
            BinOp::Sub => p.checked_sub(q),
            BinOp::Mul => p.checked_mul(q),
            BinOp::IntDiv => p.checked_div(q),
            BinOp::Mod => p.checked_rem(q),
            _ => {
                // `/` always yields a decimal.
                if q == 0 {
                    return None;
                }
                return Node::decimal(p as f64 / q as f64);
            }
        };
        return r.map(Node::integer);
    }
    let (p, q) = (x.f64(), y.f64());
    let r = match op {
        BinOp::Add => round_to(p + q, decimals(x).max(decimals(y))),
        BinOp::Sub => round_to(p - q, decimals(x).max(decimals(y))),
        BinOp::Mul => round_to(p * q, decimals(x).zip(decimals(y)).map(|(a, b)| a + b)),
        BinOp::Div if q != 0.0 => p / q,
        BinOp::IntDiv if q != 0.0 => {
            let t = (p / q).trunc();
            return (t.abs() < 9.2e18).then(|| Node::integer(t as i64));
        }
        BinOp::Mod if q != 0.0 => round_to(p % q, decimals(x).max(decimals(y))),
        _ => return None,
    };
    Node::decimal(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_valued_logic() {
        let (t, f, e) = (Some(true), Some(false), None);
        let table = [
            (BinOp::And, t, e, e),
            (BinOp::And, f, e, f),
            (BinOp::Or, t, e, t),
            (BinOp::Or, f, e, e),
            (BinOp::Xor, t, f, t),
            (BinOp::Xor, t, e, e),
            (BinOp::Implies, f, e, t),
            (BinOp::Implies, t, e, e),
            (BinOp::Implies, e, t, t),
        ];
        for (op, a, b, want) in table {
            assert_eq!(logic(op, a, b), want, "{op:?} {a:?} {b:?}");
        }
    }

    #[test]
    fn integer_overflow_and_division_by_zero_are_empty() {
        let (max, zero) = (Node::integer(i64::MAX), Node::integer(0));
        let one = Node::integer(1);
        assert!(arithmetic(BinOp::Add, &[max], std::slice::from_ref(&one))
            .expect("add")
            .is_empty());
        assert!(arithmetic(
            BinOp::Div,
            std::slice::from_ref(&one),
            std::slice::from_ref(&zero)
        )
        .expect("div")
        .is_empty());
        assert!(arithmetic(BinOp::Mod, &[one], &[zero])
            .expect("mod")
            .is_empty());
        assert!(negate(&Node::integer(i64::MIN)).expect("neg").is_none());
    }
}
