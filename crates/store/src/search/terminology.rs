//! What a search needs from the tenant's own terminology resources, read before the search
//! runs: token `:in` / `:not-in` expand ValueSets ([`super::value_sets`]), token `:above` /
//! `:below` walk a CodeSystem's hierarchy ([`super::code_systems`]). Either way the
//! criteria then carry plain code lists, which [`super::values`] turns into
//! `system = ? AND code IN (…)` conditions.
//!
//! Both read through a [`Source`]: the store's pools for a search of its own, or the
//! connection of an open transaction (a search inside it must not wait for a second
//! connection).

use super::sql::Sql;
use super::{code_systems, value_sets};
use crate::backend::{Backend, Conn};
use crate::db::SqlDb;
use crate::{StoreError, TenantName};
use search::{Filter, SearchQuery, SearchValue};
use serde_json::Value;

/// Where terminology resources are read.
pub(crate) enum Source<'a, B: Backend> {
    /// The store's reader pool (a search of its own).
    Store(&'a B),
    /// The connection of an open transaction.
    Conn(&'a mut Conn<B>),
}

/// The query with every ValueSet expanded and every hierarchy closed, or `None` when it
/// needs neither.
pub(crate) async fn resolve<B: Backend>(
    mut store: Source<'_, B>,
    tenant: &TenantName,
    query: &SearchQuery,
) -> Result<Option<SearchQuery>, StoreError> {
    let expanded = value_sets::resolve(&mut store, tenant, query).await?;
    let closed =
        code_systems::resolve(&mut store, tenant, expanded.as_ref().unwrap_or(query)).await?;
    Ok(closed.or(expanded))
}

/// Calls `f` on every value of `filter`, through chains and `_has`.
pub(super) fn visit(filter: &Filter, f: &mut dyn FnMut(&SearchValue)) {
    match filter {
        Filter::Param { values, .. } => values.iter().for_each(&mut *f),
        Filter::Chain { targets, .. } => {
            for t in targets {
                visit(&t.filter, f);
            }
        }
        Filter::Has { filter, .. } => visit(filter, f),
    }
}

/// Like [`visit`], with each value mutable.
pub(super) fn visit_mut(filter: &mut Filter, f: &mut dyn FnMut(&mut SearchValue)) {
    match filter {
        Filter::Param { values, .. } => values.iter_mut().for_each(&mut *f),
        Filter::Chain { targets, .. } => {
            for t in targets {
                visit_mut(&mut t.filter, f);
            }
        }
        Filter::Has { filter, .. } => visit_mut(filter, f),
    }
}

/// How [`fetch`] finds resources: by canonical `url`, or by logical id.
pub(super) enum Key<'k> {
    Url(&'k str),
    Id(&'k str),
}

/// Among resources of one canonical URL, the one with the greatest `version` string.
pub(super) fn greatest_version(candidates: impl IntoIterator<Item = Value>) -> Option<Value> {
    candidates.into_iter().max_by(|a, b| {
        let v = |x: &Value| x.get("version").and_then(Value::as_str).map(str::to_owned);
        v(a).cmp(&v(b))
    })
}

/// The tenant's live resources of `res_type` with that `url` (or id).
pub(super) async fn fetch<B: Backend>(
    store: &mut Source<'_, B>,
    tenant: &TenantName,
    res_type: &str,
    key: Key<'_>,
) -> Result<Vec<Value>, StoreError> {
    // Terminology is read as fhirdir sees it: a ValueSet or CodeSystem is vocabulary, not
    // directory content, and what it expands to is filtered where it is used.
    let sight = crate::restricted::Sight::new(restrict::Seer::Everything, true);
    let mut cond = super::filter::Cond::new(tenant.as_str(), &sight, chrono::Utc::now());
    let v = cond.alias();
    let mut sql = Sql::new();
    sql.push("SELECT ")
        .content(v)
        .push(" FROM resources ")
        .alias(v)
        .push(" WHERE ")
        .scope_rows(v, tenant.as_str(), res_type)
        .push(" AND NOT ")
        .col(v, "deleted")
        .push(" AND ");
    match key {
        Key::Url(url) => {
            let mut lite = Sql::new();
            lite.push("json_extract(")
                .col(v, "content")
                .push(", '$.url') = ")
                .text(url);
            let mut pg = Sql::new();
            pg.push("(")
                .col(v, "content")
                .push(" ->> 'url') = ")
                .text(url);
            sql.dialect(lite, pg);
        }
        Key::Id(id) => {
            sql.col(v, "id").push(" = ").text(id);
        }
    }
    let texts: Vec<(Option<String>,)> = match store {
        Source::Store(s) => B::Db::fetch_all(&mut *s.reader().acquire().await?, &sql).await?,
        Source::Conn(conn) => B::Db::fetch_all(&mut **conn, &sql).await?,
    };
    Ok(texts
        .into_iter()
        .filter_map(|(t,)| t)
        .filter_map(|t| serde_json::from_str(&t).ok())
        .collect())
}
