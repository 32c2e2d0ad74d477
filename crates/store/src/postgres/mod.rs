//! The Postgres backend: [`PgStore`] and its [`Backend`] impl (the shared rules run on it;
//! this folder holds what only Postgres does: the `UNNEST` batch path in [`tx`], index rows
//! by `COPY` in [`pg_copy`], the catalog side of deferred index builds in [`bulk_load`]).
//!
//! One pool; statements are prepared and cached per connection by sqlx. Content is `jsonb`
//! (written as text with `::jsonb`, read back with `content::text`; see `Sql::json` and
//! `Sql::content_col`). Writes run at READ
//! COMMITTED and never lose an update: the `UPDATE ... WHERE version = <read version>`
//! compare-and-swap waits for a concurrent writer's row lock and then re-checks the version,
//! so exactly one of several writers expecting the same version wins. A write takes
//! `FOR KEY SHARE` on its tenant row, so `delete_tenant` (which deletes that row first) waits
//! for in-flight writes and later writes see the tenant gone; no orphan rows.
//!
//! `resource_versions.seq` is an identity column: numbers are handed out at insert time, not
//! at commit, so a version with a lower `seq` can become visible after one with a higher
//! `seq`. History paging is unaffected in practice (a page is a snapshot); a change-feed
//! consumer that must never skip an event (subscriptions, sync) needs a visibility horizon
//! on top (e.g. only read `seq` below the oldest in-flight writer's), to be added with it.

use std::str::FromStr;
use std::sync::Arc;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgQueryResult};
use sqlx::{PgConnection, Postgres};

use crate::backend::Backend;
use crate::db::{SqlDb, SqlDialect};
use crate::held::Held;
use crate::migrate::{self, Migration};
use crate::search::{rows_by_table, Dialect, IndexedResource, SearchCaches, Sql};
use crate::tx::plan::{CurrentRow, Key, Planned};
use crate::{redact, OnUnchanged, PoolStats, StoreError, StoreOptions, TenantName, WriteRequest};

mod bulk_load;
mod pg_copy;
mod tx;

/// The Postgres store. Its methods are the [`crate::Store`] methods of the same name,
/// documented there.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    /// What this store's searches reuse (walk probe answers, accurate counts).
    caches: Arc<SearchCaches>,
    /// [`StoreOptions::statement_timeout`].
    statement_timeout: Option<std::time::Duration>,
}

impl PgStore {
    /// Connects a pool of at most `opts.max_connections` connections.
    pub async fn connect(url: &str, opts: &StoreOptions) -> Result<PgStore, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|_| StoreError::UnsupportedUrl(redact(url)))?
            .application_name("fhirdir")
            // sqlx prepares every statement, and after five runs Postgres switches a prepared
            // statement to a generic plan that ignores the bound values. Search values are
            // skewed (a specialty code with 42,000 roles, another with 90), so the generic
            // plan of `code = $1` was 70x slower than the value's own (BENCHMARKS.md, Search,
            // "Plans"). Planning a search costs about a millisecond; a wrong plan, far more.
            .options([("plan_cache_mode", "force_custom_plan")]);
        let pool = PgPoolOptions::new()
            // A connection closed mid-statement (postgres/held.rs) should stop its statement
            // too: with this, the server looks at the client socket every second while a
            // statement runs (Postgres 14 and later; older servers refuse the name, and then
            // the statement runs on to its timeout).
            .after_connect(|conn, _| {
                Box::pin(async move {
                    let _ = sqlx::Executor::execute(
                        &mut *conn,
                        "SET client_connection_check_interval = '1s'",
                    )
                    .await;
                    Ok(())
                })
            })
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(options)
            .await?;
        Ok(PgStore {
            pool,
            caches: Arc::default(),
            statement_timeout: opts.statement_timeout,
        })
    }

    pub fn pool_stats(&self) -> PoolStats {
        PoolStats {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

crate::ops::store_api!(PgStore);

impl SqlDialect for Postgres {
    const DIALECT: Dialect = Dialect::Postgres;

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }
}

impl Backend for PgStore {
    type Db = Postgres;
    const NAME: &'static str = "postgres";
    const MIGRATIONS: &'static [Migration] = migrate::POSTGRES;
    // A fixed key for `pg_advisory_xact_lock` (0x0066_6869_7264_6972: "fhirdir" in ASCII),
    // shared by every fhirdir process on the database.
    const MIGRATION_BEGIN: &'static str = "BEGIN; SELECT pg_advisory_xact_lock(28825249724524914)";
    // to_regclass is NULL when the ledger does not exist yet (never migrated).
    const HAS_LEDGER: &'static str = "SELECT to_regclass('fhirdir_migrations') IS NOT NULL";
    const ROWS_PER_RUN: usize = tx::ROWS_PER_RUN;
    // `seq` is an identity column (see the module docs for what that means for readers).
    const NEXT_SEQ: Option<&'static str> = None;
    // Also fills the visibility map, so searches read the index tables with index-only
    // scans instead of visiting the heap for every row (until autovacuum gets there, which on
    // insert-only tables can take long).
    const OPTIMIZE_AFTER_LOAD: &'static str = "VACUUM (ANALYZE) ";
    const ANALYZE_AFTER_WRITES: bool = true;
    type SearchLimit = ();

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    fn caches(&self) -> &SearchCaches {
        &self.caches
    }

    fn statement_timeout(&self) -> Option<Duration> {
        self.statement_timeout
    }

    /// READ COMMITTED, with `timeout` as the transaction's `statement_timeout`.
    async fn begin_write(&self, timeout: Option<Duration>) -> Result<Held<Postgres>, StoreError> {
        begin(&self.pool, "BEGIN", timeout).await
    }

    /// `REPEATABLE READ`: every statement sees the snapshot of the first, so a count and its
    /// page agree; the statement timeout is set in the same round trip.
    async fn begin_read(&self) -> Result<Held<Postgres>, StoreError> {
        begin(
            &self.pool,
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
            self.statement_timeout,
        )
        .await
    }

    /// Nothing more: [`Backend::begin_read`] set `statement_timeout`.
    async fn limit_search(&self, _conn: &mut PgConnection) -> Result<(), StoreError> {
        Ok(())
    }

    fn search_finished(_limit: ()) {}

    /// Checks that the tenant exists and keeps it from being deleted until this transaction
    /// ends (`FOR KEY SHARE` conflicts only with deleting the row or changing its key).
    async fn claim_tenant(conn: &mut PgConnection, tenant: &TenantName) -> Result<(), StoreError> {
        let mut sql = Sql::new();
        sql.push("SELECT true FROM tenants WHERE name = ")
            .text(tenant.as_str())
            .push(" FOR KEY SHARE");
        match Postgres::fetch_optional::<(bool,)>(conn, &sql).await? {
            Some(_) => Ok(()),
            None => Err(StoreError::UnknownTenant(tenant.to_string())),
        }
    }

    /// A transaction-scoped advisory lock on `key`.
    async fn lock_condition(
        conn: &mut PgConnection,
        key: i64,
        shared: bool,
    ) -> Result<(), StoreError> {
        let mut sql = Sql::new();
        let function = if shared {
            "pg_advisory_xact_lock_shared"
        } else {
            "pg_advisory_xact_lock"
        };
        sql.push("SELECT ")
            .push(function)
            .push("(")
            .int(key)
            .push(")");
        Postgres::execute(conn, &sql).await?;
        Ok(())
    }

    async fn current_rows(
        conn: &mut PgConnection,
        tenant: &TenantName,
        requests: &[&WriteRequest],
        on_unchanged: OnUnchanged,
    ) -> Result<HashMap<Key, CurrentRow>, StoreError> {
        tx::lock_current_rows(conn, tenant, requests, on_unchanged).await
    }

    async fn save_run(
        conn: &mut PgConnection,
        tenant: &TenantName,
        requests: &[&WriteRequest],
        planned: &[Planned],
    ) -> Result<HashSet<usize>, StoreError> {
        tx::save_run(conn, tenant, requests, planned).await
    }

    async fn lock_for_defer(conn: &mut PgConnection) -> Result<(), StoreError> {
        bulk_load::lock_for_defer(conn).await
    }

    async fn secondary_indexes(
        conn: &mut PgConnection,
    ) -> Result<Vec<(String, String)>, StoreError> {
        bulk_load::secondary_indexes(conn).await
    }

    async fn build_indexes(&self, indexes: Vec<(String, String)>) -> Result<usize, StoreError> {
        bulk_load::build_indexes(&self.pool, indexes).await
    }

    /// One `COPY` per table ([`pg_copy`]).
    async fn insert_index_rows(
        conn: &mut PgConnection,
        tenant: &TenantName,
        resources: &[IndexedResource<'_>],
    ) -> Result<(), StoreError> {
        for (table, rows) in rows_by_table(resources) {
            pg_copy::copy_rows(conn, tenant.as_str(), table, &rows).await?;
        }
        Ok(())
    }
}

/// [`Held::begin`] with `timeout` as the transaction's `statement_timeout` when given, in the
/// same round trip.
async fn begin(
    pool: &PgPool,
    begin: &'static str,
    timeout: Option<Duration>,
) -> Result<Held<Postgres>, StoreError> {
    match timeout {
        // The number is ours (milliseconds), never input: formatting it is safe.
        Some(t) => {
            let sql = format!(
                "{begin}; SET LOCAL statement_timeout = {}",
                t.as_millis().max(1)
            );
            Held::begin(pool, &sql).await
        }
        None => Held::begin(pool, begin).await,
    }
}
