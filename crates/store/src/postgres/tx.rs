//! Postgres side of [`crate::StoreTx`]: the write rules at READ COMMITTED, and the batch path
//! with `UNNEST` arrays (one statement per table and run, whatever the run's size).
//!
//! A single write is a compare-and-swap that re-reads and retries when it loses a race
//! (see `postgres.rs`). A batch locks the current rows of a run (`FOR UPDATE`, in key order),
//! plans against them, updates the locked rows, and inserts the new ones with
//! `ON CONFLICT DO NOTHING`: a resource that a concurrent transaction created in the meantime
//! is then written through the single-write path, which handles the race. So a batch never
//! loses an update either.

use std::collections::{HashMap, HashSet};

use super::{compare_and_swap, current_row, lock_tenant, NewRow, PgStore};
use crate::common::{self, Current};
use crate::held::Held;
use crate::search::terminology;
use crate::tx::plan::{self, replaces_rows, CurrentRow, Key, Planned};
use crate::{
    BatchOutcome, BatchWrite, DeleteOutcome, Method, OnUnchanged, Precondition, SearchPage,
    StoreError, TenantName, VersionRecord, WriteOutcome, WriteRequest,
};

/// Resources per run: bounds the rows locked and the arrays sent per statement.
const ROWS_PER_RUN: usize = 1000;

/// An open Postgres transaction on one tenant.
#[derive(Debug)]
pub(crate) struct PgTx {
    tx: Held<sqlx::Postgres>,
    tenant: TenantName,
    /// Whether a write or delete ran: the commit then adds to the tenant's write
    /// generation (see `search::count_cache`).
    wrote: bool,
}

impl PgStore {
    pub(crate) async fn begin(&self, tenant: &TenantName) -> Result<PgTx, StoreError> {
        let mut tx = Held::begin_pg(&self.pool, "BEGIN", self.statement_timeout).await?;
        let locked = lock_tenant(&mut tx, tenant).await;
        // The statement has ended either way: an unknown tenant must not cost a connection.
        tx.set_busy(false);
        locked?;
        Ok(PgTx {
            tx,
            tenant: tenant.clone(),
            wrote: false,
        })
    }
}

/// `lock_current_rows` columns: res_type, id, version, deleted, last_updated, method, content.
type LockedRow = (String, String, i64, bool, i64, String, Option<String>);

/// The columns of written rows, as arrays for `UNNEST`.
#[derive(Default)]
struct Columns<'a> {
    types: Vec<&'a str>,
    ids: Vec<&'a str>,
    versions: Vec<i64>,
    last_updated: Vec<i64>,
    methods: Vec<&'a str>,
    bodies: Vec<&'a str>,
    expected: Vec<i64>,
}

impl<'a> Columns<'a> {
    fn push(&mut self, req: &'a WriteRequest, new: &'a common::PreparedWrite, expected: i64) {
        self.types.push(&req.resource_type);
        self.ids.push(&req.id);
        self.versions.push(new.version);
        self.last_updated.push(new.last_updated);
        self.methods.push(req.method.as_str());
        self.bodies.push(&new.body);
        self.expected.push(expected);
    }

    fn len(&self) -> usize {
        self.ids.len()
    }
}

impl PgTx {
    pub(crate) fn tenant(&self) -> &TenantName {
        &self.tenant
    }

    /// See [`Held::set_busy`]: [`crate::StoreTx`] marks each operation.
    pub(crate) fn set_busy(&mut self, busy: bool) {
        self.tx.set_busy(busy);
    }

    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        self.tx.set_busy(true);
        if self.wrote {
            crate::search::postgres::bump_generation(&mut self.tx, &self.tenant).await?;
        }
        self.tx.commit().await
    }

    pub(crate) async fn rollback(self) -> Result<(), StoreError> {
        self.tx.rollback().await
    }

    pub(crate) async fn read(
        &mut self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<VersionRecord>, StoreError> {
        let row: Option<common::ReadRow> = sqlx::query_as(
            "SELECT r.version, r.deleted, r.last_updated, r.method, r.content::text \
                 FROM tenants t LEFT JOIN resources r \
                 ON r.tenant = t.name AND r.res_type = $2 AND r.id = $3 \
                 WHERE t.name = $1",
        )
        .bind(self.tenant.as_str())
        .bind(resource_type)
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await?;
        common::read_result(row, &self.tenant, resource_type, id)
    }

    pub(crate) async fn search(
        &mut self,
        query: &search::SearchQuery,
        registry: &conformance::Registry,
    ) -> Result<SearchPage, StoreError> {
        let source = terminology::Source::Postgres(&mut self.tx);
        let expanded = terminology::resolve(source, &self.tenant, query).await?;
        let query = expanded.as_ref().unwrap_or(query);
        crate::search::postgres::search_on(&mut self.tx, &self.tenant, query, registry, None, None)
            .await
    }

    /// A transaction-scoped advisory lock on `key` (see [`crate::StoreTx::lock_condition`]).
    pub(crate) async fn lock_condition(&mut self, key: i64) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(key)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub(crate) async fn write(&mut self, req: WriteRequest) -> Result<WriteOutcome, StoreError> {
        self.write_indexed(req, &[]).await
    }

    /// A write whose index rows (replacing the previous version's) are saved in the same
    /// transaction.
    pub(crate) async fn write_indexed(
        &mut self,
        req: WriteRequest,
        index: &[search::IndexEntry],
    ) -> Result<WriteOutcome, StoreError> {
        self.wrote = true;
        let tenant = &self.tenant;
        for _ in 0..common::MAX_WRITE_ATTEMPTS {
            // READ COMMITTED: each statement sees the latest commits, so a retry re-reads
            // the winner's row (and this transaction's own earlier writes).
            let current = current_row(&mut self.tx, tenant, &req.resource_type, &req.id).await?;
            let new = common::prepare_write(current.as_ref(), &req)?;
            let swapped = compare_and_swap(
                &mut self.tx,
                tenant,
                &req.resource_type,
                &req.id,
                current.as_ref(),
                &NewRow {
                    version: new.version,
                    deleted: false,
                    last_updated: new.last_updated,
                    method: req.method,
                    content: Some(&new.body),
                },
            )
            .await?;
            if !swapped {
                if req.precondition != Precondition::None {
                    return Err(common::lost_race(
                        req.precondition,
                        &req.resource_type,
                        &req.id,
                    ));
                }
                continue;
            }
            // The new version's index rows replace the previous version's, in this
            // transaction: a search never sees a resource with another version's values.
            // A live current version may have rows; none (or a tombstone) has none.
            let replace = current.as_ref().is_some_and(|c| !c.deleted);
            crate::search::postgres::write_index_rows(
                &mut self.tx,
                tenant,
                &req.resource_type,
                &req.id,
                index,
                replace,
            )
            .await?;
            return plan::outcome(req, new);
        }
        Err(common::lost_race(
            req.precondition,
            &req.resource_type,
            &req.id,
        ))
    }

    pub(crate) async fn delete(
        &mut self,
        resource_type: &str,
        id: &str,
        precondition: Precondition,
    ) -> Result<DeleteOutcome, StoreError> {
        self.wrote = true;
        let tenant = &self.tenant;
        for _ in 0..common::MAX_WRITE_ATTEMPTS {
            let Some(current) = current_row(&mut self.tx, tenant, resource_type, id).await? else {
                return Ok(DeleteOutcome::NotFound);
            };
            common::check_precondition(Some(&current), precondition, resource_type, id)?;
            if current.deleted {
                return Ok(DeleteOutcome::AlreadyDeleted {
                    version: current.version,
                });
            }
            let version = common::next_version(Some(&current));
            let last_updated = common::next_last_updated(Some(&current));
            let tombstone = NewRow {
                version,
                deleted: true,
                last_updated,
                method: Method::Delete,
                content: None,
            };
            if !compare_and_swap(
                &mut self.tx,
                tenant,
                resource_type,
                id,
                Some(&current),
                &tombstone,
            )
            .await?
            {
                if precondition != Precondition::None {
                    return Err(common::lost_race(precondition, resource_type, id));
                }
                continue;
            }
            crate::search::postgres::delete_index_rows(&mut self.tx, tenant, resource_type, id)
                .await?;
            return Ok(DeleteOutcome::Deleted {
                version,
                last_updated: common::from_micros(last_updated)?,
            });
        }
        Err(common::lost_race(precondition, resource_type, id))
    }

    pub(crate) async fn write_batch(
        &mut self,
        writes: Vec<BatchWrite>,
        on_unchanged: OnUnchanged,
    ) -> Result<Vec<BatchOutcome>, StoreError> {
        self.wrote = true;
        let requests: Vec<&WriteRequest> = writes.iter().map(|w| &w.request).collect();
        let mut planned_all: Vec<Option<Planned>> = Vec::with_capacity(writes.len());
        for run in plan::runs(&requests, ROWS_PER_RUN) {
            let run_reqs = &requests[run.clone()];
            let currents = self.lock_current_rows(run_reqs, on_unchanged).await?;
            let planned = plan::plan_run(run_reqs, &currents, on_unchanged)?;
            let raced = self.save_run(run_reqs, &planned).await?;
            // Unchanged resources keep their rows (see the SQLite backend for why).
            let indexed: Vec<(&BatchWrite, bool)> = writes[run.clone()]
                .iter()
                .zip(&planned)
                .enumerate()
                .filter(|(i, _)| !raced.contains(i))
                .filter_map(|(_, (w, p))| Some((w, replaces_rows(p)?)))
                .collect();
            write_index_rows(&mut self.tx, &self.tenant, &indexed).await?;
            for (i, p) in planned.into_iter().enumerate() {
                planned_all.push(if raced.contains(&i) { None } else { Some(p) });
            }
        }
        let mut outcomes = Vec::with_capacity(writes.len());
        for (w, p) in writes.into_iter().zip(planned_all) {
            outcomes.push(match p {
                Some(Planned::Unchanged(record)) => plan::unchanged_outcome(record),
                Some(Planned::Write { new, .. }) => plan::written(plan::outcome(w.request, new)?),
                // Created concurrently after we planned: the single path re-reads and
                // applies the precondition to what is there now.
                None => {
                    let out = self.write(w.request.clone()).await?;
                    write_index_rows(&mut self.tx, &self.tenant, &[(&w, true)]).await?;
                    plan::written(out)
                }
            });
        }
        Ok(outcomes)
    }

    /// Locks and returns the current rows of a run's resources (content only when it is
    /// compared). Locking in key order keeps two batches over the same resources from
    /// deadlocking each other.
    async fn lock_current_rows(
        &mut self,
        requests: &[&WriteRequest],
        on_unchanged: OnUnchanged,
    ) -> Result<HashMap<Key, CurrentRow>, StoreError> {
        let types: Vec<&str> = requests.iter().map(|r| r.resource_type.as_str()).collect();
        let ids: Vec<&str> = requests.iter().map(|r| r.id.as_str()).collect();
        let sql = if on_unchanged == OnUnchanged::KeepCurrent {
            "SELECT r.res_type, r.id, r.version, r.deleted, r.last_updated, r.method, \
             r.content::text FROM resources r \
             JOIN UNNEST($2::text[], $3::text[]) AS k(res_type, id) \
             ON r.res_type = k.res_type AND r.id = k.id \
             WHERE r.tenant = $1 ORDER BY r.res_type, r.id FOR UPDATE OF r"
        } else {
            "SELECT r.res_type, r.id, r.version, r.deleted, r.last_updated, r.method, \
             NULL::text FROM resources r \
             JOIN UNNEST($2::text[], $3::text[]) AS k(res_type, id) \
             ON r.res_type = k.res_type AND r.id = k.id \
             WHERE r.tenant = $1 ORDER BY r.res_type, r.id FOR UPDATE OF r"
        };
        let rows: Vec<LockedRow> = sqlx::query_as(sql)
            .bind(self.tenant.as_str())
            .bind(&types)
            .bind(&ids)
            .fetch_all(&mut *self.tx)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(t, id, version, deleted, last_updated, method, content)| {
                let row = CurrentRow {
                    current: Current {
                        version,
                        deleted,
                        last_updated,
                    },
                    method,
                    content,
                };
                ((t, id), row)
            })
            .collect())
    }

    /// Saves one planned run; answers the positions (in the run) of new resources that a
    /// concurrent transaction created first, which were not written.
    async fn save_run(
        &mut self,
        requests: &[&WriteRequest],
        planned: &[Planned],
    ) -> Result<HashSet<usize>, StoreError> {
        let (mut updates, mut inserts) = (Columns::default(), Columns::default());
        let mut insert_pos = Vec::new();
        for (i, (req, p)) in requests.iter().zip(planned).enumerate() {
            match p {
                Planned::Write {
                    expected: Some(c),
                    new,
                } => updates.push(req, new, c.version),
                Planned::Write {
                    expected: None,
                    new,
                } => {
                    inserts.push(req, new, 0);
                    insert_pos.push(i);
                }
                Planned::Unchanged(_) => {}
            }
        }
        let tenant = self.tenant.as_str();
        if updates.len() > 0 {
            let done = sqlx::query(
                "UPDATE resources r SET version = u.version, deleted = false, \
                 last_updated = u.last_updated, method = u.method, content = u.content::jsonb \
                 FROM UNNEST($2::text[], $3::text[], $4::int8[], $5::int8[], $6::text[], \
                 $7::text[], $8::int8[]) AS u(res_type, id, version, last_updated, method, \
                 content, expected) \
                 WHERE r.tenant = $1 AND r.res_type = u.res_type AND r.id = u.id \
                 AND r.version = u.expected",
            )
            .bind(tenant)
            .bind(&updates.types)
            .bind(&updates.ids)
            .bind(&updates.versions)
            .bind(&updates.last_updated)
            .bind(&updates.methods)
            .bind(&updates.bodies)
            .bind(&updates.expected)
            .execute(&mut *self.tx)
            .await?;
            if done.rows_affected() != updates.len() as u64 {
                // The rows are locked since we read them: only tampering gets here.
                return Err(StoreError::Corrupt(format!(
                    "batch update changed {} of {} locked rows",
                    done.rows_affected(),
                    updates.len()
                )));
            }
        }
        let mut raced = HashSet::new();
        if inserts.len() > 0 {
            let created: Vec<(String, String)> = sqlx::query_as(
                "INSERT INTO resources \
                 (tenant, res_type, id, version, deleted, last_updated, method, content) \
                 SELECT $1, u.res_type, u.id, u.version, false, u.last_updated, u.method, \
                 u.content::jsonb FROM UNNEST($2::text[], $3::text[], $4::int8[], $5::int8[], \
                 $6::text[], $7::text[]) AS u(res_type, id, version, last_updated, method, \
                 content) ON CONFLICT (tenant, res_type, id) DO NOTHING RETURNING res_type, id",
            )
            .bind(tenant)
            .bind(&inserts.types)
            .bind(&inserts.ids)
            .bind(&inserts.versions)
            .bind(&inserts.last_updated)
            .bind(&inserts.methods)
            .bind(&inserts.bodies)
            .fetch_all(&mut *self.tx)
            .await?;
            if created.len() != inserts.len() {
                let created: HashSet<(String, String)> = created.into_iter().collect();
                for (k, pos) in insert_pos.iter().enumerate() {
                    let key = (inserts.types[k].to_owned(), inserts.ids[k].to_owned());
                    if !created.contains(&key) {
                        raced.insert(*pos);
                    }
                }
            }
        }
        // History rows in request order (skipping unchanged and raced writes), so `seq`
        // follows the order of the batch as it would for single writes.
        let mut history = Columns::default();
        for (i, (req, p)) in requests.iter().zip(planned).enumerate() {
            if let Planned::Write { new, .. } = p {
                if !raced.contains(&i) {
                    history.push(req, new, 0);
                }
            }
        }
        if history.len() > 0 {
            sqlx::query(
                "INSERT INTO resource_versions \
                 (tenant, res_type, id, version, deleted, last_updated, method, content) \
                 SELECT $1, u.res_type, u.id, u.version, false, u.last_updated, u.method, \
                 u.content::jsonb FROM UNNEST($2::text[], $3::text[], $4::int8[], $5::int8[], \
                 $6::text[], $7::text[]) WITH ORDINALITY AS u(res_type, id, version, \
                 last_updated, method, content, ord) ORDER BY u.ord",
            )
            .bind(tenant)
            .bind(&history.types)
            .bind(&history.ids)
            .bind(&history.versions)
            .bind(&history.last_updated)
            .bind(&history.methods)
            .bind(&history.bodies)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| match e.as_database_error() {
                Some(db) if db.is_unique_violation() => StoreError::Corrupt(
                    "a batch version already exists but is not the current version".to_owned(),
                ),
                _ => StoreError::Database(e),
            })?;
        }
        Ok(raced)
    }
}

/// Saves the index rows of the written resources of a batch, on the batch's transaction
/// (replacing their previous rows; a resource written twice keeps its last entries).
async fn write_index_rows(
    conn: &mut sqlx::PgConnection,
    tenant: &TenantName,
    writes: &[(&BatchWrite, bool)],
) -> Result<(), StoreError> {
    let resources: Vec<crate::IndexedResource<'_>> = writes
        .iter()
        .map(|(w, _)| crate::IndexedResource {
            resource_type: &w.request.resource_type,
            id: &w.request.id,
            entries: &w.index,
        })
        .collect();
    let replace: Vec<bool> = writes.iter().map(|(_, replace)| *replace).collect();
    crate::search::postgres::write_bulk(conn, tenant, &resources, &replace).await
}
