//! Conditionals of Bundle entries: `ifNoneExist`, conditional targets (`PUT Type?criteria`)
//! and conditional references (`Organization?identifier=...`), resolved through a
//! [`Lookup`]: the write transaction itself, or, to prepare the writes before it starts, the
//! tenant as it is now ([`Now`]).

use serde_json::Value;
use store::{StoreTx, TenantName, VersionRecord};

use super::entry::{Entry, EntryMethod, Target};
use super::references::{for_each_reference, is_conditional, Identities};
use crate::error::{AppError, AppResult};
use crate::service::conditional::Criteria;
use crate::state::App;
use crate::tenant_conformance::TenantConformance;

/// Where conditionals are looked up.
pub(super) trait Lookup {
    /// The current resources matching `c` (at most two, see [`Criteria::parse`]).
    async fn find(
        &mut self,
        c: &Criteria,
        conf: &TenantConformance,
    ) -> AppResult<Vec<VersionRecord>>;

    /// Serialises the transactions that check the condition `key` (see
    /// [`StoreTx::lock_condition`]).
    async fn lock(&mut self, key: &str) -> AppResult<()>;
}

/// The write transaction: what it finds is what its writes build on.
impl Lookup for StoreTx {
    async fn find(
        &mut self,
        c: &Criteria,
        conf: &TenantConformance,
    ) -> AppResult<Vec<VersionRecord>> {
        c.find_in(self, conf).await
    }

    async fn lock(&mut self, key: &str) -> AppResult<()> {
        Ok(self.lock_condition(key).await?)
    }
}

/// The tenant as committed now, outside any transaction: a guess at what the write
/// transaction will find, which that transaction checks (see `execute::prepare_early`).
pub(super) struct Now<'a> {
    pub app: &'a App,
    pub tenant: &'a TenantName,
}

impl Lookup for Now<'_> {
    async fn find(
        &mut self,
        c: &Criteria,
        conf: &TenantConformance,
    ) -> AppResult<Vec<VersionRecord>> {
        c.find_now(self.app, self.tenant, conf).await
    }

    /// Nothing to serialise: nothing is written on what this finds.
    async fn lock(&mut self, _key: &str) -> AppResult<()> {
        Ok(())
    }
}

/// Resolves a conditional target to at most one id, inside `tx`; `None` when nothing
/// matches.
async fn resolve_one(
    tx: &mut impl Lookup,
    conf: &TenantConformance,
    rtype: &str,
    criteria: &str,
    what: &str,
) -> AppResult<Option<String>> {
    let found = tx
        .find(&Criteria::parse(conf, rtype, criteria)?, conf)
        .await?;
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.id.clone())),
        _ => Err(AppError::PreconditionFailed(format!(
            "{what} {rtype}?{criteria} matches more than one resource"
        ))),
    }
}

/// Takes the locks of the entries that may create depending on a search (`ifNoneExist`, a
/// conditional update), before any write of `tx` and in sorted order: a transaction never
/// waits for one of these locks while holding row locks or another key out of order, so
/// they cannot deadlock.
async fn lock_conditional_creates(
    tx: &mut impl Lookup,
    conf: &TenantConformance,
    entries: &[Entry],
) -> AppResult<()> {
    let mut keys = std::collections::BTreeSet::new();
    for e in entries {
        let (t, criteria) = match (&e.method, &e.target, &e.if_none_exist) {
            (EntryMethod::Post, Target::Type(t), Some(c)) => (t, c),
            (EntryMethod::Put, Target::Search(t, c), _) => (t, c),
            _ => continue,
        };
        let c = Criteria::parse(conf, t, criteria).map_err(|err| err.context(&e.label()))?;
        keys.insert(c.lock_key().to_owned());
    }
    for key in keys {
        tx.lock(&key).await?;
    }
    Ok(())
}

/// Resolves conditional targets and `ifNoneExist` inside `tx` before its writes start, so
/// that the duplicate check sees every identity, and under the locks of
/// [`lock_conditional_creates`], so that concurrent identical Bundles create once. Returns
/// the entries whose POST is satisfied by an existing resource (`ifNoneExist` matched) as
/// finished responses.
pub(super) async fn resolve_conditionals(
    tx: &mut impl Lookup,
    conf: &TenantConformance,
    entries: &mut [Entry],
    ids: &mut Identities,
) -> AppResult<Vec<(usize, VersionRecord)>> {
    lock_conditional_creates(tx, conf, entries).await?;
    let mut existing = Vec::new();
    for e in entries.iter_mut() {
        let label = e.label();
        let at = |err: AppError| err.context(&label);
        match (&e.method, e.target.clone()) {
            (EntryMethod::Post, Target::Type(t)) => {
                if let Some(criteria) = &e.if_none_exist {
                    let found =
                        async { tx.find(&Criteria::parse(conf, &t, criteria)?, conf).await }
                            .await
                            .map_err(at)?;
                    match found.as_slice() {
                        [] => {}
                        [one] => {
                            if let Some(u) = &e.full_url {
                                ids.by_full_url.insert(u.clone(), format!("{t}/{}", one.id));
                            }
                            existing.push((e.index, one.clone()));
                        }
                        _ => {
                            return Err(at(AppError::PreconditionFailed(format!(
                                "ifNoneExist {criteria} matches more than one resource"
                            ))))
                        }
                    }
                }
            }
            (
                EntryMethod::Put | EntryMethod::Delete | EntryMethod::Patch,
                Target::Search(t, criteria),
            ) => {
                let id = resolve_one(tx, conf, &t, &criteria, "conditional target")
                    .await
                    .map_err(at)?;
                e.target = match (id, e.method) {
                    (Some(id), _) => Target::Instance(t.clone(), id),
                    // Conditional create-by-update: the body's id, or a new one.
                    (None, EntryMethod::Put) => {
                        let id = e
                            .resource
                            .as_ref()
                            .and_then(|r| r.get("id"))
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                            .unwrap_or_else(fhir::new_id);
                        Target::Instance(t.clone(), id)
                    }
                    (None, EntryMethod::Delete) => Target::Search(t.clone(), criteria),
                    (None, _) => {
                        return Err(at(AppError::NotFound(format!("no {t} matches {criteria}"))))
                    }
                };
                if let (Target::Instance(t, id), Some(u)) = (&e.target, &e.full_url) {
                    ids.by_full_url.insert(u.clone(), format!("{t}/{id}"));
                }
                // A conditional update may leave the id out: it is the matched (or new) one.
                if let (EntryMethod::Put, Target::Instance(_, id), Some(r)) =
                    (e.method, &e.target, e.resource.as_mut())
                {
                    r.entry("id").or_insert_with(|| Value::String(id.clone()));
                }
            }
            _ => {}
        }
    }
    Ok(existing)
}

/// Replaces conditional references (`Organization?identifier=...`) with the one resource
/// they match inside `tx`; none or several is an error.
pub(super) async fn resolve_conditional_references(
    tx: &mut impl Lookup,
    conf: &TenantConformance,
    e: &mut Entry,
) -> AppResult<()> {
    let Some(resource) = e.resource.take() else {
        return Ok(());
    };
    let mut value = Value::Object(resource);
    let mut pending = Vec::new();
    for_each_reference(&mut value, &mut |r| {
        if is_conditional(r) {
            pending.push(r.clone());
        }
        Ok(())
    })?;
    for reference in pending {
        let (t, criteria) = reference.split_once('?').unwrap_or_default();
        let id = resolve_one(tx, conf, t, criteria, "conditional reference")
            .await?
            .ok_or_else(|| {
                AppError::NotFound(format!(
                    "conditional reference {reference} matches no resource"
                ))
            })?;
        let resolved = format!("{t}/{id}");
        for_each_reference(&mut value, &mut |r| {
            if *r == reference {
                *r = resolved.clone();
            }
            Ok(())
        })?;
    }
    if let Value::Object(m) = value {
        e.resource = Some(m);
    }
    Ok(())
}
