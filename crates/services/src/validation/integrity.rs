//! Referential integrity (a tenant setting): a reference to a resource of the same tenant
//! must resolve to a live resource (of a type its element allows: the validator checks the
//! type), and a resource others reference is not deleted unless the tenant allows it.
//!
//! The check reads as the caller may (its scope): a resource hidden from the caller is as
//! absent as one never stored, so a write cannot probe for restricted content. Inside a
//! transaction the order of entries does not matter: what the Bundle itself writes counts
//! as present. Contained (`#id`), `urn:` and other servers' references are not checked.

use std::collections::{HashMap, HashSet};

use fhir::outcome::Issue;
use fhir::{IssueSeverity, IssueType};
use http::StatusCode;
use serde_json::Value;
use store::BatchWrite;

use super::Setting;
use crate::ctx::RequestCtx;
use crate::error::{Error, Result};

/// Referrers named in a refused delete's message.
const NAMED_REFERRERS: i64 = 10;

/// `(type, id)` of a resource.
pub type Key = (String, String);

/// Checks the local references of `w` (with `also`: what the same Bundle writes).
pub async fn check(
    ctx: &RequestCtx,
    setting: &Setting,
    w: &BatchWrite,
    also: &HashSet<Key>,
) -> Result<()> {
    if !setting.referential_integrity {
        return Ok(());
    }
    let app = ctx.app();
    let base = app.tenant_base(ctx.tenant());
    let resource = Value::Object(w.request.resource.clone());
    let mut known: HashMap<Key, bool> = HashMap::new();
    let mut issues = Vec::new();
    for r in ::validation::references::local_references(&resource, &base) {
        let key = (r.resource_type.clone(), r.id.clone());
        let own = key.0 == w.request.resource_type && key.1 == w.request.id;
        if own || also.contains(&key) {
            continue;
        }
        let present = match known.get(&key) {
            Some(p) => *p,
            None => {
                let found = app.store.read(ctx.scope(), &key.0, &key.1).await?;
                let p = found.is_some_and(|f| !f.deleted);
                known.insert(key.clone(), p);
                p
            }
        };
        if !present {
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
pub async fn may_delete(ctx: &RequestCtx, setting: &Setting, rtype: &str, id: &str) -> Result<()> {
    if !setting.referential_integrity || setting.delete_referenced {
        return Ok(());
    }
    let app = ctx.app();
    // Only about a resource the caller can see: otherwise the refusal would tell it that a
    // hidden resource exists (the delete itself answers as for any resource it cannot see).
    match app.store.read(ctx.scope(), rtype, id).await? {
        Some(r) if !r.deleted => {}
        _ => return Ok(()),
    }
    let referrers = app
        .store
        .referrers(ctx.tenant(), rtype, id, NAMED_REFERRERS)
        .await?;
    if referrers.is_empty() {
        return Ok(());
    }
    let mut named = Vec::new();
    for (t, i) in &referrers {
        if app.store.read(ctx.scope(), t, i).await?.is_some() {
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
