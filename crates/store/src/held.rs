//! A transaction on a pooled connection (either backend) that is never handed to anyone else
//! in an unknown state.
//!
//! Why: a request future can be dropped at any `.await` (the client hung up, a timeout fired).
//! If that happens in the middle of a statement, the connection's protocol state is unknown:
//! mid-`COPY FROM STDIN`, results still unread, a transaction still open. sqlx would return it
//! to the pool and try to recover, and under load that recovery failed: on Postgres the next
//! request on that connection saw "unexpected message type 0x51 during COPY from stdin",
//! "there is already a transaction in progress" or another request's answer (a tenant reported
//! missing); on SQLite a `BEGIN` dropped half-way left the writer inside a transaction nobody
//! owned ("attempted to call begin_with at non-zero transaction depth").
//!
//! The rule here: while an operation is in flight ([`Held::set_busy`]), dropping the guard
//! *closes* the connection (the server then rolls the transaction back and, with
//! `client_connection_check_interval` set, stops a running statement); a guard dropped between
//! operations rolls back on its own task and then returns the connection to the pool; only
//! [`Held::commit`] and [`Held::rollback`] hand the connection back directly.

use std::ops::{Deref, DerefMut};

use sqlx::pool::PoolConnection;
use sqlx::Pool;

use crate::db::SqlDb;
use crate::StoreError;

/// An open transaction (see the module documentation).
#[derive(Debug)]
pub(crate) struct Held<DB: SqlDb> {
    conn: Option<PoolConnection<DB>>,
    busy: bool,
}

impl<DB: SqlDb> Held<DB> {
    /// Takes a connection and runs `begin` (one or more statements, `BEGIN …` first) on it.
    /// The guard starts busy: the caller is inside an operation until it says otherwise.
    pub(crate) async fn begin(pool: &Pool<DB>, begin: &str) -> Result<Held<DB>, StoreError> {
        let mut held = Held {
            conn: Some(pool.acquire().await?),
            busy: true,
        };
        DB::execute_raw(&mut held, begin).await?;
        Ok(held)
    }

    /// Marks whether an operation is in flight: a guard dropped while busy closes its
    /// connection instead of rolling back on it.
    pub(crate) fn set_busy(&mut self, busy: bool) {
        self.busy = busy;
    }

    /// Commits and returns the connection to the pool.
    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        self.busy = true;
        DB::execute_raw(&mut self, "COMMIT").await?;
        self.conn.take();
        Ok(())
    }

    /// Rolls back and returns the connection to the pool.
    pub(crate) async fn rollback(mut self) -> Result<(), StoreError> {
        self.busy = true;
        DB::execute_raw(&mut self, "ROLLBACK").await?;
        self.conn.take();
        Ok(())
    }
}

impl<DB: SqlDb> Deref for Held<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        self.conn
            .as_ref()
            .expect("a Held guard has its connection until it ends")
    }
}

impl<DB: SqlDb> DerefMut for Held<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        self.conn
            .as_mut()
            .expect("a Held guard has its connection until it ends")
    }
}

impl<DB: SqlDb> Drop for Held<DB> {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if self.busy {
            conn.close_on_drop();
            return;
        }
        // Between operations the protocol state is known: roll back, then back to the pool.
        // Without a runtime (a process shutting down), closing is the safe answer.
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    if DB::execute_raw(&mut conn, "ROLLBACK").await.is_err() {
                        conn.close_on_drop();
                    }
                });
            }
            Err(_) => conn.close_on_drop(),
        }
    }
}
