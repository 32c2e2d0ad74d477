//! Typed path extractors: resource type, id and version, validated once here (the tenant is
//! the request context's: [`super::Ctx`]).

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use crate::error::{AppError, Error};

async fn segments<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<Vec<String>, AppError> {
    let Path(segs): Path<Vec<(String, String)>> = Path::from_request_parts(parts, state)
        .await
        .map_err(|e| Error::invalid(format!("malformed path: {e}")))?;
    Ok(segs.into_iter().map(|(_, v)| v).collect())
}

fn resource_type(name: &str) -> Result<String, AppError> {
    if fhir::is_resource_type(name) {
        Ok(name.to_owned())
    } else {
        Err(Error::unknown_resource_type(name.to_owned()).into())
    }
}

fn id(id: &str) -> Result<String, AppError> {
    if fhir::is_valid_id(id) {
        Ok(id.to_owned())
    } else {
        Err(Error::invalid(format!(
            "{id:?} is not a valid resource id: expected 1 to 64 of A-Z a-z 0-9 - ."
        ))
        .into())
    }
}

/// `/fhir/{tenant}/{type}`
pub struct TypePath {
    pub resource_type: String,
}

/// `/fhir/{tenant}/{type}/{id}`
pub struct InstancePath {
    pub resource_type: String,
    pub id: String,
}

/// `/fhir/{tenant}/{type}/{id}/_history/{vid}`
pub struct VersionPath {
    pub resource_type: String,
    pub id: String,
    pub version: i64,
}

impl<S: Send + Sync> FromRequestParts<S> for TypePath {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let s = segments(parts, state).await?;
        match s.as_slice() {
            [_, rt, ..] => Ok(TypePath {
                resource_type: resource_type(rt)?,
            }),
            _ => Err(Error::invalid("malformed path").into()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for InstancePath {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let s = segments(parts, state).await?;
        match s.as_slice() {
            [_, rt, i, ..] => Ok(InstancePath {
                resource_type: resource_type(rt)?,
                id: id(i)?,
            }),
            _ => Err(Error::invalid("malformed path").into()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for VersionPath {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let s = segments(parts, state).await?;
        match s.as_slice() {
            [_, rt, i, v] => Ok(VersionPath {
                resource_type: resource_type(rt)?,
                id: id(i)?,
                version: v.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    Error::invalid(format!(
                        "{v:?} is not a version id: expected a positive integer"
                    ))
                })?,
            }),
            _ => Err(Error::invalid("malformed path").into()),
        }
    }
}

/// `/fhir/{tenant}/{type}/{id}` where the last segment may name a type-level operation
/// (`$status`) instead of an id.
pub enum InstanceOrOperation {
    Instance(InstancePath),
    Operation { resource_type: String, name: String },
}

impl<S: Send + Sync> FromRequestParts<S> for InstanceOrOperation {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let s = segments(parts, state).await?;
        match s.as_slice() {
            [_, rt, op] if op.starts_with('$') => Ok(InstanceOrOperation::Operation {
                resource_type: resource_type(rt)?,
                name: op[1..].to_owned(),
            }),
            [_, rt, i] => Ok(InstanceOrOperation::Instance(InstancePath {
                resource_type: resource_type(rt)?,
                id: id(i)?,
            })),
            _ => Err(Error::invalid("malformed path").into()),
        }
    }
}

/// `/fhir/{tenant}/{type}/{id}/{$operation}`
pub struct InstanceOperation {
    pub resource_type: String,
    pub id: String,
    pub name: String,
}

impl<S: Send + Sync> FromRequestParts<S> for InstanceOperation {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let s = segments(parts, state).await?;
        match s.as_slice() {
            [_, rt, i, op] => match op.strip_prefix('$') {
                Some(name) => Ok(InstanceOperation {
                    resource_type: resource_type(rt)?,
                    id: id(i)?,
                    name: name.to_owned(),
                }),
                None => Err(Error::not_found(format!(
                    "no route for .../{rt}/{i}/{op} (an operation is named $op)"
                ))
                .into()),
            },
            _ => Err(Error::invalid("malformed path").into()),
        }
    }
}
