//! Stages 4b and 5b of the pipeline: a resource's restriction policy (NDH STU1 usage
//! restrictions, `meta.security` labels; see the `restrict` crate), read when it is written and
//! kept with it by the store, which filters every query on it.
//!
//! - 4b ([`read`], outside the transaction, with the index entries): the policy as far as the
//!   resource itself tells (contained Restrictions, labels), and the search parameters whose
//!   values come from restricted elements: those whose entries differ once every restricted
//!   element is removed.
//! - 5b ([`save`], inside the transaction): Restrictions the resource cites by reference
//!   (`Consent/id`) are read as the transaction sees them and the policy is completed; then
//!   saved. When a stored Restriction is written or deleted, every resource citing it is
//!   recomputed in the same transaction ([`recompute_citing`]), so a change shows at once.

use std::collections::HashSet;

use search::{Extractor, IndexEntry};
use serde_json::Value;
use store::{RestrictionWrite, StoreError, StoreTx};

/// The type of a stored Restriction (NDH `ndh-Restriction` is a Consent profile).
pub const RESTRICTION_TYPE: &str = "Consent";

/// What 4b knows about one written resource.
#[derive(Debug, Clone)]
pub struct Pending {
    pub write: RestrictionWrite,
}

/// Stage 4b: the policy of `resource` with no stored Restriction resolved yet, and the
/// parameters fed by its restricted elements.
pub fn read(
    extractor: &Extractor,
    settings: &restrict::Settings,
    resource_type: &str,
    id: &str,
    resource: &Value,
    index: &[IndexEntry],
) -> Pending {
    let policy = restrict::extract(resource, settings, &|_| None);
    let params = restricted_params(extractor, &policy, resource, index);
    Pending {
        write: RestrictionWrite {
            resource_type: resource_type.to_owned(),
            id: id.to_owned(),
            policy,
            params,
            fresh: false,
        },
    }
}

/// [`read`] for a resource whose index entries are not at hand: they are extracted only when
/// it has restricted elements.
pub fn read_alone(
    extractor: &Extractor,
    settings: &restrict::Settings,
    resource_type: &str,
    id: &str,
    resource: &Value,
) -> Pending {
    let policy = restrict::extract(resource, settings, &|_| None);
    let params = if policy.elements().is_empty() {
        Vec::new()
    } else {
        restricted_params(extractor, &policy, resource, &extractor.extract(resource))
    };
    Pending {
        write: RestrictionWrite {
            resource_type: resource_type.to_owned(),
            id: id.to_owned(),
            policy,
            params,
            fresh: false,
        },
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

/// Stage 5b: completes the policies of `pending` with the stored Restrictions they cite (as
/// `tx` sees them) and saves them; then recomputes the resources citing any Restriction among
/// `written` (`(type, id)` of what this transaction wrote or deleted).
pub async fn save(
    tx: &mut StoreTx,
    extractor: &Extractor,
    settings: &restrict::Settings,
    pending: Vec<(Pending, Option<&Value>)>,
    written: &[(&str, &str)],
) -> Result<(), StoreError> {
    let mut writes = Vec::with_capacity(pending.len());
    for (p, resource) in pending {
        let fresh = p.write.fresh;
        let mut write = match resource {
            Some(resource) if !p.write.policy.cites().is_empty() => {
                let w = &p.write;
                complete(tx, extractor, settings, &w.resource_type, &w.id, resource).await?
            }
            _ => p.write,
        };
        write.fresh = fresh;
        writes.push(write);
    }
    tx.save_restrictions(&writes).await?;
    for (resource_type, id) in written {
        if *resource_type == RESTRICTION_TYPE {
            recompute_citing(tx, extractor, settings, id).await?;
        }
    }
    Ok(())
}

/// The policy of `resource` with every stored Restriction it cites read in `tx`.
async fn complete(
    tx: &mut StoreTx,
    extractor: &Extractor,
    settings: &restrict::Settings,
    resource_type: &str,
    id: &str,
    resource: &Value,
) -> Result<RestrictionWrite, StoreError> {
    let first = restrict::extract(resource, settings, &|_| None);
    let mut stored = std::collections::HashMap::new();
    for cite in first.cites() {
        let Some(consent_id) = cite.strip_prefix("Consent/") else {
            continue;
        };
        let found = tx.read(RESTRICTION_TYPE, consent_id).await?;
        if let Some(body) = found.and_then(|r| r.body) {
            if let Ok(value) = serde_json::from_str::<Value>(&body) {
                stored.insert(cite.clone(), value);
            }
        }
    }
    let policy = restrict::extract(resource, settings, &|r| stored.get(r).cloned());
    let index = if policy.elements().is_empty() {
        Vec::new()
    } else {
        extractor.extract(resource)
    };
    let params = restricted_params(extractor, &policy, resource, &index);
    Ok(RestrictionWrite {
        resource_type: resource_type.to_owned(),
        id: id.to_owned(),
        policy,
        params,
        fresh: false,
    })
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
    let mut writes = Vec::with_capacity(labelled.len());
    for (resource_type, id) in &labelled {
        let Some(body) = tx.read(resource_type, id).await?.and_then(|r| r.body) else {
            continue;
        };
        let resource: Value =
            serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        writes.push(complete(tx, extractor, settings, resource_type, id, &resource).await?);
    }
    tx.save_restrictions(&writes).await?;
    Ok(writes.len())
}

/// Recomputes the policy of every live resource citing the stored Restriction `Consent/id`.
async fn recompute_citing(
    tx: &mut StoreTx,
    extractor: &Extractor,
    settings: &restrict::Settings,
    consent_id: &str,
) -> Result<(), StoreError> {
    let citing = tx
        .citing(&format!("{RESTRICTION_TYPE}/{consent_id}"))
        .await?;
    let mut writes = Vec::with_capacity(citing.len());
    for (resource_type, id) in citing {
        let Some(body) = tx.read(&resource_type, &id).await?.and_then(|r| r.body) else {
            // Deleted: its last policy stays, so its history stays hidden.
            continue;
        };
        let resource: Value =
            serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        writes.push(complete(tx, extractor, settings, &resource_type, &id, &resource).await?);
    }
    tx.save_restrictions(&writes).await
}
