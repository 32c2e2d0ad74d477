//! The statements on `resources` (current versions) and `resource_versions` (history) that
//! both backends run: point reads, the current row a write decides on, and the
//! compare-and-swap that saves a new version.
//!
//! Values are always bound ([`Sql`]); the only backend differences are the `jsonb` casts of
//! the body on Postgres and how a history row's `seq` is numbered ([`Backend::NEXT_SEQ`]).

use crate::backend::{Backend, Conn};
use crate::common::{self, Current};
use crate::db::SqlDb;
use crate::search::Sql;
use crate::{Method, StoreError, TenantName};

/// The resource's restriction policy, for `read` (NULL when unrestricted or unknown).
pub(crate) const READ_POLICY: &str = "(SELECT h.policy FROM restrictions h \
     WHERE h.tenant = r.tenant AND h.res_type = r.res_type AND h.id = r.id)";

/// The resource's current restriction policy, for `vread`.
pub(crate) const VREAD_POLICY: &str = "(SELECT h.policy FROM restrictions h \
     WHERE h.tenant = v.tenant AND h.res_type = v.res_type AND h.id = v.id)";

/// `read`: the current row, via `tenants LEFT JOIN resources`, so that one query tells an
/// unknown tenant (no row) from an unknown id (NULL columns); decodes as
/// [`common::ReadRow`].
pub(crate) fn read(tenant: &TenantName, resource_type: &str, id: &str) -> Sql {
    let mut sql = Sql::new();
    sql.push("SELECT r.version, r.deleted, r.last_updated, r.method, ")
        .content_col("r.content")
        .push(", ")
        .push(READ_POLICY)
        .push(" FROM tenants t LEFT JOIN resources r ON r.tenant = t.name AND r.res_type = ")
        .text(resource_type)
        .push(" AND r.id = ")
        .text(id)
        .push(" WHERE t.name = ")
        .text(tenant.as_str());
    sql
}

/// `vread`: as [`read`], on the version table; decodes as [`common::VreadRow`].
pub(crate) fn vread(tenant: &TenantName, resource_type: &str, id: &str, version: i64) -> Sql {
    let mut sql = Sql::new();
    sql.push("SELECT v.deleted, v.last_updated, v.method, ")
        .content_col("v.content")
        .push(", ")
        .push(VREAD_POLICY)
        .push(
            " FROM tenants t LEFT JOIN resource_versions v ON v.tenant = t.name \
             AND v.res_type = ",
        )
        .text(resource_type)
        .push(" AND v.id = ")
        .text(id)
        .push(" AND v.version = ")
        .int(version)
        .push(" WHERE t.name = ")
        .text(tenant.as_str());
    sql
}

/// `SELECT EXISTS (…)` for the tenant, one `bool`.
pub(crate) fn tenant_exists(tenant: &TenantName) -> Sql {
    let mut sql = Sql::new();
    sql.push("SELECT EXISTS (SELECT 1 FROM tenants WHERE name = ")
        .text(tenant.as_str())
        .push(")");
    sql
}

/// How `viewer` sees the tenant's restricted content in this transaction
/// ([`crate::restricted::Sight`]: whether the tenant holds any decides whether its searches
/// read the shadow key); [`StoreError::UnknownTenant`] unless the tenant exists. One
/// statement for both.
pub(crate) async fn tenant_sight<E: crate::search::exec::SearchExec>(
    conn: &mut E,
    tenant: &TenantName,
    viewer: &restrict::Viewer<'_>,
) -> Result<crate::restricted::Sight, StoreError> {
    let mut sql = Sql::new();
    sql.push("SELECT EXISTS (SELECT 1 FROM tenants WHERE name = ")
        .text(tenant.as_str())
        .push("), EXISTS (SELECT 1 FROM restrictions WHERE tenant = ")
        .text(tenant.as_str())
        .push(")");
    let row: Option<(bool, bool)> = conn.optional(&sql).await?;
    match row {
        Some((true, restricted)) => Ok(crate::restricted::Sight::new(
            restrict::Seer::of(viewer),
            restricted,
        )),
        _ => Err(StoreError::UnknownTenant(tenant.to_string())),
    }
}

/// Answers [`StoreError::UnknownTenant`] unless the tenant exists.
pub(crate) async fn require_tenant<B: Backend>(
    conn: &mut Conn<B>,
    tenant: &TenantName,
) -> Result<(), StoreError> {
    let exists: Option<(bool,)> = B::Db::fetch_optional(conn, &tenant_exists(tenant)).await?;
    if exists.is_some_and(|(e,)| e) {
        Ok(())
    } else {
        Err(StoreError::UnknownTenant(tenant.to_string()))
    }
}

/// The state of the current row of `resource_type/id`, `None` when there is none.
pub(crate) async fn current_row<B: Backend>(
    conn: &mut Conn<B>,
    tenant: &TenantName,
    resource_type: &str,
    id: &str,
) -> Result<Option<Current>, StoreError> {
    let mut sql = Sql::new();
    sql.push("SELECT version, deleted, last_updated FROM resources WHERE tenant = ")
        .text(tenant.as_str())
        .push(" AND res_type = ")
        .text(resource_type)
        .push(" AND id = ")
        .text(id);
    let row: Option<(i64, bool, i64)> = B::Db::fetch_optional(conn, &sql).await?;
    Ok(row.map(|(version, deleted, last_updated)| Current {
        version,
        deleted,
        last_updated,
    }))
}

/// The values of a row about to replace the current one.
pub(crate) struct NewRow<'a> {
    pub version: i64,
    pub deleted: bool,
    pub last_updated: i64,
    pub method: Method,
    pub content: Option<&'a str>,
}

/// Replaces the current row only if it is still `current` (inserts only if there is none),
/// then appends the version row. Returns false, having written nothing, if the row changed.
///
/// On Postgres (READ COMMITTED) the `UPDATE ... WHERE version = <read version>` waits for a
/// concurrent writer's row lock and then re-checks the version, so exactly one of several
/// writers expecting the same version wins; on SQLite `BEGIN IMMEDIATE` already serialises
/// writers, so it only fails if something changed the file outside fhirdir's rules.
pub(crate) async fn compare_and_swap<B: Backend>(
    conn: &mut Conn<B>,
    tenant: &TenantName,
    resource_type: &str,
    id: &str,
    current: Option<&Current>,
    new: &NewRow<'_>,
) -> Result<bool, StoreError> {
    let mut sql = Sql::new();
    match current {
        Some(c) => {
            sql.push("UPDATE resources SET version = ")
                .int(new.version)
                .push(", deleted = ")
                .bool(new.deleted)
                .push(", last_updated = ")
                .int(new.last_updated)
                .push(", method = ")
                .text(new.method.as_str())
                .push(", content = ")
                .json(new.content.map(str::to_owned))
                .push(" WHERE tenant = ")
                .text(tenant.as_str())
                .push(" AND res_type = ")
                .text(resource_type)
                .push(" AND id = ")
                .text(id)
                .push(" AND version = ")
                .int(c.version);
        }
        None => {
            sql.push(
                "INSERT INTO resources \
                 (tenant, res_type, id, version, deleted, last_updated, method, content) ",
            );
            push_values(&mut sql, tenant, resource_type, id, new, None);
            sql.push(" ON CONFLICT (tenant, res_type, id) DO NOTHING");
        }
    }
    if B::Db::execute(conn, &sql).await? != 1 {
        return Ok(false);
    }
    // We hold the resource's row lock (Postgres) or the write lock (SQLite) now, so versions
    // of one resource get increasing seqs.
    let mut sql = Sql::new();
    sql.push("INSERT INTO resource_versions (tenant, res_type, id, version, ");
    if B::NEXT_SEQ.is_some() {
        sql.push("seq, ");
    }
    sql.push("deleted, last_updated, method, content) ");
    push_values(&mut sql, tenant, resource_type, id, new, B::NEXT_SEQ);
    B::Db::execute(conn, &sql)
        .await
        .map_err(|e| common::version_insert_error(e, resource_type, id, new.version))?;
    Ok(true)
}

/// `VALUES (tenant, res_type, id, version, [seq,] deleted, last_updated, method, content)`.
fn push_values(
    sql: &mut Sql,
    tenant: &TenantName,
    resource_type: &str,
    id: &str,
    new: &NewRow<'_>,
    seq: Option<&'static str>,
) {
    sql.push("VALUES (")
        .text(tenant.as_str())
        .push(", ")
        .text(resource_type)
        .push(", ")
        .text(id)
        .push(", ")
        .int(new.version)
        .push(", ");
    if let Some(seq) = seq {
        sql.push(seq).push(", ");
    }
    sql.bool(new.deleted)
        .push(", ")
        .int(new.last_updated)
        .push(", ")
        .text(new.method.as_str())
        .push(", ")
        .json(new.content.map(str::to_owned))
        .push(")");
}
