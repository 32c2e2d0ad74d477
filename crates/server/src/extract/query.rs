//! The query string as ordered, decoded pairs ([`QueryPairs`]).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

pub use services::request::QueryPairs;

use crate::error::{AppError, Error};

/// The decoded query string of a request.
pub struct Query(pub QueryPairs);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        let q = parts.uri.query().unwrap_or_default();
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q)
            .map_err(|e| Error::invalid(format!("malformed query string: {e}")))?;
        Ok(Query(QueryPairs(pairs)))
    }
}
