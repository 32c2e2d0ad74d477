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

/// The tenants anonymous callers may read (every tenant when authorization is off): what the
/// find-a-doctor page at `/` offers. A tenant that requires a token for reads is not named
/// to anonymous visitors.
pub async fn publicly_readable(app: &App) -> Result<Vec<TenantName>> {
    let mut out = Vec::new();
    for t in app.store.list_tenants().await? {
        let Ok(tenant) = TenantName::parse(&t.name) else {
            continue;
        };
        if !app.settings.auth_enforced || app.anonymous_read(&tenant).await? {
            out.push(tenant);
        }
    }
    Ok(out)
}

/// `raw` as a tenant anonymous callers may read; 404 otherwise (an unknown tenant and one
/// that requires a token look the same).
pub async fn public_tenant(app: &App, raw: &str) -> Result<TenantName> {
    let tenant = TenantName::parse(raw).map_err(|_| Error::unknown_tenant(raw.to_owned()))?;
    let readable = app.store.tenant_exists(&tenant).await?
        && (!app.settings.auth_enforced || app.anonymous_read(&tenant).await?);
    if readable {
        Ok(tenant)
    } else {
        Err(Error::unknown_tenant(raw.to_owned()))
    }
}
