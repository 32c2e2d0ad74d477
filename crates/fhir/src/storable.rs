//! What JSON a resource may hold to be stored the same way on both backends.
//!
//! FHIR strings never contain a NUL character (<https://hl7.org/fhir/R4/datatypes.html#string>
//! allows no control characters below U+0020 but tab, CR and LF), and Postgres `jsonb` cannot
//! hold `\u0000` at all. FHIR decimals are "rational numbers that have a decimal
//! representation" with no stated range, but every store has one: Postgres `jsonb` numbers are
//! `numeric` (at most 131,072 digits before the point and 16,383 after), the search index keeps
//! doubles. Rule: a JSON number must be finite as a 64-bit float and, when not zero, not so
//! small that it becomes zero (|x| between about 2.2e-308 and 1.8e308), with at most
//! [`MAX_NUMBER_DIGITS`] characters. Anything else is refused on both backends alike, naming
//! the element, rather than stored on one and a 500 on the other.

use serde_json::{Map, Value};

/// The longest number literal accepted (characters).
pub const MAX_NUMBER_DIGITS: usize = 1000;

/// A value the store cannot hold: where (a FHIRPath-like location such as
/// `Organization.identifier[2].value`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unstorable {
    pub location: String,
    pub reason: String,
}

impl std::fmt::Display for Unstorable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.reason)
    }
}

impl std::error::Error for Unstorable {}

/// Checks every string (keys included) and number of `value`; `root` names it in locations
/// (usually the resource type).
pub fn check(value: &Value, root: &str) -> Result<(), Unstorable> {
    let mut path = root.to_owned();
    walk(value, &mut path)
}

/// [`check`] of a JSON object (a resource held as its map).
pub fn check_object(map: &Map<String, Value>, root: &str) -> Result<(), Unstorable> {
    let mut path = root.to_owned();
    walk_object(map, &mut path)
}

fn walk(value: &Value, path: &mut String) -> Result<(), Unstorable> {
    let fail = |path: &str, reason: String| {
        Err(Unstorable {
            location: path.to_owned(),
            reason,
        })
    };
    match value {
        Value::String(s) if s.contains('\0') => fail(
            path,
            "contains a NUL character (\\u0000), which no FHIR string may hold".into(),
        ),
        Value::Number(n) => match number_problem(&n.to_string()) {
            Some(reason) => fail(path, reason),
            None => Ok(()),
        },
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(map) => walk_object(map, path),
        _ => Ok(()),
    }
}

fn walk_object(map: &Map<String, Value>, path: &mut String) -> Result<(), Unstorable> {
    for (key, item) in map {
        let len = path.len();
        path.push('.');
        path.push_str(key);
        if key.contains('\0') {
            return Err(Unstorable {
                location: path.clone(),
                reason: "an element name contains a NUL character".into(),
            });
        }
        walk(item, path)?;
        path.truncate(len);
    }
    Ok(())
}

/// Why a number literal cannot be stored, if it cannot.
fn number_problem(text: &str) -> Option<String> {
    if text.len() > MAX_NUMBER_DIGITS {
        return Some(format!(
            "the number has {} characters; at most {MAX_NUMBER_DIGITS} are accepted",
            text.len()
        ));
    }
    let value: f64 = text.parse().ok()?;
    if !value.is_finite() {
        return Some(format!(
            "the number {} is too large to store (at most about 1.8e308 in size)",
            abbreviate(text)
        ));
    }
    let zero = text
        .split(['e', 'E'])
        .next()
        .unwrap_or_default()
        .bytes()
        .all(|b| matches!(b, b'0' | b'.' | b'-' | b'+'));
    if value == 0.0 && !zero || value != 0.0 && !value.is_normal() {
        return Some(format!(
            "the number {} is too small to store (at least about 2.2e-308 in size, or 0)",
            abbreviate(text)
        ));
    }
    None
}

fn abbreviate(text: &str) -> String {
    if text.len() <= 40 {
        text.to_owned()
    } else {
        format!("{}…", &text[..40])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn num(text: &str) -> Value {
        serde_json::from_str(text).expect("JSON number")
    }

    #[test]
    fn ordinary_values_pass() {
        let r = json!({"resourceType": "Observation", "valueQuantity": {"value": 1.50},
            "component": [{"valueInteger": -3}], "note": [{"text": "tab\there"}]});
        assert_eq!(check(&r, "Observation"), Ok(()));
        for ok in [
            "0",
            "-0.0",
            "0e5",
            "1e308",
            "-1.7976931348623157e308",
            "2.3e-308",
            "1e-300",
        ] {
            assert_eq!(check(&num(ok), "X"), Ok(()), "{ok}");
        }
    }

    #[test]
    fn out_of_range_numbers_are_named_with_their_element() {
        for bad in ["1e999999", "-1e999999", "1e-999999", "1e309", "4e-320"] {
            let r = json!({"resourceType": "Observation", "component": [{}, {"valueDecimal": num(bad)}]});
            let e = check(&r, "Observation").expect_err(bad);
            assert_eq!(e.location, "Observation.component[1].valueDecimal", "{bad}");
        }
        let long = format!("1.{}", "1".repeat(1200));
        assert!(check(&num(&long), "X").is_err());
    }

    #[test]
    fn nul_characters_are_refused_in_values_and_names() {
        let r = json!({"resourceType": "Organization", "name": "a\u{0}b"});
        assert_eq!(
            check(&r, "Organization").map_err(|e| e.location),
            Err("Organization.name".to_owned())
        );
        let r = json!({"resourceType": "Organization", "x\u{0}": 1});
        assert!(check(&r, "Organization").is_err());
    }
}
