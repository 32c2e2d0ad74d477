//! Math functions (<http://hl7.org/fhirpath/N1/#math>). Results that are not finite
//! numbers (`sqrt(-1)`) are empty.

use super::{Call, Items, R};
use crate::compare::is_quantity;
use crate::eval::singleton;
use crate::node::Node;
use crate::ops::{num_node, number, Num};
use crate::quantity;

pub(super) fn call<'a>(c: &Call<'_, 'a, '_>, input: &Items<'a>) -> Option<R<'a>> {
    let (min, max) = match c.name {
        "abs" | "ceiling" | "exp" | "floor" | "ln" | "sqrt" | "truncate" => (0, 0),
        "log" | "power" => (1, 1),
        "round" => (0, 1),
        _ => return None,
    };
    Some(c.arity(min, max).and_then(|_| math(c, input)))
}

fn math<'a>(c: &Call<'_, 'a, '_>, input: &Items<'a>) -> R<'a> {
    let Some(item) = singleton(input, c.name)? else {
        return Ok(Vec::new());
    };
    if c.name == "abs" && is_quantity(item) {
        let v = quantity::value_of(&item.value);
        return quantity::make(v.abs(), &quantity::unit_of(&item.value)).map(|q| vec![q]);
    }
    let x = number(item).ok_or_else(|| c.bad("input is not a number"))?;
    let out: Option<Node<'a>> = match (c.name, x) {
        ("abs", Num::Int(i)) => i.checked_abs().map(Node::integer),
        ("abs", Num::Dec(d)) => Node::decimal(d.abs()),
        ("ceiling" | "floor" | "truncate", Num::Int(i)) => Some(Node::integer(i)),
        ("ceiling" | "floor" | "truncate", Num::Dec(d)) => {
            let r = match c.name {
                "ceiling" => d.ceil(),
                "floor" => d.floor(),
                _ => d.trunc(),
            };
            (r.is_finite() && r.abs() < 9.2e18).then(|| Node::integer(r as i64))
        }
        ("exp", x) => Node::decimal(x.f64().exp()),
        ("ln", x) => Node::decimal(x.f64().ln()),
        ("sqrt", x) => Node::decimal(x.f64().sqrt()),
        ("log", x) => {
            let base = singleton(&c.arg(0)?, "log")?.and_then(number);
            base.and_then(|b| Node::decimal(x.f64().ln() / b.f64().ln()))
        }
        ("power", x) => {
            let exp_v = c.arg(0)?;
            match (x, singleton(&exp_v, "power")?.and_then(number)) {
                (Num::Int(b), Some(Num::Int(e))) if e >= 0 => u32::try_from(e)
                    .ok()
                    .and_then(|e| b.checked_pow(e))
                    .map(Node::integer),
                (b, Some(e)) => Node::decimal(b.f64().powf(e.f64())),
                (_, None) => None,
            }
        }
        ("round", x) => {
            let digits = c.arg_int(0)?.unwrap_or(0);
            if !(0..=15).contains(&digits) {
                return Err(c.bad("precision must be between 0 and 15"));
            }
            let scale = 10f64.powi(digits as i32);
            num_node(Num::Dec((x.f64() * scale).round() / scale))
        }
        _ => None,
    };
    Ok(out.into_iter().collect())
}
