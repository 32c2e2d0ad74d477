//! Applying one page of a source into the tenant, in one transaction: what changed is written
//! through the write pipeline (as an import: indexed, restrictions resolved, change events
//! recorded, by fhirdir itself), what did not is only recorded as seen by this pass.

use std::collections::HashMap;

use serde_json::{Map, Value};
use store::{Agent, HarvestedRow, Method, OnUnchanged, Precondition, TenantName, WriteKind};

use super::local::{localise, Localised};
use super::setting::{Counts, Setting};
use crate::error::Result;
use crate::App;

/// What applying a page did.
#[derive(Debug, Default)]
pub struct Applied {
    pub counts: Counts,
    /// Resources of the page that could not be applied, with why.
    pub problems: Vec<String>,
}

/// Applies `resources` (a page of `resource_type` from `s`) as pass `pass`.
pub async fn page(
    app: &App,
    tenant: &TenantName,
    s: &Setting,
    resource_type: &str,
    resources: Vec<Map<String, Value>>,
    pass: i64,
) -> Result<Applied> {
    let mut out = Applied::default();
    // Later duplicates in a page win (the page is one moment of the source).
    let mut by_id: HashMap<String, Localised> = HashMap::new();
    let mut order = Vec::new();
    for r in resources {
        match r.get("id").and_then(Value::as_str) {
            Some(id) if fhir::is_valid_id(id) => {}
            other => {
                out.problems.push(format!(
                    "{resource_type} without a valid id ({}) skipped",
                    other.unwrap_or("none")
                ));
                continue;
            }
        }
        let l = localise(s, resource_type, r);
        if !by_id.contains_key(&l.id) {
            order.push(l.id.clone());
        }
        by_id.insert(l.id.clone(), l);
    }
    if order.is_empty() {
        return Ok(out);
    }
    let conf = app.conformance(tenant).await?;
    let mut tx = app.store.begin(tenant).await?;
    tx.set_agent(Agent::System);
    let ids: Vec<&str> = order.iter().map(String::as_str).collect();
    let held: HashMap<String, HarvestedRow> = tx
        .harvested_of(&s.name, resource_type, &ids)
        .await?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let mut writes = Vec::new();
    let mut marks = Vec::new();
    for id in &order {
        let Some(l) = by_id.remove(id) else { continue };
        let before = held.get(id);
        if before.is_none_or(|h| h.pass != pass) {
            out.counts.seen += 1;
        }
        let row = HarvestedRow {
            resource_type: resource_type.to_owned(),
            id: l.id.clone(),
            hash: l.hash.clone(),
            pass,
            refs: l.refs.join(" "),
        };
        if before.is_some_and(|h| h.hash == l.hash) {
            out.counts.unchanged += 1;
            marks.push(row);
            continue;
        }
        let request = store::WriteRequest {
            resource_type: resource_type.to_owned(),
            id: l.id.clone(),
            resource: l.body,
            precondition: Precondition::None,
            method: Method::Put,
        };
        match writes::prepare(&conf.extractor, writes::Source::Import, request) {
            Ok(w) => {
                writes.push(w);
                marks.push(row);
            }
            Err(e) => out
                .problems
                .push(format!("{resource_type}/{} skipped: {e}", l.remote_id)),
        }
    }
    let outcomes =
        writes::apply_batch(&mut tx, writes, OnUnchanged::KeepCurrent, &conf.extractor).await?;
    for o in outcomes {
        match (o.unchanged, o.outcome.kind) {
            (true, _) => out.counts.unchanged += 1,
            (false, WriteKind::Created) => out.counts.created += 1,
            (false, _) => out.counts.updated += 1,
        }
    }
    tx.mark_harvested(&s.name, &marks).await?;
    tx.commit().await?;
    Ok(out)
}
