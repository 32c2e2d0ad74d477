//! `name#version`: how FHIR tooling names a package (and its folder in the cache).

use crate::PackageError;

/// A package's name and version, written `name#version` (`name@version`, npm's spelling, is
/// read too).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageId {
    pub name: String,
    pub version: String,
}

impl PackageId {
    /// A package id from its parts, each checked (the name as `check_name` says; a version
    /// holds no `/`, `\`, `#` or space, so that `name#version` is always one safe folder
    /// name).
    pub fn new(name: &str, version: &str) -> Result<PackageId, PackageError> {
        PackageId::check_name(name)?;
        let version_ok = !version.is_empty()
            && version.len() <= 64
            && version != "."
            && version != ".."
            && version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_'));
        if !version_ok {
            return Err(PackageError::InvalidId(format!(
                "{version:?} is not a package version (letters, digits, `.`, `-`, `+`, `_`)"
            )));
        }
        Ok(PackageId {
            name: name.to_owned(),
            version: version.to_owned(),
        })
    }

    /// A package name is lower-case letters, digits, `.`, `-` and `_` (npm's rule for
    /// unscoped names, which FHIR packages follow), not starting with `.`.
    fn check_name(name: &str) -> Result<(), PackageError> {
        let ok = !name.is_empty()
            && name.len() <= 214
            && !name.starts_with('.')
            && name.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_')
            });
        if ok {
            Ok(())
        } else {
            Err(PackageError::InvalidId(format!(
                "{name:?} is not a package name (lower-case letters, digits, `.`, `-`, `_`)"
            )))
        }
    }

    /// Reads `name#version` or `name@version`.
    pub fn parse(text: &str) -> Result<PackageId, PackageError> {
        let (name, version) = text
            .split_once('#')
            .or_else(|| text.split_once('@'))
            .ok_or_else(|| {
                PackageError::InvalidId(format!(
                    "{text:?}: write a package as name#version (or name@version)"
                ))
            })?;
        PackageId::new(name, version)
    }
}

impl std::fmt::Display for PackageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.name, self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_both_spellings_and_refuse_what_could_escape_a_folder() {
        let id = PackageId::parse("hl7.fhir.us.ndh#1.0.0").expect("id");
        assert_eq!(
            (id.name.as_str(), id.version.as_str()),
            ("hl7.fhir.us.ndh", "1.0.0")
        );
        assert_eq!(id.to_string(), "hl7.fhir.us.ndh#1.0.0");
        assert_eq!(
            PackageId::parse("hl7.fhir.r4.core@4.0.1")
                .expect("npm")
                .version,
            "4.0.1"
        );
        for bad in [
            "nohash",
            "#1.0.0",
            "name#",
            "../up#1.0.0",
            "Upper#1.0.0",
            "name#../../etc",
            "name#1.0/2",
            "name#1 0",
            ".hidden#1.0.0",
        ] {
            assert!(PackageId::parse(bad).is_err(), "{bad}");
        }
    }
}
