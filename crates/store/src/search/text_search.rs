//! `_text` (the narrative) and `_content` (the whole resource), answered from the stored
//! resource body rather than an index (<https://hl7.org/fhir/R4/search.html#text>).
//!
//! Matching rules (the same on both backends):
//! - a value is split at whitespace into terms; **every** term must occur (AND), each at the
//!   start of a word: at the start of a text value or after a character that is not a letter
//!   or digit. `_content=john smi` matches a resource holding "Smith" and "Johnny";
//!   comma-separated values are alternatives (OR), and repeating the parameter ANDs;
//! - case- and accent-insensitive: the terms are [`search::normalize_string`]ed and each of
//!   their letters matches every precomposed letter (Latin, Greek, Cyrillic, fullwidth) that
//!   normalises to it (`muller` finds "MÜLLER");
//! - `_content` looks at every JSON string of the resource (names, addresses, codes, URLs,
//!   the narrative…) but not at keys, numbers or booleans; a term must lie within one string;
//! - `_text` looks at `text.div`. Markup is not removed, but `<`, `/` and `&` do not start a
//!   word, so element names and entities never match; attribute names and values inside tags
//!   can;
//! - not matched: text stored in decomposed form (a letter followed by a combining accent)
//!   and characters that normalise to several letters (`ﬁ`).
//!
//! SQLite walks the strings with `json_tree` and matches with `GLOB` patterns built from
//! character classes; Postgres walks them with `jsonb_path_query` and matches a regular
//! expression built the same way. Neither is index-backed: the condition is one more
//! criterion of the page query, so it combines with the others, and paging and `_total` stay
//! exact; a search with only `_content` reads each candidate resource of the type once.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use super::filter::{Cond, IdCol};
use super::sql::Sql;

/// Code-point ranges whose characters may fold onto a search letter.
const FOLDED_RANGES: &[(u32, u32)] = &[
    (0x00A0, 0x0530),
    (0x1E00, 0x2000),
    (0x2070, 0x2190),
    (0xFF00, 0xFFEF),
];

/// Letters and digits for the word boundary: what precedes a term must not be one of them
/// (nor `<`, `/`, `&`, so markup and entities do not start words). Written the same in a
/// `GLOB` class and a Postgres bracket expression.
const WORD_CHARS: &str = "0-9A-Za-z<&/\u{00C0}-\u{024F}\u{0370}-\u{052F}\u{1E00}-\u{1FFF}";

/// For each normalised letter or digit, every other character that normalises to it.
fn variants() -> &'static BTreeMap<char, Vec<char>> {
    static TABLE: OnceLock<BTreeMap<char, Vec<char>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table: BTreeMap<char, Vec<char>> = BTreeMap::new();
        let ascii = ('A'..='Z').chain('a'..='z').chain('0'..='9');
        let others = FOLDED_RANGES
            .iter()
            .flat_map(|(lo, hi)| (*lo..*hi).filter_map(char::from_u32));
        for c in ascii.chain(others) {
            let folded = search::normalize_string(c.encode_utf8(&mut [0; 4]));
            let mut chars = folded.chars();
            if let (Some(f), None) = (chars.next(), chars.next()) {
                if f != c && f.is_alphanumeric() {
                    table.entry(f).or_default().push(c);
                }
            }
        }
        table
    })
}

/// The `GLOB` patterns (SQLite) matching `term` at the start of a string and after a
/// non-word character.
pub(crate) fn glob_patterns(term: &str) -> (String, String) {
    let mut body = String::new();
    for c in term.chars() {
        match variants().get(&c) {
            Some(v) if c.is_alphanumeric() => {
                body.push('[');
                body.push(c);
                body.extend(v);
                body.push(']');
            }
            _ => match c {
                '*' | '?' | '[' => {
                    body.push('[');
                    body.push(c);
                    body.push(']');
                }
                _ => body.push(c),
            },
        }
    }
    (format!("{body}*"), format!("*[^{WORD_CHARS}]{body}*"))
}

/// The Postgres regular expression matching `term` at the start of a word.
pub(crate) fn regex_pattern(term: &str) -> String {
    let mut out = format!("(^|[^{WORD_CHARS}])");
    for c in term.chars() {
        match variants().get(&c) {
            Some(v) if c.is_alphanumeric() => {
                out.push('[');
                out.push(c);
                out.extend(v);
                out.push(']');
            }
            _ => {
                if c.is_ascii() && !c.is_ascii_alphanumeric() {
                    out.push('\\');
                }
                out.push(c);
            }
        }
    }
    out
}

impl Cond<'_> {
    /// `_text` / `_content`: any of `values` (each already normalised) matches resource
    /// `resource_type/<id>`.
    pub(crate) fn text_search(
        &mut self,
        sql: &mut Sql,
        resource_type: &str,
        id: IdCol,
        narrative_only: bool,
        values: &[&str],
    ) {
        sql.push("(");
        for (i, value) in values.iter().enumerate() {
            sql.push(if i == 0 { "(" } else { " OR (" });
            let terms: Vec<&str> = value.split_whitespace().collect();
            if terms.is_empty() {
                sql.push("1 = 0");
            }
            for (j, term) in terms.iter().enumerate() {
                if j > 0 {
                    sql.push(" AND ");
                }
                self.term(sql, resource_type, id, narrative_only, term);
            }
            sql.push(")");
        }
        sql.push(")");
    }

    fn term(
        &mut self,
        sql: &mut Sql,
        resource_type: &str,
        id: IdCol,
        narrative_only: bool,
        term: &str,
    ) {
        let z = self.alias();
        // The body holds restricted elements' values: a resource with elements hidden from
        // the viewer never matches on its text.
        let param = if narrative_only { "_text" } else { "_content" };
        let scope = |sql: &mut Sql, cond: &Self| {
            sql.push(" WHERE ")
                .scope_rows(z, cond.tenant, resource_type)
                .push(" AND ")
                .col(z, "id")
                .push(" = ")
                .col(id.0, id.1);
            cond.visible(sql, resource_type, (z, "id"), Some(param));
            sql.push(" AND ");
        };
        let (at_start, after_boundary) = glob_patterns(term);
        let mut lite = Sql::new();
        let mut pg = Sql::new();
        if narrative_only {
            lite.push("EXISTS (SELECT 1 FROM resources ").alias(z);
            scope(&mut lite, self);
            lite.push("(json_extract(")
                .col(z, "content")
                .push(", '$.text.div') GLOB ")
                .text(at_start)
                .push(" OR json_extract(")
                .col(z, "content")
                .push(", '$.text.div') GLOB ")
                .text(after_boundary)
                .push("))");
            pg.push("((SELECT ")
                .col(z, "content")
                .push(" #>> '{text,div}' FROM resources ")
                .alias(z);
            scope(&mut pg, self);
            pg.push("TRUE) ~ ").text(regex_pattern(term)).push(")");
        } else {
            lite.push("EXISTS (SELECT 1 FROM resources ")
                .alias(z)
                .push(", json_tree(")
                .col(z, "content")
                .push(") j");
            scope(&mut lite, self);
            lite.push("j.type = 'text' AND (j.value GLOB ")
                .text(at_start)
                .push(" OR j.value GLOB ")
                .text(after_boundary)
                .push("))");
            // The body comes from a scalar subquery (a primary-key lookup per candidate), so
            // the JSON walk runs once per candidate whatever plan the statistics suggest; a
            // join of `resources` with the walk could run it for every pair of rows.
            pg.push("EXISTS (SELECT 1 FROM jsonb_path_query((SELECT ")
                .col(z, "content")
                .push(" FROM resources ")
                .alias(z);
            scope(&mut pg, self);
            pg.push("TRUE), 'strict $.**') j(v) WHERE jsonb_typeof(j.v) = 'string' AND (j.v #>> '{}') ~ ")
                .text(regex_pattern(term))
                .push(")");
        }
        sql.dialect(lite, pg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_match_their_accented_and_uppercase_forms() {
        let v = variants();
        for (letter, forms) in [('u', "UüÜúÙ"), ('c', "CçÇ"), ('a', "AåÅ"), ('1', "¹")] {
            let got = v.get(&letter).cloned().unwrap_or_default();
            for f in forms.chars() {
                assert!(got.contains(&f), "{letter}: {f} missing from {got:?}");
            }
        }
        assert!(!v.contains_key(&'-'));
    }

    #[test]
    fn patterns_escape_wildcards_and_mark_word_starts() {
        let (start, inner) = glob_patterns("a*?");
        assert!(
            start.starts_with("[a") && start.ends_with("[*][?]*"),
            "{start}"
        );
        assert!(inner.starts_with("*[^0-9A-Za-z<&/"), "{inner}");
        let re = regex_pattern("o'neil.");
        assert!(re.starts_with("(^|[^0-9A-Za-z<&/"), "{re}");
        assert!(re.contains("\\'") && re.ends_with("\\."), "{re}");
    }
}
