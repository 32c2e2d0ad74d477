//! SQLite's batch path of `StoreTx::write_batch` (the rules are `tx/rules.rs`): multi-row
//! statements on the writer connection.
//!
//! A transaction holds the one writer connection from `BEGIN IMMEDIATE` to its end, so its
//! reads of the current rows cannot be overtaken by another writer: a batch can read the
//! current rows of a run, decide, and upsert them without re-checking, and no resource of a
//! run is ever created concurrently.

use std::collections::HashMap;

use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use crate::common;
use crate::tx::plan::{CurrentRow, Key, Planned};
use crate::{OnUnchanged, StoreError, TenantName, WriteRequest};

/// Rows per multi-row statement: 9 binds per history row keeps a statement far under
/// SQLite's bind limit (32,766) while amortising the per-statement cost.
pub(super) const ROWS_PER_STATEMENT: usize = 500;

/// The current rows of a run's resources (content only when it is compared).
pub(super) async fn current_rows(
    conn: &mut SqliteConnection,
    tenant: &TenantName,
    requests: &[&WriteRequest],
    on_unchanged: OnUnchanged,
) -> Result<HashMap<Key, CurrentRow>, StoreError> {
    let with_content = on_unchanged == OnUnchanged::KeepCurrent;
    let mut by_type: HashMap<&str, Vec<&str>> = HashMap::new();
    for r in requests {
        by_type.entry(&r.resource_type).or_default().push(&r.id);
    }
    let mut out = HashMap::with_capacity(requests.len());
    for (resource_type, ids) in by_type {
        let mut qb = QueryBuilder::<Sqlite>::new(if with_content {
            "SELECT id, version, deleted, last_updated, method, content FROM resources"
        } else {
            "SELECT id, version, deleted, last_updated, method, NULL FROM resources"
        });
        qb.push(" WHERE tenant = ")
            .push_bind(tenant.as_str())
            .push(" AND res_type = ")
            .push_bind(resource_type)
            .push(" AND id IN (");
        let mut list = qb.separated(", ");
        for id in ids {
            list.push_bind(id);
        }
        qb.push(")");
        let rows: Vec<(String, i64, bool, i64, String, Option<String>)> =
            qb.build_query_as().fetch_all(&mut *conn).await?;
        for (id, version, deleted, last_updated, method, content) in rows {
            let row = CurrentRow::new(version, deleted, last_updated, method, content);
            out.insert((resource_type.to_owned(), id), row);
        }
    }
    Ok(out)
}

/// Upserts the current rows and appends the history rows of one planned run.
pub(super) async fn save_run(
    conn: &mut SqliteConnection,
    tenant: &TenantName,
    requests: &[&WriteRequest],
    planned: &[Planned],
) -> Result<(), StoreError> {
    let rows: Vec<(&WriteRequest, &common::PreparedWrite)> = requests
        .iter()
        .zip(planned)
        .filter_map(|(r, p)| match p {
            Planned::Write { new, .. } => Some((*r, new)),
            Planned::Unchanged(_) => None,
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let tenant = tenant.as_str();
    // The run has each resource once and we hold the write lock since reading the
    // current rows, so the upsert is the compare-and-swap.
    // `OR FAIL`: no statement journal for these multi-row statements (see
    // `index_rows::insert_statements`); a failure rolls the whole transaction back.
    let mut qb = QueryBuilder::<Sqlite>::new(
        "INSERT OR FAIL INTO resources \
         (tenant, res_type, id, version, deleted, last_updated, method, content) ",
    );
    qb.push_values(&rows, |mut b, (req, new)| {
        b.push_bind(tenant)
            .push_bind(&req.resource_type)
            .push_bind(&req.id)
            .push_bind(new.version)
            .push_bind(false)
            .push_bind(new.last_updated)
            .push_bind(req.method.as_str())
            .push_bind(&new.body);
    });
    qb.push(
        " ON CONFLICT (tenant, res_type, id) DO UPDATE SET version = excluded.version, \
         deleted = excluded.deleted, last_updated = excluded.last_updated, \
         method = excluded.method, content = excluded.content",
    );
    qb.build().execute(&mut *conn).await?;

    // Writes are serialised by BEGIN IMMEDIATE, so the seqs after MAX(seq) are ours.
    let max_seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM resource_versions")
        .fetch_one(&mut *conn)
        .await?;
    let mut qb = QueryBuilder::<Sqlite>::new(
        "INSERT OR FAIL INTO resource_versions \
         (tenant, res_type, id, version, seq, deleted, last_updated, method, content) ",
    );
    let numbered = rows.iter().zip(1_i64..);
    qb.push_values(numbered, |mut b, ((req, new), n)| {
        b.push_bind(tenant)
            .push_bind(&req.resource_type)
            .push_bind(&req.id)
            .push_bind(new.version)
            .push_bind(max_seq.saturating_add(n))
            .push_bind(false)
            .push_bind(new.last_updated)
            .push_bind(req.method.as_str())
            .push_bind(&new.body);
    });
    qb.build()
        .execute(&mut *conn)
        .await
        .map_err(common::batch_version_insert_error)?;
    Ok(())
}
