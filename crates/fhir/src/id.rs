//! Logical ids (<https://hl7.org/fhir/R4/datatypes.html#id>): `[A-Za-z0-9\-\.]{1,64}`.

/// True when `id` is a valid FHIR logical id.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// A fresh server-assigned id: a UUID version 7 (RFC 9562), which is a valid FHIR id.
///
/// Version 7 starts with the time in milliseconds (and this process's ids increase even
/// within one millisecond), so ids created one after the other sort one after the other.
/// Every table and index of the store that is keyed by id then takes a new resource at its
/// right edge instead of at a random page: a transaction of 100 creates dirties a few pages
/// per index instead of about one per resource, which is what the database writes, logs and
/// checksums at each commit. The 74 random bits keep ids unguessable.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_ids() {
        for ok in ["a", "123", "pract-1.2", &"x".repeat(64)] {
            assert!(is_valid_id(ok), "{ok} should be valid");
        }
        for bad in ["", "a b", "a/b", "é", "a_b", &"x".repeat(65)] {
            assert!(!is_valid_id(bad), "{bad} should be invalid");
        }
    }

    #[test]
    fn new_ids_are_valid_and_distinct() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|i| is_valid_id(i) && i.len() == 36));
    }

    #[test]
    fn new_ids_increase_in_byte_order() {
        let ids: Vec<String> = (0..1000).map(|_| new_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    }
}
