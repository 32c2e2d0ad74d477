//! The per-tenant search parameter cache: the server-wide registry (built-in definitions
//! plus those loaded from `profiles/` and FHIR packages at start) and, per tenant, the view
//! that adds the tenant's own SearchParameters. Loading and reconciling a tenant's view is
//! `tenant_conformance`'s business; this module only holds what was loaded.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use conformance::{Registry, SearchParamDef};
use store::TenantName;

/// What one tenant searches and indexes with.
#[derive(Debug)]
pub struct TenantConformance {
    /// Built-in, profile and tenant-defined parameters.
    pub registry: Arc<Registry>,
    /// Compiled expressions of `registry`.
    pub extractor: Arc<search::Extractor>,
    /// Parameter URL -> id of the unfinished reindex job it waits for.
    pub pending: BTreeMap<String, String>,
    /// [`store::Store::search_parameter_stamp`] when this view was loaded.
    pub(crate) stamp: (i64, i64),
}

/// The server-wide definitions and the per-tenant cache.
#[derive(Debug)]
pub struct ConformanceCache {
    pub(crate) base_registry: Arc<Registry>,
    pub(crate) base_extractor: Arc<search::Extractor>,
    /// The non-built-in definitions of the server-wide registry (from `profiles/`), by URL.
    pub(crate) loaded: BTreeMap<String, SearchParamDef>,
    pub(crate) tenants: RwLock<HashMap<TenantName, Arc<TenantConformance>>>,
    /// Serialises loading and reconciling, so two requests do not queue the same job twice.
    pub(crate) reconcile: tokio::sync::Mutex<()>,
}

impl ConformanceCache {
    /// `registry` is the server-wide one; `loaded` the definitions it holds beyond the
    /// built-in ones (they are reconciled with each tenant's index like tenant definitions).
    pub fn new(registry: Registry, mut loaded: Vec<SearchParamDef>) -> ConformanceCache {
        // A loaded copy of a built-in definition (e.g. the Plan-Net package) changes nothing.
        let builtin = conformance::builtin();
        loaded.retain(|d| !builtin.contains(d));
        let extractor = search::Extractor::new(registry.clone());
        for (url, error) in extractor.failed() {
            tracing::warn!(%url, %error, "search parameter expression does not compile; not indexed");
        }
        ConformanceCache {
            base_registry: Arc::new(registry),
            base_extractor: Arc::new(extractor),
            loaded: loaded.into_iter().map(|d| (d.url.clone(), d)).collect(),
            tenants: RwLock::new(HashMap::new()),
            reconcile: tokio::sync::Mutex::new(()),
        }
    }

    /// The server-wide registry (no tenant's own parameters).
    pub fn base_registry(&self) -> &Arc<Registry> {
        &self.base_registry
    }

    /// The server-wide extractor (no tenant's own parameters).
    pub fn base_extractor(&self) -> &Arc<search::Extractor> {
        &self.base_extractor
    }

    /// Drops the cached view of `tenant`; the next use reloads it.
    pub fn invalidate(&self, tenant: &TenantName) {
        self.tenants
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(tenant);
    }

    pub(crate) fn cached_all(&self) -> Vec<(TenantName, Arc<TenantConformance>)> {
        self.tenants
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(t, c)| (t.clone(), c.clone()))
            .collect()
    }

    pub(crate) fn cached(&self, tenant: &TenantName) -> Option<Arc<TenantConformance>> {
        self.tenants
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(tenant)
            .cloned()
    }
}
