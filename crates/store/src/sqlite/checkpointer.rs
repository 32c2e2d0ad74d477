//! Background WAL checkpoints for a SQLite file.
//!
//! Why: with SQLite's automatic checkpoints, the connection whose commit crosses the
//! threshold copies the whole WAL back into the database file (and syncs it) before its
//! commit returns, and that connection is our one writer: every writer-bound request queued
//! behind it waits too. A thread of its own that runs `PRAGMA wal_checkpoint(PASSIVE)` every
//! [`EVERY`] moves that copy onto another core and off the write path; a passive checkpoint
//! never waits for the writer or for readers, it copies what it can. The writer keeps an
//! automatic checkpoint at a much larger threshold as a backstop (`sqlite.rs`), for when this
//! thread cannot keep up or a reader pins old frames.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// How often the thread checkpoints. A checkpoint with nothing to copy only reads the WAL
/// index header.
pub(super) const EVERY: Duration = Duration::from_millis(200);

/// The thread; dropping the last handle stops and joins it.
#[derive(Debug)]
pub(super) struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens its own connection to `file` and starts the thread.
    pub(super) fn start(file: &Path) -> rusqlite::Result<Checkpointer> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(file, flags)?;
        // Never wait for a lock: a busy checkpoint is simply tried again next time.
        conn.busy_timeout(Duration::ZERO)?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = stop.clone();
        let thread = std::thread::Builder::new()
            .name("fhirdir-sqlite-checkpoint".into())
            .spawn(move || run(&conn, &signal))
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(Checkpointer {
            stop,
            thread: Some(thread),
        })
    }
}

fn run(conn: &Connection, stop: &(Mutex<bool>, Condvar)) {
    let (lock, wake) = stop;
    let mut stopped = lock.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        let (guard, _) = wake
            .wait_timeout(stopped, EVERY)
            .unwrap_or_else(PoisonError::into_inner);
        stopped = guard;
        if *stopped {
            return;
        }
        // (busy, frames in the WAL, frames copied); an error (the file went away, a lock) is
        // retried next time: the writer's own automatic checkpoint is the backstop.
        let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
        });
        if let Err(e) = result {
            tracing::debug!(error = %e, "background WAL checkpoint failed");
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (lock, wake) = &*self.stop;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use crate::sqlite::SqliteStore;
    use crate::{Method, Precondition, StoreOptions, TenantName, WriteRequest};

    /// Committed pages reach the database file within moments, not when the WAL reaches the
    /// writer's 256 MiB backstop; and `close` stops the thread.
    #[tokio::test]
    async fn committed_writes_are_copied_into_the_database_file_in_the_background() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("c.db");
        let store = SqliteStore::connect(
            &format!("sqlite://{}", file.display()),
            &StoreOptions::default(),
        )
        .await
        .expect("connect");
        store.migrate().await.expect("migrate");
        let size = || std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        // Let the migrations' pages settle first.
        tokio::time::sleep(super::EVERY * 3).await;
        let before = size();

        let filler = "x".repeat(4000);
        for i in 0..500 {
            let mut resource = serde_json::Map::new();
            resource.insert("resourceType".into(), "Basic".into());
            resource.insert("id".into(), format!("b{i}").into());
            resource.insert("text".into(), serde_json::json!({"div": filler}));
            let req = WriteRequest {
                resource_type: "Basic".into(),
                id: format!("b{i}"),
                resource,
                precondition: Precondition::None,
                method: Method::Put,
            };
            store
                .write(&TenantName::default_tenant(), req)
                .await
                .expect("write");
        }
        // 500 resources of 4 kB, twice (current and history): about 4 MB of pages.
        let deadline = Instant::now() + std::time::Duration::from_secs(20);
        while size() < before + 3_000_000 && Instant::now() < deadline {
            tokio::time::sleep(super::EVERY).await;
        }
        assert!(
            size() >= before + 3_000_000,
            "the database file grew from {before} to only {} bytes",
            size()
        );

        store.close().await;
        assert!(store.checkpointer.lock().expect("lock").is_none(), "closed");
    }
}
