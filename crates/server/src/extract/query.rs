//! The query string as ordered, decoded pairs (FHIR repeats parameters: order and
//! repetition matter, so a map would lose meaning).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::AppError;

pub struct QueryPairs(pub Vec<(String, String)>);

impl QueryPairs {
    /// The last value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        let q = parts.uri.query().unwrap_or_default();
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q)
            .map_err(|e| AppError::invalid(format!("malformed query string: {e}")))?;
        Ok(QueryPairs(pairs))
    }
}
