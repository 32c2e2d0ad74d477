//! The FHIR R4 search matching rules, re-implemented independently for the suite
//! (<https://hl7.org/fhir/R4/search.html>): what a node contributes to a parameter of each
//! type ("atoms") and whether a search value matches them.
//!
//! - string: case- and accent-insensitive prefix of any part (HumanName: family, given,
//!   prefix, suffix, text; Address: line, city, district, state, postalCode, country, text);
//!   `:exact` is whole-value equality; `:contains` a substring anywhere.
//! - token: `code`, `system|code`, `|code` (no system), `system|`; over Coding,
//!   CodeableConcept, Identifier, ContactPoint, code and boolean.
//! - reference: `Type/id` or plain `id`, against relative references.
//! - date: `[low, high)` ranges at the precision written, with the prefixes eq ne gt lt ge le.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde_json::Value;

use super::path::{eval, unwrap_extension};

/// What one resource contributes to a parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Atom {
    Str(String),
    Token(Option<String>, String),
    Ref(String),
    Date(Range),
}

/// A half-open `[low, high)` instant range in milliseconds; `None` is unbounded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub low: Option<i64>,
    pub high: Option<i64>,
}

/// The atoms of `expression` of a parameter of `kind` in `resource`.
pub fn atoms(resource: &Value, expression: &str, kind: &str) -> Vec<Atom> {
    let mut out = Vec::new();
    for node in eval(resource, expression) {
        let node = unwrap_extension(node);
        match kind {
            "string" => string_parts(node, &mut out),
            "token" => token_parts(node, &mut out),
            "reference" => {
                if let Some(r) = node["reference"].as_str() {
                    out.push(Atom::Ref(r.to_owned()));
                }
            }
            "date" => {
                if let Some(r) = date_node(node) {
                    out.push(Atom::Date(r));
                }
            }
            other => panic!("the suite has no matcher for {other} parameters ({expression})"),
        }
    }
    out
}

fn push_str(v: &Value, out: &mut Vec<Atom>) {
    match v {
        Value::String(s) => out.push(Atom::Str(s.clone())),
        Value::Array(a) => a.iter().for_each(|x| push_str(x, out)),
        _ => {}
    }
}

fn string_parts(node: &Value, out: &mut Vec<Atom>) {
    match node {
        Value::String(_) => push_str(node, out),
        Value::Object(o) => {
            let human = ["family", "given", "prefix", "suffix", "text"];
            let address = ["line", "city", "district", "state", "postalCode", "country"];
            for k in human.iter().chain(address.iter()) {
                if let Some(v) = o.get(*k) {
                    push_str(v, out);
                }
            }
        }
        _ => {}
    }
}

fn token_parts(node: &Value, out: &mut Vec<Atom>) {
    let s = |v: &Value| v.as_str().map(str::to_owned);
    match node {
        Value::String(code) => out.push(Atom::Token(None, code.clone())),
        Value::Bool(b) => out.push(Atom::Token(None, b.to_string())),
        Value::Object(o) => {
            if let Some(codings) = o.get("coding").and_then(Value::as_array) {
                for c in codings {
                    if let Some(code) = s(&c["code"]) {
                        out.push(Atom::Token(s(&c["system"]), code));
                    }
                }
            } else if let Some(code) = s(&node["code"]) {
                out.push(Atom::Token(s(&node["system"]), code));
            } else if let Some(value) = s(&node["value"]) {
                // Identifier (system|value) and ContactPoint (value).
                out.push(Atom::Token(s(&node["system"]), value));
            }
        }
        _ => {}
    }
}

/// Case folding plus the removal of the accents of Latin letters.
pub fn fold(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
            'ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ý' | 'ÿ' => 'y',
            other => other,
        })
        .collect()
}

/// Does the search `value` (with optional `modifier`) of a parameter of `kind` match `atoms`?
/// A comma in `value` is an OR of its parts.
pub fn matches(atoms: &[Atom], kind: &str, modifier: Option<&str>, value: &str) -> bool {
    value
        .split(',')
        .any(|v| atoms.iter().any(|a| matches_one(a, kind, modifier, v)))
}

fn matches_one(atom: &Atom, kind: &str, modifier: Option<&str>, value: &str) -> bool {
    match (kind, atom) {
        ("string", Atom::Str(s)) => match modifier {
            None => fold(s).starts_with(&fold(value)),
            Some("exact") => s == value,
            Some("contains") => fold(s).contains(&fold(value)),
            Some(m) => panic!("string modifier :{m} is not modelled"),
        },
        ("token", Atom::Token(system, code)) => match value.split_once('|') {
            None => code == value,
            Some(("", c)) => system.is_none() && code == c,
            Some((sys, "")) => system.as_deref() == Some(sys),
            Some((sys, c)) => system.as_deref() == Some(sys) && code == c,
        },
        ("reference", Atom::Ref(r)) => {
            let (rtype, id) = r.rsplit_once('/').unwrap_or(("", r));
            match modifier {
                None if value.contains('/') => r == value,
                None => id == value,
                Some(t) => t == rtype.rsplit('/').next().unwrap_or_default() && id == value,
            }
        }
        ("date", Atom::Date(target)) => {
            let (prefix, rest) = split_prefix(value);
            let q = parse_date(rest).unwrap_or_else(|| panic!("bad date {rest:?}"));
            date_matches(prefix, &q, target)
        }
        _ => false,
    }
}

fn split_prefix(v: &str) -> (&str, &str) {
    for p in ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"] {
        if let Some(rest) = v.strip_prefix(p) {
            return (p, rest);
        }
    }
    ("eq", v)
}

fn date_matches(prefix: &str, q: &Range, t: &Range) -> bool {
    let (ql, qh) = (q.low.unwrap_or(i64::MIN), q.high.unwrap_or(i64::MAX));
    let (tl, th) = (t.low.unwrap_or(i64::MIN), t.high.unwrap_or(i64::MAX));
    let eq = tl >= ql && th <= qh;
    match prefix {
        "eq" => eq,
        "ne" => !eq,
        "gt" => th > qh,
        "lt" => tl < ql,
        "ge" => th > qh || eq,
        "le" => tl < ql || eq,
        p => panic!("date prefix {p} is not modelled"),
    }
}

fn date_node(node: &Value) -> Option<Range> {
    match node {
        Value::String(s) => parse_date(s),
        Value::Object(o) if o.contains_key("start") || o.contains_key("end") => {
            let start = o.get("start").and_then(Value::as_str).and_then(parse_date);
            let end = o.get("end").and_then(Value::as_str).and_then(parse_date);
            Some(Range {
                low: start.and_then(|r| r.low),
                high: end.and_then(|r| r.high),
            })
        }
        _ => None,
    }
}

/// `YYYY`, `YYYY-MM`, `YYYY-MM-DD` or a full RFC 3339 instant, as the range it denotes.
pub fn parse_date(s: &str) -> Option<Range> {
    let ms = |d: NaiveDate| -> Option<i64> {
        Some(
            Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?)
                .timestamp_millis(),
        )
    };
    let parts: Vec<&str> = s.split('-').collect();
    let range = |lo: Option<NaiveDate>, hi: Option<NaiveDate>| -> Option<Range> {
        Some(Range {
            low: Some(ms(lo?)?),
            high: Some(ms(hi?)?),
        })
    };
    match (s.len(), parts.as_slice()) {
        (4, [y]) => {
            let y: i32 = y.parse().ok()?;
            range(
                NaiveDate::from_ymd_opt(y, 1, 1),
                NaiveDate::from_ymd_opt(y + 1, 1, 1),
            )
        }
        (7, [y, m]) => {
            let (y, m): (i32, u32) = (y.parse().ok()?, m.parse().ok()?);
            let next = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            range(
                NaiveDate::from_ymd_opt(y, m, 1),
                NaiveDate::from_ymd_opt(next.0, next.1, 1),
            )
        }
        (10, _) => {
            let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
            range(Some(d), d.succ_opt())
        }
        _ => {
            let t = DateTime::parse_from_rfc3339(s).ok()?;
            let low = t.timestamp_millis();
            // Seconds precision unless fractional seconds are written.
            let step = if s.contains('.') { 1 } else { 1000 };
            Some(Range {
                low: Some(low),
                high: Some(low + step),
            })
        }
    }
}

/// `YYYY-MM-DD` of a UTC instant.
pub fn day_of(t: DateTime<Utc>) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), t.month(), t.day())
}
