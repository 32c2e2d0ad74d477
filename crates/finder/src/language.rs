//! `language`: the languages a provider speaks, as BCP 47 tags (RFC 5646), the codes of
//! `Practitioner.communication` and `HealthcareService.communication`
//! (<https://hl7.org/fhir/R4/valueset-languages.html>).
//!
//! Tags are checked for shape only (a 2–3 letter language, then subtags of 1–8 letters or
//! digits), not against the IANA registry, and put in the registry's conventional case
//! (RFC 5646 section 2.1.1: `en-US`, `zh-Hant`, `es`), so that equal tags compare equal.
//! [`language_matches`] is RFC 4647's basic filtering: asking for `es` finds `es-MX` too.

use crate::error::QueryError;

/// One item of `language`, in conventional case.
pub(crate) fn parse_language(item: &str) -> Result<String, QueryError> {
    let mut subtags = item.split('-');
    let primary = subtags.next().unwrap_or_default();
    let primary_ok =
        (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_alphabetic());
    let rest: Vec<&str> = subtags.collect();
    let rest_ok = rest
        .iter()
        .all(|s| (1..=8).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric()));
    if !primary_ok || !rest_ok {
        return Err(QueryError::new(
            "language",
            format!(
                "parameter `language`: `{item}` is not a language code such as `es` or `en-US` (BCP 47)"
            ),
        ));
    }
    let mut tag = primary.to_ascii_lowercase();
    for s in rest {
        tag.push('-');
        let letters = s.chars().all(|c| c.is_ascii_alphabetic());
        match s.len() {
            2 if letters => tag.push_str(&s.to_ascii_uppercase()),
            4 if letters => {
                let lower = s.to_ascii_lowercase();
                let (head, tail) = lower.split_at(1);
                tag.push_str(&head.to_ascii_uppercase());
                tag.push_str(tail);
            }
            _ => tag.push_str(&s.to_ascii_lowercase()),
        }
    }
    Ok(tag)
}

/// Whether a provider speaking `have` serves a caller asking for `wanted`: the tags are equal
/// ignoring case, or `wanted` is a prefix of `have` ending at a subtag boundary (RFC 4647
/// section 3.3.1; `es` matches `es-MX`, `en-US` does not match `en`).
#[must_use]
pub fn language_matches(wanted: &str, have: &str) -> bool {
    let (w, h) = (wanted.as_bytes(), have.as_bytes());
    h.len() >= w.len()
        && h[..w.len()].eq_ignore_ascii_case(w)
        && (h.len() == w.len() || h[w.len()] == b'-')
        && !w.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_take_the_conventional_case() {
        for (raw, want) in [
            ("es", "es"),
            ("EN-us", "en-US"),
            ("zh-hant-tw", "zh-Hant-TW"),
            ("yue", "yue"),
            ("es-419", "es-419"),
        ] {
            assert_eq!(parse_language(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn malformed_tags_are_refused_naming_language() {
        for bad in [
            "e",
            "english",
            "en_US",
            "en-",
            "en-toolongsubtag",
            "1a",
            "es-MX!",
        ] {
            let err = parse_language(bad).expect_err(bad);
            assert_eq!(err.parameter(), Some("language"));
            assert!(err.message().contains("`language`"), "{err}");
        }
    }

    #[test]
    fn matching_is_basic_filtering() {
        for (wanted, have, matches) in [
            ("es", "es", true),
            ("es", "ES-mx", true),
            ("en-US", "en", false),
            ("es", "est", false),
            ("", "es", false),
        ] {
            assert_eq!(language_matches(wanted, have), matches, "{wanted} / {have}");
        }
    }
}
