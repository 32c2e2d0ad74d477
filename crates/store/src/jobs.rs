//! The durable job queue (migration 0010): one `jobs` table for every kind of background
//! job (`$reindex` today; bulk export, `$import`, subscription delivery and directory sync
//! later), and the calls a runner makes on it.
//!
//! The store knows nothing of what a kind does: `params` (the kind's input) and `cursor`
//! (where the job resumes) are JSON the kind defines, `total`/`done` are counts in the kind's
//! own unit. The rules it does own:
//!
//! - **One runner per job.** [`Store::claim_job`] picks the oldest runnable job (queued, or
//!   running under an expired lease) and takes it with a conditional `UPDATE`, so several
//!   processes share the queue and at most one of them wins each job.
//! - **Leases.** A running job is `owner`'s until `lease_until`; every
//!   [`Store::record_job_progress`] extends it. A process that died (or lost the database)
//!   stops extending it, and once it expires another process resumes the job from its last
//!   recorded cursor.
//! - **Stop on loss.** Progress and finishing are conditional on `owner` and state
//!   `running`, and answer `false` once the job is no longer the caller's (cancelled, or
//!   taken over after the lease expired): the runner must stop without writing more.
//!
//! Every call takes the tenant first; the queue's one look across tenants,
//! [`Store::tenants_with_jobs`], answers tenant names only.

use serde_json::Value;

use crate::search::Sql;
use crate::{Store, StoreError, TenantName};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Result<JobState, StoreError> {
        Ok(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "completed" => JobState::Completed,
            "failed" => JobState::Failed,
            "cancelled" => JobState::Cancelled,
            other => return Err(StoreError::Corrupt(format!("job state {other:?}"))),
        })
    }

    /// Queued or running: the job still has work.
    pub fn is_unfinished(self) -> bool {
        matches!(self, JobState::Queued | JobState::Running)
    }
}

/// One job of a tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    /// What runs it (`"reindex"`, …).
    pub kind: String,
    pub state: JobState,
    /// The kind's input.
    pub params: Value,
    /// Where the job resumes; `None` before its first recorded step.
    pub cursor: Option<Value>,
    /// The work in the kind's unit (resources for a reindex), as known when it was queued.
    pub total: u64,
    /// The work done so far.
    pub done: u64,
    /// Why a failed job failed.
    pub error: Option<String>,
    /// The process running it (or that last ran it, until the lease is taken over).
    pub owner: Option<String>,
    /// Epoch microseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

/// A job to queue ([`Store::create_job`]).
#[derive(Debug, Clone, Copy)]
pub struct NewJob<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub params: &'a Value,
    pub total: u64,
}

type JobRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    Option<String>,
    Option<String>,
    i64,
    i64,
);

const JOB_COLUMNS: &str =
    "SELECT id, kind, state, params, cursor, total, done, error, owner, created_at, updated_at \
     FROM jobs WHERE tenant = ";

/// The states [`Store::claim_job`] takes a job from, given `now`: queued, or running under
/// an expired lease.
fn runnable(sql: &mut Sql, now: i64) -> &mut Sql {
    sql.push(" AND (state = 'queued' OR (state = 'running' AND lease_until < ")
        .int(now)
        .push("))")
}

fn job_from_row(row: JobRow) -> Result<Job, StoreError> {
    let (id, kind, state, params, cursor, total, done, error, owner, created, updated) = row;
    let json = |s: &str| {
        serde_json::from_str::<Value>(s).map_err(|e| StoreError::Corrupt(format!("job {id}: {e}")))
    };
    Ok(Job {
        state: JobState::parse(&state)?,
        params: json(&params)?,
        cursor: cursor.as_deref().map(json).transpose()?,
        total: u64::try_from(total).unwrap_or(0),
        done: u64::try_from(done).unwrap_or(0),
        error,
        owner,
        created_at: created,
        updated_at: updated,
        kind,
        id,
    })
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

impl Store {
    /// Queues `job` in `tenant` ([`StoreError::UnknownTenant`] when there is no such tenant).
    pub async fn create_job(
        &self,
        tenant: &TenantName,
        job: NewJob<'_>,
    ) -> Result<Job, StoreError> {
        let mut insert = Sql::numbered(
            "INSERT INTO jobs (tenant, id, kind, state, params, total, done, lease_until, \
             created_at, updated_at) \
             SELECT $1, $2, $3, 'queued', $4, $5, 0, 0, $6, $6 \
             WHERE EXISTS (SELECT 1 FROM tenants WHERE name = $1)",
        );
        insert
            .arg(tenant.as_str())
            .arg(job.id)
            .arg(job.kind)
            .arg(job.params.to_string())
            .arg(count(job.total))
            .arg(now_micros());
        self.execute(&insert).await?;
        self.job(tenant, job.id)
            .await?
            .ok_or_else(|| StoreError::UnknownTenant(tenant.to_string()))
    }

    /// One job of `tenant`, of any kind.
    pub async fn job(&self, tenant: &TenantName, id: &str) -> Result<Option<Job>, StoreError> {
        let mut sql = Sql::new();
        sql.push(JOB_COLUMNS)
            .text(tenant.as_str())
            .push(" AND id = ")
            .text(id);
        let row: Option<JobRow> = self.fetch_optional(&sql).await?;
        row.map(job_from_row).transpose()
    }

    /// The jobs of `tenant`, oldest first: of `kind` only when given, queued and running
    /// ones only when `unfinished`.
    pub async fn jobs(
        &self,
        tenant: &TenantName,
        kind: Option<&str>,
        unfinished: bool,
    ) -> Result<Vec<Job>, StoreError> {
        let mut sql = Sql::new();
        sql.push(JOB_COLUMNS).text(tenant.as_str());
        if let Some(kind) = kind {
            sql.push(" AND kind = ").text(kind);
        }
        if unfinished {
            sql.push(" AND state IN ('queued', 'running')");
        }
        sql.push(" ORDER BY created_at, id");
        let rows: Vec<JobRow> = self.fetch_all(&sql).await?;
        rows.into_iter().map(job_from_row).collect()
    }

    /// The tenants with a job of `kinds` to run (queued, or running under an expired lease),
    /// oldest job first. The queue's one look across tenants: it answers names only.
    pub async fn tenants_with_jobs(&self, kinds: &[&str]) -> Result<Vec<TenantName>, StoreError> {
        let mut sql = Sql::new();
        sql.push("SELECT tenant, MIN(created_at) FROM jobs WHERE kind IN ")
            .text_list(kinds.iter().copied());
        runnable(&mut sql, now_micros()).push(" GROUP BY tenant ORDER BY 2");
        let rows: Vec<(String, i64)> = self.fetch_all(&sql).await?;
        rows.into_iter()
            .map(|(t, _)| TenantName::parse(&t))
            .collect()
    }

    /// Takes the oldest runnable job of `kinds` in `tenant` for `owner` until `lease_until`
    /// (epoch microseconds); `None` when there is none left to take.
    pub async fn claim_job(
        &self,
        tenant: &TenantName,
        kinds: &[&str],
        owner: &str,
        lease_until: i64,
    ) -> Result<Option<Job>, StoreError> {
        // Losing the `UPDATE` means another process took that job just now; the next oldest
        // may still be free. Each loss is someone else's win, so this ends.
        loop {
            let now = now_micros();
            let mut pick = Sql::new();
            pick.push("SELECT id FROM jobs WHERE tenant = ")
                .text(tenant.as_str())
                .push(" AND kind IN ")
                .text_list(kinds.iter().copied());
            runnable(&mut pick, now).push(" ORDER BY created_at, id LIMIT 1");
            let Some((id,)): Option<(String,)> = self.fetch_optional(&pick).await? else {
                return Ok(None);
            };
            // The runnable condition again, so only one of several claimants changes the row.
            let mut take = Sql::new();
            take.push("UPDATE jobs SET state = 'running', owner = ")
                .text(owner)
                .push(", lease_until = ")
                .int(lease_until)
                .push(", updated_at = ")
                .int(now)
                .push(" WHERE tenant = ")
                .text(tenant.as_str())
                .push(" AND id = ")
                .text(id.as_str());
            runnable(&mut take, now);
            if self.execute(&take).await? == 1 {
                return self.job(tenant, &id).await;
            }
        }
    }

    /// Records progress of a running job of `owner` (`done`, and `cursor`, where it resumes)
    /// and extends its lease. `false`: the job is no longer this owner's to run (cancelled,
    /// or taken over after the lease expired), so the runner must stop.
    pub async fn record_job_progress(
        &self,
        tenant: &TenantName,
        id: &str,
        owner: &str,
        done: u64,
        cursor: &Value,
        lease_until: i64,
    ) -> Result<bool, StoreError> {
        let mut sql = Sql::numbered(
            "UPDATE jobs SET done = $4, cursor = $5, lease_until = $6, updated_at = $7 \
             WHERE tenant = $1 AND id = $2 AND owner = $3 AND state = 'running'",
        );
        sql.arg(tenant.as_str())
            .arg(id)
            .arg(owner)
            .arg(count(done))
            .arg(cursor.to_string())
            .arg(lease_until)
            .arg(now_micros());
        Ok(self.execute(&sql).await? == 1)
    }

    /// Ends a running job of `owner` as completed or failed (with `error`); `false` when it
    /// was no longer this owner's.
    pub async fn finish_job(
        &self,
        tenant: &TenantName,
        id: &str,
        owner: &str,
        state: JobState,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut sql = Sql::numbered(
            "UPDATE jobs SET state = $4, error = $5, owner = NULL, updated_at = $6 \
             WHERE tenant = $1 AND id = $2 AND owner = $3 AND state = 'running'",
        );
        sql.arg(tenant.as_str())
            .arg(id)
            .arg(owner)
            .arg(state.as_str())
            .arg(error)
            .arg(now_micros());
        Ok(self.execute(&sql).await? == 1)
    }

    /// Cancels a queued or running job; `false` when it had already ended (or is unknown).
    /// A running job's runner notices at its next progress report.
    pub async fn cancel_job(&self, tenant: &TenantName, id: &str) -> Result<bool, StoreError> {
        let mut sql = Sql::numbered(
            "UPDATE jobs SET state = 'cancelled', owner = NULL, updated_at = $3 \
             WHERE tenant = $1 AND id = $2 AND state IN ('queued', 'running')",
        );
        sql.arg(tenant.as_str()).arg(id).arg(now_micros());
        Ok(self.execute(&sql).await? == 1)
    }

    /// Removes a job of `tenant` that has ended (completed, failed or cancelled); `false`
    /// when there is no such job or it is still queued or running.
    pub async fn delete_job(&self, tenant: &TenantName, id: &str) -> Result<bool, StoreError> {
        let mut sql = Sql::numbered(
            "DELETE FROM jobs WHERE tenant = $1 AND id = $2 \
             AND state NOT IN ('queued', 'running')",
        );
        sql.arg(tenant.as_str()).arg(id);
        Ok(self.execute(&sql).await? == 1)
    }
}
