//! The SQLite backend, the embedded default: [`SqliteStore`] and its [`Backend`] impl (the
//! shared rules run on it; this folder holds what only SQLite does: the multi-row batch path
//! in [`tx`], the search [`deadline`], [`point_read`]s, background [`checkpointer`] and the
//! schema side of deferred index builds in [`bulk_load`]).
//!
//! Two pools on one file in WAL mode: a writer pool with exactly one connection whose
//! transactions start with `BEGIN IMMEDIATE` (the write lock is taken up front, so two writers
//! never deadlock upgrading a read lock, even when another process such as the CLI writes the
//! same file; `busy_timeout` makes them queue), and a reader pool for everything else. WAL
//! lets readers proceed while the writer commits. `synchronous=NORMAL` keeps every committed
//! transaction across a process crash (only an OS crash may lose the last ones).
//!
//! `sqlite::memory:` uses one shared connection for both roles, since a private in-memory
//! database exists only inside its connection.
//!
//! `read` and `vread` on a file first try [`point_read`]: a few read-only connections used
//! inline on the calling task, without the thread hand-offs of sqlx's SQLite driver;
//! searches first try the same connections within a time budget ([`direct_search`]).

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use std::collections::{HashMap, HashSet};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection};

use crate::backend::Backend;
use crate::db::{SqlDb, SqlDialect};
use crate::held::Held;
use crate::migrate::{self, Migration};
use crate::rows;
use crate::search::{insert_statements, Dialect, IndexedResource, SearchCaches};
use crate::tx::plan::{CurrentRow, Key, Planned};
use crate::{
    redact, OnUnchanged, PoolStats, StoreError, StoreOptions, TenantName, VersionRecord,
    WriteRequest,
};
use deadline::Deadline;

mod bulk_load;
mod checkpointer;
pub(crate) mod deadline;
mod direct_search;
mod point_read;
mod tx;

/// How long a connection waits for another connection's (or process's) write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The writer's automatic checkpoint threshold in pages (4 KiB): 256 MiB of WAL. Only a
/// backstop: [`checkpointer`] copies the WAL back in the background long before.
const WRITER_AUTOCHECKPOINT: &str = "65536";

/// Without the background checkpointer (a custom VFS): every 32 MiB of WAL rather than
/// SQLite's 4 MiB, so that a page written many times between checkpoints is copied once.
const WRITER_AUTOCHECKPOINT_ALONE: &str = "8192";

/// The writer's page cache: `cache_size` in KiB when negative (128 MiB).
const WRITER_CACHE_KIB: &str = "-131072";

/// Each reader's page cache (32 MiB, filled only as pages are read; 512 MiB at most for
/// the default 16 readers). With SQLite's default 2 MiB a search at 1M resources re-reads
/// through the OS most of the index pages its thousands of lookups touch: the provider
/// finder's name-and-city candidate statement took 36 ms with 2 MiB and 27 ms with 64 MiB
/// (one connection, the statement repeated).
const READER_CACHE_KIB: &str = "-32768";

/// The SQLite store: one writer connection, a pool of readers. Its methods are the
/// [`crate::Store`] methods of the same name, documented there.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// True when `reader` and `writer` are the same pool (in-memory databases).
    shared: bool,
    /// The fast path for `read`/`vread`; `None` for in-memory databases.
    point: Option<Arc<point_read::PointReader>>,
    /// Searches on `point`'s connections.
    direct: Arc<direct_search::DirectSearch>,
    /// Background WAL checkpoints; `None` for in-memory databases and custom VFSes, and
    /// once closed.
    checkpointer: Arc<std::sync::Mutex<Option<checkpointer::Checkpointer>>>,
    /// What this store's searches reuse (walk probe answers, accurate counts).
    caches: Arc<SearchCaches>,
    /// [`StoreOptions::statement_timeout`].
    statement_timeout: Option<std::time::Duration>,
}

impl SqliteStore {
    /// Opens (and creates when missing) the database file named by `url`.
    pub async fn connect(url: &str, opts: &StoreOptions) -> Result<SqliteStore, StoreError> {
        let base = SqliteConnectOptions::from_str(url)
            .map_err(|_| StoreError::UnsupportedUrl(redact(url)))?
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Normal);
        if is_memory(url) {
            // The database lives as long as its one connection: never let the pool retire it.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(base)
                .await?;
            return Ok(SqliteStore {
                writer: pool.clone(),
                reader: pool,
                shared: true,
                point: None,
                direct: Arc::default(),
                checkpointer: Arc::default(),
                caches: Arc::default(),
                statement_timeout: opts.statement_timeout,
            });
        }
        create_parent_dir(base.get_filename())?;
        // The writer connects first: it creates the file and switches it to WAL, which is
        // persistent, so readers need not (and must not race to) change the journal mode.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                base.clone()
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // The default 2 MiB page cache made an import mostly re-reading index
                    // pages it had just evicted (`readDbPage` under `BtreeIndexMoveto` in
                    // the profile): each resource touches ~50 index btrees' leaves.
                    .pragma("cache_size", WRITER_CACHE_KIB)
                    .pragma(
                        "wal_autocheckpoint",
                        if names_vfs(url) {
                            WRITER_AUTOCHECKPOINT_ALONE
                        } else {
                            WRITER_AUTOCHECKPOINT
                        },
                    )
                    .pragma("temp_store", "memory"),
            )
            .await?;
        // One point-read connection per thread that can run a read at once (tokio's default
        // worker count), within the configured bound; more would sit idle.
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let point_size = workers.min(usize::try_from(opts.max_connections).unwrap_or(usize::MAX));
        let point = if names_vfs(url) {
            // A custom VFS is registered with sqlx's connections only: leave reads to them.
            None
        } else {
            match point_read::PointReader::open(base.get_filename(), point_size) {
                Ok(p) => Some(Arc::new(p)),
                // Only a missed optimisation: every read can still go through `reader`.
                Err(e) => {
                    tracing::warn!(error = %e, "SQLite point-read connections unavailable");
                    None
                }
            }
        };
        let checkpointer = if names_vfs(url) {
            None
        } else {
            match checkpointer::Checkpointer::start(base.get_filename()) {
                Ok(c) => Some(c),
                Err(e) => {
                    // The writer's own automatic checkpoint still bounds the WAL.
                    tracing::warn!(error = %e, "SQLite background checkpoints unavailable");
                    None
                }
            }
        };
        let reader = SqlitePoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .connect_with(
                base.pragma("query_only", "ON")
                    .pragma("cache_size", READER_CACHE_KIB),
            )
            .await?;
        Ok(SqliteStore {
            writer,
            reader,
            shared: false,
            point,
            direct: Arc::default(),
            checkpointer: Arc::new(std::sync::Mutex::new(checkpointer)),
            caches: Arc::default(),
            statement_timeout: opts.statement_timeout,
        })
    }

    pub fn pool_stats(&self) -> PoolStats {
        let (mut size, mut idle) = (self.writer.size(), to_u32(self.writer.num_idle()));
        if !self.shared {
            size += self.reader.size();
            idle += to_u32(self.reader.num_idle());
        }
        PoolStats { size, idle }
    }

    pub async fn close(&self) {
        if let Some(point) = &self.point {
            point.close();
        }
        let checkpointer = self
            .checkpointer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(c) = checkpointer {
            // Dropping it joins the thread, which may be inside a checkpoint: not on a worker.
            let _ = tokio::task::spawn_blocking(move || drop(c)).await;
        }
        self.reader.close().await;
        self.writer.close().await;
    }
}

crate::ops::store_api!(SqliteStore);

impl SqlDialect for Sqlite {
    const DIALECT: Dialect = Dialect::Sqlite;

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }
}

impl Backend for SqliteStore {
    type Db = Sqlite;
    const NAME: &'static str = "sqlite";
    const MIGRATIONS: &'static [Migration] = migrate::SQLITE;
    // The write lock from the start: concurrent starters wait, then find nothing to apply.
    const MIGRATION_BEGIN: &'static str = "BEGIN IMMEDIATE";
    const HAS_LEDGER: &'static str = "SELECT EXISTS (SELECT 1 FROM sqlite_master \
         WHERE type = 'table' AND name = 'fhirdir_migrations')";
    const ROWS_PER_RUN: usize = tx::ROWS_PER_STATEMENT;
    // Writes are serialised by BEGIN IMMEDIATE, so MAX(seq) + 1 cannot be taken twice.
    const NEXT_SEQ: Option<&'static str> =
        Some("(SELECT COALESCE(MAX(seq), 0) + 1 FROM resource_versions)");
    // Fills `sqlite_stat1` for the query planner.
    const OPTIMIZE_AFTER_LOAD: &'static str = "ANALYZE ";
    const ANALYZE_AFTER_WRITES: bool = false;
    type SearchLimit = Option<Deadline>;

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    fn caches(&self) -> &SearchCaches {
        &self.caches
    }

    fn statement_timeout(&self) -> Option<Duration> {
        self.statement_timeout
    }

    fn point_read(
        &self,
        scope: crate::Scope<'_>,
        resource_type: &str,
        id: &str,
    ) -> Option<Result<Option<VersionRecord>, StoreError>> {
        self.point.as_ref()?.read(scope, resource_type, id)
    }

    fn point_vread(
        &self,
        scope: crate::Scope<'_>,
        resource_type: &str,
        id: &str,
        version: i64,
    ) -> Option<Result<Option<VersionRecord>, StoreError>> {
        self.point
            .as_ref()?
            .vread(scope, resource_type, id, version)
    }

    fn direct_search(
        &self,
        scope: crate::Scope<'_>,
        query: &search::SearchQuery,
        registry: &conformance::Registry,
        cursor: Option<&crate::PageCursor>,
    ) -> Option<Result<crate::search::SearchPage, StoreError>> {
        let point = self.point.as_deref()?;
        let timeout = self.statement_timeout;
        self.direct
            .search(point, &self.caches, timeout, scope, query, registry, cursor)
    }

    /// `BEGIN IMMEDIATE` on the one writer: every other writer waits until it ends. No
    /// statement timeout (writes are bounded by the server's per-request limits instead).
    async fn begin_write(&self, _timeout: Option<Duration>) -> Result<Held<Sqlite>, StoreError> {
        Held::begin(&self.writer, "BEGIN IMMEDIATE").await
    }

    /// A deferred transaction on a reader: WAL gives it one snapshot from its first read.
    async fn begin_read(&self) -> Result<Held<Sqlite>, StoreError> {
        Held::begin(&self.reader, "BEGIN").await
    }

    async fn limit_search(
        &self,
        conn: &mut SqliteConnection,
    ) -> Result<Option<Deadline>, StoreError> {
        match self.statement_timeout {
            Some(limit) => Ok(Some(Deadline::install(conn, limit).await?)),
            None => Ok(None),
        }
    }

    fn search_finished(limit: Option<Deadline>) {
        if let Some(d) = limit {
            d.finish();
        }
    }

    /// `BEGIN IMMEDIATE` already keeps `delete_tenant` out until this transaction ends: a
    /// check is enough.
    async fn claim_tenant(
        conn: &mut SqliteConnection,
        tenant: &TenantName,
    ) -> Result<(), StoreError> {
        rows::require_tenant::<SqliteStore>(conn, tenant).await
    }

    /// Nothing to do: `BEGIN IMMEDIATE` made this transaction the only writer.
    async fn lock_condition(
        _conn: &mut SqliteConnection,
        _key: i64,
        _shared: bool,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    async fn current_rows(
        conn: &mut SqliteConnection,
        tenant: &TenantName,
        requests: &[&WriteRequest],
        on_unchanged: OnUnchanged,
    ) -> Result<HashMap<Key, CurrentRow>, StoreError> {
        tx::current_rows(conn, tenant, requests, on_unchanged).await
    }

    /// Never a race to report: no other writer runs while this transaction holds the lock.
    async fn save_run(
        conn: &mut SqliteConnection,
        tenant: &TenantName,
        requests: &[&WriteRequest],
        planned: &[Planned],
    ) -> Result<HashSet<usize>, StoreError> {
        tx::save_run(conn, tenant, requests, planned).await?;
        Ok(HashSet::new())
    }

    /// Nothing to do: `BEGIN IMMEDIATE` keeps every other writer out.
    async fn lock_for_defer(_conn: &mut SqliteConnection) -> Result<(), StoreError> {
        Ok(())
    }

    async fn secondary_indexes(
        conn: &mut SqliteConnection,
    ) -> Result<Vec<(String, String)>, StoreError> {
        bulk_load::secondary_indexes(conn).await
    }

    async fn build_indexes(&self, indexes: Vec<(String, String)>) -> Result<usize, StoreError> {
        bulk_load::build_indexes(&self.writer, indexes).await
    }

    /// Multi-row `INSERT`s, chunked under the bind limit.
    async fn insert_index_rows(
        conn: &mut SqliteConnection,
        tenant: &TenantName,
        resources: &[IndexedResource<'_>],
    ) -> Result<(), StoreError> {
        for sql in insert_statements(tenant.as_str(), resources) {
            Sqlite::execute(conn, &sql).await?;
        }
        Ok(())
    }
}

/// True for the URL forms sqlx treats as an in-memory database.
fn is_memory(url: &str) -> bool {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (path, params) = rest.split_once('?').unwrap_or((rest, ""));
    path == ":memory:" || params.split('&').any(|p| p == "mode=memory")
}

/// True when the URL asks for a custom SQLite VFS (`?vfs=NAME`).
fn names_vfs(url: &str) -> bool {
    url.split_once('?')
        .is_some_and(|(_, params)| params.split('&').any(|p| p.starts_with("vfs=")))
}

fn create_parent_dir(file: &Path) -> Result<(), StoreError> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Database(sqlx::Error::Configuration(
                format!("cannot create directory {}: {e}", dir.display()).into(),
            ))
        }),
        _ => Ok(()),
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_urls_are_recognised() {
        assert!(is_memory("sqlite::memory:"));
        assert!(is_memory("sqlite://:memory:"));
        assert!(is_memory("sqlite://x.db?mode=memory"));
        assert!(!is_memory("sqlite://data/fhirdir.db"));
        assert!(!is_memory("sqlite:///tmp/memory.db"));
        assert!(names_vfs("sqlite://x.db?mode=rwc&vfs=unix-dotfile"));
        assert!(!is_memory("sqlite://x.db?mode=rwc") && !names_vfs("sqlite://x.db?mode=rwc"));
    }

    #[test]
    fn url_forms_name_the_expected_file() {
        let file = |url: &str| {
            SqliteConnectOptions::from_str(url)
                .map(|o| o.get_filename().to_path_buf())
                .ok()
        };
        assert_eq!(
            file("sqlite://fhirdir-data/fhirdir.db"),
            Some("fhirdir-data/fhirdir.db".into())
        );
        assert_eq!(file("sqlite:///abs/path.db"), Some("/abs/path.db".into()));
        assert_eq!(file("sqlite:rel.db"), Some("rel.db".into()));
    }

    #[test]
    fn parent_directories_are_created() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("x/y/z.db");
        create_parent_dir(&file).expect("create");
        assert!(dir.path().join("x/y").is_dir());
        create_parent_dir(Path::new("bare.db")).expect("no parent is fine");
    }
}
