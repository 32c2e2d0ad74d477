//! The write rules, once for both backends: [`WriteTx`] is the backend side of
//! [`crate::StoreTx`] (and of `Store::write` / `Store::delete`, which are one operation in
//! their own transaction).
//!
//! A single write reads the current row, checks the precondition, numbers and stamps the
//! new version ([`common::prepare_write`]) and saves it with a compare-and-swap
//! ([`rows::compare_and_swap`]); losing the race (another writer committed in between) means
//! re-reading and trying again, up to [`common::MAX_WRITE_ATTEMPTS`], except for a
//! conditional write, whose precondition no longer holds. On Postgres (READ COMMITTED) each
//! statement sees the latest commits, so a retry sees the winner's row; on SQLite
//! `BEGIN IMMEDIATE` makes the transaction the only writer and the first attempt always wins.
//!
//! A batch reads (and on Postgres locks) the current rows of a run, plans against them
//! ([`plan`]) and saves the run with multi-row statements ([`Backend::save_run`]); a
//! resource that a concurrent transaction created after the read is written through the
//! single-write path, which handles the race. So a batch never loses an update either.

use crate::backend::{Backend, Conn};
use crate::common;
use crate::db::SqlDb;
use crate::held::Held;
use crate::rows::{self, NewRow};
use crate::search::{run, terminology};
use crate::tx::plan::{self, replaces_rows, Planned};
use crate::{
    BatchOutcome, BatchWrite, DeleteOutcome, Method, OnUnchanged, Precondition, SearchPage,
    StoreError, TenantName, VersionRecord, WriteOutcome, WriteRequest,
};

/// An open write transaction on one tenant, on backend `B`.
#[derive(Debug)]
pub(crate) struct WriteTx<B: Backend> {
    tx: Held<B::Db>,
    tenant: TenantName,
    /// Resources written or deleted: when any, the commit adds to the tenant's write
    /// generation (see `search::count_cache`) and to what `search::statistics` counts.
    writes: u64,
    /// The changes written so far, numbered and saved at commit (`events.rs`).
    events: Vec<crate::events::Pending>,
    /// Who the changes are by.
    agent: crate::Agent,
    store: B,
}

impl<B: Backend> WriteTx<B> {
    /// Opens a transaction on `tenant`'s data ([`crate::Store::begin`]).
    pub(crate) async fn begin(store: &B, tenant: &TenantName) -> Result<Self, StoreError> {
        let mut tx = store.begin_write(store.statement_timeout()).await?;
        let claimed = B::claim_tenant(&mut tx, tenant).await;
        // The statement has ended either way: an unknown tenant must not cost a connection.
        tx.set_busy(false);
        claimed?;
        Ok(WriteTx {
            tx,
            tenant: tenant.clone(),
            writes: 0,
            events: Vec::new(),
            agent: crate::Agent::System,
            store: store.clone(),
        })
    }

    pub(crate) fn tenant(&self) -> &TenantName {
        &self.tenant
    }

    /// [`crate::StoreTx::set_agent`].
    pub(crate) fn set_agent(&mut self, agent: crate::Agent) {
        self.agent = agent;
    }

    /// Notes a change of this transaction, numbered at commit.
    fn changed(
        &mut self,
        rt: &str,
        id: &str,
        version: i64,
        method: Method,
        at: i64,
        action: crate::ChangeAction,
    ) {
        self.events.push(crate::events::Pending {
            resource_type: rt.to_owned(),
            id: id.to_owned(),
            version,
            action,
            method,
            at,
        });
    }

    /// See [`Held::set_busy`]: [`crate::StoreTx`] marks each operation.
    pub(crate) fn set_busy(&mut self, busy: bool) {
        self.tx.set_busy(busy);
    }

    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        self.tx.set_busy(true);
        if self.writes > 0 {
            run::bump_generation::<B>(&mut self.tx, &self.tenant).await?;
        }
        // Last: the tenant's event counter stays locked from here to the commit.
        crate::events::append::<B>(&mut self.tx, &self.tenant, &self.agent, &self.events).await?;
        self.tx.commit().await?;
        if !self.events.is_empty() {
            self.store.caches().changes.notify_waiters();
        }
        if B::ANALYZE_AFTER_WRITES
            && self.writes > 0
            && self
                .store
                .caches()
                .statistics
                .wrote(self.tenant.as_str(), self.writes)
        {
            let store = self.store;
            tokio::spawn(async move {
                if let Err(e) = run::maintain(&store, "ANALYZE ").await {
                    tracing::warn!(error = %e, "ANALYZE after writes failed");
                }
                store.caches().statistics.analyzed();
            });
        }
        Ok(())
    }

    pub(crate) async fn rollback(self) -> Result<(), StoreError> {
        self.tx.rollback().await
    }

    pub(crate) async fn read(
        &mut self,
        viewer: &restrict::Viewer<'_>,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<VersionRecord>, StoreError> {
        let sql = rows::read(&self.tenant, resource_type, id);
        let row: Option<common::ReadRow> = B::Db::fetch_optional(&mut self.tx, &sql).await?;
        common::read_result(
            row,
            crate::Scope::viewing(&self.tenant, *viewer),
            resource_type,
            id,
        )
    }

    pub(crate) async fn search(
        &mut self,
        viewer: &restrict::Viewer<'_>,
        query: &search::SearchQuery,
        registry: &conformance::Registry,
    ) -> Result<SearchPage, StoreError> {
        let source = terminology::Source::<B>::Conn(&mut self.tx);
        let expanded = terminology::resolve(source, &self.tenant, query).await?;
        let query = expanded.as_ref().unwrap_or(query);
        let scope = crate::Scope::viewing(&self.tenant, *viewer);
        let mut exec = crate::search::exec::OnSqlx::<B::Db>(&mut self.tx);
        run::search_on(&mut exec, scope, query, registry, None, None).await
    }

    /// [`crate::StoreTx::save_restrictions`].
    pub(crate) async fn save_restrictions(
        &mut self,
        writes: &[crate::RestrictionWrite],
    ) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        self.writes += 1;
        for sql in crate::restricted::save_statements(self.tenant.as_str(), writes) {
            B::Db::execute(&mut self.tx, &sql).await?;
        }
        Ok(())
    }

    /// [`crate::StoreTx::policy`].
    pub(crate) async fn policy(
        &mut self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<restrict::Restrictions>, StoreError> {
        let sql = crate::restricted::policy_of(self.tenant.as_str(), resource_type, id);
        let row: Option<(String,)> = B::Db::fetch_optional(&mut self.tx, &sql).await?;
        match row {
            None => Ok(None),
            Some((text,)) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("restriction policy: {e}"))),
        }
    }

    /// [`crate::StoreTx::element_policies`].
    pub(crate) async fn element_policies(
        &mut self,
        keys: &[(String, String)],
    ) -> Result<Vec<(String, String, restrict::Restrictions)>, StoreError> {
        let mut by_type: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for (t, id) in keys {
            by_type.entry(t).or_default().push(id);
        }
        let mut out = Vec::new();
        for (t, ids) in by_type {
            for chunk in ids.chunks(500) {
                let sql = crate::restricted::element_policies(self.tenant.as_str(), t, chunk);
                let rows: Vec<(String, String, String)> =
                    B::Db::fetch_all(&mut self.tx, &sql).await?;
                for (t, id, text) in rows {
                    let policy = serde_json::from_str(&text)
                        .map_err(|e| StoreError::Corrupt(format!("restriction policy: {e}")))?;
                    out.push((t, id, policy));
                }
            }
        }
        Ok(out)
    }

    /// [`crate::StoreTx::add_restricted_params`].
    pub(crate) async fn add_restricted_params(
        &mut self,
        rows: &[(String, String, Vec<String>)],
    ) -> Result<(), StoreError> {
        for (t, id, params) in rows {
            for p in params {
                let sql = crate::restricted::add_param(self.tenant.as_str(), t, id, p);
                B::Db::execute(&mut self.tx, &sql).await?;
            }
        }
        Ok(())
    }

    pub(crate) fn agent(&self) -> &crate::Agent {
        &self.agent
    }

    /// [`crate::StoreTx::note_subscription`].
    pub(crate) async fn note_subscription(
        &mut self,
        id: &str,
        status: &str,
    ) -> Result<(), StoreError> {
        let now = chrono::Utc::now().timestamp_micros();
        crate::subscriptions::note::<B>(&mut self.tx, &self.tenant, &self.agent, id, status, now)
            .await
    }

    /// [`crate::StoreTx::forget_subscription`].
    pub(crate) async fn forget_subscription(&mut self, id: &str) -> Result<(), StoreError> {
        crate::subscriptions::forget::<B>(&mut self.tx, &self.tenant, &self.agent, id).await
    }

    /// [`crate::StoreTx::save_subscription_state`].
    pub(crate) async fn save_subscription_state(
        &mut self,
        state: &crate::SubscriptionState,
        numbered: &[(i64, i64)],
        from_status: &str,
    ) -> Result<bool, StoreError> {
        crate::subscriptions::save::<B>(&mut self.tx, &self.tenant, state, numbered, from_status)
            .await
    }

    /// [`crate::StoreTx::advance_feed`].
    pub(crate) async fn advance_feed(
        &mut self,
        resource_type: &str,
        applied: i64,
        committed_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let now = chrono::Utc::now().timestamp_micros();
        let sql = crate::upstream::advance(
            self.tenant.as_str(),
            resource_type,
            applied,
            committed_at,
            now,
        );
        Ok(B::Db::execute(&mut self.tx, &sql).await? > 0)
    }

    /// [`crate::StoreTx::execute_sql`].
    pub(crate) async fn execute_sql(
        &mut self,
        sql: &crate::search::Sql,
    ) -> Result<u64, StoreError> {
        Ok(B::Db::execute(&mut self.tx, sql).await?)
    }

    /// [`crate::StoreTx::fetch_rows`].
    pub(crate) async fn fetch_rows<T: crate::db::FromCols>(
        &mut self,
        sql: &crate::search::Sql,
    ) -> Result<Vec<T>, StoreError> {
        Ok(B::Db::fetch_all(&mut self.tx, sql).await?)
    }

    /// [`crate::StoreTx::event_retention_days`].
    pub(crate) async fn event_retention_days(&mut self) -> Result<i64, StoreError> {
        let sql = crate::events::retention_of(self.tenant.as_str());
        let row: Option<(i64,)> = B::Db::fetch_optional(&mut self.tx, &sql).await?;
        Ok(row.map_or(crate::DEFAULT_RETENTION_DAYS, |(d,)| d))
    }

    /// [`crate::StoreTx::set_event_retention_days`].
    pub(crate) async fn set_event_retention_days(&mut self, days: i64) -> Result<(), StoreError> {
        let sql = crate::events::set_retention(self.tenant.as_str(), days.max(1));
        B::Db::execute(&mut self.tx, &sql).await?;
        Ok(())
    }

    /// [`crate::StoreTx::trim_events`].
    pub(crate) async fn trim_events(
        &mut self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError> {
        let days = self.event_retention_days().await?;
        let cutoff = (now - chrono::Duration::days(days)).timestamp_micros();
        let sql = crate::events::trim(self.tenant.as_str(), cutoff);
        let trimmed = B::Db::execute(&mut self.tx, &sql).await?;
        if trimmed > 0 {
            let numbered = crate::events::trim_numbered(self.tenant.as_str());
            B::Db::execute(&mut self.tx, &numbered).await?;
        }
        Ok(trimmed)
    }

    /// [`crate::StoreTx::restriction_settings`].
    pub(crate) async fn restriction_settings(&mut self) -> Result<restrict::Settings, StoreError> {
        let sql = crate::restricted::settings_of(self.tenant.as_str());
        let row: Option<(String,)> = B::Db::fetch_optional(&mut self.tx, &sql).await?;
        match row {
            None => Ok(restrict::Settings::default()),
            Some((text,)) => serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("restriction settings: {e}"))),
        }
    }

    /// [`crate::StoreTx::set_restriction_settings`].
    pub(crate) async fn set_restriction_settings(
        &mut self,
        settings: &restrict::Settings,
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(settings)
            .map_err(|e| StoreError::Corrupt(format!("restriction settings: {e}")))?;
        let sql = crate::restricted::set_settings(self.tenant.as_str(), &text);
        B::Db::execute(&mut self.tx, &sql).await?;
        Ok(())
    }

    /// [`crate::StoreTx::touch_networks`].
    pub(crate) async fn touch_networks(
        &mut self,
        networks: &[&str],
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        for sql in crate::networks::touch(self.tenant.as_str(), networks, at) {
            B::Db::execute(&mut self.tx, &sql).await?;
        }
        Ok(())
    }

    /// [`crate::StoreTx::labelled`].
    pub(crate) async fn labelled(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        let sql = crate::restricted::labelled(self.tenant.as_str());
        Ok(B::Db::fetch_all(&mut self.tx, &sql).await?)
    }

    /// [`crate::StoreTx::citing`].
    pub(crate) async fn citing(
        &mut self,
        consent: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let sql = crate::restricted::citing(self.tenant.as_str(), consent);
        Ok(B::Db::fetch_all(&mut self.tx, &sql).await?)
    }

    /// [`crate::StoreTx::lock_condition`] with the key hashed.
    pub(crate) async fn lock_condition(
        &mut self,
        key: i64,
        shared: bool,
    ) -> Result<(), StoreError> {
        B::lock_condition(&mut self.tx, key, shared).await
    }

    pub(crate) async fn write(&mut self, req: WriteRequest) -> Result<WriteOutcome, StoreError> {
        self.write_indexed(req, &[], &crate::search::NOT_HIDDEN)
            .await
    }

    /// A write whose index rows (replacing the previous version's) are saved in the same
    /// transaction.
    pub(crate) async fn write_indexed(
        &mut self,
        req: WriteRequest,
        index: &[search::IndexEntry],
        hidden: &crate::restricted::HiddenRows,
    ) -> Result<WriteOutcome, StoreError> {
        self.writes += 1;
        let tenant = &self.tenant;
        let conn: &mut Conn<B> = &mut self.tx;
        for _ in 0..common::MAX_WRITE_ATTEMPTS {
            // READ COMMITTED on Postgres: each statement sees the latest commits, so a retry
            // re-reads the winner's row (and this transaction's own earlier writes).
            let current = rows::current_row::<B>(conn, tenant, &req.resource_type, &req.id).await?;
            let new = common::prepare_write(current.as_ref(), &req)?;
            let row = NewRow {
                version: new.version,
                deleted: false,
                last_updated: new.last_updated,
                method: req.method,
                content: Some(&new.body),
            };
            let (rt, id) = (&req.resource_type, &req.id);
            if !rows::compare_and_swap::<B>(conn, tenant, rt, id, current.as_ref(), &row).await? {
                if req.precondition != Precondition::None {
                    return Err(common::lost_race(req.precondition, rt, id));
                }
                continue;
            }
            // The new version's index rows replace the previous version's, in this
            // transaction: a search never sees a resource with another version's values.
            // A live current version may have rows; none (or a tombstone) has none.
            let replace = current.as_ref().is_some_and(|c| !c.deleted);
            run::write_index_rows::<B>(conn, tenant, rt, id, index, hidden, replace).await?;
            let action = change_action(new.kind);
            self.changed(rt, id, new.version, req.method, new.last_updated, action);
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
        self.writes += 1;
        let tenant = &self.tenant;
        let conn: &mut Conn<B> = &mut self.tx;
        for _ in 0..common::MAX_WRITE_ATTEMPTS {
            let Some(current) = rows::current_row::<B>(conn, tenant, resource_type, id).await?
            else {
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
            let current = Some(&current);
            if !rows::compare_and_swap::<B>(conn, tenant, resource_type, id, current, &tombstone)
                .await?
            {
                if precondition != Precondition::None {
                    return Err(common::lost_race(precondition, resource_type, id));
                }
                continue;
            }
            run::delete_index_rows::<B>(conn, tenant, resource_type, id).await?;
            let (method, action) = (Method::Delete, crate::ChangeAction::Delete);
            self.changed(resource_type, id, version, method, last_updated, action);
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
        self.writes += writes.len() as u64;
        let requests: Vec<&WriteRequest> = writes.iter().map(|w| &w.request).collect();
        let mut planned_all: Vec<Option<Planned>> = Vec::with_capacity(writes.len());
        for run in plan::runs(&requests, B::ROWS_PER_RUN) {
            let run_reqs = &requests[run.clone()];
            let currents = B::current_rows(&mut self.tx, &self.tenant, run_reqs, on_unchanged);
            let currents = currents.await?;
            let planned = plan::plan_run(run_reqs, &currents, on_unchanged)?;
            let raced = B::save_run(&mut self.tx, &self.tenant, run_reqs, &planned).await?;
            // Unchanged resources keep their rows: rewriting them (~25 rows per directory
            // resource) would make a rerun as slow as the first import. Rows from an older
            // extractor are the reindex job's business (`Store::reindex_many`).
            let indexed: Vec<(&BatchWrite, bool)> = writes[run.clone()]
                .iter()
                .zip(&planned)
                .enumerate()
                .filter(|(i, _)| !raced.contains(i))
                .filter_map(|(_, (w, p))| Some((w, replaces_rows(p)?)))
                .collect();
            write_batch_index_rows::<B>(&mut self.tx, &self.tenant, &indexed).await?;
            for (i, p) in planned.into_iter().enumerate() {
                planned_all.push(if raced.contains(&i) { None } else { Some(p) });
            }
        }
        let mut outcomes = Vec::with_capacity(writes.len());
        for (w, p) in writes.into_iter().zip(planned_all) {
            outcomes.push(match p {
                Some(Planned::Unchanged(record)) => plan::unchanged_outcome(record),
                Some(Planned::Write { new, .. }) => {
                    let r = &w.request;
                    let action = change_action(new.kind);
                    self.changed(
                        &r.resource_type,
                        &r.id,
                        new.version,
                        r.method,
                        new.last_updated,
                        action,
                    );
                    plan::written(plan::outcome(w.request, new)?)
                }
                // Created concurrently after we planned: the single path re-reads and
                // applies the precondition to what is there now.
                None => {
                    let out = self.write(w.request.clone()).await?;
                    write_batch_index_rows::<B>(&mut self.tx, &self.tenant, &[(&w, true)]).await?;
                    plan::written(out)
                }
            });
        }
        Ok(outcomes)
    }
}

/// A written version's change: a first version (or one after a delete) is a create.
fn change_action(kind: crate::WriteKind) -> crate::ChangeAction {
    match kind {
        crate::WriteKind::Created => crate::ChangeAction::Create,
        crate::WriteKind::Updated => crate::ChangeAction::Update,
    }
}

/// Saves the index rows of the written resources of a batch, on the batch's transaction
/// (replacing their previous rows; a resource written twice keeps its last entries).
async fn write_batch_index_rows<B: Backend>(
    conn: &mut Conn<B>,
    tenant: &TenantName,
    writes: &[(&BatchWrite, bool)],
) -> Result<(), StoreError> {
    let resources: Vec<crate::IndexedResource<'_>> = writes
        .iter()
        .map(|(w, _)| crate::IndexedResource {
            resource_type: &w.request.resource_type,
            id: &w.request.id,
            entries: &w.index,
            hidden: &w.hidden,
        })
        .collect();
    let replace: Vec<bool> = writes.iter().map(|(_, replace)| *replace).collect();
    run::write_bulk::<B>(conn, tenant, &resources, &replace).await
}
