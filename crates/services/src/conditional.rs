//! Finding the resources that conditional interactions name by search criteria
//! (`If-None-Exist`, conditional update/delete, conditional references in Bundles).
//!
//! A conditional write that may create (`If-None-Exist`, a conditional update with no match)
//! checks inside its write transaction, after [`Criteria::lock`]: two identical requests
//! then run one after the other, and the second finds what the first created instead of
//! creating a duplicate.

use store::{StoreTx, VersionRecord};

use crate::ctx::RequestCtx;
use crate::error::{Error, Result};
use crate::tenant_conformance::TenantConformance;

/// Search criteria of a conditional interaction, checked against the tenant's search
/// parameters.
pub struct Criteria {
    query: search::SearchQuery,
    /// `type?criteria` with the pairs sorted: requests that differ only in the order of
    /// their parameters take the same lock.
    lock_key: String,
}

impl Criteria {
    /// Parses `criteria` (a query string such as
    /// `identifier=http://hl7.org/fhir/sid/us-npi|1234567893`) for `rtype`. Criteria the
    /// server does not understand are an error here, never silently ignored (ignoring one
    /// would widen the match).
    pub fn parse(conf: &TenantConformance, rtype: &str, criteria: &str) -> Result<Criteria> {
        let mut pairs: Vec<(String, String)> = serde_urlencoded::from_str(criteria)
            .map_err(|e| Error::invalid(format!("malformed search criteria {criteria:?}: {e}")))?;
        pairs.retain(|(k, _)| k != "_count");
        if pairs.is_empty() {
            return Err(Error::invalid(format!(
                "conditional criteria for {rtype} are empty"
            )));
        }
        pairs.sort();
        let lock_key = format!(
            "{rtype}?{}",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        );
        // The callers only distinguish none, one and many.
        pairs.push(("_count".into(), "2".into()));
        let query =
            search::SearchQuery::parse(rtype, &pairs, &conf.registry).map_err(Error::from)?;
        query
            .require_all_understood()
            .map_err(|e| Error::bad_request(fhir::IssueType::NotSupported, e.to_string()))?;
        Ok(Criteria { query, lock_key })
    }

    /// Serialises the transactions that check these criteria (see the module docs).
    pub async fn lock(&self, tx: &mut StoreTx) -> Result<()> {
        Ok(tx.lock_condition(&self.lock_key).await?)
    }

    /// The key [`Criteria::lock`] takes; callers locking several sort by it.
    pub fn lock_key(&self) -> &str {
        &self.lock_key
    }

    /// At most two current matches, as `tx` holds them and as the caller may see them: a
    /// resource hidden from it neither matches nor makes "several match" (no existence
    /// oracle through a 412).
    pub async fn find_in(
        &self,
        tx: &mut StoreTx,
        ctx: &RequestCtx,
        conf: &TenantConformance,
    ) -> Result<Vec<VersionRecord>> {
        let viewer = ctx.viewer();
        Ok(tx
            .search(&viewer, &self.query, &conf.registry)
            .await?
            .matches)
    }
}

/// The current resources of `rtype` matching `criteria`, at most two (see
/// [`Criteria::parse`]), outside any write transaction: for interactions that never create.
pub async fn find(ctx: &RequestCtx, rtype: &str, criteria: &str) -> Result<Vec<VersionRecord>> {
    let (app, tenant) = (ctx.app(), ctx.tenant());
    let conf = app.conformance(tenant).await?;
    let c = Criteria::parse(&conf, rtype, criteria)?;
    let page = app
        .store
        .search(ctx.scope(), &c.query, &conf.registry, None)
        .await?;
    Ok(page.matches)
}
