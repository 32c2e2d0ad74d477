//! JSON Pointer (RFC 6901, <https://www.rfc-editor.org/rfc/rfc6901>): parsing with `~0`/`~1`
//! unescaping, and lookup in a `serde_json::Value`. Shared by both patch formats, since
//! FHIRPath Patch targets are located as pointers too.

use serde_json::Value;

use crate::error::OpFailure;

/// The reference tokens of `pointer` (`""` is the whole document, `/a/0` is `["a", "0"]`).
pub(crate) fn parse(pointer: &str) -> Result<Vec<String>, OpFailure> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let bad = |reason: &str| OpFailure::BadPointer {
        pointer: pointer.to_string(),
        reason: reason.to_string(),
    };
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(bad("must be empty or start with '/'"));
    };
    rest.split('/')
        .map(|token| {
            let mut out = String::with_capacity(token.len());
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    out.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => out.push('~'),
                    Some('1') => out.push('/'),
                    _ => return Err(bad("'~' must be followed by '0' or '1'")),
                }
            }
            Ok(out)
        })
        .collect()
}

/// Re-escapes tokens into a pointer (for messages and for FHIRPath Patch bookkeeping).
pub(crate) fn format(tokens: &[String]) -> String {
    tokens
        .iter()
        .map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// An array index token: `0` or digits without a leading zero; `-` (one past the end) only
/// when `allow_end`. Returns `Err(reason)`; the index is not checked against the length.
pub(crate) fn array_index(token: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    if token == "-" {
        return if allow_end {
            Ok(len)
        } else {
            Err("'-' (past the end) is not an existing element".to_string())
        };
    }
    let digits = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
    if !digits || (token.len() > 1 && token.starts_with('0')) {
        return Err(format!("{token:?} is not an array index"));
    }
    token
        .parse()
        .map_err(|_| format!("{token:?} is not an array index"))
}

/// The value at `tokens`, or why there is none.
pub(crate) fn get<'a>(doc: &'a Value, tokens: &[String]) -> Result<&'a Value, String> {
    let mut cur = doc;
    for (depth, token) in tokens.iter().enumerate() {
        cur = match cur {
            Value::Object(map) => map
                .get(token)
                .ok_or_else(|| format!("no member {token:?} at {}", format(&tokens[..depth])))?,
            Value::Array(items) => {
                let i = array_index(token, items.len(), false)?;
                items.get(i).ok_or_else(|| {
                    format!(
                        "index {i} is past the end of the array at {} ({} items)",
                        format(&tokens[..depth]),
                        items.len()
                    )
                })?
            }
            _ => {
                return Err(format!(
                    "{} is not an object or array",
                    format(&tokens[..depth])
                ))
            }
        };
    }
    Ok(cur)
}

/// Mutable access to the value at `tokens`, or why there is none.
pub(crate) fn get_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for (depth, token) in tokens.iter().enumerate() {
        let here = format(&tokens[..depth]);
        cur = match cur {
            Value::Object(map) => map
                .get_mut(token)
                .ok_or_else(|| format!("no member {token:?} at {here}"))?,
            Value::Array(items) => {
                let len = items.len();
                let i = array_index(token, len, false)?;
                items.get_mut(i).ok_or_else(|| {
                    format!("index {i} is past the end of the array at {here} ({len} items)")
                })?
            }
            _ => return Err(format!("{here} is not an object or array")),
        };
    }
    Ok(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tokens_unescape_tilde_and_slash() {
        assert_eq!(parse("").unwrap(), Vec::<String>::new());
        assert_eq!(parse("/a~1b/~0c/0").unwrap(), vec!["a/b", "~c", "0"]);
        assert_eq!(parse("/").unwrap(), vec![""]);
        assert!(parse("a").is_err());
        assert!(parse("/a~2").is_err());
        assert!(parse("/a~").is_err());
        assert_eq!(format(&parse("/a~1b/~0c").unwrap()), "/a~1b/~0c");
    }

    #[test]
    fn array_indexes_are_strict() {
        assert_eq!(array_index("0", 3, false), Ok(0));
        assert_eq!(array_index("12", 3, false), Ok(12));
        assert_eq!(array_index("-", 3, true), Ok(3));
        for bad in ["-", "01", "", "+1", "1e2", " 1", "99999999999999999999999"] {
            assert!(array_index(bad, 3, false).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lookups_say_where_they_stop() {
        let doc = json!({"a": [{"b": 1}], "c": 2});
        assert_eq!(get(&doc, &parse("/a/0/b").unwrap()), Ok(&json!(1)));
        assert!(get(&doc, &parse("/a/1").unwrap())
            .unwrap_err()
            .contains("past the end"));
        assert!(get(&doc, &parse("/c/x").unwrap())
            .unwrap_err()
            .contains("/c is not"));
        assert!(get(&doc, &parse("/x").unwrap())
            .unwrap_err()
            .contains("no member"));
    }
}
