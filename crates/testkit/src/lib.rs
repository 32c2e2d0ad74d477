//! Fresh, throw-away databases for tests, one per backend.
//!
//! ```ignore
//! for db in testkit::test_databases().await {
//!     let store = store::Store::connect(&db.url, &Default::default()).await.unwrap();
//!     // ... assertions that name db.backend ...
//! }
//! ```
//!
//! - SQLite: always; a new file in a temporary directory that lives as long as the [`TestDb`].
//! - Postgres: when reachable at `FHIRDIR_TEST_POSTGRES_URL` (default
//!   `postgres://postgres@127.0.0.1:5432/postgres`), a new database `fhirdir_t_<time>_<random>`
//!   created for the caller and dropped (`WITH (FORCE)`) when the [`TestDb`] is dropped.
//!   Databases that a killed test run left behind are dropped by the next run once they are
//!   an hour old.
//! - When Postgres is unreachable, a loud warning is printed and only SQLite is returned,
//!   unless `FHIRDIR_REQUIRE_POSTGRES=1`, which makes that a panic (use it in CI).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{Connection, Executor, PgConnection};

/// Where Postgres is looked for when `FHIRDIR_TEST_POSTGRES_URL` is not set.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Prefix of every database this kit creates; nothing else is ever dropped.
const DB_PREFIX: &str = "fhirdir_t_";

/// Leftover test databases older than this are dropped at the next start.
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// How long to wait for Postgres before calling it unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A fresh, empty database. Dropping it deletes the database.
#[derive(Debug)]
pub struct TestDb {
    /// The URL to hand to `store::Store::connect` (or `fhirdir --database`).
    pub url: String,
    /// `"sqlite"` or `"postgres"`: put it in assertion messages.
    pub backend: &'static str,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    /// The directory is deleted when this drops.
    Sqlite(
        #[expect(
            dead_code,
            reason = "held only so the directory lives as long as the TestDb"
        )]
        tempfile::TempDir,
    ),
    Postgres {
        admin_url: String,
        name: String,
    },
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = &self.cleanup {
            drop_postgres_db(admin_url.clone(), name.clone());
        }
    }
}

/// A fresh SQLite database and, when available, a fresh Postgres database (see the module
/// documentation for the environment variables).
pub async fn test_databases() -> Vec<TestDb> {
    let mut dbs = vec![sqlite_db()];
    match postgres_db().await {
        Ok(db) => dbs.push(db),
        Err(why) => {
            if std::env::var("FHIRDIR_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!(
                    "FHIRDIR_REQUIRE_POSTGRES=1 but Postgres is not usable at {}: {why}",
                    redact(&admin_url())
                );
            }
            eprintln!(
                "\n!!!!!!!! POSTGRES NOT AVAILABLE: running SQLite only ({}: {why}) !!!!!!!!\n\
                 set FHIRDIR_TEST_POSTGRES_URL, or FHIRDIR_REQUIRE_POSTGRES=1 to make this fatal\n",
                redact(&admin_url())
            );
        }
    }
    dbs
}

/// A fresh SQLite database file in a new temporary directory.
pub fn sqlite_db() -> TestDb {
    let dir = tempfile::Builder::new()
        .prefix("fhirdir-test-")
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
    // The file itself is created by the store (the URL may name a file that does not exist).
    let url = format!("sqlite://{}", dir.path().join("fhirdir.db").display());
    TestDb {
        url,
        backend: "sqlite",
        cleanup: Cleanup::Sqlite(dir),
    }
}

/// A fresh Postgres database, or why there is none.
pub async fn postgres_db() -> Result<TestDb, String> {
    let admin_url = admin_url();
    let mut admin = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(&admin_url))
        .await
        .map_err(|_| "connection timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    drop_stale(&mut admin).await;
    let name = format!(
        "{DB_PREFIX}{}_{}",
        unix_now().as_secs(),
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    // Identifiers cannot be bound; `name` is ours ([a-z0-9_]), never input.
    admin
        .execute(format!("CREATE DATABASE \"{name}\"").as_str())
        .await
        .map_err(|e| format!("CREATE DATABASE failed: {e}"))?;
    let _ = admin.close().await;
    Ok(TestDb {
        url: with_database(&admin_url, &name),
        backend: "postgres",
        cleanup: Cleanup::Postgres { admin_url, name },
    })
}

/// Whether another session holds an open write transaction on the database at `url` (a
/// `TestDb::url`), for tests that must act while a write is in flight, such as a crash in the
/// middle of a transaction:
/// - Postgres: a session of this database other than the probe has a transaction id
///   (`pg_stat_activity.backend_xid`), which Postgres assigns at a transaction's first write
///   or row lock;
/// - SQLite: the database's write lock is held (`BEGIN IMMEDIATE` fails at once with
///   `SQLITE_BUSY`); the probe takes the lock for an instant when it is free.
pub async fn write_in_progress(url: &str) -> Result<bool, String> {
    if url.starts_with("sqlite:") {
        use std::str::FromStr;
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)
            .map_err(|e| e.to_string())?
            .busy_timeout(Duration::ZERO);
        let mut conn = sqlx::SqliteConnection::connect_with(&opts)
            .await
            .map_err(|e| format!("opening {url}: {e}"))?;
        let held = match sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut conn).await {
            Ok(_) => {
                sqlx::raw_sql("ROLLBACK")
                    .execute(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                false
            }
            Err(sqlx::Error::Database(e))
                if e.code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .is_some_and(|c| c & 0xff == 5) =>
            {
                true
            }
            Err(e) => return Err(format!("BEGIN IMMEDIATE on {url}: {e}")),
        };
        let _ = conn.close().await;
        Ok(held)
    } else {
        let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(url))
            .await
            .map_err(|_| "connection timed out".to_owned())?
            .map_err(|e| e.to_string())?;
        let writers: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
             AND backend_xid IS NOT NULL",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
        let _ = conn.close().await;
        Ok(writers > 0)
    }
}

fn admin_url() -> String {
    std::env::var("FHIRDIR_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// Drops test databases older than [`STALE_AFTER`] (left by killed runs). Best effort:
/// databases of concurrently running tests are younger and are never touched.
async fn drop_stale(admin: &mut PgConnection) {
    let names: Vec<String> =
        match sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1")
            .bind(format!("{DB_PREFIX}%"))
            .fetch_all(&mut *admin)
            .await
        {
            Ok(names) => names,
            Err(_) => return,
        };
    let cutoff = unix_now().saturating_sub(STALE_AFTER).as_secs();
    for name in names {
        let created = name
            .strip_prefix(DB_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        let ours = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if ours && created.is_some_and(|t| t < cutoff) {
            let _ = admin
                .execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
                .await;
        }
    }
}

/// Drops a test database from `Drop`, which may run inside an async runtime: a helper thread
/// with its own runtime does the work while the caller waits, so the database is gone when the
/// test returns.
fn drop_postgres_db(admin_url: String, name: String) {
    let worker = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            let Ok(Ok(mut admin)) =
                tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(&admin_url)).await
            else {
                return;
            };
            // FORCE disconnects pools the test did not close.
            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            if let Err(e) = admin.execute(sql.as_str()).await {
                eprintln!("testkit: could not drop test database {name}: {e}");
            }
            let _ = admin.close().await;
        });
    });
    let _ = worker.join();
}

/// `url` with its database name replaced by `name` (query parameters kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[host_start..].find('/') {
        Some(slash) => &base[..host_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Hides a password before the URL is printed.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].find(':') {
            Some(c) => format!("{}:***{}", &url[..s + 3 + c], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// `Some(dir)` when the shared reference data folder `../shared/fhir` (next to the workspace)
/// exists; otherwise the test skips visibly, or fails under `FHIRDIR_REQUIRE_SHARED=1` (CI).
/// The one place every test finds the shared data (SOURCES.md there says what it holds).
pub fn shared_fhir() -> Option<PathBuf> {
    shared_fhir_at("")
}

/// [`shared_fhir`] for a folder inside it (`"sample-data/plan-net-ri-nppes"`), which must exist
/// itself.
pub fn shared_fhir_at(relative: &str) -> Option<PathBuf> {
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fhir");
    if !relative.is_empty() {
        dir = dir.join(relative);
    }
    let required = std::env::var("FHIRDIR_REQUIRE_SHARED").as_deref() == Ok("1");
    resolve_shared(dir, required)
}

/// [`shared_fhir_at`]'s decision, apart from the environment so that it can be tested.
pub fn resolve_shared(dir: PathBuf, required: bool) -> Option<PathBuf> {
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        !required,
        "FHIRDIR_REQUIRE_SHARED=1 but {} does not exist",
        dir.display()
    );
    eprintln!(
        "SKIPPED: {} does not exist (set FHIRDIR_REQUIRE_SHARED=1 to fail instead)",
        dir.display()
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_shared_data_skips_unless_required() {
        let missing = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("no-such-shared-dir");
        assert_eq!(resolve_shared(missing.clone(), false), None);
        let required = std::panic::catch_unwind(|| resolve_shared(missing, true));
        assert!(
            required.is_err(),
            "a required but missing folder fails the test"
        );
        let present = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        assert_eq!(resolve_shared(present.clone(), true), Some(present));
    }

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/postgres?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[tokio::test]
    async fn sqlite_db_lives_until_dropped() {
        let db = sqlite_db();
        assert_eq!(db.backend, "sqlite");
        let path = db.url.trim_start_matches("sqlite://").to_owned();
        let dir = std::path::Path::new(&path).parent().map(|p| p.to_owned());
        assert!(dir.as_ref().is_some_and(|d| d.is_dir()));
        drop(db);
        assert!(dir.is_some_and(|d| !d.exists()));
    }

    #[tokio::test]
    async fn postgres_db_is_created_and_dropped() {
        let db = match postgres_db().await {
            Ok(db) => db,
            Err(e) if std::env::var("FHIRDIR_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") => {
                panic!("FHIRDIR_REQUIRE_POSTGRES=1 but Postgres is not usable: {e}")
            }
            Err(e) => {
                eprintln!(
                    "POSTGRES NOT AVAILABLE ({e}): skipping postgres_db_is_created_and_dropped"
                );
                return;
            }
        };
        assert_eq!(db.backend, "postgres");
        let name = db.url.rsplit('/').next().unwrap_or_default().to_owned();
        assert!(name.starts_with(DB_PREFIX), "{name}");
        // Leave a connection open: the drop must still remove the database.
        let _conn = PgConnection::connect(&db.url)
            .await
            .expect("connect to test db");
        drop(db);
        let mut admin = PgConnection::connect(&admin_url()).await.expect("admin");
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_database WHERE datname = $1")
            .bind(&name)
            .fetch_one(&mut admin)
            .await
            .expect("query");
        assert_eq!(left, 0, "test database {name} was not dropped");
    }
}
