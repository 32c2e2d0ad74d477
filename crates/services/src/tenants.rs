//! Tenant administration (`/admin/tenants`, and the same operations in the CLI).

use store::{TenantInfo, TenantName};

use crate::error::{Error, Result};
use crate::App;

fn name(raw: &str) -> Result<TenantName> {
    TenantName::parse(raw).map_err(|e| Error::invalid(e.to_string()))
}

pub async fn list(app: &App) -> Result<Vec<TenantInfo>> {
    Ok(app.store.list_tenants().await?)
}

/// Creates a tenant; 409 when it exists.
pub async fn create(app: &App, raw: &str) -> Result<TenantName> {
    let tenant = name(raw)?;
    if app.store.create_tenant(&tenant).await? {
        Ok(tenant)
    } else {
        Err(Error::conflict(format!("tenant {tenant:?} already exists")))
    }
}

/// Deletes a tenant and all it holds; 404 when unknown, 409 for `default`.
pub async fn delete(app: &App, raw: &str) -> Result<()> {
    let tenant = TenantName::parse(raw).map_err(|_| Error::unknown_tenant(raw.to_owned()))?;
    let deleted = app.store.delete_tenant(&tenant).await?;
    // A tenant created later under the same name starts without this one's parameters.
    app.conformance.invalidate(&tenant);
    app.tenants.forget(&tenant);
    app.auth.forget(&tenant);
    if deleted {
        Ok(())
    } else {
        Err(Error::unknown_tenant(raw.to_owned()))
    }
}
