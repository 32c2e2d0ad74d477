//! The Postgres backend.
//!
//! One pool; statements are prepared and cached per connection by sqlx. Content is `jsonb`
//! (written as text with `$n::jsonb`, read back with `content::text`). Writes run at READ
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

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{PgConnection, Postgres, QueryBuilder};

use crate::common::{self, Current};
use crate::held::Held;
use crate::search::SearchCaches;
use crate::{
    migrate, redact, DeleteOutcome, HistoryPage, HistoryQuery, Method, PoolStats, Precondition,
    StoreError, StoreOptions, TenantInfo, TenantName, VersionRecord, WriteOutcome, WriteRequest,
};

pub(crate) mod tx;

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

    /// The pool (search, reindex).
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// What this store's searches reuse (walk probe answers, accurate counts).
    pub(crate) fn caches(&self) -> &SearchCaches {
        &self.caches
    }

    /// [`StoreOptions::statement_timeout`].
    pub(crate) fn statement_timeout(&self) -> Option<std::time::Duration> {
        self.statement_timeout
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrate::run_postgres(&self.pool).await
    }

    pub async fn ready(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        // to_regclass is NULL when the ledger does not exist yet (never migrated).
        let has_ledger: bool =
            sqlx::query_scalar("SELECT to_regclass('fhirdir_migrations') IS NOT NULL")
                .fetch_one(&self.pool)
                .await?;
        let applied = if has_ledger {
            sqlx::query_scalar("SELECT MAX(version) FROM fhirdir_migrations")
                .fetch_one(&self.pool)
                .await?
        } else {
            None
        };
        migrate::check_ready(migrate::POSTGRES, applied)
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

    // ---- tenants ----

    pub async fn create_tenant(&self, tenant: &TenantName) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO tenants (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(chrono::Utc::now().timestamp_micros())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn list_tenants(&self) -> Result<Vec<TenantInfo>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT name, created_at FROM tenants ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|(name, created)| {
                Ok(TenantInfo {
                    name,
                    created_at: common::from_micros(created)?,
                })
            })
            .collect()
    }

    pub async fn delete_tenant(&self, tenant: &TenantName) -> Result<bool, StoreError> {
        if tenant.as_str() == TenantName::DEFAULT {
            return Err(StoreError::DefaultTenant);
        }
        let mut tx = Held::begin(&self.pool, "BEGIN").await?;
        // The tenant row first: this waits for writes holding FOR KEY SHARE on it and makes
        // every later write fail with UnknownTenant, so nothing is added while we delete.
        let done = sqlx::query("DELETE FROM tenants WHERE name = $1")
            .bind(tenant.as_str())
            .execute(&mut *tx)
            .await?;
        for table in common::TENANT_DATA_TABLES {
            // `table` comes from a constant list, never from input.
            sqlx::query(&format!("DELETE FROM {table} WHERE tenant = $1"))
                .bind(tenant.as_str())
                .execute(&mut *tx)
                .await?;
        }
        // The generation rows stay (and move on): a tenant created again under this name must
        // not meet counts cached for the deleted one.
        crate::search::postgres::bump_generation(&mut tx, tenant).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn tenant_exists(&self, tenant: &TenantName) -> Result<bool, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tenants WHERE name = $1)")
                .bind(tenant.as_str())
                .fetch_one(&self.pool)
                .await?,
        )
    }

    // ---- resources ----

    pub async fn read(
        &self,
        tenant: &TenantName,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<VersionRecord>, StoreError> {
        // One query answers both "unknown tenant" (no row) and "unknown id" (NULL columns).
        let row: Option<common::ReadRow> = sqlx::query_as(
            "SELECT r.version, r.deleted, r.last_updated, r.method, r.content::text \
                 FROM tenants t LEFT JOIN resources r \
                 ON r.tenant = t.name AND r.res_type = $2 AND r.id = $3 \
                 WHERE t.name = $1",
        )
        .bind(tenant.as_str())
        .bind(resource_type)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        common::read_result(row, tenant, resource_type, id)
    }

    pub async fn vread(
        &self,
        tenant: &TenantName,
        resource_type: &str,
        id: &str,
        version: i64,
    ) -> Result<Option<VersionRecord>, StoreError> {
        let row: Option<common::VreadRow> = sqlx::query_as(
            "SELECT v.deleted, v.last_updated, v.method, v.content::text \
                 FROM tenants t LEFT JOIN resource_versions v \
                 ON v.tenant = t.name AND v.res_type = $2 AND v.id = $3 AND v.version = $4 \
                 WHERE t.name = $1",
        )
        .bind(tenant.as_str())
        .bind(resource_type)
        .bind(id)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        common::vread_result(row, tenant, resource_type, id, version)
    }

    pub async fn write(
        &self,
        tenant: &TenantName,
        req: WriteRequest,
    ) -> Result<WriteOutcome, StoreError> {
        let mut tx = self.begin(tenant).await?;
        let outcome = tx.write(req).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    pub async fn delete(
        &self,
        tenant: &TenantName,
        resource_type: &str,
        id: &str,
        precondition: Precondition,
    ) -> Result<DeleteOutcome, StoreError> {
        let mut tx = self.begin(tenant).await?;
        let outcome = tx.delete(resource_type, id, precondition).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    pub async fn history(
        &self,
        tenant: &TenantName,
        query: &HistoryQuery,
    ) -> Result<HistoryPage, StoreError> {
        // REPEATABLE READ: the count and the page come from one snapshot.
        let mut tx = Held::begin_pg(
            &self.pool,
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            self.statement_timeout,
        )
        .await?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tenants WHERE name = $1)")
                .bind(tenant.as_str())
                .fetch_one(&mut *tx)
                .await?;
        if !exists {
            tx.set_busy(false);
            return Err(StoreError::UnknownTenant(tenant.to_string()));
        }
        let mut count = QueryBuilder::<Postgres>::new("SELECT COUNT(*) FROM resource_versions v");
        common::push_history_where(&mut count, tenant.as_str(), query, false);
        let total: i64 = count.build_query_scalar().fetch_one(&mut *tx).await?;

        let mut page = QueryBuilder::<Postgres>::new(
            "SELECT v.seq, v.res_type, v.id, v.version, v.deleted, v.last_updated, v.method, \
             v.content::text FROM resource_versions v",
        );
        common::push_history_where(&mut page, tenant.as_str(), query, true);
        page.push(" ORDER BY v.seq DESC LIMIT ")
            .push_bind(common::page_limit(query.count));
        let rows: Vec<common::HistoryRow> = page.build_query_as().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let rows = common::history_records(rows)?;
        Ok(common::finish_page(rows, query.count, total))
    }
}

/// The values of a row about to replace the current one.
struct NewRow<'a> {
    version: i64,
    deleted: bool,
    last_updated: i64,
    method: Method,
    content: Option<&'a str>,
}

/// Replaces the current row only if it is still `current` (inserts only if there is none),
/// then appends the version row. Returns false, having written nothing, if the row changed.
async fn compare_and_swap(
    conn: &mut PgConnection,
    tenant: &TenantName,
    resource_type: &str,
    id: &str,
    current: Option<&Current>,
    new: &NewRow<'_>,
) -> Result<bool, StoreError> {
    let swapped =
        match current {
            Some(c) => sqlx::query(
                "UPDATE resources SET version = $4, deleted = $5, last_updated = $6, method = $7, \
             content = $8::jsonb WHERE tenant = $1 AND res_type = $2 AND id = $3 AND version = $9",
            )
            .bind(tenant.as_str())
            .bind(resource_type)
            .bind(id)
            .bind(new.version)
            .bind(new.deleted)
            .bind(new.last_updated)
            .bind(new.method.as_str())
            .bind(new.content)
            .bind(c.version)
            .execute(&mut *conn)
            .await?,
            None => {
                sqlx::query(
                    "INSERT INTO resources \
             (tenant, res_type, id, version, deleted, last_updated, method, content) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) \
             ON CONFLICT (tenant, res_type, id) DO NOTHING",
                )
                .bind(tenant.as_str())
                .bind(resource_type)
                .bind(id)
                .bind(new.version)
                .bind(new.deleted)
                .bind(new.last_updated)
                .bind(new.method.as_str())
                .bind(new.content)
                .execute(&mut *conn)
                .await?
            }
        };
    if swapped.rows_affected() != 1 {
        return Ok(false);
    }
    // We hold the resource's row lock now, so versions of one resource get increasing seqs.
    sqlx::query(
        "INSERT INTO resource_versions \
         (tenant, res_type, id, version, deleted, last_updated, method, content) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)",
    )
    .bind(tenant.as_str())
    .bind(resource_type)
    .bind(id)
    .bind(new.version)
    .bind(new.deleted)
    .bind(new.last_updated)
    .bind(new.method.as_str())
    .bind(new.content)
    .execute(&mut *conn)
    .await
    .map_err(|e| common::version_insert_error(e, resource_type, id, new.version))?;
    Ok(true)
}

async fn current_row(
    conn: &mut PgConnection,
    tenant: &TenantName,
    resource_type: &str,
    id: &str,
) -> Result<Option<Current>, StoreError> {
    let row: Option<(i64, bool, i64)> = sqlx::query_as(
        "SELECT version, deleted, last_updated FROM resources \
         WHERE tenant = $1 AND res_type = $2 AND id = $3",
    )
    .bind(tenant.as_str())
    .bind(resource_type)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|(version, deleted, last_updated)| Current {
        version,
        deleted,
        last_updated,
    }))
}

/// Checks that the tenant exists and keeps it from being deleted until this transaction
/// ends (`FOR KEY SHARE` conflicts only with deleting the row or changing its key).
async fn lock_tenant(conn: &mut PgConnection, tenant: &TenantName) -> Result<(), StoreError> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM tenants WHERE name = $1 FOR KEY SHARE")
            .bind(tenant.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(StoreError::UnknownTenant(tenant.to_string())),
    }
}
