//! Durable reindex jobs (migration 0003): the `reindex_jobs` queue, the pages of resources a
//! job walks, and `indexed_search_params`, the record of which non-built-in search parameter
//! definitions a tenant's index reflects.
//!
//! A job walks the tenant's live resources of its types in `(res_type, id)` order, a page at
//! a time; the caller extracts index entries and saves them with [`Store::reindex_many`],
//! then records the last key done with [`Store::record_reindex_progress`]. A restarted
//! process resumes there. Claiming is a conditional `UPDATE` (queued, or running with an
//! expired lease), so several processes can share the queue and each job has one runner.
//!
//! [`Store::reindex_many`] does not check versions, so a job compares the versions it
//! extracted with [`Store::live_versions`] after saving and redoes any resource a
//! concurrent write changed in between.

use std::collections::{BTreeMap, HashMap};

use crate::search::Sql;
use crate::{Store, StoreError, TenantName};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReindexState {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl ReindexState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReindexState::Queued => "queued",
            ReindexState::Running => "running",
            ReindexState::Completed => "completed",
            ReindexState::Failed => "failed",
            ReindexState::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Result<ReindexState, StoreError> {
        Ok(match s {
            "queued" => ReindexState::Queued,
            "running" => ReindexState::Running,
            "completed" => ReindexState::Completed,
            "failed" => ReindexState::Failed,
            "cancelled" => ReindexState::Cancelled,
            other => return Err(StoreError::Corrupt(format!("reindex job state {other:?}"))),
        })
    }

    /// Queued or running: the job still has work.
    pub fn is_unfinished(self) -> bool {
        matches!(self, ReindexState::Queued | ReindexState::Running)
    }
}

/// One reindex job of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReindexJob {
    pub id: String,
    pub state: ReindexState,
    /// Resource types it reindexes; empty: every type.
    pub types: Vec<String>,
    /// URLs of the search parameters whose values wait for this job.
    pub params: Vec<String>,
    /// Live resources of `types` when the job was created.
    pub total: u64,
    /// Resources reindexed so far.
    pub done: u64,
    /// The last `(res_type, id)` done; the job resumes after it.
    pub after: Option<(String, String)>,
    /// Why a failed job failed.
    pub error: Option<String>,
    /// Epoch microseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

/// One resource of a job's page: its key, current version and stored JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReindexItem {
    pub resource_type: String,
    pub id: String,
    pub version: i64,
    pub body: String,
}

type JobRow = (
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    i64,
);

const JOB_COLUMNS: &str = "id, state, types, params, total, done, after_type, after_id, error, \
     created_at, updated_at";

fn job_from_row(row: JobRow) -> Result<ReindexJob, StoreError> {
    let (id, state, types, params, total, done, after_type, after_id, error, created, updated) =
        row;
    let list = |s: &str| {
        serde_json::from_str::<Vec<String>>(s)
            .map_err(|e| StoreError::Corrupt(format!("reindex job {id}: {e}")))
    };
    Ok(ReindexJob {
        state: ReindexState::parse(&state)?,
        types: list(&types)?,
        params: list(&params)?,
        total: u64::try_from(total).unwrap_or(0),
        done: u64::try_from(done).unwrap_or(0),
        after: after_type.zip(after_id),
        error,
        created_at: created,
        updated_at: updated,
        id,
    })
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// ` AND res_type IN (...)` with bound values, unless `types` is empty (every type).
fn push_types(sql: &mut Sql, types: &[String]) {
    if !types.is_empty() {
        sql.push(" AND res_type IN ")
            .text_list(types.iter().map(String::as_str));
    }
}

impl Store {
    /// Queues a job over the live resources of `types` (empty: all) in `tenant`, counting
    /// them now for the progress report.
    pub async fn create_reindex_job(
        &self,
        tenant: &TenantName,
        id: &str,
        types: &[String],
        params: &[String],
    ) -> Result<ReindexJob, StoreError> {
        let now = now_micros();
        let list = |v: &[String]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
        let mut count = Sql::new();
        count
            .push("SELECT COUNT(*) FROM resources WHERE tenant = ")
            .text(tenant.as_str())
            .push(" AND NOT deleted");
        push_types(&mut count, types);
        let (total,): (i64,) = self.fetch_one(&count).await?;
        let mut insert = Sql::numbered(
            "INSERT INTO reindex_jobs (tenant, id, state, types, params, total, done, \
             lease_until, created_at, updated_at) \
             SELECT $1, $2, 'queued', $3, $4, $5, 0, 0, $6, $6 \
             WHERE EXISTS (SELECT 1 FROM tenants WHERE name = $1)",
        );
        insert
            .arg(tenant.as_str())
            .arg(id)
            .arg(list(types))
            .arg(list(params))
            .arg(total)
            .arg(now);
        self.execute(&insert).await?;
        self.reindex_job(tenant, id)
            .await?
            .ok_or_else(|| StoreError::UnknownTenant(tenant.to_string()))
    }

    /// One job of `tenant`.
    pub async fn reindex_job(
        &self,
        tenant: &TenantName,
        id: &str,
    ) -> Result<Option<ReindexJob>, StoreError> {
        let mut sql = Sql::new();
        sql.push("SELECT ")
            .push(JOB_COLUMNS)
            .push(" FROM reindex_jobs WHERE tenant = ")
            .text(tenant.as_str())
            .push(" AND id = ")
            .text(id);
        let row: Option<JobRow> = self.fetch_optional(&sql).await?;
        row.map(job_from_row).transpose()
    }

    /// The jobs of `tenant`, oldest first; only queued and running ones when `unfinished`.
    pub async fn reindex_jobs(
        &self,
        tenant: &TenantName,
        unfinished: bool,
    ) -> Result<Vec<ReindexJob>, StoreError> {
        let filter = if unfinished {
            " AND state IN ('queued', 'running')"
        } else {
            ""
        };
        let mut sql = Sql::new();
        sql.push("SELECT ")
            .push(JOB_COLUMNS)
            .push(" FROM reindex_jobs WHERE tenant = ")
            .text(tenant.as_str())
            .push(filter)
            .push(" ORDER BY created_at, id");
        let rows: Vec<JobRow> = self.fetch_all(&sql).await?;
        rows.into_iter().map(job_from_row).collect()
    }

    /// The tenants with a job to run (queued, or running under an expired lease), oldest job
    /// first. The job queue's one look across tenants: it answers names only.
    pub async fn tenants_with_reindex_work(&self) -> Result<Vec<TenantName>, StoreError> {
        let mut sql = Sql::numbered(
            "SELECT tenant, MIN(created_at) FROM reindex_jobs \
             WHERE state = 'queued' OR (state = 'running' AND lease_until < $1) \
             GROUP BY tenant ORDER BY 2",
        );
        sql.arg(now_micros());
        let rows: Vec<(String, i64)> = self.fetch_all(&sql).await?;
        rows.into_iter()
            .map(|(t, _)| TenantName::parse(&t))
            .collect()
    }

    /// Takes the oldest runnable job of `tenant` for `owner` until `lease_until` (epoch
    /// microseconds): `None` when there is none or another process took it first.
    pub async fn claim_reindex_job(
        &self,
        tenant: &TenantName,
        owner: &str,
        lease_until: i64,
    ) -> Result<Option<ReindexJob>, StoreError> {
        let now = now_micros();
        let mut sql = Sql::numbered(
            "SELECT id FROM reindex_jobs WHERE tenant = $1 \
             AND (state = 'queued' OR (state = 'running' AND lease_until < $2)) \
             ORDER BY created_at, id LIMIT 1",
        );
        sql.arg(tenant.as_str()).arg(now);
        let Some((id,)): Option<(String,)> = self.fetch_optional(&sql).await? else {
            return Ok(None);
        };
        let mut sql = Sql::numbered(
            "UPDATE reindex_jobs SET state = 'running', owner = $3, lease_until = $4, \
             updated_at = $5 WHERE tenant = $1 AND id = $2 \
             AND (state = 'queued' OR (state = 'running' AND lease_until < $5))",
        );
        sql.arg(tenant.as_str())
            .arg(id.as_str())
            .arg(owner)
            .arg(lease_until)
            .arg(now);
        let claimed = self.execute(&sql).await?;
        if claimed == 1 {
            self.reindex_job(tenant, &id).await
        } else {
            Ok(None)
        }
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

    /// Records progress of a running job owned by `owner` and extends its lease. `false`:
    /// the job is no longer this owner's to run (cancelled, or taken over after the lease
    /// expired), so the runner must stop.
    pub async fn record_reindex_progress(
        &self,
        tenant: &TenantName,
        id: &str,
        owner: &str,
        done: u64,
        after: Option<&(String, String)>,
        lease_until: i64,
    ) -> Result<bool, StoreError> {
        let (after_type, after_id) = after.cloned().unzip();
        let mut sql = Sql::numbered(
            "UPDATE reindex_jobs SET done = $4, after_type = $5, after_id = $6, \
             lease_until = $7, updated_at = $8 \
             WHERE tenant = $1 AND id = $2 AND owner = $3 AND state = 'running'",
        );
        sql.arg(tenant.as_str())
            .arg(id)
            .arg(owner)
            .arg(i64::try_from(done).unwrap_or(i64::MAX))
            .arg(after_type)
            .arg(after_id)
            .arg(lease_until)
            .arg(now_micros());
        let n = self.execute(&sql).await?;
        Ok(n == 1)
    }

    /// Ends a running job of `owner` as completed or failed (with `error`).
    pub async fn finish_reindex_job(
        &self,
        tenant: &TenantName,
        id: &str,
        owner: &str,
        state: ReindexState,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut sql = Sql::numbered(
            "UPDATE reindex_jobs SET state = $4, error = $5, owner = NULL, updated_at = $6 \
             WHERE tenant = $1 AND id = $2 AND owner = $3 AND state = 'running'",
        );
        sql.arg(tenant.as_str())
            .arg(id)
            .arg(owner)
            .arg(state.as_str())
            .arg(error)
            .arg(now_micros());
        let n = self.execute(&sql).await?;
        Ok(n == 1)
    }

    /// Cancels a queued or running job; `false` when it had already ended (or is unknown).
    pub async fn cancel_reindex_job(
        &self,
        tenant: &TenantName,
        id: &str,
    ) -> Result<bool, StoreError> {
        let mut sql = Sql::numbered(
            "UPDATE reindex_jobs SET state = 'cancelled', owner = NULL, updated_at = $3 \
             WHERE tenant = $1 AND id = $2 AND state IN ('queued', 'running')",
        );
        sql.arg(tenant.as_str()).arg(id).arg(now_micros());
        let n = self.execute(&sql).await?;
        Ok(n == 1)
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
