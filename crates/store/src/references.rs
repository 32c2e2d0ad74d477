//! Who references a resource: the reverse of the reference search index
//! (`search_reference`, migration 0002, read through its `search_reference_reverse` index),
//! for referential integrity's delete check. It sees the references a reference search
//! parameter covers (every reference of the directory resources); the rows of restricted
//! content, kept under the tenant's shadow key, are included.

use crate::restricted::shadow_tenant;
use crate::search::Sql;
use crate::{Store, StoreError, TenantName};

impl Store {
    /// Up to `limit` resources (`(type, id)`, current versions) of `tenant` that reference
    /// `rtype/id`, other than itself.
    pub async fn referrers(
        &self,
        tenant: &TenantName,
        rtype: &str,
        id: &str,
        limit: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        self.read_all(&referrers_sql(tenant, rtype, id, limit))
            .await
    }
}

/// The query of [`Store::referrers`] (and of `StoreTx::referrers`).
pub(crate) fn referrers_sql(tenant: &TenantName, rtype: &str, id: &str, limit: i64) -> Sql {
    let mut sql = Sql::new();
    sql.push("SELECT DISTINCT res_type, id FROM search_reference WHERE tenant IN (")
        .text(tenant.as_str())
        .push(", ")
        .text(shadow_tenant(tenant.as_str()))
        .push(") AND target_type = ")
        .text(rtype)
        .push(" AND target_id = ")
        .text(id)
        .push(" AND NOT (res_type = ")
        .text(rtype)
        .push(" AND id = ")
        .text(id)
        .push(") ORDER BY res_type, id LIMIT ")
        .int(limit);
    sql
}
