//! Request extractors. Each one rejects with [`crate::error::AppError`], so every malformed
//! request gets an OperationOutcome.

mod body;
mod headers;
mod paths;
mod query;

pub use body::{parse_resource, FhirBody, RawBody};
pub use headers::{parse_etag, Conditional, Prefer, ReturnPref};
pub use paths::{InstancePath, TenantPath, TypePath, VersionPath};
pub use query::QueryPairs;
