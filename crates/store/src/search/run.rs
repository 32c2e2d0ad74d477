//! Runs search and index statements, once for both backends ([`Backend`]).
//!
//! A search reads inside one read-only transaction ([`Backend::begin_read`]: deferred on
//! SQLite's reader pool, `REPEATABLE READ` on Postgres), so the count, the page and the
//! includes come from one snapshot. On a SQLite file a search is first tried inline
//! ([`Backend::direct_search`]: the same driver, [`search_on`], on another connection). Index rows are written on the connection of the
//! caller's write transaction: the old rows deleted per table and type, the new ones
//! appended by the backend's bulk path ([`Backend::insert_index_rows`]: multi-row `INSERT`s
//! on SQLite, `COPY` on Postgres).

use chrono::Utc;

use super::exec::{fetch_i64, OnSqlx, SearchExec};
use super::include::Includer;
use super::index_rows::{delete_statements, replaced_ids_by_type, IndexedResource, INDEX_TABLES};
use super::plan::Plan;
use super::sql::Sql;
use super::{count_cache, probe_cache, terminology, SearchCaches, SearchPage};
use crate::backend::{Backend, Conn};
use crate::db::SqlDb;
use crate::{rows, PageCursor, StoreError, TenantName};

async fn execute<B: Backend>(conn: &mut Conn<B>, sql: &Sql) -> Result<(), StoreError> {
    B::Db::execute(conn, sql).await?;
    Ok(())
}

/// Replaces the index rows of `resource_type/id` with those of `entries`; call it inside the
/// write transaction, after the resource row is saved. `replace`: whether it may have rows
/// already (see [`write_bulk`]).
pub(crate) async fn write_index_rows<B: Backend>(
    conn: &mut Conn<B>,
    tenant: &TenantName,
    resource_type: &str,
    id: &str,
    entries: &[search::IndexEntry],
    hidden: &crate::restricted::HiddenRows,
    replace: bool,
) -> Result<(), StoreError> {
    let resource = IndexedResource {
        resource_type,
        id,
        entries,
        hidden,
    };
    write_bulk::<B>(conn, tenant, &[resource], &[replace]).await
}

/// Removes the index rows of `resource_type/id` (inside the delete transaction).
pub(crate) async fn delete_index_rows<B: Backend>(
    conn: &mut Conn<B>,
    tenant: &TenantName,
    resource_type: &str,
    id: &str,
) -> Result<(), StoreError> {
    for sql in delete_statements(INDEX_TABLES, tenant.as_str(), resource_type, &[id]) {
        execute::<B>(conn, &sql).await?;
    }
    Ok(())
}

/// Adds 1 to the tenant's write generation ([`count_cache::bump`]), on the caller's write
/// transaction, last before its commit.
pub(crate) async fn bump_generation<B: Backend>(
    conn: &mut Conn<B>,
    tenant: &TenantName,
) -> Result<(), StoreError> {
    execute::<B>(conn, &count_cache::bump(tenant.as_str())).await
}

/// Replaces the index rows of many resources on the caller's transaction: one `DELETE` per
/// table and type (only for resources that may have rows), then the backend's bulk insert,
/// so a batch of any size is a handful of statements.
///
/// `replace[i]` says whether `resources[i]` may have rows already (see
/// [`replaced_ids_by_type`]).
pub(crate) async fn write_bulk<B: Backend>(
    conn: &mut Conn<B>,
    tenant: &TenantName,
    resources: &[IndexedResource<'_>],
    replace: &[bool],
) -> Result<(), StoreError> {
    for (resource_type, ids) in replaced_ids_by_type(resources, replace) {
        for sql in delete_statements(INDEX_TABLES, tenant.as_str(), resource_type, &ids) {
            execute::<B>(conn, &sql).await?;
        }
    }
    B::insert_index_rows(conn, tenant, resources).await
}

/// [`crate::Store::reindex_many`]: like a write, it claims the tenant (on Postgres a
/// key-share lock on the tenant row, so `delete_tenant` waits for us and no index row
/// outlives its tenant).
pub(crate) async fn reindex<B: Backend>(
    store: &B,
    tenant: &TenantName,
    resources: &[IndexedResource<'_>],
) -> Result<(), StoreError> {
    // No statement timeout: a reindex page is bulk work, like an import.
    let mut tx = store.begin_write(None).await?;
    B::claim_tenant(&mut tx, tenant).await?;
    write_bulk::<B>(&mut tx, tenant, resources, &vec![true; resources.len()]).await?;
    // The rows were written under the tenant's own key: those of restricted content move
    // to the shadow key, as their saved policies say.
    for (resource_type, ids) in replaced_ids_by_type(resources, &vec![true; resources.len()]) {
        for sql in crate::restricted::rekey_statements(tenant.as_str(), resource_type, &ids) {
            execute::<B>(&mut tx, &sql).await?;
        }
    }
    bump_generation::<B>(&mut tx, tenant).await?;
    tx.commit().await?;
    Ok(())
}

/// Runs `statement` (`ANALYZE `, `VACUUM (ANALYZE) `) on each index table and `resources`,
/// on the writer and outside a transaction (as `VACUUM` requires).
pub(crate) async fn maintain<B: Backend>(
    store: &B,
    statement: &'static str,
) -> Result<(), StoreError> {
    let mut conn = store.writer().acquire().await?;
    // The restriction tables too: without statistics Postgres takes them for empty and reads a
    // policy by scanning the table once per page row.
    let tables = INDEX_TABLES
        .iter()
        .chain(&["resources"])
        .chain(crate::restricted::RESTRICTION_TABLES);
    for table in tables {
        let mut sql = Sql::new();
        sql.push(statement).push(table);
        execute::<B>(&mut conn, &sql).await?;
    }
    Ok(())
}

/// [`crate::Store::optimize_after_bulk_load`] ([`Backend::OPTIMIZE_AFTER_LOAD`]).
pub(crate) async fn optimize_after_load<B: Backend>(store: &B) -> Result<(), StoreError> {
    maintain(store, B::OPTIMIZE_AFTER_LOAD).await
}

/// [`crate::Store::search`] on one backend: the tenant's terminology read first, then the
/// search in one read transaction.
pub(crate) async fn search<B: Backend>(
    store: &B,
    scope: crate::Scope<'_>,
    query: &search::SearchQuery,
    registry: &conformance::Registry,
    cursor: Option<&PageCursor>,
) -> Result<SearchPage, StoreError> {
    let tenant = scope.tenant();
    let source = terminology::Source::Store(store);
    let expanded = terminology::resolve(source, tenant, query).await?;
    let query = expanded.as_ref().unwrap_or(query);
    if let Some(page) = store.direct_search(scope, query, registry, cursor) {
        return page;
    }
    let mut tx = store.begin_read().await?;
    let limit = store.limit_search(&mut tx).await?;
    let caches = Some(store.caches());
    let mut exec = OnSqlx::<B::Db>(&mut tx);
    let page = search_on(&mut exec, scope, query, registry, cursor, caches).await?;
    B::search_finished(limit);
    tx.commit().await?;
    Ok(page)
}

/// A search on `conn`, inside the caller's transaction: from the statements' snapshot(s) of
/// that transaction, its own uncommitted writes included. `query`'s ValueSets must be
/// expanded already. `caches`: where walk probes' answers and accurate counts are reused
/// (`None` in a write transaction, see [`SearchCaches`]).
pub(crate) async fn search_on<E: SearchExec>(
    conn: &mut E,
    scope: crate::Scope<'_>,
    query: &search::SearchQuery,
    registry: &conformance::Registry,
    cursor: Option<&PageCursor>,
    caches: Option<&SearchCaches>,
) -> Result<SearchPage, StoreError> {
    let tenant = scope.tenant();
    let sight = rows::tenant_sight(conn, tenant, scope.viewer()).await?;
    let plan = Plan::new(tenant.as_str(), &sight, query, cursor, Utc::now())?;
    let total = match &plan.count {
        Some(sql) => {
            // Read in the snapshot the count is made in (see count_cache).
            let cached = match caches {
                Some(c) => {
                    let generation = count_cache::read_generation(tenant.as_str());
                    Some((&c.counts, fetch_i64(conn, &generation).await?))
                }
                None => None,
            };
            let counted = fetch_i64(conn, sql);
            let n = count_cache::reuse_or_count(cached, sql, counted).await?;
            Some(u64::try_from(n).unwrap_or(0))
        }
        None => None,
    };
    let probed = match plan.probe() {
        Some(probe) => {
            let counted = fetch_i64(conn, probe);
            let cache = caches.map(|c| &c.probes);
            Some(probe_cache::reuse_or_count(cache, probe, counted).await?)
        }
        None => None,
    };
    let rows = match plan.choose_page(probed, E::DIALECT) {
        Some(sql) => conn.page_rows(sql, &plan.key_kinds).await?,
        None => Vec::new(),
    };
    let viewer = scope.viewer();
    let mut page = plan.finish(rows, total, viewer)?;
    let mut includer = Includer::new(tenant.as_str(), &sight, query, registry, &page.matches);
    while let Some(sql) = includer.next_query() {
        let rows = conn.page_rows(&sql, &[]).await?;
        includer.add(crate::restricted::apply_rows(rows, viewer)?);
    }
    page.included = includer.into_included();
    Ok(page)
}
