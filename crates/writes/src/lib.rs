//! The write pipeline. Every resource written into a tenant — the REST create, update and
//! delete, PATCH, batch and transaction Bundles, conditional writes, and `fhirdir import` —
//! passes the same stages, in this order:
//!
//! 1. **check** ([`check`]): the resource can be stored (`fhir::storable`: finite numbers, no
//!    NUL, bounded number text);
//! 2. **validation** (`validate`): the place where profile validation against the loaded
//!    StructureDefinitions runs; it accepts everything today;
//! 3. **SearchParameter rules** ([`search_parameter`]): a SearchParameter written by a client
//!    must be one fhirdir can index with;
//! 4. **index extraction** ([`prepare`], [`index_many`]): the tenant's search parameters turn
//!    the resource into its search index entries; then its restriction policy
//!    ([`restriction::read`]: NDH usage restrictions and `meta.security` labels);
//! 5. **store write** ([`apply`], [`apply_batch`], [`delete`]) in the caller's transaction:
//!    the policy completed from the stored Restrictions it cites ([`restriction::resolve`]),
//!    the write (restricted content's index rows under the tenant's shadow key), the policy
//!    saved and the resources citing a written Restriction recomputed ([`restriction::save`]);
//!    Then the networks the write touches are marked as changed (`networks.rs`; the
//!    provider finder's "last imported" date of a network), and a Subscription's delivery
//!    state follows its write (`subscription_status`, `StoreTx::note_subscription`);
//! 6. **change event**: the store notes every version written or deleted and, as the last
//!    statements before the commit, numbers and saves them as the tenant's change events
//!    (`store::ChangeEvent`, by the agent set with `StoreTx::set_agent`): an event exists
//!    exactly when its write commits, whichever path wrote it, and nothing here can forget it.
//!
//! Stages 1–4 are CPU work and run before a transaction opens (on SQLite an open
//! transaction holds the one writer); 5–6 run inside it. Where the sources differ, they
//! differ here and only here ([`Source`]): an import is a load of trusted exports, so it keeps
//! going where the API refuses.

mod index;
mod networks;
pub mod restriction;

use std::collections::BTreeSet;

use networks::Touched;
use search::Extractor;
use store::{
    BatchOutcome, BatchWrite, DeleteOutcome, OnUnchanged, Precondition, StoreError, StoreTx,
    WriteOutcome, WriteRequest,
};

pub use index::{index_many, MAX_INDEX_ENTRIES};

/// The resource type whose writes change a tenant's search parameters.
pub const SEARCH_PARAMETER: &str = "SearchParameter";

/// The resource type whose writes start, change and stop notification delivery.
pub const SUBSCRIPTION: &str = "Subscription";

/// Where a write comes from; the one table of what differs between sources:
///
/// | stage                   | `Api`                         | `Import`                        |
/// |-------------------------|-------------------------------|---------------------------------|
/// | check                   | yes                           | yes                             |
/// | SearchParameter rules   | yes (422)                     | no: an unusable one is skipped, with a warning, when the tenant's parameters load |
/// | index extraction        | strict: a failing expression is an error; at most [`MAX_INDEX_ENTRIES`] | lenient: a failing expression indexes nothing for that parameter |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A client of the FHIR API (REST, PATCH, Bundles, conditional writes).
    Api,
    /// `fhirdir import`: files exported from another FHIR server.
    Import,
}

/// Why a write cannot go on; the services map each to a status and issue code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// Stage 1: the resource holds a value the store cannot keep.
    #[error("{0}")]
    Unstorable(#[from] fhir::storable::Unstorable),
    /// Stage 3: a SearchParameter fhirdir cannot index with.
    #[error("invalid SearchParameter: {0}")]
    SearchParameter(String),
    /// Stage 4: a search parameter's expression failed on this resource.
    #[error("{resource} cannot be indexed for the search parameter `{param}`: {error}")]
    NotIndexable {
        resource: String,
        param: String,
        error: String,
    },
    /// Stage 4: more index entries than one resource may have.
    #[error(
        "{resource} has {count} searchable values; at most {MAX_INDEX_ENTRIES} are accepted \
         in one resource"
    )]
    TooManyIndexEntries { resource: String, count: usize },
}

/// Stages 1–3 for one resource (`resource_type` is the one it is written as).
pub fn check(
    source: Source,
    resource_type: &str,
    resource: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), WriteError> {
    fhir::storable::check_object(resource, resource_type)?;
    validate(source, resource_type, resource)?;
    if source == Source::Api && resource_type == SEARCH_PARAMETER {
        search_parameter(resource)?;
    }
    Ok(())
}

/// Stage 2: profile validation plugs in here; nothing is refused yet.
fn validate(
    _source: Source,
    _resource_type: &str,
    _resource: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), WriteError> {
    Ok(())
}

/// Stage 3: a SearchParameter a client writes must be usable: what
/// [`conformance::SearchParamDef::from_resource`] checks, plus an expression (a parameter
/// without one indexes nothing) and no `_` code (those are the specification's own). The
/// tenant's parameters are loaded through this too, so a stored one that fails is skipped.
pub fn search_parameter(
    body: &serde_json::Map<String, serde_json::Value>,
) -> Result<conformance::SearchParamDef, WriteError> {
    let resource = serde_json::Value::Object(body.clone());
    let def = conformance::SearchParamDef::from_resource(&resource)
        .map_err(|e| WriteError::SearchParameter(e.to_string()))?;
    if def.expression.is_none() {
        return Err(WriteError::SearchParameter(
            "SearchParameter.expression is required (fhirdir indexes a tenant's parameters \
             with it)"
                .to_owned(),
        ));
    }
    if def.code.starts_with('_') {
        return Err(WriteError::SearchParameter(format!(
            "SearchParameter.code {:?} begins with `_`, which is reserved for the parameters \
             of the FHIR specification",
            def.code
        )));
    }
    Ok(def)
}

/// Stages 1–4 for one write: checked and indexed with `extractor` (the tenant's search
/// parameters), ready for [`apply`].
pub fn prepare(
    extractor: &Extractor,
    source: Source,
    request: WriteRequest,
) -> Result<BatchWrite, WriteError> {
    check(source, &request.resource_type, &request.resource)?;
    index::index_one(extractor, source, request)
}

/// Stages 5–6: writes `w` in `tx` (see [`StoreTx::write_indexed`]); `extractor` is the
/// tenant's, for the policies that stage 5b recomputes.
pub async fn apply(
    tx: &mut StoreTx,
    mut w: BatchWrite,
    extractor: &Extractor,
) -> Result<WriteOutcome, StoreError> {
    keep_headers(tx, &mut w).await?;
    let touched = Touched::of(&w.request.resource_type, &w.index);
    let subscription = subscription_status(&w);
    let settings = tx.restriction_settings().await?;
    let policies =
        resolve_restrictions(tx, extractor, &settings, std::slice::from_mut(&mut w)).await?;
    let outcome = tx.write_indexed(w.request, &w.index, &w.hidden).await?;
    let r = &outcome.record;
    let written = policies.into_iter().map(|p| (p, r)).collect();
    save_restrictions(tx, extractor, &settings, written).await?;
    let mut networks = BTreeSet::new();
    touched.networks(&r.id, &mut networks);
    touch_networks(tx, &networks, r.last_updated).await?;
    if let Some(status) = subscription {
        tx.note_subscription(&r.id, &status).await?;
    }
    Ok(outcome)
}

/// Stages 5–6 for many writes at once (see [`StoreTx::write_batch`]): one statement per table
/// and run of resources, for Bundles and imports.
pub async fn apply_batch(
    tx: &mut StoreTx,
    mut writes: Vec<BatchWrite>,
    on_unchanged: OnUnchanged,
    extractor: &Extractor,
) -> Result<Vec<BatchOutcome>, StoreError> {
    for w in &mut writes {
        keep_headers(tx, w).await?;
    }
    let settings = tx.restriction_settings().await?;
    let policies = resolve_restrictions(tx, extractor, &settings, &mut writes).await?;
    let touched: Vec<_> = writes
        .iter()
        .map(|w| Touched::of(&w.request.resource_type, &w.index))
        .collect();
    let subscriptions: Vec<_> = writes.iter().map(subscription_status).collect();
    let outcomes = tx.write_batch(writes, on_unchanged).await?;
    let mut networks = BTreeSet::new();
    let mut latest = None;
    // An unchanged resource was still imported now: a harvest that finds a network's data
    // as it was keeps the network fresh.
    for (t, o) in touched.into_iter().zip(&outcomes) {
        let r = &o.outcome.record;
        t.networks(&r.id, &mut networks);
        let at = if o.unchanged {
            chrono::Utc::now()
        } else {
            r.last_updated
        };
        latest = latest.max(Some(at));
    }
    if let Some(at) = latest {
        touch_networks(tx, &networks, at).await?;
    }
    let written: Vec<_> = policies
        .into_iter()
        .zip(&outcomes)
        .filter(|(_, o)| !o.unchanged)
        .map(|(p, o)| (p, &o.outcome.record))
        .collect();
    save_restrictions(tx, extractor, &settings, written).await?;
    for (status, o) in subscriptions.into_iter().zip(&outcomes) {
        if let (Some(status), false) = (status, o.unchanged) {
            tx.note_subscription(&o.outcome.record.id, &status).await?;
        }
    }
    Ok(outcomes)
}

/// Stages 5–6 of a delete (see [`StoreTx::delete`]): nothing to check or index. The deleted
/// resource keeps its restriction policy (its history stays hidden); deleting a stored
/// Restriction recomputes the resources citing it.
pub async fn delete(
    tx: &mut StoreTx,
    resource_type: &str,
    id: &str,
    precondition: Precondition,
    extractor: &Extractor,
) -> Result<DeleteOutcome, StoreError> {
    let outcome = tx.delete(resource_type, id, precondition).await?;
    if matches!(outcome, DeleteOutcome::Deleted { .. }) && resource_type == SUBSCRIPTION {
        tx.forget_subscription(id).await?;
    }
    // Only a Restriction's deletion changes other resources' policies.
    if matches!(outcome, DeleteOutcome::Deleted { .. })
        && resource_type == restriction::RESTRICTION_TYPE
    {
        let settings = tx.restriction_settings().await?;
        let deleted = [(resource_type, id)];
        restriction::save(tx, extractor, &settings, Vec::new(), &deleted).await?;
    }
    Ok(outcome)
}

/// The status of a Subscription being written (`None` for other types): stage 5d notes it
/// with the subscription's delivery state (`StoreTx::note_subscription`: a client's write
/// makes the state or asks for a new handshake; fhirdir's own make none).
fn subscription_status(w: &BatchWrite) -> Option<String> {
    (w.request.resource_type == SUBSCRIPTION).then(|| {
        w.request.resource["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    })
}

/// Stage 5c: the networks the writes touched move their "last imported" date
/// (`networks.rs`).
async fn touch_networks(
    tx: &mut StoreTx,
    networks: &BTreeSet<String>,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    let networks: Vec<&str> = networks.iter().map(String::as_str).collect();
    tx.touch_networks(&networks, at).await
}

/// Stage 5b before the writes: the complete policy of each of `writes` (its `restriction`
/// taken), and the index rows it hides set in its `hidden`.
async fn resolve_restrictions(
    tx: &mut StoreTx,
    extractor: &Extractor,
    settings: &restrict::Settings,
    writes: &mut [BatchWrite],
) -> Result<Vec<store::RestrictionWrite>, StoreError> {
    let mut policies = Vec::with_capacity(writes.len());
    for w in writes {
        let pending = w.restriction.take();
        let key = (w.request.resource_type.as_str(), w.request.id.as_str());
        let policy =
            restriction::resolve(tx, extractor, settings, pending, key, &w.request.resource)
                .await?;
        w.hidden = policy.hidden_rows();
        policies.push(policy);
    }
    Ok(policies)
}

/// Stage 5a: a Subscription's `channel.header` is write-only (no reader sees it: the
/// `restrict` crate's rule), so a write of a Subscription that gives none keeps the stored
/// ones: its owner changes it (PATCH, or GET then PUT) without restating its credentials. The
/// policy is then read again, from the body with the headers.
async fn keep_headers(tx: &mut StoreTx, w: &mut BatchWrite) -> Result<(), StoreError> {
    let body = &w.request.resource;
    let given = body.get("channel").and_then(|c| c.get("header")).is_some();
    if w.request.resource_type != SUBSCRIPTION || given {
        return Ok(());
    }
    let Some(stored) = tx.read(SUBSCRIPTION, &w.request.id).await? else {
        return Ok(());
    };
    let headers = stored
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
        .and_then(|mut v| {
            v.get_mut("channel")?
                .get_mut("header")
                .map(serde_json::Value::take)
        });
    let channel = w
        .request
        .resource
        .get_mut("channel")
        .and_then(|c| c.as_object_mut());
    if let (Some(headers), Some(channel)) = (headers, channel) {
        channel.insert("header".to_owned(), headers);
        w.restriction = None;
    }
    Ok(())
}

/// Stage 5b after the writes: saves the policies of the written records.
async fn save_restrictions(
    tx: &mut StoreTx,
    extractor: &Extractor,
    settings: &restrict::Settings,
    written: Vec<(store::RestrictionWrite, &store::VersionRecord)>,
) -> Result<(), StoreError> {
    let keys: Vec<(&str, &str)> = written
        .iter()
        .map(|(_, r)| (r.resource_type.as_str(), r.id.as_str()))
        .collect();
    let writes = written
        .into_iter()
        .map(|(mut write, record)| {
            write.fresh = record.version == 1;
            write
        })
        .collect();
    restriction::save(tx, extractor, settings, writes, &keys).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use store::Method;

    fn put(body: Value) -> WriteRequest {
        let Value::Object(resource) = body else {
            unreachable!()
        };
        WriteRequest {
            resource_type: resource["resourceType"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            id: resource["id"].as_str().unwrap_or_default().to_owned(),
            resource,
            precondition: Precondition::None,
            method: Method::Put,
        }
    }

    fn org(identifiers: usize) -> Value {
        let identifiers: Vec<Value> = (0..identifiers)
            .map(|i| json!({"system": "urn:test", "value": format!("v{i}")}))
            .collect();
        json!({"resourceType": "Organization", "id": "o", "identifier": identifiers})
    }

    #[test]
    fn a_resource_with_more_index_entries_than_the_limit_is_refused_from_the_api_only() {
        let extractor = Extractor::new(conformance::Registry::builtin());
        // Every identifier is an `identifier` token entry: over FHIRPath's collection limit
        // (250,000) the expression fails, and the write must say so rather than store a
        // resource that `identifier` would never find.
        match prepare(&extractor, Source::Api, put(org(MAX_INDEX_ENTRIES + 1))) {
            Err(WriteError::NotIndexable { param, .. }) => assert_eq!(param, "identifier"),
            other => panic!(
                "expected NotIndexable, got {:?}",
                other.map(|w| w.index.len())
            ),
        }
        // Each collection under FHIRPath's limit, but more entries in all than the cap:
        // 130,000 identifiers and 130,000 aliases (`name` covers `alias`).
        let mut body = org(130_000);
        body["alias"] = (0..130_000)
            .map(|i| Value::String(format!("a{i}")))
            .collect();
        let err = prepare(&extractor, Source::Api, put(body.clone())).map(|_| ());
        match err {
            Err(e @ WriteError::TooManyIndexEntries { .. }) => {
                assert!(e.to_string().contains("at most 250000"), "{e}")
            }
            other => panic!("expected TooManyIndexEntries, got {other:?}"),
        }
        // An import is a trusted load: it indexes what it can.
        let imported = prepare(&extractor, Source::Import, put(body)).expect("lenient");
        assert!(imported.index.len() > MAX_INDEX_ENTRIES);
        let ok = prepare(&extractor, Source::Api, put(org(1000))).expect("a thousand are fine");
        assert!(ok.index.len() >= 1000);
    }

    #[test]
    fn search_parameter_rules_apply_to_api_writes_only() {
        let sp = json!({"resourceType": "SearchParameter", "id": "sp", "url": "urn:sp",
            "name": "x", "status": "active", "code": "_x", "base": ["Practitioner"],
            "type": "string", "expression": "Practitioner.name", "description": "x"});
        let Value::Object(map) = &sp else {
            unreachable!()
        };
        let e = check(Source::Api, SEARCH_PARAMETER, map).unwrap_err();
        assert!(e.to_string().contains("reserved"), "{e}");
        check(Source::Import, SEARCH_PARAMETER, map).expect("an import keeps it");
    }

    #[test]
    fn every_source_refuses_what_the_store_cannot_hold() {
        let bad = json!({"resourceType": "Practitioner", "id": "p", "gender": "a\u{0}b"});
        let Value::Object(map) = &bad else {
            unreachable!()
        };
        for source in [Source::Api, Source::Import] {
            match check(source, "Practitioner", map) {
                Err(WriteError::Unstorable(u)) => assert_eq!(u.location, "Practitioner.gender"),
                other => panic!("{source:?}: expected Unstorable, got {other:?}"),
            }
        }
    }
}
