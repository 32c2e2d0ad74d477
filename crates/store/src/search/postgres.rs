//! Runs search and index statements on Postgres.
//!
//! A search reads inside one `REPEATABLE READ, READ ONLY` transaction, so the count, the
//! page and the includes come from one snapshot. Index rows are written on the connection of
//! the caller's write transaction. The bulk path binds one array per column and inserts with
//! `UNNEST`.

use chrono::Utc;
use sqlx::{PgConnection, PgPool, Postgres};

use super::include::Includer;
use super::index_rows::{delete_statements, rows_by_table, IndexedResource, INDEX_TABLES};
use super::plan::Plan;
use super::probe_cache;
use super::sql::{Dialect, Sql};
use super::{count_cache, SearchCaches};
use super::{decode_row, SearchPage};
use crate::held::Held;
use crate::{PageCursor, StoreError, TenantName};

async fn execute(conn: &mut PgConnection, sql: &Sql) -> Result<(), StoreError> {
    sql.render::<Postgres>(Dialect::Postgres)
        .build()
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Replaces the index rows of `resource_type/id` with those of `entries`; call it inside the
/// write transaction, after the resource row is saved. `replace`: whether it may have rows
/// already (see [`write_bulk`]).
pub(crate) async fn write_index_rows(
    conn: &mut PgConnection,
    tenant: &TenantName,
    resource_type: &str,
    id: &str,
    entries: &[search::IndexEntry],
    replace: bool,
) -> Result<(), StoreError> {
    write_bulk(
        conn,
        tenant,
        &[IndexedResource {
            resource_type,
            id,
            entries,
        }],
        &[replace],
    )
    .await
}

/// Removes the index rows of `resource_type/id` (inside the delete transaction).
pub(crate) async fn delete_index_rows(
    conn: &mut PgConnection,
    tenant: &TenantName,
    resource_type: &str,
    id: &str,
) -> Result<(), StoreError> {
    for sql in delete_statements(tenant.as_str(), resource_type, &[id]) {
        execute(conn, &sql).await?;
    }
    Ok(())
}

/// Adds 1 to the tenant's write generation ([`count_cache::bump`]), on the caller's write
/// transaction, last before its commit.
pub(crate) async fn bump_generation(
    conn: &mut PgConnection,
    tenant: &TenantName,
) -> Result<(), StoreError> {
    execute(conn, &count_cache::bump(tenant.as_str())).await
}

/// Replaces the index rows of many resources on the caller's transaction: one `DELETE` per
/// table and type (only for resources that may have rows), then one `COPY` per table
/// (`pg_copy`), so a batch of any size is a handful of statements.
///
/// `replace[i]` says whether `resources[i]` may have rows already (see
/// [`super::index_rows::replaced_ids_by_type`]).
pub(crate) async fn write_bulk(
    conn: &mut PgConnection,
    tenant: &TenantName,
    resources: &[IndexedResource<'_>],
    replace: &[bool],
) -> Result<(), StoreError> {
    let by_type = super::index_rows::replaced_ids_by_type(resources, replace);
    for (resource_type, ids) in by_type {
        for sql in delete_statements(tenant.as_str(), resource_type, &ids) {
            execute(conn, &sql).await?;
        }
    }
    for (table, rows) in rows_by_table(resources) {
        super::pg_copy::copy_rows(conn, tenant.as_str(), table, &rows).await?;
    }
    Ok(())
}

/// [`crate::Store::reindex_many`] on Postgres.
pub(crate) async fn reindex(
    writer: &PgPool,
    tenant: &TenantName,
    resources: &[IndexedResource<'_>],
) -> Result<(), StoreError> {
    let mut tx = Held::begin(writer, "BEGIN").await?;
    // Like a write: a key-share lock on the tenant row, so `delete_tenant` waits for us and
    // no index row outlives its tenant.
    let locked: Option<String> =
        sqlx::query_scalar("SELECT name FROM tenants WHERE name = $1 FOR KEY SHARE")
            .bind(tenant.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    if locked.is_none() {
        return Err(StoreError::UnknownTenant(tenant.to_string()));
    }
    write_bulk(&mut tx, tenant, resources, &vec![true; resources.len()]).await?;
    bump_generation(&mut tx, tenant).await?;
    tx.commit().await?;
    Ok(())
}

async fn require_tenant(conn: &mut PgConnection, tenant: &TenantName) -> Result<(), StoreError> {
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tenants WHERE name = $1)")
        .bind(tenant.as_str())
        .fetch_one(&mut *conn)
        .await?;
    if exists {
        Ok(())
    } else {
        Err(StoreError::UnknownTenant(tenant.to_string()))
    }
}

/// [`crate::Store::analyze_search_index`]: `ANALYZE` of the index tables and `resources`.
pub(crate) async fn analyze(pool: &PgPool) -> Result<(), StoreError> {
    for table in INDEX_TABLES.iter().chain(&["resources"]) {
        let mut sql = Sql::new();
        sql.push("ANALYZE ").push(table);
        sql.render::<Postgres>(Dialect::Postgres)
            .build()
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// [`crate::Store::optimize_after_bulk_load`]: `VACUUM (ANALYZE)` of the index tables and
/// `resources` (outside a transaction, as `VACUUM` requires).
pub(crate) async fn vacuum_analyze(pool: &PgPool) -> Result<(), StoreError> {
    for table in INDEX_TABLES.iter().chain(&["resources"]) {
        let mut sql = Sql::new();
        sql.push("VACUUM (ANALYZE) ").push(table);
        sql.render::<Postgres>(Dialect::Postgres)
            .build()
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// [`crate::Store::search`] on Postgres.
pub(crate) async fn search(
    store: &crate::postgres::PgStore,
    tenant: &TenantName,
    query: &search::SearchQuery,
    registry: &conformance::Registry,
    cursor: Option<&PageCursor>,
) -> Result<SearchPage, StoreError> {
    let mut tx = Held::begin_pg(
        store.pool(),
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        store.statement_timeout(),
    )
    .await?;
    let caches = Some(store.caches());
    let page = search_on(&mut tx, tenant, query, registry, cursor, caches).await?;
    tx.commit().await?;
    Ok(page)
}

/// A search on `conn`, inside the caller's transaction: from the statements' snapshot(s) of
/// that transaction, its own uncommitted writes included. `query`'s ValueSets must be
/// expanded already. `caches`: where walk probes' answers and accurate counts are reused
/// (`None` in a write transaction, see [`SearchCaches`]).
pub(crate) async fn search_on(
    conn: &mut PgConnection,
    tenant: &TenantName,
    query: &search::SearchQuery,
    registry: &conformance::Registry,
    cursor: Option<&PageCursor>,
    caches: Option<&SearchCaches>,
) -> Result<SearchPage, StoreError> {
    let plan = Plan::new(tenant.as_str(), query, cursor, Utc::now())?;
    require_tenant(&mut *conn, tenant).await?;
    let total = match &plan.count {
        Some(sql) => {
            // Read in the snapshot the count is made in (see count_cache).
            let cached = match caches {
                Some(c) => Some((
                    &c.counts,
                    count_cache::read_generation(tenant.as_str())
                        .render::<Postgres>(Dialect::Postgres)
                        .build_query_scalar::<i64>()
                        .fetch_one(&mut *conn)
                        .await?,
                )),
                None => None,
            };
            let n = count_cache::reuse_or_count(cached, sql, async {
                sql.render::<Postgres>(Dialect::Postgres)
                    .build_query_scalar::<i64>()
                    .fetch_one(&mut *conn)
                    .await
            })
            .await?;
            Some(u64::try_from(n).unwrap_or(0))
        }
        None => None,
    };
    let probed = match plan.probe() {
        Some(probe) => Some(
            probe_cache::reuse_or_count(caches.map(|c| &c.probes), probe, async {
                probe
                    .render::<Postgres>(Dialect::Postgres)
                    .build_query_scalar::<i64>()
                    .fetch_one(&mut *conn)
                    .await
            })
            .await?,
        ),
        None => None,
    };
    let mut rows = Vec::new();
    if let Some(sql) = plan.choose_page(probed, Dialect::Postgres) {
        for row in sql
            .render::<Postgres>(Dialect::Postgres)
            .build()
            .fetch_all(&mut *conn)
            .await?
        {
            rows.push(decode_row(&row, &plan.key_kinds)?);
        }
    }
    let mut page = plan.finish(rows, total);
    let mut includer = Includer::new(tenant.as_str(), query, registry, &page.matches);
    while let Some(sql) = includer.next_query() {
        let mut records = Vec::new();
        for row in sql
            .render::<Postgres>(Dialect::Postgres)
            .build()
            .fetch_all(&mut *conn)
            .await?
        {
            records.push(decode_row(&row, &[])?.record);
        }
        includer.add(records);
    }
    page.included = includer.into_included();
    Ok(page)
}
