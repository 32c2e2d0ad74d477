//! Applying one page of a source into the tenant, in one transaction: what changed is written
//! through the write pipeline (as an import: indexed, restrictions resolved, change events
//! recorded, by fhirdir itself), what did not is only recorded as seen by this pass.
//!
//! In two halves, so that a pass can prepare the next page while this one commits: [`prepare`]
//! (no database: local ids, references, hashes, index entries) and [`commit`].

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};
use store::{
    Agent, BatchWrite, HarvestedRow, Method, OnUnchanged, Precondition, TenantName, WriteKind,
};

use super::local::localise;
use super::setting::{Counts, Setting};
use crate::error::Result;
use crate::tenant_conformance::TenantConformance;
use crate::App;

/// What applying a page did.
#[derive(Debug, Default)]
pub struct Applied {
    pub counts: Counts,
    /// Resources of the page that could not be applied, with why.
    pub problems: Vec<String>,
}

/// One resource of a page, ready to be written.
#[derive(Debug)]
struct Item {
    id: String,
    hash: String,
    refs: String,
    /// The write, or why the resource cannot be stored.
    write: std::result::Result<BatchWrite, String>,
}

/// A page of `resource_type`, prepared.
#[derive(Debug)]
pub struct Prepared {
    resource_type: String,
    items: Vec<Item>,
    problems: Vec<String>,
}

impl Prepared {
    /// The resource type and the ids of the resources it writes or records.
    pub fn keys(&self) -> (String, HashSet<String>) {
        let ids = self.items.iter().map(|i| i.id.clone()).collect();
        (self.resource_type.clone(), ids)
    }

    /// Whether it holds a resource of `keys` (another page's [`Prepared::keys`]).
    pub fn overlaps(&self, keys: &(String, HashSet<String>)) -> bool {
        self.resource_type == keys.0 && self.items.iter().any(|i| keys.1.contains(&i.id))
    }
}

/// Localises and indexes `resources` (a page of `resource_type` from `s`); later duplicates
/// in a page win (the page is one moment of the source).
pub fn prepare(
    s: &Setting,
    conf: &TenantConformance,
    resource_type: &str,
    resources: Vec<Map<String, Value>>,
) -> Prepared {
    let mut problems = Vec::new();
    let mut items: Vec<Item> = Vec::with_capacity(resources.len());
    let mut at: HashMap<String, usize> = HashMap::new();
    for r in resources {
        match r.get("id").and_then(Value::as_str) {
            Some(id) if fhir::is_valid_id(id) => {}
            other => {
                problems.push(format!(
                    "{resource_type} without a valid id ({}) skipped",
                    other.unwrap_or("none")
                ));
                continue;
            }
        }
        let l = localise(s, resource_type, r);
        let request = store::WriteRequest {
            resource_type: resource_type.to_owned(),
            id: l.id.clone(),
            resource: l.body,
            precondition: Precondition::None,
            method: Method::Put,
        };
        let write = writes::prepare(&conf.extractor, writes::Source::Import, request)
            .map_err(|e| format!("{resource_type}/{} skipped: {e}", l.remote_id));
        let item = Item {
            id: l.id,
            hash: l.hash,
            refs: l.refs.join(" "),
            write,
        };
        match at.get(&item.id) {
            Some(&i) => items[i] = item,
            None => {
                at.insert(item.id.clone(), items.len());
                items.push(item);
            }
        }
    }
    Prepared {
        resource_type: resource_type.to_owned(),
        items,
        problems,
    }
}

/// Commits `page` as pass `pass` of `s`: the resources whose hash differs from what the
/// source brought before are written, and every one is recorded as seen by the pass.
pub async fn commit(
    app: &App,
    tenant: &TenantName,
    s: &Setting,
    page: Prepared,
    pass: i64,
) -> Result<Applied> {
    let mut out = Applied {
        problems: page.problems,
        ..Applied::default()
    };
    if page.items.is_empty() {
        return Ok(out);
    }
    let resource_type = page.resource_type.as_str();
    let conf = app.conformance(tenant).await?;
    let mut tx = app.store.begin(tenant).await?;
    tx.set_agent(Agent::System);
    let ids: Vec<&str> = page.items.iter().map(|i| i.id.as_str()).collect();
    let held: HashMap<String, HarvestedRow> = tx
        .harvested_of(&s.name, resource_type, &ids)
        .await?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let mut writes = Vec::new();
    let mut marks = Vec::new();
    for item in page.items {
        let before = held.get(&item.id);
        if before.is_none_or(|h| h.pass != pass) {
            out.counts.seen += 1;
        }
        let row = HarvestedRow {
            resource_type: resource_type.to_owned(),
            id: item.id,
            hash: item.hash,
            pass,
            refs: item.refs,
        };
        if before.is_some_and(|h| h.hash == row.hash) {
            out.counts.unchanged += 1;
            marks.push(row);
            continue;
        }
        match item.write {
            Ok(w) => {
                writes.push(w);
                marks.push(row);
            }
            Err(problem) => out.problems.push(problem),
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
