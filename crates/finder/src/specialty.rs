//! `specialty`: a NUCC Health Care Provider Taxonomy code or words of its display.
//!
//! Plan-Net codes `PractitionerRole.specialty` and `Practitioner.qualification.code` with the
//! NUCC taxonomy (<http://nucc.org/provider-taxonomy>; value set
//! <http://hl7.org/fhir/us/davinci-pdex-plan-net/ValueSet/SpecialtiesVS>). A taxonomy code is
//! ten characters, three digits, six digits or capital letters, and a final `X`
//! (`207RC0000X`, Cardiovascular Disease): a value of that shape is a code (its letters
//! upper-cased first, so `207rc0000x` is one too), anything else is display text
//! (`cardiology`). A token `system|code` is accepted when the system is NUCC's.

use serde::Serialize;

use crate::error::QueryError;

/// The code system of NUCC provider taxonomy codes.
pub const NUCC_SYSTEM: &str = "http://nucc.org/provider-taxonomy";

/// What `specialty` asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum SpecialtyWanted {
    /// A NUCC code, upper case (`207RC0000X`).
    Code(String),
    /// Display text as given, trimmed (`Cardiology`); how it matches a display is the
    /// store's (it should fold case and accents as for names).
    Text(String),
}

impl SpecialtyWanted {
    /// The value as a client would write it (for links).
    pub(crate) fn render(&self) -> &str {
        match self {
            SpecialtyWanted::Code(s) | SpecialtyWanted::Text(s) => s,
        }
    }
}

/// Parses `specialty` (already trimmed and non-empty).
pub(crate) fn parse_specialty(raw: &str) -> Result<SpecialtyWanted, QueryError> {
    if let Some((system, code)) = raw.split_once('|') {
        let code = code.to_ascii_uppercase();
        if system != NUCC_SYSTEM || !is_nucc_code(&code) {
            return Err(QueryError::new(
                "specialty",
                format!(
                    "parameter `specialty`: `{raw}` is not `{NUCC_SYSTEM}|[code]` with a NUCC taxonomy code; give a code such as `207RC0000X` or display text"
                ),
            ));
        }
        return Ok(SpecialtyWanted::Code(code));
    }
    let upper = raw.to_ascii_uppercase();
    if is_nucc_code(&upper) {
        return Ok(SpecialtyWanted::Code(upper));
    }
    if !raw.chars().any(char::is_alphabetic) {
        return Err(QueryError::new(
            "specialty",
            format!(
                "parameter `specialty`: `{raw}` is neither a NUCC taxonomy code (such as `207RC0000X`) nor words of a specialty's name"
            ),
        ));
    }
    Ok(SpecialtyWanted::Text(raw.to_owned()))
}

/// `^[0-9]{3}[0-9A-Z]{6}X$`.
fn is_nucc_code(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[..3].iter().all(u8::is_ascii_digit)
        && b[3..9]
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        && b[9] == b'X'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_text_are_told_apart() {
        for (raw, want) in [
            ("207RC0000X", SpecialtyWanted::Code("207RC0000X".into())),
            ("207rc0000x", SpecialtyWanted::Code("207RC0000X".into())),
            ("363L00000X", SpecialtyWanted::Code("363L00000X".into())),
            (
                "http://nucc.org/provider-taxonomy|208D00000X",
                SpecialtyWanted::Code("208D00000X".into()),
            ),
            ("Cardiology", SpecialtyWanted::Text("Cardiology".into())),
            // Shaped almost like a code: text (and will match no display).
            ("207RC0000Y", SpecialtyWanted::Text("207RC0000Y".into())),
            ("20RC00000X", SpecialtyWanted::Text("20RC00000X".into())),
            (
                "Counselor, Mental Health",
                SpecialtyWanted::Text("Counselor, Mental Health".into()),
            ),
        ] {
            assert_eq!(parse_specialty(raw), Ok(want), "{raw}");
        }
    }

    #[test]
    fn other_systems_and_letterless_text_are_refused_naming_specialty() {
        for bad in [
            "http://snomed.info/sct|394579002",
            "http://nucc.org/provider-taxonomy|cardiology",
            "|207RC0000X",
            "12345",
        ] {
            let err = parse_specialty(bad).expect_err(bad);
            assert_eq!(err.parameter(), Some("specialty"));
            assert!(err.message().contains("`specialty`"), "{err}");
        }
    }
}
