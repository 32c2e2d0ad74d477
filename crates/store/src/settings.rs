//! A tenant's settings (migration 0020): one JSON text per kind (`verification`,
//! `validation`), whose shape and defaults belong to the service that reads it. Kept in the
//! database, not in a process, so that every server of a deployment sees a change at once.

use crate::search::Sql;
use crate::{Store, StoreError, TenantName};

impl Store {
    /// `tenant`'s setting `name`, if it has one.
    pub async fn tenant_setting(
        &self,
        tenant: &TenantName,
        name: &str,
    ) -> Result<Option<String>, StoreError> {
        let mut sql = Sql::new();
        sql.push("SELECT setting FROM tenant_settings WHERE tenant = ")
            .text(tenant.as_str())
            .push(" AND name = ")
            .text(name);
        let row: Option<(String,)> = self.read_optional(&sql).await?;
        Ok(row.map(|(s,)| s))
    }

    /// Sets `tenant`'s setting `name`.
    pub async fn set_tenant_setting(
        &self,
        tenant: &TenantName,
        name: &str,
        setting: &str,
    ) -> Result<(), StoreError> {
        let mut sql = Sql::new();
        sql.push("INSERT INTO tenant_settings (tenant, name, setting) VALUES (")
            .text(tenant.as_str())
            .push(", ")
            .text(name)
            .push(", ")
            .text(setting)
            .push(") ON CONFLICT (tenant, name) DO UPDATE SET setting = excluded.setting");
        self.execute(&sql).await.map(|_| ())
    }
}
