//! What a search needs of a connection ([`SearchExec`]): the one row of a small query, and
//! the rows of a page or include round. The shared search code ([`super::run::search_on`])
//! runs on any implementation: sqlx's connections of either backend ([`OnSqlx`]), and on
//! SQLite also a plain `rusqlite` connection used inline (`sqlite/direct_search.rs`), which
//! spares a small search the thread hand-offs of sqlx's SQLite driver.

use std::future::Future;

use super::{Dialect, KeyKind, PageRow, Sql};
use crate::db::{FromCols, SqlDb};
use crate::StoreError;

/// See the module documentation.
pub(crate) trait SearchExec {
    /// How statements are rendered for this connection.
    const DIALECT: Dialect;

    /// The first row of `sql`, if any.
    fn optional<T: FromCols>(
        &mut self,
        sql: &Sql,
    ) -> impl Future<Output = Result<Option<T>, StoreError>> + Send;

    /// The rows of a search page or include round ([`super::decode_row`]).
    fn page_rows(
        &mut self,
        sql: &Sql,
        key_kinds: &[KeyKind],
    ) -> impl Future<Output = Result<Vec<PageRow>, StoreError>> + Send;
}

/// A sqlx connection of either backend, as a [`SearchExec`].
pub(crate) struct OnSqlx<'c, DB: SqlDb>(pub &'c mut DB::Connection);

impl<DB: SqlDb> SearchExec for OnSqlx<'_, DB> {
    const DIALECT: Dialect = DB::DIALECT;

    async fn optional<T: FromCols>(&mut self, sql: &Sql) -> Result<Option<T>, StoreError> {
        Ok(DB::fetch_optional(self.0, sql).await?)
    }

    async fn page_rows(
        &mut self,
        sql: &Sql,
        key_kinds: &[KeyKind],
    ) -> Result<Vec<PageRow>, StoreError> {
        DB::fetch_page_rows(self.0, sql, key_kinds).await
    }
}

/// The one `BIGINT` a count, probe or generation query answers.
pub(crate) async fn fetch_i64<E: SearchExec>(exec: &mut E, sql: &Sql) -> Result<i64, StoreError> {
    let row: Option<(i64,)> = exec.optional(sql).await?;
    row.map(|(n,)| n)
        .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
}
