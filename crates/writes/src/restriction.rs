//! Stages 4b and 5b of the pipeline: a resource's restriction policy (NDH STU1 usage
//! restrictions, `meta.security` labels; see the `restrict` crate), read when it is written and
//! kept with it by the store, which filters every query on it.
//!
//! - 4b ([`read`], outside the transaction, with the index entries): the policy as far as the
//!   resource itself tells (contained Restrictions, labels), and the search parameters whose
//!   values come from restricted elements: those whose entries differ once every restricted
//!   element is removed.
//! - 5b, inside the transaction: before the write ([`resolve`]), Restrictions the resource
//!   cites by reference (`Consent/id`) are read as the transaction sees them and the policy is
//!   completed, so the write keeps the index rows of restricted content apart (the store's
//!   `restricted.rs`); after it ([`save`]), the policy is saved. When a stored Restriction is
//!   written or deleted, every resource citing it is recomputed in the same transaction (a
//!   resource written with a Restriction it cites in one Bundle included), so a change shows
//!   at once.

use std::collections::HashSet;

use search::{Extractor, IndexEntry};
use serde_json::Value;
use store::{RestrictionWrite, StoreError, StoreTx};

/// The type of a stored Restriction (NDH `ndh-Restriction` is a Consent profile).
pub const RESTRICTION_TYPE: &str = "Consent";

/// Stage 4b: the policy of `resource` with no stored Restriction resolved yet, and the
/// parameters fed by its restricted elements. `index` is the resource's entries when they are
/// at hand; otherwise they are extracted, and only when it has restricted elements.
pub fn read(
    extractor: &Extractor,
    settings: &restrict::Settings,
    resource_type: &str,
    id: &str,
    resource: &Value,
    index: Option<&[IndexEntry]>,
) -> RestrictionWrite {
    let policy = restrict::extract(resource, settings, &|_| None);
    let params = params_of(extractor, &policy, resource, index);
    RestrictionWrite {
        resource_type: resource_type.to_owned(),
        id: id.to_owned(),
        policy,
        params,
        fresh: false,
        rekey: false,
    }
}

/// [`restricted_params`], extracting the entries when `index` is `None` and they are needed.
fn params_of(
    extractor: &Extractor,
    policy: &restrict::Restrictions,
    resource: &Value,
    index: Option<&[IndexEntry]>,
) -> Vec<String> {
    match index {
        _ if policy.elements().is_empty() => Vec::new(),
        Some(index) => restricted_params(extractor, policy, resource, index),
        None => restricted_params(extractor, policy, resource, &extractor.extract(resource)),
    }
}

/// The parameters whose entries change when every restricted element of `policy` is removed
/// from `resource` (whose entries are `index`): those its restricted elements feed.
pub fn restricted_params(
    extractor: &Extractor,
    policy: &restrict::Restrictions,
    resource: &Value,
    index: &[IndexEntry],
) -> Vec<String> {
    if policy.elements().is_empty() {
        return Vec::new();
    }
    let paths: Vec<restrict::ElementPath> =
        policy.elements().iter().map(|e| e.path.clone()).collect();
    let mut public = resource.clone();
    restrict::redact(&mut public, &paths);
    // Compared through a set of the public entries' text: a resource may have hundreds of
    // thousands of entries (a Group's members), and comparing each with every other would
    // not end.
    let key = |e: &IndexEntry| {
        let value = serde_json::to_string(&e.value).unwrap_or_default();
        (e.param.code.clone(), value)
    };
    let public: HashSet<(String, String)> = extractor.extract(&public).iter().map(key).collect();
    let mut params: Vec<String> = index
        .iter()
        .filter(|e| !public.contains(&key(e)))
        .map(|e| base_code(&e.param.code).to_owned())
        .collect();
    params.sort();
    params.dedup();
    params
}

/// A composite component's entries are named `{composite}${component}${element}`; searches
/// name the composite.
fn base_code(code: &str) -> &str {
    code.split('$').next().unwrap_or(code)
}

/// Stage 5b before the write: the complete policy of `resource_type/id` about to be written
/// with body `resource`: `pending` (what stage 4b read, with the default settings) or, when
/// there is none or the tenant's `settings` are others, read again; then completed with the
/// stored Restrictions it cites, as `tx` sees them.
pub async fn resolve(
    tx: &mut StoreTx,
    extractor: &Extractor,
    settings: &restrict::Settings,
    pending: Option<RestrictionWrite>,
    (resource_type, id): (&str, &str),
    resource: &serde_json::Map<String, Value>,
) -> Result<RestrictionWrite, StoreError> {
    let read_again = *settings != restrict::Settings::default();
    let mut body = None;
    let mut write = match pending.filter(|_| !read_again) {
        Some(p) => p,
        None => {
            let value = body.insert(Value::Object(resource.clone()));
            read(extractor, settings, resource_type, id, value, None)
        }
    };
    if !write.policy.cites().is_empty() {
        let value = body.get_or_insert_with(|| Value::Object(resource.clone()));
        complete(tx, extractor, settings, &mut write, value).await?;
    }
    Ok(write)
}

/// Stage 5b after the write: saves the complete policies `writes` ([`resolve`]); then
/// recomputes the resources citing any Restriction among `written` (`(type, id)` of what this
/// transaction wrote or deleted).
pub async fn save(
    tx: &mut StoreTx,
    extractor: &Extractor,
    settings: &restrict::Settings,
    writes: Vec<RestrictionWrite>,
    written: &[(&str, &str)],
) -> Result<(), StoreError> {
    tx.save_restrictions(&writes).await?;
    for (resource_type, id) in written {
        if *resource_type == RESTRICTION_TYPE {
            let citing = tx.citing(&format!("{RESTRICTION_TYPE}/{id}")).await?;
            recompute(tx, extractor, settings, citing).await?;
        }
    }
    Ok(())
}

/// Completes `write` (read from `resource`) with every stored Restriction its policy cites,
/// read in `tx`. Nothing to do for a policy citing none.
async fn complete(
    tx: &mut StoreTx,
    extractor: &Extractor,
    settings: &restrict::Settings,
    write: &mut RestrictionWrite,
    resource: &Value,
) -> Result<(), StoreError> {
    if write.policy.cites().is_empty() {
        return Ok(());
    }
    let prefix = format!("{RESTRICTION_TYPE}/");
    let mut stored = std::collections::HashMap::new();
    for cite in write.policy.cites() {
        let Some(consent_id) = cite.strip_prefix(&prefix) else {
            continue;
        };
        let found = tx.read(RESTRICTION_TYPE, consent_id).await?;
        if let Some(body) = found.and_then(|r| r.body) {
            if let Ok(value) = serde_json::from_str::<Value>(&body) {
                stored.insert(cite.clone(), value);
            }
        }
    }
    write.policy = restrict::extract(resource, settings, &|r| stored.get(r).cloned());
    write.params = params_of(extractor, &write.policy, resource, None);
    Ok(())
}

/// Replaces the tenant's restriction settings and recomputes the policy of every resource
/// they may change (those with a `meta.security` confidentiality label), in `tx`.
pub async fn change_settings(
    tx: &mut StoreTx,
    extractor: &Extractor,
    settings: &restrict::Settings,
) -> Result<usize, StoreError> {
    tx.set_restriction_settings(settings).await?;
    let labelled = tx.labelled().await?;
    recompute(tx, extractor, settings, labelled).await
}

/// Reads the policy of each of `resources` again from its current body, in `tx`, and saves
/// it, moving its index rows to the keys it gives; answers how many were live. A deleted one
/// keeps its last policy, so that its history stays hidden.
async fn recompute(
    tx: &mut StoreTx,
    extractor: &Extractor,
    settings: &restrict::Settings,
    resources: Vec<(String, String)>,
) -> Result<usize, StoreError> {
    let mut writes = Vec::with_capacity(resources.len());
    for (resource_type, id) in &resources {
        let Some(body) = tx.read(resource_type, id).await?.and_then(|r| r.body) else {
            continue;
        };
        let resource: Value =
            serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut write = read(extractor, settings, resource_type, id, &resource, None);
        complete(tx, extractor, settings, &mut write, &resource).await?;
        write.rekey = true;
        writes.push(write);
    }
    tx.save_restrictions(&writes).await?;
    Ok(writes.len())
}
