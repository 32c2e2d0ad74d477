//! The [`crate::Store`] operations outside a [`crate::StoreTx`], once for both backends:
//! tenants, point reads, single writes and deletes, history pages.
//!
//! [`store_api!`] gives each backend's store type (`SqliteStore`, `PgStore`) its public
//! methods of the same names, each a call of the function here; what only one backend does
//! (connecting, its pools, readiness) stays in its folder.

use crate::backend::Backend;
use crate::common;
use crate::db::{FromCols, SqlDb};
use crate::rows;
use crate::search::{run, Sql};
use crate::tx::rules::WriteTx;
use crate::{
    DeleteOutcome, HistoryPage, HistoryQuery, Precondition, Store, StoreError, TenantInfo,
    TenantName, VersionRecord, WriteOutcome, WriteRequest,
};

pub(crate) async fn create_tenant<B: Backend>(
    store: &B,
    tenant: &TenantName,
) -> Result<bool, StoreError> {
    let mut sql = Sql::new();
    sql.push("INSERT INTO tenants (name, created_at) VALUES (")
        .text(tenant.as_str())
        .push(", ")
        .int(chrono::Utc::now().timestamp_micros())
        .push(") ON CONFLICT (name) DO NOTHING");
    let mut conn = store.writer().acquire().await?;
    Ok(B::Db::execute(&mut conn, &sql).await? == 1)
}

pub(crate) async fn list_tenants<B: Backend>(store: &B) -> Result<Vec<TenantInfo>, StoreError> {
    let mut sql = Sql::new();
    sql.push("SELECT name, created_at FROM tenants ORDER BY name");
    let mut conn = store.reader().acquire().await?;
    let rows: Vec<(String, i64)> = B::Db::fetch_all(&mut conn, &sql).await?;
    rows.into_iter()
        .map(|(name, created)| {
            Ok(TenantInfo {
                name,
                created_at: common::from_micros(created)?,
            })
        })
        .collect()
}

pub(crate) async fn delete_tenant<B: Backend>(
    store: &B,
    tenant: &TenantName,
) -> Result<bool, StoreError> {
    if tenant.as_str() == TenantName::DEFAULT {
        return Err(StoreError::DefaultTenant);
    }
    let mut tx = store.begin_write(None).await?;
    // The tenant row first: on Postgres this waits for writes holding FOR KEY SHARE on it and
    // makes every later write fail with UnknownTenant, so nothing is added while we delete
    // (on SQLite `BEGIN IMMEDIATE` already keeps every other writer out).
    let mut sql = Sql::new();
    sql.push("DELETE FROM tenants WHERE name = ")
        .text(tenant.as_str());
    let deleted = B::Db::execute(&mut tx, &sql).await?;
    for table in common::TENANT_DATA_TABLES {
        let mut sql = Sql::new();
        // `table` comes from a constant list, never from input.
        sql.push("DELETE FROM ")
            .push(table)
            .push(" WHERE tenant IN (")
            .text(tenant.as_str())
            .push(", ")
            .text(crate::restricted::shadow_tenant(tenant.as_str()))
            .push(")");
        B::Db::execute(&mut tx, &sql).await?;
    }
    // The generation rows stay (and move on): a tenant created again under this name must
    // not meet counts cached for the deleted one.
    run::bump_generation::<B>(&mut tx, tenant).await?;
    tx.commit().await?;
    Ok(deleted == 1)
}

pub(crate) async fn tenant_exists<B: Backend>(
    store: &B,
    tenant: &TenantName,
) -> Result<bool, StoreError> {
    let mut conn = store.reader().acquire().await?;
    let row: Option<(bool,)> =
        B::Db::fetch_optional(&mut conn, &rows::tenant_exists(tenant)).await?;
    Ok(row.is_some_and(|(e,)| e))
}

pub(crate) async fn read<B: Backend>(
    store: &B,
    scope: crate::Scope<'_>,
    resource_type: &str,
    id: &str,
) -> Result<Option<VersionRecord>, StoreError> {
    if let Some(answer) = store.point_read(scope, resource_type, id) {
        return answer;
    }
    let sql = rows::read(scope.tenant(), resource_type, id);
    let mut conn = store.reader().acquire().await?;
    let row: Option<common::ReadRow> = B::Db::fetch_optional(&mut conn, &sql).await?;
    common::read_result(row, scope, resource_type, id)
}

pub(crate) async fn vread<B: Backend>(
    store: &B,
    scope: crate::Scope<'_>,
    resource_type: &str,
    id: &str,
    version: i64,
) -> Result<Option<VersionRecord>, StoreError> {
    if let Some(answer) = store.point_vread(scope, resource_type, id, version) {
        return answer;
    }
    let sql = rows::vread(scope.tenant(), resource_type, id, version);
    let mut conn = store.reader().acquire().await?;
    let row: Option<common::VreadRow> = B::Db::fetch_optional(&mut conn, &sql).await?;
    common::vread_result(row, scope, resource_type, id, version)
}

pub(crate) async fn write<B: Backend>(
    store: &B,
    tenant: &TenantName,
    req: WriteRequest,
) -> Result<WriteOutcome, StoreError> {
    let mut tx = WriteTx::begin(store, tenant).await?;
    let outcome = tx.write(req).await?;
    tx.commit().await?;
    Ok(outcome)
}

pub(crate) async fn delete<B: Backend>(
    store: &B,
    tenant: &TenantName,
    resource_type: &str,
    id: &str,
    precondition: Precondition,
) -> Result<DeleteOutcome, StoreError> {
    let mut tx = WriteTx::begin(store, tenant).await?;
    let outcome = tx.delete(resource_type, id, precondition).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// A page of history, newest first: the count and the page from one read transaction, so
/// the total matches the page.
pub(crate) async fn history<B: Backend>(
    store: &B,
    scope: crate::Scope<'_>,
    query: &HistoryQuery,
) -> Result<HistoryPage, StoreError> {
    let tenant = scope.tenant();
    let seer = restrict::Seer::of(scope.viewer());
    let mut tx = store.begin_read().await?;
    let exists: Option<(bool,)> =
        B::Db::fetch_optional(&mut tx, &rows::tenant_exists(tenant)).await?;
    if !exists.is_some_and(|(e,)| e) {
        tx.set_busy(false);
        return Err(StoreError::UnknownTenant(tenant.to_string()));
    }
    let mut count = Sql::new();
    count.push("SELECT COUNT(*) FROM resource_versions v");
    common::push_history_where(&mut count, tenant.as_str(), &seer, query, false);
    let total: Option<(i64,)> = B::Db::fetch_optional(&mut tx, &count).await?;
    let (total,) = total.ok_or(sqlx::Error::RowNotFound)?;

    let mut page = Sql::new();
    page.push("SELECT v.seq, v.res_type, v.id, v.version, v.deleted, v.last_updated, v.method, ")
        .content_col("v.content");
    crate::restricted::policy_column(&mut page, &seer, |sql, c| {
        sql.push("v.").push(c);
    });
    page.push(" FROM resource_versions v");
    common::push_history_where(&mut page, tenant.as_str(), &seer, query, true);
    page.push(" ORDER BY v.seq DESC LIMIT ")
        .int(common::page_limit(query.count));
    let rows: Vec<common::HistoryRow> = B::Db::fetch_all(&mut tx, &page).await?;
    tx.commit().await?;
    let rows = common::history_records(rows, scope.viewer())?;
    Ok(common::finish_page(rows, query.count, total))
}

/// The public methods a backend's store type shares with [`crate::Store`] (documented
/// there), each a call of the shared function of the same name above. A macro because Rust
/// has no inherent `impl` over two types; the store types' own methods (connecting, pools,
/// readiness, migrations) are written in their folders.
macro_rules! store_api {
    ($store:ty) => {
        impl $store {
            pub async fn create_tenant(
                &self,
                tenant: &crate::TenantName,
            ) -> Result<bool, crate::StoreError> {
                crate::ops::create_tenant(self, tenant).await
            }

            pub async fn list_tenants(&self) -> Result<Vec<crate::TenantInfo>, crate::StoreError> {
                crate::ops::list_tenants(self).await
            }

            pub async fn delete_tenant(
                &self,
                tenant: &crate::TenantName,
            ) -> Result<bool, crate::StoreError> {
                crate::ops::delete_tenant(self, tenant).await
            }

            pub async fn tenant_exists(
                &self,
                tenant: &crate::TenantName,
            ) -> Result<bool, crate::StoreError> {
                crate::ops::tenant_exists(self, tenant).await
            }

            pub async fn read(
                &self,
                scope: crate::Scope<'_>,
                resource_type: &str,
                id: &str,
            ) -> Result<Option<crate::VersionRecord>, crate::StoreError> {
                crate::ops::read(self, scope, resource_type, id).await
            }

            pub async fn vread(
                &self,
                scope: crate::Scope<'_>,
                resource_type: &str,
                id: &str,
                version: i64,
            ) -> Result<Option<crate::VersionRecord>, crate::StoreError> {
                crate::ops::vread(self, scope, resource_type, id, version).await
            }

            pub async fn write(
                &self,
                tenant: &crate::TenantName,
                req: crate::WriteRequest,
            ) -> Result<crate::WriteOutcome, crate::StoreError> {
                crate::ops::write(self, tenant, req).await
            }

            pub async fn delete(
                &self,
                tenant: &crate::TenantName,
                resource_type: &str,
                id: &str,
                precondition: crate::Precondition,
            ) -> Result<crate::DeleteOutcome, crate::StoreError> {
                crate::ops::delete(self, tenant, resource_type, id, precondition).await
            }

            pub async fn history(
                &self,
                scope: crate::Scope<'_>,
                query: &crate::HistoryQuery,
            ) -> Result<crate::HistoryPage, crate::StoreError> {
                crate::ops::history(self, scope, query).await
            }

            pub async fn migrate(&self) -> Result<(), crate::StoreError> {
                crate::migrate::run(self).await
            }

            pub async fn ready(&self) -> Result<(), crate::StoreError> {
                crate::migrate::ready(self).await
            }
        }
    };
}
pub(crate) use store_api;

/// Statements on the writer pool for code written against [`Store`] itself (the job
/// queue): each a dispatch to the shared generic path.
impl Store {
    /// Runs `sql`; answers how many rows it changed.
    pub(crate) async fn execute(&self, sql: &Sql) -> Result<u64, StoreError> {
        dispatch!(self, s => on_writer::execute(s, sql).await)
    }

    /// Every row of `sql`.
    pub(crate) async fn fetch_all<T: FromCols>(&self, sql: &Sql) -> Result<Vec<T>, StoreError> {
        dispatch!(self, s => on_writer::fetch_all(s.writer(), sql).await)
    }

    /// The first row of `sql`, if any.
    pub(crate) async fn fetch_optional<T: FromCols>(
        &self,
        sql: &Sql,
    ) -> Result<Option<T>, StoreError> {
        dispatch!(self, s => on_writer::fetch_optional(s.writer(), sql).await)
    }

    /// [`Store::fetch_all`] on the reader pool: for reads on a request's path, which on
    /// SQLite must not wait behind the one writer.
    pub(crate) async fn read_all<T: FromCols>(&self, sql: &Sql) -> Result<Vec<T>, StoreError> {
        dispatch!(self, s => on_writer::fetch_all(s.reader(), sql).await)
    }

    /// [`Store::fetch_optional`] on the reader pool (see [`Store::read_all`]).
    pub(crate) async fn read_optional<T: FromCols>(
        &self,
        sql: &Sql,
    ) -> Result<Option<T>, StoreError> {
        dispatch!(self, s => on_writer::fetch_optional(s.reader(), sql).await)
    }

    /// The one row `sql` answers.
    pub(crate) async fn fetch_one<T: FromCols>(&self, sql: &Sql) -> Result<T, StoreError> {
        let row = self.fetch_optional(sql).await?;
        Ok(row.ok_or(sqlx::Error::RowNotFound)?)
    }

    /// Runs `statements` in one transaction.
    pub(crate) async fn execute_all(&self, statements: &[Sql]) -> Result<(), StoreError> {
        dispatch!(self, s => on_writer::execute_all(s, statements).await)
    }
}

mod on_writer {
    use super::*;

    pub(super) async fn execute<B: Backend>(store: &B, sql: &Sql) -> Result<u64, StoreError> {
        Ok(B::Db::execute(&mut *store.writer().acquire().await?, sql).await?)
    }

    pub(super) async fn fetch_all<DB: SqlDb, T: FromCols>(
        pool: &sqlx::Pool<DB>,
        sql: &Sql,
    ) -> Result<Vec<T>, StoreError> {
        Ok(DB::fetch_all(&mut *pool.acquire().await?, sql).await?)
    }

    pub(super) async fn fetch_optional<DB: SqlDb, T: FromCols>(
        pool: &sqlx::Pool<DB>,
        sql: &Sql,
    ) -> Result<Option<T>, StoreError> {
        Ok(DB::fetch_optional(&mut *pool.acquire().await?, sql).await?)
    }

    pub(super) async fn execute_all<B: Backend>(
        store: &B,
        statements: &[Sql],
    ) -> Result<(), StoreError> {
        let mut tx = store.begin_write(None).await?;
        let mut done = Ok(0);
        for sql in statements {
            done = B::Db::execute(&mut tx, sql).await;
            if done.is_err() {
                break;
            }
        }
        // Every statement has ended: a failure rolls back and returns the connection.
        tx.set_busy(false);
        done?;
        tx.commit().await
    }
}
