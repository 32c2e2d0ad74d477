//! How close a provider's name is to the `name` the caller typed: the name part of the
//! best-match ranking (issue 20: "exact > prefix > phonetic > trigram-similar").
//!
//! Names are compared as words ("tokens"): accents folded the way the search crate folds
//! strings (Unicode NFKD, combining marks dropped, lower case; so `José` is `jose`), apostrophes
//! dropped inside words (`O'Brien` is `obrien`), every other non-alphanumeric character a
//! separator (`Smith-Jones` is `smith jones`), and courtesy titles and degrees
//! ([`HONORIFICS`]) left out while another word remains (`Dr. José  Smith, MD` is `jose
//! smith`). Word order never matters.
//!
//! A wanted word *matches* a candidate word at the best of these levels; the name's
//! [`NameMatch`] is the worst level over the wanted words, so every word the caller typed must
//! be found in the candidate (the candidate may have more: `Smith` is an exact match for
//! `John A. Smith`, since directories store given and family names and callers type one):
//!
//! | level      | a wanted word matches a candidate word when                       |
//! |------------|-------------------------------------------------------------------|
//! | `Exact`    | they are equal                                                    |
//! | `Prefix`   | it is a prefix of the candidate word (`Rob` of `Robert`)           |
//! | `Phonetic` | they have the same American Soundex code (`Smyth`, `Smith`: S530)  |
//!
//! When some wanted word matches none of those ways, the whole names may still be `Similar`:
//! pg_trgm's trigram similarity of the two normalized names is at least
//! [`SIMILARITY_THRESHOLD`] (pg_trgm's own default `pg_trgm.similarity_threshold`,
//! <https://www.postgresql.org/docs/current/pgtrgm.html>), so a misspelling that Soundex does
//! not forgive (a first letter: `Katherine` for `Catherine`) still finds the name.

use std::collections::BTreeSet;

use serde::Serialize;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Titles and degrees that are not part of a name. Deliberately short: each is rare as a real
/// name word, and `Do` (a Vietnamese family name, and the osteopath's D.O.) is not one of them.
pub const HONORIFICS: &[&str] = &[
    "dr", "mr", "mrs", "ms", "mx", "prof", "md", "phd", "dds", "dmd", "dpm", "np", "rn",
];

/// pg_trgm's default similarity threshold: two names at least this similar are `Similar`.
pub const SIMILARITY_THRESHOLD: f64 = 0.3;

/// How closely a candidate's name matches the wanted name; declared (and ordered) best first,
/// so `Exact < Prefix < Phonetic < Similar < None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NameMatch {
    /// Every wanted word is a word of the candidate's name.
    Exact,
    /// Every wanted word is a word of the candidate's, or a prefix of one.
    Prefix,
    /// Every wanted word is found at least by its Soundex code.
    Phonetic,
    /// Not word by word, but the names' trigram similarity reaches [`SIMILARITY_THRESHOLD`].
    Similar,
    /// Not close.
    None,
}

/// How closely `candidate` matches `wanted` (see the module documentation). A wanted name
/// with no letter or digit matches nothing.
#[must_use]
pub fn name_match(wanted: &str, candidate: &str) -> NameMatch {
    let (wanted, candidate) = (name_tokens(wanted), name_tokens(candidate));
    if wanted.is_empty() || candidate.is_empty() {
        return NameMatch::None;
    }
    let candidate_codes: Vec<String> = candidate.iter().map(|c| soundex(c)).collect();
    let word_level = |w: &String| {
        if candidate.contains(w) {
            return NameMatch::Exact;
        }
        if candidate.iter().any(|c| c.starts_with(w.as_str())) {
            return NameMatch::Prefix;
        }
        let code = soundex(w);
        if !code.is_empty() && candidate_codes.contains(&code) {
            return NameMatch::Phonetic;
        }
        NameMatch::None
    };
    let worst = wanted
        .iter()
        .map(word_level)
        .max()
        .unwrap_or(NameMatch::None);
    if worst <= NameMatch::Phonetic {
        return worst;
    }
    if similarity_of_tokens(&wanted, &candidate) >= SIMILARITY_THRESHOLD {
        NameMatch::Similar
    } else {
        NameMatch::None
    }
}

/// A name as the words it is compared by, joined by single spaces (`Dr. José  Smith` is
/// `jose smith`): what the store may keep beside a name to compare or pre-filter in SQL.
#[must_use]
pub fn normalize_name(text: &str) -> String {
    name_tokens(text).join(" ")
}

/// The words of a name: [`fold`] without [`HONORIFICS`] (unless nothing else is left).
fn name_tokens(text: &str) -> Vec<String> {
    let all = fold(text);
    let named: Vec<String> = all
        .iter()
        .filter(|t| !HONORIFICS.contains(&t.as_str()))
        .cloned()
        .collect();
    if named.is_empty() {
        all
    } else {
        named
    }
}

/// `text` as lower-case, accent-free alphanumeric words (see the module documentation). Also
/// used for city and state names.
pub(crate) fn fold(text: &str) -> Vec<String> {
    let folded: String = text
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        // An apostrophe joins (O'Brien, D’Angelo); it does not separate.
        .filter(|c| !matches!(c, '\'' | '\u{2019}' | '\u{02BC}'))
        .collect();
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The American Soundex code of `word` (<https://www.archives.gov/research/census/soundex>):
/// its first letter and three digits, from its Latin letters after folding accents; empty when
/// it has none (`"123"`, `"王"`).
///
/// The rules, the same as the search crate's `phonetic` parameters use (so codes the store
/// keeps for those agree): letters with the same digit next to each other count once, the
/// first letter included (`Pfister` P236); H and W do not separate them (`Ashcraft` A261);
/// vowels and Y do (`Tymczak` T522); the code is cut or zero-padded to four characters.
#[must_use]
pub fn soundex(word: &str) -> String {
    search::phonetic::soundex(word).unwrap_or_default()
}

/// pg_trgm's `similarity(a, b)` over the folded words of `a` and `b`: each word padded as
/// `"  word "`, its three-character windows collected into one set per string, and the
/// result `|A ∩ B| / |A ∪ B|` (0 when either has no word). Characters, not bytes, so accented
/// and non-Latin names work alike.
#[must_use]
pub fn trigram_similarity(a: &str, b: &str) -> f64 {
    similarity_of_tokens(&fold(a), &fold(b))
}

fn similarity_of_tokens(a: &[String], b: &[String]) -> f64 {
    let (a, b) = (trigrams(a), trigrams(b));
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let shared = a.intersection(&b).count();
    let all = a.len() + b.len() - shared;
    // Set sizes are far below 2^52, so the conversion is exact.
    shared as f64 / all as f64
}

fn trigrams(words: &[String]) -> BTreeSet<[char; 3]> {
    let mut set = BTreeSet::new();
    for word in words {
        let padded: Vec<char> = "  "
            .chars()
            .chain(word.chars())
            .chain(std::iter::once(' '))
            .collect();
        for w in padded.windows(3) {
            set.insert([w[0], w[1], w[2]]);
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    // The census examples are the search crate's tests (`search::phonetic`); here only what the
    // wrapper adds: no code is the empty string.
    #[test]
    fn soundex_of_a_word_without_latin_letters_is_empty() {
        for word in ["", "123", "王", " - "] {
            assert_eq!(soundex(word), "", "{word:?}");
        }
    }

    #[test]
    fn normalization_folds_case_accents_punctuation_and_titles() {
        for (raw, want) in [
            ("Dr. José  Smith", "jose smith"),
            ("SMITH, JOHN A., MD", "smith john a"),
            ("O'Brien", "obrien"),
            ("D’Angelo", "dangelo"),
            ("Smith-Jones", "smith jones"),
            ("Ångström Clinic", "angstrom clinic"),
            ("Dr.", "dr"),
            ("Do Van Nguyễn", "do van nguyen"),
            ("  ", ""),
        ] {
            assert_eq!(normalize_name(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn exact_ignores_case_accents_punctuation_order_and_extra_candidate_words() {
        for (wanted, candidate) in [
            ("Dr. José  Smith", "jose smith"),
            ("smith jose", "José Smith"),
            ("Smith", "John A. Smith"),
            ("o'brien", "OBrien"),
        ] {
            assert_eq!(
                name_match(wanted, candidate),
                NameMatch::Exact,
                "{wanted} ~ {candidate}"
            );
        }
    }

    #[test]
    fn each_level_is_recognised() {
        for (wanted, candidate, level) in [
            ("Rob Smi", "Robert Smith", NameMatch::Prefix),
            ("john", "Johnson", NameMatch::Prefix),
            ("Smyth", "John Smith", NameMatch::Phonetic),
            ("Rupert", "Robert Jones", NameMatch::Phonetic),
            // The worst word decides: a prefix and a phonetic word make a phonetic name.
            ("Jo Smyth", "John Smith", NameMatch::Phonetic),
            ("Jonhson", "Johnson", NameMatch::Phonetic),
            ("Kohnson", "Johnson", NameMatch::Similar),
            ("Katherine", "Catherine Smith", NameMatch::Similar),
            ("Smith", "Brown", NameMatch::None),
            ("John Smith", "John Brown", NameMatch::None),
            ("!!!", "John Smith", NameMatch::None),
            ("John", "", NameMatch::None),
        ] {
            assert_eq!(
                name_match(wanted, candidate),
                level,
                "{wanted} ~ {candidate}"
            );
        }
    }

    #[test]
    fn name_match_orders_best_first() {
        let mut levels = [
            NameMatch::None,
            NameMatch::Similar,
            NameMatch::Exact,
            NameMatch::Phonetic,
            NameMatch::Prefix,
        ];
        levels.sort();
        assert_eq!(
            levels,
            [
                NameMatch::Exact,
                NameMatch::Prefix,
                NameMatch::Phonetic,
                NameMatch::Similar,
                NameMatch::None
            ]
        );
    }

    #[test]
    fn trigram_similarity_matches_pg_trgm() {
        // pg_trgm: similarity('word', 'words') = 0.5714286 (4 shared of 7 trigrams).
        assert!((trigram_similarity("word", "words") - 4.0 / 7.0).abs() < 1e-12);
        assert_eq!(trigram_similarity("Smith", "smith"), 1.0);
        assert_eq!(trigram_similarity("José", "JOSE"), 1.0);
        assert_eq!(trigram_similarity("", "smith"), 0.0);
        assert_eq!(trigram_similarity("abc", "xyz"), 0.0);
        // Symmetric, and words are padded separately: "a b" has "  a", " a ", "  b", " b ".
        assert_eq!(
            trigram_similarity("a b", "b"),
            trigram_similarity("b", "a b")
        );
        assert!((trigram_similarity("a b", "b") - 0.5).abs() < 1e-12);
    }
}
