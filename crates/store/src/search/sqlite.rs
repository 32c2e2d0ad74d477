//! Runs search and index statements on SQLite.
//!
//! A search reads inside one (deferred) transaction on the reader pool, so the count, the
//! page and the includes come from one snapshot. Index rows are written on the connection of
//! the caller's write transaction (the writer, `BEGIN IMMEDIATE`).

use chrono::Utc;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};

use super::include::Includer;
use super::index_rows::{delete_statements, insert_statements, IndexedResource, INDEX_TABLES};
use super::plan::Plan;
use super::probe_cache;
use super::sql::{Dialect, Sql};
use super::{count_cache, SearchCaches};
use super::{decode_row, SearchPage};
use crate::held::Held;
use crate::{PageCursor, StoreError, TenantName};

async fn execute(conn: &mut SqliteConnection, sql: &Sql) -> Result<(), StoreError> {
    sql.render::<Sqlite>(Dialect::Sqlite)
        .build()
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Replaces the index rows of `resource_type/id` with those of `entries`; call it inside the
/// write transaction, after the resource row is saved. `replace`: whether it may have rows
/// already (see [`write_bulk`]).
pub(crate) async fn write_index_rows(
    conn: &mut SqliteConnection,
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
    conn: &mut SqliteConnection,
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
    conn: &mut SqliteConnection,
    tenant: &TenantName,
) -> Result<(), StoreError> {
    execute(conn, &count_cache::bump(tenant.as_str())).await
}

/// Replaces the index rows of many resources (multi-row statements, chunked under the bind
/// limit), on the caller's transaction. `replace[i]` says whether `resources[i]` may have
/// rows already (see [`super::index_rows::replaced_ids_by_type`]).
pub(crate) async fn write_bulk(
    conn: &mut SqliteConnection,
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
    for sql in insert_statements(tenant.as_str(), resources) {
        execute(conn, &sql).await?;
    }
    Ok(())
}

/// [`crate::Store::reindex_many`] on SQLite.
pub(crate) async fn reindex(
    writer: &SqlitePool,
    tenant: &TenantName,
    resources: &[IndexedResource<'_>],
) -> Result<(), StoreError> {
    let mut tx = Held::begin(writer, "BEGIN IMMEDIATE").await?;
    require_tenant(&mut tx, tenant).await?;
    write_bulk(&mut tx, tenant, resources, &vec![true; resources.len()]).await?;
    bump_generation(&mut tx, tenant).await?;
    tx.commit().await?;
    Ok(())
}

async fn require_tenant(
    conn: &mut SqliteConnection,
    tenant: &TenantName,
) -> Result<(), StoreError> {
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
pub(crate) async fn analyze(pool: &SqlitePool) -> Result<(), StoreError> {
    for table in INDEX_TABLES.iter().chain(&["resources"]) {
        let mut sql = Sql::new();
        sql.push("ANALYZE ").push(table);
        sql.render::<Sqlite>(Dialect::Sqlite)
            .build()
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// [`crate::Store::search`] on SQLite.
pub(crate) async fn search(
    store: &crate::sqlite::SqliteStore,
    tenant: &TenantName,
    query: &search::SearchQuery,
    registry: &conformance::Registry,
    cursor: Option<&PageCursor>,
) -> Result<SearchPage, StoreError> {
    let mut tx = Held::begin(store.reader_pool(), "BEGIN").await?;
    let deadline = match store.statement_timeout() {
        Some(limit) => Some(Deadline::install(&mut tx, limit).await?),
        None => None,
    };
    let caches = Some(store.caches());
    let page = search_on(&mut tx, tenant, query, registry, cursor, caches).await?;
    if let Some(d) = deadline {
        d.finish();
    }
    tx.commit().await?;
    Ok(page)
}

/// SQLite's statement timeout: a progress handler that interrupts the connection's statement
/// (`SQLITE_INTERRUPT`, [`StoreError::is_timeout`]) once the deadline has passed.
///
/// The handler stays installed on the pooled connection after the search (removing it would
/// cost a second hop to the connection's thread): [`Deadline::finish`] makes it let every
/// later statement run, and the connection's next search replaces it. A search that ends any
/// other way (an error, or its future dropped because the client went away) leaves it
/// interrupting at once, so a statement still running on the connection's thread stops; that
/// connection is closed, never reused (`held.rs`).
struct Deadline(std::sync::Arc<std::sync::atomic::AtomicU8>);

impl Deadline {
    /// How many SQLite VM instructions run between two looks at the clock (about 0.1 ms).
    const CHECK_EVERY: i32 = 10_000;
    const RUNNING: u8 = 0;
    const FINISHED: u8 = 1;
    const ABANDONED: u8 = 2;

    async fn install(
        conn: &mut SqliteConnection,
        limit: std::time::Duration,
    ) -> Result<Deadline, StoreError> {
        use std::sync::atomic::{AtomicU8, Ordering};
        let state = std::sync::Arc::new(AtomicU8::new(Deadline::RUNNING));
        let until = std::time::Instant::now() + limit;
        let seen = state.clone();
        conn.lock_handle()
            .await?
            .set_progress_handler(Deadline::CHECK_EVERY, move || {
                match seen.load(Ordering::Relaxed) {
                    Deadline::FINISHED => true,
                    Deadline::RUNNING => std::time::Instant::now() < until,
                    _ => false,
                }
            });
        Ok(Deadline(state))
    }

    fn finish(self) {
        self.0
            .store(Deadline::FINISHED, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering;
        let _ = self.0.compare_exchange(
            Deadline::RUNNING,
            Deadline::ABANDONED,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
}

/// A search on `conn`, inside the caller's transaction: from the statements' snapshot(s) of
/// that transaction, its own uncommitted writes included. `query`'s ValueSets must be
/// expanded already. `caches`: where walk probes' answers and accurate counts are reused
/// (`None` in a write transaction, see [`SearchCaches`]).
pub(crate) async fn search_on(
    conn: &mut SqliteConnection,
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
                        .render::<Sqlite>(Dialect::Sqlite)
                        .build_query_scalar::<i64>()
                        .fetch_one(&mut *conn)
                        .await?,
                )),
                None => None,
            };
            let n = count_cache::reuse_or_count(cached, sql, async {
                sql.render::<Sqlite>(Dialect::Sqlite)
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
                    .render::<Sqlite>(Dialect::Sqlite)
                    .build_query_scalar::<i64>()
                    .fetch_one(&mut *conn)
                    .await
            })
            .await?,
        ),
        None => None,
    };
    let mut rows = Vec::new();
    if let Some(sql) = plan.choose_page(probed, Dialect::Sqlite) {
        for row in sql
            .render::<Sqlite>(Dialect::Sqlite)
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
            .render::<Sqlite>(Dialect::Sqlite)
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
