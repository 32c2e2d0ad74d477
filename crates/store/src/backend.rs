//! The store's one seam between shared rules and backend code: [`Backend`].
//!
//! The write rules (`tx/rules.rs`), the search driver (`search/run.rs`), reads, history,
//! tenants, the job queue and migrations are written once, generic over `B: Backend`; each
//! backend folder (`sqlite/`, `postgres/`) implements the trait on its store type with what
//! really differs: which pool and which `BEGIN` a transaction takes, how a tenant or a
//! condition is locked, how a batch of writes is read and saved, how index rows are bulk
//! inserted, and how a search's statement timeout is enforced. Statements the two backends
//! share are [`crate::search::Sql`] fragments, rendered per dialect and run through
//! [`SqlDb`].
//!
//! Static dispatch only: [`crate::Store`] matches on its backend once per call and then runs
//! a monomorphised copy of the shared code, so the read and search paths cost what the
//! hand-written per-backend code did (no `dyn`, no boxing).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Duration;

use sqlx::{Database, Pool};

use crate::db::SqlDb;
use crate::held::Held;
use crate::migrate::Migration;
use crate::search::{IndexedResource, SearchCaches};
use crate::tx::plan::{CurrentRow, Key, Planned};
use crate::{OnUnchanged, StoreError, TenantName, VersionRecord, WriteRequest};

/// A connection of backend `B`.
pub(crate) type Conn<B> = <<B as Backend>::Db as Database>::Connection;

/// What one storage backend provides to the shared store code (see the module docs).
pub(crate) trait Backend: std::fmt::Debug + Clone + Send + Sync + 'static {
    /// The sqlx database.
    type Db: SqlDb;

    /// `"sqlite"` or `"postgres"` ([`crate::Store::backend`]).
    const NAME: &'static str;

    /// The embedded migrations, in version order.
    const MIGRATIONS: &'static [Migration];

    /// Opens the migration transaction, keeping other migrating processes out until it ends.
    const MIGRATION_BEGIN: &'static str;

    /// One `bool`: whether the migration ledger table exists (never migrated: false).
    const HAS_LEDGER: &'static str;

    /// Resources per run of a batch write ([`crate::StoreTx::write_batch`]): bounds the rows
    /// read, locked and bound per statement.
    const ROWS_PER_RUN: usize;

    /// How a history row's `seq` is assigned, when the database does not do it: SQL for the
    /// `seq` value of an `INSERT INTO resource_versions`, or `None` (an identity column).
    const NEXT_SEQ: Option<&'static str>;

    /// What [`crate::Store::optimize_after_bulk_load`] runs on each index table and
    /// `resources`: the statement, the table name follows.
    const OPTIMIZE_AFTER_LOAD: &'static str;

    /// Whether the store runs `ANALYZE` after a tenant's write bursts
    /// (`search::statistics`): Postgres plans go wrong without statistics; SQLite's do not,
    /// and its `ANALYZE` would hold the one writer while it reads whole tables.
    const ANALYZE_AFTER_WRITES: bool;

    /// What [`Backend::limit_search`] leaves for [`Backend::search_finished`].
    type SearchLimit: Send;

    /// The pool reads run on outside a transaction.
    fn reader(&self) -> &Pool<Self::Db>;

    /// The pool writes run on outside a [`crate::StoreTx`] (the job queue, tenants, bulk
    /// loads, migrations).
    fn writer(&self) -> &Pool<Self::Db>;

    /// What this store's searches reuse (walk probe answers, accurate counts).
    fn caches(&self) -> &SearchCaches;

    /// [`crate::StoreOptions::statement_timeout`].
    fn statement_timeout(&self) -> Option<Duration>;

    /// A read answered without a pooled connection, where the backend has such a path
    /// (SQLite's point reads); `None`: read through [`Backend::reader`].
    fn point_read(
        &self,
        _scope: crate::Scope<'_>,
        _resource_type: &str,
        _id: &str,
    ) -> Option<Result<Option<VersionRecord>, StoreError>> {
        None
    }

    /// [`Backend::point_read`] for `vread`.
    fn point_vread(
        &self,
        _scope: crate::Scope<'_>,
        _resource_type: &str,
        _id: &str,
        _version: i64,
    ) -> Option<Result<Option<VersionRecord>, StoreError>> {
        None
    }

    /// A search answered without the pools (SQLite's inline connections, see
    /// `sqlite/direct_search.rs`); `None`: "not answered here", run it the usual way.
    fn direct_search(
        &self,
        _scope: crate::Scope<'_>,
        _query: &search::SearchQuery,
        _registry: &conformance::Registry,
        _cursor: Option<&crate::PageCursor>,
    ) -> Option<Result<crate::search::SearchPage, StoreError>> {
        None
    }

    /// Opens a write transaction on the writer, with `timeout` as its statement timeout
    /// where the backend enforces one on writes.
    fn begin_write(
        &self,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<Held<Self::Db>, StoreError>> + Send;

    /// Opens a read-only transaction whose statements all see one snapshot (a search, a
    /// history page), with the statement timeout where the backend applies it there.
    fn begin_read(&self) -> impl Future<Output = Result<Held<Self::Db>, StoreError>> + Send;

    /// Starts enforcing the statement timeout on a search's connection, where
    /// [`Backend::begin_read`] did not already.
    fn limit_search(
        &self,
        conn: &mut Conn<Self>,
    ) -> impl Future<Output = Result<Self::SearchLimit, StoreError>> + Send;

    /// The search ended well: lifts what [`Backend::limit_search`] installed.
    fn search_finished(limit: Self::SearchLimit);

    /// Checks that `tenant` exists and keeps it from being deleted until the transaction
    /// ends: the tenant lock of the module docs of `tx.rs`.
    fn claim_tenant(
        conn: &mut Conn<Self>,
        tenant: &TenantName,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// [`crate::StoreTx::lock_condition`] with the key already hashed; `shared`: a lock
    /// others may hold at the same time in shared mode ([`crate::StoreTx::lock_referent`]).
    fn lock_condition(
        conn: &mut Conn<Self>,
        key: i64,
        shared: bool,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The current rows of one run of a batch (no resource twice), content only for
    /// [`OnUnchanged::KeepCurrent`]; locked until the transaction ends where other writers
    /// could otherwise change them.
    fn current_rows(
        conn: &mut Conn<Self>,
        tenant: &TenantName,
        requests: &[&WriteRequest],
        on_unchanged: OnUnchanged,
    ) -> impl Future<Output = Result<HashMap<Key, CurrentRow>, StoreError>> + Send;

    /// Saves one planned run (current rows and history rows, `seq` in request order);
    /// answers the positions of new resources a concurrent transaction created first, which
    /// were not written (the shared code writes them through the single-write path).
    fn save_run(
        conn: &mut Conn<Self>,
        tenant: &TenantName,
        requests: &[&WriteRequest],
        planned: &[Planned],
    ) -> impl Future<Output = Result<HashSet<usize>, StoreError>> + Send;

    /// Keeps writers out of the tables a bulk load defers the indexes of, until the
    /// transaction ends (`crate::bulk_load`).
    fn lock_for_defer(conn: &mut Conn<Self>)
        -> impl Future<Output = Result<(), StoreError>> + Send;

    /// `(name, CREATE INDEX statement)` of every secondary index of the deferrable tables
    /// (not those of primary or unique keys), by name.
    fn secondary_indexes(
        conn: &mut Conn<Self>,
    ) -> impl Future<Output = Result<Vec<(String, String)>, StoreError>> + Send;

    /// Builds the deferred `indexes` (with `crate::bulk_load::build_list`), however suits
    /// the database; answers how many it built.
    fn build_indexes(
        &self,
        indexes: Vec<(String, String)>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Appends the index rows of `resources` (their old rows are already deleted).
    fn insert_index_rows(
        conn: &mut Conn<Self>,
        tenant: &TenantName,
        resources: &[IndexedResource<'_>],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
