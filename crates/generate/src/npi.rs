//! National Provider Identifiers: a 9-digit base plus the Luhn check digit computed the CMS way
//! (the Luhn algorithm run over the base prefixed with the ISO card-issuer prefix `80840`).
//! See <https://www.cms.gov/Regulations-and-Guidance/Administrative-Simplification/NationalProvIdentStand/Downloads/NPIcheckdigit.pdf>.

/// The FHIR identifier system for NPIs.
pub const NPI_SYSTEM: &str = "http://hl7.org/fhir/sid/us-npi";

/// The check digit for a 9-digit NPI base (`100_000_000..=299_999_999`).
#[must_use]
pub fn check_digit(base: u32) -> u32 {
    // Luhn over "80840" + base: double every second digit from the right, starting with the
    // rightmost digit of the full number *without* the check digit.
    let digits = format!("80840{base:09}");
    let mut sum = 0;
    for (i, c) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(c - b'0');
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    (10 - sum % 10) % 10
}

/// Is `npi` a well-formed, check-digit-valid 10-digit NPI?
#[must_use]
pub fn is_valid(npi: &str) -> bool {
    if npi.len() != 10 || !npi.bytes().all(|b| b.is_ascii_digit()) || !npi.starts_with(['1', '2']) {
        return false;
    }
    let Ok(base) = npi[..9].parse::<u32>() else {
        return false;
    };
    u32::from(npi.as_bytes()[9] - b'0') == check_digit(base)
}

/// Size of the NPI base space we draw from (`100_000_000..1_000_000_000`, i.e. any leading digit
/// 1..9; we keep to 1 and 2 below, as real NPIs do).
const SPACE: u64 = 200_000_000;
/// A multiplier coprime with `SPACE` (odd, and not a multiple of 5), so `i -> i*A + B mod SPACE`
/// is a bijection: distinct indexes always get distinct NPIs, with no lookup table.
const MULTIPLIER: u64 = 118_793_627;

/// The NPI of entity number `index` (unique for `index < 200_000_000`) in a run with `seed`.
#[must_use]
pub fn npi(seed: u64, index: u64) -> String {
    let offset = crate::rng::mix64(seed) % SPACE;
    let base = 100_000_000 + (index % SPACE * MULTIPLIER + offset) % SPACE;
    let base = u32::try_from(base).unwrap_or(100_000_000);
    format!("{base:09}{}", check_digit(base))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cms_worked_example_has_check_digit_3() {
        // The CMS document's example: 123456789 -> 1234567893.
        assert_eq!(check_digit(123_456_789), 3);
        assert!(is_valid("1234567893"));
    }

    #[test]
    fn invalid_npis_are_rejected() {
        for bad in [
            "1234567890",
            "1234567894",
            "123456789",
            "12345678931",
            "3234567893",
            "12345a7893",
        ] {
            assert!(!is_valid(bad), "{bad} should be invalid");
        }
    }

    #[test]
    fn generated_npis_are_valid_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..20_000 {
            let n = npi(42, i);
            assert!(is_valid(&n), "{n}");
            assert!(seen.insert(n));
        }
    }
}
