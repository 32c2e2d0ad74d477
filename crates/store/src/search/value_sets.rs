//! Token `:in` / `:not-in` (<https://hl7.org/fhir/R4/search.html#token>): before a search
//! runs, every ValueSet its criteria name is looked up among the tenant's own ValueSet
//! resources and expanded ([`search::valueset::expand`]); the criteria then carry the
//! expansion, which [`super::values`] turns into `system = ? AND code IN (…)` conditions.
//!
//! A canonical URL matches `ValueSet.url` (and `ValueSet.version` when `|version` is
//! given; among several versions the greatest `version` string wins); `ValueSet/id` matches
//! the id. A ValueSet that is not stored, or that cannot be expanded without a terminology
//! server (filters), is a [`StoreError::UnsupportedSearch`] (HTTP 400) that says which and
//! why, in strict and lenient handling alike: answering as if the set were empty would
//! silently return wrong results.

use std::collections::BTreeMap;
use std::sync::Arc;

use search::valueset::{expand, imports, ValueSetRef, MAX_IMPORT_DEPTH};
use search::{Filter, SearchQuery, SearchValue};
use serde_json::Value;
use sqlx::{PgConnection, Postgres, Sqlite, SqliteConnection};

use super::filter::unsupported;
use super::sql::{Dialect, Sql};
use crate::{Store, StoreError, TenantName};

/// How many ValueSets (the named ones and their imports) one search may read.
const MAX_VALUE_SETS: usize = 64;

/// Where the ValueSets are read: the store's pools (a search of its own), or the connection
/// of an open transaction (a search inside it must not wait for a second connection).
pub(crate) enum Source<'a> {
    Store(&'a Store),
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

/// The query with every `:in` / `:not-in` ValueSet expanded, or `None` when it names none.
pub(crate) async fn resolve(
    mut store: Source<'_>,
    tenant: &TenantName,
    query: &SearchQuery,
) -> Result<Option<SearchQuery>, StoreError> {
    let mut refs = Vec::new();
    for c in &query.criteria {
        collect(&c.filter, &mut refs);
    }
    if refs.is_empty() {
        return Ok(None);
    }
    // Candidates by url (or id), and the chosen import for each canonical.
    let mut fetched: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut chosen: BTreeMap<String, Value> = BTreeMap::new();
    let mut expansions: BTreeMap<String, Arc<search::Expansion>> = BTreeMap::new();
    for r in refs {
        if expansions.contains_key(&r.text) {
            continue;
        }
        let Some(vs) = find(&mut store, tenant, &r, &mut fetched).await? else {
            return Err(unsupported(format!(
                "`:in` / `:not-in`: ValueSet `{}` is not stored in this tenant",
                r.text
            )));
        };
        // Fetch the imports (breadth first, bounded), then expand without I/O.
        let mut pending = imports(&vs);
        let mut depth = 0;
        while !pending.is_empty() && depth <= MAX_IMPORT_DEPTH {
            let mut next = Vec::new();
            for canonical in pending {
                let Ok(import) = ValueSetRef::parse(&canonical) else {
                    continue;
                };
                if chosen.contains_key(&canonical) {
                    continue;
                }
                if let Some(v) = find(&mut store, tenant, &import, &mut fetched).await? {
                    next.extend(imports(&v));
                    chosen.insert(canonical, v);
                }
            }
            pending = next;
            depth += 1;
        }
        let lookup = |canonical: &str| -> Option<Value> { chosen.get(canonical).cloned() };
        let expansion =
            expand(&vs, &lookup).map_err(|e| unsupported(format!("`:in` / `:not-in`: {e}")))?;
        expansions.insert(r.text.clone(), Arc::new(expansion));
    }
    let total: usize = expansions.values().map(|e| e.len()).sum();
    if total > search::valueset::MAX_CODES {
        return Err(unsupported(format!(
            "`:in` / `:not-in`: the ValueSets of this search hold {total} codes together, more than {}",
            search::valueset::MAX_CODES
        )));
    }
    let mut out = query.clone();
    for c in &mut out.criteria {
        fill(&mut c.filter, &expansions);
    }
    Ok(Some(out))
}

fn collect(filter: &Filter, out: &mut Vec<ValueSetRef>) {
    match filter {
        Filter::Param { values, .. } => {
            for v in values {
                if let SearchValue::InValueSet(r) = v {
                    out.push(r.clone());
                }
            }
        }
        Filter::Chain { targets, .. } => {
            for t in targets {
                collect(&t.filter, out);
            }
        }
        Filter::Has { filter, .. } => collect(filter, out),
    }
}

fn fill(filter: &mut Filter, expansions: &BTreeMap<String, Arc<search::Expansion>>) {
    match filter {
        Filter::Param { values, .. } => {
            for v in values {
                if let SearchValue::InValueSet(r) = v {
                    r.expansion = expansions.get(&r.text).cloned();
                }
            }
        }
        Filter::Chain { targets, .. } => {
            for t in targets {
                fill(&mut t.filter, expansions);
            }
        }
        Filter::Has { filter, .. } => fill(filter, expansions),
    }
}

/// The tenant's ValueSet that `r` names (the greatest version when several match).
async fn find(
    store: &mut Source<'_>,
    tenant: &TenantName,
    r: &ValueSetRef,
    fetched: &mut BTreeMap<String, Vec<Value>>,
) -> Result<Option<Value>, StoreError> {
    if fetched.len() >= MAX_VALUE_SETS {
        return Err(unsupported(format!(
            "`:in` / `:not-in` would read more than {MAX_VALUE_SETS} ValueSets"
        )));
    }
    let key = r.url.clone().or_else(|| r.id.clone()).unwrap_or_default();
    let candidates = match fetched.get(&key) {
        Some(c) => c.clone(),
        None => {
            let c = fetch(store, tenant, r).await?;
            fetched.insert(key, c.clone());
            c
        }
    };
    Ok(candidates
        .into_iter()
        .filter(|vs| r.matches(vs))
        .max_by(|a, b| {
            let v = |x: &Value| x.get("version").and_then(Value::as_str).map(str::to_owned);
            v(a).cmp(&v(b))
        }))
}

/// The live ValueSets of the tenant with `r`'s url (or id).
async fn fetch(
    store: &mut Source<'_>,
    tenant: &TenantName,
    r: &ValueSetRef,
) -> Result<Vec<Value>, StoreError> {
    let mut cond = super::filter::Cond::new(tenant.as_str(), chrono::Utc::now());
    let v = cond.alias();
    let mut sql = Sql::new();
    sql.push("SELECT ")
        .content(v)
        .push(" FROM resources ")
        .alias(v)
        .push(" WHERE ")
        .col(v, "tenant")
        .push(" = ")
        .text(tenant.as_str())
        .push(" AND ")
        .col(v, "res_type")
        .push(" = 'ValueSet' AND NOT ")
        .col(v, "deleted")
        .push(" AND ");
    match (&r.url, &r.id) {
        (Some(url), _) => {
            let mut lite = Sql::new();
            lite.push("json_extract(")
                .col(v, "content")
                .push(", '$.url') = ")
                .text(url.as_str());
            let mut pg = Sql::new();
            pg.push("(")
                .col(v, "content")
                .push(" ->> 'url') = ")
                .text(url.as_str());
            sql.dialect(lite, pg);
        }
        (None, Some(id)) => {
            sql.col(v, "id").push(" = ").text(id.as_str());
        }
        (None, None) => return Ok(Vec::new()),
    }
    let texts: Vec<Option<String>> = match store {
        Source::Store(Store::Sqlite(s)) => {
            sql.render::<Sqlite>(Dialect::Sqlite)
                .build_query_scalar()
                .fetch_all(s.reader_pool())
                .await?
        }
        Source::Store(Store::Postgres(s)) => {
            sql.render::<Postgres>(Dialect::Postgres)
                .build_query_scalar()
                .fetch_all(s.pool())
                .await?
        }
        Source::Sqlite(conn) => {
            sql.render::<Sqlite>(Dialect::Sqlite)
                .build_query_scalar()
                .fetch_all(&mut **conn)
                .await?
        }
        Source::Postgres(conn) => {
            sql.render::<Postgres>(Dialect::Postgres)
                .build_query_scalar()
                .fetch_all(&mut **conn)
                .await?
        }
    };
    Ok(texts
        .into_iter()
        .flatten()
        .filter_map(|t| serde_json::from_str(&t).ok())
        .collect())
}
