//! Text handling shared by queries and indexing: search-value escaping
//! (<https://hl7.org/fhir/R4/search.html#escaping>) and string normalisation.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use crate::SearchError;

/// Normalises a string for `string` search: Unicode-decomposed, accents (combining marks)
/// removed, lowercased, whitespace runs collapsed to one space, trimmed.
///
/// The same function runs on indexed values and query values, so `Müller  Ann` matches
/// `muller ann` (<https://hl7.org/fhir/R4/search.html#string>: matching is case- and
/// accent-insensitive).
pub fn normalize_string(s: &str) -> String {
    let folded: String = s
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Splits `raw` at every `sep` that is not escaped with `\`. The parts keep their escapes;
/// pass each through [`unescape`] once all splitting is done.
pub fn split_unescaped(raw: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in raw.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(&raw[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&raw[start..]);
    parts
}

/// Removes search escapes: `\,` `\|` `\$` `\\` become `,` `|` `$` `\`. Any other `\` is an
/// error, since the spec defines no other escape and guessing would change the meaning.
///
/// A NUL character is refused too: no FHIR string may hold one
/// (<https://hl7.org/fhir/R4/datatypes.html#string>), and Postgres cannot bind it.
pub fn unescape(raw: &str) -> Result<String, SearchError> {
    if raw.contains('\0') {
        return Err(SearchError::value(
            "search value",
            &raw.replace('\0', "\\0"),
            "contains a NUL character, which no FHIR value can hold",
        ));
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(e @ (',' | '|' | '$' | '\\')) => out.push(e),
            Some(other) => {
                return Err(SearchError::InvalidEscape {
                    value: raw.to_owned(),
                    reason: format!("`\\{other}` is not an escape (only \\, \\| \\$ \\\\ are)"),
                })
            }
            None => {
                return Err(SearchError::InvalidEscape {
                    value: raw.to_owned(),
                    reason: "ends with a lone `\\`".to_owned(),
                })
            }
        }
    }
    Ok(out)
}

/// Escapes `,` `|` `$` `\` so that `unescape(escape(s)) == s`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, ',' | '|' | '$' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Percent-encodes a query-string component (RFC 3986), leaving the characters FHIR search
/// syntax uses and that are safe in a query (`:` `/` `,` `*` `@` `!` `$` `'` `(` `)`) readable.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:/,*@!$'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_string_folds_case_accents_and_whitespace() {
        let cases = [
            ("Müller", "muller"),
            ("  José   María\tO'Neil ", "jose maria o'neil"),
            ("ÅNGSTRÖM", "angstrom"),
            ("Çelik", "celik"),
            ("ﬁsher", "fisher"),
            ("", ""),
            ("Dr.\u{00A0}Smith", "dr. smith"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_string(input), want, "{input:?}");
        }
    }

    #[test]
    fn split_respects_escapes() {
        let cases: [(&str, char, &[&str]); 6] = [
            ("a,b,c", ',', &["a", "b", "c"]),
            (r"a\,b,c", ',', &[r"a\,b", "c"]),
            (r"a\\,b", ',', &[r"a\\", "b"]),
            ("sys|code", '|', &["sys", "code"]),
            (r"x\|y|z", '|', &[r"x\|y", "z"]),
            ("a$b", '$', &["a", "b"]),
        ];
        for (raw, sep, want) in cases {
            assert_eq!(split_unescaped(raw, sep), want, "{raw:?}");
        }
    }

    #[test]
    fn unescape_accepts_the_four_escapes_and_rejects_others() {
        assert_eq!(unescape(r"a\,b\|c\$d\\e"), Ok(r"a,b|c$d\e".to_owned()));
        assert_eq!(
            unescape(r"a\nb").map_err(|e| e.to_string()),
            Err(
                r"invalid escape in `a\nb`: `\n` is not an escape (only \, \| \$ \\ are)"
                    .to_owned()
            )
        );
        assert_eq!(
            unescape("abc\\").map_err(|e| e.to_string()),
            Err("invalid escape in `abc\\`: ends with a lone `\\`".to_owned())
        );
        assert_eq!(
            unescape("a\0b").map_err(|e| e.to_string()),
            Err(r"invalid search value `a\0b`: contains a NUL character, which no FHIR value can hold".to_owned())
        );
        for s in ["plain", "a,b", r"back\slash", "$|,"] {
            assert_eq!(unescape(&escape(s)).as_deref(), Ok(s));
        }
    }

    #[test]
    fn percent_encode_keeps_search_syntax_readable() {
        assert_eq!(percent_encode("name:exact"), "name:exact");
        assert_eq!(percent_encode("a b&c=d|e"), "a%20b%26c%3Dd%7Ce");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }
}
