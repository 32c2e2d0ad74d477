//! `includeAssociatedData=LatestProvenanceResources` (Bulk Data 2.0, export.html): with the
//! exported resources, the latest Provenance of each of them, whatever `_type` says.
//!
//! Every Provenance the caller may see is read once; for each resource it targets, the one
//! with the latest `recorded` is kept; those whose target this export wrote (its type, its
//! `_since`/`_until`, its `_typeFilter`) are added to the output, once each, unless the
//! export's own walk of Provenance already wrote them. The targets are held in memory: the
//! tenant's Provenance, not its resources, bounds it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use store::{ExportWindow, Scope};

use super::job::{filtered, subset, Params};
use crate::error::Result;
use crate::App;

/// Provenance read per page.
const PAGE: u32 = 2000;

/// Ids per lookup of exported targets.
const LOOKUP: usize = 500;

/// The lines to add: the latest Provenance of each exported resource (see the module
/// documentation).
pub(super) async fn latest(app: &App, scope: Scope<'_>, params: &Params) -> Result<Vec<String>> {
    let window = ExportWindow {
        since: params.since,
        until: params.until,
    };
    // Target (type, id) -> (recorded, Provenance id) of its latest Provenance.
    let mut latest: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = app
            .store
            .export_page(
                scope,
                "Provenance",
                after.as_deref(),
                ExportWindow::default(),
                PAGE,
            )
            .await?;
        for (id, body) in &page.rows {
            let Ok(p) = serde_json::from_str::<Value>(body) else {
                continue;
            };
            let recorded = p["recorded"].as_str().unwrap_or("").to_owned();
            for target in p["target"].as_array().into_iter().flatten() {
                let Some((t, tid)) = target["reference"].as_str().and_then(key) else {
                    continue;
                };
                let entry = latest.entry((t, tid)).or_default();
                if (recorded.as_str(), id.as_str()) > (entry.0.as_str(), entry.1.as_str()) {
                    *entry = (recorded.clone(), id.clone());
                }
            }
        }
        match page.last {
            Some(last) => after = Some(last),
            None => break,
        }
    }
    // Which targets this export wrote.
    let mut by_type: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (t, id) in latest.keys() {
        if params.types.iter().any(|x| x == t) {
            by_type.entry(t.as_str()).or_default().push(id.as_str());
        }
    }
    let mut chosen: BTreeSet<String> = BTreeSet::new();
    for (t, ids) in by_type {
        for chunk in ids.chunks(LOOKUP) {
            let rows = app.store.export_by_ids(scope, t, chunk, window).await?;
            for (id, _) in filtered(app, scope, params, t, rows).await? {
                if let Some((_, p)) = latest.get(&(t.to_owned(), id)) {
                    chosen.insert(p.clone());
                }
            }
        }
    }
    let chosen: Vec<&str> = chosen.iter().map(String::as_str).collect();
    // Those the export's own walk of Provenance wrote already.
    let mut written: BTreeSet<String> = BTreeSet::new();
    if params.types.iter().any(|t| t == "Provenance") {
        for chunk in chosen.chunks(LOOKUP) {
            let rows = app
                .store
                .export_by_ids(scope, "Provenance", chunk, window)
                .await?;
            written.extend(
                filtered(app, scope, params, "Provenance", rows)
                    .await?
                    .into_iter()
                    .map(|(id, _)| id),
            );
        }
    }
    let elements = params.elements_of("Provenance");
    let mut lines = Vec::new();
    for chunk in chosen.chunks(LOOKUP) {
        let rows = app
            .store
            .export_by_ids(scope, "Provenance", chunk, ExportWindow::default())
            .await?;
        for (id, body) in rows {
            if !written.contains(&id) {
                lines.push(subset(body, &elements)?);
            }
        }
    }
    Ok(lines)
}

/// `(Type, id)` of a relative (or absolute) reference, its version dropped.
fn key(reference: &str) -> Option<(String, String)> {
    let key = super::group::relative(reference)?;
    let (rtype, id) = key.split_once('/')?;
    Some((rtype.to_owned(), id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_keys() {
        assert_eq!(
            key("Practitioner/a/_history/3"),
            Some(("Practitioner".into(), "a".into()))
        );
        assert_eq!(
            key("https://x/fhir/Location/l1"),
            Some(("Location".into(), "l1".into()))
        );
        assert_eq!(key("#contained"), None);
    }
}
