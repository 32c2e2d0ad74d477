//! Logical ids (<https://hl7.org/fhir/R4/datatypes.html#id>): `[A-Za-z0-9\-\.]{1,64}`.

/// True when `id` is a valid FHIR logical id.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// A fresh server-assigned id (a random UUID, which is a valid FHIR id).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
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
}
