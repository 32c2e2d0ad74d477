//! Deferred search-index builds for a bulk load into empty search tables.
//!
//! An import writes about 25 index rows per resource; with every secondary index of the
//! search tables in place, each row is one random insert into each of two or three btrees (and
//! a trigram GIN entry for strings), which was 73% of the Postgres backend's time in an import
//! profile. Loading the rows first and then building each index once sorts the rows and writes
//! every index page once.
//!
//! Dropping indexes of shared tables is only harmless when they index nothing yet, so
//! [`Store::defer_search_indexes`] does it only when every search table (and `resources`,
//! whose `resources_live` is deferred too) is empty (a fresh
//! database, the first load of a directory). Meanwhile the definitions wait in
//! `deferred_indexes` (migration 0006): [`Store::build_deferred_indexes`] builds them and
//! removes each row in the same transaction as its index, and [`Store::connect`] runs it
//! too, so an import that was killed half way leaves nothing missing after the next start.
//!
//! While indexes are deferred, everything stays correct (the tables hold the same rows),
//! only slower: a search or an update of the loaded tables scans instead of seeking.

use sqlx::{PgPool, Row, SqlitePool};

use crate::search::INDEX_TABLES;
use crate::{Store, StoreError};

/// The tables whose secondary indexes a bulk load defers: the search tables, and `resources`
/// (`resources_live`). Not `resource_versions`: SQLite finds the next history `seq` by its
/// index on every write.
fn deferrable() -> Vec<&'static str> {
    INDEX_TABLES.iter().copied().chain(["resources"]).collect()
}

/// `maintenance_work_mem` for a Postgres index build: with the default (64 MB) a build of a
/// 25-million-row index spills its sort to disk in many runs.
const PG_BUILD_MEMORY: &str = "512MB";

impl Store {
    /// When every search index table is empty, drops their secondary indexes (recording each
    /// definition in `deferred_indexes`) and answers how many; otherwise answers 0 and changes
    /// nothing. Follow a load with [`Store::build_deferred_indexes`].
    pub async fn defer_search_indexes(&self) -> Result<usize, StoreError> {
        match self {
            Store::Sqlite(s) => defer_sqlite(crate::backend::Backend::writer(s)).await,
            Store::Postgres(s) => defer_postgres(crate::backend::Backend::writer(s)).await,
        }
    }

    /// Builds every index recorded in `deferred_indexes` (none: returns at once) and answers
    /// how many were built. Each index is built and its record removed in one transaction,
    /// so an interrupted run resumes where it stopped.
    pub async fn build_deferred_indexes(&self) -> Result<usize, StoreError> {
        match self {
            Store::Sqlite(s) => build_sqlite(crate::backend::Backend::writer(s)).await,
            Store::Postgres(s) => build_postgres(crate::backend::Backend::writer(s)).await,
        }
    }
}

/// `CREATE INDEX name ...` as `CREATE INDEX IF NOT EXISTS name ...`, so a build that
/// committed its index but not the removal of its record (impossible in one transaction,
/// but cheap to tolerate) or an index created meanwhile by hand is not an error.
fn if_not_exists(definition: &str) -> String {
    definition.replacen("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1)
}

async fn defer_postgres(pool: &PgPool) -> Result<usize, StoreError> {
    let mut tx = pool.begin().await?;
    // The lock keeps writers out between the emptiness check and the drops (DROP INDEX would
    // take it anyway); a concurrent second import waits here, then finds nothing to drop.
    let tables = deferrable().join(", ");
    sqlx::query(&format!("LOCK TABLE {tables} IN SHARE ROW EXCLUSIVE MODE"))
        .execute(&mut *tx)
        .await?;
    for table in deferrable() {
        let any: bool = sqlx::query_scalar(&format!("SELECT EXISTS (SELECT 1 FROM {table})"))
            .fetch_one(&mut *tx)
            .await?;
        if any {
            return Ok(0);
        }
    }
    // Secondary indexes only: none of these tables has a primary or unique key today, but
    // one added later must keep enforcing itself during a load.
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
    .fetch_all(&mut *tx)
    .await?;
    for row in &rows {
        let (name, definition): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        sqlx::query("INSERT INTO deferred_indexes (name, definition) VALUES ($1, $2)")
            .bind(&name)
            .bind(&definition)
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("DROP INDEX \"{name}\""))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(rows.len())
}

async fn build_postgres(pool: &PgPool) -> Result<usize, StoreError> {
    let pending: Vec<(String, String)> =
        sqlx::query_as("SELECT name, definition FROM deferred_indexes ORDER BY name")
            .fetch_all(pool)
            .await?;
    if pending.is_empty() {
        return Ok(0);
    }
    tracing::info!(
        indexes = pending.len(),
        "building the search indexes deferred by a bulk load"
    );
    // Two builds at once: Postgres builds a GIN index on one core, and a btree build's sort
    // leaves the other core mostly idle while it writes.
    let (first, second): (Vec<_>, Vec<_>) = pending
        .into_iter()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    let strip = |v: Vec<(usize, (String, String))>| v.into_iter().map(|(_, d)| d).collect();
    let (a, b) = tokio::join!(
        build_postgres_list(pool, strip(first)),
        build_postgres_list(pool, strip(second))
    );
    Ok(a? + b?)
}

async fn build_postgres_list(
    pool: &PgPool,
    indexes: Vec<(String, String)>,
) -> Result<usize, StoreError> {
    let mut built = 0;
    for (name, definition) in indexes {
        let mut tx = pool.begin().await?;
        sqlx::query(&format!(
            "SET LOCAL maintenance_work_mem = '{PG_BUILD_MEMORY}'"
        ))
        .execute(&mut *tx)
        .await?;
        // Claim the record first: a second process building at the same time waits on the
        // row lock, then finds the row gone and skips the index.
        let claimed = sqlx::query("DELETE FROM deferred_indexes WHERE name = $1")
            .bind(&name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if claimed == 1 {
            let started = std::time::Instant::now();
            sqlx::query(&if_not_exists(&definition))
                .execute(&mut *tx)
                .await?;
            tracing::info!(index = %name, secs = started.elapsed().as_secs_f64(), "index built");
            built += 1;
        }
        tx.commit().await?;
    }
    Ok(built)
}

async fn defer_sqlite(pool: &SqlitePool) -> Result<usize, StoreError> {
    let mut conn = pool.acquire().await?;
    // IMMEDIATE: the write lock from the start, so no writer slips in after the check.
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let result = defer_sqlite_locked(&mut conn).await;
    let end = if matches!(result, Ok(n) if n > 0) {
        "COMMIT"
    } else {
        "ROLLBACK"
    };
    sqlx::query(end).execute(&mut *conn).await?;
    result
}

async fn defer_sqlite_locked(conn: &mut sqlx::SqliteConnection) -> Result<usize, StoreError> {
    for table in deferrable() {
        let any: bool = sqlx::query_scalar(&format!("SELECT EXISTS (SELECT 1 FROM {table})"))
            .fetch_one(&mut *conn)
            .await?;
        if any {
            return Ok(0);
        }
    }
    let list = deferrable()
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    // `sql IS NULL` are the automatic indexes of primary and unique keys, which stay.
    let rows: Vec<(String, String)> = sqlx::query_as(&format!(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
         AND sql NOT LIKE 'CREATE UNIQUE%' AND tbl_name IN ({list}) ORDER BY name"
    ))
    .fetch_all(&mut *conn)
    .await?;
    for (name, definition) in &rows {
        sqlx::query("INSERT INTO deferred_indexes (name, definition) VALUES ($1, $2)")
            .bind(name)
            .bind(definition)
            .execute(&mut *conn)
            .await?;
        sqlx::query(&format!("DROP INDEX \"{name}\""))
            .execute(&mut *conn)
            .await?;
    }
    Ok(rows.len())
}

async fn build_sqlite(pool: &SqlitePool) -> Result<usize, StoreError> {
    let pending: Vec<(String, String)> =
        sqlx::query_as("SELECT name, definition FROM deferred_indexes ORDER BY name")
            .fetch_all(pool)
            .await?;
    if pending.is_empty() {
        return Ok(0);
    }
    let mut conn = pool.acquire().await?;
    // The sort of a build spills to temporary files; with the writer's `temp_store = memory`
    // those live in RAM, and a 10-million-row index took the import's peak RSS from 580 MiB
    // (100k) to 1.3 GiB (1M). Files keep memory flat; a second sorter thread uses the other
    // core.
    sqlx::query("PRAGMA temp_store = FILE")
        .execute(&mut *conn)
        .await?;
    sqlx::query("PRAGMA threads = 2")
        .execute(&mut *conn)
        .await?;
    let built = build_sqlite_on(&mut conn, pending).await;
    sqlx::query("PRAGMA temp_store = MEMORY")
        .execute(&mut *conn)
        .await?;
    sqlx::query("PRAGMA threads = 0")
        .execute(&mut *conn)
        .await?;
    built
}

async fn build_sqlite_on(
    conn: &mut sqlx::SqliteConnection,
    pending: Vec<(String, String)>,
) -> Result<usize, StoreError> {
    use sqlx::Connection;
    let mut built = 0;
    for (name, definition) in pending {
        let mut tx = conn.begin().await?;
        let claimed = sqlx::query("DELETE FROM deferred_indexes WHERE name = $1")
            .bind(&name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if claimed == 1 {
            sqlx::query(&if_not_exists(&definition))
                .execute(&mut *tx)
                .await?;
            built += 1;
        }
        tx.commit().await?;
    }
    Ok(built)
}

#[cfg(test)]
mod tests {
    use super::if_not_exists;

    #[test]
    fn definitions_are_rebuilt_only_when_missing() {
        assert_eq!(
            if_not_exists("CREATE INDEX search_uri_value ON public.search_uri USING btree (value)"),
            "CREATE INDEX IF NOT EXISTS search_uri_value ON public.search_uri USING btree (value)"
        );
    }
}
