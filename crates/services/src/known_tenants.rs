//! [`KnownTenants`]: the tenants this process has seen to exist.

use std::collections::HashSet;
use std::sync::RwLock;

use store::TenantName;

use crate::error::Result;

/// The tenants seen to exist, so that a request does not ask the database again. A tenant
/// created elsewhere is looked up on its first request; one deleted here is forgotten at once,
/// one deleted by another process when the jobs runner next polls
/// ([`KnownTenants::retain_existing`], called by the jobs runner), and meanwhile the store itself answers 404 for it.
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
