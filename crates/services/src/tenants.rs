//! Tenant administration (`/admin/tenants`, and the same operations in the CLI), and the
//! tenants this process knows to exist.

use std::collections::HashSet;
use std::sync::RwLock;

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
    if deleted {
        Ok(())
    } else {
        Err(Error::unknown_tenant(raw.to_owned()))
    }
}

/// The tenants seen to exist, so that a request does not ask the database again. A tenant
/// created elsewhere is looked up on its first request; one deleted here is forgotten at once,
/// one deleted by another process when the jobs runner next polls
/// ([`KnownTenants::retain_existing`]), and meanwhile the store itself answers 404 for it.
#[derive(Debug, Default)]
pub struct KnownTenants {
    known: RwLock<HashSet<TenantName>>,
}

impl KnownTenants {
    pub fn contains(&self, tenant: &TenantName) -> bool {
        self.known
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(tenant)
    }

    pub fn insert(&self, tenant: &TenantName) {
        self.known
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(tenant.clone());
    }

    pub fn forget(&self, tenant: &TenantName) {
        self.known
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(tenant);
    }

    /// Forgets every tenant the store no longer has (deleted by another process).
    pub async fn retain_existing(&self, store: &store::Store) -> Result<()> {
        let existing: HashSet<String> = store
            .list_tenants()
            .await?
            .into_iter()
            .map(|t| t.name)
            .collect();
        self.known
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|t| existing.contains(t.as_str()));
        Ok(())
    }
}
