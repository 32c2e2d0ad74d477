//! Token `:above` / `:below` (<https://hl7.org/fhir/R4/search.html#token>): before a search
//! runs ([`super::terminology`]), the CodeSystem each `system|code` names is looked up among
//! the tenant's own CodeSystem resources (`CodeSystem.url` is the system; among several
//! versions the greatest `version` string wins), its hierarchy built
//! ([`search::hierarchy::Hierarchy`]) and the code's closure taken: the code and its
//! descendants for `:below`, the code and its ancestors for `:above`. The criteria then
//! carry the closure, which [`super::values`] turns into `system = ? AND code IN (…)`
//! conditions, like an expanded ValueSet.
//!
//! A system with no stored CodeSystem, a code the CodeSystem does not define, or a closure
//! too large to bind is a [`StoreError::UnsupportedSearch`] (HTTP 400) that names the system
//! and code and says why, in strict and lenient handling alike: answering with the code
//! alone, or with nothing, would silently return wrong results.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use search::hierarchy::{Direction, Hierarchy, HierarchyRef};
use search::valueset::MAX_CODES;
use search::{SearchQuery, SearchValue};

use super::filter::unsupported;
use super::terminology::{fetch, greatest_version, visit, visit_mut, Key, Source};
use crate::backend::Backend;
use crate::{StoreError, TenantName};

/// How many CodeSystems one search may read.
const MAX_CODE_SYSTEMS: usize = 16;

/// The query with the closure of every token `:above` / `:below` value filled in, or `None`
/// when it has none.
pub(super) async fn resolve<B: Backend>(
    store: &mut Source<'_, B>,
    tenant: &TenantName,
    query: &SearchQuery,
) -> Result<Option<SearchQuery>, StoreError> {
    let mut refs: Vec<HierarchyRef> = Vec::new();
    for c in &query.criteria {
        visit(&c.filter, &mut |v| {
            if let SearchValue::Hierarchy(r) = v {
                refs.push(r.clone());
            }
        });
    }
    if refs.is_empty() {
        return Ok(None);
    }
    let mut hierarchies: BTreeMap<String, Hierarchy> = BTreeMap::new();
    let mut closures: BTreeMap<(String, String, Direction), Arc<BTreeSet<String>>> =
        BTreeMap::new();
    for r in refs {
        let key = (r.system.clone(), r.code.clone(), r.direction);
        if closures.contains_key(&key) {
            continue;
        }
        if !hierarchies.contains_key(&r.system) {
            if hierarchies.len() >= MAX_CODE_SYSTEMS {
                return Err(unsupported(format!(
                    "`:above` / `:below` would read more than {MAX_CODE_SYSTEMS} CodeSystems"
                )));
            }
            let stored = fetch(store, tenant, "CodeSystem", Key::Url(&r.system)).await?;
            let Some(cs) = greatest_version(stored) else {
                return Err(refused(
                    &r,
                    "no CodeSystem with this url is stored in this tenant, so its hierarchy \
                     is unknown",
                ));
            };
            hierarchies.insert(r.system.clone(), Hierarchy::from_code_system(&cs));
        }
        let Some(h) = hierarchies.get(&r.system) else {
            continue;
        };
        if h.is_empty() {
            return Err(refused(
                &r,
                "the stored CodeSystem lists no concepts (content not-present?)",
            ));
        }
        let closure = h
            .closure(&r.code, r.direction)
            .map_err(|e| refused(&r, &e))?;
        closures.insert(key, Arc::new(closure));
    }
    let total: usize = closures.values().map(|c| c.len()).sum();
    if total > MAX_CODES {
        return Err(unsupported(format!(
            "`:above` / `:below`: the hierarchies of this search hold {total} codes together, \
             more than {MAX_CODES}"
        )));
    }
    let mut out = query.clone();
    for c in &mut out.criteria {
        visit_mut(&mut c.filter, &mut |v| {
            if let SearchValue::Hierarchy(r) = v {
                r.closure = closures
                    .get(&(r.system.clone(), r.code.clone(), r.direction))
                    .cloned();
            }
        });
    }
    Ok(Some(out))
}

fn refused(r: &HierarchyRef, why: &str) -> StoreError {
    unsupported(format!(
        "`:{}` on `{}|{}`: {why}",
        r.direction.as_str(),
        r.system,
        r.code
    ))
}
