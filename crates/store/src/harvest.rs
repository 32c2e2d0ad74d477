//! Remote sources of a tenant (migration 0019): the payer directories it harvests and the
//! primary sources it verifies against. The store keeps each source's setting and state as
//! the services wrote them (JSON text: their shape is the services' business), and, per
//! harvested resource, the content hash of what was applied, the pass that last saw it and
//! the local references it holds. The resources themselves are ordinary resources; the
//! services' harvest writes them.

use crate::search::Sql;
use crate::{Store, StoreError, StoreTx, TenantName};

/// Rows per multi-row statement (7 binds each, far below either backend's bind limit).
const ROWS_PER_STATEMENT: usize = 200;

/// One source of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRow {
    pub tenant: TenantName,
    pub name: String,
    /// The setting, JSON.
    pub setting: String,
    /// The state, JSON.
    pub state: String,
    /// When the setting was written (epoch microseconds).
    pub updated: i64,
}

/// What the tenant holds of one harvested resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarvestedRow {
    pub resource_type: String,
    /// The local id.
    pub id: String,
    pub hash: String,
    /// The pass that last saw it.
    pub pass: i64,
    /// Local references it holds (`Type/id`, space-separated).
    pub refs: String,
}

const SOURCE_COLUMNS: &str = "SELECT tenant, name, setting, state, updated FROM harvest_sources";

type SourceTuple = (String, String, String, String, i64);

fn source(row: SourceTuple) -> Result<SourceRow, StoreError> {
    let (tenant, name, setting, state, updated) = row;
    Ok(SourceRow {
        tenant: TenantName::parse(&tenant)?,
        name,
        setting,
        state,
        updated,
    })
}

fn of_source(sql: &mut Sql, tenant: &str, name: &str) {
    sql.push(" WHERE tenant = ")
        .text(tenant)
        .push(" AND source = ")
        .text(name);
}

/// Sets a source's state to `new` (only when it is `old`, when given).
fn state_update(tenant: &TenantName, name: &str, new: &str, old: Option<&str>) -> Sql {
    let mut sql = Sql::new();
    sql.push("UPDATE harvest_sources SET state = ")
        .text(new)
        .push(" WHERE tenant = ")
        .text(tenant.as_str())
        .push(" AND name = ")
        .text(name);
    if let Some(old) = old {
        sql.push(" AND state = ").text(old);
    }
    sql
}

/// `resource_type, id, hash, pass, refs` columns.
type HarvestedTuple = (String, String, String, i64, String);

const HARVESTED_COLUMNS: &str = "SELECT resource_type, id, hash, pass, refs FROM harvested";

fn harvested_row(t: HarvestedTuple) -> HarvestedRow {
    let (resource_type, id, hash, pass, refs) = t;
    HarvestedRow {
        resource_type,
        id,
        hash,
        pass,
        refs,
    }
}

/// `INSERT`s or replaces `rows` of `source`, seen by `pass`.
pub(crate) fn mark(tenant: &str, source: &str, rows: &[HarvestedRow]) -> Vec<Sql> {
    rows.chunks(ROWS_PER_STATEMENT)
        .map(|chunk| {
            let mut sql = Sql::new();
            sql.push(
                "INSERT INTO harvested (tenant, source, resource_type, id, hash, pass, refs) \
                 VALUES ",
            );
            for (i, r) in chunk.iter().enumerate() {
                sql.push(if i == 0 { "(" } else { ", (" })
                    .text(tenant)
                    .push(", ")
                    .text(source)
                    .push(", ")
                    .text(r.resource_type.as_str())
                    .push(", ")
                    .text(r.id.as_str())
                    .push(", ")
                    .text(r.hash.as_str())
                    .push(", ")
                    .int(r.pass)
                    .push(", ")
                    .text(r.refs.as_str())
                    .push(")");
            }
            sql.push(
                " ON CONFLICT (tenant, source, resource_type, id) DO UPDATE SET \
                 hash = excluded.hash, pass = excluded.pass, refs = excluded.refs",
            );
            sql
        })
        .collect()
}

impl Store {
    /// The sources of `tenant` (every tenant's when `None`), by tenant and name.
    pub async fn sources(&self, tenant: Option<&TenantName>) -> Result<Vec<SourceRow>, StoreError> {
        let mut sql = Sql::new();
        sql.push(SOURCE_COLUMNS);
        if let Some(t) = tenant {
            sql.push(" WHERE tenant = ").text(t.as_str());
        }
        sql.push(" ORDER BY tenant, name");
        let rows: Vec<SourceTuple> = self.read_all(&sql).await?;
        rows.into_iter().map(source).collect()
    }

    /// One source of `tenant`.
    pub async fn source(
        &self,
        tenant: &TenantName,
        name: &str,
    ) -> Result<Option<SourceRow>, StoreError> {
        let mut sql = Sql::new();
        sql.push(SOURCE_COLUMNS)
            .push(" WHERE tenant = ")
            .text(tenant.as_str())
            .push(" AND name = ")
            .text(name);
        let row: Option<SourceTuple> = self.read_optional(&sql).await?;
        row.map(source).transpose()
    }

    /// Adds or replaces a source's setting; a new source starts with `state`, an existing one
    /// keeps its own.
    pub async fn put_source(&self, s: &SourceRow) -> Result<(), StoreError> {
        let mut sql = Sql::new();
        sql.push("INSERT INTO harvest_sources (tenant, name, setting, state, updated) VALUES (")
            .text(s.tenant.as_str())
            .push(", ")
            .text(s.name.as_str())
            .push(", ")
            .text(s.setting.as_str())
            .push(", ")
            .text(s.state.as_str())
            .push(", ")
            .int(s.updated)
            .push(
                ") ON CONFLICT (tenant, name) DO UPDATE SET setting = excluded.setting, \
                 updated = excluded.updated",
            );
        self.execute(&sql).await.map(|_| ())
    }

    /// Replaces a source's state; `false` when there is no such source (it was removed).
    pub async fn set_source_state(
        &self,
        tenant: &TenantName,
        name: &str,
        state: &str,
    ) -> Result<bool, StoreError> {
        let sql = state_update(tenant, name, state, None);
        Ok(self.execute(&sql).await? > 0)
    }

    /// Replaces a source's state only if it still is `old` (a compare-and-swap against the
    /// pass, which writes the state too); answers whether it did.
    pub async fn replace_source_state(
        &self,
        tenant: &TenantName,
        name: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        let sql = state_update(tenant, name, new, Some(old));
        Ok(self.execute(&sql).await? > 0)
    }

    /// Removes a source and its record of what it brought (the resources stay); answers
    /// whether it existed.
    pub async fn remove_source(&self, tenant: &TenantName, name: &str) -> Result<bool, StoreError> {
        let mut rows = Sql::new();
        rows.push("DELETE FROM harvested");
        of_source(&mut rows, tenant.as_str(), name);
        self.execute(&rows).await?;
        let mut sql = Sql::new();
        sql.push("DELETE FROM harvest_sources WHERE tenant = ")
            .text(tenant.as_str())
            .push(" AND name = ")
            .text(name);
        Ok(self.execute(&sql).await? > 0)
    }

    /// Every resource `source` brought into `tenant`, by type and id.
    pub async fn harvested(
        &self,
        tenant: &TenantName,
        name: &str,
    ) -> Result<Vec<HarvestedRow>, StoreError> {
        let mut sql = Sql::new();
        sql.push(HARVESTED_COLUMNS);
        of_source(&mut sql, tenant.as_str(), name);
        sql.push(" ORDER BY resource_type, id");
        let rows: Vec<HarvestedTuple> = self.read_all(&sql).await?;
        Ok(rows.into_iter().map(harvested_row).collect())
    }

    /// Up to `limit` resources of `source` of `types` that no pass since `pass` saw: the
    /// ones a full pass numbered `pass` did not find.
    pub async fn harvested_before(
        &self,
        tenant: &TenantName,
        name: &str,
        types: &[String],
        pass: i64,
        limit: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut sql = Sql::new();
        sql.push("SELECT resource_type, id FROM harvested");
        of_source(&mut sql, tenant.as_str(), name);
        sql.push(" AND pass < ")
            .int(pass)
            .push(" AND resource_type IN ")
            .text_list(types.iter().map(String::as_str))
            .push(" ORDER BY resource_type, id LIMIT ")
            .int(limit);
        self.read_all(&sql).await
    }

    /// Moves the `last_written` of the networks `source` brought (its Organizations the
    /// tenant already knows as networks) to `at`: a pass that found a network unchanged has
    /// still confirmed it, which is what the provider finder's "last imported" tells.
    pub async fn touch_harvested_networks(
        &self,
        tenant: &TenantName,
        name: &str,
        at: i64,
    ) -> Result<u64, StoreError> {
        let mut sql = Sql::new();
        sql.push("UPDATE network_activity SET last_written = ")
            .int(at)
            .push(" WHERE tenant = ")
            .text(tenant.as_str())
            .push(" AND last_written < ")
            .int(at)
            .push(" AND network IN (SELECT 'Organization/' || id FROM harvested");
        of_source(&mut sql, tenant.as_str(), name);
        sql.push(" AND resource_type = 'Organization')");
        self.execute(&sql).await
    }
}

impl StoreTx {
    /// What the tenant holds of `ids` (local ids of `resource_type`) from `source`.
    pub async fn harvested_of(
        &mut self,
        source: &str,
        resource_type: &str,
        ids: &[&str],
    ) -> Result<Vec<HarvestedRow>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let mut sql = Sql::new();
            sql.push(HARVESTED_COLUMNS);
            of_source(&mut sql, self.tenant().as_str(), source);
            sql.push(" AND resource_type = ")
                .text(resource_type)
                .push(" AND id IN ")
                .text_list(chunk.iter().copied());
            let rows: Vec<HarvestedTuple> = self.fetch_rows(&sql).await?;
            out.extend(rows.into_iter().map(harvested_row));
        }
        Ok(out)
    }

    /// Records `rows` as brought by `source` (replacing what was recorded of them).
    pub async fn mark_harvested(
        &mut self,
        source: &str,
        rows: &[HarvestedRow],
    ) -> Result<(), StoreError> {
        for sql in mark(self.tenant().as_str(), source, rows) {
            self.execute_sql(&sql).await?;
        }
        Ok(())
    }

    /// Forgets `keys` (type, local id) of `source` (they were deleted).
    pub async fn forget_harvested(
        &mut self,
        source: &str,
        keys: &[(String, String)],
    ) -> Result<(), StoreError> {
        for (rtype, id) in keys {
            let mut sql = Sql::new();
            sql.push("DELETE FROM harvested");
            of_source(&mut sql, self.tenant().as_str(), source);
            sql.push(" AND resource_type = ")
                .text(rtype.as_str())
                .push(" AND id = ")
                .text(id.as_str());
            self.execute_sql(&sql).await?;
        }
        Ok(())
    }
}
