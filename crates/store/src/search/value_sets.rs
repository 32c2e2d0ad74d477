//! Token `:in` / `:not-in` (<https://hl7.org/fhir/R4/search.html#token>): before a search
//! runs ([`super::terminology`]), every ValueSet its criteria name is looked up among the
//! tenant's own ValueSet resources and expanded ([`search::valueset::expand`]); the criteria
//! then carry the expansion, which [`super::values`] turns into
//! `system = ? AND code IN (…)` conditions.
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
use search::{SearchQuery, SearchValue};
use serde_json::Value;

use super::filter::unsupported;
use super::terminology::{fetch, greatest_version, visit, visit_mut, Key, Source};
use crate::backend::Backend;
use crate::{StoreError, TenantName};

/// How many ValueSets (the named ones and their imports) one search may read.
const MAX_VALUE_SETS: usize = 64;

/// The query with every `:in` / `:not-in` ValueSet expanded, or `None` when it names none.
pub(super) async fn resolve<B: Backend>(
    store: &mut Source<'_, B>,
    tenant: &TenantName,
    query: &SearchQuery,
) -> Result<Option<SearchQuery>, StoreError> {
    let mut refs = Vec::new();
    for c in &query.criteria {
        visit(&c.filter, &mut |v| {
            if let SearchValue::InValueSet(r) = v {
                refs.push(r.clone());
            }
        });
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
        let Some(vs) = find(store, tenant, &r, &mut fetched).await? else {
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
                if let Some(v) = find(store, tenant, &import, &mut fetched).await? {
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
        visit_mut(&mut c.filter, &mut |v| {
            if let SearchValue::InValueSet(r) = v {
                r.expansion = expansions.get(&r.text).cloned();
            }
        });
    }
    Ok(Some(out))
}

/// The tenant's ValueSet that `r` names (the greatest version when several match).
async fn find<B: Backend>(
    store: &mut Source<'_, B>,
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
            let c = match (&r.url, &r.id) {
                (Some(url), _) => fetch(store, tenant, "ValueSet", Key::Url(url)).await?,
                (None, Some(id)) => fetch(store, tenant, "ValueSet", Key::Id(id)).await?,
                (None, None) => Vec::new(),
            };
            fetched.insert(key, c.clone());
            c
        }
    };
    Ok(greatest_version(
        candidates.into_iter().filter(|vs| r.matches(vs)),
    ))
}
