//! The end of a pass: what a complete full pass did not find is deleted (or marked), the
//! references nothing resolves are listed, and the networks the source brought are stamped
//! as confirmed now (the provider finder's "last imported").

use std::collections::HashSet;

use serde_json::{json, Value};
use store::{Agent, DeleteOutcome, Method, OnUnchanged, Precondition, TenantName};

use super::local::TAG_SYSTEM;
use super::setting::{OnMissing, Setting};
use crate::error::Result;
use crate::App;

/// Dangling references listed in a source's state (the total is counted).
pub const MAX_LISTED: usize = 100;

/// Resources removed (or marked) per step of the sweep.
pub const SWEEP_BATCH: i64 = 500;

/// The code of the tag a source's resource gets when the source no longer has it and the
/// source's `on_missing` is `mark`.
pub const MISSING: &str = "missing";

/// What one step of the sweep did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Rows looked at (0: the sweep is over).
    pub rows: usize,
    /// Resources deleted or marked.
    pub removed: u64,
}

/// Deletes (or marks) up to [`SWEEP_BATCH`] resources that full pass `pass` did not find.
pub async fn sweep(app: &App, tenant: &TenantName, s: &Setting, pass: i64) -> Result<Swept> {
    let gone = app
        .store
        .harvested_before(tenant, &s.name, &s.types, pass, SWEEP_BATCH)
        .await?;
    if gone.is_empty() {
        return Ok(Swept {
            rows: 0,
            removed: 0,
        });
    }
    let conf = app.conformance(tenant).await?;
    let mut tx = app.store.begin(tenant).await?;
    tx.set_agent(Agent::System);
    let mut done = 0u64;
    match s.on_missing {
        OnMissing::Delete => {
            for (rtype, id) in &gone {
                let outcome =
                    writes::delete(&mut tx, rtype, id, Precondition::None, &conf.extractor).await?;
                if matches!(outcome, DeleteOutcome::Deleted { .. }) {
                    done += 1;
                }
            }
            tx.forget_harvested(&s.name, &gone).await?;
        }
        OnMissing::Mark => {
            let mut batch = Vec::new();
            let mut marks = Vec::new();
            for (rtype, id) in &gone {
                let Some(current) = tx.read(rtype, id).await?.filter(|r| !r.deleted) else {
                    continue;
                };
                let Some(mut body) = current
                    .body
                    .as_deref()
                    .and_then(|b| serde_json::from_str::<serde_json::Map<String, Value>>(b).ok())
                else {
                    continue;
                };
                mark_missing(&mut body);
                let request = store::WriteRequest {
                    resource_type: rtype.clone(),
                    id: id.clone(),
                    resource: body,
                    precondition: Precondition::None,
                    method: Method::Put,
                };
                if let Ok(w) = writes::prepare(&conf.extractor, writes::Source::Import, request) {
                    batch.push(w);
                }
                // Seen by this pass (so the next sweep does not mark it again), with a hash
                // no content has (so the resource coming back is written again).
                marks.push(store::HarvestedRow {
                    resource_type: rtype.clone(),
                    id: id.clone(),
                    hash: MISSING.into(),
                    pass,
                    refs: String::new(),
                });
            }
            let outcomes =
                writes::apply_batch(&mut tx, batch, OnUnchanged::KeepCurrent, &conf.extractor)
                    .await?;
            done = outcomes.iter().filter(|o| !o.unchanged).count() as u64;
            tx.mark_harvested(&s.name, &marks).await?;
            // Rows whose resource is gone here (deleted by someone else) are forgotten.
            let vanished: Vec<(String, String)> = gone
                .iter()
                .filter(|(t, i)| !marks.iter().any(|m| &m.resource_type == t && &m.id == i))
                .cloned()
                .collect();
            tx.forget_harvested(&s.name, &vanished).await?;
        }
    }
    tx.commit().await?;
    Ok(Swept {
        rows: gone.len(),
        removed: done,
    })
}

/// Tags `body` as no longer at its source.
fn mark_missing(body: &mut serde_json::Map<String, Value>) {
    let meta = body.entry("meta").or_insert_with(|| json!({}));
    let Value::Object(meta) = meta else { return };
    let tags = meta.entry("tag").or_insert_with(|| json!([]));
    let Value::Array(tags) = tags else { return };
    if !tags
        .iter()
        .any(|t| t["system"] == TAG_SYSTEM && t["code"] == MISSING)
    {
        tags.push(json!({"system": TAG_SYSTEM, "code": MISSING}));
    }
}

/// The references of what `s` brought that resolve to nothing it brought: the first
/// [`MAX_LISTED`] (sorted) and how many in all.
pub async fn dangling(app: &App, tenant: &TenantName, s: &Setting) -> Result<(Vec<String>, u64)> {
    let rows = app.store.harvested(tenant, &s.name).await?;
    let held: HashSet<String> = rows
        .iter()
        .filter(|r| r.hash != MISSING)
        .map(|r| format!("{}/{}", r.resource_type, r.id))
        .collect();
    let mut dangling: Vec<&str> = rows
        .iter()
        .flat_map(|r| r.refs.split(' '))
        .filter(|r| !r.is_empty() && !held.contains(*r))
        .collect();
    dangling.sort_unstable();
    dangling.dedup();
    let total = dangling.len() as u64;
    Ok((
        dangling
            .into_iter()
            .take(MAX_LISTED)
            .map(str::to_owned)
            .collect(),
        total,
    ))
}
