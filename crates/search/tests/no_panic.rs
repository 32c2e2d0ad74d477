//! Malformed input never panics: a deterministic generator feeds `SearchQuery::parse` and the
//! value parsers strings built from the characters search syntax gives meaning to.

use conformance::Registry;
use search::{
    parse_date, Decimal, NearValue, QuantityValue, ReferenceValue, SearchQuery, TokenValue,
};

/// A small linear congruential generator: reproducible without a dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn string(&mut self, alphabet: &[&str], max_len: u64) -> String {
        let len = self.next() % (max_len + 1);
        (0..len)
            .map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize])
            .collect()
    }
}

const VALUE_ALPHABET: &[&str] = &[
    "0",
    "1",
    "9",
    "2020",
    "-",
    "+",
    ":",
    "T",
    "Z",
    ".",
    "e",
    "E",
    "|",
    ",",
    "$",
    "\\",
    "/",
    "_history",
    "gt",
    "ap",
    "x",
    "é",
    " ",
    "http://a.org/",
    "Organization",
    "%",
    "\u{0}",
    "99999999999999999999",
];

const NAME_ALPHABET: &[&str] = &[
    "name",
    "identifier",
    "practitioner",
    "location",
    "organization",
    "_has",
    "PractitionerRole",
    "Practitioner",
    "Location",
    ":",
    ".",
    "exact",
    "missing",
    "text",
    "not",
    "Organization",
    "_include",
    "_sort",
    "_count",
    "iterate",
    "-",
    "near",
    "_lastUpdated",
    "characteristic-value",
    "x",
];

#[test]
fn random_queries_and_values_never_panic() {
    let registry = Registry::builtin();
    let mut rng = Lcg(0x5eed);
    let types = [
        "Practitioner",
        "PractitionerRole",
        "Location",
        "Organization",
        "Group",
        "InsurancePlan",
    ];
    let mut errors = 0;
    for i in 0..5000 {
        let value = rng.string(VALUE_ALPHABET, 8);
        let name = rng.string(NAME_ALPHABET, 6);
        let ty = types[i % types.len()];
        if SearchQuery::parse(ty, &[(name, value.clone())], &registry).is_err() {
            errors += 1;
        }
        let _ = parse_date(&value);
        let _ = Decimal::parse("number", &value);
        let _ = TokenValue::parse(&value);
        let _ = ReferenceValue::parse(&value, None);
        let _ = QuantityValue::parse(&value);
        let _ = NearValue::parse(&value);
    }
    // The generator must actually reach the error paths, or this test proves nothing.
    assert!(
        errors > 100,
        "only {errors} of 5000 random queries were rejected"
    );
}
