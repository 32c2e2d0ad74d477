//! The normal forms verification compares: names and addresses as people write them
//! differently (case, accents, punctuation, `Street` or `St`), so that only a real
//! difference fails a check.

use serde_json::Value;
use unicode_normalization::UnicodeNormalization;

/// Words an address writes either way (USPS Publication 28's common suffixes and unit
/// designators), to their short form.
const ADDRESS_WORDS: &[(&str, &str)] = &[
    ("street", "st"),
    ("avenue", "ave"),
    ("road", "rd"),
    ("boulevard", "blvd"),
    ("drive", "dr"),
    ("lane", "ln"),
    ("court", "ct"),
    ("place", "pl"),
    ("parkway", "pkwy"),
    ("highway", "hwy"),
    ("square", "sq"),
    ("terrace", "ter"),
    ("suite", "ste"),
    ("apartment", "apt"),
    ("building", "bldg"),
    ("floor", "fl"),
    ("north", "n"),
    ("south", "s"),
    ("east", "e"),
    ("west", "w"),
];

/// Words an organization's name may carry or not.
const ORG_SUFFIXES: &[&str] = &[
    "inc",
    "llc",
    "llp",
    "ltd",
    "corp",
    "corporation",
    "co",
    "pc",
    "pa",
];

/// Lower case, accents removed, punctuation as spaces, single spaces.
pub fn words(text: &str) -> Vec<String> {
    let plain: String = text
        .nfkd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect();
    plain.split_whitespace().map(str::to_owned).collect()
}

/// A person's or service's name in normal form.
pub fn name(text: &str) -> String {
    words(text).join(" ")
}

/// An organization's name in normal form (`Acme Health, Inc.` = `ACME HEALTH`).
pub fn org_name(text: &str) -> String {
    let mut w = words(text);
    while w.len() > 1 && w.last().is_some_and(|l| ORG_SUFFIXES.contains(&l.as_str())) {
        w.pop();
    }
    w.join(" ")
}

/// A FHIR `Address` in normal form: lines, city, state, and the 5-digit ZIP code.
pub fn address(a: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    for line in a["line"].as_array().into_iter().flatten() {
        if let Some(l) = line.as_str() {
            parts.extend(words(l).into_iter().map(|w| {
                ADDRESS_WORDS
                    .iter()
                    .find(|(long, _)| *long == w)
                    .map_or(w, |(_, short)| (*short).to_owned())
            }));
        }
    }
    parts.push("|".into());
    parts.extend(words(a["city"].as_str().unwrap_or_default()));
    parts.push("|".into());
    parts.extend(words(a["state"].as_str().unwrap_or_default()));
    parts.push("|".into());
    parts.push(zip5(a["postalCode"].as_str().unwrap_or_default()));
    parts.join(" ")
}

/// The first five digits of a ZIP code (`06103-1234` → `06103`).
pub fn zip5(zip: &str) -> String {
    zip.chars().filter(char::is_ascii_digit).take(5).collect()
}

/// An address as a person reads it (for explanations).
pub fn address_text(a: &Value) -> String {
    let mut parts: Vec<String> = a["line"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    for k in ["city", "state", "postalCode"] {
        if let Some(v) = a[k].as_str() {
            parts.push(v.to_owned());
        }
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn addresses_written_differently_are_the_same() {
        let a = json!({"line": ["100 North Main Street", "Suite 4"], "city": "Hartford",
                       "state": "CT", "postalCode": "06103-1234"});
        let b = json!({"line": ["100 N. MAIN ST", "STE 4"], "city": "HARTFORD",
                       "state": "ct", "postalCode": "06103"});
        assert_eq!(address(&a), address(&b));
        let c = json!({"line": ["102 N Main St", "Ste 4"], "city": "Hartford", "state": "CT",
                       "postalCode": "06103"});
        assert_ne!(address(&a), address(&c));
        assert_eq!(
            address_text(&c),
            "102 N Main St, Ste 4, Hartford, CT, 06103"
        );
    }

    #[test]
    fn names_ignore_case_accents_punctuation_and_company_suffixes() {
        assert_eq!(name("José  O'Neil"), name("jose o neil"));
        assert_eq!(org_name("Acme Health, Inc."), org_name("ACME HEALTH"));
        assert_ne!(org_name("Acme Health"), org_name("Acme Wealth"));
        assert_eq!(org_name("Inc"), "inc", "a name that is only a suffix stays");
    }
}
