//! `phonetic` search parameters (Practitioner, Organization, InsurancePlan in R4: "a portion
//! of either family or given name using some kind of phonetic matching algorithm"): fhirdir
//! indexes and queries them by American Soundex
//! (<https://www.archives.gov/research/census/soundex>), so `phonetic=Smyth` finds Smith and
//! `phonetic=Rupert` finds Robert.
//!
//! Soundex rather than a larger algorithm (Metaphone, Double Metaphone) because its result is
//! easy to predict and to explain to a directory's users, and every code has four characters,
//! so the store's ordinary string row (`value_norm`, matched by prefix) holds it unchanged:
//! a code is a prefix of another code only when they are equal.
//!
//! Indexed: each word of a HumanName's `family` and `given` (not prefix, suffix or text, which
//! are not names), or of a plain string (an organization's name), and, for a part of several
//! words, the part as one word ("Van Der Berg" also as "VanDerBerg"). A query value is coded
//! as one word, so it matches a single indexed word or a whole multi-word part.

use conformance::{SearchParamDef, SearchParamType};
use serde_json::Value;

use crate::index::{index_values, IndexValue};
use crate::text::normalize_string;

/// Whether `param` is matched phonetically: a string parameter with the code `phonetic`
/// (the R4 and directory guides' name for it, whatever its base).
pub fn is_phonetic(param: &SearchParamDef) -> bool {
    param.kind == SearchParamType::String && param.code == "phonetic"
}

/// The Soundex code of `text` taken as one word (its letters, accents folded), or `None`
/// when it has no Latin letter.
pub fn soundex(text: &str) -> Option<String> {
    let mut letters = normalize_string(text)
        .chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_uppercase())
        .collect::<Vec<_>>()
        .into_iter();
    let first = letters.next()?;
    let mut out = String::with_capacity(4);
    out.push(first);
    let mut last = digit(first);
    for c in letters {
        if out.len() == 4 {
            break;
        }
        match digit(c) {
            // H and W do not separate letters with the same code ("Ashcraft" is A261).
            None => {}
            Some('0') => last = Some('0'),
            Some(d) => {
                if last != Some(d) {
                    out.push(d);
                }
                last = Some(d);
            }
        }
    }
    while out.len() < 4 {
        out.push('0');
    }
    Some(out)
}

/// A letter's Soundex digit: `'0'` for vowels (and Y), which separate equal codes; `None` for
/// H and W, which do not.
fn digit(c: char) -> Option<char> {
    Some(match c {
        'B' | 'F' | 'P' | 'V' => '1',
        'C' | 'G' | 'J' | 'K' | 'Q' | 'S' | 'X' | 'Z' => '2',
        'D' | 'T' => '3',
        'L' => '4',
        'M' | 'N' => '5',
        'R' => '6',
        'H' | 'W' => return None,
        _ => '0',
    })
}

/// The index values of one node selected by a phonetic parameter's expression: the Soundex
/// codes of its name words (see the module documentation), each as a string value whose
/// normalized and exact forms are the code.
pub fn phonetic_values(node: &Value, type_hint: Option<&str>) -> Vec<IndexValue> {
    // The R4 and guide expressions select HumanNames (`Practitioner.name`) or strings
    // (`Organization.name`). An object is read as a HumanName whatever FHIRPath reported:
    // without a type, one holding only `text` would otherwise pass for a CodeableConcept.
    let texts: Vec<String> = if node.is_object() {
        node.get("family")
            .into_iter()
            .chain(
                node.get("given")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten(),
            )
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    } else {
        index_values(SearchParamType::String, node, type_hint)
            .into_iter()
            .filter_map(|v| match v {
                IndexValue::String { exact, .. } => Some(exact),
                _ => None,
            })
            .collect()
    };
    let mut codes: Vec<String> = Vec::new();
    for text in &texts {
        let normalized = normalize_string(text);
        let words: Vec<&str> = normalized
            .split(|c: char| !c.is_alphabetic())
            .filter(|w| !w.is_empty())
            .collect();
        let whole = (words.len() > 1).then(|| soundex(&normalized)).flatten();
        for code in words.iter().filter_map(|w| soundex(w)).chain(whole) {
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
    }
    codes
        .into_iter()
        .map(|code| IndexValue::String {
            normalized: code.clone(),
            exact: code,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn soundex_follows_the_census_rules() {
        for (name, code) in [
            ("Robert", "R163"),
            ("Rupert", "R163"),
            ("Rubin", "R150"),
            ("Ashcraft", "A261"),
            ("Ashcroft", "A261"),
            ("Tymczak", "T522"),
            ("Schmidt", "S530"),
            ("Pfister", "P236"),
            ("Honeyman", "H555"),
            ("Lee", "L000"),
            ("Smith", "S530"),
            ("Smyth", "S530"),
            ("Müller", "M460"),
            ("o'brien", "O165"),
            ("robert", "R163"),
        ] {
            assert_eq!(soundex(name).as_deref(), Some(code), "{name}");
        }
        assert_eq!(soundex("123 - !"), None);
        assert_eq!(soundex("王"), None);
    }

    #[test]
    fn a_human_name_indexes_family_and_given_words_only() {
        let name = json!({
            "family": "Van Der Berg", "given": ["Anne", "Marie"],
            "prefix": ["Dr"], "suffix": ["MD"], "text": "Dr Anne Marie Van Der Berg MD"
        });
        let codes: Vec<String> = phonetic_values(&name, Some("HumanName"))
            .into_iter()
            .map(|v| match v {
                IndexValue::String { normalized, exact } => {
                    assert_eq!(normalized, exact);
                    normalized
                }
                other => panic!("{other:?}"),
            })
            .collect();
        let van_der_berg = soundex("VanDerBerg").expect("code");
        assert_eq!(
            codes,
            [
                "V500",
                "D600",
                "B620",
                van_der_berg.as_str(),
                "A500",
                "M600"
            ],
            "none for MD (D600 is Der)"
        );
    }

    #[test]
    fn a_plain_string_indexes_its_words() {
        let codes = phonetic_values(&json!("Acme Health"), Some("string"));
        assert_eq!(codes.len(), 3, "{codes:?}");
    }
}
