//! Store errors. The server maps each variant to one HTTP status and OperationOutcome code
//! (see `server::error`).

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("invalid tenant name {0:?}: expected [a-z0-9][a-z0-9-]{{0,62}}")]
    InvalidTenant(String),
    #[error("tenant {0:?} does not exist")]
    UnknownTenant(String),
    #[error("tenant \"default\" cannot be deleted")]
    DefaultTenant,
    /// `If-Match` named another version, or a create found the id taken.
    #[error("version conflict on {resource_type}/{id}: expected {expected}, current is {current}")]
    VersionConflict {
        resource_type: String,
        id: String,
        expected: String,
        current: String,
    },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration {version} failed: {message}")]
    Migration { version: i64, message: String },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A search the store cannot run (e.g. `:in`, `:above` on tokens, composite parameters):
    /// the server should answer 400 with issue code `not-supported`.
    #[error("search not supported: {0}")]
    UnsupportedSearch(String),
    /// A paging cursor that does not fit the query (its sort keys differ): should be 400.
    #[error("invalid paging cursor: {0}")]
    InvalidCursor(String),
    /// An earlier operation of this [`crate::StoreTx`] failed: the transaction can only be
    /// rolled back (which dropping it does).
    #[error("the transaction was aborted by an earlier error")]
    TransactionAborted,
    /// A write that would break a uniqueness rule of the store (one UDAP registration per
    /// issuer and community, ...): the message says which.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The writer may not change this resource (a Subscription another client owns).
    #[error("{0}")]
    NotOwner(String),
}

impl StoreError {
    /// True when the database cannot be reached right now (pool exhausted or closed, IO
    /// error): the request may succeed if retried, so the server answers 503, not 500.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
            )
        )
    }

    /// True for SQLite's `SQLITE_BUSY` ("database is locked"): another connection holds the
    /// lock.
    pub(crate) fn is_sqlite_busy(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) => e.code().as_deref() == Some("5"),
            _ => false,
        }
    }

    /// True when the database stopped a statement at [`crate::StoreOptions::statement_timeout`]
    /// (Postgres `query_canceled`, SQLite `SQLITE_INTERRUPT`).
    pub fn is_timeout(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) => {
                matches!(e.code().as_deref(), Some("57014" | "9"))
            }
            _ => false,
        }
    }
}
