//! The resource store: every piece of SQL in fhirdir lives in this crate.
//!
//! One API ([`Store`]), two backends: SQLite (the embedded default) and Postgres. Every call
//! takes the tenant first and there is no call that reaches across tenants ("no escape
//! hatch"). Each write is one SQL transaction that saves the current version, the history
//! row (which doubles as the change-event log, ordered by `seq`) and the search index rows
//! (`search`), so a search never sees a version other than the current one.
//!
//! Schema rules (DESIGN.md section 3): every primary and unique key begins with the tenant and
//! no foreign key crosses tenants, so Postgres can be sharded by tenant.

/// Runs `$e` with `$s` bound to the backend's store type: the one place where a [`Store`]
/// call turns into the shared code's monomorphised copy for its backend
/// ([`backend::Backend`]).
/// `dispatch!(Inner, value, t => ...)` does the same for another enum with the same two
/// variants (an open transaction).
macro_rules! dispatch {
    ($store:expr, $s:ident => $e:expr) => {
        dispatch!($crate::Store, $store, $s => $e)
    };
    ($enum:path, $value:expr, $s:ident => $e:expr) => {{
        use $enum as Backends;
        match $value {
            Backends::Sqlite($s) => $e,
            Backends::Postgres($s) => $e,
        }
    }};
}

mod auth;
mod backend;
mod bulk_load;
mod common;
mod db;
mod error;
mod events;
mod export;
mod harvest;
mod held;
mod jobs;
mod migrate;
mod model;
mod networks;
mod ops;
mod postgres;
mod references;
mod reindex;
mod restricted;
mod rows;
mod scope;
mod search;
mod settings;
mod sqlite;
mod subscriptions;
mod tx;
mod upstream;
mod verification;

use backend::Backend;

pub use auth::{AuthEvent, AuthEventFilter, AuthRecord, SigningKeyRow, UdapIdentity};
pub use error::StoreError;
pub use events::{
    Agent, ChangeAction, ChangeEvent, EventFilter, EventOrder, DEFAULT_RETENTION_DAYS,
};
pub use export::{ExportChunk, ExportPage, ExportWindow};
pub use harvest::{HarvestedRow, SourceRow};
pub use jobs::{Job, JobState, NewJob};
pub use model::*;
pub use reindex::ReindexItem;
pub use restrict::Viewer;
pub use restricted::{HiddenRows, RestrictionWrite};
pub use scope::Scope;
pub use search::{
    IndexedResource, PageCursor, PageDirection, RoleQuery, RoleRow, RoleStart, SearchPage,
    SortValue, DEFAULT_NEAR_KM, NOT_HIDDEN,
};
pub use subscriptions::SubscriptionState;
pub use tx::{BatchOutcome, BatchWrite, OnUnchanged, StoreTx};
pub use upstream::{Feed, Upstream};
pub use verification::{Due, Schedule};

/// Connection options shared by both backends.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Upper bound of pooled connections (readers, for SQLite).
    pub max_connections: u32,
    /// Run migrations when connecting.
    pub migrate: bool,
    /// Postgres: the longest a caller waits for a pooled connection, connecting included,
    /// before [`StoreError::is_unavailable`] (503). An unreachable database answers after this
    /// long rather than after sqlx's 30 s. SQLite ignores it: an embedded file cannot become
    /// unreachable, and its one writer is waited for as long as sqlx allows.
    pub acquire_timeout: std::time::Duration,
    /// The longest one statement may run before the database cancels it
    /// ([`StoreError::is_timeout`]); `None`: no limit (bulk loads, index builds). Postgres
    /// applies it (`statement_timeout`) to searches, history pages and write transactions;
    /// SQLite (a progress handler) to searches only; its history pages and writes run without
    /// one (writes are bounded by the server's per-request limits instead).
    pub statement_timeout: Option<std::time::Duration>,
}

impl StoreOptions {
    /// [`StoreOptions::acquire_timeout`] when none is configured.
    pub const DEFAULT_ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            migrate: true,
            acquire_timeout: Self::DEFAULT_ACQUIRE_TIMEOUT,
            statement_timeout: None,
        }
    }
}

/// The store, dispatching to the backend chosen by the database URL.
///
/// An enum rather than `dyn Trait` keeps the async methods plain and lets the compiler see
/// through the dispatch on the hot read path.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

impl Store {
    /// Opens `url` (`sqlite://path`, `sqlite::memory:`, `postgres://...`), creating the SQLite
    /// file and its directory when missing, and applies migrations when `opts.migrate`.
    pub async fn connect(url: &str, opts: &StoreOptions) -> Result<Store, StoreError> {
        // Several processes creating one new SQLite file at once can meet SQLite's busy answer
        // outside any busy handler (the journal-mode switch, a schema read while another
        // process migrates); it passes as soon as the other is done, so a start retries.
        let mut attempt = 0;
        loop {
            match Store::connect_once(url, opts).await {
                Err(e) if e.is_sqlite_busy() && attempt < CONNECT_RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
                }
                result => return result,
            }
        }
    }

    async fn connect_once(url: &str, opts: &StoreOptions) -> Result<Store, StoreError> {
        let store = if url.starts_with("sqlite:") {
            Store::Sqlite(sqlite::SqliteStore::connect(url, opts).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Store::Postgres(postgres::PgStore::connect(url, opts).await?)
        } else {
            return Err(StoreError::UnsupportedUrl(redact(url)));
        };
        if opts.migrate {
            store.migrate().await?;
            // Indexes an interrupted bulk load left deferred (none: one cheap query).
            store.build_deferred_indexes().await?;
        }
        Ok(store)
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        fn name<B: Backend>(_: &B) -> &'static str {
            B::NAME
        }
        dispatch!(self, s => name(s))
    }

    /// Applies pending migrations (idempotent; safe with several processes starting at once)
    /// and makes sure tenant `default` exists.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        dispatch!(self, s => s.migrate().await)
    }

    /// Ready means: the database answers and every migration this binary knows is applied.
    pub async fn ready(&self) -> Result<(), StoreError> {
        dispatch!(self, s => s.ready().await)
    }

    /// Pool gauges for `/metrics`.
    pub fn pool_stats(&self) -> PoolStats {
        dispatch!(self, s => s.pool_stats())
    }

    /// Closes the pools (graceful shutdown).
    pub async fn close(&self) {
        dispatch!(self, s => s.close().await)
    }

    // ---- tenants ----

    pub async fn create_tenant(&self, tenant: &TenantName) -> Result<bool, StoreError> {
        dispatch!(self, s => s.create_tenant(tenant).await)
    }

    pub async fn list_tenants(&self) -> Result<Vec<TenantInfo>, StoreError> {
        dispatch!(self, s => s.list_tenants().await)
    }

    /// Deletes the tenant and everything it holds. `default` cannot be deleted.
    pub async fn delete_tenant(&self, tenant: &TenantName) -> Result<bool, StoreError> {
        dispatch!(self, s => s.delete_tenant(tenant).await)
    }

    pub async fn tenant_exists(&self, tenant: &TenantName) -> Result<bool, StoreError> {
        dispatch!(self, s => s.tenant_exists(tenant).await)
    }

    // ---- resources ----

    /// The current version of a resource (a tombstone when it was deleted), or `None` when
    /// the id never existed in this tenant.
    ///
    /// Like every call on a tenant's resources, it acts within a [`Scope`] (a request's, or
    /// a bare tenant name for the whole tenant).
    pub async fn read(
        &self,
        scope: impl Into<Scope<'_>>,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<VersionRecord>, StoreError> {
        dispatch!(self, s => s.read(scope.into(), resource_type, id).await)
    }

    /// One version of a resource.
    pub async fn vread(
        &self,
        scope: impl Into<Scope<'_>>,
        resource_type: &str,
        id: &str,
        version: i64,
    ) -> Result<Option<VersionRecord>, StoreError> {
        dispatch!(self, s => s.vread(scope.into(), resource_type, id, version).await)
    }

    /// Creates or updates one resource in one transaction (see [`WriteRequest`]).
    pub async fn write(
        &self,
        scope: impl Into<Scope<'_>>,
        req: WriteRequest,
    ) -> Result<WriteOutcome, StoreError> {
        let tenant = scope.into().tenant();
        dispatch!(self, s => s.write(tenant, req).await)
    }

    /// Creates or updates one resource and saves its search index rows, in one transaction.
    pub async fn write_indexed(
        &self,
        scope: impl Into<Scope<'_>>,
        req: WriteRequest,
        index: &[::search::IndexEntry],
    ) -> Result<WriteOutcome, StoreError> {
        let tenant = scope.into().tenant();
        let mut tx = self.begin(tenant).await?;
        let outcome = tx.write_indexed(req, index, &NOT_HIDDEN).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Deletes (tombstones) one resource in one transaction.
    pub async fn delete(
        &self,
        scope: impl Into<Scope<'_>>,
        resource_type: &str,
        id: &str,
        precondition: Precondition,
    ) -> Result<DeleteOutcome, StoreError> {
        let tenant = scope.into().tenant();
        dispatch!(self, s => s.delete(tenant, resource_type, id, precondition).await)
    }

    /// A page of history, newest first.
    pub async fn history(
        &self,
        scope: impl Into<Scope<'_>>,
        query: &HistoryQuery,
    ) -> Result<HistoryPage, StoreError> {
        dispatch!(self, s => s.history(scope.into(), query).await)
    }
}

/// How often [`Store::connect`] retries a start that met SQLite's busy answer.
const CONNECT_RETRIES: u64 = 10;

/// Hides a password in a database URL before it reaches logs or errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
