//! Typed path extractors: tenant, resource type, id and version, validated once here.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use store::TenantName;

use crate::error::AppError;

async fn segments<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<Vec<String>, AppError> {
    let Path(segs): Path<Vec<(String, String)>> = Path::from_request_parts(parts, state)
        .await
        .map_err(|e| AppError::invalid(format!("malformed path: {e}")))?;
    Ok(segs.into_iter().map(|(_, v)| v).collect())
}

fn tenant(name: &str) -> Result<TenantName, AppError> {
    TenantName::parse(name).map_err(|_| AppError::UnknownTenant(name.to_owned()))
}

fn resource_type(name: &str) -> Result<String, AppError> {
    if fhir::is_resource_type(name) {
        Ok(name.to_owned())
    } else {
        Err(AppError::UnknownResourceType(name.to_owned()))
    }
}

fn id(id: &str) -> Result<String, AppError> {
    if fhir::is_valid_id(id) {
        Ok(id.to_owned())
    } else {
        Err(AppError::invalid(format!(
            "{id:?} is not a valid resource id: expected 1 to 64 of A-Z a-z 0-9 - ."
        )))
    }
}

/// `/fhir/{tenant}/...`
pub struct TenantPath(pub TenantName);

/// `/fhir/{tenant}/{type}`
pub struct TypePath {
    pub tenant: TenantName,
    pub resource_type: String,
}

/// `/fhir/{tenant}/{type}/{id}`
pub struct InstancePath {
    pub tenant: TenantName,
    pub resource_type: String,
    pub id: String,
}

/// `/fhir/{tenant}/{type}/{id}/_history/{vid}`
pub struct VersionPath {
    pub tenant: TenantName,
    pub resource_type: String,
    pub id: String,
    pub version: i64,
}

impl<S: Send + Sync> FromRequestParts<S> for TenantPath {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let s = segments(parts, state).await?;
        Ok(TenantPath(tenant(
            s.first().map(String::as_str).unwrap_or_default(),
        )?))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TypePath {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let s = segments(parts, state).await?;
        match s.as_slice() {
            [t, rt, ..] => Ok(TypePath {
                tenant: tenant(t)?,
                resource_type: resource_type(rt)?,
            }),
            _ => Err(AppError::invalid("malformed path")),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for InstancePath {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let s = segments(parts, state).await?;
        match s.as_slice() {
            [t, rt, i, ..] => Ok(InstancePath {
                tenant: tenant(t)?,
                resource_type: resource_type(rt)?,
                id: id(i)?,
            }),
            _ => Err(AppError::invalid("malformed path")),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for VersionPath {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let s = segments(parts, state).await?;
        match s.as_slice() {
            [t, rt, i, v] => Ok(VersionPath {
                tenant: tenant(t)?,
                resource_type: resource_type(rt)?,
                id: id(i)?,
                version: v.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    AppError::invalid(format!(
                        "{v:?} is not a version id: expected a positive integer"
                    ))
                })?,
            }),
            _ => Err(AppError::invalid("malformed path")),
        }
    }
}
