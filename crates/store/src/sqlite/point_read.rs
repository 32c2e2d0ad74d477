//! Point reads (`read`, `vread`) on a SQLite file, answered on the calling task without sqlx's
//! worker threads.
//!
//! Why this exists: sqlx runs each SQLite connection on its own OS thread and hands every
//! query to it over a channel and the rows back over another; for a primary-key lookup
//! (~20 µs of B-tree work) those two thread hand-offs cost several times the query itself
//! (BENCHMARKS.md, "REST read/create (issue 2)": 57 % of the server's CPU in futex and the
//! scheduler). This module owns a few read-only `rusqlite` connections to the same file and
//! runs the two point-read statements on them directly; small searches run on them too
//! (`direct_search.rs`).
//!
//! Why running SQLite on a tokio worker is acceptable here: the work is one indexed lookup
//! returning one row, and it never waits for anyone. A connection is only taken with
//! `try_lock` (never a wait on another task), and its busy timeout is zero, so a lock held by
//! another connection or process answers `SQLITE_BUSY` at once instead of sleeping. Whenever
//! this path cannot answer straight away (every connection in use, `SQLITE_BUSY`, any other
//! SQLite error, a row that does not decode, the store closed) it returns `None` and the caller
//! takes the sqlx path, which may wait (on its own threads) and reports errors as it always
//! did. The worst case left on the worker is the I/O of one B-tree descent on a cold cache.
//!
//! Same answers as the sqlx path: the statements are the same (the constants below are
//! `rows::read` / `rows::vread` as rendered for SQLite, with numbered placeholders; a test
//! holds them together) and rows become results through the same `common::read_result` /
//! `common::vread_result`.
//! In WAL mode each statement reads the latest committed snapshot, so a read here sees every
//! write the sqlx writer (or another process) has committed before it started.
//!
//! Not used for `sqlite::memory:`: another connection would open another, empty database.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, Row, ToSql};

use crate::common::{self, ReadRow, VreadRow};
use crate::{StoreError, VersionRecord};

/// `read`: one query answers both "unknown tenant" (no row) and "unknown id" (NULL columns).
pub(super) const READ_SQL: &str = "SELECT r.version, r.deleted, r.last_updated, r.method, \
     r.content, (SELECT h.policy FROM restrictions h \
     WHERE h.tenant = r.tenant AND h.res_type = r.res_type AND h.id = r.id) \
     FROM tenants t LEFT JOIN resources r \
     ON r.tenant = t.name AND r.res_type = $2 AND r.id = $3 \
     WHERE t.name = $1";

/// `vread`: as [`READ_SQL`], on the version table.
pub(super) const VREAD_SQL: &str = "SELECT v.deleted, v.last_updated, v.method, v.content, \
     (SELECT h.policy FROM restrictions h \
     WHERE h.tenant = v.tenant AND h.res_type = v.res_type AND h.id = v.id) \
     FROM tenants t LEFT JOIN resource_versions v \
     ON v.tenant = t.name AND v.res_type = $2 AND v.id = $3 AND v.version = $4 \
     WHERE t.name = $1";

/// Statements kept prepared per connection (sqlx keeps 100 per connection).
const STATEMENT_CACHE: usize = 100;

/// A point read's answer, or `None` for "not answered here: use the sqlx path".
pub(super) type Answer = Option<Result<Option<VersionRecord>, StoreError>>;

/// A few read-only connections, each used by one task at a time. `None` once closed.
#[derive(Debug)]
pub(super) struct PointReader {
    conns: Box<[Mutex<Option<Connection>>]>,
    /// Where the next read starts looking for a free connection (round robin).
    next: AtomicUsize,
}

impl PointReader {
    /// Opens `size` (at least one) read-only connections to the database file `file`.
    pub(super) fn open(file: &Path, size: usize) -> rusqlite::Result<PointReader> {
        let conns = (0..size.max(1))
            .map(|_| open_connection(file).map(|c| Mutex::new(Some(c))))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(PointReader {
            conns: conns.into_boxed_slice(),
            next: AtomicUsize::new(0),
        })
    }

    /// [`crate::Store::read`], or `None` if it cannot be answered without waiting.
    pub(super) fn read(&self, scope: crate::Scope<'_>, resource_type: &str, id: &str) -> Answer {
        let tenant = scope.tenant();
        let params: [(&str, &dyn ToSql); 3] = [
            ("$1", &tenant.as_str()),
            ("$2", &resource_type),
            ("$3", &id),
        ];
        let row = self.query_row(READ_SQL, &params, |r| -> rusqlite::Result<ReadRow> {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?;
        Some(common::read_result(row, scope, resource_type, id))
    }

    /// [`crate::Store::vread`], or `None` if it cannot be answered without waiting.
    pub(super) fn vread(
        &self,
        scope: crate::Scope<'_>,
        resource_type: &str,
        id: &str,
        version: i64,
    ) -> Answer {
        let tenant = scope.tenant();
        let params: [(&str, &dyn ToSql); 4] = [
            ("$1", &tenant.as_str()),
            ("$2", &resource_type),
            ("$3", &id),
            ("$4", &version),
        ];
        let row = self.query_row(VREAD_SQL, &params, |r| -> rusqlite::Result<VreadRow> {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
        Some(common::vread_result(row, scope, resource_type, id, version))
    }

    /// Closes every connection (waiting for the one statement a holder may be running), so
    /// later reads fall back to sqlx, whose closed pool then answers as it does today.
    pub(super) fn close(&self) {
        for conn in self.conns.iter() {
            *conn.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
    }

    /// Runs `sql` on a free connection. The outer `None` means "no answer" (see the module
    /// doc); the inner one is "no row".
    fn query_row<T>(
        &self,
        sql: &str,
        params: &[(&str, &dyn ToSql)],
        decode: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Option<Option<T>> {
        let guard = self.free_connection()?;
        let conn = guard.as_ref()?;
        // `query_row` steps once and resets the statement when it returns, so no read
        // transaction outlives the call (a kept one would pin an old snapshot).
        let result = conn
            .prepare_cached(sql)
            .and_then(|mut stmt| stmt.query_row(params, decode).optional());
        match result {
            Ok(row) => Some(row),
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {
                tracing::debug!("SQLite point read busy; using the sqlx reader");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "SQLite point read failed; using the sqlx reader");
                None
            }
        }
    }

    /// The first connection nobody holds, starting after the last one handed out; `None` if
    /// all are in use (the caller must not wait on a tokio worker).
    pub(super) fn free_connection(&self) -> Option<MutexGuard<'_, Option<Connection>>> {
        let n = self.conns.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n).find_map(|i| match self.conns[(start + i) % n].try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::WouldBlock) => None,
            // A panic cannot leave the connection half-used: dropping the statement during the
            // unwind reset it. Keep using it.
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        })
    }
}

/// One read-only connection that never waits for a lock.
fn open_connection(file: &Path) -> rusqlite::Result<Connection> {
    // The flags sqlx uses for its own connections (URI filenames, no SQLite-level mutex:
    // the `Mutex` above serialises use), but read-only.
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(file, flags)?;
    // Not the sqlx pool's 10 s: a wait here would stall a tokio worker. Busy means "use sqlx".
    conn.busy_timeout(Duration::ZERO)?;
    conn.pragma_update(None, "query_only", true)?;
    // Searches run here too (`direct_search.rs`): the page cache of sqlx's readers, and room
    // for every statement of a search and its include rounds.
    conn.pragma_update(None, "cache_size", super::READER_CACHE_KIB)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // With `sqlite_stat4` (the store analyses), SQLite re-plans a prepared statement each
    // time a value is bound to a parameter its plan looked at: parsing and planning again
    // was half the CPU of a ten-match search. The query planner stability guarantee keeps
    // one plan per statement; a search that the value-blind plan makes slow overruns the
    // inline budget and is re-run on sqlx's connections, which still plan per value.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::SqliteStore;
    use crate::{Method, Precondition, StoreOptions, TenantName, WriteRequest};

    async fn store_with_one_resource(dir: &Path) -> SqliteStore {
        let url = format!("sqlite://{}", dir.join("p.db").display());
        let store = SqliteStore::connect(&url, &StoreOptions::default())
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        let mut resource = serde_json::Map::new();
        resource.insert("resourceType".into(), "Practitioner".into());
        let req = WriteRequest {
            resource_type: "Practitioner".into(),
            id: "a".into(),
            resource,
            precondition: Precondition::None,
            method: Method::Put,
        };
        store
            .write(&TenantName::default_tenant(), req)
            .await
            .expect("write");
        store
    }

    #[tokio::test]
    async fn file_reads_are_answered_here_and_yield_to_sqlx_when_all_connections_are_taken() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_with_one_resource(dir.path()).await;
        let point = store
            .point
            .as_deref()
            .expect("a file database has a point reader");
        let t = TenantName::default_tenant();

        let read = point
            .read((&t).into(), "Practitioner", "a")
            .expect("answered here");
        assert_eq!(read.expect("ok").map(|r| r.version), Some(1));
        let vread = point
            .vread((&t).into(), "Practitioner", "a", 1)
            .expect("answered");
        assert_eq!(vread.expect("ok").map(|r| r.version), Some(1));

        let held: Vec<_> = point
            .conns
            .iter()
            .map(|c| c.lock().expect("lock"))
            .collect();
        assert!(
            point.read((&t).into(), "Practitioner", "a").is_none(),
            "no waiting"
        );
        assert_eq!(
            store
                .read((&t).into(), "Practitioner", "a")
                .await
                .expect("sqlx")
                .map(|r| r.version),
            Some(1),
            "the store falls back to sqlx"
        );
        drop(held);

        store.close().await;
        assert!(
            point.read((&t).into(), "Practitioner", "a").is_none(),
            "closed"
        );
    }

    #[tokio::test]
    async fn a_missing_schema_is_left_to_sqlx() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("empty.db").display());
        let opts = StoreOptions {
            migrate: false,
            ..StoreOptions::default()
        };
        let store = SqliteStore::connect(&url, &opts).await.expect("connect");
        let point = store.point.as_deref().expect("point reader");
        let t = TenantName::default_tenant();
        assert!(point.read((&t).into(), "Practitioner", "a").is_none());
        assert!(store.read((&t).into(), "Practitioner", "a").await.is_err());
    }

    #[test]
    fn point_reads_run_the_statements_of_the_sqlx_path() {
        use crate::search::Dialect;
        let t = TenantName::default_tenant();
        let sqlx_text = |sql: crate::search::Sql| sql.render::<sqlx::Sqlite>(Dialect::Sqlite).0;
        // The constants number their placeholders ($1 tenant, $2 type, $3 id, $4 version);
        // the rendered statements bind the same values in text order.
        let unnumbered = |s: &str| {
            ["$1", "$2", "$3", "$4"]
                .iter()
                .fold(s.to_owned(), |s, n| s.replace(n, "?"))
        };
        assert_eq!(
            unnumbered(READ_SQL),
            sqlx_text(crate::rows::read(&t, "P", "a"))
        );
        assert_eq!(
            unnumbered(VREAD_SQL),
            sqlx_text(crate::rows::vread(&t, "P", "a", 1))
        );
    }

    #[tokio::test]
    async fn memory_databases_have_no_point_reader() {
        let store = SqliteStore::connect("sqlite::memory:", &StoreOptions::default())
            .await
            .expect("connect");
        assert!(store.point.is_none());
    }
}
