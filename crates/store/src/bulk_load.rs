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

use crate::backend::{Backend, Conn};
use crate::db::SqlDb;
use crate::search::{Sql, INDEX_TABLES};
use crate::{Store, StoreError};

/// The tables whose secondary indexes a bulk load defers: the search tables, and `resources`
/// (`resources_live`). Not `resource_versions`: SQLite finds the next history `seq` by its
/// index on every write.
pub(crate) fn deferrable() -> Vec<&'static str> {
    INDEX_TABLES.iter().copied().chain(["resources"]).collect()
}

impl Store {
    /// When every search index table is empty, drops their secondary indexes (recording each
    /// definition in `deferred_indexes`) and answers how many; otherwise answers 0 and changes
    /// nothing. Follow a load with [`Store::build_deferred_indexes`].
    pub async fn defer_search_indexes(&self) -> Result<usize, StoreError> {
        dispatch!(self, s => defer(s).await)
    }

    /// Builds every index recorded in `deferred_indexes` (none: returns at once) and answers
    /// how many were built. Each index is built and its record removed in one transaction,
    /// so an interrupted run resumes where it stopped.
    pub async fn build_deferred_indexes(&self) -> Result<usize, StoreError> {
        dispatch!(self, s => build(s).await)
    }
}

/// `CREATE INDEX name ...` as `CREATE INDEX IF NOT EXISTS name ...`, so a build that
/// committed its index but not the removal of its record (impossible in one transaction,
/// but cheap to tolerate) or an index created meanwhile by hand is not an error.
fn if_not_exists(definition: &str) -> String {
    definition.replacen("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1)
}

async fn defer<B: Backend>(store: &B) -> Result<usize, StoreError> {
    // The writer's transaction keeps writers out between the emptiness check and the drops
    // (`BEGIN IMMEDIATE` on SQLite, a table lock on Postgres); a concurrent second import
    // waits, then finds nothing to drop.
    let mut tx = store.begin_write(None).await?;
    let deferred = defer_on::<B>(&mut tx).await;
    // Every statement has ended: the transaction is known to be open and idle.
    tx.set_busy(false);
    match deferred {
        Ok(n) if n > 0 => tx.commit().await?,
        _ => tx.rollback().await?,
    }
    deferred
}

async fn defer_on<B: Backend>(conn: &mut Conn<B>) -> Result<usize, StoreError> {
    B::lock_for_defer(conn).await?;
    for table in deferrable() {
        let mut sql = Sql::new();
        // `table` comes from a constant list, never from input.
        sql.push("SELECT EXISTS (SELECT 1 FROM ")
            .push(table)
            .push(")");
        let any: Option<(bool,)> = B::Db::fetch_optional(conn, &sql).await?;
        if any.is_some_and(|(any,)| any) {
            return Ok(0);
        }
    }
    // Secondary indexes only: a primary or unique key must keep enforcing itself during a
    // load.
    let indexes = B::secondary_indexes(conn).await?;
    for (name, definition) in &indexes {
        let mut sql =
            Sql::numbered("INSERT INTO deferred_indexes (name, definition) VALUES ($1, $2)");
        sql.arg(name.as_str()).arg(definition.as_str());
        B::Db::execute(conn, &sql).await?;
        // The name comes from the catalog, quoted as an identifier.
        B::Db::execute_raw(conn, &format!("DROP INDEX \"{name}\"")).await?;
    }
    Ok(indexes.len())
}

async fn build<B: Backend>(store: &B) -> Result<usize, StoreError> {
    let mut sql = Sql::new();
    sql.push("SELECT name, definition FROM deferred_indexes ORDER BY name");
    let mut conn = store.writer().acquire().await?;
    let pending: Vec<(String, String)> = B::Db::fetch_all(&mut conn, &sql).await?;
    drop(conn);
    if pending.is_empty() {
        return Ok(0);
    }
    tracing::info!(
        indexes = pending.len(),
        "building the search indexes deferred by a bulk load"
    );
    store.build_indexes(pending).await
}

/// Builds `indexes` one after the other on `conn`, each in its own transaction that first
/// claims the record: a second process building at the same time waits on the row lock,
/// then finds the row gone and skips the index. `setup` runs first in each transaction.
pub(crate) async fn build_list<B: Backend>(
    conn: &mut Conn<B>,
    indexes: Vec<(String, String)>,
    setup: Option<&str>,
) -> Result<usize, StoreError> {
    use sqlx::Connection;
    let mut built = 0;
    for (name, definition) in indexes {
        let mut tx = conn.begin().await?;
        if let Some(setup) = setup {
            B::Db::execute_raw(&mut tx, setup).await?;
        }
        let mut claim = Sql::numbered("DELETE FROM deferred_indexes WHERE name = $1");
        claim.arg(name.as_str());
        if B::Db::execute(&mut tx, &claim).await? == 1 {
            let started = std::time::Instant::now();
            B::Db::execute_raw(&mut tx, &if_not_exists(&definition)).await?;
            tracing::info!(index = %name, secs = started.elapsed().as_secs_f64(), "index built");
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
