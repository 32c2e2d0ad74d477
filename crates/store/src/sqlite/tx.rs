//! SQLite side of [`crate::StoreTx`]: the write rules on the writer connection, and the
//! multi-row batch path.
//!
//! A transaction holds the one writer connection from `BEGIN IMMEDIATE` to its end, so its
//! reads of the current rows cannot be overtaken by another writer: the compare-and-swap of a
//! single write always succeeds first time, and a batch can read the current rows of a run,
//! decide, and upsert them without re-checking.

use std::collections::HashMap;

use sqlx::{QueryBuilder, Sqlite};

use super::{compare_and_swap, current_row, require_tenant, NewRow, SqliteStore};
use crate::common::{self, Current};
use crate::held::Held;
use crate::search::terminology;
use crate::tx::plan::{self, replaces_rows, CurrentRow, Key, Planned};
use crate::{
    BatchOutcome, BatchWrite, DeleteOutcome, Method, OnUnchanged, Precondition, SearchPage,
    StoreError, TenantName, VersionRecord, WriteOutcome, WriteRequest,
};

/// Rows per multi-row statement: 9 binds per history row keeps a statement far under
/// SQLite's bind limit (32,766) while amortising the per-statement cost.
const ROWS_PER_STATEMENT: usize = 500;

/// An open SQLite transaction on one tenant.
#[derive(Debug)]
pub(crate) struct SqliteTx {
    tx: Held<Sqlite>,
    tenant: TenantName,
    /// Whether a write or delete ran: the commit then adds to the tenant's write
    /// generation (see `search::count_cache`).
    wrote: bool,
}

impl SqliteStore {
    pub(crate) async fn begin(&self, tenant: &TenantName) -> Result<SqliteTx, StoreError> {
        let mut tx = Held::begin(&self.writer, "BEGIN IMMEDIATE").await?;
        let found = require_tenant(&mut tx, tenant).await;
        // The statement has ended either way: an unknown tenant must not cost a connection.
        tx.set_busy(false);
        found?;
        Ok(SqliteTx {
            tx,
            tenant: tenant.clone(),
            wrote: false,
        })
    }
}

impl SqliteTx {
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
            crate::search::sqlite::bump_generation(&mut self.tx, &self.tenant).await?;
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
            "SELECT r.version, r.deleted, r.last_updated, r.method, r.content \
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
        let source = terminology::Source::Sqlite(&mut self.tx);
        let expanded = terminology::resolve(source, &self.tenant, query).await?;
        let query = expanded.as_ref().unwrap_or(query);
        crate::search::sqlite::search_on(&mut self.tx, &self.tenant, query, registry, None, None)
            .await
    }

    /// Nothing to do: `BEGIN IMMEDIATE` made this transaction the only writer.
    pub(crate) async fn lock_condition(&mut self, _key: i64) -> Result<(), StoreError> {
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
                // BEGIN IMMEDIATE serialises writers, so this only happens if someone
                // changes the file outside fhirdir's rules; handle it like Postgres does.
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
            crate::search::sqlite::write_index_rows(
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
            crate::search::sqlite::delete_index_rows(&mut self.tx, tenant, resource_type, id)
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
        let mut outcomes = Vec::with_capacity(writes.len());
        let requests: Vec<&WriteRequest> = writes.iter().map(|w| &w.request).collect();
        let runs = plan::runs(&requests, ROWS_PER_STATEMENT);
        let mut planned_all = Vec::with_capacity(writes.len());
        for run in runs {
            let run_reqs = &requests[run.clone()];
            let currents = self.current_rows(run_reqs, on_unchanged).await?;
            let planned = plan::plan_run(run_reqs, &currents, on_unchanged)?;
            self.save_run(run_reqs, &planned).await?;
            // Unchanged resources keep their rows: rewriting them (~25 rows per directory
            // resource) would make a rerun as slow as the first import. Rows from an older
            // extractor are the reindex job's business (`Store::reindex_many`).
            let indexed: Vec<(&BatchWrite, bool)> = writes[run]
                .iter()
                .zip(&planned)
                .filter_map(|(w, p)| Some((w, replaces_rows(p)?)))
                .collect();
            write_index_rows(&mut self.tx, &self.tenant, &indexed).await?;
            planned_all.extend(planned);
        }
        for (w, p) in writes.into_iter().zip(planned_all) {
            outcomes.push(match p {
                Planned::Unchanged(record) => plan::unchanged_outcome(record),
                Planned::Write { new, .. } => plan::written(plan::outcome(w.request, new)?),
            });
        }
        Ok(outcomes)
    }

    /// The current rows of a run's resources (content only when it is compared).
    async fn current_rows(
        &mut self,
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
                .push_bind(self.tenant.as_str())
                .push(" AND res_type = ")
                .push_bind(resource_type)
                .push(" AND id IN (");
            let mut list = qb.separated(", ");
            for id in ids {
                list.push_bind(id);
            }
            qb.push(")");
            let rows: Vec<(String, i64, bool, i64, String, Option<String>)> =
                qb.build_query_as().fetch_all(&mut *self.tx).await?;
            for (id, version, deleted, last_updated, method, content) in rows {
                out.insert(
                    (resource_type.to_owned(), id),
                    CurrentRow {
                        current: Current {
                            version,
                            deleted,
                            last_updated,
                        },
                        method,
                        content,
                    },
                );
            }
        }
        Ok(out)
    }

    /// Upserts the current rows and appends the history rows of one planned run.
    async fn save_run(
        &mut self,
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
        let tenant = self.tenant.as_str();
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
        qb.build().execute(&mut *self.tx).await?;

        // Writes are serialised by BEGIN IMMEDIATE, so the seqs after MAX(seq) are ours.
        let max_seq: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM resource_versions")
                .fetch_one(&mut *self.tx)
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
            .execute(&mut *self.tx)
            .await
            .map_err(|e| match e.as_database_error() {
                Some(db) if db.is_unique_violation() => StoreError::Corrupt(
                    "a batch version already exists but is not the current version".to_owned(),
                ),
                _ => StoreError::Database(e),
            })?;
        Ok(())
    }
}

/// Saves the index rows of the written resources of a batch, on the batch's transaction
/// (replacing their previous rows; a resource written twice keeps its last entries).
async fn write_index_rows(
    conn: &mut sqlx::SqliteConnection,
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
    crate::search::sqlite::write_bulk(conn, tenant, &resources, &replace).await
}
