//! Tenant administration (`/admin/tenants`, and the same operations in the CLI).

use store::{TenantInfo, TenantName};

use crate::error::{AppError, AppResult};
use crate::state::App;

fn name(raw: &str) -> AppResult<TenantName> {
    TenantName::parse(raw).map_err(|e| AppError::invalid(e.to_string()))
}

pub async fn list(app: &App) -> AppResult<Vec<TenantInfo>> {
    Ok(app.store.list_tenants().await?)
}

/// Creates a tenant; 409 when it exists.
pub async fn create(app: &App, raw: &str) -> AppResult<TenantName> {
    let tenant = name(raw)?;
    if app.store.create_tenant(&tenant).await? {
        Ok(tenant)
    } else {
        Err(AppError::Conflict(format!(
            "tenant {tenant:?} already exists"
        )))
    }
}

/// Deletes a tenant and all it holds; 404 when unknown, 409 for `default`.
pub async fn delete(app: &App, raw: &str) -> AppResult<()> {
    let tenant = TenantName::parse(raw).map_err(|_| AppError::UnknownTenant(raw.to_owned()))?;
    let deleted = app.store.delete_tenant(&tenant).await?;
    // A tenant created later under the same name starts without this one's parameters.
    app.conformance.invalidate(&tenant);
    if deleted {
        Ok(())
    } else {
        Err(AppError::UnknownTenant(raw.to_owned()))
    }
}
