//! Writing upstream versions into the replica tenant, idempotently: a change is applied only
//! when it is newer than the version held, which names its upstream version in `meta.source`
//! (`{upstream}/Type/id/_history/v`, what FHIR's `Meta.source` is for: the source system of
//! the resource, here with its version). Bodies are kept as the upstream sent them apart
//! from `meta` (`versionId` and `lastUpdated` are the replica's own; profiles, tags and
//! security labels stay). Writes go through the write pipeline as fhirdir's own (agent
//! `fhirdir`), indexed leniently as an import is: the upstream has already accepted them.

use std::collections::HashMap;

use ::subscriptions::received::Change;
use serde_json::{Map, Value};
use store::{Agent, Method, OnUnchanged, Precondition, StoreTx, Upstream, WriteRequest};

use crate::error::Result;
use crate::tenant_conformance::TenantConformance;
use crate::App;

/// Applies `changes` of `resource_type`'s feed (in number order, all after its position) in
/// one transaction that moves the feed to the last of them; answers how many changed the
/// replica. Nothing is applied when another applier moved the feed first.
pub async fn changes(
    app: &App,
    up: &Upstream,
    resource_type: &str,
    changes: &[Change],
) -> Result<usize> {
    apply(app, up, resource_type, changes, true).await
}

/// Applies versions of `resource_type` (oldest first, each only when newer than the one
/// held) without moving its feed: what the upstream's history says changed.
pub async fn versions(
    app: &App,
    up: &Upstream,
    resource_type: &str,
    changes: &[Change],
) -> Result<usize> {
    apply(app, up, resource_type, changes, false).await
}

async fn apply(
    app: &App,
    up: &Upstream,
    resource_type: &str,
    changes: &[Change],
    advance: bool,
) -> Result<usize> {
    let Some(last) = changes.last() else {
        return Ok(0);
    };
    let conf = app.conformance(&up.tenant).await?;
    let mut tx = app.store.begin(&up.tenant).await?;
    tx.set_agent(Agent::System);
    // Runs of writes go to the store in one batch (multi-row statements); a delete applies
    // the run before it first. Within a run, a resource already in it is newer when its
    // version is (events come in order).
    let mut written = 0;
    let mut run: Vec<store::BatchWrite> = Vec::new();
    let mut in_run: HashMap<(&str, &str), i64> = HashMap::new();
    for c in changes {
        // A feed carries its own type only; anything else is not ours to copy.
        if c.resource_type != resource_type {
            continue;
        }
        if c.resource.is_none() {
            written += flush(&mut tx, &conf, &mut run, &mut in_run).await?;
            if one(&mut tx, &conf, up, c).await? {
                written += 1;
            }
            continue;
        }
        let key = (c.resource_type.as_str(), c.id.as_str());
        let apply = match in_run.get(&key) {
            Some(v) => c.version == 0 || c.version > *v,
            None => newer(&mut tx, up, c).await?.is_some(),
        };
        if apply {
            run.push(prepared(&conf, up, c)?);
            in_run.insert(key, c.version);
        }
    }
    written += flush(&mut tx, &conf, &mut run, &mut in_run).await?;
    let committed = super::micros(last.timestamp.as_deref());
    if advance
        && !tx
            .advance_feed(resource_type, last.number, committed)
            .await?
    {
        tx.rollback().await?;
        return Ok(0);
    }
    tx.commit().await?;
    Ok(written)
}

/// Moves `resource_type`'s feed to event `number` when it is behind, applying nothing (what
/// the events up to it changed is applied already).
pub async fn move_to(app: &App, up: &Upstream, resource_type: &str, number: i64) -> Result<()> {
    let mut tx = app.store.begin(&up.tenant).await?;
    if tx.advance_feed(resource_type, number, None).await? {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(())
}

/// Writes `run` (a run of prepared writes) in one batch; answers how many.
async fn flush(
    tx: &mut StoreTx,
    conf: &TenantConformance,
    run: &mut Vec<store::BatchWrite>,
    in_run: &mut HashMap<(&str, &str), i64>,
) -> Result<usize> {
    let n = run.len();
    if n > 0 {
        let batch = std::mem::take(run);
        writes::apply_batch(tx, batch, OnUnchanged::NewVersion, &conf.extractor).await?;
        in_run.clear();
    }
    Ok(n)
}

/// Applies a page of current resources (a seed), each at its `meta.versionId`, with the
/// batch form of the write pipeline (as an import); answers how many changed the replica.
pub async fn seed_page(
    app: &App,
    up: &Upstream,
    resources: Vec<Map<String, Value>>,
) -> Result<usize> {
    let conf = app.conformance(&up.tenant).await?;
    let mut tx = app.store.begin(&up.tenant).await?;
    tx.set_agent(Agent::System);
    let mut batch = Vec::with_capacity(resources.len());
    for r in resources {
        let (Some(rt), Some(id)) = (
            r.get("resourceType")
                .and_then(Value::as_str)
                .map(str::to_owned),
            r.get("id").and_then(Value::as_str).map(str::to_owned),
        ) else {
            continue;
        };
        let version = r
            .get("meta")
            .and_then(|m| m.get("versionId"))
            .and_then(Value::as_str)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        let change = Change {
            number: 0,
            timestamp: None,
            resource_type: rt,
            id,
            version,
            resource: Some(r),
        };
        if newer(&mut tx, up, &change).await?.is_some() {
            batch.push(prepared(&conf, up, &change)?);
        }
    }
    let written = batch.len();
    writes::apply_batch(&mut tx, batch, OnUnchanged::KeepCurrent, &conf.extractor).await?;
    tx.commit().await?;
    Ok(written)
}

/// The upstream version a replica body was copied from, if it was copied from `up`.
fn held_version(up: &Upstream, rtype: &str, id: &str, body: &str) -> Option<i64> {
    let body: Value = serde_json::from_str(body).ok()?;
    let source = body["meta"]["source"].as_str()?;
    let prefix = format!("{}/{rtype}/{id}/_history/", up.url);
    source.strip_prefix(&prefix)?.parse().ok()
}

/// Whether `c` is newer than what the replica holds: `Some(live)` (whether the replica has
/// the resource now) when it is to be applied.
async fn newer(tx: &mut StoreTx, up: &Upstream, c: &Change) -> Result<Option<bool>> {
    let current = tx.read(&c.resource_type, &c.id).await?;
    let live = current.as_ref().filter(|r| !r.deleted);
    let held = live
        .and_then(|r| r.body.as_deref())
        .and_then(|b| held_version(up, &c.resource_type, &c.id, b));
    if held.is_some_and(|h| c.version != 0 && h >= c.version) {
        return Ok(None);
    }
    Ok(Some(live.is_some()))
}

/// The replica's write of `c` (which carries a resource): the upstream body, `meta` reduced
/// to what is not the replica's own, with the source version.
fn prepared(conf: &TenantConformance, up: &Upstream, c: &Change) -> Result<store::BatchWrite> {
    let mut body = c.resource.clone().unwrap_or_default();
    let mut meta = match body.remove("meta") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    meta.remove("versionId");
    meta.remove("lastUpdated");
    meta.insert(
        "source".into(),
        Value::String(format!(
            "{}/{}/{}/_history/{}",
            up.url, c.resource_type, c.id, c.version
        )),
    );
    body.insert("meta".into(), Value::Object(meta));
    let request = WriteRequest {
        resource_type: c.resource_type.clone(),
        id: c.id.clone(),
        resource: body,
        precondition: Precondition::None,
        method: Method::Put,
    };
    Ok(writes::prepare(
        &conf.extractor,
        writes::Source::Import,
        request,
    )?)
}

/// Applies one change unless the replica already holds that version or a newer one.
async fn one(
    tx: &mut StoreTx,
    conf: &TenantConformance,
    up: &Upstream,
    c: &Change,
) -> Result<bool> {
    let Some(live) = newer(tx, up, c).await? else {
        return Ok(false);
    };
    if c.resource.is_none() {
        if !live {
            return Ok(false);
        }
        writes::delete(
            tx,
            &c.resource_type,
            &c.id,
            Precondition::None,
            &conf.extractor,
        )
        .await?;
        return Ok(true);
    }
    let w = prepared(conf, up, c)?;
    writes::apply(tx, w, &conf.extractor).await?;
    Ok(true)
}
