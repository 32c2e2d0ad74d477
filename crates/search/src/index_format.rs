//! The index format: what a tenant's index rows were built with, beyond the tenant's own
//! and the loaded search parameters. Two binaries that extract different rows from the same
//! resource (a built-in definition changed, or how values are indexed, like `phonetic`
//! becoming Soundex) have different formats, and a tenant indexed with an older one is
//! reindexed in the background when a newer binary first loads it, instead of answering
//! searches from rows that the new queries cannot match.
//!
//! The server records the format with the tenant's indexed search parameters, under
//! [`INDEX_FORMAT_URL`]; `fhirdir import` records it for a tenant it loads from empty.

/// The key of the format in a tenant's record of indexed search parameters.
pub const INDEX_FORMAT_URL: &str = "urn:fhirdir:index-format";

/// Bumped whenever the same definitions yield different index rows. History: 1, the first
/// recorded format; 2, `phonetic` indexes Soundex codes.
const EXTRACTION_VERSION: u32 = 2;

/// This binary's format: the extraction version and a digest of the built-in definitions,
/// computed once (it serialises every built-in definition).
pub fn index_format() -> &'static str {
    static FORMAT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    FORMAT.get_or_init(|| {
        let definitions = serde_json::to_string(conformance::builtin()).unwrap_or_default();
        format!(
            "{EXTRACTION_VERSION}:{:016x}",
            fnv1a(definitions.as_bytes())
        )
    })
}

/// 64-bit FNV-1a: stable across Rust releases and platforms, unlike `DefaultHasher`, since
/// the digest is stored and compared by later binaries.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_is_stable_and_names_the_extraction_version() {
        assert_eq!(index_format(), index_format());
        assert!(index_format().starts_with("2:"), "{}", index_format());
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
