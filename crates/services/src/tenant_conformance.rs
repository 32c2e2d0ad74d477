//! Per-tenant search parameters: the server-wide registry (built-in definitions plus those
//! loaded from `profiles/` and FHIR packages at start) extended with the tenant's own
//! `SearchParameter` resources, its compiled [`search::Extractor`], and the parameters whose
//! reindex is still pending (searches on them warn).
//!
//! Writes, search, conditional interactions and `/metadata` of a tenant all take
//! [`App::conformance`], so a tenant's parameter is seen by that tenant only. The view is
//! cached per tenant and dropped whenever one of the tenant's SearchParameters changes
//! ([`App::search_parameters_changed`]) or a reindex job of the tenant ends.
//!
//! Loading a tenant's view also reconciles its index: the non-built-in definitions that apply
//! to it are compared with those its index was built for (`indexed_search_params`), and a
//! new, changed or removed definition queues a reindex job over the affected resource types
//! (<https://hl7.org/fhir/R4/searchparameter.html>). This catches every way a definition can
//! change: the API, Bundles, PATCH, and a restart with a different `profiles/` folder.
//!
//! Other processes: a SearchParameter written by a second server or `fhirdir import`, and a
//! reindex job finished by another server, are noticed by
//! [`App::refresh_stale_conformance`], which the jobs runner calls (through the
//! reindex kind, [`crate::reindex::Reindex`]) whenever it is idle for its poll interval.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use conformance::SearchParamDef;
use serde_json::Value;
use store::TenantName;

pub use crate::conformance_cache::{ConformanceCache, TenantConformance};
use crate::error::{Error, Result};
use crate::App;

impl App {
    /// The search parameters of `tenant` (cached; loading may queue a reindex job).
    pub async fn conformance(&self, tenant: &TenantName) -> Result<Arc<TenantConformance>> {
        if let Some(c) = self.conformance.cached(tenant) {
            return Ok(c);
        }
        let _guard = self.conformance.reconcile.lock().await;
        if let Some(c) = self.conformance.cached(tenant) {
            return Ok(c);
        }
        // Never cache (or reconcile) a tenant that does not exist.
        if !self.store.tenant_exists(tenant).await? {
            return Err(Error::unknown_tenant(tenant.to_string()));
        }
        let loaded = self.load_conformance(tenant).await?;
        self.conformance
            .tenants
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(tenant.clone(), loaded.clone());
        Ok(loaded)
    }

    /// Call after a committed write of a SearchParameter of `tenant`: drops the cached view
    /// and reloads it, which queues the reindex the change needs. Failures are logged (the
    /// next use of the tenant retries).
    pub async fn search_parameters_changed(&self, tenant: &TenantName) {
        self.conformance.invalidate(tenant);
        if let Err(e) = self.conformance(tenant).await {
            tracing::warn!(%tenant, error = %e, "reloading the tenant's search parameters failed");
        }
    }

    /// Drops cached views that another process made stale: a SearchParameter written there
    /// (a second server, `fhirdir import`), or a pending reindex job that has ended. The
    /// jobs runner calls this when idle (every few seconds).
    pub async fn refresh_stale_conformance(&self) {
        for (tenant, conf) in self.conformance.cached_all() {
            let stale = async {
                if self.store.search_parameter_stamp(&tenant).await? != conf.stamp {
                    return Ok::<_, Error>(true);
                }
                if conf.pending.is_empty() {
                    return Ok(false);
                }
                let unfinished: BTreeSet<String> = crate::reindex::jobs(self, &tenant, true)
                    .await?
                    .into_iter()
                    .map(|j| j.id)
                    .collect();
                Ok(conf.pending.values().any(|job| !unfinished.contains(job)))
            };
            match stale.await {
                Ok(true) => self.search_parameters_changed(&tenant).await,
                Ok(false) => {}
                Err(e) => tracing::warn!(%tenant, error = %e, "checking search parameters failed"),
            }
        }
    }

    async fn load_conformance(&self, tenant: &TenantName) -> Result<Arc<TenantConformance>> {
        // Taken first: a write after it changes the stamp, so the next refresh reloads.
        let stamp = self.store.search_parameter_stamp(tenant).await?;
        let own = tenant_search_parameters(&self.store, tenant).await?;
        // Everything beyond the built-in set that applies to this tenant, by URL.
        let mut effective: BTreeMap<String, SearchParamDef> = self.conformance.loaded.clone();
        for d in &own {
            effective.insert(d.url.clone(), d.clone());
        }
        self.reconcile_index(tenant, &effective).await?;

        let pending = crate::reindex::jobs(self, tenant, true)
            .await?
            .into_iter()
            .flat_map(|job| job.params.into_iter().map(move |p| (p, job.id.clone())))
            .collect();
        let (registry, extractor) = if own.is_empty() {
            (
                self.conformance.base_registry.clone(),
                self.conformance.base_extractor.clone(),
            )
        } else {
            let registry = self.conformance.base_registry.extended(own.iter());
            let extractor = search::Extractor::new(registry.clone());
            for (url, error) in extractor.failed() {
                tracing::warn!(%tenant, %url, %error, "search parameter expression does not compile; not indexed");
            }
            (Arc::new(registry), Arc::new(extractor))
        };
        Ok(Arc::new(TenantConformance {
            registry,
            extractor,
            pending,
            stamp,
        }))
    }

    /// Queues a reindex of the types affected by every definition in `effective` that the
    /// tenant's index was not built for (new, changed or removed), then records `effective`
    /// as what the index reflects.
    async fn reconcile_index(
        &self,
        tenant: &TenantName,
        effective: &BTreeMap<String, SearchParamDef>,
    ) -> Result<()> {
        let recorded = self.store.indexed_search_params(tenant).await?;
        let mut now: BTreeMap<String, String> = effective
            .iter()
            .map(|(url, d)| (url.clone(), serde_json::to_string(d).unwrap_or_default()))
            .collect();
        let format = search::index_format();
        now.insert(search::INDEX_FORMAT_URL.to_owned(), format.to_owned());
        if now == recorded {
            return Ok(());
        }
        // Rows written by a binary with another index format (or before formats were
        // recorded) may not match this binary's queries: rebuild everything. A tenant
        // without resources has nothing to rebuild.
        let stale_format = recorded.get(search::INDEX_FORMAT_URL).map(String::as_str)
            != Some(format)
            && self.store.has_live_resources(tenant).await?;
        let mut changed: Vec<String> = Vec::new();
        let mut bases: BTreeSet<String> = BTreeSet::new();
        if stale_format {
            changed.push(search::INDEX_FORMAT_URL.to_owned());
            bases.insert("Resource".to_owned());
        }
        for (url, def) in &now {
            if url == search::INDEX_FORMAT_URL {
                continue;
            }
            if recorded.get(url) != Some(def) {
                changed.push(url.clone());
                bases.extend(effective[url].base.iter().cloned());
                if let Some(old) = recorded.get(url) {
                    bases.extend(bases_of(old));
                }
            }
        }
        for (url, old) in &recorded {
            if !now.contains_key(url) {
                bases.extend(bases_of(old));
            }
        }
        if changed.is_empty() && bases.is_empty() {
            // Only the format's record was missing or old, and there is nothing to rebuild.
            self.store.set_indexed_search_params(tenant, &now).await?;
            return Ok(());
        }
        let types: Vec<String> = if bases
            .iter()
            .any(|b| b == "Resource" || b == "DomainResource")
        {
            Vec::new()
        } else {
            bases.into_iter().collect()
        };
        let job = crate::reindex::queue(self, tenant, &types, &changed).await?;
        tracing::info!(
            %tenant, job = %job.id, params = ?changed, types = ?types,
            "search parameters changed; reindex queued"
        );
        self.store.set_indexed_search_params(tenant, &now).await?;
        Ok(())
    }
}

/// The tenant's own live SearchParameter resources that fhirdir can use, in id order (what
/// the tenant's view adds to the server-wide registry; `fhirdir import` indexes with the same).
/// One that cannot be used (stored before it was checked, e.g. by an import) is skipped with a
/// warning.
pub async fn tenant_search_parameters(
    store: &store::Store,
    tenant: &TenantName,
) -> Result<Vec<SearchParamDef>> {
    let types = ["SearchParameter".to_owned()];
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .reindex_page(tenant, &types, after.as_ref(), 500)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some((last.resource_type.clone(), last.id.clone()));
        for item in &page {
            let parsed = serde_json::from_str::<serde_json::Map<String, Value>>(&item.body)
                .map_err(|e| Error::unprocessable(e.to_string()))
                .and_then(|body| Ok(writes::search_parameter(&body)?));
            match parsed {
                Ok(def) => out.push(def),
                Err(e) => tracing::warn!(
                    %tenant, id = %item.id, error = %e,
                    "stored SearchParameter is not usable; ignored"
                ),
            }
        }
    }
    Ok(out)
}

/// The bases of a recorded definition (JSON of a [`SearchParamDef`]).
fn bases_of(json: &str) -> Vec<String> {
    serde_json::from_str::<SearchParamDef>(json)
        .map(|d| d.base)
        .unwrap_or_else(|_| vec!["Resource".to_owned()])
}
