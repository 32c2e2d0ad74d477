//! String manipulation functions (<http://hl7.org/fhirpath/N1/#string-manipulation>).
//! Positions and lengths count Unicode scalar values, not bytes.

use super::{Call, Items, R};
use crate::eval::singleton;
use crate::node::Node;
use crate::ops::check_string_len;
use crate::regex::Regex;

/// The input string of a string function: `None` when the input is empty.
fn input_str(c: &Call<'_, '_, '_>, input: &Items<'_>) -> Result<Option<String>, crate::EvalError> {
    match singleton(input, c.name)? {
        None => Ok(None),
        Some(n) if n.value.is_null() => Ok(None),
        Some(n) => match n.value.as_str() {
            Some(s) => Ok(Some(s.to_string())),
            None => Err(c.bad("input is not a string")),
        },
    }
}

/// Refuses to build more items than an evaluation may hold, before building them.
fn check_count(n: usize) -> Result<(), crate::EvalError> {
    if n > crate::eval::MAX_ITEMS {
        return Err(crate::EvalError::Limit(format!("{n} items")));
    }
    Ok(())
}

fn s<'a>(v: String) -> R<'a> {
    check_string_len(&v)?;
    Ok(vec![Node::string(v)])
}

fn b<'a>(v: bool) -> R<'a> {
    Ok(vec![Node::boolean(v)])
}

pub(super) fn call<'a>(c: &Call<'_, 'a, '_>, input: &Items<'a>) -> Option<R<'a>> {
    let (min, max) = match c.name {
        "upper" | "lower" | "length" | "toChars" | "trim" => (0, 0),
        "indexOf" | "startsWith" | "endsWith" | "contains" | "matches" | "matchesFull"
        | "split" => (1, 1),
        "substring" | "replace" | "replaceMatches" => (1 + usize::from(c.name != "substring"), 2),
        "join" => (0, 1),
        _ => return None,
    };
    if let Err(e) = c.arity(min, max) {
        return Some(Err(e));
    }
    if c.name == "join" {
        return Some(join(c, input));
    }
    Some(string_fn(c, input))
}

fn string_fn<'a>(c: &Call<'_, 'a, '_>, input: &Items<'a>) -> R<'a> {
    let Some(text) = input_str(c, input)? else {
        return Ok(Vec::new());
    };
    match c.name {
        "upper" => s(text.to_uppercase()),
        "lower" => s(text.to_lowercase()),
        "trim" => s(text.trim().to_string()),
        "length" => Ok(vec![Node::integer(
            i64::try_from(text.chars().count()).unwrap_or(i64::MAX),
        )]),
        "toChars" => {
            check_count(text.chars().count())?;
            Ok(text
                .chars()
                .map(|ch| Node::string(ch.to_string()))
                .collect())
        }
        "indexOf" => {
            let Some(sub) = c.arg_string(0)? else {
                return Ok(Vec::new());
            };
            let idx = text
                .find(&sub)
                .map_or(-1, |byte| text[..byte].chars().count() as i64);
            Ok(vec![Node::integer(idx)])
        }
        "substring" => {
            let Some(start) = c.arg_int(0)? else {
                return Ok(Vec::new());
            };
            let len = c.arg_int(1)?;
            let count = text.chars().count() as i64;
            if start < 0 || start >= count {
                return Ok(Vec::new());
            }
            let take = len.map_or(count, |l| l.max(0));
            s(text
                .chars()
                .skip(start as usize)
                .take(usize::try_from(take).unwrap_or(usize::MAX))
                .collect())
        }
        "startsWith" | "endsWith" | "contains" => {
            let Some(sub) = c.arg_string(0)? else {
                return Ok(Vec::new());
            };
            b(match c.name {
                "startsWith" => text.starts_with(&sub),
                "endsWith" => text.ends_with(&sub),
                _ => text.contains(&sub),
            })
        }
        "replace" => {
            let (Some(pat), Some(rep)) = (c.arg_string(0)?, c.arg_string(1)?) else {
                return Ok(Vec::new());
            };
            if pat.is_empty() {
                // The specification inserts the replacement around every character.
                let mut out = rep.clone();
                for ch in text.chars() {
                    out.push(ch);
                    out.push_str(&rep);
                    check_string_len(&out)?;
                }
                return s(out);
            }
            let growth = rep.len().saturating_sub(pat.len());
            if growth > 0
                && text.matches(&pat).count().saturating_mul(growth) > crate::ops::MAX_STRING
            {
                return Err(crate::EvalError::Limit("replace() result too long".into()));
            }
            s(text.replace(&pat, &rep))
        }
        "matches" => {
            let Some(pat) = c.arg_string(0)? else {
                return Ok(Vec::new());
            };
            let re = Regex::new(&pat).map_err(|e| c.bad(e))?;
            b(re.is_match(&text).map_err(|e| c.bad(e))?)
        }
        "matchesFull" => {
            let Some(pat) = c.arg_string(0)? else {
                return Ok(Vec::new());
            };
            b(Regex::is_full_match(&pat, &text).map_err(|e| c.bad(e))?)
        }
        "replaceMatches" => {
            let (Some(pat), Some(rep)) = (c.arg_string(0)?, c.arg_string(1)?) else {
                return Ok(Vec::new());
            };
            if pat.is_empty() {
                // An empty pattern replaces nothing (official test testReplaceMatches2).
                return s(text);
            }
            let re = Regex::new(&pat).map_err(|e| c.bad(e))?;
            s(re.replace_all(&text, &rep, crate::ops::MAX_STRING)
                .map_err(|e| crate::EvalError::Limit(format!("replaceMatches(): {e}")))?)
        }
        "split" => {
            let Some(sep) = c.arg_string(0)? else {
                return Ok(Vec::new());
            };
            if sep.is_empty() {
                check_count(text.chars().count())?;
                return Ok(text
                    .chars()
                    .map(|ch| Node::string(ch.to_string()))
                    .collect());
            }
            check_count(text.matches(sep.as_str()).count())?;
            Ok(text.split(sep.as_str()).map(Node::string).collect())
        }
        _ => Ok(Vec::new()),
    }
}

fn join<'a>(c: &Call<'_, 'a, '_>, input: &Items<'a>) -> R<'a> {
    let sep = c.arg_string(0)?.unwrap_or_default();
    let mut parts = Vec::with_capacity(input.len());
    for n in input {
        match n.value.as_str() {
            Some(p) => parts.push(p),
            None => return Err(c.bad("join() needs strings")),
        }
    }
    s(parts.join(&sep))
}
