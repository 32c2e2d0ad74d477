//! Our own small migration runner (sqlx's `migrate!` needs the macros feature, which we leave
//! off to keep compile times down).
//!
//! Migrations are SQL files under `migrations/{sqlite,postgres}/`, embedded at compile time,
//! applied in version order inside ONE transaction and recorded in
//! `fhirdir_migrations(version, name, applied_at)`. Concurrent starters are serialised by
//! `pg_advisory_xact_lock` on Postgres and by `BEGIN IMMEDIATE` on SQLite, so several
//! processes starting at once apply each migration exactly once. Migrations move forward
//! only: never edit one that has landed, add the next number.

use sqlx::{Executor, PgConnection, PgPool, SqliteConnection, SqlitePool};

use crate::{StoreError, TenantName};

/// One embedded migration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// SQLite migrations, in version order.
pub(crate) const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../../migrations/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "search_index",
        sql: include_str!("../../../migrations/sqlite/0002_search_index.sql"),
    },
    Migration {
        version: 3,
        name: "reindex_jobs",
        sql: include_str!("../../../migrations/sqlite/0003_reindex_jobs.sql"),
    },
    Migration {
        version: 4,
        name: "write_speed",
        sql: include_str!("../../../migrations/sqlite/0004_write_speed.sql"),
    },
    Migration {
        version: 5,
        name: "token_code_id_order",
        sql: include_str!("../../../migrations/sqlite/0005_token_code_id_order.sql"),
    },
    Migration {
        version: 6,
        name: "deferred_indexes",
        sql: include_str!("../../../migrations/sqlite/0006_deferred_indexes.sql"),
    },
    Migration {
        version: 7,
        name: "covering_walk_indexes",
        sql: include_str!("../../../migrations/sqlite/0007_covering_walk_indexes.sql"),
    },
    Migration {
        version: 8,
        name: "string_walk_index",
        sql: include_str!("../../../migrations/sqlite/0008_string_walk_index.sql"),
    },
    Migration {
        version: 9,
        name: "write_generations",
        sql: include_str!("../../../migrations/sqlite/0009_write_generations.sql"),
    },
];

/// Postgres migrations, in version order (same versions and names as [`SQLITE`]).
pub(crate) const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "search_index",
        sql: include_str!("../../../migrations/postgres/0002_search_index.sql"),
    },
    Migration {
        version: 3,
        name: "reindex_jobs",
        sql: include_str!("../../../migrations/postgres/0003_reindex_jobs.sql"),
    },
    Migration {
        version: 4,
        name: "write_speed",
        sql: include_str!("../../../migrations/postgres/0004_write_speed.sql"),
    },
    Migration {
        version: 5,
        name: "token_code_id_order",
        sql: include_str!("../../../migrations/postgres/0005_token_code_id_order.sql"),
    },
    Migration {
        version: 6,
        name: "deferred_indexes",
        sql: include_str!("../../../migrations/postgres/0006_deferred_indexes.sql"),
    },
    Migration {
        version: 7,
        name: "covering_walk_indexes",
        sql: include_str!("../../../migrations/postgres/0007_covering_walk_indexes.sql"),
    },
    Migration {
        version: 8,
        name: "string_walk_index",
        sql: include_str!("../../../migrations/postgres/0008_string_walk_index.sql"),
    },
    Migration {
        version: 9,
        name: "write_generations",
        sql: include_str!("../../../migrations/postgres/0009_write_generations.sql"),
    },
];

/// Same text on both backends (`BIGINT` and `TEXT` mean what we need on both).
const CREATE_LEDGER: &str = "CREATE TABLE IF NOT EXISTS fhirdir_migrations (\
     version BIGINT NOT NULL PRIMARY KEY, \
     name TEXT NOT NULL, \
     applied_at BIGINT NOT NULL)";

/// A fixed key for `pg_advisory_xact_lock` ("fhirdir" in ASCII), shared by every fhirdir
/// process on the database.
const PG_MIGRATION_LOCK: i64 = 0x0066_6869_7264_6972;

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

/// Applies pending SQLite migrations and ensures tenant `default`, all in one
/// `BEGIN IMMEDIATE` transaction on the writer pool.
pub(crate) async fn run_sqlite(writer: &SqlitePool) -> Result<(), StoreError> {
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    apply_sqlite(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

// The steps run on `&mut XConnection` and multi-statement SQL goes through
// `Executor::execute` (a boxed `Send` future): `sqlx::raw_sql(..).execute(&mut *tx)` makes the
// future not `Send` for every lifetime, and then `Store::connect` cannot be `tokio::spawn`ed.
async fn apply_sqlite(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    let tx = conn;
    tx.execute(CREATE_LEDGER).await?;
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM fhirdir_migrations")
        .fetch_all(&mut *tx)
        .await?;
    warn_if_newer(SQLITE, &applied);
    for m in pending(SQLITE, &applied) {
        tracing::info!(version = m.version, name = m.name, "applying migration");
        tx.execute(m.sql).await.map_err(|e| failed(m.version, e))?;
        sqlx::query(
            "INSERT INTO fhirdir_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(chrono::Utc::now().timestamp_micros())
        .execute(&mut *tx)
        .await
        .map_err(|e| failed(m.version, e))?;
    }
    sqlx::query(
        "INSERT INTO tenants (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(TenantName::DEFAULT)
    .bind(chrono::Utc::now().timestamp_micros())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Applies pending Postgres migrations and ensures tenant `default`, all in one transaction
/// holding the migration advisory lock (released at commit or rollback).
pub(crate) async fn run_postgres(pool: &PgPool) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    apply_postgres(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

async fn apply_postgres(conn: &mut PgConnection) -> Result<(), StoreError> {
    let tx = conn;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(PG_MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    tx.execute(CREATE_LEDGER).await?;
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM fhirdir_migrations")
        .fetch_all(&mut *tx)
        .await?;
    warn_if_newer(POSTGRES, &applied);
    for m in pending(POSTGRES, &applied) {
        tracing::info!(version = m.version, name = m.name, "applying migration");
        tx.execute(m.sql).await.map_err(|e| failed(m.version, e))?;
        sqlx::query(
            "INSERT INTO fhirdir_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(chrono::Utc::now().timestamp_micros())
        .execute(&mut *tx)
        .await
        .map_err(|e| failed(m.version, e))?;
    }
    sqlx::query(
        "INSERT INTO tenants (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(TenantName::DEFAULT)
    .bind(chrono::Utc::now().timestamp_micros())
    .execute(&mut *tx)
    .await?;
    Ok(())
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
