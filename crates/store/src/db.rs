//! The one place where sqlx's generic API meets its trait bounds: [`SqlDb`] runs a
//! [`Sql`] statement on a connection of either backend and decodes its rows
//! ([`FromCols`]).
//!
//! Why a trait with a blanket impl: code generic over a database needs a long list of sqlx
//! bounds (`String: Encode<'q, DB>`, `for<'c> &'c mut DB::Connection: Executor<'c>`, ...),
//! and Rust does not imply such bounds from a trait, so every generic function would have
//! to repeat them. They are stated once here, on the impl; the shared store code only asks
//! for `DB: SqlDb` (which [`crate::backend::Backend::Db`] carries). Everything stays
//! statically dispatched: each backend gets its own monomorphised copy.
//!
//! What differs between the two databases at this level ([`SqlDialect`]) is implemented in
//! the backend folders.

use std::future::Future;

use sqlx::{ColumnIndex, Database, Decode, Executor, IntoArguments, Row, Type};

use crate::search::{decode_row, BindArgs, Dialect, KeyKind, PageRow, Sql};
use crate::StoreError;

/// What each database says about itself that sqlx's generic API does not.
pub(crate) trait SqlDialect: Database {
    /// How [`Sql`] fragments are rendered for it.
    const DIALECT: Dialect;

    /// Rows changed by a statement (an inherent method of each driver's result type).
    fn rows_affected(result: &Self::QueryResult) -> u64;
}

/// Runs statements on a connection (see the module documentation). Implemented for every
/// database sqlx can run our statements on, i.e. SQLite and Postgres.
pub(crate) trait SqlDb: SqlDialect {
    /// Runs `sql` (one or more statements, no bound values: `BEGIN …`, `COMMIT`, migrations).
    fn execute_raw<'c>(
        conn: &'c mut Self::Connection,
        sql: &'c str,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'c;

    /// Runs `sql`; answers how many rows it changed.
    fn execute<'c>(
        conn: &'c mut Self::Connection,
        sql: &'c Sql,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'c;

    /// Every row of `sql`.
    fn fetch_all<'c, T: FromCols>(
        conn: &'c mut Self::Connection,
        sql: &'c Sql,
    ) -> impl Future<Output = Result<Vec<T>, sqlx::Error>> + Send + 'c;

    /// The first row of `sql`, if any.
    fn fetch_optional<'c, T: FromCols>(
        conn: &'c mut Self::Connection,
        sql: &'c Sql,
    ) -> impl Future<Output = Result<Option<T>, sqlx::Error>> + Send + 'c;

    /// The rows of a search page or include round ([`decode_row`]).
    fn fetch_page_rows<'c>(
        conn: &'c mut Self::Connection,
        sql: &'c Sql,
        key_kinds: &'c [KeyKind],
    ) -> impl Future<Output = Result<Vec<PageRow>, StoreError>> + Send + 'c;

    /// Column `i` of `row`; `None` for NULL. The typed getters [`Col`] builds on.
    fn get_i64(row: &Self::Row, i: usize) -> Result<Option<i64>, sqlx::Error>;
    fn get_bool(row: &Self::Row, i: usize) -> Result<Option<bool>, sqlx::Error>;
    fn get_string(row: &Self::Row, i: usize) -> Result<Option<String>, sqlx::Error>;
    fn get_f64(row: &Self::Row, i: usize) -> Result<Option<f64>, sqlx::Error>;
}

impl<DB> SqlDb for DB
where
    DB: SqlDialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB> + BindArgs<'q>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'r> f64: Decode<'r, DB> + Type<DB>,
    for<'r> bool: Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    async fn execute_raw(conn: &mut DB::Connection, sql: &str) -> Result<(), sqlx::Error> {
        // Through `Executor::execute` (a boxed `Send` future): awaiting `raw_sql(..).execute`
        // directly makes the future not `Send` for every lifetime, and then `Store::connect`
        // could not be `tokio::spawn`ed.
        conn.execute(sqlx::raw_sql(sql)).await?;
        Ok(())
    }

    async fn execute(conn: &mut DB::Connection, sql: &Sql) -> Result<u64, sqlx::Error> {
        let (text, args) = sql.render::<DB>(DB::DIALECT);
        let done = sqlx::query_with(&text, args.map_err(sqlx::Error::Encode)?)
            .execute(conn)
            .await?;
        Ok(DB::rows_affected(&done))
    }

    async fn fetch_all<T: FromCols>(
        conn: &mut DB::Connection,
        sql: &Sql,
    ) -> Result<Vec<T>, sqlx::Error> {
        let (text, args) = sql.render::<DB>(DB::DIALECT);
        let rows = sqlx::query_with(&text, args.map_err(sqlx::Error::Encode)?)
            .fetch_all(conn)
            .await?;
        rows.iter().map(T::from_cols::<DB>).collect()
    }

    async fn fetch_optional<T: FromCols>(
        conn: &mut DB::Connection,
        sql: &Sql,
    ) -> Result<Option<T>, sqlx::Error> {
        let (text, args) = sql.render::<DB>(DB::DIALECT);
        let row = sqlx::query_with(&text, args.map_err(sqlx::Error::Encode)?)
            .fetch_optional(conn)
            .await?;
        row.as_ref().map(T::from_cols::<DB>).transpose()
    }

    async fn fetch_page_rows(
        conn: &mut DB::Connection,
        sql: &Sql,
        key_kinds: &[KeyKind],
    ) -> Result<Vec<PageRow>, StoreError> {
        let (text, args) = sql.render::<DB>(DB::DIALECT);
        let rows = sqlx::query_with(&text, args.map_err(sqlx::Error::Encode)?)
            .fetch_all(conn)
            .await?;
        rows.iter()
            .map(|row| decode_row(&SqlxRow::<DB>(row), key_kinds))
            .collect()
    }

    fn get_i64(row: &DB::Row, i: usize) -> Result<Option<i64>, sqlx::Error> {
        row.try_get(i)
    }

    fn get_bool(row: &DB::Row, i: usize) -> Result<Option<bool>, sqlx::Error> {
        row.try_get(i)
    }

    fn get_string(row: &DB::Row, i: usize) -> Result<Option<String>, sqlx::Error> {
        row.try_get(i)
    }

    fn get_f64(row: &DB::Row, i: usize) -> Result<Option<f64>, sqlx::Error> {
        row.try_get(i)
    }
}

/// A column type the shared code reads: `i64`, `bool`, `String` and their `Option`s.
pub(crate) trait Col: Sized {
    fn get<DB: SqlDb>(row: &DB::Row, i: usize) -> Result<Self, sqlx::Error>;
    /// The same from a `rusqlite` row (SQLite's inline searches, `sqlite/direct_search.rs`).
    fn get_rusqlite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self>;
}

/// A row the shared code reads: a tuple of [`Col`]s, in column order.
pub(crate) trait FromCols: Sized + Send + 'static {
    fn from_cols<DB: SqlDb>(row: &DB::Row) -> Result<Self, sqlx::Error>;
    /// The same from a `rusqlite` row.
    fn from_rusqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
}

/// Typed columns of a result row, whichever driver read it (sqlx's of either backend, or
/// `rusqlite`'s): what [`crate::search::decode_row`] reads page rows through.
pub(crate) trait RowCols {
    fn col<T: Col>(&self, i: usize) -> Result<T, StoreError>;
}

/// A row of a sqlx connection, as [`RowCols`].
pub(crate) struct SqlxRow<'r, DB: SqlDb>(pub &'r DB::Row);

impl<DB: SqlDb> RowCols for SqlxRow<'_, DB> {
    fn col<T: Col>(&self, i: usize) -> Result<T, StoreError> {
        Ok(T::get::<DB>(self.0, i)?)
    }
}

impl RowCols for rusqlite::Row<'_> {
    fn col<T: Col>(&self, i: usize) -> Result<T, StoreError> {
        T::get_rusqlite(self, i).map_err(|e| StoreError::Corrupt(format!("column {i}: {e}")))
    }
}

/// A NULL where the type has none: the error sqlx itself gives.
fn not_null<T>(value: Option<T>, index: usize) -> Result<T, sqlx::Error> {
    value.ok_or_else(|| sqlx::Error::ColumnDecode {
        index: index.to_string(),
        source: Box::new(sqlx::error::UnexpectedNullError),
    })
}

macro_rules! cols {
    ($($t:ty => $get:ident),*) => {$(
        impl Col for Option<$t> {
            fn get<DB: SqlDb>(row: &DB::Row, i: usize) -> Result<Self, sqlx::Error> {
                DB::$get(row, i)
            }
            fn get_rusqlite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
                row.get(i)
            }
        }
        impl Col for $t {
            fn get<DB: SqlDb>(row: &DB::Row, i: usize) -> Result<Self, sqlx::Error> {
                not_null(DB::$get(row, i)?, i)
            }
            fn get_rusqlite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
                row.get(i)
            }
        }
    )*};
}

cols!(i64 => get_i64, bool => get_bool, String => get_string, f64 => get_f64);

macro_rules! tuples {
    ($(($($t:ident $i:tt),+))*) => {$(
        impl<$($t: Col + Send + 'static),+> FromCols for ($($t,)+) {
            fn from_cols<DB: SqlDb>(row: &DB::Row) -> Result<Self, sqlx::Error> {
                Ok(($($t::get::<DB>(row, $i)?,)+))
            }
            fn from_rusqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                Ok(($($t::get_rusqlite(row, $i)?,)+))
            }
        }
    )*};
}

tuples! {
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10)
}
