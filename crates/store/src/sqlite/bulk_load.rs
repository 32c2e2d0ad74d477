//! SQLite's parts of a bulk load's deferred index builds (the flow is `crate::bulk_load`).

use sqlx::{Sqlite, SqliteConnection, SqlitePool};

use super::SqliteStore;
use crate::bulk_load::{build_list, deferrable};
use crate::db::SqlDb;
use crate::StoreError;

/// The secondary indexes of the deferrable tables, from the schema table.
pub(super) async fn secondary_indexes(
    conn: &mut SqliteConnection,
) -> Result<Vec<(String, String)>, StoreError> {
    let list = deferrable()
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    // `sql IS NULL` are the automatic indexes of primary and unique keys, which stay. The
    // table names come from a constant list, never from input.
    Ok(sqlx::query_as(&format!(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
         AND sql NOT LIKE 'CREATE UNIQUE%' AND tbl_name IN ({list}) ORDER BY name"
    ))
    .fetch_all(&mut *conn)
    .await?)
}

/// One build after the other on one writer connection, its sorts spilled to files.
pub(super) async fn build_indexes(
    writer: &SqlitePool,
    pending: Vec<(String, String)>,
) -> Result<usize, StoreError> {
    let mut conn = writer.acquire().await?;
    // The sort of a build spills to temporary files; with the writer's `temp_store = memory`
    // those live in RAM, and a 10-million-row index took the import's peak RSS from 580 MiB
    // (100k) to 1.3 GiB (1M). Files keep memory flat; a second sorter thread uses the other
    // core.
    Sqlite::execute_raw(&mut conn, "PRAGMA temp_store = FILE; PRAGMA threads = 2").await?;
    let built = build_list::<SqliteStore>(&mut conn, pending, None).await;
    Sqlite::execute_raw(&mut conn, "PRAGMA temp_store = MEMORY; PRAGMA threads = 0").await?;
    built
}
