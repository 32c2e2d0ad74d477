//! SQLite's statement timeout for searches ([`crate::StoreOptions::statement_timeout`]):
//! SQLite has no server-side setting, so a progress handler watches the clock.

use sqlx::SqliteConnection;

use crate::StoreError;

/// SQLite's statement timeout: a progress handler that interrupts the connection's statement
/// (`SQLITE_INTERRUPT`, [`StoreError::is_timeout`]) once the deadline has passed.
///
/// The handler stays installed on the pooled connection after the search (removing it would
/// cost a second hop to the connection's thread): [`Deadline::finish`] makes it let every
/// later statement run, and the connection's next search replaces it. A search that ends any
/// other way (an error, or its future dropped because the client went away) leaves it
/// interrupting at once, so a statement still running on the connection's thread stops; that
/// connection is closed, never reused (`held.rs`).
pub(crate) struct Deadline(std::sync::Arc<std::sync::atomic::AtomicU8>);

impl Deadline {
    /// How many SQLite VM instructions run between two looks at the clock (about 0.1 ms).
    const CHECK_EVERY: i32 = 10_000;
    const RUNNING: u8 = 0;
    const FINISHED: u8 = 1;
    const ABANDONED: u8 = 2;

    pub(crate) async fn install(
        conn: &mut SqliteConnection,
        limit: std::time::Duration,
    ) -> Result<Deadline, StoreError> {
        use std::sync::atomic::{AtomicU8, Ordering};
        let state = std::sync::Arc::new(AtomicU8::new(Deadline::RUNNING));
        let until = std::time::Instant::now() + limit;
        let seen = state.clone();
        conn.lock_handle()
            .await?
            .set_progress_handler(Deadline::CHECK_EVERY, move || {
                match seen.load(Ordering::Relaxed) {
                    Deadline::FINISHED => true,
                    Deadline::RUNNING => std::time::Instant::now() < until,
                    _ => false,
                }
            });
        Ok(Deadline(state))
    }

    pub(crate) fn finish(self) {
        self.0
            .store(Deadline::FINISHED, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering;
        let _ = self.0.compare_exchange(
            Deadline::RUNNING,
            Deadline::ABANDONED,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
}
