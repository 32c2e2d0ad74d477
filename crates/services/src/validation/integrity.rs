//! Referential integrity (a tenant setting): a reference to a resource of the same tenant
//! must resolve to a live resource (of a type its element allows: the validator checks the
//! type), and a resource others reference is not deleted unless the tenant allows it.
//!
//! The check reads as the caller may (its scope): a resource hidden from the caller is as
//! absent as one never stored, so a write cannot probe for restricted content. Inside a
//! transaction the order of entries does not matter: what the Bundle itself writes counts
//! as present. Contained (`#id`), `urn:` and other servers' references are not checked.
//!
//! Both checks run in the write's own transaction, under [`StoreTx::lock_referent`] on the
//! referenced resource (shared by the referrers, exclusive by its delete), so a reference
//! and the delete of what it names cannot both commit.

use std::collections::{HashMap, HashSet};

use fhir::outcome::Issue;
use fhir::{IssueSeverity, IssueType};
use http::StatusCode;
use serde_json::Value;
use store::BatchWrite;

use store::StoreTx;

use super::Setting;
use crate::ctx::RequestCtx;
use crate::error::{Error, Result};
use crate::restricted::{seen, Seen};

/// Referrers named in a refused delete's message.
const NAMED_REFERRERS: i64 = 10;

/// `(type, id)` of a resource.
pub type Key = (String, String);

/// Whether `rtype/id` is live and visible to the caller, as `tx` sees it.
async fn visible(ctx: &RequestCtx, tx: &mut StoreTx, rtype: &str, id: &str) -> Result<bool> {
    let live = tx.read(rtype, id).await?.is_some_and(|r| !r.deleted);
    Ok(live && seen(ctx, tx, rtype, id).await? != Seen::Hidden)
}

/// Checks the local references of `w` (with `also`: what the same Bundle writes), in the
/// transaction `tx` that will write it.
pub async fn check(
    ctx: &RequestCtx,
    setting: &Setting,
    tx: &mut StoreTx,
    w: &BatchWrite,
    also: &HashSet<Key>,
) -> Result<()> {
    if !setting.referential_integrity {
        return Ok(());
    }
    let app = ctx.app();
    let base = app.tenant_base(ctx.tenant());
    let resource = Value::Object(w.request.resource.clone());
    let refs = ::validation::references::local_references(&resource, &base);
    let mut targets: Vec<Key> = refs
        .iter()
        .map(|r| (r.resource_type.clone(), r.id.clone()))
        .filter(|k| {
            let own = k.0 == w.request.resource_type && k.1 == w.request.id;
            !own && !also.contains(k)
        })
        .collect();
    // Locked in sorted order (two writers taking two locks in opposite orders could
    // deadlock), then read.
    targets.sort();
    targets.dedup();
    let mut known: HashMap<Key, bool> = HashMap::new();
    for key in targets {
        tx.lock_referent(&key.0, &key.1, false).await?;
        let present = visible(ctx, tx, &key.0, &key.1).await?;
        known.insert(key, present);
    }
    let mut issues = Vec::new();
    for r in refs {
        let key = (r.resource_type.clone(), r.id.clone());
        if known.get(&key) == Some(&false) {
            issues.push(Issue {
                severity: IssueSeverity::Error,
                code: IssueType::NotFound,
                diagnostics: format!(
                    "{}/{} does not exist in this tenant (or is not visible to you): the \
                     tenant's referential integrity refuses references that do not resolve",
                    key.0, key.1
                ),
                expression: vec![r.expression],
            });
        }
    }
    if issues.is_empty() {
        Ok(())
    } else {
        Err(Error::with_issues(StatusCode::UNPROCESSABLE_ENTITY, issues))
    }
}

/// Refuses (409) deleting `rtype/id` while other resources reference it, unless the tenant
/// allows it. The message names the referrers the caller can see and counts the others.
pub async fn may_delete(
    ctx: &RequestCtx,
    setting: &Setting,
    tx: &mut StoreTx,
    rtype: &str,
    id: &str,
) -> Result<()> {
    if !setting.referential_integrity || setting.delete_referenced {
        return Ok(());
    }
    tx.lock_referent(rtype, id, true).await?;
    // Only about a resource the caller can see: otherwise the refusal would tell it that a
    // hidden resource exists (the delete itself answers as for any resource it cannot see).
    if !visible(ctx, tx, rtype, id).await? {
        return Ok(());
    }
    let referrers = tx.referrers(rtype, id, NAMED_REFERRERS).await?;
    if referrers.is_empty() {
        return Ok(());
    }
    let mut named = Vec::new();
    for (t, i) in &referrers {
        if visible(ctx, tx, t, i).await? {
            named.push(format!("{t}/{i}"));
        }
    }
    let others = referrers.len() - named.len();
    let mut who = if named.is_empty() {
        "resources".to_owned()
    } else {
        named.join(", ")
    };
    if others > 0 && !named.is_empty() {
        who.push_str(" and others");
    }
    Err(Error::conflict(format!(
        "{rtype}/{id} is referenced by {who}: the tenant's referential integrity refuses \
         deleting it (change or delete the referrers first)"
    )))
}
