//! The SQLite backend: the embedded default.
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
//! inline on the calling task, without the thread hand-offs of sqlx's SQLite driver.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use crate::common::{self, Current};
use crate::held::Held;
use crate::search::SearchCaches;
use crate::{
    migrate, redact, DeleteOutcome, HistoryPage, HistoryQuery, Method, PoolStats, Precondition,
    StoreError, StoreOptions, TenantInfo, TenantName, VersionRecord, WriteOutcome, WriteRequest,
};

mod checkpointer;
mod point_read;
pub(crate) mod tx;

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
            .connect_with(base.pragma("query_only", "ON"))
            .await?;
        Ok(SqliteStore {
            writer,
            reader,
            shared: false,
            point,
            checkpointer: Arc::new(std::sync::Mutex::new(checkpointer)),
            caches: Arc::default(),
            statement_timeout: opts.statement_timeout,
        })
    }

    /// The reader pool (search).
    pub(crate) fn reader_pool(&self) -> &SqlitePool {
        &self.reader
    }

    /// What this store's searches reuse (walk probe answers, accurate counts).
    pub(crate) fn caches(&self) -> &SearchCaches {
        &self.caches
    }

    /// [`StoreOptions::statement_timeout`].
    pub(crate) fn statement_timeout(&self) -> Option<std::time::Duration> {
        self.statement_timeout
    }

    /// The writer pool (reindex).
    pub(crate) fn writer_pool(&self) -> &SqlitePool {
        &self.writer
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrate::run_sqlite(&self.writer).await
    }

    pub async fn ready(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        let has_ledger: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'fhirdir_migrations')",
        )
        .fetch_one(&self.reader)
        .await?;
        let applied = if has_ledger {
            sqlx::query_scalar("SELECT MAX(version) FROM fhirdir_migrations")
                .fetch_one(&self.reader)
                .await?
        } else {
            None
        };
        migrate::check_ready(migrate::SQLITE, applied)
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

    // ---- tenants ----

    pub async fn create_tenant(&self, tenant: &TenantName) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO tenants (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(chrono::Utc::now().timestamp_micros())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn list_tenants(&self) -> Result<Vec<TenantInfo>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT name, created_at FROM tenants ORDER BY name")
                .fetch_all(&self.reader)
                .await?;
        rows.into_iter()
            .map(|(name, created)| {
                Ok(TenantInfo {
                    name,
                    created_at: common::from_micros(created)?,
                })
            })
            .collect()
    }

    pub async fn delete_tenant(&self, tenant: &TenantName) -> Result<bool, StoreError> {
        if tenant.as_str() == TenantName::DEFAULT {
            return Err(StoreError::DefaultTenant);
        }
        let mut tx = Held::begin(&self.writer, "BEGIN IMMEDIATE").await?;
        for table in common::TENANT_DATA_TABLES {
            // `table` comes from a constant list, never from input.
            sqlx::query(&format!("DELETE FROM {table} WHERE tenant = $1"))
                .bind(tenant.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let done = sqlx::query("DELETE FROM tenants WHERE name = $1")
            .bind(tenant.as_str())
            .execute(&mut *tx)
            .await?;
        // The generation rows stay (and move on): a tenant created again under this name must
        // not meet counts cached for the deleted one.
        crate::search::sqlite::bump_generation(&mut tx, tenant).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn tenant_exists(&self, tenant: &TenantName) -> Result<bool, StoreError> {
        Ok(tenant_exists(&self.reader, tenant).await?)
    }

    // ---- resources ----

    pub async fn read(
        &self,
        tenant: &TenantName,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<VersionRecord>, StoreError> {
        if let Some(answer) = self
            .point
            .as_ref()
            .and_then(|p| p.read(tenant, resource_type, id))
        {
            return answer;
        }
        let row: Option<common::ReadRow> = sqlx::query_as(point_read::READ_SQL)
            .bind(tenant.as_str())
            .bind(resource_type)
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        common::read_result(row, tenant, resource_type, id)
    }

    pub async fn vread(
        &self,
        tenant: &TenantName,
        resource_type: &str,
        id: &str,
        version: i64,
    ) -> Result<Option<VersionRecord>, StoreError> {
        let fast = self.point.as_ref();
        if let Some(answer) = fast.and_then(|p| p.vread(tenant, resource_type, id, version)) {
            return answer;
        }
        let row: Option<common::VreadRow> = sqlx::query_as(point_read::VREAD_SQL)
            .bind(tenant.as_str())
            .bind(resource_type)
            .bind(id)
            .bind(version)
            .fetch_optional(&self.reader)
            .await?;
        common::vread_result(row, tenant, resource_type, id, version)
    }

    pub async fn write(
        &self,
        tenant: &TenantName,
        req: WriteRequest,
    ) -> Result<WriteOutcome, StoreError> {
        let mut tx = self.begin(tenant).await?;
        let outcome = tx.write(req).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    pub async fn delete(
        &self,
        tenant: &TenantName,
        resource_type: &str,
        id: &str,
        precondition: Precondition,
    ) -> Result<DeleteOutcome, StoreError> {
        let mut tx = self.begin(tenant).await?;
        let outcome = tx.delete(resource_type, id, precondition).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    pub async fn history(
        &self,
        tenant: &TenantName,
        query: &HistoryQuery,
    ) -> Result<HistoryPage, StoreError> {
        // Count and page from one read transaction, so the total matches the page.
        let mut tx = Held::begin(&self.reader, "BEGIN").await?;
        if !tenant_exists(&mut *tx, tenant).await? {
            tx.set_busy(false);
            return Err(StoreError::UnknownTenant(tenant.to_string()));
        }
        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM resource_versions v");
        common::push_history_where(&mut count, tenant.as_str(), query, false);
        let total: i64 = count.build_query_scalar().fetch_one(&mut *tx).await?;

        let mut page = QueryBuilder::<Sqlite>::new(
            "SELECT v.seq, v.res_type, v.id, v.version, v.deleted, v.last_updated, v.method, \
             v.content FROM resource_versions v",
        );
        common::push_history_where(&mut page, tenant.as_str(), query, true);
        page.push(" ORDER BY v.seq DESC LIMIT ")
            .push_bind(common::page_limit(query.count));
        let rows: Vec<common::HistoryRow> = page.build_query_as().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let rows = common::history_records(rows)?;
        Ok(common::finish_page(rows, query.count, total))
    }
}

/// The values of a row about to replace the current one.
struct NewRow<'a> {
    version: i64,
    deleted: bool,
    last_updated: i64,
    method: Method,
    content: Option<&'a str>,
}

/// Replaces the current row only if it is still `current` (insert only if there is none),
/// then appends the version row. Returns false, having written nothing, if the row changed.
async fn compare_and_swap(
    conn: &mut SqliteConnection,
    tenant: &TenantName,
    resource_type: &str,
    id: &str,
    current: Option<&Current>,
    new: &NewRow<'_>,
) -> Result<bool, StoreError> {
    let swapped =
        match current {
            Some(c) => sqlx::query(
                "UPDATE resources SET version = $4, deleted = $5, last_updated = $6, method = $7, \
             content = $8 WHERE tenant = $1 AND res_type = $2 AND id = $3 AND version = $9",
            )
            .bind(tenant.as_str())
            .bind(resource_type)
            .bind(id)
            .bind(new.version)
            .bind(new.deleted)
            .bind(new.last_updated)
            .bind(new.method.as_str())
            .bind(new.content)
            .bind(c.version)
            .execute(&mut *conn)
            .await?,
            None => {
                sqlx::query(
                    "INSERT INTO resources \
             (tenant, res_type, id, version, deleted, last_updated, method, content) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (tenant, res_type, id) DO NOTHING",
                )
                .bind(tenant.as_str())
                .bind(resource_type)
                .bind(id)
                .bind(new.version)
                .bind(new.deleted)
                .bind(new.last_updated)
                .bind(new.method.as_str())
                .bind(new.content)
                .execute(&mut *conn)
                .await?
            }
        };
    if swapped.rows_affected() != 1 {
        return Ok(false);
    }
    // Writes are serialised by BEGIN IMMEDIATE, so MAX(seq) + 1 cannot be taken twice.
    sqlx::query(
        "INSERT INTO resource_versions \
         (tenant, res_type, id, version, seq, deleted, last_updated, method, content) \
         VALUES ($1, $2, $3, $4, (SELECT COALESCE(MAX(seq), 0) + 1 FROM resource_versions), \
         $5, $6, $7, $8)",
    )
    .bind(tenant.as_str())
    .bind(resource_type)
    .bind(id)
    .bind(new.version)
    .bind(new.deleted)
    .bind(new.last_updated)
    .bind(new.method.as_str())
    .bind(new.content)
    .execute(&mut *conn)
    .await
    .map_err(|e| common::version_insert_error(e, resource_type, id, new.version))?;
    Ok(true)
}

async fn current_row(
    conn: &mut SqliteConnection,
    tenant: &TenantName,
    resource_type: &str,
    id: &str,
) -> Result<Option<Current>, StoreError> {
    let row: Option<(i64, bool, i64)> = sqlx::query_as(
        "SELECT version, deleted, last_updated FROM resources \
         WHERE tenant = $1 AND res_type = $2 AND id = $3",
    )
    .bind(tenant.as_str())
    .bind(resource_type)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|(version, deleted, last_updated)| Current {
        version,
        deleted,
        last_updated,
    }))
}

async fn require_tenant(
    conn: &mut SqliteConnection,
    tenant: &TenantName,
) -> Result<(), StoreError> {
    if tenant_exists(&mut *conn, tenant).await? {
        Ok(())
    } else {
        Err(StoreError::UnknownTenant(tenant.to_string()))
    }
}

async fn tenant_exists<'e, E>(executor: E, tenant: &TenantName) -> Result<bool, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tenants WHERE name = $1)")
        .bind(tenant.as_str())
        .fetch_one(executor)
        .await
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
