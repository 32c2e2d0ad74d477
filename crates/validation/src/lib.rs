//! Validation of FHIR R4 resources: what a directory checks before it stores an attestation
//! ("consistency with data types, required elements present, codes from the appropriate
//! value set", NDH). Pure: no IO, no store; the services decide what a verdict does (refuse
//! with 422, warn, or answer `$validate`).
//!
//! [`Validator::core`] checks a resource against FHIR R4 itself
//! (<https://hl7.org/fhir/R4/validation.html>), in two walks:
//! 1. structure ([`conformance::validate_structure`]): known elements, arrays exactly where
//!    an element repeats, JSON kinds and lexical forms of primitives, `resourceType`, id;
//! 2. content ([`walk`]): minimum cardinalities, `required` bindings whose value set the core
//!    definitions enumerate, and the invariants (`ElementDefinition.constraint`) of every
//!    type and element met, evaluated with the `fhirpath` crate. An invariant that crate
//!    cannot evaluate is reported as an `information` issue, never as a pass.
//!
//! The rules come from `src/builtin/core_r4.tsv`, derived from the official R4 4.0.1
//! definitions by `tools/derive_core.py` and checked against them by
//! `tests/core_table_matches_official.rs`; the element model is `conformance`'s.
//!
//! Profiles (StructureDefinitions of implementation guides, their slicing and extensions)
//! are a layer over the same [`Issue`]s: [`ProfileSet`].

mod core_table;
mod issue;
mod policy;
pub mod profile;
pub mod references;
mod walk;

use std::sync::OnceLock;

use conformance::ElementModel;
use serde_json::Value;

pub use core_table::CoreTable;
pub use fhir::outcome::Issue;
pub use fhir::{IssueSeverity, IssueType};
pub use issue::describe;
pub use policy::Policy;
pub use profile::ProfileSet;

/// A validator, compiled once and shared.
#[derive(Debug)]
pub struct Validator {
    model: &'static ElementModel,
    table: &'static CoreTable,
}

impl Validator {
    /// FHIR R4 core validation (see the crate docs); built once per process.
    pub fn core() -> &'static Validator {
        static CORE: OnceLock<Validator> = OnceLock::new();
        CORE.get_or_init(|| Validator {
            model: ElementModel::r4(),
            table: CoreTable::r4(),
        })
    }

    /// Every issue of `resource`, errors first (empty: valid, no warnings).
    pub fn validate(&self, resource: &Value) -> Vec<Issue> {
        let mut issues: Vec<Issue> = conformance::validate_structure(resource, self.model)
            .into_iter()
            .map(issue::from_structure)
            .collect();
        // Content rules assume the structure: an unknown element or a wrong JSON kind
        // would only repeat itself as a cardinality or invariant failure.
        if issues.is_empty() {
            walk::content(self.model, self.table, resource, &mut issues);
        }
        issues.sort_by_key(|i| i.severity);
        issues
    }
}

/// Whether `issues` hold an error (or a fatal issue): the resource is invalid.
pub fn has_errors(issues: &[Issue]) -> bool {
    issues.iter().any(|i| i.severity <= IssueSeverity::Error)
}
