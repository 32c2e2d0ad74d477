//! Postgres's parts of a bulk load's deferred index builds (the flow is `crate::bulk_load`).

use sqlx::{PgConnection, PgPool, Row};

use super::PgStore;
use crate::bulk_load::{build_list, deferrable};
use crate::StoreError;

/// `maintenance_work_mem` for an index build: with the default (64 MB) a build of a
/// 25-million-row index spills its sort to disk in many runs.
const BUILD_SETUP: &str = "SET LOCAL maintenance_work_mem = '512MB'";

/// Keeps writers out between the emptiness check and the drops (`DROP INDEX` would take
/// the lock anyway).
pub(super) async fn lock_for_defer(conn: &mut PgConnection) -> Result<(), StoreError> {
    // The table names come from a constant list, never from input.
    let tables = deferrable().join(", ");
    sqlx::query(&format!("LOCK TABLE {tables} IN SHARE ROW EXCLUSIVE MODE"))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The secondary indexes of the deferrable tables, from the catalog (none of these tables
/// has a primary or unique key today, but one added later must keep enforcing itself).
pub(super) async fn secondary_indexes(
    conn: &mut PgConnection,
) -> Result<Vec<(String, String)>, StoreError> {
    let rows = sqlx::query(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i \
         JOIN pg_class c ON c.relname = i.indexname \
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = i.schemaname \
         JOIN pg_index x ON x.indexrelid = c.oid \
         WHERE i.schemaname = current_schema() AND i.tablename = ANY($1) \
           AND NOT x.indisunique AND NOT x.indisprimary \
         ORDER BY i.indexname",
    )
    .bind(deferrable())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

/// Two builds at once: Postgres builds a GIN index on one core, and a btree build's sort
/// leaves the other core mostly idle while it writes.
pub(super) async fn build_indexes(
    pool: &PgPool,
    pending: Vec<(String, String)>,
) -> Result<usize, StoreError> {
    let (first, second): (Vec<_>, Vec<_>) = pending
        .into_iter()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    let strip = |v: Vec<(usize, (String, String))>| v.into_iter().map(|(_, d)| d).collect();
    let (a, b) = tokio::join!(build_on(pool, strip(first)), build_on(pool, strip(second)));
    Ok(a? + b?)
}

async fn build_on(pool: &PgPool, indexes: Vec<(String, String)>) -> Result<usize, StoreError> {
    if indexes.is_empty() {
        return Ok(0);
    }
    let mut conn = pool.acquire().await?;
    build_list::<PgStore>(&mut conn, indexes, Some(BUILD_SETUP)).await
}
