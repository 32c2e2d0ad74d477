//! Registry of FHIR conformance definitions fhirdir understands: search parameters today,
//! StructureDefinitions, ValueSets and CodeSystems later.
//!
//! Built-in definitions are authored by the project (so the binary works offline); tests
//! compare them with the official packages in `../shared/fhir`. More SearchParameters come
//! from files at run time ([`package`]: JSON files, FHIR package folders and `.tgz`
//! packages) and from each tenant's own `SearchParameter` resources
//! ([`SearchParamDef::from_resource`]); [`Registry::extended`] layers them over the
//! built-in ones.

pub mod builtin;
pub mod elements;
mod error;
mod from_json;
pub mod package;
pub mod search_param;

pub use builtin::{builtin, BuiltinSource};
pub use elements::{validate_structure, ElementDef, ElementModel, StructureIssue};
pub use error::ConformanceError;
pub use from_json::InvalidSearchParameter;
pub use package::{DefinitionPackage, LoadedParam};
pub use search_param::{Component, Registry, SearchParamDef, SearchParamType};
