//! FHIR R4 helpers over `serde_json` that every other crate shares: the list of resource
//! types, logical id rules, server-assigned `meta`, OperationOutcome and Bundle builders.
//!
//! Pure: no IO, no HTTP, no SQL.

pub mod bundle;
pub mod id;
pub mod meta;
pub mod outcome;
pub mod resource_types;
pub mod shape;
pub mod storable;
mod summary_table;

pub use bundle::{BundleBuilder, BundleEntry};
pub use id::{is_valid_id, new_id};
pub use meta::stamp_meta;
pub use outcome::{IssueSeverity, IssueType, OperationOutcome};
pub use resource_types::{is_resource_type, RESOURCE_TYPES};
pub mod compartments;
