//! Registry of FHIR conformance definitions fhirdir understands: search parameters today,
//! StructureDefinitions, ValueSets and CodeSystems later.
//!
//! Built-in definitions are authored by the project (so the binary works offline); tests
//! compare them with the official packages in `../shared/fhir`.

pub mod builtin;
pub mod elements;
mod error;
pub mod search_param;

pub use builtin::{builtin, BuiltinSource};
pub use elements::{validate_structure, ElementDef, ElementModel, StructureIssue};
pub use error::ConformanceError;
pub use search_param::{Component, Registry, SearchParamDef, SearchParamType};
