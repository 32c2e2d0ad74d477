//! Primary-source verification's bookkeeping (migration 0019): per resource, what is due
//! later (a retry after a source was down, a revalidation when its VerificationResult's
//! `nextScheduled` passes). The VerificationResults themselves are ordinary resources; the
//! tenant's verification setting is one of its settings (`settings.rs`).

use crate::search::Sql;
use crate::{Store, StoreError, StoreTx, TenantName};

/// Something due for a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub tenant: TenantName,
    pub resource_type: String,
    pub id: String,
    /// Epoch microseconds.
    pub due_at: i64,
    /// `retry`, `verify` or `revalidate`.
    pub action: String,
    /// Tries so far (for a retry's backoff).
    pub attempt: i64,
    /// Who attested the data (a client id), when known.
    pub attester: Option<String>,
}

/// What is due for one resource.
#[derive(Debug, Clone, Copy)]
pub struct Schedule<'a> {
    pub resource_type: &'a str,
    pub id: &'a str,
    pub due_at: i64,
    pub action: &'a str,
    pub attempt: i64,
    pub attester: Option<&'a str>,
}

fn upsert(tenant: &str, s: &Schedule<'_>) -> Sql {
    let (rtype, id, due_at, action, attempt) =
        (s.resource_type, s.id, s.due_at, s.action, s.attempt);
    let mut sql = Sql::new();
    sql.push(
        "INSERT INTO verification_due (tenant, resource_type, id, due_at, action, attempt, \
         attester) VALUES (",
    )
    .text(tenant)
    .push(", ")
    .text(rtype)
    .push(", ")
    .text(id)
    .push(", ")
    .int(due_at)
    .push(", ")
    .text(action)
    .push(", ")
    .int(attempt)
    .push(", ")
    .opt_text(s.attester.map(str::to_owned))
    .push(
        ") ON CONFLICT (tenant, resource_type, id) DO UPDATE SET due_at = excluded.due_at, \
         action = excluded.action, attempt = excluded.attempt, attester = excluded.attester",
    );
    sql
}

type DueRow = (String, String, String, i64, String, i64, Option<String>);

impl Store {
    /// Makes `s` due in `tenant` (replacing what was due for its resource).
    pub async fn schedule_verification(
        &self,
        tenant: &TenantName,
        s: &Schedule<'_>,
    ) -> Result<(), StoreError> {
        let sql = upsert(tenant.as_str(), s);
        self.execute(&sql).await.map(|_| ())
    }

    /// Up to `limit` things due at `now`, every tenant's, oldest first.
    pub async fn due_verifications(&self, now: i64, limit: i64) -> Result<Vec<Due>, StoreError> {
        let mut sql = Sql::new();
        sql.push(
            "SELECT tenant, resource_type, id, due_at, action, attempt, attester \
             FROM verification_due WHERE due_at <= ",
        )
        .int(now)
        .push(" ORDER BY due_at LIMIT ")
        .int(limit);
        let rows: Vec<DueRow> = self.read_all(&sql).await?;
        rows.into_iter()
            .map(
                |(tenant, resource_type, id, due_at, action, attempt, attester)| {
                    Ok(Due {
                        tenant: TenantName::parse(&tenant)?,
                        resource_type,
                        id,
                        due_at,
                        action,
                        attempt,
                        attester,
                    })
                },
            )
            .collect()
    }

    /// Takes `due` for this process (it is removed); `false` when another process took it or
    /// it was rescheduled meanwhile.
    pub async fn take_due(&self, due: &Due) -> Result<bool, StoreError> {
        let mut sql = Sql::new();
        sql.push("DELETE FROM verification_due WHERE tenant = ")
            .text(due.tenant.as_str())
            .push(" AND resource_type = ")
            .text(due.resource_type.as_str())
            .push(" AND id = ")
            .text(due.id.as_str())
            .push(" AND due_at = ")
            .int(due.due_at)
            .push(" AND action = ")
            .text(due.action.as_str());
        Ok(self.execute(&sql).await? > 0)
    }
}

impl StoreTx {
    /// Makes `s` due, in this transaction (with the VerificationResult that asks for it).
    pub async fn schedule_verification(&mut self, s: &Schedule<'_>) -> Result<(), StoreError> {
        let sql = upsert(self.tenant().as_str(), s);
        self.execute_sql(&sql).await.map(|_| ())
    }

    /// Nothing is due for `rtype/id` any more.
    pub async fn clear_verification(&mut self, rtype: &str, id: &str) -> Result<(), StoreError> {
        let mut sql = Sql::new();
        sql.push("DELETE FROM verification_due WHERE tenant = ")
            .text(self.tenant().as_str())
            .push(" AND resource_type = ")
            .text(rtype)
            .push(" AND id = ")
            .text(id);
        self.execute_sql(&sql).await.map(|_| ())
    }
}
