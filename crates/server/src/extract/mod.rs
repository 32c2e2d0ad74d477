//! Request extractors. Each one rejects with [`crate::error::AppError`], so every malformed
//! request gets an OperationOutcome.

mod body;
mod context;
mod headers;
mod paths;
mod query;

pub use body::{FhirBody, RawBody};
pub use context::{request_context, Ctx};
pub use headers::{Conditional, PreferHeader};
pub use paths::{InstanceOperation, InstanceOrOperation, InstancePath, TypePath, VersionPath};
pub use query::Query;
pub use services::request::{Prefer, QueryPairs, ReturnPref};
