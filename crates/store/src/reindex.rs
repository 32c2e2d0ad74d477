//! What a `$reindex` job reads and writes besides the job queue (`crate::jobs`, where its
//! jobs live as kind `reindex`): the pages of resources a job walks, and
//! `indexed_search_params` (migration 0003), the record of which non-built-in search
//! parameter definitions a tenant's index reflects.
//!
//! A job walks the tenant's live resources of its types in `(res_type, id)` order, a page at
//! a time ([`Store::reindex_page`]); the caller extracts index entries and saves them with
//! [`Store::reindex_many`], then records the last key done as the job's cursor
//! ([`Store::record_job_progress`]), where a restarted process resumes.
//!
//! [`Store::reindex_many`] does not check versions, so a job compares the versions it
//! extracted with [`Store::live_versions`] after saving and redoes any resource a
//! concurrent write changed in between.

use std::collections::{BTreeMap, HashMap};

use crate::search::Sql;
use crate::{Store, StoreError, TenantName};

/// One resource of a job's page: its key, current version and stored JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReindexItem {
    pub resource_type: String,
    pub id: String,
    pub version: i64,
    pub body: String,
}

/// ` AND res_type IN (...)` with bound values, unless `types` is empty (every type).
fn push_types(sql: &mut Sql, types: &[String]) {
    if !types.is_empty() {
        sql.push(" AND res_type IN ")
            .text_list(types.iter().map(String::as_str));
    }
}

impl Store {
    /// How many live resources of `types` (empty: all) `tenant` holds: a reindex job's
    /// total, counted when it is queued.
    pub async fn live_resource_count(
        &self,
        tenant: &TenantName,
        types: &[String],
    ) -> Result<u64, StoreError> {
        let mut count = Sql::new();
        count
            .push("SELECT COUNT(*) FROM resources WHERE tenant = ")
            .text(tenant.as_str())
            .push(" AND NOT deleted");
        push_types(&mut count, types);
        let (total,): (i64,) = self.fetch_one(&count).await?;
        Ok(u64::try_from(total).unwrap_or(0))
    }

    /// Up to `limit` live resources of `types` (empty: all) after `after`, in key order.
    pub async fn reindex_page(
        &self,
        tenant: &TenantName,
        types: &[String],
        after: Option<&(String, String)>,
        limit: u32,
    ) -> Result<Vec<ReindexItem>, StoreError> {
        let mut sql = Sql::new();
        sql.push("SELECT res_type, id, version, ")
            .content_col("content")
            .push(" FROM resources WHERE tenant = ")
            .text(tenant.as_str())
            .push(" AND NOT deleted");
        push_types(&mut sql, types);
        if let Some((after_type, after_id)) = after {
            sql.push(" AND (res_type > ")
                .text(after_type.as_str())
                .push(" OR (res_type = ")
                .text(after_type.as_str())
                .push(" AND id > ")
                .text(after_id.as_str())
                .push("))");
        }
        sql.push(" ORDER BY res_type, id LIMIT ")
            .int(i64::from(limit));
        let rows: Vec<(String, String, i64, Option<String>)> = self.fetch_all(&sql).await?;
        Ok(rows
            .into_iter()
            .map(|(resource_type, id, version, body)| ReindexItem {
                resource_type,
                id,
                version,
                body: body.unwrap_or_default(),
            })
            .collect())
    }

    /// The current version of each of `keys` that is live (deleted and unknown ones are
    /// absent from the answer).
    pub async fn live_versions(
        &self,
        tenant: &TenantName,
        keys: &[(String, String)],
    ) -> Result<HashMap<(String, String), i64>, StoreError> {
        let mut by_type: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (t, id) in keys {
            by_type.entry(t.as_str()).or_default().push(id.as_str());
        }
        let mut out = HashMap::new();
        for (resource_type, ids) in by_type {
            for chunk in ids.chunks(1000) {
                let mut sql = Sql::new();
                sql.push("SELECT id, version FROM resources WHERE tenant = ")
                    .text(tenant.as_str())
                    .push(" AND res_type = ")
                    .text(resource_type)
                    .push(" AND NOT deleted AND id IN ")
                    .text_list(chunk.iter().copied());
                let rows: Vec<(String, i64)> = self.fetch_all(&sql).await?;
                for (id, version) in rows {
                    out.insert((resource_type.to_owned(), id), version);
                }
            }
        }
        Ok(out)
    }

    /// A cheap fingerprint of the tenant's SearchParameter resources: (rows, newest
    /// `last_updated`), tombstones included, so any create, update or delete changes it.
    pub async fn search_parameter_stamp(
        &self,
        tenant: &TenantName,
    ) -> Result<(i64, i64), StoreError> {
        let mut sql = Sql::numbered(
            "SELECT COUNT(*), COALESCE(MAX(last_updated), 0) FROM resources \
             WHERE tenant = $1 AND res_type = 'SearchParameter'",
        );
        sql.arg(tenant.as_str());
        self.fetch_one(&sql).await
    }

    /// The non-built-in definitions (url -> definition as JSON) `tenant`'s index was last
    /// rebuilt (or is being rebuilt) for.
    pub async fn indexed_search_params(
        &self,
        tenant: &TenantName,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let mut sql =
            Sql::numbered("SELECT url, definition FROM indexed_search_params WHERE tenant = $1");
        sql.arg(tenant.as_str());
        let rows: Vec<(String, String)> = self.fetch_all(&sql).await?;
        Ok(rows.into_iter().collect())
    }

    /// Sets one entry of the record of [`Store::indexed_search_params`], keeping the others.
    pub async fn set_indexed_search_param(
        &self,
        tenant: &TenantName,
        url: &str,
        definition: &str,
    ) -> Result<(), StoreError> {
        let mut sql = Sql::numbered(
            "INSERT INTO indexed_search_params (tenant, url, definition) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant, url) DO UPDATE SET definition = excluded.definition",
        );
        sql.arg(tenant.as_str()).arg(url).arg(definition);
        self.execute(&sql).await?;
        Ok(())
    }

    /// Whether `tenant` holds at least one live resource.
    pub async fn has_live_resources(&self, tenant: &TenantName) -> Result<bool, StoreError> {
        let mut sql = Sql::numbered(
            "SELECT CAST(1 AS BIGINT) FROM resources WHERE tenant = $1 AND NOT deleted LIMIT 1",
        );
        sql.arg(tenant.as_str());
        let found: Option<(i64,)> = self.fetch_optional(&sql).await?;
        Ok(found.is_some())
    }

    /// Replaces the record of [`Store::indexed_search_params`] (in one transaction).
    pub async fn set_indexed_search_params(
        &self,
        tenant: &TenantName,
        params: &BTreeMap<String, String>,
    ) -> Result<(), StoreError> {
        let mut delete = Sql::numbered("DELETE FROM indexed_search_params WHERE tenant = $1");
        delete.arg(tenant.as_str());
        let inserts = params.iter().map(|(url, definition)| {
            let mut insert = Sql::numbered(
                "INSERT INTO indexed_search_params (tenant, url, definition) \
                 VALUES ($1, $2, $3)",
            );
            insert
                .arg(tenant.as_str())
                .arg(url.as_str())
                .arg(definition.as_str());
            insert
        });
        let statements: Vec<Sql> = std::iter::once(delete).chain(inserts).collect();
        self.execute_all(&statements).await
    }
}
