//! Lists and escapes in parameter values, as FHIR search writes them
//! (<https://hl7.org/fhir/R4/search.html#escaping>): a `,` separates values that mean "any of
//! them", a `|` separates an identifier's system from its value, and `\,` `\|` `\$` `\\` stand
//! for the characters themselves. The same rules as the search crate's, so that a client can
//! pass an identifier to `$find-providers` exactly as it passes one to a plain search.

use crate::error::QueryError;

/// At most this many values in one list parameter (`network`, `plan`, `language`), counting
/// repeats: the same bound as a plain search's `MAX_VALUES_PER_CRITERION`, so that the
/// store's `IN (...)` lists stay small.
pub const MAX_LIST_VALUES: usize = 100;

/// Splits at every separator not escaped with `\` (the search crate's rule, so a value reads
/// the same in `$find-providers` as in a plain search); the parts keep their escapes.
pub(crate) use search::text::split_unescaped;

/// `raw` without its escapes ([`search::text::unescape`], the same rule as a plain search's),
/// an error naming parameter `param`.
pub(crate) fn unescape(param: &str, raw: &str) -> Result<String, QueryError> {
    search::text::unescape(raw)
        .map_err(|e| QueryError::new(param, format!("parameter `{param}`: {e}")))
}

/// Escapes what [`split_unescaped`] splits at, for rendering a value back into a link.
pub(crate) use search::text::escape;

/// The comma-separated items of one occurrence of list parameter `param`, escapes kept, none
/// empty (`a,,b` and a trailing comma are mistakes worth reporting, not values to skip).
pub(crate) fn list_items<'a>(param: &str, raw: &'a str) -> Result<Vec<&'a str>, QueryError> {
    let items: Vec<&str> = split_unescaped(raw, ',')
        .into_iter()
        .map(str::trim)
        .collect();
    if items.iter().any(|i| i.is_empty()) {
        return Err(QueryError::new(
            param,
            format!("parameter `{param}` has an empty value in its comma-separated list `{raw}`"),
        ));
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_respects_escapes() {
        let cases: [(&str, char, &[&str]); 5] = [
            ("a,b,c", ',', &["a", "b", "c"]),
            (r"a\,b,c", ',', &[r"a\,b", "c"]),
            (r"a\\,b", ',', &[r"a\\", "b"]),
            ("sys|code", '|', &["sys", "code"]),
            (r"x\|y|z", '|', &[r"x\|y", "z"]),
        ];
        for (raw, sep, want) in cases {
            assert_eq!(split_unescaped(raw, sep), want, "{raw:?}");
        }
    }

    #[test]
    fn unescape_accepts_the_four_escapes_and_names_the_parameter_otherwise() {
        assert_eq!(
            unescape("plan", r"a\,b\|c\$d\\e"),
            Ok(r"a,b|c$d\e".to_owned())
        );
        for bad in [r"a\nb", "a\\", "a\0b"] {
            let err = unescape("plan", bad).expect_err(bad);
            assert_eq!(err.parameter(), Some("plan"));
            assert!(err.message().contains("`plan`"), "{err}");
        }
    }

    #[test]
    fn escape_is_the_inverse_of_split_and_unescape() {
        let text = r"urn:x|a,b$c\d";
        let escaped = escape(text);
        assert_eq!(split_unescaped(&escaped, ',').len(), 1);
        assert_eq!(split_unescaped(&escaped, '|').len(), 1);
        assert_eq!(unescape("network", &escaped).as_deref(), Ok(text));
    }

    #[test]
    fn list_items_refuses_empty_items() {
        assert_eq!(
            list_items("language", "es, en").ok(),
            Some(vec!["es", "en"])
        );
        for bad in ["es,,en", "es,", ",es"] {
            let err = list_items("language", bad).expect_err(bad);
            assert!(err.message().contains("`language`"), "{err}");
        }
    }
}
