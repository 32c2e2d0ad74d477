//! Our own small migration runner (sqlx's `migrate!` needs the macros feature, which we leave
//! off to keep compile times down).
//!
//! Migrations are SQL files under `migrations/{sqlite,postgres}/`, embedded at compile time,
//! applied in version order inside ONE transaction and recorded in
//! `fhirdir_migrations(version, name, applied_at)`. Concurrent starters are serialised by
//! `pg_advisory_xact_lock` on Postgres and by `BEGIN IMMEDIATE` on SQLite, so several
//! processes starting at once apply each migration exactly once. Migrations move forward
//! only: never edit one that has landed, add the next number.

use crate::backend::{Backend, Conn};
use crate::db::SqlDb;
use crate::search::Sql;
use crate::{StoreError, TenantName};

/// One embedded migration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Both backends' migration lists from one table, so they cannot disagree on versions and
/// names: `version "file stem" as "name"` embeds `migrations/{sqlite,postgres}/<stem>.sql`.
macro_rules! migrations {
    ($($version:literal $file:literal as $name:literal,)*) => {
        /// SQLite migrations, in version order.
        pub(crate) const SQLITE: &[Migration] = &[$(Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../../../migrations/sqlite/", $file, ".sql")),
        },)*];

        /// Postgres migrations, in version order (same versions and names as [`SQLITE`]).
        pub(crate) const POSTGRES: &[Migration] = &[$(Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../../../migrations/postgres/", $file, ".sql")),
        },)*];
    };
}

migrations! {
    1 "0001_init" as "init",
    2 "0002_search_index" as "search_index",
    3 "0003_reindex_jobs" as "reindex_jobs",
    4 "0004_write_speed" as "write_speed",
    5 "0005_token_code_id_order" as "token_code_id_order",
    6 "0006_deferred_indexes" as "deferred_indexes",
    7 "0007_covering_walk_indexes" as "covering_walk_indexes",
    8 "0008_string_walk_index" as "string_walk_index",
    9 "0009_write_generations" as "write_generations",
    10 "0010_jobs" as "jobs",
    11 "0011_auth" as "auth",
    12 "0012_restrictions" as "restrictions",
    13 "0013_network_activity" as "network_activity",
    14 "0014_covering_geo_lookup" as "covering_geo_lookup",
    15 "0015_change_events" as "change_events",
    16 "0016_subscriptions" as "subscriptions",
    17 "0017_federation" as "federation",
    18 "0018_change_marks" as "change_marks",
    19 "0019_harvest" as "harvest",
    20 "0020_tenant_settings" as "tenant_settings",
}

/// Same text on both backends (`BIGINT` and `TEXT` mean what we need on both).
const CREATE_LEDGER: &str = "CREATE TABLE IF NOT EXISTS fhirdir_migrations (\
     version BIGINT NOT NULL PRIMARY KEY, \
     name TEXT NOT NULL, \
     applied_at BIGINT NOT NULL)";

/// The highest version in `migrations` (0 when empty).
pub(crate) fn latest(migrations: &[Migration]) -> i64 {
    migrations.iter().map(|m| m.version).max().unwrap_or(0)
}

/// The migrations not yet in `applied`, in order.
fn pending<'m>(migrations: &'m [Migration], applied: &[i64]) -> Vec<&'m Migration> {
    migrations
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .collect()
}

/// Warns when the database was migrated by a newer binary: we keep running (additive
/// migrations are compatible) but `ready()` reports the mismatch.
fn warn_if_newer(migrations: &[Migration], applied: &[i64]) {
    let known = latest(migrations);
    if let Some(max) = applied.iter().copied().max().filter(|&m| m > known) {
        tracing::warn!(
            database_version = max,
            binary_version = known,
            "database schema is newer than this binary"
        );
    }
}

fn failed(version: i64, e: sqlx::Error) -> StoreError {
    StoreError::Migration {
        version,
        message: e.to_string(),
    }
}

/// Applies pending migrations and ensures tenant `default`, all in one transaction that
/// keeps concurrent starters out ([`Backend::MIGRATION_BEGIN`]: `BEGIN IMMEDIATE` on SQLite,
/// the migration advisory lock on Postgres, released at commit or rollback).
pub(crate) async fn run<B: Backend>(store: &B) -> Result<(), StoreError> {
    let mut tx = crate::held::Held::begin(store.writer(), B::MIGRATION_BEGIN).await?;
    let applied = apply::<B>(&mut tx).await;
    // Every statement has ended: a failure rolls back and returns the connection to the pool.
    tx.set_busy(false);
    applied?;
    tx.commit().await
}

async fn apply<B: Backend>(tx: &mut Conn<B>) -> Result<(), StoreError> {
    B::Db::execute_raw(tx, CREATE_LEDGER).await?;
    let mut sql = Sql::new();
    sql.push("SELECT version FROM fhirdir_migrations");
    let applied: Vec<(i64,)> = B::Db::fetch_all(tx, &sql).await?;
    let applied: Vec<i64> = applied.into_iter().map(|(v,)| v).collect();
    warn_if_newer(B::MIGRATIONS, &applied);
    for m in pending(B::MIGRATIONS, &applied) {
        tracing::info!(version = m.version, name = m.name, "applying migration");
        B::Db::execute_raw(tx, m.sql)
            .await
            .map_err(|e| failed(m.version, e))?;
        let mut sql = Sql::new();
        sql.push("INSERT INTO fhirdir_migrations (version, name, applied_at) VALUES (")
            .int(m.version)
            .push(", ")
            .text(m.name)
            .push(", ")
            .int(chrono::Utc::now().timestamp_micros())
            .push(")");
        B::Db::execute(tx, &sql)
            .await
            .map_err(|e| failed(m.version, e))?;
    }
    let mut sql = Sql::new();
    sql.push("INSERT INTO tenants (name, created_at) VALUES (")
        .text(TenantName::DEFAULT)
        .push(", ")
        .int(chrono::Utc::now().timestamp_micros())
        .push(") ON CONFLICT (name) DO NOTHING");
    B::Db::execute(tx, &sql).await?;
    Ok(())
}

/// Ready means: the database answers and every migration this binary knows is applied.
pub(crate) async fn ready<B: Backend>(store: &B) -> Result<(), StoreError> {
    let mut conn = store.reader().acquire().await?;
    B::Db::execute_raw(&mut conn, "SELECT 1").await?;
    let mut sql = Sql::new();
    sql.push(B::HAS_LEDGER);
    let has_ledger: Option<(bool,)> = B::Db::fetch_optional(&mut conn, &sql).await?;
    let applied = if has_ledger.is_some_and(|(h,)| h) {
        let mut sql = Sql::new();
        sql.push("SELECT MAX(version) FROM fhirdir_migrations");
        let max: Option<(Option<i64>,)> = B::Db::fetch_optional(&mut conn, &sql).await?;
        max.and_then(|(m,)| m)
    } else {
        None
    };
    check_ready(B::MIGRATIONS, applied)
}

/// The readiness rule: the highest applied version equals the highest embedded one.
/// `applied` is `None` when the ledger table does not exist yet.
pub(crate) fn check_ready(
    migrations: &[Migration],
    applied: Option<i64>,
) -> Result<(), StoreError> {
    let want = latest(migrations);
    match applied {
        Some(have) if have == want => Ok(()),
        have => Err(StoreError::Migration {
            version: want,
            message: format!(
                "database schema is at version {}, this binary needs {want}",
                have.unwrap_or(0)
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_increase_and_backends_agree() {
        for set in [SQLITE, POSTGRES] {
            assert!(set.windows(2).all(|w| w[0].version < w[1].version));
            assert!(set
                .iter()
                .all(|m| m.version > 0 && !m.sql.trim().is_empty()));
        }
        let names = |set: &[Migration]| set.iter().map(|m| (m.version, m.name)).collect::<Vec<_>>();
        assert_eq!(names(SQLITE), names(POSTGRES));
    }

    #[test]
    fn ready_only_at_the_embedded_version() {
        let latest = latest(SQLITE);
        assert!(check_ready(SQLITE, Some(latest)).is_ok());
        assert!(check_ready(SQLITE, Some(latest - 1)).is_err());
        assert!(check_ready(SQLITE, Some(latest + 1)).is_err());
        assert!(check_ready(SQLITE, None).is_err());
    }

    #[test]
    fn pending_skips_applied_versions() {
        assert_eq!(pending(SQLITE, &[]).len(), SQLITE.len());
        assert_eq!(pending(SQLITE, &[1]).len(), SQLITE.len() - 1);
        let all: Vec<i64> = SQLITE.iter().map(|m| m.version).collect();
        assert!(pending(SQLITE, &all).is_empty());
    }
}
