//! Accurate counts (`_total=accurate`) reused while a tenant's data has not changed.
//!
//! An accurate count reads every match: 168k index rows for `Practitioner?gender=female` at
//! 1M resources, a p95 of 32-35 ms on Postgres and 47-48 ms on SQLite, paid by every page of
//! such a search (BENCHMARKS.md, Search, "Accurate count after a write"). A directory is read far more than it is written, so the count is kept and
//! reused for as long as the tenant's data is provably the same.
//!
//! "Provably the same": every transaction that changes a tenant's resources or index rows
//! adds 1 to the tenant's *write generation* (table `write_generations`, migration 0009)
//! before it commits, and a search reads the generation in the snapshot it counts in (each
//! backend's search is one read transaction). With every committed write adding 1, and a
//! later snapshot seeing every commit an earlier one saw, an equal generation means that no
//! write committed in between, in this process or in any other sharing the database, so the
//! count is the one the search would compute now. The count is therefore exact, not
//! approximate; the reuse is only lost (not wrong) when anything in the tenant is written.
//! Inside a write transaction (conditional writes) nothing is taken or stored: the count
//! includes the transaction's own uncommitted rows.
//!
//! Keys are the count statement itself (text and bound values, the tenant included), not a
//! hash: a collision here would answer another search's total.

use std::collections::HashMap;
use std::sync::Mutex;

use super::sql::Sql;
use crate::StoreError;

/// Counts kept at most; when full, all are dropped (the next searches count again).
const CAPACITY: usize = 1_000;

/// Statements longer than this (a search with kilobytes of values) are counted every time,
/// so that the cache stays a few megabytes at most.
const MAX_KEY_BYTES: usize = 4_096;

/// Rows per tenant on Postgres, one per connection: two transactions committing at once then
/// rarely wait for the same row lock.
const STRIPES: i64 = 32;

/// The tenant's write generation (the sum of its rows), one scalar; run it on the search's
/// connection, so that it is read in the snapshot the count is made in.
pub(crate) fn read_generation(tenant: &str) -> Sql {
    let mut sql = Sql::new();
    sql.push("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM write_generations WHERE tenant = ")
        .text(tenant);
    sql
}

/// Adds 1 to the tenant's write generation: in every transaction that changes the tenant's
/// resources or index rows, last before the commit (the row lock is then held only for the
/// commit itself). The row is the connection's stripe on Postgres; SQLite has one writer at a
/// time, so one row per tenant.
pub(crate) fn bump(tenant: &str) -> Sql {
    let (mut sqlite, mut postgres) = (Sql::new(), Sql::new());
    sqlite.push("0");
    postgres.push("pg_backend_pid() % ").int(STRIPES);
    let mut sql = Sql::new();
    sql.push("INSERT INTO write_generations (tenant, stripe, n) VALUES (")
        .text(tenant)
        .push(", ")
        .dialect(sqlite, postgres)
        .push(", 1) ON CONFLICT (tenant, stripe) DO UPDATE SET n = write_generations.n + 1");
    sql
}

/// `count`'s answer: from `cache` when it holds one counted at `generation` (the tenant's
/// generation in the caller's snapshot), else by running `run` (the count on the caller's
/// connection, in the same snapshot), kept for the next search. `cache`: `None` inside a
/// write transaction.
pub(crate) async fn reuse_or_count(
    cache: Option<(&CountCache, i64)>,
    count: &Sql,
    run: impl std::future::Future<Output = Result<i64, StoreError>>,
) -> Result<i64, StoreError> {
    let Some((cache, generation)) = cache else {
        return run.await;
    };
    let key = format!("{count:?}");
    if key.len() > MAX_KEY_BYTES {
        return run.await;
    }
    if let Some(n) = cache.get(&key, generation) {
        return Ok(n);
    }
    let n = run.await?;
    cache.put(key, generation, n);
    Ok(n)
}

/// Per store: count statement -> (write generation it was counted at, count).
#[derive(Debug, Default)]
pub(crate) struct CountCache {
    entries: Mutex<HashMap<String, (i64, i64)>>,
}

impl CountCache {
    fn get(&self, key: &str, generation: i64) -> Option<i64> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some(&(at, n)) if at == generation => Some(n),
            _ => None,
        }
    }

    fn put(&self, key: String, generation: i64, n: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(key, (generation, n));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(value: &str) -> Sql {
        let mut sql = Sql::new();
        sql.push("SELECT COUNT(*) FROM t WHERE v = ").text(value);
        sql
    }

    async fn not_run() -> Result<i64, StoreError> {
        Err(StoreError::Database(sqlx::Error::RowNotFound))
    }

    #[tokio::test]
    async fn a_count_is_reused_only_at_the_generation_it_was_counted_at() {
        let cache = CountCache::default();
        let n = reuse_or_count(Some((&cache, 7)), &count("female"), async { Ok(168) }).await;
        assert_eq!(n.ok(), Some(168));
        let again = reuse_or_count(Some((&cache, 7)), &count("female"), not_run()).await;
        assert_eq!(
            again.ok(),
            Some(168),
            "same generation: reused, not counted"
        );
        let other = reuse_or_count(Some((&cache, 7)), &count("male"), not_run()).await;
        assert!(other.is_err(), "another statement is counted");
        let later = reuse_or_count(Some((&cache, 8)), &count("female"), async { Ok(169) }).await;
        assert_eq!(
            later.ok(),
            Some(169),
            "a write committed since: counted again"
        );
        let back = reuse_or_count(Some((&cache, 7)), &count("female"), not_run()).await;
        assert!(back.is_err(), "only the latest generation's count is kept");
        let uncached = reuse_or_count(None, &count("female"), not_run()).await;
        assert!(uncached.is_err(), "in a write transaction every count runs");
    }

    #[tokio::test]
    async fn long_statements_are_not_kept_and_a_full_cache_starts_over() {
        let cache = CountCache::default();
        let long = "x".repeat(MAX_KEY_BYTES);
        let n = reuse_or_count(Some((&cache, 1)), &count(&long), async { Ok(3) }).await;
        assert_eq!(n.ok(), Some(3));
        assert_eq!(cache.len(), 0);
        for i in 0..CAPACITY {
            cache.put(format!("k{i}"), 1, 1);
        }
        assert_eq!(cache.len(), CAPACITY);
        cache.put("k0".into(), 2, 5);
        assert_eq!(cache.len(), CAPACITY, "replacing an entry keeps the others");
        cache.put("new".into(), 1, 9);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get("new", 1), Some(9));
    }
}
